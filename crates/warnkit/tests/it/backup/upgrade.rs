//! The upgrade test: a data directory written by the warnkit of an earlier commit (the fixture in
//! tests/fixtures/, see its README.md) opens under this one, migrates, and keeps its data.

use std::path::Path;

use serde_json::{json, Value};

use super::{copy_tree, files_under, path, start, Api};

/// The fixture: a data directory written by the warnkit of an earlier commit (see its README.md).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/datadir-977df57"
);

/// The migrations each service database has applied.
async fn applied(db: &Path) -> Vec<i64> {
    let db = warnkit_store::Db::connect_sqlite(db, warnkit_store::PoolConfig::default())
        .await
        .expect("open");
    let rows: Vec<(i64,)> = warnkit_store::on_pool!(&db, |pool| sqlx::query_as(
        "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
    )
    .fetch_all(pool)
    .await)
    .expect("query");
    db.close().await;
    rows.into_iter().map(|r| r.0).collect()
}

/// Moves every time column (`*_at`, `valid_from`, `valid_until`, `window_start`) of the databases in
/// `dir` forward by `seconds`. The fixture's rows carry the absolute times they were written at; moved by
/// the fixture's age they are as young as on the day it was made, so its TAN stays inside its 14-day
/// validity and its registration inside retention whenever this test runs.
async fn rebase_times(dir: &Path, seconds: i64) {
    for name in ["verification", "testresult", "portal", "submission"] {
        let db = warnkit_store::Db::connect_sqlite(
            &dir.join(format!("{name}.sqlite")),
            warnkit_store::PoolConfig::default(),
        )
        .await
        .expect("open");
        let warnkit_store::Db::Sqlite(pool) = &db else {
            unreachable!("an SQLite file");
        };
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '_sqlx_%'",
        )
        .fetch_all(pool)
        .await
        .expect("tables");
        for (table,) in tables {
            let columns: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(pool)
                    .await
                    .expect("columns");
            for (column,) in columns {
                let time = column.ends_with("_at")
                    || ["valid_from", "valid_until", "window_start"].contains(&column.as_str());
                if time {
                    sqlx::query(&format!(
                        "UPDATE \"{table}\" SET \"{column}\" = \"{column}\" + $1 WHERE \"{column}\" IS NOT NULL"
                    ))
                    .bind(seconds)
                    .execute(pool)
                    .await
                    .expect("rebase");
                }
            }
        }
        db.close().await;
    }
}

#[tokio::test]
async fn a_data_dir_of_an_earlier_release_migrates_and_keeps_its_data() {
    let fixture = Path::new(FIXTURE);
    let facts: Value =
        serde_json::from_slice(&std::fs::read(fixture.join("fixture.json")).expect("fixture.json"))
            .expect("json");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    copy_tree(&fixture.join("data"), &dir);
    let published = files_under(&dir.join("published"));
    assert!(published.len() > 10, "{} files", published.len());
    // The fixture predates this release's migrations: some are still to run.
    let current: Vec<i64> = warnkit_verification::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    let before = applied(&dir.join("verification.sqlite")).await;
    assert!(
        current.iter().any(|v| !before.contains(v)),
        "the fixture has every migration already: {before:?}"
    );
    let age = warnkit_store::unix_now() - facts["made_at"].as_i64().expect("made_at");
    rebase_times(&dir, age).await;

    // No distribution run: the published files are served as the earlier release wrote them.
    let config = tmp.path().join("warnkit.toml");
    std::fs::write(&config, "[distribution]\nschedule = false\n").expect("config");
    let (server, endpoints) = start(&dir, &["--config", path(&config)]);
    let api = Api {
        http: reqwest::Client::new(),
        endpoints,
    };
    for (rel, bytes) in &published {
        assert!(
            &api.published(rel).await == bytes,
            "{rel}: served bytes differ from the fixture's"
        );
    }
    // The outstanding TAN is accepted once, the registration still gives its second TAN, the lab key
    // still posts, the teleTAN still registers, and an upload with the new TAN is stored.
    let token = std::fs::read_to_string(dir.join("service-token")).expect("token");
    let tan = facts["tan"].as_str().expect("tan");
    assert_eq!(api.verify_tan(token.trim(), tan).await, 200);
    assert_eq!(api.verify_tan(token.trim(), tan).await, 404);
    let second = api
        .tan(facts["registration_token"].as_str().expect("token"))
        .await;
    let lab_key = facts["lab_key"].as_str().expect("lab key");
    api.post_positive(
        lab_key,
        &["D6E6F6A6-0000-4000-8000-000000000001".to_owned()],
    )
    .await;
    let r = api
        .http
        .post(format!(
            "{}/version/v1/registrationToken",
            api.url("verification")
        ))
        .header("cwa-fake", "0")
        .json(&json!({"keyType": "TELETAN", "key": facts["teletan"]}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let keys_before = count_keys(&dir).await;
    assert_eq!(api.upload(&second).await, 200);
    drop(server);
    assert_eq!(count_keys(&dir).await, keys_before + 1);

    // Every migration of this release ran on every service's database.
    let expected = [
        ("verification", &warnkit_verification::MIGRATIONS),
        ("testresult", &warnkit_testresult::MIGRATIONS),
        ("portal", &warnkit_portal::MIGRATIONS),
        ("submission", &warnkit_keystore::MIGRATOR),
    ];
    for (name, migrator) in expected {
        let want: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        let have = applied(&dir.join(format!("{name}.sqlite"))).await;
        assert_eq!(have, want, "{name}'s migrations");
    }
}

/// Diagnosis keys in the data directory's key store.
async fn count_keys(dir: &Path) -> i64 {
    let db = warnkit_store::Db::connect_sqlite(
        &dir.join("submission.sqlite"),
        warnkit_store::PoolConfig::default(),
    )
    .await
    .expect("open");
    let (n,): (i64,) = warnkit_store::on_pool!(&db, |pool| sqlx::query_as(
        "SELECT COUNT(*) FROM diagnosis_key"
    )
    .fetch_one(pool)
    .await)
    .expect("count");
    db.close().await;
    n
}
