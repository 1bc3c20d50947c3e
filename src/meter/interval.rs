//! Running intervals: when a machine was billed for running.
//!
//! Paperspace bills a machine from the moment a start (or restart) is done,
//! the event's `dtFinished`, until a stop, a forced shutdown or a deactivate
//! begins, that event's `dtStarted` (`../shared/paperspace-api.md` §2.7).
//! Events in `error` or `cancelled` are transitions that did not happen.
//!
//! Events are the evidence; the states Machinist saw are the cross-check. A
//! change of state Machinist saw that no event explains (the events were not
//! listed yet, Paperspace dropped them, or the backend lists none, as legacy
//! does) becomes an edge of its own, placed halfway between the last sighting
//! before the change and the first after it, and carries half that span as
//! its bound. An event always wins over a sighting: once the event of a
//! change is ingested, the inferred edge disappears.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::sighting::StateSighting;
use crate::machine::{MachineEvent, MachineState};

/// How far a sighting may lie from the event that explains it: the events'
/// times and the state a poll reports are not taken at the same instant.
const EXPLAIN_SLACK: Duration = Duration::seconds(120);

/// What ended or began an interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Evidence {
    /// A Paperspace event: its id and name (`start`, `stop`, …).
    Event { id: String, name: String },
    /// A change of state Machinist saw and no event explained.
    Observed,
    /// The start or end of the span asked about (the month, or now): the
    /// machine was running across it.
    Boundary,
    /// The machine was created or disappeared.
    Lifetime,
}

impl Evidence {
    fn is_observed(&self) -> bool {
        matches!(self, Evidence::Observed)
    }
}

/// A span during which the machine was billed for running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// When it began (within the span asked about).
    pub from: DateTime<Utc>,
    /// When it ended (or the end of the span asked about).
    pub to: DateTime<Utc>,
    /// What opened it.
    pub opened_by: Evidence,
    /// What closed it.
    pub closed_by: Evidence,
    /// How many seconds its length may be off: the bounds of its inferred
    /// ends (0 when both ends are events or boundaries).
    pub uncertainty_seconds: i64,
}

impl Interval {
    /// Its length in seconds.
    pub fn seconds(&self) -> i64 {
        (self.to - self.from).num_seconds().max(0)
    }

    /// True when an end rests on a sighting rather than an event.
    pub fn is_inferred(&self) -> bool {
        self.opened_by.is_observed() || self.closed_by.is_observed()
    }
}

/// Everything known about one machine that decides when it ran.
#[derive(Debug, Clone, Copy)]
pub struct MachineFacts<'a> {
    /// The machine.
    pub machine_id: &'a str,
    /// Its events (any order), including the last lifecycle event before
    /// the span asked about, so its state at the start is known.
    pub events: &'a [MachineEvent],
    /// The states Machinist saw it in (any order), including the last one
    /// before the span.
    pub sightings: &'a [StateSighting],
    /// When it was created, when known: nothing runs before.
    pub created_at: Option<DateTime<Utc>>,
    /// When it disappeared, if it did: nothing runs after.
    pub gone_at: Option<DateTime<Utc>>,
}

/// One change between running and not running.
#[derive(Debug, Clone)]
struct Edge {
    /// When, or the best estimate.
    at: DateTime<Utc>,
    /// True when the machine starts being billed.
    up: bool,
    /// Where the edge comes from.
    evidence: Evidence,
    /// Seconds the estimate may be off.
    uncertainty: i64,
}

/// Whether a machine in `state` is billed for running: up, and not on its
/// way up (billing begins when a start is done) or down (it ends when a
/// stop begins). An upgrade (`vm-upgrade`) happens to a machine that is
/// off, so `upgrading` is not running time either.
pub fn is_billed(state: &MachineState) -> bool {
    matches!(
        state,
        MachineState::Ready | MachineState::ServiceReady | MachineState::Restarting
    )
}

