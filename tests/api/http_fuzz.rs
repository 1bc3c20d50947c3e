//! Property: no malformed request to any route of a running daemon gets a
//! 5xx, panics, or changes the database.
//!
//! Each case takes a route and a malformation: a body cut short, an unknown
//! field, a field of the wrong type, random bytes, a non-object, a wrong or
//! missing content type, an oversized body, a bad path id, a bad query
//! string, a bad Authorization header, or a random path. Every answer must be
//! a 4xx in the one error shape; at the end every table is byte-for-byte
//! what it was.

use std::sync::OnceLock;

use crate::harness::{AppOptions, TestApp, spawn_app};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

/// How a route takes input.
#[derive(Debug, Clone, Copy)]
struct Route {
    method: &'static str,
    /// With `{}` where a path key goes.
    path: &'static str,
    /// A valid body, which each case breaks; `None` for routes without one.
    body: Option<fn() -> Value>,
}

fn job() -> Value {
    json!({"kind": "start", "machine_id": "ps123", "priority": 1, "max_attempts": 2, "wait": "ready", "idempotency_key": "k"})
}
fn schedule() -> Value {
    json!({"name": "fz", "cron": "0 19 * * MON-FRI", "timezone": "Europe/Amsterdam", "template": {"kind": "stop"}, "targets": {"machine_ids": ["ps1"]}, "jitter_seconds": 3, "allow_unknown": true})
}
fn window() -> Value {
    json!({"name": "fzw", "hours": {"days": ["mon"], "start": "09:00", "end": "18:00", "zone": "UTC"}, "targets": {"machine_ids": ["ps1"]}, "enforce": false, "allow_unknown": true})
}
fn preview() -> Value {
    json!({"cron": "0 9 * * *", "timezone": "UTC", "count": 3})
}
fn override_() -> Value {
    json!({"machine_id": "ps1", "mode": "keep_on", "hours": 2, "reason": "x", "allow_unknown": true})
}
fn pull() -> Value {
    json!({"month": "2026-01"})
}
fn webhook() -> Value {
    json!({"url": "https://hooks.example.com/fz", "name": "fzh", "format": "standard", "events": ["daemon.stopping"], "machines": ["ps1"]})
}
fn batch() -> Value {
    json!({"jobs": [{"kind": "refresh", "ref": "a"}, {"kind": "refresh", "depends_on": ["a"], "on_dependency_failure": "run"}]})
}
fn group() -> Value {
    json!({"name": "fzg2", "stages": [{"name": "db", "machine_ids": ["ps1"]}, {"name": "app", "selector": {"name": "web-*"}}]})
}
fn group_patch() -> Value {
    json!({"name": "fzg3", "stages": [{"name": "all", "machine_ids": ["ps2"]}]})
}
fn group_run() -> Value {
    json!({"action": "restart", "wait": "serviceready"})
}
fn webhook_patch() -> Value {
    json!({"name": "fzh2", "events": ["job.failed"], "paused": true})
}

const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        body: None,
    },
    Route {
        method: "GET",
        path: "/readyz",
        body: None,
    },
    Route {
        method: "GET",
        path: "/metrics",
        body: None,
    },
    Route {
        method: "GET",
        path: "/openapi.json",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/jobs",
        body: Some(job),
    },
    Route {
        method: "POST",
        path: "/v1/jobs/batch",
        body: Some(batch),
    },
    Route {
        method: "GET",
        path: "/v1/jobs",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/jobs/{}",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/jobs/{}/cancel",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/jobs/{}/retry",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/history",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/groups",
        body: Some(group),
    },
    Route {
        method: "GET",
        path: "/v1/groups",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/groups/{}",
        body: None,
    },
    Route {
        method: "PATCH",
        path: "/v1/groups/{}",
        body: Some(group_patch),
    },
    Route {
        method: "DELETE",
        path: "/v1/groups/{}",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/groups/{}/runs",
        body: Some(group_run),
    },
    Route {
        method: "GET",
        path: "/v1/group-runs",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/group-runs/{}",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/group-runs/{}/resume",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/machines",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/machines/{}",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/schedules",
        body: Some(schedule),
    },
    Route {
        method: "GET",
        path: "/v1/schedules",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/schedules/preview",
        body: Some(preview),
    },
    Route {
        method: "GET",
        path: "/v1/schedules/{}",
        body: None,
    },
    Route {
        method: "PUT",
        path: "/v1/schedules/{}",
        body: Some(schedule),
    },
    Route {
        method: "DELETE",
        path: "/v1/schedules/{}",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/schedules/{}/pause",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/schedules/{}/resume",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/schedules/{}/preview",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/windows",
        body: Some(window),
    },
    Route {
        method: "GET",
        path: "/v1/windows",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/windows/{}",
        body: None,
    },
    Route {
        method: "PUT",
        path: "/v1/windows/{}",
        body: Some(window),
    },
    Route {
        method: "DELETE",
        path: "/v1/windows/{}",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/windows/{}/pause",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/windows/{}/resume",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/windows/{}/preview",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/windows/{}/overrides",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/windows/{}/overrides",
        body: Some(override_),
    },
    Route {
        method: "DELETE",
        path: "/v1/windows/fzw/overrides/{}",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/reports/utilization",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/reports/savings",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/reports/utilization/pull",
        body: Some(pull),
    },
    Route {
        method: "POST",
        path: "/v1/webhooks",
        body: Some(webhook),
    },
    Route {
        method: "GET",
        path: "/v1/webhooks",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/webhooks/events",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/webhooks/{}",
        body: None,
    },
    Route {
        method: "PATCH",
        path: "/v1/webhooks/{}",
        body: Some(webhook_patch),
    },
    Route {
        method: "DELETE",
        path: "/v1/webhooks/{}",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/{}/pause",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/{}/resume",
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/{}/rotate-secret",
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/webhooks/{}/deliveries",
        body: None,
    },
];

