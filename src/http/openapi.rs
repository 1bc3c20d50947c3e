//! `GET /openapi.json`: the OpenAPI 3.0 document of the admin API, built
//! from [`OPERATIONS`], the one table of every route with its parameters,
//! body, answers and errors.
//!
//! The router in [`super::router`] and this table are kept together by a
//! test (tests/http_openapi.rs) that asks the running router, for every path
//! in the document and every method, whether it answers or says 405, and
//! compares that with the document; so neither can gain a route alone.

use axum::Json;
use serde_json::{Map, Value, json};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

/// One parameter of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    /// JSON Schema type: `string`, `integer` or `boolean`.
    pub kind: &'static str,
    pub description: &'static str,
}

/// One route and method.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    /// OpenAPI path template, `{name}` for path parameters (as axum writes them).
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub params: &'static [Param],
    /// Schema name of the JSON request body, if any.
    pub body: Option<&'static str>,
    /// Success status and schema name (`None`: no body; `text`: plain text).
    pub ok: (u16, Option<&'static str>),
    /// Error statuses besides 401/413/415/503/500, which any route may give.
    pub errors: &'static [u16],
    /// False for the routes open without a token.
    pub auth: bool,
}

const fn q(name: &'static str, kind: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        kind,
        description,
    }
}

const fn p(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Path,
        kind: "string",
        description,
    }
}

const JOB_ID: Param = p("id", "A job id: a positive whole number.");
const KEY: Param = p(
    "key",
    "An id (a positive number) or a name (1 to 128 characters, never a number).",
);
const LIMIT: Param = q("limit", "integer", "Page size, 1 to 500 (default 50).");
const COUNT: Param = q("count", "integer", "Fire times, 1 to 100 (default 10).");
const MONTH: Param = q("month", "string", "The month, `YYYY-MM`.");

