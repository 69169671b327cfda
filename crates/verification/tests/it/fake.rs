//! Fake requests: validated like real ones, nothing stored, answered with the same sizes.

use reqwest::StatusCode;
use serde_json::json;
use warnkit_service::auth::sha256_hex;

use crate::harness::{new_guid, App};
use crate::on_both;

async fn fakes_store_nothing_and_match_sizes(app: App) {
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let ext = |p: &str| format!("{}/version/v1/{p}", app.external);
    let reg = json!({"keyType": "GUID", "key": sha256_hex(&guid)});

    // Fakes first: nothing may change, not even the GUID's claim.
    let before = app.counts().await;
    let fake = [("cwa-fake", "1")];
    let r = app.post(&ext("registrationToken"), &reg, &fake).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let fake_reg_len = r.bytes().await.unwrap().len();
    let some_token = json!({"registrationToken": uuid::Uuid::new_v4().to_string()});
    let r = app.post(&ext("testresult"), &some_token, &fake).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fake_poll_len = r.bytes().await.unwrap().len();
    let r = app.post(&ext("tan"), &some_token, &fake).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let fake_tan_len = r.bytes().await.unwrap().len();
    // Invalid fakes are refused like invalid real requests.
    let r = app
        .post(
            &ext("registrationToken"),
            &json!({"keyType": "GUID", "key": "abc"}),
            &fake,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.counts().await, before, "fakes store nothing");

    // The real requests, with and without the header, have the same sizes.
    let r = app.post(&ext("registrationToken"), &reg, &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), fake_reg_len);
    let token = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["registrationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &ext("testresult"),
            &json!({"registrationToken": token}),
            &[("cwa-fake", "0")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().len(), fake_poll_len);
    let r = app
        .post(&ext("tan"), &json!({"registrationToken": token}), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.bytes().await.unwrap().len(), fake_tan_len);

    // A teleTAN session's poll (no labId) has the same size as well.
    let teletan = app.teletan(None).await.1.unwrap();
    let token = app.register("TELETAN", &teletan).await.1.unwrap();
    let r = app
        .post(
            &ext("testresult"),
            &json!({"registrationToken": token}),
            &[],
        )
        .await;
    assert_eq!(r.bytes().await.unwrap().len(), fake_poll_len);
}
on_both!(fakes_store_nothing_and_match_sizes);
