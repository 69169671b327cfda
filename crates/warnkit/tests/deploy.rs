//! The deployment files in `deploy/` against the real tools: the systemd units pass `systemd-analyze
//! verify`; `deploy/nginx/warnkit.conf` runs in a real nginx in front of a `warnkit serve` and hands out
//! the same bytes and cache headers; every metric the alert rules and the dashboard use is one that
//! `warnkit serve` exports; the configuration files load; the files the container build and the compose
//! file name exist. With `CI=true` a missing tool fails the test, else it is skipped with the reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::Value;
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};

#[path = "it/common/mod.rs"]
mod common;
use common::{free_port, start, BIN};

/// The repository's `deploy/` directory.
fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The program `name` on PATH or in the system directories; `None` (the test is skipped) when it is
/// missing outside CI.
fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let dirs = std::env::var("PATH").unwrap_or_default();
    let found = dirs
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {name} is missing ({install})"
        );
        eprintln!("\n*** SKIPPING: {name} not found ({install}) ***\n");
    }
    found
}

/// `text` with `from` replaced by `to`, which must occur exactly once: a test that silently stopped
/// substituting would test the wrong thing.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in:\n{text}");
    text.replacen(from, to, 1)
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let Some(analyze) = tool("systemd-analyze", "apt-get install systemd") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut units = Vec::new();
    for name in [
        "warnkit.service",
        "warnkit-distribute.service",
        "warnkit-distribute.timer",
    ] {
        let text = read(&deploy().join("systemd").join(name));
        // verify checks that the program exists: the binary under test stands in for the installed one.
        let text = text.replace("/usr/local/bin/warnkit", BIN);
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write unit");
        units.push(path);
    }
    let out = Command::new(analyze)
        .arg("verify")
        .args(&units)
        .output()
        .expect("run systemd-analyze");
    // verify exits 0 on unknown keys and bad values too; only its silence means the units are clean.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    let service = read(&deploy().join("systemd/warnkit.service"));
    for line in [
        "ExecStart=/usr/local/bin/warnkit serve --config /etc/warnkit/warnkit.toml",
        "User=warnkit",
        "StateDirectory=warnkit",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "LimitNOFILE=65536",
        "Restart=on-failure",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "{line} in warnkit.service"
        );
    }
    let sysusers = read(&deploy().join("systemd/warnkit.sysusers"));
    assert!(sysusers.lines().any(|l| l.starts_with("u warnkit ")));
}

#[test]
fn configuration_files_load() {
    for (file, key) in [
        ("warnkit.toml", "data_dir = \"/var/lib/warnkit\""),
        ("compose/warnkit.toml", "kind = \"s3\""),
    ] {
        let path = deploy().join(file);
        let out = Command::new(BIN)
            .args(["config", "--config", path.to_str().expect("utf-8")])
            .output()
            .expect("run warnkit config");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(printed.contains(key), "{file}: {key} in\n{printed}");
    }
}

/// The host paths a compose file names: build contexts, Dockerfiles and bind-mounted sources.
fn compose_paths(compose: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut context = None;
    for line in compose.lines() {
        let line = line.trim();
        if let Some(c) = line.strip_prefix("context: ") {
            context = Some(c.to_owned());
            paths.push(c.to_owned());
        } else if let Some(d) = line.strip_prefix("dockerfile: ") {
            let c = context.clone().expect("dockerfile after its context");
            paths.push(format!("{c}/{d}"));
        } else if let Some(mount) = line.strip_prefix("- ") {
            let source = mount.split(':').next().unwrap_or_default();
            if source.starts_with("./") || source.starts_with("../") {
                paths.push(source.to_owned());
            }
        }
    }
    paths
}

#[test]
fn the_container_files_name_files_that_exist() {
    let compose_dir = deploy().join("compose");
    let compose = read(&compose_dir.join("compose.yaml"));
    let paths = compose_paths(&compose);
    for expected in [
        "../../deploy/Dockerfile",
        "./warnkit.toml",
        "../nginx/warnkit-s3.conf",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
    for path in &paths {
        assert!(compose_dir.join(path).exists(), "compose.yaml names {path}");
    }
    for service in ["postgres:", "minio:", "warnkit:", "nginx:"] {
        assert!(
            compose.lines().any(|l| l == format!("  {service}")),
            "service {service} in compose.yaml"
        );
    }
    let dockerfile = read(&deploy().join("Dockerfile"));
    let root = deploy().join("..");
    for line in dockerfile.lines() {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from") || args == ". ." {
            continue;
        }
        let source = args.split_whitespace().next().expect("COPY source");
        assert!(root.join(source).exists(), "Dockerfile copies {source}");
    }
    assert!(dockerfile.lines().any(|l| l.starts_with("USER warnkit")));
    assert_eq!(dockerfile.matches("\nFROM ").count(), 2, "two stages");
}

