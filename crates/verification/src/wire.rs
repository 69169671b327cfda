//! The internal API's wire form, shared by the service and its callers: the paths, the teleTAN type header
//! and the JSON bodies of `tan/verify` (the submission service's TAN check) and `tan/teletan` (the
//! portal's teleTAN issuing), so the three sides cannot drift apart.
//!
//! Both calls carry the service token as a bearer token. `tan/verify` answers 200 (with
//! [`TELETAN_TYPE_HEADER`] for a TAN that came from a teleTAN), 400, 403, 404 or 429; `tan/teletan` takes
//! the type in [`TELETAN_TYPE_HEADER`] (absent: `TEST`) and answers 201 with a [`TeletanCreated`] or 429.
//! The teleTAN types' wire form is [`TeletanType::as_str`].

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::TeletanType;

/// Path of the TAN check: body [`TanVerifyRequest`], answer 200 without a body.
pub const TAN_VERIFY_PATH: &str = "/version/v1/tan/verify";

/// Path of teleTAN issuing: the type in [`TELETAN_TYPE_HEADER`], answer 201 with a [`TeletanCreated`].
pub const TELETAN_PATH: &str = "/version/v1/tan/teletan";

/// Header carrying the teleTAN type (`TEST` or `EVENT`), on teleTAN requests and on verified TANs.
pub const TELETAN_TYPE_HEADER: &str = "x-cwa-teletan-type";

/// The URL of the internal API's `path` (one of the `*_PATH` constants) at `base_url`, which may end in
/// `/`.
pub fn url(base_url: &str, path: &str) -> String {
    format!("{}{path}", base_url.trim_end_matches('/'))
}

/// The body of `POST` [`TAN_VERIFY_PATH`]: `{"tan", "teleTanType"?, "payloadHash"?}`. Unknown fields are
/// ignored; absent (or `null`) optional fields are `None` and are left out when serialised.
///
/// The fields are checked by the service, not here: a `teleTanType` other than `TEST` or `EVENT` and a
/// malformed `payloadHash` get their own 400 answers. Its `Debug` form leaves the TAN out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TanVerifyRequest {
    /// The TAN to check and consume (a UUID v4).
    #[schema(pattern = "^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$")]
    pub tan: String,
    /// The teleTAN type the caller accepts ([`TeletanType::as_str`]); absent accepts any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<TeletanType>)]
    pub tele_tan_type: Option<String>,
    /// The caller's keyed hash of the payload this TAN authorises (64 lowercase hex digits); absent for
    /// callers that never retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub payload_hash: Option<String>,
}

impl fmt::Debug for TanVerifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TanVerifyRequest")
            .field("tan", &"<redacted>")
            .field("tele_tan_type", &self.tele_tan_type)
            .field("payload_hash", &self.payload_hash)
            .finish()
    }
}

/// The 201 answer of `POST` [`TELETAN_PATH`]: `{"value"}`, the new teleTAN in clear (shown once).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeletanCreated {
    /// The teleTAN.
    pub value: String,
}

impl fmt::Debug for TeletanCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeletanCreated")
            .field("value", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAN: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    #[test]
    fn tan_verify_request_wire_form() {
        let full = TanVerifyRequest {
            tan: TAN.to_owned(),
            tele_tan_type: Some(TeletanType::Test.as_str().to_owned()),
            payload_hash: Some("h".to_owned()),
        };
        let json = serde_json::to_string(&full).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"tan":"{TAN}","teleTanType":"TEST","payloadHash":"h"}}"#)
        );
        assert_eq!(
            serde_json::from_str::<TanVerifyRequest>(&json).unwrap(),
            full
        );

        let bare = TanVerifyRequest {
            tan: "t".to_owned(),
            tele_tan_type: None,
            payload_hash: None,
        };
        assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"tan":"t"}"#);
        let read: TanVerifyRequest =
            serde_json::from_str(r#"{"tan":"t","teleTanType":null,"other":1}"#).unwrap();
        assert_eq!(read, bare);
        assert!(!format!("{full:?}").contains(TAN));
    }

    #[test]
    fn teletan_created_wire_form() {
        let created = TeletanCreated {
            value: "ABCDEFGHIJ".to_owned(),
        };
        let json = serde_json::to_string(&created).unwrap();
        assert_eq!(json, r#"{"value":"ABCDEFGHIJ"}"#);
        assert_eq!(
            serde_json::from_str::<TeletanCreated>(&json).unwrap(),
            created
        );
        assert!(!format!("{created:?}").contains("ABCDEFGHIJ"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            url("http://h:1/", TAN_VERIFY_PATH),
            "http://h:1/version/v1/tan/verify"
        );
        assert_eq!(
            url("http://h:1", TELETAN_PATH),
            "http://h:1/version/v1/tan/teletan"
        );
    }
}
