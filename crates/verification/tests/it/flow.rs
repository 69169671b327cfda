//! The whole path to a TAN, and the rules on the way.

use reqwest::StatusCode;
use warnkit_service::auth::sha256_hex;
use warnkit_verification::VerificationConfig;

use crate::harness::{new_guid, App, REAL};
use crate::on_both;

async fn whole_flow(app: App) {
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let (status, token) = app.register_guid(&guid).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = token.unwrap();
    let (status, result) = app.poll(&token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["testResult"], 2);
    assert_eq!(result["sc"], 1_700_000_000);
    assert_eq!(result["labId"], "lab-1");

    let (status, tan) = app.get_tan(&token).await;
    assert_eq!(status, StatusCode::CREATED);
    let tan = tan.unwrap();
    let r = app.verify(&tan).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("x-cwa-teletan-type").is_none());
    assert_eq!(app.verify(&tan).await.status(), StatusCode::NOT_FOUND);

    // The second TAN (the day-after upload) works; a third is refused.
    let (status, tan2) = app.get_tan(&token).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app.verify(&tan2.unwrap()).await.status(), StatusCode::OK);
    let (status, tan3) = app.get_tan(&token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(tan3.is_none());
    // An unknown TAN is 404 too.
    assert_eq!(
        app.verify(&uuid::Uuid::new_v4().to_string()).await.status(),
        StatusCode::NOT_FOUND
    );

    // The counters saw it.
    let internal = app.metrics().await;
    assert!(
        internal.contains("verification_tans_verified_total{service=\"verification_internal\"} 2"),
        "{internal}"
    );
    assert!(
        internal.contains("route=\"/version/v1/tan/verify\",status=\"404\"} 2"),
        "{internal}"
    );
    let external = app.metrics().await;
    assert!(
        external.contains("verification_tans_issued_total{service=\"verification\"} 2"),
        "{external}"
    );
    assert!(
        external.contains("verification_registrations_total{service=\"verification\"} 1"),
        "{external}"
    );
}
on_both!(whole_flow);

async fn registers_once(app: App) {
    let guid = new_guid();
    assert_eq!(app.register_guid(&guid).await.0, StatusCode::CREATED);
    assert_eq!(app.register_guid(&guid).await.0, StatusCode::BAD_REQUEST);
    // Uppercase hex of the same hash is the same key.
    assert_eq!(
        app.register("GUID", &sha256_hex(&guid).to_uppercase())
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    let (status, teletan) = app.teletan(None).await;
    assert_eq!(status, StatusCode::CREATED);
    let teletan = teletan.unwrap();
    let (status, token) = app.register("TELETAN", &teletan).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.register("TELETAN", &teletan).await.0,
        StatusCode::BAD_REQUEST
    );

    // A teleTAN session is positive and gets TANs of type TEST.
    let token = token.unwrap();
    let (status, result) = app.poll(&token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["testResult"], 2);
    let tan = app.get_tan(&token).await.1.unwrap();
    let r = app.verify(&tan).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-cwa-teletan-type"], "TEST");

    let event = app.teletan(Some("EVENT")).await.1.unwrap();
    let token = app.register("TELETAN", &event).await.1.unwrap();
    let tan = app.get_tan(&token).await.1.unwrap();
    assert_eq!(
        app.verify(&tan).await.headers()["x-cwa-teletan-type"],
        "EVENT"
    );
}
on_both!(registers_once);

