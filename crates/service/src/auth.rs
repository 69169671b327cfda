//! Bearer tokens and hashing: tokens are compared in constant time and stored only as SHA-256 hex; secrets
//! kept in files are readable by their owner only.

use std::path::Path;

use anyhow::Context;
use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use warnkit_store::owner_only;

use crate::AppError;

/// Lowercase SHA-256 hex of `data`: the at-rest form of every token, key and GUID.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(data.as_ref()))
}

/// Writes a secret (a token, a private key) readable by its owner only (created with mode 0600, in
/// directories created 0700: [`warnkit_store::owner_only`]), creating the directory it goes in. It goes
/// through a temporary file, so a crash leaves either the old content or the new.
pub fn write_secret(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        owner_only::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    owner_only::write(path, data).with_context(|| format!("writing {}", path.display()))
}

/// A new random secret: `prefix` plus 32 random bytes as hex.
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The token of an `Authorization: Bearer <token>` header, if present and well-formed.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Equality that takes the same time wherever the first difference is, so timing reveals nothing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the request's bearer token against the expected service token.
pub fn require_token(headers: &HeaderMap, expected: &str) -> Result<(), AppError> {
    match bearer(headers) {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(AppError::unauthorized()),
    }
}

/// Whether `s` is exactly `len` lowercase or uppercase hex digits.
pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "bearer  ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn hashing_and_compare() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(is_hex(&sha256_hex("x"), 64));
        assert!(!is_hex("zz", 2));
        assert!(random_secret("k_").starts_with("k_"));
    }
}
