//! The OpenAPI document is valid OpenAPI 3 and matches the router: the same
//! paths, and on each path the same methods (asked of the running daemon).

use std::collections::BTreeSet;

use crate::harness::{AppOptions, TestApp, spawn_app};
use machinist::http::OPENAPI_PATH;
use machinist::http::routes::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The paths the router registers, read from its source: its only `.route(`
/// call registers each route of the table, so they are the table's paths.
fn router_paths() -> BTreeSet<String> {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/mod.rs")).unwrap();
    let calls: Vec<&str> = source
        .split(".route(")
        .skip(1)
        .map(|call| call.split(')').next().unwrap())
        .collect();
    assert_eq!(
        calls,
        ["route.path, handler(route"],
        "the router registers routes other than the table's"
    );
    assert!(source.contains("for route in routes::ROUTES {"));
    // The one exception: the dashboard's pages, all under `/ui`, which are
    // HTML for browsers and not part of the API or its document.
    assert_eq!(source.matches(".merge(").count(), 1);
    assert!(source.contains(".merge(ui::router())"));
    for other in [".nest(", ".nest_service(", ".route_service("] {
        assert!(!source.contains(other), "the router adds routes by {other}");
    }
    for path in dashboard_paths() {
        assert!(
            path == "/ui" || path.starts_with("/ui/"),
            "{path} is outside /ui"
        );
    }
    ROUTES.iter().map(|r| r.path.to_string()).collect()
}

/// The paths the dashboard registers, read from its sources.
fn dashboard_paths() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/ui");
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in source.split(".route(").skip(1) {
            let path = call.trim_start().split('"').nth(1).unwrap();
            paths.push(path.to_string());
        }
    }
    assert!(!paths.is_empty());
    paths
}

fn concrete(template: &str) -> String {
    template
        .replace("/v1/machines/{id}", "/v1/machines/psnothere1")
        .replace("{id}", "424242")
        .replace("{key}", "no-such-key")
}

