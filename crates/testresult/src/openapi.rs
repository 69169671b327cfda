//! The OpenAPI 3 document of the test-result API, served at `/openapi.json`: generated from the
//! handlers' `#[utoipa::path]` declarations and the request and answer types, which the router is built
//! from too (`utoipa_axum::routes!`).

use serde_json::Value;
use utoipa::openapi::OpenApi;

/// The document: `api` from the router, with the probes and the two bearer schemes its operations name.
pub(crate) fn document(mut api: OpenApi) -> Value {
    use warnkit_service::openapi::bearer_scheme;
    bearer_scheme(
        &mut api,
        "labKey",
        "Per-lab key from `warnkit lab key create`.",
    );
    bearer_scheme(&mut api, "serviceToken", "The service-to-service token.");
    warnkit_service::openapi::document("warnkit test-result service", api)
}