/// Every route of the admin API.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/healthz",
        summary: "The process is alive",
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("Health")),
        errors: &[],
        auth: false,
    },
    Operation {
        method: "get",
        path: "/readyz",
        summary: "Database reachable, migrations applied, Paperspace answered recently",
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("Readiness")),
        errors: &[400],
        auth: false,
    },
    Operation {
        method: "get",
        path: METRICS_PATH,
        summary: "Prometheus metrics (text format 0.0.4)",
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("text")),
        errors: &[400],
        auth: true,
    },
    Operation {
        method: "get",
        path: OPENAPI_PATH,
        summary: "This document",
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("OpenApiDocument")),
        errors: &[],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/jobs",
        summary: "Submit a job (200 with the existing job when its idempotency_key matched)",
        tag: "jobs",
        params: &[],
        body: Some("JobRequest"),
        ok: (201, Some("Job")),
        errors: &[400, 422],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/jobs",
        summary: "List jobs, newest first",
        tag: "jobs",
        params: &[
            q(
                "state",
                "string",
                "queued, running, waiting, succeeded, failed or cancelled.",
            ),
            q("kind", "string", "A job kind."),
            q("machine_id", "string", "A Paperspace machine id."),
            LIMIT,
            q("cursor", "string", "`next_cursor` of the previous page."),
        ],
        body: None,
        ok: (200, Some("JobPage")),
        errors: &[400],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/jobs/{id}",
        summary: "A job with its events",
        tag: "jobs",
        params: &[JOB_ID],
        body: None,
        ok: (200, Some("JobDetail")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/jobs/{id}/cancel",
        summary: "Cancel a job that has not finished",
        tag: "jobs",
        params: &[JOB_ID],
        body: None,
        ok: (200, Some("Job")),
        errors: &[400, 404, 409],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/jobs/{id}/retry",
        summary: "Re-queue a failed job",
        tag: "jobs",
        params: &[JOB_ID],
        body: None,
        ok: (200, Some("Job")),
        errors: &[400, 404, 409],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/history",
        summary: "Every job's events, newest first",
        tag: "jobs",
        params: &[
            q("machine_id", "string", "A Paperspace machine id."),
            LIMIT,
            q("cursor", "string", "`next_cursor` of the previous page."),
        ],
        body: None,
        ok: (200, Some("HistoryPage")),
        errors: &[400],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/machines",
        summary: "Every machine seen, with when",
        tag: "machines",
        params: &[],
        body: None,
        ok: (200, Some("MachineList")),
        errors: &[400],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/machines/{id}",
        summary: "A machine with its recent jobs and the schedules aimed at it",
        tag: "machines",
        params: &[p("id", "A Paperspace machine id.")],
        body: None,
        ok: (200, Some("MachineDetail")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/schedules",
        summary: "Create a schedule",
        tag: "schedules",
        params: &[],
        body: Some("ScheduleSpec"),
        ok: (201, Some("Schedule")),
        errors: &[400, 409, 422],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/schedules",
        summary: "List schedules by name",
        tag: "schedules",
        params: &[q(
            "include_windows",
            "boolean",
            "Include window edges (default false).",
        )],
        body: None,
        ok: (200, Some("ScheduleList")),
        errors: &[400],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/schedules/preview",
        summary: "Fire times of an expression; nothing stored",
        tag: "schedules",
        params: &[],
        body: Some("PreviewRequest"),
        ok: (200, Some("FireTimes")),
        errors: &[400, 422],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/schedules/preview",
        summary: "The schedule named `preview`",
        tag: "schedules",
        params: &[],
        body: None,
        ok: (200, Some("ScheduleDetail")),
        errors: &[404],
        auth: true,
    },
    Operation {
        method: "put",
        path: "/v1/schedules/preview",
        summary: "Replace the schedule named `preview`",
        tag: "schedules",
        params: &[],
        body: Some("ScheduleSpec"),
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409, 422],
        auth: true,
    },
    Operation {
        method: "delete",
        path: "/v1/schedules/preview",
        summary: "Delete the schedule named `preview`",
        tag: "schedules",
        params: &[],
        body: None,
        ok: (204, None),
        errors: &[404, 409],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/schedules/{key}",
        summary: "A schedule with its next fire times and recent firings",
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (200, Some("ScheduleDetail")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "put",
        path: "/v1/schedules/{key}",
        summary: "Replace a schedule",
        tag: "schedules",
        params: &[KEY],
        body: Some("ScheduleSpec"),
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409, 422],
        auth: true,
    },
    Operation {
        method: "delete",
        path: "/v1/schedules/{key}",
        summary: "Delete a schedule",
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (204, None),
        errors: &[400, 404, 409],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/schedules/{key}/pause",
        summary: "Pause a schedule",
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/schedules/{key}/resume",
        summary: "Resume a schedule",
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/schedules/{key}/preview",
        summary: "A schedule's next fire times",
        tag: "schedules",
        params: &[KEY, COUNT],
        body: None,
        ok: (200, Some("FireTimes")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/windows",
        summary: "Create an office-hours window",
        tag: "windows",
        params: &[],
        body: Some("WindowRequest"),
        ok: (201, Some("Window")),
        errors: &[400, 409, 422],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/windows",
        summary: "List windows by name",
        tag: "windows",
        params: &[],
        body: None,
        ok: (200, Some("WindowList")),
        errors: &[400],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/windows/{key}",
        summary: "A window with its next edges, active overrides and recent firings",
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("WindowDetail")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "put",
        path: "/v1/windows/{key}",
        summary: "Replace a window",
        tag: "windows",
        params: &[KEY],
        body: Some("WindowRequest"),
        ok: (200, Some("Window")),
        errors: &[400, 404, 409, 422],
        auth: true,
    },
    Operation {
        method: "delete",
        path: "/v1/windows/{key}",
        summary: "Delete a window with its edges and overrides",
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (204, None),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/windows/{key}/pause",
        summary: "Pause a window",
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("Window")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/windows/{key}/resume",
        summary: "Resume a window",
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("Window")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/windows/{key}/preview",
        summary: "Fire times of a window's edges",
        tag: "windows",
        params: &[KEY, COUNT],
        body: None,
        ok: (200, Some("FireTimes")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/windows/{key}/overrides",
        summary: "A window's overrides, each with `active`",
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("OverrideList")),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/windows/{key}/overrides",
        summary: "Keep a machine on or off until a time",
        tag: "windows",
        params: &[KEY],
        body: Some("OverrideRequest"),
        ok: (201, Some("Override")),
        errors: &[400, 404, 422],
        auth: true,
    },
    Operation {
        method: "delete",
        path: "/v1/windows/{key}/overrides/{id}",
        summary: "Delete an override",
        tag: "windows",
        params: &[KEY, p("id", "An override id: a positive whole number.")],
        body: None,
        ok: (204, None),
        errors: &[400, 404],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/reports/utilization",
        summary: "Machine hours and cost of a month",
        tag: "reports",
        params: &[MONTH],
        body: None,
        ok: (200, Some("UtilizationView")),
        errors: &[400],
        auth: true,
    },
    Operation {
        method: "post",
        path: "/v1/reports/utilization/pull",
        summary: "Queue one utilization job per known machine",
        tag: "reports",
        params: &[],
        body: Some("PullRequest"),
        ok: (202, Some("PullAnswer")),
        errors: &[400, 409, 422],
        auth: true,
    },
    Operation {
        method: "get",
        path: "/v1/reports/savings",
        summary: "What schedules saved in a month",
        tag: "reports",
        params: &[MONTH],
        body: None,
        ok: (200, Some("SavingsView")),
        errors: &[400],
        auth: true,
    },
];

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => {
            "Malformed input: JSON, types, unknown or missing fields, query parameters, path ids, cursors"
        }
        401 => "No valid `Authorization: Bearer <token>`",
        404 => "No such resource or route",
        405 => "Method not allowed on this route",
        409 => "The resource is not in a state that allows this",
        413 => "The body is larger than the limit",
        415 => "The body is not `application/json`",
        422 => {
            "Well-formed but not valid (`invalid_job`, `invalid_schedule`, `invalid_window`, `invalid_override`)"
        }
        503 => {
            "The store failed, the daemon is too busy or the request timed out (`unavailable`, `timeout`, `not_ready`)"
        }
        _ => "A bug (the panic is logged)",
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error_response(status: u16) -> Value {
    json!({
        "description": reason(status),
        "content": {"application/json": {"schema": schema_ref("Error")}}
    })
}

