//! Starts a test-result, a verification and a submission service on ephemeral ports over a fresh database.

use prost::Message;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use warnkit_keystore::KeyStore;
use warnkit_node::{Config, Listen, Node, RunningNode, Service};
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};
use warnkit_service::auth::sha256_hex;
use warnkit_service::server::{serve, shutdown_channel, ShutdownTrigger};
use warnkit_service::Clock;
use warnkit_store::{unix_now, PoolConfig};
use warnkit_submission::{SubmissionConfig, SubmissionService, SUBMISSION_PATH};
pub use warnkit_testkit::bind;
use warnkit_testkit::{Engine, TestDb};

/// Expands one `async fn suite(app: App)` into a test per engine.
#[macro_export]
macro_rules! on_both {
    ($suite:ident) => {
        warnkit_testkit::suite_on_both_engines!($suite, $crate::harness::App, 4);
    };
}

/// The three services, running.
pub struct App {
    pub http: Client,
    pub submission: SubmissionService,
    pub url: String,
    pub verification: String,
    pub internal: String,
    pub testresult: String,
    pub token: String,
    lab_key: String,
    _stop: ShutdownTrigger,
    /// The test-result and verification services, as `warnkit serve` starts them.
    _tan: RunningNode,
    pub db: TestDb,
}

impl App {
    pub async fn start(engine: Engine) -> Option<App> {
        Self::start_with(engine, SubmissionConfig::default()).await
    }

    /// All three services; `config.verification_url` is replaced by the real one unless it was changed.
    pub async fn start_with(engine: Engine, mut config: SubmissionConfig) -> Option<App> {
        let db = TestDb::new(engine)?;
        let pool = PoolConfig::default();
        let (stop, shutdown) = shutdown_channel();
        let tan = Node::builder(Config::at(db.dir(), db.postgres_url()))
            .only(&[Service::TestResult, Service::Verification])
            .listen(Listen::FreePorts)
            .pool(pool)
            .start()
            .await
            .unwrap();
        let token = tan.service_token().to_owned();
        let url_of = |name: &str| tan.url(name).unwrap().to_owned();
        let (internal, external, testresult) = (
            url_of("verification_internal"),
            url_of("verification"),
            url_of("testresult"),
        );
        let lab_key = tan
            .testresult()
            .unwrap()
            .create_lab_key("lab-1")
            .await
            .unwrap();
        let store = KeyStore::open(&db.target("submission"), pool)
            .await
            .unwrap();
        if config.verification_url == SubmissionConfig::default().verification_url {
            config.verification_url = internal.clone();
        }
        let clock = Clock::manual(unix_now());
        let submission = SubmissionService::new(store, config, token.clone(), clock).unwrap();
        let (sub_l, url) = bind().await;
        tokio::spawn(serve(sub_l, submission.router(), shutdown));
        Some(App {
            http: Client::new(),
            submission,
            url,
            verification: external,
            internal,
            testresult,
            token,
            lab_key,
            _stop: stop,
            _tan: tan,
            db,
        })
    }

