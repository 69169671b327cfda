//! Transport metadata removal, the seeds' actor of that name: the outermost layer of the submission router
//! drops everything that could identify the sender before any handler, metric or log sees the request.
//!
//! It keeps an allowlist of headers rather than removing known offenders, so a proxy's new header
//! (`X-Client-IP`, `CF-Connecting-IP`, `True-Client-IP`, ...) never slips through; and it removes the peer
//! address that axum puts into request extensions when a server is started with connect info.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;

/// The only request headers the submission service ever sees.
pub const ALLOWED_HEADERS: [&str; 8] = [
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "accept",
    "expect",
    crate::tan::TAN_HEADER,
    warnkit_service::fake::FAKE_HEADER,
];

/// Middleware: strips every header outside [`ALLOWED_HEADERS`] and the peer address.
pub async fn strip_transport_metadata(mut req: Request, next: Next) -> Response {
    strip(&mut req);
    next.run(req).await
}

/// The stripping itself, for callers that are not axum middleware.
pub fn strip(req: &mut Request) {
    let headers = req.headers_mut();
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|name| !ALLOWED_HEADERS.contains(&name.as_str()))
        .cloned()
        .collect();
    for name in drop {
        headers.remove(name);
    }
    req.extensions_mut().remove::<ConnectInfo<SocketAddr>>();
}
