//! Sign-in at an OpenID Connect provider (Keycloak, say): its configuration, discovery, the provider's key
//! set, the code exchange, userinfo, and the mapping of its role names onto portal roles. The routes of
//! the authorization-code flow (PKCE, `state`, `nonce`) are in `sso`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{header, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use warnkit_service::{AppError, AppResult};

use crate::jwt::{Claims, Jwks};
use crate::roles::{Role, Roles};
use crate::text::text;

/// The cookie that ties a callback to the browser that started the sign-in. `SameSite=Lax`, unlike the
/// others: the provider's redirect back is a cross-site navigation, which never carries `Strict` cookies.
pub const STATE_COOKIE: &str = "wk_portal_oidc";
/// Prefix of the portal's account name for an officer signed in at the provider. Local names cannot
/// contain `:`, so the two kinds of account never meet.
pub const USER_PREFIX: &str = "oidc:";
/// A sign-in must come back from the provider within this many seconds.
pub(crate) const PENDING_SECS: i64 = 600;
/// Clock skew allowed between the provider and the portal.
pub(crate) const LEEWAY_SECS: i64 = 60;
/// The key set is fetched again for an unknown key id at most this often.
const JWKS_REFRESH_SECS: i64 = 60;
/// The key set is fetched again once it is this old, even when no unknown key id was seen (so a key the
/// provider has withdrawn stops verifying).
const JWKS_MAX_AGE_SECS: i64 = 3600;

/// `[portal.oidc]`: the OpenID provider. Sign-in there is offered while `issuer` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Issuer URL, e.g. `https://iam.example/realms/cwa`; discovery reads
    /// `ISSUER/.well-known/openid-configuration`. Empty: local accounts only.
    pub issuer: String,
    /// Shown on the button, "Sign in with NAME".
    pub provider_name: String,
    /// The portal's client id at the provider.
    pub client_id: String,
    /// The client secret (better from `WARNKIT_PORTAL__OIDC__CLIENT_SECRET` or `client_secret_file`).
    /// Never written out: `warnkit config` shows only whether it is set.
    #[serde(serialize_with = "redacted")]
    pub client_secret: String,
    /// A file whose first line is the client secret; wins over `client_secret`.
    pub client_secret_file: String,
    /// The portal's callback as the browser reaches it, `https://portal.example/oidc/callback`;
    /// registered at the provider as a valid redirect URI.
    pub redirect_url: String,
    /// Scopes asked for; `openid` is required.
    pub scopes: String,
    /// Where the roles are in the ID token or userinfo claims, a dotted path (`realm_access.roles`
    /// for Keycloak's realm roles); an array of names or one space- or comma-separated string.
    pub role_claim: String,
    /// The claim naming the officer (`preferred_username`); `sub` when absent.
    pub username_claim: String,
    /// The provider's role names and the portal role each grants (`hotline`, `event`,
    /// `health-authority`, `admin`, or `""`: none); other names are ignored.
    pub roles: BTreeMap<String, String>,
    /// Timeout of one call to the provider, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        let roles = [
            ("c19hotline", "hotline"),
            ("c19hotline_event", "event"),
            ("c19healthauthority", "health-authority"),
            ("verificationPortalAdmin", "admin"),
        ];
        Self {
            issuer: String::new(),
            provider_name: "single sign-on".to_owned(),
            client_id: String::new(),
            client_secret: String::new(),
            client_secret_file: String::new(),
            redirect_url: String::new(),
            scopes: "openid profile".to_owned(),
            role_claim: "realm_access.roles".to_owned(),
            username_claim: "preferred_username".to_owned(),
            roles: roles
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            timeout_ms: 5000,
        }
    }
}

/// What a set secret serialises to.
pub const REDACTED: &str = "(set, not shown)";

fn redacted<S: serde::Serializer>(secret: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if secret.is_empty() { "" } else { REDACTED })
}

/// The provider at run time: its configuration, secret, and what discovery found.
#[derive(Debug)]
pub(crate) struct Oidc {
    pub(crate) config: OidcConfig,
    secret: String,
    roles: BTreeMap<String, Role>,
    http: reqwest::Client,
    found: Mutex<Option<Discovered>>,
}

/// The provider's metadata and keys, fetched at the first sign-in and kept.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Metadata {
    issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    pub(crate) userinfo_endpoint: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    pub(crate) meta: Metadata,
    pub(crate) jwks: Jwks,
    jwks_at: i64,
}

/// A sign-in that failed: the status and the message the officer sees (also the audit line's reason).
#[derive(Debug)]
pub(crate) struct Refusal(pub StatusCode, pub String);

