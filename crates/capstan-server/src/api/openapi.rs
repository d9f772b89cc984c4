//! `GET /api/v1/openapi.json`, generated from [`super::ROUTES`], the same table the role-matrix
//! test walks: every documented route is probed against the real router. (A route added to the
//! router but not to the table would go undocumented; keep the two side by side.)
//!
//! Body and answer schemas come from the Rust types the handlers deserialize and serialize
//! (`schemars` reads their `#[serde]` attributes), so the document follows the code. Requests
//! are described with schemars' deserialize contract and answers with its serialize contract:
//! an `Option` field a client may omit is always present (maybe `null`) in an answer.

use std::borrow::Cow;

use axum::Json;
use capstan_core::bundle::Warning;
use capstan_core::version::Strategy;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::{ROUTES, RequestBody, RouteDoc, SchemaFn};

/// Where component schemas live; every `$ref` the generators write points here.
const COMPONENTS: &str = "/components/schemas";

fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings.with(|s| s.definitions_path = COMPONENTS.into()).into_generator()
}

/// The OpenAPI 3.1 document.
pub fn build() -> Value {
    let mut requests = generator(SchemaSettings::draft2020_12().for_deserialize());
    let mut answers = generator(SchemaSettings::draft2020_12().for_serialize());
    let mut paths = Map::new();
    for route in ROUTES {
        let operation = operation(route, &mut requests, &mut answers);
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation;
    }
    let mut schemas = answers.take_definitions(true);
    merge_schemas(&mut schemas, requests.take_definitions(true));
    schemas.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Capstan management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Publish, roll out, roll back and inspect live-update bundles. Roles: viewer < qa < publisher < admin.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
        },
    })
}

/// One path item operation: parameters, body, success answer, errors, security.
fn operation(route: &RouteDoc, requests: &mut SchemaGenerator, answers: &mut SchemaGenerator) -> Value {
    let mut params = path_parameters(route.path);
    if let Some(query) = route.query {
        params.extend(query_parameters(query));
    }
    if matches!(route.body, RequestBody::Zip) {
        params.push(json!({
            "name": super::bundles::SHA256_HEADER,
            "in": "header",
            "required": false,
            "description": "SHA-256 of the body, lowercase hex, when the `sha256` parameter is not sent.",
            "schema": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" },
        }));
    }
    let mut operation = json!({
        "summary": route.summary,
        "parameters": params,
        "responses": {
            route.status.to_string(): {
                "description": if route.status == 201 { "Created" } else { "Success" },
                "content": { "application/json": { "schema": (route.response)(answers) } },
            },
            "400": { "$ref": "#/components/responses/Error" },
            "401": { "$ref": "#/components/responses/Error" },
            "403": { "$ref": "#/components/responses/Error" },
            "404": { "$ref": "#/components/responses/Error" },
            "409": { "$ref": "#/components/responses/Error" },
        },
    });
    match route.body {
        RequestBody::None => {}
        RequestBody::Json(schema) => {
            operation["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": schema(requests) } } });
        }
        RequestBody::Zip => {
            operation["requestBody"] = json!({
                "required": true,
                "description": "The bundle zip, streamed; its SHA-256 goes in `sha256` or the `x-capstan-sha256` header.",
                "content": { "application/zip": { "schema": { "type": "string", "contentMediaType": "application/zip" } } },
            });
        }
    }
    if let Some(role) = route.role {
        operation["security"] = json!([{ "bearer": [] }]);
        operation["x-capstan-min-role"] = json!(role.as_str());
    } else {
        operation["security"] = json!([]);
    }
    operation
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

