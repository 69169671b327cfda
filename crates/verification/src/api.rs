//! The app-facing API, compatible with the original's apps: `registrationToken`, `testresult`, `tan`.

use std::time::Instant;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa_axum::{router::OpenApiRouter, routes};
use warnkit_service::auth::{is_hex, sha256_hex};
use warnkit_service::error::ErrorBody;
use warnkit_service::fake::{fake_mode, pad_error_bodies, padded_body, ERROR_RESPONSE_BYTES};
use warnkit_service::{AppError, AppJson, AppResult, ServiceRouter};

use crate::budget::Guess;
use crate::store::{self, NewSession, NewTan, Registered, SOURCE_GUID};
use crate::{teletan, VerificationService};

/// Body size of every successful `registrationToken` answer, real or fake.
pub const REGISTRATION_RESPONSE_BYTES: usize = 128;
/// Body size of every successful `testresult` answer, real or fake.
pub const TESTRESULT_RESPONSE_BYTES: usize = 256;
/// Body size of every successful `tan` answer, real or fake.
pub const TAN_RESPONSE_BYTES: usize = 128;
/// Body size of every error answer of the app API (a refused `cwa-fake` included).
pub const ERROR_BYTES: usize = ERROR_RESPONSE_BYTES;

const REGISTER: usize = 0;
const POLL: usize = 1;
const TAN: usize = 2;

/// Test results that entitle to a TAN: PCR positive and rapid-test positive.
const POSITIVE_RESULTS: [i64; 2] = [2, 7];

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
enum KeyType {
    #[serde(rename = "GUID")]
    Guid,
    #[serde(rename = "TELETAN")]
    Teletan,
}

/// The body of `registrationToken`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegistrationTokenRequest {
    key_type: KeyType,
    /// GUID: lowercase SHA-256 hex of the test GUID. TELETAN: 10 characters of
    /// 23456789ABCDEFGHJKMNPQRSTUVWXYZ.
    key: String,
    #[serde(default)]
    #[schema(pattern = "^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$")]
    key_dob: Option<String>,
}

/// The body of `testresult` and `tan`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    #[schema(pattern = "^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$")]
    registration_token: String,
}

pub(crate) fn router(service: VerificationService) -> Router {
    let (api, doc) = OpenApiRouter::new()
        .routes(routes!(registration_token))
        .routes(routes!(testresult))
        .routes(routes!(tan))
        .with_state(service.clone())
        .split_for_parts();
    ServiceRouter::new(service.inner.external_metrics.clone())
        .database(service.db().clone())
        .openapi(crate::openapi::external(doc))
        .max_body(service.inner.config.max_body_bytes)
        .finish(api)
        .layer(middleware::from_fn(|req, next| {
            pad_error_bodies(ERROR_BYTES, req, next)
        }))
}

/// UUID v4 as the original accepts it: lowercase hex, version 4, variant 8-b (that one may be uppercase).
pub(crate) fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    let lower_hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => b"89abAB".contains(c),
            _ => lower_hex(c),
        })
}

