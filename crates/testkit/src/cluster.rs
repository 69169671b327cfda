//! A private PostgreSQL cluster from the machine's own programs (`initdb`, `pg_ctl`), on a free loopback
//! port: the tests' fallback server, and the fault suite's database that it stops and starts again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A cluster in a directory of its own. [`Cluster::init`] creates it stopped; dropping it stops it
/// (immediately) and deletes the directory.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// `runuser -u postgres -- ` when running as root (PostgreSQL refuses to), else empty.
    run_as: &'static str,
    /// Whether dropping the handle stops the cluster and deletes it.
    owned: bool,
}

impl Cluster {
    /// Creates a cluster (trust authentication, user `postgres`) on a free port; not started yet.
    pub fn init() -> Result<Cluster, String> {
        let bin = find_pg_bin().ok_or("no /usr/lib/postgresql/*/bin/initdb on this machine")?;
        let dir = tempfile::Builder::new()
            .prefix("warnkit-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let run_as = if as_root {
            "runuser -u postgres -- "
        } else {
            ""
        };
        if as_root {
            sh(&format!("chown postgres {}", dir.display()))?;
        }
        let cluster = Cluster {
            bin,
            dir,
            port: free_port()?,
            run_as,
            owned: true,
        };
        sh(&format!(
            "{}{}/initdb -D {} -A trust -U postgres --no-sync >/dev/null",
            cluster.run_as,
            cluster.bin.display(),
            cluster.data().display()
        ))?;
        Ok(cluster)
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The cluster's directory (its log is `log` in it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The shell command that starts the server and waits until it accepts connections.
    fn start_command(&self) -> String {
        format!(
            "{run_as}{bin}/pg_ctl -D {data} -l {dir}/log -o '-p {port} -k {dir} \
             -c listen_addresses=127.0.0.1 -c fsync=off' -w start >/dev/null",
            run_as = self.run_as,
            bin = self.bin.display(),
            data = self.data().display(),
            dir = self.dir.display(),
            port = self.port,
        )
    }

    /// The shell command that stops the server in `mode` (`fast`: sessions are terminated, as in a
    /// restart; `immediate`: as in a crash).
    fn stop_command(&self, mode: &str) -> String {
        format!(
            "{}{}/pg_ctl -D {} -m {mode} -w stop >/dev/null",
            self.run_as,
            self.bin.display(),
            self.data().display()
        )
    }

    /// Starts the server and waits until it answers.
    pub fn start(&self) -> Result<(), String> {
        sh(&self.start_command())
    }

    /// Stops the server as an operator's restart does: open sessions are terminated.
    pub fn stop(&self) -> Result<(), String> {
        sh(&self.stop_command("fast"))
    }

    /// Leaves the cluster running after this process: a shell watchdog stops it and deletes its directory
    /// once process `pid` has exited. For a server shared by a whole test process, which no drop reaches.
    pub fn keep_until_exit_of(mut self, pid: u32) -> Result<(), String> {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {}; rm -rf {}",
            self.stop_command("immediate"),
            self.dir.display()
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the cluster's watchdog: {e}"))?;
        self.owned = false;
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _ = sh(&format!("{} 2>/dev/null", self.stop_command("immediate")));
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts a private cluster for the tests' shared server, kept until this test process has exited, and
/// waits until it answers `probe`.
pub(crate) fn start_throwaway(
    probe: impl Fn(&str) -> Result<(), String>,
) -> Result<String, String> {
    let cluster = Cluster::init()?;
    cluster.start()?;
    let url = cluster.url();
    let dir = cluster.dir().to_owned();
    cluster.keep_until_exit_of(std::process::id())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match probe(&url) {
            Ok(()) => {
                eprintln!(
                    "note: tests use a throwaway PostgreSQL cluster in {}",
                    dir.display()
                );
                return Ok(url);
            }
            Err(e) if Instant::now() > deadline => {
                return Err(format!("throwaway cluster did not start: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn find_pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    // Newest major version first; directory names are the major versions.
    dirs.sort_by_key(|p| {
        let major = p
            .parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str()?.parse::<u32>().ok());
        std::cmp::Reverse(major)
    });
    dirs.into_iter().next().or_else(|| {
        // Other distributions put the programs on PATH.
        let out = Command::new("sh")
            .arg("-c")
            .arg("command -v initdb")
            .output()
            .ok()?;
        let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        let bin = path.parent()?.to_owned();
        bin.join("pg_ctl").exists().then_some(bin)
    })
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn sh(script: &str) -> Result<(), String> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{script}` failed with {status}"))
    }
}