/// An nginx started on a temporary prefix; stopped (and reaped) on drop.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master stops its workers, which would otherwise keep the port.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Runs `deploy/nginx/warnkit.conf` in front of `upstream` (host:port), listening on `port`, with
/// everything it writes under `prefix`.
fn start_nginx(nginx: &Path, prefix: &Path, port: u16, upstream: &str) -> Nginx {
    let conf = read(&deploy().join("nginx/warnkit.conf"));
    let conf = substitute(&conf, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    let conf = substitute(
        &conf,
        "server 127.0.0.1:8000;",
        &format!("server {upstream};"),
    );
    let cache = prefix.join("cache");
    let conf = substitute(
        &conf,
        "/var/cache/nginx/warnkit ",
        &format!("{} ", cache.display()),
    );
    std::fs::write(prefix.join("warnkit.conf"), conf).expect("write conf");
    let p = prefix.display();
    // As root, nginx's workers would run as `nobody`, which cannot read this temporary prefix.
    let user = if is_root() { "user root;" } else { "" };
    let main = format!(
        "daemon off;\n{user}\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {p}/access.log;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
         fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
         include {p}/warnkit.conf;\n}}\n"
    );
    std::fs::write(prefix.join("nginx.conf"), main).expect("write nginx.conf");
    let args = |extra: &[&str]| {
        let mut args = vec![
            "-p".to_owned(),
            p.to_string(),
            "-c".to_owned(),
            format!("{p}/nginx.conf"),
            "-e".to_owned(),
            format!("{p}/error.log"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let test = Command::new(nginx)
        .args(args(&["-t"]))
        .output()
        .expect("nginx -t");
    assert!(
        test.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let child = Command::new(nginx)
        .args(args(&[]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let mut nginx = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = nginx.0.try_wait() {
            panic!(
                "nginx exited with {status}: {}",
                std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nginx never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Status, headers and body of a GET.
async fn get(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = http.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map_or("", |v| v.to_str().expect("ascii header"))
}

/// The metric names a PromQL expression reads: every identifier that is not a function, a keyword,
/// a label (inside `{...}` or a `by`/`without`/`on`/`ignoring` list) or a number.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "group_left",
        "group_right",
    ];
    const GROUPINGS: &[&str] = &["by", "without", "on", "ignoring"];
    // Label matchers and ranges hold no metric names.
    let mut plain = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let chars: Vec<char> = plain.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_alphabetic() || chars[i] == '_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut next = i;
        while next < chars.len() && chars[next] == ' ' {
            next += 1;
        }
        let rest: String = chars[next..].iter().collect();
        // An aggregation: `sum by (...) (...)` as well as `sum(...)`.
        let call = rest.starts_with('(') || rest.starts_with("by ") || rest.starts_with("without ");
        if GROUPINGS.contains(&word.as_str()) && call {
            // Skip the label list.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            continue;
        }
        if !call && !KEYWORDS.contains(&word.as_str()) {
            names.push(word);
        }
    }
    names
}

/// Every PromQL expression of the alert rules (one `expr:` line each) and of the dashboard.
fn expressions() -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    for line in read(&deploy().join("prometheus/alerts.yml")).lines() {
        if let Some(expr) = line.trim().strip_prefix("expr: ") {
            exprs.push(("alerts.yml".to_owned(), expr.to_owned()));
        }
    }
    assert!(exprs.len() >= 8, "alert rules: {exprs:?}");
    let dashboard: Value = serde_json::from_str(&read(&deploy().join("grafana/warnkit.json")))
        .expect("dashboard JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            exprs.push(("warnkit.json".to_owned(), expr.to_owned()));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if let Some(query) = variable["query"].as_str() {
            if let Some(args) = query.strip_prefix("label_values(") {
                let metric = args.split(',').next().expect("metric").trim();
                exprs.push(("warnkit.json".to_owned(), metric.to_owned()));
            }
        }
    }
    exprs
}

/// Names the rules use that no `warnkit serve` exports, with the reason.
const NOT_WARNKIT: &[(&str, &str)] = &[("up", "Prometheus's own series for every scrape target")];

#[tokio::test]
async fn nginx_serves_the_same_files_and_the_alerts_use_exported_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, endpoints) = start(dir.path(), &[]);
    let url = |k: &str| endpoints[k].as_str().expect("endpoint").to_owned();
    let direct = url("distribution");
    let http = reqwest::Client::new();

    // The schedule's first run publishes at start; wait for its country index.
    let country = "version/v1/diagnosis-keys/country";
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&http, &format!("{direct}/{country}"), &[]).await.0 != 200 {
        assert!(Instant::now() < deadline, "no distribution run published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let date_index = "version/v1/diagnosis-keys/country/DE/date";
    let (_, _, dates) = get(&http, &format!("{direct}/{date_index}"), &[]).await;
    let dates: Vec<String> = serde_json::from_slice(&dates).expect("date index");
    let archive = format!("{date_index}/{}", dates.last().expect("a published day"));
    let config = "version/v1/configuration/country/DE/app_config";

    let mut checked = false;
    if let Some(nginx) = tool("nginx", "apt-get install nginx-light") {
        checked = true;
        let prefix = tempfile::tempdir().expect("nginx prefix");
        let port = free_port();
        let upstream = direct.trim_start_matches("http://");
        let _nginx = start_nginx(&nginx, prefix.path(), port, upstream);
        let proxy = format!("http://127.0.0.1:{port}");
        for (path, cache_control, content_type) in [
            (country, "public, max-age=300", "application/json"),
            (date_index, "public, max-age=300", "application/json"),
            (
                archive.as_str(),
                "public, max-age=86400, immutable",
                "application/zip",
            ),
            (config, "public, max-age=300", "application/zip"),
            (
                "version/v1/public-key.pem",
                "public, max-age=300",
                "application/x-pem-file",
            ),
        ] {
            let (status, d_headers, d_body) = get(&http, &format!("{direct}/{path}"), &[]).await;
            assert_eq!(status, 200, "{path} direct");
            let (status, p_headers, p_body) = get(&http, &format!("{proxy}/{path}"), &[]).await;
            assert_eq!(status, 200, "{path} through nginx");
            assert_eq!(p_body, d_body, "{path}: the same bytes through nginx");
            assert_eq!(header(&p_headers, "cache-control"), cache_control, "{path}");
            assert_eq!(
                header(&p_headers, "cache-control"),
                header(&d_headers, "cache-control"),
                "{path}"
            );
            assert_eq!(header(&p_headers, "content-type"), content_type, "{path}");
        }
        // The second download of an archive is nginx's own copy, not compressed again.
        let (status, headers, body) = get(
            &http,
            &format!("{proxy}/{archive}"),
            &[("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "x-cache-status"), "HIT", "{headers:?}");
        assert_eq!(
            header(&headers, "content-encoding"),
            "",
            "zips are not gzipped"
        );
        assert!(body.starts_with(b"PK"), "a zip");
        // What is not published is warnkit's JSON 404, without the archives' immutable caching.
        let (status, headers, body) =
            get(&http, &format!("{proxy}/{date_index}/2000-01-01"), &[]).await;
        assert_eq!(status, 404);
        assert_eq!(header(&headers, "cache-control"), "");
        let body: Value = serde_json::from_slice(&body).expect("JSON 404");
        assert_eq!(body["error"], "not_found");
        let (status, _, body) = get(&http, &format!("{proxy}/health"), &[]).await;
        assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    }

    // A refused upload: counted by reason, and its TAN check by the verification service.
    let tan = "2d2e1a2c-9f3b-4c5d-8e6f-0a1b2c3d4e5f";
    let yesterday = warnkit_store::unix_now() / 86_400 - 1;
    let payload = SubmissionPayload {
        keys: vec![TemporaryExposureKey {
            key_data: Some(vec![7; 16]),
            transmission_risk_level: Some(6),
            rolling_start_interval_number: Some((yesterday * 144) as i32),
            rolling_period: Some(144),
            report_type: Some(1),
            days_since_onset_of_symptoms: None,
        }],
        request_padding: Some(vec![0; 100]),
        ..Default::default()
    };
    let response = http
        .post(format!("{}/version/v1/diagnosis-keys", url("submission")))
        .header("content-type", "application/x-protobuf")
        .header("cwa-authorization", tan)
        .header("cwa-fake", "0")
        .body(payload.encode_to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 403, "an unknown TAN");

    let (status, _, metrics) = get(&http, &format!("{}/metrics", url("metrics")), &[]).await;
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).expect("utf-8");
    let sample = |line: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{line} in\n{metrics}"))
    };
    assert_eq!(
        sample("submission_uploads_refused_total{service=\"submission\",reason=\"invalid_tan\"}"),
        1
    );
    assert_eq!(
        sample("verification_tans_unknown_total{service=\"verification_internal\"}"),
        1
    );
    if checked {
        // The date index, the archive twice (one HIT above stayed in nginx) and more went through.
        assert!(
            sample("distribution_downloads_total{service=\"distribution\",kind=\"archive\"}") >= 2
        );
        assert!(
            sample("distribution_downloads_total{service=\"distribution\",kind=\"index\"}") >= 4
        );
        assert!(
            sample("distribution_downloads_total{service=\"distribution\",kind=\"config\"}") >= 2
        );
        assert!(
            sample(
                "distribution_file_responses_total{service=\"distribution\",outcome=\"not_found\"}"
            ) >= 1
        );
    }

    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .collect();
    let mut missing = Vec::new();
    for (file, expr) in expressions() {
        for name in metric_names(&expr) {
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| exported.contains(f)))
                .unwrap_or(&name);
            if !exported.contains(family) && !NOT_WARNKIT.iter().any(|(n, _)| *n == name) {
                missing.push(format!("{file}: {name} (in {expr})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not exported by warnkit serve:\n{}\nexported: {exported:?}",
        missing.join("\n")
    );
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(
            "sum by (instance, service) (rate(http_requests_total{status=~\"5..\"}[5m])) / \
             sum by (instance) (rate(b_total[5m])) > 0.05 unless on(instance) c_seconds"
        ),
        ["http_requests_total", "b_total", "c_seconds"]
    );
    assert_eq!(metric_names("time() - x_seconds > 7200"), ["x_seconds"]);
    assert_eq!(metric_names("up{job=\"warnkit\"} == 0"), ["up"]);
}
