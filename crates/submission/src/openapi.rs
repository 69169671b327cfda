//! The OpenAPI document of the submission service, served at `/openapi.json`.

use serde_json::{json, Value};

/// The document: one upload route and its answers.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let answer = |text: &str| json!({"description": text, "content": {"application/json": {"schema": error}}});
    let count = json!({"schema": {"type": "string", "enum": ["0"]},
        "description": "Check-ins: warnkit stores none, so always 0 (the original sets the header too)"});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "warnkit submission", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/version/v1/diagnosis-keys": {"post": {
                "summary": "Upload diagnosis keys (protobuf SubmissionPayload) with a TAN",
                "description": "Keys whose rolling start is not positive, in the future, or older than the \
                    retention window are dropped silently (still 200). A key with only a transmission risk \
                    level or only days since onset gets the other derived. Fake uploads (cwa-fake: 1) are \
                    not read beyond the size limit and get exactly the answer of a real success.",
                "parameters": [
                    {"name": "cwa-fake", "in": "header", "required": true,
                     "description": "0 for a real upload, 1 for a fake one (no TAN needed, body not read, nothing stored)",
                     "schema": {"type": "string", "enum": ["0", "1"]}},
                    {"name": "cwa-authorization", "in": "header", "required": false,
                     "description": "The TAN (UUID) from the verification service; required unless cwa-fake is 1, where the app sends it empty",
                     "schema": {"type": "string"}},
                    {"name": "cwa-header-padding", "in": "header", "required": false,
                     "description": "Padding (may be empty); ignored and dropped at the edge",
                     "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/x-protobuf": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "200": {"description": "Keys stored (or dropped), or a fake upload answered; empty body",
                        "headers": {"cwa-filtered-checkins": count.clone(), "cwa-saved-checkins": count}},
                    "400": answer("cwa-fake missing or not 0/1, cwa-authorization missing or empty, body over \
                        the size limit (payload_too_large, 102400 bytes by default), malformed protobuf or a \
                        32-bit field that does not fit (malformed_payload), or an invalid payload"),
                    "403": answer("TAN malformed, unknown or used (invalid_tan), or from an event teleTAN \
                        (wrong_tan_type, the TAN stays valid)"),
                    "415": answer("A real upload that is not application/x-protobuf"),
                    "503": answer("TAN could not be checked; nothing stored, retry")
                }
            }}
        },
        "components": {"schemas": {"Error": {"type": "object", "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}}}
    })
}
