//! What a lab's system posts, named as people name results: each result's code, the route a result of
//! that code goes to (PCR results under the hashed GUID, rapid-test results under the QR code's hash),
//! and [`LabClient`], which posts them as a lab's system does.

use warnkit_protocol::qr::qr_guid;
use warnkit_service::auth::{is_hex, sha256_hex};

use crate::api::{LabResult, LabResultsRequest, LAB_PATH, QUICKTEST_PATH};
use crate::code;

/// The results a lab may post, by name, with their codes; codes 5-9 are rapid-test results.
pub const RESULT_NAMES: [(&str, i64); 8] = [
    ("negative", code::NEGATIVE),
    ("positive", code::POSITIVE),
    ("invalid", code::INVALID),
    ("rapid-pending", code::QUICK_PENDING),
    ("rapid-negative", code::QUICK_NEGATIVE),
    ("rapid-positive", code::QUICK_POSITIVE),
    ("rapid-invalid", code::QUICK_INVALID),
    ("rapid-redeemed", code::QUICK_REDEEMED),
];

/// The code of the result named `name` ([`RESULT_NAMES`]).
pub fn result_code(name: &str) -> Option<i64> {
    RESULT_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, code)| code)
}

/// Whether `code` is a rapid-test result.
pub fn is_rapid(code: i64) -> bool {
    code >= code::QUICK_PENDING
}

/// The route a result of `code` is posted to.
pub fn route(code: i64) -> &'static str {
    if is_rapid(code) {
        QUICKTEST_PATH
    } else {
        LAB_PATH
    }
}

/// The result a lab posts and its route, from what a person names: the result (one of
/// [`RESULT_NAMES`]) and either the test's GUID (PCR: sent as its SHA-256, as the phone registers it) or
/// the `hash` field of a rapid test's QR code (sent as it is). The error says what to give instead.
pub fn lab_result(
    name: &str,
    guid: Option<&str>,
    hash: Option<&str>,
    sc: Option<i64>,
) -> Result<(&'static str, LabResult), String> {
    let Some(result) = result_code(name) else {
        return Err(format!("unknown result {name}"));
    };
    let id = match (guid, hash, is_rapid(result)) {
        (Some(guid), None, false) => hashed_guid(guid)?,
        (None, Some(hash), true) => {
            if !is_hex(hash, 64) {
                let shown: String = hash.chars().take(80).collect();
                return Err(format!(
                    "--hash {shown:?} is not a SHA-256: give the 64 hex digits of the `hash` field \
                     of the rapid test's QR code ({} characters given)",
                    hash.chars().count()
                ));
            }
            hash.to_owned()
        }
        (Some(_), _, true) => {
            return Err(format!(
                "{name} is a rapid-test result: give the QR code's hash with --hash, not --guid"
            ))
        }
        (_, Some(_), false) => {
            return Err(format!(
                "{name} is a PCR result: give the test GUID with --guid (rapid tests: --result rapid-...)"
            ))
        }
        (None, None, _) => return Err("give --guid (PCR) or --hash (rapid test)".into()),
    };
    Ok((route(result), LabResult { id, result, sc }))
}

/// SHA-256 of the GUID as the phone computes it, after refusing what cannot be a test's GUID with the
/// phone's own check ([`qr_guid`]: the original's QR-code shape, or the code's whole content
/// `https://localhost/?GUID`).
fn hashed_guid(scanned: &str) -> Result<String, String> {
    // The likeliest mix-up gets its own hint: the hash a lab system may hold instead of the GUID.
    if is_hex(scanned, 64) {
        return Err(
            "--guid looks like a SHA-256 already; give the GUID itself, it is hashed here".into(),
        );
    }
    let guid = qr_guid(scanned).map_err(|e| format!("--guid: {e}"))?;
    Ok(sha256_hex(guid))
}

/// Why a lab's post did not go through.
#[derive(Debug, thiserror::Error)]
pub enum LabPostError {
    /// The service could not be reached or did not answer.
    #[error("posting to {url}: {source}")]
    Send {
        /// Where the post went.
        url: String,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// The service answered with an error.
    #[error("the test-result service answered {status}: {body}")]
    Refused {
        /// The status it answered.
        status: reqwest::StatusCode,
        /// Its error body.
        body: String,
    },
}

/// A lab's client of the test-result service: posts results under a lab's API key, as a lab's system
/// does (`warnkit lab post`, the demo's labs, the benchmarks).
#[derive(Debug, Clone)]
pub struct LabClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl LabClient {
    /// A client of the service at `base` (e.g. `http://127.0.0.1:8003`) posting with the API key `key`,
    /// on the connections of `http`.
    pub fn new(http: reqwest::Client, base: &str, key: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }
    }

