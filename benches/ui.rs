//! The dashboard's pages on a large store, printed as figures next to the
//! targets: server time p95 < 50 ms, page weight < 150 KB, first render in
//! a browser < 300 ms.
//!
//! ```text
//! cargo bench --bench ui                        # release: 200,000 jobs, 1,000 machines
//! BENCH_QUICK=1 cargo bench --bench ui          # 20,000 jobs, 100 machines
//! BENCH_QUICK=1 cargo bench --profile dev --bench ui   # a quick try without a release build
//! cargo bench --bench ui -- --requests 100      # timed requests per page (50)
//! BENCH_SCREENSHOTS=/tmp/shots cargo bench --bench ui  # also a PNG of each page (1280×2400)
//! ```
//!
//! What it does:
//!
//! 1. Seeds a store in a temporary directory through its public API, as the
//!    daemon would have written it: 1,000 machines (some with long names,
//!    one named like a script) seen every other day for six months,
//!    running or off, with their v1 prices, so the cost reports have
//!    months to meter; then 200,000 jobs (`show`, `start`, `stop`,
//!    `refresh`) over those machines, submitted in batches across the six
//!    months and carried through claims to `succeeded` (most), `failed`
//!    (with an error), left `running`, `queued` or `cancelled`, each with
//!    its history rows (the state change; for starts and stops an API call
//!    Paperspace accepted, which the savings count).
//! 2. Serves the admin API's router (`machinist::http::router`, admin
//!    token) on port 0 and signs in at `/ui/login` as a browser does: the
//!    form's challenge and cookie, the token, the session cookie.
//! 3. Times N requests of each page, one after another (the whole answer
//!    read, over loopback, so the figure is the server's time plus a
//!    loopback round trip), and weighs it: the HTML plus each stylesheet
//!    and script it references, each counted once, and the same gzipped
//!    (`gzip -6`, when the `gzip` program is there) as a server or proxy
//!    that compresses would send it. A page another part of the dashboard
//!    has not built yet answers 404 and is printed as `404 (not built)`.
//! 4. When `/usr/bin/chromedriver` and `/usr/bin/chromium` are there,
//!    drives headless Chromium through chromedriver (fantoccini): signs in
//!    with the form, loads each page five times and prints, from the
//!    Navigation Timing API, `domContentLoadedEventEnd` and the
//!    first-contentful-paint, medians.
//!
//! Nothing here asserts a timing: the figures are printed next to the
//! targets. The run fails only when seeding or signing in fails.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpListener as StdListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use machinist::clock::{SharedClock, SystemClock};
use machinist::config::AdminToken;
use machinist::cost::{CostSettings, Ledger};
use machinist::http::{HttpLimits, HttpState};
use machinist::job::{JobDefaults, JobId, JobRequest, JobState, NewEvent, NewJob};
use machinist::machine::{ApiCallRecord, Machine, MachineRate, MachineState};
use machinist::paperspace::Backend;
use machinist::schedule::spec::ScheduleContext;
use machinist::scheduler::registry::Registry;
use machinist::store::{Durability, JobFilter, Store, StoreOptions, Transition};
use reqwest::header::{COOKIE, SET_COOKIE};
use tokio::task::JoinSet;

#[path = "support/figures.rs"]
mod figures;
use figures::{ms, percentile};

const TOKEN: &str = "bench-admin-token-0123456789";
/// The pages timed; `{job}` is replaced by a failed job's id.
const PAGES: [&str; 8] = [
    "/ui/",
    "/ui/jobs",
    "/ui/jobs?state=failed",
    "/ui/jobs/{job}",
    "/ui/schedules",
    "/ui/schedules/week",
    "/ui/reports",
    "/ui/health",
];
const TARGET_P95: Duration = Duration::from_millis(50);
const TARGET_WEIGHT: usize = 150 * 1024;
const TARGET_RENDER_MS: f64 = 300.0;
/// Page loads per page in the browser.
const BROWSER_LOADS: usize = 5;
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How far back the seeded history reaches: six months of reports.
const HISTORY_DAYS: i64 = 180;

