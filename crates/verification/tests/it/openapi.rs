//! Every path in each `/openapi.json` is routed (and answers with a documented status).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::App;
use crate::on_both;

async fn check(app: &App, base: &str, routed: &[&str]) {
    let doc: Value = app
        .http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut expected = routed.to_vec();
    expected.extend(["/health", "/openapi.json", "/ready"]);
    expected.sort_unstable();
    assert_eq!(documented, expected, "documented paths of {base}");
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .http
                .request(method, format!("{base}{path}"))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
            let documented = op["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(status.as_str()),
                "{path} answered undocumented {status}"
            );
        }
    }
}

async fn openapi_matches_routes(app: App) {
    check(
        &app,
        &app.external,
        &[
            "/version/v1/registrationToken",
            "/version/v1/tan",
            "/version/v1/testresult",
        ],
    )
    .await;
    check(
        &app,
        &app.internal,
        &["/version/v1/tan/teletan", "/version/v1/tan/verify"],
    )
    .await;
    check(
        &app,
        &app.testresult,
        &[
            "/api/v1/app/result",
            "/api/v1/lab/results",
            "/api/v1/quicktest/results",
        ],
    )
    .await;
    // Probes answer on every listener; metrics on none of them (only on the operators' listener).
    for base in [&app.external, &app.internal, &app.testresult] {
        assert_eq!(
            app.http
                .get(format!("{base}/ready"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        let r = app
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{base}/metrics");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "no_route", "{base}/metrics");
    }
}
on_both!(openapi_matches_routes);

/// Each listener's router and the document it serves name the same operations, asked in process: the
/// documents are generated from the routes, so this fails only if a route escapes the generation.
async fn routers_and_documents_agree(app: App) {
    for (name, router) in [
        ("external", app.vs.external_router()),
        ("internal", app.vs.internal_router()),
        ("testresult", app.trs.router()),
    ] {
        let doc = warnkit_service::openapi::served(&router).await;
        let ops = warnkit_service::openapi::operations(&doc);
        assert!(ops.len() > 3, "{name}: {ops:?}");
        let wrong = warnkit_service::openapi::mismatches(&router, &doc).await;
        assert!(wrong.is_empty(), "{name}: {wrong:#?}");
    }
}
on_both!(routers_and_documents_agree);
