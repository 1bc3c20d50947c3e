//! `GET /openapi.json`: the OpenAPI 3.0 document of the admin API. Its
//! paths, methods, summaries and security come from the route table
//! ([`super::routes::ROUTES`]); each route's parameters, body, answers and
//! errors from [`OPERATIONS`], which holds one [`Operation`] per route (a
//! test here checks that, both ways).
//!
//! The router in [`super::router`] registers the same table; a test
//! (tests/api/http_openapi.rs) asks the running router, for every path in the
//! document and every method, whether it answers or says 405, and compares
//! that with the document.
//!
//! The schemas state what the handlers enforce (ranges, patterns, enums,
//! lengths, closed objects, a job's fields per kind), so that a request the
//! document allows is one the server accepts: `.ci/fuzz-openapi` checks that
//! with schemathesis against a live daemon, and tests/api/http_openapi.rs tries
//! the stated bounds on the server.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::routes::{self, Access, Route};
use crate::job::{JobKind, JobState};
use crate::webhook::{DestinationPolicy, EventType};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum In {
    /// A `{name}` segment of the path template.
    Path,
    /// A `name=value` of the query string.
    Query,
}

/// One parameter of an operation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Param {
    /// Its name in the path template or the query string.
    pub name: &'static str,
    /// Path or query.
    pub location: In,
    /// Its JSON Schema, with every constraint the handler enforces.
    pub schema: fn() -> Value,
    /// The parameter's description in the document.
    pub description: &'static str,
    /// Whether a request must give it (path parameters always).
    pub required: bool,
}

/// What the document says of one route beyond the route table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Operation {
    /// The route (method, path, summary, access) this describes.
    pub route: Route,
    /// The document's tag (section) for it.
    pub tag: &'static str,
    /// Its path and query parameters.
    pub params: &'static [Param],
    /// Schema name of the JSON request body, if any.
    pub body: Option<&'static str>,
    /// Success status and schema name (`None`: no body; `text`: plain text).
    pub ok: (u16, Option<&'static str>),
    /// Error statuses besides those any route may give (400, 401, 405, 408,
    /// 500, 503, and 413/415 with a body).
    pub errors: &'static [u16],
}

const fn q(name: &'static str, schema: fn() -> Value, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        schema,
        description,
        required: false,
    }
}

/// A query parameter a request must give.
const fn q_required(name: &'static str, schema: fn() -> Value, description: &'static str) -> Param {
    Param {
        required: true,
        ..q(name, schema, description)
    }
}

const fn p(name: &'static str, schema: fn() -> Value, description: &'static str) -> Param {
    Param {
        name,
        location: In::Path,
        schema,
        description,
        required: true,
    }
}

const JOB_ID: Param = p(
    "id",
    positive_id,
    "A job id: a positive whole number, written plainly.",
);
const KEY: Param = p(
    "key",
    key,
    "An id (a positive whole number, written plainly) or a name (1 to 128 characters, never an integer); percent-encode `/`.",
);
const LIMIT: Param = q("limit", limit, "Page size, 1 to 500 (default 50).");
const DRY_RUN: Param = q(
    "dry_run",
    boolean,
    "`true`: check the request as the real one, answer 200 with what it would store (and do), and write nothing. Default false.",
);
const COUNT: Param = q("count", count, "Fire times, 1 to 100 (default 10).");
const MONTH: Param = q_required("month", month, "The month, `YYYY-MM` (1970-01 to 9999-12).");
const MACHINE_ID: Param = p("id", paperspace_id, "A Paperspace machine id.");
const MACHINE_FILTER: Param = q("machine_id", paperspace_id, "Only this Paperspace machine.");
const GROUP_NAME: Param = p(
    "name",
    group_name,
    "A group's name: 1 to 64 letters, digits, `-`, `_` or `.`.",
);
const RUN_ID: Param = p(
    "id",
    positive_id,
    "A group run id: a positive whole number, written plainly.",
);
const WEBHOOK_ID: Param = p(
    "id",
    positive_id,
    "A webhook endpoint id: a positive whole number, written plainly.",
);

