//! The meter over a large account, printed as figures.
//!
//! `cargo bench --bench meter` (1,000 machines × 100 events) or with
//! `-- --machines N` and `-- --events N` (per machine, even). An in-process
//! v1 simulator on a manual clock is seeded with N machines created in
//! January, each used for a day in February and then started and stopped
//! `events / 2` times in March (`seed_machine` + `record_history`, no HTTP).
//! At 1 April the meter's first run (`Meter::run_once`, back-filling March)
//! ingests the account over HTTP into a fresh store in a temporary
//! directory; then `Ledger::cost_report` meters March. Reported: the
//! ingestion's time and its API calls by route next to the goal "one paged
//! listing per interval for the whole account, not one call per machine"
//! (expected: the machine listing as the simulator pages it, ceil(events /
//! 120) event pages, one standing check), the metering's time next to its
//! goal (< 1 s), the events stored, and the month's total cost against the
//! simulator's truth ([`Simulator::usage`]). Nothing here asserts a timing;
//! the run fails only if the meter's figures disagree with the truth by
//! more than 0.5% or the calls grow with the machines.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::{DateTime, Utc};
use machinist::clock::ManualClock;
use machinist::cost::{CostSettings, Ledger};
use machinist::daemon::{Meter, PaperspaceSettings};
use machinist::machine::BillingMonth;
use machinist::paperspace::Backend;
use machinist::sim::{self, OutsideAction, SimConfig, Timings};
use machinist::store::{Store, StoreOptions};

/// The v1 API's largest page, which the meter asks for.
const PAGE: u64 = 120;

struct Args {
    machines: usize,
    events: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        machines: 1_000,
        events: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<usize> {
            it.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--machines" => args.machines = value("--machines")?,
            "--events" => args.events = value("--events")?.max(2) / 2 * 2,
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => eprintln!("ignoring unknown argument {other:?}"),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("a timestamp")
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// A small deterministic generator (splitmix64), so runs repeat.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> i64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n) as i64
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let march: BillingMonth = "2026-03".parse()?;
    let now = march.end();
    let clock = ManualClock::new(now);
    let config = SimConfig {
        timings: Timings::uniform(Duration::from_secs(30)),
        seed_machines: false,
        ..SimConfig::default()
    };
    let h = sim::spawn(config, Arc::new(clock.clone())).await?;
    let sim = h.sim.clone();

    // The account: each machine created in January, a day's use in
    // February, then `events / 2` starts and stops spread over March.
    let seeding = Instant::now();
    let types = ["C4", "C5", "P4000", "C7", "P5000"];
    let mut rng = Rng(7);
    let cycles = args.events / 2;
    let slot = (march.end() - march.start()) / cycles as i32;
    for i in 0..args.machines {
        let created = t("2026-01-15T00:00:00Z") + chrono::Duration::minutes(i as i64);
        let id = sim
            .seed_machine(&format!("m{i:04}"), types[i % types.len()], created)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let feb = t("2026-02-10T09:00:00Z") + chrono::Duration::minutes(i as i64);
        let mut actions = vec![
            (feb, OutsideAction::Start),
            (feb + chrono::Duration::hours(8), OutsideAction::Stop),
        ];
        for c in 0..cycles {
            let from = march.start() + slot * c as i32 + chrono::Duration::seconds(60);
            let room = (slot - chrono::Duration::seconds(180)).num_seconds() as u64;
            let up = from + chrono::Duration::seconds(rng.below(room / 2));
            let down = up + chrono::Duration::seconds(60 + rng.below(room / 2 - 60));
            actions.push((up, OutsideAction::Start));
            actions.push((down, OutsideAction::Stop));
        }
        sim.record_history(&id, &actions)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let month_events = (args.machines * args.events) as u64;
    println!(
        "machinist meter benchmark: {} machines × {} lifecycle events in March ({} events, \
         seeded in {})",
        args.machines,
        args.events,
        month_events,
        secs(seeding.elapsed())
    );
    println!();

    let dir = tempfile::tempdir()?;
    let store = Store::open(&StoreOptions::new(dir.path().join("meter.db"))).await?;
    let api = PaperspaceSettings::simulator(Backend::V1, &h.url).client()?;
    let meter = Meter::new(
        store.clone(),
        api,
        Arc::new(clock.clone()),
        Duration::from_secs(15 * 60),
        (march.end() - march.start()).to_std()?,
    );

    // Ingestion: the first run, back-filling March.
    sim.reset_calls();
    let started = Instant::now();
    let run = meter.run_once().await?;
    let ingestion = started.elapsed();
    let (total_calls, log) = sim.call_log();
    let mut by_route: BTreeMap<String, u64> = BTreeMap::new();
    for c in log {
        *by_route
            .entry(format!("{} {}", c.method, c.route))
            .or_default() += c.count;
    }
    let listing_pages = (args.machines as u64).div_ceil(PAGE);
    let event_pages = month_events.div_ceil(PAGE);
    println!(
        "ingestion (first run, back-fills March): {}",
        secs(ingestion)
    );
    println!(
        "  API calls: {total_calls}; goal: one paged listing per interval for the whole account, \
         not one call per machine"
    );
    println!(
        "  expected: {} machine listing pages + {} event pages + 1 standing = {}",
        listing_pages,
        event_pages,
        listing_pages + event_pages + 1
    );
    for (route, n) in &by_route {
        println!("    {route:<40} {n}");
    }
    let stored = store.machine_event_count().await?;
    println!(
        "  events read {}, stored {stored} (March's {month_events} and the older ones on the last page)",
        run.events
    );
    println!();

    // Metering the month.
    let ledger = Ledger::new(store.clone(), CostSettings::new(Backend::V1));
    let started = Instant::now();
    let report = ledger.cost_report(march, now).await?;
    let metering = started.elapsed();
    let truth: f64 = sim.usage(march).iter().map(|u| u.total).sum();
    let off = (report.totals.total - truth) / truth;
    println!(
        "metering March (Ledger::cost_report, {} machines): {}; goal < 1 s",
        report.machines.len(),
        secs(metering)
    );
    println!(
        "  total cost {:.2} metered vs {truth:.2} simulator's truth ({:+.4}%)",
        report.totals.total,
        off * 100.0
    );

    ensure!(
        by_route.get("GET /v1/machine-events") == Some(&event_pages)
            && by_route.get("GET /v1/machines") == Some(&listing_pages)
            && by_route.get("GET /v1/billing/account-standing") == Some(&1)
            && total_calls == listing_pages + event_pages + 1,
        "the run's calls are not one paged listing: {by_route:?}"
    );
    ensure!(
        off.abs() < 0.005,
        "metered total {:.2} is more than 0.5% from the truth {truth:.2}",
        report.totals.total
    );
    Ok(())
}
