//! [`Ledger`]: the store's facts of a span, gathered per machine and metered.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::machine::{BillingMonth, MachineEvent, MachineRate, Utilization};
use crate::meter::{
    MachineFacts, MachineSavings, MeteredMonth, PATTERN_DAYS, PATTERN_MINIMUM, PriceSource, Prices,
    PriorPattern, RateSighting, RateUnits, StateSighting, machine_savings, meter_month,
    present_span, running_intervals,
};
use crate::paperspace::Backend;
use crate::store::{KnownMachine, Store, StoreError, UtilizationRow};

/// How long before Machinist's first stop of a machine its pattern is
/// measured over, for the savings baseline: as long as a forecast's.
const PATTERN_SPAN: Duration = Duration::days(PATTERN_DAYS);

/// How the ledger reads and prices what it meters.
#[derive(Debug, Clone, PartialEq)]
pub struct CostSettings {
    /// Which API the daemon speaks: it decides where prices come from.
    pub backend: Backend,
    /// How to read v1's rates.
    pub units: RateUnits,
    /// Machines the configuration marks as billed monthly.
    pub monthly_billed: BTreeSet<String>,
}

impl CostSettings {
    /// v1 with the default units and nothing billed monthly.
    pub fn new(backend: Backend) -> Self {
        CostSettings {
            backend,
            units: RateUnits::default(),
            monthly_billed: BTreeSet::new(),
        }
    }
}

/// Why a cost figure could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the ledger knows of one machine besides its events.
#[derive(Debug, Clone, Default)]
pub(super) struct MachineInfo {
    /// Its name, type and region as last seen; absent for a machine known
    /// only from its events.
    pub(super) known: Option<KnownMachine>,
    /// Its events, oldest first.
    pub(super) events: Vec<MachineEvent>,
    /// The states Machinist saw it in, oldest first.
    pub(super) sightings: Vec<StateSighting>,
    /// Its prices, oldest first.
    pub(super) rates: Vec<RateSighting>,
    /// When Paperspace accepted Machinist's stops of it, oldest first.
    pub(super) stops: Vec<DateTime<Utc>>,
    /// What the legacy utilization pull reported for the month.
    pub(super) pulled: Option<UtilizationRow>,
    /// Marked (config or API) as billed monthly.
    pub(super) monthly_billed: bool,
}

impl MachineInfo {
    pub(super) fn facts<'a>(&'a self, machine_id: &'a str) -> MachineFacts<'a> {
        MachineFacts {
            machine_id,
            events: &self.events,
            sightings: &self.sightings,
            created_at: self.known.as_ref().and_then(|k| k.machine.created_at),
            gone_at: self.known.as_ref().and_then(|k| k.gone_at),
        }
    }

    pub(super) fn prices(&self, units: RateUnits, source: PriceSource) -> Prices<'_> {
        Prices {
            sightings: &self.rates,
            units,
            source,
        }
    }
}

/// When the earliest event or sighting of a machine happened: what is
/// known of it begins there.
pub(super) fn first_fact(
    events: &[MachineEvent],
    sightings: &[StateSighting],
) -> Option<DateTime<Utc>> {
    events
        .iter()
        .filter_map(|e| e.created_at)
        .chain(sightings.iter().map(|s| s.at))
        .min()
}

/// Moves each change of price back to the `vm-upgrade` that made it: the
/// meter sees a new price only at its next listing, up to an interval
/// after the upgrade, and a machine started in between ran at the new one.
fn align_rates_to_upgrades(info: &mut MachineInfo) {
    for i in 1..info.rates.len() {
        let (before, at) = (info.rates[i - 1].at, info.rates[i].at);
        let upgraded = info
            .events
            .iter()
            .filter(|e| e.name == "vm-upgrade" && e.state == "done")
            .filter_map(|e| e.finished_at)
            .filter(|t| *t > before && *t <= at)
            .max();
        if let Some(t) = upgraded {
            info.rates[i].at = t;
        }
    }
}

/// One machine's metered month with its savings.
#[derive(Debug, Clone)]
pub struct MachineMonth {
    /// Running time and cost.
    pub metered: MeteredMonth,
    /// What Machinist's stops saved.
    pub savings: MachineSavings,
}

/// Reads facts from the store and meters them.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// Where the facts are.
    store: Store,
    /// How to read and price them.
    settings: CostSettings,
}

impl Ledger {
    pub fn new(store: Store, settings: CostSettings) -> Self {
        Ledger { store, settings }
    }

