//! The one table of the admin API's routes: [`ROUTES`], each [`Route`] with
//! its method, path template, who may call it and a one-line summary.
//!
//! Everything else is derived from it or checked against it:
//!
//! - [`super::router`] registers exactly the table's routes (its only
//!   `.route(` call takes them from [`ROUTES`]; the handler of each is chosen
//!   by `handler` in `http/mod.rs`, which refuses a route it does not know);
//!   tests/api/http_openapi.rs asks the running router for every route and
//!   method;
//! - the OpenAPI document (`http/openapi.rs`) takes its paths, methods,
//!   summaries and security from the table, its parameters and schemas from
//!   `openapi::OPERATIONS`, which a test holds to one operation per
//!   route;
//! - the auth layer lets the [`Access::Open`] paths in without a token;
//! - the admin client ([`crate::cli::admin_client`]) builds its URLs with
//!   [`Route::fill`] and sends the route's own method;
//! - the table below is checked against [`ROUTES`] by a test
//!   (`the_doc_table_is_the_route_table`), row for row.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` | [`ApiIndex`](super::ApiIndex): `{"name","version","openapi","health","ready","routes":[{"method","path","summary"}…]}`, this table as JSON, for whoever finds the daemon's address (`http/index.rs`) |
//! | `GET /healthz` | `{"status":"ok"}`; open without auth |
//! | `GET /readyz` | [`Readiness`](super::Readiness): database, migrations, Paperspace answered recently; 503 `not_ready` naming the check otherwise; open without auth (`http/health.rs`) |
//! | `GET /metrics` | Prometheus text (`http/metrics.rs`) |
//! | `GET /v1/daemons` | [`DaemonList`](super::DaemonList): `{"daemons":[{"id","host","pid","version","schema_version","started_at","heartbeat_at","stopped_at","leader"}…]}`, the running ones first; on SQLite the one daemon (`http/health.rs`) |
//! | `GET /openapi.json` | the OpenAPI 3 document of every route here (`http/openapi.rs`) |
//! | `POST /v1/jobs?dry_run=` | body [`JobRequest`](crate::job::JobRequest); 201 + the job, or 200 + the existing job when its `idempotency_key` matched; with `dry_run=true` 200 + [`JobDryRun`](super::JobDryRun) `{"dry_run":true,"job":{…"id":null}}`, nothing queued |
//! | `POST /v1/jobs/batch` | body [`BatchRequest`](crate::job::BatchRequest) `{"jobs":[…]}`, each job as `POST /v1/jobs` takes it plus an optional `ref` that others' `depends_on` name; all stored in one transaction or none; 201 + [`BatchAnswer`](super::BatchAnswer) `{"jobs":[…in request order…],"refs":{"ref":id}}`; 422 `invalid_job` naming a cycle (`a → b → a`) or an unknown ref |
//! | `GET /v1/jobs?state=&kind=&machine_id=&limit=&cursor=` | [`JobPage`](super::JobPage): `{"jobs":[…],"next_cursor":"j41"\|null}`, newest first |
//! | `GET /v1/jobs/{id}` | [`JobDetail`](super::JobDetail): the job's fields plus `"events":[…]`, oldest first |
//! | `POST /v1/jobs/{id}/cancel` | 200 + the cancelled job; 409 if it already finished |
//! | `POST /v1/jobs/{id}/retry` | 200 + the re-queued job; 409 unless it failed |
//! | `GET /v1/history?machine_id=&job_id=&limit=&cursor=&after=&wait=` | [`HistoryPage`](super::HistoryPage): `{"events":[…],"next_cursor":"e17"\|null,"next_after":42}`, newest first; with `after=ID` (not with `cursor`) the events above that id, oldest first, and with `wait=0..=25` the request waits that long for the first one: a long poll, at most 16 waiting at once, past that answered at once (`http/follow.rs`) |
//! | `POST /v1/groups` | body [`GroupSpec`](crate::group::GroupSpec) `{"name","stages":[{"name","machine_ids"\|"selector"}…]}`; 201 + the [`Group`](crate::group::Group); 409 for a name taken (`http/groups.rs`) |
//! | `GET /v1/groups` | [`GroupList`](super::GroupList): `{"groups":[…]}` by name |
//! | `GET /v1/groups/{name}` | [`GroupDetail`](super::GroupDetail): the group plus `recent_runs`, its last 10 runs as [`RunView`](crate::group::RunView)s, newest first |
//! | `PATCH /v1/groups/{name}` | body [`GroupPatch`](crate::group::GroupPatch) `{"name"?,"stages"?}`; 200 + the group; 409 when another group has the new name or schedules or windows target this one by name |
//! | `DELETE /v1/groups/{name}` | 204 (its runs stay); 409 naming the schedules and windows that target it |
//! | `POST /v1/groups/{name}/runs` | body [`RunRequest`](crate::group::RunRequest) `{"action":"start"\|"stop"\|"restart","wait"?}`; 201 + the run's `RunView`, its jobs all queued at once, each step's depending on the step before; 409 when no machine of the group matches now (its selectors match none the daemon knows) |
//! | `GET /v1/group-runs?group=&limit=&cursor=` | [`RunPage`](super::RunPage): `{"runs":[RunView…],"next_cursor":"r12"\|null}`, newest first; limit 1..=100 (20) |
//! | `GET /v1/group-runs/{id}` | the `RunView`: steps with their jobs, `state` (`running`, `succeeded`, `failed`), `failure` |
//! | `POST /v1/group-runs/{id}/resume` | 200 + the `RunView` with new jobs from the first step that did not succeed; 409 while it runs, once it succeeded, or when it changed meanwhile |
//! | `GET /v1/machines` | [`MachineList`](super::MachineList): every machine seen, with `seen_at` and `gone_at` |
//! | `GET /v1/machines/{id}` | [`MachineDetail`](super::MachineDetail): the machine, its 20 most recent jobs, the schedules that target it |
//! | `GET /v1/machines/{id}/billing` | [`BillingView`](super::BillingView) `{"machine_id","billing":"monthly"\|"hourly","source":"config"\|"api"\|"default"}` |
//! | `PUT /v1/machines/{id}/billing` | body `{"billing":"monthly"\|"hourly"}`; 200 + `BillingView`; 409 for `hourly` on a machine in `cost.monthly_billed` |
//! | `POST /v1/schedules?dry_run=` | body [`ScheduleSpec`](crate::schedule::spec::ScheduleSpec); 201 + the schedule; with `dry_run=true` 200 + [`ScheduleDryRun`](super::ScheduleDryRun) `{"dry_run":true,"schedule":{…"id":null},"next_fire_times"}`, nothing stored |
//! | `GET /v1/schedules?include_windows=` | [`ScheduleList`](super::ScheduleList): `{"schedules":[…]}` by name; window edges only with `include_windows=true` |
//! | `POST /v1/schedules/preview` | body [`PreviewRequest`](super::PreviewRequest) `{"cron","timezone"?,"count"?}`: `FireTimes`, nothing stored |
//! | `GET /v1/schedules/preview` | the schedule named `preview`, as `GET /v1/schedules/{key}` |
//! | `PUT /v1/schedules/preview?dry_run=` | the schedule named `preview`, as `PUT /v1/schedules/{key}` |
//! | `DELETE /v1/schedules/preview` | the schedule named `preview`, as `DELETE /v1/schedules/{key}` |
//! | `GET /v1/schedules/{key}` | [`ScheduleDetail`](super::ScheduleDetail): the schedule plus `next_fire_times` (5) and `recent_firings` (50, newest first) |
//! | `PUT /v1/schedules/{key}?dry_run=` | body `ScheduleSpec`, a full replace; 200 + the schedule; with `dry_run=true` 200 + `ScheduleDryRun`, nothing changed |
//! | `DELETE /v1/schedules/{key}` | 204 |
//! | `POST /v1/schedules/{key}/pause` | 200 + the schedule |
//! | `POST /v1/schedules/{key}/resume` | 200 + the schedule |
//! | `GET /v1/schedules/{key}/preview?count=` | [`FireTimes`](super::FireTimes): `{"fire_times":[{"utc","local","edge"?}…]}`, count 1..=100 (10) |
//! | `POST /v1/windows?dry_run=` | body [`WindowRequest`](crate::schedule::window::WindowRequest); 201 + the window; with `dry_run=true` 200 + [`WindowDryRun`](super::WindowDryRun) `{"dry_run":true,"window":{…"id":null},"next_edges","would_stop":[{"machine_id","name","state","reason"}…]}`: what enforcement would stop now, nothing stored |
//! | `GET /v1/windows` | [`WindowList`](super::WindowList): `{"windows":[…]}` by name |
//! | `GET /v1/windows/{key}` | [`WindowDetail`](super::WindowDetail): the window plus `next_edges` (6), active `overrides`, both edges' `recent_firings` |
//! | `PUT /v1/windows/{key}?dry_run=` | body `WindowRequest`, a full replace; 200 + the window; with `dry_run=true` 200 + `WindowDryRun` (its overrides in force count), nothing changed |
//! | `DELETE /v1/windows/{key}` | 204 (its edges and overrides go with it) |
//! | `POST /v1/windows/{key}/pause` | 200 + the window |
//! | `POST /v1/windows/{key}/resume` | 200 + the window |
//! | `GET /v1/windows/{key}/preview?count=` | `FireTimes` of its edges |
//! | `GET /v1/windows/{key}/overrides` | [`OverrideList`](super::OverrideList): all, each with `active` |
//! | `POST /v1/windows/{key}/overrides?dry_run=` | body [`OverrideRequest`](crate::schedule::window::OverrideRequest); 201 + the override; with `dry_run=true` 200 + [`OverrideDryRun`](super::OverrideDryRun) `{"dry_run":true,"override":{…"id":null}}` |
//! | `DELETE /v1/windows/{key}/overrides/{id}` | 204 |
//! | `GET /v1/reports/utilization?month=YYYY-MM` | [`UtilizationView`](super::UtilizationView) |
//! | `POST /v1/reports/utilization/pull` | body `{"month":"YYYY-MM"}`; 202 + [`PullAnswer`](super::PullAnswer) `{"jobs":[ids]}`, one `utilization` job per known machine |
//! | `GET /v1/reports/savings?month=YYYY-MM` | [`SavingsView`](super::SavingsView) |
//! | `GET /v1/reports/cost?month=YYYY-MM&format=json\|csv` | [`CostReportView`](super::CostReportView) (the current month by default), or with `format=csv` [`to_csv`](crate::cost::to_csv) as an attachment `machinist-cost-YYYY-MM.csv` (`http/costs.rs`) |
//! | `POST /v1/forecast` | body [`Plan`](crate::cost::Plan) `{"schedule"\|"window","month"?}`: [`Forecast`](crate::cost::Forecast), nothing stored; 422 `invalid_forecast` naming the field |
//! | `POST /v1/webhooks` | body [`EndpointSpec`](crate::webhook::EndpointSpec); 201 + [`EndpointCreated`](super::EndpointCreated) `{"endpoint","secret":"whsec_…"}`, the only answer but a rotation's that carries the secret; 409 for a name taken (`http/webhooks.rs`) |
//! | `GET /v1/webhooks` | [`WebhookList`](super::WebhookList): `{"webhooks":[…]}` by id, never a secret |
//! | `GET /v1/webhooks/events` | [`EventCatalogue`](super::EventCatalogue): `{"events":[{"type","description","opt_in","default"}…]}`, every type an endpoint may name |
//! | `GET /v1/webhooks/{id}` | the [`Endpoint`](crate::webhook::Endpoint), never its secret |
//! | `PATCH /v1/webhooks/{id}` | body [`EndpointPatch`](crate::webhook::EndpointPatch), the fields to change; 200 + the endpoint; 409 for an endpoint of the configuration file unless only `paused` changes |
//! | `DELETE /v1/webhooks/{id}` | 204 (its deliveries not yet made are cancelled); 409 for an endpoint of the configuration file |
//! | `POST /v1/webhooks/{id}/pause` | 200 + the endpoint |
//! | `POST /v1/webhooks/{id}/resume` | 200 + the endpoint, `disabled` cleared |
//! | `POST /v1/webhooks/{id}/rotate-secret` | 200 + [`SecretRotated`](super::SecretRotated) `{"endpoint","secret","previous_secret_until"}`; 409 for an endpoint of the configuration file |
//! | `POST /v1/webhooks/{id}/test` | [`TestDelivery`](super::TestDelivery): a `ping` sent now and what the receiver answered (a receiver's failure is `"delivered":false`, still a 200) |
//! | `GET /v1/webhooks/{id}/deliveries?before=&limit=` | [`DeliveryPage`](super::DeliveryPage): `{"deliveries":[…],"next_before":41\|null}`, newest first, each with its attempts; limit 1..=200 (50) |
//! | `POST /v1/webhooks/{id}/deliveries/{delivery}/resend` | 202 + [`Resent`](super::Resent) `{"delivery","event_id"}`: a new delivery of the same event |
//!
//! A group's `{name}` is 1 to 64 letters, digits, `-`, `_` or `.`; a group
//! run's `{id}` a positive number written plainly. `POST /v1/jobs/batch` is
//! no job id: `GET /v1/jobs/batch` is a 405.
//!
//! A webhook's `{id}` and a delivery's `{delivery}` are positive numbers
//! written plainly; `events` is not an id, so `/v1/webhooks/events` never
//! reaches an endpoint (axum matches the fixed segment first).
//!
//! A `{key}` is an id or a name: a positive number written plainly, or 1 to
//! 128 characters without control characters (names are never numbers).
//! `POST /v1/schedules/preview` is the expression preview; the other methods
//! on that path act on a schedule named `preview`.

