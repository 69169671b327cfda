//! Database connections for the warnkit services: SQLite (the embedded default) or PostgreSQL (for scale).
//!
//! The services write their SQL once, in the subset both engines understand (`TEXT`, `BIGINT`, `$n` binds,
//! `ON CONFLICT`, `RETURNING`), and run it through [`on_pool!`], which expands the same query code for
//! whichever pool a [`Db`] holds. There is no `AnyPool`: each engine keeps its native types and drivers.
//!
//! Each service owns its data: on SQLite a file of its own, on PostgreSQL a schema of its own (selected per
//! connection through `search_path`), so one PostgreSQL database can host every service of a deployment.

pub mod audit;
pub mod backup;
pub mod batch;
mod lock;
pub mod owner_only;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use lock::{FileLock, InstanceLock};
pub use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
pub use sqlx::{PgPool, SqlitePool};

/// Errors of this crate are sqlx's: callers map them to their own error type.
pub type StoreResult<T> = Result<T, sqlx::Error>;

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL schema.
    Postgres,
}

impl Backend {
    /// Lowercase name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool to one service's database.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite, one file per service.
    Sqlite(SqlitePool),
    /// PostgreSQL, one schema per service.
    Postgres(PgPool),
}

/// Runs the same block against whichever pool `db` holds: `on_pool!(db, |pool| query.execute(pool).await)`.
///
/// The block is compiled once per engine, so binds and row types are checked for both.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// How to reach a service's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// An SQLite file (created if missing).
    SqliteFile(std::path::PathBuf),
    /// A PostgreSQL URL and the schema inside it that this service owns.
    Postgres {
        /// `postgres://...` connection URL.
        url: String,
        /// Schema name (`[a-z_][a-z0-9_]*`), created if missing.
        schema: String,
    },
}

/// Pool sizing; the defaults suit two cores.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Upper bound of open connections.
    pub max_connections: u32,
    /// How long a request may wait for a connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Opens (and creates, if needed) the database `target` names, then applies `migrations`.
    pub async fn open(
        target: &DbTarget,
        pool: PoolConfig,
        migrations: &Migrator,
    ) -> StoreResult<Db> {
        let db = match target {
            DbTarget::SqliteFile(path) => Db::connect_sqlite(path, pool).await?,
            DbTarget::Postgres { url, schema } => Db::connect_postgres(url, schema, pool).await?,
        };
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// Opens an SQLite file in WAL mode, creating it and its directory if missing, owner-only
    /// ([`owner_only`]: the file 0600, and so its `-wal` and `-shm`; new directories 0700).
    pub async fn connect_sqlite(path: &Path, pool: PoolConfig) -> StoreResult<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::create_dir_all(dir)?;
        }
        // Created here rather than by SQLite, which would give it 0644 less the umask; an empty file is
        // an empty database to SQLite.
        owner_only::create_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable across application crashes; only an OS crash may lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            // Writers queue on SQLite's single write lock; this is how long one waits before giving up.
            .busy_timeout(Duration::from_secs(30))
            // Statement journals (a multi-row insert inside a transaction keeps one, to undo just that
            // statement) stay in memory: on a file they spilled to disk past 64 KiB, and a key batch's
            // journal did, at about a tenth of the key writer's time.
            .pragma("temp_store", "memory")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            // A ping before every checkout is one more trip to the connection's thread per query; a
            // local file does not go stale the way a network connection can.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Db::Sqlite(pool))
    }

    /// Connects to PostgreSQL with `search_path` set to `schema` on every connection, creating the schema.
    pub async fn connect_postgres(url: &str, schema: &str, pool: PoolConfig) -> StoreResult<Db> {
        if !valid_schema_name(schema) {
            return Err(sqlx::Error::Configuration(
                format!("invalid schema name {schema:?}").into(),
            ));
        }
        let base = PgConnectOptions::from_str(url)?;
        create_schema(&base, schema).await?;
        let options = base.options([("search_path", schema)]);
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Db::Postgres(pool))
    }

    /// Applies the pending embedded migrations (each schema or file keeps its own migration table).
    pub async fn migrate(&self, migrations: &Migrator) -> StoreResult<()> {
        on_pool!(self, |pool| migrations.run(pool).await)?;
        Ok(())
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// A round trip to the database, for readiness probes.
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Closes every connection, waiting for checked-out ones to come back.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// Whether the error is a unique-constraint violation (a concurrent duplicate insert), on either engine.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Whether the error says the database cannot be used right now (unreachable, restarting, out of
/// connections, locked for longer than the busy timeout) rather than that the request or the code is wrong:
/// the caller answers 503 and the client retries, and the connection it came from is not used again.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08), operator intervention such as a shutdown or a
            // restart (57P0x), too many connections (53300). SQLite: busy or locked (5, 6).
            code.starts_with("08")
                || code.starts_with("57P")
                || code == "53300"
                || code == "5"
                || code == "6"
        }),
        _ => false,
    }
}

