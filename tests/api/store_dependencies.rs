//! Job dependencies and group runs in the store: a blocked job costs
//! nothing until the commit that finishes what it waits for queues it (and
//! a standing claim takes it in that same commit); failures cancel down the
//! chain; batches are all or none; runs keep their steps.

use std::sync::Arc;

use machinist::group::{GroupAction, GroupSpec, RunState, RunView, Stage, jobs_for, plan};
use machinist::job::{
    BatchRequest, Dependency, JobDefaults, JobState, NewJob, OnDependencyFailure,
};
use machinist::machine::WaitTarget;
use machinist::store::{CancelResult, GroupRemoved, GroupWritten, NewRun, RunResumed, StoreError};
use serde_json::json;

use crate::store::{finish, job, open, secs, standing, t0};

fn after(kind: &str, machine: &str, deps: &[i64]) -> NewJob {
    let mut j = job(kind, Some(machine));
    j.depends_on = deps.iter().map(|&d| Dependency::Job(d)).collect();
    j
}

#[tokio::test]
async fn a_blocked_job_is_queued_by_the_commit_that_finishes_its_last_dependency() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let a = store
        .submit(job("start", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    let b = store
        .submit(job("start", Some("psB")), t0())
        .await
        .unwrap()
        .job;
    let c = store
        .submit(after("start", "psC", &[a.id, b.id]), t0())
        .await
        .unwrap()
        .job;
    assert_eq!(c.state, JobState::Blocked);
    assert_eq!(c.depends_on, [a.id, b.id]);
    assert_eq!(c.on_dependency_failure, Some(OnDependencyFailure::Cancel));

    // Blocked is not claimable.
    let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        [a.id, b.id]
    );

    // One of two done: still blocked.
    assert!(
        store
            .transition(finish(a.id, &me, JobState::Succeeded), t0())
            .await
            .unwrap()
    );
    assert_eq!(
        store.job(c.id).await.unwrap().unwrap().state,
        JobState::Blocked
    );

    // The last one done: queued in that commit, taken by a standing claim
    // in the same commit.
    let clock = machinist::clock::ManualClock::new(t0());
    let (claim, _due) = standing(&"w2".into(), 4, &clock);
    let mut taken = store.stand(claim).await.unwrap();
    assert!(
        store
            .transition(finish(b.id, &me, JobState::Succeeded), t0())
            .await
            .unwrap()
    );
    // (On PostgreSQL, unless the claim's own task was trying at that
    // moment, its one-second look: then that task takes it right after;
    // see `postgres/ops/claims.rs`.)
    if !crate::harness::on_postgres() {
        let stored = store.job(c.id).await.unwrap().unwrap();
        assert_eq!(
            stored.state,
            JobState::Running,
            "claimed in the commit that freed it"
        );
    }
    let jobs = taken.recv().await.unwrap().unwrap();
    let stored = store.job(c.id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Running);
    assert_eq!(stored.lease_owner.as_deref(), Some("w2"));
    assert_eq!(jobs[0].job.id, c.id);
    let history = store.events(c.id).await.unwrap();
    let states: Vec<_> = history.iter().filter_map(|e| e.event.to_state).collect();
    assert_eq!(
        states,
        [JobState::Blocked, JobState::Queued, JobState::Running]
    );
}

