//! The verification and submission calls of the test flow, real and fake alike: every request body is
//! padded to one size per endpoint, so an observer cannot tell a real upload from a fake one, nor the
//! first upload (13 keys) from the day-after upload (1 key). Fake uploads are what the original app
//! sends: no keys, padding only, an empty `cwa-authorization` and a TAN-sized `cwa-header-padding`.

use prost::Message;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};

use crate::error::PhoneError;
use crate::http::{Http, HttpError, Response};

/// Size of every verification request body in bytes.
pub const JSON_BODY_BYTES: usize = 250;
/// Size of every upload body in bytes: room for 14 keys and padding.
pub const UPLOAD_BODY_BYTES: usize = 1_000;

/// Adds a `requestPadding` of `x` that brings the JSON body to `target` bytes.
pub fn pad_json(mut body: Value, target: usize) -> Value {
    let base = body.to_string().len();
    // `,"requestPadding":""` adds 20 bytes to a non-empty object.
    let pad = target.saturating_sub(base + 20);
    if let Some(map) = body.as_object_mut() {
        map.insert("requestPadding".into(), Value::String("x".repeat(pad)));
    }
    body
}

/// What an upload says about borders: the app's home country, the countries its user visited, and
/// whether the user agreed to share the keys with them (the payload's fields 3 to 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interop {
    /// The app's home country (`origin`).
    pub origin: String,
    /// Countries visited in the past 14 days (`visitedCountries`).
    pub visited_countries: Vec<String>,
    /// Consent to sharing the keys through the federation gateway (`consentToFederation`).
    pub consent_to_federation: bool,
}

impl Default for Interop {
    /// A German app that shares with nobody abroad: what every upload said before federation.
    fn default() -> Self {
        Self {
            origin: "DE".into(),
            visited_countries: Vec::new(),
            consent_to_federation: false,
        }
    }
}

/// The upload body for `keys`, with `requestPadding` so it is exactly `target` bytes when it fits.
pub fn padded_payload(
    keys: Vec<TemporaryExposureKey>,
    interop: &Interop,
    target: usize,
    rng: &mut impl Rng,
) -> Vec<u8> {
    let payload = SubmissionPayload {
        keys,
        request_padding: None,
        visited_countries: interop.visited_countries.clone(),
        origin: Some(interop.origin.clone()),
        consent_to_federation: Some(interop.consent_to_federation),
        submission_type: Some(0),
    };
    pad_to(payload, target, rng)
}

/// A fake upload's body, as the original app sends it: padding only, `target` bytes in all.
pub fn fake_payload(target: usize, rng: &mut impl Rng) -> Vec<u8> {
    pad_to(SubmissionPayload::default(), target, rng)
}

fn pad_to(mut payload: SubmissionPayload, target: usize, rng: &mut impl Rng) -> Vec<u8> {
    let base = payload.encoded_len();
    // The padding field costs a tag byte and a length varint on top of its content; the varint grows
    // with the length, so settle the length in a few steps.
    let mut len = target.saturating_sub(base + 2);
    for _ in 0..4 {
        let total = base + 1 + prost::encoding::encoded_len_varint(len as u64) + len;
        if total == target || total < target && len == 0 {
            break;
        }
        len = (len + target).saturating_sub(total);
    }
    let mut padding = vec![0u8; len];
    rng.fill(padding.as_mut_slice());
    payload.request_padding = Some(padding);
    payload.encode_to_vec()
}

fn expect_field(response: &Response, field: &str) -> Result<String, HttpError> {
    let v: Value = serde_json::from_slice(&response.body)
        .map_err(|e| HttpError::Body(format!("not JSON: {e}")))?;
    v.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| HttpError::Body(format!("no {field:?} in the response")))
}

/// `POST /version/v1/registrationToken` with a hashed GUID; returns the registration token.
pub async fn register(http: &Http, hashed_guid: &str, fake: bool) -> Result<String, PhoneError> {
    let body = pad_json(
        json!({"keyType": "GUID", "key": hashed_guid}),
        JSON_BODY_BYTES,
    );
    let r = http
        .post_json("/version/v1/registrationToken", &body, fake)
        .await?;
    if r.status.as_u16() != 201 {
        return Err(refused("registration", &r));
    }
    Ok(expect_field(&r, "registrationToken")?)
}

/// `POST /version/v1/testresult`; returns the result code.
pub async fn poll(http: &Http, token: &str, fake: bool) -> Result<i64, PhoneError> {
    let body = pad_json(json!({"registrationToken": token}), JSON_BODY_BYTES);
    let r = http
        .post_json("/version/v1/testresult", &body, fake)
        .await?;
    if r.status.as_u16() != 200 {
        return Err(refused("test result", &r));
    }
    let v: Value =
        serde_json::from_slice(&r.body).map_err(|e| HttpError::Body(format!("not JSON: {e}")))?;
    v.get("testResult")
        .and_then(Value::as_i64)
        .ok_or_else(|| HttpError::Body("no testResult".into()).into())
}

