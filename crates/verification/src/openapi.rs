//! The OpenAPI 3 documents of the app-facing and internal verification APIs, served at `/openapi.json`:
//! generated from the handlers' `#[utoipa::path]` declarations and the wire types, which the routers are
//! built from too (`utoipa_axum::routes!`), so a route cannot be left out of its document.

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::OpenApi;
use utoipa::ToSchema;

/// The `cwa-fake` header's description, shared by the app API's operations.
pub(crate) const FAKE_HEADER: &str =
    "0 for a real request; 1 marks a fake: validated, answered alike \
    (status, headers, size, latency), nothing changes. Missing or any other value: 400.";
/// The `cwa-header-padding` header's description.
pub(crate) const PADDING_HEADER: &str = "The apps' header padding, any value: ignored.";

/// The 201 answer of `registrationToken` (padded to one size).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegistrationTokenResponse {
    /// The registration token (a UUID v4).
    #[schema(pattern = "^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$")]
    registration_token: String,
    /// Pads every answer to one size.
    response_padding: Option<String>,
}

/// The 200 answer of `testresult` (padded to one size).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestResultResponse {
    /// PCR: 0 pending, 1 negative, 2 positive, 3 invalid, 4 redeemed; rapid test: 5 pending,
    /// 6 negative, 7 positive, 8 invalid, 9 redeemed.
    #[schema(minimum = 0, maximum = 9)]
    test_result: u8,
    /// The sample collection time (Unix seconds).
    sc: i64,
    /// The lab's id, when the lab named one.
    lab_id: Option<String>,
    /// Pads every answer to one size.
    response_padding: Option<String>,
}

/// The 201 answer of `tan` (padded to one size).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TanResponse {
    /// A single-use TAN (a UUID v4).
    #[schema(pattern = "^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$")]
    tan: String,
    /// Pads every answer to one size.
    response_padding: Option<String>,
}

/// The app-facing API's document: `api` from its router, with the probes.
pub(crate) fn external(api: OpenApi) -> Value {
    warnkit_service::openapi::document("warnkit verification (app API)", api)
}

/// The internal API's document: `api` from its router, with the probes and the service token's scheme.
pub(crate) fn internal(mut api: OpenApi) -> Value {
    warnkit_service::openapi::bearer_scheme(
        &mut api,
        "serviceToken",
        "The service-to-service token (DATA_DIR/service-token in embedded mode).",
    );
    warnkit_service::openapi::document("warnkit verification (internal API)", api)
}
