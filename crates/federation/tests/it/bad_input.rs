//! Bad input on every gateway endpoint: each gets a 4xx with the error envelope and a clear code, and the
//! gateway stores nothing.

use base64::Engine;
use p256::ecdsa::SigningKey;
use prost::Message;
use warnkit_federation::batch::{self, to_wire};
use warnkit_federation::date::day_string;
use warnkit_federation::proto::DiagnosisKeyBatch;
use warnkit_testkit::suite_on_both_engines;

use crate::harness::{key, World, DAY, START};

suite_on_both_engines!(
    bad_input_is_refused_and_stores_nothing,
    crate::harness::World,
    2
);

fn batch_of(origin: &str, bytes: &[u8]) -> DiagnosisKeyBatch {
    DiagnosisKeyBatch {
        keys: bytes
            .iter()
            .map(|b| to_wire(&key(*b, origin, &["FR"], true, START / 3600)))
            .collect(),
    }
}

/// An upload request with every header set; cases take one away or spoil it.
struct Upload<'a> {
    token: Option<&'a str>,
    content_type: Option<&'a str>,
    tag: Option<&'a str>,
    signature: Option<String>,
    body: Vec<u8>,
}

impl<'a> Upload<'a> {
    fn signed(token: &'a str, batch: &DiagnosisKeyBatch, key: &SigningKey) -> Self {
        Upload {
            token: Some(token),
            content_type: Some("application/protobuf"),
            tag: Some("t-1"),
            signature: Some(batch::sign(batch, key)),
            body: batch.encode_to_vec(),
        }
    }

    async fn send(self, http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
        let mut r = http
            .post(format!("{url}/diagnosiskeys/upload"))
            .body(self.body);
        if let Some(t) = self.token {
            r = r.bearer_auth(t);
        }
        if let Some(c) = self.content_type {
            r = r.header("content-type", c);
        }
        if let Some(t) = self.tag {
            r = r.header("batchTag", t);
        }
        if let Some(s) = self.signature {
            r = r.header("batchSignature", s);
        }
        answer(r.send().await.expect("request")).await
    }
}

async fn answer(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// An upload over a raw connection with `chunked` (already chunk-encoded) as its body: status and JSON.
async fn raw_chunked_upload(
    url: &str,
    token: &str,
    signature: &str,
    chunked: &[u8],
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /diagnosiskeys/upload HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/protobuf\r\n\
         batchTag: t-raw\r\nbatchSignature: {signature}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let chunked = chunked.to_vec();
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(head.as_bytes()).expect("write");
        // The server may answer and close before taking all of an oversized body.
        let _ = stream.write_all(&chunked);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        response
    })
    .await
    .expect("raw upload");
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

