//! Sizes of fake and error answers: a JSON body padded to a fixed size, and a middleware that pads every
//! JSON error of a router to one size, so that no refusal differs from another in length.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{Map, Value};

use crate::AppError;

/// Size of every error body that [`pad_error_bodies`] pads, unless a router asks for another.
pub const ERROR_RESPONSE_BYTES: usize = 256;

/// The largest error body [`pad_error_bodies`] reads; larger ones (there are none) pass unchanged.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Serialises `fields` plus a `responsePadding` of random letters and digits that brings the body to exactly
/// `target` bytes when it fits (at least one padding character, as the original always sends one).
pub fn padded_body(mut fields: Map<String, Value>, target: usize) -> String {
    let base = Value::Object(fields.clone()).to_string().len();
    // `"responsePadding":""` adds 20 bytes, and 21 with the comma after a field.
    let overhead = if fields.is_empty() { 20 } else { 21 };
    let pad_len = target.saturating_sub(base + overhead).max(1);
    let padding: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(pad_len)
        .map(char::from)
        .collect();
    fields.insert("responsePadding".to_owned(), Value::String(padding));
    Value::Object(fields).to_string()
}

/// Middleware: every JSON error answer (4xx or 5xx) of the router beneath gets a `responsePadding` that
/// brings its body to `size` bytes, so that all errors of an endpoint, the refusal of a request without
/// `cwa-fake` included, have one length. Use as
/// `.layer(middleware::from_fn(|req, next| pad_error_bodies(ERROR_RESPONSE_BYTES, req, next)))`.
pub async fn pad_error_bodies(size: usize, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        // An error body that cannot be read: the envelope of an internal error, of the same size.
        return pad_error_envelope(AppError::internal("unreadable error body"), size);
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(padded_body(fields, size)))
}

fn pad_error_envelope(error: AppError, size: usize) -> Response {
    let status = error.status;
    let mut fields = Map::new();
    fields.insert("error".into(), error.code.into());
    fields.insert("message".into(), error.message.into_owned().into());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        padded_body(fields, size),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_target() {
        let mut m = Map::new();
        assert_eq!(padded_body(m.clone(), 64).len(), 64);
        m.insert("tan".into(), Value::String("x".repeat(36)));
        assert_eq!(padded_body(m.clone(), 128).len(), 128);
        m.insert("labId".into(), Value::String("l".repeat(64)));
        assert_eq!(padded_body(m, 200).len(), 200);
    }

    #[tokio::test]
    async fn error_bodies_get_one_size() {
        use axum::http::StatusCode;
        use axum::routing::get;

        let app = axum::Router::new()
            .route("/short", get(|| async { AppError::bad_request("x", "y") }))
            .route(
                "/long",
                get(|| async { AppError::forbidden("a_longer_code", "a much longer message") }),
            )
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/text",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
            )
            .layer(axum::middleware::from_fn(|req, next| {
                pad_error_bodies(ERROR_RESPONSE_BYTES, req, next)
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, shutdown) = crate::server::shutdown_channel();
        tokio::spawn(crate::server::serve(listener, app, shutdown));
        let http = reqwest::Client::new();
        for (path, status) in [("/short", 400), ("/long", 403)] {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status().as_u16(), status);
            let length = r.headers()[header::CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .to_owned();
            let body = r.bytes().await.unwrap();
            assert_eq!(body.len(), ERROR_RESPONSE_BYTES, "{path}");
            assert_eq!(length, ERROR_RESPONSE_BYTES.to_string(), "{path}");
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        }
        // Successes and errors that are not JSON pass unchanged.
        let r = http.get(format!("{base}/ok")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "fine");
        let r = http.get(format!("{base}/text")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "down");
        stop.trigger();
    }
}
