//! Where a TAN comes from decides what it may upload: lab results (PCR and rapid tests) and TEST teleTANs
//! upload diagnosis keys; an EVENT teleTAN's TAN is refused without being spent.

use reqwest::StatusCode;
use warnkit_service::auth::sha256_hex;

use crate::harness::{body_json, payload, today, App};
use crate::on_both;

async fn an_event_tan_is_refused_and_kept(app: App) {
    let event = app.teletan_tan("EVENT").await;
    let p = payload(today(&app), 3);
    let (status, body) = body_json(app.submit(&p, &event).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "wrong_tan_type");
    // Refused again: it was not consumed.
    assert_eq!(
        body_json(app.submit(&p, &event).await).await.1["error"],
        "wrong_tan_type"
    );
    assert_eq!(app.stored().await, 0);
    // Still good for what it was issued for: a check that asks for EVENT takes it, once.
    let r = app.verify(&event, Some("EVENT")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[warnkit_verification::wire::TELETAN_TYPE_HEADER],
        "EVENT"
    );
    assert_eq!(app.verify(&event, Some("EVENT")).await.status(), 404);
    // Now it is spent, and an upload says so.
    assert_eq!(
        body_json(app.submit(&p, &event).await).await.1["error"],
        "invalid_tan"
    );

    // A TEST teleTAN's TAN and a lab result's TAN upload as before.
    let test = app.teletan_tan("TEST").await;
    assert_eq!(app.submit(&p, &test).await.status(), StatusCode::OK);
    assert_eq!(app.stored().await, 3);
    let lab = app.tan().await;
    assert_eq!(
        app.submit(&payload(today(&app), 2), &lab).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.stored().await, 5);
    // The spent TAN: a repeat of its own upload is answered as before and stores nothing twice
    // (tests/it/retry.rs); any other payload is refused.
    assert_eq!(app.submit(&p, &test).await.status(), StatusCode::OK);
    assert_eq!(
        app.submit(&payload(today(&app), 3), &test).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.stored().await, 5);
}
on_both!(an_event_tan_is_refused_and_kept);

/// A rapid test end to end: the test centre posts 7 (positive) for the QR code's hash, the phone registers
/// sha256(hash), polls 7, gets a TAN and uploads as a rapid test.
async fn a_rapid_test_uploads(app: App) {
    let qr_hash = sha256_hex(uuid::Uuid::new_v4().to_string());
    let token = app.register("GUID", &sha256_hex(&qr_hash)).await;
    // Before the result: pending (0, as the original answers for an unknown id).
    assert_eq!(app.poll(&token).await["testResult"], 0);
    app.rapid_result(&qr_hash, 6).await;
    assert_eq!(app.poll(&token).await["testResult"], 6);
    app.rapid_result(&qr_hash, 7).await;
    let polled = app.poll(&token).await;
    assert_eq!(polled["testResult"], 7);
    assert_eq!(polled["labId"], "lab-1");
    let [tan, _] = app.tans_for(&token).await;
    let mut p = payload(today(&app), 5);
    p.submission_type = Some(1);
    assert_eq!(app.submit(&p, &tan).await.status(), StatusCode::OK);
    assert_eq!(app.stored().await, 5);
}
on_both!(a_rapid_test_uploads);