/// What to run.
struct Args {
    /// Jobs seeded.
    jobs: usize,
    /// Machines seeded.
    machines: usize,
    /// Timed requests per page.
    requests: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let mut args = if quick {
        Args {
            jobs: 20_000,
            machines: 100,
            requests: 50,
        }
    } else {
        Args {
            jobs: 200_000,
            machines: 1_000,
            requests: 50,
        }
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--requests" => args.requests = it.next().context("--requests N")?.parse()?,
            "--jobs" => args.jobs = it.next().context("--jobs N")?.parse()?,
            "--machines" => args.machines = it.next().context("--machines N")?.parse()?,
            // `cargo bench` passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    ensure!(
        args.machines >= 1 && args.requests >= 1,
        "nothing to measure"
    );
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&StoreOptions {
        // Seeding speed only: the pages read.
        durability: Durability::Normal,
        ..StoreOptions::new(dir.path().join("machinist.db"))
    })
    .await?;
    let now = Utc::now();
    let started = Instant::now();
    seed_machines(&store, args.machines, now).await?;
    let failed_job = seed_jobs(&store, args.jobs, args.machines, now).await?;
    let counts = store.counts().await?;
    let count = |s: JobState| {
        counts
            .iter()
            .find(|(state, _)| *state == s)
            .map_or(0, |(_, n)| *n)
    };
    println!(
        "ui: {} jobs ({} succeeded, {} failed, {} running, {} queued, {} cancelled) over {} machines, \
         6 months of sightings; seeded in {:.1} s",
        counts.iter().map(|(_, n)| n).sum::<u64>(),
        count(JobState::Succeeded),
        count(JobState::Failed),
        count(JobState::Running),
        count(JobState::Queued),
        count(JobState::Cancelled),
        args.machines,
        started.elapsed().as_secs_f64()
    );

    let url = serve(&store).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = sign_in(&http, &url).await?;
    let pages: Vec<String> = PAGES
        .iter()
        .map(|p| p.replace("{job}", &failed_job.to_string()))
        .collect();

    println!(
        "\nserver time over {} requests per page (loopback, whole answer read); target p95 < {}; \
         weight = HTML + its CSS and JS, each once; target < {} KB",
        args.requests,
        ms(TARGET_P95),
        TARGET_WEIGHT / 1024
    );
    println!(
        "{:<26} {:>9} {:>9} {:>7}   {:>9} {:>9} {:>9} {:>9}",
        "page", "p50", "p95", "p95<50", "html", "+assets", "total", "gzipped"
    );
    let mut built = Vec::new();
    for page in &pages {
        let first = http
            .get(format!("{url}{page}"))
            .header(COOKIE, &cookie)
            .send()
            .await?;
        let status = first.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            println!("{page:<26} 404 (not built)");
            continue;
        }
        let html = first.text().await?;
        if !status.is_success() {
            println!("{page:<26} answered {status}");
            continue;
        }
        let mut times = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let t = Instant::now();
            let answer = http
                .get(format!("{url}{page}"))
                .header(COOKIE, &cookie)
                .send()
                .await?;
            let _ = answer.bytes().await?;
            times.push(t.elapsed());
        }
        times.sort_unstable();
        let assets = assets_of(&http, &url, &html).await?;
        let assets_bytes: usize = assets.iter().map(Vec::len).sum();
        let total = html.len() + assets_bytes;
        let gzipped = gzip_len(html.as_bytes()).and_then(|h| {
            assets
                .iter()
                .map(|a| gzip_len(a))
                .sum::<Option<usize>>()
                .map(|a| h + a)
        });
        let p95 = percentile(&times, 0.95);
        println!(
            "{page:<26} {:>9} {:>9} {:>7}   {:>9} {:>9} {:>9} {:>9}{}",
            ms(percentile(&times, 0.50)),
            ms(p95),
            if p95 < TARGET_P95 { "yes" } else { "NO" },
            kb(html.len()),
            kb(assets_bytes),
            kb(total),
            gzipped.map_or("n/a".to_string(), kb),
            if total < TARGET_WEIGHT {
                ""
            } else {
                "  (over the weight target)"
            }
        );
        built.push(page.clone());
    }

    if std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists() {
        if let Err(e) = browser(&url, &built).await {
            println!("\nbrowser: not measured: {e:#}");
        }
    } else {
        println!("\nbrowser: {CHROMEDRIVER} or {CHROMIUM} is missing; first render not measured");
    }
    Ok(())
}

