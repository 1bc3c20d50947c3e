//! Throughput and latency of the durable job queue, printed as figures.
//!
//! `cargo bench --bench queue` (full run: 200 000 jobs) or
//! `cargo bench --bench queue -- --quick` (20 000 jobs, smoke run).
//! Flags: `--jobs N` (jobs of the main scenario), `--submitters N` (16),
//! `--workers N` (8), `--prefetch N` (8, jobs claimed ahead of a free
//! worker), `--budget SECS` (300: a loaded run still going after
//! this long is stopped and reported as unfinished, so the benchmark always
//! ends), `--only 0,1,...` (run only these scenarios), `--idle-seconds N`
//! (60: how long scenario 5 watches the idle daemon).
//!
//! Scenarios, each on a fresh database in a temporary directory:
//! 0. raw SQLite: a job's statements without Machinist, 1 and 10 jobs to a
//!    transaction, to read the other figures against;
//! 1. store + workers: 16 submitters, 8 workers (and the default 8 jobs
//!    claimed ahead), no-op `show` jobs,
//!    durable commits (`synchronous=FULL`);
//! 2. an idle daemon: one job at a time, submit → start latency;
//! 3. scenario 1 with `Durability::Normal`, a quarter of the jobs;
//! 4. `show` jobs against an in-process simulator over HTTP;
//! 5. an idle `machinist serve`: its resident memory, and how often its
//!    threads wake with nothing due (context switches read from
//!    `/proc/PID/task/*/status` over `--idle-seconds N`, 60 by default;
//!    the target is none);
//! 6. dependency chains: 1,000 chains of 10 `show` jobs (`--chains N`),
//!    each job depending on the one before, submitted as one batch per
//!    chain by the submitters; jobs/s, and the hand-off from a job's call
//!    to its dependent's call (which includes the first job's own no-op
//!    step and its commit). Then the same hand-off with one chain at a time
//!    on an idle daemon, the mechanism alone, and plain jobs of the same
//!    count, to read the chains' rate against.
//! 7. several daemons on PostgreSQL (the server at `MACHINIST_BENCH_POSTGRES`,
//!    by default `postgres://postgres@127.0.0.1:5432/test`, on this machine,
//!    its own settings, `fsync` on): scenario 1's load with a quarter of the
//!    jobs (`--pg-jobs N`) on SQLite, on PostgreSQL with one daemon and
//!    with two (two store handles, each with its own workers), in one run;
//! 8. failover on PostgreSQL: two `machinist serve` processes; kill -9 of
//!    the one running a job (its call hangs at the simulator) and the time
//!    until the other runs it; kill -9 of the leader and the time until the
//!    other leads.
//!
//! Before them it measures what this machine gives raw SQLite at this
//! moment (see `raw_sqlite`), so that a figure can be read against the
//! machine it was taken on: the same VM has measured several times faster or
//! slower from one day to the next.
//!
//! Nothing here asserts a timing: the figures are printed next to the
//! targets the team set. The run fails only when the queue loses or
//! mangles jobs.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use async_trait::async_trait;
use chrono::Utc;
use machinist::clock::SystemClock;
use machinist::daemon::PaperspaceSettings;
use machinist::job::{Dependency, JobDefaults, JobId, JobRequest, JobState, NewJob};
use machinist::machine::{
    AccountStanding, ApiCallRecord, Availability, BillingMonth, CreateMachine, EventPage, Machine,
    MachineFilter, MachinePage, MachineState, PageRequest, Template, TemplateFilter, UpdateMachine,
    Utilization,
};
use machinist::paperspace::call_log;
use machinist::paperspace::{ApiError, Backend, MachineApi};
use machinist::sim::{self, SimConfig, Timings};
use machinist::store::{Durability, JobFilter, Store, StoreOptions};
use machinist::worker::{WorkerSettings, Workers};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const SUBMITTERS: usize = 16;
const WORKERS: usize = 8;
const BUDGET: Duration = Duration::from_secs(300);
const FULL_JOBS: usize = 200_000;
const QUICK_JOBS: usize = 20_000;
const IDLE_JOBS: usize = 2_000;
const RAW_JOBS: usize = 20_000;
const SIM_JOBS: usize = 2_000;
const SIM_MACHINES: usize = 100;
const CHAINS: usize = 1_000;
const CHAIN_LENGTH: usize = 10;
/// Chains run one at a time for the idle hand-off.
const IDLE_CHAINS: usize = 100;
/// Jobs whose history rows are read back after a run.
const SAMPLED: usize = 200;

struct Args {
    jobs: usize,
    quick: bool,
    load: Load,
    /// Scenarios to run (0 to 6).
    only: Vec<u8>,
    /// Chains of scenario 6.
    chains: usize,
    /// How long scenario 5 counts the idle daemon's wake-ups.
    idle_for: Duration,
    /// Jobs of scenario 7's runs.
    pg_jobs: Option<usize>,
}

