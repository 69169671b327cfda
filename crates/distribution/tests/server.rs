//! The static server over real HTTP: content types, cache headers, ETags, HEAD, and hostile paths, both
//! as an axum route and on its own connection loop; and what only the loop does: pipelining, HTTP/1.0,
//! large files, handing other requests to the port's router, refusing what it cannot read.

use reqwest::header;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warnkit_distribution::{layout, Kind, Objects, StaticFiles};
use warnkit_service::server::{shutdown_channel, ShutdownTrigger};

/// How the files are served: as an axum route, or by `StaticFiles::serve` with the route as fallback.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Route,
    Loop,
}

/// The port's other routes, as `warnkit serve` has them beside the files.
fn port_router(files: StaticFiles) -> axum::Router {
    axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(files.router())
}

async fn start_in(objects: Objects, mode: Mode) -> (String, ShutdownTrigger) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (trigger, shutdown) = shutdown_channel();
    let files = StaticFiles::new(objects);
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

async fn start(objects: Objects) -> String {
    let (base, trigger) = start_in(objects, Mode::Loop).await;
    // The server lives as long as the test.
    std::mem::forget(trigger);
    base
}

#[tokio::test]
async fn serves_files_with_etags_and_cache_headers() {
    for mode in [Mode::Route, Mode::Loop] {
        serves_files_with_etags_and_cache_headers_in(mode).await;
    }
}

async fn serves_files_with_etags_and_cache_headers_in(mode: Mode) {
    let (_dir, objects, daily) = publish(b"PK-archive".to_vec()).await;
    let (base, _trigger) = start_in(objects.clone(), mode).await;
    let client = reqwest::Client::new();

    let res = client
        .get(format!("{base}/{daily}"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/zip");
    assert!(res.headers()[header::CACHE_CONTROL]
        .to_str()
        .expect("ascii")
        .contains("immutable"));
    let etag = res.headers()[header::ETAG].clone();
    assert_eq!(res.bytes().await.expect("body").as_ref(), b"PK-archive");

    let res = client
        .get(format!("{base}/{}", layout::date_index("DE")))
        .send()
        .await
        .expect("get");
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=300");

    let res = client
        .get(format!("{base}/{daily}"))
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()[header::ETAG], etag);
    assert!(res.bytes().await.expect("body").is_empty());
    let res = client
        .get(format!("{base}/{daily}"))
        .header(
            header::IF_NONE_MATCH,
            "\"other\", W/".to_owned() + etag.to_str().expect("ascii"),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(
        res.status(),
        StatusCode::NOT_MODIFIED,
        "a weak tag in a list matches"
    );
    let res = client
        .get(format!("{base}/{daily}"))
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::OK);

    let res = client
        .head(format!("{base}/{daily}"))
        .send()
        .await
        .expect("head");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_LENGTH], "10");
    assert!(res.bytes().await.expect("body").is_empty());

    // A new version of a file is seen once the cache revalidates (every half second), with a new ETag:
    // asked for until then, within a bound well past that interval.
    objects
        .put(&daily, Kind::Archive, b"PK-archive-2".to_vec())
        .await
        .expect("put");
    let put_at = std::time::Instant::now();
    let res = loop {
        let res = client
            .get(format!("{base}/{daily}"))
            .header(header::IF_NONE_MATCH, etag.clone())
            .send()
            .await
            .expect("get");
        if res.status() != StatusCode::NOT_MODIFIED {
            break res;
        }
        assert!(
            put_at.elapsed() < std::time::Duration::from_secs(5),
            "the new version was not served within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(res.headers()[header::ETAG], etag);
    assert_eq!(res.bytes().await.expect("body").as_ref(), b"PK-archive-2");

    for missing in [
        "version/v1/diagnosis-keys/country/DE/date/2020-01-01",
        "version/v1/nothing",
        "index",
    ] {
        let res = client
            .get(format!("{base}/{missing}"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}: {mode:?}");
        let body: serde_json::Value = res.json().await.expect("the JSON error envelope");
        assert!(body.to_string().contains("not_found"), "{body}");
    }
}

#[tokio::test]
async fn hostile_paths_never_leave_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("secret"), b"top secret").expect("write");
    let objects = Objects::local(&dir.path().join("published")).expect("objects");
    for mode in [Mode::Route, Mode::Loop] {
        let (base, _trigger) = start_in(objects.clone(), mode).await;
        hostile_paths_in(&base).await;
    }
}

