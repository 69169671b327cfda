//! Guessing budgets: failed teleTAN registrations and failed TAN checks per window, over all copies of the
//! service; past the budget every attempt of that kind is refused unchecked, valid ones too, until the
//! window ends.

use std::sync::Arc;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use warnkit_service::server::{serve, shutdown_channel};
use warnkit_service::Clock;
use warnkit_store::{Db, PoolConfig};
use warnkit_testkit::{bind, Engine, TestDb};
use warnkit_verification::{teletan, TeletanType, VerificationConfig, VerificationService};

use crate::harness::{new_guid, App, REAL};
use crate::tan_path::{start_tan_path_with_clocks, TanClocks};

/// An instant at the start of a budget window (a multiple of 60 s): no window ends in the middle of a test.
const T0: i64 = 1_800_000_000;
const TELETAN_BUDGET: usize = 10;
const TAN_BUDGET: usize = 5;

fn config() -> VerificationConfig {
    VerificationConfig {
        teletan_failures_per_window: TELETAN_BUDGET as u32,
        tan_failures_per_window: TAN_BUDGET as u32,
        ..VerificationConfig::default()
    }
}

/// The services with small budgets, the verification service's clock at `T0`.
pub struct Tight(App);

impl Tight {
    pub async fn start(engine: Engine) -> Option<Tight> {
        let app = App::start_with(engine, config()).await?;
        app.clock.set(T0);
        Some(Tight(app))
    }
}

macro_rules! on_both_tight {
    ($suite:ident) => {
        warnkit_testkit::suite_on_both_engines!($suite, $crate::budget::Tight, 4);
    };
}

/// A well-formed teleTAN nobody issued (a hit among 31^9 is not a concern).
fn unknown_teletan() -> String {
    teletan::generate(&mut rand::thread_rng())
}