/// The liveness route, open without a token.
pub const HEALTH_PATH: &str = HEALTHZ.path;
/// The readiness route, open without a token (service managers probe it).
pub const READY_PATH: &str = READYZ.path;
/// Where the metrics are served.
pub const METRICS_PATH: &str = METRICS.path;
/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = OPENAPI.path;

/// A method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    /// As HTTP writes it: `GET`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    /// As OpenAPI keys it: `get`.
    pub const fn lower(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token (liveness and readiness probes).
    Open,
    /// Only a caller presenting the admin token, when one is configured.
    Admin,
}

/// One route and method of the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The method it answers; the same path may have other routes.
    pub method: Verb,
    /// The path template as axum and OpenAPI write it: `{name}` for a path
    /// parameter.
    pub path: &'static str,
    /// Whether a token is needed.
    pub access: Access,
    /// One line for people: the OpenAPI operation's summary.
    pub summary: &'static str,
}

impl Route {
    /// The path with its `{…}` parameters replaced, in order, by `args`
    /// (already percent-encoded). Panics when the count differs: a bug.
    pub fn fill(&self, args: &[&str]) -> String {
        let mut out = String::with_capacity(self.path.len());
        let mut args = args.iter();
        let mut rest = self.path;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("a closed path parameter");
            out.push_str(&rest[..open]);
            out.push_str(args.next().unwrap_or_else(|| {
                panic!(
                    "{} {} needs more arguments",
                    self.method.as_str(),
                    self.path
                )
            }));
            rest = &rest[close + 1..];
        }
        assert!(
            args.next().is_none(),
            "{} {} takes fewer arguments",
            self.method.as_str(),
            self.path
        );
        out.push_str(rest);
        out
    }
}

