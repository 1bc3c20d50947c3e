//! Following a running daemon: `machinist history --follow`, `jobs show ID
//! --follow` (and `jobs submit --wait`), `jobs list --watch` and `machinist
//! top` keep printing as things change, until Ctrl-C.
//!
//! All of them read the history forward by long polling (`GET
//! /v1/history?after=ID&wait=S`, see `http/follow.rs`): a [`Follower`] asks
//! for the events after the last one it read, and the daemon answers as
//! soon as a commit brings one, or after the wait with nothing. Each event
//! is seen once and in order, whatever the timing, because event ids only
//! grow; a mode that shows jobs rather than events re-reads the jobs the new
//! events name. Between the events there is no traffic but one request
//! waiting, so a follower costs the daemon next to nothing (and a daemon
//! with too many followers waiting answers the rest at once: they just ask
//! again).
//!
//! A daemon that cannot be reached (a restart) is tried again for
//! [`UNREACHABLE_GRACE`], with one line on stderr when it goes and one when
//! it comes back; a daemon too old to know `after` is said to be so.
//!
//! Ctrl-C ends `history --follow`, `jobs list --watch` and `top` with exit
//! 0: that is how they are meant to end. `jobs show --follow` and `jobs
//! submit --wait` end by themselves when the job does, their exit code
//! saying how it ended; Ctrl-C interrupts them as any command (130 in a
//! shell), so that a script never reads it as the job's success.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::connection::{one_line, time, truncate};
use crate::cli::admin_client::{AdminClient, AdminError};
use crate::job::{Job, JobEvent, JobId, JobState};
use crate::store::JobFilter;
use crate::text::escape;

/// Seconds a poll asks the daemon to wait for news (it cuts that to half
/// its request timeout): long enough that an idle follower costs nothing,
/// short enough that a dead connection is noticed.
pub(super) const WAIT_SECONDS: u64 = 20;
/// How long a follower keeps trying while the daemon cannot be reached
/// (a restart of the daemon takes a few seconds).
const UNREACHABLE_GRACE: Duration = Duration::from_secs(60);
/// The pause between tries while the daemon cannot be reached.
const RETRY: Duration = Duration::from_secs(1);
/// The least time between two polls that brought nothing. A daemon answers
/// a poll at once, empty, when too many already wait (or its wait was cut
/// short); without this floor its follower would ask again at once, in a
/// loop, and be one more load on a daemon that is busy already.
const EMPTY_POLL_FLOOR: Duration = Duration::from_secs(1);

/// Reads the history forward from an event id: the events of every job,
/// of one machine's jobs, or of one job.
pub(super) struct Follower {
    /// The daemon.
    client: AdminClient,
    /// Only events of jobs on this machine.
    machine_id: Option<String>,
    /// Only events of this job.
    job_id: Option<JobId>,
    /// The id of the last event read: the next poll asks for those above.
    after: i64,
    /// Since when the daemon could not be reached; `None` while it answers.
    unreachable_since: Option<Instant>,
    /// Whether to say on stderr that the daemon answers again (not under
    /// `--json`, whose stdout is for scripts and whose stderr stays quiet
    /// unless something is wrong).
    chatty: bool,
}

impl Follower {
    /// A follower of the events after `after` that match the filters.
    pub(super) fn new(
        client: &AdminClient,
        machine_id: Option<&str>,
        job_id: Option<JobId>,
        after: i64,
        chatty: bool,
    ) -> Self {
        Follower {
            client: client.clone(),
            machine_id: machine_id.map(str::to_string),
            job_id,
            after,
            unreachable_since: None,
            chatty,
        }
    }

    /// The id of the last event read.
    pub(super) fn after(&self) -> i64 {
        self.after
    }

    /// The next events, oldest first: whatever there is after the last one
    /// read, or the first that arrive within `wait` seconds; empty when
    /// none did.
    pub(super) async fn next(&mut self, wait: u64) -> anyhow::Result<Vec<JobEvent>> {
        let (client, machine_id, job_id, after) = (
            self.client.clone(),
            self.machine_id.clone(),
            self.job_id,
            self.after,
        );
        let asked = Instant::now();
        let page = self
            .call(|| client.history_after(machine_id.as_deref(), job_id, after, wait))
            .await
            .map_err(|e| older_daemon(&self.client, e))?;
        if page.events.is_empty() && wait > 0 {
            let spent = asked.elapsed();
            if spent < EMPTY_POLL_FLOOR {
                tokio::time::sleep(EMPTY_POLL_FLOOR - spent).await;
            }
        }
        if let Some(last) = page.events.last() {
            self.after = self.after.max(last.id);
        }
        Ok(page.events)
    }

