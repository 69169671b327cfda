//! Concurrency: one TAN verified by many at once, one GUID registered by many at once.

use reqwest::StatusCode;

use crate::harness::{new_guid, App};
use crate::on_both;

async fn one_tan_verified_once(app: App) {
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let token = app.register_guid(&guid).await.1.unwrap();
    let tan = app.get_tan(&token).await.1.unwrap();
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (app, tan) = (app.clone(), tan.clone());
            tokio::spawn(async move { app.verify(&tan).await.status() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::NOT_FOUND => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 1, "exactly one verification wins");
}
on_both!(one_tan_verified_once);

async fn one_guid_registers_once(app: App) {
    let guid = new_guid();
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, guid) = (app.clone(), guid.clone());
            tokio::spawn(async move { app.register_guid(&guid).await.0 })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 1, "exactly one registration token");
    assert_eq!(app.counts().await[0], 1);
}
on_both!(one_guid_registers_once);

async fn scheduled_jobs_run_once(app: App) {
    let db = app.vs.db();
    let nested = db
        .with_job_lock(42, async { db.with_job_lock(42, async {}).await.unwrap() })
        .await
        .unwrap();
    match db.backend() {
        // Another session (another copy of the service) is refused while the lock is held.
        warnkit_store::Backend::Postgres => assert_eq!(nested, Some(None)),
        warnkit_store::Backend::Sqlite => assert_eq!(nested, Some(Some(()))),
    }
    // Released afterwards.
    assert_eq!(db.with_job_lock(42, async { 1 }).await.unwrap(), Some(1));
}
on_both!(scheduled_jobs_run_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn teletan_limit_holds_under_concurrency() {
    let config = warnkit_verification::VerificationConfig {
        teletan_limit_per_hour: 10,
        ..Default::default()
    };
    for engine in [
        warnkit_testkit::Engine::Sqlite,
        warnkit_testkit::Engine::Postgres,
    ] {
        let Some(app) = App::start_with(engine, config.clone()).await else {
            continue;
        };
        let app = std::sync::Arc::new(app);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move { app.teletan(None).await.0 })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::CREATED => created += 1,
                StatusCode::TOO_MANY_REQUESTS => {}
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(created, 10, "{engine:?}");
        assert_eq!(app.counts().await[3], 10);
    }
}

async fn many_tans_verified_at_once(app: App) {
    // Verifications that arrive together are consumed together; each must still get its own answer.
    let mut tans = Vec::new();
    for _ in 0..30 {
        let guid = new_guid();
        app.lab_posts(&guid, 2).await;
        let token = app.register_guid(&guid).await.1.unwrap();
        tans.push(app.get_tan(&token).await.1.unwrap());
    }
    let unknown: Vec<String> = (0..30).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = tans
        .iter()
        .map(|t| (t.clone(), StatusCode::OK))
        .chain(unknown.iter().map(|t| (t.clone(), StatusCode::NOT_FOUND)))
        .map(|(tan, expected)| {
            let app = app.clone();
            tokio::spawn(async move { (app.verify(&tan).await.status(), expected) })
        })
        .collect();
    for t in tasks {
        let (status, expected) = t.await.unwrap();
        assert_eq!(status, expected);
    }
    for tan in &tans {
        assert_eq!(
            app.verify(tan).await.status(),
            StatusCode::NOT_FOUND,
            "used twice"
        );
    }
}
on_both!(many_tans_verified_at_once);
