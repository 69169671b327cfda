//! The portal driven by a real headless Chromium through chromedriver's W3C WebDriver HTTP API: sign in,
//! issue a teleTAN, read it from `#teletan`, redeem it at the verification service; sign out; a wrong
//! password; a role without the button; a forged form without its CSRF token; and a sign-in at the test
//! OpenID provider.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them). Without them the test
//! skips loudly, or fails under `CI=true`. With `WARNKIT_TEST_PORTAL_SCREENSHOTS=DIR` it saves the sign-in and
//! teleTAN pages as `DIR/portal-login.png` and `DIR/portal-teletan.png` (how `docs/` gets its pictures).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use warnkit_portal::totp;
use warnkit_testkit::Engine;

use crate::harness::{App, PASSWORD};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, stopped (with its browsers) when dropped.
struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await;
            if let Ok(r) = ready {
                if r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
                {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless browser with an empty profile. The flags keep Chromium off the (closed) network.
    async fn session(&self, profile: &Path) -> Browser<'_> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1100,860",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let v = self
            .call(reqwest::Method::POST, "/session", Some(caps))
            .await;
        let id = v["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_owned();
        Browser { driver: self, id }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.expect("a WebDriver answer");
        let status = r.status();
        let v: Value = r.json().await.expect("WebDriver JSON");
        assert!(status.is_success(), "WebDriver {path}: {status} {v}");
        v["value"].clone()
    }
}

/// One WebDriver session: a browser window.
struct Browser<'a> {
    driver: &'a Driver,
    id: String,
}