/// The document's details of every route of the admin API, one per route
/// of [`routes::ROUTES`].
pub(super) const OPERATIONS: &[Operation] = &[
    Operation {
        route: routes::INDEX,
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("ApiIndex")),
        errors: &[],
    },
    Operation {
        route: routes::HEALTHZ,
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("Health")),
        errors: &[],
    },
    Operation {
        route: routes::READYZ,
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("Readiness")),
        errors: &[400],
    },
    Operation {
        route: routes::METRICS,
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("text")),
        errors: &[400],
    },
    Operation {
        route: routes::OPENAPI,
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("OpenApiDocument")),
        errors: &[],
    },
    Operation {
        route: routes::JOB_SUBMIT,
        tag: "jobs",
        params: &[DRY_RUN],
        body: Some("JobRequest"),
        ok: (201, Some("Job")),
        errors: &[400, 422],
    },
    Operation {
        route: routes::JOB_BATCH,
        tag: "jobs",
        params: &[],
        body: Some("BatchRequest"),
        ok: (201, Some("BatchAnswer")),
        errors: &[400, 422],
    },
    Operation {
        route: routes::JOBS_LIST,
        tag: "jobs",
        params: &[
            q("state", job_state, "Only jobs in this state."),
            q("kind", job_kind, "Only jobs of this kind."),
            MACHINE_FILTER,
            LIMIT,
            q(
                "cursor",
                job_cursor,
                "`next_cursor` of the previous page, unchanged.",
            ),
        ],
        body: None,
        ok: (200, Some("JobPage")),
        errors: &[400],
    },
    Operation {
        route: routes::JOB_SHOW,
        tag: "jobs",
        params: &[JOB_ID],
        body: None,
        ok: (200, Some("JobDetail")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::JOB_CANCEL,
        tag: "jobs",
        params: &[JOB_ID],
        body: None,
        ok: (200, Some("Job")),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::JOB_RETRY,
        tag: "jobs",
        params: &[JOB_ID],
        body: None,
        ok: (200, Some("Job")),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::HISTORY,
        tag: "jobs",
        params: &[
            MACHINE_FILTER,
            q(
                "job_id",
                positive_id,
                "Only this job's events: a job id, a positive whole number written plainly.",
            ),
            LIMIT,
            q(
                "cursor",
                event_cursor,
                "`next_cursor` of the previous page, unchanged. Not with `after`.",
            ),
            q(
                "after",
                event_after,
                "Read forward: the events with ids above this one (0: from the start), oldest first, at most `limit`; pass the previous page's `next_after`. Not with `cursor`.",
            ),
            q(
                "wait",
                wait_seconds,
                "With `after` only: when no event is there yet, wait up to this many seconds for the first one (a long poll), then answer what there is, possibly nothing. The wait is cut to half the daemon's request timeout, and a request past the daemon's cap on waiting requests (16) answers at once, with `Retry-After: 1`.",
            ),
        ],
        body: None,
        ok: (200, Some("HistoryPage")),
        errors: &[400],
    },
    Operation {
        route: routes::GROUP_CREATE,
        tag: "groups",
        params: &[],
        body: Some("GroupSpec"),
        ok: (201, Some("Group")),
        errors: &[400, 409, 422],
    },
    Operation {
        route: routes::GROUPS_LIST,
        tag: "groups",
        params: &[],
        body: None,
        ok: (200, Some("GroupList")),
        errors: &[400],
    },
    Operation {
        route: routes::GROUP_SHOW,
        tag: "groups",
        params: &[GROUP_NAME],
        body: None,
        ok: (200, Some("GroupDetail")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::GROUP_UPDATE,
        tag: "groups",
        params: &[GROUP_NAME],
        body: Some("GroupPatch"),
        ok: (200, Some("Group")),
        errors: &[400, 404, 409, 422],
    },
    Operation {
        route: routes::GROUP_DELETE,
        tag: "groups",
        params: &[GROUP_NAME],
        body: None,
        ok: (204, None),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::GROUP_RUN,
        tag: "groups",
        params: &[GROUP_NAME],
        body: Some("RunRequest"),
        ok: (201, Some("RunView")),
        errors: &[400, 404, 409, 422],
    },
    Operation {
        route: routes::GROUP_RUNS_LIST,
        tag: "groups",
        params: &[
            q("group", group_name, "Only runs of the group of this name."),
            q("limit", run_limit, "Page size, 1 to 100 (default 20)."),
            q(
                "cursor",
                run_cursor,
                "`next_cursor` of the previous page, unchanged.",
            ),
        ],
        body: None,
        ok: (200, Some("RunPage")),
        errors: &[400],
    },
    Operation {
        route: routes::GROUP_RUN_SHOW,
        tag: "groups",
        params: &[RUN_ID],
        body: None,
        ok: (200, Some("RunView")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::GROUP_RUN_RESUME,
        tag: "groups",
        params: &[RUN_ID],
        body: None,
        ok: (200, Some("RunView")),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::DAEMONS,
        tag: "health",
        params: &[],
        body: None,
        ok: (200, Some("DaemonList")),
        errors: &[],
    },
    Operation {
        route: routes::MACHINES_LIST,
        tag: "machines",
        params: &[],
        body: None,
        ok: (200, Some("MachineList")),
        errors: &[400],
    },
    Operation {
        route: routes::MACHINE_SHOW,
        tag: "machines",
        params: &[MACHINE_ID],
        body: None,
        ok: (200, Some("MachineDetail")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::MACHINE_BILLING_SHOW,
        tag: "machines",
        params: &[MACHINE_ID],
        body: None,
        ok: (200, Some("Billing")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::MACHINE_BILLING_SET,
        tag: "machines",
        params: &[MACHINE_ID],
        body: Some("BillingRequest"),
        ok: (200, Some("Billing")),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::SCHEDULE_CREATE,
        tag: "schedules",
        params: &[DRY_RUN],
        body: Some("ScheduleSpec"),
        ok: (201, Some("Schedule")),
        errors: &[400, 409, 422],
    },
    Operation {
        route: routes::SCHEDULES_LIST,
        tag: "schedules",
        params: &[q(
            "include_windows",
            boolean,
            "Include window edges (default false).",
        )],
        body: None,
        ok: (200, Some("ScheduleList")),
        errors: &[400],
    },
    Operation {
        route: routes::EXPRESSION_PREVIEW,
        tag: "schedules",
        params: &[],
        body: Some("PreviewRequest"),
        ok: (200, Some("FireTimes")),
        errors: &[400, 422],
    },
    Operation {
        route: routes::NAMED_PREVIEW_SHOW,
        tag: "schedules",
        params: &[],
        body: None,
        ok: (200, Some("ScheduleDetail")),
        errors: &[404],
    },
    Operation {
        route: routes::NAMED_PREVIEW_UPDATE,
        tag: "schedules",
        params: &[DRY_RUN],
        body: Some("ScheduleSpec"),
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409, 422],
    },
    Operation {
        route: routes::NAMED_PREVIEW_DELETE,
        tag: "schedules",
        params: &[],
        body: None,
        ok: (204, None),
        errors: &[404, 409],
    },
    Operation {
        route: routes::SCHEDULE_SHOW,
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (200, Some("ScheduleDetail")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::SCHEDULE_UPDATE,
        tag: "schedules",
        params: &[KEY, DRY_RUN],
        body: Some("ScheduleSpec"),
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409, 422],
    },
    Operation {
        route: routes::SCHEDULE_DELETE,
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (204, None),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::SCHEDULE_PAUSE,
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::SCHEDULE_RESUME,
        tag: "schedules",
        params: &[KEY],
        body: None,
        ok: (200, Some("Schedule")),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::SCHEDULE_PREVIEW,
        tag: "schedules",
        params: &[KEY, COUNT],
        body: None,
        ok: (200, Some("FireTimes")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WINDOW_CREATE,
        tag: "windows",
        params: &[DRY_RUN],
        body: Some("WindowRequest"),
        ok: (201, Some("Window")),
        errors: &[400, 409, 422],
    },
    Operation {
        route: routes::WINDOWS_LIST,
        tag: "windows",
        params: &[],
        body: None,
        ok: (200, Some("WindowList")),
        errors: &[400],
    },
    Operation {
        route: routes::WINDOW_SHOW,
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("WindowDetail")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WINDOW_UPDATE,
        tag: "windows",
        params: &[KEY, DRY_RUN],
        body: Some("WindowRequest"),
        ok: (200, Some("Window")),
        errors: &[400, 404, 409, 422],
    },
    Operation {
        route: routes::WINDOW_DELETE,
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (204, None),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WINDOW_PAUSE,
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("Window")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WINDOW_RESUME,
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("Window")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WINDOW_PREVIEW,
        tag: "windows",
        params: &[KEY, COUNT],
        body: None,
        ok: (200, Some("FireTimes")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::OVERRIDES_LIST,
        tag: "windows",
        params: &[KEY],
        body: None,
        ok: (200, Some("OverrideList")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::OVERRIDE_ADD,
        tag: "windows",
        params: &[KEY, DRY_RUN],
        body: Some("OverrideRequest"),
        ok: (201, Some("Override")),
        errors: &[400, 404, 422],
    },
    Operation {
        route: routes::OVERRIDE_DELETE,
        tag: "windows",
        params: &[
            KEY,
            p(
                "id",
                positive_id,
                "An override id: a positive whole number, written plainly.",
            ),
        ],
        body: None,
        ok: (204, None),
        errors: &[400, 404],
    },
    Operation {
        route: routes::UTILIZATION_REPORT,
        tag: "reports",
        params: &[MONTH],
        body: None,
        ok: (200, Some("UtilizationView")),
        errors: &[400],
    },
    Operation {
        route: routes::UTILIZATION_PULL,
        tag: "reports",
        params: &[],
        body: Some("PullRequest"),
        ok: (202, Some("PullAnswer")),
        errors: &[400, 409, 422],
    },
    Operation {
        route: routes::SAVINGS_REPORT,
        tag: "reports",
        params: &[MONTH],
        body: None,
        ok: (200, Some("SavingsView")),
        errors: &[400],
    },
    Operation {
        route: routes::COST_REPORT,
        tag: "reports",
        params: &[
            q(
                "month",
                month,
                "The month, `YYYY-MM` (1970-01 to 9999-12); default: the current one (UTC).",
            ),
            q(
                "format",
                report_format,
                "`json` (default) or `csv` (an attachment `machinist-cost-YYYY-MM.csv`).",
            ),
        ],
        body: None,
        ok: (200, Some("CostReport")),
        errors: &[400],
    },
    Operation {
        route: routes::FORECAST,
        tag: "reports",
        params: &[],
        body: Some("Plan"),
        ok: (200, Some("Forecast")),
        errors: &[400, 422],
    },
    Operation {
        route: routes::WEBHOOK_CREATE,
        tag: "webhooks",
        params: &[],
        body: Some("EndpointSpec"),
        ok: (201, Some("EndpointCreated")),
        errors: &[400, 409, 422],
    },
    Operation {
        route: routes::WEBHOOKS_LIST,
        tag: "webhooks",
        params: &[],
        body: None,
        ok: (200, Some("WebhookList")),
        errors: &[400],
    },
    Operation {
        route: routes::WEBHOOK_EVENTS,
        tag: "webhooks",
        params: &[],
        body: None,
        ok: (200, Some("EventCatalogue")),
        errors: &[400],
    },
    Operation {
        route: routes::WEBHOOK_SHOW,
        tag: "webhooks",
        params: &[WEBHOOK_ID],
        body: None,
        ok: (200, Some("Endpoint")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WEBHOOK_UPDATE,
        tag: "webhooks",
        params: &[WEBHOOK_ID],
        body: Some("EndpointPatch"),
        ok: (200, Some("Endpoint")),
        errors: &[400, 404, 409, 422],
    },
    Operation {
        route: routes::WEBHOOK_DELETE,
        tag: "webhooks",
        params: &[WEBHOOK_ID],
        body: None,
        ok: (204, None),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::WEBHOOK_PAUSE,
        tag: "webhooks",
        params: &[WEBHOOK_ID],
        body: None,
        ok: (200, Some("Endpoint")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WEBHOOK_RESUME,
        tag: "webhooks",
        params: &[WEBHOOK_ID],
        body: None,
        ok: (200, Some("Endpoint")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::WEBHOOK_ROTATE,
        tag: "webhooks",
        params: &[WEBHOOK_ID],
        body: None,
        ok: (200, Some("SecretRotated")),
        errors: &[400, 404, 409],
    },
    Operation {
        route: routes::WEBHOOK_TEST,
        tag: "webhooks",
        params: &[WEBHOOK_ID],
        body: None,
        ok: (200, Some("TestDelivery")),
        errors: &[400, 404, 422],
    },
    Operation {
        route: routes::DELIVERIES_LIST,
        tag: "webhooks",
        params: &[
            WEBHOOK_ID,
            q(
                "before",
                positive_id,
                "`next_before` of the previous page: deliveries with lower ids.",
            ),
            q("limit", delivery_limit, "Page size, 1 to 200 (default 50)."),
        ],
        body: None,
        ok: (200, Some("DeliveryPage")),
        errors: &[400, 404],
    },
    Operation {
        route: routes::DELIVERY_RESEND,
        tag: "webhooks",
        params: &[
            WEBHOOK_ID,
            p(
                "delivery",
                positive_id,
                "A delivery id of this endpoint (the `id` of a listed delivery).",
            ),
        ],
        body: None,
        ok: (202, Some("Resent")),
        errors: &[400, 404],
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
        408 => "The request was not received in time (`request_timeout`)",
        409 => "The resource is not in a state that allows this",
        413 => "The body is larger than the limit",
        415 => "The body is not `application/json`",
        422 => {
            "Well-formed but not valid (`invalid_job`, `invalid_group`, `invalid_schedule`, `invalid_window`, `invalid_override`, `invalid_forecast`, `invalid_webhook`)"
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
    let mut ok = ok;
    if op.route == routes::COST_REPORT {
        ok["content"]["text/csv"] = json!({"schema": {"type": "string"}});
    }
    responses.insert(status.to_string(), ok);
    if op.route == routes::JOB_SUBMIT {
        responses.insert(
            "200".into(),
            json!({"description": "An existing job with the same idempotency_key", "content": {"application/json": {"schema": schema_ref("Job")}}}),
        );
    }
    if op.route == routes::JOB_BATCH {
        responses.insert(
            "200".into(),
            json!({"description": "Every job's idempotency_key matched an existing job, which is answered", "content": {"application/json": {"schema": schema_ref("BatchAnswer")}}}),
        );
    }
    if let Some(dry) = dry_run_answer(&op.route) {
        let dry = schema_ref(dry);
        let description = "`dry_run=true`: what the request would store and do; nothing is written";
        match responses.get_mut("200") {
            Some(real) => {
                let schema = real["content"]["application/json"]["schema"].take();
                real["content"]["application/json"]["schema"] = json!({"anyOf": [schema, dry]});
                let text = format!(
                    "{}; or, with {description}",
                    real["description"].as_str().unwrap_or("")
                );
                real["description"] = json!(text);
            }
            None => {
                responses.insert(
                    "200".into(),
                    json!({"description": description, "content": {"application/json": {"schema": dry}}}),
                );
            }
        }
    }
    let mut errors: Vec<u16> = op.errors.to_vec();
    // Any route refuses a query string it does not take (400), and any
    // may time out (408), refuse the method (405), fail (503) or hit a bug.
    errors.extend([400, 405, 408, 500, 503]);
    if op.route.access == Access::Admin {
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
                "required": p.required,
                "description": p.description,
                "schema": (p.schema)(),
            })
        })
        .collect();
    let mut out = json!({
        "operationId": operation_id(op),
        "summary": op.route.summary,
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
    if op.route.access == Access::Open {
        out["security"] = json!([]);
    }
    out
}

/// The schema of `route`'s answer to `dry_run=true`, for the routes that take it.
fn dry_run_answer(route: &Route) -> Option<&'static str> {
    let answers = [
        (routes::JOB_SUBMIT, "JobDryRun"),
        (routes::SCHEDULE_CREATE, "ScheduleDryRun"),
        (routes::SCHEDULE_UPDATE, "ScheduleDryRun"),
        (routes::NAMED_PREVIEW_UPDATE, "ScheduleDryRun"),
        (routes::WINDOW_CREATE, "WindowDryRun"),
        (routes::WINDOW_UPDATE, "WindowDryRun"),
        (routes::OVERRIDE_ADD, "OverrideDryRun"),
    ];
    answers
        .iter()
        .find(|(r, _)| r == route)
        .map(|(_, schema)| *schema)
}

fn operation_id(op: &Operation) -> String {
    let mut id = op.route.method.lower().to_string();
    for part in op.route.path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.push_str(
            &part
                .trim_matches(|c| c == '{' || c == '}')
                .replace(['.', '-'], "_"),
        );
    }
    if op.route.path == "/" {
        // `/` has no segment to name it by.
        id.push_str("_index");
    }
    id
}

/// The document's details of `route`.
fn operation_of(route: &Route) -> &'static Operation {
    OPERATIONS
        .iter()
        .find(|op| op.route == *route)
        .unwrap_or_else(|| {
            panic!(
                "{} {} has no operation in the OpenAPI document",
                route.method.as_str(),
                route.path
            )
        })
}

/// True when `route` takes query parameters (any other query string is
/// refused with a 400 by the router).
pub(super) fn takes_query(route: &Route) -> bool {
    operation_of(route)
        .params
        .iter()
        .any(|p| p.location == In::Query)
}

/// The whole document, for a daemon whose configuration names `calendars`
/// and whose webhooks may reach what `policy` allows.
pub fn document_value(calendars: &[String], policy: DestinationPolicy) -> Value {
    let mut paths = Map::new();
    for route in routes::ROUTES {
        let item = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        item[route.method.lower()] = operation(operation_of(route));
    }
    let tags: Vec<Value> = [
        "health",
        "jobs",
        "groups",
        "machines",
        "schedules",
        "windows",
        "reports",
        "webhooks",
    ]
    .iter()
    .map(|t| json!({"name": t}))
    .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Machinist admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Jobs, machine groups, schedules, windows, machines, reports, webhooks, health and metrics of a Machinist daemon. Every error is `{\"error\":{\"code\",\"message\",\"field\"}}`.",
        },
        "tags": tags,
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The admin token; or the viewer token (http.viewer_token_file), which may call the GET routes and is answered 403 `forbidden` on any other"
            }},
            "schemas": schemas(calendars, policy),
        },
    })
}

/// `GET /openapi.json`.
pub(super) async fn document(State(app): State<super::AppState>) -> Json<Value> {
    let calendars: Vec<String> = app
        .http
        .registry
        .context()
        .calendars
        .names()
        .map(str::to_string)
        .collect();
    Json(document_value(
        &calendars,
        app.http.webhooks.settings().policy,
    ))
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

// What the server enforces, stated as JSON Schema. Where the server's rule
// is wider than a schema can say (a cron expression that never fires, a
// time relative to now), the schema states the part it can and the
// description the rest, so that whatever the schema allows is accepted.

/// Characters refused in every free-text field: C0 and C1 controls, DEL, and
/// the invisible format characters that can make text read other than it is
/// (Arabic letter mark, zero-width and bidirectional controls, word joiners,
/// the byte-order mark). ECMA-262 `\uXXXX` escapes, for a character class.
const HIDDEN: &str =
    r"\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff";

/// Free text: none of [`HIDDEN`].
fn free_text(max: u32) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": format!("^[^{HIDDEN}]*$")})
}

/// Free text that must not be blank (it is trimmed before use).
fn not_blank(max: Option<u32>) -> Value {
    let mut schema = json!({"type": "string", "minLength": 1, "pattern": format!("^[^{HIDDEN}]*[^{HIDDEN}\\s][^{HIDDEN}]*$")});
    if let Some(max) = max {
        schema["maxLength"] = json!(max);
    }
    schema
}

/// A schedule's or window's name: trimmed, 1 to 128 characters, not an
/// integer (integers are ids); a schedule's also not `window:…`.
fn name(schedule: bool) -> Value {
    let window = if schedule { r"(?!\s*window:)" } else { "" };
    json!({
        "type": "string", "minLength": 1, "maxLength": 128,
        "pattern": format!(r"^(?!\s*[+-]?[0-9]+\s*$){window}[^{HIDDEN}]*[^{HIDDEN}\s][^{HIDDEN}]*$"),
        "description": if schedule {
            "Unique among schedules and windows; 1 to 128 characters once trimmed, not an integer, not starting with `window:`."
        } else {
            "Unique among schedules and windows; 1 to 128 characters once trimmed, not an integer."
        },
    })
}

fn key() -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 128,
        "pattern": format!(r"^(?:[1-9][0-9]{{0,17}}|(?![+-]?[0-9]+$)[^{HIDDEN}]+)$"),
    })
}

