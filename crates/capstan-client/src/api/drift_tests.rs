//! The client's copies of the management types against the server's own definitions: the
//! server publishes JSON Schemas of what it sends (`/api/v1/openapi.json`, generated from its
//! types), and every field the client reads must be there with a JSON type the client accepts.
//! The two sides keep separate definitions (a client never depends on the server crate), so
//! this is what stops them drifting apart.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde_json::Value;

use super::*;

/// The JSON types a schema admits (`integer` counts as a `number`); `None` means anything.
fn json_types(schema: &Value, defs: &Value) -> Option<BTreeSet<String>> {
    if schema == &Value::Bool(true) || schema.as_object().is_some_and(|o| o.is_empty()) {
        return None;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap();
        return json_types(&defs[name], defs);
    }
    for union in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(union).and_then(Value::as_array) {
            let mut all = BTreeSet::new();
            for option in options {
                all.extend(json_types(option, defs)?);
            }
            return Some(all);
        }
    }
    if let Some(constant) = schema.get("const") {
        return Some([type_of(constant)].into());
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(type_of).collect());
    }
    let names = match schema.get("type") {
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return None,
    };
    Some(names.into_iter().map(|n| if n == "integer" { "number".to_owned() } else { n }).collect())
}

/// An enum's values, written as `enum` or as `oneOf` of `const`s (variants with docs).
fn enum_values(schema: &Value) -> Vec<Value> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.clone();
    }
    let options = schema.get("oneOf").and_then(Value::as_array).into_iter().flatten();
    options
        .flat_map(|option| option.get("const").cloned().or_else(|| option.get("enum").cloned()))
        .flat_map(|v| match v {
            Value::Array(values) => values,
            value => vec![value],
        })
        .collect()
}

fn type_of(value: &Value) -> String {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
    .to_owned()
}

/// Every property the client type `T` reads exists in the server's schema `server_name`, and
/// everything the server may send there is a JSON type the client accepts.
fn check<T: JsonSchema>(server_name: &str, document: &Value, problems: &mut Vec<String>) {
    let client = serde_json::to_value(schemars::schema_for!(T)).unwrap();
    let client_defs = client.get("$defs").cloned().unwrap_or(Value::Null);
    let server_defs = &document["components"]["schemas"];
    let server = &server_defs[server_name];
    if server.is_null() {
        problems.push(format!("the server documents no `{server_name}`"));
        return;
    }
    let Some(properties) = client.get("properties").and_then(Value::as_object) else {
        // An enum: the values the server sends must all be values the client knows.
        let accepted = enum_values(&client);
        let sent = enum_values(server);
        if sent.is_empty() {
            problems.push(format!("{server_name}: expected an enum on the server"));
        }
        for value in sent {
            if !accepted.contains(&value) {
                problems.push(format!("{server_name}: the client does not know the value {value}"));
            }
        }
        return;
    };
    for (name, client_schema) in properties {
        let Some(server_schema) = server["properties"].get(name) else {
            problems.push(format!("{server_name}.{name}: read by the client, not sent by the server"));
            continue;
        };
        let accepted = json_types(client_schema, &client_defs);
        let sent = json_types(server_schema, server_defs);
        match (accepted, sent) {
            (None, _) => {}
            (Some(_), None) => problems.push(format!("{server_name}.{name}: the server may send anything")),
            (Some(accepted), Some(sent)) => {
                if !sent.is_subset(&accepted) {
                    problems.push(format!(
                        "{server_name}.{name}: the server sends {sent:?}, the client accepts {accepted:?}"
                    ));
                }
            }
        }
    }
}

#[test]
fn the_client_reads_what_the_server_sends() {
    let server = capstan_testkit::Server::start();
    let (status, document) = server.get("/api/v1/openapi.json");
    assert_eq!(status, 200, "{document}");
    let mut problems = Vec::new();
    check::<Me>("Me", &document, &mut problems);
    check::<Role>("Role", &document, &mut problems);
    check::<App>("App", &document, &mut problems);
    check::<Rollout>("Rollout", &document, &mut problems);
    check::<Channel>("Channel", &document, &mut problems);
    check::<Bundle>("Bundle", &document, &mut problems);
    check::<HistoryEntry>("HistoryEntry", &document, &mut problems);
    check::<AuditEntry>("AuditEntry", &document, &mut problems);
    check::<DeviceRecord>("DeviceRecord", &document, &mut problems);
    check::<OverrideInfo>("OverrideInfo", &document, &mut problems);
    check::<DeviceEvent>("EventRecord", &document, &mut problems);
    check::<DeviceDetail>("DeviceDetail", &document, &mut problems);
    check::<DeviceOverride>("DeviceOverride", &document, &mut problems);
    check::<BundleHealth>("BundleHealth", &document, &mut problems);
    check::<ChannelAdoption>("ChannelAdoption", &document, &mut problems);
    check::<BucketCount>("BucketCount", &document, &mut problems);
    check::<Timeline>("Timeline", &document, &mut problems);
    check::<TokenRecord>("TokenRecord", &document, &mut problems);
    check::<CreatedToken>("CreatedToken", &document, &mut problems);
    assert!(problems.is_empty(), "client and server types drifted apart:\n{}", problems.join("\n"));
}

/// The check itself finds drift: a client type reading a field the server does not send, and
/// one expecting a number where the server sends text.
#[test]
fn the_drift_check_can_fail() {
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Renamed {
        version: String,
        share_percent: f64,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Retyped {
        version: i64,
    }
    let server = capstan_testkit::Server::start();
    let (_, document) = server.get("/api/v1/openapi.json");
    let mut problems = Vec::new();
    check::<Renamed>("Rollout", &document, &mut problems);
    check::<Retyped>("Rollout", &document, &mut problems);
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    #[serde(rename_all = "snake_case")]
    enum FewerRoles {
        Viewer,
        Admin,
    }
    check::<FewerRoles>("Role", &document, &mut problems);
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[2].contains("\"qa\""), "{problems:?}");
    assert!(problems[0].contains("share_percent"), "{problems:?}");
    assert!(problems[1].contains("version"), "{problems:?}");
}
