//! The gateway's routes: upload, download by day, audit. Every failure answers the shared JSON error
//! envelope with a 4xx and stores nothing.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use prost::Message;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};
use warnkit_service::error::ErrorBody;
use warnkit_service::{AppError, AppResult, ServiceRouter};

use super::store::{self, BatchRow, Inserted, NewBatch};
use super::{Gateway, UPLOAD_PATH};
use crate::batch::{self, BatchError};
use crate::date::{day_string, download_tag, parse_day, parse_download_tag};
use crate::proto::DiagnosisKeyBatch;

/// Request and response header: the batch tag (the uploader's on upload, the gateway's on download).
pub const BATCH_TAG: &str = "batchtag";
/// Request header of the upload, response header of the download: base64 DER ECDSA signature.
pub const BATCH_SIGNATURE: &str = "batchsignature";
/// Response header of the download: the tag of the day's next batch (absent on the last).
pub const NEXT_BATCH_TAG: &str = "nextbatchtag";
/// Response header of the download: the uploading country.
pub const BATCH_COUNTRY: &str = "batchcountry";

/// Longest accepted upload tag.
const MAX_TAG_LEN: usize = 100;

pub(super) fn router(gateway: Gateway) -> Router {
    let (api, doc) = OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(download))
        .routes(routes!(audit))
        .with_state(gateway.clone())
        .split_for_parts();
    ServiceRouter::new(gateway.inner.metrics.clone())
        .database(gateway.inner.db.clone())
        .openapi(super::openapi::document(doc))
        .max_body(gateway.inner.config.max_body_bytes)
        .finish(api)
}

impl From<BatchError> for AppError {
    fn from(err: BatchError) -> Self {
        AppError::bad_request(err.code(), err.message())
    }
}

/// The answer to an upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Uploaded {
    /// The gateway's download tag of the batch.
    batch_tag: String,
    /// Keys in the batch.
    keys: usize,
}

#[utoipa::path(post, path = UPLOAD_PATH,
    summary = "Upload a signed DiagnosisKeyBatch (protobuf) of the country's keys",
    security(("countryToken" = [])),
    params(("batchTag" = String, Header, description = "The uploader's tag of the batch."),
        ("batchSignature" = String, Header, description = "base64 DER ECDSA P-256/SHA-256 over the canonical batch bytes")),
    request_body(content = String, content_type = "application/protobuf", description = "A DiagnosisKeyBatch."),
    responses(
        (status = 201, description = "Stored.", body = Uploaded),
        (status = 200, description = "The same batch was already stored under this tag.", body = Uploaded),
        (status = 400, description = "Malformed batch, bad header, a key out of range, origin mismatch, bad signature", body = ErrorBody),
        (status = 401, description = "Missing or unknown credential", body = ErrorBody),
        (status = 409, description = "A different batch was already stored under this tag", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "Not a protobuf body", body = ErrorBody)))]
