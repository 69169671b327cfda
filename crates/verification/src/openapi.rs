//! The OpenAPI 3.0 documents of the app-facing and internal verification APIs, served at `/openapi.json`.

use serde_json::{json, Value};

use crate::wire::{TAN_VERIFY_PATH, TELETAN_PATH};

fn probes() -> Value {
    json!({
        "/health": {"get": {"summary": "Liveness.", "responses": {"200": {"description": "Alive."}}}},
        "/ready": {"get": {"summary": "Readiness (database reachable).", "responses": {
            "200": {"description": "Ready."}, "503": {"description": "Database unreachable."}}}},
        "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI."}}}}
    })
}

fn err(what: &str) -> Value {
    json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn common_schemas() -> Value {
    json!({
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string"}, "message": {"type": "string"},
            "responsePadding": {"type": "string", "description":
                "App API only: pads every error body to one size."}}},
        "Uuid4": {"type": "string",
            "pattern": "^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89aAbB][a-f0-9]{3}-[a-f0-9]{12}$"}
    })
}

fn document(title: &str, mut paths: Value, schemas: Value, security: Value) -> Value {
    if let (Some(paths), Value::Object(probes)) = (paths.as_object_mut(), probes()) {
        paths.extend(probes);
    }
    let mut all = common_schemas();
    if let (Some(all), Value::Object(extra)) = (all.as_object_mut(), schemas) {
        all.extend(extra);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": title, "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": all, "securitySchemes": security}
    })
}

fn token_body() -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}}})
}

/// The app-facing API (compatible with the original's apps).
pub fn external() -> Value {
    let fake = json!({"name": "cwa-fake", "in": "header", "required": true,
        "description": "0 for a real request; 1 marks a fake: validated, answered alike (status, headers, \
            size, latency), nothing changes. Missing or any other value: 400.",
        "schema": {"type": "string", "enum": ["0", "1"]}});
    let padding = json!({"name": "cwa-header-padding", "in": "header", "required": false,
        "description": "The apps' header padding, any value: ignored.", "schema": {"type": "string"}});
    let paths = json!({
        "/version/v1/registrationToken": {"post": {
            "summary": "Register a hashed GUID or a teleTAN; get a registration token.",
            "parameters": [fake, padding],
            "requestBody": {"required": true, "content": {"application/json": {"schema":
                {"$ref": "#/components/schemas/RegistrationTokenRequest"}}}},
            "responses": {
                "201": {"description": "Registered.", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"registrationToken": {"$ref": "#/components/schemas/Uuid4"},
                    "responsePadding": {"type": "string"}}}}}},
                "400": err("Malformed input, key already used, teleTAN unknown/expired/used, or cwa-fake missing or not 0/1."),
                "413": err("Body over 10,000 bytes."),
                "415": err("Not application/json."),
                "429": err("teleTAN registrations failed too often in this window (teletan_budget_exhausted): every teleTAN registration is refused unchecked until the window ends; the teleTAN stays valid.")
            }
        }},
        "/version/v1/testresult": {"post": {
            "summary": "Poll the test result of a registration.",
            "parameters": [fake, padding],
            "requestBody": token_body(),
            "responses": {
                "200": {"description": "The result.", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["testResult", "sc"], "properties": {
                        "testResult": {"type": "integer", "minimum": 0, "maximum": 9, "description":
                            "PCR: 0 pending, 1 negative, 2 positive, 3 invalid, 4 redeemed; rapid test: 5 pending, 6 negative, 7 positive, 8 invalid, 9 redeemed."},
                        "sc": {"type": "integer", "format": "int64"},
                        "labId": {"type": "string"},
                        "responsePadding": {"type": "string"}}}}}},
                "400": err("Malformed input, unknown registration token, or cwa-fake missing or not 0/1."),
                "403": err("The date-of-birth hash disagrees with the test."),
                "413": err("Body over 10,000 bytes."),
                "415": err("Not application/json."),
                "502": err("The test-result service is unavailable.")
            }
        }},
        "/version/v1/tan": {"post": {
            "summary": "Get a single-use TAN while the result is positive, PCR (2) or rapid (7), or for a teleTAN registration (two per registration by default).",
            "parameters": [fake, padding],
            "requestBody": token_body(),
            "responses": {
                "201": {"description": "A TAN.", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"tan": {"$ref": "#/components/schemas/Uuid4"},
                    "responsePadding": {"type": "string"}}}}}},
                "400": err("Malformed input, unknown token, result not positive, no TANs left, or cwa-fake missing or not 0/1."),
                "413": err("Body over 10,000 bytes."),
                "415": err("Not application/json."),
                "502": err("The test-result service is unavailable.")
            }
        }}
    });
    let schemas = json!({
        "RegistrationTokenRequest": {"type": "object", "required": ["keyType", "key"], "properties": {
            "keyType": {"type": "string", "enum": ["GUID", "TELETAN"]},
            "key": {"type": "string", "description":
                "GUID: lowercase SHA-256 hex of the test GUID. TELETAN: 10 characters of 23456789ABCDEFGHJKMNPQRSTUVWXYZ."},
            "keyDob": {"type": "string", "pattern": "^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$"}}},
        "TokenRequest": {"type": "object", "required": ["registrationToken"], "properties": {
            "registrationToken": {"$ref": "#/components/schemas/Uuid4"}}}
    });
    document("warnkit verification (app API)", paths, schemas, json!({}))
}