    /// Runs a call to the daemon, trying again while the daemon cannot be
    /// reached or is too busy (for at most [`UNREACHABLE_GRACE`]).
    pub(super) async fn call<T, F>(&mut self, call: impl Fn() -> F) -> Result<T, anyhow::Error>
    where
        F: Future<Output = Result<T, AdminError>>,
    {
        loop {
            match call().await {
                Ok(answer) => {
                    if self.unreachable_since.take().is_some() && self.chatty {
                        eprintln!("reached the daemon again");
                    }
                    return Ok(answer);
                }
                Err(e) if e.is_unreachable() || e.status() == Some(503) => {
                    let since = *self.unreachable_since.get_or_insert_with(|| {
                        eprintln!("{}; still trying", escape(&e.to_string()));
                        Instant::now()
                    });
                    if since.elapsed() > UNREACHABLE_GRACE {
                        return Err(e.into());
                    }
                    tokio::time::sleep(RETRY).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A daemon that refuses the long poll's parameters predates it: say so,
/// rather than show its 400.
fn older_daemon(client: &AdminClient, e: anyhow::Error) -> anyhow::Error {
    let refused = match e.downcast_ref::<AdminError>() {
        Some(AdminError::Api {
            status: 400,
            field: Some(field),
            ..
        }) if matches!(field.as_str(), "after" | "wait" | "job_id") => field.clone(),
        _ => return e,
    };
    anyhow::anyhow!(
        "the daemon at {} cannot be followed: it refused `{refused}` on GET /v1/history, so it \
         is older than this machinist; upgrade it, or run the command without \
         --follow/--watch ({e})",
        client.base_url()
    )
}

/// Runs a follow mode until it ends by itself or the user presses Ctrl-C,
/// which is a normal end: exit 0.
pub(super) async fn until_ctrl_c(
    run: impl Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::select! {
        result = run => result,
        _ = tokio::signal::ctrl_c() => Ok(ExitCode::SUCCESS),
    }
}

/// The line of an event in the history: `job 12     <time  kind  text>`.
fn history_line(event: &JobEvent) -> String {
    format!(
        "job {:<6} {}",
        event.job_id,
        escape(&super::jobs::event_line(event))
    )
}

/// `machinist history --follow`: the last `limit` events, oldest first,
/// then each new one as it happens (as `tail -f` does); `--json` prints one
/// JSON object per event and line. Until Ctrl-C.
pub(super) async fn history(
    client: &AdminClient,
    machine_id: Option<&str>,
    limit: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    until_ctrl_c(async {
        let page = client.history(machine_id, None, Some(limit)).await?;
        let mut follower = Follower::new(client, machine_id, None, page.next_after, !json);
        print_events(page.events.iter().rev(), json)?;
        if !json {
            eprintln!("following the history; Ctrl-C stops");
        }
        loop {
            let events = follower.next(WAIT_SECONDS).await?;
            print_events(events.iter(), json)?;
        }
    })
    .await
}

/// Prints events as history lines, or as one JSON object per line.
fn print_events<'a>(events: impl Iterator<Item = &'a JobEvent>, json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for event in events {
        if json {
            writeln!(out, "{}", serde_json::to_string(event)?)?;
        } else {
            writeln!(out, "{}", history_line(event))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The columns of `jobs list --watch`, with the width each is padded to:
/// fixed, so that the rows printed later line up with the first ones.
const WATCH_COLUMNS: [(&str, usize); 7] = [
    ("ID", 6),
    ("KIND", 12),
    ("MACHINE", 12),
    ("STATE", 10),
    ("ATTEMPT", 7),
    ("RUN AT/UPDATED", 20),
    ("LAST ERROR", 0),
];

/// One row of `jobs list --watch` (escaped).
fn watch_row(cells: [String; 7]) -> String {
    let mut out = String::new();
    for ((_, width), cell) in WATCH_COLUMNS.iter().zip(cells) {
        out.push_str(&format!("{:<width$}  ", escape(&cell)));
    }
    out.trim_end().to_string()
}

/// A job's row: the columns of `jobs list`, but for the dependencies.
fn job_row(job: &Job) -> String {
    let when = if matches!(job.state, JobState::Queued | JobState::Waiting) {
        job.run_at
    } else {
        job.updated_at
    };
    watch_row([
        job.id.to_string(),
        job.kind.to_string(),
        job.machine_id.clone().unwrap_or_else(|| "-".to_string()),
        job.state.to_string(),
        format!("{}/{}", job.attempt, job.max_attempts),
        time(when),
        job.last_error
            .as_deref()
            .map(|e| truncate(&one_line(e), 50))
            .unwrap_or_default(),
    ])
}

/// Whether `job` passes the filters of the listing.
fn matches(filter: &JobFilter, job: &Job) -> bool {
    filter.state.is_none_or(|s| s == job.state)
        && filter.kind.is_none_or(|k| k == job.kind)
        && filter
            .machine_id
            .as_deref()
            .is_none_or(|m| job.machine_id.as_deref() == Some(m))
}

/// `machinist jobs list --watch`: the listing, then one row per job that
/// changes (its state or attempt) or appears and matches the filters, as
/// `kubectl get -w` does; `--json` prints one job per line. Until Ctrl-C.
pub(super) async fn watch_jobs(
    client: &AdminClient,
    filter: &JobFilter,
    limit: Option<u32>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    until_ctrl_c(async {
        // Where the history stands before the listing: a change after it
        // is then either in the listing or read by the follower (or both,
        // and printed once: rows are printed for changes only).
        let after = client.history(None, None, Some(1)).await?.next_after;
        let page = client.list(filter, None, limit).await?;
        let mut seen: BTreeMap<JobId, (JobState, u32)> = BTreeMap::new();
        if !json {
            println!("{}", watch_row(WATCH_COLUMNS.map(|(h, _)| h.to_string())));
        }
        for job in page.jobs.iter().rev() {
            seen.insert(job.id, (job.state, job.attempt));
            print_job(job, json)?;
        }
        let mut follower = Follower::new(client, filter.machine_id.as_deref(), None, after, !json);
        loop {
            let events = follower.next(WAIT_SECONDS).await?;
            let mut ids: Vec<JobId> = events.iter().map(|e| e.job_id).collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                let answer = follower.call(|| client.show(id)).await;
                let job = match answer {
                    Ok((job, _)) => job,
                    // Pruned meanwhile: nothing to show.
                    Err(e)
                        if e.downcast_ref::<AdminError>()
                            .is_some_and(|e| e.status() == Some(404)) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let now = (job.state, job.attempt);
                if seen.insert(job.id, now) != Some(now) && matches(filter, &job) {
                    print_job(&job, json)?;
                }
            }
        }
    })
    .await
}

/// Prints a job's row, or the job as one JSON line.
fn print_job(job: &Job, json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(job)?)?;
    } else {
        writeln!(out, "{}", job_row(job))?;
    }
    out.flush()?;
    Ok(())
}

/// Whether `event` is the job's move to a final state.
pub(super) fn ends_the_job(event: &JobEvent) -> bool {
    event.event.to_state.is_some_and(JobState::is_final)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 400 naming a long-poll parameter is a daemon too old to follow;
    /// any other error is shown as it is.
    #[test]
    fn an_older_daemon_is_named_as_such() {
        let client = AdminClient::new("http://127.0.0.1:7420", None).unwrap();
        let refused = |field: &str| AdminError::Api {
            status: 400,
            code: "bad_request".into(),
            message: format!("unknown query parameter `{field}`"),
            field: Some(field.into()),
        };
        for field in ["after", "wait", "job_id"] {
            let said = older_daemon(&client, refused(field).into()).to_string();
            assert!(
                said.starts_with("the daemon at http://127.0.0.1:7420 cannot be followed")
                    && said.contains("older than this machinist"),
                "{said}"
            );
        }
        let other = older_daemon(&client, refused("machine_id").into()).to_string();
        assert_eq!(
            other,
            "unknown query parameter `machine_id` (field: machine_id)"
        );
    }

    #[test]
    fn watch_rows_line_up_whatever_the_cells() {
        let header = watch_row(WATCH_COLUMNS.map(|(h, _)| h.to_string()));
        let row = watch_row([
            "7".into(),
            "start".into(),
            "ps123".into(),
            "queued".into(),
            "0/3".into(),
            "2026-03-02T09:00:00Z".into(),
            String::new(),
        ]);
        assert_eq!(header.find("STATE"), row.find("queued"));
        assert_eq!(header.find("ATTEMPT"), row.find("0/3"));
        // A control character a job could carry is escaped, not printed.
        let odd = watch_row(std::array::from_fn(|_| "a\u{1b}[2J".to_string()));
        assert!(!odd.contains('\u{1b}'), "{odd}");
    }
}