/// Declares each route as a constant (for the router, the document and the
/// admin client to name it by) and [`ROUTES`], the table of them all, from
/// one list.
macro_rules! route_table {
    ($($name:ident = $access:ident $method:ident $path:literal, $summary:literal;)*) => {
        $(
            #[doc = concat!($summary, ": `", $path, "`, ", stringify!($method), ".")]
            pub const $name: Route = Route {
                method: Verb::$method,
                path: $path,
                access: Access::$access,
                summary: $summary,
            };
        )*

        /// Every route of the admin API, in the order of the table above.
        pub const ROUTES: &[Route] = &[$($name),*];
    };
}

// NAME = who method path, summary (the OpenAPI operation's);
route_table! {
    INDEX = Admin Get "/", "The API's name, version, links and every route";
    HEALTHZ = Open Get "/healthz", "The process is alive";
    READYZ = Open Get "/readyz", "Database reachable, migrations applied, Paperspace answered recently";
    METRICS = Admin Get "/metrics", "Prometheus metrics (text format 0.0.4)";
    DAEMONS = Admin Get "/v1/daemons", "The daemons on this database, their last heartbeat and which one leads";
    OPENAPI = Admin Get "/openapi.json", "This document";
    JOB_SUBMIT = Admin Post "/v1/jobs", "Submit a job (200 with the existing job when its idempotency_key matched)";
    JOB_BATCH = Admin Post "/v1/jobs/batch", "Submit several jobs at once, all or none, depending on each other by ref";
    JOBS_LIST = Admin Get "/v1/jobs", "List jobs, newest first";
    JOB_SHOW = Admin Get "/v1/jobs/{id}", "A job with its events";
    JOB_CANCEL = Admin Post "/v1/jobs/{id}/cancel", "Cancel a job that has not finished";
    JOB_RETRY = Admin Post "/v1/jobs/{id}/retry", "Re-queue a failed job";
    HISTORY = Admin Get "/v1/history", "Every job's events, newest first";
    GROUP_CREATE = Admin Post "/v1/groups", "Create a machine group: named stages of machines";
    GROUPS_LIST = Admin Get "/v1/groups", "List machine groups by name";
    GROUP_SHOW = Admin Get "/v1/groups/{name}", "A machine group with its last 10 runs";
    GROUP_UPDATE = Admin Patch "/v1/groups/{name}", "Rename a machine group or replace its stages";
    GROUP_DELETE = Admin Delete "/v1/groups/{name}", "Delete a machine group no schedule or window targets";
    GROUP_RUN = Admin Post "/v1/groups/{name}/runs", "Start, stop or restart a group stage by stage";
    GROUP_RUNS_LIST = Admin Get "/v1/group-runs", "Group runs with their progress, newest first";
    GROUP_RUN_SHOW = Admin Get "/v1/group-runs/{id}", "A group run's steps, jobs and state";
    GROUP_RUN_RESUME = Admin Post "/v1/group-runs/{id}/resume", "Run a failed group run again from the step that failed";
    MACHINES_LIST = Admin Get "/v1/machines", "Every machine seen, with when";
    MACHINE_SHOW = Admin Get "/v1/machines/{id}", "A machine with its recent jobs and the schedules aimed at it";
    MACHINE_BILLING_SHOW = Admin Get "/v1/machines/{id}/billing", "Whether a machine is billed monthly or hourly, and who said so";
    MACHINE_BILLING_SET = Admin Put "/v1/machines/{id}/billing", "Mark a machine as billed monthly or hourly";
    SCHEDULE_CREATE = Admin Post "/v1/schedules", "Create a schedule";
    SCHEDULES_LIST = Admin Get "/v1/schedules", "List schedules by name";
    EXPRESSION_PREVIEW = Admin Post "/v1/schedules/preview", "Fire times of an expression; nothing stored";
    NAMED_PREVIEW_SHOW = Admin Get "/v1/schedules/preview", "The schedule named `preview`";
    NAMED_PREVIEW_UPDATE = Admin Put "/v1/schedules/preview", "Replace the schedule named `preview`";
    NAMED_PREVIEW_DELETE = Admin Delete "/v1/schedules/preview", "Delete the schedule named `preview`";
    SCHEDULE_SHOW = Admin Get "/v1/schedules/{key}", "A schedule with its next fire times and recent firings";
    SCHEDULE_UPDATE = Admin Put "/v1/schedules/{key}", "Replace a schedule";
    SCHEDULE_DELETE = Admin Delete "/v1/schedules/{key}", "Delete a schedule";
    SCHEDULE_PAUSE = Admin Post "/v1/schedules/{key}/pause", "Pause a schedule";
    SCHEDULE_RESUME = Admin Post "/v1/schedules/{key}/resume", "Resume a schedule";
    SCHEDULE_PREVIEW = Admin Get "/v1/schedules/{key}/preview", "A schedule's next fire times";
    WINDOW_CREATE = Admin Post "/v1/windows", "Create an office-hours window";
    WINDOWS_LIST = Admin Get "/v1/windows", "List windows by name";
    WINDOW_SHOW = Admin Get "/v1/windows/{key}", "A window with its next edges, active overrides and recent firings";
    WINDOW_UPDATE = Admin Put "/v1/windows/{key}", "Replace a window";
    WINDOW_DELETE = Admin Delete "/v1/windows/{key}", "Delete a window with its edges and overrides";
    WINDOW_PAUSE = Admin Post "/v1/windows/{key}/pause", "Pause a window";
    WINDOW_RESUME = Admin Post "/v1/windows/{key}/resume", "Resume a window";
    WINDOW_PREVIEW = Admin Get "/v1/windows/{key}/preview", "Fire times of a window's edges";
    OVERRIDES_LIST = Admin Get "/v1/windows/{key}/overrides", "A window's overrides, each with `active`";
    OVERRIDE_ADD = Admin Post "/v1/windows/{key}/overrides", "Keep a machine on or off until a time";
    OVERRIDE_DELETE = Admin Delete "/v1/windows/{key}/overrides/{id}", "Delete an override";
    UTILIZATION_REPORT = Admin Get "/v1/reports/utilization", "Machine hours and cost of a month";
    UTILIZATION_PULL = Admin Post "/v1/reports/utilization/pull", "Queue one utilization job per known machine";
    SAVINGS_REPORT = Admin Get "/v1/reports/savings", "What schedules saved in a month";
    COST_REPORT = Admin Get "/v1/reports/cost", "A month's cost per machine and in sums, as JSON or CSV";
    FORECAST = Admin Post "/v1/forecast", "What a schedule or window not yet saved would cost in a month";
    WEBHOOK_CREATE = Admin Post "/v1/webhooks", "Create a webhook endpoint; its secret is answered only here and at a rotation";
    WEBHOOKS_LIST = Admin Get "/v1/webhooks", "List webhook endpoints by id, without their secrets";
    WEBHOOK_EVENTS = Admin Get "/v1/webhooks/events", "The event types an endpoint may receive";
    WEBHOOK_SHOW = Admin Get "/v1/webhooks/{id}", "A webhook endpoint, without its secret";
    WEBHOOK_UPDATE = Admin Patch "/v1/webhooks/{id}", "Change some fields of a webhook endpoint";
    WEBHOOK_DELETE = Admin Delete "/v1/webhooks/{id}", "Delete a webhook endpoint, cancelling its deliveries not yet made";
    WEBHOOK_PAUSE = Admin Post "/v1/webhooks/{id}/pause", "Pause a webhook endpoint: no new deliveries";
    WEBHOOK_RESUME = Admin Post "/v1/webhooks/{id}/resume", "Resume a webhook endpoint, also one a 410 Gone disabled";
    WEBHOOK_ROTATE = Admin Post "/v1/webhooks/{id}/rotate-secret", "Replace an endpoint's secret; the previous one keeps signing for the overlap";
    WEBHOOK_TEST = Admin Post "/v1/webhooks/{id}/test", "Send a ping to an endpoint now and answer what the receiver said";
    DELIVERIES_LIST = Admin Get "/v1/webhooks/{id}/deliveries", "An endpoint's deliveries with their attempts, newest first";
    DELIVERY_RESEND = Admin Post "/v1/webhooks/{id}/deliveries/{delivery}/resend", "Queue a delivery again, with the same event (and webhook-id)";
}

