//! The PostgreSQL driver: one database that several daemons share.
//!
//! Every write is one transaction on a pooled connection, committed before
//! it is answered, except the two every job makes, a plain submit and a
//! worker's report: those that arrive together share a transaction and a
//! statement per kind of row (`batch.rs`, which says why). Each operation
//! lives in `ops/`, one file per concept as in the store's handle; what
//! several operations write in their transaction (a job and its history, a
//! firing that submits jobs, a machine seen) lives in the concept files
//! beside this one (`jobs.rs`, `machines.rs`, …), which take a [`Tx`] and
//! fill [`Effects`].
//!
//! **Other daemons.** This process is not the only writer, so the
//! store's signals cannot come from its own commits alone. Every write
//! that changes something sends a `NOTIFY` after its commit (merged with
//! the other writes' by `notifier.rs`, which says why it is not sent in
//! the write's transaction) to every daemon listening (`listener.rs`),
//! and each daemon turns those into its local wake-ups, the commits
//! watch and its standing claims' next try (`claims.rs`). A daemon also
//! tells its own signals directly after its commits, so a lost listener
//! connection costs other daemons' promptness, never this one's; the
//! standing claims poll as a fallback while the listener is down.
//!
//! Migrations are `migrations/postgres/`, embedded, and applied at open
//! under sqlx's advisory lock, so two daemons starting together do not
//! apply them twice.

mod batch;
mod claims;
mod dependencies;
mod groups;
mod jobs;
mod listener;
mod machines;
mod metering;
mod notifier;
mod ops;
mod reports;
mod schedules;
mod tx;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::facts::Migrations;
use super::signals::Signals;
use super::{Cause, DatabaseUrl, StoreError, StoreOptions};
pub(super) use tx::{Effects, Tx};

/// The embedded PostgreSQL migrations.
pub static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections in the pool: the workers' steps, the standing claims, the
/// scheduler and the admin API's reads share them.
const POOL_SIZE: u32 = 16;

/// Connections of the standing claims' own pool: one per standing claim
/// that tries at once (a dispatcher has one).
const CLAIMS_POOL_SIZE: u32 = 2;

/// The PostgreSQL driver's side of a store handle. Cheap to clone.
#[derive(Clone)]
pub(in crate::store) struct PostgresDriver {
    /// Every read and write.
    pool: PgPool,
    /// The standing claims' own tries of the machines lane, each one
    /// statement that commits on its own: sessions with the planner
    /// settings a claim needs (`claims::PLANNED_SESSION`), which a
    /// statement cannot set for itself.
    claims_pool: PgPool,
    /// The store's signals, told after this daemon's commits and, through
    /// the listener, after other daemons'.
    signals: Arc<Signals>,
    /// The standing claims of this daemon and their wake-ups.
    claims: Arc<ops::Claims>,
    /// This store's id in its notes, so that its listener skips them.
    me: u64,
    /// Where plain submits and reports go to be written in batches;
    /// `None` in the batch writer's own handle, which writes alone.
    writes: Option<batch::Batcher>,
    /// The batch writer's task, stopped when the last handle goes.
    _batching: Option<Arc<batch::Batching>>,
    /// Sends this daemon's notes to the others after its commits.
    notifier: notifier::Notifier,
    /// The `NOTIFY` task, stopped when the last handle goes.
    _notifying: Arc<notifier::Notifying>,
    /// The `LISTEN` task, stopped when the last handle goes.
    _listener: Arc<listener::Listening>,
}

/// The database at `url` could not be reached or opened.
fn connect_error(url: &DatabaseUrl, e: impl std::fmt::Display) -> StoreError {
    StoreError::Connect {
        url: url.redacted(),
        detail: e.to_string(),
    }
}

/// The setting that names the daemon on each of its connections; the
/// history rows and firings they add name it (migration 0004).
const DAEMON_SETTING: &str = "machinist.daemon";

/// The connect options of `url`, with statement logging off (statements
/// carry job arguments), naming `daemon` on the connection when it is one's.
fn connect_options(
    url: &DatabaseUrl,
    daemon: Option<&str>,
) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(|e| connect_error(url, e))?
        .application_name("machinist")
        .disable_statement_logging();
    Ok(match daemon {
        Some(id) => options.options([(DAEMON_SETTING, id)]),
        None => options,
    })
}

/// Applies pending migrations and returns the versions applied.
pub(in crate::store) async fn migrate_postgres(url: &DatabaseUrl) -> Result<Vec<i64>, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(connect_options(url, None)?)
        .await
        .map_err(|e| connect_error(url, e))?;
    let applied = run_migrations(&pool).await;
    pool.close().await;
    applied
}

/// The versions of the migrations applied successfully, from sqlx's own
/// table (which a database never migrated lacks: an error).
const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success";

/// A daemon whose heartbeat is this recent is running (it beats every
/// third of `store.leader_lease`, at most 10 s apart).
const LIVE_WITHIN: Duration = Duration::from_secs(30);

