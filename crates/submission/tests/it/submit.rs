//! The TAN path and the shape of answers: real uploads, TAN failures, fakes, a verification service that
//! is down, content types and size limits.

use std::time::{Duration, Instant};

use prost::Message;
use reqwest::StatusCode;
use warnkit_store::PoolConfig;
use warnkit_submission::{KeyStore, SubmissionConfig};
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
    for headers in [
        vec![("cwa-authorization", unknown.as_str())],
        vec![("cwa-authorization", "not-a-tan")],
        vec![("cwa-authorization", "3f2504e0-4f89-41d3-9a0c-0305e82c330g")],
        vec![],
    ] {
        let r = app.upload(p.encode_to_vec(), &headers).await;
        let (status, body) = body_json(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(body["error"], "invalid_tan");
    }
    assert_eq!(app.stored().await, 0);
}
on_both!(bad_tans_are_forbidden);

async fn fakes_store_nothing_and_look_real(app: App) {
    let p = payload(today(&app), 14);
    let tan = app.tan().await;
    let real = app.submit(&p, &tan).await;
    let fake = app
        .upload(
            payload(today(&app), 14).encode_to_vec(),
            &[
                ("cwa-authorization", &uuid::Uuid::new_v4().to_string()),
                ("cwa-fake", "1"),
            ],
        )
        .await;
    assert_eq!(real.status(), StatusCode::OK);
    assert_eq!(fake.status(), StatusCode::OK);
    let names = |r: &reqwest::Response| {
        let mut h: Vec<_> = r
            .headers()
            .iter()
            .filter(|(k, _)| *k != "date")
            .map(|(k, v)| format!("{k}: {v:?}"))
            .collect();
        h.sort();
        h
    };
    assert_eq!(names(&real), names(&fake));
    assert_eq!(real.bytes().await.unwrap(), fake.bytes().await.unwrap());
    assert_eq!(app.stored().await, 14);

    // Fakes are validated like real uploads.
    let mut bad = payload(today(&app), 2);
    bad.keys[0].rolling_period = Some(200);
    let r = app.upload(bad.encode_to_vec(), &[("cwa-fake", "1")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.stored().await, 14);
    assert_eq!(
        app.submission
            .metrics()
            .counter("submission_fake_requests_total"),
        1
    );
}
on_both!(fakes_store_nothing_and_look_real);

async fn fakes_wait_like_real_uploads(app: App) {
    // Before any real upload, fakes wait the initial 10 ms, as the original.
    let start = Instant::now();
    let r = app
        .upload(
            payload(today(&app), 1).encode_to_vec(),
            &[("cwa-fake", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(10));
}
on_both!(fakes_wait_like_real_uploads);

async fn limits_and_content_types(app: App) {
    let tan = app.tan().await;
    let h = [("cwa-authorization", tan.as_str())];

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
        ("content-type", "application/json"),
    ];
    let r = app
        .upload(payload(today(&app), 1).encode_to_vec(), &json)
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let none: [(&str, &str); 2] = [("cwa-authorization", &tan), ("content-type", "")];
    let r = app
        .upload(payload(today(&app), 1).encode_to_vec(), &none)
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Over 100 KB: declared length, and a chunked body with no length.
    let r = app.upload(vec![0; 100_001], &h).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(chunked_upload(&app, &tan, 30 * 4096).await, 413);

    // A payload just under the limit is read (and judged on its content).
    let mut big = payload(today(&app), 1);
    big.request_padding = Some(vec![0; 99_000]);
    let (status, body) = body_json(app.upload(big.encode_to_vec(), &h).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("padding_too_large"))
    );

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
        .body(payload(today(&app), 3).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(store.count().await.unwrap(), 0);
    // The TAN survived: the verification service still accepts it once.
    let r = app
        .http
        .post(format!("{}/version/v1/tan/verify", app.internal))
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
    for path in ["/health", "/ready", "/metrics", "/openapi.json"] {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}
on_both!(probes_answer);

/// Sends `len` zero bytes as a chunked body (no Content-Length) over a raw connection; returns the status.
async fn chunked_upload(app: &App, tan: &str, len: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n\
         cwa-authorization: {tan}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
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
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
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