/// True for a path whose routes are [`Access::Open`]: the auth layer lets
/// any method on it through (the router then answers 405 where due).
pub fn is_open(path: &str) -> bool {
    ROUTES
        .iter()
        .any(|r| r.access == Access::Open && r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.path, r.method)),
                "{} {} is in the table twice",
                r.method.as_str(),
                r.path
            );
        }
    }

    /// The markdown table of the module doc lists the same routes as
    /// [`ROUTES`], in the same order (query strings aside).
    #[test]
    fn the_doc_table_is_the_route_table() {
        let doc: Vec<String> = include_str!("routes.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .map(|l| {
                let route = l.split('`').next().unwrap();
                route.split('?').next().unwrap().to_string()
            })
            .collect();
        let table: Vec<String> = ROUTES
            .iter()
            .map(|r| format!("{} {}", r.method.as_str(), r.path))
            .collect();
        assert_eq!(doc, table);
    }

    #[test]
    fn paths_fill_in_order() {
        assert_eq!(JOB_CANCEL.fill(&["7"]), "/v1/jobs/7/cancel");
        assert_eq!(
            OVERRIDE_DELETE.fill(&["office", "3"]),
            "/v1/windows/office/overrides/3"
        );
        assert_eq!(JOBS_LIST.fill(&[]), "/v1/jobs");
        assert_eq!(
            DELIVERY_RESEND.fill(&["4", "17"]),
            "/v1/webhooks/4/deliveries/17/resend"
        );
    }

    #[test]
    #[should_panic(expected = "needs more arguments")]
    fn missing_arguments_are_a_bug() {
        OVERRIDE_DELETE.fill(&["office"]);
    }

    #[test]
    fn only_the_probes_are_open() {
        let open: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.access == Access::Open)
            .map(|r| r.path)
            .collect();
        assert_eq!(open, [HEALTH_PATH, READY_PATH]);
        assert!(is_open("/healthz") && !is_open("/metrics"));
    }
}