impl Oidc {
    /// The provider of `config`, or `None` while no issuer is configured.
    pub(crate) fn from_config(config: &OidcConfig) -> AppResult<Option<Oidc>> {
        if config.issuer.is_empty() {
            return Ok(None);
        }
        let invalid =
            |m: String| AppError::bad_request("invalid_config", format!("portal.oidc: {m}"));
        if config.client_id.is_empty() || config.redirect_url.is_empty() {
            return Err(invalid(
                "client_id and redirect_url are needed with an issuer".into(),
            ));
        }
        if !config.scopes.split_whitespace().any(|s| s == "openid") {
            return Err(invalid("scopes must include openid".into()));
        }
        let mut roles = BTreeMap::new();
        for (theirs, ours) in &config.roles {
            // The defaults (the original CWA names) stay unless a file maps them to "".
            if ours.is_empty() {
                continue;
            }
            let role = Role::parse(ours)
                .ok_or_else(|| invalid(format!("unknown portal role {ours:?}")))?;
            roles.insert(theirs.clone(), role);
        }
        let secret = if config.client_secret_file.is_empty() {
            config.client_secret.clone()
        } else {
            let text = std::fs::read_to_string(&config.client_secret_file).map_err(|e| {
                invalid(format!(
                    "reading client_secret_file {}: {e}",
                    config.client_secret_file
                ))
            })?;
            text.lines().next().unwrap_or_default().trim().to_owned()
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // The token endpoint's answer must come from the endpoint itself.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AppError::internal)?;
        Ok(Some(Oidc {
            config: config.clone(),
            secret,
            roles,
            http,
            found: Mutex::new(None),
        }))
    }

    /// The name on the sign-in button.
    pub(crate) fn name(&self) -> &str {
        &self.config.provider_name
    }

    fn unreachable(&self, what: &str) -> Refusal {
        tracing::warn!(target: "audit", provider = %self.config.issuer, "OpenID provider: {what}");
        Refusal(
            StatusCode::BAD_GATEWAY,
            text().sso_unreachable.replace("{provider}", self.name()),
        )
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !r.status().is_success() {
            return Err(format!("{url} answered {}", r.status()));
        }
        r.json()
            .await
            .map_err(|e| format!("{url}: {}", e.without_url()))
    }

    /// Discovery and the key set, fetched once (again after a failure); the key set again for an
    /// unknown key id (at most every `JWKS_REFRESH_SECS`) and once it is `JWKS_MAX_AGE_SECS` old.
    pub(crate) async fn discovered(
        &self,
        now: i64,
        refresh_keys: bool,
    ) -> Result<Discovered, Refusal> {
        let mut found = self.found.lock().await;
        if let Some(d) = found.as_mut() {
            let age = now - d.jwks_at;
            if (refresh_keys && age >= JWKS_REFRESH_SECS) || age >= JWKS_MAX_AGE_SECS {
                d.jwks = self
                    .get_json(&d.meta.jwks_uri)
                    .await
                    .map_err(|e| self.unreachable(&e))?;
                d.jwks_at = now;
            }
            return Ok(d.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let meta: Metadata = self
            .get_json(&url)
            .await
            .map_err(|e| self.unreachable(&e))?;
        // OpenID Connect Discovery 4.3: the metadata must name exactly the issuer it was fetched for.
        if meta.issuer != self.config.issuer {
            return Err(self.unreachable(&format!("discovery names issuer {:?}", meta.issuer)));
        }
        let jwks = self
            .get_json(&meta.jwks_uri)
            .await
            .map_err(|e| self.unreachable(&e))?;
        let d = Discovered {
            meta,
            jwks,
            jwks_at: now,
        };
        *found = Some(d.clone());
        Ok(d)
    }

    /// The provider's answer to the code: the ID token and the access token.
    pub(crate) async fn exchange(
        &self,
        token_endpoint: &str,
        code: &str,
        verifier: &str,
    ) -> Result<(String, String), Refusal> {
        #[derive(Deserialize)]
        struct Tokens {
            id_token: Option<String>,
            #[serde(default)]
            access_token: String,
        }
        // RFC 6749 2.3.1: client id and secret are form-encoded before they go into Basic authentication.
        let enc = |s: &str| {
            serde_urlencoded::to_string([("", s)])
                .ok()
                .and_then(|e| e.get(1..).map(str::to_owned))
                .unwrap_or_default()
        };
        let response = self
            .http
            .post(token_endpoint)
            .basic_auth(enc(&self.config.client_id), Some(enc(&self.secret)))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &self.config.redirect_url),
                    ("code_verifier", verifier),
                ])
                .map_err(|_| self.unreachable("form encoding"))?,
            )
            .send()
            .await
            .map_err(|e| self.unreachable(&e.without_url().to_string()))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let error = error_code(body["error"].as_str().unwrap_or("no error code"));
            return Err(refused(format!("the provider refused the code ({error})")));
        }
        let tokens: Tokens = serde_json::from_value(body)
            .map_err(|_| refused("the provider's token response is not readable".into()))?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| refused("the provider sent no ID token".into()))?;
        Ok((id_token, tokens.access_token))
    }

    /// The userinfo claims, for a role or name claim that the ID token leaves out (providers may keep
    /// profile claims out of the ID token when an access token can fetch them).
    pub(crate) async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
        sub: &str,
    ) -> Result<Claims, Refusal> {
        let r = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| self.unreachable(&e.without_url().to_string()))?;
        if !r.status().is_success() {
            return Err(refused(format!(
                "the provider's userinfo answered {}",
                r.status()
            )));
        }
        let claims: Claims = r
            .json()
            .await
            .map_err(|_| refused("the provider's userinfo is not readable".into()))?;
        // OpenID Connect Core 5.3.2: userinfo about anyone but the ID token's subject is not used.
        if claims.get("sub").and_then(Value::as_str) != Some(sub) {
            return Err(refused("userinfo is about another subject".into()));
        }
        Ok(claims)
    }

    /// The portal roles the provider's role names grant.
    pub(crate) fn map_roles(&self, claims: &Claims) -> Roles {
        let names: Vec<&str> = match claim(claims, &self.config.role_claim) {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => s.split([' ', ',']).filter(|n| !n.is_empty()).collect(),
            _ => Vec::new(),
        };
        names
            .iter()
            .filter_map(|n| self.roles.get(*n))
            .fold(Roles::NONE, |acc, r| acc.with(*r))
    }
}