fn positive_id() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX})
}

fn limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": super::params::MAX_LIMIT, "default": super::params::DEFAULT_LIMIT})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": crate::scheduler::registry::MAX_PREVIEW, "default": super::schedules::DEFAULT_PREVIEW})
}

/// `GET /v1/reports/cost`'s JSON.
fn cost_report() -> Value {
    let line = open_obj(
        "One machine's month.",
        json!({
            "machine_id": t(STRING), "name": t(STRING), "machine_type": nullable(STRING), "region": nullable(STRING),
            "hours": t("number"), "hours_bound": t("number"),
            "method": {"type": "string", "enum": ["events", "mixed", "observed", "idle"]},
            "hourly_rate": nullable("number"), "compute": nullable("number"), "storage": nullable("number"), "total": nullable("number"),
            "monthly_billed": t("boolean"), "stops": t("integer"), "kept_off_hours": t("number"), "saved": nullable("number"),
        }),
    );
    let totals = open_obj(
        "Sums over every machine.",
        json!({"hours": t("number"), "compute": t("number"), "storage": t("number"), "total": t("number"), "saved": t("number"), "unpriced": t("integer")}),
    );
    open_obj(
        "A month's cost per machine (`machines`), in sums (`totals`), by region, machine type and UTC day, with the meter's gaps and how each figure was derived.",
        json!({
            "month": t(STRING), "backend": {"type": "string", "enum": ["v1", "legacy"]}, "until": time(), "complete": t("boolean"),
            "derivation": {"type": "array", "items": t(STRING)},
            "machines": {"type": "array", "items": line},
            "totals": totals,
        }),
    )
}

/// `POST /v1/forecast`'s answer.
fn forecast() -> Value {
    let line = open_obj(
        "One machine's forecast.",
        json!({"machine_id": t(STRING), "name": t(STRING), "planned_seconds": t("integer"), "planned_cost": nullable("number"), "always_on_cost": nullable("number"), "pattern_cost": nullable("number")}),
    );
    let totals = open_obj(
        "Sums over the plan's machines.",
        json!({"planned_hours": t("number"), "planned_cost": t("number"), "always_on_cost": t("number"), "pattern_cost": t("number"), "unpriced": t("integer")}),
    );
    open_obj(
        "What a plan would make its machines run and cost in a month, against always on and their last 30 days.",
        json!({
            "kind": {"type": "string", "enum": ["schedule", "window"]}, "month": t(STRING),
            "starts": t("integer"), "stops": t("integer"),
            "machines": {"type": "array", "items": line},
            "totals": totals,
            "assumptions": {"type": "array", "items": t(STRING)},
        }),
    )
}

fn report_format() -> Value {
    json!({"type": "string", "enum": ["json", "csv"], "default": "json"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// `YYYY-MM`, 1970-01 to 9999-12.
const MONTH_PATTERN: &str = "^(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:0[1-9]|1[0-2])$";

fn month() -> Value {
    json!({"type": "string", "pattern": MONTH_PATTERN, "example": "2026-03"})
}

/// Letters, digits, `-` and `_`, at most 64: Paperspace ids go into URLs.
fn paperspace_id() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
}

fn job_state() -> Value {
    let states: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
    json!({"type": "string", "enum": states})
}

fn job_kind() -> Value {
    let kinds: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
    json!({"type": "string", "enum": kinds})
}

/// The kinds `POST /v1/jobs` and a schedule's template take: all but
/// `deliver`, which the daemon queues itself.
fn submittable() -> impl Iterator<Item = JobKind> {
    JobKind::ALL.into_iter().filter(|k| k.submittable())
}

fn delivery_limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": super::webhooks::MAX_DELIVERIES, "default": super::webhooks::DEFAULT_DELIVERIES})
}

/// A port, 1 to 65535, written plainly.
const PORT: &str =
    "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})";

/// 0 to 255, written plainly.
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

/// A webhook's URL as `policy` lets it be saved. The server checks the text
/// (no spaces or control characters, at most 2048 bytes) and the
/// destination: `https`, no user or password, and no literal address the
/// policy refuses (a host name's addresses are checked at each delivery).
/// The pattern states a part of that which any match passes: a host name
/// of dotted labels ending in one that starts with a letter (so never an
/// address, nor `localhost`), an optional port, then printable ASCII; with
/// `allow_http_loopback` also `http` to a loopback host, with
/// `allow_private` also `https` to a private IPv4 address.
fn webhook_url(policy: DestinationPolicy) -> Value {
    let label = "[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*";
    let last = "[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*";
    let rest = format!("(?::{PORT})?(?:[/?#][!-~]*)?");
    let mut forms = vec![format!(r"https://(?:{label}\.)+{last}{rest}")];
    if policy.allow_http_loopback {
        forms.push(format!(
            r"https?://(?:localhost|127\.0\.0\.1|\[::1\]){rest}"
        ));
    }
    if policy.allow_private {
        forms.push(format!(
            r"https://(?:10(?:\.{OCTET}){{3}}|192\.168(?:\.{OCTET}){{2}}|172\.(?:1[6-9]|2[0-9]|3[01])(?:\.{OCTET}){{2}}){rest}"
        ));
    }
    let mut allowed = "`https` to a public host".to_string();
    if policy.allow_http_loopback {
        allowed.push_str(", `http` or `https` to this host (`webhooks.allow_http_loopback`)");
    }
    if policy.allow_private {
        allowed.push_str(", private addresses (`webhooks.allow_private`)");
    }
    json!({
        "type": "string", "minLength": 1, "maxLength": 2048,
        "pattern": format!("^(?:{})$", forms.join("|")),
        "example": "https://hooks.example.com/machinist",
        "description": format!("Where deliveries are POSTed: {allowed}; no user or password in it. The pattern states forms this daemon always saves, narrower than what it takes; a host name that resolves to a refused address is refused at each delivery, not here."),
    })
}

/// The event types an endpoint may name (`ping` goes to any endpoint).
fn event_types() -> Vec<&'static str> {
    EventType::ALL
        .into_iter()
        .filter(|t| *t != EventType::Ping)
        .map(EventType::as_str)
        .collect()
}

