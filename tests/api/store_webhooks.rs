//! The store's webhooks: endpoints and their secrets, publishing events
//! (which queues their deliveries), deliveries with their attempts,
//! re-sends, alarm marks, the config's endpoints, and the lanes that keep
//! deliveries and machine jobs out of each other's way.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::clock::ManualClock;
use machinist::job::{
    EventKind, JobDefaults, JobId, JobKind, JobRequest, JobState, Lane, NewEvent, NewJob,
};
use machinist::store::{ClaimedJob, EndpointSaved, Publication, StandingClaim, Store, Transition};
use machinist::webhook::{
    Endpoint, EndpointPatch, EndpointSource, EndpointSpec, Event, EventType, Format, Secret,
    Subject,
};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

async fn open() -> (Store, crate::harness::Fixture) {
    crate::harness::open_store().await
}

fn spec(name: Option<&str>) -> EndpointSpec {
    EndpointSpec {
        url: "https://hooks.example.com/in".into(),
        name: name.map(str::to_string),
        ..EndpointSpec::default()
    }
}

fn saved(s: EndpointSaved) -> Endpoint {
    match s {
        EndpointSaved::Saved(e) => e,
        other => panic!("not saved: {other:?}"),
    }
}

async fn create(store: &Store, spec: EndpointSpec) -> Endpoint {
    saved(
        store
            .create_endpoint(spec, Secret::generate(), EndpointSource::Api, t0())
            .await
            .unwrap(),
    )
}

fn about(machine: &str) -> Subject {
    Subject {
        machine: Some(machine.into()),
        ..Subject::default()
    }
}

fn failed(machine: &str) -> Event {
    Event::new(
        EventType::JobFailed,
        t0(),
        json!({"job_id": 7, "machine_id": machine}),
        about(machine),
    )
}

fn publication(event: Event) -> Publication {
    Publication {
        event,
        max_attempts: 5,
        mark: None,
        only: None,
    }
}

async fn publish(store: &Store, event: Event) -> Vec<JobId> {
    store
        .publish(publication(event), t0())
        .await
        .unwrap()
        .deliveries
}

/// The endpoint each delivery goes to.
async fn endpoints_of(store: &Store, deliveries: &[JobId]) -> Vec<i64> {
    let mut out = Vec::new();
    for id in deliveries {
        let job = store.job(*id).await.unwrap().unwrap();
        out.push(job.args["endpoint"].as_i64().unwrap());
    }
    out
}

fn machine_job(kind: &str, machine: Option<&str>) -> NewJob {
    JobRequest {
        kind: kind.into(),
        machine_id: machine.map(str::to_string),
        ..JobRequest::default()
    }
    .validate(&JobDefaults::default(), t0())
    .unwrap()
}

fn finish(id: JobId, owner: &Arc<str>, to: JobState, events: Vec<NewEvent>) -> Transition {
    Transition {
        job_id: id,
        owner: owner.clone(),
        to,
        run_at: None,
        checkpoint: None,
        machine_id: None,
        result: None,
        error: None,
        events,
        seen: vec![],
        seen_complete: false,
        gone: vec![],
        utilization: None,
    }
}

fn standing(
    owner: &Arc<str>,
    lane: Lane,
    slots: usize,
    clock: &ManualClock,
) -> (
    StandingClaim,
    tokio::sync::watch::Receiver<Option<DateTime<Utc>>>,
) {
    let (next_due, rx) = tokio::sync::watch::channel(None);
    let claim = StandingClaim {
        owner: owner.clone(),
        lane,
        slots: Arc::new(tokio::sync::Semaphore::new(slots)),
        clock: Arc::new(clock.clone()),
        lease: Duration::from_secs(30),
        next_due: Arc::new(next_due),
        revoked: Arc::default(),
    };
    (claim, rx)
}

/// The next batch a standing claim sends, as job ids.
async fn next_batch(
    claimed: &mut UnboundedReceiver<Result<Vec<ClaimedJob>, machinist::store::StoreError>>,
) -> Vec<ClaimedJob> {
    claimed.recv().await.unwrap().unwrap()
}

fn ids(jobs: &[ClaimedJob]) -> Vec<JobId> {
    jobs.iter().map(|c| c.job.id).collect()
}

