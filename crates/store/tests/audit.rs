//! The audit trail on SQLite and PostgreSQL: rows written with `record` come back from `list` in time
//! order, filtered by time, actor and action, and limited to the newest; the table is the one every
//! service's migration creates.

use warnkit_store::audit::{self, AuditEntry, Filter};
use warnkit_store::{on_pool, Db, PoolConfig};
use warnkit_testkit::{on_both, TestDb};

/// The migration that creates `audit_log`, the same file in each service crate.
const MIGRATIONS: [&str; 4] = [
    include_str!("../../portal/migrations/0004_audit_log.sql"),
    include_str!("../../testresult/migrations/0002_audit_log.sql"),
    include_str!("../../verification/migrations/0004_audit_log.sql"),
    include_str!("../../keystore/migrations/0002_audit_log.sql"),
];

async fn open(test: &TestDb) -> Db {
    let db = match test.target("audit") {
        warnkit_store::DbTarget::SqliteFile(path) => {
            Db::connect_sqlite(&path, PoolConfig::default()).await
        }
        warnkit_store::DbTarget::Postgres { url, schema } => {
            Db::connect_postgres(&url, &schema, PoolConfig::default()).await
        }
    }
    .expect("connect");
    on_pool!(&db, |pool| sqlx::raw_sql(MIGRATIONS[0])
        .execute(pool)
        .await
        .map(drop))
    .expect("create audit_log");
    db
}

fn names(rows: &[AuditEntry]) -> Vec<(&str, &str, &str)> {
    rows.iter()
        .map(|r| (r.actor.as_str(), r.action.as_str(), r.subject.as_str()))
        .collect()
}

#[test]
fn every_service_creates_the_same_table() {
    for sql in &MIGRATIONS[1..] {
        assert_eq!(*sql, MIGRATIONS[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_come_back_in_time_order_and_filtered() {
    on_both(|test| async move {
        let db = open(&test).await;
        // Written out of order: list sorts by time, not by insertion.
        let rows = [
            (3_000, "cli:root", "user.disable", "ann"),
            (1_000, "ann", "portal.sign-in", "password+totp"),
            (2_000, "ann", "teletan.issue", "TEST"),
            (
                4_000,
                "(unknown)",
                "portal.sign-in-refused",
                "wrong user name or password",
            ),
            (5_000, "cli:root", "users.oops", "x"),
        ];
        for (at, actor, action, subject) in rows {
            audit::record_at(&db, at, actor, action, subject)
                .await
                .unwrap();
        }
        let all = audit::list(&db, &Filter::default()).await.unwrap();
        let times: Vec<i64> = all.iter().map(|r| r.at_micros).collect();
        assert_eq!(times, [1_000, 2_000, 3_000, 4_000, 5_000]);
        assert_eq!(names(&all)[1], ("ann", "teletan.issue", "TEST"));

        let ann = Filter {
            actor: Some("ann".into()),
            ..Filter::default()
        };
        let got = audit::list(&db, &ann).await.unwrap();
        assert_eq!(
            names(&got),
            [
                ("ann", "portal.sign-in", "password+totp"),
                ("ann", "teletan.issue", "TEST")
            ]
        );

        // An action filter matches the action or its dotted area, never a longer word.
        let area = Filter {
            action: Some("user".into()),
            ..Filter::default()
        };
        let got = audit::list(&db, &area).await.unwrap();
        assert_eq!(names(&got), [("cli:root", "user.disable", "ann")]);
        let exact = Filter {
            action: Some("portal.sign-in".into()),
            ..Filter::default()
        };
        let got = audit::list(&db, &exact).await.unwrap();
        assert_eq!(got.len(), 1, "{got:?}");

        let since = Filter {
            since_micros: Some(3_000),
            ..Filter::default()
        };
        let got = audit::list(&db, &since).await.unwrap();
        assert_eq!(got.first().map(|r| r.at_micros), Some(3_000));
        assert_eq!(got.len(), 3);

        // A limit keeps the newest rows, still oldest first.
        let newest = Filter {
            limit: Some(2),
            ..Filter::default()
        };
        let got = audit::list(&db, &newest).await.unwrap();
        let times: Vec<i64> = got.iter().map(|r| r.at_micros).collect();
        assert_eq!(times, [4_000, 5_000]);

        let combined = Filter {
            since_micros: Some(1_500),
            actor: Some("cli:root".into()),
            action: Some("user".into()),
            limit: Some(10),
        };
        let got = audit::list(&db, &combined).await.unwrap();
        assert_eq!(names(&got), [("cli:root", "user.disable", "ann")]);
        db.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_stamps_the_current_time() {
    on_both(|test| async move {
        let db = open(&test).await;
        let before = audit::now_micros();
        audit::record(&db, "cli:root", "lab-key.revoke", "lab-1 key 0123456789ab")
            .await
            .unwrap();
        let after = audit::now_micros();
        let rows = audit::list(&db, &Filter::default()).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(
            (before..=after).contains(&rows[0].at_micros),
            "{before} <= {} <= {after}",
            rows[0].at_micros
        );
        assert_eq!(
            names(&rows),
            [("cli:root", "lab-key.revoke", "lab-1 key 0123456789ab")]
        );
        db.close().await;
    })
    .await;
}
