//! Fire lateness of the scheduler with 10 000 schedules loaded, and the
//! memory they cost, printed as figures.
//!
//! `cargo bench --bench schedules` (full run: 10 000 schedules, 30 s) or
//! `cargo bench --bench schedules -- --quick` (2 000 schedules, 10 s).
//! Flags: `--schedules N`, `--seconds N` (how long `Scheduler::run` runs on
//! the real clock), `--serve-seconds N` (10: how long each `machinist serve`
//! runs before its memory is read), `--no-serve`, `--spread N` (60: the
//! schedules share N second offsets; `--spread 1` puts them all at second
//! 0, the shape of "everything at 09:00" — run it with `--seconds 75`).
//!
//! What it does, on a fresh database (`synchronous=FULL`, the default) in a
//! temporary directory:
//! 1. loads N schedules through `Registry::create_schedule` (64 at a time),
//!    each `"{s} * * * * *"` for `s = i % 60` (a 6-field cron with seconds,
//!    so N/60 fall due every second; `i % spread` with `--spread`) making
//!    a targetless `refresh` job: no
//!    machine listing, no overlap check, one job per firing;
//! 2. runs the real loop, `Scheduler::run`, on `SystemClock` for the given
//!    time, then stops it. No workers run: the jobs stay queued;
//! 3. lateness of a firing = when its job was *committed* (visible to a
//!    reader) − its due time. The store's `jobs.created_at` and
//!    `firings.recorded_at` cannot give that: both are the `now` read once
//!    at the start of the tick, before any of the tick's writes. So the
//!    bench watches `Store::wake` (notified after every commit that queued a
//!    job), reads `MAX(jobs.id)` on its own read-only connection, and
//!    timestamps it; a job is enqueued at the first observation that
//!    includes its id. The stored (tick-start) lateness is printed too;
//! 4. a break-down of one tick's steps on the loaded store;
//! 5. the resident memory (`VmRSS`) of this process before and after
//!    loading and at the end, and of `machinist serve` (sim backend) on an
//!    empty database and on a copy of this one with the N schedules.
//!
//! Firings due while the schedules were being loaded are fired late when
//! the loop starts: they and the second after they are all enqueued are a
//! warm-up, reported apart. Firings due in the last 2 s before the stop are
//! left out (they may still be in flight).
//!
//! Nothing here asserts a timing: the figures are printed. The run fails
//! only when something breaks (a store error, a lost firing is *reported*).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use machinist::clock::{SharedClock, SystemClock};
use machinist::daemon::PaperspaceSettings;
use machinist::job::JobDefaults;
use machinist::paperspace::{Backend, MachineApi};
use machinist::schedule::spec::{ScheduleContext, ScheduleSpec};
use machinist::scheduler::Scheduler;
use machinist::scheduler::registry::Registry;
use machinist::sim::{self, SimConfig};
use machinist::store::{Store, StoreOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio_util::sync::CancellationToken;

const FULL_SCHEDULES: usize = 10_000;
const QUICK_SCHEDULES: usize = 2_000;
const FULL_SECONDS: u64 = 30;
const QUICK_SECONDS: u64 = 10;
const SERVE_SECONDS: u64 = 10;
/// Concurrent `create_schedule` calls while loading.
const LOADERS: usize = 64;
/// Firings due this close to the stop are left out of the figures.
const TAIL: Duration = Duration::from_secs(2);

struct Args {
    schedules: usize,
    seconds: u64,
    serve_seconds: u64,
    serve: bool,
    /// Distinct second offsets (1 to 60).
    spread: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut quick = false;
    let mut schedules = None;
    let mut seconds = None;
    let mut serve_seconds = SERVE_SECONDS;
    let mut serve = true;
    let mut spread = 60;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut number = |name: &str| -> anyhow::Result<u64> {
            let v = match &inline {
                Some(v) => v.clone(),
                None => it
                    .next()
                    .with_context(|| format!("{name} needs a number"))?,
            };
            v.parse()
                .with_context(|| format!("{name} needs a number, not {v:?}"))
        };
        match flag.as_str() {
            "--quick" => quick = true,
            "--schedules" => schedules = Some(number("--schedules")? as usize),
            "--seconds" => seconds = Some(number("--seconds")?),
            "--serve-seconds" => serve_seconds = number("--serve-seconds")?,
            "--no-serve" => serve = false,
            "--spread" => spread = number("--spread")? as usize,
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => eprintln!("ignoring unknown argument {other:?}"),
        }
    }
    let args = Args {
        schedules: schedules.unwrap_or(if quick {
            QUICK_SCHEDULES
        } else {
            FULL_SCHEDULES
        }),
        seconds: seconds.unwrap_or(if quick { QUICK_SECONDS } else { FULL_SECONDS }),
        serve_seconds,
        serve,
        spread,
    };
    ensure!(
        (1..=60).contains(&args.spread),
        "--spread must be between 1 and 60"
    );
    ensure!(args.schedules >= 1, "--schedules must be at least 1");
    ensure!(
        args.seconds >= 5,
        "--seconds must be at least 5 (warm-up and tail are left out)"
    );
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

async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.schedules;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp = std::env::temp_dir();
    let disk = fsync_probe(&tmp)?;
    println!(
        "machinist schedule benchmark: {n} schedules (6-field cron, ~{} due at each of {} \
         seconds of every minute), {} s of Scheduler::run on the real clock",
        n.div_ceil(args.spread),
        args.spread,
        args.seconds
    );
    println!(
        "  machine: {cores} cores, load average {}; database under {} ({}), \
         fdatasync of a 4 KiB append p50 {} p99 {}",
        load_average(),
        tmp.display(),
        filesystem_of(&tmp),
        ms(disk.p50),
        ms(disk.p99)
    );

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let store = Store::open(&StoreOptions::new(&db)).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    let ctx = Arc::new(ScheduleContext {
        defaults: JobDefaults::default(),
        calendars: Default::default(),
        default_zone: "UTC".into(),
    });
    let registry = Registry::new(store.clone(), clock.clone(), ctx.clone());
    let rss_empty = rss_of("self")?;

    // 1. Load.
    let load_started = Instant::now();
    load(&registry, n, args.spread).await?;
    let load_took = load_started.elapsed();
    let rss_loaded = rss_of("self")?;
    println!(
        "  loaded {n} schedules in {:.2} s ({:.0}/s, {LOADERS} concurrent create_schedule calls)",
        load_took.as_secs_f64(),
        n as f64 / load_took.as_secs_f64()
    );
    // A consistent copy for `machinist serve`, before any firing.
    let snapshot = dir.path().join("serve-with-schedules.db");
    let reader = read_pool(&db).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(snapshot.to_string_lossy().to_string())
        .execute(&reader)
        .await
        .context("copying the database for machinist serve")?;

    // 2. The real loop.
    let sim = sim::spawn(SimConfig::default(), clock.clone()).await?;
    let api: Arc<dyn MachineApi> =
        PaperspaceSettings::simulator(Backend::Legacy, &sim.url).client()?;
    let observer_stop = CancellationToken::new();
    let observer = tokio::spawn(observe_commits(
        store.clone(),
        reader.clone(),
        observer_stop.clone(),
    ));
    let shutdown = CancellationToken::new();
    let load_before = load_average();
    let run_start = Utc::now();
    let scheduler = Scheduler::new(store.clone(), api.clone(), clock.clone(), ctx.clone());
    let looping = tokio::spawn(scheduler.run(shutdown.clone()));
    // RSS along the run, to tell a plateau (caches) from growth.
    let mut rss_during = Vec::new();
    let sample_every = (args.seconds / 6).max(1);
    let mut slept = 0;
    while slept < args.seconds {
        let step = sample_every.min(args.seconds - slept);
        tokio::time::sleep(Duration::from_secs(step)).await;
        slept += step;
        rss_during.push(rss_of("self")?.rss_kb);
    }
    shutdown.cancel();
    let stopped_at = Utc::now();
    looping.await.context("the scheduler loop panicked")?;
    // Let the last commit's wake reach the observer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    observer_stop.cancel();
    let commits = observer.await.context("the observer panicked")??;
    let load_end = load_average();

    let firings = read_firings(&reader, run_start).await?;
    let offsets = per_offset(n, args.spread);
    let report = Lateness::compute(&firings, &commits, &offsets, run_start, stopped_at);
    report.print(n.div_ceil(args.spread), args.seconds);

    // 3. Where a tick's time goes.
    let steps = breakdown(&store, &api, &clock, &ctx).await?;
    steps.print(n);

    // 4. Memory.
    let rss_end = rss_of("self")?;
    println!(
        "  RSS (this process): {} before loading (store open, empty), {} with {n} schedules, \
         {} at the end (peak {}); every {sample_every} s of the loop: {}",
        mb(rss_empty.rss_kb),
        mb(rss_loaded.rss_kb),
        mb(rss_end.rss_kb),
        mb(rss_end.hwm_kb),
        series(&rss_during)
    );
    if args.serve {
        serve_memory(dir.path(), &snapshot, n, args.serve_seconds).await;
    } else {
        println!("  machinist serve: skipped (--no-serve)");
    }
    println!(
        "  load average: {} at the start of the loop, {load_end} after it, {} at the end \
         ({cores} cores shared with other work: expect noise)",
        load_before,
        load_average()
    );
    drop(sim);
    Ok(())
}