#[tokio::test]
async fn endpoints_are_created_listed_updated_and_their_names_are_unique() {
    let (store, _dir) = open().await;
    let plain = create(&store, spec(None)).await;
    assert_eq!(plain.events, EventType::defaults());
    assert_eq!(plain.source, EndpointSource::Api);
    assert!(!plain.paused && plain.disabled.is_none());
    assert_eq!((plain.created_at, plain.updated_at), (t0(), t0()));

    let ops = create(
        &store,
        EndpointSpec {
            format: Format::Slack,
            events: Some(vec![EventType::JobSucceeded]),
            machines: vec!["psA".into()],
            windows: vec!["nights".into()],
            ..spec(Some("ops"))
        },
    )
    .await;
    assert_eq!(ops.name.as_deref(), Some("ops"));
    assert_eq!(ops.format, Format::Slack);
    assert_eq!(ops.events, [EventType::JobSucceeded]);
    assert_eq!(ops.machines, ["psA"]);
    assert_eq!(ops.windows, ["nights"]);
    assert!(ops.id > plain.id);
    assert_eq!(
        store
            .create_endpoint(
                spec(Some("ops")),
                Secret::generate(),
                EndpointSource::Api,
                t0()
            )
            .await
            .unwrap(),
        EndpointSaved::NameTaken("ops".into())
    );
    assert_eq!(
        store.endpoints().await.unwrap(),
        [plain.clone(), ops.clone()]
    );
    assert_eq!(store.endpoint(ops.id).await.unwrap(), Some(ops.clone()));
    assert_eq!(store.endpoint(999).await.unwrap(), None);

    // Updates: the name is still unique, a missing endpoint is said so.
    let rename = |name: &str| EndpointPatch {
        name: Some(name.into()),
        ..EndpointPatch::default()
    };
    assert_eq!(
        store
            .update_endpoint(plain.id, rename("ops"), t0())
            .await
            .unwrap(),
        EndpointSaved::NameTaken("ops".into())
    );
    assert_eq!(
        store.update_endpoint(999, rename("x"), t0()).await.unwrap(),
        EndpointSaved::NotFound
    );
    // Its own name again is no conflict.
    saved(
        store
            .update_endpoint(ops.id, rename("ops"), t0())
            .await
            .unwrap(),
    );
    let later = t0() + secs(60);
    let paused = saved(
        store
            .update_endpoint(
                plain.id,
                EndpointPatch {
                    url: Some("https://hooks.example.com/new".into()),
                    name: Some("plain".into()),
                    paused: Some(true),
                    ..EndpointPatch::default()
                },
                later,
            )
            .await
            .unwrap(),
    );
    assert_eq!(paused.url, "https://hooks.example.com/new");
    assert_eq!(paused.name.as_deref(), Some("plain"));
    assert!(paused.paused);
    assert_eq!((paused.created_at, paused.updated_at), (t0(), later));
    assert_eq!(
        paused.events, plain.events,
        "fields not in the patch are kept"
    );

    // A 410 disables it; a resume clears both.
    store
        .disable_endpoint(plain.id, "the receiver answered 410 Gone".into(), later)
        .await
        .unwrap();
    let disabled = store.endpoint(plain.id).await.unwrap().unwrap();
    assert_eq!(
        disabled.disabled.as_deref(),
        Some("the receiver answered 410 Gone")
    );
    let resume = EndpointPatch {
        paused: Some(false),
        ..EndpointPatch::default()
    };
    let resumed = saved(
        store
            .update_endpoint(plain.id, resume, later)
            .await
            .unwrap(),
    );
    assert!(!resumed.paused && resumed.disabled.is_none());
}

#[tokio::test]
async fn secrets_are_kept_and_a_rotation_keeps_the_previous_one_until_a_time() {
    let (store, _dir) = open().await;
    let first = Secret::generate();
    let e = saved(
        store
            .create_endpoint(spec(None), first.clone(), EndpointSource::Api, t0())
            .await
            .unwrap(),
    );
    assert_eq!(e.previous_secret_until, None);
    let secrets = store.endpoint_secrets(e.id).await.unwrap().unwrap();
    assert_eq!((secrets.current, secrets.previous), (first.clone(), None));

    let second = Secret::generate();
    let until = t0() + chrono::Duration::hours(24);
    let rotated = store
        .rotate_endpoint_secret(e.id, second.clone(), until, t0() + secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.previous_secret_until, Some(until));
    assert_eq!(rotated.updated_at, t0() + secs(1));
    let secrets = store.endpoint_secrets(e.id).await.unwrap().unwrap();
    assert_eq!(secrets.current, second);
    assert_eq!(secrets.previous, Some((first, until)));

    assert_eq!(
        store
            .rotate_endpoint_secret(999, Secret::generate(), until, t0())
            .await
            .unwrap(),
        None
    );
    assert!(store.endpoint_secrets(999).await.unwrap().is_none());
}

