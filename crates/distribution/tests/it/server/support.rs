//! What the static server's tests share: a server on a free port (as a route or its own loop, on a
//! clock), raw requests on one connection and the responses cut from them, and a published store.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warnkit_distribution::{layout, Kind, Objects, StaticFiles};
use warnkit_service::server::{shutdown_channel, ShutdownTrigger};
use warnkit_service::Clock;

/// How the files are served: as an axum route, or by `StaticFiles::serve` with the route as fallback.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Route,
    Loop,
}

/// The port's other routes, as `warnkit serve` has them beside the files.
pub(crate) fn port_router(files: StaticFiles) -> axum::Router {
    axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(files.router())
}

pub(crate) async fn start_in(objects: Objects, mode: Mode) -> (String, ShutdownTrigger) {
    start_on(objects, mode, Clock::system()).await
}

/// [`start_in`] with the server's revalidation measured on `clock`.
pub(crate) async fn start_on(
    objects: Objects,
    mode: Mode,
    clock: Clock,
) -> (String, ShutdownTrigger) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (trigger, shutdown) = shutdown_channel();
    let files = StaticFiles::new(objects).with_clock(clock);
    match mode {
        Mode::Route => {
            tokio::spawn(async move { axum::serve(listener, port_router(files)).await });
        }
        Mode::Loop => {
            let router = port_router(files.clone());
            tokio::spawn(files.serve(listener, router, shutdown));
        }
    }
    (format!("http://{addr}"), trigger)
}

pub(crate) async fn start(objects: Objects) -> String {
    let (base, trigger) = start_in(objects, Mode::Loop).await;
    // The server lives as long as the test.
    std::mem::forget(trigger);
    base
}

/// Sends `requests` on one connection in one write and reads until the server closes it.
pub(crate) async fn raw(base: &str, requests: &str) -> Vec<u8> {
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    stream.write_all(requests.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the server closes the connection")
    .expect("read");
    response
}

/// One response cut from the front of `bytes`: status, headers (names lowercase), body.
pub(crate) fn next_response(
    bytes: &mut &[u8],
    head_request: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = response.parse(bytes).expect("a response") else {
        panic!("incomplete response: {}", String::from_utf8_lossy(bytes));
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let status = response.code.expect("status");
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().expect("length"));
    let length = if head_request || status == 304 {
        0
    } else {
        length
    };
    let body = bytes[len..len + length].to_vec();
    *bytes = &bytes[len + length..];
    (status, headers, body)
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) async fn published() -> (tempfile::TempDir, Objects, String, Vec<u8>) {
    // Larger than what is copied into one buffer: the body goes out from the cache as it is.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (dir, objects, daily) = publish(big.clone()).await;
    (dir, objects, daily, big)
}

/// A directory store holding DE's daily archive of 2025-11-22 (`archive`) and the date index naming
/// that day; the directory, the store and the archive's name.
pub(crate) async fn publish(archive: Vec<u8>) -> (tempfile::TempDir, Objects, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = Objects::local(dir.path()).expect("objects");
    let daily = layout::daily("DE", "2025-11-22");
    objects
        .put(&daily, Kind::Archive, archive)
        .await
        .expect("put");
    objects
        .put(
            &layout::date_index("DE"),
            Kind::Index,
            b"[\"2025-11-22\"]".to_vec(),
        )
        .await
        .expect("put");
    (dir, objects, daily)
}
