//! Sign-in at a real OpenID provider (panva's oidc-provider under Node.js, `tests/oidc/idp.mjs`): the
//! authorization-code flow over real HTTP through the provider's own sign-in form, a session, a teleTAN;
//! the roles; and every refusal (state, nonce, audience, signature, expiry, replay).
//!
//! Needs `node` and `npm ci` in `tests/oidc` (`scripts/test` does both). Without them the tests skip
//! loudly, or fail under `CI=true`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Client, StatusCode, Url};
use serde_json::Value;
use warnkit_portal::jwt::{self, Expected, IdTokenError, Jwks};

use crate::harness::{attr_after, Page};
use crate::idp::{idp_available, with_param, Browser, Idp, OidcApp};

/// Expands one `async fn suite(o: OidcApp)` into a test per engine.
macro_rules! on_both_oidc {
    ($suite:ident) => {
        warnkit_testkit::suite_on_both_engines!($suite, $crate::idp::OidcApp, 2);
    };
}

async fn sign_in_issue_and_roles(o: OidcApp) {
    let portal = &o.app.portal;
    let b = Browser::new();
    let login = b.get(&format!("{portal}/login")).await;
    assert!(login.body.contains(
        r#"<a class="button-link" href="/oidc/login" id="sign-in-sso">Sign in with Test IdP</a>"#
    ));
    assert!(
        login.body.contains(r#"name="username""#),
        "local accounts stay"
    );

    // The button: to the provider, with PKCE, state and nonce, and the state cookie (Lax) set.
    let auth = b.start_sso(portal).await;
    assert!(
        auth.starts_with(&format!("{}/auth?", o.idp.issuer)),
        "{auth}"
    );
    let q: BTreeMap<String, String> = Url::parse(&auth)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(q["state"], b.cookie(portal, "wk_portal_oidc").unwrap());
    assert!(q["nonce"].len() >= 32 && q["nonce"] != q["state"]);

    // The provider's own form refuses a wrong password.
    let first = b.get(&auth).await;
    let (url, form) = b.follow(auth.clone(), first, "").await;
    let action = Url::parse(&url)
        .unwrap()
        .join(&attr_after(&form.body, r#"action=""#).unwrap())
        .unwrap();
    let wrong = b
        .post(
            action.as_str(),
            &[("username", "hanna"), ("password", "nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    // hanna (c19hotline) signs in there and comes back with a code: a session, then a teleTAN.
    let (url, page) = b.idp_login(&url, &form, "hanna", "").await;
    assert!(
        url.starts_with(&format!("{portal}/oidc/callback?code=")),
        "{url}"
    );
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page
        .body
        .contains(r#"http-equiv="refresh" content="0;url=/start""#));
    let session = page.set_cookie("wk_portal_session").unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Max-Age=14400")
    );
    assert!(
        b.cookie(portal, "wk_portal_oidc").is_none(),
        "the state cookie is cleared"
    );
    let start = b.get(&format!("{portal}/start")).await;
    assert!(start.body.contains("oidc:hanna") && start.body.contains(r#"id="issue-teletan""#));
    assert!(!start.body.contains("issue-event-teletan"));
    let csrf = start.csrf();
    let issued = b
        .post(&format!("{portal}/teletan"), &[("csrf", &csrf)])
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let tan = issued.teletan().unwrap();
    assert_eq!(o.app.redeem(&tan).await.len(), 36);

    // The same callback again (even with the state cookie put back): the state works once.
    b.set(portal, "wk_portal_oidc", &q["state"]);
    let replay = b.get(&url).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay
        .body
        .contains("This sign-in has expired or was started in another browser"));

    // hal (c19healthauthority) signs in but may not issue; nora (no portal role) gets no session.
    let hal = Browser::new();
    let start = hal.signed_in(portal, "hal").await;
    assert!(start.body.contains(r#"id="no-role""#) && !start.body.contains("issue-teletan"));
    let refused = hal
        .post(&format!("{portal}/teletan"), &[("csrf", &start.csrf())])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // nora had a portal role before (a session from then lives on); the provider took it away.
    let earlier = Browser::new();
    let id = "a-session-from-when-nora-had-a-role";
    let now = o.app.clock.now();
    let db = o.app.service.db();
    let user = "INSERT INTO users (username, password_hash, role, totp_required, created_at) \
                VALUES ('oidc:nora', '!oidc', 'hotline', 0, $1)";
    let session = "INSERT INTO sessions (id_hash, username, stage, csrf, created_at, expires_at) \
                   VALUES ($1, 'oidc:nora', 'active', 'csrf', $2, $3)";
    warnkit_store::on_pool!(db, |pool| {
        sqlx::query(user).bind(now).execute(pool).await.unwrap();
        sqlx::query(session)
            .bind(warnkit_service::auth::sha256_hex(id))
            .bind(now)
            .bind(now + 3600)
            .execute(pool)
            .await
            .unwrap();
    });
    earlier.set(portal, "wk_portal_session", id);
    let before = earlier.get(&format!("{portal}/start")).await;
    assert!(before.body.contains("oidc:nora"), "{}", before.body);
    let nora = Browser::new();
    let (_, page) = nora.sso(portal, "nora", |u| u).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let after = earlier.get(&format!("{portal}/start")).await;
    assert_eq!(
        after.location(),
        "/login",
        "the refusal ended the earlier session"
    );
    assert!(
        page.body
            .contains("Your account at Test IdP has no role for this portal"),
        "{}",
        page.body
    );
    assert!(page.set_cookie("wk_portal_session").is_none());
    assert_eq!(o.app.teletans().await, 1);

    // erik (c19hotline_event) sees the event form only.
    let erik = Browser::new();
    let start = erik.signed_in(portal, "erik").await;
    assert!(
        start.body.contains(r#"id="issue-event-teletan""#)
            && !start.body.contains(r#"id="issue-teletan""#)
    );
}
on_both_oidc!(sign_in_issue_and_roles);

async fn refusals_over_http(o: OidcApp) {
    let portal = &o.app.portal;

    // A nonce other than the one the portal sent comes back in the ID token.
    let b = Browser::new();
    let (_, page) = b
        .sso(portal, "hanna", |u| {
            with_param(&u, "nonce", "someone-elses-nonce")
        })
        .await;
    refused(
        &page,
        StatusCode::UNAUTHORIZED,
        "The sign-in was refused: the ID token&#39;s nonce does not belong to this sign-in",
    );

    // A code issued to another client: the provider refuses it to the portal.
    let b = Browser::new();
    let (_, page) = b
        .sso(portal, "hanna", |u| {
            with_param(&u, "client_id", "other-client")
        })
        .await;
    refused(
        &page,
        StatusCode::UNAUTHORIZED,
        "the provider refused the code (invalid_grant)",
    );

    // A callback in a browser that did not start the sign-in (no state cookie), or with another state.
    let b = Browser::new();
    let callback = callback_url(&b, portal).await;
    let other = Browser::new();
    let page = other.get(&callback).await;
    refused(&page, StatusCode::BAD_REQUEST, "");
    let forged = b
        .get(&with_param(&callback, "state", "0".repeat(64).as_str()))
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    // A sign-in that took longer than ten minutes.
    o.app.clock.advance(601);
    let late = b.get(&callback).await;
    refused(&late, StatusCode::BAD_REQUEST, "This sign-in has expired");
    o.app.clock.advance(-601);

    // The provider's error answer (the officer cancelled, say), with markup in it stripped.
    let b = Browser::new();
    let auth = b.start_sso(portal).await;
    let state = param(&auth, "state");
    let page = b
        .get(&format!(
            "{portal}/oidc/callback?error=access_denied%3Cb%3E&state={state}"
        ))
        .await;
    refused(
        &page,
        StatusCode::UNAUTHORIZED,
        "the provider did not sign you in (access_deniedb)",
    );

    // The provider names another issuer in the answer (RFC 9207).
    let b = Browser::new();
    let callback = callback_url(&b, portal).await;
    let page = b
        .get(&with_param(&callback, "iss", "https://evil.example"))
        .await;
    refused(&page, StatusCode::UNAUTHORIZED, "another provider");
}
on_both_oidc!(refusals_over_http);

/// The portal answered a sign-in with `status` and a page that says `says` (anything, when empty), and
/// started no session.
fn refused(page: &Page, status: StatusCode, says: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.body.contains(says), "{}", page.body);
    assert!(
        page.set_cookie("wk_portal_session").is_none(),
        "{}",
        page.body
    );
}

/// Signs hanna in at the provider in `b` and stops where the provider sends her back: the portal's
/// callback URL, not fetched yet.
async fn callback_url(b: &Browser, portal: &str) -> String {
    let auth = b.start_sso(portal).await;
    let first = b.get(&auth).await;
    let (url, form) = b.follow(auth, first, "").await;
    let (callback, _) = b
        .idp_login(&url, &form, "hanna", &format!("{portal}/oidc/callback"))
        .await;
    callback
}

/// The query parameter `name` of `url`.
fn param(url: &str, name: &str) -> String {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

/// A real ID token (and the provider's keys) for `client`, fetched the way a client does, with `nonce`.
async fn real_id_token(idp: &Idp, client: &str, redirect: &str, nonce: &str) -> (String, Jwks) {
    let b = Browser::new();
    let verifier = "v".repeat(50);
    let challenge = warnkit_portal::oidc::pkce_challenge(&verifier);
    let auth = format!(
        "{}/auth?{}",
        idp.issuer,
        serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", redirect),
            ("scope", "openid"),
            ("state", "s1"),
            ("nonce", nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .unwrap()
    );
    let first = b.get(&auth).await;
    let (url, form) = b.follow(auth, first, "").await;
    let (callback, _) = b.idp_login(&url, &form, "hanna", redirect).await;
    let code = param(&callback, "code");
    let tokens: Value = Client::new()
        .post(format!("{}/token", idp.issuer))
        .basic_auth(client, Some(format!("{client}-secret")))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks: Jwks = Client::new()
        .get(format!("{}/jwks", idp.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        tokens["id_token"].as_str().expect("an ID token").to_owned(),
        jwks,
    )
}

/// The provider's real RS256 and ES256 tokens pass; changed, foreign, expired or misdirected ones fail
/// with their reason.
#[tokio::test]
async fn real_id_tokens_and_their_refusals() {
    if !idp_available() {
        return;
    }
    let redirect = "http://127.0.0.1:9/callback";
    let idp = Idp::start(&[redirect]);
    let now = warnkit_store::unix_now();
    let issuer = idp.issuer.as_str();
    let expect = |client: &'static str| Expected {
        issuer,
        client_id: client,
        nonce: "nonce-1",
        now,
        leeway: 60,
    };
    let (rs, jwks) = real_id_token(&idp, "warnkit-portal", redirect, "nonce-1").await;
    let (es, _) = real_id_token(&idp, "warnkit-portal-es", redirect, "nonce-1").await;
    let (other, _) = real_id_token(&idp, "other-client", redirect, "nonce-1").await;
    let alg = |t: &str| {
        let h: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        h["alg"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        (alg(&rs), alg(&es)),
        ("RS256".to_owned(), "ES256".to_owned())
    );
    let claims = jwt::verify_id_token(&rs, &jwks, &expect("warnkit-portal")).unwrap();
    assert_eq!(claims["sub"], "hanna");
    jwt::verify_id_token(&es, &jwks, &expect("warnkit-portal-es")).unwrap();

    // Tampered: the payload says someone else, the signature is the provider's.
    let parts: Vec<&str> = rs.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = "erik".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert_eq!(
        jwt::verify_id_token(&tampered, &jwks, &expect("warnkit-portal")),
        Err(IdTokenError::Signature)
    );
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        jwt::verify_id_token(&flipped, &jwks, &expect("warnkit-portal")),
        Err(IdTokenError::Signature)
    );
    // Another client's token, a wrong nonce, after its expiry, from the wrong issuer, unknown keys.
    assert_eq!(
        jwt::verify_id_token(&other, &jwks, &expect("warnkit-portal")),
        Err(IdTokenError::Audience)
    );
    let wrong_nonce = Expected {
        nonce: "nonce-2",
        ..expect("warnkit-portal")
    };
    assert_eq!(
        jwt::verify_id_token(&rs, &jwks, &wrong_nonce),
        Err(IdTokenError::Nonce)
    );
    let exp = claims["exp"].as_i64().unwrap();
    let later = Expected {
        now: exp + 61,
        ..expect("warnkit-portal")
    };
    let err = jwt::verify_id_token(&rs, &jwks, &later).unwrap_err();
    assert_eq!(err, IdTokenError::Expired);
    assert_eq!(err.to_string(), "the ID token has expired");
    let elsewhere = Expected {
        issuer: "http://127.0.0.1:1",
        ..expect("warnkit-portal")
    };
    assert_eq!(
        jwt::verify_id_token(&rs, &jwks, &elsewhere),
        Err(IdTokenError::Issuer)
    );
    assert_eq!(
        jwt::verify_id_token(&rs, &Jwks::default(), &expect("warnkit-portal")),
        Err(IdTokenError::UnknownKey)
    );
}