#[tokio::test]
async fn a_failure_cancels_down_the_chain_naming_the_job_that_failed() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let a = store
        .submit(job("start", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    let b = store
        .submit(after("start", "psB", &[a.id]), t0())
        .await
        .unwrap()
        .job;
    let c = store
        .submit(after("start", "psC", &[b.id]), t0())
        .await
        .unwrap()
        .job;
    let mut anyway = after("show", "psD", &[a.id]);
    anyway.on_dependency_failure = OnDependencyFailure::Run;
    let d = store.submit(anyway, t0()).await.unwrap().job;

    store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    let mut failed = finish(a.id, &me, JobState::Failed);
    failed.error = Some("machine psA: the region is out of capacity".into());
    assert!(store.transition(failed, t0()).await.unwrap());

    for id in [b.id, c.id] {
        let j = store.job(id).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Cancelled);
        assert_eq!(
            j.last_error.as_deref(),
            Some(format!("not run: job {} (start psA) failed: machine psA: the region is out of capacity", a.id).as_str()),
            "the root cause, not a chain of causes"
        );
        assert!(j.finished_at.is_some());
    }
    // on_dependency_failure = run: queued all the same.
    assert_eq!(
        store.job(d.id).await.unwrap().unwrap().state,
        JobState::Queued
    );

    // A job submitted after its dependency failed is cancelled at once.
    let late = store
        .submit(after("start", "psE", &[a.id]), t0())
        .await
        .unwrap()
        .job;
    assert_eq!(late.state, JobState::Cancelled);
    assert!(
        late.last_error
            .unwrap()
            .contains(&format!("job {} (start psA) failed", a.id))
    );
    // And one after a success is queued at once.
    let ok = store
        .submit(job("show", Some("psF")), t0())
        .await
        .unwrap()
        .job;
    let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    assert!(claimed.iter().any(|j| j.id == ok.id));
    assert!(
        store
            .transition(finish(ok.id, &me, JobState::Succeeded), t0())
            .await
            .unwrap()
    );
    let next = store
        .submit(after("show", "psF", &[ok.id]), t0())
        .await
        .unwrap()
        .job;
    assert_eq!(next.state, JobState::Queued);
}

#[tokio::test]
async fn cancelling_a_blocked_job_cancels_its_dependents_and_unknown_ids_are_refused() {
    let (store, _dir) = open().await;
    let a = store
        .submit(job("start", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    let b = store
        .submit(after("start", "psB", &[a.id]), t0())
        .await
        .unwrap()
        .job;
    let c = store
        .submit(after("start", "psC", &[b.id]), t0())
        .await
        .unwrap()
        .job;
    let CancelResult::Cancelled(cancelled) = store.cancel(b.id, t0()).await.unwrap() else {
        panic!("a blocked job can be cancelled");
    };
    assert_eq!(cancelled.state, JobState::Cancelled);
    let c = store.job(c.id).await.unwrap().unwrap();
    assert_eq!(c.state, JobState::Cancelled);
    assert_eq!(
        c.last_error.as_deref(),
        Some(format!("not run: job {} (start psB) was cancelled", b.id).as_str())
    );

    let before = store
        .jobs(&Default::default(), None, 100)
        .await
        .unwrap()
        .len();
    let err = store
        .submit(after("start", "psD", &[a.id, 999]), t0())
        .await
        .unwrap_err();
    let StoreError::Refused(spec) = err else {
        panic!("refused, not {err:?}");
    };
    assert_eq!(spec.field, "depends_on");
    assert!(spec.message.contains("no job 999"), "{spec}");
    assert_eq!(
        store
            .jobs(&Default::default(), None, 100)
            .await
            .unwrap()
            .len(),
        before,
        "nothing written"
    );
}

#[tokio::test]
async fn a_blocked_job_keeps_its_place_in_its_machines_line() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let a = store
        .submit(job("start", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    // psB's start waits for psA; a later show of psB must wait behind it.
    let b = store
        .submit(after("start", "psB", &[a.id]), t0())
        .await
        .unwrap()
        .job;
    let show = store
        .submit(job("show", Some("psB")), t0())
        .await
        .unwrap()
        .job;
    let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [a.id]);
    assert!(
        store
            .transition(finish(a.id, &me, JobState::Succeeded), t0())
            .await
            .unwrap()
    );
    let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [b.id]);
    assert!(
        store
            .transition(finish(b.id, &me, JobState::Succeeded), t0())
            .await
            .unwrap()
    );
    let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [show.id]);
}