/// What makes a request malformed.
#[derive(Debug, Clone)]
enum Break {
    /// The body cut before its end.
    Truncate(usize),
    /// An extra field no type has.
    UnknownField(String),
    /// A field's value replaced by one of another JSON type.
    WrongType(usize, Value),
    /// Random bytes as the body.
    Bytes(Vec<u8>),
    /// Valid JSON that is not an object.
    NotObject(Value),
    /// The valid body with another content type (or none).
    ContentType(Option<String>),
    /// A body over the 64 KiB limit.
    Oversized(usize),
    /// A path key that is neither id nor name, or a query string no route accepts.
    BadPath(String),
    BadQuery(String),
    /// A wrong or malformed Authorization header.
    BadAuth(String),
    /// A random path under the API with any method.
    RandomPath(String, usize),
    /// Odd headers (encodings, accept, expect, made-up names) on a body cut short.
    Header(String, String),
    /// The `i`-th top-level key given twice.
    RepeatedKey(usize),
    /// A control, bidi or zero-width character put into the `i`-th
    /// top-level string field, at a position.
    Unprintable(usize, usize, char),
}

/// Characters the API refuses in free text, from each of its ranges.
const UNPRINTABLE: &[char] = &[
    '\u{0}', '\u{9}', '\u{a}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{61c}', '\u{200b}',
    '\u{200f}', '\u{202a}', '\u{202e}', '\u{2060}', '\u{2064}', '\u{2066}', '\u{2069}', '\u{feff}',
];

fn scalar_of_other_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        "[a-z]{0,8}".prop_map(Value::from),
        Just(json!([1, "x"])),
        Just(json!({"zz": 1})),
        Just(Value::from(-1.5e300)),
        Just(Value::from(u64::MAX)),
    ]
}

