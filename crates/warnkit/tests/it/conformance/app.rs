//! The phone's side of the suite: the current original app's requests, header by header, and its
//! upload bodies, built field by field from the original's `.proto` numbers.

use std::io::Read;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::conformance::published::check_signature_info;
use crate::conformance::wire::{self, walk, Get, Writer};

/// What the app's padding pads up to: 15 keys of 28 bytes (`PaddingTool`).
const PADDED_KEYS: usize = 15;
const KEY_BYTES: usize = 28;

/// What the app registers for a QR code: the GUID's SHA-256 in hex.
pub fn hex_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Padding as the app makes it: random letters and digits.
pub fn random_text(n: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| ALNUM[rand::random::<usize>() % ALNUM.len()] as char)
        .collect()
}

/// A diagnosis key as the app's key converter writes it: no report type.
pub fn app_key(key: &[u8; 16], rolling_start: i64, trl: i64, dsos: i32) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(1, key)
        .int(2, trl)
        .int(3, rolling_start)
        .int(4, 144)
        .sint(6, dsos);
    w.0
}

/// The app's real upload body: keys, padding to 15 keys, every supported country as visited,
/// consent, PCR test.
pub fn real_payload(keys: &[Vec<u8>], countries: &[String]) -> Vec<u8> {
    let mut w = Writer::default();
    for k in keys {
        w.bytes(1, k);
    }
    let padding = KEY_BYTES * PADDED_KEYS.saturating_sub(keys.len());
    w.bytes(2, random_text(padding).as_bytes());
    for c in countries {
        w.bytes(3, c.as_bytes());
    }
    w.int(5, 1).int(7, 0);
    w.0
}

/// The app's fake upload body: padding only, as for 15 keys.
pub fn fake_payload() -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(2, random_text(KEY_BYTES * PADDED_KEYS).as_bytes());
    w.0
}

/// The app's HTTP client and the base URL of every service it talks to.
pub struct App {
    pub http: reqwest::Client,
    /// Base URLs by service name, as the server's `endpoints.json` lists them.
    pub endpoints: Value,
}

impl App {
    pub fn url(&self, service: &str, path: &str) -> String {
        format!("{}/{path}", self.endpoints[service].as_str().expect("url"))
    }

    /// A verification request as the app's `VerificationApiV1`: JSON, `cwa-fake`, header padding.
    pub async fn verification(
        &self,
        path: &str,
        fake: bool,
        header_padding: usize,
        body: Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url("verification", path))
            .header("cwa-fake", if fake { "1" } else { "0" })
            .header("cwa-header-padding", random_text(header_padding))
            .json(&body)
            .send()
            .await
            .expect("verification request")
    }

    /// An upload as the app's `SubmissionApiV1`.
    pub async fn upload(&self, tan: &str, fake: bool, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(self.url("submission", "version/v1/diagnosis-keys"))
            .header("content-type", "application/x-protobuf")
            .header("cwa-authorization", tan)
            .header("cwa-fake", if fake { "1" } else { "0" })
            .header(
                "cwa-header-padding",
                if fake { random_text(36) } else { String::new() },
            )
            .body(body)
            .send()
            .await
            .expect("upload")
    }

    /// A GET of a published file, with the headers the app needs checked.
    pub async fn file(&self, path: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let r = self
            .http
            .get(self.url("distribution", path))
            .send()
            .await
            .expect("download");
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        assert_eq!(
            headers.get_all("etag").iter().count(),
            1,
            "{path}: the app needs exactly one ETag"
        );
        (headers, r.bytes().await.expect("body").to_vec())
    }

    pub async fn json_file<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let (headers, body) = self.file(path).await;
        assert_eq!(headers["content-type"], "application/json", "{path}");
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A signed zip as the app and the framework read it: `export.bin` and `export.sig`, every
    /// signature valid for `key`, with the original's signature info.
    pub async fn signed(&self, path: &str, key: &VerifyingKey) -> Vec<u8> {
        let (headers, body) = self.file(path).await;
        assert_eq!(headers["content-type"], "application/zip", "{path}");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).expect("a zip");
        let mut entry = |name: &str| {
            let mut out = Vec::new();
            zip.by_name(name)
                .unwrap_or_else(|_| panic!("{path}: no {name}"))
                .read_to_end(&mut out)
                .expect("read entry");
            out
        };
        let bin = entry("export.bin");
        let sig = entry("export.sig");
        let list = walk(&wire::TEK_SIGNATURE_LIST, &sig).unwrap_or_else(|e| panic!("{path}: {e}"));
        let signatures = list.msgs("signatures");
        assert_eq!(signatures.len(), 1, "{path}");
        for s in signatures {
            assert_eq!(
                (s.int("batch_num"), s.int("batch_size")),
                (Some(1), Some(1))
            );
            check_signature_info(s.msg("signature_info").expect("signature_info"));
            let der = Signature::from_der(s.bytes("signature").expect("signature")).expect("DER");
            key.verify(&bin, &der)
                .unwrap_or_else(|e| panic!("{path}: signature does not verify: {e}"));
        }
        assert_eq!(zip.len(), 2, "{path}: export.bin and export.sig only");
        bin
    }
}