/// `^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$`, lowercased (the date-of-birth hash may start with `x`).
fn dob_hash(s: &str) -> Option<String> {
    let first_ok = s
        .as_bytes()
        .first()
        .is_some_and(|c| c.is_ascii_hexdigit() || *c == b'x' || *c == b'X');
    (first_ok && s.len() == 64 && is_hex(&s[1..], 63)).then(|| s.to_ascii_lowercase())
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn token_response(field: &str, size: usize) -> Response {
    let body = padded_body(
        fields(json!({ field: uuid::Uuid::new_v4().to_string() })),
        size,
    );
    json_response(StatusCode::CREATED, body)
}

/// Whether the request is a fake, then its JSON body: `cwa-fake` is required (400 without it), the body is
/// parsed the same way for both kinds, and the handler's clock has started before either.
async fn fake_and_body<T: DeserializeOwned>(request: Request) -> AppResult<(bool, T)> {
    let fake = fake_mode(request.headers())?;
    let AppJson(body) = AppJson::<T>::from_request(request, &()).await?;
    Ok((fake, body))
}

/// Answers a fake with `answer` at `start` plus a recent real duration of `endpoint` (real answers are
/// timed from their handler's start to their write, [`warnkit_service::fake::Latencies::real`]).
async fn fake_answer(
    service: &VerificationService,
    endpoint: usize,
    start: Instant,
    answer: impl FnOnce() -> Response,
) -> Response {
    service.inner.external_metrics.add(
        "verification_fake_requests_total",
        "Fake requests answered.",
        1,
    );
    service.inner.latency[endpoint].fake(start, answer).await
}

#[utoipa::path(post, path = "/version/v1/registrationToken",
    summary = "Register a hashed GUID or a teleTAN; get a registration token.",
    params(("cwa-fake" = String, Header, description = crate::openapi::FAKE_HEADER),
        ("cwa-header-padding" = Option<String>, Header, description = crate::openapi::PADDING_HEADER)),
    request_body = RegistrationTokenRequest,
    responses(
        (status = 201, description = "Registered.", body = crate::openapi::RegistrationTokenResponse),
        (status = 400, description = "Malformed input, key already used, teleTAN unknown/expired/used, or cwa-fake missing or not 0/1.", body = ErrorBody),
        (status = 413, description = "Body over the limit (10,000 bytes by default).", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody),
        (status = 429, description = "teleTAN registrations failed too often in this window (teletan_budget_exhausted): every teleTAN registration is refused unchecked until the window ends; the teleTAN stays valid.", body = ErrorBody)))]
async fn registration_token(
    State(service): State<VerificationService>,
    request: Request,
) -> AppResult<Response> {
    let start = Instant::now();
    let (fake, req) = fake_and_body::<RegistrationTokenRequest>(request).await?;
    // Validate first, identically for fakes and real requests, so errors reveal nothing either.
    let (guid, dob) = match req.key_type {
        KeyType::Guid => {
            if !is_hex(&req.key, 64) {
                return Err(AppError::bad_request(
                    "invalid_key",
                    "key must be 64 hex digits for keyType GUID",
                ));
            }
            let dob = match &req.key_dob {
                Some(d) => Some(dob_hash(d).ok_or_else(|| {
                    AppError::bad_request(
                        "invalid_key_dob",
                        "keyDob must be 64 hex digits (first may be x)",
                    )
                })?),
                None => None,
            };
            (Some(req.key.to_ascii_lowercase()), dob)
        }
        KeyType::Teletan => {
            if !teletan::is_valid(&req.key) {
                return Err(AppError::bad_request(
                    "invalid_key",
                    "key is not a well-formed teleTAN",
                ));
            }
            (None, None)
        }
    };
    if fake {
        let answer = || token_response("registrationToken", REGISTRATION_RESPONSE_BYTES);
        return Ok(fake_answer(&service, REGISTER, start, answer).await);
    }
    let token = uuid::Uuid::new_v4().to_string();
    let token_hash = sha256_hex(&token);
    let now = service.inner.clock.now();
    let outcome = match &guid {
        Some(guid) => {
            let session = NewSession {
                token_hash: &token_hash,
                hashed_guid: Some(guid),
                hashed_guid_dob: dob.as_deref(),
                now,
            };
            store::register_guid(service.db(), &session).await?
        }
        None => {
            let teletan = sha256_hex(&req.key);
            let attempt = store::register_teletan(service.db(), &token_hash, &teletan, now);
            let failed = |r: &Registered| *r != Registered::Yes;
            service
                .within_budget(Guess::Teletan, attempt, failed)
                .await?
        }
    };
    match outcome {
        Registered::Yes => {}
        Registered::AlreadyUsed => {
            if guid.is_some() {
                // teleTAN refusals are counted with the guessing budget.
                service.inner.external_metrics.add(
                    "verification_guid_registrations_refused_total",
                    "GUID registrations refused: the GUID was already registered.",
                    1,
                );
            }
            return Err(AppError::bad_request(
                "key_already_used",
                "this key was already used to register",
            ));
        }
        Registered::BadTeletan => {
            return Err(AppError::bad_request(
                "invalid_teletan",
                "teleTAN unknown, expired or already used",
            ))
        }
    }
    let (name, help) = REGISTRATIONS;
    service.inner.external_metrics.add(name, help, 1);
    let body = padded_body(
        fields(json!({ "registrationToken": token })),
        REGISTRATION_RESPONSE_BYTES,
    );
    let response = json_response(StatusCode::CREATED, body);
    Ok(service.inner.latency[REGISTER].real(start, response))
}