fn operation(op: &Operation) -> Value {
    let mut responses = Map::new();
    let (status, schema) = op.ok;
    let ok = match schema {
        None => json!({"description": reason(status)}),
        Some("text") => {
            json!({"description": reason(status), "content": {"text/plain": {"schema": {"type": "string"}}}})
        }
        Some(name) => {
            json!({"description": reason(status), "content": {"application/json": {"schema": schema_ref(name)}}})
        }
    };
    responses.insert(status.to_string(), ok);
    if op.method == "post" && op.path == "/v1/jobs" {
        responses.insert(
            "200".into(),
            json!({"description": "An existing job with the same idempotency_key", "content": {"application/json": {"schema": schema_ref("Job")}}}),
        );
    }
    let mut errors: Vec<u16> = op.errors.to_vec();
    errors.extend([405, 500, 503]);
    if op.auth {
        errors.push(401);
    }
    if op.body.is_some() {
        errors.extend([413, 415]);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        responses.insert(status.to_string(), error_response(status));
    }
    let parameters: Vec<Value> = op
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": if p.location == In::Path { "path" } else { "query" },
                "required": p.location == In::Path || p.name == "month",
                "description": p.description,
                "schema": {"type": p.kind},
            })
        })
        .collect();
    let mut out = json!({
        "operationId": operation_id(op),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = op.body {
        out["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema_ref(body)}}
        });
    }
    if !op.auth {
        out["security"] = json!([]);
    }
    out
}

fn operation_id(op: &Operation) -> String {
    let mut id = op.method.to_string();
    for part in op.path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.push_str(
            &part
                .trim_matches(|c| c == '{' || c == '}')
                .replace(['.', '-'], "_"),
        );
    }
    id
}

/// The whole document.
pub fn document_value() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let item = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        item[op.method] = operation(op);
    }
    let tags: Vec<Value> = [
        "health",
        "jobs",
        "machines",
        "schedules",
        "windows",
        "reports",
    ]
    .iter()
    .map(|t| json!({"name": t}))
    .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Machinist admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Jobs, schedules, windows, machines, reports, health and metrics of a Machinist daemon. Every error is `{\"error\":{\"code\",\"message\",\"field\"}}`.",
        },
        "tags": tags,
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
    })
}

/// `GET /openapi.json`.
pub(super) async fn document() -> Json<Value> {
    Json(document_value())
}

