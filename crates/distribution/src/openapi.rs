//! The OpenAPI 3 document of the distribution port, served at `/openapi.json`: the published file
//! layout of [`crate::layout`] with each kind's content type and cache headers, and the probes.
//!
//! The port has one catch-all route that serves whatever [`layout::kind_of`] names, so there are no
//! handlers to annotate: the document is built with utoipa's types from the layout's own path
//! functions, and its tests fetch every path it names from a published tree and match every published
//! file to one of its paths.

use serde_json::Value;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
use utoipa::openapi::{
    ArrayBuilder, ContentBuilder, Header, HeaderBuilder, ObjectBuilder, OpenApi, Ref, RefOr,
    Required, ResponseBuilder, Schema, Type,
};

use crate::layout::{self, Kind};

/// What a CDN in front of the bucket shows, told once for the whole document.
const DESCRIPTION: &str = "The published files, as a CDN in front of the bucket serves them: GET and \
    HEAD, strong ETags with If-None-Match (304), and a Cache-Control per kind. Archives are immutable; \
    indexes and configurations change with each run.";

/// A path parameter of the layout, with the pattern the published names follow.
fn parameter(name: &str) -> Parameter {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let (schema, description) = match name {
        "region" => (
            string().pattern(Some("^[A-Z]{2,3}$")),
            "Region (country code, or EUR for the federation's combined region).",
        ),
        "date" => (
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
            "UTC date, YYYY-MM-DD, as listed by the date index.",
        ),
        "hour" => (
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(23)),
            "UTC hour, as listed by the hour index.",
        ),
        _ => (
            string().enum_values(Some(layout::V2_CONFIG_VERSIONS)),
            "API version of the v2 configuration (apps from 1.9 read v1, from 1.15 v2).",
        ),
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// The ETag and Cache-Control headers every answer about a file of `kind` carries.
fn file_headers(kind: Kind) -> [(&'static str, Header); 2] {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    [
        (
            "ETag",
            HeaderBuilder::new()
                .description(Some(
                    "Strong tag of the file's bytes; send it back as If-None-Match.",
                ))
                .schema(string())
                .build(),
        ),
        (
            "Cache-Control",
            HeaderBuilder::new()
                .description(Some("How long caches and CDNs may keep the file."))
                .schema(string().enum_values(Some([kind.cache_control()])))
                .build(),
        ),
    ]
}

/// The GET (or, with `head`, HEAD) operation of one published file of `kind`.
fn operation(kind: Kind, summary: &str, params: &[&str], body: &Schema, head: bool) -> Operation {
    let mut ok = ResponseBuilder::new().description("The file.").content(
        kind.content_type(),
        ContentBuilder::new().schema(Some(body.clone())).build(),
    );
    let mut unchanged =
        ResponseBuilder::new().description("Unchanged since the tag in If-None-Match.");
    for (name, header) in file_headers(kind) {
        ok = ok.header(name, header.clone());
        unchanged = unchanged.header(name, header);
    }
    let missing = ResponseBuilder::new()
        .description("Not published (yet, or any more).")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::<Schema>::Ref(Ref::from_schema_name("Error"))))
                .build(),
        );
    let if_none_match = ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some("The ETag of a copy held."))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    let summary = if head {
        format!("{summary} (headers only)")
    } else {
        summary.to_owned()
    };
    OperationBuilder::new()
        .summary(Some(summary))
        .parameters(Some(
            params.iter().map(|p| parameter(p)).chain([if_none_match]),
        ))
        .response("200", ok)
        .response("304", unchanged)
        .response("404", missing)
        .build()
}

/// The document; the integration tests fetch every file path it names from a real published tree.
pub fn document() -> Value {
    let zip: Schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        .description(Some(
            "A zip of export.bin (the protobuf export) and export.sig (its signatures).",
        ))
        .into();
    let array_of = |items: ObjectBuilder| -> Schema { ArrayBuilder::new().items(items).into() };
    let strings = array_of(ObjectBuilder::new().schema_type(Type::String));
    let hours = array_of(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(23)),
    );
    let files: [(String, Kind, &str, &[&str], Schema); 12] = [
        (
            layout::version_index(),
            Kind::Index,
            "The published API versions (`[\"v1\"]`).",
            &[],
            strings.clone(),
        ),
        (
            layout::country_index(),
            Kind::Index,
            "The regions with keys.",
            &[],
            strings.clone(),
        ),
        (
            layout::date_index("{region}"),
            Kind::Index,
            "The region's ended dates with a daily archive.",
            &["region"],
            strings.clone(),
        ),
        (
            layout::daily("{region}", "{date}"),
            Kind::Archive,
            "The daily archive of one date.",
            &["region", "date"],
            zip.clone(),
        ),
        (
            layout::hour_index("{region}", "{date}"),
            Kind::Index,
            "The published hours of one date.",
            &["region", "date"],
            hours,
        ),
        (
            layout::hourly("{region}", "{date}", 0).replace("/hour/0", "/hour/{hour}"),
            Kind::Archive,
            "The hourly archive of one hour.",
            &["region", "date", "hour"],
            zip.clone(),
        ),
        (
            layout::config_index(),
            Kind::Index,
            "The regions with a v1 app configuration.",
            &[],
            strings,
        ),
        (
            layout::app_config("{region}"),
            Kind::Config,
            "The signed v1 app configuration (apps before 1.9).",
            &["region"],
            zip.clone(),
        ),
        (
            layout::app_config_android("{version}"),
            Kind::Config,
            "The signed v2 Android app configuration.",
            &["version"],
            zip.clone(),
        ),
        (
            layout::app_config_ios("{version}"),
            Kind::Config,
            "The signed v2 iOS app configuration.",
            &["version"],
            zip,
        ),
        (
            layout::public_key(),
            Kind::PublicKey,
            "The public key (SPKI PEM) of the newest signing key.",
            &[],
            ObjectBuilder::new().schema_type(Type::String).into(),
        ),
        (
            layout::public_keys(),
            Kind::PublicKeys,
            "Every public key apps need, with id, version and validity.",
            &[],
            array_of(ObjectBuilder::new().schema_type(Type::Object)),
        ),
    ];
    let mut api = OpenApi::default();
    for (path, kind, summary, params, body) in files {
        let path = format!("/{path}");
        for (method, head) in [(HttpMethod::Get, false), (HttpMethod::Head, true)] {
            let op = operation(kind, summary, params, &body, head);
            api.paths.add_path_operation(&path, vec![method], op);
        }
    }
    let mut doc = warnkit_service::openapi::document("warnkit distribution", api);
    doc["info"]["description"] = DESCRIPTION.into();
    doc
}
