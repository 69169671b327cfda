//! The static server over real HTTP: content types, cache headers, ETags, HEAD, and hostile paths.

use reqwest::header;
use reqwest::StatusCode;
use warnkit_distribution::{layout, Kind, Objects, StaticFiles};

async fn start(objects: Objects) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, StaticFiles::new(objects).router()).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn serves_files_with_etags_and_cache_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = Objects::local(dir.path()).expect("objects");
    let daily = layout::daily("DE", "2025-11-22");
    objects
        .put(&daily, Kind::Archive, b"PK-archive".to_vec())
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
    let base = start(objects.clone()).await;
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

    // A new version of a file is seen within the revalidation interval (half a second), with a new ETag.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    objects
        .put(&daily, Kind::Archive, b"PK-archive-2".to_vec())
        .await
        .expect("put");
    let res = client
        .get(format!("{base}/{daily}"))
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .expect("get");
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
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn hostile_paths_never_leave_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("secret"), b"top secret").expect("write");
    let objects = Objects::local(&dir.path().join("published")).expect("objects");
    let base = start(objects).await;
    let host = base.trim_start_matches("http://").to_owned();
    for path in [
        "/version/v1/diagnosis-keys/country/../../../../../secret",
        "/version/v1/diagnosis-keys/country/DE/date/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret",
        "/version/v1/diagnosis-keys/country/DE/date/..%2f..%2f..%2fsecret",
        "/version/v1/diagnosis-keys/country//date/x",
        "//etc/passwd",
    ] {
        // A raw request, so no client normalises the path first.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&host).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 404") || response.starts_with("HTTP/1.1 400"), "{path}: {response}");
        assert!(!response.contains("top secret"), "{path}");
    }
}
