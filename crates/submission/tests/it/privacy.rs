//! The transport-metadata layer, tested directly: a handler behind it sees no forwarding headers, user
//! agent, cookies or peer address.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::routing::post;
use axum::{middleware, Router};
use tower::ServiceExt;
use warnkit_submission::privacy::strip_transport_metadata;

async fn echo(req: axum::extract::Request) -> String {
    let mut names: Vec<_> = req
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    names.sort();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().is_some();
    format!("{} peer={peer}", names.join(","))
}

#[tokio::test]
async fn identifying_metadata_never_reaches_a_handler() {
    let app = Router::new()
        .route("/", post(echo))
        .layer(middleware::from_fn(strip_transport_metadata));
    let mut req = Request::post("/")
        .header("x-forwarded-for", "203.0.113.7")
        .header("forwarded", "for=203.0.113.7")
        .header("x-real-ip", "203.0.113.7")
        .header("x-client-ip", "203.0.113.7")
        .header("cf-connecting-ip", "203.0.113.7")
        .header("user-agent", "CWA/1.0 Android 11")
        .header("via", "1.1 proxy")
        .header("cookie", "session=abc")
        .header("referer", "https://example.invalid/")
        .header("x-request-id", "trace-me")
        .header("content-type", "application/x-protobuf")
        .header("cwa-authorization", "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
        .header("cwa-fake", "0")
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 7], 4444))));
    let response = app.oneshot(req).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 10_000)
        .await
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "content-type,cwa-authorization,cwa-fake peer=false"
    );
}

#[tokio::test]
async fn the_service_router_strips_at_its_edge() {
    // Through the real router: a request full of metadata is still served normally.
    let Some(app) = crate::harness::App::start(warnkit_testkit::Engine::Sqlite).await else {
        return;
    };
    let r = app
        .http
        .get(format!("{}/health", app.url))
        .header("x-forwarded-for", "203.0.113.7")
        .header("user-agent", "probe")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
