//! `warnkit lab post`: what is no GUID or hash is refused before anything is sent, and a service's
//! refusal is reported.

use super::{cases, refused, GUID};
use crate::common::start;

#[test]
fn lab_post_refuses_what_is_no_guid_or_hash_before_sending() {
    // Port 9 (discard) on loopback: nothing listens, so a request that went out would fail with a
    // connection error, never with the validation messages asserted here.
    let url = "http://127.0.0.1:9";
    let post = |id_flag: &str, id: &str, result: &str| -> Vec<String> {
        [
            "lab", "post", "--url", url, "--key", "k", id_flag, id, "--result", result,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    };
    let hash = "ab".repeat(32);
    let list = vec![
        (post("--guid", "", "positive"), "--guid: the GUID is empty"),
        (
            post("--guid", "hello world", "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", " 3D6D08", "positive"),
            "is not a test's GUID",
        ),
        (post("--guid", "hello", "positive"), "is not a test's GUID"),
        (
            post("--guid", &GUID[..GUID.len() - 1], "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", &GUID.replace('-', ""), "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", &format!("{GUID}-0"), "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", &"Z".repeat(10_000), "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", "https://localhost/?", "positive"),
            "the GUID is empty",
        ),
        (
            post(
                "--guid",
                &format!("https://example.org/?{GUID}"),
                "positive",
            ),
            "is not a test's GUID",
        ),
        (post("--guid", &hash, "positive"), "looks like a SHA-256"),
        (post("--guid", GUID, "rapid-positive"), "--hash"),
        (post("--guid", GUID, "maybe"), "possible values"),
        (post("--hash", "", "rapid-positive"), "not a SHA-256"),
        (post("--hash", "abc", "rapid-positive"), "not a SHA-256"),
        (
            post("--hash", &"g".repeat(64), "rapid-positive"),
            "not a SHA-256",
        ),
        (
            post("--hash", &"a".repeat(65), "rapid-positive"),
            "not a SHA-256",
        ),
        (post("--hash", &hash, "positive"), "--guid"),
    ];
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn lab_post_reports_the_services_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, endpoints) = start(dir.path(), &[]);
    let url = endpoints["testresult"].as_str().expect("testresult url");
    // A well-formed request with a key the service does not know: refused there, and said so here.
    let list = cases(&[(
        &[
            "lab",
            "post",
            "--url",
            url,
            "--key",
            "wk_lab_unknown",
            "--guid",
            GUID,
            "--result",
            "positive",
        ],
        "answered 401",
    )]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
    // Nothing listens on the discard port: a connection error, named as such.
    let list = cases(&[(
        &[
            "lab",
            "post",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "k",
            "--guid",
            GUID,
            "--result",
            "positive",
        ],
        "posting to http://127.0.0.1:9",
    )]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}
