//! The SQLite store on its own: submission, claiming in machine order,
//! transitions under lease, cancel, retry, lease rescue, pruning, file safety.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::job::{JobDefaults, JobRequest, JobState, Lane, NewEvent, NewJob};
use machinist::store::{
    CancelResult, JobFilter, RetryResult, Store, StoreError, StoreOptions, Transition,
};
use serde_json::json;

pub(crate) fn t0() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

pub(crate) fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A store on a fresh test database (SQLite, or PostgreSQL in the
/// conformance run: `harness::database`).
pub(crate) async fn open() -> (Store, crate::harness::Fixture) {
    crate::harness::open_store().await
}

/// A SQLite store in a temp directory, for the tests of the SQLite
/// driver's own file handling (lock, permissions, a moved file).
async fn open_sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::new(dir.path().join("m.db")))
        .await
        .unwrap();
    (store, dir)
}

pub(crate) fn job(kind: &str, machine: Option<&str>) -> NewJob {
    JobRequest {
        kind: kind.into(),
        machine_id: machine.map(str::to_string),
        ..JobRequest::default()
    }
    .validate(&JobDefaults::default(), t0())
    .unwrap()
}

pub(crate) fn finish(id: i64, owner: &Arc<str>, to: JobState) -> Transition {
    Transition {
        job_id: id,
        owner: owner.clone(),
        to,
        run_at: None,
        checkpoint: None,
        machine_id: None,
        result: Some(json!({"ok": true})),
        error: None,
        events: vec![NewEvent::state(Some(JobState::Running), to, "done")],
        seen: vec![],
        seen_complete: false,
        gone: vec![],
        utilization: None,
    }
}

/// Writes that arrive together each get their own answer and their own
/// rows: PostgreSQL writes plain submits and workers' reports that arrive
/// while a batch is being written in the next batch (`postgres/batch.rs`),
/// with a statement per kind of row, and a stale report among fresh ones
/// must still change nothing.
#[tokio::test]
async fn submits_and_reports_made_at_once_each_get_their_own_answer() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let stranger: Arc<str> = "w2".into();
    let submits: Vec<_> = (0..40)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .submit(job("show", Some(&format!("ps{n}"))), t0())
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for (n, submit) in submits.into_iter().enumerate() {
        let submitted = submit.await.unwrap().unwrap();
        assert!(submitted.created);
        assert_eq!(submitted.job.machine_id, Some(format!("ps{n}")));
        assert_eq!(submitted.job.state, JobState::Queued);
        ids.push(submitted.job.id);
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 40);

    let claimed = store.claim(&me, 40, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(claimed.len(), 40);
    // Even jobs are reported by their worker, odd ones by a worker that
    // does not hold them: stale, they change nothing.
    let reports: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let store = store.clone();
            let by = if k % 2 == 0 {
                me.clone()
            } else {
                stranger.clone()
            };
            let id = *id;
            tokio::spawn(async move {
                store
                    .transition(finish(id, &by, JobState::Succeeded), t0() + secs(1))
                    .await
            })
        })
        .collect();
    for (k, report) in reports.into_iter().enumerate() {
        assert_eq!(report.await.unwrap().unwrap(), k % 2 == 0, "report {k}");
    }
    for (k, id) in ids.iter().enumerate() {
        let stored = store.job(*id).await.unwrap().unwrap();
        let events = store.events(*id).await.unwrap();
        let last = events.last().unwrap();
        if k % 2 == 0 {
            assert_eq!(stored.state, JobState::Succeeded);
            assert_eq!(stored.result, Some(json!({"ok": true})));
            assert!(stored.lease_owner.is_none());
            assert_eq!(last.event.message, "done");
        } else {
            assert_eq!(stored.state, JobState::Running);
            assert_eq!(stored.lease_owner.as_deref(), Some("w1"));
            assert_ne!(last.event.message, "done");
        }
        assert_eq!(events[0].event.message, "submitted");
    }
}

