//! How the client commands print, in one place: the `-o` flag every
//! command that talks to the daemon takes, the colours of states, relative
//! ages, and the human view of a JSON value.
//!
//! - `-o table` (the default) is for people: tables and aligned fields.
//!   `-o wide` adds the columns a list leaves out to fit a terminal (the
//!   same as `table` where there is no table). `-o json` prints the API's
//!   JSON, pretty, and `-o yaml` the same value as YAML: both are for
//!   scripts and carry exactly what the API answered. `--json` stays as
//!   the shorthand of `-o json` it was before `-o` existed, so scripts
//!   written against it keep working.
//! - Colour marks states (green done or up, red failed, dim off or
//!   cancelled, cyan at work, yellow on the way) and is only for a person
//!   at a terminal: it is used when standard output is a terminal, `TERM`
//!   is not `dumb` and `NO_COLOR` is unset or empty (<https://no-color.org>).
//!   `CLICOLOR_FORCE` (set, not `0`) turns it on for a pager or a test;
//!   `NO_COLOR` still wins, as anstream decides it. A colour is added after
//!   a cell is escaped ([`crate::text::escape`]) and padded, so it neither
//!   gets escaped itself nor counts towards a column's width.
//! - A time in a table or a detail carries its age against now, `5m ago`
//!   or `in 5m` ([`relative`]): UTC times are exact but make the reader do
//!   the sum.
//! - A job's result, arguments and checkpoint are JSON of any shape; they
//!   print as indented YAML ([`value_lines`]), never as one long line.

use std::ffi::OsStr;

use anstyle::{AnsiColor, Effects};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::text::escape;

// The `-o`/`--json` flags, flattened into every client command that prints
// something. Plain comments, not doc comments: clap would take those for
// the help text.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(super) struct OutputArgs {
    /// How to print: table (for people, the default), wide (tables with
    /// more columns), json or yaml (the API's answer, for scripts).
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    output: Option<Format>,
    /// The same as `-o json`.
    #[arg(long, conflicts_with = "output")]
    json: bool,
}

/// The usage error of `-o yaml` with `--follow` or `--watch`.
pub(super) const NOT_A_STREAM: &str = "--follow and --watch print rows or, with -o json, one JSON object per line; \
     -o yaml has no one-line form";

/// What `-o` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(super) enum Format {
    /// Tables and aligned fields.
    #[default]
    Table,
    /// Tables with every column.
    Wide,
    /// The API's JSON, pretty.
    Json,
    /// The API's answer as YAML.
    Yaml,
}

impl OutputArgs {
    /// The format asked for: `--json` is `-o json`.
    pub(super) fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.output.unwrap_or_default()
        }
    }

    /// True for json and yaml: print the API's answer and nothing else.
    pub(super) fn structured(&self) -> bool {
        matches!(self.format(), Format::Json | Format::Yaml)
    }

    /// How a stream (`--follow`, `--watch`) prints its items: `Some(true)`
    /// as JSON lines, `Some(false)` as rows; `None` for YAML, which has no
    /// one-line form ([`NOT_A_STREAM`]).
    pub(super) fn stream(&self) -> Option<bool> {
        match self.format() {
            Format::Json => Some(true),
            Format::Table | Format::Wide => Some(false),
            Format::Yaml => None,
        }
    }

    /// True for `-o wide`.
    pub(super) fn wide(&self) -> bool {
        self.format() == Format::Wide
    }

    /// Prints the API's answer as json or yaml; a table format prints it as
    /// json (a caller that has no table of its own).
    pub(super) fn print<T: serde::Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        print_structured(value, self.format())
    }
}

/// Prints `value` as pretty JSON, or as YAML for [`Format::Yaml`].
pub(super) fn print_structured<T: serde::Serialize + ?Sized>(
    value: &T,
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Yaml => print!("{}", serde_norway::to_string(value)?),
        Format::Table | Format::Wide | Format::Json => {
            println!("{}", serde_json::to_string_pretty(value)?)
        }
    }
    Ok(())
}

/// Whether to colour, decided once per command.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    /// True when colour codes may be written to standard output.
    colour: bool,
}

impl Style {
    /// Colour for a person at a terminal; see the module doc.
    pub(super) fn detect() -> Style {
        use std::io::IsTerminal;
        Style {
            colour: colour_wanted(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("CLICOLOR_FORCE").as_deref(),
                std::env::var_os("TERM").as_deref(),
            ),
        }
    }

    /// `text` (already escaped) in the colour of the state it names, or as
    /// it is when the state has none or colour is off.
    pub(super) fn state(&self, text: &str) -> String {
        match state_colour(text.trim_end()) {
            Some(style) if self.colour => {
                format!("{}{text}{}", style.render(), style.render_reset())
            }
            _ => text.to_string(),
        }
    }
}

/// The rule of the module doc: `NO_COLOR` (non-empty) says no, then
/// `CLICOLOR_FORCE` (non-empty, not `0`) says yes, then a terminal that is
/// not `dumb` says yes.
fn colour_wanted(
    terminal: bool,
    no_color: Option<&OsStr>,
    force: Option<&OsStr>,
    term: Option<&OsStr>,
) -> bool {
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if force.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    terminal && term.is_none_or(|t| t != "dumb")
}

