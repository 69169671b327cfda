//! The documentation's commands, run as written: every `sh` block of a document, in order, in one shell in
//! a fresh directory, with the `warnkit` under test first on `PATH`.
//!
//! A document marks what is not for this test: a block fenced as `sh no-test` is shown but not run (the
//! text next to it says why), and a block fenced as `toml file=PATH` (any language) is written to `PATH`
//! before the blocks after it run, so a configuration shown to the reader is the one the commands use.
//! Documents use the default ports (8000 and up), so the documents run one at a time; the other tests
//! take ports from 20000 up. The fresh directory holds a copy of the repository's `examples/` and
//! `deploy/`, as a checkout does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_warnkit");

/// How long one document may run.
const DEADLINE: Duration = Duration::from_secs(300);

/// Documents hold the default ports while they run.
static DEFAULT_PORTS: Mutex<()> = Mutex::new(());

/// One fenced block of a document.
#[derive(Debug, PartialEq)]
enum Block {
    /// Commands to run, with the line of their opening fence.
    Run { line: usize, text: String },
    /// A file to write before the next commands.
    File {
        line: usize,
        path: String,
        text: String,
    },
}

/// The blocks of `markdown` that this test runs or writes, in order.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((i + 1, info.trim().to_owned(), String::new()));
                }
            }
            Some((start, info, text)) => {
                if trimmed.starts_with("```") {
                    let words: Vec<&str> = info.split_whitespace().collect();
                    let file = words.iter().find_map(|w| w.strip_prefix("file="));
                    if let Some(path) = file {
                        out.push(Block::File {
                            line: *start,
                            path: path.to_owned(),
                            text: std::mem::take(text),
                        });
                    } else if matches!(words.first(), Some(&"sh" | &"bash"))
                        && !words.contains(&"no-test")
                    {
                        out.push(Block::Run {
                            line: *start,
                            text: std::mem::take(text),
                        });
                    }
                    open = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    out
}

/// A delimiter for a file block's here-document that the file itself does not contain.
fn heredoc_delimiter(text: &str) -> String {
    let mut delimiter = String::from("WARNKIT_DOC_FILE");
    while text.lines().any(|l| l == delimiter) {
        delimiter.push('_');
    }
    delimiter
}

/// The shell script that runs `doc`'s blocks: before each, a marker line on stderr naming it, so a
/// failure points at its block.
fn script(doc: &str, blocks: &[Block]) -> String {
    let mut s = String::from(
        "set -euo pipefail\n\
         trap 'for job in $(jobs -p); do kill \"$job\" 2>/dev/null || true; done; wait' EXIT\n",
    );
    for block in blocks {
        match block {
            Block::Run { line, text } => {
                let _ = writeln!(s, "echo '>>> {doc}:{line}' >&2");
                s.push_str(text);
            }
            Block::File { line, path, text } => {
                let delimiter = heredoc_delimiter(text);
                let _ = writeln!(s, "echo '>>> {doc}:{line} (writes {path})' >&2");
                let _ = writeln!(
                    s,
                    "mkdir -p \"$(dirname '{path}')\"\ncat > '{path}' <<'{delimiter}'\n{text}{delimiter}"
                );
            }
        }
    }
    s
}

/// What running a document gave.
struct Outcome {
    success: bool,
    /// The block that ran last (the failing one when `success` is false).
    last_block: Option<String>,
    stdout: String,
    stderr: String,
}

/// Runs `markdown` (named `doc` in messages) in the fresh directory `dir`.
fn run_markdown(doc: &str, markdown: &str, dir: &Path) -> Outcome {
    let blocks = blocks(markdown);
    let script = script(doc, &blocks);
    let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let stdout_path = dir.join(".doc-stdout");
    let stderr_path = dir.join(".doc-stderr");
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    // Variables of the run outside this test must not steer the documents' commands.
    for (name, _) in std::env::vars() {
        if name.starts_with("WARNKIT_") {
            command.env_remove(name);
        }
    }
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().expect("run bash");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever the documents left running (a server started with `&` whose shell was killed) goes too.
    if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.wait();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let mut stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    if status.is_none() {
        let _ = write!(stderr, "\n(killed after {} s)", DEADLINE.as_secs());
    }
    let last_block = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(">>> "))
        .map(str::to_owned);
    Outcome {
        success: status.is_some_and(|s| s.success()),
        last_block,
        stdout,
        stderr,
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Copies the directory `from` with everything in it to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read a shipped directory") {
        let entry = entry.expect("a shipped file");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a shipped file");
        }
    }
}

