//! `POST /v1/forecast`: what a schedule or window not yet saved would make
//! its machines run and cost next month (see [`crate::meter::forecast`] for
//! the model).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::cents;
use super::ledger::{CostError, Ledger, first_fact};
use crate::machine::{BillingMonth, Machine};
use crate::meter::{Command, History, MachineForecast, PATTERN_DAYS, forecast_machine};
use crate::schedule::calendar::Calendars;
use crate::schedule::hours::Edge;
use crate::schedule::spec::ScheduleSpec;
use crate::schedule::timing::CronSchedule;
use crate::schedule::window::WindowRequest;

/// Most starts and stops a plan may make over the month and the week before
/// it: a schedule firing every minute (about 56,000) fits.
const MAX_COMMANDS: usize = 100_000;

/// What to forecast: exactly one of a schedule or a window, as they would be
/// created (`POST /v1/schedules`, `POST /v1/windows`), nothing stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// A schedule whose template starts or stops machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// A window: it starts its machines at opening, stops them at closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowRequest>,
    /// The month to forecast, `YYYY-MM`; the next one by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<BillingMonth>,
}

/// Which kind of plan a forecast priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Schedule,
    Window,
}

/// A machine's forecast with its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastLine {
    /// Its name as last seen.
    pub name: String,
    /// The figures.
    #[serde(flatten)]
    pub forecast: MachineForecast,
}

/// Sums over the plan's machines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForecastTotals {
    /// Hours they would run under the plan.
    pub planned_hours: f64,
    /// What that would cost.
    pub planned_cost: f64,
    /// What always on would cost.
    pub always_on_cost: f64,
    /// What their last 30 days repeated would cost.
    pub pattern_cost: f64,
    /// Always on minus planned.
    pub saved_vs_always_on: f64,
    /// Last 30 days minus planned.
    pub saved_vs_pattern: f64,
    /// Machines with no known price, left out of the sums.
    pub unpriced: u32,
}

/// `POST /v1/forecast`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// A schedule or a window.
    pub kind: PlanKind,
    /// The month forecast.
    pub month: BillingMonth,
    /// Starts the plan makes in the month.
    pub starts: u32,
    /// Stops it makes.
    pub stops: u32,
    /// Its machines.
    pub machines: Vec<ForecastLine>,
    /// Sums.
    pub totals: ForecastTotals,
    /// The model, in words.
    pub assumptions: Vec<String>,
}

/// Why a plan cannot be forecast.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// The plan itself is wrong: the field and what is wrong with it.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field, e.g. `schedule.cron`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Cost(#[from] CostError),
}