/// An enum's values and `null`, which a nullable enum must list too.
fn nullable_enum(values: &[&str]) -> Value {
    let mut all: Vec<Value> = values.iter().map(|v| json!(v)).collect();
    all.push(Value::Null);
    Value::Array(all)
}

/// The webhook routes' bodies and answers.
fn webhook_schemas(map: &mut Map<String, Value>, policy: DestinationPolicy) {
    let types = event_types();
    let every_type: Vec<&str> = EventType::ALL.into_iter().map(EventType::as_str).collect();
    let format = json!({"type": "string", "enum": ["standard", "slack"], "description": "`standard`: the Standard Webhooks payload `{type, timestamp, data}`; `slack`: a message for a Slack or Mattermost incoming webhook."});
    let name = json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "A label unique among endpoints: 1 to 64 letters, digits, `-`, `_` or `.`."});
    let events = json!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": types}, "description": "The event types to receive; left out, the default ones (`GET /v1/webhooks/events`)."});
    // 1 to 128 characters of free text, as the server checks.
    let filter = |what: &str| {
        let item = json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": format!("^[^{HIDDEN}]{{1,128}}$")});
        json!({"type": "array", "maxItems": 1000, "description": format!("Only events about these {what}; empty: any."), "items": item})
    };
    let properties = json!({
        "url": webhook_url(policy),
        "name": name,
        "format": format,
        "events": events,
        "machines": filter("machines (ids)"),
        "schedules": filter("schedules (ids or names)"),
        "windows": filter("windows (ids or names)"),
    });
    map.insert(
        "EndpointSpec".into(),
        json!({"type": "object", "description": "A webhook endpoint.", "required": ["url"], "additionalProperties": false, "properties": properties.clone()}),
    );
    let mut patch = properties;
    patch["paused"] = json!({"type": "boolean", "description": "Pause (no new deliveries) or resume; the one field an endpoint of the configuration file takes."});
    map.insert(
        "EndpointPatch".into(),
        json!({"type": "object", "description": "The fields to change; at least one.", "minProperties": 1, "additionalProperties": false, "properties": patch}),
    );
    let strings = json!({"type": "array", "items": t(STRING)});
    map.insert(
        "Endpoint".into(),
        obj(
            &["id", "name", "url", "format", "events", "machines", "schedules", "windows", "paused", "disabled", "source", "previous_secret_until", "created_at", "updated_at"],
            json!({
                "id": t("integer"), "name": nullable(STRING), "url": t(STRING),
                "format": {"type": "string", "enum": ["standard", "slack"]},
                "events": {"type": "array", "items": {"type": "string", "enum": every_type}},
                "machines": strings, "schedules": strings, "windows": strings,
                "paused": t("boolean"),
                "disabled": {"type": "string", "nullable": true, "description": "Why deliveries stopped on their own (a 410 Gone); a resume clears it."},
                "source": {"type": "string", "enum": ["api", "config"], "description": "`config`: defined in the configuration file, changed there."},
                "previous_secret_until": nullable_time(),
                "created_at": time(), "updated_at": time(),
            }),
        ),
    );
    let secret = json!({"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$", "description": "The signing secret; shown only when made."});
    map.insert(
        "EndpointCreated".into(),
        obj(
            &["endpoint", "secret"],
            json!({"endpoint": schema_ref("Endpoint"), "secret": secret}),
        ),
    );
    map.insert(
        "SecretRotated".into(),
        obj(
            &["endpoint", "secret", "previous_secret_until"],
            json!({"endpoint": schema_ref("Endpoint"), "secret": secret, "previous_secret_until": time()}),
        ),
    );
    map.insert(
        "WebhookList".into(),
        obj(&["webhooks"], json!({"webhooks": list_of("Endpoint")})),
    );
    map.insert(
        "EventCatalogue".into(),
        obj(
            &["events"],
            json!({"events": {"type": "array", "items": obj(&["type", "description", "opt_in", "default"], json!({
                "type": {"type": "string", "enum": types}, "description": t(STRING),
                "opt_in": t("boolean"), "default": t("boolean"),
            }))}}),
        ),
    );
    map.insert(
        "TestDelivery".into(),
        obj(
            &["event_id", "delivered", "status", "latency_ms", "answer", "error", "url"],
            json!({
                "event_id": t(STRING), "delivered": {"type": "boolean", "description": "True when the receiver answered 2xx."},
                "status": nullable("integer"), "latency_ms": t("integer"), "answer": t(STRING),
                "error": nullable(STRING), "url": {"type": "string", "description": "The URL shortened to what logs show."},
            }),
        ),
    );
    let attempt = obj(
        &["at", "status", "latency_ms", "answer", "error", "url"],
        json!({
            "at": time(), "status": nullable("integer"), "latency_ms": nullable("integer"),
            "answer": t(STRING), "error": nullable(STRING), "url": nullable(STRING),
        }),
    );
    map.insert(
        "Delivery".into(),
        obj(
            &[
                "id",
                "event_id",
                "event_type",
                "state",
                "attempt",
                "max_attempts",
                "next_attempt_at",
                "last_error",
                "created_at",
                "finished_at",
                "attempts",
            ],
            json!({
                "id": t("integer"), "event_id": t(STRING),
                "event_type": {"type": "string", "enum": nullable_enum(&every_type), "nullable": true, "description": "`null` once the event was pruned."},
                "state": job_state(), "attempt": t("integer"), "max_attempts": t("integer"),
                "next_attempt_at": nullable_time(), "last_error": nullable(STRING),
                "created_at": time(), "finished_at": nullable_time(),
                "attempts": {"type": "array", "items": attempt},
            }),
        ),
    );
    map.insert(
        "DeliveryPage".into(),
        obj(
            &["deliveries", "next_before"],
            json!({"deliveries": list_of("Delivery"), "next_before": nullable("integer")}),
        ),
    );
    map.insert(
        "Resent".into(),
        obj(
            &["delivery", "event_id"],
            json!({"delivery": t("integer"), "event_id": t(STRING)}),
        ),
    );
}

/// Most stages in a group, as [`crate::group::GroupSpec::check`] allows
/// (its constant is private to `group/spec.rs`; a test here holds the two
/// equal).
const MAX_STAGES: usize = 50;

/// A group's name, as [`crate::group::GroupSpec::check`] takes it.
fn group_name() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"})
}

fn run_limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": super::groups::MAX_RUNS, "default": super::groups::DEFAULT_RUNS})
}

fn run_cursor() -> Value {
    json!({"type": "string", "pattern": "^r[1-9][0-9]{0,17}$"})
}

