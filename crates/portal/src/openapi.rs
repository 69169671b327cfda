//! The OpenAPI 3 document of the portal, served at `/openapi.json`: its browser routes (HTML pages and
//! form posts), assets and probes, so that a reverse proxy or a scanner can be set up from it. Generated
//! from the handlers' `#[utoipa::path]` declarations, which the router is built from too
//! (`utoipa_axum::routes!`).

use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::OpenApi;

/// What every page shares, told once for the whole document.
const DESCRIPTION: &str = "Server-rendered pages for health-authority officers. Every form carries the \
    session's `csrf` token; a post without it gets 403. Pages are sent with `Cache-Control: no-store` and \
    a strict Content-Security-Policy.";

/// The document: `api` from the router, with the probes and the session cookie's scheme.
pub(crate) fn document(mut api: OpenApi) -> Value {
    api.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::SESSION_COOKIE,
                "The session cookie set by a successful sign-in.",
            ))),
        );
    let mut doc = warnkit_service::openapi::document("warnkit portal", api);
    doc["info"]["description"] = DESCRIPTION.into();
    doc
}