async fn hostile_paths_in(base: &str) {
    let host = base.trim_start_matches("http://").to_owned();
    for path in [
        "/version/v1/diagnosis-keys/country/../../../../../secret",
        "/version/v1/diagnosis-keys/country/DE/date/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret",
        "/version/v1/diagnosis-keys/country/DE/date/..%2f..%2f..%2fsecret",
        "/version/v1/diagnosis-keys/country//date/x",
        "//etc/passwd",
    ] {
        // A raw request, so no client normalises the path first.
        let mut stream = tokio::net::TcpStream::connect(&host).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 404") || response.starts_with("HTTP/1.1 400"), "{path}: {response}");
        assert!(!response.contains("top secret"), "{path}");
    }
}

/// Sends `requests` on one connection in one write and reads until the server closes it.
async fn raw(base: &str, requests: &str) -> Vec<u8> {
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
fn next_response(bytes: &mut &[u8], head_request: bool) -> (u16, Vec<(String, String)>, Vec<u8>) {
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

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn published() -> (tempfile::TempDir, Objects, String, Vec<u8>) {
    // Larger than what is copied into one buffer: the body goes out from the cache as it is.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (dir, objects, daily) = publish(big.clone()).await;
    (dir, objects, daily, big)
}

/// A directory store holding DE's daily archive of 2025-11-22 (`archive`) and the date index naming
/// that day; the directory, the store and the archive's name.
async fn publish(archive: Vec<u8>) -> (tempfile::TempDir, Objects, String) {
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

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (_dir, objects, daily, big) = published().await;
    let base = start(objects).await;
    let index = layout::date_index("DE");
    let host = base.trim_start_matches("http://");
    let requests = format!(
        "GET /{index} HTTP/1.1\r\nHost: {host}\r\n\r\n\
         HEAD /{daily} HTTP/1.1\r\nHost: {host}\r\n\r\n\
         GET /{daily}?cache-buster=1 HTTP/1.1\r\nHost: {host}\r\n\r\n\
         GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n\
         GET /version/v1/nothing HTTP/1.1\r\nHost: {host}\r\n\r\n\
         GET /{index} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let all = raw(&base, &requests).await;
    let mut rest = all.as_slice();
    let (status, headers, body) = next_response(&mut rest, false);
    assert_eq!(
        (status, body.as_slice()),
        (200, b"[\"2025-11-22\"]".as_slice())
    );
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=300")
    );
    assert!(header(&headers, "date").is_some_and(|d| d.ends_with(" GMT")));
    let (status, headers, body) = next_response(&mut rest, true);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), Some("300000"));
    assert!(body.is_empty());
    let etag = header(&headers, "etag").expect("etag").to_owned();
    let (status, headers, body) = next_response(&mut rest, false);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "etag"), Some(etag.as_str()));
    assert!(body == big, "the large body arrives whole");
    let (status, _, body) = next_response(&mut rest, false);
    assert_eq!(
        (status, body.as_slice()),
        (200, b"ok".as_slice()),
        "other routes go to the router"
    );
    let (status, _, _) = next_response(&mut rest, false);
    assert_eq!(status, 404);
    let (status, headers, _) = next_response(&mut rest, false);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert!(rest.is_empty(), "nothing after the last answer");
}

