//! Limits and lifetimes with the clock injected: the officer's teleTAN interval, the verification service's
//! hourly limit, sign-in throttling (also under concurrent guesses), session expiry, and TOTP enrolment and
//! sign-in.

use std::sync::Arc;

use reqwest::StatusCode;
use warnkit_portal::totp;
use warnkit_portal::PortalConfig;
use warnkit_testkit::Engine;
use warnkit_verification::VerificationConfig;

use crate::harness::{attr_after, Agent, App, PASSWORD};
use crate::on_both;

async fn one_teletan_per_officer_per_30_seconds(app: App) {
    let a = app.agent();
    a.signed_in("hotline").await;
    assert_eq!(a.issue().await.status, StatusCode::OK);
    let refused = a.issue().await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused
        .body
        .contains("You can issue one teleTAN every 30 seconds."));
    assert!(refused.teletan().is_none());
    app.clock.advance(29);
    assert_eq!(a.issue().await.status, StatusCode::TOO_MANY_REQUESTS);
    // Another officer is not held up.
    let b = app.agent();
    b.signed_in("hotline2").await;
    assert_eq!(b.issue().await.status, StatusCode::OK);
    app.clock.advance(1);
    assert_eq!(a.issue().await.status, StatusCode::OK);
    assert_eq!(app.teletans().await, 3);
}
on_both!(one_teletan_per_officer_per_30_seconds);

