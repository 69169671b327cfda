//! The OpenAPI 3 document of the submission service, served at `/openapi.json`: generated from the upload
//! handler's `#[utoipa::path]` declaration, which the router is built from too (`utoipa_axum::routes!`).

use serde_json::Value;
use utoipa::openapi::OpenApi;

/// The document: `api` from the router (one upload route and its answers), with the probes.
pub(crate) fn document(api: OpenApi) -> Value {
    warnkit_service::openapi::document("warnkit submission", api)
}