fn validated_token(req: &TokenRequest) -> AppResult<String> {
    if !is_uuid_v4(&req.registration_token) {
        return Err(AppError::bad_request(
            "invalid_token",
            "registrationToken must be a UUID v4",
        ));
    }
    Ok(sha256_hex(&req.registration_token))
}

fn unknown_token() -> AppError {
    AppError::bad_request("unknown_token", "registration token unknown or expired")
}

#[utoipa::path(post, path = "/version/v1/testresult",
    summary = "Poll the test result of a registration.",
    params(("cwa-fake" = String, Header, description = crate::openapi::FAKE_HEADER),
        ("cwa-header-padding" = Option<String>, Header, description = crate::openapi::PADDING_HEADER)),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The result.", body = crate::openapi::TestResultResponse),
        (status = 400, description = "Malformed input, unknown registration token, or cwa-fake missing or not 0/1.", body = ErrorBody),
        (status = 403, description = "The date-of-birth hash disagrees with the test.", body = ErrorBody),
        (status = 413, description = "Body over the limit (10,000 bytes by default).", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody),
        (status = 502, description = "The test-result service is unavailable.", body = ErrorBody)))]
async fn testresult(
    State(service): State<VerificationService>,
    request: Request,
) -> AppResult<Response> {
    let start = Instant::now();
    let (fake, req) = fake_and_body::<TokenRequest>(request).await?;
    let token_hash = validated_token(&req)?;
    if fake {
        let answer = || {
            let body = padded_body(
                fields(json!({"testResult": 2, "sc": service.inner.clock.now()})),
                TESTRESULT_RESPONSE_BYTES,
            );
            json_response(StatusCode::OK, body)
        };
        return Ok(fake_answer(&service, POLL, start, answer).await);
    }
    let session = store::session(service.db(), &token_hash)
        .await?
        .ok_or_else(unknown_token)?;
    let mut answer = Map::new();
    if session.source == SOURCE_GUID {
        let guid = session
            .hashed_guid
            .as_deref()
            .ok_or_else(|| AppError::internal("GUID session without GUID"))?;
        let result = service.inner.testresult.result(guid).await?;
        if let (Some(dob), true) = (&session.hashed_guid_dob, service.inner.config.dob_check) {
            let dob_result = service.inner.testresult.result(dob).await?;
            if dob_result.test_result != result.test_result {
                return Err(AppError::forbidden(
                    "dob_mismatch",
                    "date of birth does not match the test",
                ));
            }
        }
        answer.insert("testResult".into(), result.test_result.into());
        answer.insert("sc".into(), result.sc.into());
        if let Some(lab) = result.lab_id {
            answer.insert("labId".into(), lab.into());
        }
    } else {
        // A teleTAN is an officer's confirmation of a positive test.
        answer.insert("testResult".into(), 2.into());
        answer.insert("sc".into(), session.created_at.into());
    }
    let body = padded_body(answer, TESTRESULT_RESPONSE_BYTES);
    let response = json_response(StatusCode::OK, body);
    Ok(service.inner.latency[POLL].real(start, response))
}

/// Counter: registrations created.
const REGISTRATIONS: (&str, &str) = ("verification_registrations_total", "Registrations created.");
/// Counter: TANs issued to apps.
const TANS_ISSUED: (&str, &str) = ("verification_tans_issued_total", "TANs issued.");

/// Shows the app-facing counters at 0 from the start, so that a rate over them (an alert, a
/// dashboard) has a series before the first registration.
pub(crate) fn register_metrics(metrics: &warnkit_service::Metrics) {
    for (name, help) in [REGISTRATIONS, TANS_ISSUED] {
        metrics.add(name, help, 0);
    }
}

/// The `reason` label values of `verification_tan_requests_refused_total`: the registration's TANs are
/// used up, or its test result is not positive.
const TAN_REFUSALS: &[&str] = &["tan_limit", "not_positive"];

