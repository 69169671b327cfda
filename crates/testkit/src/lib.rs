//! Test harness shared by the service crates: a fresh database per test, on SQLite and on a real PostgreSQL,
//! and private PostgreSQL clusters. It knows no service: a test that needs running services starts them
//! with the node builder (`warnkit_node`), so that no service crate's tests depend on a crate that depends
//! on that service through this one. The benchmarks' scratch databases are these too
//! ([`TestDb::scratch`]).
//!
//! PostgreSQL is found in this order: `WARNKIT_TEST_PG_URL`, then 127.0.0.1:5432 as user `postgres` or
//! `root`, then a throwaway cluster started from the machine's `initdb`/`pg_ctl` (stopped when the test
//! process exits). Each test gets its own database with a random name, dropped when its handle drops.
//! With `CI=true`, no PostgreSQL is a test failure; otherwise tests skip with a loud line on stderr.

pub mod cluster;

use std::str::FromStr;
use std::sync::OnceLock;

pub use cluster::Cluster;
use rand::Rng;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
pub use warnkit_store::DbTarget;

/// The engines a shared test suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on a real PostgreSQL server.
    Postgres,
}

/// A database for one test; dropping it removes the data (SQLite directory or PostgreSQL database).
#[derive(Debug)]
pub struct TestDb {
    engine: Engine,
    dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

impl TestDb {
    /// A fresh database on `engine`, or `None` when PostgreSQL is unavailable outside CI (after a loud line).
    ///
    /// # Panics
    /// When PostgreSQL is unavailable and `CI=true`: CI must never pass by skipping.
    pub fn new(engine: Engine) -> Option<TestDb> {
        let dir = tempfile::Builder::new()
            .prefix("warnkit-test-")
            .tempdir()
            .expect("creating a temporary directory for a test");
        let pg = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(PgDatabase::create()?),
        };
        Some(TestDb { engine, dir, pg })
    }

    /// A fresh scratch database for a benchmark: SQLite files in a new directory when `server` is
    /// `None`, else a database of its own on the PostgreSQL server at `server` (any database URL of it;
    /// the role needs `CREATEDB`). Both are removed when the handle drops.
    pub fn scratch(server: Option<&str>) -> Result<TestDb, String> {
        let dir = tempfile::Builder::new()
            .prefix("warnkit-scratch-")
            .tempdir()
            .map_err(|e| format!("creating a scratch directory: {e}"))?;
        let (engine, pg) = match server {
            None => (Engine::Sqlite, None),
            Some(url) => (Engine::Postgres, Some(PgDatabase::create_on(url)?)),
        };
        Ok(TestDb { engine, dir, pg })
    }

    /// Which engine this database is on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A scratch directory that lives as long as this handle (data dir for services under test).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Where service `name` keeps its data: `<dir>/<name>.sqlite`, or schema `name` in the test database.
    pub fn target(&self, name: &str) -> DbTarget {
        match &self.pg {
            None => DbTarget::SqliteFile(self.dir.path().join(format!("{name}.sqlite"))),
            Some(pg) => DbTarget::Postgres {
                url: pg.url.clone(),
                schema: name.to_owned(),
            },
        }
    }

    /// The PostgreSQL URL of this test's database, if on PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.url.as_str())
    }
}

/// A database with a random name on the test PostgreSQL server, dropped (forcefully) on drop.
#[derive(Debug)]
pub struct PgDatabase {
    /// URL of the database itself.
    pub url: String,
    name: String,
    server: String,
}