#[tokio::test]
async fn publishing_queues_one_delivery_per_endpoint_that_accepts_the_event() {
    let (store, _dir) = open().await;
    let all = create(&store, spec(None)).await;
    let only_psa = create(
        &store,
        EndpointSpec {
            machines: vec!["psA".into()],
            ..spec(None)
        },
    )
    .await;
    let paused = create(&store, spec(None)).await;
    store
        .update_endpoint(
            paused.id,
            EndpointPatch {
                paused: Some(true),
                ..EndpointPatch::default()
            },
            t0(),
        )
        .await
        .unwrap();
    let successes = create(
        &store,
        EndpointSpec {
            events: Some(vec![EventType::JobSucceeded]),
            ..spec(None)
        },
    )
    .await;
    // An event without a schedule passes a schedule filter.
    let nightly = create(
        &store,
        EndpointSpec {
            schedules: vec!["nightly".into()],
            ..spec(None)
        },
    )
    .await;
    let disabled = create(&store, spec(None)).await;
    store
        .disable_endpoint(disabled.id, "gone".into(), t0())
        .await
        .unwrap();

    let event = failed("psA");
    let deliveries = publish(&store, event.clone()).await;
    assert_eq!(
        endpoints_of(&store, &deliveries).await,
        [all.id, only_psa.id, nightly.id]
    );
    let job = store.job(deliveries[0]).await.unwrap().unwrap();
    assert_eq!(job.kind, JobKind::Deliver);
    assert_eq!(job.kind.lane(), Lane::Webhooks);
    assert_eq!(job.machine_id, None);
    assert_eq!(job.args, json!({"endpoint": all.id, "event": event.id}));
    assert_eq!(
        (job.state, job.max_attempts, job.run_at),
        (JobState::Queued, 5, t0())
    );
    assert_eq!(
        (job.priority, job.wait, &job.idempotency_key),
        (0, None, &None)
    );
    let history = store.events(job.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].event.to_state, Some(JobState::Queued));
    assert_eq!(history[0].event.message, "submitted");

    // The event is stored once, whatever the number of its deliveries.
    assert_eq!(store.webhook_event(&event.id).await.unwrap(), Some(event));
    assert_eq!(store.webhook_event("msg_none").await.unwrap(), None);

    let other = publish(&store, failed("psB")).await;
    assert_eq!(endpoints_of(&store, &other).await, [all.id, nightly.id]);
    let success = Event::new(EventType::JobSucceeded, t0(), json!({}), about("psA"));
    assert_eq!(
        endpoints_of(&store, &publish(&store, success).await).await,
        [successes.id]
    );

    // `only`: that endpoint, paused or not, filters or not.
    let ping = Publication {
        only: Some(paused.id),
        ..publication(Event::new(
            EventType::Ping,
            t0(),
            json!({}),
            Subject::default(),
        ))
    };
    let pinged = store.publish(ping, t0()).await.unwrap().deliveries;
    assert_eq!(endpoints_of(&store, &pinged).await, [paused.id]);
    let to_filtered = Publication {
        only: Some(successes.id),
        ..publication(failed("psA"))
    };
    let sent = store.publish(to_filtered, t0()).await.unwrap().deliveries;
    assert_eq!(endpoints_of(&store, &sent).await, [successes.id]);
    let nowhere = Publication {
        only: Some(999),
        ..publication(failed("psA"))
    };
    assert!(
        store
            .publish(nowhere, t0())
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
}

