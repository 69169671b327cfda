//! Event ("PIW") teleTANs: the event role picks a health authority from the configured list and gets an
//! EVENT teleTAN; the role, the list, the CSRF token and the officer's interval are checked.

use reqwest::StatusCode;
use warnkit_portal::{HealthAuthority, PortalConfig, PortalService};

use crate::harness::App;
use crate::on_both;

async fn event_teletan_for_a_listed_authority(app: App) {
    let a = app.agent();
    let start = a.signed_in("event").await;
    assert!(start.body.contains(r#"id="issue-event-teletan""#));
    assert!(
        !start.body.contains(r#"id="issue-teletan""#),
        "no TEST button for the event role"
    );
    assert!(start
        .body
        .contains(r#"<option value="1.11.0.02.">Gesundheitsamt Nord (1.11.0.02.)</option>"#));
    let csrf = start.csrf();
    let page = a
        .post(
            "/teletan/event",
            &[("csrf", &csrf), ("authority", "1.11.0.02.")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Event teleTAN"));
    assert!(page
        .body
        .contains(r#"<p id="event-authority">Issued for Gesundheitsamt Nord (1.11.0.02.)</p>"#));
    assert!(page.body.contains("valid for two days"));
    let tan = page.teletan().expect("the teleTAN on the page");
    assert_eq!(tan.len(), 10);
    // The verification service made it an EVENT teleTAN: the TAN it leads to says so.
    let upload_tan = app.redeem(&tan).await;
    assert_eq!(app.verify_tan(&upload_tan).await.as_deref(), Some("EVENT"));
    // One teleTAN of either kind per officer per interval.
    let again = a
        .post(
            "/teletan/event",
            &[("csrf", &csrf), ("authority", "1.11.0.01.")],
        )
        .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.teletans().await, 1);

    // An officer with both roles gets both forms; the TEST one still makes TEST teleTANs.
    let b = app.agent();
    let start = b.signed_in("both").await;
    assert!(
        start.body.contains(r#"id="issue-teletan""#) && start.body.contains("issue-event-teletan")
    );
    let tan = b.issue().await.teletan().unwrap();
    let upload_tan = app.redeem(&tan).await;
    assert_eq!(app.verify_tan(&upload_tan).await.as_deref(), Some("TEST"));
}
on_both!(event_teletan_for_a_listed_authority);

async fn role_list_and_csrf_are_checked(app: App) {
    let a = app.agent();
    let csrf = a.signed_in("event").await.csrf();
    for authority in ["", "9.99.9.99.", "Gesundheitsamt Nord"] {
        let r = a
            .post(
                "/teletan/event",
                &[("csrf", &csrf), ("authority", authority)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{authority:?}");
        assert!(r
            .body
            .contains("Please choose a health authority from the list."));
        assert!(r.teletan().is_none());
    }
    let forged = a
        .post("/teletan/event", &[("authority", "1.11.0.01.")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // The event role cannot issue TEST teleTANs, nor the hotline role EVENT ones.
    let test = a.post("/teletan", &[("csrf", &csrf)]).await;
    assert_eq!(test.status, StatusCode::FORBIDDEN);
    for user in ["hotline", "ha", "admin"] {
        let b = app.agent();
        let csrf = b.signed_in(user).await.csrf();
        let r = b
            .post(
                "/teletan/event",
                &[("csrf", &csrf), ("authority", "1.11.0.01.")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{user}");
        assert!(r.body.contains("Your role is not allowed to do this."));
    }
    // Signed out: to the sign-in page.
    assert_eq!(
        app.agent()
            .post("/teletan/event", &[("csrf", "x")])
            .await
            .location(),
        "/login"
    );
    assert_eq!(app.teletans().await, 0, "nothing was issued");
}
on_both!(role_list_and_csrf_are_checked);

#[tokio::test]
async fn a_bad_authority_list_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let target = warnkit_store::DbTarget::SqliteFile(dir.path().join("portal.sqlite"));
    let db = warnkit_store::Db::open(&target, Default::default(), &warnkit_portal::MIGRATIONS)
        .await
        .unwrap();
    let a = |nr: &str| HealthAuthority {
        name: "Amt".into(),
        nr: nr.into(),
    };
    for list in [vec![a("1"), a("1")], vec![a("")]] {
        let pc = PortalConfig {
            health_authorities: list,
            ..PortalConfig::default()
        };
        let err = PortalService::new(db.clone(), pc, "t".into(), warnkit_service::Clock::system())
            .unwrap_err();
        assert!(
            err.message.contains("portal.health_authorities"),
            "{}",
            err.message
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authorities_the_event_role_sees_why_not_an_empty_list() {
    let app = App::start_with(
        warnkit_testkit::Engine::Sqlite,
        warnkit_verification::VerificationConfig::default(),
        PortalConfig::default(),
    )
    .await
    .expect("SQLite always runs");
    let a = app.agent();
    let start = a.signed_in("event").await;
    assert_eq!(start.status, StatusCode::OK);
    assert!(
        start.body.contains(r#"id="no-authorities""#)
            && start.body.contains("No health authorities are configured"),
        "{}",
        start.body
    );
    // No form that could only fail: no list, no button, nothing posting to the event route.
    for absent in [
        "<select",
        "issue-event-teletan",
        r#"action="/teletan/event""#,
    ] {
        assert!(!start.body.contains(absent), "{absent}");
    }
    // An officer with both roles keeps the TEST button.
    let b = app.agent();
    let both = b.signed_in("both").await;
    assert!(both.body.contains(r#"id="issue-teletan""#) && both.body.contains("no-authorities"));
    // A hand-made post still gets the clear refusal, and nothing is issued.
    let r = a
        .post(
            "/teletan/event",
            &[("csrf", &start.csrf()), ("authority", "1.11.0.01.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.teletans().await, 0);
}