#[utoipa::path(post, path = "/version/v1/tan",
    summary = "Get a single-use TAN while the result is positive, PCR (2) or rapid (7), or for a teleTAN registration (two per registration by default).",
    params(("cwa-fake" = String, Header, description = crate::openapi::FAKE_HEADER),
        ("cwa-header-padding" = Option<String>, Header, description = crate::openapi::PADDING_HEADER)),
    request_body = TokenRequest,
    responses(
        (status = 201, description = "A TAN.", body = crate::openapi::TanResponse),
        (status = 400, description = "Malformed input, unknown token, result not positive, no TANs left, or cwa-fake missing or not 0/1.", body = ErrorBody),
        (status = 413, description = "Body over the limit (10,000 bytes by default).", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody),
        (status = 502, description = "The test-result service is unavailable.", body = ErrorBody)))]
async fn tan(State(service): State<VerificationService>, request: Request) -> AppResult<Response> {
    let start = Instant::now();
    let (fake, req) = fake_and_body::<TokenRequest>(request).await?;
    let token_hash = validated_token(&req)?;
    if fake {
        let answer = || token_response("tan", TAN_RESPONSE_BYTES);
        return Ok(fake_answer(&service, TAN, start, answer).await);
    }
    let config = &service.inner.config;
    let session = store::session(service.db(), &token_hash)
        .await?
        .ok_or_else(unknown_token)?;
    let max_tans = i64::from(config.tans_per_registration);
    let refused = |index: usize| {
        service
            .inner
            .external_metrics
            .labeled(
                "verification_tan_requests_refused_total",
                "TAN requests refused for a known registration, by reason.",
                "reason",
                TAN_REFUSALS,
            )
            .inc(index);
    };
    let used_up = || {
        refused(0);
        AppError::bad_request("tan_limit", "no more TANs for this registration token")
    };
    if session.tan_count >= max_tans {
        return Err(used_up());
    }
    if session.source == SOURCE_GUID {
        // Re-checked on every request: a result corrected to negative stops further TANs.
        let guid = session
            .hashed_guid
            .as_deref()
            .ok_or_else(|| AppError::internal("GUID session without GUID"))?;
        let result = service.inner.testresult.result(guid).await?;
        if !POSITIVE_RESULTS.contains(&result.test_result) {
            refused(1);
            return Err(AppError::bad_request(
                "not_positive",
                "a TAN needs a positive test result",
            ));
        }
    }
    let tan = uuid::Uuid::new_v4().to_string();
    let tan_hash = sha256_hex(&tan);
    let now = service.inner.clock.now();
    let new = NewTan {
        token_hash: &token_hash,
        tan_hash: &tan_hash,
        teletan_type: session.teletan_type.as_deref(),
        max_tans,
        now,
        valid_until: now + i64::from(config.tan_valid_days) * 86_400,
    };
    if !store::issue_tan(service.db(), &new).await? {
        return Err(used_up());
    }
    let (name, help) = TANS_ISSUED;
    service.inner.external_metrics.add(name, help, 1);
    let body = padded_body(fields(json!({ "tan": tan })), TAN_RESPONSE_BYTES);
    let response = json_response(StatusCode::CREATED, body);
    Ok(service.inner.latency[TAN].real(start, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_rules() {
        assert!(is_uuid_v4("1ea6ce8a-9740-41ea-bb37-0242ac130002"));
        assert!(is_uuid_v4(&uuid::Uuid::new_v4().to_string()));
        assert!(!is_uuid_v4("1EA6CE8A-9740-41EA-BB37-0242AC130002"));
        assert!(!is_uuid_v4("1ea6ce8a-9740-31ea-bb37-0242ac130002"));
        assert!(!is_uuid_v4("1ea6ce8a-9740-41ea-cb37-0242ac130002"));
        assert!(!is_uuid_v4("1ea6ce8a974041eabb370242ac130002"));
    }

    #[test]
    fn dob_hashes() {
        let h = "a".repeat(64);
        assert!(dob_hash(&h).is_some());
        assert_eq!(
            dob_hash(&format!("X{}", &h[1..])),
            Some(format!("x{}", &h[1..]))
        );
        assert!(dob_hash(&format!("y{}", &h[1..])).is_none());
        assert!(dob_hash("ÿ").is_none());
    }
}