#[tokio::test]
async fn jobs_of_one_machine_run_one_at_a_time_in_order() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let a1 = store
        .submit(job("start", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    let a2 = store
        .submit(job("stop", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    let b1 = store
        .submit(job("start", Some("psB")), t0())
        .await
        .unwrap()
        .job;
    let free = store.submit(job("refresh", None), t0()).await.unwrap().job;

    let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|j| j.id).collect();
    assert_eq!(ids, [a1.id, b1.id, free.id], "a2 waits behind a1");
    assert!(
        claimed
            .iter()
            .all(|j| j.state == JobState::Running && j.attempt == 1)
    );
    assert!(
        store
            .claim(&me, 10, t0(), t0() + secs(30))
            .await
            .unwrap()
            .is_empty()
    );

    // a1 goes to waiting: still first in psA's line, so a2 stays blocked.
    let mut wait = finish(a1.id, &me, JobState::Waiting);
    wait.run_at = Some(t0() + secs(5));
    assert!(store.transition(wait, t0()).await.unwrap());
    assert!(
        store
            .claim(&me, 10, t0() + secs(1), t0() + secs(30))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_due_after(t0()).await.unwrap(),
        Some(t0() + secs(5))
    );
    // The poll is due: a1 again, not a2; a poll is not a new attempt.
    let polled = store
        .claim(&me, 10, t0() + secs(5), t0() + secs(35))
        .await
        .unwrap();
    assert_eq!(
        polled.iter().map(|j| (j.id, j.attempt)).collect::<Vec<_>>(),
        [(a1.id, 1)]
    );
    assert!(
        store
            .transition(finish(a1.id, &me, JobState::Succeeded), t0() + secs(6))
            .await
            .unwrap()
    );
    let next = store
        .claim(&me, 10, t0() + secs(6), t0() + secs(36))
        .await
        .unwrap();
    assert_eq!(next.iter().map(|j| j.id).collect::<Vec<_>>(), [a2.id]);

    let done = store.job(a1.id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert_eq!(done.finished_at, Some(t0() + secs(6)));
    assert_eq!(done.lease_owner, None);
    let events = store.events(a1.id).await.unwrap();
    let states: Vec<_> = events.iter().filter_map(|e| e.event.to_state).collect();
    assert_eq!(
        states,
        [
            JobState::Queued,
            JobState::Running,
            JobState::Waiting,
            JobState::Succeeded
        ]
    );
}

#[tokio::test]
async fn priority_and_run_at_decide_among_machines() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let low = store
        .submit(job("show", Some("ps1")), t0())
        .await
        .unwrap()
        .job;
    let mut urgent = job("show", Some("ps2"));
    urgent.priority = 10;
    let urgent = store.submit(urgent, t0()).await.unwrap().job;
    let mut later = job("show", Some("ps3"));
    later.run_at = t0() + secs(60);
    let later = store.submit(later, t0()).await.unwrap().job;
    let got = store.claim(&me, 1, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(got[0].id, urgent.id);
    let got = store.claim(&me, 5, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), [low.id]);
    let got = store
        .claim(&me, 5, t0() + secs(60), t0() + secs(90))
        .await
        .unwrap();
    assert_eq!(got[0].id, later.id);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_job() {
    let (store, _dir) = open().await;
    let mut first = job("start", Some("ps1"));
    first.idempotency_key = Some("nightly-2026-03-02".into());
    let a = store.submit(first.clone(), t0()).await.unwrap();
    let b = store.submit(first, t0() + secs(1)).await.unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.job.id, b.job.id);
    let all = store.jobs(&JobFilter::default(), None, 100).await.unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn a_stale_worker_cannot_overwrite_a_cancelled_job() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let j = store
        .submit(job("start", Some("ps1")), t0())
        .await
        .unwrap()
        .job;
    store.claim(&me, 1, t0(), t0() + secs(30)).await.unwrap();
    match store.cancel(j.id, t0()).await.unwrap() {
        CancelResult::Cancelled(job) => assert_eq!(job.state, JobState::Cancelled),
        other => panic!("{other:?}"),
    }
    assert!(
        !store
            .transition(finish(j.id, &me, JobState::Succeeded), t0())
            .await
            .unwrap()
    );
    assert_eq!(
        store.job(j.id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    assert!(matches!(
        store.cancel(j.id, t0()).await.unwrap(),
        CancelResult::AlreadyFinished(_)
    ));
    assert!(matches!(
        store.cancel(999, t0()).await.unwrap(),
        CancelResult::NotFound
    ));
    // Another worker's report is refused too.
    let j2 = store
        .submit(job("stop", Some("ps1")), t0())
        .await
        .unwrap()
        .job;
    store.claim(&me, 1, t0(), t0() + secs(30)).await.unwrap();
    let other: Arc<str> = "w2".into();
    assert!(
        !store
            .transition(finish(j2.id, &other, JobState::Succeeded), t0())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn retry_requeues_only_failed_jobs() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let j = store
        .submit(job("show", Some("ps1")), t0())
        .await
        .unwrap()
        .job;
    assert!(matches!(
        store.retry(j.id, t0()).await.unwrap(),
        RetryResult::NotFailed(_)
    ));
    store.claim(&me, 1, t0(), t0() + secs(30)).await.unwrap();
    let mut fail = finish(j.id, &me, JobState::Failed);
    fail.error = Some("Machine not found".into());
    store.transition(fail, t0()).await.unwrap();
    match store.retry(j.id, t0() + secs(1)).await.unwrap() {
        RetryResult::Queued(job) => {
            assert_eq!((job.state, job.attempt), (JobState::Queued, 0));
            assert_eq!(job.finished_at, None);
            assert_eq!(job.last_error.as_deref(), Some("Machine not found"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn expired_leases_go_back_to_the_queue_and_last_attempts_fail() {
    let (store, _dir) = open().await;
    let dead: Arc<str> = "dead-worker".into();
    let a = store
        .submit(job("start", Some("ps1")), t0())
        .await
        .unwrap()
        .job;
    let mut once = job("stop", Some("ps2"));
    once.max_attempts = 1;
    let b = store.submit(once, t0()).await.unwrap().job;
    store.claim(&dead, 10, t0(), t0() + secs(30)).await.unwrap();
    assert!(
        store
            .rescue(t0() + secs(29), None)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .renew(&dead, vec![a.id, b.id], t0() + secs(60))
        .await
        .unwrap();
    assert!(
        store
            .rescue(t0() + secs(59), None)
            .await
            .unwrap()
            .is_empty()
    );
    let rescued = store.rescue(t0() + secs(61), None).await.unwrap();
    assert_eq!(rescued, [a.id, b.id]);
    let a = store.job(a.id).await.unwrap().unwrap();
    assert_eq!((a.state, a.lease_owner), (JobState::Queued, None));
    let b = store.job(b.id).await.unwrap().unwrap();
    assert_eq!(b.state, JobState::Failed);
    assert!(b.last_error.unwrap().contains("last of 1 attempts"));

    // At start-up, jobs of any other owner are taken back at once.
    let me: Arc<str> = "new-daemon".into();
    store
        .claim(&dead, 10, t0() + secs(61), t0() + secs(300))
        .await
        .unwrap();
    let rescued = store
        .rescue(t0() + secs(62), Some((&me, Lane::Machines)))
        .await
        .unwrap();
    assert_eq!(rescued, [a.id]);
}

#[tokio::test]
async fn release_returns_jobs_without_spending_an_attempt() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let j = store
        .submit(job("start", Some("ps1")), t0())
        .await
        .unwrap()
        .job;
    store.claim(&me, 1, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(store.release(&me, vec![j.id], t0()).await.unwrap(), 1);
    let j = store.job(j.id).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempt), (JobState::Queued, 0));
}

#[tokio::test]
async fn listing_pages_newest_first_and_prune_removes_old_finished_jobs() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let mut ids = vec![];
    for i in 0..5 {
        ids.push(
            store
                .submit(job("show", Some(&format!("ps{i}"))), t0())
                .await
                .unwrap()
                .job
                .id,
        );
    }
    let page1 = store.jobs(&JobFilter::default(), None, 2).await.unwrap();
    assert_eq!(
        page1.iter().map(|j| j.id).collect::<Vec<_>>(),
        [ids[4], ids[3]]
    );
    let page2 = store
        .jobs(&JobFilter::default(), Some(ids[3]), 2)
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|j| j.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    let filtered = store
        .jobs(
            &JobFilter {
                machine_id: Some("ps2".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);

    for j in store.claim(&me, 2, t0(), t0() + secs(30)).await.unwrap() {
        store
            .transition(finish(j.id, &me, JobState::Succeeded), t0())
            .await
            .unwrap();
    }
    assert_eq!(store.prune(t0() - secs(1)).await.unwrap(), 0);
    assert_eq!(store.prune(t0() + secs(1)).await.unwrap(), 2);
    assert_eq!(
        store
            .jobs(&JobFilter::default(), None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(store.events(ids[0]).await.unwrap().is_empty());
    // Ids are never reused after pruning.
    let fresh = store
        .submit(job("show", Some("ps9")), t0())
        .await
        .unwrap()
        .job;
    assert_eq!(fresh.id, ids[4] + 1);
}

#[tokio::test]
async fn the_database_is_private_and_has_one_daemon() {
    let (store, dir) = open_sqlite().await;
    let path = dir.path().join("m.db");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let err = Store::open(&StoreOptions::new(&path)).await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("another machinist daemon"));
    // The lock goes with the last handle, at once: a store opened next finds
    // the file free.
    drop(store);
    Store::open(&StoreOptions::new(&path)).await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_second_store_is_refused_by_any_path_to_the_same_file() {
    let (store, dir) = open_sqlite().await;
    let path = dir.path().join("m.db");
    let symlink = dir.path().join("link.db");
    std::os::unix::fs::symlink(&path, &symlink).unwrap();
    let hard_link = dir.path().join("hard.db");
    std::fs::hard_link(&path, &hard_link).unwrap();
    // The lock is on the file itself: there is no lock file beside it to
    // delete (the side file of older versions is gone and means nothing).
    let _ = std::fs::remove_file(dir.path().join("m.db.lock"));
    for other in [&symlink, &hard_link, &path] {
        let err = Store::open(&StoreOptions::new(other)).await.unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{other:?}: {err}");
        let message = err.to_string();
        assert!(message.contains("another machinist daemon"), "{message}");
        assert!(message.contains(&other.display().to_string()), "{message}");
        // It says who holds it, where the system tells (Linux).
        if std::path::Path::new("/proc/locks").exists() {
            assert!(
                message.contains(&format!("(pid {})", std::process::id())),
                "{message}"
            );
        }
    }
    assert!(!dir.path().join("m.db.lock").exists());
    // `machinist migrate` is refused the same way while a daemon has it.
    let err = machinist::store::migrate(&StoreOptions::new(&symlink))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    // SQLite's own locking is untouched: the store still writes and reads.
    let id = store
        .submit(job("show", Some("psA")), t0())
        .await
        .unwrap()
        .job
        .id;
    assert!(store.job(id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_database_removed_or_replaced_while_open_refuses_every_write() {
    let lost = |err: StoreError, what: &str| {
        assert!(matches!(err, StoreError::Lost { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(what), "{message}");
        assert!(message.contains("restart the daemon"), "{message}");
    };
    let wal = |path: &std::path::Path| {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::path::PathBuf::from(wal)
    };

    // Removed: the write after it is refused, and so is every later one.
    let (store, dir) = open_sqlite().await;
    let path = dir.path().join("m.db");
    let kept = store
        .submit(job("show", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    for file in [path.clone(), wal(&path), dir.path().join("m.db-shm")] {
        std::fs::remove_file(file).unwrap();
    }
    let err = store
        .submit(job("show", Some("psB")), t0())
        .await
        .unwrap_err();
    lost(err, &format!("{} was removed", path.display()));
    lost(
        store.cancel(kept.id, t0()).await.unwrap_err(),
        "was removed",
    );
    // A restart opens the file now at the path: nothing refused is in it
    // (nor, the file being new, what was written before the removal).
    let restarted = Store::open(&StoreOptions::new(&path)).await.unwrap();
    assert!(
        restarted
            .jobs(&JobFilter::default(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Replaced by another file (a restore with mv).
    let (store, dir) = open_sqlite().await;
    let path = dir.path().join("m.db");
    store.submit(job("show", Some("psA")), t0()).await.unwrap();
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"").unwrap();
    std::fs::rename(&other, &path).unwrap();
    let err = store
        .submit(job("show", Some("psB")), t0())
        .await
        .unwrap_err();
    lost(err, "was replaced by another file");

    // The WAL alone removed: what it holds would be missing after a restart.
    let (store, dir) = open_sqlite().await;
    let path = dir.path().join("m.db");
    store.submit(job("show", Some("psA")), t0()).await.unwrap();
    std::fs::remove_file(wal(&path)).unwrap();
    let err = store
        .submit(job("show", Some("psB")), t0())
        .await
        .unwrap_err();
    lost(err, &format!("{} was removed", wal(&path).display()));
}

#[tokio::test]
async fn a_write_that_fails_tells_its_caller_why() {
    use machinist::machine::{Machine, MachineState};
    // A full disk is a SQLite file's (`cap_pages_for_test`).
    let (store, _dir) = open_sqlite().await;
    // The database may not grow: as on a full disk, a write that needs new
    // pages fails with SQLite's SQLITE_FULL, here in the middle of the
    // batch, before the command is answered.
    store.cap_pages_for_test(Some(1)).await.unwrap();
    let name = "m".repeat(200);
    let many: Vec<Machine> = (0..200)
        .map(|n| Machine::new(format!("ps{n}"), &name, MachineState::Ready))
        .collect();
    let (seen, submitted) = tokio::join!(
        store.see_machines(many.clone(), false, t0()),
        store.submit(job("show", Some("psA")), t0()),
    );
    let err = seen.unwrap_err();
    assert!(matches!(err, StoreError::Write(_)), "{err}");
    assert!(
        err.to_string().contains("database or disk is full"),
        "{err}"
    );
    // Written in the same batch or in one of its own: either way, never
    // "the writer has stopped".
    if let Err(err) = submitted {
        assert!(
            err.to_string().contains("database or disk is full"),
            "{err}"
        );
    }
    store.cap_pages_for_test(None).await.unwrap();
    store.see_machines(many, false, t0()).await.unwrap();
    assert_eq!(store.machines().await.unwrap().len(), 200);
}

#[tokio::test]
async fn seen_machines_are_kept_and_missing_ones_marked_gone() {
    use machinist::machine::{Machine, MachineState};
    let (store, _dir) = open().await;
    let a = Machine::new("psA", "a", MachineState::Ready);
    let b = Machine::new("psB", "b", MachineState::Off);
    store
        .see_machines(vec![a.clone(), b], true, t0())
        .await
        .unwrap();
    store
        .see_machines(vec![a], true, t0() + secs(5))
        .await
        .unwrap();
    let known = store.machines().await.unwrap();
    assert_eq!(known.len(), 2);
    assert_eq!(known[0].gone_at, None);
    assert_eq!(known[1].machine.id, "psB");
    assert_eq!(known[1].gone_at, Some(t0() + secs(5)));
}

pub(crate) fn standing(
    owner: &Arc<str>,
    slots: usize,
    clock: &machinist::clock::ManualClock,
) -> (
    machinist::store::StandingClaim,
    tokio::sync::watch::Receiver<Option<DateTime<Utc>>>,
) {
    let (next_due, rx) = tokio::sync::watch::channel(None);
    let claim = machinist::store::StandingClaim {
        owner: owner.clone(),
        lane: Lane::Machines,
        slots: Arc::new(tokio::sync::Semaphore::new(slots)),
        clock: Arc::new(clock.clone()),
        lease: Duration::from_secs(30),
        next_due: Arc::new(next_due),
        revoked: Arc::default(),
    };
    (claim, rx)
}

#[tokio::test]
async fn a_standing_claim_takes_a_job_in_the_commit_that_stores_it() {
    let (store, _dir) = open().await;
    let clock = machinist::clock::ManualClock::new(t0());
    let me: Arc<str> = "w1".into();
    let (claim, _due) = standing(&me, 4, &clock);
    let mut claimed = store.stand(claim).await.unwrap();
    // Nothing is due: the claim takes nothing through a poke and a write.
    store.poke();
    store.renew(&me, vec![], t0()).await.unwrap();
    assert!(claimed.try_recv().is_err());

    let submitted = store.submit(job("show", Some("psA")), t0()).await.unwrap();
    // The submit's answer means committed, and the same commit claimed it
    // (on PostgreSQL, unless the claim's own task was trying at that
    // moment, after the poke above or in its one-second look: then that
    // task takes it right after; see `postgres/ops/claims.rs`).
    if !crate::harness::on_postgres() {
        let stored = store.job(submitted.job.id).await.unwrap().unwrap();
        assert_eq!(stored.state, JobState::Running);
    }
    let jobs = claimed.recv().await.unwrap().unwrap();
    let stored = store.job(submitted.job.id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Running);
    assert_eq!(stored.lease_owner.as_deref(), Some("w1"));
    assert_eq!(
        jobs.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![submitted.job.id]
    );

    // The claim stays: the next job is taken too, and after `unpark` none.
    let second = store.submit(job("show", Some("psB")), t0()).await.unwrap();
    let jobs = claimed.recv().await.unwrap().unwrap();
    assert_eq!(jobs[0].job.id, second.job.id);
    store.unpark(&me).await.unwrap();
    let third = store.submit(job("show", Some("psC")), t0()).await.unwrap();
    assert!(claimed.recv().await.is_none());
    let stored = store.job(third.job.id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Queued);
}

#[tokio::test]
async fn a_standing_claim_learns_the_next_due_time_and_a_poke_takes_the_job_then() {
    let (store, _dir) = open().await;
    let clock = machinist::clock::ManualClock::new(t0());
    let me: Arc<str> = "w1".into();
    let mut later = job("show", Some("psA"));
    later.run_at = t0() + secs(60);
    let id = store.submit(later, t0()).await.unwrap().job.id;

    let (claim, mut due) = standing(&me, 4, &clock);
    let mut claimed = store.stand(claim).await.unwrap();
    due.changed().await.unwrap();
    assert_eq!(*due.borrow(), Some(t0() + secs(60)));
    assert!(claimed.try_recv().is_err());

    clock.advance(secs(60));
    store.poke();
    let jobs = claimed.recv().await.unwrap().unwrap();
    assert_eq!(jobs.iter().map(|c| c.job.id).collect::<Vec<_>>(), vec![id]);
}

/// On PostgreSQL a claim passes over a due job another transaction holds
/// locked (`SKIP LOCKED`), and that transaction may commit without waking
/// anyone (here: a read `FOR SHARE`, as a submit's dependency check does).
/// The claim must then say to look again soon, not "nothing is due"; it
/// said nothing was due, and the job waited for an unrelated wake-up.
#[tokio::test]
async fn a_claim_that_passes_over_a_locked_due_job_looks_again_soon() {
    use sqlx::Connection;
    if !crate::harness::on_postgres() {
        eprintln!("tests SKIP LOCKED: PostgreSQL only (SQLite has one writer)");
        return;
    }
    let (store, fixture) = open().await;
    let clock = machinist::clock::ManualClock::new(t0());
    let me: Arc<str> = "w1".into();
    let (claim, mut due) = standing(&me, 1, &clock);
    let slots = claim.slots.clone();
    // No free slot while the job is submitted: nothing claims it yet.
    let held = slots.clone().try_acquire_owned().unwrap();
    let mut claimed = store.stand(claim).await.unwrap();
    let id = store
        .submit(job("show", Some("psA")), t0())
        .await
        .unwrap()
        .job
        .id;

    let url = fixture.options().url.unwrap();
    let mut other = sqlx::postgres::PgConnection::connect(url.expose_for_test())
        .await
        .unwrap();
    let mut lock = other.begin().await.unwrap();
    sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR SHARE")
        .bind(id)
        .execute(&mut *lock)
        .await
        .unwrap();

    // A slot comes free and the claim tries: the job is due but locked.
    due.borrow_and_update();
    drop(held);
    store.poke();
    due.changed().await.unwrap();
    let again = due.borrow_and_update().expect("a time to look again");
    assert!(
        again <= t0() + secs(1),
        "look again at {again}, long after the locked job fell due"
    );
    assert!(claimed.try_recv().is_err());

    // The lock goes without a wake-up; the look at that time takes it.
    lock.commit().await.unwrap();
    clock.set(again);
    store.poke();
    let jobs = claimed.recv().await.unwrap().unwrap();
    assert_eq!(jobs.iter().map(|c| c.job.id).collect::<Vec<_>>(), vec![id]);
}

#[tokio::test]
async fn a_standing_claim_takes_no_more_jobs_than_free_slots() {
    let (store, _dir) = open().await;
    let clock = machinist::clock::ManualClock::new(t0());
    let me: Arc<str> = "w1".into();
    for n in 0..5 {
        store
            .submit(job("show", Some(&format!("ps{n}"))), t0())
            .await
            .unwrap();
    }
    let (claim, _due) = standing(&me, 2, &clock);
    let slots = claim.slots.clone();
    let mut claimed = store.stand(claim).await.unwrap();
    let first = claimed.recv().await.unwrap().unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(slots.available_permits(), 0);
    // A finished step gives its slot back; the next write fills it.
    drop(first);
    store.poke();
    let next = claimed.recv().await.unwrap().unwrap();
    assert_eq!(next.len(), 2);
}

#[tokio::test]
async fn cancelling_a_claimed_job_tells_the_claim_that_holds_it() {
    let (store, _dir) = open().await;
    let clock = machinist::clock::ManualClock::new(t0());
    let me: Arc<str> = "w1".into();
    let (claim, _due) = standing(&me, 2, &clock);
    let revoked = claim.revoked.clone();
    let mut claimed = store.stand(claim).await.unwrap();
    let held = store.submit(job("show", Some("psA")), t0()).await.unwrap();
    let queued = store.submit(job("show", Some("psA")), t0()).await.unwrap();
    assert_eq!(
        claimed.recv().await.unwrap().unwrap()[0].job.id,
        held.job.id
    );

    // A queued job is nobody's: cancelling it tells no claim.
    store.cancel(queued.job.id, t0()).await.unwrap();
    assert!(revoked.lock().unwrap().is_empty());
    // The claimed one is this claim's: once the cancel is committed, the
    // claim knows, before the job's step would start.
    store.cancel(held.job.id, t0()).await.unwrap();
    assert_eq!(
        revoked.lock().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![held.job.id]
    );
}

#[tokio::test]
async fn reports_written_together_apply_only_where_the_lease_is_still_held() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let other: Arc<str> = "w2".into();
    for n in 0..3 {
        store
            .submit(job("show", Some(&format!("ps{n}"))), t0())
            .await
            .unwrap();
    }
    let claimed = store.claim(&me, 3, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    // Sent at once so that one batch writes them; the middle one comes from
    // a worker that does not hold the job.
    let (a, b, c) = tokio::join!(
        store.transition(finish(claimed[0].id, &me, JobState::Succeeded), t0()),
        store.transition(finish(claimed[1].id, &other, JobState::Succeeded), t0()),
        store.transition(finish(claimed[2].id, &me, JobState::Failed), t0()),
    );
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (true, false, true));
    let state = |id| {
        let store = store.clone();
        async move { store.job(id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(claimed[0].id).await, JobState::Succeeded);
    assert_eq!(state(claimed[1].id).await, JobState::Running);
    assert_eq!(state(claimed[2].id).await, JobState::Failed);
}

// ---------------------------------------------------------------------------
// Writers at once. On PostgreSQL each write is a transaction of its own on a
// pooled connection, so these run truly concurrently (several daemons share
// the database the same way); on SQLite the writer serializes them and they
// hold trivially. They guard what the single writer used to make atomic.
// ---------------------------------------------------------------------------

/// Concurrent submissions of one idempotency key create one job; every
/// other call answers that job with `created: false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submits_of_one_idempotency_key_create_one_job() {
    let (store, _dir) = open().await;
    for round in 0..5 {
        let mut j = job("start", Some("ps1"));
        j.idempotency_key = Some(format!("key-{round}"));
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (store, j) = (store.clone(), j.clone());
                tokio::spawn(async move { store.submit(j, t0()).await })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap().unwrap());
        }
        assert_eq!(answers.iter().filter(|s| s.created).count(), 1, "{round}");
        let id = answers[0].job.id;
        assert!(answers.iter().all(|s| s.job.id == id));
        let filter = JobFilter {
            idempotency_key: j.idempotency_key.clone(),
            ..JobFilter::default()
        };
        assert_eq!(store.jobs(&filter, None, 100).await.unwrap().len(), 1);
        assert_eq!(store.events(id).await.unwrap().len(), 1);
    }
}

/// A job submitted while what it depends on finishes is either queued at
/// once or queued by the finishing commit: never left blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dependent_submitted_while_its_dependency_finishes_is_not_left_blocked() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    for round in 0..5 {
        let a = store
            .submit(job("start", Some(&format!("psA{round}"))), t0())
            .await
            .unwrap()
            .job;
        store.claim(&me, 1, t0(), t0() + secs(30)).await.unwrap();
        let dependents: Vec<_> = (0..6)
            .map(|n| {
                let store = store.clone();
                let mut j = job("start", Some(&format!("psB{round}-{n}")));
                j.depends_on = vec![machinist::job::Dependency::Job(a.id)];
                tokio::spawn(async move { store.submit(j, t0()).await })
            })
            .collect();
        assert!(
            store
                .transition(finish(a.id, &me, JobState::Succeeded), t0())
                .await
                .unwrap()
        );
        for d in dependents {
            let id = d.await.unwrap().unwrap().job.id;
            let state = store.job(id).await.unwrap().unwrap().state;
            assert_eq!(state, JobState::Queued, "round {round}, job {id}");
        }
        // The dependents are claimed and finished, out of the next round's way.
        for j in store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap() {
            store
                .transition(finish(j.id, &me, JobState::Succeeded), t0())
                .await
                .unwrap();
        }
    }
}

/// Two dependencies of one job finishing in concurrent writes queue it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dependencies_finishing_at_once_queue_their_dependent() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    for round in 0..10 {
        let a = store
            .submit(job("start", Some(&format!("psA{round}"))), t0())
            .await
            .unwrap()
            .job;
        let b = store
            .submit(job("start", Some(&format!("psB{round}"))), t0())
            .await
            .unwrap()
            .job;
        let mut c = job("start", Some(&format!("psC{round}")));
        c.depends_on = vec![
            machinist::job::Dependency::Job(a.id),
            machinist::job::Dependency::Job(b.id),
        ];
        let c = store.submit(c, t0()).await.unwrap().job;
        assert_eq!(c.state, JobState::Blocked);
        assert_eq!(
            store
                .claim(&me, 10, t0(), t0() + secs(30))
                .await
                .unwrap()
                .len(),
            2
        );
        let (x, y) = tokio::join!(
            tokio::spawn({
                let (store, me) = (store.clone(), me.clone());
                async move {
                    store
                        .transition(finish(a.id, &me, JobState::Succeeded), t0())
                        .await
                }
            }),
            tokio::spawn({
                let (store, me) = (store.clone(), me.clone());
                async move {
                    store
                        .transition(finish(b.id, &me, JobState::Succeeded), t0())
                        .await
                }
            }),
        );
        assert!(x.unwrap().unwrap() && y.unwrap().unwrap());
        let state = store.job(c.id).await.unwrap().unwrap().state;
        assert_eq!(state, JobState::Queued, "round {round}");
        let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        store
            .transition(finish(claimed[0].id, &me, JobState::Succeeded), t0())
            .await
            .unwrap();
    }
}
