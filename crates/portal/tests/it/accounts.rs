//! Account changes (what `warnkit portal user passwd|role|remove|reset-totp` call): a new password, a
//! removal or a reset second factor ends the account's sessions; new roles apply to the next request.

use reqwest::StatusCode;
use warnkit_portal::{Role, Roles};

use crate::harness::{App, PASSWORD};
use crate::on_both;

async fn password_role_removal_totp(app: App) {
    let db = app.service.db();
    // A new password ends both of the officer's sessions; only the new password works.
    let (a, b) = (app.agent(), app.agent());
    a.signed_in("hotline").await;
    b.signed_in("hotline").await;
    let other = app.agent();
    other.signed_in("hotline2").await;
    let ended = warnkit_portal::set_password(db, "hotline", "a-new-long-password")
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert_eq!(a.get("/start").await.location(), "/login");
    assert_eq!(b.get("/start").await.location(), "/login");
    assert_eq!(
        other.get("/start").await.status,
        StatusCode::OK,
        "others stay signed in"
    );
    assert_eq!(
        a.login("hotline", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.login("hotline", "a-new-long-password").await.location(),
        "/start"
    );
    let weak = warnkit_portal::set_password(db, "hotline", "short")
        .await
        .unwrap_err();
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    let missing = warnkit_portal::set_password(db, "nobody", "a-new-long-password")
        .await
        .unwrap_err();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Other roles: the running session shows and enforces them at once.
    assert!(a.get("/start").await.body.contains(r#"id="issue-teletan""#));
    warnkit_portal::set_roles(db, "hotline", Role::HealthAuthority.into())
        .await
        .unwrap();
    let start = a.get("/start").await;
    assert!(!start.body.contains("issue-teletan"));
    assert_eq!(
        a.post("/teletan", &[("csrf", &start.csrf())]).await.status,
        StatusCode::FORBIDDEN
    );
    let both = Roles::from(Role::Hotline).with(Role::Event);
    warnkit_portal::set_roles(db, "hotline", both)
        .await
        .unwrap();
    let start = a.get("/start").await.body;
    assert!(start.contains(r#"id="issue-teletan""#) && start.contains("issue-event-teletan"));
    assert!(warnkit_portal::set_roles(db, "nobody", both).await.is_err());

    // Removal ends the session and the account.
    assert_eq!(warnkit_portal::remove_user(db, "hotline").await.unwrap(), 1);
    assert_eq!(a.get("/start").await.location(), "/login");
    assert_eq!(
        a.login("hotline", "a-new-long-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        warnkit_portal::remove_user(db, "hotline")
            .await
            .unwrap_err()
            .status,
        StatusCode::NOT_FOUND
    );
    warnkit_portal::add_user(db, "hotline", PASSWORD, Role::Hotline.into(), false, 0)
        .await
        .unwrap();
    assert_eq!(
        a.login("hotline", PASSWORD).await.location(),
        "/start",
        "the name is free again"
    );

    // A reset second factor: the next sign-in enrols a new authenticator.
    let t = app.agent();
    assert_eq!(t.login("totp", PASSWORD).await.location(), "/totp/enrol");
    let secret_before =
        crate::harness::attr_after(&t.get("/totp/enrol").await.body, r#"data-secret=""#);
    assert_eq!(warnkit_portal::reset_totp(db, "totp").await.unwrap(), 1);
    assert_eq!(t.get("/totp/enrol").await.location(), "/login");
    assert_eq!(t.login("totp", PASSWORD).await.location(), "/totp/enrol");
    let secret_after =
        crate::harness::attr_after(&t.get("/totp/enrol").await.body, r#"data-secret=""#);
    assert!(secret_before.is_some() && secret_after.is_some());
    assert_ne!(secret_before, secret_after, "a new secret");
}
on_both!(password_role_removal_totp);

/// An account of the OpenID provider has no password here: a password sign-in with its name is refused
/// exactly like one with an unknown name (and costs the same hash check).
async fn oidc_accounts_refuse_passwords_like_unknown_names(app: App) {
    let db = app.service.db();
    let sql = "INSERT INTO users (username, password_hash, role, totp_required, created_at) \
               VALUES ($1, '!oidc', 'hotline', 0, 0)";
    warnkit_store::on_pool!(db, |pool| sqlx::query(sql)
        .bind("oidc:nora")
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    let a = app.agent();
    let unknown = a.login("oidc:nobody", "!oidc").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for password in ["!oidc", PASSWORD, "not a real password", ""] {
        let page = a.login("oidc:nora", password).await;
        assert_eq!(page.status, unknown.status, "{password:?}");
        assert!(page.set_cookie("wk_portal_session").is_none());
        assert!(page
            .body
            .contains("The user name or password is not correct."));
        assert_eq!(
            page.body.replace(&page.csrf(), ""),
            unknown
                .body
                .replace(&unknown.csrf(), "")
                .replace("oidc:nobody", "oidc:nora"),
            "the same page as for an unknown name"
        );
    }
    assert_eq!(a.get("/start").await.location(), "/login");
}
on_both!(oidc_accounts_refuse_passwords_like_unknown_names);