async fn upload(State(gateway): State<Gateway>, request: Request) -> AppResult<Response> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let country = gateway.authenticate(headers)?;
    if !is_protobuf(headers.get(header::CONTENT_TYPE)) {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "content type must be application/protobuf or application/x-protobuf",
        ));
    }
    let upload_tag = header_text(headers, BATCH_TAG).ok_or_else(|| {
        AppError::bad_request("missing_batch_tag", "the batchTag header is required")
    })?;
    if !valid_upload_tag(upload_tag) {
        return Err(AppError::bad_request(
            "invalid_batch_tag",
            "batchTag must be 1 to 100 characters of A-Z a-z 0-9 . _ -",
        ));
    }
    let signature_text = header_text(headers, BATCH_SIGNATURE).ok_or_else(|| {
        AppError::bad_request(
            "missing_batch_signature",
            "the batchSignature header is required",
        )
    })?;
    let signature = batch::parse_signature(signature_text).ok_or_else(|| {
        AppError::bad_request(
            "invalid_batch_signature",
            "batchSignature must be base64 of a DER ECDSA signature",
        )
    })?;
    let limit = gateway.inner.config.max_body_bytes;
    // Only a body over the limit is 413; any other failure to read it (a broken chunked encoding, a
    // connection cut short) is 400. The body is read up to the limit rather than refused on its declared
    // length, so the client is not cut off mid-send and always gets to read the answer.
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            AppError::payload_too_large(limit)
        } else {
            AppError::bad_request("unreadable_body", "could not read the request body")
        }
    })?;
    let batch = DiagnosisKeyBatch::decode(bytes).map_err(|_| {
        AppError::bad_request(
            "malformed_batch",
            "body is not a DiagnosisKeyBatch protobuf",
        )
    })?;
    let now = gateway.inner.clock.now();
    let config = &gateway.inner.config;
    batch::validate(
        &batch,
        &country.code,
        config.max_batch_keys,
        batch::rolling_window(now, config.retention_days),
    )?;
    let canonical = batch::canonical_bytes(&batch);
    batch::verify(&canonical, &signature, &country.key)?;

    let new = NewBatch {
        day: day_string(now.div_euclid(86_400)),
        country: country.code.clone(),
        upload_tag: upload_tag.to_owned(),
        uploaded_at: now,
        key_count: batch.keys.len() as i64,
        content_sha256: hex::encode(Sha256::digest(&canonical)),
        signature: signature_text.trim().to_owned(),
        key_fingerprint: batch::fingerprint(&country.key),
        // Re-encoded: what is served is exactly the validated keys, without unknown fields.
        body: batch.encode_to_vec(),
    };
    let keys = batch.keys.len();
    let (status, day, seq) = match store::insert(&gateway.inner.db, &new).await? {
        Inserted::New { seq } => (StatusCode::CREATED, new.day, seq),
        Inserted::Same { day, seq } => (StatusCode::OK, day, seq),
        Inserted::Conflict => {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "batch_tag_conflict",
                "this country already uploaded a different batch under this batchTag",
            ))
        }
    };
    if status == StatusCode::CREATED {
        let metrics = &gateway.inner.metrics;
        metrics.add("gateway_batches_stored_total", "Batches stored.", 1);
        metrics.add(
            "gateway_keys_stored_total",
            "Keys stored in batches.",
            keys as u64,
        );
        tracing::info!(country = %new.country, upload_tag, keys, "batch stored");
    }
    let day = parse_day(&day).ok_or_else(|| AppError::internal("stored day is not a date"))?;
    let body = Uploaded {
        batch_tag: download_tag(day, seq),
        keys,
    };
    Ok((status, Json(body)).into_response())
}

#[utoipa::path(get, path = "/diagnosiskeys/download/{date}",
    summary = "The day's first batch, or the one named by the batchTag request header",
    security(("countryToken" = [])),
    params(("date" = String, Path, format = Date, description = "The day, YYYY-MM-DD."),
        ("batchTag" = Option<String>, Header, description = "The gateway's tag of the batch to read; absent: the day's first.")),
    responses(
        (status = 200, description = "The batch.", content_type = "application/protobuf", body = String,
            headers(("batchTag" = String, description = "The gateway's tag of this batch."),
                ("nextBatchTag" = String, description = "The tag of the day's next batch (not on the last)."),
                ("batchCountry" = String, description = "The uploading country."),
                ("batchSignature" = String, description = "The uploader's signature of the batch."))),
        (status = 400, description = "Bad date or batch tag", body = ErrorBody),
        (status = 401, description = "Missing or unknown credential", body = ErrorBody),
        (status = 404, description = "No batch on this date, or no such tag", body = ErrorBody)))]
