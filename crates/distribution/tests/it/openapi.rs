//! The distribution port's `/openapi.json` over real HTTP: an OpenAPI 3 document whose every file path,
//! filled in from a really published tree, answers GET and HEAD with the documented content type and
//! cache header, and 304 to its own ETag.

use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use warnkit_distribution::{
    layout, signing, Distribution, DistributionConfig, Objects, StaticFiles,
};
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_service::{Metrics, ServiceRouter};
use warnkit_store::PoolConfig;
use warnkit_testkit::{Engine, TestDb};

const DAY: i64 = 20_415;
/// 05:10 on the day after `DAY`.
const NOW: i64 = (DAY + 1) * 86_400 + 5 * 3600 + 600;

fn key(byte: u8, hour: i64) -> StoredKey {
    StoredKey {
        key_data: [byte; 16],
        rolling_start: ((DAY - 1) * 144) as u32,
        rolling_period: 144,
        transmission_risk_level: 5,
        report_type: 1,
        days_since_onset_of_symptoms: Some(1),
        submission_hour: hour,
        origin: "DE".into(),
        visited_countries: vec![],
        consent_to_federation: false,
    }
}

/// Publishes a day and some hours, and serves them as `warnkit serve` does on the distribution port.
async fn published_port(db: &TestDb) -> (String, Objects) {
    let keys = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .expect("key store");
    keys.insert(&[key(1, DAY * 24 + 3), key(2, (DAY + 1) * 24 + 4)])
        .await
        .expect("insert");
    let objects = Objects::local(&db.dir().join("published")).expect("objects");
    let job = Distribution::new(
        keys.clone(),
        objects.clone(),
        signing::load_or_create(&db.dir().join("signing")).expect("signing key"),
        DistributionConfig::default(),
        db.dir().join("distribution.lock"),
    );
    assert!(job.run_once(NOW).await.expect("run").ran);
    let metrics = Metrics::new("distribution");
    let files = StaticFiles::with_metrics(objects.clone(), &metrics);
    let router = ServiceRouter::new(metrics)
        .database(keys.db().clone())
        .openapi(warnkit_distribution::openapi::document())
        .finish(axum::Router::new())
        .merge(files.clone().router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, objects)
}

async fn json(client: &reqwest::Client, url: &str) -> Value {
    let r = client.get(url).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.json().await.expect("json")
}

#[tokio::test]
async fn every_documented_file_answers_as_documented() {
    let db = TestDb::new(Engine::Sqlite).expect("SQLite always runs");
    let (base, _) = published_port(&db).await;
    let client = reqwest::Client::new();
    let doc = json(&client, &format!("{base}/openapi.json")).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    // Names taken from the published indexes, so each template is filled in with a file that exists:
    // the newest ended date for the daily file, and the current day for its hours.
    let dates = json(&client, &format!("{base}/{}", layout::date_index("DE"))).await;
    let date = dates
        .as_array()
        .and_then(|d| d.last())
        .and_then(Value::as_str)
        .expect("a published date")
        .to_owned();
    let today = layout::date_string(DAY + 1);
    let hour = json(
        &client,
        &format!("{base}/{}", layout::hour_index("DE", &today)),
    )
    .await[0]
        .as_u64()
        .expect("a published hour");
    let mut files = 0;
    for (template, ops) in paths {
        assert!(template.starts_with('/'), "{template}");
        let is_probe = ["/health", "/ready", "/openapi.json"].contains(&template.as_str());
        let declared: Vec<&str> = template
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let versions: Vec<&str> = if declared.contains(&"version") {
            layout::V2_CONFIG_VERSIONS.to_vec()
        } else {
            vec!["v1"]
        };
        for version in versions {
            let path = template
                .replace("{region}", "DE")
                .replace(
                    "{date}",
                    if template.contains("/hour") {
                        &today
                    } else {
                        &date
                    },
                )
                .replace("{hour}", &hour.to_string())
                .replace("{version}", version);
            assert_eq!(
                layout::kind_of(&path).is_some(),
                !is_probe,
                "{path} is in the layout or a probe"
            );
            for (method, op) in ops.as_object().expect("operations") {
                let params: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(params, declared, "{method} {template}: path parameters");
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let url = format!("{base}{path}");
                let r = client
                    .request(method.clone(), &url)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), StatusCode::OK, "{method} {path}");
                let ok = &op["responses"]["200"];
                if is_probe {
                    continue;
                }
                files += 1;
                let content: Vec<&String> =
                    ok["content"].as_object().expect("content").keys().collect();
                assert_eq!(
                    content,
                    [r.headers()[header::CONTENT_TYPE].to_str().expect("ascii")],
                    "{method} {path}"
                );
                assert_eq!(
                    ok["headers"]["Cache-Control"]["schema"]["enum"][0],
                    r.headers()[header::CACHE_CONTROL].to_str().expect("ascii"),
                    "{method} {path}"
                );
                let etag = r.headers()[header::ETAG].clone();
                let again = client
                    .request(method.clone(), &url)
                    .header(header::IF_NONE_MATCH, etag)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{method} {path}");
                assert!(op["responses"]["304"].is_object() && op["responses"]["404"].is_object());
            }
        }
    }
    // Every kind of published file is in the document: indexes, archives, configurations, keys.
    assert!(files >= 2 * 12, "{files} file operations");
    let missing = format!("{base}/{}", layout::daily("DE", "2000-01-01"));
    assert_eq!(
        client.get(missing).send().await.expect("get").status(),
        StatusCode::NOT_FOUND
    );
}

/// Whether the URL path `path` is an instance of the document's `template` (`{name}` matches one
/// segment).
fn instance_of(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// The other way round: every file a run publishes (and so the port serves) is an instance of exactly
/// one documented path, whose documented content type is the one the file is served with.
#[tokio::test]
async fn every_published_file_is_documented() {
    let db = TestDb::new(Engine::Sqlite).expect("SQLite always runs");
    let (base, objects) = published_port(&db).await;
    let client = reqwest::Client::new();
    let doc = json(&client, &format!("{base}/openapi.json")).await;
    let paths = doc["paths"].as_object().expect("paths");
    let published = objects.list("").await.expect("list");
    assert!(published.len() > 10, "{published:?}");
    let mut templates_used = std::collections::BTreeSet::new();
    for file in &published {
        let path = format!("/{}", file.trim_start_matches('/'));
        let matching: Vec<&String> = paths.keys().filter(|t| instance_of(t, &path)).collect();
        // `/version/v1/configuration/country/{region}/app_config` and the like are fixed names, and a
        // fixed template beats a parameter one (as the layout itself decides).
        let fixed: Vec<&&String> = matching.iter().filter(|t| !t.contains('{')).collect();
        let template = match (fixed.as_slice(), matching.as_slice()) {
            ([one], _) => *one,
            ([], [one]) => one,
            _ => panic!("{path}: documented by {matching:?}"),
        };
        templates_used.insert(template.to_string());
        let kind = layout::kind_of(&path).expect("a published file is in the layout");
        let content: Vec<&String> = doc["paths"][template.as_str()]["get"]["responses"]["200"]
            ["content"]
            .as_object()
            .expect("content")
            .keys()
            .collect();
        assert_eq!(content, [kind.content_type()], "{path} as {template}");
    }
    // The run published every kind of file the document names.
    let documented_files = paths
        .keys()
        .filter(|p| !["/health", "/ready", "/openapi.json"].contains(&p.as_str()))
        .count();
    assert_eq!(templates_used.len(), documented_files, "{templates_used:?}");
}