/// The edge an event makes, if it makes one.
fn event_edge(e: &MachineEvent) -> Option<Edge> {
    let evidence = || Evidence::Event {
        id: e.id.clone().unwrap_or_default(),
        name: e.name.clone(),
    };
    match e.name.as_str() {
        "start" | "restart" | "create" if e.state == "done" => Some(Edge {
            at: e.finished_at?,
            up: true,
            evidence: evidence(),
            uncertainty: 0,
        }),
        "stop" | "vm-shutdown-force" | "deactivate"
            if !matches!(e.state.as_str(), "error" | "cancelled") =>
        {
            // A stop not begun yet has no `dtStarted`: it has not ended
            // anything.
            let at = match e.state.as_str() {
                "new" => e.started_at?,
                _ => e.started_at.or(e.created_at)?,
            };
            Some(Edge {
                at,
                up: false,
                evidence: evidence(),
                uncertainty: 0,
            })
        }
        _ => None,
    }
}

/// Whether the events put the machine in the billed state at `at`
/// (`None` before the first event edge).
fn state_by_events(edges: &[Edge], at: DateTime<Utc>) -> Option<bool> {
    let i = edges.partition_point(|e| e.at <= at);
    i.checked_sub(1).map(|i| edges[i].up)
}

/// The edges the sightings add that the events do not explain. A change
/// Machinist saw between two sightings is explained by an event edge the
/// same way within that span (give or take [`EXPLAIN_SLACK`]); the first
/// sighting only anchors the state when no event before it does.
fn observed_edges(sightings: &[StateSighting], events: &[Edge]) -> Vec<Edge> {
    let mut sorted: Vec<&StateSighting> = sightings.iter().collect();
    sorted.sort_by_key(|s| s.at);
    let mut out = Vec::new();
    let mut before: Option<&StateSighting> = None;
    for s in sorted {
        let billed = is_billed(&s.state);
        match before {
            None => {
                if state_by_events(events, s.at).is_none() {
                    out.push(Edge {
                        at: s.at,
                        up: billed,
                        evidence: Evidence::Observed,
                        uncertainty: 0,
                    });
                }
            }
            Some(b) if is_billed(&b.state) != billed => {
                // The change happened after the machine was last seen in
                // its previous state.
                let since = s.previous_seen_at.unwrap_or(b.at).max(b.at).min(s.at);
                let explained = events.iter().any(|e| {
                    e.up == billed && e.at >= since - EXPLAIN_SLACK && e.at <= s.at + EXPLAIN_SLACK
                });
                if !explained {
                    let half = (s.at - since) / 2;
                    out.push(Edge {
                        at: since + half,
                        up: billed,
                        evidence: Evidence::Observed,
                        uncertainty: half.num_seconds(),
                    });
                }
            }
            Some(_) => {}
        }
        before = Some(s);
    }
    out
}

/// Removes the edge of a `create` that left its machine off. No event
/// says whether a create started the machine (v1's `startOnCreate`), so
/// what follows decides: a start next means it was off; a stop next means
/// it ran; with no later event, the first state seen after it; with none of
/// those, it ran (`startOnCreate` defaults to true).
fn drop_creates_left_off(events: &mut Vec<Edge>, sightings: &[StateSighting]) {
    let is_create =
        |e: &Edge| matches!(&e.evidence, Evidence::Event { name, .. } if name == "create");
    let mut i = 0;
    while i < events.len() {
        if is_create(&events[i]) {
            let at = events[i].at;
            let left_off = match events.get(i + 1) {
                Some(next) => next.up,
                None => sightings
                    .iter()
                    .filter(|s| s.at >= at)
                    .min_by_key(|s| s.at)
                    .is_some_and(|s| !is_billed(&s.state)),
            };
            if left_off {
                events.remove(i);
                continue;
            }
        }
        i += 1;
    }
}

