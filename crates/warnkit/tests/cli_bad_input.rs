//! Bad input to every `warnkit` subcommand that takes input: empty, malformed, oversized and
//! wrong-type arguments and files. Each must end with a non-zero exit and a message that names the
//! problem, print nothing on standard output and write no output file: never a silent success.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{start, BIN};

/// A GUID in the shape of a test's QR code.
const GUID: &str = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
const TEK: &str = "75c734c6dd1a782de7a965da5eb93125";

/// Files of every kind of bad input, and good ones to pair them with, in a temporary directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Self { dir };
        files.write("empty", b"");
        files.write("text", b"this is not what you are looking for\n");
        files.write("object.json", br#"{"keys": []}"#);
        files.write("array.json", b"[]");
        files.write("broken.json", b"[{\"key_data\": ");
        files.write("broken.toml", b"data_dir = [\n");
        files.write("unknown.toml", b"[portal]\nhealth_authorities_typo = []\n");
        files.write(
            "keys.json",
            format!(r#"[{{"key_data": "{TEK}", "rolling_start_interval_number": 2700000}}]"#)
                .as_bytes(),
        );
        files.write(
            "no-such-scenario.toml",
            b"name = \"x\"\n[[encounters]]\ncolour = 1\n",
        );
        std::fs::create_dir(files.path("a-directory")).expect("mkdir");
        // Sparse: larger than any export file and any key file, without writing 65 MiB.
        let big = std::fs::File::create(files.path("oversized")).expect("create");
        big.set_len(65 << 20).expect("set_len");
        let keygen = run(&["keygen", "--out", &files.arg("keys")]);
        assert!(keygen.status.success(), "{}", stderr(&keygen));
        let build = run(&[
            "export",
            "build",
            "--keys",
            &files.arg("keys.json"),
            "--signing-key",
            &files.arg("keys/signing-key.pem"),
            "--region",
            "DE",
            "--out",
            &files.arg("good.zip"),
        ]);
        assert!(build.status.success(), "{}", stderr(&build));
        files
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8").to_owned()
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).expect("write");
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run warnkit")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs each case and collects every one that succeeded, printed data or gave no clear message, so a
/// failure lists them all at once.
fn refused(cases: &[(Vec<String>, &str)], no_file: Option<&Path>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let err = stderr(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() || out.status.code().is_none() {
            wrong.push(format!("{args:?}: exit {:?}, stderr {err:?}", out.status));
        } else if !err.to_lowercase().contains(&needle.to_lowercase()) {
            wrong.push(format!("{args:?}: no {needle:?} in {err:?}"));
        } else if !err.starts_with("error: ") {
            wrong.push(format!(
                "{args:?}: the message is not one error line: {err:?}"
            ));
        } else if !stdout.trim().is_empty() {
            wrong.push(format!("{args:?}: printed {stdout:?} besides the error"));
        }
        if let Some(file) = no_file.filter(|f| f.exists()) {
            wrong.push(format!("{args:?}: wrote {} anyway", file.display()));
            std::fs::remove_file(file).expect("remove");
        }
    }
    wrong
}

/// `(args, needle)` pairs from string slices.
fn cases(list: &[(&[&str], &'static str)]) -> Vec<(Vec<String>, &'static str)> {
    list.iter()
        .map(|(args, needle)| (args.iter().map(|a| (*a).to_owned()).collect(), *needle))
        .collect()
}

#[test]
fn protocol_commands_refuse_bad_arguments_and_files() {
    let f = Files::new();
    let (empty, text, oversized, dir) = (
        f.arg("empty"),
        f.arg("text"),
        f.arg("oversized"),
        f.arg("a-directory"),
    );
    let (good_zip, public, private) = (
        f.arg("good.zip"),
        f.arg("keys/public-key.pem"),
        f.arg("keys/signing-key.pem"),
    );
    let missing = f.arg("missing");
    let tek = ["en", "derive", "--interval", "2642976", "--tek"];
    let with_tek = |rest: &[&str]| {
        let mut args = vec!["en", "derive", "--tek", TEK];
        args.extend(rest);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let mut list = cases(&[
        (&[&tek[..], &[""]].concat(), "expected 32 hex digits, got 0"),
        (&[&tek[..], &["zz".repeat(16).as_str()]].concat(), "not hex"),
        (
            &[&tek[..], &["ab".repeat(17).as_str()]].concat(),
            "expected 32 hex digits",
        ),
        (&["export", "inspect", &empty], "not a readable zip"),
        (&["export", "inspect", &text], "not a readable zip"),
        (
            &["export", "inspect", &oversized],
            "larger than any export file",
        ),
        (&["export", "inspect", &dir], "directory"),
        (&["export", "inspect", &missing], "no such file"),
        (
            &["export", "inspect", &f.arg("keys.json")],
            "not a readable zip",
        ),
        (
            &["export", "verify", &good_zip, "--public-key", &empty],
            "empty",
        ),
        (
            &["export", "verify", &good_zip, "--public-key", &text],
            "neither an SPKI PEM",
        ),
        (
            &["export", "verify", &good_zip, "--public-key", &oversized],
            "no public key",
        ),
        (
            &["export", "verify", &good_zip, "--public-key", &private],
            "a private key",
        ),
        (
            &["export", "verify", &good_zip, "--public-key", &dir],
            "directory",
        ),
        (
            &["export", "verify", &good_zip, "--public-key", &missing],
            "no such file",
        ),
        (
            &["export", "verify", &empty, "--public-key", &public],
            "not a readable zip",
        ),
        (
            &["export", "verify", &oversized, "--public-key", &public],
            "larger than any",
        ),
        (
            &["export", "verify", &public, "--public-key", &public],
            "not a readable zip",
        ),
    ]);
    list.extend([
        (with_tek(&["--interval", "x"]), "invalid value 'x'"),
        (
            with_tek(&["--interval", "4294967295", "--count", "2"]),
            "largest interval",
        ),
        (with_tek(&["--interval", "1", "--count", "0"]), "--count"),
        (
            with_tek(&["--interval", "1", "--metadata", "123"]),
            "expected 8 hex digits",
        ),
        (
            with_tek(&["--interval", "1", "--metadata", "4008000g"]),
            "not hex",
        ),
        (
            with_tek(&["--interval", "1", "--json", "--metadata", ""]),
            "--metadata",
        ),
    ]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );

    // `export build`: no archive may appear for any bad input.
    let out = f.path("built.zip");
    let build = |keys: &str, signing: &str, region: &str| -> Vec<String> {
        [
            "export",
            "build",
            "--keys",
            keys,
            "--signing-key",
            signing,
            "--region",
            region,
            "--out",
            out.to_str().expect("utf-8"),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    };
    let keys = f.arg("keys.json");
    f.write(
        "bad-key.json",
        br#"[{"key_data": "00", "rolling_start_interval_number": 1}]"#,
    );
    let list = vec![
        (build(&empty, &private, "DE"), "not a JSON array of keys"),
        (
            build(&f.arg("broken.json"), &private, "DE"),
            "not a JSON array of keys",
        ),
        (
            build(&f.arg("object.json"), &private, "DE"),
            "expected a sequence",
        ),
        (build(&f.arg("array.json"), &private, "DE"), "no keys"),
        (build(&f.arg("bad-key.json"), &private, "DE"), "key_data"),
        (build(&dir, &private, "DE"), "directory"),
        (
            build(&keys, &public, "DE"),
            "not a PKCS#8 P-256 private key",
        ),
        (build(&keys, &empty, "DE"), "private key"),
        (build(&keys, &missing, "DE"), "no such file"),
        (build(&keys, &private, ""), "region code"),
        (build(&keys, &private, "D E"), "region code"),
        (build(&keys, &private, "REGIONTOOLONG"), "region code"),
    ];
    let wrong = refused(&list, Some(&out));
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn risk_sim_and_config_commands_refuse_bad_files() {
    let f = Files::new();
    let (empty, text, dir, missing) = (
        f.arg("empty"),
        f.arg("text"),
        f.arg("a-directory"),
        f.arg("missing"),
    );
    let (object, broken, array) = (
        f.arg("object.json"),
        f.arg("broken.json"),
        f.arg("array.json"),
    );
    let list = cases(&[
        (&["risk", "v1", "--exposures", &empty], "EOF while parsing"),
        (
            &["risk", "v1", "--exposures", &object],
            "expected a sequence",
        ),
        (&["risk", "v1", "--exposures", &dir], "directory"),
        (
            &["risk", "v1", "--exposures", &array, "--config", &broken],
            "v1 config",
        ),
        (&["risk", "v2", "--windows", &broken], "exposure windows"),
        (&["risk", "v2", "--windows", &text], "exposure windows"),
        (&["risk", "v2", "--windows", &missing], "no such file"),
        (
            &["risk", "v2", "--windows", &array, "--config", &object],
            "unknown field",
        ),
        (&["risk", "defaults", "v3"], "possible values"),
        (
            &["sim", "ble", "--scenario", "nonesuch"],
            "no built-in scenario",
        ),
        (
            &["sim", "ble", "--scenario", &f.arg("broken.toml")],
            "scenario is not valid",
        ),
        (
            &["sim", "ble", "--scenario", &f.arg("no-such-scenario.toml")],
            "scenario",
        ),
        (
            &["sim", "whatif", "--config", &object],
            "not a v2 risk configuration",
        ),
        (&["sim", "whatif", "--config", &empty], "not JSON"),
        (
            &["config", "--config", &f.arg("broken.toml")],
            "TOML parse error",
        ),
        (
            &["config", "--config", &f.arg("unknown.toml")],
            "unknown field",
        ),
        (&["config", "--config", &object], "TOML parse error"),
        (&["config", "--config", &missing], "no such file"),
        (&["config", "--json", "--config", &dir], "directory"),
        (&["keygen", "--out", &empty], "exists"),
        (&["sim", "plots", "--out", &empty], "exists"),
    ]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn operator_commands_refuse_bad_arguments() {
    let f = Files::new();
    let data = f.arg("data");
    let (empty, private, missing) = (
        f.arg("empty"),
        f.arg("keys/signing-key.pem"),
        f.arg("missing"),
    );
    let public = f.arg("keys/public-key.pem");
    let list = cases(&[
        (
            &["lab", "key", "create", "--lab", "", "--data-dir", &data],
            "lab id",
        ),
        (
            &["lab", "key", "create", "--lab", "a b", "--data-dir", &data],
            "lab id",
        ),
        (
            &[
                "lab",
                "key",
                "create",
                "--lab",
                &"x".repeat(65),
                "--data-dir",
                &data,
            ],
            "lab id",
        ),
        (
            &[
                "lab",
                "key",
                "revoke",
                "--lab",
                "nosuch",
                "--data-dir",
                &data,
            ],
            "no lab",
        ),
        (
            &["teletan", "create", "--type", "PCR", "--data-dir", &data],
            "possible values",
        ),
        (
            &[
                "portal",
                "user",
                "add",
                "--user",
                "",
                "--role",
                "hotline",
                "--data-dir",
                &data,
            ],
            "user names",
        ),
        (
            &[
                "portal",
                "user",
                "add",
                "--user",
                "Ann Lee",
                "--role",
                "hotline",
                "--data-dir",
                &data,
            ],
            "user names",
        ),
        (
            &[
                "portal",
                "user",
                "add",
                "--user",
                "ann",
                "--role",
                "boss",
                "--data-dir",
                &data,
            ],
            "roles are",
        ),
        (
            &[
                "portal",
                "user",
                "remove",
                "--user",
                "nosuch",
                "--data-dir",
                &data,
            ],
            "no account",
        ),
        (
            &[
                "portal",
                "user",
                "role",
                "--user",
                "nosuch",
                "--role",
                "event",
                "--data-dir",
                &data,
            ],
            "no account",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "fr",
                "--public-key",
                &public,
            ],
            "country code",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "",
                "--public-key",
                &public,
            ],
            "country code",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "FR",
                "--public-key",
                &private,
            ],
            "a private key",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "FR",
                "--public-key",
                &empty,
            ],
            "empty",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "FR",
                "--public-key",
                &missing,
            ],
            "no such file",
        ),
        (
            &["distribute", "--data-dir", &data, "--now", "yesterday"],
            "not an RFC 3339 time",
        ),
        (
            &["audit", "--data-dir", &data, "--since", "last week"],
            "not a time",
        ),
        (&["status", "--data-dir", &missing], "does not exist"),
        (
            &[
                "restore",
                "--from",
                &missing,
                "--data-dir",
                &f.arg("restored"),
            ],
            "backup",
        ),
        (
            &["backup", "--data-dir", &data, "--to", &f.arg("a-directory")],
            "exists",
        ),
    ]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn lab_post_refuses_what_is_no_guid_or_hash_before_sending() {
    // Port 9 (discard) on loopback: nothing listens, so a request that went out would fail with a
    // connection error, never with the validation messages asserted here.
    let url = "http://127.0.0.1:9";
    let post = |id_flag: &str, id: &str, result: &str| -> Vec<String> {
        [
            "lab", "post", "--url", url, "--key", "k", id_flag, id, "--result", result,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    };
    let hash = "ab".repeat(32);
    let list = vec![
        (post("--guid", "", "positive"), "--guid: the GUID is empty"),
        (
            post("--guid", "hello world", "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", " 3D6D08", "positive"),
            "is not a test's GUID",
        ),
        (post("--guid", "hello", "positive"), "is not a test's GUID"),
        (
            post("--guid", &GUID[..GUID.len() - 1], "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", &GUID.replace('-', ""), "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", &format!("{GUID}-0"), "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", &"Z".repeat(10_000), "positive"),
            "is not a test's GUID",
        ),
        (
            post("--guid", "https://localhost/?", "positive"),
            "the GUID is empty",
        ),
        (
            post(
                "--guid",
                &format!("https://example.org/?{GUID}"),
                "positive",
            ),
            "is not a test's GUID",
        ),
        (post("--guid", &hash, "positive"), "looks like a SHA-256"),
        (post("--guid", GUID, "rapid-positive"), "--hash"),
        (post("--guid", GUID, "maybe"), "possible values"),
        (post("--hash", "", "rapid-positive"), "not a SHA-256"),
        (post("--hash", "abc", "rapid-positive"), "not a SHA-256"),
        (
            post("--hash", &"g".repeat(64), "rapid-positive"),
            "not a SHA-256",
        ),
        (
            post("--hash", &"a".repeat(65), "rapid-positive"),
            "not a SHA-256",
        ),
        (post("--hash", &hash, "positive"), "--guid"),
    ];
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn lab_post_reports_the_services_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, endpoints) = start(dir.path(), &[]);
    let url = endpoints["testresult"].as_str().expect("testresult url");
    // A well-formed request with a key the service does not know: refused there, and said so here.
    let list = cases(&[(
        &[
            "lab",
            "post",
            "--url",
            url,
            "--key",
            "wk_lab_unknown",
            "--guid",
            GUID,
            "--result",
            "positive",
        ],
        "answered 401",
    )]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
    // Nothing listens on the discard port: a connection error, named as such.
    let list = cases(&[(
        &[
            "lab",
            "post",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "k",
            "--guid",
            GUID,
            "--result",
            "positive",
        ],
        "posting to http://127.0.0.1:9",
    )]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}
