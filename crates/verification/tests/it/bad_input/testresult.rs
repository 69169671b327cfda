//! The bad-input cases of the test-result service: the lab routes (PCR and rapid tests) and the
//! internal lookup.

use reqwest::StatusCode;
use serde_json::json;

use super::{case, json_body, oversized, Case, Targets, BAD, UNAUTH};

/// Lab results on both routes, and the lookup verification makes.
pub(super) fn cases(t: &Targets) -> Vec<Case> {
    let Targets {
        lab,
        quick,
        lookup,
        hash,
        auth,
        wrong,
        lab_auth,
        ..
    } = t;
    let mut cases = Vec::new();
    let result = |id: &str, r: i64| json_body(json!({"testResults": [{"id": id, "result": r}]}));
    cases.extend([
        case("no lab key", lab, result(hash, 2), UNAUTH),
        Case {
            auth: wrong.clone(),
            ..case("wrong lab key", lab, result(hash, 2), UNAUTH)
        },
        Case {
            auth: auth.clone(),
            ..case("service token as lab key", lab, result(hash, 2), UNAUTH)
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "other lab",
                lab,
                json_body(json!({"labId": "lab-2", "testResults": [{"id": hash, "result": 2}]})),
                StatusCode::FORBIDDEN,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case("bad id", lab, result("abc", 2), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case("result 0", lab, result(hash, 0), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case("result 4", lab, result(hash, 4), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case("rapid result on the PCR route", lab, result(hash, 7), BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "result string",
                lab,
                json_body(json!({"testResults": [{"id": hash, "result": "2"}]})),
                BAD,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "no results",
                lab,
                json_body(json!({"testResults": []})),
                BAD,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "future sc",
                lab,
                json_body(
                    json!({"testResults": [{"id": hash, "result": 2, "sc": 99_999_999_999i64}]}),
                ),
                BAD,
            )
        },
        Case {
            auth: lab_auth.clone(),
            ..case("malformed", lab, "{", BAD)
        },
        Case {
            auth: lab_auth.clone(),
            ..case(
                "oversized",
                lab,
                oversized("labId"),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        },
        Case {
            auth: lab_auth.clone(),
            content_type: Some("text/csv"),
            ..case(
                "csv",
                lab,
                result(hash, 2),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )
        },
        case(
            "no service token",
            lookup,
            json_body(json!({"id": hash})),
            UNAUTH,
        ),
        Case {
            auth: lab_auth.clone(),
            ..case(
                "lab key as service token",
                lookup,
                json_body(json!({"id": hash})),
                UNAUTH,
            )
        },
        Case {
            auth: auth.clone(),
            ..case("bad id", lookup, json_body(json!({"id": "zz"})), BAD)
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
        ("no lab key", None, result(hash, 7), UNAUTH),
        ("wrong lab key", wrong.clone(), result(hash, 7), UNAUTH),
        (
            "service token as lab key",
            auth.clone(),
            result(hash, 7),
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
        ("PCR result", lab_auth.clone(), result(hash, 2), BAD),
        ("result 4", lab_auth.clone(), result(hash, 4), BAD),
        ("result 10", lab_auth.clone(), result(hash, 10), BAD),
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
            ..case(what, quick, body, expect)
        });
    }
    cases.push(Case {
        auth: lab_auth.clone(),
        content_type: Some("text/plain"),
        ..case(
            "text",
            quick,
            result(hash, 7),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
    });

    cases
}
