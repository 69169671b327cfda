//! Starts a test-result and a verification service on ephemeral ports over a fresh database.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use warnkit_service::auth::sha256_hex;
use warnkit_service::server::{shutdown_channel, ShutdownTrigger};
use warnkit_service::Clock;
use warnkit_store::{unix_now, PoolConfig};
use warnkit_testkit::{Engine, TestDb};
use warnkit_testresult::{TestResultConfig, TestResultService};
use warnkit_verification::{VerificationConfig, VerificationService};

use crate::tan_path::{start_tan_path_with_clocks, TanClocks};

/// Expands one `async fn suite(app: App)` into a test per engine.
#[macro_export]
macro_rules! on_both {
    ($suite:ident) => {
        warnkit_testkit::suite_on_both_engines!($suite, $crate::harness::App, 4);
    };
}

/// The headers of a real app request: the apps always send `cwa-fake`, and the service requires it.
pub const REAL: &[(&str, &str)] = &[("cwa-fake", "0")];
/// The headers of a fake app request.
pub const FAKE: &[(&str, &str)] = &[("cwa-fake", "1")];

/// Both services, running.
pub struct App {
    pub http: Client,
    pub vs: VerificationService,
    pub trs: TestResultService,
    pub external: String,
    pub internal: String,
    pub testresult: String,
    pub token: String,
    pub lab_key: String,
    /// The verification service's clock (manual, starting at the real time): tests move it past
    /// expiries, guessing windows and retention.
    pub clock: Clock,
    /// The test-result service's clock, moved on its own (past its retention, say).
    pub trs_clock: Clock,
    _stop: ShutdownTrigger,
    _db: TestDb,
}

impl App {
    pub async fn start(engine: Engine) -> Option<App> {
        Self::start_with(engine, VerificationConfig::default()).await
    }

    pub async fn start_with(engine: Engine, config: VerificationConfig) -> Option<App> {
        let db = TestDb::new(engine)?;
        let token = "test-service-token".to_owned();
        let (stop, shutdown) = shutdown_channel();
        let clocks = TanClocks {
            testresult: Clock::manual(unix_now()),
            verification: Clock::manual(unix_now()),
        };
        let tan = start_tan_path_with_clocks(
            &db,
            PoolConfig::default(),
            (TestResultConfig::default(), config),
            &token,
            shutdown,
            clocks.clone(),
        )
        .await;
        let http = Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        Some(App {
            http,
            vs: tan.verification,
            trs: tan.testresult,
            external: tan.external_url,
            internal: tan.internal_url,
            testresult: tan.testresult_url,
            token,
            lab_key: tan.lab_key,
            clock: clocks.verification,
            trs_clock: clocks.testresult,
            _stop: stop,
            _db: db,
        })
    }

    /// POSTs JSON to `url` with optional extra headers.
    pub async fn post(&self, url: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
        let mut req = self.http.post(url).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// A lab posts `result` for the GUID (hashed like the phone does).
    pub async fn lab_posts(&self, guid: &str, result: i64) {
        let body = json!({"testResults": [{"id": sha256_hex(guid), "result": result, "sc": 1_700_000_000}]});
        let r = self
            .post(
                &format!("{}/api/v1/lab/results", self.testresult),
                &body,
                &[("authorization", &self.bearer_lab())],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    /// A rapid-test centre posts `result` (5-9) for the hash in a rapid test's QR code.
    pub async fn quick_posts(&self, qr_hash: &str, result: i64) {
        let body = json!({"labId": "lab-1", "testResults": [{"id": qr_hash, "result": result}]});
        let r = self
            .post(
                &format!("{}/api/v1/quicktest/results", self.testresult),
                &body,
                &[("authorization", &self.bearer_lab())],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    /// Verifies `tan` for the teleTAN type `accept` (any when `None`).
    pub async fn verify_for(&self, tan: &str, accept: Option<&str>) -> Response {
        let mut body = json!({ "tan": tan });
        if let Some(accept) = accept {
            body["teleTanType"] = accept.into();
        }
        self.post(
            &format!("{}/version/v1/tan/verify", self.internal),
            &body,
            &[("authorization", &self.bearer())],
        )
        .await
    }

    pub fn bearer_lab(&self) -> String {
        format!("Bearer {}", self.lab_key)
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Registers a GUID; returns the status and the token (if 201).
    pub async fn register(&self, key_type: &str, key: &str) -> (StatusCode, Option<String>) {
        let body = json!({"keyType": key_type, "key": key});
        let r = self
            .post(
                &format!("{}/version/v1/registrationToken", self.external),
                &body,
                REAL,
            )
            .await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        (status, v["registrationToken"].as_str().map(str::to_owned))
    }

    pub async fn register_guid(&self, guid: &str) -> (StatusCode, Option<String>) {
        self.register("GUID", &sha256_hex(guid)).await
    }

    pub async fn poll(&self, token: &str) -> (StatusCode, Value) {
        let r = self
            .post(
                &format!("{}/version/v1/testresult", self.external),
                &json!({"registrationToken": token}),
                REAL,
            )
            .await;
        (r.status(), r.json().await.unwrap())
    }

    pub async fn get_tan(&self, token: &str) -> (StatusCode, Option<String>) {
        let r = self
            .post(
                &format!("{}/version/v1/tan", self.external),
                &json!({"registrationToken": token}),
                REAL,
            )
            .await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        (status, v["tan"].as_str().map(str::to_owned))
    }

    pub async fn verify(&self, tan: &str) -> Response {
        let body = json!({ "tan": tan });
        self.post(
            &format!("{}/version/v1/tan/verify", self.internal),
            &body,
            &[("authorization", &self.bearer())],
        )
        .await
    }

    pub async fn teletan(&self, kind: Option<&str>) -> (StatusCode, Option<String>) {
        let mut req = self
            .http
            .post(format!("{}/version/v1/tan/teletan", self.internal))
            .header("authorization", self.bearer());
        if let Some(kind) = kind {
            req = req.header("x-cwa-teletan-type", kind);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        (status, v["value"].as_str().map(str::to_owned))
    }

    /// Both APIs' metrics, as the operators' metrics listener renders them (neither API serves them).
    pub async fn metrics(&self) -> String {
        warnkit_service::metrics::render_all(&self.vs.metrics().map(Clone::clone))
    }

    pub async fn counts(&self) -> [i64; 4] {
        self.vs.row_counts().await.unwrap()
    }
}

/// A fresh random test GUID in the original's format.
pub fn new_guid() -> String {
    let u = uuid::Uuid::new_v4().to_string().to_uppercase();
    format!("{}-{u}", &u[..6])
}
