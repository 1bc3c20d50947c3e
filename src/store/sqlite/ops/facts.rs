//! The reads of metrics and readiness, on the read pool: facts after a
//! cursor, and the counts of what is stored (`store/facts.rs`).

use chrono::{DateTime, Utc};

use crate::store::error::StoreError;
use crate::store::facts::{EventFact, FiringFact, Gauges};
use crate::store::rows::{from_ms, to_ms};
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::jobs::webhook_kinds;

/// Job events after an id, with what the counters need of their job: its
/// kind, its creation, and for a final state change when it first waited.
const EVENT_FACTS: &str = "SELECT e.id, e.at, e.kind, e.from_state, e.to_state, e.method, e.route, \
     e.status, e.latency_ms, j.kind AS job_kind, j.created_at AS job_created_at, \
     CASE WHEN e.kind = 'state' AND e.to_state IN ('succeeded', 'failed', 'cancelled') \
       THEN (SELECT MIN(w.at) FROM job_events w WHERE w.job_id = e.job_id \
             AND w.kind = 'state' AND w.to_state = 'waiting') END AS first_wait_at, \
     TRUE AS mine \
     FROM job_events e JOIN jobs j ON j.id = e.job_id \
     WHERE e.id > ? ORDER BY e.id LIMIT ?";

impl SqliteDriver {
    pub(in crate::store) async fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM job_events")
            .fetch_one(&self.reader)
            .await?;
        Ok(max)
    }

    pub(in crate::store) async fn event_facts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventFact>, StoreError> {
        Ok(sqlx::query_as(EVENT_FACTS)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?)
    }

    pub(in crate::store) async fn firing_facts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FiringFact>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT rowid, fire_at, outcome, recorded_at, TRUE AS mine FROM firings \
             WHERE rowid > ? ORDER BY rowid LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?)
    }

    pub(in crate::store) async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError> {
        let db = &self.reader;
        let now_ms = to_ms(now);
        let jobs = sqlx::query_as(
            "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(db)
        .await?;
        // Each lane's due index, its condition spelled as the index's
        // (migration 0008).
        let depth = sqlx::query_as(concat!(
            "SELECT state, due, SUM(n) FROM ( \
             SELECT state, run_at <= ?1 AS due, COUNT(*) AS n FROM jobs INDEXED BY jobs_due \
             WHERE state IN ('queued', 'waiting') AND kind NOT IN ",
            webhook_kinds!(),
            " GROUP BY 1, 2 UNION ALL \
             SELECT state, run_at <= ?1 AS due, COUNT(*) AS n FROM jobs INDEXED BY jobs_due_webhooks \
             WHERE state IN ('queued', 'waiting') AND kind IN ",
            webhook_kinds!(),
            " GROUP BY 1, 2) GROUP BY 1, 2 ORDER BY 1, 2"
        ))
        .bind(now_ms)
        .fetch_all(db)
        .await?;
        let (oldest,): (Option<i64>,) = sqlx::query_as(concat!(
            "SELECT MIN(m) FROM ( \
             SELECT MIN(run_at) AS m FROM jobs INDEXED BY jobs_due \
             WHERE state IN ('queued', 'waiting') AND kind NOT IN ",
            webhook_kinds!(),
            " AND run_at <= ?1 UNION ALL \
             SELECT MIN(run_at) AS m FROM jobs INDEXED BY jobs_due_webhooks \
             WHERE state IN ('queued', 'waiting') AND kind IN ",
            webhook_kinds!(),
            " AND run_at <= ?1)"
        ))
        .bind(now_ms)
        .fetch_one(db)
        .await?;
        let machines = sqlx::query_as(
            "SELECT CASE WHEN gone_at IS NULL THEN state ELSE 'gone' END, COUNT(*) \
             FROM machines GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(db)
        .await?;
        let schedules =
            sqlx::query_as("SELECT enabled, COUNT(*) FROM schedules GROUP BY 1 ORDER BY 1")
                .fetch_all(db)
                .await?;
        Ok(Gauges {
            jobs,
            depth,
            oldest_due: oldest.map(from_ms),
            machines,
            schedules,
        })
    }
}
