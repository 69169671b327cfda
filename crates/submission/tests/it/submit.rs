//! The TAN path and the shape of answers: real uploads, TAN failures, fakes, a verification service that
//! is down, content types and size limits.

use std::time::{Duration, Instant};

use prost::Message;
use reqwest::StatusCode;
use warnkit_keystore::KeyStore;
use warnkit_store::PoolConfig;
use warnkit_submission::{SubmissionConfig, ERROR_BYTES};
use warnkit_testkit::Engine;

use crate::harness::{bind, body_json, payload, today, App};
use crate::on_both;

async fn valid_upload_is_stored_with_its_hour(app: App) {
    let [tan, second] = app.tans().await;
    let p = payload(today(&app), 14);
    let r = app.submit(&p, &tan).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(app.stored().await, 14);
    let hour = app.submission.clock().hour();
    let mut keys = app
        .submission
        .store()
        .keys_submitted_between(hour, hour + 1)
        .await
        .unwrap();
    assert_eq!(keys.len(), 14);
    keys.sort_by_key(|k| std::cmp::Reverse(k.rolling_start));
    for (day, k) in keys.iter().enumerate() {
        let sent = &p.keys[day];
        assert_eq!(&k.key_data[..], sent.key_data.as_deref().unwrap());
        assert_eq!(
            k.rolling_start as i32,
            sent.rolling_start_interval_number.unwrap()
        );
        assert_eq!(
            i32::from(k.transmission_risk_level),
            sent.transmission_risk_level.unwrap()
        );
        assert_eq!(
            k.days_since_onset_of_symptoms,
            sent.days_since_onset_of_symptoms
        );
        assert_eq!((k.origin.as_str(), k.consent_to_federation), ("DE", true));
        assert_eq!(k.visited_countries, vec!["FR", "NL"]);
    }

    // The same TAN again: used, 403, nothing more stored.
    let r = app.submit(&payload(today(&app), 3), &tan).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.stored().await, 14);

    // The second TAN, later in the day, with the current day's key: stored in the new hour.
    app.submission
        .clock()
        .set(app.submission.clock().now() + 3600);
    let r = app.submit(&payload(today(&app), 1), &second).await;
    assert_eq!(r.status(), StatusCode::OK);
    let hour = app.submission.clock().hour();
    assert_eq!(
        app.submission
            .store()
            .keys_submitted_between(hour, hour + 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.stored().await, 15);
}
on_both!(valid_upload_is_stored_with_its_hour);

