//! The test's database: a SQLite file in its temp directory, or, when
//! `MACHINIST_TEST_POSTGRES` names a PostgreSQL server (the conformance
//! run: `.ci/run` sets it to `postgres://postgres@127.0.0.1:5432/test`), a
//! database of its own on that server, created for the test and dropped
//! after it. One suite, both drivers, as River runs one suite per driver.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use machinist::store::{DatabaseUrl, StoreOptions};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The variable that moves the suite onto PostgreSQL: the URL of a
/// database to connect to for creating and dropping the tests' own.
pub const POSTGRES_VAR: &str = "MACHINIST_TEST_POSTGRES";

/// The server's URL when the suite runs on PostgreSQL.
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_VAR).ok().filter(|v| !v.is_empty())
}

/// Whether the suite runs on PostgreSQL: SQLite-only tests (the file
/// lock, a moved file, a full disk) skip themselves.
pub fn on_postgres() -> bool {
    postgres_server().is_some()
}

/// For a test of the SQLite file itself (its lock, a removed file, a full
/// disk): says so and answers `true` on the PostgreSQL run, which skips it.
pub fn sqlite_only(test: &str) -> bool {
    if on_postgres() {
        eprintln!("{test}: tests the SQLite file; skipped on PostgreSQL");
        return true;
    }
    false
}

/// A test's database; a PostgreSQL one is dropped with it.
pub struct TestDatabase {
    /// How to open it.
    pub options: StoreOptions,
    /// The PostgreSQL server and the database's name, to drop it.
    dropped_by: Option<(String, String)>,
}

/// Database names unique within this process (with its pid, across the
/// processes nextest runs at once).
static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// A fresh database: the file `machinist.db` in `dir`, or a new
    /// PostgreSQL database.
    pub async fn create(dir: &Path) -> TestDatabase {
        let Some(server) = postgres_server() else {
            return TestDatabase {
                options: StoreOptions::new(dir.join("machinist.db")),
                dropped_by: None,
            };
        };
        let name = format!(
            "machinist_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_VAR}: cannot connect: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.ok();
        let mut url = url::Url::parse(&server).expect("a postgres:// URL");
        url.set_path(&name);
        TestDatabase {
            options: StoreOptions {
                path: dir.join("machinist.db"),
                ..StoreOptions::postgres(DatabaseUrl::new(url.to_string()))
            },
            dropped_by: Some((server, name)),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.dropped_by.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on a
        // future: a thread with a runtime of its own does it.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut admin = PgConnection::connect(&server).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await?;
                    admin.close().await
                })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test database: {e}");
        }
    }
}

/// A store opened on a fresh test database, with what keeps it alive.
pub struct Fixture {
    /// The temp directory (the SQLite file, sockets, other files).
    pub dir: tempfile::TempDir,
    /// The database, dropped after the test.
    pub database: TestDatabase,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(dir.path()).await;
        Fixture { dir, database }
    }

    /// How to open the store again (a restart).
    pub fn options(&self) -> machinist::store::StoreOptions {
        self.database.options.clone()
    }

    /// Opens the store (again).
    pub async fn open(&self) -> machinist::store::Store {
        machinist::store::Store::open(&self.options())
            .await
            .unwrap()
    }
}

/// A store on a fresh test database.
pub async fn open_store() -> (machinist::store::Store, Fixture) {
    let fixture = Fixture::new().await;
    (fixture.open().await, fixture)
}