async fn global_limit(engine: Engine) {
    let vc = VerificationConfig {
        teletan_limit_per_hour: 1,
        ..VerificationConfig::default()
    };
    let Some(app) = App::start_with(engine, vc, PortalConfig::default()).await else {
        return;
    };
    let a = app.agent();
    a.signed_in("hotline").await;
    assert_eq!(a.issue().await.status, StatusCode::OK);
    app.clock.advance(30);
    let refused = a.issue().await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused
        .body
        .contains("The hourly limit for teleTANs has been reached."));
    // The refused attempt gave the officer's slot back: the next refusal is the global one again.
    let again = a.issue().await;
    assert!(again.body.contains("hourly limit"), "{}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_limit_sqlite() {
    global_limit(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_limit_postgres() {
    global_limit(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_service_down_is_a_clear_502() {
    let pc = PortalConfig {
        verification_url: "http://127.0.0.1:9".to_owned(),
        ..PortalConfig::default()
    };
    let app = App::start_with(Engine::Sqlite, VerificationConfig::default(), pc)
        .await
        .unwrap();
    let a = app.agent();
    a.signed_in("hotline").await;
    let r = a.issue().await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r
        .body
        .contains("The verification service is not reachable right now."));
    // The failed attempt does not count against the officer.
    assert_eq!(a.issue().await.status, StatusCode::BAD_GATEWAY);
}

async fn sign_in_throttling(app: App) {
    let a = app.agent();
    for _ in 0..5 {
        assert_eq!(
            a.login("hotline", "wrong-password-1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = a.login("hotline", PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(r.body.contains("Please wait 15 minutes"), "{}", r.body);
    // Other accounts are not affected.
    assert_eq!(
        app.agent().login("ha", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    app.clock.advance(899);
    assert_eq!(
        a.login("hotline", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(1);
    assert_eq!(
        a.login("hotline", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}
on_both!(sign_in_throttling);

async fn sessions_expire_after_four_hours(app: App) {
    let a = app.agent();
    a.signed_in("hotline").await;
    app.clock.advance(4 * 3600 - 1);
    assert_eq!(a.get("/start").await.status, StatusCode::OK);
    app.clock.advance(1);
    let r = a.get("/start").await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
    assert_eq!(
        a.post("/teletan", &[("csrf", "x")]).await.location(),
        "/login"
    );
}
on_both!(sessions_expire_after_four_hours);

fn code(secret: &str, now: i64) -> String {
    totp::code_at(&totp::base32_decode(secret).unwrap(), totp::step(now))
}

async fn totp_enrolment_then_sign_in(app: App) {
    let a = app.agent();
    let r = a.login("totp", PASSWORD).await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/totp/enrol")
    );
    assert_eq!(
        a.get("/start").await.location(),
        "/totp/enrol",
        "no access before enrolment"
    );
    assert_eq!(a.get("/login/totp").await.location(), "/totp/enrol");
    let page = a.get("/totp/enrol").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<svg") && page.body.contains(r#"role="img""#));
    let secret = attr_after(&page.body, r#"data-secret=""#).unwrap();
    let csrf = page.csrf();
    assert!(
        a.get("/totp/enrol").await.body.contains(&secret),
        "same secret on reload"
    );
    let wrong = a
        .post("/totp/enrol", &[("csrf", &csrf), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.post("/totp/enrol", &[("code", "000000")]).await.status,
        StatusCode::FORBIDDEN
    );
    let now = app.clock.now();
    let ok = a
        .post(
            "/totp/enrol",
            &[("csrf", &csrf), ("code", &code(&secret, now))],
        )
        .await;
    assert_eq!(
        (ok.status, ok.location()),
        (StatusCode::SEE_OTHER, "/start")
    );
    assert_eq!(a.issue().await.status, StatusCode::OK);

    // The next sign-in asks for a code; the used one cannot be replayed.
    let b = app.agent();
    assert_eq!(b.login("totp", PASSWORD).await.location(), "/login/totp");
    assert_eq!(b.get("/start").await.location(), "/login/totp");
    assert_eq!(b.get("/totp/enrol").await.location(), "/login/totp");
    let form = b.get("/login/totp").await;
    assert!(form.body.contains(r#"autocomplete="one-time-code""#));
    let csrf = form.csrf();
    let replay = b
        .post(
            "/login/totp",
            &[("csrf", &csrf), ("code", &code(&secret, now))],
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert!(replay.body.contains("already used"));
    app.clock.advance(30);
    let fresh = code(&secret, app.clock.now());
    let ok = b
        .post("/login/totp", &[("csrf", &csrf), ("code", &fresh)])
        .await;
    assert_eq!(
        (ok.status, ok.location()),
        (StatusCode::SEE_OTHER, "/start")
    );
    assert_eq!(b.get("/start").await.status, StatusCode::OK);
}
on_both!(totp_enrolment_then_sign_in);

async fn pending_second_factor_expires(app: App) {
    let a = app.agent();
    a.login("totp", PASSWORD).await;
    app.clock.advance(600);
    assert_eq!(a.get("/totp/enrol").await.location(), "/login");
}
on_both!(pending_second_factor_expires);

/// Sends one request per agent at once; the statuses in order.
async fn all_at_once<F, Fut>(n: usize, f: F) -> Vec<StatusCode>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = StatusCode> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, request) = (barrier.clone(), f(i));
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// 60 guesses for one account at once, one of them the right password: the attempt is counted before the
/// hash is checked, so only the first `login_max_failures` (plus the right one, which gives its count back)
/// reach Argon2, and the right password outside them is refused like every other.
async fn concurrent_password_guesses_check_at_most_the_limit(app: App) {
    let limit = PortalConfig::default().login_max_failures as usize;
    let right = 37;
    let agents: Vec<Arc<Agent>> = (0..60).map(|_| Arc::new(app.agent())).collect();
    let mut csrf = Vec::new();
    for a in &agents {
        csrf.push(a.get("/login").await.csrf());
    }
    let statuses = all_at_once(60, |i| {
        let (agent, csrf) = (agents[i].clone(), csrf[i].clone());
        let password = if i == right {
            PASSWORD.to_owned()
        } else {
            format!("wrong-password-{i:02}")
        };
        async move {
            let fields = [
                ("csrf", csrf.as_str()),
                ("username", "hotline"),
                ("password", &password),
            ];
            agent.post("/login", &fields).await.status
        }
    })
    .await;
    let (wrong, signed_in) = (
        count(&statuses, StatusCode::UNAUTHORIZED),
        count(&statuses, StatusCode::SEE_OTHER),
    );
    let throttled = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(wrong + signed_in + throttled, 60, "{statuses:?}");
    assert!(
        wrong <= limit,
        "{wrong} wrong passwords checked, limit {limit}"
    );
    assert!(signed_in <= 1);
    // Whether the right password came first or not, the limit was used and not exceeded.
    let checked = app
        .service
        .metrics()
        .counter("portal_password_checks_total") as usize;
    assert_eq!(checked, wrong + signed_in, "every check answered");
    assert!(
        (limit..=limit + 1).contains(&checked),
        "{checked} passwords checked against the hash, limit {limit} (+1 for the right one)"
    );
    // The window's failures are spent: now even the right password waits.
    let r = app.agent().login("hotline", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.service
            .metrics()
            .counter("portal_password_checks_total") as usize,
        checked,
        "a refused attempt costs no hash check"
    );
}
on_both!(concurrent_password_guesses_check_at_most_the_limit);

/// 100 wrong one-time codes for one signed-in password at once: exactly `login_max_failures` are checked,
/// the rest are refused unchecked, and neither the right code nor a fresh password sign-in buys more.
async fn concurrent_totp_guesses_check_at_most_the_limit(app: App) {
    let limit = PortalConfig::default().login_max_failures as usize;
    // Enrol the authenticator, so that the next password sign-in asks for a code.
    let a = app.agent();
    a.login("totp", PASSWORD).await;
    let page = a.get("/totp/enrol").await;
    let secret = attr_after(&page.body, r#"data-secret=""#).unwrap();
    let now = app.clock.now();
    let enrolled = a
        .post(
            "/totp/enrol",
            &[("csrf", &page.csrf()), ("code", &code(&secret, now))],
        )
        .await;
    assert_eq!(enrolled.location(), "/start");
    app.clock.advance(30);

    let b = Arc::new(app.agent());
    assert_eq!(b.login("totp", PASSWORD).await.location(), "/login/totp");
    let csrf = b.get("/login/totp").await.csrf();
    // Wrong for sure: none of the codes of the steps the check accepts (now and one either side).
    let now = app.clock.now();
    let valid: Vec<String> = (-1..=1).map(|d| code(&secret, now + d * 30)).collect();
    let wrong: Vec<String> = (0..)
        .map(|i| format!("{:06}", (i * 7919) % 1_000_000))
        .filter(|c| !valid.contains(c))
        .take(100)
        .collect();
    let before = app.service.metrics().counter("portal_totp_checks_total") as usize;
    let statuses = all_at_once(100, |i| {
        let (b, csrf, code) = (b.clone(), csrf.clone(), wrong[i].clone());
        async move {
            let fields = [("csrf", csrf.as_str()), ("code", code.as_str())];
            b.post("/login/totp", &fields).await.status
        }
    })
    .await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    let throttled = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(checked + throttled, 100, "{statuses:?}");
    assert_eq!(checked, limit, "{checked} codes checked, limit {limit}");
    let counted = app.service.metrics().counter("portal_totp_checks_total") as usize - before;
    assert_eq!(counted, limit, "codes that reached the TOTP check");
    // The right code now waits for the window too, and signing in with the password again does not reset
    // the count (it would give a password holder a fresh set of guesses each time).
    let right = code(&secret, app.clock.now());
    let r = b
        .post("/login/totp", &[("csrf", &csrf), ("code", &right)])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.agent().login("totp", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(900);
    let c = app.agent();
    assert_eq!(c.login("totp", PASSWORD).await.location(), "/login/totp");
    let csrf = c.get("/login/totp").await.csrf();
    let right = code(&secret, app.clock.now());
    let ok = c
        .post("/login/totp", &[("csrf", &csrf), ("code", &right)])
        .await;
    assert_eq!(ok.location(), "/start", "a new window, the right code");
}
on_both!(concurrent_totp_guesses_check_at_most_the_limit);

/// One password check at once and two sign-ins waiting: of 40 sign-ins sent at once, those beyond get 503
/// `busy` with `Retry-After: 1`, before any database work, as the JSON error envelope or, for a browser
/// (`Accept: text/html`), as the sign-in form with a message; every other one gets its normal answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_password_checks_answer_503_busy() {
    const N: usize = 40;
    let pc = PortalConfig {
        password_hash_concurrency: 1,
        password_hash_queue: 2,
        ..PortalConfig::default()
    };
    let app = App::start_with(Engine::Sqlite, VerificationConfig::default(), pc)
        .await
        .unwrap();
    let agents: Vec<Arc<Agent>> = (0..N).map(|_| Arc::new(app.agent())).collect();
    let mut csrf = Vec::new();
    for a in &agents {
        csrf.push(a.get("/login").await.csrf());
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (agent, csrf, barrier) = (agents[i].clone(), csrf[i].clone(), barrier.clone());
            tokio::spawn(async move {
                // Unknown names, so that no account's failure count gets in the way; every other one
                // sent as a browser would.
                let username = format!("nobody-{i}");
                let fields = [
                    ("csrf", csrf.as_str()),
                    ("username", username.as_str()),
                    ("password", "wrong-password"),
                ];
                let accept: &[(&str, &str)] = if i % 2 == 0 {
                    &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]
                } else {
                    &[]
                };
                barrier.wait().await;
                (i % 2 == 0, agent.post_with("/login", &fields, accept).await)
            })
        })
        .collect();
    let answers = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        answers
    })
    .await
    .expect("40 sign-ins answered within 60 s");
    let (mut refused, mut busy_pages, mut busy_envelopes) = (0, 0, 0);
    for (browser, page) in &answers {
        match page.status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(page.headers["retry-after"], "1");
                let content_type = page.headers["content-type"].to_str().unwrap();
                if *browser {
                    assert!(content_type.starts_with("text/html"), "{content_type}");
                    assert!(page.body.contains("The portal is busy right now."));
                    assert_eq!(page.csrf().len(), 64, "a fresh form to try again");
                    busy_pages += 1;
                } else {
                    assert_eq!(content_type, "application/json");
                    let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
                    assert_eq!(body["error"], "busy", "{body}");
                    assert!(body["message"].as_str().unwrap().contains("retry"));
                    busy_envelopes += 1;
                }
            }
            other => panic!("unexpected {other}: {}", page.body),
        }
    }
    let busy = busy_pages + busy_envelopes;
    assert_eq!(refused + busy, N);
    // At most 3 are in progress at once and a check takes tens of milliseconds, so of 40 sent together
    // most are refused, of both kinds.
    assert!(
        busy_pages >= 1 && busy_envelopes >= 1,
        "{refused} checked, {busy_pages} busy pages, {busy_envelopes} busy envelopes"
    );
    let metrics = app.service.metrics();
    assert_eq!(metrics.counter("portal_sign_ins_busy_total") as usize, busy);
    assert_eq!(
        metrics.counter("portal_password_checks_total") as usize,
        refused,
        "every admitted sign-in was checked, no refused one"
    );
    // Nothing stays taken: a sign-in afterwards is checked and succeeds.
    let r = app.agent().login("hotline", PASSWORD).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/start"));
}