#[tokio::test]
async fn a_batch_is_stored_in_dependency_order_all_or_none() {
    let (store, _dir) = open().await;
    let batch: BatchRequest = serde_json::from_value(json!({"jobs": [
        {"ref": "web", "kind": "start", "machine_id": "psD", "depends_on": ["app"]},
        {"ref": "app", "kind": "start", "machine_id": "psB", "depends_on": ["db"]},
        {"ref": "db", "kind": "start", "machine_id": "psA"},
    ]}))
    .unwrap();
    let batch = batch.validate(&JobDefaults::default(), t0()).unwrap();
    assert_eq!(batch.positions, [2, 1, 0]);
    let stored = store.submit_batch(batch.jobs, t0()).await.unwrap();
    let jobs: Vec<_> = stored.iter().map(|s| &s.job).collect();
    assert_eq!(jobs[0].state, JobState::Queued);
    assert_eq!(jobs[1].depends_on, [jobs[0].id]);
    assert_eq!(jobs[2].depends_on, [jobs[1].id]);
    assert!(
        jobs[0].id < jobs[1].id && jobs[1].id < jobs[2].id,
        "dependencies are older"
    );

    let cycle: BatchRequest = serde_json::from_value(json!({"jobs": [
        {"ref": "a", "kind": "show", "machine_id": "psA", "depends_on": ["b"]},
        {"ref": "b", "kind": "show", "machine_id": "psB", "depends_on": ["a"]},
    ]}))
    .unwrap();
    let e = cycle.validate(&JobDefaults::default(), t0()).unwrap_err();
    assert!(
        e.message.contains("a → b → a") || e.message.contains("b → a → b"),
        "{e}"
    );

    let unknown: BatchRequest = serde_json::from_value(json!({"jobs": [
        {"ref": "a", "kind": "show", "machine_id": "psA"},
        {"kind": "show", "machine_id": "psB", "depends_on": ["a", 4242]},
    ]}))
    .unwrap();
    let unknown = unknown.validate(&JobDefaults::default(), t0()).unwrap();
    let before = store
        .jobs(&Default::default(), None, 100)
        .await
        .unwrap()
        .len();
    assert!(matches!(
        store.submit_batch(unknown.jobs, t0()).await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(
        store
            .jobs(&Default::default(), None, 100)
            .await
            .unwrap()
            .len(),
        before
    );
}

fn stage(name: &str, ids: &[&str]) -> Stage {
    Stage {
        name: name.into(),
        machine_ids: ids.iter().map(|s| s.to_string()).collect(),
        selector: None,
    }
}

#[tokio::test]
async fn a_run_goes_stage_by_stage_stops_at_a_failure_and_resumes_from_it() {
    let (store, _dir) = open().await;
    let me: Arc<str> = "w1".into();
    let spec = GroupSpec {
        name: "shop".into(),
        stages: vec![
            stage("db", &["psA"]),
            stage("app", &["psB", "psC"]),
            stage("web", &["psD"]),
        ],
    };
    let GroupWritten::Done(group) = store.create_group(spec.clone(), t0()).await.unwrap() else {
        panic!("created");
    };
    assert!(matches!(
        store.create_group(spec, t0()).await.unwrap(),
        GroupWritten::NameTaken
    ));

    let steps = plan(&group, GroupAction::Start, None, &|_| false);
    let defaults = JobDefaults::default();
    let jobs = jobs_for(&steps, 0, None, WaitTarget::Ready, &defaults, t0());
    let started = store
        .start_run(
            NewRun {
                group: group.name.clone(),
                action: GroupAction::Start,
                wait: WaitTarget::Ready,
                steps,
                schedule_id: None,
                jobs,
            },
            t0(),
        )
        .await
        .unwrap();
    let run_id = started.run.id;
    let states = |jobs: &[machinist::job::Job]| {
        jobs.iter()
            .map(|j| (j.machine_id.clone().unwrap(), j.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states(&started.jobs),
        [
            ("psA".to_string(), JobState::Queued),
            ("psB".to_string(), JobState::Blocked),
            ("psC".to_string(), JobState::Blocked),
            ("psD".to_string(), JobState::Blocked),
        ]
    );

    // Stage 1 succeeds; in stage 2 psB fails and psC succeeds.
    let step = |store: machinist::store::Store| async move {
        store
            .claim(&"w1".into(), 10, t0(), t0() + secs(30))
            .await
            .unwrap()
    };
    let claimed = step(store.clone()).await;
    assert_eq!(claimed.len(), 1);
    store
        .transition(finish(claimed[0].id, &me, JobState::Succeeded), t0())
        .await
        .unwrap();
    let claimed = step(store.clone()).await;
    assert_eq!(claimed.len(), 2, "both machines of stage 2 at once");
    let mut failed = finish(claimed[0].id, &me, JobState::Failed);
    failed.error = Some("Paperspace answered 500".into());
    store.transition(failed, t0()).await.unwrap();
    store
        .transition(finish(claimed[1].id, &me, JobState::Succeeded), t0())
        .await
        .unwrap();

    let (run, jobs) = store.group_run(run_id).await.unwrap().unwrap();
    let view = RunView::new(run.clone(), &jobs);
    assert_eq!(view.state, RunState::Failed);
    assert_eq!(view.steps_done, 1);
    let failure = view.failure.clone().unwrap();
    assert_eq!(
        (
            failure.step,
            failure.stage.as_str(),
            failure.machine_id.as_str()
        ),
        (1, "app", "psB")
    );
    assert_eq!(failure.reason, "Paperspace answered 500");
    assert_eq!(
        view.progress[2].state, "cancelled",
        "stage 3 was never sent"
    );
    assert!(step(store.clone()).await.is_empty());

    // Resume: psB again, then web.
    let (from, again) = machinist::group::resume_plan(&view).unwrap();
    assert_eq!((from, again.clone()), (1, vec!["psB".to_string()]));
    let jobs = jobs_for(&run.steps, from, Some(&again), run.wait, &defaults, t0());
    let RunResumed::Resumed(resumed) = store
        .resume_run(run_id, run.resumes, jobs.clone(), t0())
        .await
        .unwrap()
    else {
        panic!("resumed");
    };
    assert_eq!(
        states(&resumed.jobs),
        [
            ("psB".to_string(), JobState::Queued),
            ("psD".to_string(), JobState::Blocked)
        ]
    );
    // A second resume from the same read is stale.
    assert!(matches!(
        store
            .resume_run(run_id, run.resumes, jobs, t0())
            .await
            .unwrap(),
        RunResumed::Stale
    ));
    for _ in 0..2 {
        let claimed = step(store.clone()).await;
        assert_eq!(claimed.len(), 1);
        store
            .transition(finish(claimed[0].id, &me, JobState::Succeeded), t0())
            .await
            .unwrap();
    }
    let (run, jobs) = store.group_run(run_id).await.unwrap().unwrap();
    let view = RunView::new(run, &jobs);
    assert_eq!(view.state, RunState::Succeeded, "{view:?}");
    assert_eq!(view.steps_done, 3);

    assert!(matches!(
        store.delete_group("shop").await.unwrap(),
        GroupRemoved::Removed
    ));
    assert!(matches!(
        store.delete_group("shop").await.unwrap(),
        GroupRemoved::NotFound
    ));
    assert!(
        store.group_run(run_id).await.unwrap().is_some(),
        "runs outlive their group"
    );
    // Pruning keeps a run while any of its jobs is kept, then drops it.
    store.prune(t0()).await.unwrap();
    assert!(store.group_run(run_id).await.unwrap().is_some());
    store.prune(t0() + secs(1)).await.unwrap();
    assert!(
        store.group_run(run_id).await.unwrap().is_none(),
        "pruned with its last job"
    );
}

#[tokio::test]
async fn dependencies_survive_a_reopen() {
    let fixture = crate::harness::Fixture::new().await;
    let opts = fixture.options();
    let (a, b) = {
        let store = machinist::store::Store::open(&opts).await.unwrap();
        let a = store
            .submit(job("start", Some("psA")), t0())
            .await
            .unwrap()
            .job;
        let b = store
            .submit(after("start", "psB", &[a.id]), t0())
            .await
            .unwrap()
            .job;
        (a, b)
    };
    // The lock went with the last handle.
    let store = machinist::store::Store::open(&opts).await.unwrap();
    let me: Arc<str> = "w9".into();
    let claimed = store.claim(&me, 10, t0(), t0() + secs(30)).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [a.id]);
    store
        .transition(finish(a.id, &me, JobState::Succeeded), t0())
        .await
        .unwrap();
    assert_eq!(
        store.job(b.id).await.unwrap().unwrap().state,
        JobState::Queued
    );
}
