//! Starts a test-result service, a verification service and the portal (with a manual clock) on ephemeral
//! ports over a fresh database, plus a small cookie-keeping HTTP agent that behaves like a browser.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{redirect, Client, StatusCode};
use serde_json::{json, Value};
use warnkit_node::{Listen, Node, RunningNode, Service};
use warnkit_portal::{HealthAuthority, PortalConfig, PortalService, Role, Roles};
use warnkit_service::server::{serve, shutdown_channel, ShutdownTrigger};
use warnkit_service::Clock;
use warnkit_store::{Db, PoolConfig};
use warnkit_testkit::{bind, Engine, TestDb};
use warnkit_verification::{VerificationConfig, VerificationService};

/// Every test account's password.
pub const PASSWORD: &str = "correct-horse-battery";
/// The manual clock's start (any fixed instant).
pub const T0: i64 = 1_800_000_000;

/// Expands one `async fn suite(app: App)` into a test per engine.
#[macro_export]
macro_rules! on_both {
    ($suite:ident) => {
        warnkit_testkit::suite_on_both_engines!($suite, $crate::harness::App, 2);
    };
}

/// The health authorities of the event teleTAN form in these tests.
pub fn authorities() -> Vec<HealthAuthority> {
    vec![
        HealthAuthority {
            name: "Gesundheitsamt Mitte".into(),
            nr: "1.11.0.01.".into(),
        },
        HealthAuthority {
            name: "Gesundheitsamt Nord".into(),
            nr: "1.11.0.02.".into(),
        },
    ]
}

/// The three services, running, with accounts `hotline`, `hotline2`, `ha` (health-authority), `admin`,
/// `totp` (hotline with a second factor), `event` and `both` (hotline and event).
pub struct App {
    pub portal: String,
    pub external: String,
    pub internal: String,
    pub service: PortalService,
    pub vs: VerificationService,
    pub clock: Clock,
    _stop: ShutdownTrigger,
    /// The test-result and verification services, as `warnkit serve` starts them.
    _tan: RunningNode,
    /// The node's service token (verification's internal API).
    token: String,
    _db: TestDb,
}

impl App {
    pub async fn start(engine: Engine) -> Option<App> {
        let pc = PortalConfig {
            health_authorities: authorities(),
            ..PortalConfig::default()
        };
        Self::start_with(engine, VerificationConfig::default(), pc).await
    }

    pub async fn start_with(
        engine: Engine,
        vc: VerificationConfig,
        pc: PortalConfig,
    ) -> Option<App> {
        let portal = bind().await;
        Self::start_on(engine, vc, pc, portal, Clock::manual(T0)).await
    }

    /// Like [`App::start_with`], on a portal listener bound beforehand (whose address an identity
    /// provider must know first) and with the given clock.
    pub async fn start_on(
        engine: Engine,
        vc: VerificationConfig,
        mut pc: PortalConfig,
        (portal_l, portal): (tokio::net::TcpListener, String),
        clock: Clock,
    ) -> Option<App> {
        let db = TestDb::new(engine)?;
        let pool = PoolConfig::default();
        let (stop, shutdown) = shutdown_channel();
        let config = warnkit_node::Config {
            verification: vc,
            ..warnkit_node::Config::at(db.dir(), db.postgres_url())
        };
        let tan = Node::builder(config)
            .only(&[Service::TestResult, Service::Verification])
            .listen(Listen::FreePorts)
            .pool(pool)
            .start()
            .await
            .unwrap();
        let token = tan.service_token().to_owned();
        let internal = tan.url("verification_internal").unwrap().to_owned();
        let external = tan.url("verification").unwrap().to_owned();
        let vs = tan.verification().unwrap().clone();
        let portal_db = Db::open(&db.target("portal"), pool, &warnkit_portal::MIGRATIONS)
            .await
            .unwrap();
        if pc.verification_url == PortalConfig::default().verification_url {
            pc.verification_url = internal.clone();
        }
        let service = PortalService::new(portal_db, pc, token.clone(), clock.clone()).unwrap();
        let both = Roles::from(Role::Hotline).with(Role::Event);
        for (name, role, totp) in [
            ("hotline", Role::Hotline.into(), false),
            ("hotline2", Role::Hotline.into(), false),
            ("ha", Role::HealthAuthority.into(), false),
            ("admin", Role::Admin.into(), false),
            ("totp", Role::Hotline.into(), true),
            ("event", Role::Event.into(), false),
            ("both", both, false),
        ] {
            service.add_user(name, PASSWORD, role, totp).await.unwrap();
        }
        tokio::spawn(serve(portal_l, service.router(), shutdown));
        Some(App {
            portal,
            external,
            internal,
            service,
            vs,
            clock,
            _stop: stop,
            _tan: tan,
            token,
            _db: db,
        })
    }

