//! What the commands print: `--json` where they print data, RFC 3339 beside Unix seconds, public keys
//! in every form they are published in, and the portal's warning about the event role.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::BIN;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");
/// The 140-key sample's public key as it is published: the bare base64 of its SPKI.
const SAMPLE_140_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE49JY6kekDgxj3Crm4y6kEHdfoKQFSNDM4mV9cgDb+e5nOAw0GeRoRThCu9/wX5wDT2QloFoOjl2pGZHI0f3C3w==";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run warnkit")
}

/// Runs `warnkit ARGS`, asserts success and returns stdout and stderr.
fn ok(args: &[&str]) -> (String, String) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "warnkit {args:?}: {err}");
    (String::from_utf8(out.stdout).expect("utf-8"), err)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn en_derive_json_carries_the_same_values_as_the_lines() {
    let base = [
        "en",
        "derive",
        "--tek",
        "75c734c6dd1a782de7a965da5eb93125",
        "--interval",
        "2642976",
        "--count",
        "3",
        "--metadata",
        "40080000",
    ];
    let (lines, _) = ok(&base);
    let (objects, _) = ok(&[&base[..], &["--json"]].concat());
    let lines: Vec<&str> = lines.lines().collect();
    let objects: Vec<Value> = objects.lines().map(json).collect();
    assert_eq!((lines.len(), objects.len()), (3, 3));
    for (line, object) in lines.iter().zip(&objects) {
        let enin = object["enin"].as_u64().expect("enin");
        let expected = format!(
            "{enin} {} {}",
            object["rpi"].as_str().expect("rpi"),
            object["aem"].as_str().expect("aem")
        );
        assert_eq!(*line, expected);
        assert_eq!(object["unix"].as_u64(), Some(enin * 600));
    }
    // ENIN 2642976 starts at 1585785600 s: 2020-04-02T00:00:00Z, then ten minutes on each.
    assert_eq!(objects[0]["time"], "2020-04-02T00:00:00Z");
    assert_eq!(objects[2]["time"], "2020-04-02T00:20:00Z");
}

