//! The OpenAPI 3.0 document of the distribution port, served at `/openapi.json`: the published file
//! layout of [`crate::layout`] with each kind's content type and cache headers, and the probes.

use serde_json::{json, Map, Value};

use crate::layout::{self, Kind};

/// A path parameter of the layout, with the pattern the published names follow.
fn parameter(name: &str) -> Value {
    let (schema, description) = match name {
        "region" => (
            json!({"type": "string", "pattern": "^[A-Z]{2,3}$"}),
            "Region (country code, or EUR for the federation's combined region).",
        ),
        "date" => (
            json!({"type": "string", "format": "date"}),
            "UTC date, YYYY-MM-DD, as listed by the date index.",
        ),
        "hour" => (
            json!({"type": "integer", "minimum": 0, "maximum": 23}),
            "UTC hour, as listed by the hour index.",
        ),
        _ => (
            json!({"type": "string", "enum": layout::V2_CONFIG_VERSIONS}),
            "API version of the v2 configuration (apps from 1.9 read v1, from 1.15 v2).",
        ),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema, "description": description})
}

/// The GET and HEAD operations of one published file of `kind`.
fn file(kind: Kind, summary: &str, params: &[&str], body: Value) -> Value {
    let headers = json!({
        "ETag": {"description": "Strong tag of the file's bytes; send it back as If-None-Match.",
            "schema": {"type": "string"}},
        "Cache-Control": {"description": "How long caches and CDNs may keep the file.",
            "schema": {"type": "string", "enum": [kind.cache_control()]}}
    });
    let responses = json!({
        "200": {"description": "The file.", "headers": headers,
            "content": {kind.content_type(): {"schema": body}}},
        "304": {"description": "Unchanged since the tag in If-None-Match.", "headers": headers},
        "404": {"description": "Not published (yet, or any more).", "content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/Error"}}}}
    });
    let parameters: Vec<Value> = params.iter().map(|p| parameter(p)).collect();
    let mut if_none_match = parameters.clone();
    if_none_match.push(
        json!({"name": "If-None-Match", "in": "header", "required": false,
        "schema": {"type": "string"}, "description": "The ETag of a copy held."}),
    );
    let op = |summary: String| json!({"summary": summary, "parameters": if_none_match, "responses": responses});
    json!({"get": op(summary.to_owned()), "head": op(format!("{summary} (headers only)"))})
}

/// The document; the integration tests fetch every file path it names from a real published tree.
pub fn document() -> Value {
    let zip = json!({"type": "string", "format": "binary",
        "description": "A zip of export.bin (the protobuf export) and export.sig (its signatures)."});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let hours = json!({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 23}});
    let files = [
        (
            layout::version_index(),
            Kind::Index,
            "The published API versions (`[\"v1\"]`).",
            vec![],
            strings.clone(),
        ),
        (
            layout::country_index(),
            Kind::Index,
            "The regions with keys.",
            vec![],
            strings.clone(),
        ),
        (
            layout::date_index("{region}"),
            Kind::Index,
            "The region's ended dates with a daily archive.",
            vec!["region"],
            strings.clone(),
        ),
        (
            layout::daily("{region}", "{date}"),
            Kind::Archive,
            "The daily archive of one date.",
            vec!["region", "date"],
            zip.clone(),
        ),
        (
            layout::hour_index("{region}", "{date}"),
            Kind::Index,
            "The published hours of one date.",
            vec!["region", "date"],
            hours,
        ),
        (
            layout::hourly("{region}", "{date}", 0).replace("/hour/0", "/hour/{hour}"),
            Kind::Archive,
            "The hourly archive of one hour.",
            vec!["region", "date", "hour"],
            zip.clone(),
        ),
        (
            layout::config_index(),
            Kind::Index,
            "The regions with a v1 app configuration.",
            vec![],
            strings,
        ),
        (
            layout::app_config("{region}"),
            Kind::Config,
            "The signed v1 app configuration (apps before 1.9).",
            vec!["region"],
            zip.clone(),
        ),
        (
            layout::app_config_android("{version}"),
            Kind::Config,
            "The signed v2 Android app configuration.",
            vec!["version"],
            zip.clone(),
        ),
        (
            layout::app_config_ios("{version}"),
            Kind::Config,
            "The signed v2 iOS app configuration.",
            vec!["version"],
            zip,
        ),
        (
            layout::public_key(),
            Kind::PublicKey,
            "The public key (SPKI PEM) of the newest signing key.",
            vec![],
            json!({"type": "string"}),
        ),
        (
            layout::public_keys(),
            Kind::PublicKeys,
            "Every public key apps need, with id, version and validity.",
            vec![],
            json!({"type": "array", "items": {"type": "object"}}),
        ),
    ];
    let mut paths = Map::new();
    for (path, kind, summary, params, body) in files {
        paths.insert(format!("/{path}"), file(kind, summary, &params, body));
    }
    paths.insert(
        "/health".into(),
        json!({"get": {"summary": "Liveness.", "responses": {"200": {"description": "Alive."}}}}),
    );
    paths.insert(
        "/ready".into(),
        json!({"get": {"summary": "Readiness (key database reachable).", "responses": {
            "200": {"description": "Ready."}, "503": {"description": "Database unreachable."}}}}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI."}}}}),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "warnkit distribution",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The published files, as a CDN in front of the bucket serves them: GET and HEAD, \
                strong ETags with If-None-Match (304), and a Cache-Control per kind. Archives are \
                immutable; indexes and configurations change with each run."
        },
        "paths": paths,
        "components": {"schemas": {"Error": {"type": "object", "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}}}
    })
}