fn obj(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

const STRING: &str = "string";

fn t(kind: &str) -> Value {
    json!({"type": kind})
}

fn nullable(kind: &str) -> Value {
    json!({"type": kind, "nullable": true})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable_time() -> Value {
    json!({"type": "string", "format": "date-time", "nullable": true})
}

/// An object whose fields are documented by the linked type in the crate
/// docs; listed here with the fields clients rely on.
fn open_obj(description: &str, properties: Value) -> Value {
    json!({"type": "object", "description": description, "properties": properties, "additionalProperties": true})
}

fn schemas() -> Value {
    let page = |items: &str, item: &str| {
        obj(
            &[items, "next_cursor"],
            json!({items: list_of(item), "next_cursor": nullable(STRING)}),
        )
    };
    let kinds: Vec<&str> = crate::job::JobKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    let job_states = json!([
        "queued",
        "running",
        "waiting",
        "succeeded",
        "failed",
        "cancelled"
    ]);
    json!({
        "Error": obj(&["error"], json!({"error": obj(&["code", "message", "field"], json!({
            "code": {"type": "string", "enum": ["bad_request", "unauthorized", "not_found", "method_not_allowed", "conflict", "payload_too_large", "unsupported_media_type", "invalid_job", "invalid_schedule", "invalid_window", "invalid_override", "unavailable", "timeout", "not_ready", "internal"]},
            "message": t(STRING),
            "field": {"type": "string", "nullable": true, "description": "The offending input: a JSON path, query parameter or path segment."},
        }))})),
        "Health": obj(&["status"], json!({"status": {"type": "string", "enum": ["ok"]}})),
        "Readiness": obj(&["status", "checks"], json!({
            "status": {"type": "string", "enum": ["ready"]},
            "checks": {"type": "object", "additionalProperties": t(STRING)},
        })),
        "OpenApiDocument": open_obj("This document.", json!({"openapi": t(STRING)})),
        "JobRequest": json!({"type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
            "kind": {"type": "string", "enum": kinds},
            "machine_id": t(STRING),
            "args": {"type": "object", "description": "Per kind; e.g. create needs name, region, machine_type, disk_size_gb, template_id."},
            "run_at": time(),
            "delay_seconds": {"type": "integer", "minimum": 0},
            "priority": t("integer"),
            "max_attempts": {"type": "integer", "minimum": 1},
            "wait": t(STRING),
            "wait_timeout_seconds": {"type": "integer", "minimum": 0},
            "idempotency_key": t(STRING),
        }}),
        "Job": obj(&["id", "kind", "state", "priority", "attempt", "max_attempts", "run_at", "created_at", "updated_at"], json!({
            "id": t("integer"), "kind": t(STRING), "machine_id": nullable(STRING), "args": t("object"),
            "state": {"type": "string", "enum": job_states},
            "priority": t("integer"), "attempt": t("integer"), "max_attempts": t("integer"),
            "run_at": time(), "wait": nullable(STRING), "wait_timeout_seconds": t("integer"),
            "checkpoint": {"type": "object", "nullable": true}, "result": {"nullable": true},
            "last_error": nullable(STRING), "idempotency_key": nullable(STRING),
            "lease_owner": nullable(STRING), "lease_expires_at": nullable_time(),
            "created_at": time(), "updated_at": time(), "finished_at": nullable_time(),
        })),
        "JobEvent": obj(&["id", "job_id", "at", "kind", "message"], json!({
            "id": t("integer"), "job_id": t("integer"), "at": time(),
            "kind": {"type": "string", "enum": ["state", "api_call", "note"]},
            "from_state": nullable(STRING), "to_state": nullable(STRING), "message": t(STRING),
            "method": nullable(STRING), "route": nullable(STRING), "status": nullable("integer"),
            "latency_ms": nullable("integer"), "error": nullable(STRING),
        })),
        "JobDetail": {"allOf": [schema_ref("Job"), obj(&["events"], json!({"events": list_of("JobEvent")}))]},
        "JobPage": page("jobs", "Job"),
        "HistoryPage": page("events", "JobEvent"),
        "Machine": open_obj("A machine as Paperspace last reported it.", json!({
            "id": t(STRING), "name": t(STRING), "state": t(STRING), "machine_type": nullable(STRING),
            "region": nullable(STRING), "public_ip": nullable(STRING), "usage_rate": nullable(STRING),
        })),
        "MachineView": {"allOf": [schema_ref("Machine"), obj(&["seen_at", "gone_at"], json!({"seen_at": time(), "gone_at": nullable_time()}))]},
        "MachineList": obj(&["machines"], json!({"machines": list_of("MachineView")})),
        "MachineDetail": {"allOf": [schema_ref("MachineView"), obj(&["recent_jobs", "schedules"], json!({"recent_jobs": list_of("Job"), "schedules": list_of("Schedule")}))]},
        "Targets": obj(&[], json!({
            "machine_ids": {"type": "array", "items": t(STRING)},
            "selector": obj(&[], json!({"name": t(STRING), "region": t(STRING), "machine_type": t(STRING), "state": t(STRING)})),
        })),
        "ScheduleSpec": json!({"type": "object", "required": ["name", "cron", "template"], "properties": {
            "name": t(STRING), "cron": t(STRING), "timezone": t(STRING),
            "template": {"type": "object", "required": ["kind"], "properties": {"kind": t(STRING)}},
            "targets": schema_ref("Targets"), "enabled": t("boolean"), "jitter_seconds": t("integer"),
            "exclusions": t("object"), "misfire": {"type": "string", "enum": ["skip", "run_once"]},
            "catch_up_seconds": t("integer"), "overlap": {"type": "string", "enum": ["skip", "queue"]},
        }}),
        "Schedule": obj(&["id", "name", "cron", "timezone", "template", "targets", "enabled"], json!({
            "id": t("integer"), "name": t(STRING), "cron": t(STRING), "timezone": t(STRING),
            "template": t("object"), "targets": schema_ref("Targets"), "enabled": t("boolean"),
            "jitter_seconds": t("integer"), "exclusions": t("object"), "misfire": t(STRING),
            "catch_up_seconds": t("integer"), "overlap": t(STRING), "window_id": nullable("integer"),
            "window_edge": nullable(STRING), "next_fire_at": nullable_time(),
            "created_at": time(), "updated_at": time(),
        })),
        "ScheduleList": obj(&["schedules"], json!({"schedules": list_of("Schedule")})),
        "FireTime": obj(&["utc", "local"], json!({"utc": time(), "local": t(STRING), "edge": {"type": "string", "enum": ["start", "stop"]}})),
        "FireTimes": obj(&["fire_times"], json!({"fire_times": list_of("FireTime")})),
        "Firing": open_obj("One firing: enqueued, caught up, or skipped with the reason.", json!({"fire_at": time(), "target": t(STRING), "outcome": t(STRING), "reason": nullable(STRING), "job_id": nullable("integer")})),
        "ScheduleDetail": {"allOf": [schema_ref("Schedule"), obj(&["next_fire_times", "recent_firings"], json!({"next_fire_times": list_of("FireTime"), "recent_firings": list_of("Firing")}))]},
        "PreviewRequest": json!({"type": "object", "required": ["cron"], "additionalProperties": false, "properties": {"cron": t(STRING), "timezone": t(STRING), "count": {"type": "integer", "minimum": 1, "maximum": 100}}}),
        "WindowRequest": json!({"type": "object", "description": "An office-hours window.", "required": ["name", "hours", "targets"], "properties": {"name": t(STRING), "hours": {"type": "object", "description": "Days, start and stop times, and the zone."}, "targets": schema_ref("Targets"), "enforce": t("boolean"), "enforce_interval_seconds": t("integer"), "exclusions": t("object"), "enabled": t("boolean")}}),
        "Window": open_obj("A stored window.", json!({"id": t("integer"), "name": t(STRING), "timezone": t(STRING), "enabled": t("boolean")})),
        "WindowList": obj(&["windows"], json!({"windows": list_of("Window")})),
        "WindowDetail": {"allOf": [schema_ref("Window"), open_obj("Next edges, active overrides and both edges' recent firings.", json!({"next_edges": list_of("FireTime"), "overrides": list_of("Override")}))]},
        "OverrideRequest": json!({"type": "object", "description": "Keep a machine on or off until a time (`until`) or for some hours (`hours`).", "required": ["machine_id", "mode"], "properties": {"machine_id": t(STRING), "mode": {"type": "string", "enum": ["keep_on", "keep_off"]}, "until": time(), "hours": t("number"), "reason": t(STRING)}}),
        "Override": open_obj("An override with whether it is active.", json!({"id": t("integer"), "window_id": t("integer"), "machine_id": t(STRING), "mode": t(STRING), "until": time(), "reason": nullable(STRING), "created_at": time(), "active": t("boolean")})),
        "OverrideList": obj(&["overrides"], json!({"overrides": list_of("Override")})),
        "UtilizationView": open_obj("Hours and cost per machine in a month.", json!({"month": t(STRING), "machines": {"type": "array", "items": open_obj("One machine's hours, rate and cost.", json!({"machine_id": t(STRING), "hours_used": t("number"), "hourly_rate": t("number")}))}, "total_cost": t("number")})),
        "SavingsView": open_obj("What schedules saved per machine in a month.", json!({"month": t(STRING), "machines": {"type": "array", "items": open_obj("One machine's hours off and savings.", json!({"machine_id": t(STRING)}))}, "total_hours_off": t("number"), "total_saved": t("number")})),
        "PullRequest": json!({"type": "object", "required": ["month"], "additionalProperties": false, "properties": {"month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}}}),
        "PullAnswer": obj(&["jobs"], json!({"jobs": {"type": "array", "items": t("integer")}})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document_value();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<String> = OPERATIONS.iter().map(operation_id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
