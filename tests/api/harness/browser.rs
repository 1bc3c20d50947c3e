//! A real headless Chromium for the dashboard's browser tests, driven over
//! WebDriver (`chromedriver`, through `fantoccini`).
//!
//! [`Browser::start`] starts Debian's `chromedriver` on a free port with
//! Debian's `chromium` headless (`.ci/run` installs both; elsewhere
//! `apt-get install chromium chromium-driver`), each test its own pair, so
//! tests share no cookies. A missing driver fails the test with that
//! advice rather than skipping it: a skipped browser test would pass for a
//! dashboard nobody drove.
//!
//! Screenshots go to `target/ui-screenshots/NAME-{desktop,phone}.png`
//! ([`Browser::screenshots`]), the artefacts the README's pictures come
//! from.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Desktop and phone window sizes of the screenshots.
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

/// Browsers open at once in one test process (`cargo test` runs the tests
/// as threads of one process): Chromium is heavy, and two cores shared by
/// more would slow every page past the tests' patience.
const MAX_BROWSERS: usize = 2;

static BROWSERS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(MAX_BROWSERS)));

/// A chromedriver process and the WebDriver session on it.
pub struct Browser {
    /// This browser's turn among [`MAX_BROWSERS`], held until it is dropped.
    _turn: OwnedSemaphorePermit,
    /// The session: pages, clicks, scripts.
    pub client: Client,
    /// The driver, killed on drop (it takes its Chromium with it).
    driver: Child,
    /// The daemon's base URL, for [`Browser::open`].
    base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its own process group: Chromium and its helpers
        // go with it, even when a test panicked before `quit`.
        unsafe {
            libc::killpg(self.driver.id() as i32, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find(var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(var) {
        return Some(PathBuf::from(path));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

impl Browser {
    /// Chromium, headless, at desktop size, on `base` (the daemon's URL).
    pub async fn start(base: &str) -> Browser {
        let turn = BROWSERS.clone().acquire_owned().await.unwrap();
        let driver_path = find(
            "MACHINIST_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        )
        .expect(
            "the browser tests need chromedriver: apt-get install chromium chromium-driver \
             (.ci/run does), or set MACHINIST_CHROMEDRIVER",
        );
        let chromium = find(
            "MACHINIST_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        )
        .expect("the browser tests need chromium: apt-get install chromium chromium-driver");
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", driver_path.display()));
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                ],
            }),
        );
        // The driver takes a moment to listen; Chromium longer to start on
        // a loaded machine.
        let started = Instant::now();
        let client = loop {
            // Plain HTTP to the local driver: no TLS stack needed.
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(60) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session on {url} after 60 s: {e}"),
            }
        };
        Browser {
            _turn: turn,
            client,
            driver,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Ends the WebDriver session (Chromium quits), then the driver.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }

    /// Goes to `path` on the daemon.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Signs in through the login page with `token`.
    pub async fn sign_in(&self, token: &str) {
        self.open("/ui/login").await;
        let field = self
            .client
            .wait()
            .for_element(Locator::Id("token"))
            .await
            .unwrap();
        field.send_keys(token).await.unwrap();
        self.click("form[action='/ui/login'] button[type=submit]")
            .await;
        self.wait_for_path(|p| !p.starts_with("/ui/login")).await;
    }

    /// Clicks the element `css` and waits for the next page when it navigates.
    pub async fn click(&self, css: &str) {
        let element = self
            .client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        element.click().await.unwrap();
    }

    /// Clicks `css`, accepts the confirmation it raises (`data-confirm`).
    pub async fn click_and_confirm(&self, css: &str) {
        self.click(css).await;
        let started = Instant::now();
        loop {
            match self.client.accept_alert().await {
                Ok(()) => return,
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("no confirmation after clicking {css}: {e}"),
            }
        }
    }

    /// Waits until the current path satisfies `ok` (20 s at most).
    pub async fn wait_for_path(&self, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let path = self.path().await;
            if ok(&path) {
                return path;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "still at {path}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the element `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Waits until the text of `css` satisfies `ok`, reloading the page
    /// between looks when `reload` (a page without live parts).
    pub async fn wait_for_text(
        &self,
        css: &str,
        reload: bool,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && ok(&text)
            {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{css} never read as expected"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
            if reload {
                self.client.refresh().await.unwrap();
            }
        }
    }

    /// Runs `script` in the page (its last expression's value, as JSON).
    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Screenshots of the current page at desktop and phone widths, as
    /// `target/ui-screenshots/NAME-desktop.png` and `…-phone.png`.
    pub async fn screenshots(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        for (size, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(w, h).await.unwrap();
            // Let the layout settle at the new width.
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self.client.screenshot().await.unwrap();
            assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
            std::fs::write(dir.join(format!("{name}-{size}.png")), png).unwrap();
        }
        self.client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .unwrap();
    }
}
