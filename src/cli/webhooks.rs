//! `machinist webhooks`: the endpoints events are POSTed to, their secrets,
//! test pings and deliveries, through the daemon's admin API.
//!
//! Output is for people; `-o json`/`-o yaml` (or `--json`) prints the
//! API's answer for scripts (see [`super::output`]). A
//! server error prints one line `error: …` and exits 1 (an unknown id is
//! said in the CLI's words, with where to look); a usage error (an unknown
//! event type, an id that is not a number) exits 2. `webhooks test` exits 1
//! when the ping was not delivered.
//!
//! Text the daemon sends back (names, URLs, reasons, a receiver's answer)
//! is escaped before it reaches the terminal ([`escape`]), and the list
//! shows URLs redacted ([`redact`]): a Slack URL carries its secret in the
//! path. `show` and `--json` give the full URL.

use std::process::ExitCode;

use super::connection::{DaemonArgs, field_lines, one_line, report_errors, table, time, truncate};
use super::output::OutputArgs;
use crate::cli::admin_client::{AdminClient, AdminError};
use crate::http::{
    DeliveryView, EndpointCreated, EventCatalogue, EventTypeView, SecretRotated, TestDelivery,
    WebhookList,
};
use crate::job::{JobId, JobState};
use crate::text::escape;
use crate::webhook::{
    Endpoint, EndpointId, EndpointPatch, EndpointSource, EndpointSpec, EventType, Format, redact,
};

/// Where to read about checking a delivery's signature.
const STANDARD_WEBHOOKS: &str = "https://www.standardwebhooks.com";

/// The long help's examples of `webhooks add`.
const ADD_EXAMPLES: &str = "\
Examples:
  machinist webhooks add https://hooks.example.com/machinist --name ops \\
      --events job.failed,machine.left_running --machine ps123
  machinist webhooks add https://hooks.slack.com/services/T000/B000/XXXX \\
      --format slack --name team-slack --window office";

/// Manage webhook endpoints through the daemon's admin API.
#[derive(Debug, clap::Args)]
pub struct WebhooksArgs {
    // What to do (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: WebhooksCommand,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl WebhooksArgs {
    /// Sets the config file (the top-level `--config`) to read the daemon's
    /// address and the token file from.
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

#[derive(Debug, clap::Subcommand)]
enum WebhooksCommand {
    /// Add an endpoint that events are POSTed to, signed; prints its secret once.
    ///
    /// The daemon checks the URL against its destination policy (https to a
    /// public address unless the configuration allows more) and prints the
    /// endpoint's signing secret this once: receivers verify each delivery
    /// with it as Standard Webhooks describes. Without --events the endpoint
    /// gets every event type that is not opt-in (`machinist webhooks events`).
    #[command(after_long_help = ADD_EXAMPLES)]
    Add(Box<AddArgs>),
    /// List endpoints: id, name, format, events, status and URL (redacted).
    List {
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show an endpoint in full: URL, events, filters, status and why it was disabled.
    Show(IdArgs),
    /// Change an endpoint's URL, name, format, events or filters; the secret stays.
    Update(Box<UpdateArgs>),
    /// Remove an endpoint; its deliveries not yet made are cancelled.
    #[command(visible_alias = "rm")]
    Remove(IdArgs),
    /// Pause an endpoint: no new deliveries until resumed.
    Pause(IdArgs),
    /// Resume a paused or disabled endpoint.
    Resume(IdArgs),
    /// Make a new signing secret; the previous one keeps signing for a while.
    RotateSecret(IdArgs),
    /// Send a `ping` to an endpoint now and show the answer; exit 1 when not delivered.
    Test(IdArgs),
    /// An endpoint's deliveries, newest first; --resend sends one again.
    Deliveries(DeliveriesArgs),
    /// The event types an endpoint can receive, and which it gets by default.
    Events {
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// Where deliveries are POSTed: an https URL (for --format slack, the
    /// incoming webhook's URL).
    // Not `url`: that is the id of the global `--url`, the daemon's address.
    #[arg(value_name = "URL")]
    endpoint_url: String,
    /// A unique label: 1 to 64 letters, digits, `-`, `_` or `.`.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The event types to receive, comma-separated or repeated (default:
    /// every type that is not opt-in; see `machinist webhooks events`).
    #[arg(long, value_name = "TYPE,…", value_delimiter = ',', value_parser = parse_event)]
    events: Vec<EventType>,
    /// The body: `standard` (Standard Webhooks JSON) or `slack` (a message
    /// for a Slack or Mattermost incoming webhook).
    #[arg(long, value_enum, default_value = "standard")]
    format: FormatArg,
    /// Only events about this machine (its id); repeat for more.
    #[arg(long = "machine", value_name = "ID")]
    machines: Vec<String>,
    /// Only events about this schedule (its id or name); repeat for more.
    #[arg(long = "schedule", value_name = "NAME")]
    schedules: Vec<String>,
    /// Only events about this window (its id or name); repeat for more.
    #[arg(long = "window", value_name = "NAME")]
    windows: Vec<String>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["endpoint_url", "name", "events", "format", "machines", "schedules", "windows", "clear_filters"])
))]
struct UpdateArgs {
    /// The endpoint's id (see `machinist webhooks list`).
    #[arg(value_name = "ID", value_parser = parse_id)]
    id: EndpointId,
    /// A new URL to POST deliveries to.
    // Not `--url`: that is the global option naming the daemon's address.
    #[arg(long = "endpoint-url", value_name = "URL")]
    endpoint_url: Option<String>,
    /// A new label.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The event types to receive from now on (replacing the list),
    /// comma-separated or repeated.
    #[arg(long, value_name = "TYPE,…", value_delimiter = ',', value_parser = parse_event)]
    events: Vec<EventType>,
    /// The body from now on: `standard` or `slack`.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Only events about these machines from now on (replacing the list);
    /// repeat for more.
    #[arg(long = "machine", value_name = "ID")]
    machines: Vec<String>,
    /// Only events about these schedules from now on (replacing the list).
    #[arg(long = "schedule", value_name = "NAME")]
    schedules: Vec<String>,
    /// Only events about these windows from now on (replacing the list).
    #[arg(long = "window", value_name = "NAME")]
    windows: Vec<String>,
    /// Remove the machine, schedule and window filters (any event passes).
    #[arg(long, conflicts_with_all = ["machines", "schedules", "windows"])]
    clear_filters: bool,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Standard,
    Slack,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Standard => Format::Standard,
            FormatArg::Slack => Format::Slack,
        }
    }
}