/// Runs the repository's document `relative` and fails with the block that broke.
fn run_doc(relative: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let markdown = std::fs::read_to_string(root.join(relative)).expect("read the document");
    if blocks(&markdown).is_empty() {
        // A page of release-build benchmarks only: every block says why it is not run here.
        assert!(
            markdown.contains("```sh no-test"),
            "{relative} has no sh block: nothing to test"
        );
        return;
    }
    let _ports = DEFAULT_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    for port in [8000u16, 8001, 8002, 8003, 8004, 8010, 8012] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is taken: the documents' commands use the default ports; stop what listens there"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // The shipped example and deployment files are there, as in a checkout, where the README's
    // commands run.
    for shipped in ["examples", "deploy"] {
        copy_tree(&root.join(shipped), &dir.path().join(shipped));
    }
    let outcome = run_markdown(relative, &markdown, dir.path());
    assert!(
        outcome.success,
        "{relative}: the block at {} failed\n--- stdout (last lines)\n{}\n--- stderr (last lines)\n{}",
        outcome.last_block.as_deref().unwrap_or("(before the first block)"),
        tail(&outcome.stdout, 30),
        tail(&outcome.stderr, 40)
    );
}

#[test]
fn blocks_are_read_as_marked() {
    let md = "text\n```sh\necho one\n```\n```sh no-test\nrm -rf /\n```\n```toml file=conf/a.toml\nx = 1\n```\n\
              ```json\n{}\n```\n  ```bash\necho two\n  ```\n";
    assert_eq!(
        blocks(md),
        vec![
            Block::Run {
                line: 2,
                text: "echo one\n".into()
            },
            Block::File {
                line: 8,
                path: "conf/a.toml".into(),
                text: "x = 1\n".into()
            },
            Block::Run {
                line: 14,
                text: "echo two\n".into()
            },
        ]
    );
}

#[test]
fn a_broken_command_fails_and_names_its_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let md = "# A document\n\n```toml file=cfg/w.toml\nport_base = 1\n```\n\n```sh\ntest \"$(cat cfg/w.toml)\" = 'port_base = 1'\nwarnkit --version\n```\n\n\
              Then:\n\n```sh\nwarnkit no-such-command\necho unreachable\n```\n";
    let outcome = run_markdown("doc.md", md, dir.path());
    assert!(!outcome.success, "{}", outcome.stderr);
    assert_eq!(outcome.last_block.as_deref(), Some("doc.md:14"));
    assert!(outcome.stdout.contains("warnkit "), "{}", outcome.stdout);
    assert!(!outcome.stdout.contains("unreachable"));

    let fixed = md.replace("warnkit no-such-command", "warnkit help >/dev/null");
    let outcome = run_markdown("doc.md", &fixed, dir.path());
    assert!(outcome.success, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("unreachable"));
}

#[test]
fn a_server_left_running_is_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let md = "```sh\nbash -c 'echo $$ > pid; exec sleep 600' &\nuntil test -s pid; do sleep 0.05; done\n```\n";
    let outcome = run_markdown("doc.md", md, dir.path());
    assert!(outcome.success, "{}", outcome.stderr);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let gone = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(
            Instant::now() < gone,
            "the background process {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn key_rotation_md() {
    run_doc("docs/key-rotation.md");
}

#[test]
fn operations_md() {
    run_doc("docs/operations.md");
}

#[test]
fn readme_md() {
    run_doc("README.md");
}

#[test]
fn audit_md() {
    run_doc("docs/audit.md");
}

#[test]
fn backup_md() {
    run_doc("docs/backup.md");
}

#[test]
fn benchmarks_demo_md() {
    run_doc("docs/benchmarks-demo.md");
}

#[test]
fn benchmarks_matching_md() {
    run_doc("docs/benchmarks-matching.md");
}

#[test]
fn benchmarks_sha256x_md() {
    run_doc("docs/benchmarks-sha256x.md");
}

#[test]
fn benchmarks_submission_md() {
    run_doc("docs/benchmarks-submission.md");
}

#[test]
fn benchmarks_verification_md() {
    run_doc("docs/benchmarks-verification.md");
}

#[test]
fn deploy_md() {
    run_doc("docs/deploy.md");
}

#[test]
fn distribution_md() {
    run_doc("docs/distribution.md");
}

#[test]
fn federation_md() {
    run_doc("docs/federation.md");
}

#[test]
fn phone_md() {
    run_doc("docs/phone.md");
}

#[test]
fn portal_md() {
    run_doc("docs/portal.md");
}

#[test]
fn submission_md() {
    run_doc("docs/submission.md");
}

#[test]
fn verification_md() {
    run_doc("docs/verification.md");
}

#[test]
fn every_document_with_commands_has_its_test() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let this = include_str!("docs.rs");
    let mut documents = vec!["README.md".to_owned()];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".md") {
            documents.push(format!("docs/{name}"));
        }
    }
    for doc in documents {
        let markdown = std::fs::read_to_string(root.join(&doc)).expect("read");
        if markdown.contains("```sh") {
            assert!(
                this.contains(&format!("run_doc(\"{doc}\")")),
                "{doc} shows commands but no test runs them: add a #[test] calling run_doc(\"{doc}\")"
            );
        }
    }
}
