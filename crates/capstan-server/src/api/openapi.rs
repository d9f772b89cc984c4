//! `GET /api/v1/openapi.json`, generated from [`super::ROUTES`], the same table the role-matrix
//! test walks, so the document cannot list a route the server lacks or miss one it has.

use axum::Json;
use serde_json::{Map, Value, json};

use super::ROUTES;

/// The OpenAPI 3.1 document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut operation = json!({
            "summary": route.summary,
            "parameters": params,
            "responses": {
                "200": { "description": "Success (201 for creations)" },
                "400": { "$ref": "#/components/responses/Error" },
                "401": { "$ref": "#/components/responses/Error" },
                "403": { "$ref": "#/components/responses/Error" },
                "404": { "$ref": "#/components/responses/Error" },
                "409": { "$ref": "#/components/responses/Error" },
            },
        });
        if let Some(role) = route.role {
            operation["security"] = json!([{ "bearer": [] }]);
            operation["x-capstan-min-role"] = json!(role.as_str());
        } else {
            operation["security"] = json!([]);
        }
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Capstan management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Publish, roll out, roll back and inspect live-update bundles. Roles: viewer < qa < publisher < admin.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": { "application/json": { "schema": {
                        "type": "object",
                        "required": ["error", "message"],
                        "properties": { "error": { "type": "string" }, "message": { "type": "string" } },
                    } } },
                },
            },
        },
    })
}

/// The handler.
pub async fn document() -> Json<Value> {
    Json(build())
}
