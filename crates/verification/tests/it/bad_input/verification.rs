//! The bad-input cases of the verification service's own endpoints: the app API and the internal API.

use reqwest::StatusCode;
use serde_json::json;

use super::{app_case, case, json_body, oversized, Case, Targets, BAD, UNAUTH};

/// The app API: registration, polling and TANs, each refusal as the apps would meet it.
pub(super) fn app_api(t: &Targets) -> Vec<Case> {
    let Targets {
        reg,
        poll,
        tan,
        hash,
        good_teletan,
        bad_check,
        token,
        ..
    } = t;
    let mut cases = vec![
        app_case("malformed JSON", reg, "{", BAD),
        app_case("not an object", reg, "[]", BAD),
        app_case(
            "missing key",
            reg,
            json_body(json!({"keyType": "GUID"})),
            BAD,
        ),
        app_case(
            "key wrong type",
            reg,
            json_body(json!({"keyType": "GUID", "key": 5})),
            BAD,
        ),
        app_case(
            "unknown keyType",
            reg,
            json_body(json!({"keyType": "QR", "key": hash})),
            BAD,
        ),
        app_case(
            "key not hex",
            reg,
            json_body(json!({"keyType": "GUID", "key": "g".repeat(64)})),
            BAD,
        ),
        app_case(
            "key too short",
            reg,
            json_body(json!({"keyType": "GUID", "key": &hash[1..]})),
            BAD,
        ),
        app_case(
            "keyDob not hex",
            reg,
            json_body(json!({"keyType": "GUID", "key": hash, "keyDob": "y".repeat(64)})),
            BAD,
        ),
        app_case(
            "teleTAN bad alphabet",
            reg,
            json_body(json!({"keyType": "TELETAN", "key": "0000000000"})),
            BAD,
        ),
        app_case(
            "teleTAN lowercase",
            reg,
            json_body(json!({"keyType": "TELETAN", "key": good_teletan.to_lowercase()})),
            BAD,
        ),
        app_case(
            "teleTAN bad check",
            reg,
            json_body(json!({"keyType": "TELETAN", "key": bad_check})),
            BAD,
        ),
        app_case(
            "teleTAN too short",
            reg,
            json_body(json!({"keyType": "TELETAN", "key": &good_teletan[..9]})),
            BAD,
        ),
        app_case(
            "oversized",
            reg,
            oversized("key"),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        Case {
            content_type: Some("text/plain"),
            ..app_case(
                "text/plain",
                reg,
                json_body(json!({"keyType": "GUID", "key": hash})),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        Case {
            content_type: None,
            ..app_case(
                "no content type",
                reg,
                json_body(json!({"keyType": "GUID", "key": hash})),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
    ];
    for url in [poll, tan] {
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
    for url in [reg, poll, tan] {
        cases.push(case("no cwa-fake", url, "{", BAD));
    }
    cases
}

/// The internal API: TAN checks and teleTANs, behind the service token.
pub(super) fn internal_api(t: &Targets) -> Vec<Case> {
    let Targets {
        verify,
        teletan,
        good_teletan,
        auth,
        wrong,
        ..
    } = t;
    let tan_body = json_body(json!({"tan": uuid::Uuid::new_v4().to_string()}));
    vec![
        case("no bearer", verify, tan_body.clone(), UNAUTH),
        Case {
            auth: wrong.clone(),
            ..case("wrong bearer", verify, tan_body.clone(), UNAUTH)
        },
        Case {
            auth: auth.clone(),
            ..case(
                "teleTAN as TAN",
                verify,
                json_body(json!({"tan": good_teletan})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case("malformed JSON", verify, "{]", BAD)
        },
        Case {
            auth: auth.clone(),
            ..case(
                "unknown teleTanType",
                verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "teleTanType": "PARTY"})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "lowercase teleTanType",
                verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "teleTanType": "test"})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash uppercase",
                verify,
                json_body(
                    json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": "AB".repeat(32)}),
                ),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash too short",
                verify,
                json_body(
                    json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": "ab".repeat(31)}),
                ),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash not hex",
                verify,
                json_body(
                    json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": "zz".repeat(32)}),
                ),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "payloadHash not a string",
                verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "payloadHash": 64})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "teleTanType not a string",
                verify,
                json_body(json!({"tan": uuid::Uuid::new_v4().to_string(), "teleTanType": 1})),
                BAD,
            )
        },
        Case {
            auth: auth.clone(),
            ..case(
                "oversized",
                verify,
                oversized("tan"),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        },
        Case {
            auth: auth.clone(),
            content_type: Some("text/plain"),
            ..case(
                "text/plain",
                verify,
                tan_body,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        case("no bearer", teletan, "", UNAUTH),
        Case {
            auth: wrong.clone(),
            ..case("wrong bearer", teletan, "", UNAUTH)
        },
        Case {
            auth: auth.clone(),
            headers: vec![("x-cwa-teletan-type", "PARTY")],
            ..case("bad type", teletan, "", BAD)
        },
        Case {
            auth: auth.clone(),
            ..case(
                "oversized",
                teletan,
                "x".repeat(10_001),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        },
    ]
}
