//! The operator commands against a running `warnkit serve`: lab keys listed and revoked (a revoked key is
//! refused on its next post), portal accounts listed, disabled (no sign-in, sessions end) and enabled, and
//! `warnkit audit` showing each of these, merged across the services' databases, without any teleTAN.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use warnkit_testkit::{Engine, TestDb};

use crate::common;
use common::BIN;

/// The Unix user the commands run as, so their audit rows name a known actor.
const OPERATOR: &str = "opal";

/// A data directory, and on PostgreSQL the database every service keeps its data in.
struct Data {
    db: TestDb,
}

impl Data {
    /// `None` when PostgreSQL is unavailable outside CI (after a loud line).
    fn new(engine: Engine) -> Option<Data> {
        Some(Data {
            db: TestDb::new(engine)?,
        })
    }

    /// `--data-dir DIR`, and `--database-url URL` on PostgreSQL: what every command and the server get.
    fn args(&self) -> Vec<&str> {
        let mut args = vec!["--data-dir", self.db.dir().to_str().unwrap()];
        if let Some(url) = self.db.postgres_url() {
            args.extend(["--database-url", url]);
        }
        args
    }
}

/// `warnkit ARGS` on `d` as [`OPERATOR`], with `stdin` (closed when `None`).
fn run(d: &Data, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .args(d.args())
        .env("USER", OPERATOR)
        .env_remove("SUDO_USER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// [`run`], asserting success: its standard output.
fn ok(d: &Data, args: &[&str]) -> String {
    let out = run(d, args, None);
    assert!(
        out.status.success(),
        "warnkit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// [`run`], asserting failure: its standard error.
fn fails(d: &Data, args: &[&str]) -> String {
    let out = run(d, args, None);
    assert!(!out.status.success(), "warnkit {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// Each line of `text` as JSON.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// `warnkit audit --json EXTRA...`.
fn audit(d: &Data, extra: &[&str]) -> Vec<Value> {
    json_lines(&ok(d, &[&["audit", "--json"][..], extra].concat()))
}

/// The (actor, action, subject) of audit rows.
fn triples(rows: &[Value]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("actor"), s("action"), s("subject"))
        })
        .collect()
}

/// Posts a positive PCR result with `key` to the test-result service: the answer's status.
async fn post_result(testresult: &str, key: &str) -> u16 {
    let body = serde_json::json!({"testResults": [{"id": "a".repeat(64), "result": 2}]});
    reqwest::Client::new()
        .post(format!("{testresult}/api/v1/lab/results"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Expands `async fn suite(d: Data)` into a test per engine, `sqlite` and `postgres`.
macro_rules! on_both {
    ($suite:ident) => {
        mod $suite {
            #[tokio::test]
            async fn sqlite() {
                if let Some(d) = super::Data::new(super::Engine::Sqlite) {
                    super::$suite(d).await;
                }
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(d) = super::Data::new(super::Engine::Postgres) {
                    super::$suite(d).await;
                }
            }
        }
    };
}

/// `warnkit serve --only SERVICES` on `d`.
fn serve(d: &Data, services: &str) -> (common::Server, Value) {
    let mut extra = vec!["--only", services];
    extra.extend(d.args().into_iter().skip(2));
    common::start(d.db.dir(), &extra)
}

on_both!(revoked_lab_keys_are_refused_at_once);
async fn revoked_lab_keys_are_refused_at_once(data: Data) {
    let d = &data;
    let (_server, endpoints) = serve(d, "testresult");
    let testresult = endpoints["testresult"].as_str().unwrap().to_owned();
    let old = ok(d, &["lab", "key", "create", "--lab", "lab-a"]);
    let new = ok(d, &["lab", "key", "create", "--lab", "lab-a"]);
    let other = ok(d, &["lab", "key", "create", "--lab", "lab-b"]);
    let (old, new, other) = (old.trim(), new.trim(), other.trim());
    for key in [old, new, other] {
        assert_eq!(post_result(&testresult, key).await, 204, "{key}");
    }

    // The list names keys by id, never by value.
    let listed = ok(d, &["lab", "key", "list", "--json"]);
    for key in [old, new, other] {
        assert!(!listed.contains(key), "a key in the list: {listed}");
    }
    let keys = json_lines(&listed);
    assert_eq!(keys.len(), 3, "{listed}");
    let id_of = |key: &str| {
        let hash = sha256_hex(key);
        let id = keys
            .iter()
            .map(|k| k["id"].as_str().unwrap())
            .find(|id| hash.starts_with(id))
            .expect("every key listed")
            .to_owned();
        id
    };
    let old_id = id_of(old);
    assert!(keys.iter().all(|k| k["revoked"].is_null()));

    // One key of a lab: refused on its next post, the lab's other key still works.
    ok(
        d,
        &["lab", "key", "revoke", "--lab", "lab-a", "--key", &old_id],
    );
    assert_eq!(post_result(&testresult, old).await, 401);
    assert_eq!(post_result(&testresult, new).await, 204);
    // The whole lab: every key of it refused, other labs untouched.
    ok(d, &["lab", "key", "revoke", "--lab", "lab-a"]);
    assert_eq!(post_result(&testresult, new).await, 401);
    assert_eq!(post_result(&testresult, other).await, 204);

    let keys = json_lines(&ok(d, &["lab", "key", "list", "--json"]));
    let revoked: Vec<bool> = keys.iter().map(|k| !k["revoked"].is_null()).collect();
    let labs: Vec<&str> = keys.iter().map(|k| k["lab"].as_str().unwrap()).collect();
    assert_eq!(labs, ["lab-a", "lab-a", "lab-b"]);
    assert_eq!(revoked, [true, true, false]);
    let table = ok(d, &["lab", "key", "list"]);
    assert!(table.starts_with("KEY ID"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");

    // Unknown labs and keys are clear errors that change nothing.
    let err = fails(d, &["lab", "key", "revoke", "--lab", "lab-z"]);
    assert!(err.contains("there is no lab \"lab-z\""), "{err}");
    let err = fails(
        d,
        &["lab", "key", "revoke", "--lab", "lab-b", "--key", &old_id],
    );
    assert!(err.contains("has no key"), "{err}");
    assert_eq!(post_result(&testresult, other).await, 204);

    // The trail: three keys created and two revoked, by the operator, with ids and no key.
    let rows = audit(d, &["--action", "lab-key"]);
    let actions: Vec<String> = triples(&rows).into_iter().map(|t| t.1).collect();
    assert_eq!(
        actions,
        [
            "lab-key.create",
            "lab-key.create",
            "lab-key.create",
            "lab-key.revoke",
            "lab-key.revoke"
        ]
    );
    for (actor, _, subject) in triples(&rows) {
        assert_eq!(actor, format!("cli:{OPERATOR}"));
        for key in [old, new, other] {
            assert!(!subject.contains(key));
        }
    }
    assert_eq!(
        rows[3]["subject"].as_str().unwrap(),
        format!("lab-a key {old_id}")
    );
    assert!(rows.iter().all(|r| r["service"] == "testresult"));
}

/// SHA-256 hex, as the service keeps a lab key.
fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// An HTTP client that shows each redirect instead of following it.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` of every `Set-Cookie`, joined for a `Cookie` header.
fn cookies(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

fn csrf(body: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).unwrap() + marker.len();
    body[start..start + 64].to_owned()
}

/// Signs in over HTTP: the session cookie, or the status of the refusal.
async fn sign_in(
    http: &reqwest::Client,
    portal: &str,
    user: &str,
    password: &str,
) -> Result<String, u16> {
    let form = http.get(format!("{portal}/login")).send().await.unwrap();
    let jar = cookies(&form);
    let token = csrf(&form.text().await.unwrap());
    let body = format!("csrf={token}&username={user}&password={password}");
    let r = http
        .post(format!("{portal}/login"))
        .header("cookie", jar)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    if r.status() == 303 {
        Ok(cookies(&r))
    } else {
        Err(r.status().as_u16())
    }
}

/// The start page with `session`, or `None` when sent to the sign-in page.
async fn start_page(http: &reqwest::Client, portal: &str, session: &str) -> Option<String> {
    let r = http
        .get(format!("{portal}/start"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        return None;
    }
    Some(r.text().await.unwrap())
}

/// Issues a TEST teleTAN through the portal with `session`: its value.
async fn portal_teletan(http: &reqwest::Client, portal: &str, session: &str) -> String {
    let start = start_page(http, portal, session).await.expect("signed in");
    let page = http
        .post(format!("{portal}/teletan"))
        .header("cookie", session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", csrf(&start)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    let marker = r#"data-value=""#;
    let at = body.find(marker).unwrap() + marker.len();
    body[at..at + 10].to_owned()
}

on_both!(disabled_officers_cannot_sign_in_and_the_trail_shows_who_did_what);
async fn disabled_officers_cannot_sign_in_and_the_trail_shows_who_did_what(data: Data) {
    let d = &data;
    let add = |user: &str, password: &str| {
        let args = ["portal", "user", "add", "--user", user, "--role", "hotline"];
        let out = run(d, &[&args[..], &["--no-totp"]].concat(), Some(password));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    add("ann", "ann-password-1\n");
    add("bob", "bob-password-2\n");
    let (_server, endpoints) = serve(d, "verification,testresult,portal");
    let portal = endpoints["portal"].as_str().unwrap().to_owned();
    let http = no_redirects();

    let session = sign_in(&http, &portal, "ann", "ann-password-1")
        .await
        .expect("ann signs in");
    let from_portal = portal_teletan(&http, &portal, &session).await;
    // A name that is no account, and a wrong password for one that is.
    assert_eq!(
        sign_in(&http, &portal, "ann-password-1", "x").await,
        Err(401)
    );
    assert_eq!(
        sign_in(&http, &portal, "bob", "not-his-password").await,
        Err(401)
    );

    let users = json_lines(&ok(d, &["portal", "user", "list", "--json"]));
    let names: Vec<&str> = users.iter().map(|u| u["user"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "bob"]);
    assert!(users[0]["last_sign_in"].is_string(), "{users:?}");
    assert!(users[1]["last_sign_in"].is_null(), "{users:?}");
    assert_eq!(users[0]["roles"], serde_json::json!(["hotline"]));
    assert!(users.iter().all(|u| u["disabled"] == false));

    // Disabled: the running session ends at once and the right password no longer signs in.
    let out = run(d, &["portal", "user", "disable", "--user", "ann"], None);
    assert!(out.status.success());
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(said.contains("1 session(s) ended"), "{said}");
    assert!(start_page(&http, &portal, &session).await.is_none());
    assert_eq!(
        sign_in(&http, &portal, "ann", "ann-password-1").await,
        Err(401)
    );
    let table = ok(d, &["portal", "user", "list"]);
    let ann = table.lines().find(|l| l.starts_with("ann ")).unwrap();
    assert!(ann.contains(" yes "), "{table}");
    let users = json_lines(&ok(d, &["portal", "user", "list", "--json"]));
    assert_eq!(users[0]["disabled"], true);

    // Enabled again: the same password signs in.
    ok(d, &["portal", "user", "enable", "--user", "ann"]);
    assert!(sign_in(&http, &portal, "ann", "ann-password-1")
        .await
        .is_ok());
    let err = fails(d, &["portal", "user", "disable", "--user", "nobody"]);
    assert!(err.contains("there is no account \"nobody\""), "{err}");

    // `passwd`, also called `reset`, is the password reset.
    let out = run(
        d,
        &["portal", "user", "reset", "--user", "bob"],
        Some("bob-new-password-3\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sign_in(&http, &portal, "bob", "bob-new-password-3")
        .await
        .is_ok());

    // A teleTAN from the command line, recorded in the verification database.
    let created: Value = serde_json::from_str(&ok(d, &["teletan", "create", "--json"])).unwrap();
    let from_cli = created["teletan"].as_str().unwrap().to_owned();

    let rows = audit(d, &[]);
    let got = triples(&rows);
    let cli = format!("cli:{OPERATOR}");
    let want = |actor: &str, action: &str, subject: &str| {
        let t = (actor.to_owned(), action.to_owned(), subject.to_owned());
        assert!(got.contains(&t), "{t:?} in {got:#?}");
        got.iter().position(|g| *g == t).unwrap()
    };
    let added = want(&cli, "user.add", "ann hotline (no totp)");
    let signed = want("ann", "portal.sign-in", "password");
    let issued = want("ann", "teletan.issue", "TEST");
    want(
        "(unknown)",
        "portal.sign-in-refused",
        "wrong user name or password",
    );
    want(
        "bob",
        "portal.sign-in-refused",
        "wrong user name or password",
    );
    let disabled = want(&cli, "user.disable", "ann");
    let refused = want("ann", "portal.sign-in-refused", "account disabled");
    let enabled = want(&cli, "user.enable", "ann");
    want(&cli, "user.passwd", "bob");
    let cli_issued = want(&cli, "teletan.issue", "TEST");
    // Time order across the portal's and the verification service's trails.
    assert!(added < signed && signed < issued && issued < disabled);
    assert!(disabled < refused && refused < enabled && enabled < cli_issued);
    let service = |i: usize| rows[i]["service"].as_str().unwrap();
    assert_eq!(
        (service(issued), service(cli_issued)),
        ("portal", "verification")
    );

    // Never a teleTAN, nor a name typed in place of an account (here a password), in any column.
    for row in &rows {
        for column in ["actor", "action", "subject"] {
            let value = row[column].as_str().unwrap();
            for secret in [from_portal.as_str(), from_cli.as_str(), "ann-password-1"] {
                assert!(!value.contains(secret), "{secret} in {row}");
            }
        }
    }
    let text = ok(d, &["audit"]);
    assert!(!text.contains(&from_portal) && !text.contains(&from_cli));

    // Filters: by actor, by area, newest only, from a time on; a bad time is refused.
    let ann = audit(d, &["--actor", "ann"]);
    assert!(
        ann.iter().all(|r| r["actor"] == "ann") && ann.len() >= 4,
        "{ann:?}"
    );
    let users = audit(d, &["--action", "user"]);
    assert!(users
        .iter()
        .all(|r| r["action"].as_str().unwrap().starts_with("user.")));
    assert_eq!(users.len(), 5, "{users:?}");
    let newest = audit(d, &["--limit", "1"]);
    assert_eq!(triples(&newest), [got.last().unwrap().clone()]);
    // `--since` counts whole seconds: every row from the start of that second on, and no other.
    let from = rows[enabled]["time"].as_str().unwrap();
    let second = rows[enabled]["at_micros"].as_i64().unwrap() / 1_000_000 * 1_000_000;
    let expected: Vec<_> = rows
        .iter()
        .filter(|r| r["at_micros"].as_i64().unwrap() >= second)
        .cloned()
        .collect();
    assert_eq!(audit(d, &["--since", from]), expected);
    assert!(audit(d, &["--since", "2999-01-01"]).is_empty());
    let err = fails(d, &["audit", "--since", "yesterday"]);
    assert!(err.contains("is not a time"), "{err}");
}
