//! The test-result service over real HTTP, on SQLite and PostgreSQL: upload rules, lookups, retention.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warnkit_service::server::{serve, shutdown_channel, ShutdownTrigger};
use warnkit_store::{unix_now, Db, PoolConfig};
use warnkit_testkit::{Engine, TestDb};
use warnkit_testresult::{TestResultConfig, TestResultService};

struct App {
    http: reqwest::Client,
    url: String,
    service: TestResultService,
    _stop: ShutdownTrigger,
    _db: TestDb,
}

impl App {
    async fn start(engine: Engine) -> Option<App> {
        let db = TestDb::new(engine)?;
        let pool = Db::open(
            &db.target("testresult"),
            PoolConfig::default(),
            &warnkit_testresult::MIGRATIONS,
        )
        .await
        .unwrap();
        let service = TestResultService::new(pool, TestResultConfig::default(), "svc".into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, shutdown) = shutdown_channel();
        tokio::spawn(serve(listener, service.router(), shutdown));
        Some(App {
            http: reqwest::Client::new(),
            url,
            service,
            _stop: stop,
            _db: db,
        })
    }

    async fn upload(&self, key: &str, body: Value) -> StatusCode {
        let url = format!("{}/api/v1/lab/results", self.url);
        self.http
            .post(url)
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn lookup(&self, id: &str) -> Value {
        let url = format!("{}/api/v1/app/result", self.url);
        let r = self
            .http
            .post(url)
            .bearer_auth("svc")
            .json(&json!({ "id": id }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Rows stored: a retention run far in the future deletes (and so counts) them all.
    async fn rows(&self) -> u64 {
        self.service
            .run_retention(unix_now() + 1000 * 86_400)
            .await
            .unwrap()
            .1
    }
}

async fn suite(app: App) {
    let key_a = app.service.create_lab_key("lab-a").await.unwrap();
    let key_b = app.service.create_lab_key("lab-b").await.unwrap();
    let id = "ab".repeat(32);
    let one = |r: i64| json!({"testResults": [{"id": id, "result": r, "sc": 1_700_000_000}]});

    // Unknown ids are pending and create no row.
    assert_eq!(app.lookup(&id).await["testResult"], 0);
    assert!(app.lookup(&id).await.get("labId").is_none());

    assert_eq!(app.upload(&key_a, one(1)).await, StatusCode::NO_CONTENT);
    let r = app.lookup(&id.to_uppercase()).await;
    assert_eq!(
        (
            r["testResult"].as_i64(),
            r["sc"].as_i64(),
            r["labId"].as_str()
        ),
        (Some(1), Some(1_700_000_000), Some("lab-a"))
    );
    // The same lab corrects its result; another lab cannot overwrite it.
    assert_eq!(app.upload(&key_a, one(2)).await, StatusCode::NO_CONTENT);
    assert_eq!(app.upload(&key_b, one(1)).await, StatusCode::NO_CONTENT);
    assert_eq!(app.lookup(&id).await["testResult"], 2);
    // labId, when given, must be the key's.
    let claimed = json!({"labId": "lab-b", "testResults": [{"id": id, "result": 1}]});
    assert_eq!(app.upload(&key_a, claimed).await, StatusCode::FORBIDDEN);

    // Retention: redeemed after 21 days (and then never overwritten), deleted after 60.
    app.service
        .backdate(&id, unix_now() - 22 * 86_400)
        .await
        .unwrap();
    assert_eq!(app.service.run_retention(unix_now()).await.unwrap(), (1, 0));
    assert_eq!(app.lookup(&id).await["testResult"], 4);
    assert_eq!(app.upload(&key_a, one(2)).await, StatusCode::NO_CONTENT);
    assert_eq!(app.lookup(&id).await["testResult"], 4);
    app.service
        .backdate(&id, unix_now() - 61 * 86_400)
        .await
        .unwrap();
    assert_eq!(app.service.run_retention(unix_now()).await.unwrap(), (0, 1));
    assert_eq!(app.lookup(&id).await["testResult"], 0);

    // A batch, with a DOB id and a default sc.
    let dob = format!("x{}", "c".repeat(63));
    let batch = json!({"labId": "lab-b", "testResults": [{"id": "d".repeat(64), "result": 3}, {"id": dob, "result": 2}]});
    assert_eq!(app.upload(&key_b, batch).await, StatusCode::NO_CONTENT);
    assert_eq!(app.lookup(&dob).await["testResult"], 2);
    assert!((app.lookup(&"d".repeat(64)).await["sc"].as_i64().unwrap() - unix_now()).abs() < 60);
    assert_eq!(app.rows().await, 2);

    // Lab keys are stored hashed: the database never holds the key itself.
    let stored: Vec<(String,)> = warnkit_store::on_pool!(app.service.db(), |pool| {
        sqlx::query_as("SELECT key_hash FROM lab_key")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert!(stored
        .iter()
        .all(|(h,)| h.len() == 64 && *h != key_a && *h != key_b));
    assert!(app.service.create_lab_key("bad lab").await.is_err());

    // Readiness follows the database.
    let ready = || async {
        app.http
            .get(format!("{}/ready", app.url))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, StatusCode::OK);
    app.service.db().close().await;
    assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn sqlite() {
    suite(App::start(Engine::Sqlite).await.unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    if let Some(app) = App::start(Engine::Postgres).await {
        suite(app).await;
    }
}
