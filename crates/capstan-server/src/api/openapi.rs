//! `GET /api/v1/openapi.json`, generated from the route table ([`super::table`]), the same
//! declaration the router and the role checks are built from: a served route is a documented
//! route.
//!
//! Body and answer schemas come from the Rust types the handlers deserialize and serialize
//! (`schemars` reads their `#[serde]` attributes), so the document follows the code. Requests
//! are described with schemars' deserialize contract and answers with its serialize contract:
//! an `Option` field a client may omit is always present (maybe `null`) in an answer.

use axum::Json;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::{RequestBody, RouteDoc, SchemaFn};

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
    for route in super::table().docs() {
        let operation = operation(route, &mut requests, &mut answers);
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation;
    }
    let error = answers.subschema_for::<capstan_core::api::ErrorBody>();
    let mut schemas = answers.take_definitions(true);
    merge_schemas(&mut schemas, requests.take_definitions(true));
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
                    "content": { "application/json": { "schema": error } },
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
                panic!(
                    "schema `{name}` differs between requests and answers: give one side its own type\n{existing}\n{schema}"
                )
            }
            _ => {
                into.insert(name, schema);
            }
        }
    }
}

/// The answer of `GET /api/v1/openapi.json`: this document (not described further).
pub fn document_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["openapi", "info", "paths", "components"],
        "description": "An OpenAPI 3.1 document",
    })
}

/// The handler: the document is built once, the route table and types do not change.
pub async fn document() -> Json<Value> {
    static DOCUMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(build);
    Json(DOCUMENT.clone())
}
