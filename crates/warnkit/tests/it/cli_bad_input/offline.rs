//! The commands that work on files alone: export archives, keys, EN crypto, risk, the simulator
//! and the configuration.

use super::{cases, refused, Files, TEK};

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
