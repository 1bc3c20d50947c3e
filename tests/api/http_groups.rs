//! Job dependencies, batches, machine groups and group runs over the admin
//! API, against a running daemon and the simulator (transitions of 80 ms;
//! the seeded account has three machines `off` and three `ready`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Answering, AppOptions, spawn_app, until_committed};

async fn start() -> Answering {
    Answering(spawn_app(AppOptions::default()).await)
}

impl Answering {
    async fn patch(&self, path: &str, body: Value) -> crate::harness::Answer {
        self.raw(Method::PATCH, path, body.to_string()).await
    }

    /// Waits until run `id` is no longer running (read after each commit,
    /// at most 30 s); its view.
    async fn run_done(&self, id: i64) -> Value {
        until_committed(self.store(), Duration::from_secs(30), || async move {
            let view = self
                .get(&format!("/v1/group-runs/{id}"))
                .await
                .expect(StatusCode::OK);
            if view["state"] == "running" {
                Err(format!("run {id} is still running: {view}"))
            } else {
                Ok(view)
            }
        })
        .await
    }
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// When a job (with its events) first went running.
fn started(job: &Value) -> DateTime<Utc> {
    let event = job["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_state"] == "running")
        .unwrap_or_else(|| panic!("never ran: {job}"));
    at(&event["at"])
}