async fn run_migrations(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let before: Vec<(i64,)> = sqlx::query_as(APPLIED)
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    check_schema(pool, &before).await?;
    PG_MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Migrate(Cause::new(e)))?;
    Ok(PG_MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| !before.iter().any(|(b,)| b == v))
        .collect())
}

/// Refuses a database that a newer machinist migrated (this binary would
/// misread it), and refuses to migrate one that daemons of an older schema
/// are still running on (the schema would change under them).
async fn check_schema(pool: &PgPool, applied: &[(i64,)]) -> Result<(), StoreError> {
    let ours = ops::schema_version();
    let newest = applied.iter().map(|(v,)| *v).max().unwrap_or(0);
    let live = |newer: bool| {
        let sql = format!(
            "SELECT host, pid, version FROM daemons WHERE stopped_at IS NULL \
             AND heartbeat_at > {} - $1 AND schema_version {} $2 ORDER BY host, pid",
            ops::NOW_MS,
            if newer { ">" } else { "<" }
        );
        async move {
            // A database from before the daemons table has no daemons to
            // name: the query fails, and the list is empty.
            let rows: Vec<(String, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(i64::try_from(LIVE_WITHIN.as_millis()).unwrap_or(i64::MAX))
                .bind(ours)
                .fetch_all(pool)
                .await
                .unwrap_or_default();
            rows.into_iter()
                .map(|(host, pid, version)| format!("{host} (pid {pid}, machinist {version})"))
                .collect::<Vec<_>>()
        }
    };
    if newest > ours {
        return Err(StoreError::SchemaNewer {
            found: newest,
            known: ours,
            by: live(true).await,
        });
    }
    let pending = PG_MIGRATOR
        .iter()
        .any(|m| !applied.iter().any(|(v,)| *v == m.version));
    if pending && !applied.is_empty() {
        let older = live(false).await;
        if !older.is_empty() {
            return Err(StoreError::SchemaInUse {
                found: newest,
                known: ours,
                by: older,
            });
        }
    }
    Ok(())
}

impl PostgresDriver {
    /// Connects, applies migrations and starts listening for the other
    /// daemons' commits.
    pub(in crate::store) async fn open(
        opts: &StoreOptions,
        url: &DatabaseUrl,
        signals: &Arc<Signals>,
    ) -> Result<PostgresDriver, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(opts.busy_timeout.max(Duration::from_secs(5)))
            .connect_with(connect_options(url, opts.daemon.as_deref())?)
            .await
            .map_err(|e| connect_error(url, e))?;
        let applied = run_migrations(&pool).await?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "applied database migrations");
        }
        let claims_pool = PgPoolOptions::new()
            .max_connections(CLAIMS_POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(opts.busy_timeout.max(Duration::from_secs(5)))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(claims::PLANNED_SESSION).execute(conn).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(connect_options(url, opts.daemon.as_deref())?);
        let claims = Arc::new(ops::Claims::default());
        // Never 0, which a note from before ids has.
        let me = rand::random::<u64>().max(1);
        let listening = listener::start(pool.clone(), signals.clone(), claims.clone(), me);
        let (notifier, notifying) = notifier::Notifier::start(pool.clone());
        let mut driver = PostgresDriver {
            pool,
            claims_pool,
            signals: signals.clone(),
            claims,
            me,
            writes: None,
            _batching: None,
            notifier,
            _notifying: Arc::new(notifying),
            _listener: Arc::new(listening),
        };
        let (batcher, batching) = batch::Batcher::start(driver.clone());
        driver.writes = Some(batcher);
        driver._batching = Some(Arc::new(batching));
        Ok(driver)
    }

    /// [`PG_MIGRATOR`]'s migrations that the database lacks, for readiness.
    pub(in crate::store) async fn migrations(&self) -> Result<Migrations, StoreError> {
        let applied: Vec<(i64,)> = sqlx::query_as(APPLIED).fetch_all(&self.pool).await?;
        Ok(Migrations {
            known: PG_MIGRATOR.iter().count(),
            missing: PG_MIGRATOR
                .iter()
                .map(|m| m.version)
                .filter(|v| !applied.iter().any(|(a,)| a == v))
                .collect(),
        })
    }

    /// Nothing to check: there is no file that could be moved away.
    pub(in crate::store) fn check_file(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Writes the one row of `write_probe`.
    pub(in crate::store) async fn probe_write(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO write_probe (id, probes) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET probes = write_probe.probes + 1",
        )
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Effects::default()).await
    }

    /// A SQLite-only test hook: PostgreSQL has no page cap to set.
    pub(in crate::store) async fn cap_pages(&self, _pages: Option<u32>) -> Result<(), StoreError> {
        Err(StoreError::Db(
            "a page cap is a SQLite test hook; PostgreSQL has none".into(),
        ))
    }
}
