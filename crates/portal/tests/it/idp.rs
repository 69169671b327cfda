//! The test OpenID provider (panva's oidc-provider under Node.js, `tests/oidc/idp.mjs`), the portal
//! configured to use it, and a cookie-keeping client that walks through both like a browser.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, StatusCode, Url};
use warnkit_portal::{OidcConfig, PortalConfig};
use warnkit_service::Clock;
use warnkit_testkit::{bind, Engine};
use warnkit_verification::VerificationConfig;

use crate::harness::{attr_after, authorities, App, Page};

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether node and the provider's package are here; under CI their absence is a failure.
pub fn idp_available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if node && idp_dir().join("node_modules/oidc-provider").is_dir() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and no node or no tests/oidc/node_modules: scripts/test installs them");
    }
    eprintln!(
        "!!!!! SKIPPING an OpenID Connect test: it needs node and `npm ci` in crates/portal/tests/oidc \
         (scripts/test installs both) !!!!!"
    );
    false
}

/// The provider's process, stopped when dropped.
pub struct Idp {
    child: Child,
    /// Its issuer URL.
    pub issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    /// Starts the provider with these registered redirect URIs and waits until it listens.
    pub fn start(redirect_uris: &[&str]) -> Idp {
        let mut child = Command::new("node")
            .arg("idp.mjs")
            .args(redirect_uris)
            .current_dir(idp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting node idp.mjs");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        // The provider writes notes to stdout later on; a closed pipe would end it (EPIPE).
        std::thread::spawn(move || out.lines().map_while(Result::ok).for_each(drop));
        let issuer = line
            .strip_prefix("issuer ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .trim()
            .to_owned();
        Idp { child, issuer }
    }
}

/// The portal with sign-in at a freshly started provider, its clock at the real time (the provider's
/// tokens carry real times).
pub struct OidcApp {
    pub app: App,
    pub idp: Idp,
}

impl OidcApp {
    pub async fn start(engine: Engine) -> Option<OidcApp> {
        if !idp_available() {
            return None;
        }
        let (listener, portal) = bind().await;
        let redirect = format!("{portal}/oidc/callback");
        let idp = Idp::start(&[&redirect]);
        let pc = PortalConfig {
            oidc: OidcConfig {
                issuer: idp.issuer.clone(),
                provider_name: "Test IdP".into(),
                client_id: "warnkit-portal".into(),
                client_secret: "warnkit-portal-secret".into(),
                redirect_url: redirect,
                scopes: "openid profile roles".into(),
                ..OidcConfig::default()
            },
            health_authorities: authorities(),
            ..PortalConfig::default()
        };
        let clock = Clock::manual(warnkit_store::unix_now());
        let vc = VerificationConfig::default();
        let app = App::start_on(engine, vc, pc, (listener, portal), clock).await?;
        Some(OidcApp { app, idp })
    }
}

/// A client that keeps cookies per host like a browser (without paths: sending more is harmless here)
/// and follows redirects one at a time.
pub struct Browser {
    http: Client,
    jar: Mutex<BTreeMap<(String, String), String>>,
}

fn host(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(80))
}

impl Browser {
    pub fn new() -> Browser {
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            http,
            jar: Mutex::default(),
        }
    }

    /// The cookie `name` held for `url`'s host.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let key = (host(&Url::parse(url).unwrap()), name.to_owned());
        self.jar.lock().unwrap().get(&key).cloned()
    }

    pub fn set(&self, url: &str, name: &str, value: &str) {
        let key = (host(&Url::parse(url).unwrap()), name.to_owned());
        self.jar.lock().unwrap().insert(key, value.to_owned());
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &Url) -> Page {
        let h = host(url);
        let cookies: Vec<String> = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .filter(|((jh, _), _)| *jh == h)
            .map(|((_, k), v)| format!("{k}={v}"))
            .collect();
        let r = request
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
        {
            let mut jar = self.jar.lock().unwrap();
            for c in r.headers().get_all(SET_COOKIE) {
                let c = c.to_str().unwrap();
                let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
                let (k, v) = pair.split_once('=').unwrap();
                let key = (h.clone(), k.to_owned());
                let attrs = attrs.to_ascii_lowercase();
                if attrs.contains("max-age=0") || attrs.contains("01 jan 1970") || v.is_empty() {
                    jar.remove(&key);
                } else {
                    jar.insert(key, v.to_owned());
                }
            }
        }
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        let url = Url::parse(url).unwrap();
        self.send(self.http.get(url.clone()), &url).await
    }

    pub async fn post(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        let url = Url::parse(url).unwrap();
        let body = serde_urlencoded::to_string(fields).unwrap();
        let request = self
            .http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request, &url).await
    }

    /// Follows `page`'s redirects (from `url`) until an answer that is not one, or until the next URL
    /// starts with `stop`; returns the last URL and its answer (for a stop, the URL not fetched).
    pub async fn follow(&self, mut url: String, mut page: Page, stop: &str) -> (String, Page) {
        for _ in 0..20 {
            if !page.status.is_redirection() {
                return (url, page);
            }
            let location = page.headers[LOCATION].to_str().unwrap();
            url = Url::parse(&url)
                .unwrap()
                .join(location)
                .unwrap()
                .to_string();
            if !stop.is_empty() && url.starts_with(stop) {
                return (url, page);
            }
            page = self.get(&url).await;
        }
        panic!("too many redirects");
    }

    /// Fills in and posts the provider's sign-in form at `url`.
    pub async fn idp_login(
        &self,
        url: &str,
        page: &Page,
        user: &str,
        stop: &str,
    ) -> (String, Page) {
        assert_eq!(
            page.status,
            StatusCode::OK,
            "the provider's sign-in form: {}",
            page.body
        );
        let action = attr_after(&page.body, r#"action=""#).expect("a form");
        let action = Url::parse(url).unwrap().join(&action).unwrap().to_string();
        let password = format!("{user}-password");
        let answer = self
            .post(&action, &[("username", user), ("password", &password)])
            .await;
        self.follow(action, answer, stop).await
    }

    /// Starts a portal sign-in at the provider: the URL the portal sends the browser to.
    pub async fn start_sso(&self, portal: &str) -> String {
        let r = self.get(&format!("{portal}/oidc/login")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        r.headers[LOCATION].to_str().unwrap().to_owned()
    }

    /// The whole sign-in of `user` at the provider, from the portal's button to the portal's callback
    /// answer (with `edit` applied to the authorization URL first).
    pub async fn sso(
        &self,
        portal: &str,
        user: &str,
        edit: impl FnOnce(String) -> String,
    ) -> (String, Page) {
        let auth = edit(self.start_sso(portal).await);
        let first = self.get(&auth).await;
        let (url, form) = self.follow(auth, first, "").await;
        self.idp_login(&url, &form, user, "").await
    }

    /// Signs in `user` at the provider and checks that a session started.
    pub async fn signed_in(&self, portal: &str, user: &str) -> Page {
        let (url, page) = self.sso(portal, user, |u| u).await;
        assert!(
            url.starts_with(&format!("{portal}/oidc/callback?")),
            "{url}"
        );
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let start = self.get(&format!("{portal}/start")).await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        start
    }
}

/// A query parameter of `url` set to `value`.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}