/// `POST /version/v1/tan`; returns the TAN.
pub async fn tan(http: &Http, token: &str, fake: bool) -> Result<String, PhoneError> {
    let body = pad_json(json!({"registrationToken": token}), JSON_BODY_BYTES);
    let r = http.post_json("/version/v1/tan", &body, fake).await?;
    if r.status.as_u16() != 201 {
        return Err(refused("TAN", &r));
    }
    Ok(expect_field(&r, "tan")?)
}

/// `POST /version/v1/diagnosis-keys` of `keys` with `tan`; returns the response, whatever its status.
pub async fn upload(
    http: &Http,
    keys: Vec<TemporaryExposureKey>,
    interop: &Interop,
    tan: &str,
    rng: &mut impl Rng,
) -> Result<Response, PhoneError> {
    let body = padded_payload(keys, interop, UPLOAD_BODY_BYTES, rng);
    Ok(http.post_keys(body, tan, "", false).await?)
}

/// The refusal `r` of `what`, with the service's reason: the `error` code of the services' JSON
/// envelope (`{"error": CODE, "message": TEXT}`), so a user sees `key_already_used`, not only 400.
pub fn refused(what: &'static str, r: &Response) -> PhoneError {
    let reason = serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .filter(|code| !code.is_empty());
    PhoneError::Refused {
        what,
        status: r.status.as_u16(),
        reason,
    }
}

/// A fake `POST /version/v1/diagnosis-keys`: no keys and no TAN, the headers padded by the TAN's
/// 36 characters instead; returns the HTTP status.
pub async fn fake_upload(http: &Http, rng: &mut impl Rng) -> Result<u16, PhoneError> {
    let body = fake_payload(UPLOAD_BODY_BYTES, rng);
    let header_padding: String = (0..36)
        .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
        .collect();
    let r = http.post_keys(body, "", &header_padding, true).await?;
    Ok(r.status.as_u16())
}

/// A random UUID v4 string, the shape of registration tokens.
pub fn random_uuid(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use warnkit_protocol::interval::TEK_ROLLING_PERIOD;

    #[test]
    fn a_refusal_carries_the_services_error_code() {
        let r = Response {
            status: reqwest::StatusCode::BAD_REQUEST,
            body: br#"{"error":"key_already_used","message":"this key was already used"}"#.to_vec(),
        };
        let e = refused("registration", &r);
        assert_eq!(
            e.to_string(),
            "registration refused with HTTP 400 (key_already_used)"
        );
        let r = Response {
            status: reqwest::StatusCode::BAD_GATEWAY,
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert_eq!(refused("TAN", &r).to_string(), "TAN refused with HTTP 502");
    }

    use super::*;

    #[test]
    fn uploads_of_any_key_count_have_one_size() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [1, 2, 13, 14] {
            let interop = Interop {
                origin: "FR".into(),
                visited_countries: vec!["DE".into(), "IT".into()],
                consent_to_federation: true,
            };
            let keys: Vec<TemporaryExposureKey> = (0..n)
                .map(|age| TemporaryExposureKey {
                    key_data: Some(vec![age as u8; 16]),
                    transmission_risk_level: Some(5),
                    rolling_start_interval_number: Some(
                        ((20_000 - age) * TEK_ROLLING_PERIOD) as i32,
                    ),
                    rolling_period: Some(TEK_ROLLING_PERIOD as i32),
                    report_type: None,
                    days_since_onset_of_symptoms: Some(1),
                })
                .collect();
            let body = padded_payload(keys, &interop, UPLOAD_BODY_BYTES, &mut rng);
            assert_eq!(body.len(), UPLOAD_BODY_BYTES, "{n} keys");
            let decoded = SubmissionPayload::decode(body.as_slice()).unwrap();
            assert_eq!(decoded.keys.len(), n as usize);
            assert_eq!(decoded.origin.as_deref(), Some("FR"));
            assert_eq!(decoded.visited_countries, ["DE", "IT"]);
            assert_eq!(decoded.consent_to_federation, Some(true));
        }
    }

    #[test]
    fn fakes_are_padding_only_and_as_long_as_uploads() {
        let body = fake_payload(UPLOAD_BODY_BYTES, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(body.len(), UPLOAD_BODY_BYTES);
        let decoded = SubmissionPayload::decode(body.as_slice()).unwrap();
        assert!(decoded.keys.is_empty());
        assert_eq!(decoded.origin, None);
        assert!(decoded.request_padding.is_some_and(|p| p.len() > 900));
    }

    #[test]
    fn json_bodies_have_one_size() {
        let a = pad_json(
            json!({"keyType": "GUID", "key": "a".repeat(64)}),
            JSON_BODY_BYTES,
        );
        let b = pad_json(
            json!({"registrationToken": random_uuid(&mut rand::thread_rng())}),
            JSON_BODY_BYTES,
        );
        assert_eq!(a.to_string().len(), JSON_BODY_BYTES);
        assert_eq!(b.to_string().len(), JSON_BODY_BYTES);
    }

    #[test]
    fn uuid_shape() {
        let u = random_uuid(&mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
    }
}
