//! ID tokens: compact JWS parsing, JSON Web Key sets, RS256 and ES256 signatures, and the OpenID Connect
//! claim checks (`iss`, `aud`, `azp`, `exp`, `iat`, `nonce`). Pure: the caller passes the keys and the time.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The claims of a verified ID token.
pub type Claims = Map<String, Value>;

/// Why an ID token was refused. The messages are shown to the officer and written to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not three base64url parts of JSON, or a required claim is missing or of the wrong type.
    Malformed(&'static str),
    /// `alg` is not RS256 or ES256 (this includes `none`).
    Algorithm(String),
    /// No key of the provider's key set fits the token's `kid` and algorithm.
    UnknownKey,
    /// The signature does not verify: the token was changed or signed by someone else.
    Signature,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` does not name this client, or `azp` names another.
    Audience,
    /// `exp` has passed.
    Expired,
    /// `iat` lies in the future beyond the allowed clock skew.
    NotYetValid,
    /// `nonce` is not the one this sign-in sent.
    Nonce,
}

impl fmt::Display for IdTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdTokenError::Malformed(what) => write!(f, "the ID token is malformed ({what})"),
            IdTokenError::Algorithm(alg) => write!(
                f,
                "the ID token is signed with {alg:?}; the portal accepts RS256 and ES256"
            ),
            IdTokenError::UnknownKey => {
                f.write_str("the ID token's signing key is not in the provider's key set")
            }
            IdTokenError::Signature => f.write_str("the ID token's signature does not verify"),
            IdTokenError::Issuer => f.write_str("the ID token comes from another issuer"),
            IdTokenError::Audience => {
                f.write_str("the ID token was issued for another client (audience)")
            }
            IdTokenError::Expired => f.write_str("the ID token has expired"),
            IdTokenError::NotYetValid => {
                f.write_str("the ID token was issued in the future (check the clocks)")
            }
            IdTokenError::Nonce => {
                f.write_str("the ID token's nonce does not belong to this sign-in")
            }
        }
    }
}

impl std::error::Error for IdTokenError {}

/// A JSON Web Key set, as served at the provider's `jwks_uri`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwks {
    /// The keys; ones of other types or for encryption are ignored.
    pub keys: Vec<Jwk>,
}

/// One public key (RFC 7517): RSA (`n`, `e`) or EC P-256 (`x`, `y`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwk {
    /// `RSA` or `EC`.
    pub kty: String,
    /// Key id, matched against the token header's `kid`.
    #[serde(default)]
    pub kid: Option<String>,
    /// `sig` or `enc`; encryption keys never verify a signature.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// The algorithm the key is meant for, if the provider says.
    #[serde(default)]
    pub alg: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default)]
    pub e: Option<String>,
    /// EC curve name.
    #[serde(default)]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default)]
    pub y: Option<String>,
}

/// What an ID token must say to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The configured issuer URL, compared exactly.
    pub issuer: &'a str,
    /// This portal's client id.
    pub client_id: &'a str,
    /// The nonce sent with this sign-in.
    pub nonce: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// Clock skew allowed on `exp` and `iat`, in seconds.
    pub leeway: i64,
}

/// Longest ID token accepted, in bytes (real ones are 1-3 KB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, IdTokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| IdTokenError::Malformed(what))
}

/// Checks an ID token's signature against `keys` and its claims against `expected`; returns its claims.
pub fn verify_id_token(
    token: &str,
    keys: &Jwks,
    expected: &Expected<'_>,
) -> Result<Claims, IdTokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IdTokenError::Malformed("too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed("not three parts"));
    };
    let header: Header = serde_json::from_slice(&b64(h, "header")?)
        .map_err(|_| IdTokenError::Malformed("header"))?;
    let signature = b64(sig, "signature")?;
    let signed = &token[..h.len() + 1 + p.len()];
    verify_signature(&header, signed.as_bytes(), &signature, keys)?;
    let claims: Claims = serde_json::from_slice(&b64(p, "payload")?)
        .map_err(|_| IdTokenError::Malformed("payload"))?;
    check_claims(&claims, expected)?;
    Ok(claims)
}

fn verify_signature(
    header: &Header,
    signed: &[u8],
    signature: &[u8],
    keys: &Jwks,
) -> Result<(), IdTokenError> {
    let kty = match header.alg.as_str() {
        "RS256" => "RSA",
        "ES256" => "EC",
        other => return Err(IdTokenError::Algorithm(other.to_owned())),
    };
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| k.kty == kty && k.use_.as_deref() != Some("enc"))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == header.alg))
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .collect();
    if candidates.is_empty() {
        return Err(IdTokenError::UnknownKey);
    }
    // Without a `kid` any fitting key may be the one; with one, ids are unique in practice.
    let ok = candidates.iter().any(|k| match kty {
        "RSA" => rs256(k, signed, signature),
        _ => es256(k, signed, signature),
    });
    if ok {
        Ok(())
    } else {
        Err(IdTokenError::Signature)
    }
}

fn rs256(key: &Jwk, signed: &[u8], signature: &[u8]) -> bool {
    let (Some(n), Some(e)) = (&key.n, &key.e) else {
        return false;
    };
    let (Ok(n), Ok(e)) = (URL_SAFE_NO_PAD.decode(n), URL_SAFE_NO_PAD.decode(e)) else {
        return false;
    };
    let n = rsa::BigUint::from_bytes_be(&n);
    if n.bits() < MIN_RSA_BITS {
        return false;
    }
    let Ok(public) = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(&e)) else {
        return false;
    };
    let digest = Sha256::digest(signed);
    public
        .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
        .is_ok()
}

fn es256(key: &Jwk, signed: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, VerifyingKey};
    if key.crv.as_deref() != Some("P-256") {
        return false;
    }
    let (Some(x), Some(y)) = (&key.x, &key.y) else {
        return false;
    };
    let (Ok(x), Ok(y)) = (URL_SAFE_NO_PAD.decode(x), URL_SAFE_NO_PAD.decode(y)) else {
        return false;
    };
    if x.len() != 32 || y.len() != 32 {
        return false;
    }
    let point = p256::EncodedPoint::from_affine_coordinates(
        p256::FieldBytes::from_slice(&x),
        p256::FieldBytes::from_slice(&y),
        false,
    );
    let Ok(public) = VerifyingKey::from_encoded_point(&point) else {
        return false;
    };
    // JWS carries ES256 signatures as r || s, 64 bytes, not DER.
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    public.verify(signed, &signature).is_ok()
}

fn check_claims(claims: &Claims, expected: &Expected<'_>) -> Result<(), IdTokenError> {
    let str_claim = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(IdTokenError::Malformed(name))
    };
    let int_claim = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_f64)
            .map(|v| v as i64)
            .ok_or(IdTokenError::Malformed(name))
    };
    if str_claim("iss")? != expected.issuer {
        return Err(IdTokenError::Issuer);
    }
    str_claim("sub")?;
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expected.client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected.client_id)),
        _ => return Err(IdTokenError::Malformed("aud")),
    };
    // OpenID Connect Core 3.1.3.7: an authorised party, when present, must be this client.
    let azp_ok = claims
        .get("azp")
        .is_none_or(|azp| azp.as_str() == Some(expected.client_id));
    if !audience_ok || !azp_ok {
        return Err(IdTokenError::Audience);
    }
    if int_claim("exp")? <= expected.now - expected.leeway {
        return Err(IdTokenError::Expired);
    }
    if claims.contains_key("iat") && int_claim("iat")? > expected.now + expected.leeway {
        return Err(IdTokenError::NotYetValid);
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty()
        || !warnkit_service::auth::constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes())
    {
        return Err(IdTokenError::Nonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn es_key() -> (SigningKey, Jwks) {
        let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = sk.verifying_key().to_encoded_point(false);
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some("k1".into()),
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(point.x().unwrap())),
            y: Some(URL_SAFE_NO_PAD.encode(point.y().unwrap())),
            ..Jwk::default()
        };
        (sk, Jwks { keys: vec![jwk] })
    }

    fn sign(sk: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", enc(header), enc(claims));
        let sig: Signature = sk.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn claims() -> Value {
        json!({"iss": "https://idp", "sub": "u1", "aud": "portal", "exp": NOW + 300, "iat": NOW, "nonce": "n1"})
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp",
            client_id: "portal",
            nonce: "n1",
            now: NOW,
            leeway: 60,
        }
    }

    fn check(patch: Value) -> Result<Claims, IdTokenError> {
        let (sk, jwks) = es_key();
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        verify_id_token(
            &sign(&sk, &json!({"alg": "ES256", "kid": "k1"}), &c),
            &jwks,
            &expected(),
        )
    }

    #[test]
    fn each_claim_check_refuses_with_its_reason() {
        assert_eq!(check(json!({})).unwrap()["sub"], "u1");
        assert_eq!(
            check(json!({"iss": "https://evil"})),
            Err(IdTokenError::Issuer)
        );
        assert_eq!(check(json!({"aud": "other"})), Err(IdTokenError::Audience));
        assert!(check(json!({"aud": ["other", "portal"]})).is_ok());
        assert_eq!(
            check(json!({"aud": ["other", "portal"], "azp": "other"})),
            Err(IdTokenError::Audience)
        );
        assert_eq!(check(json!({"exp": NOW - 61})), Err(IdTokenError::Expired));
        assert!(check(json!({"exp": NOW - 59})).is_ok(), "within the leeway");
        assert_eq!(
            check(json!({"iat": NOW + 120})),
            Err(IdTokenError::NotYetValid)
        );
        assert_eq!(check(json!({"nonce": "n2"})), Err(IdTokenError::Nonce));
        assert_eq!(check(json!({"nonce": null})), Err(IdTokenError::Nonce));
        assert_eq!(
            check(json!({"sub": null})),
            Err(IdTokenError::Malformed("sub"))
        );
        assert_eq!(
            check(json!({"exp": "soon"})),
            Err(IdTokenError::Malformed("exp"))
        );
    }

    /// An RSA key of `bits` (seeded, so runs repeat) and its set of one `RS256` key `r1`.
    fn rsa_key(bits: usize, seed: u64) -> (rsa::RsaPrivateKey, Jwks) {
        use rand::SeedableRng as _;
        use rsa::traits::PublicKeyParts as _;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let sk = rsa::RsaPrivateKey::new(&mut rng, bits).unwrap();
        let jwk = Jwk {
            kty: "RSA".into(),
            kid: Some("r1".into()),
            use_: Some("sig".into()),
            alg: Some("RS256".into()),
            n: Some(URL_SAFE_NO_PAD.encode(sk.n().to_bytes_be())),
            e: Some(URL_SAFE_NO_PAD.encode(sk.e().to_bytes_be())),
            ..Jwk::default()
        };
        (sk, Jwks { keys: vec![jwk] })
    }

    fn sign_rs(sk: &rsa::RsaPrivateKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", enc(header), enc(claims));
        let digest = Sha256::digest(input.as_bytes());
        let sig = sk
            .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn rs256_verifies_and_short_keys_are_refused() {
        let (sk, jwks) = rsa_key(2048, 1);
        let header = json!({"alg": "RS256", "kid": "r1"});
        let token = sign_rs(&sk, &header, &claims());
        assert_eq!(
            verify_id_token(&token, &jwks, &expected()).unwrap()["sub"],
            "u1"
        );
        let no_kid = sign_rs(&sk, &json!({"alg": "RS256"}), &claims());
        assert!(verify_id_token(&no_kid, &jwks, &expected()).is_ok());
        // Another payload under the same signature; a token of another key.
        let (h, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut changed = claims();
        changed["sub"] = json!("admin");
        let forged = format!("{h}.{}.{sig}", enc(&changed));
        assert_eq!(
            verify_id_token(&forged, &jwks, &expected()),
            Err(IdTokenError::Signature)
        );
        let (other, _) = rsa_key(2048, 2);
        assert_eq!(
            verify_id_token(&sign_rs(&other, &header, &claims()), &jwks, &expected()),
            Err(IdTokenError::Signature)
        );
        // An ES256 header finds no EC key in an RSA-only set.
        let es = sign_rs(&sk, &json!({"alg": "ES256", "kid": "r1"}), &claims());
        assert_eq!(
            verify_id_token(&es, &jwks, &expected()),
            Err(IdTokenError::UnknownKey)
        );
        // A key under MIN_RSA_BITS verifies nothing, even its own correct signatures.
        let (short, short_jwks) = rsa_key(1024, 3);
        const { assert!(MIN_RSA_BITS > 1024) };
        let weak = sign_rs(&short, &header, &claims());
        assert_eq!(
            verify_id_token(&weak, &short_jwks, &expected()),
            Err(IdTokenError::Signature)
        );
    }

    #[test]
    fn signatures_keys_and_algorithms() {
        let (sk, jwks) = es_key();
        let header = json!({"alg": "ES256", "kid": "k1"});
        let token = sign(&sk, &header, &claims());
        // Another payload under the same signature.
        let (h, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut changed = claims();
        changed["sub"] = json!("admin");
        let forged = format!("{h}.{}.{sig}", enc(&changed));
        assert_eq!(
            verify_id_token(&forged, &jwks, &expected()),
            Err(IdTokenError::Signature)
        );
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let foreign = sign(&other, &header, &claims());
        assert_eq!(
            verify_id_token(&foreign, &jwks, &expected()),
            Err(IdTokenError::Signature)
        );
        let unknown = sign(&sk, &json!({"alg": "ES256", "kid": "k2"}), &claims());
        assert_eq!(
            verify_id_token(&unknown, &jwks, &expected()),
            Err(IdTokenError::UnknownKey)
        );
        let no_kid = sign(&sk, &json!({"alg": "ES256"}), &claims());
        assert!(verify_id_token(&no_kid, &jwks, &expected()).is_ok());
        let none = format!("{}.{}.", enc(&json!({"alg": "none"})), enc(&claims()));
        assert_eq!(
            verify_id_token(&none, &jwks, &expected()),
            Err(IdTokenError::Algorithm("none".into()))
        );
        let hs = sign(&sk, &json!({"alg": "HS256", "kid": "k1"}), &claims());
        assert!(matches!(
            verify_id_token(&hs, &jwks, &expected()),
            Err(IdTokenError::Algorithm(_))
        ));
        // An RS256 header finds no RSA key in an EC-only set.
        let rs = sign(&sk, &json!({"alg": "RS256", "kid": "k1"}), &claims());
        assert_eq!(
            verify_id_token(&rs, &jwks, &expected()),
            Err(IdTokenError::UnknownKey)
        );
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(matches!(
                verify_id_token(bad, &jwks, &expected()),
                Err(IdTokenError::Malformed(_))
            ));
        }
    }
}
