//! Every API port of `warnkit serve` answers `/openapi.json` with an OpenAPI 3 document that names its
//! own paths, and whose references all resolve.

use serde_json::Value;

use crate::common;
use common::start_unscheduled;

/// Every `$ref` in `node`, as `#/...` pointers.
fn refs<'a>(node: &'a Value, out: &mut Vec<&'a str>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_api_port_serves_an_openapi_document_of_its_paths() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, endpoints) = start_unscheduled(dir.path(), &[]);
    // A path each port must document: one of its own routes, not only the probes.
    let expected = [
        ("verification", "/version/v1/registrationToken"),
        ("verification_internal", "/version/v1/tan/verify"),
        ("testresult", "/api/v1/lab/results"),
        ("submission", "/version/v1/diagnosis-keys"),
        (
            "distribution",
            "/version/v1/diagnosis-keys/country/{region}/date/{date}/hour/{hour}",
        ),
        ("portal", "/teletan/event"),
    ];
    let ports = endpoints.as_object().expect("endpoints.json is an object");
    let http = reqwest::Client::new();
    for (name, url) in ports {
        // The operators' metrics listener is no API.
        if name == "metrics" {
            continue;
        }
        let url = url.as_str().expect("a URL");
        let r = http
            .get(format!("{url}/openapi.json"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{name}");
        let doc: Value = r.json().await.expect("JSON");
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "{name}: {doc}"
        );
        assert!(
            doc["info"]["title"].is_string() && doc["info"]["version"].is_string(),
            "{name}: info"
        );
        let paths = doc["paths"].as_object().expect("paths");
        // The probes are part of the distribution and portal documents (the others document their API).
        if ["distribution", "portal"].contains(&name.as_str()) {
            for probe in ["/health", "/ready", "/openapi.json"] {
                assert!(paths.contains_key(probe), "{name} documents {probe}");
            }
        }
        for (path, ops) in paths {
            assert!(path.starts_with('/'), "{name}: {path}");
            let ops = ops.as_object().expect("operations");
            assert!(!ops.is_empty(), "{name} {path}");
            for (method, op) in ops {
                assert!(
                    ["get", "head", "post", "put", "delete", "patch"].contains(&method.as_str()),
                    "{name} {path}: {method}"
                );
                let responses = op["responses"].as_object().expect("responses");
                assert!(!responses.is_empty(), "{name} {method} {path}");
            }
        }
        let mut pointers = Vec::new();
        refs(&doc, &mut pointers);
        for r in pointers {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{name}: {r} resolves");
        }
        if let Some((_, path)) = expected.iter().find(|(port, _)| port == name) {
            assert!(paths.contains_key(*path), "{name} documents {path}");
        }
    }
    for (port, _) in expected {
        assert!(ports.contains_key(port), "serve starts {port}: {ports:?}");
    }
}