/// The group routes' bodies and answers.
fn group_schemas(map: &mut Map<String, Value>) {
    let states: Vec<&str> = crate::machine::MachineState::KNOWN
        .iter()
        .map(|s| s.as_str())
        .collect();
    let stage_name = json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "Unique in the group: 1 to 64 letters, digits, `-`, `_` or `.`."});
    let selector = json!({"type": "object", "additionalProperties": false, "minProperties": 1, "description": "Machines matching all of these when a run is made.", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": format!("^[^{HIDDEN}]*$"), "description": "A glob: `*` any run, `?` one character."},
        "region": free_text(1024), "machine_type": free_text(1024),
        "state": {"type": "string", "enum": states},
    }});
    map.insert(
        "Stage".into(),
        json!({"description": "One stage: its machines by id (each machine in one stage of the group only) or by selector.", "oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["name", "machine_ids"], "properties": {
                "name": stage_name,
                "machine_ids": {"type": "array", "minItems": 1, "maxItems": 10_000, "items": paperspace_id()},
            }},
            {"type": "object", "additionalProperties": false, "required": ["name", "selector"], "properties": {
                "name": stage_name,
                "machine_ids": {"type": "array", "maxItems": 0},
                "selector": selector,
            }},
        ]}),
    );
    let stages = json!({"type": "array", "minItems": 1, "maxItems": MAX_STAGES, "items": schema_ref("Stage"), "description": "In start order; stage names unique in the group, and a machine in one stage only."});
    map.insert(
        "GroupSpec".into(),
        json!({"type": "object", "description": "A machine group.", "required": ["name", "stages"], "additionalProperties": false, "properties": {"name": group_name(), "stages": stages}}),
    );
    map.insert(
        "GroupPatch".into(),
        json!({"type": "object", "description": "The fields to change; at least one. A rename is refused while schedules or windows target the group by name.", "minProperties": 1, "additionalProperties": false, "properties": {"name": group_name(), "stages": stages}}),
    );
    map.insert(
        "RunRequest".into(),
        json!({"type": "object", "required": ["action"], "additionalProperties": false, "properties": {
            "action": {"type": "string", "enum": ["start", "stop", "restart"], "description": "`start`: stages first to last, each ready before the next; `stop`: last to first; `restart`: a stop, then a start."},
            "wait": {"type": "string", "enum": ["ready", "serviceready"], "default": "ready", "description": "What a started machine must reach before the next stage starts."},
        }}),
    );
    let stage_out = open_obj(
        "A stage: `name`, and `machine_ids` or `selector`.",
        json!({"name": t(STRING), "machine_ids": {"type": "array", "items": t(STRING)}, "selector": t("object")}),
    );
    map.insert(
        "Group".into(),
        obj(
            &["id", "name", "stages", "created_at", "updated_at"],
            json!({"id": t("integer"), "name": t(STRING), "stages": {"type": "array", "items": stage_out}, "created_at": time(), "updated_at": time()}),
        ),
    );
    map.insert(
        "GroupList".into(),
        obj(&["groups"], json!({"groups": list_of("Group")})),
    );
    map.insert(
        "GroupDetail".into(),
        json!({"allOf": [schema_ref("Group"), obj(&["recent_runs"], json!({"recent_runs": list_of("RunView")}))]}),
    );
    let step_action = json!({"type": "string", "enum": ["start", "stop"]});
    let step = obj(
        &["stage", "action", "machine_ids"],
        json!({"stage": t(STRING), "action": step_action, "machine_ids": {"type": "array", "items": t(STRING)}}),
    );
    let run_job = obj(
        &["machine_id", "job_id", "state"],
        json!({"machine_id": t(STRING), "job_id": t("integer"), "state": job_state(), "error": t(STRING)}),
    );
    let progress = obj(
        &["stage", "action", "state", "jobs"],
        json!({
            "stage": t(STRING), "action": step_action,
            "state": {"type": "string", "enum": ["blocked", "running", "succeeded", "failed", "cancelled"]},
            "jobs": {"type": "array", "items": run_job},
        }),
    );
    let failure = obj(
        &["step", "stage", "machine_id", "job_id", "reason"],
        json!({"step": t("integer"), "stage": t(STRING), "machine_id": t(STRING), "job_id": t("integer"), "reason": t(STRING)}),
    );
    map.insert(
        "RunView".into(),
        obj(
            &["id", "group", "action", "wait", "steps", "resumes", "created_at", "updated_at", "state", "steps_done", "progress"],
            json!({
                "id": t("integer"), "group": t(STRING),
                "action": {"type": "string", "enum": ["start", "stop", "restart"]},
                "wait": {"type": "string", "enum": ["ready", "serviceready", "off", "gone"]},
                "steps": {"type": "array", "items": step},
                "schedule_id": {"type": "integer", "description": "The schedule whose firing made the run; absent for a run made by hand."},
                "resumes": t("integer"), "created_at": time(), "updated_at": time(),
                "state": {"type": "string", "enum": ["running", "succeeded", "failed"]},
                "steps_done": t("integer"),
                "progress": {"type": "array", "items": progress},
                "failure": failure,
            }),
        ),
    );
    map.insert(
        "RunPage".into(),
        obj(
            &["runs", "next_cursor"],
            json!({"runs": list_of("RunView"), "next_cursor": nullable(STRING)}),
        ),
    );
}

/// The largest id a cursor is written for here (18 digits; ids are i64).
fn job_cursor() -> Value {
    json!({"type": "string", "pattern": "^j[1-9][0-9]{0,17}$"})
}

fn event_cursor() -> Value {
    json!({"type": "string", "pattern": "^e[1-9][0-9]{0,17}$"})
}

fn event_after() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX})
}

fn wait_seconds() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": super::follow::MAX_WAIT_SECONDS})
}

fn int(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

/// A week in seconds: the furthest a job may be delayed, the longest a wait.
const WEEK: i64 = 7 * 24 * 3600;

/// The arguments of `kind`, as [`crate::job::Operation::parse`] checks them.
fn job_args(kind: JobKind, in_template: bool) -> Value {
    let id = paperspace_id();
    let ip = json!({"type": "string", "enum": ["static", "dynamic", "none"]});
    let text = free_text(1024);
    let closed = |required: &[&str], properties: Value| json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties});
    match kind {
        JobKind::Create => closed(
            &[
                "name",
                "region",
                "machine_type",
                "disk_size_gb",
                "template_id",
            ],
            json!({
                "name": not_blank(Some(128)), "region": not_blank(None), "machine_type": not_blank(None),
                "disk_size_gb": int(1, 16_384), "template_id": id,
                "billing_type": {"type": "string", "enum": ["hourly", "monthly"]},
                "public_ip": ip, "start_on_create": boolean(),
                "network_id": text, "team_id": text, "user_id": text, "notification_email": text,
                "script_id": text, "take_initial_snapshot": boolean(),
                "mark_snapshot_as_restore_point": boolean(), "restore_point_frequency": text,
            }),
        ),
        JobKind::Destroy => closed(&[], json!({"release_public_ip": boolean()})),
        JobKind::Update => {
            let mut schema = closed(
                &[],
                json!({
                    "name": not_blank(None),
                    "auto_shutdown_timeout_hours": {"type": "number", "minimum": 0, "maximum": 8760},
                    "auto_shutdown_force": boolean(), "auto_snapshot_enabled": boolean(),
                    "auto_snapshot_frequency": {"type": "string", "enum": ["hour", "day", "week"]},
                    "auto_snapshot_save_count": int(0, i64::from(u32::MAX)),
                    "public_ip": ip,
                }),
            );
            schema["minProperties"] = json!(1);
            schema["description"] = json!("At least one setting to change.");
            schema
        }
        JobKind::SetAccess => closed(
            &["user_id", "enable"],
            json!({"user_id": id, "enable": boolean()}),
        ),
        JobKind::Utilization => {
            let month = if in_template {
                json!({"type": "string", "pattern": format!("^(?:previous|current|{})$", &MONTH_PATTERN[1..MONTH_PATTERN.len() - 1]),
                    "description": "`YYYY-MM`, or `previous`/`current`: the month before, or of, each firing in the schedule's zone."})
            } else {
                json!({"type": "string", "pattern": MONTH_PATTERN, "description": "`YYYY-MM`; a month that has begun."})
            };
            closed(&["month"], json!({"month": month}))
        }
        JobKind::Availability => closed(
            &["region", "machine_type"],
            json!({"region": not_blank(None), "machine_type": not_blank(None)}),
        ),
        _ => json!({"type": "object", "additionalProperties": false, "maxProperties": 0}),
    }
}

/// The fields a job and a schedule's job template share, for `kind`:
/// arguments, wait, attempts, priority.
fn job_fields(kind: JobKind, in_template: bool) -> (Map<String, Value>, Vec<&'static str>) {
    let mut properties = Map::new();
    let mut required = vec!["kind"];
    properties.insert(
        "kind".into(),
        json!({"type": "string", "enum": [kind.as_str()]}),
    );
    let args = job_args(kind, in_template);
    if args["required"].as_array().is_some_and(|r| !r.is_empty())
        || args.get("minProperties").is_some()
    {
        required.push("args");
    }
    properties.insert("args".into(), args);
    properties.insert("priority".into(), json!({"type": "integer", "minimum": -1000, "maximum": 1000, "default": 0, "description": "Higher runs first."}));
    properties.insert("max_attempts".into(), json!({"type": "integer", "minimum": 1, "maximum": 100, "description": "Default from the configuration."}));
    let waits: Vec<&str> = kind.waits().iter().map(|w| w.as_str()).collect();
    if kind == JobKind::Wait {
        required.push("wait");
        properties.insert("wait".into(), json!({"type": "string", "enum": waits}));
    } else {
        let mut allowed = waits.clone();
        allowed.push("none");
        properties.insert("wait".into(), json!({"type": "string", "enum": allowed, "description": "Default: the kind's natural end state, if it has one."}));
    }
    if !waits.is_empty() {
        properties.insert("wait_timeout_seconds".into(), json!({"type": "integer", "minimum": 1, "maximum": WEEK, "description": "Default per state from the configuration; not with `wait: none`."}));
    }
    (properties, required)
}

/// The combinations a job of `kind` refuses, as `allOf` entries: `extra`,
/// and a wait timeout with `wait: none` (there is then nothing to time).
fn refused_combinations(kind: JobKind, extra: &[Value]) -> Vec<Value> {
    let mut nots: Vec<Value> = extra.to_vec();
    if !kind.waits().is_empty() && kind != JobKind::Wait {
        nots.push(json!({"not": {"required": ["wait", "wait_timeout_seconds"], "properties": {"wait": {"enum": ["none"]}}}}));
    }
    nots
}

/// `POST /v1/jobs` for one kind.
fn job_request(kind: JobKind) -> Value {
    let (mut properties, mut required) = job_fields(kind, false);
    if kind.needs_machine() {
        required.push("machine_id");
        properties.insert("machine_id".into(), paperspace_id());
    }
    properties.insert("run_at".into(), json!({"type": "string", "format": "date-time", "description": "Run no earlier than this; at most 7 days ahead (a time past means now)."}));
    properties.insert("delay_seconds".into(), json!({"type": "integer", "minimum": 0, "maximum": WEEK, "description": "Run no earlier than this many seconds from now; not with `run_at`."}));
    properties.insert("idempotency_key".into(), {
        let mut k = free_text(200);
        k["minLength"] = json!(1);
        k["description"] =
            json!("Submitting the same key again answers 200 with the job it made the first time.");
        k
    });
    properties.insert("depends_on".into(), json!({"type": "array", "maxItems": crate::job::dependency::MAX_DEPENDENCIES, "items": positive_id(), "description": "Ids of jobs that must succeed before this one runs (it is `blocked` until then); each must be a job the daemon holds, or the answer is a 422 naming it."}));
    properties.insert("on_dependency_failure".into(), json!({"type": "string", "enum": ["cancel", "run"], "default": "cancel", "description": "When a dependency fails or is cancelled: cancel this job too, or run it anyway once they have all finished."}));
    let all_of = refused_combinations(
        kind,
        &[json!({"not": {"required": ["run_at", "delay_seconds"]}})],
    );
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties, "allOf": all_of})
}