/// One `in: query` parameter per field of the (flat) query struct. Built with a scratch
/// generator whose definitions are dropped: the struct itself is not a body anyone sends.
fn query_parameters(query: SchemaFn) -> Vec<Value> {
    let mut scratch = generator(SchemaSettings::draft2020_12().for_deserialize());
    let reference = query(&mut scratch);
    let name = reference.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()).unwrap_or_default();
    let definitions = scratch.take_definitions(true);
    let schema = definitions.get(name).unwrap_or(reference.as_value());
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(properties) = schema["properties"].as_object() else { return Vec::new() };
    properties
        .iter()
        .map(|(field, property)| {
            let mut property = property.clone();
            // The description belongs to the parameter; `null` means nothing in a query string.
            let description = property.as_object_mut().and_then(|p| p.remove("description"));
            if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    property["type"] = types[0].clone();
                }
            }
            let mut parameter = json!({
                "name": field,
                "in": "query",
                "required": required.contains(&field.as_str()),
                "schema": property,
            });
            if let Some(description) = description {
                parameter["description"] = description;
            }
            parameter
        })
        .collect()
}

/// Adds the request-side definitions. A type used both ways must look the same both ways, or
/// one `$ref` would mean two things; the document test builds this, so a clash fails there.
fn merge_schemas(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (name, schema) in from {
        match into.get(&name) {
            Some(existing) if *existing != schema => {
                panic!("schema `{name}` differs between requests and answers: give one side its own type")
            }
            _ => {
                into.insert(name, schema);
            }
        }
    }
}

/// The shape of every error answer ([`crate::error::AppError`]).
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error", "message"],
        "properties": { "error": { "type": "string" }, "message": { "type": "string" } },
    })
}

/// The answer of `GET /api/v1/openapi.json`: this document (not described further).
pub fn document_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["openapi", "info", "paths", "components"],
        "description": "An OpenAPI 3.1 document",
    })
}

/// Schema of [`Strategy`], which lives in `capstan-core` (no schemars there).
pub struct StrategySchema;

impl JsonSchema for StrategySchema {
    fn schema_name() -> Cow<'static, str> {
        "Strategy".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The names are serde's, from every variant: the exhaustive match stops compiling when
        // capstan-core adds one, until it is listed here.
        let all = [Strategy::None, Strategy::Major, Strategy::Minor, Strategy::Patch];
        for strategy in all {
            match strategy {
                Strategy::None | Strategy::Major | Strategy::Minor | Strategy::Patch => {}
            }
        }
        let names: Vec<Value> = all.iter().map(|s| json!(s)).collect();
        json_schema!({
            "type": "string",
            "enum": names,
            "description": "How far a bundle's version may move from the device's native version (`none`: only MIN_NATIVE_VERSION applies).",
        })
    }
}

/// Schema of one stored bundle warning ([`Warning`], from `capstan-core`): an object tagged by
/// `code`, with the variant's fields beside it.
pub struct WarningSchema;

impl JsonSchema for WarningSchema {
    fn schema_name() -> Cow<'static, str> {
        "BundleWarning".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // One value of each variant, serialized by serde, gives the codes; the exhaustive match
        // stops compiling when capstan-core adds a variant, until it is listed here.
        let all = [
            Warning::NoNotifyAppReady,
            Warning::SourceMaps { count: 0 },
            Warning::LargeFile { path: String::new(), size: 0 },
            Warning::LargeBundle { size: 0 },
        ];
        for warning in &all {
            match warning {
                Warning::NoNotifyAppReady
                | Warning::SourceMaps { .. }
                | Warning::LargeFile { .. }
                | Warning::LargeBundle { .. } => {}
            }
        }
        let codes: Vec<Value> = all.iter().map(|w| json!(w)["code"].clone()).collect();
        json_schema!({
            "type": "object",
            "required": ["code"],
            "properties": {
                "code": { "type": "string", "enum": codes },
                "count": { "type": "integer", "minimum": 0 },
                "path": { "type": "string" },
                "size": { "type": "integer", "minimum": 0 },
            },
            "description": "Something a release manager should know about a bundle; fields beside `code` depend on it.",
        })
    }
}

/// The handler: the document is built once, the route table and types do not change.
pub async fn document() -> Json<Value> {
    static DOCUMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(build);
    Json(DOCUMENT.clone())
}