// ---------------------------------------------------------------------------
// Loading.

fn spec(i: usize, spread: usize) -> anyhow::Result<ScheduleSpec> {
    Ok(serde_json::from_value(serde_json::json!({
        "name": format!("bench-{i:05}"),
        "cron": format!("{} * * * * *", i % spread),
        "timezone": "UTC",
        "template": {"kind": "refresh"},
    }))?)
}

async fn load(registry: &Registry, n: usize, spread: usize) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..LOADERS.min(n) {
        let registry = registry.clone();
        let next = next.clone();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                registry
                    .create_schedule(spec(i, spread)?)
                    .await
                    .with_context(|| format!("creating schedule {i}"))?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Schedules per second offset (0..60).
fn per_offset(n: usize, spread: usize) -> [u64; 60] {
    let mut counts = [0u64; 60];
    for i in 0..n {
        counts[i % spread] += 1;
    }
    counts
}

// ---------------------------------------------------------------------------
// Watching commits.

async fn read_pool(db: &Path) -> anyhow::Result<SqlitePool> {
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(db)
                .read_only(true)
                .busy_timeout(Duration::from_secs(5)),
        )
        .await?)
}

/// (highest job id committed, when this reader first saw it), in order.
type Commits = Vec<(i64, DateTime<Utc>)>;

