//! The test-result service over real HTTP, on SQLite and PostgreSQL: upload rules, lookups, retention,
//! for PCR and for rapid tests.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warnkit_service::auth::sha256_hex;
use warnkit_service::server::{serve, shutdown_channel, ShutdownTrigger};
use warnkit_service::Clock;
use warnkit_store::{Db, PoolConfig};
use warnkit_testkit::{Engine, TestDb};
use warnkit_testresult::{TestResultConfig, TestResultService};

/// Where the service's manual clock starts: after every `sc` the tests send.
const T0: i64 = 1_750_000_000;

struct App {
    http: reqwest::Client,
    url: String,
    service: TestResultService,
    /// The service's clock, moved by the tests instead of waiting (or backdating rows).
    clock: Clock,
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
        let clock = Clock::manual(T0);
        let service = TestResultService::new(pool, TestResultConfig::default(), "svc".into())
            .with_clock(clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, shutdown) = shutdown_channel();
        tokio::spawn(serve(listener, service.router(), shutdown));
        Some(App {
            http: reqwest::Client::new(),
            url,
            service,
            clock,
            _stop: stop,
            _db: db,
        })
    }

    async fn upload(&self, key: &str, body: Value) -> StatusCode {
        self.upload_to("/api/v1/lab/results", key, body).await
    }

    async fn upload_to(&self, path: &str, key: &str, body: Value) -> StatusCode {
        let url = format!("{}{path}", self.url);
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
            .run_retention(self.clock.now() + 1000 * 86_400)
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

    // Retention: redeemed after 21 days (and then never overwritten), deleted after 60, counted from the
    // first upload.
    app.clock.advance(21 * 86_400);
    assert_eq!(
        app.service.run_retention(app.clock.now()).await.unwrap(),
        (0, 0)
    );
    app.clock.advance(86_400);
    assert_eq!(
        app.service.run_retention(app.clock.now()).await.unwrap(),
        (1, 0)
    );
    assert_eq!(app.lookup(&id).await["testResult"], 4);
    assert_eq!(app.upload(&key_a, one(2)).await, StatusCode::NO_CONTENT);
    assert_eq!(app.lookup(&id).await["testResult"], 4);
    app.clock.advance(38 * 86_400);
    assert_eq!(
        app.service.run_retention(app.clock.now()).await.unwrap(),
        (0, 0)
    );
    app.clock.advance(86_400);
    assert_eq!(
        app.service.run_retention(app.clock.now()).await.unwrap(),
        (0, 1)
    );
    assert_eq!(app.lookup(&id).await["testResult"], 0);

    // A batch, with a DOB id and a default sc.
    let dob = format!("x{}", "c".repeat(63));
    let batch = json!({"labId": "lab-b", "testResults": [{"id": "d".repeat(64), "result": 3}, {"id": dob, "result": 2}]});
    assert_eq!(app.upload(&key_b, batch).await, StatusCode::NO_CONTENT);
    assert_eq!(app.lookup(&dob).await["testResult"], 2);
    assert_eq!(
        app.lookup(&"d".repeat(64)).await["sc"].as_i64(),
        Some(app.clock.now()),
        "a missing sc is the upload's time"
    );
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

async fn rapid_tests(app: App) {
    const QUICK: &str = "/api/v1/quicktest/results";
    let key_a = app.service.create_lab_key("lab-a").await.unwrap();
    let key_b = app.service.create_lab_key("lab-b").await.unwrap();
    // The hash in the QR code as the centre sends it, and what the phone registers: its SHA-256.
    let qr_hash = "5e".repeat(32);
    let registered = sha256_hex(&qr_hash);
    let one = |r: i64| json!({"labId": "lab-a", "testResults": [{"id": qr_hash, "result": r, "sc": 1_700_000_000}]});

    for result in [5, 6, 8, 7] {
        assert_eq!(
            app.upload_to(QUICK, &key_a, one(result)).await,
            StatusCode::NO_CONTENT
        );
        let r = app.lookup(&registered).await;
        assert_eq!(
            (
                r["testResult"].as_i64(),
                r["sc"].as_i64(),
                r["labId"].as_str()
            ),
            (Some(result), Some(1_700_000_000), Some("lab-a"))
        );
    }
    // Stored under the hash of the id only: the id itself is unknown.
    assert_eq!(app.lookup(&qr_hash).await["testResult"], 0);
    // The routes keep their codes apart.
    assert_eq!(
        app.upload_to(QUICK, &key_a, one(2)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.upload(&key_a, one(7)).await, StatusCode::BAD_REQUEST);
    // Another centre cannot overwrite it.
    let other = json!({"testResults": [{"id": qr_hash, "result": 6}]});
    assert_eq!(
        app.upload_to(QUICK, &key_b, other).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.lookup(&registered).await["testResult"], 7);

    // Retention: a rapid result becomes rapid-test redeemed (9), a PCR result redeemed (4); neither is
    // overwritten afterwards.
    let pcr = "0c".repeat(32);
    let pcr_result = json!({"testResults": [{"id": pcr, "result": 2}]});
    assert_eq!(app.upload(&key_a, pcr_result).await, StatusCode::NO_CONTENT);
    app.clock.advance(22 * 86_400);
    assert_eq!(
        app.service.run_retention(app.clock.now()).await.unwrap(),
        (2, 0)
    );
    assert_eq!(app.lookup(&registered).await["testResult"], 9);
    assert_eq!(app.lookup(&pcr).await["testResult"], 4);
    assert_eq!(
        app.service.run_retention(app.clock.now()).await.unwrap(),
        (0, 0)
    );
    assert_eq!(
        app.upload_to(QUICK, &key_a, one(7)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.lookup(&registered).await["testResult"], 9);
    // A centre may post 9 itself, and it stays.
    let fresh = "7a".repeat(32);
    let post = |r: i64| json!({"testResults": [{"id": fresh, "result": r}]});
    assert_eq!(
        app.upload_to(QUICK, &key_a, post(9)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.upload_to(QUICK, &key_a, post(7)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.lookup(&sha256_hex(&fresh)).await["testResult"], 9);
    assert_eq!(app.rows().await, 3);
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

#[tokio::test]
async fn rapid_sqlite() {
    rapid_tests(App::start(Engine::Sqlite).await.unwrap()).await;
}

#[tokio::test]
async fn rapid_postgres() {
    if let Some(app) = App::start(Engine::Postgres).await {
        rapid_tests(app).await;
    }
}
