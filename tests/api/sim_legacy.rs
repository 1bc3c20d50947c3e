//! The simulated account's legacy API over real HTTP, with a manual clock:
//! time moves only when a test advances it, so no test sleeps for a state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use machinist::clock::ManualClock;
use machinist::machine::MachineState;
use machinist::sim::{self, FaultKind, FaultSpec, OneShotFault, SimConfig, SimHandle, Timings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = sim::DEFAULT_API_KEY;

/// A running simulator, its clock and a client.
struct Ctx {
    /// The server, and its `sim` for assertions and faults.
    h: SimHandle,
    /// Shared with the simulator; only tests move it.
    clock: ManualClock,
    /// Plain client with no timeout.
    http: reqwest::Client,
}

/// One answer, read whole.
#[derive(Debug)]
struct Resp {
    /// HTTP status.
    status: u16,
    /// For `Retry-After`.
    headers: reqwest::header::HeaderMap,
    /// Raw body: some fault answers are not JSON.
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The wrapped legacy error's message, checking the shape and status on the way.
    fn wrapped(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["name"], "Error", "{body}");
        assert_eq!(body["error"]["status"], status, "{body}");
        body["error"]["message"]
            .as_str()
            .expect("message")
            .to_string()
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn timings() -> Timings {
    Timings {
        provision: Duration::from_secs(10),
        start: Duration::from_secs(5),
        stop: Duration::from_secs(4),
        restart: Duration::from_secs(6),
        destroy: Duration::from_secs(3),
    }
}

impl Ctx {
    async fn with(config: SimConfig) -> Self {
        let clock = ManualClock::new(t("2026-03-31T22:00:00Z"));
        let h = sim::spawn(config, Arc::new(clock.clone()))
            .await
            .expect("spawn");
        Ctx {
            h,
            clock,
            http: reqwest::Client::new(),
        }
    }

    /// An empty account (no seeded machines).
    async fn new() -> Self {
        Self::with(SimConfig {
            timings: timings(),
            seed_machines: false,
            ..SimConfig::default()
        })
        .await
    }

    async fn seeded() -> Self {
        Self::with(SimConfig {
            timings: timings(),
            ..SimConfig::default()
        })
        .await
    }

    fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request");
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("body"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.h.url)
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path)).header("x-api-key", KEY))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            self.http
                .post(self.url(path))
                .header("x-api-key", KEY)
                .json(&body),
        )
        .await
    }

    /// POST without any body, as the Python clients send start/stop/restart.
    async fn post_empty(&self, path: &str) -> Resp {
        self.send(self.http.post(self.url(path)).header("x-api-key", KEY))
            .await
    }

    async fn create(&self, body: Value) -> Resp {
        self.post("/machines/createSingleMachinePublic", body).await
    }

    /// Creates a P4000 in NY2 and returns its id.
    async fn create_named(&self, name: &str) -> String {
        let r = self.create(create_body(name)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_string()
    }

    async fn show(&self, id: &str) -> Value {
        let r = self
            .get(&format!("/machines/getMachinePublic?machineId={id}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    async fn state(&self, id: &str) -> String {
        self.show(id).await["state"].as_str().unwrap().to_string()
    }

    /// Node-style power call: POST with `{"machineId"}` in the body.
    async fn power(&self, id: &str, op: &str) -> Resp {
        self.post(&format!("/machines/{id}/{op}"), json!({ "machineId": id }))
            .await
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }
}

fn create_body(name: &str) -> Value {
    json!({
        "region": "East Coast (NY2)",
        "machineType": "P4000",
        "size": 50,
        "billingType": "hourly",
        "machineName": name,
        "templateId": "tkni3aa4",
    })
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

/// Sends raw HTTP/1.1 bytes and returns (status, body): for header spellings
/// and body-less requests exactly as other clients write them.
async fn raw(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn missing_or_wrong_key_gets_the_flat_401() {
    let c = Ctx::seeded().await;
    let flat = json!({ "status": 401, "message": "Invalid API token" });
    let none = c.send(c.http.get(c.url("/machines/getMachines"))).await;
    assert_eq!((none.status, none.json()), (401, flat.clone()));
    let wrong = c
        .send(
            c.http
                .get(c.url("/machines/getMachines"))
                .header("x-api-key", "nope"),
        )
        .await;
    assert_eq!((wrong.status, wrong.json()), (401, flat.clone()));
    let post = c
        .send(
            c.http
                .post(c.url("/machines/createSingleMachinePublic"))
                .json(&create_body("x")),
        )
        .await;
    assert_eq!((post.status, post.json()), (401, flat));
    assert!(c.h.sim.machine_ids_named("x").is_empty());
    // Counted before auth.
    assert_eq!(c.h.sim.calls("GET", "/machines/getMachines", None), 2);
    assert_eq!(c.get("/machines/getMachines").await.status, 200);
}

#[tokio::test]
async fn create_answers_201_provisioning_then_becomes_ready() {
    let c = Ctx::new().await;
    let r = c
        .create(with(
            create_body("My Machine 1"),
            "assignPublicIp",
            json!(true),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let m = r.json();
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "id",
        "name",
        "os",
        "ram",
        "cpus",
        "gpu",
        "storageTotal",
        "storageUsed",
        "usageRate",
        "shutdownTimeoutInHours",
        "shutdownTimeoutForces",
        "performAutoSnapshot",
        "autoSnapshotFrequency",
        "autoSnapshotSaveCount",
        "agentType",
        "dtCreated",
        "state",
        "updatesPending",
        "networkId",
        "privateIpAddress",
        "publicIpAddress",
        "region",
        "userId",
        "teamId",
        "scriptId",
        "dtLastRun",
        "dynamicPublicIp",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "no machineType, nothing missing");
    assert_eq!(m["state"], "provisioning");
    assert_eq!(m["name"], "My Machine 1");
    assert_eq!(m["usageRate"], "P4000 hourly");
    assert_eq!(m["region"], "East Coast (NY2)");
    assert_eq!(m["dtCreated"], "2026-03-31T22:00:00.000Z");
    assert_eq!(m["ram"], Value::Null);
    assert!(m["publicIpAddress"].is_string());
    let id = m["id"].as_str().unwrap();
    assert!(id.starts_with("ps") && id.len() == 9, "{id}");

    c.advance(9);
    assert_eq!(c.state(id).await, "provisioning");
    c.advance(1);
    let shown = c.show(id).await;
    assert_eq!(shown["state"], "ready");
    assert_eq!(shown["ram"], (30u64 << 30).to_string());
    assert_eq!(shown["storageTotal"], (50u64 << 30).to_string());
    assert_eq!(shown["cpus"], 8);
    assert_eq!(shown["agentType"], "LinuxHeadless");
    assert!(
        shown["privateIpAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.64.")
    );
    let events = shown["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "create");
    assert_eq!(events[0]["state"], "done");
    assert_eq!(events[0]["errorMsg"], "");
    assert_eq!(events[0]["dtFinished"], "2026-03-31T22:00:10.000Z");
}

#[tokio::test]
async fn start_on_create_false_ends_off() {
    let c = Ctx::new().await;
    let r = c
        .create(with(create_body("cold"), "startOnCreate", json!(false)))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    c.advance(10);
    assert_eq!(c.state(&id).await, "off");
}

#[tokio::test]
async fn start_stop_restart_move_through_their_states() {
    let c = Ctx::new().await;
    let id = c.create_named("m").await;
    c.advance(10);

    let r = c.power(&id, "stop").await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_eq!(c.state(&id).await, "stopping");
    c.advance(4);
    assert_eq!(c.state(&id).await, "off");

    let r = c.power(&id, "start").await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_eq!(c.state(&id).await, "starting");
    c.advance(4);
    assert_eq!(c.state(&id).await, "starting");
    c.advance(1);
    assert_eq!(c.state(&id).await, "ready");

    assert_eq!(c.power(&id, "restart").await.status, 204);
    assert_eq!(c.state(&id).await, "restarting");
    c.advance(6);
    let shown = c.show(&id).await;
    assert_eq!(shown["state"], "ready");

    // Newest first.
    let names: Vec<(&str, &str)> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("restart", "done"),
            ("start", "done"),
            ("stop", "done"),
            ("create", "done")
        ]
    );
    assert_eq!(c.h.sim.machine_state(&id), Some(MachineState::Ready));
}

#[tokio::test]
async fn start_of_running_and_stop_of_off_are_noops() {
    let c = Ctx::new().await;
    let id = c.create_named("m").await;
    c.advance(10);
    let before = c.show(&id).await["events"].as_array().unwrap().len();
    assert_eq!(c.power(&id, "start").await.status, 204);
    assert_eq!(c.state(&id).await, "ready");
    assert_eq!(
        c.show(&id).await["events"].as_array().unwrap().len(),
        before
    );

    assert_eq!(c.power(&id, "stop").await.status, 204);
    assert_eq!(
        c.power(&id, "stop").await.status,
        204,
        "stop while stopping"
    );
    c.advance(4);
    assert_eq!(c.power(&id, "stop").await.status, 204, "stop while off");
    assert_eq!(c.state(&id).await, "off");
    assert_eq!(c.power(&id, "start").await.status, 204);
    assert_eq!(
        c.power(&id, "start").await.status,
        204,
        "start while starting"
    );
    assert_eq!(c.state(&id).await, "starting");
}

#[tokio::test]
async fn operations_in_the_wrong_state_are_400_naming_machine_and_state() {
    let c = Ctx::new().await;
    let id = c.create_named("m").await;
    for op in ["start", "stop", "restart"] {
        let msg = c.power(&id, op).await.wrapped(400);
        assert!(
            msg.contains(&id) && msg.contains("provisioning"),
            "{op}: {msg}"
        );
    }
    c.advance(10);
    c.power(&id, "stop").await;
    let msg = c.power(&id, "start").await.wrapped(400);
    assert!(msg.contains(&id) && msg.contains("stopping"), "{msg}");
    c.advance(4);
    let msg = c.power(&id, "restart").await.wrapped(400);
    assert!(msg.contains(&id) && msg.contains("off"), "{msg}");

    assert_eq!(
        c.post(&format!("/machines/{id}/destroyMachine"), json!({}))
            .await
            .status,
        204
    );
    for op in ["start", "stop", "restart", "destroyMachine"] {
        let msg = c.power(&id, op).await.wrapped(400);
        assert!(
            msg.contains(&id) && msg.contains("being destroyed"),
            "{op}: {msg}"
        );
    }
    let msg = c
        .post(
            &format!("/machines/{id}/updateMachinePublic"),
            json!({"machineName": "x"}),
        )
        .await
        .wrapped(400);
    assert!(msg.contains("being destroyed"), "{msg}");
}

#[tokio::test]
async fn destroyed_machine_stays_visible_then_is_gone() {
    let c = Ctx::new().await;
    let id = c.create_named("doomed").await;
    let keep = c.create_named("keep").await;
    c.advance(10);
    let r = c
        .post(
            &format!("/machines/{id}/destroyMachine"),
            json!({ "machineId": id, "releasePublicIp": true }),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    c.advance(2);
    assert_eq!(
        c.state(&id).await,
        "ready",
        "visible in its state while being destroyed"
    );
    assert_eq!(c.h.sim.machine_ids_named("doomed"), vec![id.clone()]);
    c.advance(1);

    let r = c
        .get(&format!("/machines/getMachinePublic?machineId={id}"))
        .await;
    assert_eq!(r.wrapped(404), "Machine not found");
    let r = c.power(&id, "start").await;
    assert_eq!(
        r.wrapped(404),
        "Not found. Please contact support@paperspace.com for help."
    );
    let list = c.get("/machines/getMachines").await.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [keep.as_str()]);
    assert!(c.h.sim.machine_ids_named("doomed").is_empty());
    assert!(!c.h.sim.set_stuck(&id, true));

    let internal = c
        .control(reqwest::Method::GET, "/_sim/machines", None)
        .await
        .json();
    let doomed = internal
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .expect("every machine ever created");
    assert_eq!(
        (doomed["destroyed"].clone(), doomed["gone"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(doomed["name"], "doomed");
    let r = c
        .get(&format!(
            "/machines/getUtilization?machineId={id}&billingMonth=2026-03"
        ))
        .await;
    assert_eq!(r.wrapped(404), "Machine not found");
}

#[tokio::test]
async fn create_validation_names_the_parameter() {
    let c = Ctx::new().await;
    for field in [
        "region",
        "machineType",
        "size",
        "billingType",
        "machineName",
        "templateId",
    ] {
        let msg = c
            .create(without(create_body("m"), field))
            .await
            .wrapped(400);
        assert_eq!(msg, format!("Missing required parameter `{field}`"));
    }
    let cases: Vec<(Value, &str)> = vec![
        (
            with(create_body("m"), "size", json!("50")),
            "Parameter `size` expected to be a number",
        ),
        (
            with(create_body("m"), "region", json!(1)),
            "Parameter `region` expected to be a string",
        ),
        (
            with(create_body("m"), "startOnCreate", json!("no")),
            "Parameter `startOnCreate` expected to be a boolean",
        ),
        (
            with(create_body("m"), "assignPublicIp", json!(1)),
            "`assignPublicIp`",
        ),
        (with(create_body("m"), "networkId", json!(5)), "`networkId`"),
        (
            with(create_body("m"), "templateId", json!("tnope")),
            "templateId not found",
        ),
        (with(create_body("m"), "size", json!(0)), "`size`"),
        (with(create_body("m"), "size", json!(2001)), "`size`"),
        (with(create_body("m"), "size", json!(50.5)), "`size`"),
        (
            with(create_body("m"), "billingType", json!("weekly")),
            "`billingType`",
        ),
        (
            with(create_body("m"), "machineName", json!("  ")),
            "`machineName`",
        ),
        (
            with(create_body("m"), "region", json!("Mars (MRS1)")),
            "`region`",
        ),
        (
            with(create_body("m"), "machineType", json!("P9000")),
            "`machineType`",
        ),
        (
            with(create_body("m"), "machineType", json!("Air")),
            "`templateId`",
        ),
        (
            with(create_body("m"), "userId", json!("u0000000")),
            "`userId`",
        ),
        (
            with(create_body("m"), "restorePointFrequency", json!("daily")),
            "`restorePointFrequency`",
        ),
        (
            with(
                with(create_body("m"), "assignPublicIp", json!(true)),
                "dynamicPublicIp",
                json!(true),
            ),
            "`assignPublicIp` and `dynamicPublicIp`",
        ),
    ];
    for (body, want) in cases {
        let msg = c.create(body.clone()).await.wrapped(400);
        assert!(msg.contains(want), "{body}: {msg}");
    }
    let unavailable = with(
        with(create_body("m"), "region", json!("Europe (AMS1)")),
        "machineType",
        json!("V100"),
    );
    let msg = c.create(unavailable).await.wrapped(400);
    assert!(
        msg.contains("V100") && msg.contains("Europe (AMS1)"),
        "{msg}"
    );

    let malformed = c
        .send(
            c.http
                .post(c.url("/machines/createSingleMachinePublic"))
                .header("x-api-key", KEY)
                .header("content-type", "application/json")
                .body("{\"region\": "),
        )
        .await;
    assert!(malformed.wrapped(400).starts_with("Malformed JSON body"));

    // Unknown extras (yargs leftovers) are ignored; nothing above created a machine.
    let ok = with(create_body("fine"), "machine-name", json!("fine"));
    assert_eq!(c.create(with(ok, "_junk", json!([1]))).await.status, 201);
    let list = c.get("/machines/getMachines").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn update_changes_settings_and_checks_types() {
    let c = Ctx::new().await;
    let id = c.create_named("old").await;
    let r = c
        .post(
            &format!("/machines/{id}/updateMachinePublic"),
            json!({
                "machineId": id,
                "machineName": "new",
                "shutdownTimeoutInHours": 8,
                "shutdownTimeoutForces": true,
                "performAutoSnapshot": true,
                "autoSnapshotFrequency": "week",
                "autoSnapshotSaveCount": 4,
                "dynamicPublicIp": true,
            }),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let m = c.show(&id).await;
    assert_eq!(m["name"], "new");
    assert_eq!(m["shutdownTimeoutInHours"], 8);
    assert_eq!(m["shutdownTimeoutForces"], true);
    assert_eq!(m["performAutoSnapshot"], true);
    assert_eq!(m["autoSnapshotFrequency"], "week");
    assert_eq!(m["autoSnapshotSaveCount"], 4);
    assert_eq!(m["dynamicPublicIp"], true);
    assert_eq!(
        m["publicIpAddress"],
        Value::Null,
        "no address while provisioning"
    );
    c.advance(10);
    assert!(
        c.show(&id).await["publicIpAddress"].is_string(),
        "dynamic address while running"
    );

    // The Go client's route, machineId in the body; null clears.
    let r = c
        .post(
            "/machines/updateMachine",
            json!({ "machineId": id, "autoSnapshotFrequency": null, "machineName": "go" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let m = c.show(&id).await;
    assert_eq!(
        (m["name"].clone(), m["autoSnapshotFrequency"].clone()),
        (json!("go"), Value::Null)
    );

    let path = format!("/machines/{id}/updateMachinePublic");
    for (body, want) in [
        (
            json!({"shutdownTimeoutInHours": "8"}),
            "`shutdownTimeoutInHours`",
        ),
        (
            json!({"autoSnapshotFrequency": "month"}),
            "`autoSnapshotFrequency`",
        ),
        (
            json!({"performAutoSnapshot": "yes"}),
            "`performAutoSnapshot`",
        ),
        (
            json!({"autoSnapshotSaveCount": 1.5}),
            "`autoSnapshotSaveCount`",
        ),
        (json!({"machineName": ""}), "`machineName`"),
        (json!({"machineId": "psother00"}), "`machineId`"),
        (json!({"machineId": 7}), "`machineId`"),
        (
            json!({"assignPublicIp": true, "dynamicPublicIp": true}),
            "`assignPublicIp`",
        ),
    ] {
        let msg = c.post(&path, body.clone()).await.wrapped(400);
        assert!(msg.contains(want), "{body}: {msg}");
    }
    let msg = c
        .post("/machines/updateMachine", json!({"machineName": "x"}))
        .await
        .wrapped(400);
    assert_eq!(msg, "Missing required parameter `machineId`");
    let r = c
        .post(
            "/machines/psnothere/updateMachinePublic",
            json!({"machineName": "x"}),
        )
        .await;
    assert_eq!(
        r.wrapped(404),
        "Not found. Please contact support@paperspace.com for help."
    );
}

#[tokio::test]
async fn seeded_fleet_is_deterministic() {
    let a = Ctx::seeded().await;
    let b = Ctx::seeded().await;
    let list_a = a.get("/machines/getMachines").await.json();
    let list_b = b.get("/machines/getMachines").await.json();
    assert_eq!(list_a, list_b);
    let machines = list_a.as_array().unwrap();
    assert_eq!(machines.len(), 6);
    let names: Vec<&str> = machines
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "dev-ny-1",
            "dev-ny-2",
            "gpu-train-1",
            "gpu-train-2",
            "render-ams-1",
            "render-ams-2"
        ]
    );
    let states: Vec<&str> = machines
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ready", "off", "ready", "off", "off", "ready"]);
    let regions: std::collections::BTreeSet<&str> = machines
        .iter()
        .map(|m| m["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions.len(), 3);

    let other_seed = Ctx::with(SimConfig {
        seed: 99,
        ..SimConfig::default()
    })
    .await;
    let list_c = other_seed.get("/machines/getMachines").await.json();
    assert_ne!(list_a[0]["id"], list_c[0]["id"]);
}

#[tokio::test]
async fn list_filters_exactly_and_pages() {
    let c = Ctx::seeded().await;
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = c.get("/machines/getMachines?region=Europe%20(AMS1)").await;
    assert_eq!(ids(&r.json()), ["render-ams-1", "render-ams-2"]);
    let r = c
        .get("/machines/getMachines?state=ready&region=West%20Coast%20(CA1)")
        .await;
    assert_eq!(ids(&r.json()), ["gpu-train-1"]);
    let r = c.get("/machines/getMachines?cpus=4").await;
    assert_eq!(
        ids(&r.json()),
        ["dev-ny-1"],
        "numbers compare as their string form"
    );
    let r = c.get("/machines/getMachines?usageRate=V100%20hourly").await;
    assert_eq!(ids(&r.json()), ["gpu-train-2"]);
    let r = c
        .get("/machines/getMachines?scriptId=null&name=dev-ny-2")
        .await;
    assert_eq!(
        ids(&r.json()),
        ["dev-ny-2"],
        "null is sent as the string null"
    );
    let r = c.get("/machines/getMachines?name=dev-ny").await;
    assert!(r.json().as_array().unwrap().is_empty(), "exact match only");
    let r = c
        .get("/machines/getMachines?id=whatever&_=x&%240=paperspace")
        .await;
    assert_eq!(
        r.json().as_array().unwrap().len(),
        6,
        "unknown keys are ignored"
    );

    let all = c.get("/machines/getMachines").await.json();
    let third = all[2]["id"].as_str().unwrap();
    let r = c
        .get(&format!("/machines/getMachines?machineId={third}"))
        .await;
    assert_eq!(ids(&r.json()), ["gpu-train-1"], "machineId filters on id");

    let r = c.get("/machines/getMachines?limit=2&skip=2").await;
    assert_eq!(ids(&r.json()), ["gpu-train-1", "gpu-train-2"]);
    let r = c.get("/machines/getMachines?limit=4&skip=4").await;
    assert_eq!(ids(&r.json()), ["render-ams-1", "render-ams-2"]);
    let r = c.get("/machines/getMachines?skip=6").await;
    assert_eq!(r.json(), json!([]));
    assert!(
        c.get("/machines/getMachines?limit=ten")
            .await
            .wrapped(400)
            .contains("`limit`")
    );
    assert!(
        c.get("/machines/getMachines?skip=-1")
            .await
            .wrapped(400)
            .contains("`skip`")
    );
}

#[tokio::test]
async fn show_ignores_extra_keys_and_requires_machine_id() {
    let c = Ctx::seeded().await;
    let id = c.get("/machines/getMachines").await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .get(&format!(
            "/machines/getMachinePublic?machineId={id}&state=ready"
        ))
        .await;
    assert_eq!(r.status, 200);
    let m = r.json();
    assert_eq!(m["id"], id);
    let events = m["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["name"], "create", "oldest last");
    let msg = c.get("/machines/getMachinePublic").await.wrapped(400);
    assert_eq!(msg, "Missing required parameter `machineId`");
    let msg = c
        .get("/machines/getMachinePublic?machineId=psmissing")
        .await
        .wrapped(404);
    assert_eq!(msg, "Machine not found");
}

#[tokio::test]
async fn utilization_accrues_while_running_across_a_month_boundary() {
    let c = Ctx::new().await; // 2026-03-31T22:00:00Z
    let id = c.create_named("meter").await; // ready at 22:00:10
    c.clock.set(t("2026-04-01T02:00:00Z"));
    let util = |month: &'static str| {
        let c = &c;
        let id = id.clone();
        async move {
            let r = c
                .get(&format!(
                    "/machines/getUtilization?machineId={id}&billingMonth={month}"
                ))
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json()
        }
    };
    let march = util("2026-03").await;
    assert_eq!(
        march,
        json!({
            "machineId": id,
            "utilization": {
                "machineId": id, "secondsUsed": 7190, "hourlyRate": "0.51", "billingMonth": "2026-03"
            },
            "storageUtilization": {
                "machineId": id, "secondsUsed": 7200, "monthlyRate": "5.00", "billingMonth": "2026-03"
            }
        })
    );
    let april = util("2026-04").await;
    assert_eq!(april["utilization"]["secondsUsed"], 7200);
    assert_eq!(april["storageUtilization"]["secondsUsed"], 7200);

    // Stopped machines stop accruing from the stop request; storage goes on.
    c.power(&id, "stop").await;
    c.advance(4);
    c.advance(3600);
    let april = util("2026-04").await;
    assert_eq!(april["utilization"]["secondsUsed"], 7200);
    assert_eq!(april["storageUtilization"]["secondsUsed"], 7200 + 3604);
    assert_eq!(util("2026-05").await["utilization"]["secondsUsed"], 0);

    let msg = c
        .get(&format!(
            "/machines/getUtilization?machineId={id}&billingMonth=2026-4"
        ))
        .await
        .wrapped(400);
    assert!(msg.contains("`billingMonth`"), "{msg}");
    let msg = c
        .get("/machines/getUtilization?machineId=psmissing&billingMonth=2026-04")
        .await
        .wrapped(404);
    assert_eq!(msg, "Machine not found");
    let msg = c
        .get(&format!("/machines/getUtilization?machineId={id}"))
        .await
        .wrapped(400);
    assert_eq!(msg, "Missing required parameter `billingMonth`");
}

#[tokio::test]
async fn storage_rate_follows_the_disk_tier() {
    let c = Ctx::new().await;
    let r = c.create(with(create_body("big"), "size", json!(300))).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let u = c
        .get(&format!(
            "/machines/getUtilization?machineId={id}&billingMonth=2026-03"
        ))
        .await
        .json();
    assert_eq!(u["storageUtilization"]["monthlyRate"], "20.00");
}

#[tokio::test]
async fn availability_and_templates() {
    let c = Ctx::new().await;
    let r = c
        .get("/machines/getAvailability?region=East%20Coast%20(NY2)&machineType=GPU%2B")
        .await;
    assert_eq!((r.status, r.json()), (200, json!({"available": true})));
    let r = c
        .get("/machines/getAvailability?region=Europe%20(AMS1)&machineType=V100")
        .await;
    assert_eq!(r.json(), json!({"available": false}));
    let msg = c
        .get("/machines/getAvailability?region=Mars&machineType=V100")
        .await
        .wrapped(400);
    assert!(msg.contains("`region`"), "{msg}");
    let msg = c
        .get("/machines/getAvailability?region=Europe%20(AMS1)&machineType=K80")
        .await
        .wrapped(400);
    assert!(msg.contains("`machineType`"), "{msg}");
    let msg = c
        .get("/machines/getAvailability?region=Europe%20(AMS1)")
        .await
        .wrapped(400);
    assert_eq!(msg, "Missing required parameter `machineType`");

    let all = c.get("/templates/getTemplates").await.json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 5);
    for tpl in all {
        let id = tpl["id"].as_str().unwrap();
        assert_eq!(tpl["name"], format!("paperspace/{id}"));
        assert!(tpl["label"].is_string() && tpl["os"].is_string() && tpl["dtCreated"].is_string());
    }
    let r = c
        .get("/templates/getTemplates?label=Windows%2010")
        .await
        .json();
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["id"], "tvimtol9");
    let r = c
        .get("/templates/getTemplates?id=tkni3aa4&teamId=null")
        .await
        .json();
    assert_eq!(r.as_array().unwrap().len(), 1, "absent fields match null");
}

#[tokio::test]
async fn set_access_by_post_and_by_query() {
    let c = Ctx::seeded().await;
    let id = c.get("/machines/getMachines").await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post(
            &format!("/machines/{id}/setMachineAccess"),
            json!({ "machineId": id, "userId": "u5d6e7f8", "enableAccess": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({ "machineId": id, "userId": "u5d6e7f8", "enableAccess": true })
    );
    let r = c
        .get(&format!(
            "/machines/{id}/setMachineAccessPublic?userId=u5d6e7f8&enableAccess=false"
        ))
        .await;
    assert_eq!(
        (r.status, r.json()["enableAccess"].clone()),
        (200, json!(false))
    );

    let r = c
        .post(
            &format!("/machines/{id}/setMachineAccess"),
            json!({ "userId": "u0000000", "enableAccess": true }),
        )
        .await;
    assert_eq!(r.wrapped(404), "User not found");
    let msg = c
        .post(
            &format!("/machines/{id}/setMachineAccess"),
            json!({ "userId": "u5d6e7f8", "enableAccess": "true" }),
        )
        .await
        .wrapped(400);
    assert_eq!(msg, "Parameter `enableAccess` expected to be a boolean");
    let msg = c
        .post(
            &format!("/machines/{id}/setMachineAccess"),
            json!({ "enableAccess": true }),
        )
        .await
        .wrapped(400);
    assert_eq!(msg, "Missing required parameter `userId`");
    let r = c
        .post(
            "/machines/psnothere/setMachineAccess",
            json!({ "userId": "u5d6e7f8", "enableAccess": true }),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn stuck_machine_holds_its_state_until_freed() {
    let c = Ctx::new().await;
    let id = c.create_named("m").await;
    c.advance(10);
    c.power(&id, "stop").await;
    c.advance(4);
    c.power(&id, "start").await;
    assert!(c.h.sim.set_stuck(&id, true));
    c.advance(600);
    assert_eq!(c.state(&id).await, "starting");
    assert!(!c.h.sim.set_stuck("psnothere", true));

    // The same through the control endpoint.
    let r = c
        .control(
            reqwest::Method::POST,
            &format!("/_sim/machines/{id}/stuck"),
            Some(json!({"stuck": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"id": id, "stuck": false}));
    assert_eq!(
        c.state(&id).await,
        "ready",
        "overdue, so it completes at once"
    );

    let r = c
        .control(
            reqwest::Method::POST,
            "/_sim/machines/psnothere/stuck",
            Some(json!({"stuck": true})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = c
        .control(
            reqwest::Method::POST,
            &format!("/_sim/machines/{id}/stuck"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn standing_error_rate_answers_a_mix_of_5xx() {
    let c = Ctx::seeded().await;
    c.h.sim.set_faults(FaultSpec {
        error_rate: 1.0,
        ..FaultSpec::default()
    });
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let r = c.get("/machines/getMachines").await;
        seen.insert(r.status);
        match r.status {
            502 => assert!(
                r.text.contains("<html>") && r.text.contains("502 Bad Gateway"),
                "{}",
                r.text
            ),
            500 | 503 => {
                r.wrapped(r.status);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [500, 502, 503]);
    // Control routes are never faulted.
    let r = c.control(reqwest::Method::GET, "/_sim/faults", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error_rate"], 1.0);
    c.h.sim.set_faults(FaultSpec::default());
    assert_eq!(c.get("/machines/getMachines").await.status, 200);
}

#[tokio::test]
async fn standing_throttle_sends_retry_after_and_latency_delays() {
    let c = Ctx::seeded().await;
    let r = c
        .control(
            reqwest::Method::PUT,
            "/_sim/faults",
            Some(json!({"throttle_rate": 1.0, "retry_after_secs": 7})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c.get("/machines/getMachines").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(r.json()["status"], 429, "flat body");
    assert!(r.json()["message"].is_string());

    c.h.sim.set_faults(FaultSpec {
        latency_ms: 150,
        ..FaultSpec::default()
    });
    let started = Instant::now();
    assert_eq!(c.get("/machines/getMachines").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    let r = c
        .control(
            reqwest::Method::PUT,
            "/_sim/faults",
            Some(json!({"error_rate": 2})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("error_rate"));
}

#[tokio::test]
async fn oneshot_error_before_apply_leaves_the_machine_alone() {
    let c = Ctx::new().await;
    let id = c
        .create(with(create_body("m"), "startOnCreate", json!(false)))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    c.advance(10);
    c.h.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 502 },
        route: Some("POST /machines/:machineId/start".into()),
        count: 1,
        after_apply: false,
    });
    // Other routes are untouched by a route-specific fault.
    assert_eq!(c.state(&id).await, "off");
    let r = c.power(&id, "start").await;
    assert_eq!(r.status, 502);
    assert!(r.text.contains("502 Bad Gateway"));
    assert_eq!(c.state(&id).await, "off", "not applied");
    assert_eq!(c.power(&id, "start").await.status, 204, "used up");
    assert_eq!(c.state(&id).await, "starting");
}

#[tokio::test]
async fn oneshot_after_apply_creates_despite_the_error() {
    let c = Ctx::new().await;
    let r = c
        .control(
            reqwest::Method::POST,
            "/_sim/faults/oneshot",
            Some(json!({
                "kind": "error", "status": 500,
                "route": "POST /machines/createSingleMachinePublic/",
                "after_apply": true,
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pending = c
        .control(reqwest::Method::GET, "/_sim/faults/oneshot", None)
        .await
        .json();
    assert_eq!(pending.as_array().unwrap().len(), 1);

    let r = c.create(create_body("ambiguous")).await;
    assert_eq!(r.wrapped(500), "Internal Server Error");
    let ids = c.h.sim.machine_ids_named("ambiguous");
    assert_eq!(ids.len(), 1, "the create happened");
    // A careful client looks it up by name instead of creating again.
    let found = c.get("/machines/getMachines?name=ambiguous").await.json();
    assert_eq!(found[0]["id"], ids[0].as_str());
    assert_eq!(
        c.h.sim
            .calls("POST", "/machines/createSingleMachinePublic", None),
        1
    );
}

#[tokio::test]
async fn oneshot_throttle_garbage_and_counts_are_consumed_in_order() {
    let c = Ctx::seeded().await;
    c.h.sim.inject(OneShotFault {
        kind: FaultKind::Throttle {
            retry_after_secs: 3,
        },
        route: None,
        count: 2,
        after_apply: false,
    });
    c.h.sim.inject(OneShotFault {
        kind: FaultKind::Garbage {
            body: "{\"id\":\"ps".into(),
            status: 200,
        },
        route: Some("GET /machines/getMachines".into()),
        count: 1,
        after_apply: false,
    });
    for _ in 0..2 {
        let r = c.get("/templates/getTemplates").await;
        assert_eq!(
            (r.status, r.headers["retry-after"].to_str().unwrap()),
            (429, "3")
        );
    }
    let r = c.get("/machines/getMachines").await;
    assert_eq!((r.status, r.text.as_str()), (200, "{\"id\":\"ps"));
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    assert_eq!(
        c.get("/machines/getMachines")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        6
    );

    for bad in [
        json!({"kind": "explode"}),
        json!({"kind": "error", "status": 200}),
        json!({"kind": "throttle", "count": 0}),
        json!({"kind": "hang", "route": "GET /nowhere"}),
        json!("error"),
    ] {
        let r = c
            .control(
                reqwest::Method::POST,
                "/_sim/faults/oneshot",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.json()["error"].is_string());
    }
    c.h.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 503 },
        route: None,
        count: 5,
        after_apply: false,
    });
    let r = c
        .control(reqwest::Method::DELETE, "/_sim/faults", None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(c.get("/machines/getMachines").await.status, 200, "cleared");
}

#[tokio::test]
async fn oneshot_hang_outlasts_the_client_and_after_apply_still_applies() {
    let c = Ctx::new().await;
    let a = c.create_named("a").await;
    let b = c.create_named("b").await;
    c.advance(10);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();

    c.h.sim.inject(OneShotFault {
        kind: FaultKind::Hang { ms: 400 },
        route: Some("POST /machines/:machineId/stop".into()),
        count: 1,
        after_apply: true,
    });
    let err = impatient
        .post(c.url(&format!("/machines/{a}/stop")))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(c.state(&a).await, "stopping", "applied before the hang");

    // Before apply: the hang ends in a 504 and nothing happened.
    c.h.sim.inject(OneShotFault {
        kind: FaultKind::Hang { ms: 300 },
        route: Some("POST /machines/:machineId/stop".into()),
        count: 1,
        after_apply: false,
    });
    let started = Instant::now();
    let r = c.power(&b, "stop").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 504);
    assert_eq!(c.state(&b).await, "ready");
}

#[tokio::test]
async fn calls_are_counted_by_route_and_machine() {
    let c = Ctx::new().await;
    let id = c.create_named("m").await;
    c.advance(10);
    c.power(&id, "stop").await;
    c.post_empty(&format!("/machines/{id}/stop/")).await;
    c.get(&format!("/machines/getMachinePublic?machineId={id}"))
        .await;
    c.get("/machines/getMachines").await;
    c.get("/machines/nowhere").await; // not a route: not counted

    let sim = &c.h.sim;
    assert_eq!(
        sim.calls("POST", "/machines/createSingleMachinePublic", None),
        1
    );
    assert_eq!(sim.calls("POST", "/machines/:machineId/stop", Some(&id)), 2);
    assert_eq!(sim.calls("POST", "/machines/{machineId}/stop/", None), 2);
    assert_eq!(
        sim.calls("POST", "/machines/:machineId/stop", Some("psother")),
        0
    );
    assert_eq!(sim.calls("GET", "/machines/getMachinePublic", Some(&id)), 1);
    assert_eq!(sim.calls("get", "/machines/getMachines", None), 1);

    let log = c
        .control(reqwest::Method::GET, "/_sim/calls", None)
        .await
        .json();
    assert_eq!(log["total"], 5);
    let calls = log["calls"].as_array().unwrap();
    assert!(calls.contains(&json!({
        "method": "POST", "route": "/machines/:machineId/stop", "machine_id": id, "count": 2
    })));
    assert!(calls.contains(&json!({
        "method": "GET", "route": "/machines/getMachines", "machine_id": null, "count": 1
    })));
    assert_eq!(
        c.control(reqwest::Method::DELETE, "/_sim/calls", None)
            .await
            .status,
        204
    );
    assert_eq!(sim.calls("POST", "/machines/:machineId/stop", None), 0);
    let log = c
        .control(reqwest::Method::GET, "/_sim/calls", None)
        .await
        .json();
    assert_eq!(log, json!({"total": 0, "calls": []}));
}

#[tokio::test]
async fn python_style_requests_trailing_slash_no_body_and_header_case() {
    let c = Ctx::new().await;
    let id = c.create_named("py").await;
    c.advance(10);
    let (status, body) = raw(
        c.h.addr,
        &format!(
            "POST /machines/{id}/stop/ HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nps_client_name: paperspace-python\r\nps_client_version: 0.2.0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(c.state(&id).await, "stopping");

    let (status, body) = raw(
        c.h.addr,
        &format!(
            "GET /machines/getAvailability/?region=West%20Coast%20(CA1)&machineType=P6000 HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("\"available\":false"), "{body}");
    assert_eq!(c.h.sim.calls("GET", "/machines/getAvailability", None), 1);

    // Destroy with the Python body.
    let r = c
        .post(
            &format!("/machines/{id}/destroyMachine/"),
            json!({"releasePublicIp": true}),
        )
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn destroy_checks_release_public_ip_type() {
    let c = Ctx::new().await;
    let id = c.create_named("x").await;
    let msg = c
        .post(
            &format!("/machines/{id}/destroyMachine"),
            json!({"releasePublicIp": "yes"}),
        )
        .await
        .wrapped(400);
    assert_eq!(msg, "Parameter `releasePublicIp` expected to be a boolean");
    assert_eq!(c.state(&id).await, "provisioning");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let c = Ctx::new().await;
    let msg = c.get("/machines/nowhere").await.wrapped(404);
    assert!(msg.contains("/machines/nowhere"), "{msg}");
    let r = c.get("/machines/createSingleMachinePublic").await;
    assert_eq!(r.status, 405);
    r.wrapped(405);
    let r = c
        .send(
            c.http
                .delete(c.url("/machines/ps1/start"))
                .header("x-api-key", KEY),
        )
        .await;
    r.wrapped(405);
    c.get("/_sim/nothing").await.wrapped(404);
    assert_eq!(c.h.sim.call_log().0, 0, "none of these reached a route");
}