/// Runs `n` requests at once; their statuses and bodies.
async fn at_once<F, Fut>(n: usize, f: F) -> Vec<(StatusCode, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let request = f(i);
            tokio::spawn(async move {
                let r = request.await;
                (r.status(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(answers: &[(StatusCode, Value)], status: StatusCode) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

fn metric(text: &str, name: &str) -> u64 {
    let prefix = format!("{name}{{service=\"verification_internal\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.parse().unwrap())
}

async fn registration(http: &Client, base: &str, key: &str) -> reqwest::Response {
    let mut req = http
        .post(format!("{base}/version/v1/registrationToken"))
        .json(&json!({"keyType": "TELETAN", "key": key}));
    for (k, v) in REAL {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn teletan_guesses_stop_at_the_budget(Tight(app): Tight) {
    let (_, valid) = app.teletan(None).await;
    let valid = valid.unwrap();
    let app = Arc::new(app);
    let answers = at_once(100, |_| {
        let app = app.clone();
        async move { registration(&app.http, &app.external, &unknown_teletan()).await }
    })
    .await;
    let (checked, refused) = (
        count(&answers, StatusCode::BAD_REQUEST),
        count(&answers, StatusCode::TOO_MANY_REQUESTS),
    );
    assert_eq!(checked + refused, 100, "{answers:?}");
    assert_eq!(checked, TELETAN_BUDGET, "wrong teleTANs looked up");
    let (_, body) = answers
        .iter()
        .find(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    assert_eq!(body["error"], "teletan_budget_exhausted");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("try again in 60 seconds"));

    // The valid teleTAN is refused too, unchecked: it stays valid for the next window.
    assert_eq!(
        app.register("TELETAN", &valid).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.counts().await[0], 0, "no registration stored");
    // Other paths have their own budget (or none).
    assert_eq!(app.register_guid(&new_guid()).await.0, StatusCode::CREATED);

    let m = app.metrics().await;
    assert_eq!(
        metric(&m, "verification_teletan_registrations_failed_total"),
        10
    );
    assert_eq!(metric(&m, "verification_teletan_budget_refused_total"), 91);
    assert_eq!(metric(&m, "verification_teletan_budget_exhausted_total"), 1);

    app.clock.set(T0 + 59);
    assert_eq!(
        app.register("TELETAN", &valid).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.set(T0 + 60);
    let (status, token) = app.register("TELETAN", &valid).await;
    assert_eq!(status, StatusCode::CREATED, "the next window");
    assert!(token.is_some());
    assert_eq!(
        app.register("TELETAN", &unknown_teletan()).await.0,
        StatusCode::BAD_REQUEST,
        "a fresh budget"
    );
}
on_both_tight!(teletan_guesses_stop_at_the_budget);

async fn only_failures_spend_the_budget(Tight(app): Tight) {
    for _ in 0..TELETAN_BUDGET - 1 {
        let status = app.register("TELETAN", &unknown_teletan()).await.0;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Successes give their unit back: more of them than the budget's size go through.
    for _ in 0..3 * TELETAN_BUDGET {
        let (_, teletan) = app.teletan(None).await;
        let status = app.register("TELETAN", &teletan.unwrap()).await.0;
        assert_eq!(status, StatusCode::CREATED);
    }
    // A used teleTAN is a failure like an unknown one: the last unit.
    let (_, used) = app.teletan(None).await;
    let used = used.unwrap();
    assert_eq!(app.register("TELETAN", &used).await.0, StatusCode::CREATED);
    assert_eq!(
        app.register("TELETAN", &used).await.0,
        StatusCode::BAD_REQUEST
    );
    let (_, fresh) = app.teletan(None).await;
    assert_eq!(
        app.register("TELETAN", &fresh.unwrap()).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A malformed teleTAN (the check character is public) is refused before any lookup and costs nothing.
    assert_eq!(
        app.register("TELETAN", "ABCDEFGHJK").await.0,
        StatusCode::BAD_REQUEST
    );
}
on_both_tight!(only_failures_spend_the_budget);

async fn tan_guesses_stop_at_the_budget(Tight(app): Tight) {
    let guid = new_guid();
    app.lab_posts(&guid, 2).await;
    let token = app.register_guid(&guid).await.1.unwrap();
    let valid = app.get_tan(&token).await.1.unwrap();
    // A valid TAN of the wrong type is no wrong guess: refused and kept, but no budget spent.
    let (_, event) = app.teletan(Some("EVENT")).await;
    let event_token = app.register("TELETAN", &event.unwrap()).await.1.unwrap();
    let event_tan = app.get_tan(&event_token).await.1.unwrap();
    for _ in 0..2 * TAN_BUDGET {
        let r = app.verify_for(&event_tan, Some("TEST")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    let app = Arc::new(app);
    let answers = at_once(50, |_| {
        let app = app.clone();
        async move { app.verify(&uuid::Uuid::new_v4().to_string()).await }
    })
    .await;
    let (checked, refused) = (
        count(&answers, StatusCode::NOT_FOUND),
        count(&answers, StatusCode::TOO_MANY_REQUESTS),
    );
    assert_eq!(checked + refused, 50, "{answers:?}");
    assert_eq!(checked, TAN_BUDGET, "wrong TANs looked up");
    assert!(answers
        .iter()
        .any(|(_, body)| body["error"] == "tan_budget_exhausted"));
    // The valid TAN is refused unchecked and not consumed.
    assert_eq!(
        app.verify(&valid).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let m = app.metrics().await;
    assert_eq!(metric(&m, "verification_tans_unknown_total"), 5);
    assert_eq!(metric(&m, "verification_tan_budget_refused_total"), 46);
    assert_eq!(metric(&m, "verification_tan_budget_exhausted_total"), 1);
    // teleTAN registrations keep their own budget.
    assert_eq!(
        app.register("TELETAN", &unknown_teletan()).await.0,
        StatusCode::BAD_REQUEST
    );
    app.clock.set(T0 + 60);
    assert_eq!(app.verify(&valid).await.status(), StatusCode::OK);
    let again = app.verify(&valid).await.status();
    assert_eq!(again, StatusCode::NOT_FOUND, "consumed once");
}
on_both_tight!(tan_guesses_stop_at_the_budget);

/// Two copies of the service on one database share one budget: guesses spread over both are still
/// checked at most the budget's number of times, and the alert appears once.
async fn copies_share_the_budget(engine: Engine) {
    let Some(db) = TestDb::new(engine) else {
        return;
    };
    let (_stop, shutdown) = shutdown_channel();
    let token = "test-service-token";
    let pool = PoolConfig::default();
    // Both copies on one clock at `T0`, as copies on synchronised machines.
    let clock = Clock::manual(T0);
    let clocks = TanClocks {
        testresult: Clock::system(),
        verification: clock.clone(),
    };
    let a = start_tan_path_with_clocks(
        &db,
        pool,
        (Default::default(), config()),
        token,
        shutdown.clone(),
        clocks,
    )
    .await;
    let b_db = Db::open(
        &db.target("verification"),
        pool,
        &warnkit_verification::MIGRATIONS,
    )
    .await
    .unwrap();
    let b = VerificationService::new(b_db, config(), token.to_owned())
        .unwrap()
        .with_clock(clock);
    let (listener, b_url) = bind().await;
    tokio::spawn(serve(listener, b.external_router(), shutdown));

    let http = Client::new();
    let urls = [a.external_url.clone(), b_url];
    let answers = at_once(100, |i| {
        let (http, url) = (http.clone(), urls[i % 2].clone());
        async move { registration(&http, &url, &unknown_teletan()).await }
    })
    .await;
    let checked = count(&answers, StatusCode::BAD_REQUEST);
    assert_eq!(checked, TELETAN_BUDGET, "over both copies");
    assert_eq!(
        count(&answers, StatusCode::TOO_MANY_REQUESTS),
        100 - TELETAN_BUDGET
    );
    let valid = a.verification.create_teletan(TeletanType::Test).await;
    let r = registration(&http, &urls[1], &valid.unwrap()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let exhausted: u64 = [&a.verification, &b]
        .iter()
        .map(|vs| {
            let text = warnkit_service::metrics::render_all(&vs.metrics().map(Clone::clone));
            metric(&text, "verification_teletan_budget_exhausted_total")
        })
        .sum();
    assert_eq!(exhausted, 1, "one alert for the window over both copies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_share_the_budget_sqlite() {
    copies_share_the_budget(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_share_the_budget_postgres() {
    copies_share_the_budget(Engine::Postgres).await;
}