async fn bad_tans_are_forbidden(app: App) {
    let p = payload(today(&app), 5);
    let unknown = uuid::Uuid::new_v4().to_string();
    for tan in [
        unknown.as_str(),
        "not-a-tan",
        "3f2504e0-4f89-41d3-9a0c-0305e82c330g",
        "TAN 3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    ] {
        let headers = [("cwa-authorization", tan), ("cwa-fake", "0")];
        let (status, body) = body_json(app.upload(p.encode_to_vec(), &headers).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{tan}");
        assert_eq!(body["error"], "invalid_tan");
    }
    assert_eq!(app.stored().await, 0);
}
on_both!(bad_tans_are_forbidden);

/// The headers as the original routes on them: `cwa-fake` is required and 0 or 1, a real upload needs a
/// TAN, and empty values where the app sends them are fine.
async fn headers_as_the_original_reads_them(app: App) {
    let tan = app.tan().await;
    let body = payload(today(&app), 3).encode_to_vec();
    let cases: [(&[(&str, &str)], &str); 9] = [
        // The original's own test: no headers, only the content type, a TAN but no cwa-fake.
        (&[], "missing_fake_header"),
        (
            &[("cwa-authorization", tan.as_str())],
            "missing_fake_header",
        ),
        (&[("cwa-fake", "")], "invalid_fake_header"),
        (&[("cwa-fake", "2")], "invalid_fake_header"),
        (&[("cwa-fake", "abc")], "invalid_fake_header"),
        (&[("cwa-fake", "true")], "invalid_fake_header"),
        (&[("cwa-fake", "0")], "missing_tan"),
        (
            &[("cwa-fake", "0"), ("cwa-authorization", "")],
            "missing_tan",
        ),
        (
            &[("cwa-fake", "0"), ("cwa-authorization", "  ")],
            "missing_tan",
        ),
    ];
    // Every refusal looks alike on the wire: one body size, one set of header names, whatever the cause;
    // and a wrong TAN's (403) too.
    let mut all: Vec<(Vec<(&str, &str)>, &str)> =
        cases.iter().map(|(h, c)| (h.to_vec(), *c)).collect();
    let wrong_tan = vec![("cwa-fake", "0"), ("cwa-authorization", "not-a-tan")];
    all.push((wrong_tan, "invalid_tan"));
    let mut seen = Vec::new();
    for (headers, code) in all {
        let r = app.upload(body.clone(), &headers).await;
        let status = r.status();
        let names = header_names(&r);
        let bytes = r.bytes().await.unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let expect = if code == "invalid_tan" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(
            (status, answer["error"].as_str()),
            (expect, Some(code)),
            "{headers:?}"
        );
        assert_eq!(bytes.len(), ERROR_BYTES, "{headers:?}: {answer}");
        seen.push(names);
    }
    seen.dedup();
    assert_eq!(
        seen.len(),
        1,
        "header names differ between refusals: {seen:?}"
    );
    assert_eq!(app.stored().await, 0);
    // A real upload with the app's empty header padding: stored. None of the above spent the TAN.
    let real = [
        ("cwa-authorization", tan.as_str()),
        ("cwa-fake", "0"),
        ("cwa-header-padding", ""),
    ];
    assert_eq!(app.upload(body, &real).await.status(), StatusCode::OK);
    assert_eq!(app.stored().await, 3);
}
on_both!(headers_as_the_original_reads_them);

/// The sorted names of an answer's headers.
fn header_names(r: &reqwest::Response) -> Vec<String> {
    let mut names: Vec<String> = r.headers().keys().map(|k| k.to_string()).collect();
    names.sort();
    names
}

/// The names, values and order-free set of an answer's headers, without `date`.
fn header_set(r: &reqwest::Response) -> Vec<String> {
    let mut h: Vec<_> = r
        .headers()
        .iter()
        .filter(|(k, _)| *k != "date")
        .map(|(k, v)| format!("{k}: {v:?}"))
        .collect();
    h.sort();
    h
}

/// The app's fake upload, byte for byte in shape: only 420 bytes of padding, an empty TAN, 36 characters
/// of header padding.
fn app_fake() -> (Vec<u8>, [(&'static str, String); 3]) {
    let padding: Vec<u8> = (0..420).map(|i| b'a' + (i % 26) as u8).collect();
    let body = warnkit_protocol::proto::SubmissionPayload {
        request_padding: Some(padding),
        ..Default::default()
    }
    .encode_to_vec();
    let headers = [
        ("cwa-authorization", String::new()),
        ("cwa-fake", "1".to_owned()),
        ("cwa-header-padding", "Ab3".repeat(12)),
    ];
    (body, headers)
}

async fn fakes_store_nothing_and_look_real(app: App) {
    let p = payload(today(&app), 14);
    let tan = app.tan().await;
    let real = app.submit(&p, &tan).await;
    let (body, headers) = app_fake();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fake = app.upload(body, &headers).await;
    assert_eq!(real.status(), StatusCode::OK);
    assert_eq!(fake.status(), StatusCode::OK);
    // The original's success headers, on both.
    for r in [&real, &fake] {
        assert_eq!(r.headers()["cwa-filtered-checkins"], "0");
        assert_eq!(r.headers()["cwa-saved-checkins"], "0");
        assert_eq!(r.headers()["content-length"], "0");
    }
    assert_eq!(header_set(&real), header_set(&fake));
    let (real, fake) = (real.bytes().await.unwrap(), fake.bytes().await.unwrap());
    assert!(real.is_empty());
    assert_eq!(real, fake);
    assert_eq!(app.stored().await, 14);

    // A fake's body is not read: keys that a real upload could not send, garbage, nothing at all, and
    // another content type all get the same answer, and store nothing.
    let mut bad = payload(today(&app), 20);
    bad.keys[0].rolling_period = Some(200);
    for (body, content_type) in [
        (bad.encode_to_vec(), "application/x-protobuf"),
        (vec![0xff; 64], "application/x-protobuf"),
        (Vec::new(), "application/x-protobuf"),
        (b"{}".to_vec(), "application/json"),
    ] {
        let r = app
            .upload(body, &[("cwa-fake", "1"), ("content-type", content_type)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header_set(&r).len(), 3, "{:?}", header_set(&r));
    }
    assert_eq!(app.stored().await, 14);
    assert_eq!(
        app.submission
            .metrics()
            .counter("submission_fake_requests_total"),
        5
    );
}
on_both!(fakes_store_nothing_and_look_real);

async fn fakes_wait_like_real_uploads(app: App) {
    // Before any real upload, fakes wait the initial delay (10 ms), as the original. The wait is real
    // time on purpose: a fake must take as long on the wire as a real upload, so the service's clock,
    // which only stamps hours and bounds rolling starts, is not what it waits on. Only a lower bound is
    // asserted: the service answers no earlier than its deadline (measured from after this `start`), so
    // the assertion holds however slow the machine is; nothing here bounds it from above.
    let initial = Duration::from_millis(SubmissionConfig::default().initial_fake_delay_ms);
    assert_eq!(initial, Duration::from_millis(10));
    let start = Instant::now();
    let r = app
        .upload(
            payload(today(&app), 1).encode_to_vec(),
            &[("cwa-fake", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(start.elapsed() >= initial);
}
on_both!(fakes_wait_like_real_uploads);

/// A one-key payload padded to exactly `len` encoded bytes.
fn payload_of_len(app: &App, len: usize) -> Vec<u8> {
    let mut p = payload(today(app), 1);
    p.request_padding = None;
    let base = p.encoded_len();
    // Tag byte, a three-byte length varint (lengths of 16 KiB to 2 MiB), the padding.
    p.request_padding = Some(vec![7; len - base - 4]);
    let bytes = p.encode_to_vec();
    assert_eq!(bytes.len(), len);
    bytes
}

async fn limits_and_content_types(app: App) {
    let tan = app.tan().await;
    let h = [("cwa-authorization", tan.as_str()), ("cwa-fake", "0")];

    let r = app.upload(vec![0xff; 64], &h).await;
    assert_eq!(body_json(r).await.0, StatusCode::BAD_REQUEST);
    // An empty body decodes as a payload without keys.
    let (status, body) = body_json(app.upload(vec![], &h).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_key_count"))
    );

    let json = [
        ("cwa-authorization", tan.as_str()),
        ("cwa-fake", "0"),
        ("content-type", "application/json"),
    ];
    let r = app
        .upload(payload(today(&app), 1).encode_to_vec(), &json)
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let none = [
        ("cwa-authorization", tan.as_str()),
        ("cwa-fake", "0"),
        ("content-type", ""),
    ];
    let r = app
        .upload(payload(today(&app), 1).encode_to_vec(), &none)
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Over the original's 100 KB (102,400 bytes) is 400, as in the original: declared length, a chunked
    // body with no length, and fakes too.
    let limit = SubmissionConfig::default().max_body_bytes;
    assert_eq!(limit, 102_400);
    let too_large = |r: (StatusCode, serde_json::Value)| {
        assert_eq!(
            (r.0, r.1["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("payload_too_large"))
        );
    };
    too_large(body_json(app.upload(payload_of_len(&app, limit + 1), &h).await).await);
    let fake = [("cwa-fake", "1")];
    too_large(body_json(app.upload(vec![0; limit + 1], &fake).await).await);
    let (status, answer) = chunked_upload(&app, &tan, 30 * 4096).await;
    assert_eq!(status, 400);
    assert!(answer.contains("payload_too_large"), "{answer}");
    // Up to 2 MiB an oversize body is read to its end, so a client still sending it reads the 400 instead
    // of a reset connection (repeated: a reset is a race).
    for len in [limit + 1, 500_000, 2 << 20] {
        for _ in 0..5 {
            too_large(body_json(app.upload(vec![0; len], &h).await).await);
        }
    }
    // A larger declared body is refused without waiting for it.
    let (status, answer) = declared_only(&app, 100_000_000).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    // Exactly at the limit the body is read, and judged on its content.
    let (status, body) = body_json(app.upload(payload_of_len(&app, limit), &h).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("padding_too_large"))
    );
    let r = app.upload(vec![0; limit], &fake).await;
    assert_eq!(r.status(), StatusCode::OK);

    assert_eq!(app.stored().await, 0);
    // None of this consumed the TAN.
    assert_eq!(
        app.submit(&payload(today(&app), 2), &tan).await.status(),
        StatusCode::OK
    );
}
on_both!(limits_and_content_types);

/// With nothing listening where the verification service should be: 503, quickly, nothing stored.
async fn verification_down(engine: Engine) {
    let (listener, dead) = bind().await;
    drop(listener);
    let config = SubmissionConfig {
        verification_url: dead,
        ..SubmissionConfig::default()
    };
    let Some(app) = App::start_with(engine, config).await else {
        return;
    };
    let start = Instant::now();
    let r = app
        .submit(&payload(today(&app), 3), &uuid::Uuid::new_v4().to_string())
        .await;
    let (status, body) = body_json(r).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "verification_unavailable");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(app.stored().await, 0);
    // A verification service that answers but refuses us (here: 401 for a wrong service token) is the
    // same: retried, then 503, and the TAN is left unused.
    let store = KeyStore::open(&app.db.target("submission2"), PoolConfig::default())
        .await
        .unwrap();
    let wrong_token = warnkit_submission::SubmissionService::new(
        store.clone(),
        SubmissionConfig {
            verification_url: app.internal.clone(),
            ..SubmissionConfig::default()
        },
        "wrong-token".into(),
        app.submission.clock().clone(),
    )
    .unwrap();
    let (l, url) = bind().await;
    tokio::spawn(async move { axum::serve(l, wrong_token.router()).await });
    let tan = app.tan().await;
    let r = app
        .http
        .post(format!("{url}{}", warnkit_submission::SUBMISSION_PATH))
        .header("content-type", "application/x-protobuf")
        .header("cwa-authorization", &tan)
        .header("cwa-fake", "0")
        .body(payload(today(&app), 3).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(store.count().await.unwrap(), 0);
    // The TAN survived: the verification service still accepts it once.
    let r = app
        .http
        .post(warnkit_verification::wire::url(
            &app.internal,
            warnkit_verification::wire::TAN_VERIFY_PATH,
        ))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({ "tan": tan }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verification_down_sqlite() {
    verification_down(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verification_down_postgres() {
    verification_down(Engine::Postgres).await;
}

async fn probes_answer(app: App) {
    for path in ["/health", "/ready", "/openapi.json"] {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    // No metrics on the app-facing port: they count fake uploads apart from real ones.
    let r = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
on_both!(probes_answer);

/// The OpenAPI document names the answers the route gives (and no 413: oversize is 400, as the original).
async fn openapi_documents_the_answers(app: App) {
    let doc: serde_json::Value = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let op = &doc["paths"][warnkit_submission::SUBMISSION_PATH]["post"];
    let mut statuses: Vec<&str> = op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["200", "400", "403", "415", "503"]);
    let documented: Vec<&str> = op["responses"]["200"]["headers"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let sent: Vec<&str> = warnkit_submission::SUCCESS_HEADERS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(documented, sent);
    let fake = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cwa-fake")
        .unwrap();
    assert_eq!(fake["required"], true);
}
on_both!(openapi_documents_the_answers);

/// The router and the document it serves name the same operations (the document is generated from
/// the routes, so this fails only if a route escapes the generation).
async fn router_and_document_agree(app: App) {
    let router = app.submission.router();
    let doc = warnkit_service::openapi::served(&router).await;
    let ops = warnkit_service::openapi::operations(&doc);
    assert!(
        ops.contains(&(
            "POST".to_owned(),
            warnkit_submission::SUBMISSION_PATH.to_owned()
        )),
        "{ops:?}"
    );
    let wrong = warnkit_service::openapi::mismatches(&router, &doc).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
}
on_both!(router_and_document_agree);

/// Sends the head of a real upload declaring `len` body bytes, and none of them; returns the status and the
/// whole answer (a server waiting for the body would never answer: the timeout turns that into a failure).
async fn declared_only(app: &App, len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n\
         cwa-fake: 0\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        warnkit_submission::SUBMISSION_PATH
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Sends `len` zero bytes as a real upload with a chunked body (no Content-Length) over a raw connection;
/// returns the status and the whole answer.
async fn chunked_upload(app: &App, tan: &str, len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n\
         cwa-authorization: {tan}\r\ncwa-fake: 0\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        warnkit_submission::SUBMISSION_PATH
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![0u8; 4096];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        let frame = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
        // The server may answer and close before the whole body is sent.
        if conn.write_all(&frame).await.is_err() {
            break;
        }
        sent += n;
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn retention_follows_the_clock(app: App) {
    let tan = app.tan().await;
    assert_eq!(
        app.submit(&payload(today(&app), 4), &tan).await.status(),
        StatusCode::OK
    );
    let clock = app.submission.clock();
    clock.set(clock.now() + 14 * 86_400);
    assert_eq!(app.submission.run_retention().await.unwrap(), 0);
    clock.set(clock.now() + 3600);
    assert_eq!(app.submission.run_retention().await.unwrap(), 4);
    assert_eq!(app.stored().await, 0);
}
on_both!(retention_follows_the_clock);
