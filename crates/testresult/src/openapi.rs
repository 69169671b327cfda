//! The OpenAPI 3.0 document of the test-result API, served at `/openapi.json`.

use serde_json::{json, Value};

/// The document; the integration tests check that every path in it is routed and vice versa.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let err = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error}}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "warnkit test-result service", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/api/v1/lab/results": {"post": {
                "summary": "Upload test results (labs).",
                "security": [{"labKey": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema":
                    {"$ref": "#/components/schemas/LabResults"}}}},
                "responses": {
                    "204": {"description": "Stored."},
                    "400": err("Malformed JSON, bad id, result or sc."),
                    "401": err("Missing or unknown lab API key."),
                    "403": err("labId is not the API key's lab."),
                    "413": err("Body over the limit."),
                    "415": err("Not application/json.")
                }
            }},
            "/api/v1/quicktest/results": {"post": {
                "summary": "Upload rapid-test results (test centres); each id is stored as its SHA-256.",
                "description": "As the original: the id is the hash from the rapid test's QR code, and the result \
                    is stored under sha256-hex of that id exactly as sent, which is what the phone registers.",
                "security": [{"labKey": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema":
                    {"$ref": "#/components/schemas/QuickResults"}}}},
                "responses": {
                    "204": {"description": "Stored."},
                    "400": err("Malformed JSON, bad id, result or sc."),
                    "401": err("Missing or unknown lab API key."),
                    "403": err("labId is not the API key's lab."),
                    "413": err("Body over the limit."),
                    "415": err("Not application/json.")
                }
            }},
            "/api/v1/app/result": {"post": {
                "summary": "Look up one result (verification service only).",
                "security": [{"serviceToken": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["id"],
                    "properties": {"id": {"$ref": "#/components/schemas/HashedId"}}}}}},
                "responses": {
                    "200": {"description": "The result; unknown ids are pending (0).", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/AppResult"}}}},
                    "400": err("Malformed JSON or bad id."),
                    "401": err("Missing or wrong service token."),
                    "413": err("Body over the limit."),
                    "415": err("Not application/json.")
                }
            }},
            "/health": {"get": {"summary": "Liveness.", "responses": {"200": {"description": "Alive."}}}},
            "/ready": {"get": {"summary": "Readiness (database reachable).", "responses": {
                "200": {"description": "Ready."}, "503": {"description": "Database unreachable."}}}},
            "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI."}}}}
        },
        "components": {
            "securitySchemes": {
                "labKey": {"type": "http", "scheme": "bearer", "description": "Per-lab key from `warnkit lab key create`."},
                "serviceToken": {"type": "http", "scheme": "bearer", "description": "The service-to-service token."}
            },
            "schemas": {
                "HashedId": {"type": "string", "pattern": "^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$",
                    "description": "Lowercase SHA-256 hex of the test GUID, or an x-prefixed date-of-birth hash."},
                "LabResults": {"type": "object", "required": ["testResults"], "properties": {
                    "labId": {"type": "string", "maxLength": 64},
                    "testResults": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
                        "type": "object", "required": ["id", "result"], "properties": {
                            "id": {"$ref": "#/components/schemas/HashedId"},
                            "result": {"type": "integer", "enum": [1, 2, 3],
                                "description": "1 negative, 2 positive, 3 invalid."},
                            "sc": {"type": "integer", "format": "int64", "description": "Sample collection, epoch seconds."}
                        }}}
                }},
                "QuickResults": {"type": "object", "required": ["testResults"], "properties": {
                    "labId": {"type": "string", "maxLength": 64},
                    "testResults": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
                        "type": "object", "required": ["id", "result"], "properties": {
                            "id": {"type": "string", "pattern": "^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$",
                                "description": "The hash from the rapid test's QR code."},
                            "result": {"type": "integer", "enum": [5, 6, 7, 8, 9],
                                "description": "5 pending, 6 negative, 7 positive, 8 invalid, 9 redeemed."},
                            "sc": {"type": "integer", "format": "int64", "description": "Sample collection, epoch seconds."}
                        }}}
                }},
                "AppResult": {"type": "object", "required": ["testResult", "sc"], "properties": {
                    "testResult": {"type": "integer", "minimum": 0, "maximum": 9, "description":
                        "PCR: 0 pending, 1 negative, 2 positive, 3 invalid, 4 redeemed. Rapid test: 5 pending, 6 negative, 7 positive, 8 invalid, 9 redeemed."},
                    "sc": {"type": "integer", "format": "int64"},
                    "labId": {"type": "string"}
                }},
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}}}
            }
        }
    })
}
