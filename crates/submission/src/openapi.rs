//! The OpenAPI document of the submission service, served at `/openapi.json`.

use serde_json::{json, Value};

/// The document: one upload route and its answers.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let answer = |text: &str| json!({"description": text, "content": {"application/json": {"schema": error}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "warnkit submission", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/version/v1/diagnosis-keys": {"post": {
                "summary": "Upload diagnosis keys (protobuf SubmissionPayload) with a TAN",
                "parameters": [
                    {"name": "cwa-authorization", "in": "header", "required": true,
                     "description": "The TAN (UUID) from the verification service",
                     "schema": {"type": "string", "format": "uuid"}},
                    {"name": "cwa-fake", "in": "header", "required": false,
                     "description": "1 for a fake upload: validated, not stored, same answer",
                     "schema": {"type": "string", "enum": ["0", "1"]}}
                ],
                "requestBody": {"required": true, "content": {"application/x-protobuf": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "200": {"description": "Keys stored (or fake upload answered); empty body"},
                    "400": answer("Malformed or invalid payload"),
                    "403": answer("TAN missing, malformed, unknown or used"),
                    "413": answer("Body over the size limit"),
                    "415": answer("Not application/x-protobuf"),
                    "503": answer("TAN could not be checked; nothing stored, retry")
                }
            }}
        },
        "components": {"schemas": {"Error": {"type": "object", "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}}}
    })
}
