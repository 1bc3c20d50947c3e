//! The PostgreSQL driver's daemon operations: the `daemons` rows, the
//! scheduler's lease in `leadership` (as River's and Oban's leader
//! election: one row, taken when free or expired, renewed by its holder),
//! and the shared token bucket in `rate_limit`. Every time here is the
//! database's clock ([`NOW_MS`]), so hosts whose clocks disagree still
//! agree on who leads and when a lease ran out.

use std::time::Duration;

use crate::store::postgres::PostgresDriver;
use crate::store::postgres::tx::Effects;
use crate::store::rows::from_ms;
use crate::store::{DaemonInfo, DaemonRecord, Leadership, PG_MIGRATOR, StoreError};

/// Now in Unix milliseconds, by the database's clock (not the
/// transaction's start: a long transaction must not see time stand still).
pub(in crate::store) const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// The lease's name in `leadership`.
const SCHEDULER: &str = "scheduler";

/// The newest migration this binary knows.
pub(in crate::store) fn schema_version() -> i64 {
    PG_MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A `daemons` row with whether it leads.
#[derive(sqlx::FromRow)]
struct DaemonRow {
    id: String,
    host: String,
    pid: i64,
    version: String,
    schema_version: i64,
    started_at: i64,
    heartbeat_at: i64,
    stopped_at: Option<i64>,
    leader: bool,
}

impl From<DaemonRow> for DaemonRecord {
    fn from(r: DaemonRow) -> Self {
        DaemonRecord {
            id: r.id,
            host: r.host,
            pid: u32::try_from(r.pid).unwrap_or(0),
            version: r.version,
            schema_version: r.schema_version,
            started_at: from_ms(r.started_at),
            heartbeat_at: from_ms(r.heartbeat_at),
            stopped_at: r.stopped_at.map(from_ms),
            leader: r.leader,
        }
    }
}

impl PostgresDriver {
    pub(in crate::store) async fn register(&self, info: &DaemonInfo) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO daemons (id, host, pid, version, schema_version, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, {NOW_MS}, {NOW_MS}) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL"
        )))
        .bind(&*info.id)
        .bind(&info.host)
        .bind(i64::from(info.pid))
        .bind(&info.version)
        .bind(schema_version())
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn heartbeat(
        &self,
        id: &str,
        lead_for: Option<Duration>,
    ) -> Result<Leadership, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE daemons SET heartbeat_at = {NOW_MS}, stopped_at = NULL WHERE id = $1"
        )))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let taken: Option<(String, i64, i64)> = match lead_for {
            Some(ttl) => {
                // Taken when free or expired, renewed when ours; a row held
                // by another live daemon is left alone (no row returned).
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO leadership (name, holder, elected_at, expires_at) \
                     VALUES ($1, $2, {NOW_MS}, {NOW_MS} + $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     elected_at = CASE WHEN leadership.holder = excluded.holder \
                         THEN leadership.elected_at ELSE excluded.elected_at END, \
                     expires_at = excluded.expires_at \
                     WHERE leadership.holder = excluded.holder \
                        OR leadership.expires_at < excluded.elected_at \
                     RETURNING holder, expires_at, {NOW_MS}"
                )))
                .bind(SCHEDULER)
                .bind(id)
                .bind(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2))
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        let (holder, expires_at, now) = match taken {
            Some(row) => row,
            None => sqlx::query_as::<_, (String, i64, i64)>(sqlx::AssertSqlSafe(format!(
                "SELECT holder, expires_at, {NOW_MS} FROM leadership WHERE name = $1"
            )))
            .bind(SCHEDULER)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_default(),
        };
        // No lease row at all: the database's time, read on its own.
        let now = match now {
            0 => {
                sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(format!("SELECT {NOW_MS}")))
                    .fetch_one(&mut *tx)
                    .await?
                    .0
            }
            now => now,
        };
        // A heartbeat changes nothing another daemon waits on.
        self.commit(
            tx,
            Effects {
                read_only: true,
                ..Effects::default()
            },
        )
        .await?;
        let leader = holder == id && expires_at > now;
        Ok(Leadership {
            leader,
            holder: (!holder.is_empty() && expires_at > now).then_some(holder),
            expires_in: Duration::from_millis(u64::try_from(expires_at - now).unwrap_or(0)),
            now: from_ms(now),
        })
    }

    pub(in crate::store) async fn resign(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM leadership WHERE holder = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE daemons SET stopped_at = {NOW_MS} WHERE id = $1"
        )))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn daemons(&self) -> Result<Vec<DaemonRecord>, StoreError> {
        let rows: Vec<DaemonRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT d.*, (l.holder IS NOT NULL) AS leader FROM daemons d \
             LEFT JOIN leadership l ON l.holder = d.id AND l.expires_at > {NOW_MS} \
             ORDER BY d.stopped_at IS NOT NULL, d.heartbeat_at DESC, d.id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DaemonRecord::from).collect())
    }

    /// A token bucket in one row: refilled for the time since its last
    /// refill, then one token taken. The token may be owed (the count goes
    /// below zero): the caller waits until it would have been there, so
    /// the calls of every daemon together keep to `rate`.
    pub(in crate::store) async fn take_rate_token(
        &self,
        rate: f64,
        burst: u32,
    ) -> Result<Duration, StoreError> {
        let rate = rate.max(1e-3);
        let burst = f64::from(burst.max(1));
        let (tokens,): (f64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO rate_limit AS r (name, tokens, refilled_at) VALUES ('paperspace', $2 - 1, {NOW_MS}) \
             ON CONFLICT (name) DO UPDATE SET \
             tokens = LEAST($2, r.tokens + ({NOW_MS} - r.refilled_at) / 1000.0 * $1) - 1, \
             refilled_at = {NOW_MS} \
             RETURNING tokens"
        )))
        .bind(rate)
        .bind(burst)
        .fetch_one(&self.pool)
        .await?;
        Ok(if tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-tokens / rate)
        })
    }
}