/// The claim at `path`: a claim of exactly that name (namespaced ones such as `https://x.example/role`
/// contain dots), else the dotted path walked (`realm_access.roles`: each segment after the first looks
/// into the object found so far). The one lookup for the role and the user name claims.
pub(crate) fn claim<'a>(claims: &'a Claims, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let first = claims.get(parts.next().unwrap_or_default());
    parts.fold(first, |value, part| value.and_then(|v| v.get(part)))
}

pub(crate) fn refused(reason: String) -> Refusal {
    Refusal(StatusCode::UNAUTHORIZED, reason)
}

/// An OAuth error code (`invalid_grant`) fit for a message: its first 40 characters of `A-Z a-z 0-9 _`
/// and space, whatever the provider (or someone editing the callback URL) sent.
pub(crate) fn error_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' '))
        .take(40)
        .collect()
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_never_serialised_and_roles_map_onto_portal_roles() {
        let config = OidcConfig {
            issuer: "https://idp".into(),
            client_id: "portal".into(),
            client_secret: "s3cret".into(),
            redirect_url: "https://portal/oidc/callback".into(),
            role_claim: "realm_access.roles".into(),
            ..OidcConfig::default()
        };
        let json = serde_json::to_string(&config).unwrap();
        assert!(!json.contains("s3cret") && json.contains(REDACTED));
        let oidc = Oidc::from_config(&config).unwrap().unwrap();
        assert_eq!(oidc.secret, "s3cret");
        let claims = |v: Value| v.as_object().unwrap().clone();
        let roles = oidc.map_roles(&claims(
            serde_json::json!({"realm_access": {"roles": ["offline_access", "c19hotline", "c19hotline_event"]}}),
        ));
        assert_eq!(roles, Roles::from(Role::Hotline).with(Role::Event));
        assert!(oidc
            .map_roles(&claims(serde_json::json!({"realm_access": {}})))
            .is_empty());
        let flat = Oidc::from_config(&OidcConfig {
            role_claim: "roles".into(),
            ..config.clone()
        })
        .unwrap()
        .unwrap();
        let roles = flat.map_roles(&claims(
            serde_json::json!({"roles": "c19healthauthority, other"}),
        ));
        assert_eq!(roles, Role::HealthAuthority.into());
        for bad in [
            OidcConfig {
                client_id: String::new(),
                ..config.clone()
            },
            OidcConfig {
                scopes: "profile".into(),
                ..config.clone()
            },
            OidcConfig {
                roles: [("x".to_owned(), "boss".to_owned())].into(),
                ..config.clone()
            },
        ] {
            assert!(Oidc::from_config(&bad)
                .unwrap_err()
                .message
                .starts_with("portal.oidc: "));
        }
        assert!(Oidc::from_config(&OidcConfig::default()).unwrap().is_none());
        let nested = claims(serde_json::json!({
            "realm_access": {"roles": ["r"]}, "name": "n", "https://x.example/role": "r2"
        }));
        assert_eq!(
            claim(&nested, "realm_access.roles"),
            Some(&serde_json::json!(["r"]))
        );
        assert_eq!(claim(&nested, "name"), Some(&serde_json::json!("n")));
        assert_eq!(
            claim(&nested, "https://x.example/role"),
            Some(&serde_json::json!("r2"))
        );
        assert_eq!(
            claim(&nested, "realm_access.groups"),
            None,
            "the whole path, not its first segment"
        );
        assert_eq!(claim(&nested, "name.first"), None);
        assert_eq!(claim(&nested, "missing"), None);
        assert_eq!(error_code("invalid_grant"), "invalid_grant");
        assert_eq!(error_code(&format!("<script>{}", "a".repeat(50))).len(), 40);
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "RFC 7636 appendix B"
        );
    }
}