fn break_strategy() -> impl Strategy<Value = Break> {
    prop_oneof![
        (0usize..400).prop_map(Break::Truncate),
        "zz_[a-z0-9_]{0,12}".prop_map(Break::UnknownField),
        (0usize..16, scalar_of_other_type()).prop_map(|(i, v)| Break::WrongType(i, v)),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Break::Bytes),
        prop_oneof![
            Just(json!([])),
            Just(json!(null)),
            Just(json!(17)),
            Just(json!("a string")),
            Just(json!([{"kind": "start"}]))
        ]
        .prop_map(Break::NotObject),
        proptest::option::of(prop_oneof![
            Just("text/plain".to_string()),
            Just("application/x-www-form-urlencoded".to_string()),
            Just("multipart/form-data; boundary=x".to_string()),
            Just("application/jsonx".to_string()),
            "[ -~]{0,30}".prop_map(|s| s),
        ])
        .prop_map(Break::ContentType),
        (65 * 1024usize..200 * 1024).prop_map(Break::Oversized),
        prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("007".to_string()),
            Just("99999999999999999999999".to_string()),
            Just("%00".to_string()),
            Just("%FF%FE".to_string()),
            Just("a%0Ab".to_string()),
            "[a-z]{129,140}",
            "[ -~&&[^/?#%]]{1,20}",
        ]
        .prop_map(Break::BadPath),
        prop_oneof![
            "zz[a-z]{0,5}=[a-z0-9]{0,5}",
            Just("limit=0".to_string()),
            Just("limit=501".to_string()),
            Just("limit=-1".to_string()),
            Just("limit=1e3".to_string()),
            Just("cursor=j0".to_string()),
            Just("cursor=x5".to_string()),
            Just("cursor=%FF".to_string()),
            Just("state=nope".to_string()),
            Just("kind=nope".to_string()),
            Just("machine_id=a%20b".to_string()),
            Just("month=2026-13".to_string()),
            Just("month=1".to_string()),
            Just("count=0".to_string()),
            Just("count=101".to_string()),
            Just("include_windows=yes".to_string()),
            Just("limit=5&limit=6".to_string()),
            Just("=&&=".to_string()),
            Just("%%%".to_string()),
        ]
        .prop_map(Break::BadQuery),
        prop_oneof![
            Just("Bearer wrong-token".to_string()),
            Just("Basic dXNlcjpwYXNz".to_string()),
            Just("Bearer".to_string()),
            Just("bearer  ".to_string()),
            "[ -~]{0,40}",
        ]
        .prop_map(Break::BadAuth),
        ("[a-zA-Z0-9/._~-]{0,40}", 0usize..7).prop_map(|(p, m)| Break::RandomPath(p, m)),
        (
            prop_oneof![
                Just("content-encoding".to_string()),
                Just("accept".to_string()),
                Just("accept-encoding".to_string()),
                Just("x-forwarded-for".to_string()),
                Just("range".to_string()),
                "x-[a-z]{1,10}",
            ],
            "[!-~]{0,60}"
        )
            .prop_map(|(n, v)| Break::Header(n, v)),
        (0usize..16).prop_map(Break::RepeatedKey),
        (
            0usize..16,
            0usize..16,
            proptest::sample::select(UNPRINTABLE)
        )
            .prop_map(|(i, at, c)| Break::Unprintable(i, at, c)),
    ]
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    /// A key (id or name) that exists, for routes where the break is elsewhere.
    schedule: String,
    window: String,
    job: String,
    group: String,
    /// A connection per request: the server may close a connection after
    /// answering a request whose body it did not read (a 413, a 401), and a
    /// pooled client can race that close with its next request.
    http: reqwest::Client,
}

/// Sets the value of the `i`-th field (in key order, recursing one level)
/// to `v`, where `v` is of another JSON type than the field.
fn with_wrong_type(body: &Value, i: usize, v: &Value) -> Option<Value> {
    let mut out = body.clone();
    let obj = out.as_object_mut()?;
    let keys: Vec<String> = obj.keys().cloned().collect();
    let key = &keys[i % keys.len()];
    let same_type = std::mem::discriminant(&obj[key]) == std::mem::discriminant(v);
    if same_type {
        return None;
    }
    obj.insert(key.clone(), v.clone());
    Some(out)
}

/// A request and whether an auth failure is what it is about.
struct Case {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    content_type: Option<String>,
    auth: Option<String>,
    /// One extra header.
    extra: Option<(String, String)>,
}