    pub fn settings(&self) -> &CostSettings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where prices come from on this backend.
    pub(super) fn price_source(&self) -> PriceSource {
        match self.settings.backend {
            Backend::V1 => PriceSource::MachineRates,
            Backend::Legacy => PriceSource::UtilizationPull,
        }
    }

    /// The facts of `[from, to)` per machine (with each machine's state at
    /// `from`), priced for `month` on legacy.
    pub(super) async fn gather(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        month: BillingMonth,
    ) -> Result<BTreeMap<String, MachineInfo>, CostError> {
        let mut by: BTreeMap<String, MachineInfo> = BTreeMap::new();
        for known in self.store.machines().await? {
            let exists = known.machine.created_at.is_none_or(|c| c < to)
                && known.gone_at.is_none_or(|g| g > from);
            if exists {
                let id = known.machine.id.clone();
                by.entry(id).or_default().known = Some(known);
            }
        }
        for event in self.store.machine_events(from, to).await? {
            if let Some(id) = event.machine_id.clone() {
                by.entry(id).or_default().events.push(event);
            }
        }
        for sighting in self.store.state_sightings(from, to).await? {
            if let Some(info) = by.get_mut(&sighting.machine_id) {
                info.sightings.push(sighting);
            }
        }
        let pulled = self.store.utilization(&month.to_string()).await?;
        match self.settings.backend {
            Backend::V1 => {
                // Prices seen after the span count too: a machine first
                // priced after the month ended was priced so during it
                // (rates change only by an upgrade, which is seen).
                for rate in self.store.rate_sightings(to + Duration::days(3660)).await? {
                    if let Some(info) = by.get_mut(&rate.machine_id) {
                        info.rates.push(rate);
                    }
                }
            }
            Backend::Legacy => {
                // Legacy prices come with the pull: the month's, else the
                // newest known rate of the machine.
                let latest: HashMap<String, f64> =
                    self.store.hourly_rates().await?.into_iter().collect();
                for (id, info) in by.iter_mut() {
                    let row = pulled
                        .iter()
                        .find(|r| &r.machine_id == id && r.source == UtilizationRow::PAPERSPACE);
                    let usage = row.map(|r| r.hourly_rate).or(latest.get(id).copied());
                    if let Some(usage) = usage {
                        info.rates.push(RateSighting {
                            machine_id: id.clone(),
                            at: from,
                            rate: MachineRate {
                                usage,
                                storage: row.map_or(0.0, |r| r.monthly_rate),
                            },
                            machine_type: None,
                        });
                    }
                }
            }
        }
        for row in pulled {
            if row.source == UtilizationRow::PAPERSPACE
                && let Some(info) = by.get_mut(&row.machine_id)
            {
                info.pulled = Some(row);
            }
        }
        for switch in self.store.switches(to).await? {
            if switch.stop
                && let Some(info) = by.get_mut(&switch.machine_id)
            {
                info.stops.push(switch.at);
            }
        }
        let marked: BTreeSet<String> = self
            .store
            .monthly_billed()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for (id, info) in by.iter_mut() {
            info.monthly_billed = marked.contains(id) || self.settings.monthly_billed.contains(id);
            info.events
                .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            info.sightings.sort_by_key(|s| s.at);
            info.rates.sort_by_key(|r| r.at);
            info.stops.sort();
            align_rates_to_upgrades(info);
        }
        Ok(by)
    }

    /// Every machine's `month` up to `now`: metered and with its savings.
    ///
    /// Only the machines in `only`, when given: a `utilization` job asks
    /// for one, and the monthly pull runs one per machine, so metering the
    /// whole account for each would cost the square of its size.
    pub(super) async fn month(
        &self,
        month: BillingMonth,
        now: DateTime<Utc>,
        only: Option<&[String]>,
    ) -> Result<BTreeMap<String, (MachineInfo, MachineMonth)>, CostError> {
        let to = month.end().min(now);
        let mut by = self
            .gather(month.start(), to.max(month.start()), month)
            .await?;
        if let Some(ids) = only {
            by.retain(|id, _| ids.contains(id));
        }
        let priors = self.priors(&by).await?;
        let source = self.price_source();
        let mut out = BTreeMap::new();
        for (id, info) in by {
            let facts = info.facts(&id);
            let prices = info.prices(self.settings.units, source);
            let metered = meter_month(&facts, &prices, month, now);
            let present = present_span(&facts, month, now);
            let savings = machine_savings(
                &metered,
                &prices,
                &info.stops,
                present,
                priors.get(&id).cloned(),
                info.monthly_billed,
            );
            if present.is_some() || !metered.intervals.is_empty() {
                out.insert(id, (info, MachineMonth { metered, savings }));
            }
        }
        Ok(out)
    }