/// The shape of a loaded run.
#[derive(Debug, Clone, Copy)]
struct Load {
    submitters: usize,
    workers: usize,
    /// Jobs claimed ahead of a free worker (`workers.prefetch`).
    prefetch: usize,
    /// A run still going after this long is stopped and reported unfinished.
    budget: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        jobs: FULL_JOBS,
        quick: false,
        load: Load {
            submitters: SUBMITTERS,
            workers: WORKERS,
            prefetch: WorkerSettings::default().prefetch,
            budget: BUDGET,
        },
        only: vec![0, 1, 2, 3, 4, 5, 6, 7, 8],
        chains: CHAINS,
        idle_for: Duration::from_secs(60),
        pg_jobs: None,
    };
    let mut jobs = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut number = |name: &str| -> anyhow::Result<usize> {
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
            "--quick" => args.quick = true,
            "--jobs" => jobs = Some(number("--jobs")?),
            "--submitters" => args.load.submitters = number("--submitters")?.max(1),
            "--workers" => args.load.workers = number("--workers")?.max(1),
            "--prefetch" => args.load.prefetch = number("--prefetch")?,
            "--chains" => args.chains = number("--chains")?.max(1),
            "--pg-jobs" => args.pg_jobs = Some(number("--pg-jobs")?.max(1)),
            "--budget" => args.load.budget = Duration::from_secs(number("--budget")? as u64),
            "--idle-seconds" => {
                args.idle_for = Duration::from_secs(number("--idle-seconds")? as u64)
            }
            // `cargo bench` passes `--bench`; libtest's other flags mean nothing here.
            "--only" => {
                let list = match &inline {
                    Some(v) => v.clone(),
                    None => it.next().context("--only needs a list like 1,2")?,
                };
                args.only = list
                    .split(',')
                    .map(|n| n.trim().parse::<u8>())
                    .collect::<Result<_, _>>()
                    .context("--only needs a list like 1,2")?;
            }
            "--bench" => {}
            other => eprintln!("ignoring unknown argument {other:?}"),
        }
    }
    if args.quick {
        args.jobs = QUICK_JOBS;
        args.chains = args.chains.min(CHAINS / 10);
    }
    if let Some(n) = jobs {
        args.jobs = n;
    }
    ensure!(args.jobs >= 1, "--jobs must be at least 1");
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
    let load = args.load;
    let wanted = |n: u8| args.only.contains(&n);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp = std::env::temp_dir();
    let disk = fsync_probe(&tmp)?;
    println!(
        "machinist queue benchmark: {cores} cores, load average {}; databases under {} ({}), \
         where fdatasync of a 4 KiB append takes p50 {} p99 {}",
        load_average(),
        tmp.display(),
        filesystem_of(&tmp),
        ms(disk.p50),
        ms(disk.p99)
    );
    println!();

    // 0. The machine, without Machinist.
    let mut raw_batched = None;
    if wanted(0) {
        let jobs = if args.quick { RAW_JOBS / 4 } else { RAW_JOBS };
        println!(
            "raw SQLite on this machine now ({jobs} jobs through the same schema and statements, \
             4 history rows each, one thread, no Machinist):"
        );
        // 16 is the most one commit can hold of scenario 1's submits: each
        // of its 16 submitters waits for its own durable commit.
        for (per_txn, sync) in [(1, "FULL"), (10, "FULL"), (16, "FULL"), (1, "NORMAL")] {
            let rate = raw_sqlite(&tmp, jobs, per_txn, sync).await?;
            println!(
                "  {per_txn:>2} job{} per transaction, synchronous={sync}: {rate:>6.0} jobs/s",
                if per_txn == 1 { " " } else { "s" }
            );
            if per_txn == 16 {
                raw_batched = Some(rate);
            }
        }
        println!();
    }

    // 1. Durable commits.
    let mut full_rate = None;
    if wanted(1) {
        let full = throughput(args.jobs, Durability::Full, load).await?;
        full.print(load, "synchronous=FULL");
        println!(
            "  targets: >= 10000 jobs/s end to end ({}), last tenth >= 0.9x first ({})",
            verdict(full.complete && full.jobs_per_sec >= 10_000.0),
            verdict(full.complete && full.tenth_ratio() >= 0.9)
        );
        if let Some(raw) = raw_batched {
            println!(
                "  {:.0}% of raw SQLite's rate at 16 jobs per transaction, measured just before",
                100.0 * full.jobs_per_sec / raw
            );
        }
        println!();
        full_rate = Some(full.jobs_per_sec);
    }

    // 2. An idle daemon.
    if wanted(2) {
        let idle_jobs = if args.quick { IDLE_JOBS / 4 } else { IDLE_JOBS };
        let idle = idle_latency(idle_jobs, Durability::Full, load).await?;
        idle.print(idle_jobs, "synchronous=FULL");
        println!(
            "  targets: p50 < 1 ms ({}), p99 < 5 ms ({})",
            verdict(idle.to_start.p50 < Duration::from_millis(1)),
            verdict(idle.to_start.p99 < Duration::from_millis(5))
        );
        let idle_normal = idle_latency(idle_jobs, Durability::Normal, load).await?;
        idle_normal.print(idle_jobs, "synchronous=NORMAL, for comparison");
        println!();
    }

    // 3. Commits without fsync.
    if wanted(3) {
        let normal = throughput((args.jobs / 4).max(1), Durability::Normal, load).await?;
        normal.print(load, "synchronous=NORMAL");
        if let Some(full) = full_rate {
            println!("  vs FULL: {:.2}x the jobs/s", normal.jobs_per_sec / full);
        }
        println!();
    }

    // 4. A simulated Paperspace over HTTP.
    if wanted(4) {
        let sim_jobs = if args.quick { SIM_JOBS / 4 } else { SIM_JOBS };
        let simulated = simulator_backed(sim_jobs, SIM_MACHINES, load).await?;
        println!(
            "simulator over HTTP ({sim_jobs} show jobs on {SIM_MACHINES} machines, {} submitters, \
             {} workers, LegacyClient without rate limit, synchronous=FULL)",
            load.submitters, load.workers
        );
        simulated.print_body(load);
        println!("  (submit → start includes waiting behind the same machine's earlier jobs)");
        println!();
    }

    // 5. The idle daemon's memory and wake-ups.
    if wanted(5) {
        match idle_daemon(args.idle_for).await {
            Ok(Memory::Measured {
                rss_kb,
                hwm_kb,
                wakeups,
            }) => {
                println!(
                    "idle daemon memory (machinist serve, sim backend, 3 s after /healthz answered): \
                     VmRSS {:.1} MB (peak {:.1} MB)   target < 20 MB ({})",
                    rss_kb as f64 / 1024.0,
                    hwm_kb as f64 / 1024.0,
                    verdict((rss_kb as f64 / 1024.0) < 20.0)
                );
                println!(
                    "idle daemon wake-ups (context switches of its threads over the next {} s): \
                     {wakeups}   target 0 ({})",
                    args.idle_for.as_secs(),
                    verdict(wakeups == 0)
                );
            }
            Ok(Memory::Skipped(why)) => {
                println!("idle daemon memory: skipped: machinist serve not available ({why})")
            }
            Err(e) => println!("idle daemon memory: FAILED: {e:#}"),
        }
        println!();
    }
    // 6. Dependency chains.
    if wanted(6) {
        let jobs = args.chains * CHAIN_LENGTH;
        let chained = chains(args.chains, load).await?;
        println!(
            "dependency chains ({} chains of {CHAIN_LENGTH} show jobs = {jobs} jobs, one batch per \
             chain, {} submitters, {} workers, synchronous=FULL): {:.0} jobs/s{}",
            args.chains,
            load.submitters,
            load.workers,
            chained.jobs_per_sec,
            if chained.complete {
                ""
            } else {
                " (UNFINISHED within the budget)"
            }
        );
        println!(
            "  hand-off under that load, a job's call → its dependent's call: p50 {} p99 {}",
            ms(chained.hand_off.p50),
            ms(chained.hand_off.p99)
        );
        let idle = idle_chains(IDLE_CHAINS.min(args.chains), load).await?;
        println!(
            "  hand-off on an idle daemon, one chain at a time ({} hand-offs): p50 {} p99 {}   \
             target p99 < 5 ms ({})",
            idle.samples,
            ms(idle.hand_off.p50),
            ms(idle.hand_off.p99),
            verdict(idle.hand_off.p99 < Duration::from_millis(5))
        );
        let plain = throughput(jobs, Durability::Full, load).await?;
        println!(
            "  plain show jobs of the same count in this run, for comparison: {:.0} jobs/s \
             (chains at {:.2}x)",
            plain.jobs_per_sec,
            chained.jobs_per_sec / plain.jobs_per_sec
        );
        println!();
    }
    // 7. Several daemons on PostgreSQL, beside SQLite.
    if wanted(7) {
        let jobs = args.pg_jobs.unwrap_or((args.jobs / 4).max(1));
        match postgres_server().await {
            Ok((server, settings)) => {
                println!(
                    "several daemons on one PostgreSQL ({jobs} no-op jobs, {} submitters, {} workers \
                     with {} more claimed ahead per daemon; PostgreSQL on this machine with {settings}; \
                     SQLite synchronous=FULL):",
                    load.submitters, load.workers, load.prefetch
                );
                let sqlite = throughput(jobs, Durability::Full, load).await?;
                print_row("SQLite, 1 daemon", &sqlite);
                let one = on_postgres(&server, 1, jobs, load).await?;
                print_row("PostgreSQL, 1 daemon", &one);
                let two = on_postgres(&server, 2, jobs, load).await?;
                print_row("PostgreSQL, 2 daemons", &two);
                println!(
                    "  targets: >= 5000 jobs/s with one daemon ({}), two daemons >= 0.9x one ({})",
                    verdict(one.complete && one.jobs_per_sec >= 5_000.0),
                    verdict(two.complete && two.jobs_per_sec >= 0.9 * one.jobs_per_sec)
                );
            }
            Err(e) => println!("several daemons on PostgreSQL: skipped: {e:#}"),
        }
        println!();
    }

    // 8. Failover on PostgreSQL.
    if wanted(8) {
        match postgres_server().await {
            Ok((server, _)) => match failover(&server).await {
                Ok(f) => {
                    println!(
                        "failover on PostgreSQL (two machinist serve processes, workers.lease = {} s, \
                         store.leader_lease = {} s):",
                        FAILOVER_LEASE.as_secs(),
                        FAILOVER_LEASE.as_secs()
                    );
                    println!(
                        "  kill -9 of the daemon running a job: the other runs it {:.2} s later   \
                         (bound: the lease + a third of it for the rescue, {:.1} s)",
                        f.worker.as_secs_f64(),
                        FAILOVER_LEASE.as_secs_f64() * 4.0 / 3.0
                    );
                    println!(
                        "  kill -9 of the leader: the other leads {:.2} s later   target <= the lease + 1 s ({})",
                        f.leader.as_secs_f64(),
                        verdict(f.leader <= FAILOVER_LEASE + Duration::from_secs(1))
                    );
                }
                Err(e) => println!("failover on PostgreSQL: FAILED: {e:#}"),
            },
            Err(e) => println!("failover on PostgreSQL: skipped: {e:#}"),
        }
        println!();
    }
    println!("load average at the end: {}", load_average());
    Ok(())
}