/// `(stage, action, state)` of each step of a run view.
fn steps(view: &Value) -> Vec<(String, String, String)> {
    view["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_job_with_a_dependency_waits_blocked_then_runs_after_it() {
    let app = start().await;
    let off = app.machines_in("off").await[0].clone();
    // Due in a second, so that what depends on it is surely still blocked.
    let first = app
        .post_json(
            "/v1/jobs",
            json!({"kind": "start", "machine_id": off, "delay_seconds": 1}),
        )
        .await
        .expect(StatusCode::CREATED);
    let first_id = first["id"].as_i64().unwrap();
    let second = app
        .post_json(
            "/v1/jobs",
            json!({"kind": "stop", "machine_id": off, "depends_on": [first_id], "on_dependency_failure": "run"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(second["state"], "blocked", "{second}");
    assert_eq!(second["depends_on"], json!([first_id]), "{second}");
    assert_eq!(second["on_dependency_failure"], "run", "{second}");
    let second_id = second["id"].as_i64().unwrap();

    let blocked = app
        .get("/v1/jobs?state=blocked")
        .await
        .expect(StatusCode::OK);
    let ids: Vec<i64> = blocked["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second_id], "{blocked}");

    let first = app.finished(first_id).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    let second = app.finished(second_id).await;
    assert_eq!(second["state"], "succeeded", "{second}");
    // It ran only once the start had succeeded.
    assert!(started(&second) >= at(&first["finished_at"]), "{second}");
    assert!(app.machines_in("off").await.contains(&off));
}

#[tokio::test]
async fn an_unknown_dependency_is_a_422_naming_its_place() {
    let app = start().await;
    let done = app.run(json!({"kind": "refresh"})).await;
    let known = done["id"].as_i64().unwrap();
    let refused = app
        .post_json(
            "/v1/jobs",
            json!({"kind": "refresh", "depends_on": [known, 987654]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.error(),
        ("invalid_job".to_string(), Some("depends_on[1]".to_string()))
    );
    assert!(refused.message().contains("987654"), "{}", refused.body);
    // In a batch, by the job's place in the request too.
    let refused = app
        .post_json(
            "/v1/jobs/batch",
            json!({"jobs": [{"kind": "refresh"}, {"kind": "refresh", "depends_on": [987654]}]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.field().as_deref(), Some("jobs[1].depends_on[0]"));
    // Nothing of either was stored.
    assert_eq!(app.job_count().await, 1);
}

#[tokio::test]
async fn a_batch_is_answered_in_request_order_with_its_refs() {
    let app = start().await;
    // The first job depends on the second: stored second first.
    let answer = app
        .post_json(
            "/v1/jobs/batch",
            json!({"jobs": [
                {"kind": "refresh", "ref": "after", "depends_on": ["before"]},
                {"kind": "refresh", "ref": "before", "priority": 5},
                {"kind": "refresh"},
            ]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let jobs = answer["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    let (after, before) = (
        answer["refs"]["after"].as_i64().unwrap(),
        answer["refs"]["before"].as_i64().unwrap(),
    );
    assert_eq!(answer["refs"].as_object().unwrap().len(), 2, "{answer}");
    assert!(before < after, "a dependency is the older job: {answer}");
    assert_eq!(jobs[0]["id"], after);
    assert_eq!(jobs[0]["depends_on"], json!([before]));
    assert_eq!(jobs[1]["id"], before);
    assert_eq!(jobs[1]["priority"], 5);
    let last = app.finished(after).await;
    assert_eq!(last["state"], "succeeded", "{last}");
}

#[tokio::test]
async fn a_batch_with_a_cycle_or_a_bad_ref_is_refused_whole() {
    let app = start().await;
    let cycle = app
        .post_json(
            "/v1/jobs/batch",
            json!({"jobs": [
                {"kind": "refresh", "ref": "a", "depends_on": ["b"]},
                {"kind": "refresh", "ref": "b", "depends_on": ["a"]},
            ]}),
        )
        .await;
    assert_eq!(cycle.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(cycle.error().0, "invalid_job");
    let message = cycle.message();
    assert!(
        message.contains("a → b → a") || message.contains("b → a → b"),
        "{message}"
    );
    let unknown = app
        .post_json(
            "/v1/jobs/batch",
            json!({"jobs": [{"kind": "refresh", "depends_on": ["nobody"]}]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.field().as_deref(), Some("jobs[0].depends_on[0]"));
    // A ref outside a batch, and an empty batch.
    let single = app
        .post_json("/v1/jobs", json!({"kind": "refresh", "ref": "a"}))
        .await;
    assert_eq!(single.field().as_deref(), Some("ref"));
    let empty = app.post_json("/v1/jobs/batch", json!({"jobs": []})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.field().as_deref(), Some("jobs"));
    assert_eq!(app.job_count().await, 0);
    // `batch` is no job id.
    let get = app.get("/v1/jobs/batch").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED, "{}", get.body);
}

fn shop(ids: &[String]) -> Value {
    json!({"name": "shop", "stages": [
        {"name": "db", "machine_ids": [ids[0]]},
        {"name": "app", "machine_ids": [ids[1]]},
        {"name": "web", "machine_ids": [ids[2]]},
    ]})
}

#[tokio::test]
async fn groups_are_created_listed_changed_and_deleted() {
    let app = start().await;
    let ids = vec!["psA".to_string(), "psB".to_string(), "psC".to_string()];
    let created = app
        .post_json("/v1/groups", shop(&ids))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created["name"], "shop");
    assert_eq!(created["stages"][2]["name"], "web");
    let taken = app.post_json("/v1/groups", shop(&ids)).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.field().as_deref(), Some("name"));
    let mut other = shop(&ids);
    other["name"] = json!("other");
    app.post_json("/v1/groups", other)
        .await
        .expect(StatusCode::CREATED);

    // Refused specs, by field.
    let invalid = app
        .post_json(
            "/v1/groups",
            json!({"name": "x", "stages": [{"name": "a", "machine_ids": ["psA"]}, {"name": "a", "machine_ids": ["psB"]}]}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        invalid.error(),
        (
            "invalid_group".to_string(),
            Some("stages[1].name".to_string())
        )
    );

    let list = app.get("/v1/groups").await.expect(StatusCode::OK);
    let names: Vec<&str> = list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other", "shop"]);
    let shown = app.get("/v1/groups/shop").await.expect(StatusCode::OK);
    assert_eq!(shown["id"], created["id"]);
    assert_eq!(shown["recent_runs"], json!([]));
    assert_eq!(
        app.get("/v1/groups/nope").await.status,
        StatusCode::NOT_FOUND
    );
    let bad = app.get("/v1/groups/a%20b").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.field().as_deref(), Some("name"));

    // Changes: a rename onto another group's name is a 409 saying why.
    let clash = app.patch("/v1/groups/shop", json!({"name": "other"})).await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert!(
        clash.message().contains("another group has that name"),
        "{}",
        clash.body
    );
    assert_eq!(
        app.patch("/v1/groups/nope", json!({"name": "x"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let empty = app.patch("/v1/groups/shop", json!({})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let changed = app
        .patch(
            "/v1/groups/shop",
            json!({"name": "store", "stages": [{"name": "all", "machine_ids": ["psA", "psB"]}]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["name"], "store");
    assert_eq!(changed["stages"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/v1/groups/shop").await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        app.delete("/v1/groups/store").await.status,
        StatusCode::NO_CONTENT
    );
    let gone = app.delete("/v1/groups/store").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.field().as_deref(), Some("name"));
}

#[tokio::test]
async fn a_group_starts_stage_by_stage_stops_in_reverse_and_a_success_is_not_resumed() {
    let app = start().await;
    let off = app.machines_in("off").await;
    assert_eq!(off.len(), 3);
    app.post_json("/v1/groups", shop(&off))
        .await
        .expect(StatusCode::CREATED);

    let run = app
        .post_json("/v1/groups/shop/runs", json!({"action": "start"}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(run["group"], "shop");
    assert_eq!(run["action"], "start");
    assert_eq!(run["wait"], "ready");
    let id = run["id"].as_i64().unwrap();
    // The later stages wait for the earlier ones.
    assert_eq!(run["progress"][2]["state"], "blocked", "{run}");
    let done = app.run_done(id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["steps_done"], 3);
    let s = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string(), "succeeded".to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        steps(&done),
        s(&[("db", "start"), ("app", "start"), ("web", "start")])
    );
    // Each stage's job ran after the one before it had finished.
    let job = |step: usize| {
        done["progress"][step]["jobs"][0]["job_id"]
            .as_i64()
            .unwrap()
    };
    for step in 1..3 {
        let (before, after) = (app.job(job(step - 1)).await, app.job(job(step)).await);
        assert_eq!(after["depends_on"], json!([before["id"]]));
        assert_eq!(after["group_run"], id);
        assert_eq!(after["group_step"], step);
        assert!(started(&after) >= at(&before["finished_at"]), "{after}");
    }
    let mut ready = app.machines_in("ready").await;
    ready.retain(|m| off.contains(m));
    assert_eq!(ready.len(), 3);

    // A run that succeeded has nothing to resume.
    let resume = app.post(&format!("/v1/group-runs/{id}/resume")).await;
    assert_eq!(resume.status, StatusCode::CONFLICT);
    assert!(resume.message().contains("succeeded"), "{}", resume.body);
    assert_eq!(
        app.post("/v1/group-runs/424242/resume").await.status,
        StatusCode::NOT_FOUND
    );

    let stop = app
        .post_json("/v1/groups/shop/runs", json!({"action": "stop"}))
        .await
        .expect(StatusCode::CREATED);
    let stopped = app.run_done(stop["id"].as_i64().unwrap()).await;
    assert_eq!(stopped["state"], "succeeded", "{stopped}");
    assert_eq!(
        steps(&stopped),
        s(&[("web", "stop"), ("app", "stop"), ("db", "stop")])
    );
    let mut still_off = app.machines_in("off").await;
    still_off.retain(|m| off.contains(m));
    assert_eq!(still_off.len(), 3);

    // Listed newest first, by page, and on the group's page.
    let page = app
        .get("/v1/group-runs?group=shop&limit=1")
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["runs"][0]["id"], stop["id"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let next = app
        .get(&format!("/v1/group-runs?limit=1&cursor={cursor}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(next["runs"][0]["id"], id);
    assert_eq!(next["next_cursor"], Value::Null);
    let none = app
        .get("/v1/group-runs?group=other")
        .await
        .expect(StatusCode::OK);
    assert_eq!(none["runs"], json!([]));
    let group = app.get("/v1/groups/shop").await.expect(StatusCode::OK);
    let recent: Vec<&Value> = group["recent_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(recent, [&stop["id"], &run["id"]]);

    // Refused runs.
    let bad = app
        .post_json("/v1/groups/shop/runs", json!({"action": "reboot"}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.error(),
        ("invalid_group".to_string(), Some("action".to_string()))
    );
    assert_eq!(
        app.post_json("/v1/groups/nope/runs", json!({"action": "start"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/group-runs/424242").await.status,
        StatusCode::NOT_FOUND
    );
    let cursor = app.get("/v1/group-runs?cursor=j4").await;
    assert_eq!(cursor.field().as_deref(), Some("cursor"));
}

#[tokio::test]
async fn a_group_whose_selectors_match_nothing_is_not_run() {
    let app = start().await;
    app.post_json(
        "/v1/groups",
        json!({"name": "ghosts", "stages": [{"name": "all", "selector": {"name": "no-such-*"}}]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let refused = app
        .post_json("/v1/groups/ghosts/runs", json!({"action": "start"}))
        .await;
    // A conflict with the machines known now, not a bad request.
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.field().as_deref(), Some("stages"));
    assert!(
        refused
            .message()
            .contains("no machine of group `ghosts` matched"),
        "{}",
        refused.body
    );
    assert_eq!(app.job_count().await, 0);
}
