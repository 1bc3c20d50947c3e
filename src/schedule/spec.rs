//! A schedule as people write it ([`ScheduleSpec`]) and as it is stored ([`Schedule`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{Calendars, Exclusions};
use super::target::Targets;
use super::template::JobTemplate;
use super::timing::CronSchedule;
use crate::job::{JobDefaults, JobKind, SpecError};

/// What happens to firings missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// Record them as skipped; fire next at the next regular time.
    Skip,
    /// Run once for the latest missed time if it is within the catch-up
    /// window; record the others as skipped.
    RunOnce,
}

impl MisfirePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MisfirePolicy::Skip => "skip",
            MisfirePolicy::RunOnce => "run_once",
        }
    }
}

/// What a firing does when the previous firing's job for the same target
/// has not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Skip this target this time, and record it.
    #[default]
    Skip,
    /// Queue another job behind it.
    Queue,
}

impl OverlapPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapPolicy::Skip => "skip",
            OverlapPolicy::Queue => "queue",
        }
    }
}

/// A firing is on time when it runs within this of its due time; later, it
/// counts as missed and its schedule's misfire policy decides.
pub const ON_TIME: chrono::Duration = chrono::Duration::seconds(60);

/// Longest jitter: an hour.
const MAX_JITTER: u32 = 3600;

/// Parses a cron expression in a zone as they come over the API: both are
/// shown back in listings, so the characters free text may not hold are
/// refused first; errors name `cron` or `timezone`.
pub fn parse_cron(cron: &str, zone: &str) -> Result<CronSchedule, SpecError> {
    crate::job::operation::check_text("cron", cron)?;
    crate::job::operation::check_text("timezone", zone)?;
    CronSchedule::parse(cron, zone).map_err(cron_error)
}

/// A cron parse error, named `timezone` when the zone was at fault, else `cron`.
fn cron_error(e: super::timing::TimingError) -> SpecError {
    let field = if matches!(e, super::timing::TimingError::BadZone(_)) {
        "timezone"
    } else {
        "cron"
    };
    SpecError::new(field, e.to_string())
}

/// Checks a schedule's or window's name: 1 to 128 characters without
/// control, bidirectional or zero-width characters, not a number (numbers
/// are ids), and returns it trimmed.
pub fn check_name<'a>(name: &'a str, ids_of: &str) -> Result<&'a str, SpecError> {
    // Before trimming: a tab or newline at the end is refused, not dropped.
    crate::job::operation::check_text("name", name)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(SpecError::new(
            "name",
            "1 to 128 characters without control characters",
        ));
    }
    if name.parse::<i64>().is_ok() {
        return Err(SpecError::new(
            "name",
            format!("must not be a number (numbers are {ids_of} ids)"),
        ));
    }
    Ok(name)
}

/// A schedule as submitted over the API (create and full update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Unique; how people refer to the schedule.
    pub name: String,
    /// 5-field crontab, 6 fields with seconds first, or `@hourly`/`@daily`/`@weekly`/`@monthly`.
    pub cron: String,
    /// IANA zone; default from the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The job each firing submits, once per target for machine kinds.
    pub template: JobTemplate,
    /// Machines the jobs act on; empty for kinds that name no machine.
    #[serde(default)]
    pub targets: Targets,
    /// A disabled schedule keeps its definition but does not fire.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Spread a fleet's jobs over this many seconds after the firing.
    #[serde(default)]
    pub jitter_seconds: u32,
    /// Dates on which the schedule does not fire.
    #[serde(default)]
    pub exclusions: Exclusions,
    /// Default: `run_once`, with a window that depends on the job kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misfire: Option<MisfirePolicy>,
    /// Default per job kind (see [`JobTemplate::default_catch_up`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up_seconds: Option<u64>,
    /// What a firing does for a target whose previous job has not finished.
    #[serde(default)]
    pub overlap: OverlapPolicy,
    /// Accept machine ids missing from the daemon's last listing of the
    /// account (machines created later); not stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unknown: bool,
}

fn yes() -> bool {
    true
}

/// Everything validation needs from the configuration.
#[derive(Debug, Clone)]
pub struct ScheduleContext {
    /// Job defaults, for the template's `max_attempts` and wait timeout.
    pub defaults: JobDefaults,
    /// Named calendars that `exclusions.calendars` may refer to.
    pub calendars: Calendars,
    /// Zone for schedules that name none.
    pub default_zone: String,
}

/// A checked schedule, ready to store.
#[derive(Debug, Clone)]
pub struct ValidSchedule {
    /// The spec as submitted, with its name trimmed.
    pub spec: ScheduleSpec,
    /// The IANA zone the cron is read in: the spec's or the configured default.
    pub zone: String,
    /// The job kind of the template.
    pub kind: JobKind,
    /// The parsed cron expression.
    pub cron: CronSchedule,
    /// The spec's misfire policy, or `run_once` when it names none.
    pub misfire: MisfirePolicy,
    /// How late a missed firing may still run, from the spec or the kind's default.
    pub catch_up: std::time::Duration,
}

