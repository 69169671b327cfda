//! The loop's bounds: header, body and idle timeouts, clients that do not read, the connection cap, and
//! refusals in the JSON envelope.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warnkit_distribution::{Objects, StaticFiles};
use warnkit_service::server::{shutdown_channel, ShutdownTrigger};

use super::support::*;

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