fn invalid(field: &str, message: impl Into<String>) -> ForecastError {
    ForecastError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

impl Plan {
    /// The plan's starts and stops over `[from, to)`, with the last one
    /// before `from`; its kind and targets.
    fn commands(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        default_zone: &str,
        calendars: &Calendars,
    ) -> Result<(PlanKind, Vec<Command>, &crate::schedule::target::Targets), ForecastError> {
        // A week back finds the last command before the month of any
        // weekly plan.
        let lead = from - Duration::days(8);
        match (&self.schedule, &self.window) {
            (Some(s), None) => {
                let on = match s.template.kind.as_str() {
                    "start" => true,
                    "stop" => false,
                    other => {
                        return Err(invalid(
                            "schedule.template.kind",
                            format!(
                                "a forecast prices schedules that start or stop machines, not `{other}`"
                            ),
                        ));
                    }
                };
                let zone = s.timezone.as_deref().unwrap_or(default_zone);
                let timing = CronSchedule::parse(&s.cron, zone)
                    .map_err(|e| invalid("schedule.cron", e.to_string()))?;
                if !s.cron.trim_start().starts_with('@') && s.cron.split_whitespace().count() > 5 {
                    return Err(invalid(
                        "schedule.cron",
                        "a forecast takes a cron of 5 fields (`m h dom mon dow`), no seconds",
                    ));
                }
                s.exclusions
                    .validate(calendars)
                    .map_err(|e| invalid("schedule.exclusions", e.to_string()))?;
                let firings = timing.between(lead, to, MAX_COMMANDS + 1);
                if firings.len() > MAX_COMMANDS {
                    return Err(invalid(
                        "schedule.cron",
                        format!(
                            "fires more than {MAX_COMMANDS} times around the month; no forecast"
                        ),
                    ));
                }
                let commands = firings
                    .into_iter()
                    .filter(|at| !s.exclusions.excludes(*at, timing.zone(), calendars))
                    .map(|at| (at, on))
                    .collect();
                Ok((PlanKind::Schedule, commands, &s.targets))
            }
            (None, Some(w)) => {
                let hours = w
                    .hours
                    .validate()
                    .map_err(|e| invalid("window.hours", e.to_string()))?;
                w.exclusions
                    .validate(calendars)
                    .map_err(|e| invalid("window.exclusions", e.to_string()))?;
                let commands: Vec<Command> = hours
                    .upcoming_edges_excluding(lead, MAX_COMMANDS, &w.exclusions, calendars)
                    .into_iter()
                    .take_while(|(_, at)| *at < to)
                    .map(|(edge, at)| (at, edge == Edge::Start))
                    .collect();
                Ok((PlanKind::Window, commands, &w.targets))
            }
            _ => Err(invalid(
                "body",
                "give exactly one of `schedule` or `window`, as you would create it",
            )),
        }
    }
}

impl Ledger {
    /// The forecast of `plan` for its month (the one after `now` by
    /// default), against always on and the machines' last 30 days.
    pub async fn forecast(
        &self,
        plan: &Plan,
        now: DateTime<Utc>,
        default_zone: &str,
        calendars: &Calendars,
    ) -> Result<Forecast, ForecastError> {
        let month = plan
            .month
            .unwrap_or_else(|| BillingMonth::containing(now).next());
        let (from, to) = (month.start(), month.end());
        let (kind, commands, targets) = plan.commands(from, to, default_zone, calendars)?;
        if targets.is_empty() {
            return Err(invalid(
                &format!("{}.targets", kind_name(kind)),
                "name the machines (machine_ids or a selector) whose cost to forecast",
            ));
        }
        let known: Vec<Machine> = self
            .store()
            .machines()
            .await
            .map_err(CostError::from)?
            .into_iter()
            .filter(|k| k.gone_at.is_none())
            .map(|k| k.machine)
            .collect();
        let ids = targets.resolve(Some(&known));
        let history_end = now;
        let history_from = now - Duration::days(PATTERN_DAYS);
        let mut history = self.running_spans(history_from, history_end).await?;
        let source = self.price_source();
        let mut machines = Vec::new();
        let mut totals = ForecastTotals::default();
        for id in ids {
            let Some((info, spans)) = history.remove(&id) else {
                // Never seen and never metered: nothing to price it with.
                machines.push(ForecastLine {
                    name: String::new(),
                    forecast: MachineForecast {
                        machine_id: id,
                        planned_seconds: 0,
                        planned_cost: None,
                        always_on_seconds: (to - from).num_seconds(),
                        always_on_cost: None,
                        pattern_seconds: 0,
                        pattern_cost: None,
                        pattern_known: false,
                        hourly_rate: None,
                    },
                });
                totals.unpriced += 1;
                continue;
            };
            // What is known of the machine begins at its first fact (or
            // its creation), within the last 30 days.
            let known_from = first_fact(&info.events, &info.sightings).map(|first| {
                let created = info.known.as_ref().and_then(|k| k.machine.created_at);
                first.min(created.unwrap_or(first)).max(history_from)
            });
            let prices = info.prices(self.settings().units, source);
            let f = forecast_machine(
                &id,
                known_from.map(|from| History {
                    spans: &spans,
                    from,
                    end: history_end,
                }),
                &commands,
                &prices,
                from,
                to,
            );
            totals.planned_hours += f.planned_seconds as f64 / 3600.0;
            match (f.planned_cost, f.always_on_cost, f.pattern_cost) {
                (Some(p), Some(a), Some(h)) => {
                    totals.planned_cost += p;
                    totals.always_on_cost += a;
                    totals.pattern_cost += h;
                }
                _ => totals.unpriced += 1,
            }
            machines.push(ForecastLine {
                name: info
                    .known
                    .as_ref()
                    .map(|k| k.machine.name.clone())
                    .unwrap_or_default(),
                forecast: f,
            });
        }
        totals.saved_vs_always_on = totals.always_on_cost - totals.planned_cost;
        totals.saved_vs_pattern = totals.pattern_cost - totals.planned_cost;
        for x in [
            &mut totals.planned_hours,
            &mut totals.planned_cost,
            &mut totals.always_on_cost,
            &mut totals.pattern_cost,
            &mut totals.saved_vs_always_on,
            &mut totals.saved_vs_pattern,
        ] {
            *x = cents(*x);
        }
        for line in &mut machines {
            let f = &mut line.forecast;
            for c in [
                &mut f.planned_cost,
                &mut f.always_on_cost,
                &mut f.pattern_cost,
            ] {
                *c = c.map(cents);
            }
        }
        let in_month = |on: bool| {
            commands
                .iter()
                .filter(|(at, c)| *c == on && *at >= from && *at < to)
                .count() as u32
        };
        Ok(Forecast {
            kind,
            month,
            starts: in_month(true),
            stops: in_month(false),
            machines,
            totals,
            assumptions: vec![
                format!(
                    "each machine's last {PATTERN_DAYS} days as metered repeat over the month; the \
                     plan's starts and stops act on top of them (after a stop the machine stays \
                     off until the plan or its pattern starts it)"
                ),
                "with less than 30 days metered, what is known repeats; with less than a day, \
                 the machine is taken to be always on"
                    .to_string(),
                "compute only: storage costs the same whatever the plan".to_string(),
                "firing times in the plan's zone, with DST and its exclusion days applied"
                    .to_string(),
            ],
        })
    }
}

fn kind_name(kind: PlanKind) -> &'static str {
    match kind {
        PlanKind::Schedule => "schedule",
        PlanKind::Window => "window",
    }
}
