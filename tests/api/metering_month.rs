//! The meter over a simulated month against the v1 simulator's ground
//! truth: 50 machines started and stopped by Machinist's client and from
//! outside, forced shutdowns, restarts, a machine created and one destroyed
//! mid-month, two price changes (`PUT` of a new `machineType`, and a
//! `vm-upgrade` from the console), and the daemon down for a whole day. The
//! meter runs every [`EVERY`] of simulated time on a manual clock; at the end
//! each machine's metered running time and the month's cost are compared
//! with [`Simulator::usage`]. Then the ingestion alone: re-runs, events that
//! finish between runs, the first run's back-fill, and legacy.
//!
//! Machinist's starts and stops here are the v1 client's calls, not jobs
//! (the store's switches come from jobs), so savings are not checked.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc, Weekday};
use machinist::clock::{Clock, SharedClock};
use machinist::cost::{CostSettings, Ledger};
use machinist::daemon::{Meter, MeterRun, PaperspaceSettings};
use machinist::machine::{
    BillingMonth, CreateMachine, MachineEvent, MachineFilter, MachineState, PageRequest,
};
use machinist::paperspace::v1::V1Client;
use machinist::paperspace::{Backend, MachineApi};
use machinist::sim::{self, OutsideAction, Simulator};
use machinist::store::{Durability, Store, StoreOptions};
use serde_json::json;

use crate::harness::{AppOptions, Run, TestApp, spawn_app};

/// How often the meter runs: the polling interval the truth is held to.
const EVERY: chrono::Duration = chrono::Duration::minutes(30);

/// How long every simulated transition takes.
const TRANSITION: Duration = Duration::from_secs(40);

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The app's store and the simulator on a manual clock at `at`, speaking
/// `backend`; no daemon (the test runs the meter itself).
async fn app(backend: Backend, at: &str) -> TestApp {
    spawn_app(AppOptions {
        run: Run::Nothing,
        backend,
        clock: Some(t(at)),
        transition: TRANSITION,
        ..AppOptions::default()
    })
    .await
}

/// A v1 client of the app's simulator: Machinist's own calls.
fn v1(app: &TestApp) -> V1Client {
    PaperspaceSettings::simulator(Backend::V1, &app.sim.url)
        .v1_client()
        .unwrap()
}

/// The meter of `store`, every [`EVERY`], back-filling `backfill`.
fn meter(app: &TestApp, store: &Store, backfill: chrono::Duration) -> Meter {
    let clock: SharedClock = Arc::new(app.clock().clone());
    Meter::new(
        store.clone(),
        app.daemon_api.clone(),
        clock,
        EVERY.to_std().unwrap(),
        backfill.to_std().unwrap(),
    )
}

/// The calls one meter run made, by `METHOD route`, from the simulator's log.
async fn counted_run(meter: &Meter, sim: &Simulator) -> (MeterRun, BTreeMap<String, u64>) {
    sim.reset_calls();
    let run = meter.run_once().await.unwrap();
    let mut by_route = BTreeMap::new();
    for c in sim.call_log().1 {
        *by_route
            .entry(format!("{} {}", c.method, c.route))
            .or_default() += c.count;
    }
    (run, by_route)
}

/// A small deterministic generator (splitmix64): the month repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent as i64
    }
}

/// What is done to a machine, and by whom.
#[derive(Debug, Clone, PartialEq)]
enum Act {
    /// Machinist's start (the v1 client).
    Start,
    /// Machinist's stop.
    Stop,
    /// From the console.
    Outside(OutsideAction),
    /// `PUT /v1/machines/{id}` with another `machineType`.
    Retype(&'static str),
    /// Machinist's destroy.
    Destroy,
}

impl Act {
    /// `Some(up)` when it changes whether the machine is billed.
    fn billing(&self) -> Option<bool> {
        match self {
            Act::Start | Act::Outside(OutsideAction::Start) => Some(true),
            Act::Stop
            | Act::Destroy
            | Act::Outside(OutsideAction::Stop | OutsideAction::ForceShutdown) => Some(false),
            _ => None,
        }
    }
}

/// How a machine is used over the month.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pattern {
    /// Machinist starts it at eight and stops it at six on weekdays; now
    /// and then the stop is forgotten and auto-shutdown forces it off.
    Office,
    /// Started and stopped from the console at random.
    Console,
    /// Machinist starts it, auto-shutdown forces it off hours later;
    /// weekends someone starts it from the console and Machinist stops it.
    Forced,
    /// Running all month, restarted now and then.
    AlwaysOn,
    /// Off all month.
    Idle,
}