async fn observe_commits(
    store: Store,
    reader: SqlitePool,
    stop: CancellationToken,
) -> anyhow::Result<Commits> {
    let wake = store.wake();
    let mut seen: Commits = Vec::with_capacity(1 << 16);
    let mut last = 0;
    loop {
        let stopping = tokio::select! {
            _ = wake.notified() => false,
            _ = stop.cancelled() => true,
        };
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM jobs")
            .fetch_one(&reader)
            .await?;
        // Taken after the read: a job is never counted before it was visible.
        let at = Utc::now();
        if let Some(max) = max
            && max > last
        {
            seen.push((max, at));
            last = max;
        }
        if stopping {
            return Ok(seen);
        }
    }
}

struct FiringRow {
    fire_at: DateTime<Utc>,
    job_id: Option<i64>,
    /// `jobs.created_at`: the tick's `now`.
    created_at: Option<DateTime<Utc>>,
}

async fn read_firings(reader: &SqlitePool, since: DateTime<Utc>) -> anyhow::Result<Vec<FiringRow>> {
    let rows: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT f.fire_at, f.job_id, j.created_at FROM firings f \
         LEFT JOIN jobs j ON j.id = f.job_id WHERE f.recorded_at >= ? ORDER BY f.fire_at",
    )
    .bind(since.timestamp_millis())
    .fetch_all(reader)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(fire_at, job_id, created_at)| FiringRow {
            fire_at: from_ms(fire_at),
            job_id,
            created_at: created_at.map(from_ms),
        })
        .collect())
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a time in range")
}

// ---------------------------------------------------------------------------
// The figures.

struct Lateness {
    window: (DateTime<Utc>, DateTime<Utc>),
    expected: u64,
    recorded: usize,
    enqueued: usize,
    skipped: usize,
    /// Enqueued but never seen committed (should be 0).
    unseen: usize,
    /// due → job committed, ms.
    committed: Vec<f64>,
    /// due → tick start (`jobs.created_at`), ms.
    stored: Vec<f64>,
    /// Per due second: (firings, first commit, last commit) lateness in ms.
    bursts: Vec<(usize, f64, f64)>,
    warmup: Warmup,
}

struct Warmup {
    /// Firings due before the loop started (while loading).
    overdue: usize,
    /// When the last of them was committed, after the loop started.
    drained_after: Duration,
}