/// `n` bytes as `12.3 KB`.
fn kb(n: usize) -> String {
    format!("{:.1} KB", n as f64 / 1024.0)
}

/// The length of `bytes` gzipped by the `gzip` program, `None` without it.
fn gzip_len(bytes: &[u8]) -> Option<usize> {
    let mut child = Command::new("gzip")
        .arg("-6c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input = bytes.to_vec();
    // Written on a thread: gzip's output pipe would fill while we write.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    out.status.success().then_some(out.stdout.len())
}

/// The stylesheets and scripts `html` references (`/ui/assets/…`), each
/// fetched once.
async fn assets_of(http: &reqwest::Client, url: &str, html: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut paths = BTreeSet::new();
    for part in html.split("\"/ui/assets/").skip(1) {
        let Some(end) = part.find('"') else { continue };
        let path = &part[..end];
        let file = path.split('?').next().unwrap_or(path);
        if file.ends_with(".css") || file.ends_with(".js") {
            paths.insert(format!("/ui/assets/{path}"));
        }
    }
    let mut out = Vec::new();
    for path in paths {
        let answer = http.get(format!("{url}{path}")).send().await?;
        ensure!(answer.status().is_success(), "{path}: {}", answer.status());
        out.push(answer.bytes().await?.to_vec());
    }
    Ok(out)
}

/// The machine types, their v1 hourly rates and the regions, cycled.
const TYPES: [(&str, f64); 4] = [
    ("A4000", 0.76),
    ("P4000", 0.51),
    ("C5", 0.08),
    ("A100", 3.09),
];
const REGIONS: [&str; 3] = ["East Coast (NY2)", "West Coast (CA1)", "Europe (AMS1)"];

fn machine_id(i: usize) -> String {
    format!("psbench{i:05}")
}

/// Machine `i` in `state`: most named plainly, every 97th with a long
/// name, the eighth named like a script.
fn machine(i: usize, state: MachineState) -> Machine {
    let name = match i {
        7 => "<script>alert(1)</script>".to_string(),
        i if i % 97 == 0 => format!("gpu-training-box-with-a-rather-long-descriptive-name-{i}"),
        i => format!("bench-{i:04}"),
    };
    let (machine_type, usage) = TYPES[i % TYPES.len()];
    Machine {
        machine_type: Some(machine_type.into()),
        region: Some(REGIONS[i % REGIONS.len()].into()),
        rate: Some(MachineRate {
            usage,
            storage: 5.0,
        }),
        ..Machine::new(machine_id(i), name, state)
    }
}

/// Every machine seen every other day over [`HISTORY_DAYS`], about two
/// thirds of them running at each sighting.
async fn seed_machines(store: &Store, machines: usize, now: DateTime<Utc>) -> anyhow::Result<()> {
    let start = now - chrono::Duration::days(HISTORY_DAYS);
    let mut k = 0;
    let mut at = start;
    while at < now {
        let fleet = (0..machines)
            .map(|i| {
                let state = if (i + k) % 3 == 0 {
                    MachineState::Off
                } else {
                    MachineState::Ready
                };
                machine(i, state)
            })
            .collect();
        store.see_machines(fleet, true, at).await?;
        at += chrono::Duration::days(2);
        k += 1;
    }
    Ok(())
}

/// Job `j`'s kind and machine.
fn job_of(j: usize, machines: usize, at: DateTime<Utc>) -> anyhow::Result<NewJob> {
    let (kind, machine) = match j % 10 {
        0..=3 => ("show", Some(machine_id(j % machines))),
        4 | 5 => ("start", Some(machine_id(j % machines))),
        6 | 7 => ("stop", Some(machine_id(j % machines))),
        _ => ("refresh", None),
    };
    Ok(JobRequest {
        kind: kind.into(),
        machine_id: machine,
        wait: matches!(kind, "start" | "stop").then(|| "none".into()),
        ..JobRequest::default()
    }
    .validate(&JobDefaults::default(), at)?)
}

/// Submits `jobs` jobs spread over [`HISTORY_DAYS`] in batches, then claims
/// and finishes them as workers would; the id of a failed one.
async fn seed_jobs(
    store: &Store,
    jobs: usize,
    machines: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<JobId> {
    const BATCH: usize = 2_000;
    let start = now - chrono::Duration::days(HISTORY_DAYS);
    let span_ms = chrono::Duration::days(HISTORY_DAYS).num_milliseconds();
    let time_of =
        |j: usize| start + chrono::Duration::milliseconds(span_ms * j as i64 / jobs as i64);
    let mut submitted = 0;
    while submitted < jobs {
        let n = BATCH.min(jobs - submitted);
        let at = time_of(submitted);
        let batch = (submitted..submitted + n)
            .map(|j| job_of(j, machines, at))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.submit_batch(batch, at).await?;
        submitted += n;
    }

    // Claim what is due and finish it, round after round (one job of a
    // machine at a time), until all but the last ~3 % are done; the last
    // round stays running, the rest queued.
    let owner: Arc<str> = "bench-worker".into();
    let keep_queued = jobs * 3 / 100;
    let mut finished = 0usize;
    let mut failed = None;
    let lease = now + chrono::Duration::hours(6);
    loop {
        let claimed = store.claim(&owner, machines + 10, now, lease).await?;
        if claimed.is_empty() || finished + keep_queued >= jobs {
            break;
        }
        let mut set = JoinSet::new();
        for job in claimed {
            finished += 1;
            let id = job.id;
            // When the job ran: its place in the six months.
            let at = time_of((id.max(1) - 1) as usize % jobs) + chrono::Duration::seconds(30);
            let to = if id % 7 == 0 {
                failed = Some(id);
                JobState::Failed
            } else {
                JobState::Succeeded
            };
            let mut events = Vec::new();
            let kind = job.kind.as_str();
            if kind == "start" || kind == "stop" {
                events.push(NewEvent::api_call(&ApiCallRecord {
                    method: "POST".into(),
                    route: format!("/machines/:machineId/{kind}"),
                    machine_id: job.machine_id.clone(),
                    status: Some(if to == JobState::Failed { 500 } else { 200 }),
                    latency: Duration::from_millis(120),
                    error: None,
                }));
            }
            events.push(NewEvent::state(Some(JobState::Running), to, "done"));
            let transition = Transition {
                job_id: id,
                owner: owner.clone(),
                to,
                run_at: None,
                checkpoint: None,
                machine_id: None,
                result: None,
                error: (to == JobState::Failed)
                    .then(|| "Paperspace answered 500: internal error (bench)".to_string()),
                events,
                seen: vec![],
                seen_complete: false,
                gone: vec![],
                utilization: None,
            };
            let store = store.clone();
            set.spawn(async move { store.transition(transition, at).await });
        }
        while let Some(done) = set.join_next().await {
            done??;
        }
    }
    // A few of the queued ones cancelled.
    let queued = store
        .jobs(
            &JobFilter {
                state: Some(JobState::Queued),
                ..JobFilter::default()
            },
            None,
            (keep_queued / 4).max(1) as u32,
        )
        .await?;
    for job in queued {
        store.cancel(job.id, now).await?;
    }
    failed.context("no job failed")
}

/// The admin API's router on `store`, with the admin token, on port 0; its URL.
async fn serve(store: &Store) -> anyhow::Result<String> {
    let clock: SharedClock = Arc::new(SystemClock);
    let context = Arc::new(ScheduleContext {
        defaults: JobDefaults::default(),
        calendars: Default::default(),
        default_zone: "UTC".into(),
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let state = HttpState {
        shutdown: shutdown.clone(),
        webhooks: machinist::delivery::Webhooks::new(
            store.clone(),
            clock.clone(),
            Arc::new(machinist::delivery::WebhookSettings::default()),
        ),
        store: store.clone(),
        clock: clock.clone(),
        defaults: JobDefaults::default(),
        token: Some(AdminToken::new(TOKEN)?),
        viewer_token: None,
        registry: Registry::new(store.clone(), clock, context),
        api: None,
        ledger: Ledger::new(store.clone(), CostSettings::new(Backend::V1)),
    };
    let limits = HttpLimits::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = machinist::http::router(state, &limits);
    tokio::spawn(machinist::http::serve(listener, router, limits, shutdown));
    Ok(format!("http://{addr}"))
}

/// The `name=value` of cookie `name` among `answer`'s `Set-Cookie`s.
fn cookie(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or(v).to_string())
}

/// Signs in at `/ui/login` as a browser would; the session cookie.
async fn sign_in(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let form = http.get(format!("{url}/ui/login")).send().await?;
    let login = cookie(&form, "machinist_login").context("the login page sets its cookie")?;
    let html = form.text().await?;
    let marker = "name=\"challenge\" value=\"";
    let at = html
        .find(marker)
        .context("the login form has a challenge")?
        + marker.len();
    let challenge = &html[at..at + html[at..].find('"').context("a quoted challenge")?];
    let answer = http
        .post(format!("{url}/ui/login"))
        .header(COOKIE, login)
        .form(&[("token", TOKEN), ("challenge", challenge), ("next", "/ui/")])
        .send()
        .await?;
    cookie(&answer, "machinist_session")
        .with_context(|| format!("sign-in refused: {}", answer.status()))
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Kills the chromedriver this bench started when it goes out of scope.
struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// First render of each page in headless Chromium.
async fn browser(url: &str, pages: &[String]) -> anyhow::Result<()> {
    let port = free_port()?;
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?,
    );
    // chromedriver takes a moment to listen.
    let webdriver = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("chromedriver did not listen on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    // chromedriver speaks plain HTTP on loopback: no TLS connector (and no
    // choice of a rustls crypto provider) needed.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = fantoccini::ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .context("a Chromium session")?;
    let result = measure(&client, url, pages).await;
    let _ = client.close().await;
    result
}

/// Signs in with the form, then loads each page [`BROWSER_LOADS`] times.
async fn measure(client: &fantoccini::Client, url: &str, pages: &[String]) -> anyhow::Result<()> {
    use fantoccini::Locator;
    client.goto(&format!("{url}/ui/login")).await?;
    client
        .find(Locator::Css("#token"))
        .await?
        .send_keys(TOKEN)
        .await?;
    client
        .find(Locator::Css("form[action='/ui/login'] button[type=submit]"))
        .await?
        .click()
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.current_url().await?.path() != "/ui/" {
        if Instant::now() > deadline {
            bail!("the sign-in did not reach /ui/");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shots = std::env::var_os("BENCH_SCREENSHOTS").map(std::path::PathBuf::from);
    if shots.is_some() {
        // Tall enough to see a page's tables in its picture.
        client.set_window_size(1280, 2400).await?;
    }
    println!(
        "\nfirst render in headless Chromium, median of {BROWSER_LOADS} loads; target < {TARGET_RENDER_MS:.0} ms"
    );
    println!(
        "{:<26} {:>16} {:>16} {:>7}",
        "page", "DOMContentLoaded", "first paint", "< 300"
    );
    const TIMING: &str = "const n = performance.getEntriesByType('navigation')[0]; \
        const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint'); \
        return [n ? n.domContentLoadedEventEnd : null, p ? p.startTime : null];";
    for page in pages {
        let (mut dcl, mut fcp) = (Vec::new(), Vec::new());
        for _ in 0..BROWSER_LOADS {
            client.goto(&format!("{url}{page}")).await?;
            let v = client.execute(TIMING, vec![]).await?;
            if let Some(x) = v.get(0).and_then(|x| x.as_f64()) {
                dcl.push(x);
            }
            if let Some(x) = v.get(1).and_then(|x| x.as_f64()) {
                fcp.push(x);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let (d, f) = (median(&mut dcl), median(&mut fcp));
        let show = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.1} ms"));
        let worst = d.into_iter().chain(f).fold(0.0_f64, f64::max);
        println!(
            "{page:<26} {:>16} {:>16} {:>7}",
            show(d),
            show(f),
            if worst < TARGET_RENDER_MS {
                "yes"
            } else {
                "NO"
            }
        );
        if let Some(dir) = &shots {
            std::fs::create_dir_all(dir)?;
            let name: String = page
                .trim_matches('/')
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            std::fs::write(dir.join(format!("{name}.png")), client.screenshot().await?)?;
        }
    }
    Ok(())
}