fn pattern(i: usize) -> Pattern {
    match i % 10 {
        0 | 1 | 5 | 6 => Pattern::Office,
        2 | 7 => Pattern::Console,
        3 | 8 => Pattern::Forced,
        4 => Pattern::AlwaysOn,
        _ => Pattern::Idle,
    }
}

/// The machine types the seeded machines cycle through.
const TYPES: [&str; 5] = ["C4", "C5", "P4000", "C7", "P5000"];

/// A machine's actions from `from` to `until`, each possible from the state
/// the previous left, given its state at `from`.
fn plan(
    pattern: Pattern,
    up_at_start: bool,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    specials: &[(DateTime<Utc>, Act)],
    rng: &mut Rng,
) -> Vec<(DateTime<Utc>, Act)> {
    let mut wanted: Vec<(DateTime<Utc>, Act)> = specials.to_vec();
    let mut day = from;
    while day < until {
        let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let at =
            |h: i64, secs: i64| day + chrono::Duration::hours(h) + chrono::Duration::seconds(secs);
        match pattern {
            Pattern::Office if weekday => {
                wanted.push((at(8, rng.below(3000)), Act::Start));
                if rng.chance(20) {
                    let when = at(23, rng.below(3000));
                    wanted.push((when, Act::Outside(OutsideAction::ForceShutdown)));
                } else {
                    wanted.push((at(18, rng.below(3000)), Act::Stop));
                }
            }
            Pattern::Console if rng.chance(60) => {
                let up = at(6, rng.below(8 * 3600));
                let down = up + chrono::Duration::seconds(3600 + rng.below(8 * 3600));
                wanted.push((up, Act::Outside(OutsideAction::Start)));
                wanted.push((down, Act::Outside(OutsideAction::Stop)));
            }
            Pattern::Forced if weekday => {
                let up = at(9, rng.below(3600));
                let down = up + chrono::Duration::seconds(2 * 3600 + rng.below(10 * 3600));
                wanted.push((up, Act::Start));
                wanted.push((down, Act::Outside(OutsideAction::ForceShutdown)));
            }
            Pattern::Forced if rng.chance(50) => {
                let up = at(10, rng.below(3600));
                let down = up + chrono::Duration::seconds(3600 + rng.below(6 * 3600));
                wanted.push((up, Act::Outside(OutsideAction::Start)));
                wanted.push((down, Act::Stop));
            }
            Pattern::AlwaysOn => {
                wanted.push((at(10, rng.below(3600)), Act::Outside(OutsideAction::Start)));
                if rng.chance(30) {
                    wanted.push((
                        at(14, rng.below(3600)),
                        Act::Outside(OutsideAction::Restart),
                    ));
                }
            }
            Pattern::Idle => wanted.push((at(12, 0), Act::Outside(OutsideAction::Stop))),
            _ => {}
        }
        day += chrono::Duration::days(1);
    }
    wanted.sort_by_key(|(at, _)| *at);
    // Keep only what is possible and changes something: a start of a
    // running machine, a stop of an off one, a restart of an off one are
    // dropped; a retype needs the machine off. Nothing after a destroy.
    let mut up = up_at_start;
    let mut out = Vec::new();
    for (at, act) in wanted {
        if at >= until {
            break;
        }
        match (&act, act.billing()) {
            (Act::Destroy, _) => {
                out.push((at, act));
                break;
            }
            (_, Some(b)) if b != up => {
                up = b;
                out.push((at, act));
            }
            (Act::Outside(OutsideAction::Restart), None) if up => out.push((at, act)),
            (Act::Retype(_) | Act::Outside(OutsideAction::Upgrade { .. }), None) => {
                assert!(!up, "a price change is planned while the machine runs");
                out.push((at, act));
            }
            _ => {}
        }
    }
    out
}

