//! Bad input to every `warnkit` subcommand that takes input: empty, malformed, oversized and
//! wrong-type arguments and files. Each must end with a non-zero exit and a message that names the
//! problem, print nothing on standard output and write no output file: never a silent success.

use crate::common;
mod lab;
mod offline;
mod operator;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::BIN;

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
