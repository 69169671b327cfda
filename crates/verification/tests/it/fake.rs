//! Fake requests: validated like real ones, nothing stored, and answered alike: the same status, header
//! names and body size on every app endpoint; `cwa-fake` required, its refusal the size of any error.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use warnkit_service::auth::sha256_hex;
use warnkit_verification::ERROR_BYTES;

use crate::harness::{new_guid, App, FAKE, REAL};
use crate::on_both;

/// What an observer of the traffic sees of an answer: status, header names (values such as `date` differ
/// from one answer to the next, real or fake), body size.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: StatusCode,
    header_names: Vec<String>,
    body_len: usize,
}

async fn seen(r: Response) -> (Seen, Value) {
    let status = r.status();
    let mut header_names: Vec<String> = r.headers().keys().map(|k| k.to_string()).collect();
    header_names.sort();
    let body = r.bytes().await.unwrap();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let seen = Seen {
        status,
        header_names,
        body_len: body.len(),
    };
    (seen, value)
}

/// An app request body as the apps send it: with a `requestPadding` field.
fn padded(mut body: Value) -> Value {
    body["requestPadding"] = "x".repeat(97).into();
    body
}

async fn fakes_store_nothing_and_match_sizes(app: App) {
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let ext = |p: &str| format!("{}/version/v1/{p}", app.external);
    let reg = json!({"keyType": "GUID", "key": sha256_hex(&guid)});

    // Fakes first: nothing may change, not even the GUID's claim.
    let before = app.counts().await;
    let (fake_reg, _) = seen(app.post(&ext("registrationToken"), &reg, FAKE).await).await;
    assert_eq!(fake_reg.status, StatusCode::CREATED);
    let some_token = json!({"registrationToken": uuid::Uuid::new_v4().to_string()});
    let (fake_poll, v) = seen(app.post(&ext("testresult"), &some_token, FAKE).await).await;
    assert_eq!(
        (fake_poll.status, &v["testResult"]),
        (StatusCode::OK, &json!(2))
    );
    let (fake_tan, _) = seen(app.post(&ext("tan"), &some_token, FAKE).await).await;
    assert_eq!(fake_tan.status, StatusCode::CREATED);
    // Invalid fakes are refused like invalid real requests.
    let bad = json!({"keyType": "GUID", "key": "abc"});
    let (fake_bad, _) = seen(app.post(&ext("registrationToken"), &bad, FAKE).await).await;
    let (real_bad, _) = seen(app.post(&ext("registrationToken"), &bad, REAL).await).await;
    assert_eq!(fake_bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(fake_bad, real_bad);
    assert_eq!(app.counts().await, before, "fakes store nothing");

    // The real requests look the same on the wire: status, header names and size.
    let r = app.post(&ext("registrationToken"), &reg, REAL).await;
    let (real_reg, v) = seen(r).await;
    assert_eq!(real_reg, fake_reg);
    let token = v["registrationToken"].as_str().unwrap().to_owned();
    let token_body = json!({"registrationToken": token});
    let (real_poll, v) = seen(app.post(&ext("testresult"), &token_body, REAL).await).await;
    assert_eq!(v["labId"], "lab-1", "a real answer, with its lab");
    assert_eq!(real_poll, fake_poll);
    let (real_tan, _) = seen(app.post(&ext("tan"), &token_body, REAL).await).await;
    assert_eq!(real_tan, fake_tan);

    // A teleTAN session's answers (no labId) look the same as well.
    let teletan = app.teletan(None).await.1.unwrap();
    let token = app.register("TELETAN", &teletan).await.1.unwrap();
    let token_body = json!({"registrationToken": token});
    let (teletan_poll, _) = seen(app.post(&ext("testresult"), &token_body, REAL).await).await;
    assert_eq!(teletan_poll, fake_poll);
    let (teletan_tan, _) = seen(app.post(&ext("tan"), &token_body, REAL).await).await;
    assert_eq!(teletan_tan, fake_tan);
}
on_both!(fakes_store_nothing_and_match_sizes);

/// `cwa-fake` is required on every app endpoint: without it, or with anything but 0 or 1, the request is
/// refused with 400, nothing is stored, and the answer has the size and header names of any other error
/// of that endpoint. The apps' header padding and `requestPadding` are accepted and ignored.
async fn fake_header_required_and_refused_alike(app: App) {
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let ext = |p: &str| format!("{}/version/v1/{p}", app.external);
    let reg = padded(json!({"keyType": "GUID", "key": sha256_hex(&guid)}));
    let unknown = padded(json!({"registrationToken": uuid::Uuid::new_v4().to_string()}));
    let before = app.counts().await;
    for (path, body) in [
        ("registrationToken", &reg),
        ("testresult", &unknown),
        ("tan", &unknown),
    ] {
        // Another error of the endpoint, from a request with the header: malformed JSON.
        let r = app
            .http
            .post(ext(path))
            .header("content-type", "application/json")
            .header("cwa-fake", "0")
            .body("{")
            .send()
            .await
            .unwrap();
        let (other_error, v) = seen(r).await;
        assert_eq!(
            (other_error.status, other_error.body_len, &v["error"]),
            (
                StatusCode::BAD_REQUEST,
                ERROR_BYTES,
                &json!("malformed_json")
            )
        );
        for headers in [
            &[][..],
            &[("cwa-header-padding", "")][..],
            &[("cwa-fake", "")][..],
            &[("cwa-fake", "2")][..],
            &[("cwa-fake", "true")][..],
            &[("cwa-fake", "01")][..],
        ] {
            let (refused, v) = seen(app.post(&ext(path), body, headers).await).await;
            assert_eq!(refused, other_error, "{path} {headers:?}: {v}");
            let code = v["error"].as_str().unwrap();
            assert!(code.ends_with("_fake_header"), "{path} {headers:?}: {v}");
        }
    }
    assert_eq!(app.counts().await, before, "refused requests store nothing");
    // The unknown token with the header: an error of the same size again.
    let (unknown_token, v) = seen(app.post(&ext("tan"), &unknown, REAL).await).await;
    assert_eq!(v["error"], "unknown_token");
    assert_eq!(unknown_token.body_len, ERROR_BYTES);

    // With the apps' header padding (empty or not) and requestPadding, real and fake go through.
    let padding = [("cwa-fake", "0"), ("cwa-header-padding", "")];
    let r = app.post(&ext("registrationToken"), &reg, &padding).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let padding = [("cwa-fake", "1"), ("cwa-header-padding", "abcdefghij")];
    let r = app.post(&ext("tan"), &unknown, &padding).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
on_both!(fake_header_required_and_refused_alike);
