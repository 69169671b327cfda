//! The TAN check: one call to the verification service's internal API, retried on network failure and 5xx.
//!
//! The call names the teleTAN type a diagnosis-key upload accepts (`TEST`; TANs from a lab result count as
//! `TEST`), so the verification service refuses a TAN that came from an EVENT teleTAN without consuming it.
//! The original consumes such a TAN first and refuses it afterwards; a verification service that ignores
//! the field still gets the original's treatment here (its `X-CWA-TELETAN-TYPE: EVENT` answer is a 403).
//!
//! Each check names the payload the TAN is to authorise (`payloadHash`: HMAC-SHA-256 under a key derived
//! from the service token, over the payload without its random padding). The verification service keeps a
//! TAN spent on that hash for its repeat window and answers a repeated check of the same TAN and payload
//! as the first, so an upload is all or nothing from the phone's view: when storing the keys fails after
//! the TAN was spent (a database error, a crash, an answer lost to a timeout), the phone's retry with the
//! same TAN succeeds, and the key store ignores keys it has already stored.
//!
//! The call's path, header and body are the verification crate's [`warnkit_verification::wire`] types.
//!
//! The TAN travels only in the request body to the verification service; it is never stored, logged or put
//! into an error message.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use prost::Message;
use sha2::{Digest, Sha256};
use warnkit_protocol::proto::SubmissionPayload;
use warnkit_service::{AppError, AppResult};
use warnkit_verification::wire::{self, TanVerifyRequest, TeletanType, TAN_VERIFY_PATH};

/// The header carrying the TAN.
pub const TAN_HEADER: &str = "cwa-authorization";

/// The verification service's answer header naming the teleTAN type a TAN came from.
pub use warnkit_verification::wire::TELETAN_TYPE_HEADER;

/// The only teleTAN type whose TANs may upload diagnosis keys.
pub const ACCEPTED_TELETAN_TYPE: &str = TeletanType::Test.as_str();

/// What the verification service said about a TAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TanCheck {
    /// The TAN was valid and is now consumed.
    Valid,
    /// Unknown, used, expired or malformed.
    Invalid,
    /// Valid, but from an EVENT teleTAN: not for diagnosis keys (and left unconsumed).
    WrongType,
}

/// Calls `POST {base}/version/v1/tan/verify` ([`TAN_VERIFY_PATH`]) with the service token.
#[derive(Debug, Clone)]
pub struct TanClient {
    http: reqwest::Client,
    url: String,
    token: String,
    /// The key of [`TanClient::payload_hash`].
    payload_key: [u8; 32],
    attempts: u32,
    backoff: Duration,
}

