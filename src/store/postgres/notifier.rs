//! `NOTIFY`: telling the other daemons what this one committed, after the
//! commit and merged.
//!
//! **Not in the write's transaction.** PostgreSQL keeps notifications in
//! commit order by making every transaction that notifies hold one lock
//! from just before its commit until the commit is flushed. Writes that
//! each sent their own `NOTIFY` therefore committed one at a time, each
//! waiting for the others' fsyncs: with 16 submitters, `COMMIT` took
//! 5.6 ms at the median and the queue ran about 1,350 jobs/s, the server's
//! CPU mostly idle between flushes. So a write's transaction writes only
//! data, and commits together with the others (PostgreSQL's group commit);
//! its [`Note`] goes to this task, which sends it after the commit.
//!
//! **Merged.** Notes that arrive while one is being sent, or within
//! [`GATHER`] of the last send, are merged into the next (flags or-ed,
//! cancelled jobs appended), so a busy daemon sends a `NOTIFY` every few
//! milliseconds, not one per write. The `NOTIFY` runs
//! in a statement of its own with `synchronous_commit` off for that
//! statement only: a note is a hint about data already durable, not data,
//! so its commit need not wait for a flush, and it holds the lock for
//! microseconds.
//!
//! **Lost notes.** A note sent after its commit is lost if this daemon dies
//! in between, or if the send fails; the other daemons then learn of the
//! change at their standing claims' next look (at most a second later,
//! `ops/claims.rs`) or at their next heartbeat. A cancel waits for its note
//! to be sent before it is answered, so the owner of a cancelled running
//! job hears of it as promptly as before.

use std::time::Duration;

use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::listener::{CHANNEL, MAX_REVOKED, Note};

/// How long the task waits after a failed send before the next.
const AFTER_FAILURE: Duration = Duration::from_millis(200);

/// A note to send, and who waits for it to be sent.
type Queued = (Note, Option<oneshot::Sender<()>>);

/// The handle writes give their notes to; the task stops when the last
/// handle goes.
#[derive(Clone)]
pub(super) struct Notifier {
    /// To the task.
    queue: mpsc::UnboundedSender<Queued>,
}

/// The running task; stops it when dropped.
pub(super) struct Notifying(JoinHandle<()>);

impl Drop for Notifying {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Notifier {
    /// Starts the task that sends notes on `pool`.
    pub(super) fn start(pool: PgPool) -> (Notifier, Notifying) {
        let (queue, rx) = mpsc::unbounded_channel();
        (
            Notifier { queue },
            Notifying(tokio::spawn(send_notes(pool, rx))),
        )
    }

    /// Queues `note`; it is sent soon, merged with others.
    pub(super) fn send(&self, note: Note) {
        // The task is gone only while the store is being dropped.
        let _ = self.queue.send((note, None));
    }

    /// Queues `note` and waits until it was sent (or could not be).
    pub(super) async fn send_and_wait(&self, note: Note) {
        let (done, sent) = oneshot::channel();
        if self.queue.send((note, Some(done))).is_ok() {
            let _ = sent.await;
        }
    }
}

/// The least time between two sends: the notes of the commits made
/// meanwhile are merged into the next. A busy daemon commits every few
/// hundred microseconds, and a `NOTIFY` costs the server a statement, a
/// commit and a wake-up of every listening session; a note a millisecond
/// or two later costs the other daemons nothing they would notice.
const GATHER: Duration = Duration::from_millis(2);

/// The task: takes every note waiting, merges them, sends the result.
async fn send_notes(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Queued>) {
    let mut waiting = Vec::new();
    let mut last_send: Option<tokio::time::Instant> = None;
    while let Some(first) = rx.recv().await {
        if let Some(last) = last_send {
            tokio::time::sleep_until(last + GATHER).await;
        }
        last_send = Some(tokio::time::Instant::now());
        waiting.push(first);
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let (notes, done): (Vec<Note>, Vec<_>) = waiting.drain(..).unzip();
        for payload in merge(notes) {
            let sent = sqlx::query(
                "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)",
            )
            .bind(CHANNEL)
            .bind(payload)
            .execute(&pool)
            .await;
            if let Err(e) = sent {
                tracing::warn!(
                    error = %e,
                    "could not tell the other daemons of a commit; they will see it at their next look"
                );
                tokio::time::sleep(AFTER_FAILURE).await;
            }
        }
        for done in done.into_iter().flatten() {
            let _ = done.send(());
        }
    }
}

/// The payloads that tell what `notes` tell: one, or more when the
/// cancelled jobs do not fit in one payload.
fn merge(notes: Vec<Note>) -> Vec<String> {
    let mut merged = Note::default();
    for note in notes {
        merged.from = note.from;
        merged.wake |= note.wake;
        merged.schedules |= note.schedules;
        merged.revoked.extend(note.revoked);
    }
    if merged.revoked.len() <= MAX_REVOKED {
        return vec![merged.encode()];
    }
    merged
        .revoked
        .chunks(MAX_REVOKED)
        .map(|chunk| {
            Note {
                from: merged.from,
                wake: merged.wake,
                schedules: merged.schedules,
                revoked: chunk.to_vec(),
            }
            .encode()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_merge_into_one_payload_and_many_cancels_into_several() {
        let one = merge(vec![
            Note {
                from: 3,
                wake: true,
                ..Note::default()
            },
            Note {
                from: 3,
                schedules: true,
                revoked: vec![("o".into(), 1)],
                ..Note::default()
            },
        ]);
        assert_eq!(one, vec![r#"{"f":3,"w":true,"s":true,"r":[["o",1]]}"#]);

        let many = merge(
            (0..150)
                .map(|i| Note {
                    from: 3,
                    revoked: vec![("o".into(), i)],
                    ..Note::default()
                })
                .collect(),
        );
        assert_eq!(many.len(), 3);
        let ids: Vec<i64> = many
            .iter()
            .flat_map(|p| serde_json::from_str::<Note>(p).unwrap().revoked)
            .map(|(_, id)| id)
            .collect();
        assert_eq!(ids, (0..150).collect::<Vec<_>>());
        assert!(many.iter().all(|p| p.len() < 8000));
    }
}