/// A job of `POST /v1/jobs/batch` for one kind: a job of `POST /v1/jobs`
/// that may have a `ref`, and may depend on the refs of the batch's other
/// jobs as well as on ids.
fn batch_job(kind: JobKind) -> Value {
    let mut schema = job_request(kind);
    let properties = schema["properties"]
        .as_object_mut()
        .expect("a job's properties");
    let mut reference = free_text(64);
    reference["minLength"] = json!(1);
    reference["description"] =
        json!("A name, unique in the batch, that other jobs of the batch depend on this one by.");
    let mut by_ref = reference.clone();
    by_ref["description"] = json!("The `ref` of another job of the batch.");
    properties.insert("ref".into(), reference);
    properties.insert("depends_on".into(), json!({"type": "array", "maxItems": crate::job::dependency::MAX_DEPENDENCIES, "items": {"oneOf": [positive_id(), by_ref]}, "description": "Jobs that must succeed first: ids of jobs the daemon holds, or refs of other jobs of the batch; the batch's dependencies must not form a cycle (a 422 names it)."}));
    schema
}

/// A schedule's job template for one kind.
fn job_template(kind: JobKind) -> Value {
    let (properties, required) = job_fields(kind, true);
    let mut schema = json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties});
    let all_of = refused_combinations(kind, &[]);
    if !all_of.is_empty() {
        schema["allOf"] = json!(all_of);
    }
    schema
}

fn one_of_kinds(kinds: impl Iterator<Item = JobKind>, prefix: &str) -> Value {
    let refs: Vec<Value> = kinds
        .map(|k| schema_ref(&format!("{prefix}_{}", k.as_str())))
        .collect();
    json!({"oneOf": refs})
}

/// Every IANA zone name the server knows (case as written).
fn time_zone() -> Value {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    json!({"type": "string", "enum": zones, "description": "An IANA time zone; default from the configuration."})
}

/// Targets for kinds that act on machines: `machine_ids` or a `selector`.
fn machine_targets() -> Value {
    let states: Vec<&str> = crate::machine::MachineState::KNOWN
        .iter()
        .map(|s| s.as_str())
        .collect();
    json!({"oneOf": [
        {"type": "object", "additionalProperties": false, "required": ["machine_ids"], "properties": {
            "machine_ids": {"type": "array", "minItems": 1, "maxItems": 10_000, "items": paperspace_id()},
        }},
        {"type": "object", "additionalProperties": false, "required": ["selector"], "properties": {
            "machine_ids": {"type": "array", "maxItems": 0},
            "selector": {"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": format!("^[^{HIDDEN}]*$"), "description": "A glob: `*` any run, `?` one character."},
                "region": free_text(1024), "machine_type": free_text(1024),
                "state": {"type": "string", "enum": states},
            }},
        }},
    ]})
}

/// Targets for kinds that act on no existing machine: none.
fn no_targets() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {"machine_ids": {"type": "array", "maxItems": 0}}})
}

/// Dates and configured calendars a schedule or window skips.
fn exclusions(calendars: &[String]) -> Value {
    let names = if calendars.is_empty() {
        json!({"type": "array", "maxItems": 0, "description": "No calendars are configured ([schedule.calendars])."})
    } else {
        json!({"type": "array", "items": {"type": "string", "enum": calendars}})
    };
    json!({"type": "object", "additionalProperties": false, "properties": {
        "dates": {"type": "array", "items": {"type": "string", "format": "date"}, "description": "Local dates, `YYYY-MM-DD`."},
        "calendars": names,
    }})
}

/// `POST /v1/schedules`, `PUT /v1/schedules/{key}`: for a kind that acts on
/// machines (targets required) or not (no targets).
fn schedule_spec(machines: bool) -> Value {
    let kinds = submittable().filter(|k| k.needs_machine() == machines);
    let mut required = vec!["name", "cron", "template"];
    if machines {
        required.push("targets");
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": {
        "name": name(true),
        "cron": schema_ref("Cron"),
        "timezone": schema_ref("TimeZone"),
        "template": one_of_kinds(kinds, "JobTemplate"),
        "targets": if machines { schema_ref("MachineTargets") } else { schema_ref("NoTargets") },
        "enabled": {"type": "boolean", "default": true},
        "jitter_seconds": {"type": "integer", "minimum": 0, "maximum": 3600, "default": 0, "description": "Spread a fleet's jobs over this many seconds after the firing."},
        "exclusions": schema_ref("Exclusions"),
        "misfire": {"type": "string", "enum": ["skip", "run_once"], "default": "run_once"},
        "catch_up_seconds": {"type": "integer", "minimum": 0, "maximum": 31 * 24 * 3600, "description": "Default per job kind."},
        "overlap": {"type": "string", "enum": ["skip", "queue"], "default": "skip"},
        "allow_unknown": {"type": "boolean", "default": false, "description": "Accept machine ids missing from the daemon's last listing of the account (machines created later); without it such an id is refused with 422."},
    }})
}

/// The schedule of `POST /v1/forecast`: one that starts or stops machines,
/// firing at most once a minute (a forecast enumerates its firings).
fn forecast_schedule() -> Value {
    let mut spec = schedule_spec(true);
    let properties = spec["properties"]
        .as_object_mut()
        .expect("a schedule's properties");
    properties.insert(
        "template".into(),
        one_of_kinds([JobKind::Start, JobKind::Stop].into_iter(), "JobTemplate"),
    );
    properties.insert("cron".into(), cron_with(false));
    spec
}

/// A wall-clock time, `HH:MM` or `HH:MM:SS`.
fn wall_time() -> Value {
    json!({"type": "string", "pattern": "^(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?$"})
}