#[tokio::test]
async fn the_document_is_openapi_3_and_matches_the_router() {
    let app = spawn_app(AppOptions::default()).await;
    let (status, doc) = app.get(OPENAPI_PATH).await;
    assert_eq!(status, StatusCode::OK);
    let parsed: openapiv3::OpenAPI = serde_json::from_value(doc.clone()).expect("valid OpenAPI 3");
    assert!(parsed.openapi.starts_with("3.0"));
    let components = parsed.components.as_ref().unwrap();
    assert!(components.schemas.contains_key("Error"));

    // Every operation documents the one error shape and its body, if any.
    let doc_paths: BTreeSet<String> = parsed.paths.paths.keys().cloned().collect();
    assert_eq!(
        doc_paths,
        router_paths(),
        "paths in the document vs the router"
    );
    for (path, item) in &parsed.paths.paths {
        let item = item.as_item().unwrap();
        for (method, op) in item.iter() {
            for status in ["405", "500", "503"] {
                assert!(
                    op.responses
                        .responses
                        .contains_key(&openapiv3::StatusCode::Code(status.parse().unwrap())),
                    "{method} {path} lacks {status}"
                );
            }
            assert!(op.operation_id.is_some());
        }
    }

    // Per path, the methods the router answers are those documented.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let documented: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for method in METHODS {
            let (routed, status, body) = probe(&app, method, path).await;
            assert_eq!(
                routed,
                documented.contains(method),
                "{method} {path}: router said {status} {body}"
            );
            assert!(status.as_u16() < 500, "{method} {path}: {status} {body}");
        }
    }

    // Real answers have the documented fields: every required one, and no
    // field a closed schema does not list.
    let refresh = app.run(serde_json::json!({"kind": "refresh"})).await;
    let (_, machines) = app.get("/v1/machines").await;
    let (_, created) = app
        .post(
            "/v1/schedules",
            serde_json::json!({"name": "n", "cron": "0 9 * * *", "template": {"kind": "refresh"}}),
        )
        .await;
    let (_, missing) = app.get("/v1/jobs/999999").await;
    let mut job = refresh.clone();
    job.as_object_mut().unwrap().remove("events");
    let schemas = &doc["components"]["schemas"];
    for (name, value) in [
        ("Job", job),
        ("JobEvent", refresh["events"][0].clone()),
        ("Machine", machines["machines"][0].clone()),
        ("Schedule", created),
        ("Error", missing),
    ] {
        let schema = &schemas[name];
        let props = schema["properties"].as_object().unwrap();
        for required in schema["required"].as_array().into_iter().flatten() {
            assert!(
                value.get(required.as_str().unwrap()).is_some(),
                "{name} lacks {required}: {value}"
            );
        }
        if schema["additionalProperties"] != Value::Bool(true) {
            for key in value.as_object().unwrap().keys() {
                assert!(
                    props.contains_key(key),
                    "{name} has undocumented {key}: {value}"
                );
            }
        }
    }

    // A path in neither is a JSON 404.
    let (status, body) = app.get("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

/// Sends `method` to the route template `path` (made concrete), with the
/// token and a JSON body no route accepts: whether the router routed it
/// (neither its own 404 `no route …` nor 405), and the answer.
async fn probe(app: &TestApp, method: &str, path: &str) -> (bool, StatusCode, Value) {
    let url = format!("{}{}", app.url, concrete(path));
    let resp = app
        .http
        .request(
            Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            &url,
        )
        .bearer_auth(app.token.unwrap())
        .header("content-type", "application/json")
        .body("{\"zz_unknown_field\":1}")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let routed = status != StatusCode::METHOD_NOT_ALLOWED
        && !(status == StatusCode::NOT_FOUND
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no route")));
    (routed, status, body)
}

/// Every route of the table reaches a handler: the router's own 404 (`no
/// route …`) and 405 never answer a route's method on its path.
#[tokio::test]
async fn every_route_in_the_table_is_routed() {
    let app = spawn_app(AppOptions::default()).await;
    for route in ROUTES {
        let (routed, status, body) = probe(&app, route.method.as_str(), route.path).await;
        assert!(
            routed,
            "{} {}: {status} {body}",
            route.method.as_str(),
            route.path
        );
    }
}

/// Every object schema reachable from `schema` (through `$ref`s into
/// `schemas`), with the path it was reached by.
fn objects<'a>(
    schema: &'a Value,
    schemas: &'a Value,
    at: String,
    out: &mut Vec<(String, &'a Value)>,
) {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/");
        return objects(&schemas[name], schemas, format!("{at}→{name}"), out);
    }
    if schema.get("properties").is_some() {
        out.push((at.clone(), schema));
    }
    for (key, value) in schema["properties"].as_object().into_iter().flatten() {
        objects(value, schemas, format!("{at}.{key}"), out);
    }
    for list in ["oneOf", "allOf", "anyOf"] {
        for (i, value) in schema[list].as_array().into_iter().flatten().enumerate() {
            objects(value, schemas, format!("{at}[{list} {i}]"), out);
        }
    }
    if schema.get("items").is_some() {
        objects(&schema["items"], schemas, format!("{at}[]"), out);
    }
}

/// The document states what the server enforces: every request object is
/// closed, every parameter is bounded, and at each stated bound the server
/// accepts the value on the bound and refuses the one past it.
#[tokio::test]
async fn the_documents_constraints_are_the_servers() {
    let app = spawn_app(AppOptions::default()).await;
    let (_, doc) = app.get(OPENAPI_PATH).await;
    let schemas = &doc["components"]["schemas"];

    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // Request bodies refuse unknown fields, and say so.
            if let Some(body) = op["requestBody"]["content"]["application/json"].get("schema") {
                let mut found = Vec::new();
                objects(body, schemas, format!("{method} {path}"), &mut found);
                assert!(!found.is_empty(), "{method} {path}: no object body");
                for (at, object) in found {
                    assert_eq!(
                        object["additionalProperties"],
                        Value::Bool(false),
                        "{at} is not closed"
                    );
                }
            }
            // Every parameter is bounded beyond its type.
            for param in op["parameters"].as_array().unwrap() {
                let schema = &param["schema"];
                let bounded = match schema["type"].as_str().unwrap() {
                    "integer" => schema.get("minimum").is_some() && schema.get("maximum").is_some(),
                    "string" => schema.get("pattern").is_some() || schema.get("enum").is_some(),
                    "boolean" => true,
                    other => panic!("{method} {path}: parameter type {other}"),
                };
                assert!(bounded, "{method} {path}: {param} states no bounds");
            }
            // Every route documents 400 (a stray query string) and 408.
            for status in ["400", "408"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }

    // The hours of a window are spelled out, with its zone from the known list.
    let hours = &schemas["WindowRequest"]["properties"]["hours"];
    for field in ["days", "start", "end", "zone"] {
        assert!(
            hours["properties"].get(field).is_some(),
            "hours.{field}: {hours}"
        );
    }
    assert!(
        schemas["TimeZone"]["enum"]
            .as_array()
            .unwrap()
            .contains(&Value::from("Europe/Amsterdam"))
    );
    // Free text refuses the invisible characters, by one shared pattern.
    let create_name = &schemas["JobRequest_create"]["properties"]["args"]["properties"]["name"];
    let key = &schemas["JobRequest_create"]["properties"]["idempotency_key"];
    for pattern in [&create_name["pattern"], &key["pattern"]] {
        let pattern = pattern.as_str().unwrap();
        assert!(
            pattern.contains(r"\u202a-\u202e") && pattern.contains(r"\u0000-\u001f"),
            "{pattern}"
        );
    }

    // A number's bounds, tried on the server at and past each end.
    let refresh = &schemas["JobRequest_refresh"]["properties"];
    for field in ["priority", "max_attempts", "delay_seconds"] {
        let (min, max) = (
            refresh[field]["minimum"].as_i64().unwrap(),
            refresh[field]["maximum"].as_i64().unwrap(),
        );
        for (value, accepted) in [(min, true), (max, true), (min - 1, false), (max + 1, false)] {
            let (status, body) = app
                .post(
                    "/v1/jobs",
                    serde_json::json!({"kind": "refresh", field: value}),
                )
                .await;
            if accepted {
                assert_eq!(status, StatusCode::CREATED, "{field}={value}: {body}");
            } else {
                assert!(status.is_client_error(), "{field}={value}: {status} {body}");
                assert_eq!(body["error"]["field"], field, "{body}");
            }
        }
    }
    let jobs = &doc["paths"]["/v1/jobs"]["get"]["parameters"];
    let limit = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    let (min, max) = (
        limit["schema"]["minimum"].as_i64().unwrap(),
        limit["schema"]["maximum"].as_i64().unwrap(),
    );
    for (value, accepted) in [(min, true), (max, true), (min - 1, false), (max + 1, false)] {
        let (status, body) = app.get(&format!("/v1/jobs?limit={value}")).await;
        assert_eq!(
            status == StatusCode::OK,
            accepted,
            "limit={value}: {status} {body}"
        );
    }
    let count = &schemas["PreviewRequest"]["properties"]["count"];
    let (min, max) = (
        count["minimum"].as_i64().unwrap(),
        count["maximum"].as_i64().unwrap(),
    );
    for (value, accepted) in [(min, true), (max, true), (min - 1, false), (max + 1, false)] {
        let (status, body) = app
            .post(
                "/v1/schedules/preview",
                serde_json::json!({"cron": "@daily", "count": value}),
            )
            .await;
        assert_eq!(
            status == StatusCode::OK,
            accepted,
            "count={value}: {status} {body}"
        );
    }
    // An override's `hours` is any number above 0: the least of them still
    // ends in the future.
    let (status, body) = app
        .post(
            "/v1/windows",
            serde_json::json!({"name": "w", "hours": {"days": ["mon"], "start": "09:00", "end": "18:00", "zone": "UTC"}, "targets": {"machine_ids": ["ps1"]}, "allow_unknown": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hours = &schemas["OverrideRequest"]["properties"]["hours"];
    assert_eq!(
        (
            hours["minimum"].as_f64(),
            hours["exclusiveMinimum"].as_bool()
        ),
        (Some(0.0), Some(true))
    );
    let (status, body) = app
        .post(
            "/v1/windows/w/overrides",
            serde_json::json!({"machine_id": "ps1", "mode": "keep_on", "hours": 1e-9, "allow_unknown": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A name of 128 characters is within the stated length even when each
    // takes four bytes; one more is not.
    let name = &schemas["WindowRequest"]["properties"]["name"];
    let max = name["maxLength"].as_u64().unwrap() as usize;
    for (length, accepted) in [(max, true), (max + 1, false)] {
        let (status, body) = app
            .post(
                "/v1/schedules",
                serde_json::json!({"name": "𝄞".repeat(length), "cron": "@daily", "template": {"kind": "refresh"}}),
            )
            .await;
        assert_eq!(
            status == StatusCode::CREATED,
            accepted,
            "{length} characters: {status} {body}"
        );
    }
}

/// `GET /` is an index of the API built from the route table, behind the
/// token like the document it links to.
#[tokio::test]
async fn the_root_is_an_index_of_the_routes() {
    let app = spawn_app(AppOptions::default()).await;
    let (status, index) = app.get("/").await;
    assert_eq!(status, StatusCode::OK, "{index}");
    assert_eq!(index["name"], "machinist");
    assert_eq!(index["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(index["openapi"], OPENAPI_PATH);
    assert_eq!(index["health"], "/healthz");
    assert_eq!(index["ready"], "/readyz");
    let routes = index["routes"].as_array().unwrap();
    assert_eq!(routes.len(), ROUTES.len());
    for (listed, route) in routes.iter().zip(ROUTES) {
        assert_eq!(listed["method"], route.method.as_str());
        assert_eq!(listed["path"], route.path);
        assert_eq!(listed["summary"], route.summary);
    }
    assert!(
        routes
            .iter()
            .any(|r| r["method"] == "POST" && r["path"] == "/v1/jobs"),
        "{index}"
    );

    let resp = app.http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
