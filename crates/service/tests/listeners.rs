//! Every listener bounds its connections (`server::serve_with`): slow heads, idle keep-alive
//! connections, trickling bodies and clients that do not read are cut at their timeouts; a listener at
//! its cap leaves clients in the backlog and other listeners answering; refusals of the HTTP layer carry
//! the JSON envelope; shutdown lets the request in progress finish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warnkit_service::server::{serve_with, shutdown_channel, ListenerLimits, ShutdownTrigger};
use warnkit_service::{Metrics, ServiceRouter};

/// Short timeouts, so that the tests see them fire.
fn short() -> ListenerLimits {
    ListenerLimits {
        header_timeout_ms: 300,
        body_timeout_ms: 300,
        idle_timeout_ms: 600,
        max_connections: 64,
    }
}

/// The routes of a service, as `ServiceRouter` assembles them, plus a few for the tests.
fn router() -> Router {
    let api = Router::new()
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            post(|body: String| async move {
                // Slow work after the body is in: not the body timeout's business.
                tokio::time::sleep(Duration::from_millis(700)).await;
                body
            }),
        )
        .route("/big", get(|| async { vec![b'x'; 32 << 20] }));
    ServiceRouter::new(Metrics::new("test")).finish(api)
}

async fn start(router: Router, limits: ListenerLimits) -> (String, ShutdownTrigger) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (trigger, shutdown) = shutdown_channel();
    tokio::spawn(serve_with(listener, router, shutdown, limits));
    (addr, trigger)
}

/// Reads until the server closes (EOF or reset), at most `within`: what arrived and when it ended.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Instant) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    let ended = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    (got, ended)
}

/// One response at the start of `bytes`: status, head (lowercase), body (by content-length).
fn response(bytes: &[u8]) -> (u16, String, Vec<u8>) {
    let text = String::from_utf8_lossy(bytes);
    let (head, _) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a complete head: {text}"));
    let head = head.to_ascii_lowercase();
    let status = head[9..12].parse().expect("a status");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.parse().expect("a length"));
    let start = head.len() + 4;
    (status, head, bytes[start..start + length].to_vec())
}

/// Sends one request and reads its whole response, leaving the connection open.
async fn request(stream: &mut TcpStream, raw: &str) -> (u16, String, Vec<u8>) {
    stream.write_all(raw.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.parse().expect("a length"));
                if got.len() >= end + 4 + length {
                    return;
                }
            }
        }
    })
    .await
    .expect("an answer");
    response(&got)
}

const HEALTH: &str = "GET /health HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn a_slow_head_is_closed_at_the_header_timeout() {
    let (addr, _stop) = start(router(), short()).await;
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let start = Instant::now();
    stream.write_all(b"GET /hea").await.expect("write");
    let (got, ended) = until_closed(&mut stream, Duration::from_secs(3)).await;
    let took = ended - start;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(took >= Duration::from_millis(200), "closed after {took:?}");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let limits = ListenerLimits {
        header_timeout_ms: 3_000,
        idle_timeout_ms: 400,
        ..short()
    };
    let (addr, _stop) = start(router(), limits).await;
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    // Kept alive: a second request on the same connection, after a while shorter than the timeout.
    assert_eq!(request(&mut stream, HEALTH).await.0, 200);
    let (status, _, body) = request(
        &mut stream,
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!((status, body.as_slice()), (200, b"hello".as_slice()));
    let idle_from = Instant::now();
    let (got, ended) = until_closed(&mut stream, Duration::from_secs(3)).await;
    let idle = ended - idle_from;
    assert!(got.is_empty());
    // The idle timeout, not the (longer) header timeout.
    assert!(idle >= Duration::from_millis(200), "closed after {idle:?}");
    assert!(idle < Duration::from_millis(2_500), "closed after {idle:?}");
}