// ---------------------------------------------------------------------------
// Scenarios 7 and 8: PostgreSQL.

/// The PostgreSQL server the benchmark creates its databases on.
fn postgres_url() -> String {
    std::env::var("MACHINIST_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// The server, if it answers, and its durability settings.
async fn postgres_server() -> anyhow::Result<(String, String)> {
    use sqlx::Connection;
    let url = postgres_url();
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .with_context(|| format!("no PostgreSQL at {url} (MACHINIST_BENCH_POSTGRES)"))?;
    let mut shown = Vec::new();
    for setting in ["fsync", "synchronous_commit", "server_version"] {
        let (value,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&mut conn)
            .await?;
        shown.push(format!("{setting}={value}"));
    }
    conn.close().await?;
    Ok((url, shown.join(", ")))
}

/// A fresh database on `server`, dropped with the returned guard.
struct BenchDatabase {
    server: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    async fn create(server: &str) -> anyhow::Result<BenchDatabase> {
        use sqlx::Connection;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "machinist_bench_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(server).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let mut url = url::Url::parse(server)?;
        url.set_path(&name);
        Ok(BenchDatabase {
            server: server.to_string(),
            name,
            url: url.to_string(),
        })
    }

    fn options(&self) -> StoreOptions {
        StoreOptions::postgres(machinist::store::DatabaseUrl::new(self.url.clone()))
    }

    async fn drop_it(self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.server).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// Scenario 1's load on a fresh PostgreSQL database, through `daemons`
/// store handles each with its own workers.
async fn on_postgres(
    server: &str,
    daemons: usize,
    jobs: usize,
    load: Load,
) -> anyhow::Result<Loaded> {
    let db = BenchDatabase::create(server).await?;
    let mut stores = Vec::with_capacity(daemons);
    for _ in 0..daemons {
        stores.push(Store::open(&db.options()).await?);
    }
    let machines: Vec<String> = (0..jobs).map(|n| format!("ps{n}")).collect();
    let result = loaded_run(&stores, NoopApi, machines, load).await;
    drop(stores);
    db.drop_it().await?;
    result
}

/// One line of scenario 7.
fn print_row(what: &str, run: &Loaded) {
    println!(
        "  {what:<22} {:>6.0} jobs/s{}   submit p50 {} p99 {}   submit → start p50 {} p99 {}",
        run.jobs_per_sec,
        if run.complete { "" } else { " (UNFINISHED)" },
        ms(run.submit.p50),
        ms(run.submit.p99),
        ms(run.to_start.p50),
        ms(run.to_start.p99)
    );
}

/// The leases of scenario 8's daemons.
const FAILOVER_LEASE: Duration = Duration::from_secs(5);

/// What scenario 8 measured.
struct Failover {
    worker: Duration,
    leader: Duration,
}

/// A `machinist serve` process on `url` against the simulator at `sim`.
fn failover_daemon(db: &str, sim: &str) -> anyhow::Result<(std::process::Child, SocketAddr)> {
    let addr: SocketAddr = {
        let probe = TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let lease = format!("{}s", FAILOVER_LEASE.as_secs());
    let child = Command::new(env!("CARGO_BIN_EXE_machinist"))
        .arg("serve")
        .env("MACHINIST_STORE_URL", db)
        .env("MACHINIST_STORE_LEADER_LEASE", &lease)
        .env("MACHINIST_WORKERS_LEASE", &lease)
        .env("MACHINIST_HTTP_LISTEN", addr.to_string())
        .env("MACHINIST_PAPERSPACE_BACKEND", "legacy")
        .env("MACHINIST_PAPERSPACE_BASE_URL", sim)
        .env("MACHINIST_PAPERSPACE_REQUEST_TIMEOUT", "10m")
        .env("PAPERSPACE_API_KEY", "sim-key")
        .env_remove("MACHINIST_ADMIN_TOKEN")
        .env_remove("MACHINIST_CONFIG")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthz(addr) {
        ensure!(
            Instant::now() < deadline,
            "machinist serve did not answer on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((child, addr))
}

/// `GET http://addr{path}` as JSON.
async fn get_json(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    Ok(http
        .get(format!("http://{addr}{path}"))
        .send()
        .await?
        .json()
        .await?)
}

/// The pid of the daemon that leads, as `addr` lists them, and of the
/// daemon whose owner name is `owner`.
fn pid_of(daemons: &serde_json::Value, pick: impl Fn(&serde_json::Value) -> bool) -> Option<u32> {
    daemons["daemons"]
        .as_array()?
        .iter()
        .find(|d| pick(d))
        .and_then(|d| d["pid"].as_u64())
        .map(|p| p as u32)
}

/// Scenario 8.
async fn failover(server: &str) -> anyhow::Result<Failover> {
    let db = BenchDatabase::create(server).await?;
    // A simulator whose every request hangs: a job's call holds its worker.
    let mut sim = Command::new(env!("CARGO_BIN_EXE_machinist"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--hang-rate",
            "1",
            "--hang-ms",
            "600000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sim.stdout.take().context("the simulator's stdout")?),
        &mut line,
    )?;
    let sim_url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .context("the simulator did not say its URL")?
        .to_string();
    let http = reqwest::Client::new();
    let outcome = async {
        let mut daemons = vec![
            failover_daemon(&db.url, &sim_url)?,
            failover_daemon(&db.url, &sim_url)?,
        ];
        // A job whose call hangs: whoever claims it holds it.
        let job: serde_json::Value = http
            .post(format!("http://{}/v1/jobs", daemons[0].1))
            .json(&serde_json::json!({"kind": "show", "machine_id": "pshang"}))
            .send()
            .await?
            .json()
            .await?;
        let id = job["id"].as_i64().context("no job id")?;
        let holder = loop {
            let job = get_json(&http, daemons[0].1, &format!("/v1/jobs/{id}")).await?;
            if let Some(owner) = job["lease_owner"].as_str() {
                break owner.to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let listed = get_json(&http, daemons[0].1, "/v1/daemons").await?;
        let pid = pid_of(&listed, |d| {
            holder.starts_with(d["id"].as_str().unwrap_or("?"))
        })
        .context("the job's holder is not among the daemons")?;
        let k = daemons
            .iter()
            .position(|(c, _)| c.id() == pid)
            .context("holder not started here")?;
        let other = daemons[1 - k].1;
        let killed = Instant::now();
        daemons[k].0.kill()?;
        daemons[k].0.wait()?;
        let worker = loop {
            let job = get_json(&http, other, &format!("/v1/jobs/{id}")).await?;
            if job["lease_owner"].as_str().is_some_and(|o| o != holder) {
                break killed.elapsed();
            }
            ensure!(
                killed.elapsed() < Duration::from_secs(60),
                "the job was not taken over"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        daemons[k] = failover_daemon(&db.url, &sim_url)?;
        // The leader dies.
        let listed = get_json(&http, other, "/v1/daemons").await?;
        let leader = pid_of(&listed, |d| d["leader"] == true).context("no leader")?;
        let k = daemons
            .iter()
            .position(|(c, _)| c.id() == leader)
            .context("leader not started here")?;
        let observer = daemons[1 - k].1;
        let killed = Instant::now();
        daemons[k].0.kill()?;
        daemons[k].0.wait()?;
        let leader = loop {
            let listed = get_json(&http, observer, "/v1/daemons").await?;
            if pid_of(&listed, |d| d["leader"] == true).is_some_and(|p| p != leader) {
                break killed.elapsed();
            }
            ensure!(
                killed.elapsed() < Duration::from_secs(60),
                "no daemon took the lead"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        for (mut child, _) in daemons {
            let _ = child.kill();
            let _ = child.wait();
        }
        anyhow::Ok(Failover { worker, leader })
    }
    .await;
    let _ = sim.kill();
    let _ = sim.wait();
    db.drop_it().await?;
    outcome
}

// ---------------------------------------------------------------------------
// Scenario 6: dependency chains.

/// What a chains run measured.
struct Chained {
    jobs_per_sec: f64,
    hand_off: Percentiles,
    complete: bool,
}

/// One chain of `show` jobs, each on its own machine and depending on the
/// one before, as a batch.
fn chain(n: usize) -> anyhow::Result<Vec<NewJob>> {
    (0..CHAIN_LENGTH)
        .map(|k| {
            let mut job = show_job(format!("c{n}-{k}"))?;
            if k > 0 {
                job.depends_on = vec![Dependency::Earlier(k - 1)];
            }
            Ok(job)
        })
        .collect()
}

/// Each chain's hand-offs: the call of job k + 1 after the call of job k.
fn hand_offs(
    starts: &HashMap<String, Vec<Duration>>,
    chains: std::ops::Range<usize>,
) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    for n in chains {
        for k in 1..CHAIN_LENGTH {
            let at = |k: usize| {
                starts
                    .get(&format!("c{n}-{k}"))
                    .and_then(|v| v.first().copied())
                    .with_context(|| format!("job {k} of chain {n} never started"))
            };
            let (before, after) = (at(k - 1)?, at(k)?);
            ensure!(
                after > before,
                "chain {n}: job {k} started before the job it depends on"
            );
            out.push(after - before);
        }
    }
    Ok(out)
}

/// `chains` chains submitted at once by the submitters, run to the end.
async fn chains(chains: usize, load: Load) -> anyhow::Result<Chained> {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path(), Durability::Full).await?;
    let base = Instant::now();
    let api = Arc::new(Recording::new(NoopApi, base));
    let (shutdown, worker_task) = start_workers(&store, api.clone(), load, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let total = chains * CHAIN_LENGTH;
    let began = Instant::now();
    let mut submitters = Vec::new();
    for s in 0..load.submitters {
        let store = store.clone();
        let submitters_count = load.submitters;
        submitters.push(tokio::spawn(async move {
            for n in (s..chains).step_by(submitters_count) {
                store.submit_batch(chain(n)?, Utc::now()).await?;
            }
            anyhow::Ok(())
        }));
    }
    for s in submitters {
        s.await??;
    }
    let deadline = began + load.budget;
    let complete = loop {
        if api.shows.load(Ordering::Relaxed) >= total {
            let counts = store.counts().await?;
            if count_of(&counts, JobState::Succeeded) as usize == total {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = began.elapsed();
    shutdown.cancel();
    worker_task.await?;
    let starts = api.take_starts();
    let hand_off = if complete {
        percentiles(hand_offs(&starts, 0..chains)?)
    } else {
        percentiles(Vec::new())
    };
    let counts = store.counts().await?;
    ensure!(
        !complete || count_of(&counts, JobState::Succeeded) as usize == total,
        "chains lost jobs: {counts:?}"
    );
    Ok(Chained {
        jobs_per_sec: total as f64 / elapsed.as_secs_f64(),
        hand_off,
        complete,
    })
}

/// What the idle chains measured.
struct IdleChains {
    samples: usize,
    hand_off: Percentiles,
}

/// One chain at a time on an otherwise idle daemon: the hand-off alone.
async fn idle_chains(chains: usize, load: Load) -> anyhow::Result<IdleChains> {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path(), Durability::Full).await?;
    let base = Instant::now();
    let api = Arc::new(Recording::new(NoopApi, base));
    let (shutdown, worker_task) = start_workers(&store, api.clone(), load, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 0..chains {
        let jobs = store.submit_batch(chain(n)?, Utc::now()).await?;
        let last = jobs.last().context("a chain has jobs")?.job.id;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let job = store.job(last).await?.context("job vanished")?;
            if job.state == JobState::Succeeded {
                break;
            }
            ensure!(!job.state.is_final(), "job {last} is {}", job.state);
            ensure!(
                Instant::now() < deadline,
                "chain {n} did not finish within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    shutdown.cancel();
    worker_task.await?;
    let samples = hand_offs(&api.take_starts(), 0..chains)?;
    Ok(IdleChains {
        samples: samples.len(),
        hand_off: percentiles(samples),
    })
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
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

/// Scenario 0: `jobs` no-op jobs through their whole life in plain SQL on
/// one rusqlite connection, `per_txn` jobs to a transaction: insert with its
/// history row, claim (the writer's due query, then the update), complete,
/// and the API-call and final history rows. The statements are those of
/// `store/sqlite/`, on a database `store::migrate` made, so the figure is
/// what this disk and CPU allow a single writer, not a target to beat.
async fn raw_sqlite(dir: &Path, jobs: usize, per_txn: usize, sync: &str) -> anyhow::Result<f64> {
    let tmp = tempfile::tempdir_in(dir)?;
    let path = tmp.path().join("raw.db");
    machinist::store::migrate(&StoreOptions::new(&path)).await?;
    let sync = sync.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let mut db = rusqlite::Connection::open(&path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", &sync)?;
        db.pragma_update(None, "cache_size", -4096)?;
        let args = serde_json::json!({ "machine_id": "ps0" }).to_string();
        let started = Instant::now();
        let mut next_id = 1_i64;
        for _ in 0..jobs.div_ceil(per_txn) {
            let now = Utc::now().timestamp_millis();
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for _ in 0..per_txn {
                tx.prepare_cached(
                    "INSERT INTO jobs (id, kind, machine_id, args, state, priority, attempt, \
                     max_attempts, run_at, wait, wait_timeout_ms, idempotency_key, created_at, \
                     updated_at) VALUES (?1, 'show', ?2, ?3, 'queued', 0, 0, 5, ?4, NULL, 0, NULL, ?4, ?4)",
                )?
                .execute(rusqlite::params![next_id, format!("ps{next_id}"), args, now])?;
                raw_event(&tx, next_id, now, "state", None, Some("queued"), "submitted", None)?;
                next_id += 1;
            }
            let due: Vec<i64> = tx
                .prepare_cached(
                    "SELECT j.id FROM jobs j INDEXED BY jobs_due \
                     WHERE j.state IN ('queued', 'waiting') AND j.kind NOT IN ('deliver', 'digest') \
                     AND j.run_at <= ?1 AND (j.machine_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p \
                         WHERE p.machine_id = j.machine_id AND p.id < j.id \
                         AND (p.state = 'queued' OR p.state = 'running' OR p.state = 'waiting'))) \
                     ORDER BY j.priority DESC, j.run_at, j.id LIMIT ?2",
                )?
                .query_map(rusqlite::params![now, per_txn as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in due {
                tx.prepare_cached(
                    "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = 'raw', \
                     lease_expires_at = ?2, updated_at = ?2 WHERE id = ?1 RETURNING *",
                )?
                .query_row(rusqlite::params![id, now], |_| Ok(()))?;
                let (from, to) = (Some("queued"), Some("running"));
                raw_event(&tx, id, now, "state", from, to, "attempt 1 of 5", None)?;
                tx.prepare_cached(
                    "UPDATE jobs SET state = 'succeeded', result = '{}', lease_owner = NULL, \
                     lease_expires_at = NULL, updated_at = ?2, finished_at = ?2 \
                     WHERE id = ?1 AND state = 'running' AND lease_owner = 'raw'",
                )?
                .execute(rusqlite::params![id, now])?;
                let call = Some(("GET", "/machines/getMachinePublic", 200));
                let message = "GET /machines/getMachinePublic";
                raw_event(&tx, id, now, "api_call", None, None, message, call)?;
                let (from, to) = (Some("running"), Some("succeeded"));
                raw_event(&tx, id, now, "state", from, to, "succeeded", None)?;
            }
            tx.commit()?;
        }
        let done: i64 =
            db.query_row("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'", [], |r| r.get(0))?;
        let made = next_id - 1;
        ensure!(done == made, "raw SQLite run lost jobs: {done} of {made} succeeded");
        Ok(done as f64 / started.elapsed().as_secs_f64())
    })
    .await?
}

/// One history row as the writer inserts it: a state change, or an API call
/// (`call`: method, route, status) that took 1 ms.
#[allow(clippy::too_many_arguments)]
fn raw_event(
    tx: &rusqlite::Transaction<'_>,
    job_id: i64,
    at: i64,
    kind: &str,
    from: Option<&str>,
    to: Option<&str>,
    message: &str,
    call: Option<(&str, &str, i64)>,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO job_events (job_id, at, kind, from_state, to_state, message, \
         method, route, status, latency_ms, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL)",
    )?
    .execute(rusqlite::params![
        job_id,
        at,
        kind,
        from,
        to,
        message,
        call.map(|c| c.0),
        call.map(|c| c.1),
        call.map(|c| c.2),
        call.map(|_| 1_i64),
    ])
}

/// What a durable commit costs at least on this disk: fdatasync after
/// appending 4 KiB (a WAL frame), as SQLite does.
fn fsync_probe(dir: &Path) -> anyhow::Result<Percentiles> {
    let probe = tempfile::tempdir_in(dir)?;
    let mut file = std::fs::File::create(probe.path().join("probe"))?;
    let block = [0u8; 4096];
    let mut took = Vec::with_capacity(200);
    for _ in 0..200 {
        file.write_all(&block)?;
        let t = Instant::now();
        file.sync_data()?;
        took.push(t.elapsed());
    }
    Ok(percentiles(took))
}

// ---------------------------------------------------------------------------
// Measurement helpers.

#[derive(Debug, Clone, Copy)]
struct Percentiles {
    p50: Duration,
    p99: Duration,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[i]
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// The lease owner of the benchmark's `k`-th daemon.
fn owner(k: usize) -> Arc<str> {
    format!("bench-{}-{k}", std::process::id()).into()
}

fn show_job(machine_id: String) -> anyhow::Result<NewJob> {
    JobRequest {
        kind: "show".into(),
        machine_id: Some(machine_id),
        ..Default::default()
    }
    .validate(&JobDefaults::default(), Utc::now())
    .map_err(|e| anyhow::anyhow!("the benchmark's job is invalid: {e}"))
}

async fn open_store(dir: &Path, durability: Durability) -> anyhow::Result<Store> {
    let mut opts = StoreOptions::new(dir.join("bench.db"));
    opts.durability = durability;
    Ok(Store::open(&opts).await?)
}

fn start_workers(
    store: &Store,
    api: Arc<dyn MachineApi>,
    load: Load,
    k: usize,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let workers = Workers::new(
        store.clone(),
        api,
        Arc::new(SystemClock),
        WorkerSettings {
            count: load.workers,
            prefetch: load.prefetch,
            ..WorkerSettings::default()
        },
        owner(k),
    );
    let task = tokio::spawn(workers.run(shutdown.clone()));
    (shutdown, task)
}

// ---------------------------------------------------------------------------
// The APIs the workers call.

fn unsupported(operation: &'static str) -> ApiError {
    ApiError::Unsupported {
        operation,
        backend: "bench",
        hint: "the benchmark only runs show jobs",
    }
}

/// Answers `show` at once, and reports the call to the job's history the way
/// a real client does (so a job writes the same four history rows).
#[derive(Debug, Default)]
struct NoopApi;

#[async_trait]
impl MachineApi for NoopApi {
    fn backend(&self) -> Backend {
        Backend::Legacy
    }
    async fn create(&self, _: &CreateMachine) -> Result<Machine, ApiError> {
        Err(unsupported("create"))
    }
    async fn start(&self, _: &str) -> Result<(), ApiError> {
        Err(unsupported("start"))
    }
    async fn stop(&self, _: &str) -> Result<(), ApiError> {
        Err(unsupported("stop"))
    }
    async fn restart(&self, _: &str) -> Result<(), ApiError> {
        Err(unsupported("restart"))
    }
    async fn destroy(&self, _: &str, _: bool) -> Result<(), ApiError> {
        Err(unsupported("destroy"))
    }
    async fn update(&self, _: &str, _: &UpdateMachine) -> Result<(), ApiError> {
        Err(unsupported("update"))
    }
    async fn list_page(&self, _: &MachineFilter, _: &PageRequest) -> Result<MachinePage, ApiError> {
        Ok(MachinePage {
            machines: Vec::new(),
            next: None,
        })
    }
    async fn show(&self, machine_id: &str) -> Result<Machine, ApiError> {
        call_log::report(ApiCallRecord {
            method: "GET".into(),
            route: "/machines/getMachinePublic".into(),
            machine_id: Some(machine_id.to_string()),
            status: Some(200),
            latency: Duration::ZERO,
            error: None,
        });
        Ok(Machine::new(machine_id, "bench", MachineState::Ready))
    }
    async fn set_access(&self, _: &str, _: &str, _: bool) -> Result<(), ApiError> {
        Err(unsupported("set_access"))
    }
    async fn utilization(&self, _: &str, _: BillingMonth) -> Result<Utilization, ApiError> {
        Err(unsupported("utilization"))
    }
    async fn availability(&self, _: &str, _: &str) -> Result<Availability, ApiError> {
        Err(unsupported("availability"))
    }
    async fn templates(&self, _: &TemplateFilter) -> Result<Vec<Template>, ApiError> {
        Err(unsupported("templates"))
    }
}

/// Wraps an API and records when `show` was called, per machine, in call
/// order: the instant a job started.
#[derive(Debug)]
struct Recording<A> {
    inner: A,
    base: Instant,
    starts: Mutex<HashMap<String, Vec<Duration>>>,
    shows: AtomicUsize,
    started: Notify,
}

impl<A: MachineApi> Recording<A> {
    fn new(inner: A, base: Instant) -> Self {
        Recording {
            inner,
            base,
            starts: Mutex::new(HashMap::new()),
            shows: AtomicUsize::new(0),
            started: Notify::new(),
        }
    }

    fn take_starts(&self) -> HashMap<String, Vec<Duration>> {
        std::mem::take(&mut *self.starts.lock().unwrap())
    }
}

#[async_trait]
impl<A: MachineApi> MachineApi for Recording<A> {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn create(&self, r: &CreateMachine) -> Result<Machine, ApiError> {
        self.inner.create(r).await
    }
    async fn start(&self, id: &str) -> Result<(), ApiError> {
        self.inner.start(id).await
    }
    async fn stop(&self, id: &str) -> Result<(), ApiError> {
        self.inner.stop(id).await
    }
    async fn restart(&self, id: &str) -> Result<(), ApiError> {
        self.inner.restart(id).await
    }
    async fn destroy(&self, id: &str, release_ip: bool) -> Result<(), ApiError> {
        self.inner.destroy(id, release_ip).await
    }
    async fn update(&self, id: &str, changes: &UpdateMachine) -> Result<(), ApiError> {
        self.inner.update(id, changes).await
    }
    async fn list_page(&self, f: &MachineFilter, p: &PageRequest) -> Result<MachinePage, ApiError> {
        self.inner.list_page(f, p).await
    }
    async fn show(&self, machine_id: &str) -> Result<Machine, ApiError> {
        let at = self.base.elapsed();
        self.starts
            .lock()
            .unwrap()
            .entry(machine_id.to_string())
            .or_default()
            .push(at);
        self.shows.fetch_add(1, Ordering::Relaxed);
        self.started.notify_one();
        self.inner.show(machine_id).await
    }
    async fn set_access(&self, id: &str, user: &str, enable: bool) -> Result<(), ApiError> {
        self.inner.set_access(id, user, enable).await
    }
    async fn utilization(&self, id: &str, month: BillingMonth) -> Result<Utilization, ApiError> {
        self.inner.utilization(id, month).await
    }
    async fn availability(&self, region: &str, t: &str) -> Result<Availability, ApiError> {
        self.inner.availability(region, t).await
    }
    async fn templates(&self, f: &TemplateFilter) -> Result<Vec<Template>, ApiError> {
        self.inner.templates(f).await
    }

    async fn event_page(&self, page: &PageRequest) -> Result<EventPage, ApiError> {
        self.inner.event_page(page).await
    }

    async fn account_standing(&self) -> Result<AccountStanding, ApiError> {
        self.inner.account_standing().await
    }
}

// ---------------------------------------------------------------------------
// Loaded runs (scenarios 1, 3 and 4).

/// One submitted job, as its submitter saw it.
struct Submission {
    id: JobId,
    machine_id: String,
    /// When `submit` was called, from the run's base instant.
    called: Duration,
    /// How long `submit` took to return (stored, durably with FULL).
    took: Duration,
}

struct Loaded {
    /// Jobs the run was to submit.
    total: usize,
    submitted: usize,
    succeeded: usize,
    /// All `total` jobs succeeded within the budget.
    complete: bool,
    /// First submit call → all jobs seen succeeded (or the budget ran out).
    elapsed: Duration,
    /// Succeeded jobs per second of `elapsed`.
    jobs_per_sec: f64,
    /// Jobs/s finished in each tenth of the run.
    tenths: Vec<f64>,
    /// When the last submit returned, as a fraction of the run.
    submitted_by: f64,
    /// Jobs submitted but not finished when the last submit returned.
    queued_then: usize,
    submit: Percentiles,
    to_start: Percentiles,
    /// Submitted jobs that never started (their wait until the end counts).
    unstarted: usize,
    /// Succeeded jobs whose history was read back.
    sampled: usize,
    /// CPU time of the store's writer thread during the run, where the
    /// system reports it: the writer is the queue's one serial part.
    writer_cpu: Option<Duration>,
}

impl Loaded {
    fn tenth_ratio(&self) -> f64 {
        self.tenths[9] / self.tenths[0]
    }

    fn print(&self, load: Load, durability: &str) {
        println!(
            "machinist queue benchmark ({} no-op jobs, {} submitters, {} workers with {} more claimed ahead, {durability})",
            self.total, load.submitters, load.workers, load.prefetch
        );
        self.print_body(load);
    }

    fn print_body(&self, load: Load) {
        if !self.complete {
            println!(
                "  DID NOT FINISH within the {} s budget: {} of {} jobs succeeded ({} submitted); \
                 the figures below cover that part",
                load.budget.as_secs(),
                self.succeeded,
                self.total,
                self.submitted
            );
        }
        println!(
            "  end to end:        {:.0} jobs/s   ({} jobs in {:.2} s; first tenth {:.0}/s, last tenth {:.0}/s, ratio {:.2})",
            self.jobs_per_sec,
            self.succeeded,
            self.elapsed.as_secs_f64(),
            self.tenths[0],
            self.tenths[9],
            self.tenth_ratio()
        );
        let tenths: Vec<String> = self.tenths.iter().map(|t| format!("{t:.0}")).collect();
        println!("  per tenth (jobs/s): {}", tenths.join(" "));
        println!(
            "  the last submit returned at {:.0}% of the run, with {} jobs queued or running",
            self.submitted_by * 100.0,
            self.queued_then
        );
        println!(
            "  submit:            p50 {}  p99 {}",
            ms(self.submit.p50),
            ms(self.submit.p99)
        );
        if let Some(cpu) = self.writer_cpu {
            println!(
                "  writer thread:     {:.0} µs of CPU per job, busy {:.0}% of the run",
                cpu.as_secs_f64() * 1e6 / self.succeeded.max(1) as f64,
                cpu.as_secs_f64() * 100.0 / self.elapsed.as_secs_f64()
            );
        }
        let censored = if self.unstarted > 0 {
            format!(
                "   (at least: {} jobs never started; their wait until the end is counted)",
                self.unstarted
            )
        } else {
            String::new()
        };
        println!(
            "  submit → start:    p50 {}  p99 {}{censored}",
            ms(self.to_start.p50),
            ms(self.to_start.p99)
        );
        if self.complete {
            println!(
                "  verified: all {} jobs succeeded; {} sampled jobs have 4 history rows each",
                self.total, self.sampled
            );
        } else {
            println!(
                "  verified: {} sampled succeeded jobs have 4 history rows each",
                self.sampled
            );
        }
    }
}

/// The store's writer thread, as the kernel names it (15 bytes at most).
const WRITER_THREAD: &str = "machinist-write";

/// User and system CPU time of this process's thread named `name`, from
/// /proc (Linux; None elsewhere), in ticks of 10 ms (USER_HZ is 100).
fn thread_cpu(name: &str) -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = task.path();
        // A thread that ended since the listing has no files left.
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the parenthesised name: state is the 3rd field of
        // the line, utime and stime the 14th and 15th.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        return Some(Duration::from_millis(ticks * 10));
    }
    None
}

/// Scenario 1 (and 3): no-op jobs, one per machine.
async fn throughput(jobs: usize, durability: Durability, load: Load) -> anyhow::Result<Loaded> {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path(), durability).await?;
    let machines: Vec<String> = (0..jobs).map(|n| format!("ps{n}")).collect();
    let result = loaded_run(std::slice::from_ref(&store), NoopApi, machines, load).await;
    drop(store);
    result
}

/// Scenario 4: `show` jobs against machines of an in-process simulator.
async fn simulator_backed(jobs: usize, machine_count: usize, load: Load) -> anyhow::Result<Loaded> {
    let handle = sim::spawn(
        SimConfig {
            seed_machines: false,
            timings: Timings::uniform(Duration::ZERO),
            ..SimConfig::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    let client = PaperspaceSettings {
        request_timeout: Duration::from_secs(10),
        ..PaperspaceSettings::simulator(Backend::Legacy, &handle.url)
    }
    .legacy_client()?;
    let mut ids = Vec::with_capacity(machine_count);
    for i in 0..machine_count {
        let m = client
            .create(&CreateMachine::new(
                format!("bench-{i}"),
                "East Coast (NY2)",
                "P4000",
                50,
                "tkni3aa4",
            ))
            .await
            .context("creating the simulator's machines")?;
        ids.push(m.id);
    }
    // Zero transition time: each is ready by the next look.
    for id in &ids {
        let state = client.show(id).await?.state;
        ensure!(state == MachineState::Ready, "machine {id} is {state}");
    }
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path(), Durability::Full).await?;
    let machines: Vec<String> = (0..jobs).map(|n| ids[n % ids.len()].clone()).collect();
    let result = loaded_run(std::slice::from_ref(&store), client, machines, load).await;
    drop(store);
    drop(handle);
    result
}

/// Runs one `show` job per entry of `machines` (dealt out to the
/// submitters in turn) through workers, and measures.
async fn loaded_run<A: MachineApi + 'static>(
    stores: &[Store],
    api: A,
    machines: Vec<String>,
    load: Load,
) -> anyhow::Result<Loaded> {
    let total = machines.len();
    let base = Instant::now();
    let deadline = base + load.budget;
    let api = Arc::new(Recording::new(api, base));
    // One "daemon" per store handle: its own workers under its own owner
    // (several handles on one PostgreSQL database are several daemons).
    let running: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(k, store)| start_workers(store, api.clone(), load, k))
        .collect();
    let store = &stores[0];

    let machines = Arc::new(machines);
    let writer_before = thread_cpu(WRITER_THREAD);
    let wall_start = Utc::now();
    let started = base.elapsed();
    let mut submitters = Vec::with_capacity(load.submitters);
    for s in 0..load.submitters {
        let store = stores[s % stores.len()].clone();
        let machines = machines.clone();
        submitters.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(total / load.submitters + 1);
            for n in (s..machines.len()).step_by(load.submitters) {
                if Instant::now() >= deadline {
                    break;
                }
                let job = show_job(machines[n].clone())?;
                let called = base.elapsed();
                let submitted = store.submit(job, Utc::now()).await?;
                let took = base.elapsed() - called;
                mine.push(Submission {
                    id: submitted.job.id,
                    machine_id: machines[n].clone(),
                    called,
                    took,
                });
            }
            anyhow::Ok((mine, base.elapsed()))
        }));
    }
    let mut submissions = Vec::with_capacity(total);
    let mut last_submit = started;
    for s in submitters {
        let (mine, done) = s.await??;
        submissions.extend(mine);
        last_submit = last_submit.max(done);
    }
    let submitted = submissions.len();

    // Every job started; then wait for the last transitions to commit.
    let complete = loop {
        let shows = api.shows.load(Ordering::Relaxed);
        if shows >= submitted {
            let counts = store.counts().await?;
            let succeeded = count_of(&counts, JobState::Succeeded);
            if succeeded == total as u64 {
                break true;
            }
            let unfinished: u64 = counts
                .iter()
                .filter(|(s, _)| !s.is_final())
                .map(|(_, n)| n)
                .sum();
            ensure!(
                unfinished > 0 || submitted < total,
                "the run ended with {succeeded} of {total} jobs succeeded: {counts:?}"
            );
        }
        if Instant::now() >= deadline {
            break false;
        }
        let pause = if shows >= submitted { 2 } else { 5 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    };
    let ended = base.elapsed();
    let writer_cpu = thread_cpu(WRITER_THREAD)
        .zip(writer_before)
        .map(|(after, before)| after.saturating_sub(before));
    for (shutdown, _) in &running {
        shutdown.cancel();
    }
    for (_, task) in running {
        task.await?;
    }
    let elapsed = ended - started;

    // Throughput per tenth of the run, from the stored finish times.
    let finished = finished_jobs(store).await?;
    let succeeded = finished.len();
    if complete {
        ensure!(
            succeeded == total,
            "{succeeded} succeeded jobs have a finish time, expected {total}"
        );
    }
    let span_ms = (elapsed.as_millis() as i64).max(1);
    let at_ms = |at: chrono::DateTime<Utc>| (at - wall_start).num_milliseconds();
    let mut per_tenth = [0u64; 10];
    for (_, at) in &finished {
        let since = at_ms(*at).clamp(0, span_ms - 1);
        per_tenth[(since * 10 / span_ms) as usize] += 1;
    }
    let tenth_secs = elapsed.as_secs_f64() / 10.0;
    let tenths = per_tenth.iter().map(|&n| n as f64 / tenth_secs).collect();
    let last_submit_ms = (last_submit - started).as_millis() as i64;
    let done_by_last_submit = finished
        .iter()
        .filter(|(_, at)| at_ms(*at) <= last_submit_ms)
        .count();

    // Submit → start: the k-th show of a machine started its k-th job (jobs
    // of one machine run one at a time, in id order, and none is retried).
    let mut starts = api.take_starts();
    let mut ordered: Vec<&Submission> = submissions.iter().collect();
    ordered.sort_by_key(|s| s.id);
    let mut next: HashMap<&str, usize> = HashMap::new();
    let mut to_start = Vec::with_capacity(submitted);
    let mut unstarted = 0;
    for s in &ordered {
        let k = next.entry(&s.machine_id).or_default();
        match starts
            .get_mut(&s.machine_id)
            .and_then(|v| v.get(*k).copied())
        {
            Some(at) => {
                *k += 1;
                to_start.push(at.saturating_sub(s.called));
            }
            None => {
                ensure!(!complete, "job {} on {} never started", s.id, s.machine_id);
                unstarted += 1;
                to_start.push(ended.saturating_sub(s.called));
            }
        }
    }
    ensure!(
        starts
            .iter()
            .all(|(m, v)| next.get(m.as_str()) == Some(&v.len())),
        "some machine was shown more often than it had jobs (a retry or a duplicate run)"
    );

    // History rows of a sample of the succeeded jobs.
    let step = (succeeded / SAMPLED).max(1);
    let mut sampled = 0;
    for (id, _) in finished.iter().step_by(step) {
        let events = store.events(*id).await?;
        ensure!(
            events.len() == 4,
            "job {id} has {} history rows, not 4: {events:?}",
            events.len()
        );
        sampled += 1;
    }

    Ok(Loaded {
        total,
        submitted,
        succeeded,
        complete,
        elapsed,
        jobs_per_sec: succeeded as f64 / elapsed.as_secs_f64(),
        tenths,
        submitted_by: (last_submit - started).as_secs_f64() / elapsed.as_secs_f64(),
        queued_then: submitted.saturating_sub(done_by_last_submit),
        submit: percentiles(submissions.iter().map(|s| s.took).collect()),
        to_start: percentiles(to_start),
        unstarted,
        sampled,
        writer_cpu,
    })
}

fn count_of(counts: &[(JobState, u64)], state: JobState) -> u64 {
    counts
        .iter()
        .filter(|(s, _)| *s == state)
        .map(|(_, n)| n)
        .sum()
}

/// Every succeeded job with its finish time, read back page by page.
async fn finished_jobs(store: &Store) -> anyhow::Result<Vec<(JobId, chrono::DateTime<Utc>)>> {
    let filter = JobFilter {
        state: Some(JobState::Succeeded),
        ..JobFilter::default()
    };
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = store.jobs(&filter, before, 10_000).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for job in &page {
            let at = job
                .finished_at
                .with_context(|| format!("succeeded job {} has no finish time", job.id))?;
            out.push((job.id, at));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Scenario 2: an idle daemon.

struct Idle {
    submit: Percentiles,
    to_start: Percentiles,
}

impl Idle {
    fn print(&self, jobs: usize, durability: &str) {
        println!(
            "idle daemon, one job at a time ({jobs} jobs, {durability}): submit → start p50 {} p99 {}   \
             (submit alone p50 {} p99 {})",
            ms(self.to_start.p50),
            ms(self.to_start.p99),
            ms(self.submit.p50),
            ms(self.submit.p99),
        );
    }
}

/// Submits one job at a time on an otherwise idle daemon; the next is
/// submitted once the previous one has finished and the dispatcher has gone
/// back to sleep.
async fn idle_latency(jobs: usize, durability: Durability, load: Load) -> anyhow::Result<Idle> {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path(), durability).await?;
    let base = Instant::now();
    let api = Arc::new(Recording::new(NoopApi, base));
    let (shutdown, worker_task) = start_workers(&store, api.clone(), load, 0);
    // Let the workers' start-up (rescue of a previous process's jobs) pass.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut submit = Vec::with_capacity(jobs);
    let mut to_start = Vec::with_capacity(jobs);
    for n in 0..jobs {
        let machine = format!("ps{n}");
        let job = show_job(machine.clone())?;
        let called = base.elapsed();
        let submitted = store.submit(job, Utc::now()).await?;
        submit.push(base.elapsed() - called);
        tokio::time::timeout(Duration::from_secs(10), api.started.notified())
            .await
            .with_context(|| format!("job {} did not start within 10 s", submitted.job.id))?;
        let at = api.starts.lock().unwrap().get(&machine).map(|v| v[0]);
        to_start.push(
            at.context("started without a record")?
                .saturating_sub(called),
        );
        // Wait until it finished, then give the dispatcher time to go idle.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let job = store.job(submitted.job.id).await?.context("job vanished")?;
            if job.state == JobState::Succeeded {
                break;
            }
            ensure!(
                job.state == JobState::Running,
                "job {} is {}",
                job.id,
                job.state
            );
            ensure!(Instant::now() < deadline, "job {} did not finish", job.id);
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    shutdown.cancel();
    worker_task.await?;
    Ok(Idle {
        submit: percentiles(submit),
        to_start: percentiles(to_start),
    })
}

// ---------------------------------------------------------------------------
// Scenario 5: the idle daemon's memory and wake-ups.

enum Memory {
    Measured {
        rss_kb: u64,
        hwm_kb: u64,
        /// Context switches of the daemon's threads while it had nothing due.
        wakeups: u64,
    },
    Skipped(String),
}

/// Voluntary and involuntary context switches of each of `pid`'s threads.
fn context_switches(pid: u32) -> anyhow::Result<HashMap<String, u64>> {
    let mut out = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?;
        // A thread that ended since the listing has no status to read.
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let n = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        out.insert(task.file_name().to_string_lossy().into_owned(), n);
    }
    Ok(out)
}

async fn idle_daemon(idle_for: Duration) -> anyhow::Result<Memory> {
    // Cargo builds the package's binaries for benchmarks and says where.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_machinist"));
    if !bin.exists() {
        return Ok(Memory::Skipped(format!("{} not found", bin.display())));
    }
    let help = Command::new(&bin)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .output()?;
    if !help.status.success() {
        let first = String::from_utf8_lossy(&help.stderr)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        return Ok(Memory::Skipped(first));
    }

    let dir = tempfile::tempdir()?;
    let addr: SocketAddr = {
        let probe = TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let mut child = Command::new(&bin)
        .arg("serve")
        .env("MACHINIST_STORE_PATH", dir.path().join("m.db"))
        .env("MACHINIST_HTTP_LISTEN", addr.to_string())
        .env("MACHINIST_PAPERSPACE_BACKEND", "sim")
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let outcome = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                bail!(
                    "machinist serve exited with {status} before answering: {}",
                    err.trim()
                );
            }
            if healthz(addr) {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "GET /healthz did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
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
        let (rss_kb, hwm_kb) = (field("VmRSS:")?, field("VmHWM:")?);
        // Threads present at both readings: a thread that ended meanwhile
        // (a blocking-pool thread retiring after start-up) is not counted.
        let before = context_switches(pid)?;
        tokio::time::sleep(idle_for).await;
        let after = context_switches(pid)?;
        let wakeups = after
            .iter()
            .filter_map(|(tid, n)| Some(n - before.get(tid)?))
            .sum();
        Ok(Memory::Measured {
            rss_kb,
            hwm_kb,
            wakeups,
        })
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
    outcome
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