impl Lateness {
    fn compute(
        firings: &[FiringRow],
        commits: &Commits,
        offsets: &[u64; 60],
        run_start: DateTime<Utc>,
        stopped_at: DateTime<Utc>,
    ) -> Lateness {
        let committed_at = |job: i64| -> Option<DateTime<Utc>> {
            let i = commits.partition_point(|(max, _)| *max < job);
            commits.get(i).map(|(_, at)| *at)
        };
        let overdue: Vec<&FiringRow> = firings.iter().filter(|f| f.fire_at < run_start).collect();
        let drained = overdue
            .iter()
            .filter_map(|f| f.job_id.and_then(committed_at))
            .max()
            .unwrap_or(run_start)
            .max(run_start);
        // The window: whole seconds from one second after the warm-up was
        // drained, to TAIL before the stop.
        let ceil = |t: DateTime<Utc>| {
            let s = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
            DateTime::from_timestamp(s, 0).expect("in range")
        };
        let start = ceil(drained) + chrono::Duration::seconds(1);
        let end = stopped_at - chrono::Duration::from_std(TAIL).expect("small");
        let end = DateTime::from_timestamp(end.timestamp() + 1, 0).expect("in range");
        let mut expected = 0;
        let mut t = start.timestamp();
        while t < end.timestamp() {
            expected += offsets[t.rem_euclid(60) as usize];
            t += 1;
        }
        let mut out = Lateness {
            window: (start, end),
            expected,
            recorded: 0,
            enqueued: 0,
            skipped: 0,
            unseen: 0,
            committed: Vec::new(),
            stored: Vec::new(),
            bursts: Vec::new(),
            warmup: Warmup {
                overdue: overdue.len(),
                drained_after: (drained - run_start).to_std().unwrap_or_default(),
            },
        };
        let mut by_second: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for f in firings
            .iter()
            .filter(|f| f.fire_at >= start && f.fire_at < end)
        {
            out.recorded += 1;
            let Some(job) = f.job_id else {
                out.skipped += 1;
                continue;
            };
            out.enqueued += 1;
            if let Some(created) = f.created_at {
                out.stored.push(millis(created - f.fire_at));
            }
            match committed_at(job) {
                Some(at) => {
                    let late = millis(at - f.fire_at);
                    out.committed.push(late);
                    by_second
                        .entry(f.fire_at.timestamp())
                        .or_default()
                        .push(late);
                }
                None => out.unseen += 1,
            }
        }
        for (_, mut l) in by_second {
            l.sort_by(f64::total_cmp);
            out.bursts.push((l.len(), l[0], l[l.len() - 1]));
        }
        out.committed.sort_by(f64::total_cmp);
        out.stored.sort_by(f64::total_cmp);
        out
    }

    /// `per_second`: schedules sharing a second offset.
    fn print(&self, per_second: usize, seconds: u64) {
        let (start, end) = self.window;
        let span = (end - start).num_seconds();
        println!(
            "  warm-up: {} firings fell due while loading; the loop enqueued the last of them \
             {:.2} s after it started (left out below)",
            self.warmup.overdue,
            self.warmup.drained_after.as_secs_f64()
        );
        println!(
            "  measured: firings due in {span} s ({} to {} UTC) of the {seconds} s run",
            start.format("%H:%M:%S"),
            end.format("%H:%M:%S")
        );
        println!(
            "  firings: expected {}   recorded {}   enqueued {}   skipped {}{}",
            self.expected,
            self.recorded,
            self.enqueued,
            self.skipped,
            if self.unseen > 0 {
                format!("   enqueued but never seen committed: {}", self.unseen)
            } else {
                String::new()
            }
        );
        if self.recorded as u64 != self.expected {
            println!(
                "  !! {} firings due in the window were not recorded by the stop ({} s after \
                 the window): lateness beyond that is not in the figures below",
                self.expected as i64 - self.recorded as i64,
                TAIL.as_secs()
            );
        }
        let q = |v: &[f64], p: f64| quantile(v, p);
        if self.committed.is_empty() {
            println!("  fire lateness: no firings measured");
            return;
        }
        let c = &self.committed;
        println!(
            "  fire lateness (due → job committed): p50 {}  p90 {}  p99 {}  max {}",
            fmt_ms(q(c, 0.5)),
            fmt_ms(q(c, 0.9)),
            fmt_ms(q(c, 0.99)),
            fmt_ms(q(c, 1.0))
        );
        let s = &self.stored;
        println!(
            "  as stored (due → tick start = jobs.created_at = firings.recorded_at): \
             p50 {}  p99 {}  max {}",
            fmt_ms(q(s, 0.5)),
            fmt_ms(q(s, 0.99)),
            fmt_ms(q(s, 1.0))
        );
        // Each second's firings are one burst: the first lands soon after
        // the due time, the rest queue behind it.
        let firsts: Vec<f64> = sorted(self.bursts.iter().map(|b| b.1));
        let lasts: Vec<f64> = sorted(self.bursts.iter().map(|b| b.2));
        let per_firing: Vec<f64> = sorted(
            self.bursts
                .iter()
                .filter(|b| b.0 > 1)
                .map(|b| (b.2 - b.1) / (b.0 - 1) as f64),
        );
        println!(
            "  per burst (one due second, ~{} firings): first enqueued p50 {}, last enqueued \
             p50 {} (max {}); {} per firing while a burst drains (p50 over {} bursts)",
            per_second,
            fmt_ms(q(&firsts, 0.5)),
            fmt_ms(q(&lasts, 0.5)),
            fmt_ms(q(&lasts, 1.0)),
            fmt_ms(q(&per_firing, 0.5)),
            self.bursts.len()
        );
    }
}