async fn only_positive_yields_tan(app: App) {
    for (result, expected_poll) in [(Some(1), 1), (Some(3), 3), (None, 0)] {
        let guid = new_guid();
        if let Some(result) = result {
            app.lab_posts(&guid, result).await;
        }
        let token = app.register_guid(&guid).await.1.unwrap();
        let (status, polled) = app.poll(&token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(polled["testResult"], expected_poll);
        assert_eq!(
            app.get_tan(&token).await.0,
            StatusCode::BAD_REQUEST,
            "result {result:?}"
        );
    }
    // Redeemed (retention) results give no TAN either.
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let token = app.register_guid(&guid).await.1.unwrap();
    app.trs_clock.advance(30 * 86_400);
    app.trs.run_retention(app.trs_clock.now()).await.unwrap();
    assert_eq!(app.poll(&token).await.1["testResult"], 4);
    assert_eq!(app.get_tan(&token).await.0, StatusCode::BAD_REQUEST);
    // A result corrected from positive to negative stops TANs at once.
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let token = app.register_guid(&guid).await.1.unwrap();
    assert_eq!(app.get_tan(&token).await.0, StatusCode::CREATED);
    app.lab_posts(&guid, 1).await;
    assert_eq!(app.get_tan(&token).await.0, StatusCode::BAD_REQUEST);
    // An unknown registration token.
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.get_tan(&unknown).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.poll(&unknown).await.0, StatusCode::BAD_REQUEST);
    // Polling unknown ids stored nothing in the test-result service: a later positive still registers fine.
}
on_both!(only_positive_yields_tan);

/// Rapid tests (codes 5-9): the centre posts the QR code's hash, the phone registers its SHA-256 as a
/// GUID, polls the code as it is, and gets a TAN for 7 (positive) only.
async fn rapid_tests(app: App) {
    for (result, tan) in [(5, false), (6, false), (8, false), (9, false), (7, true)] {
        let qr_hash = sha256_hex(new_guid());
        app.quick_posts(&qr_hash, result).await;
        let (status, token) = app.register("GUID", &sha256_hex(&qr_hash)).await;
        assert_eq!(status, StatusCode::CREATED);
        let token = token.unwrap();
        let (status, polled) = app.poll(&token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(polled["testResult"], result);
        assert_eq!(polled["labId"], "lab-1");
        let (status, issued) = app.get_tan(&token).await;
        if tan {
            assert_eq!(status, StatusCode::CREATED, "result {result}");
            let r = app.verify_for(&issued.unwrap(), Some("TEST")).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.headers().get("x-cwa-teletan-type").is_none());
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "result {result}");
        }
    }
    // The hash itself is not what was stored: registering it unhashed finds nothing.
    let qr_hash = sha256_hex(new_guid());
    app.quick_posts(&qr_hash, 7).await;
    let token = app.register("GUID", &qr_hash).await.1.unwrap();
    assert_eq!(app.poll(&token).await.1["testResult"], 0);
    // Retention: a rapid result becomes rapid-test redeemed (9), no TAN.
    let token = app.register("GUID", &sha256_hex(&qr_hash)).await.1.unwrap();
    app.trs_clock.advance(22 * 86_400);
    app.trs.run_retention(app.trs_clock.now()).await.unwrap();
    assert_eq!(app.poll(&token).await.1["testResult"], 9);
    assert_eq!(app.get_tan(&token).await.0, StatusCode::BAD_REQUEST);
}
on_both!(rapid_tests);