fn window_hours() -> Value {
    let mut days: Vec<String> = Vec::new();
    for (short, long) in [
        ("mon", "monday"),
        ("tue", "tuesday"),
        ("wed", "wednesday"),
        ("thu", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    ] {
        days.push(short.into());
        days.push(long.into());
    }
    json!({"type": "object", "additionalProperties": false, "required": ["days", "start", "end", "zone"],
    "description": "Opens at `start` and closes at `end` (which differs from `start`; an `end` before `start` closes the next day) on each of `days`, in `zone`.",
    "properties": {
        "days": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": days}},
        "start": wall_time(), "end": wall_time(),
        "zone": schema_ref("TimeZone"),
    }})
}

/// Regex pieces for the numbers `lo..=hi` (at most 99), single digits
/// also with a leading zero.
fn number_range(lo: u32, hi: u32) -> Vec<String> {
    let mut pieces = Vec::new();
    if lo > hi {
        return pieces;
    }
    if lo < 10 {
        pieces.push(format!("0?[{lo}-{}]", hi.min(9)));
    }
    let (lo, hi) = (lo.max(10), hi);
    if lo > hi {
        return pieces;
    }
    let (first, last) = (lo / 10, hi / 10);
    if first == last {
        pieces.push(format!("{first}[{}-{}]", lo % 10, hi % 10));
    } else {
        pieces.push(format!("{first}[{}-9]", lo % 10));
        if first + 1 < last {
            pieces.push(format!("[{}-{}][0-9]", first + 1, last - 1));
        }
        pieces.push(format!("{last}[0-{}]", hi % 10));
    }
    pieces
}

/// A name in any case.
fn any_case(name: &str) -> String {
    name.chars()
        .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
        .collect()
}

/// The tokens with values `lo..=max`: numbers, and names by value.
fn tokens_from(lo: u32, max: u32, names: &[(&str, u32)]) -> String {
    let mut pieces = number_range(lo, max);
    pieces.extend(
        names
            .iter()
            .filter(|(_, v)| *v >= lo)
            .map(|(n, _)| any_case(n)),
    );
    format!("(?:{})", pieces.join("|"))
}

/// One cron field: a comma list of `*`, values and ranges that run
/// forwards, each with an optional `/step`.
fn cron_field(
    min: u32,
    max: u32,
    names: &[(&str, u32)],
    range_end_names: &[(&str, u32)],
) -> String {
    let mut ranges = Vec::new();
    for from in min..=max {
        let mut starts = number_range(from, from);
        starts.extend(
            names
                .iter()
                .filter(|(_, v)| *v == from)
                .map(|(n, _)| any_case(n)),
        );
        ranges.push(format!(
            "(?:{})-{}",
            starts.join("|"),
            tokens_from(from, max, range_end_names)
        ));
    }
    let item = format!(
        "(?:\\*|{}|{})(?:/0*[1-9][0-9]{{0,8}})?",
        ranges.join("|"),
        tokens_from(min, max, names),
    );
    format!("{item}(?:,{item})*")
}

/// Cron expressions the server accepts: 5 fields (`m h dom mon dow`), 6
/// with seconds first, or a macro. Stated exactly but for one rule: a day of
/// the month after the 29th only with every month, since a schema cannot
/// tell whether `30 2` ever fires.
fn cron() -> Value {
    cron_with(true)
}

/// A cron expression; `seconds` allows the 6-field form with seconds first.
fn cron_with(seconds: bool) -> Value {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let months: Vec<(&str, u32)> = MONTHS.iter().zip(1..).map(|(n, v)| (*n, v)).collect();
    let days: Vec<(&str, u32)> = DAYS.iter().zip(0..).map(|(n, v)| (*n, v)).collect();
    // `SUN` ends a range as 7, so that `FRI-SUN` runs forwards.
    let days_as_end: Vec<(&str, u32)> = days
        .iter()
        .map(|(n, v)| (*n, if *v == 0 { 7 } else { *v }))
        .collect();
    let sixty = cron_field(0, 59, &[], &[]);
    let hours = cron_field(0, 23, &[], &[]);
    let any_dom = cron_field(1, 31, &[], &[]);
    let early_dom = cron_field(1, 29, &[], &[]);
    let month = cron_field(1, 12, &months, &months);
    let dow = cron_field(0, 7, &days, &days_as_end);
    let macros = "@(?:[Yy][Ee][Aa][Rr][Ll][Yy]|[Aa][Nn][Nn][Uu][Aa][Ll][Ll][Yy]|[Mm][Oo][Nn][Tt][Hh][Ll][Yy]|[Ww][Ee][Ee][Kk][Ll][Yy]|[Dd][Aa][Ii][Ll][Yy]|[Mm][Ii][Dd][Nn][Ii][Gg][Hh][Tt]|[Hh][Oo][Uu][Rr][Ll][Yy])";
    let optional_seconds = if seconds {
        format!("(?:{sixty} )?")
    } else {
        String::new()
    };
    let pattern = format!(
        "^(?:{macros}|{optional_seconds}{sixty} {hours} (?:{any_dom} \\* |{early_dom} {month} ){dow})$"
    );
    let fields = if seconds {
        "5 fields (`m h dom mon dow`), 6 with seconds first,"
    } else {
        "5 fields (`m h dom mon dow`; a forecast takes no seconds field),"
    };
    json!({"type": "string", "pattern": pattern, "example": "0 9 * * MON-FRI", "description": format!("{fields} or `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`). Values or names (`JAN`, `MON`), `*`, ranges that run forwards, `/step`, comma lists; 0 and 7 are Sunday. The pattern allows a day of the month past the 29th only with `*` as the month; the server also takes such a day with months that have it.")})
}

/// The answers of `?dry_run=true` ([`super::dry_run`]).
fn dry_run_schemas() -> Value {
    json!({
        "JobDryRun": obj(&["dry_run", "job"], json!({
            "dry_run": {"type": "boolean", "enum": [true]},
            "job": open_obj("The job as it would be queued, `id` null.", json!({
                "id": nullable("integer"), "kind": job_kind(), "machine_id": nullable(STRING),
                "state": {"type": "string", "enum": ["queued", "blocked"]}, "run_at": time(),
            })),
        })),
        "ScheduleDryRun": obj(&["dry_run", "schedule", "next_fire_times"], json!({
            "dry_run": {"type": "boolean", "enum": [true]},
            "schedule": open_obj("The schedule as it would be stored; `id` null for a create.", json!({"id": nullable("integer"), "name": t(STRING), "cron": t(STRING), "timezone": t(STRING)})),
            "next_fire_times": list_of("FireTime"),
        })),
        "WindowDryRun": obj(&["dry_run", "window", "next_edges", "would_stop"], json!({
            "dry_run": {"type": "boolean", "enum": [true]},
            "window": open_obj("The window as it would be stored; `id` null for a create.", json!({"id": nullable("integer"), "name": t(STRING), "enforce": t("boolean"), "enabled": t("boolean")})),
            "next_edges": list_of("FireTime"),
            "would_stop": {"type": "array", "description": "The running machines its enforcement would stop now.", "items": obj(&["machine_id", "name", "state", "reason"], json!({
                "machine_id": t(STRING), "name": t(STRING), "state": t(STRING), "reason": t(STRING),
            }))},
        })),
        "OverrideDryRun": obj(&["dry_run", "override"], json!({
            "dry_run": {"type": "boolean", "enum": [true]},
            "override": open_obj("The override as it would be stored, `id` null.", json!({"id": nullable("integer"), "machine_id": t(STRING), "mode": t(STRING), "until": time(), "active": t("boolean")})),
        })),
    })
}

fn schemas(calendars: &[String], policy: DestinationPolicy) -> Value {
    let page = |items: &str, item: &str| {
        obj(
            &[items, "next_cursor"],
            json!({items: list_of(item), "next_cursor": nullable(STRING)}),
        )
    };
    let job_states: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
    // `deliver` jobs are the daemon's own: listed, never submitted.
    let job_requests: Vec<Value> = submittable()
        .map(|k| schema_ref(&format!("JobRequest_{}", k.as_str())))
        .collect();
    let schema_spec_machines = schedule_spec(true);
    let schema_spec_none = schedule_spec(false);
    let mut schemas = json!({
        "Error": obj(&["error"], json!({"error": obj(&["code", "message", "field"], json!({
            "code": {"type": "string", "enum": ["bad_request", "unauthorized", "not_found", "method_not_allowed", "conflict", "payload_too_large", "unsupported_media_type", "request_timeout", "invalid_job", "invalid_group", "invalid_schedule", "invalid_window", "invalid_override", "invalid_forecast", "invalid_webhook", "unavailable", "timeout", "not_ready", "internal"]},
            "message": t(STRING),
            "field": {"type": "string", "nullable": true, "description": "The offending input: a JSON path, query parameter or path segment (several, joined by commas, when a webhook's fields are refused together)."},
        }))})),
        "ApiIndex": obj(&["name", "version", "openapi", "health", "ready", "routes"], json!({
            "name": {"type": "string", "enum": ["machinist"]}, "version": t(STRING),
            "openapi": t(STRING), "health": t(STRING), "ready": t(STRING),
            "routes": {"type": "array", "description": "Every route of the admin API.", "items": obj(&["method", "path", "summary"], json!({
                "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                "path": t(STRING), "summary": t(STRING),
            }))},
        })),
        "Health": obj(&["status"], json!({"status": {"type": "string", "enum": ["ok"]}})),
        "Readiness": obj(&["status", "checks", "account_standing", "meter"], json!({
            "status": {"type": "string", "enum": ["ready"]},
            "checks": {"type": "object", "additionalProperties": t(STRING)},
            "account_standing": {"type": "object", "nullable": true, "description": "The account's standing as last checked (v1); `null` when never checked (legacy).", "required": ["in_good_standing", "has_payment_method", "admin_locked", "messages", "checked_at"], "properties": {
                "in_good_standing": t("boolean"), "has_payment_method": t("boolean"), "admin_locked": t("boolean"),
                "messages": {"type": "array", "items": t(STRING)}, "checked_at": time(),
            }},
            "meter": obj(&["ingested_at", "newest", "events"], json!({"ingested_at": nullable_time(), "newest": nullable_time(), "events": t("integer")})),
        })),
        "OpenApiDocument": open_obj("This document.", json!({"openapi": t(STRING)})),
        "Job": obj(&["id", "kind", "state", "priority", "attempt", "max_attempts", "run_at", "created_at", "updated_at"], json!({
            "id": t("integer"), "kind": job_kind(), "machine_id": nullable(STRING), "args": t("object"),
            "state": {"type": "string", "enum": job_states},
            "priority": t("integer"), "attempt": t("integer"), "max_attempts": t("integer"),
            "run_at": time(), "wait": nullable(STRING), "wait_timeout_seconds": t("integer"),
            "checkpoint": {"type": "object", "nullable": true}, "result": {"nullable": true},
            "last_error": nullable(STRING), "idempotency_key": nullable(STRING),
            "lease_owner": nullable(STRING), "lease_expires_at": nullable_time(),
            "created_at": time(), "updated_at": time(), "finished_at": nullable_time(),
            "depends_on": {"type": "array", "items": t("integer"), "description": "Jobs that must succeed before this one runs; absent when none."},
            "on_dependency_failure": {"type": "string", "enum": ["cancel", "run"], "description": "What the job does when a dependency fails or is cancelled; absent without dependencies."},
            "group_run": {"type": "integer", "description": "The group run that made the job (`GET /v1/group-runs/{id}`); absent for others."},
            "group_step": {"type": "integer", "description": "Its step in that run, from 0."},
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
        "HistoryPage": obj(
            &["events", "next_cursor", "next_after"],
            json!({
                "events": list_of("JobEvent"),
                "next_cursor": nullable(STRING),
                "next_after": {"type": "integer", "format": "int64", "minimum": 0},
            }),
        ),
        "Machine": open_obj("A machine as Paperspace last reported it.", json!({
            "id": t(STRING), "name": t(STRING), "state": t(STRING), "machine_type": nullable(STRING),
            "region": nullable(STRING), "public_ip": nullable(STRING), "usage_rate": nullable(STRING),
        })),
        "MachineView": {"allOf": [schema_ref("Machine"), obj(&["seen_at", "gone_at"], json!({"seen_at": time(), "gone_at": nullable_time()}))]},
        "MachineList": obj(&["machines"], json!({"machines": list_of("MachineView")})),
        "DaemonView": obj(&["id", "host", "pid", "version", "schema_version", "started_at", "heartbeat_at", "stopped_at", "leader"], json!({
            "id": t(STRING), "host": t(STRING), "pid": t("integer"), "version": t(STRING),
            "schema_version": t("integer"), "started_at": time(), "heartbeat_at": time(),
            "stopped_at": nullable_time(), "leader": t("boolean"),
        })),
        "DaemonList": obj(&["daemons"], json!({"daemons": list_of("DaemonView")})),
        "MachineDetail": {"allOf": [schema_ref("MachineView"), obj(&["recent_jobs", "schedules"], json!({"recent_jobs": list_of("Job"), "schedules": list_of("Schedule")}))]},
        "Targets": obj(&[], json!({
            "machine_ids": {"type": "array", "items": t(STRING)},
            "selector": obj(&[], json!({"name": t(STRING), "region": t(STRING), "machine_type": t(STRING), "state": t(STRING)})),
        })),
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
        "Window": open_obj("A stored window.", json!({"id": t("integer"), "name": t(STRING), "timezone": t(STRING), "enabled": t("boolean")})),
        "WindowList": obj(&["windows"], json!({"windows": list_of("Window")})),
        "WindowDetail": {"allOf": [schema_ref("Window"), open_obj("Next edges, active overrides and both edges' recent firings.", json!({"next_edges": list_of("FireTime"), "overrides": list_of("Override")}))]},
        "Override": open_obj("An override with whether it is active.", json!({"id": t("integer"), "window_id": t("integer"), "machine_id": t(STRING), "mode": t(STRING), "until": time(), "reason": nullable(STRING), "created_at": time(), "active": t("boolean")})),
        "OverrideList": obj(&["overrides"], json!({"overrides": list_of("Override")})),
        "UtilizationView": open_obj("Hours and cost per machine in a month.", json!({"month": t(STRING), "machines": {"type": "array", "items": open_obj("One machine's hours, rate and cost.", json!({"machine_id": t(STRING), "hours_used": t("number"), "hourly_rate": t("number")}))}, "total_cost": t("number")})),
        "SavingsView": open_obj("What schedules saved per machine in a month.", json!({"month": t(STRING), "machines": {"type": "array", "items": open_obj("One machine's hours off and savings.", json!({"machine_id": t(STRING)}))}, "total_hours_off": t("number"), "total_saved": t("number")})),
        "PullAnswer": obj(&["jobs"], json!({"jobs": {"type": "array", "items": t("integer")}})),
        "Cron": cron(),
        "TimeZone": time_zone(),
        "MachineTargets": machine_targets(),
        "NoTargets": no_targets(),
        "Exclusions": exclusions(calendars),
    });

    let answers = dry_run_schemas();
    for (name, schema) in answers.as_object().expect("an object") {
        schemas[name] = schema.clone();
    }
    let map = schemas.as_object_mut().expect("an object");
    map.insert(
        "JobRequest".into(),
        json!({"description": "A job; its fields depend on `kind`.", "oneOf": job_requests}),
    );
    let batch_jobs: Vec<Value> = submittable()
        .map(|k| schema_ref(&format!("BatchJob_{}", k.as_str())))
        .collect();
    map.insert(
        "BatchRequest".into(),
        json!({"type": "object", "description": "Jobs stored together, all or none, in an order where each comes after what it depends on.", "required": ["jobs"], "additionalProperties": false, "properties": {"jobs": {"type": "array", "minItems": 1, "maxItems": crate::job::dependency::MAX_BATCH, "items": {"oneOf": batch_jobs}}}}),
    );
    map.insert(
        "BatchAnswer".into(),
        obj(
            &["jobs", "refs"],
            json!({"jobs": {"type": "array", "items": schema_ref("Job"), "description": "In the order of the request."}, "refs": {"type": "object", "additionalProperties": t("integer"), "description": "Each `ref` of the request and its job's id."}}),
        ),
    );
    group_schemas(map);
    map.insert(
        "ScheduleSpec".into(),
        json!({"description": "A schedule: targets when its template's kind acts on machines, none otherwise.", "oneOf": [schema_spec_machines, schema_spec_none]}),
    );
    map.insert(
        "PreviewRequest".into(),
        json!({"type": "object", "required": ["cron"], "additionalProperties": false, "properties": {"cron": schema_ref("Cron"), "timezone": schema_ref("TimeZone"), "count": count()}}),
    );
    map.insert(
        "WindowRequest".into(),
        json!({"type": "object", "description": "An office-hours window.", "required": ["name", "hours", "targets"], "additionalProperties": false, "properties": {"name": name(false), "hours": window_hours(), "targets": schema_ref("MachineTargets"), "enforce": {"type": "boolean", "default": false, "description": "Stop targets found running while the window is closed."}, "enforce_interval_seconds": {"type": "integer", "minimum": 10, "maximum": 86_400, "default": 300}, "exclusions": schema_ref("Exclusions"), "enabled": {"type": "boolean", "default": true}, "allow_unknown": {"type": "boolean", "default": false, "description": "Accept machine ids missing from the daemon's last listing of the account (machines created later); without it such an id is refused with 422."}}}),
    );
    map.insert(
        "OverrideRequest".into(),
        json!({"type": "object", "description": "Keep a machine on or off until a time (`until`: in the future, at most 31 days ahead) or for some hours from now (`hours`); one of the two.", "required": ["machine_id", "mode"], "additionalProperties": false, "oneOf": [{"required": ["until"]}, {"required": ["hours"]}], "properties": {"machine_id": paperspace_id(), "mode": {"type": "string", "enum": ["keep_on", "keep_off"]}, "until": time(), "hours": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 744}, "reason": free_text(500), "allow_unknown": {"type": "boolean", "default": false, "description": "Accept machine ids missing from the daemon's last listing of the account (machines created later); without it such an id is refused with 422."}}}),
    );
    map.insert("CostReport".into(), cost_report());
    webhook_schemas(map, policy);
    map.insert("Forecast".into(), forecast());
    map.insert(
        "Billing".into(),
        obj(
            &["machine_id", "billing", "source"],
            json!({
                "machine_id": t(STRING),
                "billing": {"type": "string", "enum": ["monthly", "hourly"]},
                "source": {"type": "string", "enum": ["config", "api", "default"]},
            }),
        ),
    );
    map.insert(
        "Plan".into(),
        json!({"type": "object", "description": "Exactly one of a schedule or a window, as `POST /v1/schedules` or `POST /v1/windows` would create it; a schedule's template kind is `start` or `stop`, and its cron has no seconds field.", "additionalProperties": false, "oneOf": [{"required": ["schedule"]}, {"required": ["window"]}], "properties": {"schedule": forecast_schedule(), "window": schema_ref("WindowRequest"), "month": {"type": "string", "pattern": MONTH_PATTERN, "description": "The month to forecast; default: the next one."}}}),
    );
    map.insert(
        "BillingRequest".into(),
        json!({"type": "object", "required": ["billing"], "additionalProperties": false, "properties": {"billing": {"type": "string", "enum": ["monthly", "hourly"]}}}),
    );
    map.insert(
        "PullRequest".into(),
        json!({"type": "object", "required": ["month"], "additionalProperties": false, "properties": {"month": {"type": "string", "pattern": MONTH_PATTERN, "description": "A month that has begun."}}}),
    );
    for kind in submittable() {
        map.insert(format!("JobRequest_{}", kind.as_str()), job_request(kind));
        map.insert(format!("JobTemplate_{}", kind.as_str()), job_template(kind));
        map.insert(format!("BatchJob_{}", kind.as_str()), batch_job(kind));
    }
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document_value(&[], DestinationPolicy::default());
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
    }

    #[test]
    fn exclusions_name_only_the_configured_calendars() {
        let doc = document_value(&["nl".to_string()], DestinationPolicy::default());
        let calendars = &doc["components"]["schemas"]["Exclusions"]["properties"]["calendars"];
        assert_eq!(calendars["items"]["enum"], json!(["nl"]));
        let doc = document_value(&[], DestinationPolicy::default());
        let calendars = &doc["components"]["schemas"]["Exclusions"]["properties"]["calendars"];
        assert_eq!(calendars["maxItems"], json!(0));
    }

    #[test]
    fn cron_ranges_run_forwards() {
        assert_eq!(number_range(7, 7), ["0?[7-7]"]);
        assert_eq!(number_range(17, 59), ["1[7-9]", "[2-4][0-9]", "5[0-9]"]);
        assert_eq!(number_range(5, 23), ["0?[5-9]", "1[0-9]", "2[0-3]"]);
        assert!(number_range(30, 29).is_empty());
    }

    /// Every URL and filter entry the webhook schemas allow is one the
    /// server saves: its text passes the endpoint's checks and its
    /// destination the policy the document was written for.
    #[test]
    fn webhook_values_the_document_allows_are_saved() {
        use crate::webhook::EndpointSpec;
        use proptest::test_runner::{Config, TestRunner};
        let unanchored = |schema: &Value| {
            let p = schema["pattern"].as_str().unwrap();
            p.strip_prefix('^')
                .unwrap()
                .strip_suffix('$')
                .unwrap()
                .to_string()
        };
        let config = || Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        };
        for (allow_http_loopback, allow_private) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let policy = DestinationPolicy {
                allow_http_loopback,
                allow_private,
            };
            let schema = webhook_url(policy);
            let urls = proptest::string::string_regex(&unanchored(&schema)).unwrap();
            TestRunner::new(config())
                .run(&urls, |url| {
                    if url.chars().count() > 2048 {
                        return Ok(());
                    }
                    let spec = EndpointSpec {
                        url: url.clone(),
                        ..EndpointSpec::default()
                    };
                    proptest::prop_assert!(spec.check().is_ok(), "{url}: {:?}", spec.check());
                    let checked = policy.check_url(&url);
                    proptest::prop_assert!(checked.is_ok(), "{url} under {policy:?}: {checked:?}");
                    Ok(())
                })
                .unwrap();
        }
        let mut schemas = Map::new();
        webhook_schemas(&mut schemas, DestinationPolicy::default());
        let items = &schemas["EndpointSpec"]["properties"]["machines"]["items"];
        let entries = proptest::string::string_regex(&unanchored(items)).unwrap();
        TestRunner::new(config())
            .run(&entries, |entry| {
                let spec = EndpointSpec {
                    url: "https://hooks.example.com/".into(),
                    machines: vec![entry.clone()],
                    schedules: vec![entry.clone()],
                    windows: vec![entry.clone()],
                    ..EndpointSpec::default()
                };
                proptest::prop_assert!(spec.check().is_ok(), "{entry:?}: {:?}", spec.check());
                Ok(())
            })
            .unwrap();
        // The document's event types are the ones the server takes.
        let types = &schemas["EndpointSpec"]["properties"]["events"]["items"]["enum"];
        for t in types.as_array().unwrap() {
            let spec: EndpointSpec =
                serde_json::from_value(json!({"url": "https://hooks.example.com/", "events": [t]}))
                    .unwrap();
            spec.check().unwrap();
        }
    }

    #[test]
    fn deliver_jobs_are_listed_but_never_submitted() {
        let doc = document_value(&[], DestinationPolicy::default());
        let schemas = &doc["components"]["schemas"];
        let text = doc.to_string();
        assert!(schemas.get("JobRequest_deliver").is_none());
        assert!(!text.contains("JobTemplate_deliver"));
        assert!(schemas.get("JobRequest_digest").is_some());
        let kinds = &schemas["Job"]["properties"]["kind"]["enum"];
        assert!(kinds.as_array().unwrap().contains(&json!("deliver")));
    }

    /// One operation per route of the table, and none for a route not in it.
    #[test]
    fn operations_are_the_route_table() {
        assert_eq!(OPERATIONS.len(), routes::ROUTES.len());
        for route in routes::ROUTES {
            let n = OPERATIONS.iter().filter(|op| op.route == *route).count();
            assert_eq!(n, 1, "{} {}", route.method.as_str(), route.path);
        }
    }

    #[test]
    fn the_stage_limit_is_the_groups() {
        use crate::group::{GroupSpec, Stage};
        let spec = |n: usize| GroupSpec {
            name: "g".into(),
            stages: (0..n)
                .map(|i| Stage {
                    name: format!("s{i}"),
                    machine_ids: vec![format!("ps{i}")],
                    selector: None,
                })
                .collect(),
        };
        spec(MAX_STAGES).check().unwrap();
        assert_eq!(spec(MAX_STAGES + 1).check().unwrap_err().field, "stages");
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