fn sorted(it: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = it.collect();
    v.sort_by(f64::total_cmp);
    v
}

fn millis(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3
}

/// `p` in 0..=1 of sorted samples (nearest rank).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v.abs() < 10.0 {
        format!("{v:.2} ms")
    } else if v.abs() < 10_000.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.1} s", v / 1e3)
    }
}

fn ms(d: Duration) -> String {
    fmt_ms(d.as_secs_f64() * 1e3)
}

// ---------------------------------------------------------------------------
// Where a tick's time goes.

struct Steps {
    due_rows: usize,
    due_query: Vec<f64>,
    next_due: Vec<f64>,
    plan: f64,
    fire_sequential: Vec<f64>,
    fire_concurrent: Option<(usize, f64)>,
}

/// Times a tick's steps one by one on the loaded store (the loop stopped):
/// the next-due and due queries, the plan, `Store::fire` for half of one
/// second's schedules one after another as `tick` does (each its own writer
/// transaction, so its own fsync), and the other half sent at once (the
/// writer group-commits them) for comparison.
async fn breakdown(
    store: &Store,
    api: &Arc<dyn MachineApi>,
    clock: &SharedClock,
    ctx: &Arc<ScheduleContext>,
) -> anyhow::Result<Steps> {
    let scheduler = Scheduler::new(store.clone(), api.clone(), clock.clone(), ctx.clone());
    // The earliest second not fired since the loop stopped: the query a
    // tick makes then returns exactly that second's schedules.
    let mut next_due = Vec::new();
    let mut earliest = None;
    for _ in 0..50 {
        let t = Instant::now();
        earliest = store.next_schedule_due().await?;
        next_due.push(t.elapsed().as_secs_f64() * 1e3);
    }
    next_due.sort_by(f64::total_cmp);
    let at = earliest.context("no schedule is due at all")?;
    let mut due_query = Vec::new();
    let mut due = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        due = store.due_schedules(at, 500).await?;
        due_query.push(t.elapsed().as_secs_f64() * 1e3);
    }
    due_query.sort_by(f64::total_cmp);
    let due_rows = due.len();
    let plan_started = Instant::now();
    let plans: Vec<_> = due
        .iter()
        // Plain schedules: no group, so no run beside the plan.
        .map(|s| scheduler.plan(s, at, None, &[], None, None).0)
        .collect();
    let plan = plan_started.elapsed().as_secs_f64() * 1e3 / plans.len().max(1) as f64;
    let (first, rest) = plans.split_at(plans.len() / 2);
    let mut fire_sequential = Vec::new();
    for p in first {
        let t = Instant::now();
        store.fire(p.clone(), at).await?;
        fire_sequential.push(t.elapsed().as_secs_f64() * 1e3);
    }
    fire_sequential.sort_by(f64::total_cmp);
    let fire_concurrent = if rest.is_empty() {
        None
    } else {
        let t = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for p in rest {
            let (store, p) = (store.clone(), p.clone());
            set.spawn(async move { store.fire(p, at).await });
        }
        while let Some(done) = set.join_next().await {
            done??;
        }
        Some((rest.len(), t.elapsed().as_secs_f64() * 1e3))
    };
    Ok(Steps {
        due_rows,
        due_query,
        next_due,
        plan,
        fire_sequential,
        fire_concurrent,
    })
}