/// Does `act` to `id` at the clock's time.
async fn perform(app: &TestApp, api: &V1Client, id: &str, act: &Act) {
    match act {
        Act::Start => api.start(id).await.unwrap(),
        Act::Stop => api.stop(id).await.unwrap(),
        Act::Destroy => api.destroy(id, false).await.unwrap(),
        Act::Outside(action) => {
            assert!(
                app.sim.sim.outside(id, action.clone()).unwrap(),
                "{action:?} of {id} did nothing"
            );
        }
        Act::Retype(machine_type) => {
            let r = reqwest::Client::new()
                .put(format!("{}/v1/machines/{id}", app.sim.url))
                .bearer_auth(sim::DEFAULT_API_KEY)
                .json(&json!({ "machineType": machine_type }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    }
}

#[tokio::test]
async fn a_month_of_fifty_machines_meters_within_a_polling_interval_of_the_truth() {
    let started = std::time::Instant::now();
    let begin = t("2026-02-28T12:00:00Z");
    let end = t("2026-04-01T00:00:00Z");
    let march: BillingMonth = "2026-03".parse().unwrap();
    let down_from = t("2026-03-12T00:00:00Z");
    let down_until = t("2026-03-13T00:00:00Z");
    let app = app(Backend::V1, "2026-02-28T12:00:00Z").await;
    let clock = app.clock().clone();
    let sim = app.sim.sim.clone();
    let api = v1(&app);

    // 50 machines: the simulator's six, and 44 created in early February.
    for i in 0..44 {
        let created = t("2026-02-02T00:00:00Z") + chrono::Duration::minutes(37 * i as i64);
        let id = sim
            .seed_machine(&format!("m{i:02}"), TYPES[i % TYPES.len()], created)
            .unwrap();
        // A day's use in February: the last thing before the month is a
        // stop, not the create.
        let day = created + chrono::Duration::days(1);
        sim.record_history(
            &id,
            &[
                (day, OutsideAction::Start),
                (day + chrono::Duration::hours(8), OutsideAction::Stop),
            ],
        )
        .unwrap();
    }
    let mut machines = api.list_all(&MachineFilter::all()).await.unwrap();
    machines.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    assert_eq!(machines.len(), 50);

    // Who does what; the specials: a price change by `PUT` on a weekend,
    // one from the console early on a weekday, a destroy while running.
    let find = |want: Pattern| {
        (0..machines.len())
            .find(|&i| pattern(i) == want && machines[i].name.starts_with('m'))
            .unwrap()
    };
    let retyped = find(Pattern::Office);
    let upgraded = find(Pattern::Console);
    let destroyed = find(Pattern::AlwaysOn);
    let bigger = |i: usize| match machines[i].machine_type.as_deref() {
        Some("P4000") => "P5000",
        Some("P5000") => "P6000",
        _ => "C9",
    };
    let mut rng = Rng(15);
    let mut actions: Vec<(DateTime<Utc>, String, Act)> = Vec::new();
    for (i, m) in machines.iter().enumerate() {
        let specials: Vec<(DateTime<Utc>, Act)> = if i == retyped {
            vec![(t("2026-03-14T10:03:17Z"), Act::Retype(bigger(i)))]
        } else if i == upgraded {
            vec![(
                t("2026-03-18T05:00:00Z"),
                Act::Outside(OutsideAction::Upgrade {
                    machine_type: bigger(i).into(),
                }),
            )]
        } else if i == destroyed {
            vec![(t("2026-03-20T11:11:11Z"), Act::Destroy)]
        } else {
            Vec::new()
        };
        let up = m.state == MachineState::Ready;
        for (at, act) in plan(pattern(i), up, begin, end, &specials, &mut rng) {
            actions.push((at, m.id.clone(), act));
        }
    }
    // The machine created mid-month: running from its create, stopped by
    // Machinist while the daemon is down, used once more.
    let created_at = t("2026-03-10T13:07:41Z");
    let late = [
        (t("2026-03-12T18:22:05Z"), Act::Stop),
        (t("2026-03-16T09:00:00Z"), Act::Start),
        (t("2026-03-16T17:00:00Z"), Act::Stop),
    ];
    actions.sort_by_key(|(at, _, _)| *at);

    // Commits fsync'd at checkpoints only: a month of runs is thousands of
    // commits, and what is tested is what they hold.
    let fixture = crate::harness::Fixture::new().await;
    let store = Store::open(&StoreOptions {
        durability: Durability::Normal,
        ..fixture.options()
    })
    .await
    .unwrap();
    let meter = meter(&app, &store, chrono::Duration::days(7));
    let mut runs = 0;
    let mut in_runs = Duration::ZERO;
    let mut gap_run = None;
    let mut late_id: Option<String> = None;
    let mut next = 0;
    let mut late_next = 0;
    let mut tick = begin;
    // Transitions of the truth in March, per machine.
    let mut transitions: HashMap<String, i64> = HashMap::new();
    while tick <= end {
        // Everything due before this tick, at its own instant.
        loop {
            let ours = actions
                .get(next)
                .map(|(at, _, _)| *at)
                .filter(|&at| at < tick);
            let created = (late_id.is_none() && created_at < tick).then_some(created_at);
            let later = late_id
                .as_ref()
                .and_then(|_| late.get(late_next))
                .map(|(at, _)| *at)
                .filter(|&at| at < tick);
            let Some(at) = [ours, created, later].into_iter().flatten().min() else {
                break;
            };
            clock.set(at);
            if Some(at) == created {
                let mut req =
                    CreateMachine::new("late", "East Coast (NY2)", "P4000", 50, "tkni3aa4");
                req.start_on_create = Some(true);
                let id = api.create(&req).await.unwrap().id;
                *transitions.entry(id.clone()).or_default() += 1;
                late_id = Some(id);
            } else if Some(at) == later {
                let id = late_id.clone().unwrap();
                let act = &late[late_next].1;
                perform(&app, &api, &id, act).await;
                *transitions.entry(id).or_default() += 1;
                late_next += 1;
            } else {
                let (at, id, act) = &actions[next];
                perform(&app, &api, id, act).await;
                if act.billing().is_some() && *at >= march.start() && *at < march.end() {
                    *transitions.entry(id.clone()).or_default() += 1;
                }
                next += 1;
            }
        }
        clock.set(tick);
        if !(tick > down_from && tick < down_until) {
            let t0 = std::time::Instant::now();
            let (run, calls) = counted_run(&meter, &sim).await;
            in_runs += t0.elapsed();
            runs += 1;
            // One listing (the simulator pages 120 machines), the event
            // pages, one standing check: never a call per machine.
            let pages = run.pages as u64;
            let expected = BTreeMap::from([
                ("GET /v1/billing/account-standing".to_string(), 1),
                ("GET /v1/machine-events".to_string(), pages),
                ("GET /v1/machines".to_string(), 1),
            ]);
            assert_eq!(calls, expected, "run at {tick}: {run:?}");
            assert_eq!(run.calls as u64, 2 + pages, "run at {tick}");
            assert_eq!(run.in_good_standing, Some(true));
            if tick == down_until {
                gap_run = Some(run.clone());
            } else if tick > begin {
                assert_eq!(pages, 1, "run at {tick}: {run:?}");
                assert!(run.gap.is_none(), "run at {tick}: {run:?}");
            }
        }
        tick += EVERY;
    }
    clock.set(end);

    // The day down: back-filled, complete, and every event of it kept.
    let gap_run = gap_run.expect("a run ended the day down");
    let gap = gap_run
        .gap
        .clone()
        .expect("the run after the day down found a gap");
    assert_eq!((gap.from, gap.to), (down_from, down_until));
    assert!(gap.complete, "{gap:?}");
    let listed = all_events(&api).await;
    let in_gap = listed
        .iter()
        .filter_map(|e| e.created_at)
        .filter(|c| *c > down_from && *c <= down_until)
        .count() as u64;
    assert!(in_gap > 40, "a busy day: {in_gap} events");
    assert_eq!(gap.backfilled, in_gap, "{gap:?}");
    assert!(gap_run.pages as u64 >= in_gap.div_ceil(120), "{gap_run:?}");
    let gaps = store.meter_gaps(march.start(), march.end()).await.unwrap();
    assert_eq!(gaps, vec![gap.clone()]);

    // Every machine against the truth.
    let ledger = Ledger::new(store.clone(), CostSettings::new(Backend::V1));
    let metered: HashMap<String, _> = ledger
        .metered_utilization(None, march, end)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, m)| (m.machine_id.clone(), m))
        .collect();
    let truth = sim.usage(march);
    assert_eq!(truth.len(), 51, "50 machines and the one created");
    assert_eq!(metered.len(), truth.len());
    let mut worst = 0.0f64;
    let (mut metered_total, mut true_total) = (0.0, 0.0);
    for u in &truth {
        let m = &metered[&u.id];
        let off = (m.running_seconds as f64 - u.running_seconds).abs();
        let allowed = EVERY.num_seconds() as f64 * *transitions.get(&u.id).unwrap_or(&0) as f64;
        assert!(
            off <= allowed.max(1.0),
            "{} ({}): metered {} s, truth {} s, {} transitions: {m:#?}",
            u.id,
            u.name,
            m.running_seconds,
            u.running_seconds,
            transitions.get(&u.id).unwrap_or(&0)
        );
        worst = worst.max(off);
        metered_total += m.total.unwrap();
        true_total += u.total;
    }
    let report = ledger.cost_report(march, end).await.unwrap();
    assert!(report.complete);
    assert_eq!(report.gaps, vec![gap]);
    assert_eq!(report.totals.unpriced, 0);
    let off = (report.totals.total - true_total).abs() / true_total;
    assert!(
        off < 0.005,
        "report total {} vs truth {true_total:.2} ({:.3}%)",
        report.totals.total,
        off * 100.0
    );
    assert!((metered_total - true_total).abs() / true_total < 0.005);
    let transitions: i64 = transitions.values().sum();
    eprintln!(
        "metering month: {runs} runs, {transitions} transitions in March, worst machine off by {worst} s, \
         total {metered_total:.2} metered vs {true_total:.2} true, gap back-filled {} events in {} pages, {:.1?} ({in_runs:.1?} in meter runs)",
        gap_run.gap.as_ref().unwrap().backfilled,
        gap_run.pages,
        started.elapsed()
    );
}

/// Every event the account lists, newest first, through `api`.
async fn all_events(api: &V1Client) -> Vec<MachineEvent> {
    let mut all = Vec::new();
    let mut page = PageRequest {
        cursor: None,
        limit: Some(120),
    };
    loop {
        let got = api.event_page(&page).await.unwrap();
        all.extend(got.events);
        match got.next {
            Some(next) => page.cursor = Some(next),
            None => return all,
        }
    }
}

/// Every event the store keeps.
async fn stored(store: &Store) -> Vec<MachineEvent> {
    store
        .machine_events(t("2000-01-01T00:00:00Z"), t("2100-01-01T00:00:00Z"))
        .await
        .unwrap()
}

/// A P4000 created in February, used for a day then, `off` since.
fn seeded_off(app: &TestApp, name: &str) -> String {
    let sim = &app.sim.sim;
    let id = sim
        .seed_machine(name, "P4000", t("2026-02-01T00:00:00Z"))
        .unwrap();
    let day = t("2026-02-02T09:00:00Z");
    sim.record_history(
        &id,
        &[
            (day, OutsideAction::Start),
            (day + chrono::Duration::hours(8), OutsideAction::Stop),
        ],
    )
    .unwrap();
    id
}

#[tokio::test]
async fn a_second_run_with_nothing_new_adds_nothing() {
    let app = app(Backend::V1, "2026-03-02T09:00:00Z").await;
    let store = app.store();
    let meter = meter(&app, store, chrono::Duration::days(30));
    let first = meter.run_once().await.unwrap();
    assert!(first.added > 0, "{first:?}");
    let kept = store.machine_event_count().await.unwrap();
    assert_eq!(kept, first.added);

    app.clock().advance(EVERY);
    let (second, calls) = counted_run(&meter, &app.sim.sim).await;
    assert_eq!(second.added, 0, "{second:?}");
    assert_eq!(second.events, first.events, "the same page read again");
    assert_eq!(store.machine_event_count().await.unwrap(), kept);
    assert!(second.gap.is_none());
    assert_eq!(calls.values().sum::<u64>(), 3, "{calls:?}");
    // Read twice, kept once.
    let events = stored(store).await;
    let mut ids: Vec<_> = events.iter().map(|e| e.id.clone().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len());
    assert_eq!(ids.len() as u64, kept);
}

#[tokio::test]
async fn an_event_in_progress_at_one_run_is_updated_when_done_and_opens_its_interval() {
    let app = app(Backend::V1, "2026-03-02T09:00:00Z").await;
    let api = v1(&app);
    let store = app.store();
    let id = seeded_off(&app, "slow-start");
    let meter = meter(&app, store, chrono::Duration::days(30));
    meter.run_once().await.unwrap();

    api.start(&id).await.unwrap();
    let started_at = app.clock().now();
    app.clock().advance(chrono::Duration::seconds(5));
    let run = meter.run_once().await.unwrap();
    assert_eq!(run.added, 1, "{run:?}");
    let start = |events: Vec<MachineEvent>| {
        events
            .into_iter()
            .filter(|e| e.name == "start" && e.machine_id.as_deref() == Some(id.as_str()))
            .max_by_key(|e| e.created_at)
            .unwrap()
    };
    let seen = start(stored(store).await);
    assert_eq!(
        (seen.state.as_str(), seen.finished_at),
        ("in progress", None)
    );
    let ledger = Ledger::new(store.clone(), CostSettings::new(Backend::V1));
    let march: BillingMonth = "2026-03".parse().unwrap();
    let metered = ledger
        .metered_utilization(Some(std::slice::from_ref(&id)), march, app.clock().now())
        .await
        .unwrap();
    assert_eq!(metered[0].1.running_seconds, 0, "not billed while starting");

    // Done by the next run: the same event, updated; billing from its end.
    app.clock().advance(EVERY);
    let run = meter.run_once().await.unwrap();
    assert_eq!(run.added, 0, "{run:?}");
    let done = start(stored(store).await);
    let finished = started_at + chrono::Duration::from_std(TRANSITION).unwrap();
    assert_eq!(done.id, seen.id);
    assert_eq!(
        (done.state.as_str(), done.finished_at),
        ("done", Some(finished))
    );
    let now = app.clock().now();
    let metered = ledger
        .metered_utilization(Some(std::slice::from_ref(&id)), march, now)
        .await
        .unwrap();
    let m = &metered[0].1;
    assert_eq!(m.running_seconds, (now - finished).num_seconds(), "{m:#?}");
    assert_eq!(m.intervals.len(), 1);
    assert_eq!(
        m.intervals[0].opened_by,
        machinist::meter::Evidence::Event {
            id: done.id.clone().unwrap(),
            name: "start".into()
        }
    );
    let truth = app.sim.sim.usage(march);
    let truth = truth.iter().find(|u| u.id == id).unwrap();
    assert_eq!(m.running_seconds as f64, truth.running_seconds);
}

#[tokio::test]
async fn a_machine_created_off_is_not_billed_until_a_start_is_done() {
    let app = app(Backend::V1, "2026-03-02T09:00:00Z").await;
    let api = v1(&app);
    let store = app.store();
    let meter = meter(&app, store, chrono::Duration::days(30));
    let mut req = CreateMachine::new("cold", "East Coast (NY2)", "P4000", 50, "tkni3aa4");
    req.start_on_create = Some(false);
    let id = api.create(&req).await.unwrap().id;
    app.clock()
        .advance(chrono::Duration::from_std(TRANSITION).unwrap());
    meter.run_once().await.unwrap();
    // A start under way: the create is done, the machine still not billed.
    api.start(&id).await.unwrap();
    app.clock().advance(chrono::Duration::seconds(5));
    meter.run_once().await.unwrap();
    let ledger = Ledger::new(store.clone(), CostSettings::new(Backend::V1));
    let march: BillingMonth = "2026-03".parse().unwrap();
    let now = app.clock().now();
    let metered = ledger
        .metered_utilization(Some(std::slice::from_ref(&id)), march, now)
        .await
        .unwrap();
    assert_eq!(metered[0].1.running_seconds, 0, "{:#?}", metered[0].1);
    let truth = app.sim.sim.usage(march);
    let truth = truth.iter().find(|u| u.id == id).unwrap();
    assert_eq!(truth.running_seconds, 0.0);
}

#[tokio::test]
async fn the_first_run_back_fills_the_backfill_and_no_more_than_a_page_beyond() {
    let now = t("2026-03-31T00:00:00Z");
    let app = app(Backend::V1, "2026-03-31T00:00:00Z").await;
    let sim = &app.sim.sim;
    // Ten machines used daily for thirty days: 600 events.
    for i in 0..10 {
        let id = sim
            .seed_machine(&format!("daily-{i}"), "C4", t("2026-02-20T00:00:00Z"))
            .unwrap();
        let history: Vec<_> = (0..30)
            .flat_map(|d| {
                let day = t("2026-03-01T08:00:00Z")
                    + chrono::Duration::days(d)
                    + chrono::Duration::minutes(7 * i);
                [
                    (day, OutsideAction::Start),
                    (day + chrono::Duration::hours(9), OutsideAction::Stop),
                ]
            })
            .collect();
        sim.record_history(&id, &history).unwrap();
    }
    let api = v1(&app);
    let listed = all_events(&api).await;
    let backfill = chrono::Duration::days(7);
    let cutoff = now - backfill;
    let recent = listed
        .iter()
        .filter(|e| e.created_at.unwrap() >= cutoff)
        .count();
    assert!(recent > 120, "the back-fill spans pages: {recent}");

    let store = app.store();
    let meter = meter(&app, store, backfill);
    let (run, calls) = counted_run(&meter, sim).await;
    let kept = stored(store).await;
    let kept_ids: std::collections::HashSet<_> = kept.iter().map(|e| e.id.clone()).collect();
    for e in listed.iter().filter(|e| e.created_at.unwrap() >= cutoff) {
        assert!(kept_ids.contains(&e.id), "{e:?} is within the back-fill");
    }
    let older = kept
        .iter()
        .filter(|e| e.created_at.unwrap() < cutoff)
        .count();
    assert!(
        older < 120,
        "{older} events older than the back-fill: a page at most"
    );
    assert!(
        kept.len() < listed.len(),
        "the listing was not read to its end"
    );
    assert_eq!(kept.len(), run.events, "every event read is kept");
    assert_eq!(run.pages, run.events.div_ceil(120));
    assert_eq!(calls["GET /v1/machine-events"], run.pages as u64);
    let cursor = store.meter_cursor().await.unwrap().unwrap();
    assert_eq!(cursor.newest, listed[0].created_at);
    assert_eq!(cursor.ingested_at, Some(now));
    assert!(run.gap.is_none(), "a first run is no gap");
}

#[tokio::test]
async fn a_legacy_run_only_lists_machines() {
    let app = app(Backend::Legacy, "2026-03-02T09:00:00Z").await;
    let store = app.store();
    let meter = meter(&app, store, chrono::Duration::days(30));
    let (run, calls) = counted_run(&meter, &app.sim.sim).await;
    assert_eq!(
        calls,
        BTreeMap::from([("GET /machines/getMachines".to_string(), 1)])
    );
    assert_eq!((run.pages, run.events, run.added, run.calls), (0, 0, 0, 1));
    assert_eq!(run.in_good_standing, None);
    assert_eq!(run.machines, 6);
    assert_eq!(store.machine_event_count().await.unwrap(), 0);
    assert_eq!(store.meter_cursor().await.unwrap(), None);
    assert_eq!(store.machines().await.unwrap().len(), 6);
}