/// `teleTanType` on `tan/verify`: a TAN of another type is refused with 403 and stays valid.
async fn verify_for_a_type(app: App) {
    let event = app.teletan(Some("EVENT")).await.1.unwrap();
    let token = app.register("TELETAN", &event).await.1.unwrap();
    let event_tan = app.get_tan(&token).await.1.unwrap();
    for _ in 0..2 {
        let r = app.verify_for(&event_tan, Some("TEST")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "wrong_tan_type");
    }
    let r = app.verify_for(&event_tan, Some("EVENT")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-cwa-teletan-type"], "EVENT");
    assert_eq!(
        app.verify_for(&event_tan, Some("EVENT")).await.status(),
        StatusCode::NOT_FOUND
    );
    // A lab TAN counts as TEST: refused for EVENT (kept), taken for TEST.
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let token = app.register_guid(&guid).await.1.unwrap();
    let lab_tan = app.get_tan(&token).await.1.unwrap();
    assert_eq!(
        app.verify_for(&lab_tan, Some("EVENT")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.verify_for(&lab_tan, Some("TEST")).await.status(),
        StatusCode::OK
    );
    // An EVENT TAN without the field: consumed as before.
    let event = app.teletan(Some("EVENT")).await.1.unwrap();
    let token = app.register("TELETAN", &event).await.1.unwrap();
    let tan = app.get_tan(&token).await.1.unwrap();
    assert_eq!(app.verify(&tan).await.status(), StatusCode::OK);
    // Unknown TANs stay 404 whatever the type asked for.
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        app.verify_for(&unknown, Some("TEST")).await.status(),
        StatusCode::NOT_FOUND
    );
    let internal = app.metrics().await;
    assert!(
        internal
            .contains("verification_tans_wrong_type_total{service=\"verification_internal\"} 3"),
        "{internal}"
    );
}
on_both!(verify_for_a_type);

async fn expired_teletan_refused(app: App) {
    let teletan = app.teletan(None).await.1.unwrap();
    // Valid for `teletan_valid_secs` from its issue: one second past that it is refused.
    let valid = VerificationConfig::default().teletan_valid_secs;
    app.clock.advance(i64::try_from(valid).unwrap() + 1);
    let before = app.counts().await;
    assert_eq!(
        app.register("TELETAN", &teletan).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.counts().await,
        before,
        "a failed registration changes nothing"
    );
    // A well-formed but never issued teleTAN.
    let unknown = warnkit_verification::teletan::generate(&mut rand::thread_rng());
    assert_eq!(
        app.register("TELETAN", &unknown).await.0,
        StatusCode::BAD_REQUEST
    );
}
on_both!(expired_teletan_refused);

async fn dob_mismatch_is_403(app: App) {
    let guid = new_guid();
    let dob = format!("x{}", &sha256_hex(format!("{guid}01012000"))[1..]);
    app.lab_posts(&guid, 2).await;
    let body = serde_json::json!({"keyType": "GUID", "key": sha256_hex(&guid), "keyDob": dob});
    let r = app
        .post(
            &format!("{}/version/v1/registrationToken", app.external),
            &body,
            REAL,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.json::<serde_json::Value>().await.unwrap()["registrationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // The lab uploaded only the plain id: the DOB id is pending, so the two disagree.
    assert_eq!(app.poll(&token).await.0, StatusCode::FORBIDDEN);
    // The DOB hash is a registration key too.
    let body = serde_json::json!({"keyType": "GUID", "key": sha256_hex(new_guid()), "keyDob": dob});
    let r = app
        .post(
            &format!("{}/version/v1/registrationToken", app.external),
            &body,
            REAL,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
on_both!(dob_mismatch_is_403);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teletan_limit_is_429() {
    let config = warnkit_verification::VerificationConfig {
        teletan_limit_per_hour: 3,
        ..Default::default()
    };
    for engine in [
        warnkit_testkit::Engine::Sqlite,
        warnkit_testkit::Engine::Postgres,
    ] {
        let Some(app) = App::start_with(engine, config.clone()).await else {
            continue;
        };
        for _ in 0..3 {
            assert_eq!(app.teletan(None).await.0, StatusCode::CREATED);
        }
        assert_eq!(app.teletan(None).await.0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(app.counts().await[3], 3);
    }
}

async fn retention_deletes_old_rows(app: App) {
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let token = app.register_guid(&guid).await.1.unwrap();
    app.get_tan(&token).await.1.unwrap();
    assert_eq!(app.vs.run_retention(app.clock.now()).await.unwrap(), 0);
    let later = app.clock.now() + 22 * 86_400;
    assert!(app.vs.run_retention(later).await.unwrap() >= 3);
    assert_eq!(app.counts().await, [0, 0, 0, 0]);
}
on_both!(retention_deletes_old_rows);