    /// A fresh agent (an empty cookie jar) against the portal.
    pub fn agent(&self) -> Agent {
        Agent::new(&self.portal)
    }

    /// teleTANs stored by the verification service.
    pub async fn teletans(&self) -> i64 {
        self.vs.row_counts().await.unwrap()[3]
    }

    /// Asks the verification service's internal API to verify (and consume) `tan`; its teleTAN type.
    pub async fn verify_tan(&self, tan: &str) -> Option<String> {
        let r = Client::new()
            .post(warnkit_verification::wire::url(
                &self.internal,
                warnkit_verification::wire::TAN_VERIFY_PATH,
            ))
            .bearer_auth(&self.token)
            .json(&json!({ "tan": tan }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "verifying the TAN");
        r.headers()
            .get(warnkit_verification::wire::TELETAN_TYPE_HEADER)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Registers `teletan` with the verification service and gets a TAN; panics unless both work.
    pub async fn redeem(&self, teletan: &str) -> String {
        let http = Client::new();
        let r = http
            .post(format!("{}/version/v1/registrationToken", self.external))
            .header("cwa-fake", "0")
            .json(&json!({"keyType": "TELETAN", "key": teletan}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "registering the teleTAN");
        let token = r.json::<Value>().await.unwrap()["registrationToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = http
            .post(format!("{}/version/v1/tan", self.external))
            .header("cwa-fake", "0")
            .json(&json!({"registrationToken": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "getting a TAN");
        r.json::<Value>().await.unwrap()["tan"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// One answer: status, headers, body.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a redirect points.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The `csrf` hidden field of the page's first form.
    pub fn csrf(&self) -> String {
        attr_after(&self.body, r#"name="csrf" value=""#).expect("a csrf field")
    }

    /// The teleTAN shown on the page (its `data-value`), if any.
    pub fn teletan(&self) -> Option<String> {
        attr_after(&self.body, r#"id="teletan" data-value=""#)
    }

    /// The `Set-Cookie` header for `name`, as sent.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with(&format!("{name}=")))
    }
}

/// The text between `marker` and the next `"`.
pub fn attr_after(body: &str, marker: &str) -> Option<String> {
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// A client that keeps cookies like a browser and does not follow redirects (tests look at them).
pub struct Agent {
    http: Client,
    base: String,
    jar: Mutex<BTreeMap<String, String>>,
}

impl Agent {
    pub fn new(base: &str) -> Agent {
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        Agent {
            http,
            base: base.to_owned(),
            jar: Mutex::default(),
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The cookie `name` this agent holds.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    /// Puts a cookie into the jar (to replay an old session, say).
    pub fn set(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    async fn finish(&self, r: reqwest::Response) -> Page {
        {
            let mut jar = self.jar.lock().unwrap();
            for c in r.headers().get_all(SET_COOKIE) {
                let c = c.to_str().unwrap();
                let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
                let (k, v) = pair.split_once('=').unwrap();
                if attrs.contains("Max-Age=0") {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[]).await
    }

    /// Like [`Agent::post`], with more request headers (an `Accept` of a browser, say).
    pub async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.body(body).send().await.unwrap();
        self.finish(r).await
    }

    /// Signs in with a password (no second factor): loads the form, posts it, returns the answer.
    pub async fn login(&self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Signs in and checks it worked; returns the start page.
    pub async fn signed_in(&self, username: &str) -> Page {
        let r = self.login(username, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), "/start");
        let start = self.get("/start").await;
        assert_eq!(start.status, StatusCode::OK);
        start
    }

    /// Presses the issue button on the start page.
    pub async fn issue(&self) -> Page {
        let start = self.get("/start").await;
        let csrf = start.csrf();
        self.post("/teletan", &[("csrf", &csrf)]).await
    }
}