    /// Each machine's pattern over the [`PATTERN_SPAN`] before Machinist
    /// first stopped it, where the meter's facts reach back far enough.
    async fn priors(
        &self,
        by: &BTreeMap<String, MachineInfo>,
    ) -> Result<HashMap<String, PriorPattern>, CostError> {
        let firsts: Vec<(&String, DateTime<Utc>)> = by
            .iter()
            .filter_map(|(id, info)| info.stops.first().map(|s| (id, *s)))
            .collect();
        let (Some(earliest), Some(latest)) = (
            firsts.iter().map(|(_, t)| *t).min(),
            firsts.iter().map(|(_, t)| *t).max(),
        ) else {
            return Ok(HashMap::new());
        };
        let from = earliest - PATTERN_SPAN;
        let mut events: HashMap<String, Vec<MachineEvent>> = HashMap::new();
        for e in self.store.machine_events(from, latest).await? {
            if let Some(id) = e.machine_id.clone() {
                events.entry(id).or_default().push(e);
            }
        }
        let mut sightings: HashMap<String, Vec<StateSighting>> = HashMap::new();
        for s in self.store.state_sightings(from, latest).await? {
            sightings.entry(s.machine_id.clone()).or_default().push(s);
        }
        let mut out = HashMap::new();
        for (id, first_stop) in firsts {
            let info = &by[id];
            let no_events = Vec::new();
            let no_sightings = Vec::new();
            let events = events.get(id).unwrap_or(&no_events);
            let sightings = sightings.get(id).unwrap_or(&no_sightings);
            // The pattern starts at the earliest fact about the machine.
            let Some(known_from) = first_fact(events, sightings) else {
                continue;
            };
            let life = info.facts(id);
            let from = known_from.max(first_stop - PATTERN_SPAN);
            let from = life.created_at.map_or(from, |c| c.max(from));
            if first_stop - from < PATTERN_MINIMUM {
                continue;
            }
            let facts = MachineFacts {
                events,
                sightings,
                ..life
            };
            let intervals = running_intervals(&facts, from, first_stop);
            out.insert(
                id.clone(),
                PriorPattern {
                    from,
                    to: first_stop,
                    running_seconds: intervals.iter().map(|i| i.seconds()).sum(),
                    present_seconds: (first_stop - from).num_seconds(),
                },
            );
        }
        Ok(out)
    }

    /// The metered running of each machine over `[from, to)`, for the
    /// forecast's pattern, with each machine's prices.
    pub(super) async fn running_spans(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BTreeMap<String, (MachineInfo, Vec<(DateTime<Utc>, DateTime<Utc>)>)>, CostError>
    {
        let by = self
            .gather(
                from,
                to,
                BillingMonth::containing(to - Duration::seconds(1)),
            )
            .await?;
        Ok(by
            .into_iter()
            .map(|(id, info)| {
                let spans = running_intervals(&info.facts(&id), from, to)
                    .into_iter()
                    .map(|i| (i.from, i.to))
                    .collect();
                (id, (info, spans))
            })
            .collect())
    }

    /// A machine's metered month as the utilization a legacy pull returns:
    /// what `utilization` jobs answer on v1, and what the monthly pull keeps.
    pub async fn metered_utilization(
        &self,
        machine_ids: Option<&[String]>,
        month: BillingMonth,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Utilization, MeteredMonth)>, CostError> {
        let months = self.month(month, now, machine_ids).await?;
        Ok(months
            .into_values()
            .map(|(_, m)| {
                let metered = m.metered;
                // Effective rates, so that the row's cost is the metered
                // cost even when the price changed within the month.
                let hours = metered.running_seconds as f64 / 3600.0;
                let hourly_rate = match metered.compute_cost {
                    Some(c) if hours > 0.0 => c / hours,
                    _ => metered.hourly_rate.unwrap_or(0.0),
                };
                let month_secs = (month.end() - month.start()).num_seconds() as f64;
                let storage_monthly_rate = match metered.storage_cost {
                    Some(c) if metered.present_seconds > 0 => {
                        c / metered.present_seconds as f64 * month_secs
                    }
                    _ => 0.0,
                };
                let utilization = Utilization {
                    machine_id: metered.machine_id.clone(),
                    billing_month: month,
                    seconds_used: metered.running_seconds.max(0) as u64,
                    hourly_rate,
                    storage_seconds_used: metered.present_seconds.max(0) as u64,
                    storage_monthly_rate,
                };
                (utilization, metered)
            })
            .collect())
    }
}