// The arguments of a subcommand that acts on one endpoint. Plain comments,
// not doc comments: clap would take those for the help text.
#[derive(Debug, clap::Args)]
struct IdArgs {
    /// The endpoint's id (see `machinist webhooks list`).
    #[arg(value_name = "ID", value_parser = parse_id)]
    id: EndpointId,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
struct DeliveriesArgs {
    /// The endpoint's id (see `machinist webhooks list`).
    #[arg(value_name = "ID", value_parser = parse_id)]
    id: EndpointId,
    /// How many deliveries to list, 1 to 200 (default 50).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=200), conflicts_with = "resend")]
    limit: Option<u32>,
    /// List those older than this delivery (printed under a full page).
    #[arg(long, value_name = "DELIVERY", value_parser = clap::value_parser!(i64).range(1..), conflicts_with = "resend")]
    before: Option<JobId>,
    /// Send this delivery's event again (same webhook-id) and print the new
    /// delivery's id.
    #[arg(long, value_name = "DELIVERY", value_parser = clap::value_parser!(i64).range(1..))]
    resend: Option<JobId>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `machinist webhooks …`; errors are printed as one line, exit 1.
pub async fn run(args: WebhooksArgs) -> anyhow::Result<ExitCode> {
    report_errors(run_inner(args)).await
}

async fn run_inner(args: WebhooksArgs) -> anyhow::Result<ExitCode> {
    let client = args.daemon.client()?;
    match args.command {
        WebhooksCommand::Add(add) => run_add(&client, *add).await?,
        WebhooksCommand::List { output } => {
            let webhooks = client.webhooks().await?;
            if output.structured() {
                output.print(&WebhookList { webhooks })?;
            } else {
                print!("{}", list_text(&webhooks));
            }
        }
        WebhooksCommand::Show(IdArgs { id, output }) => {
            let endpoint = client.webhook(id).await.map_err(about(id))?;
            if output.structured() {
                output.print(&endpoint)?;
            } else {
                print!("{}", detail_text(&endpoint));
            }
        }
        WebhooksCommand::Update(update) => {
            let UpdateArgs {
                id,
                endpoint_url,
                name,
                events,
                format,
                machines,
                schedules,
                windows,
                clear_filters,
                output,
            } = *update;
            let list = |v: Vec<String>| {
                if clear_filters {
                    Some(Vec::new())
                } else {
                    (!v.is_empty()).then_some(v)
                }
            };
            let patch = EndpointPatch {
                url: endpoint_url,
                name,
                format: format.map(Format::from),
                events: (!events.is_empty()).then_some(dedup(events)),
                machines: list(machines),
                schedules: list(schedules),
                windows: list(windows),
                paused: None,
            };
            let endpoint = client.update_webhook(id, &patch).await.map_err(about(id))?;
            if output.structured() {
                output.print(&endpoint)?;
            } else {
                print!("{}", detail_text(&endpoint));
            }
        }
        WebhooksCommand::Remove(IdArgs { id, output }) => {
            client.delete_webhook(id).await.map_err(about(id))?;
            if output.structured() {
                output.print(&serde_json::json!({ "id": id, "removed": true }))?;
            } else {
                println!("webhook endpoint {id} removed");
            }
        }
        WebhooksCommand::Pause(IdArgs { id, output }) => {
            let endpoint = client.pause_webhook(id).await.map_err(about(id))?;
            finish(&endpoint, output, "paused: no new deliveries until resumed")?;
        }
        WebhooksCommand::Resume(IdArgs { id, output }) => {
            let endpoint = client.resume_webhook(id).await.map_err(about(id))?;
            finish(&endpoint, output, "resumed")?;
        }
        WebhooksCommand::RotateSecret(IdArgs { id, output }) => {
            let rotated = client.rotate_webhook_secret(id).await.map_err(about(id))?;
            if output.structured() {
                output.print(&rotated)?;
            } else {
                print!("{}", rotated_text(&rotated));
            }
        }
        WebhooksCommand::Test(IdArgs { id, output }) => {
            let result = client.test_webhook(id).await.map_err(about(id))?;
            if output.structured() {
                output.print(&result)?;
            } else {
                print!("{}", test_text(&result));
            }
            if !result.delivered {
                return Ok(ExitCode::FAILURE);
            }
        }
        WebhooksCommand::Deliveries(d) => run_deliveries(&client, d).await?,
        WebhooksCommand::Events { output } => {
            let events = client.webhook_events().await?;
            if output.structured() {
                output.print(&EventCatalogue { events })?;
            } else {
                print!("{}", events_text(&events));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `events` without repeats, in the order given.
fn dedup(events: Vec<EventType>) -> Vec<EventType> {
    let mut out: Vec<EventType> = Vec::new();
    for e in events {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

async fn run_add(client: &AdminClient, args: AddArgs) -> anyhow::Result<()> {
    let events = dedup(args.events);
    let spec = EndpointSpec {
        url: args.endpoint_url,
        name: args.name,
        format: args.format.into(),
        events: (!events.is_empty()).then_some(events),
        machines: args.machines,
        schedules: args.schedules,
        windows: args.windows,
    };
    let created = client.create_webhook(&spec).await?;
    if args.output.structured() {
        return args.output.print(&created);
    }
    print!("{}", created_text(&created));
    Ok(())
}

async fn run_deliveries(client: &AdminClient, args: DeliveriesArgs) -> anyhow::Result<()> {
    let id = args.id;
    if let Some(delivery) = args.resend {
        let resent = client.resend_delivery(id, delivery).await.map_err(|e| {
            if not_found(&e) {
                anyhow::anyhow!(
                    "webhook endpoint {id} has no delivery {delivery}; \
                     `machinist webhooks deliveries {id}` lists them"
                )
            } else {
                e.into()
            }
        })?;
        if args.output.structured() {
            return args.output.print(&resent);
        }
        println!(
            "delivery {delivery} re-sent as delivery {} (event {})",
            resent.delivery,
            escape(&resent.event_id)
        );
        return Ok(());
    }
    let page = client
        .webhook_deliveries(id, args.before, args.limit)
        .await
        .map_err(about(id))?;
    if args.output.structured() {
        return args.output.print(&page);
    }
    if page.deliveries.is_empty() {
        println!("no deliveries to webhook endpoint {id}");
    } else {
        print!("{}", deliveries_text(&page.deliveries));
    }
    if let Some(before) = page.next_before {
        println!("more: machinist webhooks deliveries {id} --before {before}");
    }
    Ok(())
}

/// A server's 404 about endpoint `id` in the CLI's words; other errors as
/// they are.
fn about(id: EndpointId) -> impl FnOnce(AdminError) -> anyhow::Error {
    move |e| {
        if not_found(&e) {
            anyhow::anyhow!("no webhook endpoint has id {id}; `machinist webhooks list` shows them")
        } else {
            e.into()
        }
    }
}

/// The daemon's own 404 (not a 404 of something else at its address).
fn not_found(e: &AdminError) -> bool {
    matches!(e, AdminError::Api { status: 404, .. })
}

/// An endpoint's id as typed: a positive number.
fn parse_id(text: &str) -> Result<EndpointId, String> {
    match text.parse::<EndpointId>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!(
            "`{text}` is not an endpoint id; ids are numbers (see `machinist webhooks list`)"
        )),
    }
}

/// One `--events` entry: a catalogue type an endpoint may ask for.
fn parse_event(text: &str) -> Result<EventType, String> {
    match text.trim().parse::<EventType>()? {
        EventType::Ping => {
            Err("`ping` goes to every endpoint with `machinist webhooks test`; leave it out".into())
        }
        t => Ok(t),
    }
}

// ---- text ----

/// `active`, `paused` or `disabled` (deliveries stopped on their own).
fn status(e: &Endpoint) -> &'static str {
    if e.disabled.is_some() {
        "disabled"
    } else if e.paused {
        "paused"
    } else {
        "active"
    }
}

/// `defaults`, one or two types by name, or how many.
fn events_summary(events: &[EventType]) -> String {
    let defaults = EventType::defaults();
    if events.len() == defaults.len() && defaults.iter().all(|t| events.contains(t)) {
        "defaults".into()
    } else if events.len() <= 2 {
        names(events, ",")
    } else {
        format!("{} types", events.len())
    }
}

fn names(events: &[EventType], separator: &str) -> String {
    events
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

fn label(e: &Endpoint) -> String {
    match &e.name {
        Some(name) => format!("{} ({name})", e.id),
        None => e.id.to_string(),
    }
}

/// A subject filter: its entries, or `any`.
fn filter(list: &[String]) -> String {
    if list.is_empty() {
        "any".into()
    } else {
        list.join(", ")
    }
}

/// The list's table; URLs redacted.
fn list_text(endpoints: &[Endpoint]) -> String {
    if endpoints.is_empty() {
        return "no webhook endpoints; `machinist webhooks add URL` adds one\n".into();
    }
    let rows: Vec<Vec<String>> = endpoints
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.name.clone().unwrap_or_else(|| "-".into()),
                e.format.to_string(),
                events_summary(&e.events),
                status(e).into(),
                redact(&e.url),
            ]
        })
        .collect();
    table(&["ID", "NAME", "FORMAT", "EVENTS", "STATUS", "URL"], &rows)
}

/// Every field of one endpoint, the URL in full.
fn detail_text(e: &Endpoint) -> String {
    let mut fields: Vec<(&str, String)> = vec![
        ("id", e.id.to_string()),
        ("name", e.name.clone().unwrap_or_else(|| "-".into())),
        ("url", e.url.clone()),
        ("format", e.format.to_string()),
        ("events", names(&e.events, ", ")),
        ("machines", filter(&e.machines)),
        ("schedules", filter(&e.schedules)),
        ("windows", filter(&e.windows)),
        (
            "status",
            match &e.disabled {
                Some(reason) => format!("disabled: {}", one_line(reason)),
                None => status(e).into(),
            },
        ),
        (
            "source",
            match e.source {
                EndpointSource::Api => "api".into(),
                EndpointSource::Config => {
                    "config ([[webhooks.endpoints]]: change it in the configuration file)".into()
                }
            },
        ),
    ];
    fields.push((
        "previous secret",
        match e.previous_secret_until {
            Some(until) => format!("signs too until {}", time(until)),
            None => "-".into(),
        },
    ));
    fields.push(("created", time(e.created_at)));
    fields.push(("updated", time(e.updated_at)));
    let mut text = field_lines(&fields);
    if e.disabled.is_some() {
        text.push_str(&format!(
            "\ndeliveries stopped on their own; `machinist webhooks resume {}` turns them back on\n",
            e.id
        ));
    } else if e.paused {
        text.push_str(&format!(
            "\npaused; `machinist webhooks resume {}` turns deliveries back on\n",
            e.id
        ));
    }
    text
}

/// A secret, with what to do with it: shown this once.
fn secret_text(secret: &str, endpoint: &Endpoint) -> String {
    let mut text = format!(
        "secret: {}\n\
         This secret is shown only now: the daemon will not show it again\n\
         (`machinist webhooks rotate-secret {id}` makes a new one).\n\
         Receivers verify each delivery with it as Standard Webhooks describes\n\
         ({STANDARD_WEBHOOKS}): the webhook-signature header holds `v1,`\n\
         and the base64 HMAC-SHA256 of `webhook-id.webhook-timestamp.body`,\n\
         keyed with the base64-decoded part after `whsec_`.\n",
        escape(secret),
        id = endpoint.id,
    );
    if endpoint.format == Format::Slack {
        text.push_str(
            "Slack and Mattermost do not check the signature: for them the URL\n\
             itself is the secret.\n",
        );
    }
    text
}

fn created_text(c: &EndpointCreated) -> String {
    let e = &c.endpoint;
    let mut text = format!(
        "webhook endpoint {} added: {} ({})\nevents: {}\n",
        escape(&label(e)),
        escape(&e.url),
        e.format,
        names(&e.events, ", "),
    );
    text.push_str(&secret_text(c.secret.expose(), e));
    text
}

fn rotated_text(r: &SecretRotated) -> String {
    let e = &r.endpoint;
    let mut text = format!(
        "webhook endpoint {}: new signing secret\n",
        escape(&label(e))
    );
    text.push_str(&secret_text(r.secret.expose(), e));
    text.push_str(&format!(
        "Until {} deliveries are signed with both secrets,\n\
         so receivers can switch to the new one without missing any.\n",
        time(r.previous_secret_until)
    ));
    text
}

/// `HTTP 200 in 85 ms`, or `no answer after 15000 ms`.
fn answer_summary(status: Option<u16>, latency_ms: Option<u64>) -> String {
    match (status, latency_ms) {
        (Some(s), Some(ms)) => format!("HTTP {s} in {ms} ms"),
        (Some(s), None) => format!("HTTP {s}"),
        (None, Some(ms)) => format!("no answer after {ms} ms"),
        (None, None) => "no answer".into(),
    }
}

fn test_text(t: &TestDelivery) -> String {
    let mut text = format!(
        "{} to {}: {} (ping {})\n",
        if t.delivered {
            "delivered"
        } else {
            "not delivered"
        },
        escape(&t.url),
        answer_summary(t.status, Some(t.latency_ms)),
        escape(&t.event_id),
    );
    if let Some(error) = &t.error {
        text.push_str(&format!("error: {}\n", escape(&one_line(error))));
    }
    if t.answer.trim().is_empty() {
        text.push_str("answer: (empty)\n");
    } else {
        text.push_str("answer:\n");
        for line in t.answer.lines() {
            text.push_str(&format!("  {}\n", escape(line)));
        }
    }
    text
}

fn deliveries_text(deliveries: &[DeliveryView]) -> String {
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            let last = d.attempts.last();
            let when = match (d.finished_at, d.next_attempt_at) {
                (Some(done), _) => time(done),
                (None, Some(next)) => format!("next {}", time(next)),
                (None, None) => "-".into(),
            };
            let error = if d.state == JobState::Succeeded {
                String::new()
            } else {
                d.last_error
                    .as_deref()
                    .or(last.and_then(|a| a.error.as_deref()))
                    .map(|e| truncate(&one_line(e), 60))
                    .unwrap_or_default()
            };
            vec![
                d.id.to_string(),
                truncate(&d.event_id, 13),
                d.event_type
                    .map_or("(pruned)".into(), |t| t.as_str().to_string()),
                d.state.to_string(),
                format!("{}/{}", d.attempt, d.max_attempts),
                last.map_or("-".into(), |a| {
                    a.status.map_or("none".into(), |s| s.to_string())
                }),
                last.and_then(|a| a.latency_ms)
                    .map_or("-".into(), |ms| format!("{ms} ms")),
                when,
                error,
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "EVENT",
            "TYPE",
            "STATE",
            "ATTEMPTS",
            "LAST STATUS",
            "LATENCY",
            "NEXT ATTEMPT / FINISHED",
            "ERROR",
        ],
        &rows,
    )
}

fn events_text(events: &[EventTypeView]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let when = if e.default {
                "default"
            } else if e.opt_in {
                "opt-in"
            } else {
                "-"
            };
            vec![e.kind.to_string(), when.into(), e.description.clone()]
        })
        .collect();
    table(&["TYPE", "DEFAULT/OPT-IN", "DESCRIPTION"], &rows)
}