    /// POSTs JSON with a lab key (`auth`), or without one as the phone, with `cwa-fake: 0`.
    async fn post_json(&self, url: String, body: Value, auth: Option<&str>) -> Value {
        let req = self.http.post(url).json(&body);
        let req = match auth {
            Some(auth) => req.header("authorization", format!("Bearer {auth}")),
            None => req.header("cwa-fake", "0"),
        };
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// The phone's way to TANs: a lab posts a positive result, the phone registers and asks twice.
    pub async fn tans(&self) -> [String; 2] {
        let guid = uuid::Uuid::new_v4().to_string().to_uppercase();
        let results =
            json!({"testResults": [{"id": sha256_hex(&guid), "result": 2, "sc": 1_700_000_000}]});
        self.post_json(
            format!("{}/api/v1/lab/results", self.testresult),
            results,
            Some(&self.lab_key),
        )
        .await;
        let token = self.register("GUID", &sha256_hex(&guid)).await;
        self.tans_for(&token).await
    }

    /// Registers `key` as the phone does; returns the registration token.
    pub async fn register(&self, key_type: &str, key: &str) -> String {
        let reg = json!({"keyType": key_type, "key": key});
        let v = self
            .post_json(
                format!("{}/version/v1/registrationToken", self.verification),
                reg,
                None,
            )
            .await;
        v["registrationToken"].as_str().unwrap().to_owned()
    }

    /// A test result as the phone polls it.
    pub async fn poll(&self, token: &str) -> Value {
        self.post_json(
            format!("{}/version/v1/testresult", self.verification),
            json!({ "registrationToken": token }),
            None,
        )
        .await
    }

    /// A rapid-test centre posts `result` for the hash in a rapid test's QR code.
    pub async fn rapid_result(&self, qr_hash: &str, result: i64) {
        let results = json!({"labId": "lab-1", "testResults": [{"id": qr_hash, "result": result}]});
        self.post_json(
            format!("{}/api/v1/quicktest/results", self.testresult),
            results,
            Some(&self.lab_key),
        )
        .await;
    }

    /// A TAN through a teleTAN of `kind` (`TEST` or `EVENT`), as an officer and the phone get it.
    pub async fn teletan_tan(&self, kind: &str) -> String {
        let r = self
            .http
            .post(warnkit_verification::wire::url(
                &self.internal,
                warnkit_verification::wire::TELETAN_PATH,
            ))
            .bearer_auth(&self.token)
            .header(warnkit_verification::wire::TELETAN_TYPE_HEADER, kind)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let teletan = r.json::<Value>().await.unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = self.register("TELETAN", &teletan).await;
        self.tans_for(&token).await[0].clone()
    }

    /// The verification service's own check of `tan`, for the type `accept` (consumes it when valid).
    pub async fn verify(&self, tan: &str, accept: Option<&str>) -> Response {
        let body = warnkit_verification::wire::TanVerifyRequest {
            tan: tan.to_owned(),
            tele_tan_type: accept.map(str::to_owned),
            payload_hash: None,
        };
        self.http
            .post(warnkit_verification::wire::url(
                &self.internal,
                warnkit_verification::wire::TAN_VERIFY_PATH,
            ))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The two TANs of a registration.
    pub async fn tans_for(&self, token: &str) -> [String; 2] {
        let mut tans = Vec::new();
        for _ in 0..2 {
            let v = self
                .post_json(
                    format!("{}/version/v1/tan", self.verification),
                    json!({ "registrationToken": token }),
                    None,
                )
                .await;
            tans.push(v["tan"].as_str().unwrap().to_owned());
        }
        [tans[0].clone(), tans[1].clone()]
    }

    /// One TAN.
    pub async fn tan(&self) -> String {
        self.tans().await[0].clone()
    }

    /// POSTs `body` to the upload route with the given headers (content type protobuf unless given).
    pub async fn upload(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
        let mut req = self
            .http
            .post(format!("{}{SUBMISSION_PATH}", self.url))
            .body(body);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/x-protobuf");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// Uploads `payload` with `tan` as a real request.
    pub async fn submit(&self, payload: &SubmissionPayload, tan: &str) -> Response {
        self.upload(
            payload.encode_to_vec(),
            &[("cwa-authorization", tan), ("cwa-fake", "0")],
        )
        .await
    }

    pub async fn stored(&self) -> u64 {
        self.submission.store().count().await.unwrap()
    }
}

/// The first interval of the current UTC day by the service's clock.
pub fn today(app: &App) -> i32 {
    (app.submission.clock().now() / 600 / 144 * 144) as i32
}

/// A valid payload of `n` keys for the days before `today`, with fresh random key data.
pub fn payload(today: i32, n: i32) -> SubmissionPayload {
    SubmissionPayload {
        keys: (0..n)
            .map(|day| TemporaryExposureKey {
                key_data: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
                transmission_risk_level: Some(1 + day % 8),
                rolling_start_interval_number: Some(today - 144 * day),
                rolling_period: Some(144),
                report_type: Some(1),
                days_since_onset_of_symptoms: Some(day - 2),
            })
            .collect(),
        request_padding: Some(vec![0; 100]),
        visited_countries: vec!["FR".into(), "NL".into()],
        origin: Some("DE".into()),
        consent_to_federation: Some(true),
        submission_type: Some(0),
    }
}

pub async fn body_json(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}