/// The colour of a job, group run or machine state, by its wire name.
fn state_colour(state: &str) -> Option<anstyle::Style> {
    let colour = |c: AnsiColor| Some(anstyle::Style::new().fg_color(Some(c.into())));
    match state {
        "succeeded" | "ready" | "serviceready" => colour(AnsiColor::Green),
        "failed" | "gone" => colour(AnsiColor::Red),
        "cancelled" | "off" => Some(anstyle::Style::new().effects(Effects::DIMMED)),
        "running" | "waiting" => colour(AnsiColor::Cyan),
        "starting" | "stopping" | "restarting" | "upgrading" | "provisioning" => {
            colour(AnsiColor::Yellow)
        }
        _ => None,
    }
}

/// `2026-03-02T09:00:00Z (5m ago)`: the UTC time and its age.
pub(super) fn time_ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ({})", super::connection::time(at), relative(at, now))
}

/// `30s ago`, `5m ago`, `3h ago`, `2d ago`; `in 5m` for a time to come;
/// `now` within the second. The largest unit that is at least one,
/// rounded down, as kubectl's AGE.
pub(super) fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let span = match seconds.unsigned_abs() {
        0 => return "now".to_string(),
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    };
    if seconds > 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// A JSON value for people: a scalar on its own (a string without quotes),
/// an object or array as indented YAML lines. Each line is escaped: the
/// value is what a job or the API wrote.
pub(super) fn value_lines(value: &Value) -> Vec<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Object(_) | Value::Array(_) => {
            serde_norway::to_string(value).unwrap_or_else(|_| value.to_string())
        }
        other => other.to_string(),
    };
    text.lines().map(escape).collect()
}

/// `key  value` for a scalar or a one-line value, else `key:` and the
/// value's lines indented under it (at `indent` spaces).
pub(super) fn field_value(key: &str, value: &Value, indent: usize) -> String {
    let lines = value_lines(value);
    let mut text = String::new();
    match lines.as_slice() {
        [one] if !matches!(value, Value::Object(_) | Value::Array(_)) => {
            text.push_str(&format!("{key}  {one}\n"));
        }
        _ => {
            text.push_str(&format!("{key}:\n"));
            for line in lines {
                text.push_str(&format!("{:indent$}{line}\n", ""));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let now = at("2026-12-06T05:44:54Z");
        let ago = |s: &str| relative(at(s), now);
        assert_eq!(ago("2026-12-06T05:44:24Z"), "30s ago");
        assert_eq!(ago("2026-12-06T05:39:54Z"), "5m ago");
        assert_eq!(ago("2026-12-06T05:39:00Z"), "5m ago");
        assert_eq!(ago("2026-12-06T02:44:54Z"), "3h ago");
        assert_eq!(ago("2026-12-04T05:44:54Z"), "2d ago");
        assert_eq!(ago("2026-12-06T05:49:54Z"), "in 5m");
        assert_eq!(ago("2026-12-06T05:44:54Z"), "now");
        assert_eq!(
            time_ago(at("2026-12-06T05:39:54Z"), now),
            "2026-12-06T05:39:54Z (5m ago)"
        );
    }

    #[test]
    fn colour_only_for_a_terminal_without_no_color() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(colour_wanted(true, None, None, os("xterm")));
        assert!(colour_wanted(true, os(""), None, None));
        assert!(!colour_wanted(false, None, None, os("xterm")));
        assert!(!colour_wanted(true, os("1"), None, os("xterm")));
        assert!(!colour_wanted(true, None, None, os("dumb")));
        assert!(colour_wanted(false, None, os("1"), None));
        assert!(!colour_wanted(false, None, os("0"), None));
        assert!(!colour_wanted(true, os("1"), os("1"), None));
    }

    #[test]
    fn states_are_coloured_only_when_on() {
        let on = Style { colour: true };
        let off = Style { colour: false };
        assert_eq!(on.state("succeeded"), "\x1b[32msucceeded\x1b[0m");
        assert_eq!(on.state("failed  "), "\x1b[31mfailed  \x1b[0m");
        assert_eq!(on.state("queued"), "queued");
        assert_eq!(off.state("succeeded"), "succeeded");
    }

    #[test]
    fn values_print_as_indented_lines() {
        let result =
            json!({"id": "ps1", "state": "ready", "tags": ["a", "b"], "note": "x\u{1b}[31m"});
        assert_eq!(
            field_value("result", &result, 2),
            "result:\n  id: ps1\n  note: \"x\\e[31m\"\n  state: ready\n  tags:\n  - a\n  - b\n"
        );
        assert_eq!(field_value("result", &json!("done"), 2), "result  done\n");
        assert_eq!(field_value("result", &json!(3), 2), "result  3\n");
    }
}

/// Prints `fields` as `print_fields` does (keys aligned to `width`, values
/// escaped), the `state` field in its colour.
pub(super) fn print_state_fields(fields: &[(&str, String)], width: usize) {
    let style = Style::detect();
    for (key, value) in fields {
        let value = escape(value);
        let value = if *key == "state" {
            style.state(&value)
        } else {
            value
        };
        println!("{key:<width$}  {value}");
    }
}

/// A view redrawn in place on a terminal (`demo`, `top`): each frame is
/// written over the last with plain ANSI escapes.
#[derive(Debug, Default)]
pub(super) struct Redrawn {
    /// Lines of the frame last drawn, to move back over them; 0 before the
    /// first.
    drawn: usize,
}

impl Redrawn {
    /// Writes `frame` over the previous one.
    pub(super) fn draw(&mut self, frame: &[String]) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            // Up over the last frame, then clear to the end of the screen.
            let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn);
        }
        for line in frame {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        self.drawn = frame.len();
    }
}
