//! The OpenAPI 3.0 document of the portal, served at `/openapi.json`: its browser routes (HTML pages and
//! form posts), assets and probes, so that a reverse proxy or a scanner can be set up from it.

use serde_json::{json, Value};

/// The document; the integration tests check that it names every route the portal answers.
pub fn document() -> Value {
    let html = |what: &str| json!({"description": what, "content": {"text/html": {"schema": {"type": "string"}}}});
    let redirect = |what: &str| json!({"description": what, "headers": {"Location": {"schema": {"type": "string"}}}});
    let form = |fields: &[&str]| {
        let properties: serde_json::Map<String, Value> = fields
            .iter()
            .map(|f| ((*f).to_owned(), json!({"type": "string"})))
            .collect();
        json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": fields, "properties": properties}}}})
    };
    let session = json!([{"session": []}]);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "warnkit portal",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Server-rendered pages for health-authority officers. Every form carries the \
                session's `csrf` token; a post without it gets 403. Pages are sent with `Cache-Control: \
                no-store` and a strict Content-Security-Policy."
        },
        "paths": {
            "/": {"get": {"summary": "To the start page when signed in, else to the sign-in form.",
                "responses": {"303": redirect("To `/start` or `/login`.")}}},
            "/login": {
                "get": {"summary": "The sign-in form (sets the double-submit CSRF cookie).",
                    "responses": {"200": html("The form."), "303": redirect("Signed in: to the start page.")}},
                "post": {"summary": "Checks user name and password, then starts a session.",
                    "requestBody": form(&["csrf", "username", "password"]),
                    "responses": {
                        "303": redirect("Signed in: to the TOTP step, the enrolment or the start page."),
                        "400": html("The form could not be read."),
                        "401": html("Wrong user name or password (the same answer for both)."),
                        "403": html("CSRF token missing or wrong."),
                        "429": html("Too many failed sign-ins."),
                        "503": html("Too many sign-ins in progress; try again shortly.")}}
            },
            "/login/totp": {
                "get": {"summary": "Asks for the one-time code.", "security": session,
                    "responses": {"200": html("The form."), "303": redirect("Not at this stage.")}},
                "post": {"summary": "Checks the one-time code.", "security": session,
                    "requestBody": form(&["csrf", "code"]),
                    "responses": {"303": redirect("To the start page."), "401": html("Wrong code."),
                        "403": html("CSRF token missing or wrong."), "429": html("Too many wrong codes.")}}
            },
            "/totp/enrol": {
                "get": {"summary": "The QR code of the TOTP secret, after the first sign-in.", "security": session,
                    "responses": {"200": html("The QR code and form."), "303": redirect("Not at this stage.")}},
                "post": {"summary": "Confirms the enrolment with a first valid code.", "security": session,
                    "requestBody": form(&["csrf", "code"]),
                    "responses": {"303": redirect("To the start page."), "401": html("Wrong code."),
                        "403": html("CSRF token missing or wrong."), "429": html("Too many wrong codes.")}}
            },
            "/start": {"get": {"summary": "The officer's start page: the forms the officer's roles may use.",
                "security": session,
                "responses": {"200": html("The start page."), "303": redirect("Signed out: to `/login`.")}}},
            "/teletan": {"post": {"summary": "Issues a TEST teleTAN (hotline role).", "security": session,
                "requestBody": form(&["csrf"]),
                "responses": {"200": html("The teleTAN."), "303": redirect("Signed out: to `/login`."),
                    "403": html("Not the hotline role, or CSRF token missing or wrong."),
                    "429": html("One teleTAN per officer per interval."),
                    "502": html("The verification service did not answer.")}}},
            "/teletan/event": {"post": {"summary": "Issues an EVENT (PIW) teleTAN for a configured health authority (event role).",
                "security": session,
                "requestBody": form(&["csrf", "authority"]),
                "responses": {"200": html("The event teleTAN."), "303": redirect("Signed out: to `/login`."),
                    "400": html("No authority, or one not configured."),
                    "403": html("Not the event role, or CSRF token missing or wrong."),
                    "429": html("One teleTAN per officer per interval."),
                    "502": html("The verification service did not answer.")}}},
            "/oidc/login": {"get": {"summary": "Sign-in at the OpenID Connect provider (404 unless one is configured).",
                "responses": {"303": redirect("To the provider."), "404": {"description": "No provider configured."}}}},
            "/oidc/callback": {"get": {"summary": "The provider's answer (404 unless one is configured).",
                "parameters": [
                    {"name": "code", "in": "query", "schema": {"type": "string"}},
                    {"name": "state", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": html("Signed in, or why not."), "400": html("Stale or refused sign-in."),
                    "404": {"description": "No provider configured."}}}},
            "/logout": {"post": {"summary": "Ends the session.", "requestBody": form(&["csrf"]),
                "responses": {"303": redirect("To `/login`.")}}},
            "/static/portal.css": {"get": {"summary": "The style sheet.", "responses": {"200": {
                "description": "CSS.", "content": {"text/css": {"schema": {"type": "string"}}}}}}},
            "/static/portal.js": {"get": {"summary": "The progressive script (copy button, countdown).",
                "responses": {"200": {"description": "JavaScript.",
                    "content": {"text/javascript": {"schema": {"type": "string"}}}}}}},
            "/health": {"get": {"summary": "Liveness.", "responses": {"200": {"description": "Alive."}}}},
            "/ready": {"get": {"summary": "Readiness (database reachable).", "responses": {
                "200": {"description": "Ready."}, "503": {"description": "Database unreachable."}}}},
            "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI."}}}}
        },
        "components": {"securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": crate::session::SESSION_COOKIE,
                "description": "The session cookie set by a successful sign-in."}
        }}
    })
}