    /// Posts `results` to `route` ([`route`]: one upload holds PCR or rapid-test results, not both);
    /// returns the status the service answered with.
    pub async fn post(
        &self,
        route: &str,
        results: Vec<LabResult>,
    ) -> Result<reqwest::StatusCode, LabPostError> {
        let url = format!("{}{route}", self.base);
        let body = LabResultsRequest {
            lab_id: None,
            test_results: results,
        };
        let send = |source| LabPostError::Send {
            url: url.clone(),
            source,
        };
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .map_err(send)?;
        let status = response.status();
        if status.is_success() {
            return Ok(status);
        }
        let body = response.text().await.unwrap_or_default();
        Err(LabPostError::Refused { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(
        guid: Option<&str>,
        hash: Option<&str>,
        name: &str,
    ) -> Result<(&'static str, LabResult), String> {
        lab_result(name, guid, hash, None)
    }

    #[test]
    fn pcr_results_go_to_the_lab_route_hashed() {
        let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
        let (path, r) = post(Some(guid), None, "positive").unwrap();
        assert_eq!((r.result, path), (2, "/api/v1/lab/results"));
        assert_eq!(r.id, sha256_hex(guid));
    }

    #[test]
    fn guids_of_either_case_and_whole_qr_codes_are_hashed_as_the_phone_does() {
        let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
        let lower = guid.to_lowercase();
        for (given, hashed) in [
            (guid.to_owned(), guid),
            (lower.clone(), lower.as_str()),
            (format!("https://localhost/?{guid}"), guid),
        ] {
            let (_, r) = post(Some(&given), None, "positive").unwrap();
            assert_eq!(r.id, sha256_hex(hashed), "{given}");
        }
    }

    #[test]
    fn rapid_results_go_to_the_quicktest_route_as_sent() {
        let hash = "a".repeat(64);
        let (path, r) = post(None, Some(&hash), "rapid-positive").unwrap();
        assert_eq!(
            (r.result, path, r.id),
            (7, "/api/v1/quicktest/results", hash)
        );
    }

    #[test]
    fn mismatches_and_malformed_input_are_refused() {
        let hash = "a".repeat(64);
        let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
        let elsewhere = format!("https://example.org/?{guid}");
        let cases: [(Option<&str>, Option<&str>, &str, &str); 12] = [
            (Some(guid), None, "rapid-positive", "--hash"),
            (None, Some(&hash), "positive", "--guid"),
            (None, Some("abc"), "rapid-negative", "64 hex"),
            (Some(""), None, "positive", "empty"),
            (Some(" x"), None, "positive", "not a test's GUID"),
            (Some("hello world"), None, "positive", "not a test's GUID"),
            (Some(&guid[1..]), None, "positive", "not a test's GUID"),
            (
                Some("3G6G08-3567F3F2-4GCF-43A3-8737-4CG1F87G6FGA"),
                None,
                "positive",
                "not a test's GUID",
            ),
            (Some(&elsewhere), None, "positive", "not a test's GUID"),
            (Some(&hash), None, "negative", "SHA-256"),
            (None, Some(&"g".repeat(64)), "rapid-negative", "64 hex"),
            (None, None, "positive", "--guid"),
        ];
        for (guid, hash, name, needle) in cases {
            let err = post(guid, hash, name).unwrap_err();
            assert!(err.contains(needle), "{guid:?} {hash:?} {name}: {err}");
        }
        assert!(post(Some(guid), None, "pending")
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn names_give_the_originals_codes_and_routes() {
        assert_eq!(result_code("positive"), Some(2));
        assert_eq!(result_code("rapid-positive"), Some(7));
        assert_eq!(
            result_code("pending"),
            None,
            "a lab posts no pending PCR result"
        );
        assert_eq!(route(2), "/api/v1/lab/results");
        assert_eq!(route(7), "/api/v1/quicktest/results");
        assert!(!is_rapid(3) && is_rapid(5));
    }
}
