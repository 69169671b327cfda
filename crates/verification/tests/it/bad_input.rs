//! The bad-input matrix: every endpoint refuses malformed input with a 4xx and a short JSON error, and
//! nothing is stored.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warnkit_service::auth::sha256_hex;
use warnkit_verification::ERROR_BYTES;

use crate::harness::{new_guid, App, REAL};
use crate::on_both;

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

async fn bad_input_matrix(app: App) {
    const BAD: StatusCode = StatusCode::BAD_REQUEST;
    const UNAUTH: StatusCode = StatusCode::UNAUTHORIZED;
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

    let mut cases = vec![
        app_case("malformed JSON", &reg, "{", BAD),
        app_case("not an object", &reg, "[]", BAD),
        app_case(
            "missing key",
            &reg,
            json_body(json!({"keyType": "GUID"})),
            BAD,
        ),
        app_case(
            "key wrong type",
            &reg,
            json_body(json!({"keyType": "GUID", "key": 5})),
            BAD,
        ),
        app_case(
            "unknown keyType",
            &reg,
            json_body(json!({"keyType": "QR", "key": hash})),
            BAD,
        ),
        app_case(
            "key not hex",
            &reg,
            json_body(json!({"keyType": "GUID", "key": "g".repeat(64)})),
            BAD,
        ),
        app_case(
            "key too short",
            &reg,
            json_body(json!({"keyType": "GUID", "key": &hash[1..]})),
            BAD,
        ),
        app_case(
            "keyDob not hex",
            &reg,
            json_body(json!({"keyType": "GUID", "key": hash, "keyDob": "y".repeat(64)})),
            BAD,
        ),
        app_case(
            "teleTAN bad alphabet",
            &reg,
            json_body(json!({"keyType": "TELETAN", "key": "0000000000"})),
            BAD,
        ),
        app_case(
            "teleTAN lowercase",
            &reg,
            json_body(json!({"keyType": "TELETAN", "key": good_teletan.to_lowercase()})),
            BAD,
        ),
        app_case(
            "teleTAN bad check",
            &reg,
            json_body(json!({"keyType": "TELETAN", "key": bad_check})),
            BAD,
        ),
        app_case(
            "teleTAN too short",
            &reg,
            json_body(json!({"keyType": "TELETAN", "key": &good_teletan[..9]})),
            BAD,
        ),
        app_case(
            "oversized",
            &reg,
            oversized("key"),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        Case {
            content_type: Some("text/plain"),
            ..app_case(
                "text/plain",
                &reg,
                json_body(json!({"keyType": "GUID", "key": hash})),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        Case {
            content_type: None,
            ..app_case(
                "no content type",
                &reg,
                json_body(json!({"keyType": "GUID", "key": hash})),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
    ];
    for url in [&poll, &tan] {
        cases.extend([
            app_case("malformed JSON", url, "{\"registrationToken\":", BAD),
            app_case(
                "token uppercase",
                url,
                json_body(json!({"registrationToken": token.to_uppercase()})),
                BAD,
            ),
            app_case(
                "token not a uuid",
                url,
                json_body(json!({"registrationToken": "abc"})),
                BAD,
            ),
            app_case(
                "token uuid v1",
                url,
                json_body(json!({"registrationToken": "1ea6ce8a-9740-11ea-bb37-0242ac130002"})),
                BAD,
            ),
            app_case(
                "token wrong type",
                url,
                json_body(json!({"registrationToken": 1})),
                BAD,
            ),
            app_case("token missing", url, json_body(json!({})), BAD),
            app_case(
                "oversized",
                url,
                oversized("registrationToken"),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            Case {
                content_type: Some("application/x-www-form-urlencoded"),
                ..app_case(
                    "form",
                    url,
                    "registrationToken=x",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                )
            },
        ]);
    }
    // `cwa-fake` is required on the app API (`fake.rs` has every value): refused before the body is read.
    for url in [&reg, &poll, &tan] {
        cases.push(case("no cwa-fake", url, "{", BAD));
    }
    let auth = Some(app.bearer());
    let wrong = Some("Bearer wrong".to_owned());
    let tan_body = json_body(json!({"tan": uuid::Uuid::new_v4().to_string()}));
    cases.extend([
        case("no bearer", &verify, tan_body.clone(), UNAUTH),
        Case {
            auth: wrong.clone(),
            ..case("wrong bearer", &verify, tan_body.clone(), UNAUTH)
        },
        Case {
            auth: auth.clone(),
            ..case(
                "teleTAN as TAN",
                &verify,
                json_body(json!({"tan": good_teletan})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case("malformed JSON", &verify, "{]", BAD)
        },
        Case {
            auth: auth.clone(),
            ..case(
                "unknown teleTanType",
                &verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "teleTanType": "PARTY"})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "lowercase teleTanType",
                &verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "teleTanType": "test"})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash uppercase",
                &verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": "AB".repeat(32)})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash too short",
                &verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": "ab".repeat(31)})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash not hex",
                &verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": "zz".repeat(32)})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash not a string",
                &verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": 64})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "teleTanType not a string",
                &verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "teleTanType": 1})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "oversized",
                &verify,
                oversized("tan"),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        },
        Case {
            auth: auth.clone(),
            content_type: Some("text/plain"),
            ..case(
                "text/plain",
                &verify,
                tan_body,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        case("no bearer", &teletan, "", UNAUTH),
        Case {
            auth: wrong.clone(),
            ..case("wrong bearer", &teletan, "", UNAUTH)
        },
        Case {
            auth: auth.clone(),
            headers: vec![("x-cwa-teletan-type", "PARTY")],
            ..case("bad type", &teletan, "", BAD)
        },
        Case {
            auth: auth.clone(),
            ..case(
                "oversized",
                &teletan,
                "x".repeat(10_001),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        },
    ]);
    let lab_auth = Some(app.bearer_lab());
    let result = |id: &str, r: i64| json_body(json!({"testResults": [{"id": id, "result": r}]}));
    cases.extend([
        case("no lab key", &lab, result(&hash, 2), UNAUTH),
        Case {
            auth: wrong.clone(),
            ..case("wrong lab key", &lab, result(&hash, 2), UNAUTH)
        },
        Case {
            auth: auth.clone(),
            ..case("service token as lab key", &lab, result(&hash, 2), UNAUTH)
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "other lab",
                &lab,
                json_body(json!({"labId": "lab-2", "testResults": [{"id": hash, "result": 2}]})),
                StatusCode::FORBIDDEN,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case("bad id", &lab, result("abc", 2), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case("result 0", &lab, result(&hash, 0), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case("result 4", &lab, result(&hash, 4), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case("rapid result on the PCR route", &lab, result(&hash, 7), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "result string",
                &lab,
                json_body(json!({"testResults": [{"id": hash, "result": "2"}]})),
                BAD,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "no results",
                &lab,
                json_body(json!({"testResults": []})),
                BAD,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "future sc",
                &lab,
                json_body(
                    json!({"testResults": [{"id": hash, "result": 2, "sc": 99_999_999_999i64}]}),
                ),
                BAD,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case("malformed", &lab, "{", BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "oversized",
                &lab,
                oversized("labId"),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        },
        Case {
            auth: lab_auth.clone(),
            content_type: Some("text/csv"),
            ..case(
                "csv",
                &lab,
                result(&hash, 2),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        case(
            "no service token",
            &lookup,
            json_body(json!({"id": hash})),
            UNAUTH,
        ),
        Case {
            auth: lab_auth.clone(),
            ..case(
                "lab key as service token",
                &lookup,
                json_body(json!({"id": hash})),
                UNAUTH,
            )
        },
        Case {
            auth: auth.clone(),
            ..case("bad id", &lookup, json_body(json!({"id": "zz"})), BAD)
        },
    ]);

    // The rapid-test route: the same lab keys, results 5..=9 only, ids as on the PCR route.
    let sc_future =
        json_body(json!({"testResults": [{"id": hash, "result": 7, "sc": 99_999_999_999i64}]}));
    let one_bad =
        json_body(json!({"testResults": [{"id": hash, "result": 7}, {"id": hash, "result": 1}]}));
    let other_lab =
        json_body(json!({"labId": "lab-2", "testResults": [{"id": hash, "result": 7}]}));
    let quick_cases: [(&str, Option<String>, Vec<u8>, StatusCode); 13] = [
        ("no lab key", None, result(&hash, 7), UNAUTH),
        ("wrong lab key", wrong.clone(), result(&hash, 7), UNAUTH),
        (
            "service token as lab key",
            auth.clone(),
            result(&hash, 7),
            UNAUTH,
        ),
        (
            "other lab",
            lab_auth.clone(),
            other_lab,
            StatusCode::FORBIDDEN,
        ),
        ("bad id", lab_auth.clone(), result("abc", 7), BAD),
        ("id of 63", lab_auth.clone(), result(&hash[1..], 7), BAD),
        ("PCR result", lab_auth.clone(), result(&hash, 2), BAD),
        ("result 4", lab_auth.clone(), result(&hash, 4), BAD),
        ("result 10", lab_auth.clone(), result(&hash, 10), BAD),
        (
            "no results",
            lab_auth.clone(),
            json_body(json!({"testResults": []})),
            BAD,
        ),
        ("future sc", lab_auth.clone(), sc_future, BAD),
        ("one bad entry of two", lab_auth.clone(), one_bad, BAD),
        (
            "oversized",
            lab_auth.clone(),
            oversized("labId"),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, auth, body, expect) in quick_cases {
        cases.push(Case {
            auth,
            ..case(what, &quick, body, expect)
        });
    }
    cases.push(Case {
        auth: lab_auth.clone(),
        content_type: Some("text/plain"),
        ..case(
            "text",
            &quick,
            result(&hash, 7),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
    });

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
            &lookup,
            &json!({"id": hash}),
            &[("authorization", &app.bearer())],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["testResult"], 0);
    // Nor under the id a rapid-test result is stored as.
    let r = app
        .post(
            &lookup,
            &json!({"id": sha256_hex(&hash)}),
            &[("authorization", &app.bearer())],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["testResult"], 0);
    // Wrong method and unknown route are JSON errors too.
    let r = app.http.get(&reg).send().await.unwrap();
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