impl Browser<'_> {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        self.driver.call(method, &path, body).await
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn current_path(&self) -> String {
        let url = self.cmd(reqwest::Method::GET, "/url", None).await;
        let url = url.as_str().unwrap();
        let after_scheme = url.split_once("//").map_or(url, |x| x.1);
        after_scheme
            .find('/')
            .map_or("/".to_owned(), |i| after_scheme[i..].to_owned())
    }

    /// Waits up to 30 s for the browser to be on `path`.
    async fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.current_path().await;
            if now == path {
                return;
            }
            assert!(Instant::now() < deadline, "on {now}, expected {path}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.id);
        let body = json!({"using": "css selector", "value": css});
        let r = self
            .driver
            .http
            .post(format!("{}{path}", self.driver.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let ok = r.status().is_success();
        let v: Value = r.json().await.unwrap();
        if !ok {
            return None;
        }
        v["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// The element, waiting up to 30 s for it (a click's navigation may still be under way).
    async fn element(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(e) = self.find(css).await {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let source = self.cmd(reqwest::Method::GET, "/source", None).await;
        let path = self.current_path().await;
        panic!("no element {css} on {path}: {source}");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        let body = json!({"text": text});
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(body),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let e = self.element(css).await;
        let v = self
            .cmd(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await;
        v.as_str().unwrap().to_owned()
    }

    async fn script(&self, js: &str) -> Value {
        let body = json!({"script": js, "args": []});
        self.cmd(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    async fn screenshot(&self, to: &Path) {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
        std::fs::write(to, png).unwrap();
    }

    async fn sign_in(&self, base: &str, user: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.type_into("input[name=username]", user).await;
        self.type_into("input[name=password]", password).await;
        self.click("button[type=submit]#sign-in").await;
    }

    async fn quit(self) {
        self.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.id),
                None,
            )
            .await;
    }
}

/// Whether this machine can run the test; under CI a missing browser is a failure.
fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and no {CHROMIUM} / {CHROMEDRIVER}: scripts/test installs chromium and chromium-driver");
    }
    eprintln!(
        "!!!!! SKIPPING the browser test: no {CHROMIUM} or {CHROMEDRIVER} \
         (apt-get install chromium chromium-driver, or run scripts/test) !!!!!"
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officer_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let app = App::start(Engine::Sqlite).await.unwrap();
    let base = app.portal.clone();
    let scratch = tempfile::tempdir().unwrap();
    let shots: PathBuf = std::env::var_os("WARNKIT_TEST_PORTAL_SCREENSHOTS")
        .map_or_else(|| scratch.path().to_owned(), PathBuf::from);
    let driver = Driver::start().await;
    let browser = driver.session(&scratch.path().join("profile")).await;

    // A wrong password is refused and leaves the browser on the sign-in form.
    browser.sign_in(&base, "hotline", "not-the-password").await;
    browser.wait_path("/login").await;
    assert!(browser.text("#message").await.contains("not correct"));

    // Sign in, issue, read the teleTAN from the page.
    browser.goto(&format!("{base}/login")).await;
    browser.screenshot(&shots.join("portal-login.png")).await;
    browser.sign_in(&base, "hotline", PASSWORD).await;
    browser.wait_path("/start").await;
    browser.element("#issue-teletan").await;
    browser.click("#issue-teletan").await;
    let shown = browser.text("#teletan").await;
    let teletan: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(teletan.len(), 10, "{shown:?}");
    assert_eq!(
        shown.split_whitespace().count(),
        3,
        "grouped for reading aloud: {shown:?}"
    );
    // The progressive script revealed the copy button and runs the countdown.
    let copy_visible = browser
        .script("return !document.getElementById('copy-teletan').hidden")
        .await;
    assert_eq!(copy_visible, json!(true));
    let countdown = browser.text("#countdown").await;
    assert!(
        countdown.starts_with("10:") || countdown.starts_with("9:"),
        "{countdown}"
    );
    browser.screenshot(&shots.join("portal-teletan.png")).await;

    // The teleTAN works at the verification service: registration, then a TAN.
    let tan = app.redeem(&teletan).await;
    assert_eq!(tan.len(), 36);

    // A forged form without the CSRF token is refused, with the session cookie present.
    browser.goto(&format!("{base}/start")).await;
    browser
        .script("document.querySelector('#issue-teletan').form.querySelector('input[name=csrf]').remove()")
        .await;
    browser.click("#issue-teletan").await;
    assert!(browser
        .text("#message")
        .await
        .contains("did not come from this portal"));
    assert!(browser.find("#teletan").await.is_none());
    assert_eq!(app.teletans().await, 1, "only the first teleTAN was issued");

    // Sign out: the start page is out of reach again.
    browser.goto(&format!("{base}/start")).await;
    browser.click("#sign-out").await;
    browser.wait_path("/login").await;
    browser.goto(&format!("{base}/start")).await;
    browser.wait_path("/login").await;
    browser.quit().await;

    // A health-authority officer has no button, and a hand-made request is refused.
    let other = driver.session(&scratch.path().join("profile2")).await;
    other.sign_in(&base, "ha", PASSWORD).await;
    other.wait_path("/start").await;
    assert!(other.find("#issue-teletan").await.is_none());
    assert!(other.text("#no-role").await.contains("cannot issue"));
    let csrf = other
        .script("return document.querySelector('input[name=csrf]').value")
        .await;
    let forged = format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/teletan'; \
         const i = document.createElement('input'); i.name = 'csrf'; i.value = {csrf}; \
         f.appendChild(i); document.body.appendChild(f); f.submit();"
    );
    other.script(&forged).await;
    other.wait_path("/teletan").await;
    assert!(other.text("#message").await.contains("not allowed"));
    assert!(other.find("#teletan").await.is_none());
    other.quit().await;
    assert_eq!(app.teletans().await, 1);

    // A TOTP account enrols by the code on the page and then reaches the start page.
    let third = driver.session(&scratch.path().join("profile3")).await;
    third.sign_in(&base, "totp", PASSWORD).await;
    third.wait_path("/totp/enrol").await;
    let qr = third.element(".qr svg").await;
    let size = third
        .cmd(reqwest::Method::GET, &format!("/element/{qr}/rect"), None)
        .await;
    assert!(
        size["width"].as_f64().unwrap() >= 200.0,
        "a scannable QR code: {size}"
    );
    let secret = third
        .script("return document.getElementById('totp-secret').dataset.secret")
        .await;
    let key = totp::base32_decode(secret.as_str().unwrap()).unwrap();
    let code = totp::code_at(&key, totp::step(app.clock.now()));
    third.type_into("input[name=code]", &code).await;
    third.click("#verify").await;
    third.wait_path("/start").await;
    third.element("#issue-teletan").await;
    third.quit().await;
}

/// Sign-in at the real OpenID provider in a real browser: the button, the provider's form, back with a
/// code, and a session the `SameSite=Strict` cookie of which the browser does send; then a teleTAN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let Some(o) = crate::idp::OidcApp::start(Engine::Sqlite).await else {
        return;
    };
    let base = o.app.portal.clone();
    let scratch = tempfile::tempdir().unwrap();
    let driver = Driver::start().await;
    let browser = driver.session(&scratch.path().join("profile")).await;
    browser.goto(&format!("{base}/login")).await;
    assert!(browser
        .text("#sign-in-sso")
        .await
        .contains("Sign in with Test IdP"));
    if let Some(dir) = std::env::var_os("WARNKIT_TEST_PORTAL_SCREENSHOTS") {
        let to = PathBuf::from(dir).join("portal-login-sso.png");
        browser.screenshot(&to).await;
    }
    browser.click("#sign-in-sso").await;
    // The provider's own page (its button has an id the portal's pages do not use).
    browser.element("#kc-login").await;
    browser.type_into("#username", "hanna").await;
    browser.type_into("#password", "hanna-password").await;
    browser.click("#kc-login").await;
    browser.wait_path("/start").await;
    assert!(browser.text(".who").await.contains("oidc:hanna"));
    browser.click("#issue-teletan").await;
    let shown = browser.text("#teletan").await;
    let teletan: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(teletan.len(), 10, "{shown:?}");
    assert_eq!(o.app.redeem(&teletan).await.len(), 36);
    browser.quit().await;
}