fn build(f: &Fixture, route: &Route, brk: &Break) -> Option<Case> {
    let key_for = |path: &str| {
        if path.contains("/overrides/")
            || path.starts_with("/v1/webhooks")
            || path.starts_with("/v1/group-runs")
        {
            "1".to_string()
        } else if path.starts_with("/v1/groups") {
            f.group.clone()
        } else if path.starts_with("/v1/jobs") {
            f.job.clone()
        } else if path.starts_with("/v1/windows") {
            f.window.clone()
        } else if path.starts_with("/v1/machines") {
            "psnothere1".to_string()
        } else {
            f.schedule.clone()
        }
    };
    let method = Method::from_bytes(route.method.as_bytes()).unwrap();
    let auth = Some(format!("Bearer {}", f.app.token.unwrap()));
    let json_ct = Some("application/json".to_string());
    let path = route.path.replace("{}", &key_for(route.path));
    let valid = route.body.map(|b| serde_json::to_vec(&b()).unwrap());
    let case = |path: String, body: Option<Vec<u8>>, ct: Option<String>| Case {
        method: method.clone(),
        path,
        body,
        content_type: ct,
        auth: auth.clone(),
        extra: None,
    };
    Some(match brk {
        Break::Truncate(n) => {
            let v = valid?;
            case(path, Some(v[..n % v.len()].to_vec()), json_ct)
        }
        Break::UnknownField(name) => {
            let mut v = (route.body?)();
            v.as_object_mut()?.insert(name.clone(), json!(1));
            case(path, Some(serde_json::to_vec(&v).unwrap()), json_ct)
        }
        Break::WrongType(i, value) => {
            let v = with_wrong_type(&(route.body?)(), *i, value)?;
            case(path, Some(serde_json::to_vec(&v).unwrap()), json_ct)
        }
        Break::Bytes(bytes) => {
            // Bytes that happen to be a valid body are not malformed.
            route.body?;
            if serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.is_object()) {
                return None;
            }
            case(path, Some(bytes.clone()), json_ct)
        }
        Break::NotObject(v) => {
            route.body?;
            case(path, Some(serde_json::to_vec(v).unwrap()), json_ct)
        }
        Break::ContentType(ct) => {
            let v = valid?;
            let is_json = ct.as_deref().is_some_and(|c| {
                c.split(';')
                    .next()
                    .unwrap()
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            });
            if is_json {
                return None;
            }
            case(path, Some(v), ct.clone())
        }
        Break::Oversized(n) => {
            route.body?;
            let mut v = (route.body.unwrap())();
            v.as_object_mut()?
                .insert("name".into(), json!("x".repeat(*n)));
            case(path, Some(serde_json::to_vec(&v).unwrap()), json_ct)
        }
        Break::BadPath(key) => {
            if !route.path.contains("{}") {
                return None;
            }
            // A canonical id or an existing name could act for real. The
            // URL parser drops spaces at the end of a URL, so `1 ` at the
            // end of a path is `1`.
            let sent = if route.path.ends_with("{}") {
                key.trim_end_matches(' ')
            } else {
                key.as_str()
            };
            let canonical_id = !sent.starts_with('0')
                && !sent.is_empty()
                && sent.len() < 19
                && sent.bytes().all(|b| b.is_ascii_digit());
            if canonical_id
                || [&f.schedule, &f.window, &f.job, &f.group]
                    .iter()
                    .any(|k| k.as_str() == sent)
            {
                return None;
            }
            let path = route.path.replace("{}", key);
            // A printable key may be a valid but unknown name: still a 4xx,
            // and with the broken body below nothing can be written.
            let body = route.body.map(|_| b"{\"zz\":".to_vec());
            case(path, body, json_ct)
        }
        Break::BadQuery(q) => {
            // Routes without query parameters refuse any (even on an
            // existing key); the others refuse these values.
            let body = route.body.map(|_| b"[".to_vec());
            case(format!("{path}?{q}"), body, json_ct)
        }
        Break::BadAuth(value) => {
            if matches!(route.path, "/healthz" | "/readyz") {
                return None;
            }
            Case {
                method: method.clone(),
                path,
                body: valid,
                content_type: json_ct,
                auth: Some(value.clone()),
                extra: None,
            }
        }
        Break::RandomPath(p, m) => {
            let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"];
            Case {
                method: Method::from_bytes(methods[*m].as_bytes()).unwrap(),
                path: format!("/v1/zz/{p}"),
                body: Some(b"{\"zz\":".to_vec()),
                content_type: json_ct,
                auth,
                extra: None,
            }
        }
        Break::Header(name, value) => {
            let v = valid?;
            let mut c = case(path, Some(v[..v.len() / 2].to_vec()), json_ct);
            c.extra = Some((name.clone(), value.clone()));
            c
        }
        Break::RepeatedKey(i) => {
            let v = (route.body?)();
            let obj = v.as_object()?;
            let (key, value) = obj.iter().nth(i % obj.len())?;
            // `{…the body…, "key": value}`: the same key and value again.
            let mut text = serde_json::to_string(&v).unwrap();
            text.pop();
            text.push_str(&format!(",{}:{}}}", json!(key), value));
            case(path, Some(text.into_bytes()), json_ct)
        }
        Break::Unprintable(i, at, c) => {
            let mut v = (route.body?)();
            let obj = v.as_object_mut()?;
            let strings: Vec<String> = obj
                .iter()
                .filter(|(_, v)| v.is_string())
                .map(|(k, _)| k.clone())
                .collect();
            let key = strings.get(i % strings.len().max(1))?;
            let mut s: Vec<char> = obj[key].as_str()?.chars().collect();
            s.insert(at % (s.len() + 1), *c);
            obj.insert(key.clone(), Value::from(s.into_iter().collect::<String>()));
            case(path, Some(serde_json::to_vec(&v).unwrap()), json_ct)
        }
    })
}