impl ScheduleSpec {
    /// Checks every field; the first problem names its field.
    pub fn validate(self, ctx: &ScheduleContext) -> Result<ValidSchedule, SpecError> {
        let name = check_name(&self.name, "schedule")?;
        if name.starts_with("window:") {
            return Err(SpecError::new(
                "name",
                "names starting with `window:` belong to windows",
            ));
        }
        let zone = self
            .timezone
            .clone()
            .unwrap_or_else(|| ctx.default_zone.clone());
        let cron = parse_cron(&self.cron, &zone)?;
        let kind = self.template.validate(&ctx.defaults)?;
        self.targets.validate(kind.needs_machine(), kind.as_str())?;
        if self.targets.group.is_some() && self.template.wait.as_deref() == Some("none") {
            // A group's next stage goes once this one got there: its jobs
            // must wait for something.
            return Err(SpecError::new(
                "template.wait",
                "a group's jobs wait before the next stage goes (starts for ready or serviceready, stops for off); `none` would not keep the order",
            ));
        }
        if self.jitter_seconds > MAX_JITTER {
            return Err(SpecError::new("jitter_seconds", "at most 3600 (an hour)"));
        }
        self.exclusions
            .validate(&ctx.calendars)
            .map_err(|e| SpecError::new("exclusions", e.to_string()))?;
        let catch_up = match self.catch_up_seconds {
            Some(secs) if secs > 31 * 24 * 3600 => {
                return Err(SpecError::new(
                    "catch_up_seconds",
                    "at most 2678400 (31 days)",
                ));
            }
            Some(secs) => std::time::Duration::from_secs(secs),
            None => JobTemplate::default_catch_up(kind),
        };
        Ok(ValidSchedule {
            misfire: self.misfire.unwrap_or(MisfirePolicy::RunOnce),
            spec: ScheduleSpec {
                name: name.to_string(),
                ..self
            },
            zone,
            kind,
            cron,
            catch_up,
        })
    }
}

/// Which edge of a window a derived schedule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowEdge {
    Start,
    Stop,
}

impl WindowEdge {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowEdge::Start => "start",
            WindowEdge::Stop => "stop",
        }
    }
}

impl From<WindowEdge> for super::hours::Edge {
    fn from(edge: WindowEdge) -> Self {
        match edge {
            WindowEdge::Start => super::hours::Edge::Start,
            WindowEdge::Stop => super::hours::Edge::Stop,
        }
    }
}

impl From<super::hours::Edge> for WindowEdge {
    fn from(edge: super::hours::Edge) -> Self {
        match edge {
            super::hours::Edge::Start => WindowEdge::Start,
            super::hours::Edge::Stop => WindowEdge::Stop,
        }
    }
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Store-assigned id.
    pub id: i64,
    /// Unique name; derived schedules are named `window:…`.
    pub name: String,
    /// The cron expression as submitted.
    pub cron: String,
    /// IANA zone the cron is read in.
    pub timezone: String,
    /// The job each firing submits.
    pub template: JobTemplate,
    /// Machines the jobs act on.
    pub targets: Targets,
    /// A disabled schedule does not fire.
    pub enabled: bool,
    /// Jobs of one firing are spread over this many seconds.
    pub jitter_seconds: u32,
    /// Dates on which the schedule does not fire.
    pub exclusions: Exclusions,
    /// What happens to firings missed while the daemon was down.
    pub misfire: MisfirePolicy,
    /// How late, in seconds, a missed firing may still run under `run_once`.
    pub catch_up_seconds: u64,
    /// What a firing does for a target whose previous job has not finished.
    pub overlap: OverlapPolicy,
    /// Set when a window derived this schedule from one of its edges.
    pub window_id: Option<i64>,
    /// Which edge of the window this derived schedule fires; `None` for a schedule of its own.
    pub window_edge: Option<WindowEdge>,
    /// `None` while paused.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// When the schedule was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed (not when it last fired).
    pub updated_at: DateTime<Utc>,
}

impl Schedule {
    /// The local date a firing at `at` counts for when checking exclusions:
    /// for a window's edge, the day the window opens (`hours` is the
    /// window); otherwise the date in the schedule's zone.
    pub fn exclusion_day(
        &self,
        at: DateTime<Utc>,
        zone: chrono_tz::Tz,
        hours: Option<&super::hours::ValidWindow>,
    ) -> chrono::NaiveDate {
        match (hours, self.window_edge) {
            (Some(hours), Some(edge)) => hours.edge_day(edge.into(), at),
            _ => None,
        }
        .unwrap_or_else(|| at.with_timezone(&zone).date_naive())
    }

    /// The parsed cron expression; stored schedules were validated.
    pub fn timing(&self) -> Result<CronSchedule, SpecError> {
        CronSchedule::parse(&self.cron, &self.timezone)
            .map_err(|e| SpecError::new("cron", e.to_string()))
    }
}
