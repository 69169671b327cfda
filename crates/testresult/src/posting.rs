//! What a lab's system posts, named as people name results: each result's code, and the route a result
//! of that code goes to (PCR results under the hashed GUID, rapid-test results under the QR code's hash).

use crate::api::{LAB_PATH, QUICKTEST_PATH};
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

#[cfg(test)]
mod tests {
    use super::*;

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