#[tokio::test]
async fn a_trickling_body_gets_408_at_the_body_timeout() {
    let (addr, _stop) = start(router(), short()).await;
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let start = Instant::now();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nonly ten b")
        .await
        .expect("write");
    let (got, ended) = until_closed(&mut stream, Duration::from_secs(3)).await;
    let took = ended - start;
    let (status, head, body) = response(&got);
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"], "request_timeout");
    assert!(
        took >= Duration::from_millis(250),
        "answered after {took:?}"
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");

    // A body that is in on time is not cut, however long the handler then takes.
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let (status, _, body) = request(
        &mut stream,
        "POST /slow HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nslow",
    )
    .await;
    assert_eq!((status, body.as_slice()), (200, b"slow".as_slice()));
}

#[tokio::test]
async fn a_client_that_does_not_read_is_cut_at_the_idle_timeout() {
    let (addr, _stop) = start(router(), short()).await;
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream
        .write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    // Not reading for longer than the idle timeout (600 ms): the server's writes stall meanwhile.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (got, _) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(got.len() < 32 << 20, "the whole body arrived: not cut");
}

#[tokio::test]
async fn a_listener_at_its_cap_waits_and_leaves_others_answering() {
    let capped = ListenerLimits {
        header_timeout_ms: 10_000,
        idle_timeout_ms: 10_000,
        max_connections: 3,
        ..short()
    };
    let (full, _stop_full) = start(router(), capped).await;
    let (other, _stop_other) = start(router(), short()).await;
    // Three connections the capped listener has accepted (each answered once), kept open.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(&full).await.expect("connect");
        assert_eq!(request(&mut stream, HEALTH).await.0, 200);
        held.push(stream);
    }
    // The fourth connects (the kernel's backlog) but is not accepted: its request waits.
    let mut fourth = TcpStream::connect(&full)
        .await
        .expect("connect to the backlog");
    fourth.write_all(HEALTH.as_bytes()).await.expect("write");
    // More behind it, idle.
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(
            TcpStream::connect(&full)
                .await
                .expect("connect to the backlog"),
        );
    }
    let mut first = [0u8; 12];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), fourth.read(&mut first))
            .await
            .is_err(),
        "answered beyond the cap"
    );
    // The other listener answers at once.
    let asked = Instant::now();
    let mut stream = TcpStream::connect(&other).await.expect("connect");
    assert_eq!(request(&mut stream, HEALTH).await.0, 200);
    assert!(asked.elapsed() < Duration::from_secs(2));
    // One of the three closes: the fourth is taken and answered.
    drop(held.pop());
    let asked = Instant::now();
    tokio::time::timeout(Duration::from_secs(2), fourth.read_exact(&mut first))
        .await
        .expect("the fourth is answered once a connection closed")
        .expect("read");
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(asked.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn refusals_of_the_http_layer_carry_the_envelope() {
    let (addr, _stop) = start(router(), short()).await;
    let many = |n: usize| (0..n).map(|i| format!("x-h{i}: v\r\n")).collect::<String>();
    for (request, status, code) in [
        // Our own limits, checked before the router.
        (
            format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(9_000)),
            414,
            "uri_too_long",
        ),
        (
            format!("GET /health HTTP/1.1\r\nhost: x\r\n{}\r\n", many(70)),
            431,
            "headers_too_large",
        ),
        // hyper's own, replaced.
        (
            format!(
                "GET /health HTTP/1.1\r\nx-big: {}\r\n\r\n",
                "a".repeat(20_000)
            ),
            431,
            "headers_too_large",
        ),
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(70_000)),
            431,
            "headers_too_large",
        ),
        (
            format!("GET /health HTTP/1.1\r\nhost: x\r\n{}\r\n", many(150)),
            431,
            "headers_too_large",
        ),
        ("GARBAGE\r\n\r\n".to_owned(), 400, "malformed_request"),
        (
            "GET /health HTTP/1.1\r\nno colon here\r\n\r\n".to_owned(),
            400,
            "malformed_request",
        ),
        (
            "POST /echo HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab".to_owned(),
            400,
            "malformed_request",
        ),
    ] {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        // A refused request may be cut off mid-write: what matters is the answer.
        let _ = stream.write_all(request.as_bytes()).await;
        let (got, _) = until_closed(&mut stream, Duration::from_secs(3)).await;
        let what = &request[..request.len().min(40)];
        let (got_status, head, body) = response(&got);
        assert_eq!(got_status, status, "{what}: {head}");
        assert!(
            head.contains("content-type: application/json"),
            "{what}: {head}"
        );
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"], code, "{what}");
        assert!(body["message"].is_string(), "{what}");
    }

    // A refusal after a good pipelined request: the first answered as usual, the second refused.
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream
        .write_all(format!("{HEALTH}GARBAGE\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let (got, _) = until_closed(&mut stream, Duration::from_secs(3)).await;
    let (status, head, body) = response(&got);
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()), "{head}");
    let rest = &got[head.len() + 4 + body.len()..];
    let (status, head, body) = response(rest);
    assert_eq!(status, 400, "{head}");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"], "malformed_request");
}

#[tokio::test]
async fn shutdown_lets_the_request_in_progress_finish() {
    let release = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let (r, e) = (release.clone(), entered.clone());
    let router = Router::new().route(
        "/wait",
        get(move || async move {
            e.notify_one();
            r.notified().await;
            "done"
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (trigger, shutdown) = shutdown_channel();
    let server = tokio::spawn(serve_with(
        listener,
        router,
        shutdown,
        ListenerLimits::default(),
    ));
    // An idle connection and a fresh one that sent nothing close at once; the busy one finishes.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /missing HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.expect("answer");
    let mut fresh = TcpStream::connect(addr).await.expect("connect");
    let mut busy = TcpStream::connect(addr).await.expect("connect");
    busy.write_all(b"GET /wait HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    tokio::time::timeout(Duration::from_secs(5), entered.notified())
        .await
        .expect("the handler runs");
    trigger.trigger();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), idle.read_to_end(&mut rest))
        .await
        .expect("the idle connection closes at shutdown")
        .expect("read");
    tokio::time::timeout(Duration::from_secs(2), fresh.read_to_end(&mut rest))
        .await
        .expect("the fresh connection closes at shutdown")
        .expect("read");
    assert!(!server.is_finished(), "a request is still in progress");
    release.notify_one();
    let (got, _) = until_closed(&mut busy, Duration::from_secs(5)).await;
    let (status, _, body) = response(&got);
    assert_eq!((status, body.as_slice()), (200, b"done".as_slice()));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .expect("no panic")
        .expect("no error");
}