impl TanClient {
    /// A client for the verification service's internal API at `base_url`.
    pub fn new(
        base_url: &str,
        token: String,
        timeout: Duration,
        attempts: u32,
        backoff: Duration,
    ) -> AppResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| AppError::internal(format_args!("building the HTTP client: {e}")))?;
        let url = wire::url(base_url, TAN_VERIFY_PATH);
        let payload_key = Sha256::new()
            .chain_update(b"warnkit submission payload hash v1\0")
            .chain_update(token.as_bytes())
            .finalize()
            .into();
        Ok(Self {
            http,
            url,
            token,
            payload_key,
            attempts: attempts.max(1),
            backoff,
        })
    }

    /// The keyed hash of the payload a TAN authorises, as lowercase hex: over the payload re-encoded
    /// without its padding, which the app draws afresh for every request. Keyed, so that the verification
    /// service's record of a spent TAN names no key of the upload; the same in every copy of the service
    /// (they share the token), so a retry may reach any of them.
    pub fn payload_hash(&self, payload: &SubmissionPayload) -> String {
        let unpadded = SubmissionPayload {
            request_padding: None,
            ..payload.clone()
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.payload_key).expect("HMAC takes any key length");
        mac.update(&unpadded.encode_to_vec());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Asks whether `tan` is valid for an upload of the payload hashed to `payload_hash` (consuming it if
    /// so, or answering as before when it was spent on the same payload). A verification service that
    /// cannot be reached or keeps failing gives 503, so the phone retries later with the same TAN.
    pub async fn verify(&self, tan: &str, payload_hash: &str) -> AppResult<TanCheck> {
        let body = TanVerifyRequest {
            tan: tan.to_owned(),
            tele_tan_type: Some(ACCEPTED_TELETAN_TYPE.to_owned()),
            payload_hash: Some(payload_hash.to_owned()),
        };
        let mut pause = self.backoff;
        for attempt in 1..=self.attempts {
            let last = attempt == self.attempts;
            match self.once(&body).await {
                Ok(check) => return Ok(check),
                Err(failed) if last || !failed.retry => {
                    tracing::warn!(attempt, error = %failed.why, "TAN check failed");
                    break;
                }
                Err(failed) => {
                    tracing::debug!(attempt, error = %failed.why, "TAN check failed, retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        Err(unavailable())
    }

    /// One attempt (the error's text is safe to log: no TAN, no URL parameters).
    async fn once(&self, body: &TanVerifyRequest) -> Result<TanCheck, Failed> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| Failed {
                why: e.without_url().to_string(),
                retry: true,
            })?;
        match response.status() {
            StatusCode::OK => {
                let event = response
                    .headers()
                    .get(TELETAN_TYPE_HEADER)
                    .is_some_and(|t| {
                        t.as_bytes()
                            .eq_ignore_ascii_case(TeletanType::Event.as_str().as_bytes())
                    });
                Ok(if event {
                    TanCheck::WrongType
                } else {
                    TanCheck::Valid
                })
            }
            // 403: valid, but of another teleTAN type (and not consumed).
            StatusCode::FORBIDDEN => Ok(TanCheck::WrongType),
            // 404: unknown, used or expired; 400: not even TAN-shaped for the verification service.
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => Ok(TanCheck::Invalid),
            status => Err(Failed {
                why: format!("verification service answered {status}"),
                // 503: the verification service cannot work right now (its database is down); asking
                // again at once would only make the phone wait longer for the same answer.
                retry: status != StatusCode::SERVICE_UNAVAILABLE,
            }),
        }
    }
}

/// A TAN check that got no answer.
struct Failed {
    why: String,
    /// Whether another attempt at once may get one (a network error, a 500), unlike a 503.
    retry: bool,
}

/// 503: the TAN could not be checked; nothing was stored.
pub fn unavailable() -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "verification_unavailable",
        "the TAN could not be checked, retry later",
    )
}

/// 403: the TAN is malformed, unknown, expired or used.
pub fn forbidden() -> AppError {
    AppError::forbidden("invalid_tan", "TAN malformed, unknown or already used")
}

/// 403: the TAN came from an EVENT teleTAN; it stays valid for what it is for.
pub fn wrong_type() -> AppError {
    AppError::forbidden(
        "wrong_tan_type",
        "this TAN comes from an event teleTAN and cannot upload diagnosis keys",
    )
}

/// The TAN of a real upload: 400 when `cwa-authorization` is missing or empty (the original refuses a
/// request without it), 403 when it is not UUID-shaped (8-4-4-4-12 hex digits, as the original's TANs;
/// surrounding whitespace is ignored, as the original trims).
pub fn tan_from(headers: &HeaderMap) -> Result<&str, AppError> {
    let missing =
        || AppError::bad_request("missing_tan", "the cwa-authorization header is required");
    let value = headers.get(TAN_HEADER).ok_or_else(missing)?;
    let tan = value.to_str().map_err(|_| forbidden())?.trim();
    if tan.is_empty() {
        return Err(missing());
    }
    if is_uuid(tan) {
        Ok(tan)
    } else {
        Err(forbidden())
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tan_shape() {
        fn status(h: &HeaderMap) -> Result<&str, (u16, &'static str)> {
            tan_from(h).map_err(|e| (e.status.as_u16(), e.code))
        }
        let mut h = HeaderMap::new();
        assert_eq!(status(&h), Err((400, "missing_tan")));
        h.insert(TAN_HEADER, "".parse().unwrap());
        assert_eq!(status(&h), Err((400, "missing_tan")));
        h.insert(TAN_HEADER, "not-a-tan".parse().unwrap());
        assert_eq!(status(&h), Err((403, "invalid_tan")));
        h.insert(
            TAN_HEADER,
            "TAN 3f2504e0-4f89-41d3-9a0c-0305e82c3301".parse().unwrap(),
        );
        assert_eq!(status(&h), Err((403, "invalid_tan")));
        let tan = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        h.insert(TAN_HEADER, tan.parse().unwrap());
        assert_eq!(tan_from(&h), Ok(tan));
        assert!(!is_uuid("3f2504e0-4f89-41d3-9a0c-0305e82c330g"));
        assert!(!is_uuid("3f2504e004f89-41d3-9a0c-0305e82c3301"));
    }
}