/// The intervals `facts` show the machine billed for running within
/// `[from, to)`, oldest first.
pub fn running_intervals(
    facts: &MachineFacts<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Interval> {
    let mut events: Vec<Edge> = facts.events.iter().filter_map(event_edge).collect();
    events.sort_by_key(|e| e.at);
    drop_creates_left_off(&mut events, facts.sightings);
    let mut edges = observed_edges(facts.sightings, &events);
    edges.extend(events);
    // At one instant a down edge comes first: a stop and a start at the
    // same second leave the machine running.
    edges.sort_by_key(|e| (e.at, e.up));

    let from = facts.created_at.map_or(from, |c| c.max(from));
    let to = facts.gone_at.map_or(to, |g| g.min(to));
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    let clipped_start = |edge: &Edge| -> (DateTime<Utc>, Evidence, i64) {
        if edge.at < from {
            let evidence = if facts.created_at.is_some_and(|c| c >= from) {
                Evidence::Lifetime
            } else {
                Evidence::Boundary
            };
            (from, evidence, 0)
        } else {
            (edge.at, edge.evidence.clone(), edge.uncertainty)
        }
    };
    let mut open: Option<(DateTime<Utc>, Evidence, i64)> = None;
    for edge in &edges {
        if edge.at >= to {
            break;
        }
        match (&open, edge.up) {
            (None, true) => open = Some(clipped_start(edge)),
            (Some(_), false) => {
                let (start, opened_by, u) = open.take().expect("open");
                if edge.at > from && edge.at > start {
                    out.push(Interval {
                        from: start,
                        to: edge.at,
                        opened_by,
                        closed_by: edge.evidence.clone(),
                        uncertainty_seconds: u + edge.uncertainty,
                    });
                }
            }
            _ => {}
        }
    }
    if let Some((start, opened_by, u)) = open {
        let closed_by = if facts.gone_at.is_some_and(|g| g <= to) {
            Evidence::Lifetime
        } else {
            Evidence::Boundary
        };
        if to > start {
            out.push(Interval {
                from: start,
                to,
                opened_by,
                closed_by,
                uncertainty_seconds: u,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-03-{s}Z").parse().unwrap()
    }

    fn event(
        id: &str,
        name: &str,
        state: &str,
        started: &str,
        finished: Option<&str>,
    ) -> MachineEvent {
        MachineEvent {
            id: Some(id.into()),
            machine_id: Some("ps1".into()),
            name: name.into(),
            state: state.into(),
            error: None,
            created_at: Some(at(started)),
            started_at: Some(at(started)),
            finished_at: finished.map(at),
        }
    }

    fn seen(state: MachineState, when: &str, previous: Option<&str>) -> StateSighting {
        StateSighting {
            machine_id: "ps1".into(),
            state,
            at: at(when),
            previous_seen_at: previous.map(at),
        }
    }

    fn facts<'a>(events: &'a [MachineEvent], sightings: &'a [StateSighting]) -> MachineFacts<'a> {
        MachineFacts {
            machine_id: "ps1",
            events,
            sightings,
            created_at: None,
            gone_at: None,
        }
    }

    fn hours(intervals: &[Interval]) -> f64 {
        intervals.iter().map(|i| i.seconds() as f64 / 3600.0).sum()
    }

    #[test]
    fn a_start_opens_at_its_end_and_a_stop_closes_at_its_start() {
        let events = [
            event("e1", "start", "done", "02T09:00:00", Some("02T09:01:00")),
            event("e2", "stop", "done", "02T18:00:00", Some("02T18:00:30")),
            event("e3", "start", "error", "03T09:00:00", Some("03T09:00:10")),
        ];
        let got = running_intervals(&facts(&events, &[]), at("01T00:00:00"), at("04T00:00:00"));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].from, got[0].to),
            (at("02T09:01:00"), at("02T18:00:00"))
        );
        assert!(!got[0].is_inferred());
        assert_eq!(got[0].uncertainty_seconds, 0);
    }

    #[test]
    fn a_running_machine_is_cut_at_the_span_and_its_lifetime() {
        let events = [event(
            "e1",
            "start",
            "done",
            "01T09:00:00",
            Some("01T09:01:00"),
        )];
        let mut f = facts(&events, &[]);
        let got = running_intervals(&f, at("02T00:00:00"), at("03T00:00:00"));
        assert_eq!(got[0].opened_by, Evidence::Boundary);
        assert_eq!(got[0].closed_by, Evidence::Boundary);
        assert_eq!(hours(&got), 24.0);
        f.gone_at = Some(at("02T06:00:00"));
        let got = running_intervals(&f, at("02T00:00:00"), at("03T00:00:00"));
        assert_eq!(got[0].closed_by, Evidence::Lifetime);
        assert_eq!(hours(&got), 6.0);
    }

    #[test]
    fn a_forced_shutdown_outside_machinist_closes_the_interval() {
        let events = [
            event("e1", "start", "done", "02T09:00:00", Some("02T09:01:00")),
            event(
                "e2",
                "vm-shutdown-force",
                "done",
                "02T11:01:00",
                Some("02T11:01:05"),
            ),
        ];
        let got = running_intervals(&facts(&events, &[]), at("01T00:00:00"), at("04T00:00:00"));
        assert_eq!(hours(&got), 2.0);
    }

    #[test]
    fn sightings_that_events_explain_add_nothing() {
        let events = [
            event("e1", "start", "done", "02T09:00:00", Some("02T09:01:00")),
            event("e2", "stop", "done", "02T18:00:00", Some("02T18:00:30")),
        ];
        let sightings = [
            seen(MachineState::Off, "02T08:00:00", None),
            seen(MachineState::Starting, "02T09:00:01", Some("02T08:59:59")),
            seen(MachineState::Ready, "02T09:01:30", Some("02T09:00:01")),
            seen(MachineState::Stopping, "02T18:00:01", Some("02T17:59:59")),
            seen(MachineState::Off, "02T18:00:40", Some("02T18:00:01")),
        ];
        let got = running_intervals(
            &facts(&events, &sightings),
            at("01T00:00:00"),
            at("04T00:00:00"),
        );
        assert_eq!(got.len(), 1);
        assert!(!got[0].is_inferred(), "{got:?}");
        assert_eq!(hours(&got), 8.0 + 59.0 / 60.0);
    }

    #[test]
    fn a_start_no_event_explains_is_inferred_with_its_bound() {
        // Seen off at 10:00, running at 10:10; no event lists the start.
        let sightings = [
            seen(MachineState::Off, "02T08:00:00", None),
            seen(MachineState::Ready, "02T10:10:00", Some("02T10:00:00")),
            seen(MachineState::Off, "02T12:10:00", Some("02T12:00:00")),
        ];
        let got = running_intervals(
            &facts(&[], &sightings),
            at("01T00:00:00"),
            at("04T00:00:00"),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].from, got[0].to),
            (at("02T10:05:00"), at("02T12:05:00"))
        );
        assert!(got[0].is_inferred());
        assert_eq!(got[0].uncertainty_seconds, 600);
    }

    #[test]
    fn a_missing_stop_event_is_found_from_the_states() {
        let events = [event(
            "e1",
            "start",
            "done",
            "02T09:00:00",
            Some("02T09:01:00"),
        )];
        let sightings = [
            seen(MachineState::Ready, "02T09:02:00", None),
            seen(MachineState::Off, "02T13:05:00", Some("02T12:55:00")),
        ];
        let got = running_intervals(
            &facts(&events, &sightings),
            at("01T00:00:00"),
            at("04T00:00:00"),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, at("02T13:00:00"));
        assert_eq!(got[0].closed_by, Evidence::Observed);
        assert_eq!(got[0].uncertainty_seconds, 300);
    }

    #[test]
    fn a_create_that_left_the_machine_off_opens_nothing() {
        // Created off, started a day later by hand.
        let events = [
            event("e0", "create", "done", "10T12:00:00", Some("10T12:03:00")),
            event("e1", "start", "done", "11T09:00:00", Some("11T09:01:00")),
            event("e2", "stop", "done", "11T10:01:00", Some("11T10:02:00")),
        ];
        let got = running_intervals(&facts(&events, &[]), at("01T00:00:00"), at("31T00:00:00"));
        assert_eq!(hours(&got), 1.0);
        // Created off and never touched: the first state seen says so.
        let events = [event(
            "e0",
            "create",
            "done",
            "10T12:00:00",
            Some("10T12:03:00"),
        )];
        let sightings = [seen(MachineState::Off, "10T12:10:00", None)];
        let got = running_intervals(
            &facts(&events, &sightings),
            at("01T00:00:00"),
            at("31T00:00:00"),
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_machine_created_in_the_span_runs_from_its_create() {
        let events = [
            event("e0", "create", "done", "10T12:00:00", Some("10T12:03:00")),
            event(
                "e1",
                "deactivate",
                "done",
                "20T12:00:00",
                Some("20T12:01:00"),
            ),
        ];
        let mut f = facts(&events, &[]);
        f.created_at = Some(at("10T12:00:00"));
        f.gone_at = Some(at("20T12:01:00"));
        let got = running_intervals(&f, at("01T00:00:00"), at("31T00:00:00"));
        assert_eq!(
            (got[0].from, got[0].to),
            (at("10T12:03:00"), at("20T12:00:00"))
        );
    }
}