#[tokio::test]
async fn http_1_0_and_conditional_requests() {
    let (_dir, objects, daily, _) = published().await;
    let base = start(objects).await;
    let index = layout::date_index("DE");
    // HTTP/1.0 closes unless asked not to; when asked, the answer says it keeps the connection.
    let all = raw(&base, &format!("GET /{index} HTTP/1.0\r\n\r\n")).await;
    let mut rest = all.as_slice();
    let (status, headers, _) = next_response(&mut rest, false);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "connection"), Some("close"));
    let all = raw(
        &base,
        &format!(
            "GET /{index} HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /{index} HTTP/1.0\r\n\r\n"
        ),
    )
    .await;
    let mut rest = all.as_slice();
    let (_, headers, _) = next_response(&mut rest, false);
    assert_eq!(header(&headers, "connection"), Some("keep-alive"));
    let (status, _, _) = next_response(&mut rest, false);
    assert_eq!(status, 200);
    assert!(rest.is_empty());
    // If-None-Match over several header lines, weak or strong: 304 without a body.
    let first = raw(
        &base,
        &format!("HEAD /{daily} HTTP/1.1\r\nConnection: close\r\n\r\n"),
    )
    .await;
    let (_, headers, _) = next_response(&mut first.as_slice(), true);
    let etag = header(&headers, "etag").expect("etag").to_owned();
    let all = raw(
        &base,
        &format!(
            "GET /{daily} HTTP/1.1\r\nIf-None-Match: \"x\"\r\nIf-None-Match: W/{etag}\r\n\r\n\
             GET /{daily} HTTP/1.1\r\nIf-None-Match: \"x\"\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    let mut rest = all.as_slice();
    let (status, headers, body) = next_response(&mut rest, false);
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(header(&headers, "etag"), Some(etag.as_str()));
    assert_eq!(header(&headers, "content-length"), None);
    let (status, _, body) = next_response(&mut rest, false);
    assert_eq!((status, body.len()), (200, 300_000));
}

#[tokio::test]
async fn what_the_loop_cannot_read_is_refused_and_other_methods_reach_the_router() {
    let (_dir, objects, daily, _) = published().await;
    let base = start(objects).await;
    // A POST with a body goes to the router (405 for a file), and the connection goes on after it.
    let all = raw(
        &base,
        &format!(
            "POST /{daily} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    let mut rest = all.as_slice();
    let (status, headers, _) = next_response(&mut rest, false);
    assert_eq!(status, 405);
    assert!(header(&headers, "allow").is_some_and(|a| a.contains("GET")));
    let (status, _, body) = next_response(&mut rest, false);
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    for (request, expected) in [
        (
            "POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_owned(),
            411,
        ),
        (
            "POST /health HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n".to_owned(),
            413,
        ),
        ("GARBAGE\r\n\r\n".to_owned(), 400),
        (
            format!(
                "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
                "a".repeat(20_000)
            ),
            431,
        ),
    ] {
        let all = raw(&base, &request).await;
        let mut rest = all.as_slice();
        let (status, headers, _) = next_response(&mut rest, false);
        assert_eq!(status, expected, "{}", &request[..request.len().min(60)]);
        assert_eq!(header(&headers, "connection"), Some("close"));
        assert!(rest.is_empty(), "the connection ends after the refusal");
    }
}

#[tokio::test]
async fn shutdown_stops_the_loop() {
    let (_dir, objects, _, _) = published().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let files = StaticFiles::new(objects);
    let (trigger, shutdown) = shutdown_channel();
    let server = tokio::spawn(files.clone().serve(listener, port_router(files), shutdown));
    // An idle keep-alive connection does not hold the server up.
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.expect("answer");
    assert_eq!(&first, b"HTTP/1.1 200");
    trigger.trigger();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .expect("no panic")
        .expect("no error");
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).await.expect("closed");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

// ---- the loop's bounds: timeouts, the connection cap, JSON refusals ----

/// Short timeouts, so that the tests see them fire.
fn short_limits() -> warnkit_service::server::ListenerLimits {
    warnkit_service::server::ListenerLimits {
        header_timeout_ms: 300,
        body_timeout_ms: 300,
        idle_timeout_ms: 600,
        max_connections: 64,
    }
}

/// The loop on a free port within `limits`; its address and trigger.
async fn start_limited(
    objects: Objects,
    limits: warnkit_service::server::ListenerLimits,
) -> (String, ShutdownTrigger) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (trigger, shutdown) = shutdown_channel();
    let files = StaticFiles::new(objects);
    let router = port_router(files.clone());
    tokio::spawn(files.serve_with(listener, router, shutdown, limits));
    (addr, trigger)
}

/// Reads until the server closes (EOF or reset), at most `within`: what arrived and when it ended.
async fn until_closed(
    stream: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> (Vec<u8>, std::time::Instant) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    let ended = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return std::time::Instant::now(),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    (got, ended)
}

/// Sends `request` and reads one whole response, leaving the connection open.
async fn exchange(
    stream: &mut tokio::net::TcpStream,
    request: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed early");
            got.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = response.parse(&got) {
                let length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |h| {
                        std::str::from_utf8(h.value)
                            .expect("ascii")
                            .parse::<usize>()
                            .expect("length")
                    });
                if got.len() >= len + length {
                    return;
                }
            }
        }
    })
    .await
    .expect("an answer");
    let mut rest = got.as_slice();
    next_response(&mut rest, false)
}