impl PgDatabase {
    /// Creates a fresh database; `None` (after a loud line) when no PostgreSQL is available outside CI.
    ///
    /// # Panics
    /// When PostgreSQL is unavailable and `CI=true`, or when the server refuses `CREATE DATABASE`.
    pub fn create() -> Option<PgDatabase> {
        let server = match postgres_server() {
            Ok(server) => server,
            Err(why) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true and no PostgreSQL for the tests: {why}");
                }
                eprintln!(
                    "!!!!! SKIPPING a PostgreSQL test: no PostgreSQL available ({why}) !!!!!"
                );
                return None;
            }
        };
        Some(Self::create_on(server).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Creates a fresh database on the server at `server` (a URL of any database there).
    pub fn create_on(server: &str) -> Result<PgDatabase, String> {
        let name = format!("warnkit_test_{:016x}", rand::thread_rng().gen::<u64>());
        let sql = format!("CREATE DATABASE \"{name}\"");
        admin(server, &sql).map_err(|e| format!("creating database {name}: {e}"))?;
        let url = with_database(server, &name);
        Ok(PgDatabase {
            url,
            name,
            server: server.to_owned(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, &sql) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// Runs one statement against the server's `postgres` database, on a thread of its own so that it works
/// from inside an async test as well as from `Drop`.
fn admin(server: &str, sql: &str) -> Result<(), String> {
    let (server, sql) = (server.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let opts = PgConnectOptions::from_str(&server).map_err(|e| e.to_string())?;
            let mut conn = opts.connect().await.map_err(|e| e.to_string())?;
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_owned())?
}

fn with_database(server: &str, name: &str) -> String {
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    format!("{base}/{name}")
}

/// The URL of a PostgreSQL server's `postgres` database, found once per test process.
pub fn postgres_server() -> Result<&'static String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER
        .get_or_init(find_server)
        .as_ref()
        .map_err(Clone::clone)
}

fn find_server() -> Result<String, String> {
    let mut candidates = Vec::new();
    if let Ok(url) = std::env::var("WARNKIT_TEST_PG_URL") {
        candidates.push(url);
    }
    if std::env::var("WARNKIT_TEST_PG_THROWAWAY").is_err() {
        candidates.push("postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        candidates.push("postgres://root@127.0.0.1:5432/postgres".to_owned());
    }
    let mut errors = Vec::new();
    for url in candidates {
        match admin(&url, "SELECT 1") {
            Ok(()) => return Ok(url),
            Err(e) => errors.push(e),
        }
    }
    cluster::start_throwaway(|url| admin(url, "SELECT 1")).map_err(|e| {
        errors.push(e);
        errors.join("; ")
    })
}

/// A listener on 127.0.0.1 with a free port, and its URL.
///
/// # Panics
/// When no port can be bound.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("a bound address"));
    (listener, url)
}

/// Runs `suite` on SQLite and then on PostgreSQL (when available), each time on a fresh database.
pub async fn on_both<F, Fut>(suite: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for engine in [Engine::Sqlite, Engine::Postgres] {
        if let Some(db) = TestDb::new(engine) {
            suite(db).await;
        }
    }
}

/// Expands `async fn suite(app: App)` into one test per engine, `sqlite` and `postgres`, in a module
/// named after the suite. `App::start(Engine)` returns `None` when PostgreSQL is unavailable outside CI.
#[macro_export]
macro_rules! suite_on_both_engines {
    ($suite:ident, $app:ty, $threads:literal) => {
        mod $suite {
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn sqlite() {
                if let Some(app) = <$app>::start($crate::Engine::Sqlite).await {
                    super::$suite(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn postgres() {
                if let Some(app) = <$app>::start($crate::Engine::Postgres).await {
                    super::$suite(app).await;
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_database_goes_when_its_handle_drops() {
        let sqlite = TestDb::scratch(None).unwrap();
        assert_eq!(sqlite.engine(), Engine::Sqlite);
        let dir = sqlite.dir().to_owned();
        assert_eq!(
            sqlite.target("keys"),
            DbTarget::SqliteFile(dir.join("keys.sqlite"))
        );
        drop(sqlite);
        assert!(!dir.exists());
        let Ok(server) = postgres_server() else {
            return;
        };
        let pg = TestDb::scratch(Some(server)).unwrap();
        let url = pg.postgres_url().unwrap().to_owned();
        assert_ne!(&url, server);
        admin(&url, "SELECT 1").unwrap();
        drop(pg);
        assert!(admin(&url, "SELECT 1").is_err(), "the database is dropped");
    }
}