#[tokio::test]
async fn a_publication_sets_its_alarm_mark_and_a_clear_forgets_it() {
    let (store, _dir) = open().await;
    let key = "machine.left_running:psA";
    assert_eq!(store.alarm_mark(key).await.unwrap(), None);
    // Set even when no endpoint takes the event: the alarm went out.
    let mut event = failed("psA");
    event.timestamp = t0() + secs(30);
    let marked = Publication {
        mark: Some(key.into()),
        ..publication(event)
    };
    assert!(
        store
            .publish(marked, t0() + secs(31))
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
    assert_eq!(store.alarm_mark(key).await.unwrap(), Some(t0() + secs(30)));
    let mut again = failed("psA");
    again.timestamp = t0() + secs(90);
    let marked = Publication {
        mark: Some(key.into()),
        ..publication(again)
    };
    store.publish(marked, t0() + secs(90)).await.unwrap();
    assert_eq!(store.alarm_mark(key).await.unwrap(), Some(t0() + secs(90)));
    assert_eq!(store.alarm_mark("other").await.unwrap(), None);
    store.clear_alarm_mark(key).await.unwrap();
    assert_eq!(store.alarm_mark(key).await.unwrap(), None);
    store.clear_alarm_mark(key).await.unwrap();
}

#[tokio::test]
async fn deleting_an_endpoint_cancels_its_deliveries_not_yet_made() {
    let (store, _dir) = open().await;
    let worker: Arc<str> = "hooks".into();
    let a = create(&store, spec(None)).await;
    let b = create(&store, spec(None)).await;
    let first = publish(&store, failed("psA")).await;
    // A's first delivery is under way.
    let running = store
        .claim(&worker, 1, t0(), t0() + secs(30))
        .await
        .unwrap();
    assert_eq!(running[0].id, first[0]);
    let second = publish(&store, failed("psA")).await;

    assert!(store.delete_endpoint(a.id, t0() + secs(5)).await.unwrap());
    assert!(!store.delete_endpoint(a.id, t0() + secs(5)).await.unwrap());
    assert_eq!(store.endpoint(a.id).await.unwrap(), None);
    let queued = store.job(second[0]).await.unwrap().unwrap();
    assert_eq!(queued.state, JobState::Cancelled);
    assert_eq!(queued.finished_at, Some(t0() + secs(5)));
    let last = store.events(queued.id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.event.from_state, last.event.to_state),
        (Some(JobState::Queued), Some(JobState::Cancelled))
    );
    assert_eq!(
        last.event.message,
        format!("the webhook endpoint {} was removed", a.id)
    );
    // The one under way goes on; B's are untouched.
    assert_eq!(
        store.job(first[0]).await.unwrap().unwrap().state,
        JobState::Running
    );
    for id in [first[1], second[1]] {
        assert_eq!(
            store.job(id).await.unwrap().unwrap().state,
            JobState::Queued
        );
    }
    // Its deliveries are still listed, for the record.
    assert_eq!(store.deliveries(a.id, None, 10).await.unwrap().len(), 2);
    // An endpoint made later never takes its id.
    assert!(create(&store, spec(None)).await.id > b.id);
}