#[tokio::test]
async fn the_loop_closes_a_slow_head_at_the_header_timeout() {
    let (_dir, objects, _, _) = published().await;
    let (addr, _trigger) = start_limited(objects, short_limits()).await;
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let start = std::time::Instant::now();
    stream.write_all(b"GET /vers").await.expect("write");
    let (got, ended) = until_closed(&mut stream, std::time::Duration::from_secs(3)).await;
    let took = ended - start;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(took >= std::time::Duration::from_millis(200), "{took:?}");
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn the_loop_closes_an_idle_connection_at_the_idle_timeout() {
    let (_dir, objects, daily, big) = published().await;
    let limits = warnkit_service::server::ListenerLimits {
        header_timeout_ms: 3_000,
        idle_timeout_ms: 400,
        ..short_limits()
    };
    let (addr, _trigger) = start_limited(objects, limits).await;
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (status, _, body) = exchange(&mut stream, &format!("GET /{daily} HTTP/1.1\r\n\r\n")).await;
    assert_eq!((status, body.len()), (200, big.len()));
    let (status, _, body) = exchange(&mut stream, "GET /health HTTP/1.1\r\n\r\n").await;
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    let idle_from = std::time::Instant::now();
    let (got, ended) = until_closed(&mut stream, std::time::Duration::from_secs(3)).await;
    let idle = ended - idle_from;
    assert!(got.is_empty());
    // The idle timeout, not the (longer) header timeout.
    assert!(idle >= std::time::Duration::from_millis(200), "{idle:?}");
    assert!(idle < std::time::Duration::from_millis(2_500), "{idle:?}");
}

#[tokio::test]
async fn the_loop_answers_a_trickling_body_with_408() {
    let (_dir, objects, _, _) = published().await;
    let (addr, _trigger) = start_limited(objects, short_limits()).await;
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let start = std::time::Instant::now();
    stream
        .write_all(b"POST /health HTTP/1.1\r\ncontent-length: 100\r\n\r\nonly ten b")
        .await
        .expect("write");
    let (got, ended) = until_closed(&mut stream, std::time::Duration::from_secs(3)).await;
    let took = ended - start;
    let mut rest = got.as_slice();
    let (status, headers, body) = next_response(&mut rest, false);
    assert_eq!(status, 408);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(header(&headers, "connection"), Some("close"));
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"], "request_timeout");
    assert!(took >= std::time::Duration::from_millis(250), "{took:?}");
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn the_loop_cuts_a_client_that_does_not_read() {
    let (_dir, objects, daily) = publish(vec![7u8; 32 << 20]).await;
    let (addr, _trigger) = start_limited(objects, short_limits()).await;
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    stream
        .write_all(format!("GET /{daily} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .expect("write");
    // Not reading for longer than the idle timeout (600 ms): the server's writes stall meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let (got, _) = until_closed(&mut stream, std::time::Duration::from_secs(5)).await;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(got.len() < 32 << 20, "the whole file arrived: not cut");
}

#[tokio::test]
async fn the_loop_at_its_cap_waits_and_leaves_other_listeners_answering() {
    let (_dir, objects, _, _) = published().await;
    let capped = warnkit_service::server::ListenerLimits {
        header_timeout_ms: 10_000,
        idle_timeout_ms: 10_000,
        max_connections: 3,
        ..short_limits()
    };
    let (full, _stop_full) = start_limited(objects.clone(), capped).await;
    let (other, _stop_other) = start_limited(objects, short_limits()).await;
    let health = "GET /health HTTP/1.1\r\n\r\n";
    // Three connections the capped loop has accepted (each answered once), kept open.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(&full)
            .await
            .expect("connect");
        assert_eq!(exchange(&mut stream, health).await.0, 200);
        held.push(stream);
    }
    // The fourth connects (the kernel's backlog) but is not accepted: its request waits.
    let mut fourth = tokio::net::TcpStream::connect(&full)
        .await
        .expect("connect to the backlog");
    fourth.write_all(health.as_bytes()).await.expect("write");
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(
            tokio::net::TcpStream::connect(&full)
                .await
                .expect("connect to the backlog"),
        );
    }
    let mut first = [0u8; 12];
    assert!(
        tokio::time::timeout(
            std::time::Duration::from_millis(300),
            fourth.read(&mut first)
        )
        .await
        .is_err(),
        "answered beyond the cap"
    );
    let asked = std::time::Instant::now();
    let mut stream = tokio::net::TcpStream::connect(&other)
        .await
        .expect("connect");
    assert_eq!(exchange(&mut stream, health).await.0, 200);
    assert!(asked.elapsed() < std::time::Duration::from_secs(2));
    // One of the three closes: the fourth is taken and answered.
    drop(held.pop());
    tokio::time::timeout(
        std::time::Duration::from_secs(2),
        fourth.read_exact(&mut first),
    )
    .await
    .expect("the fourth is answered once a connection closed")
    .expect("read");
    assert_eq!(&first, b"HTTP/1.1 200");
}

#[tokio::test]
async fn the_loop_refuses_in_the_json_envelope() {
    let (_dir, objects, _) = publish(b"PK".to_vec()).await;
    let (addr, _trigger) = start_limited(objects, short_limits()).await;
    let base = format!("http://{addr}");
    for (request, status, code) in [
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9_000)),
            414,
            "uri_too_long",
        ),
        (
            format!(
                "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
                "a".repeat(20_000)
            ),
            431,
            "headers_too_large",
        ),
        (
            format!(
                "GET /health HTTP/1.1\r\n{}\r\n",
                (0..70)
                    .map(|i| format!("x-h{i}: v\r\n"))
                    .collect::<String>()
            ),
            431,
            "headers_too_large",
        ),
        ("GARBAGE\r\n\r\n".to_owned(), 400, "malformed_request"),
        (
            "POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_owned(),
            411,
            "length_required",
        ),
        (
            "POST /health HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n".to_owned(),
            413,
            "payload_too_large",
        ),
    ] {
        let all = raw(&base, &request).await;
        let mut rest = all.as_slice();
        let what = &request[..request.len().min(40)];
        let (got, headers, body) = next_response(&mut rest, false);
        assert_eq!(got, status, "{what}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/json"),
            "{what}"
        );
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"], code, "{what}");
        assert!(
            rest.is_empty(),
            "{what}: the connection ends after the refusal"
        );
    }
}
