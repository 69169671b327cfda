//! Time-based one-time passwords (RFC 6238 over RFC 4226, HMAC-SHA-1, 6 digits, 30-second steps), the base32
//! secrets authenticator apps expect, and the enrolment QR code as inline SVG.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// Seconds per time step, as every authenticator app assumes.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A fresh 160-bit secret (the size RFC 4226 recommends), base32 without padding.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base32_encode(&bytes)
}

/// RFC 4648 base32 without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32 (case-insensitive, padding and spaces ignored); `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b'=' | b' ')) {
        let value = BASE32.iter().position(|b| *b == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The HOTP value (RFC 4226) of `counter` under `key`.
pub fn hotp(key: &[u8], counter: u64) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let code = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    code % 10u32.pow(DIGITS)
}

/// The time step that `unix_secs` falls in.
pub fn step(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code for time step `step`, zero-padded.
pub fn code_at(key: &[u8], step: i64) -> String {
    format!("{:06}", hotp(key, step.max(0) as u64))
}

/// Checks `code` against the steps around `now` (one step of clock drift either way) and returns the step it
/// matched. Steps at or before `last_step` are refused, so a code seen over a shoulder cannot be replayed.
pub fn verify(secret_b32: &str, code: &str, now: i64, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let key = base32_decode(secret_b32)?;
    let current = step(now);
    (current - 1..=current + 1)
        .filter(|s| *s > last_step)
        .find(|s| {
            warnkit_service::auth::constant_time_eq(code_at(&key, *s).as_bytes(), code.as_bytes())
        })
}

/// The `otpauth://` URI that authenticator apps read from the enrolment QR code.
pub fn otpauth_uri(issuer: &str, username: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(username),
        enc(issuer)
    )
}

/// `data` as a QR code in an `<svg>` element ready to inline into a page (no XML prolog, no scripts).
pub fn qr_svg(data: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 rows, last 6 of the 8 digits.
        let key = b"12345678901234567890";
        for (time, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(key, step(time)), expected, "t={time}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let key = b"12345678901234567890";
        assert_eq!(hotp(key, 0), 755_224);
        assert_eq!(hotp(key, 9), 520_489);
    }

    #[test]
    fn base32_round_trip_and_rfc4648_vectors() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw 6ytb oi").unwrap(), b"foobar");
        assert!(base32_decode("M1").is_none());
        let s = new_secret();
        assert_eq!(s.len(), 32);
        assert_eq!(base32_decode(&s).unwrap().len(), 20);
    }

    #[test]
    fn verify_window_and_replay() {
        let secret = base32_encode(b"12345678901234567890");
        let now = 1_111_111_111;
        let key = b"12345678901234567890";
        let current = code_at(key, step(now));
        assert_eq!(verify(&secret, &current, now, 0), Some(step(now)));
        assert_eq!(verify(&secret, &current, now, step(now)), None, "replay");
        let previous = code_at(key, step(now) - 1);
        assert_eq!(verify(&secret, &previous, now, 0), Some(step(now) - 1));
        let old = code_at(key, step(now) - 2);
        assert_eq!(verify(&secret, &old, now, 0), None);
        assert_eq!(verify(&secret, "12345", now, 0), None);
        assert_eq!(verify(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn enrolment_uri_and_qr() {
        let uri = otpauth_uri("warnkit portal", "ann.officer", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/warnkit%20portal:ann.officer?secret=ABC&issuer=warnkit%20portal&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(!svg.contains("<script"));
    }
}