#[test]
fn export_inspect_prints_rfc3339_beside_unix_seconds() {
    let sample = format!("{TESTDATA}/export-sample-140-keys.zip");
    let (view, _) = ok(&["export", "inspect", &sample, "--json"]);
    let v = json(&view);
    for (unix, text) in [
        ("start_timestamp", "start_time"),
        ("end_timestamp", "end_time"),
    ] {
        let seconds = v[unix].as_i64().expect("unix seconds");
        let time = v[text].as_str().expect("RFC 3339");
        // Computed independently of warnkit: days since the epoch, then the time of day.
        let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        assert!(time.ends_with(&format!(
            "T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )));
        assert_eq!(civil_day(&time[..10]), days, "{time} is not day {days}");
    }
    let (table, _) = ok(&["export", "inspect", &sample]);
    let window = table
        .lines()
        .find(|l| l.starts_with("window"))
        .expect("window line");
    let expected = format!(
        "{} ({}) .. {} ({})",
        v["start_time"].as_str().expect("start"),
        v["start_timestamp"],
        v["end_time"].as_str().expect("end"),
        v["end_timestamp"]
    );
    assert!(window.ends_with(&expected), "{window} / {expected}");
}

/// Days since 1970-01-01 of `YYYY-MM-DD`, counted day by day from the year's start.
fn civil_day(date: &str) -> i64 {
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().expect("number"))
        .collect();
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: i64 = (1970..parts[0])
        .map(|y| if leap(y) { 366 } else { 365 })
        .sum();
    let months = [
        31,
        if leap(parts[0]) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += months[..(parts[1] - 1) as usize].iter().sum::<i64>();
    days + parts[2] - 1
}

#[test]
fn public_keys_verify_in_every_published_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one_line = dir.path().join("one-line.pem");
    std::fs::write(
        &one_line,
        format!("-----BEGIN PUBLIC KEY-----\n{SAMPLE_140_KEY}\n-----END PUBLIC KEY-----\n"),
    )
    .expect("write");
    let bare = dir.path().join("key.b64");
    std::fs::write(&bare, format!("{SAMPLE_140_KEY}\n")).expect("write");
    // The forms accepted here are those OpenSSL accepts, when it is installed to ask.
    if let Ok(out) = Command::new("openssl")
        .args(["pkey", "-pubin", "-noout", "-in", arg(&one_line)])
        .output()
    {
        assert!(out.status.success(), "openssl refuses the one-line PEM");
    }
    let sample = format!("{TESTDATA}/export-sample-140-keys.zip");
    for key in [&one_line, &bare] {
        let (out, _) = ok(&[
            "export",
            "verify",
            &sample,
            "--public-key",
            arg(key),
            "--json",
        ]);
        let v = json(&out);
        assert_eq!(v["verified"], true, "{}: {out}", key.display());
        assert_eq!(
            (v["key_id"].as_str(), v["keys"].as_u64()),
            (Some("310"), Some(140))
        );
    }
    // The wrong key: exit 1 and the reason, in JSON too.
    let wrong = run(&[
        "export",
        "verify",
        &sample,
        "--public-key",
        &format!("{TESTDATA}/export-sample-2-keys.public.pem"),
        "--json",
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    let v = json(&String::from_utf8_lossy(&wrong.stdout));
    assert_eq!(v["verified"], false);
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");

    // The gateway takes a member's key in the same forms.
    let (entry, _) = ok(&[
        "gateway",
        "country",
        "add",
        "--code",
        "FR",
        "--public-key",
        arg(&bare),
        "--json",
    ]);
    assert_eq!(json(&entry)["code"], "FR");
}

#[test]
fn operator_commands_print_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    let (out, _) = ok(&["keygen", "--out", arg(&keys), "--json"]);
    let v = json(&out);
    let pem = std::fs::read_to_string(keys.join("public-key.pem")).expect("public key");
    assert_eq!(v["public_key_pem"].as_str(), Some(pem.as_str()));
    assert!(Path::new(v["private_key"].as_str().expect("path")).exists());

    let (out, _) = ok(&[
        "lab",
        "key",
        "create",
        "--lab",
        "lab-7",
        "--data-dir",
        arg(&data),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["lab"], "lab-7");
    let key = v["key"].as_str().expect("key");
    let (listed, _) = ok(&["lab", "key", "list", "--data-dir", arg(&data), "--json"]);
    assert_eq!(json(listed.lines().next().expect("a key"))["lab"], "lab-7");
    assert!(!listed.contains(key), "the key itself is listed");

    let (toml_text, _) = ok(&["config", "--data-dir", arg(&data)]);
    let (json_text, _) = ok(&["config", "--data-dir", arg(&data), "--json"]);
    let from_toml: Value = toml::from_str::<toml::Value>(&toml_text)
        .map(|t| serde_json::to_value(t).expect("to JSON"))
        .expect("TOML");
    let from_json = json(&json_text);
    assert_eq!(from_json["data_dir"].as_str(), Some(arg(&data)));
    // TOML has no null, so unset settings appear only in the JSON; everything else is the same.
    assert!(
        from_toml.as_object().is_some_and(|t| t.len() > 3),
        "{toml_text}"
    );
    assert_eq!(without_nulls(from_json), from_toml);

    let config = dir.path().join("gateway.toml");
    let (entry, _) = ok(&[
        "gateway",
        "country",
        "add",
        "--code",
        "FR",
        "--public-key",
        arg(&keys.join("public-key.pem")),
        "--json",
    ]);
    std::fs::write(&config, json(&entry)["toml"].as_str().expect("toml")).expect("write");
    let (list, _) = ok(&[
        "gateway",
        "country",
        "list",
        "--config",
        arg(&config),
        "--json",
    ]);
    let country = json(list.trim());
    assert_eq!(country["code"], "FR");
    assert_eq!(country["key_sha256"].as_str().map(str::len), Some(64));
}

/// `value` with every null member of an object removed, at any depth.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[test]
fn the_event_role_warns_without_health_authorities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (_, err) = ok(&[
        "portal",
        "user",
        "add",
        "--user",
        "eve",
        "--role",
        "event",
        "--no-totp",
        "--data-dir",
        arg(&data),
    ]);
    assert!(err.contains("warning: no health authorities"), "{err}");
    assert!(err.contains("[[portal.health_authorities]]"), "{err}");
    // Other roles have no use for them: no warning.
    let (_, err) = ok(&[
        "portal",
        "user",
        "add",
        "--user",
        "hal",
        "--role",
        "hotline",
        "--no-totp",
        "--data-dir",
        arg(&data),
    ]);
    assert!(!err.contains("warning"), "{err}");
    let (_, err) = ok(&[
        "portal",
        "user",
        "role",
        "--user",
        "hal",
        "--role",
        "hotline,event",
        "--data-dir",
        arg(&data),
    ]);
    assert!(err.contains("warning: no health authorities"), "{err}");

    let config = dir.path().join("warnkit.toml");
    std::fs::write(
        &config,
        "[[portal.health_authorities]]\nname = \"Gesundheitsamt Test\"\nnr = \"1.01.0.01\"\n",
    )
    .expect("write");
    let (_, err) = ok(&[
        "portal",
        "user",
        "add",
        "--user",
        "ivy",
        "--role",
        "event",
        "--no-totp",
        "--data-dir",
        arg(&data),
        "--config",
        arg(&config),
    ]);
    assert!(!err.contains("warning"), "{err}");
}

#[tokio::test]
async fn lab_post_takes_the_whole_qr_code_and_posts_under_the_guids_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, endpoints) = common::start(dir.path(), &[]);
    let url = |name: &str| endpoints[name].as_str().expect("url").to_owned();
    let data = arg(dir.path());
    let key = common::warnkit(&["lab", "key", "create", "--lab", "lab-1", "--data-dir", data]);
    let guid = "4E7E19-4678A4A3-5ED0-54B4-9848-5DE2A98A7E02";
    let qr = format!("https://localhost/?{guid}");
    common::warnkit(&[
        "lab",
        "post",
        "--url",
        &url("testresult"),
        "--key",
        &key,
        "--guid",
        &qr,
        "--result",
        "positive",
    ]);
    // The phone registers the GUID's SHA-256 (computed here without warnkit) and sees the result.
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(guid.as_bytes()));
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}/version/v1/registrationToken",
            url("verification")
        ))
        .header("cwa-fake", "0")
        .json(&serde_json::json!({"keyType": "GUID", "key": hash}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.expect("json")["registrationToken"].clone();
    let r = http
        .post(format!("{}/version/v1/testresult", url("verification")))
        .header("cwa-fake", "0")
        .json(&serde_json::json!({"registrationToken": token}))
        .send()
        .await
        .expect("poll");
    assert_eq!(r.json::<Value>().await.expect("json")["testResult"], 2);
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    use std::io::Read as _;
    // Far more than a pipe holds, so the command is still writing when the reader goes.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warnkit"))
        .args([
            "en",
            "derive",
            "--tek",
            "75c734c6dd1a782de7a965da5eb93125",
            "--interval",
            "2642976",
            "--count",
            "200000",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut head = [0u8; 100];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut head)
        .expect("the first lines");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

#[test]
fn a_reader_gone_before_the_first_line_ends_the_command_quietly() {
    // The reading end is closed before the command starts, so its first `println!` breaks the pipe.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warnkit"))
        .args(["risk", "defaults", "v2"])
        .stdout(writer)
        .output()
        .expect("run warnkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