fn finish(endpoint: &Endpoint, output: OutputArgs, what: &str) -> anyhow::Result<()> {
    if output.structured() {
        return output.print(endpoint);
    }
    println!("webhook endpoint {} {what}", escape(&label(endpoint)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{DeliveryPage, EventCatalogue};
    use clap::Parser;
    use serde_json::json;

    /// An endpoint as the API writes it (the contract's fields).
    fn endpoint_json() -> serde_json::Value {
        json!({
            "id": 3,
            "name": "ops",
            "url": "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
            "format": "slack",
            "events": ["job.failed", "machine.left_running"],
            "machines": ["ps123"],
            "schedules": [],
            "windows": ["office"],
            "paused": false,
            "disabled": null,
            "source": "api",
            "previous_secret_until": null,
            "created_at": "2026-03-02T09:00:00Z",
            "updated_at": "2026-03-02T10:00:00Z"
        })
    }

    fn endpoint() -> Endpoint {
        serde_json::from_value(endpoint_json()).unwrap()
    }

    /// True when `s` holds a character that would act on a terminal.
    fn raw_controls(s: &str) -> bool {
        s.chars().any(|c| c != '\n' && crate::text::is_refused(c))
    }

    #[test]
    fn the_list_escapes_names_and_redacts_urls() {
        let evil = Endpoint {
            id: 4,
            name: Some("\u{1b}[31mred\u{202e}".into()),
            url: "https://hooks.example.com/in".into(),
            format: Format::Standard,
            events: EventType::defaults(),
            paused: true,
            ..endpoint()
        };
        let disabled = Endpoint {
            id: 5,
            name: None,
            events: vec![
                EventType::JobFailed,
                EventType::JobSucceeded,
                EventType::WeeklyDigest,
            ],
            disabled: Some("the receiver answered 410 Gone".into()),
            ..endpoint()
        };
        let text = list_text(&[endpoint(), evil, disabled]);
        assert!(!raw_controls(&text), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["ID", "NAME", "FORMAT", "EVENTS", "STATUS", "URL"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "3",
                "ops",
                "slack",
                "job.failed,machine.left_running",
                "active",
                "https://hooks.slack.com/services/…"
            ],
            "{text}"
        );
        assert!(!text.contains("XXXXSECRET"), "{text}");
        assert!(lines[2].contains("\\u{1b}[31mred\\u{202e}"), "{text}");
        assert!(
            lines[2].contains("defaults") && lines[2].contains("paused"),
            "{text}"
        );
        assert!(lines[2].ends_with("https://hooks.example.com/in"), "{text}");
        assert!(
            lines[3].contains("3 types") && lines[3].contains("disabled"),
            "{text}"
        );
        assert_eq!(
            list_text(&[]),
            "no webhook endpoints; `machinist webhooks add URL` adds one\n"
        );
    }

    #[test]
    fn show_gives_the_full_url_and_why_it_was_disabled() {
        let e = Endpoint {
            disabled: Some("the receiver answered 410 Gone\u{1b}[2J".into()),
            source: EndpointSource::Config,
            previous_secret_until: Some("2026-03-03T09:00:00Z".parse().unwrap()),
            ..endpoint()
        };
        let text = detail_text(&e);
        assert!(!raw_controls(&text), "{text:?}");
        assert!(
            text.contains("url              https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "{text}"
        );
        assert!(
            text.contains("status           disabled: the receiver answered 410 Gone\\u{1b}[2J"),
            "{text}"
        );
        assert!(text.contains("machines         ps123"), "{text}");
        assert!(text.contains("schedules        any"), "{text}");
        assert!(text.contains("config ([[webhooks.endpoints]]"), "{text}");
        assert!(
            text.contains("previous secret  signs too until 2026-03-03T09:00:00Z"),
            "{text}"
        );
        assert!(text.contains("`machinist webhooks resume 3`"), "{text}");
    }

    #[test]
    fn the_secret_is_shown_once_with_how_to_verify() {
        let created: EndpointCreated = serde_json::from_value(json!({
            "endpoint": endpoint_json(),
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        }))
        .unwrap();
        let text = created_text(&created);
        assert!(
            text.starts_with(
                "webhook endpoint 3 (ops) added: https://hooks.slack.com/services/T000/B000/XXXXSECRET (slack)\n\
                 events: job.failed, machine.left_running\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"),
            "{text}"
        );
        assert!(text.contains("will not show it again"), "{text}");
        assert!(text.contains("Standard Webhooks"), "{text}");
        assert!(text.contains("Slack and Mattermost do not check"), "{text}");

        let rotated: SecretRotated = serde_json::from_value(json!({
            "endpoint": endpoint_json(),
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "previous_secret_until": "2026-03-03T09:00:00Z"
        }))
        .unwrap();
        let text = rotated_text(&rotated);
        assert!(text.contains("new signing secret"), "{text}");
        assert!(text.contains("Until 2026-03-03T09:00:00Z"), "{text}");
    }

    #[test]
    fn a_test_shows_the_answer_escaped() {
        let ok: TestDelivery = serde_json::from_value(json!({
            "event_id": "msg_0123", "delivered": true, "status": 200, "latency_ms": 85,
            "answer": "ok\n\u{1b}[31mred", "error": null, "url": "https://hooks.example.com/…"
        }))
        .unwrap();
        let text = test_text(&ok);
        assert!(!raw_controls(&text), "{text:?}");
        assert!(
            text.starts_with(
                "delivered to https://hooks.example.com/…: HTTP 200 in 85 ms (ping msg_0123)\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("answer:\n  ok\n  \\u{1b}[31mred\n"),
            "{text}"
        );
        let failed: TestDelivery = serde_json::from_value(json!({
            "event_id": "msg_0124", "delivered": false, "status": null, "latency_ms": 15000,
            "answer": "", "error": "connection timed out", "url": "https://hooks.example.com/…"
        }))
        .unwrap();
        let text = test_text(&failed);
        assert!(
            text.starts_with(
                "not delivered to https://hooks.example.com/…: no answer after 15000 ms"
            ),
            "{text}"
        );
        assert!(
            text.contains("error: connection timed out\nanswer: (empty)\n"),
            "{text}"
        );
    }

    #[test]
    fn deliveries_show_attempts_and_when() {
        let page: DeliveryPage = serde_json::from_value(json!({
            "deliveries": [
                {"id": 41, "event_id": "msg_00112233445566778899aabbccddeeff",
                 "event_type": "job.failed", "state": "queued", "attempt": 2, "max_attempts": 10,
                 "next_attempt_at": "2026-03-02T10:05:00Z",
                 "last_error": "HTTP 500: \u{1b}[31mboom", "created_at": "2026-03-02T10:00:00Z",
                 "finished_at": null,
                 "attempts": [
                    {"at": "2026-03-02T10:00:00Z", "status": null, "latency_ms": 15000,
                     "answer": "", "error": "timed out", "url": "https://hooks.example.com/…"},
                    {"at": "2026-03-02T10:00:05Z", "status": 500, "latency_ms": 12,
                     "answer": "boom", "error": null, "url": "https://hooks.example.com/…"}
                 ]},
                {"id": 40, "event_id": "msg_ffeeddccbbaa99887766554433221100",
                 "event_type": null, "state": "succeeded", "attempt": 1, "max_attempts": 10,
                 "next_attempt_at": null, "last_error": null,
                 "created_at": "2026-03-01T10:00:00Z", "finished_at": "2026-03-01T10:00:01Z",
                 "attempts": [{"at": "2026-03-01T10:00:00Z", "status": 204, "latency_ms": 40,
                               "answer": "", "error": null, "url": "https://hooks.example.com/…"}]}
            ],
            "next_before": 40
        }))
        .unwrap();
        assert_eq!(page.next_before, Some(40));
        let text = deliveries_text(&page.deliveries);
        assert!(!raw_controls(&text), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  EVENT"), "{text}");
        let first: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            &first[..7],
            [
                "41",
                "msg_00112233…",
                "job.failed",
                "queued",
                "2/10",
                "500",
                "12"
            ],
            "{text}"
        );
        assert!(
            lines[1].contains("next 2026-03-02T10:05:00Z")
                && lines[1].ends_with("HTTP 500: \\u{1b}[31mboom"),
            "{text}"
        );
        let second: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            second,
            [
                "40",
                "msg_ffeeddcc…",
                "(pruned)",
                "succeeded",
                "1/10",
                "204",
                "40",
                "ms",
                "2026-03-01T10:00:01Z"
            ],
            "{text}"
        );
        let last: DeliveryPage =
            serde_json::from_value(json!({"deliveries": [], "next_before": null})).unwrap();
        assert_eq!(last.next_before, None);
    }

    #[test]
    fn the_catalogue_says_default_or_opt_in() {
        let events: EventCatalogue = serde_json::from_value(json!({
            "events": [
                {"type": "job.failed", "description": "a job failed", "opt_in": false, "default": true},
                {"type": "job.succeeded", "description": "a job succeeded", "opt_in": true, "default": false}
            ]
        }))
        .unwrap();
        let text = events_text(&events.events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "TYPE           DEFAULT/OPT-IN  DESCRIPTION");
        assert_eq!(lines[1], "job.failed     default         a job failed");
        assert_eq!(lines[2], "job.succeeded  opt-in          a job succeeded");
    }

    fn parse(args: &[&str]) -> Result<crate::cli::Cli, clap::Error> {
        crate::cli::Cli::try_parse_from(["machinist", "webhooks"].iter().chain(args))
    }

    fn add_args(args: &[&str]) -> AddArgs {
        match parse(args).unwrap().command {
            crate::cli::Command::Webhooks(WebhooksArgs {
                command: WebhooksCommand::Add(add),
                ..
            }) => *add,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_take_commas_and_repeats_and_refuse_unknown_types() {
        let add = add_args(&[
            "add",
            "https://hooks.example.com/x",
            "--events",
            "job.failed,machine.left_running",
            "--events",
            "job.succeeded",
            "--format",
            "slack",
            "--machine",
            "ps1",
            "--machine",
            "ps2",
            "--url",
            "http://127.0.0.1:7420",
        ]);
        assert_eq!(add.endpoint_url, "https://hooks.example.com/x");
        assert_eq!(
            add.events,
            [
                EventType::JobFailed,
                EventType::LeftRunning,
                EventType::JobSucceeded
            ]
        );
        assert!(matches!(add.format, FormatArg::Slack));
        assert_eq!(add.machines, ["ps1", "ps2"]);
        assert!(
            add_args(&["add", "https://h.example.com/"])
                .events
                .is_empty()
        );

        let bad = parse(&[
            "add",
            "https://h.example.com/",
            "--events",
            "job.failed,job.exploded",
        ])
        .unwrap_err();
        assert_eq!(bad.exit_code(), 2);
        let message = bad.to_string();
        assert!(
            message.contains("unknown event type `job.exploded`")
                && message.contains("machine.left_running"),
            "{message}"
        );
        assert!(parse(&["add", "https://h.example.com/", "--events", "ping"]).is_err());
        assert!(parse(&["add", "https://h.example.com/", "--format", "xml"]).is_err());
        let id = parse(&["show", "ops"]).unwrap_err();
        assert_eq!(id.exit_code(), 2);
        assert!(
            id.to_string().contains("`ops` is not an endpoint id"),
            "{id}"
        );
        assert!(parse(&["remove", "0"]).is_err());
        assert!(parse(&["rm", "3", "--json"]).is_ok());
        assert!(parse(&["deliveries", "3", "--limit", "5", "--before", "40"]).is_ok());
        assert!(parse(&["deliveries", "3", "--resend", "40"]).is_ok());
        assert!(parse(&["deliveries", "3", "--limit", "5", "--resend", "40"]).is_err());
    }
}
