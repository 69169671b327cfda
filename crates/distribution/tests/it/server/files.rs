//! Files over real HTTP, as a route and on the loop: content types, cache headers, ETags and their
//! revalidation, HEAD, hostile paths, pipelining, HTTP/1.0, large files, other requests handed to the
//! port's router, refusals of what the loop cannot read, shutdown.

use reqwest::header;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warnkit_distribution::{layout, Kind, Objects, StaticFiles};
use warnkit_service::server::shutdown_channel;
use warnkit_service::Clock;

use super::support::*;

#[tokio::test]
async fn serves_files_with_etags_and_cache_headers() {
    for mode in [Mode::Route, Mode::Loop] {
        serves_files_with_etags_and_cache_headers_in(mode).await;
    }
}

async fn serves_files_with_etags_and_cache_headers_in(mode: Mode) {
    let (_dir, objects, daily) = publish(b"PK-archive".to_vec()).await;
    let clock = Clock::manual(1_700_000_000);
    let (base, _trigger) = start_on(objects.clone(), mode, clock.clone()).await;
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

    // A new version of a file is seen once the cache revalidates (half a second after the file was last
    // checked, by the server's clock), with a new ETag; until then the cached version is answered.
    objects
        .put(&daily, Kind::Archive, b"PK-archive-2".to_vec())
        .await
        .expect("put");
    let ask = || {
        client
            .get(format!("{base}/{daily}"))
            .header(header::IF_NONE_MATCH, etag.clone())
            .send()
    };
    let res = ask().await.expect("get");
    assert_eq!(
        res.status(),
        StatusCode::NOT_MODIFIED,
        "still the cached version"
    );
    clock.advance_millis(499);
    let res = ask().await.expect("get");
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "499 ms later");
    clock.advance_millis(1);
    let res = ask().await.expect("get");
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