#[tokio::test]
async fn deliveries_list_newest_first_with_their_attempts_and_can_be_sent_again() {
    let (store, _dir) = open().await;
    let worker: Arc<str> = "hooks".into();
    let a = create(&store, spec(None)).await;
    let b = create(&store, spec(None)).await;
    let one = failed("psA");
    let d1 = publish(&store, one.clone()).await;
    let d2 = publish(&store, failed("psB")).await;
    let show = store
        .submit(machine_job("show", Some("psA")), t0())
        .await
        .unwrap()
        .job;

    // A's first delivery: one attempt, answered 500.
    let claimed = store
        .claim(&worker, 1, t0(), t0() + secs(30))
        .await
        .unwrap();
    assert_eq!(claimed[0].id, show.id, "the machines lane's first");
    store
        .transition(finish(show.id, &worker, JobState::Succeeded, vec![]), t0())
        .await
        .unwrap();
    let claimed = store
        .claim(&worker, 1, t0(), t0() + secs(30))
        .await
        .unwrap();
    assert_eq!(claimed[0].id, d1[0]);
    let attempt = NewEvent {
        kind: EventKind::ApiCall,
        from_state: None,
        to_state: None,
        message: "POST https://hooks.example.com/in: 500".into(),
        method: Some("POST".into()),
        route: Some("https://hooks.example.com/in".into()),
        status: Some(500),
        latency_ms: Some(120),
        error: Some("internal error".into()),
    };
    let events = vec![
        attempt.clone(),
        NewEvent::state(Some(JobState::Running), JobState::Failed, "gave up"),
    ];
    store
        .transition(
            finish(d1[0], &worker, JobState::Failed, events),
            t0() + secs(1),
        )
        .await
        .unwrap();

    let listed = store.deliveries(a.id, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.job.id).collect::<Vec<_>>(),
        [d2[0], d1[0]]
    );
    let oldest = &listed[1];
    assert_eq!(oldest.event_id, one.id);
    assert_eq!(oldest.event_type, Some(EventType::JobFailed));
    assert_eq!(oldest.job.state, JobState::Failed);
    assert_eq!(oldest.attempts.len(), 1);
    assert_eq!(oldest.attempts[0].event, attempt);
    assert!(listed[0].attempts.is_empty());
    // Pages: below an id, and a limit.
    let page = store.deliveries(a.id, Some(d2[0]), 10).await.unwrap();
    assert_eq!(page.iter().map(|d| d.job.id).collect::<Vec<_>>(), [d1[0]]);
    let page = store.deliveries(a.id, None, 1).await.unwrap();
    assert_eq!(page.iter().map(|d| d.job.id).collect::<Vec<_>>(), [d2[0]]);
    assert_eq!(store.deliveries(b.id, None, 10).await.unwrap().len(), 2);
    assert!(store.deliveries(999, None, 10).await.unwrap().is_empty());

    // A re-send: a new job, the same event and endpoint.
    let again = store
        .resend(a.id, d1[0], 3, t0() + secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(again.created);
    let job = again.job;
    assert_eq!(job.kind, JobKind::Deliver);
    assert_eq!(job.args, json!({"endpoint": a.id, "event": one.id}));
    assert_eq!(
        (job.state, job.max_attempts, job.run_at),
        (JobState::Queued, 3, t0() + secs(60))
    );
    let listed = store.deliveries(a.id, None, 10).await.unwrap();
    assert_eq!(listed[0].job.id, job.id);
    assert_eq!(listed[0].event_type, Some(EventType::JobFailed));
    // Not that endpoint's, not a delivery, not a job, no endpoint.
    assert!(store.resend(b.id, d1[0], 3, t0()).await.unwrap().is_none());
    assert!(
        store
            .resend(a.id, show.id, 3, t0())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.resend(a.id, 9999, 3, t0()).await.unwrap().is_none());
    store.delete_endpoint(b.id, t0()).await.unwrap();
    assert!(store.resend(b.id, d1[1], 3, t0()).await.unwrap().is_none());
}