/// The internal API (submission service and portal).
pub fn internal() -> Value {
    let paths = json!({
        TAN_VERIFY_PATH: {"post": {
            "summary": "Verify and consume a TAN.",
            "security": [{"serviceToken": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["tan"], "properties": {
                    "tan": {"$ref": "#/components/schemas/Uuid4"},
                    "teleTanType": {"type": "string", "enum": ["TEST", "EVENT"], "description":
                        "The teleTAN type the caller accepts (TANs from lab results count as TEST); absent accepts any."},
                    "payloadHash": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description":
                        "The caller's keyed hash of the payload this TAN authorises. The TAN is remembered as spent on it, and a repeated check with the same TAN and hash is answered 200 again within tan_repeat_secs."}}}}}},
            "responses": {
                "200": {"description": "Valid; the TAN is consumed (or was, by a check of the same payloadHash within the repeat window). X-CWA-TELETAN-TYPE is set for teleTAN-based TANs.",
                    "headers": {"X-CWA-TELETAN-TYPE": {"schema": {"type": "string", "enum": ["TEST", "EVENT"]}}}},
                "400": err("Malformed input, unknown teleTanType or malformed payloadHash."),
                "401": err("Missing or wrong service token."),
                "403": err("Valid, but of another teleTAN type than teleTanType; not consumed (wrong_tan_type)."),
                "404": err("TAN unknown, already used or expired."),
                "413": err("Body over 10,000 bytes."),
                "415": err("Not application/json."),
                "429": err("TAN checks failed too often in this window (tan_budget_exhausted): every TAN check is refused unchecked until the window ends; nothing is consumed.")
            }
        }},
        TELETAN_PATH: {"post": {
            "summary": "Issue a teleTAN (valid one hour; EVENT two days).",
            "security": [{"serviceToken": []}],
            "parameters": [{"name": "X-CWA-TELETAN-TYPE", "in": "header", "required": false,
                "schema": {"type": "string", "enum": ["TEST", "EVENT"], "default": "TEST"}}],
            "responses": {
                "201": {"description": "The teleTAN.", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}}}}},
                "400": err("Bad teleTAN type."),
                "401": err("Missing or wrong service token."),
                "429": err("Global hourly teleTAN limit reached.")
            }
        }}
    });
    let security = json!({"serviceToken": {"type": "http", "scheme": "bearer",
        "description": "The service-to-service token (DATA_DIR/service-token in embedded mode)."}});
    document(
        "warnkit verification (internal API)",
        paths,
        json!({}),
        security,
    )
}
