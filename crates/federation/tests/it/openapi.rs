//! The gateway's `/openapi.json`: an OpenAPI 3 document of its three routes and the probes, and the
//! router and the document name the same operations (both come from the handlers' declarations).

use warnkit_testkit::suite_on_both_engines;

use crate::harness::World;

suite_on_both_engines!(the_document_is_the_router, crate::harness::World, 2);

async fn the_document_is_the_router(world: World) {
    let router = world.gateway.router();
    let doc = warnkit_service::openapi::served(&router).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    assert_eq!(doc["info"]["title"], "warnkit federation gateway");
    let ops = warnkit_service::openapi::operations(&doc);
    let expected: Vec<(String, String)> = [
        ("GET", "/diagnosiskeys/audit/download/{date}/{batchTag}"),
        ("GET", "/diagnosiskeys/download/{date}"),
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/ready"),
        ("POST", warnkit_federation::gateway::UPLOAD_PATH),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(ops, expected);
    let upload = &doc["paths"][warnkit_federation::gateway::UPLOAD_PATH]["post"];
    assert_eq!(upload["security"][0]["countryToken"], serde_json::json!([]));
    assert!(doc["components"]["securitySchemes"]["countryToken"].is_object());
    let wrong = warnkit_service::openapi::mismatches(&router, &doc).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
}