async fn bad_input_is_refused_and_stores_nothing(w: World) {
    let http = reqwest::Client::new();
    let url = w.gateway_url.as_str();
    let de = w.backend("DE");
    let token = de.token.as_str();
    let good = batch_of("DE", &[1, 2, 3]);
    let stranger = SigningKey::random(&mut rand::rngs::OsRng);

    type Case<'a> = (&'static str, u16, &'static str, Upload<'a>);
    let mut cases: Vec<Case<'_>> = Vec::new();
    let mut u = Upload::signed(token, &good, &de.signing);
    u.token = None;
    cases.push(("no credential", 401, "unauthorized", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.token = Some("not-a-member");
    cases.push(("unknown credential", 401, "unauthorized", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.content_type = Some("application/json");
    cases.push(("wrong content type", 415, "unsupported_media_type", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.tag = None;
    cases.push(("no batch tag", 400, "missing_batch_tag", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.tag = Some("a/b");
    cases.push(("garbled batch tag", 400, "invalid_batch_tag", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.signature = None;
    cases.push(("no signature", 400, "missing_batch_signature", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.signature = Some("%%% not base64 %%%".into());
    cases.push(("signature not base64", 400, "invalid_batch_signature", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.signature = Some(base64::engine::general_purpose::STANDARD.encode(b"not DER"));
    cases.push(("signature not DER", 400, "invalid_batch_signature", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.body = vec![0xff, 0xff, 0xff];
    cases.push(("malformed protobuf", 400, "malformed_batch", u));
    let mut u = Upload::signed(token, &good, &de.signing);
    u.body = vec![0; 100_001];
    cases.push(("oversized body", 413, "payload_too_large", u));
    let empty = DiagnosisKeyBatch::default();
    cases.push((
        "empty batch",
        400,
        "invalid_key_count",
        Upload::signed(token, &empty, &de.signing),
    ));
    let big = batch_of("DE", &(0..101).collect::<Vec<u8>>());
    cases.push((
        "too many keys",
        400,
        "invalid_key_count",
        Upload::signed(token, &big, &de.signing),
    ));
    let fr_keys = batch_of("FR", &[1, 2]);
    cases.push((
        "origin of another country",
        400,
        "origin_mismatch",
        Upload::signed(token, &fr_keys, &de.signing),
    ));
    let mut short = good.clone();
    short.keys[0].key_data.pop();
    cases.push((
        "short key",
        400,
        "invalid_key_data",
        Upload::signed(token, &short, &de.signing),
    ));
    let mut future = good.clone();
    future.keys[0].rolling_start_interval_number = ((DAY + 1) * 144) as u32;
    cases.push((
        "future key",
        400,
        "rolling_start_out_of_window",
        Upload::signed(token, &future, &de.signing),
    ));
    let mut visited = good.clone();
    visited.keys[0].visited_countries.push("france".into());
    cases.push((
        "bad visited country",
        400,
        "invalid_visited_country",
        Upload::signed(token, &visited, &de.signing),
    ));
    let mut dup = good.clone();
    dup.keys[1].key_data = dup.keys[0].key_data.clone();
    cases.push((
        "duplicate key",
        400,
        "duplicate_key",
        Upload::signed(token, &dup, &de.signing),
    ));
    cases.push((
        "signed by a stranger",
        400,
        "signature_mismatch",
        Upload::signed(token, &good, &stranger),
    ));
    let mut changed = Upload::signed(token, &good, &de.signing);
    let mut altered = good.clone();
    altered.keys[2].transmission_risk_level = 1;
    changed.body = altered.encode_to_vec();
    cases.push((
        "key changed after signing",
        400,
        "signature_mismatch",
        changed,
    ));

    for (name, status, code, upload) in cases {
        let (got, body) = upload.send(&http, url).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["error"], code, "{name}: {body}");
        assert!(
            !body["message"].as_str().unwrap_or_default().is_empty(),
            "{name}"
        );
    }
    // Bodies sent chunked, without a length for the limit check before the handler: a body over the
    // limit is 413, a body that cannot be read (a broken chunk size) is 400.
    let signature = batch::sign(&good, &de.signing);
    let mut oversized = b"186a1\r\n".to_vec();
    oversized.extend(std::iter::repeat_n(0u8, 100_001));
    oversized.extend_from_slice(b"\r\n0\r\n\r\n");
    let raw_cases: [(&str, u16, &str, &[u8]); 2] = [
        (
            "oversized chunked body",
            413,
            "payload_too_large",
            &oversized,
        ),
        (
            "broken chunked body",
            400,
            "unreadable_body",
            b"zz\r\nabc\r\n0\r\n\r\n",
        ),
    ];
    for (name, status, code, body) in raw_cases {
        let (got, body) = raw_chunked_upload(url, token, &signature, body).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["error"], code, "{name}: {body}");
        assert!(
            !body["message"].as_str().unwrap_or_default().is_empty(),
            "{name}"
        );
    }
    assert_eq!(w.gateway.counts().await.unwrap(), (0, 0), "nothing stored");

    // The good batch, then the same tag again: same keys is idempotent, other keys a conflict.
    let (status, body) = Upload::signed(token, &good, &de.signing)
        .send(&http, url)
        .await;
    assert_eq!(status, 201, "{body}");
    let tag = body["batchTag"].as_str().unwrap().to_owned();
    assert_eq!(tag, format!("{}-1", day_string(DAY).replace('-', "")));
    let mut reordered = good.clone();
    reordered.keys.reverse();
    let (status, body) = Upload::signed(token, &reordered, &de.signing)
        .send(&http, url)
        .await;
    assert_eq!(
        (status, body["batchTag"].as_str()),
        (200, Some(tag.as_str())),
        "{body}"
    );
    let other = batch_of("DE", &[7, 8]);
    let (status, body) = Upload::signed(token, &other, &de.signing)
        .send(&http, url)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("batch_tag_conflict")),
        "{body}"
    );
    // The same tag from another country is that country's own batch.
    let fr = w.backend("FR");
    let (status, _) = Upload::signed(&fr.token, &batch_of("FR", &[9]), &fr.signing)
        .send(&http, url)
        .await;
    assert_eq!(status, 201);
    assert_eq!(w.gateway.counts().await.unwrap(), (2, 4));

    // Downloads and audits.
    let date = day_string(DAY);
    let get = |path: String, tag: Option<&'static str>, auth: Option<&str>| {
        let mut r = http.get(format!("{url}{path}"));
        if let Some(t) = tag {
            r = r.header("batchTag", t);
        }
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        async move { answer(r.send().await.expect("request")).await }
    };
    let download = |d: &str| format!("/diagnosiskeys/download/{d}");
    let audit = |d: &str, t: &str| format!("/diagnosiskeys/audit/download/{d}/{t}");
    // (name, path, batchTag header, credential, status, error code)
    type Read<'a> = (
        &'a str,
        String,
        Option<&'static str>,
        Option<&'a str>,
        u16,
        &'a str,
    );
    let cases: Vec<Read<'_>> = vec![
        (
            "download without credential",
            download(&date),
            None,
            None,
            401,
            "unauthorized",
        ),
        (
            "download with unknown credential",
            download(&date),
            None,
            Some("nope"),
            401,
            "unauthorized",
        ),
        (
            "impossible date",
            download("2026-02-30"),
            None,
            Some(token),
            400,
            "invalid_date",
        ),
        (
            "not a date",
            download("yesterday"),
            None,
            Some(token),
            400,
            "invalid_date",
        ),
        (
            "day without batches",
            download(&day_string(DAY - 1)),
            None,
            Some(token),
            404,
            "no_batches",
        ),
        (
            "garbled tag",
            download(&date),
            Some("abc"),
            Some(token),
            400,
            "invalid_batch_tag",
        ),
        (
            "tag of another day",
            download(&date),
            Some("20261122-1"),
            Some(token),
            404,
            "batch_not_found",
        ),
        (
            "unknown tag",
            download(&date),
            Some("20261123-99"),
            Some(token),
            404,
            "batch_not_found",
        ),
        (
            "audit without credential",
            audit(&date, &tag),
            None,
            None,
            401,
            "unauthorized",
        ),
        (
            "audit of a bad date",
            audit("2026-1-1", &tag),
            None,
            Some(token),
            400,
            "invalid_date",
        ),
        (
            "audit of a bad tag",
            audit(&date, "x-1"),
            None,
            Some(token),
            400,
            "invalid_batch_tag",
        ),
        (
            "audit of an unknown tag",
            audit(&date, "20261123-9"),
            None,
            Some(token),
            404,
            "batch_not_found",
        ),
        (
            "unknown route",
            "/diagnosiskeys/nothing".into(),
            None,
            Some(token),
            404,
            "no_route",
        ),
    ];
    for (name, path, tag, auth, status, code) in cases {
        let (got, body) = get(path, tag, auth).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{name}: {body}"
        );
    }
    let (status, body) = get(audit(&date, &tag), None, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["country"].as_str(), body["keys"].as_i64()),
        (Some("DE"), Some(3))
    );
    assert_eq!(
        w.gateway.counts().await.unwrap(),
        (2, 4),
        "reads store nothing"
    );

    // Retention: fourteen days later the batches are still there, fifteen days later they are gone.
    w.clock.set(START + 14 * 86_400);
    assert_eq!(w.gateway.run_retention().await.unwrap(), 0);
    w.clock.set(START + 15 * 86_400);
    assert_eq!(w.gateway.run_retention().await.unwrap(), 2);
    assert_eq!(w.gateway.counts().await.unwrap(), (0, 0));
}
