//! The bad-input matrix: every endpoint refuses malformed input with a 4xx and a short JSON error, and
//! nothing is stored.

mod testresult;
mod verification;

use reqwest::StatusCode;
use serde_json::{json, Value};
use warnkit_service::auth::sha256_hex;
use warnkit_verification::ERROR_BYTES;

use crate::harness::{new_guid, App, REAL};
use crate::on_both;

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const UNAUTH: StatusCode = StatusCode::UNAUTHORIZED;

struct Case {
    what: &'static str,
    url: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    auth: Option<String>,
    headers: Vec<(&'static str, &'static str)>,
    expect: StatusCode,
}

fn case(what: &'static str, url: &str, body: impl Into<Vec<u8>>, expect: StatusCode) -> Case {
    Case {
        what,
        url: url.to_owned(),
        body: body.into(),
        content_type: Some("application/json"),
        auth: None,
        headers: vec![],
        expect,
    }
}

/// A case on the app API: as the apps send it, with `cwa-fake: 0`.
fn app_case(what: &'static str, url: &str, body: impl Into<Vec<u8>>, expect: StatusCode) -> Case {
    Case {
        headers: REAL.to_vec(),
        ..case(what, url, body, expect)
    }
}

fn json_body(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn oversized(field: &str) -> Vec<u8> {
    json_body(json!({ field: "a".repeat(10_001) }))
}

/// What the cases are built from: every endpoint's URL, the values their bodies carry, and the
/// credentials they present.
struct Targets {
    reg: String,
    poll: String,
    tan: String,
    verify: String,
    teletan: String,
    lab: String,
    quick: String,
    lookup: String,
    hash: String,
    good_teletan: String,
    bad_check: String,
    token: String,
    auth: Option<String>,
    wrong: Option<String>,
    lab_auth: Option<String>,
}

impl Targets {
    fn new(app: &App) -> Self {
        let reg = format!("{}/version/v1/registrationToken", app.external);
        let poll = format!("{}/version/v1/testresult", app.external);
        let tan = format!("{}/version/v1/tan", app.external);
        let verify = format!("{}/version/v1/tan/verify", app.internal);
        let teletan = format!("{}/version/v1/tan/teletan", app.internal);
        let lab = format!("{}/api/v1/lab/results", app.testresult);
        let quick = format!("{}/api/v1/quicktest/results", app.testresult);
        let lookup = format!("{}/api/v1/app/result", app.testresult);
        let hash = sha256_hex(new_guid());
        let good_teletan = warnkit_verification::teletan::generate(&mut rand::thread_rng());
        let bad_check = format!(
            "{}{}",
            &good_teletan[..9],
            if good_teletan.ends_with('G') {
                'H'
            } else {
                'G'
            }
        );
        let token = uuid::Uuid::new_v4().to_string();
        Self {
            reg,
            poll,
            tan,
            verify,
            teletan,
            lab,
            quick,
            lookup,
            hash,
            good_teletan,
            bad_check,
            token,
            auth: Some(app.bearer()),
            wrong: Some("Bearer wrong".to_owned()),
            lab_auth: Some(app.bearer_lab()),
        }
    }
}

async fn bad_input_matrix(app: App) {
    let t = Targets::new(&app);
    let mut cases = verification::app_api(&t);
    cases.extend(verification::internal_api(&t));
    cases.extend(testresult::cases(&t));
    let Targets {
        reg, lookup, hash, ..
    } = &t;

    let before = app.counts().await;
    for c in cases {
        let mut req = app.http.post(&c.url).body(c.body);
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(auth) = &c.auth {
            req = req.header("authorization", auth);
        }
        for (k, v) in &c.headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), c.expect, "{} {}", c.what, c.url);
        let body = r.bytes().await.unwrap();
        let err: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{} {}: not JSON: {e}", c.what, c.url));
        if c.url.starts_with(&app.external) {
            // Every error of the app API has one size: a refusal tells nothing by its length.
            assert_eq!(body.len(), ERROR_BYTES, "{} {}: {err}", c.what, c.url);
        }
        let message = err["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no message in {err}", c.what));
        assert!(
            err["error"].is_string() && message.len() < 100,
            "{}: {err}",
            c.what
        );
    }
    assert_eq!(app.counts().await, before, "bad requests store nothing");
    // Nothing reached the test-result store either: the refused hash is still pending.
    let r = app
        .post(
            lookup,
            &json!({"id": hash}),
            &[("authorization", &app.bearer())],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["testResult"], 0);
    // Nor under the id a rapid-test result is stored as.
    let r = app
        .post(
            lookup,
            &json!({"id": sha256_hex(hash)}),
            &[("authorization", &app.bearer())],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["testResult"], 0);
    // Wrong method and unknown route are JSON errors too.
    let r = app.http.get(reg).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = app
        .http
        .post(format!("{}/nope", app.external))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
}
on_both!(bad_input_matrix);

async fn oversized_chunked_body_is_413(app: App) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // No Content-Length: the limit must hold while streaming too.
    let addr = app.external.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let chunk = "a".repeat(12_000);
    let request = format!(
        "POST /version/v1/registrationToken HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         cwa-fake: 0\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(app.counts().await, [0, 0, 0, 0]);
}
on_both!(oversized_chunked_body_is_413);

async fn testresult_outage_is_502(app: App) {
    use warnkit_verification::{VerificationConfig, VerificationService};
    let guid = new_guid();
    let token = app.register_guid(&guid).await.1.unwrap();
    // A second verification instance on the same database whose test-result service does not answer.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let config = VerificationConfig {
        testresult_url: dead_url,
        testresult_timeout_ms: 2000,
        ..Default::default()
    };
    let vs = VerificationService::new(app.vs.db().clone(), config, app.token.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, shutdown) = warnkit_service::server::shutdown_channel();
    tokio::spawn(warnkit_service::server::serve(
        listener,
        vs.external_router(),
        shutdown,
    ));
    for path in ["testresult", "tan"] {
        let r = app
            .post(
                &format!("{url}/version/v1/{path}"),
                &json!({ "registrationToken": token }),
                REAL,
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "upstream");
    }
    assert_eq!(
        app.counts().await[2],
        0,
        "no TAN without a confirmed result"
    );
}
on_both!(testresult_outage_is_502);
