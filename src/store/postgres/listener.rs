//! `LISTEN`: what the other daemons' commits tell this one.
//!
//! Every write that changed something sends one [`Note`] on [`CHANNEL`]
//! after its commit (`notifier.rs`, which merges the notes of writes that
//! commit together); PostgreSQL delivers it to every listening connection,
//! this daemon's own included. The listener turns
//! each into the local signals: the commits watch, the wake-up of waiters
//! on work, the scheduler's look-again, and the standing claims' next
//! try. While its connection is down it reconnects every second and the
//! standing claims poll (`claims.rs`); on reconnecting it tells every
//! signal once, since notes sent meanwhile are lost.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use tokio::task::JoinHandle;

use super::ops::Claims;
use crate::job::JobId;
use crate::store::signals::Signals;

/// The channel every daemon on the database listens on.
pub(super) const CHANNEL: &str = "machinist";

/// A payload must stay under PostgreSQL's 8000 bytes; a note with more
/// revoked jobs than this says only "wake".
pub(super) const MAX_REVOKED: usize = 64;

/// What a commit tells the other daemons.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub(super) struct Note {
    /// The store that committed (a random id per open store): a store
    /// skips its own notes, whose signals it gave at its commit.
    #[serde(rename = "f", default)]
    pub from: u64,
    /// Some job may have become claimable.
    #[serde(rename = "w", default)]
    pub wake: bool,
    /// Schedules, windows or overrides changed.
    #[serde(rename = "s", default)]
    pub schedules: bool,
    /// Running jobs cancelled, with their lease owners.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<(String, JobId)>,
}

impl Note {
    pub(super) fn encode(mut self) -> String {
        if self.revoked.len() > MAX_REVOKED {
            // The owners' workers still find the job cancelled when they
            // write; only the check before a claimed-ahead step is lost.
            self.revoked.clear();
        }
        serde_json::to_string(&self).expect("a note serializes")
    }

    fn decode(payload: &str) -> Note {
        // A note this version cannot read (a newer daemon's) still says
        // that something changed: wake everything.
        serde_json::from_str(payload).unwrap_or(Note {
            from: 0,
            wake: true,
            schedules: true,
            revoked: Vec::new(),
        })
    }
}

/// The running listener; stops it when dropped.
pub(super) struct Listening(JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening on a connection of its own (outside the pool's count),
/// for the store whose notes say `me`.
pub(super) fn start(
    pool: PgPool,
    signals: Arc<Signals>,
    claims: Arc<Claims>,
    me: u64,
) -> Listening {
    Listening(tokio::spawn(listen(pool, signals, claims, me)))
}

async fn listen(pool: PgPool, signals: Arc<Signals>, claims: Arc<Claims>, me: u64) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                claims.set_listening(false);
                tracing::warn!(error = %e, "cannot listen for other daemons' commits; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            claims.set_listening(false);
            tracing::warn!(error = %e, "cannot listen for other daemons' commits; retrying in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if !claims.set_listening(true) {
            // Back after a gap: whatever was sent meanwhile is lost.
            tell(&signals, &claims, Note::decode(""));
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    let note = Note::decode(n.payload());
                    if note.from != me || me == 0 {
                        tell(&signals, &claims, note);
                    }
                }
                Ok(None) => {
                    // The connection dropped and will be remade by the
                    // next call; notes in between are lost.
                    tell(&signals, &claims, Note::decode(""));
                }
                Err(e) => {
                    claims.set_listening(false);
                    tracing::warn!(error = %e, "lost the connection that listens for other daemons' commits; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

/// One note's signals.
fn tell(signals: &Signals, claims: &Claims, note: Note) {
    for (owner, id) in &note.revoked {
        claims.revoke(owner, *id);
    }
    if note.wake {
        claims.recheck();
        signals.wake.notify_one();
    }
    if note.schedules {
        signals.schedules_changed.notify_one();
    }
    signals.committed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_reads_back_and_an_unknown_one_wakes_everything() {
        let note = Note {
            from: 9,
            wake: true,
            schedules: false,
            revoked: vec![("host/1".into(), 7)],
        };
        let text = Note {
            revoked: note.revoked.clone(),
            ..note
        }
        .encode();
        assert_eq!(text, r#"{"f":9,"w":true,"s":false,"r":[["host/1",7]]}"#);
        let back = Note::decode(&text);
        assert!(back.wake && !back.schedules);
        assert_eq!(back.revoked, vec![("host/1".to_string(), 7)]);
        let unknown = Note::decode("v2:something");
        assert!(unknown.wake && unknown.schedules);
    }

    #[test]
    fn too_many_revoked_jobs_leave_only_the_wake_up() {
        let note = Note {
            from: 1,
            wake: true,
            schedules: false,
            revoked: (0..100).map(|i| ("o".to_string(), i)).collect(),
        };
        let text = note.encode();
        assert!(text.len() < 8000);
        assert!(Note::decode(&text).revoked.is_empty());
    }
}
