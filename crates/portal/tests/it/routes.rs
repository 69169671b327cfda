//! Every route over real HTTP: sign-in, the start page, issuing, sign-out, probes and assets, headers.

use reqwest::StatusCode;

use crate::harness::{App, PASSWORD};
use crate::on_both;

async fn probes_assets_and_headers(app: App) {
    let a = app.agent();
    for path in ["/health", "/ready"] {
        assert_eq!(a.get(path).await.status, StatusCode::OK, "{path}");
    }
    // Metrics only on the operators' metrics listener, not on a port the officers reach.
    assert_eq!(a.get("/metrics").await.status, StatusCode::NOT_FOUND);
    let css = a.get("/static/portal.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let js = a.get("/static/portal.js").await;
    assert!(js.body.contains("copy-teletan"));
    let login = a.get("/login").await;
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    assert_eq!(login.headers["cache-control"], "no-store");
    assert!(login.body.contains(r#"name="username""#) && login.body.contains(r#"name="password""#));
    assert!(
        login.body.contains(r#"<label for="username">"#),
        "labelled inputs"
    );
    let behind_tls = reqwest::Client::new()
        .get(format!("{}/login", app.portal))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let cookie = behind_tls.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    // Without an OpenID provider configured: no button, no sign-in routes.
    assert!(!login.body.contains("/oidc/login"));
    assert_eq!(a.get("/oidc/login").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.get("/oidc/callback?code=x&state=y").await.status,
        StatusCode::NOT_FOUND
    );
    let missing = a.get("/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.headers.contains_key("content-security-policy"));
}
on_both!(probes_assets_and_headers);

async fn sign_in_issue_redeem_sign_out(app: App) {
    let a = app.agent();
    let root = a.get("/").await;
    assert_eq!(
        (root.status, root.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert_eq!(a.get("/start").await.location(), "/login");
    let form = a.get("/login").await;
    let login_cookie = form.set_cookie("wk_portal_login").unwrap();
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    assert!(
        !login_cookie.contains("Secure"),
        "plain HTTP: no Secure flag"
    );
    let r = a.login("hotline", PASSWORD).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/start"));
    let session = r.set_cookie("wk_portal_session").unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(session.contains("Max-Age=14400"));
    assert_eq!(a.get("/").await.location(), "/start");
    assert_eq!(a.get("/login").await.location(), "/start");
    let start = a.get("/start").await;
    assert!(start.body.contains(r#"id="issue-teletan""#));
    assert!(start.body.contains("hotline"));

    let page = a.issue().await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let tan = page.teletan().expect("the teleTAN on the page");
    assert_eq!(tan.len(), 10);
    assert!(page.body.contains(&format!(
        r#"<span class="group">{}</span> <span class="group">{}</span> <span class="group">{}</span>"#,
        &tan[..3],
        &tan[3..6],
        &tan[6..]
    )));
    assert!(page
        .body
        .contains(r#"http-equiv="refresh" content="600;url=/start""#));
    assert!(page
        .body
        .contains(r#"id="countdown" data-seconds="600">10:00<"#));
    assert_eq!(page.headers["cache-control"], "no-store");
    let tan_for_upload = app.redeem(&tan).await;
    assert_eq!(tan_for_upload.len(), 36);
    let metrics = app.service.metrics().render();
    assert!(
        metrics.contains(r#"portal_teletans_issued_total{service="portal"} 1"#),
        "{metrics}"
    );

    let csrf = a.get("/start").await.csrf();
    let old_session = a.cookie("wk_portal_session").unwrap();
    let out = a.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (out.status, out.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert!(out
        .set_cookie("wk_portal_session")
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(a.get("/start").await.location(), "/login");
    // The session is gone on the server, not only in the browser.
    a.set("wk_portal_session", &old_session);
    assert_eq!(a.get("/start").await.location(), "/login");
    let again = a.post("/teletan", &[("csrf", &csrf)]).await;
    assert_eq!(again.location(), "/login");
    assert_eq!(
        a.post("/logout", &[("csrf", &csrf)]).await.location(),
        "/login"
    );
}
on_both!(sign_in_issue_redeem_sign_out);

async fn wrong_password_and_unknown_user(app: App) {
    let a = app.agent();
    for (user, password) in [
        ("hotline", "wrong-password-1"),
        ("nobody", PASSWORD),
        ("", ""),
    ] {
        let r = a.login(user, password).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}");
        assert!(r.body.contains("The user name or password is not correct."));
        assert!(r.set_cookie("wk_portal_session").is_none());
    }
    assert_eq!(a.get("/start").await.location(), "/login");
}
on_both!(wrong_password_and_unknown_user);

async fn forms_without_csrf_are_refused(app: App) {
    let a = app.agent();
    a.get("/login").await;
    let r = a
        .post("/login", &[("username", "hotline"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("did not come from this portal"));
    let fresh = app.agent();
    let r = fresh
        .post(
            "/login",
            &[
                ("csrf", "made-up"),
                ("username", "hotline"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no login cookie to match");

    a.signed_in("hotline").await;
    for fields in [vec![], vec![("csrf", "forged")]] {
        let r = a.post("/teletan", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.teletan().is_none());
        assert_eq!(
            a.post("/logout", &fields).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(app.teletans().await, 0, "nothing was issued");
    assert_eq!(
        a.get("/start").await.status,
        StatusCode::OK,
        "still signed in"
    );
    let bad = a.post("/teletan", &[]).await;
    assert!(
        bad.body.contains("Sign out"),
        "the error page keeps the header"
    );
}
on_both!(forms_without_csrf_are_refused);

async fn only_the_hotline_role_issues(app: App) {
    for user in ["ha", "admin"] {
        let a = app.agent();
        let start = a.signed_in(user).await;
        assert!(!start.body.contains("issue-teletan"), "{user}");
        assert!(start.body.contains(r#"id="no-role""#));
        let r = a.post("/teletan", &[("csrf", &start.csrf())]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{user}");
        assert!(r.body.contains("Your role is not allowed to do this."));
    }
    assert_eq!(app.teletans().await, 0);
}
on_both!(only_the_hotline_role_issues);

async fn user_management(app: App) {
    let s = &app.service;
    let taken = s
        .add_user("hotline", PASSWORD, warnkit_portal::Role::Admin, false)
        .await;
    assert_eq!(taken.unwrap_err().code, "user_exists");
    let weak = s
        .add_user("new", "short", warnkit_portal::Role::Admin, false)
        .await;
    assert_eq!(weak.unwrap_err().code, "weak_password");
    let bad = s
        .add_user("Bad Name", PASSWORD, warnkit_portal::Role::Admin, false)
        .await;
    assert_eq!(bad.unwrap_err().code, "invalid_username");
}
on_both!(user_management);

/// `/openapi.json` is an OpenAPI 3 document naming every route, and each route it names answers a
/// signed-in officer's plain request with a status it documents.
async fn openapi_names_every_route(app: App) {
    let a = app.agent();
    let doc: serde_json::Value =
        serde_json::from_str(&a.get("/openapi.json").await.body).expect("JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut routed = vec![
        "/",
        "/health",
        "/login",
        "/login/totp",
        "/logout",
        "/oidc/callback",
        "/oidc/login",
        "/openapi.json",
        "/ready",
        "/start",
        "/static/portal.css",
        "/static/portal.js",
        "/teletan",
        "/teletan/event",
        "/totp/enrol",
    ];
    routed.sort_unstable();
    assert_eq!(documented, routed);
    let b = app.agent();
    let csrf = b.signed_in("both").await.csrf();
    // Signing out last, so that every other route sees the session.
    let (last, rest): (Vec<_>, Vec<_>) = paths.iter().partition(|(p, _)| *p == "/logout");
    for (path, ops) in rest.into_iter().chain(last) {
        for (method, op) in ops.as_object().expect("operations") {
            assert!(op["summary"].is_string(), "{method} {path}");
            let page = match method.as_str() {
                "get" => b.get(path).await,
                // The CSRF token but no other field: the answer must still be a documented one.
                "post" => b.post(path, &[("csrf", &csrf)]).await,
                other => panic!("{path}: undocumented method {other}"),
            };
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.contains_key(page.status.as_str()),
                "{method} {path} answered undocumented {}",
                page.status
            );
        }
    }
}
on_both!(openapi_names_every_route);

/// The router and the document it serves name the same operations, asked in process: the document is
/// generated from the routes, so this fails only if a route escapes the generation.
async fn router_and_document_agree(app: App) {
    let router = app.service.router();
    let doc = warnkit_service::openapi::served(&router).await;
    let ops = warnkit_service::openapi::operations(&doc);
    assert!(
        ops.contains(&("POST".to_owned(), "/teletan/event".to_owned())),
        "{ops:?}"
    );
    let wrong = warnkit_service::openapi::mismatches(&router, &doc).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
}
on_both!(router_and_document_agree);