/// Every table's rows, in order, as text.
async fn snapshot(db: &std::path::Path) -> String {
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = String::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}')"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        let concat = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join("||','||");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {concat} FROM \"{table}\" ORDER BY 1"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        out.push_str(&format!(
            "{table}: {} rows\n{}\n",
            rows.len(),
            rows.join("\n")
        ));
    }
    out
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (app, schedule, window, job, group) = rt.block_on(async {
            let app = spawn_app(AppOptions::default()).await;
            // Something of everything, none of it able to fire during the test.
            let done = app.run(json!({"kind": "refresh"})).await;
            let mut s = schedule();
            s["enabled"] = json!(false);
            let (st, created) = app.post("/v1/schedules", s).await;
            assert!(st.is_success(), "{created}");
            let mut w = window();
            w["enabled"] = json!(false);
            let (st, win) = app.post("/v1/windows", w).await;
            assert!(st.is_success(), "{win}");
            let (st, o) = app.post("/v1/windows/fzw/overrides", override_()).await;
            assert!(st.is_success(), "{o}");
            let (st, hook) = app.post("/v1/webhooks", webhook()).await;
            assert!(st.is_success(), "{hook}");
            assert_eq!(hook["endpoint"]["id"], 1);
            let (st, g) = app
                .post(
                    "/v1/groups",
                    json!({"name": "fzg", "stages": [{"name": "one", "machine_ids": ["ps1"]}]}),
                )
                .await;
            assert!(st.is_success(), "{g}");
            (
                app,
                created["name"].as_str().unwrap().to_string(),
                win["name"].as_str().unwrap().to_string(),
                done["id"].to_string(),
                g["name"].as_str().unwrap().to_string(),
            )
        });
        Fixture {
            rt,
            app,
            schedule,
            window,
            job,
            group,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    })
}

#[test]
fn malformed_requests_get_4xx_and_change_nothing() {
    let f = fixture();
    let db = f.app.store().path().to_path_buf();
    let before = f.rt.block_on(snapshot(&db));
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let sent = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&(0..ROUTES.len(), break_strategy()), |(route, brk)| {
            // A break that does not fit the drawn route (a body break on a
            // route without one) goes to the next route it fits.
            let Some((route, case)) = (0..ROUTES.len())
                .map(|i| &ROUTES[(route + i) % ROUTES.len()])
                .find_map(|r| build(f, r, &brk).map(|c| (r, c)))
            else {
                return Ok(());
            };
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (status, body) = f.rt.block_on(async {
                let mut req = f
                    .http
                    .request(case.method.clone(), format!("{}{}", f.app.url, case.path));
                if let Some(ct) = &case.content_type {
                    req = req.header("content-type", ct.as_bytes());
                }
                if let Some(a) = &case.auth {
                    req = req.header("authorization", a.as_bytes());
                }
                if let Some((n, v)) = &case.extra {
                    req = req.header(n.as_str(), v.as_bytes());
                }
                if let Some(b) = &case.body {
                    req = req.body(b.clone());
                }
                let resp = req.send().await.unwrap();
                let status = resp.status();
                (status, resp.bytes().await.unwrap())
            });
            let what = format!("{} {} ({brk:?})", case.method, case.path);
            let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            // The open GET routes without input to break answer 200.
            let open_ok = status.is_success()
                && route.method == "GET"
                && !matches!(
                    brk,
                    Break::BadQuery(_) | Break::BadPath(_) | Break::RandomPath(..)
                );
            prop_assert!(
                status.is_client_error() || open_ok,
                "{what} → {status} {}",
                String::from_utf8_lossy(&body)
            );
            if status.is_client_error() {
                prop_assert!(
                    error["error"]["code"].is_string() && error["error"]["message"].is_string(),
                    "{what} → {status} not the error shape: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            // A repeated key is named, whatever else the body holds.
            if let Break::RepeatedKey(_) = brk {
                prop_assert!(
                    status == reqwest::StatusCode::BAD_REQUEST
                        && error["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("more than once")),
                    "{what} → {status} {}",
                    String::from_utf8_lossy(&body)
                );
            }
            Ok(())
        })
        .unwrap();
    let after = f.rt.block_on(snapshot(&db));
    assert!(
        sent.load(std::sync::atomic::Ordering::Relaxed) as u32 > cases * 9 / 10,
        "too few cases were applicable"
    );
    assert_eq!(before, after, "the database changed");
}
