//! An upload is all or nothing from the phone's view: when anything fails after the TAN was spent, the same
//! upload with the same TAN succeeds, and no other payload can use the TAN.

use reqwest::StatusCode;
use warnkit_store::Db;

use crate::harness::{body_json, payload, today, App};
use crate::on_both;

/// Makes the key table refuse every insert (`true`) or accept them again (`false`), as a database in
/// trouble would: a real error from the engine, after the TAN check.
async fn refuse_inserts(app: &App, refuse: bool) {
    match app.submission.store().db() {
        Db::Sqlite(pool) => {
            let sql = if refuse {
                "CREATE TRIGGER injected_fault BEFORE INSERT ON diagnosis_key \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            } else {
                "DROP TRIGGER injected_fault"
            };
            sqlx::query(sql).execute(pool).await.expect("trigger");
        }
        Db::Postgres(pool) => {
            let statements: &[&str] = if refuse {
                &[
                    "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
                    "CREATE TRIGGER injected_fault BEFORE INSERT ON diagnosis_key \
                     FOR EACH ROW EXECUTE FUNCTION injected_fault()",
                ]
            } else {
                &[
                    "DROP TRIGGER injected_fault ON diagnosis_key",
                    "DROP FUNCTION injected_fault()",
                ]
            };
            for sql in statements {
                sqlx::query(sql).execute(pool).await.expect("trigger");
            }
        }
    }
}

async fn a_failed_store_leaves_the_tan_for_the_same_upload(app: App) {
    let tan = app.tan().await;
    let upload = payload(today(&app), 5);

    refuse_inserts(&app, true).await;
    let r = app.submit(&upload, &tan).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(app.stored().await, 0);
    refuse_inserts(&app, false).await;

    // The retry carries new padding, as the app draws it for every request: still the same upload.
    let mut retry = upload.clone();
    retry.request_padding = Some(vec![7; 321]);
    assert_eq!(app.submit(&retry, &tan).await.status(), StatusCode::OK);
    assert_eq!(app.stored().await, 5);
    // Once more (an answer lost on the way): 200 again, nothing stored twice.
    assert_eq!(app.submit(&upload, &tan).await.status(), StatusCode::OK);
    assert_eq!(app.stored().await, 5);

    // Another payload cannot use the TAN, not even the same keys with one changed.
    let mut changed = upload.clone();
    changed.keys[0].transmission_risk_level =
        Some(8 - upload.keys[0].transmission_risk_level.unwrap_or(0));
    for other in [payload(today(&app), 2), changed] {
        let (status, body) = body_json(app.submit(&other, &tan).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"], "invalid_tan");
    }
    // Nor a check that names no payload.
    assert_eq!(app.verify(&tan, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.stored().await, 5);
}
on_both!(a_failed_store_leaves_the_tan_for_the_same_upload);

/// A database restart drops every open connection; the first upload after it still succeeds at once
/// (the key writer reconnects and writes again; the pools test connections before handing them out).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_upload_after_a_database_restart_succeeds() {
    let Some(app) = App::start(warnkit_testkit::Engine::Postgres).await else {
        return;
    };
    let first = app.tan().await;
    let second = app.tan().await;
    assert_eq!(
        app.submit(&payload(today(&app), 3), &first).await.status(),
        StatusCode::OK
    );
    let Db::Postgres(pool) = app.submission.store().db() else {
        unreachable!("a PostgreSQL test")
    };
    // What a restart does to this database's sessions: every one but this is terminated.
    let mut admin = pool.acquire().await.expect("connection");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut *admin)
    .await
    .expect("terminate");
    drop(admin);
    assert!(
        killed.len() >= 2,
        "the writer's and the pools' sessions: {killed:?}"
    );
    assert_eq!(
        app.submit(&payload(today(&app), 4), &second).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.stored().await, 7);
}
