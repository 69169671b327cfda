//! The OpenAPI 3 document of the federation gateway, served at `/openapi.json`: generated from the
//! handlers' `#[utoipa::path]` declarations, which the router is built from too (`utoipa_axum::routes!`).

use serde_json::Value;
use utoipa::openapi::OpenApi;

/// The document: `api` from the router, with the probes and the member countries' bearer scheme.
pub(super) fn document(mut api: OpenApi) -> Value {
    warnkit_service::openapi::bearer_scheme(
        &mut api,
        "countryToken",
        "Bearer token of a member country.",
    );
    warnkit_service::openapi::document("warnkit federation gateway", api)
}