#[tokio::test]
async fn the_configs_endpoints_are_synced_by_name_and_api_ones_left_alone() {
    let (store, _dir) = open().await;
    let by_hand = create(&store, spec(Some("by-hand"))).await;
    let (sa, sb, sc) = (Secret::generate(), Secret::generate(), Secret::generate());
    let answer = saved(
        store
            .sync_config_endpoints(
                vec![(spec(Some("a")), sa.clone()), (spec(Some("b")), sb.clone())],
                t0(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        answer.name.as_deref(),
        Some("b"),
        "the answer is the last listed"
    );
    let listed = store.endpoints().await.unwrap();
    assert_eq!(listed.len(), 3);
    let a = listed[1].clone();
    let b = listed[2].clone();
    assert_eq!(
        (a.name.as_deref(), a.source),
        (Some("a"), EndpointSource::Config)
    );
    assert_eq!(
        store.endpoint_secrets(a.id).await.unwrap().unwrap().current,
        sa
    );

    // Refused whole: a name an api endpoint holds, or one listed twice.
    for endpoints in [
        vec![
            (spec(Some("c")), sc.clone()),
            (spec(Some("by-hand")), sc.clone()),
        ],
        vec![(spec(Some("c")), sc.clone()), (spec(Some("c")), sc.clone())],
    ] {
        let name = endpoints[1].0.name.clone().unwrap();
        assert_eq!(
            store.sync_config_endpoints(endpoints, t0()).await.unwrap(),
            EndpointSaved::NameTaken(name)
        );
        assert_eq!(
            store.endpoints().await.unwrap(),
            [by_hand.clone(), a.clone(), b.clone()]
        );
    }

    // Again unchanged: nothing moves, not even `updated_at`.
    store
        .sync_config_endpoints(
            vec![(spec(Some("a")), sa.clone()), (spec(Some("b")), sb.clone())],
            t0() + secs(10),
        )
        .await
        .unwrap();
    assert_eq!(
        store.endpoints().await.unwrap(),
        [by_hand.clone(), a.clone(), b.clone()]
    );

    // `a` changes and its secret too (without a rotation), `b` goes with
    // its queued delivery, `c` comes.
    store
        .rotate_endpoint_secret(a.id, Secret::generate(), t0() + secs(3600), t0())
        .await
        .unwrap();
    let queued = publish(&store, failed("psA")).await;
    let later = t0() + secs(20);
    let new_a = EndpointSpec {
        url: "https://hooks.example.com/moved".into(),
        events: Some(vec![EventType::DaemonStarted]),
        ..spec(Some("a"))
    };
    let s4 = Secret::generate();
    let c = saved(
        store
            .sync_config_endpoints(
                vec![(new_a, s4.clone()), (spec(Some("c")), sc.clone())],
                later,
            )
            .await
            .unwrap(),
    );
    let listed = store.endpoints().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|e| e.name.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["by-hand", "a", "c"]
    );
    assert_eq!(listed[2], c);
    let moved = &listed[1];
    assert_eq!(moved.id, a.id);
    assert_eq!(moved.url, "https://hooks.example.com/moved");
    assert_eq!(moved.events, [EventType::DaemonStarted]);
    assert_eq!(
        (moved.updated_at, moved.previous_secret_until),
        (later, None)
    );
    let secrets = store.endpoint_secrets(a.id).await.unwrap().unwrap();
    assert_eq!((secrets.current, secrets.previous), (s4, None));
    let b_delivery = queued[2];
    assert_eq!(endpoints_of(&store, &[b_delivery]).await, [b.id]);
    let job = store.job(b_delivery).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Cancelled);

    // An empty list removes every config endpoint, and only those.
    assert_eq!(
        store.sync_config_endpoints(vec![], later).await.unwrap(),
        EndpointSaved::NotFound
    );
    assert_eq!(store.endpoints().await.unwrap(), [by_hand]);
}

#[tokio::test]
async fn each_lanes_standing_claim_takes_only_its_own_jobs() {
    let (store, _dir) = open().await;
    let clock = ManualClock::new(t0());
    create(&store, spec(None)).await;
    let show = store
        .submit(machine_job("show", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    let mut later = machine_job("show", Some("psB"));
    later.run_at = t0() + secs(60);
    let later = store.submit(later, t0()).await.unwrap().job;

    // The webhooks lane: nothing to take, and no next due time (the
    // machine job due later is not its own).
    let hooks: Arc<str> = "hooks".into();
    let (claim, mut hooks_due) = standing(&hooks, Lane::Webhooks, 4, &clock);
    let mut hooks_claimed = store.stand(claim).await.unwrap();
    hooks_due.changed().await.unwrap();
    assert_eq!(*hooks_due.borrow(), None);
    assert!(hooks_claimed.try_recv().is_err());

    // A publication is claimed by its commit, by the webhooks lane.
    let delivery = publish(&store, failed("psA")).await;
    assert_eq!(ids(&next_batch(&mut hooks_claimed).await), delivery);
    let stored = store.job(delivery[0]).await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.lease_owner.as_deref()),
        (JobState::Running, Some("hooks"))
    );
    assert_eq!(
        store.job(show.id).await.unwrap().unwrap().state,
        JobState::Queued
    );

    // The machines lane takes the machine job, never a delivery.
    let queued = publish(&store, failed("psA")).await;
    let machines: Arc<str> = "machines".into();
    let (claim, mut machines_due) = standing(&machines, Lane::Machines, 4, &clock);
    let mut machines_claimed = store.stand(claim).await.unwrap();
    assert_eq!(ids(&next_batch(&mut machines_claimed).await), [show.id]);
    // The machines lane's next due time is its own job's: a try that
    // takes nothing tells it.
    store.poke();
    machines_due.changed().await.unwrap();
    assert_eq!(*machines_due.borrow(), Some(later.run_at));
    // The second delivery went to the webhooks lane as it was stored.
    assert_eq!(ids(&next_batch(&mut hooks_claimed).await), queued);
    assert!(machines_claimed.try_recv().is_err());

    clock.advance(secs(60));
    store.poke();
    assert_eq!(ids(&next_batch(&mut machines_claimed).await), [later.id]);
    assert!(hooks_claimed.try_recv().is_err());
}

