//! The node builder over real HTTP: the routers every way of starting a node gets (`/health`,
//! `/openapi.json`, the operators' `/metrics` listener, the static fast path), the endpoints file and
//! instance locks of its data directory, the clock it hands the services, and a clean stop.

use std::collections::BTreeMap;

use warnkit_node::{Clock, Config, Listen, Node, Service};

fn read_endpoints(dir: &std::path::Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("endpoints.json")).ok()?;
    Some(serde_json::from_str(&text).expect("endpoints.json is a map"))
}

async fn get(url: String) -> (u16, String) {
    let r = reqwest::get(&url).await.expect(&url);
    let status = r.status().as_u16();
    (status, r.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_services_get_the_routers_metrics_and_endpoints_of_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let node = Node::builder(Config::at(&dir, None))
        .only(&Service::DEMO)
        .listen(Listen::FreePorts)
        .clock(Clock::manual(1_800_000_000))
        .schedules(false)
        .start()
        .await
        .unwrap();
    let names: Vec<&str> = node.urls().keys().copied().collect();
    assert_eq!(
        names,
        [
            "distribution",
            "metrics",
            "submission",
            "testresult",
            "verification",
            "verification_internal"
        ]
    );
    let listed = read_endpoints(&dir).expect("endpoints.json written");
    for (name, url) in node.urls() {
        assert_eq!(listed.get(*name), Some(url), "{name}");
        let (status, _) = get(format!("{url}/health")).await;
        assert_eq!(status, 200, "{name} /health");
    }
    let (status, doc) = get(format!(
        "{}/openapi.json",
        node.url("distribution").unwrap()
    ))
    .await;
    assert_eq!(status, 200);
    assert!(doc.contains("openapi"), "{doc}");
    let (status, metrics) = get(format!("{}/metrics", node.url("metrics").unwrap())).await;
    assert_eq!(status, 200);
    for service in ["distribution", "submission", "verification", "testresult"] {
        assert!(metrics.contains(service), "{service} missing in {metrics}");
    }
    // No app-facing port serves the operators' metrics.
    let (status, _) = get(format!("{}/metrics", node.url("submission").unwrap())).await;
    assert_eq!(status, 404);

    // The services run on the node's clock, and a distribution run as of it is served at once.
    node.clock().set(1_800_003_600);
    assert_eq!(node.clock().now(), 1_800_003_600);
    assert_eq!(
        node.handles().submission.as_ref().unwrap().clock().now(),
        1_800_003_600
    );
    node.distribute(1_800_003_600).await.unwrap();
    let (status, _) = get(format!(
        "{}/version/v1/diagnosis-keys/country",
        node.url("distribution").unwrap()
    ))
    .await;
    assert_eq!(status, 200, "the published index is served");

    // One runner per service and data directory, the schedule lock included.
    let second = Node::builder(Config::at(&dir, None))
        .only(&[Service::Distribution])
        .listen(Listen::FreePorts)
        .start()
        .await;
    let err = format!("{:#}", second.err().expect("a second node refuses"));
    assert!(err.contains("already runs on data directory"), "{err}");

    let url = node.url("testresult").unwrap().to_owned();
    node.stop().await;
    assert!(read_endpoints(&dir).is_none(), "its endpoints are removed");
    assert!(
        reqwest::get(format!("{url}/health")).await.is_err(),
        "stopped"
    );
    // Stopped, the locks are free again.
    let again = Node::builder(Config::at(&dir, None))
        .only(&[Service::TestResult])
        .listen(Listen::FreePorts)
        .start()
        .await
        .unwrap();
    again.stop().await;
}

#[tokio::test]
async fn the_demo_clock_control_is_loopback_only_and_needs_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let public = Config {
        host: "0.0.0.0".into(),
        ..Config::at(&tmp.path().join("public"), None)
    };
    let err = Node::builder(public)
        .only(&Service::DEMO)
        .demo_clock(true)
        .start()
        .await
        .err()
        .expect("a public host is refused");
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(
        !tmp.path().join("public").exists(),
        "refused before anything is created"
    );

    let dir = tmp.path().join("data");
    let node = Node::builder(Config::at(&dir, None))
        .only(&Service::DEMO)
        .listen(Listen::FreePorts)
        .clock(Clock::manual(1_800_000_000))
        .schedules(false)
        .demo_clock(true)
        .start()
        .await
        .unwrap();
    let control = node.url("demo_clock").unwrap().to_owned();
    assert!(control.starts_with("http://127.0.0.1:"), "{control}");
    assert_eq!(read_endpoints(&dir).unwrap()["demo_clock"], control);
    let (status, _) = get(format!("{control}/health")).await;
    assert_eq!(status, 200);
    let http = reqwest::Client::new();
    let clock = format!("{control}{}", warnkit_node::demo_clock::CONTROL_PATHS.clock);
    let body = serde_json::json!({"now": 1_800_007_200});
    let refused = http.post(&clock).json(&body).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(node.clock().now(), 1_800_000_000);
    let set = http
        .post(&clock)
        .bearer_auth(node.service_token())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 204);
    assert_eq!(node.clock().now(), 1_800_007_200);
    node.stop().await;
}

/// A base port with [`warnkit_node::LISTENERS`] free ports after it on both loopback addresses.
fn free_port_base() -> u16 {
    let start = 20_000 + (std::process::id() % 1_000) as u16 * 30;
    for base in (start..60_000).step_by(warnkit_node::LISTENERS.len()) {
        let free = |host: &str| {
            (0..warnkit_node::LISTENERS.len() as u16)
                .all(|i| std::net::TcpListener::bind((host, base + i)).is_ok())
        };
        if free("127.0.0.1") && free("127.0.0.2") {
            return base;
        }
    }
    panic!("no free ports from {start}");
}

#[tokio::test]
async fn a_listener_binds_its_own_host_and_the_demo_clock_checks_every_one() {
    let tmp = tempfile::tempdir().unwrap();
    let base = free_port_base();
    let mut config = Config {
        host: "127.0.0.1".into(),
        port_base: Some(base),
        ..Config::at(&tmp.path().join("data"), None)
    };
    config.hosts.verification_internal = "127.0.0.2".into();
    let node = Node::builder(config.clone())
        .only(&[Service::TestResult, Service::Verification])
        .schedules(false)
        .start()
        .await
        .unwrap();
    let internal = node.url("verification_internal").unwrap().to_owned();
    assert_eq!(internal, format!("http://127.0.0.2:{}", base + 5));
    let external = node.url("verification").unwrap().to_owned();
    assert_eq!(external, format!("http://127.0.0.1:{}", base + 2));
    assert_eq!(get(format!("{internal}/health")).await.0, 200);
    node.stop().await;

    // Every listener counts for the demo clock, not only `host`.
    config.hosts.metrics = "0.0.0.0".into();
    let err = Node::builder(config)
        .only(&Service::DEMO)
        .demo_clock(true)
        .start()
        .await
        .err()
        .expect("a public metrics listener is refused");
    assert!(err.to_string().contains("metrics"), "{err}");
}