/// A copy of `err` for each of several callers that waited on one statement (`sqlx::Error` is not
/// `Clone`), prefixed with `context`; what [`is_unavailable`] says of `err` it says of the copy.
pub fn share_error(err: &sqlx::Error, context: &str) -> sqlx::Error {
    match err {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        other if is_unavailable(other) => {
            sqlx::Error::Io(std::io::Error::other(format!("{context}: {other}")))
        }
        other => sqlx::Error::Protocol(format!("{context}: {other}")),
    }
}

/// Schema names are interpolated into DDL, so only plain lowercase identifiers are accepted.
pub fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

async fn create_schema(base: &PgConnectOptions, schema: &str) -> StoreResult<()> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = base.connect().await?;
    let ddl = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    // Two services starting at once may both try; IF NOT EXISTS still races in PostgreSQL's catalog, so a
    // duplicate error is taken as success after checking the schema is really there.
    if let Err(err) = sqlx::query(&ddl).execute(&mut conn).await {
        let exists: Option<(String,)> = sqlx::query_as(
            "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name = $1",
        )
        .bind(schema)
        .fetch_optional(&mut conn)
        .await?;
        if exists.is_none() {
            return Err(err);
        }
    }
    conn.close().await?;
    Ok(())
}

/// Seconds since the Unix epoch, the time unit of every timestamp column.
pub fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    // A clock before 1970 is a broken machine; 0 keeps comparisons well-defined rather than panicking.
    now.map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_keep_statement_journals_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect_sqlite(&dir.path().join("t.sqlite"), PoolConfig::default())
            .await
            .expect("open");
        let Db::Sqlite(pool) = &db else {
            panic!("an SQLite pool")
        };
        // 2 is MEMORY: every pooled connection got the pragma, not only the first (held at once, so
        // they are three connections).
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = pool.acquire().await.expect("connection");
            let (mode,): (i64,) = sqlx::query_as("PRAGMA temp_store")
                .fetch_one(&mut *conn)
                .await
                .expect("pragma");
            assert_eq!(mode, 2);
            held.push(conn);
        }
    }

    #[test]
    fn outages_are_told_from_bugs_and_stay_so_when_shared() {
        let refused =
            || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        for err in [
            refused(),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
        ] {
            assert!(is_unavailable(&err), "{err}");
            let shared = share_error(&err, "storing keys");
            assert!(is_unavailable(&shared), "{shared}");
        }
        for err in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("bad".into()),
        ] {
            assert!(!is_unavailable(&err), "{err}");
            let shared = share_error(&err, "storing keys");
            assert!(!is_unavailable(&shared));
            assert!(shared.to_string().contains("storing keys"), "{shared}");
        }
        let shared = share_error(&refused(), "storing keys");
        assert!(shared.to_string().contains("storing keys"), "{shared}");
    }

    #[test]
    fn schema_names() {
        assert!(valid_schema_name("verification"));
        assert!(valid_schema_name("_x1"));
        assert!(!valid_schema_name("1x"));
        assert!(!valid_schema_name("a\"b"));
        assert!(!valid_schema_name("Verification"));
        assert!(!valid_schema_name(""));
    }

    /// The database file and the `-wal` and `-shm` files SQLite makes beside it are the owner's only,
    /// though this process's umask (usually 022) would let SQLite make them readable by everyone.
    #[cfg(unix)]
    #[tokio::test]
    async fn sqlite_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data/service.sqlite");
        let db = Db::connect_sqlite(&path, PoolConfig::default())
            .await
            .unwrap();
        on_pool!(&db, |pool| sqlx::query(
            "CREATE TABLE t (x BIGINT); INSERT INTO t VALUES (1)"
        )
        .execute(pool)
        .await
        .map(drop))
        .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.path().join("data")), 0o700);
        for suffix in ["", "-wal", "-shm"] {
            let file = root.path().join(format!("data/service.sqlite{suffix}"));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        db.close().await;
    }
}