#[tokio::test]
async fn an_endpoint_has_at_most_two_deliveries_running_and_the_others_go_on() {
    let (store, _dir) = open().await;
    let clock = ManualClock::new(t0());
    let slow = create(&store, spec(None)).await;
    let fast = create(&store, spec(None)).await;
    let to = |id: i64| Publication {
        only: Some(id),
        ..publication(failed("psA"))
    };
    // In claim order: three for the slow one, then two for the fast one.
    let mut queued = Vec::new();
    for id in [slow.id, slow.id, slow.id, fast.id, fast.id] {
        queued.extend(store.publish(to(id), t0()).await.unwrap().deliveries);
    }

    let hooks: Arc<str> = "hooks".into();
    let (claim, _due) = standing(&hooks, Lane::Webhooks, 10, &clock);
    let mut claimed = store.stand(claim).await.unwrap();
    let first = next_batch(&mut claimed).await;
    // The slow one's third waits; the fast one's behind it are taken.
    assert_eq!(ids(&first), [queued[0], queued[1], queued[3], queued[4]]);

    // Running ones count: a new one for the slow endpoint waits too, while
    // one for the fast endpoint is taken (its two finished).
    for c in &first[2..] {
        store
            .transition(finish(c.job.id, &hooks, JobState::Succeeded, vec![]), t0())
            .await
            .unwrap();
    }
    let more_slow = store.publish(to(slow.id), t0()).await.unwrap().deliveries;
    let more_fast = store.publish(to(fast.id), t0()).await.unwrap().deliveries;
    assert_eq!(ids(&next_batch(&mut claimed).await), more_fast);
    assert_eq!(
        store.job(more_slow[0]).await.unwrap().unwrap().state,
        JobState::Queued
    );

    // One of the slow one's finishes: its next, oldest first, is taken.
    store
        .transition(finish(queued[0], &hooks, JobState::Succeeded, vec![]), t0())
        .await
        .unwrap();
    assert_eq!(ids(&next_batch(&mut claimed).await), [queued[2]]);
    assert_eq!(
        store.job(more_slow[0]).await.unwrap().unwrap().state,
        JobState::Queued
    );

    // A claim on request keeps the same rule.
    store.unpark(&hooks).await.unwrap();
    let other: Arc<str> = "other".into();
    assert!(
        store
            .claim(&other, 10, t0(), t0() + secs(30))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_orphan_rescue_of_one_lane_leaves_the_other_lanes_jobs_leased() {
    let (store, _dir) = open().await;
    let dead: Arc<str> = "dead".into();
    let me: Arc<str> = "me".into();
    create(&store, spec(None)).await;
    let show = store
        .submit(machine_job("show", Some("psA")), t0())
        .await
        .unwrap()
        .job;
    let delivery = publish(&store, failed("psA")).await[0];
    // A claim on request takes from both lanes.
    let taken = store
        .claim(&dead, 10, t0(), t0() + secs(300))
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|j| j.id).collect::<Vec<_>>(),
        [show.id, delivery]
    );

    let rescued = store
        .rescue(t0() + secs(1), Some((&me, Lane::Webhooks)))
        .await
        .unwrap();
    assert_eq!(rescued, [delivery]);
    let show_now = store.job(show.id).await.unwrap().unwrap();
    assert_eq!(
        (show_now.state, show_now.lease_owner.as_deref()),
        (JobState::Running, Some("dead"))
    );
    let rescued = store
        .rescue(t0() + secs(1), Some((&me, Lane::Machines)))
        .await
        .unwrap();
    assert_eq!(rescued, [show.id]);

    // An expired lease is taken back whatever the lane named.
    let taken = store
        .claim(&dead, 10, t0() + secs(2), t0() + secs(30))
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);
    let rescued = store
        .rescue(t0() + secs(31), Some((&dead, Lane::Machines)))
        .await
        .unwrap();
    assert_eq!(rescued, [show.id, delivery]);
}
