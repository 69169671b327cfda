//! What the operator commands call (`warnkit portal user list|disable|enable`) and the audit trail the
//! portal keeps in its database: a disabled account cannot sign in (password or OpenID provider) and its
//! sessions end, at any stage; sign-ins, refusals, teleTANs issued and sign-outs are recorded by account,
//! and no teleTAN is.

use reqwest::StatusCode;
use warnkit_store::audit::{self, AuditEntry, Filter};

use crate::harness::{App, PASSWORD};
use crate::idp::{Browser, OidcApp};
use crate::on_both;

async fn trail(app: &App) -> Vec<AuditEntry> {
    audit::list(app.service.db(), &Filter::default())
        .await
        .unwrap()
}

fn has(rows: &[AuditEntry], actor: &str, action: &str, subject: &str) -> bool {
    rows.iter()
        .any(|r| r.actor == actor && r.action == action && r.subject == subject)
}

async fn disabled_accounts_and_the_trail(app: App) {
    let db = app.service.db();
    let a = app.agent();
    a.signed_in("hotline").await;
    let issued = a.issue().await;
    assert_eq!(issued.status, StatusCode::OK);
    let teletan = issued.teletan().unwrap();
    // A second factor pending: that session ends too.
    let pending = app.agent();
    assert_eq!(
        pending.login("totp", PASSWORD).await.location(),
        "/totp/enrol"
    );
    assert_eq!(pending.get("/totp/enrol").await.status, StatusCode::OK);

    let users = warnkit_portal::list_users(db).await.unwrap();
    let hotline = users.iter().find(|u| u.username == "hotline").unwrap();
    assert!(!hotline.disabled);
    assert_eq!(hotline.last_sign_in_at, Some(app.clock.now()));
    let totp = users.iter().find(|u| u.username == "totp").unwrap();
    assert_eq!(
        totp.last_sign_in_at, None,
        "only a completed sign-in counts"
    );

    assert_eq!(
        warnkit_portal::disable_user(db, "hotline").await.unwrap(),
        1
    );
    assert_eq!(warnkit_portal::disable_user(db, "totp").await.unwrap(), 1);
    assert_eq!(a.get("/start").await.location(), "/login");
    assert_eq!(pending.get("/totp/enrol").await.location(), "/login");
    let refused = a.login("hotline", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.set_cookie("wk_portal_session").is_none());
    let users = warnkit_portal::list_users(db).await.unwrap();
    assert!(
        users
            .iter()
            .find(|u| u.username == "hotline")
            .unwrap()
            .disabled
    );

    warnkit_portal::enable_user(db, "hotline").await.unwrap();
    a.signed_in("hotline").await;
    let start = a.get("/start").await;
    let out = a.post("/logout", &[("csrf", &start.csrf())]).await;
    assert_eq!(out.location(), "/login");
    let err = warnkit_portal::disable_user(db, "nobody")
        .await
        .unwrap_err();
    assert_eq!(err.status, StatusCode::NOT_FOUND);

    // A wrong password for an account, and a name that is no account (not kept).
    assert_eq!(
        a.login("ha", "wrong-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.login("not-an-account", "x").await.status,
        StatusCode::UNAUTHORIZED
    );

    let rows = trail(&app).await;
    assert!(
        has(&rows, "hotline", "portal.sign-in", "password"),
        "{rows:#?}"
    );
    assert!(has(&rows, "hotline", "teletan.issue", "TEST"), "{rows:#?}");
    let refused = "portal.sign-in-refused";
    assert!(
        has(&rows, "hotline", refused, "account disabled"),
        "{rows:#?}"
    );
    assert!(has(&rows, "hotline", "portal.sign-out", ""), "{rows:#?}");
    let wrong = "wrong user name or password";
    assert!(has(&rows, "ha", refused, wrong), "{rows:#?}");
    assert!(has(&rows, "(unknown)", refused, wrong), "{rows:#?}");
    let sign_ins = rows
        .iter()
        .filter(|r| r.actor == "hotline" && r.action == "portal.sign-in")
        .count();
    assert_eq!(sign_ins, 2);
    for r in &rows {
        for text in [&r.actor, &r.action, &r.subject] {
            assert!(!text.contains(&teletan), "the teleTAN in {r:?}");
            assert!(!text.contains("not-an-account") && !text.contains(PASSWORD));
        }
    }
    let times: Vec<i64> = rows.iter().map(|r| r.at_micros).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}
on_both!(disabled_accounts_and_the_trail);

/// An account of the OpenID provider, disabled here, is refused though the provider signs it in.
async fn disabled_oidc_accounts(o: OidcApp) {
    let portal = &o.app.portal;
    let db = o.app.service.db();
    let b = Browser::new();
    b.signed_in(portal, "hanna").await;
    let rows = trail(&o.app).await;
    assert!(
        has(&rows, "oidc:hanna", "portal.sign-in", "oidc"),
        "{rows:#?}"
    );

    assert_eq!(
        warnkit_portal::disable_user(db, "oidc:hanna")
            .await
            .unwrap(),
        1
    );
    assert_eq!(b.get(&format!("{portal}/start")).await.location(), "/login");
    let again = Browser::new();
    let (_, page) = again.sso(portal, "hanna", |u| u).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.body.contains("disabled"), "{}", page.body);
    assert!(page.set_cookie("wk_portal_session").is_none());
    let rows = trail(&o.app).await;
    let subject = "oidc: the account oidc:hanna is disabled";
    assert!(
        has(&rows, "(unknown)", "portal.sign-in-refused", subject),
        "{rows:#?}"
    );

    warnkit_portal::enable_user(db, "oidc:hanna").await.unwrap();
    Browser::new().signed_in(portal, "hanna").await;
}
warnkit_testkit::suite_on_both_engines!(disabled_oidc_accounts, crate::idp::OidcApp, 2);