impl Steps {
    fn print(&self, n: usize) {
        let q = quantile;
        let fs = &self.fire_sequential;
        println!(
            "  one tick's steps with {n} schedules (loop stopped): next_schedule_due p50 {}, \
             due_schedules ({} rows) p50 {}, plan {} per schedule, Store::fire one at a time (as \
             tick does) p50 {} p99 {} each",
            fmt_ms(q(&self.next_due, 0.5)),
            self.due_rows,
            fmt_ms(q(&self.due_query, 0.5)),
            fmt_ms(self.plan),
            fmt_ms(q(fs, 0.5)),
            fmt_ms(q(fs, 0.99)),
        );
        if let Some((count, took)) = self.fire_concurrent {
            let seq: f64 = fs.iter().sum();
            println!(
                "    for comparison: {} fires one at a time took {} in all; {count} fires sent \
                 at once (group commit) took {} in all",
                fs.len(),
                fmt_ms(seq),
                fmt_ms(took)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Memory.

#[derive(Debug, Clone, Copy)]
struct Rss {
    rss_kb: u64,
    hwm_kb: u64,
}

fn rss_of(pid: &str) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("malformed status line")?
            .parse()?)
    };
    Ok(Rss {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

/// MB figures, `a → b → c`: at most 10, evenly spaced, the last included.
fn series(kb: &[u64]) -> String {
    let step = kb.len().div_ceil(10).max(1);
    let last = kb.len().saturating_sub(1);
    kb.iter()
        .enumerate()
        .filter(|(i, _)| (last - i).is_multiple_of(step))
        .map(|(_, k)| k)
        .map(|k| format!("{:.1}", *k as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(" → ")
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// The `machinist` binary Cargo built for this benchmark, or the release
/// one next to the benchmark's `deps` directory.
fn machinist_binary() -> Option<PathBuf> {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_machinist"));
    if built.exists() {
        return Some(built);
    }
    let exe = std::env::current_exe().ok()?;
    let beside = exe.parent()?.parent()?.join("machinist");
    beside.exists().then_some(beside)
}

async fn serve_memory(dir: &Path, snapshot: &Path, n: usize, seconds: u64) {
    let Some(bin) = machinist_binary() else {
        println!(
            "  machinist serve: skipped (no target/release/machinist; `cargo build --release`)"
        );
        return;
    };
    let empty = dir.join("serve-empty.db");
    let line = match serve_once(&bin, &empty, seconds).await {
        Ok(m) => format!("{} empty ({})", mb(m.rss.rss_kb), series(&m.during)),
        Err(e) => format!("empty: FAILED ({e:#})"),
    };
    if let Err(e) = rearm(snapshot).await {
        println!("  machinist serve with {n} schedules: FAILED to prepare the copy: {e:#}");
        return;
    }
    match serve_once(&bin, snapshot, seconds).await {
        Ok(m) => {
            println!(
                "  machinist serve (sim backend, VmRSS {seconds} s after /healthz; in brackets \
                 along the way): {line}; {} with {n} schedules (peak {}) ({})",
                mb(m.rss.rss_kb),
                mb(m.rss.hwm_kb),
                series(&m.during)
            );
            match serve_activity(snapshot, m.started).await {
                Ok(a) => println!(
                    "    while measured it fired {} times and queued {} jobs ({} finished by its \
                     workers); stored lateness (due → tick start, ms resolution) p50 {} p99 {}",
                    a.firings,
                    a.jobs,
                    a.finished,
                    fmt_ms(quantile(&a.stored, 0.5)),
                    fmt_ms(quantile(&a.stored, 0.99))
                ),
                Err(e) => println!("    (could not read what it did: {e:#})"),
            }
        }
        Err(e) => println!("  machinist serve: {line}; with {n} schedules: FAILED ({e:#})"),
    }
}

/// Moves every schedule of the copy that fell due since it was taken to its
/// next firing after a start-up margin (whole minutes, so each keeps its
/// second), as if the schedules had been created just now: `serve` then
/// fires at the steady rate instead of catching up a backlog.
async fn rearm(db: &Path) -> anyhow::Result<()> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(db))
        .await?;
    let from = (Utc::now() + chrono::Duration::seconds(2)).timestamp_millis();
    sqlx::query(
        "UPDATE schedules SET next_fire_at = next_fire_at + 60000 * ((? - next_fire_at) / 60000 + 1) \
         WHERE next_fire_at IS NOT NULL AND next_fire_at < ?",
    )
    .bind(from)
    .bind(from)
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

struct Served {
    rss: Rss,
    /// VmRSS (kB) each second after /healthz answered.
    during: Vec<u64>,
    started: DateTime<Utc>,
}

async fn serve_once(bin: &Path, db: &Path, seconds: u64) -> anyhow::Result<Served> {
    let addr: SocketAddr = {
        let probe = TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let workdir = db.parent().context("the database has a directory")?;
    let log_path = db.with_extension("log");
    let log = std::fs::File::create(&log_path)?;
    let started = Utc::now();
    let mut child = Command::new(bin)
        .arg("serve")
        .env("MACHINIST_STORE_PATH", db)
        .env("MACHINIST_HTTP_LISTEN", addr.to_string())
        .env("MACHINIST_PAPERSPACE_BACKEND", "sim")
        .env("MACHINIST_SCHEDULE_UTILIZATION_PULL", "")
        .env("RUST_LOG", "warn")
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let pid = child.id();
    let outcome = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Ok(mut f) = std::fs::File::open(&log_path) {
                    let _ = f.read_to_string(&mut err);
                }
                let tail: Vec<&str> = err.lines().rev().take(5).collect();
                bail!(
                    "machinist serve exited with {status} before answering: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                );
            }
            if healthz(addr) {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "GET /healthz did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut during = Vec::new();
        for _ in 0..seconds {
            tokio::time::sleep(Duration::from_secs(1)).await;
            during.push(rss_of(&pid.to_string())?.rss_kb);
        }
        Ok::<_, anyhow::Error>((rss_of(&pid.to_string())?, during))
    }
    .await;

    // Stop it: SIGTERM, then SIGKILL if it lingers.
    if child.try_wait()?.is_none() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                eprintln!("machinist serve ignored SIGTERM for 15 s; killing it");
                child.kill()?;
                child.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (rss, during) = outcome?;
    Ok(Served {
        rss,
        during,
        started,
    })
}

struct Activity {
    firings: i64,
    jobs: i64,
    finished: i64,
    stored: Vec<f64>,
}

async fn serve_activity(db: &Path, since: DateTime<Utc>) -> anyhow::Result<Activity> {
    let pool = read_pool(db).await?;
    let since = since.timestamp_millis();
    let (firings,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM firings WHERE recorded_at >= ?")
        .bind(since)
        .fetch_one(&pool)
        .await?;
    let (jobs, finished): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), SUM(finished_at IS NOT NULL) FROM jobs WHERE created_at >= ?",
    )
    .bind(since)
    .fetch_one(&pool)
    .await?;
    let late: Vec<(i64,)> = sqlx::query_as(
        "SELECT recorded_at - fire_at FROM firings WHERE recorded_at >= ? AND job_id IS NOT NULL",
    )
    .bind(since)
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    Ok(Activity {
        firings,
        jobs,
        finished: finished.unwrap_or(0),
        stored: sorted(late.into_iter().map(|(l,)| l as f64)),
    })
}

/// True when `GET /healthz` answers 200.
fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

// ---------------------------------------------------------------------------
// The machine.

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The filesystem type of `dir` from /proc/mounts (longest matching mount point).
fn filesystem_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, at, fs) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at).then(|| (at.len(), fs.to_string()))
        })
        .max()
        .map_or_else(|| "filesystem unknown".into(), |(_, fs)| fs)
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
}

/// What a durable commit costs at least on this disk: fdatasync after
/// appending 4 KiB (a WAL frame), as SQLite does.
fn fsync_probe(dir: &Path) -> anyhow::Result<Percentiles> {
    let probe = tempfile::tempdir_in(dir)?;
    let mut file = std::fs::File::create(probe.path().join("probe"))?;
    let block = [0u8; 4096];
    let mut took = Vec::with_capacity(100);
    for _ in 0..100 {
        file.write_all(&block)?;
        let t = Instant::now();
        file.sync_data()?;
        took.push(t.elapsed());
    }
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    Ok(Percentiles {
        p50: at(0.5),
        p99: at(0.99),
    })
}
