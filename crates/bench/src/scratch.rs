//! Where a benchmark's databases live: the tests' own scratch database, removed afterwards.

use warnkit_node::config::Config;
use warnkit_store::{Db, DbTarget};
use warnkit_testkit::TestDb;

/// Where a benchmark's databases live (SQLite files in a fresh directory, or a fresh database on the
/// PostgreSQL server at `url`): the tests' own scratch database, removed when this drops.
pub(crate) struct Scratch {
    /// The directory of the SQLite files (and of the services' data directory).
    pub(crate) dir: std::path::PathBuf,
    db: TestDb,
}

impl Scratch {
    /// Scratch space for the benchmark `bench`: a directory, and on PostgreSQL a database of its own
    /// (the role needs `CREATEDB`), so runs side by side do not meet.
    pub(crate) fn new(bench: &str, url: Option<String>) -> anyhow::Result<Self> {
        let db = TestDb::scratch(url.as_deref())
            .map_err(|e| anyhow::anyhow!("scratch database of bench {bench}: {e}"))?;
        Ok(Self {
            dir: db.dir().to_owned(),
            db,
        })
    }

    /// Where the database `name` lives.
    pub(crate) fn target(&self, name: &str) -> DbTarget {
        self.db.target(name)
    }

    /// A node configuration over this scratch space: data directory and database.
    pub(crate) fn config(&self) -> Config {
        Config::at(&self.dir, self.db.postgres_url())
    }

    /// Closes `db`, the benchmark's last pool; the data itself goes when the scratch space drops.
    pub(crate) async fn remove(&self, db: &Db) {
        db.close().await;
    }
}