async fn download(
    State(gateway): State<Gateway>,
    Path(date): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    gateway.authenticate(&headers)?;
    let day = parse_date(&date)?;
    let seq = match header_text(&headers, BATCH_TAG) {
        None => None,
        Some(tag) => Some(seq_of(tag, day)?),
    };
    let date = day_string(day);
    let db = &gateway.inner.db;
    let Some(row) = store::find(db, &date, seq).await? else {
        return Err(match seq {
            None => AppError::not_found("no_batches", "no batches for this date"),
            Some(_) => {
                AppError::not_found("batch_not_found", "no batch with this tag on this date")
            }
        });
    };
    let next = store::next_seq(db, &date, row.seq).await?;
    let mut response = Response::new(Body::from(row.body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/protobuf"),
    );
    h.insert(BATCH_TAG, value(&download_tag(day, row.seq))?);
    if let Some(next) = next {
        h.insert(NEXT_BATCH_TAG, value(&download_tag(day, next))?);
    }
    h.insert(BATCH_COUNTRY, value(&row.country)?);
    h.insert(BATCH_SIGNATURE, value(&row.signature)?);
    Ok(response)
}

/// What the audit tells about one batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Audit {
    batch_tag: String,
    country: String,
    upload_tag: String,
    uploaded_at: i64,
    keys: i64,
    batch_signature: String,
    signing_key_sha256: String,
}

#[utoipa::path(get, path = "/diagnosiskeys/audit/download/{date}/{batchTag}",
    summary = "Who uploaded a batch, when, how many keys, its signature and the signing key's SHA-256",
    security(("countryToken" = [])),
    params(("date" = String, Path, format = Date, description = "The day, YYYY-MM-DD."),
        ("batchTag" = String, Path, description = "The gateway's tag of the batch.")),
    responses(
        (status = 200, description = "The batch's record.", body = Audit),
        (status = 400, description = "Bad date or batch tag", body = ErrorBody),
        (status = 401, description = "Missing or unknown credential", body = ErrorBody),
        (status = 404, description = "No such batch", body = ErrorBody)))]
async fn audit(
    State(gateway): State<Gateway>,
    Path((date, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> AppResult<Json<Audit>> {
    gateway.authenticate(&headers)?;
    let day = parse_date(&date)?;
    let seq = seq_of(&tag, day)?;
    let row: BatchRow = store::find(&gateway.inner.db, &day_string(day), Some(seq))
        .await?
        .ok_or_else(|| {
            AppError::not_found("batch_not_found", "no batch with this tag on this date")
        })?;
    Ok(Json(Audit {
        batch_tag: download_tag(day, row.seq),
        country: row.country,
        upload_tag: row.upload_tag,
        uploaded_at: row.uploaded_at,
        keys: row.key_count,
        batch_signature: row.signature,
        signing_key_sha256: row.key_fingerprint,
    }))
}

fn parse_date(date: &str) -> AppResult<i64> {
    parse_day(date)
        .ok_or_else(|| AppError::bad_request("invalid_date", "the date must be YYYY-MM-DD"))
}

/// The sequence number of a download tag, which must belong to `day`.
fn seq_of(tag: &str, day: i64) -> AppResult<i64> {
    let (tag_day, seq) = parse_download_tag(tag).ok_or_else(|| {
        AppError::bad_request(
            "invalid_batch_tag",
            "batchTag must be a download tag YYYYMMDD-N",
        )
    })?;
    if tag_day != day {
        return Err(AppError::not_found(
            "batch_not_found",
            "no batch with this tag on this date",
        ));
    }
    Ok(seq)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn value(text: &str) -> AppResult<HeaderValue> {
    HeaderValue::from_str(text)
        .map_err(|_| AppError::internal("stored value is not a header value"))
}

fn valid_upload_tag(tag: &str) -> bool {
    (1..=MAX_TAG_LEN).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_protobuf(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("application/protobuf")
        || mime.eq_ignore_ascii_case("application/x-protobuf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_tags() {
        assert!(valid_upload_tag("h480000-480024-0"));
        assert!(valid_upload_tag(&"a".repeat(100)));
        assert!(!valid_upload_tag(""));
        assert!(!valid_upload_tag(&"a".repeat(101)));
        assert!(!valid_upload_tag("a b"));
        assert!(!valid_upload_tag("a/b"));
    }
}
