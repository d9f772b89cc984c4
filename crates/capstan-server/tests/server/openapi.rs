//! The OpenAPI document against the server: complete for every route, internally consistent,
//! and true of real requests and answers (validated with `jsonschema`).

use std::collections::BTreeSet;

use capstan_server::api::RequestBody;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn document(server: &TestServer) -> Value {
    let (status, document) = server.send(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    document
}

fn operation<'a>(document: &'a Value, method: &str, path: &str) -> &'a Value {
    let operation = &document["paths"][path][method.to_ascii_lowercase()];
    assert!(operation.is_object(), "{method} {path} is missing from the document");
    operation
}

/// Every `$ref` anywhere in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Checks `instance` against `schema`, whose `$ref`s point into the document's components.
fn assert_valid(document: &Value, schema: &Value, instance: &Value, what: &str) {
    let mut root = schema.clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = document["components"].clone();
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{what}: bad schema: {e}"));
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: {instance} does not match its schema:\n{}", errors.join("\n"));
}

#[tokio::test]
async fn every_route_documents_its_body_answer_and_parameters() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    for route in capstan_server::api::table().docs() {
        let what = format!("{} {}", route.method, route.path);
        let operation = operation(&document, route.method, route.path);
        let body = &operation["requestBody"]["content"];
        match route.body {
            RequestBody::None => assert!(operation.get("requestBody").is_none(), "{what} reads no body"),
            RequestBody::Json(_) => assert!(body["application/json"]["schema"].is_object(), "{what}: JSON body"),
            RequestBody::Zip => assert!(body["application/zip"]["schema"].is_object(), "{what}: zip body"),
        }
        let status = route.status.to_string();
        let answer = &operation["responses"][&status]["content"]["application/json"]["schema"];
        assert!(answer.is_object(), "{what}: no schema for its {status} answer");
        assert!(operation["responses"].get("200").is_none() || status == "200", "{what}: answers {status}, not 200");
        let declared: Vec<&str> =
            route.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        let documented: Vec<&str> = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, documented, "{what}: path parameters");
    }
    let query = |method: &str, path: &str| -> Vec<String> {
        operation(&document, method, path)["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(query("GET", "/api/v1/audit"), ["app", "limit"]);
    assert_eq!(query("GET", "/api/v1/apps/{app}/stats/timeline"), ["bucket", "days", "version"]);
    assert_eq!(query("GET", "/api/v1/apps/{app}/devices"), ["bundle", "channel", "limit", "native_version", "q"]);
    let upload = query("POST", "/api/v1/apps/{app}/bundles");
    assert!(upload.contains(&"version".to_owned()) && upload.contains(&"sha256".to_owned()), "{upload:?}");
    let version = operation(&document, "POST", "/api/v1/apps/{app}/bundles")["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "version")
        .unwrap()
        .clone();
    assert_eq!(version["required"], true, "the upload's version is required");
}

/// The table says which routes read JSON; the server is asked independently: a route that
/// reads JSON refuses a malformed body with `invalid_json` before it looks anything up.
#[tokio::test]
async fn exactly_the_routes_that_read_json_document_a_json_body() {
    let server = TestServer::start().await;
    for route in capstan_server::api::table().docs() {
        let path = route
            .path
            .replace("{app}", "no.such.app")
            .replace("{channel}", "none")
            .replace("{version}", "9.9.9")
            .replace("{device}", "dev-x")
            .replace("{id}", "999999")
            .replace("{key_id}", "MIIBCgKCAQEAnotakey0");
        let response = server
            .client
            .request(Method::from_bytes(route.method.as_bytes()).unwrap(), format!("{}{path}", server.base))
            .bearer_auth(&server.admin)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let reads_json = answer["error"] == "invalid_json";
        let documents_json = matches!(route.body, RequestBody::Json(_));
        assert_eq!(reads_json, documents_json, "{} {}: reads JSON? answer {answer}", route.method, route.path);
    }
}

#[tokio::test]
async fn every_ref_resolves_to_a_component() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(
        targets.len() > capstan_server::api::table().docs().len(),
        "expected refs for bodies and answers, found {}",
        targets.len()
    );
    for target in &targets {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("`{target}` is not local"));
        assert!(
            pointer.starts_with("/components/schemas/") || pointer.starts_with("/components/responses/"),
            "`{target}` points outside the components"
        );
        assert!(document.pointer(pointer).is_some(), "`{target}` resolves to nothing");
    }
    // And every schema is valid JSON Schema: the validator compiles each component.
    for name in document["components"]["schemas"].as_object().unwrap().keys() {
        let root = json!({ "$ref": format!("#/components/schemas/{name}"), "components": document["components"] });
        assert!(jsonschema::validator_for(&root).is_ok(), "component `{name}` is not a valid schema");
    }
}

/// Calls routes the way a generated client would, checking the request body and the answer
/// against the document, and which routes were exercised.
struct Client<'a> {
    server: &'a TestServer,
    document: Value,
    seen: BTreeSet<(String, String)>,
}

impl Client<'_> {
    /// `template` is the documented path, `path` the concrete one (with any query string).
    async fn call(&mut self, method: &str, template: &str, path: &str, body: Option<Value>) -> Value {
        let what = format!("{method} {path}");
        let table = capstan_server::api::table();
        let route =
            table.docs().iter().find(|r| r.method == method && r.path == template).expect("a route in the table");
        let operation = operation(&self.document, method, template).clone();
        if let Some(body) = &body {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert_valid(&self.document, schema, body, &format!("{what} request"));
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, answer) = self.server.send(method, path, Some(&self.server.admin), body).await;
        assert_eq!(status.as_u16(), route.status, "{what}: {answer}");
        self.check_answer(&operation, route.status, &answer, &what);
        self.seen.insert((route.method.to_owned(), template.to_owned()));
        answer
    }

    fn check_answer(&self, operation: &Value, status: u16, answer: &Value, what: &str) {
        let schema = &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
        assert_valid(&self.document, schema, answer, &format!("{what} answer"));
    }
}

#[tokio::test]
async fn real_requests_and_answers_of_every_route_match_the_document() {
    let server = TestServer::start().await;
    let mut c = Client { document: document(&server).await, server: &server, seen: BTreeSet::new() };
    let app = "/api/v1/apps/{app}";
    let ch = "/api/v1/apps/{app}/channels/{channel}";
    let a = format!("/api/v1/apps/{APP}");
    let beta = format!("{a}/channels/beta");

    c.call("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None).await;
    c.call("GET", "/api/v1/me", "/api/v1/me", None).await;
    c.call("POST", "/api/v1/apps", "/api/v1/apps", Some(json!({ "id": APP, "name": "Example" }))).await;
    c.call("GET", "/api/v1/apps", "/api/v1/apps", None).await;
    c.call("PATCH", app, &a, Some(json!({ "name": "Renamed" }))).await;

    // Uploads: a raw zip, checked by hand against the documented 201 answer.
    let upload = operation(&c.document, "POST", &format!("{app}/bundles")).clone();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let (status, answer) = server.upload(APP, version, bundle_zip(version), "&notes=hi").await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        c.check_answer(&upload, 201, &answer, "upload");
    }
    // A source map gives the stored warnings something to describe.
    let zip = zip_of(&[("index.html", b"x"), ("app.js", b"CapacitorUpdater.notifyAppReady()"), ("app.js.map", b"{}")]);
    let (status, answer) = server.upload(APP, "1.3.0", zip, "").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["warnings"][0]["code"], "source_maps", "{answer}");
    c.check_answer(&upload, 201, &answer, "upload with warnings");
    c.seen.insert(("POST".into(), format!("{app}/bundles")));
    let listed = c.call("GET", &format!("{app}/bundles"), &format!("{a}/bundles"), None).await;
    let with_delta = listed.as_array().unwrap().iter().find(|b| b["version"] == "1.2.0").unwrap();
    assert_eq!(with_delta["delta"]["from_version"], "1.1.0", "the delta size is checked against the schema too");
    c.call("GET", &format!("{app}/bundles/{{version}}"), &format!("{a}/bundles/1.3.0"), None).await;
    c.call("GET", &format!("{app}/bundles/{{version}}/download"), &format!("{a}/bundles/1.3.0/download"), None).await;

    // Signing: a key, a signed upload (checked by hand like the others), the rule, coverage.
    let signer = test_signer();
    let key = json!({ "public_key": signer.verifying_key().pem() });
    c.call("POST", &format!("{app}/signing/keys"), &format!("{a}/signing/keys"), Some(key)).await;
    let (bytes, fields) = encrypt_zip(&signer, &bundle_zip("1.4.0"));
    let (status, answer) = server.upload_encrypted(APP, "1.4.0", bytes, &fields).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    c.check_answer(&upload, 201, &answer, "signed upload");
    let files: Vec<Value> = signed_files_of(&signer, &bundle_zip("1.4.0"))
        .into_iter()
        .map(|(path, file_hash)| json!({ "path": path, "file_hash": file_hash }))
        .collect();
    let attach = format!("{a}/bundles/1.4.0/encrypted-files");
    c.call("PUT", &format!("{app}/bundles/{{version}}/encrypted-files"), &attach, Some(json!({ "files": files })))
        .await;
    c.call("GET", &format!("{app}/signing"), &format!("{a}/signing"), None).await;
    let off = json!({ "require_signed": false });
    c.call("PATCH", &format!("{app}/signing"), &format!("{a}/signing"), Some(off)).await;
    let coverage = format!("{a}/signing/coverage?active_days=7");
    c.call("GET", &format!("{app}/signing/coverage"), &coverage, None).await;
    let key_path = format!("{a}/signing/keys/{}", signer.key_id());
    c.call("DELETE", &format!("{app}/signing/keys/{{key_id}}"), &key_path, None).await;
    c.call("DELETE", &format!("{app}/bundles/{{version}}"), &format!("{a}/bundles/1.3.0"), None).await;
    let project = tempfile::tempdir().unwrap();
    let fingerprint = serde_json::to_value(crate::native::project(project.path(), &["@capacitor/camera"])).unwrap();
    let native = format!("{app}/bundles/{{version}}/native");
    c.call("PUT", &native, &format!("{a}/bundles/1.0.0/native"), Some(fingerprint.clone())).await;
    let recorded = c.call("GET", &native, &format!("{a}/bundles/1.0.0/native"), None).await;
    assert_eq!(recorded, fingerprint);

    // A webhook before the channel changes below, so they queue deliveries for the log.
    let hooks = format!("{app}/webhooks");
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "events": ["publish", "rollout.step"] });
    let made = c.call("POST", &hooks, &format!("{a}/webhooks"), Some(hook)).await;
    let webhook_id = made["webhook"]["id"].as_i64().unwrap();
    c.call("GET", &hooks, &format!("{a}/webhooks"), None).await;

    let created = json!({ "name": "beta", "public": false, "strategy": "major", "allow_emulator": null });
    c.call("POST", &format!("{app}/channels"), &format!("{a}/channels"), Some(created)).await;
    c.call("PATCH", ch, &beta, Some(json!({ "allow_dev": false, "strategy": "patch", "delivery": "zip" }))).await;
    c.call("PATCH", app, &a, Some(json!({ "default_channel": "beta" }))).await;
    let fresh = c.call("GET", ch, &beta, None).await;
    assert_eq!(fresh["lanes"][0]["target"], Value::Null, "nothing published yet");
    c.call("POST", &format!("{ch}/publish"), &format!("{beta}/publish"), Some(json!({ "version": "1.0.0" }))).await;
    let rollout = json!({ "version": "1.1.0", "percent": 12.5 });
    c.call("POST", &format!("{ch}/rollout"), &format!("{beta}/rollout"), Some(rollout)).await;
    c.call("PATCH", &format!("{ch}/rollout"), &format!("{beta}/rollout"), Some(json!({ "percent": 50 }))).await;
    c.call("POST", &format!("{ch}/rollout/finish"), &format!("{beta}/rollout/finish"), None).await;
    let rollout = json!({ "version": "1.2.0", "percent": 5 });
    let rolling = c.call("POST", &format!("{ch}/rollout"), &format!("{beta}/rollout"), Some(rollout)).await;
    assert_eq!(rolling["lanes"][0]["rollout"]["version"], "1.2.0");
    c.call("GET", &format!("{app}/stats/channels"), &format!("{a}/stats/channels?active_days=7"), None).await;
    c.call("DELETE", &format!("{ch}/rollout"), &format!("{beta}/rollout"), None).await;
    // Release safety: the channel's health, a plan (start, show, pause, resume, cancel) whose
    // rollout is then aborted, and a scheduled publish listed and cancelled.
    c.call("GET", &format!("{ch}/health"), &format!("{beta}/health"), None).await;
    let plan = json!({
        "version": "1.2.0", "steps": [1, 10, 100], "every_ms": 3_600_000, "min_devices": 10, "max_failure_rate": 2,
    });
    c.call("PUT", &format!("{ch}/plan"), &format!("{beta}/plan"), Some(plan)).await;
    c.call("GET", &format!("{ch}/plan"), &format!("{beta}/plan"), None).await;
    c.call("POST", &format!("{ch}/plan/pause"), &format!("{beta}/plan/pause"), None).await;
    c.call("POST", &format!("{ch}/plan/resume"), &format!("{beta}/plan/resume"), None).await;
    c.call("DELETE", &format!("{ch}/plan"), &format!("{beta}/plan"), None).await;
    c.call("DELETE", &format!("{ch}/rollout"), &format!("{beta}/rollout"), None).await;
    let later = json!({ "version": "1.2.0", "at_ms": 4_000_000_000_000i64 });
    let scheduled = c.call("POST", &format!("{ch}/schedule"), &format!("{beta}/schedule"), Some(later)).await;
    c.call("GET", &format!("{app}/schedules"), &format!("{a}/schedules"), None).await;
    let id = scheduled["id"].as_i64().unwrap();
    c.call("DELETE", &format!("{app}/schedules/{{id}}"), &format!("{a}/schedules/{id}"), None).await;
    let to = json!({ "to": "production" });
    c.call("POST", &format!("{ch}/promote"), &format!("{beta}/promote"), Some(to)).await;
    c.call("POST", &format!("{ch}/rollback"), &format!("{beta}/rollback"), Some(json!({}))).await;
    let builtin = json!({ "to": "builtin" });
    let back = c.call("POST", &format!("{ch}/rollback"), &format!("{beta}/rollback"), Some(builtin)).await;
    assert_eq!(back["lanes"][0]["target"], "builtin");
    c.call("GET", &format!("{ch}/history"), &format!("{beta}/history"), None).await;
    c.call("GET", &format!("{app}/channels"), &format!("{a}/channels"), None).await;
    c.call("GET", app, &a, None).await;

    // A device that checked for updates and reported events.
    server.updates(&device(APP, "Dev-1")).await;
    let mut event = device(APP, "dev-1");
    event["action"] = json!("set");
    event["version_name"] = json!("1.0.0");
    let (status, _) = server.send(Method::POST, "/stats", None, Some(json!([event]))).await;
    assert_eq!(status, StatusCode::OK);
    let found = c.call("GET", &format!("{app}/devices"), &format!("{a}/devices?q=dev-1&limit=5"), None).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    let device = format!("{a}/devices/dev-1");
    let dev = "/api/v1/apps/{app}/devices/{device}";
    let pin = json!({ "channel": "production" });
    c.call("PUT", &format!("{dev}/override"), &format!("{device}/override"), Some(pin)).await;
    let detail = c.call("GET", dev, &device, None).await;
    assert_eq!(detail["override"]["channel"], "production", "{detail}");
    assert!(!detail["events"].as_array().unwrap().is_empty(), "{detail}");
    c.call("DELETE", &format!("{dev}/override"), &format!("{device}/override"), None).await;
    let change =
        json!({ "change": { "kind": "rollout_start", "channel": "production", "version": "1.2.0", "percent": 20 } });
    let preview = c.call("POST", &format!("{app}/preview"), &format!("{a}/preview"), Some(change)).await;
    assert_eq!(preview["devices"], 1, "{preview}");
    c.call("GET", &format!("{app}/stats/bundles"), &format!("{a}/stats/bundles"), None).await;
    let timeline = format!("{a}/stats/timeline?bucket=day&days=2&version=1.0.0");
    c.call("GET", &format!("{app}/stats/timeline"), &timeline, None).await;

    let log = c.call("GET", &format!("{hooks}/deliveries"), &format!("{a}/webhooks/deliveries?limit=20"), None).await;
    assert!(log.as_array().unwrap().len() >= 4, "{log}");
    c.call("DELETE", &format!("{hooks}/{{id}}"), &format!("{a}/webhooks/{webhook_id}"), None).await;

    let token = json!({ "name": "ci", "role": "publisher" });
    let made = c.call("POST", "/api/v1/tokens", "/api/v1/tokens", Some(token)).await;
    let id = made["record"]["id"].as_i64().unwrap();
    c.call("DELETE", "/api/v1/tokens/{id}", &format!("/api/v1/tokens/{id}"), None).await;
    c.call("GET", "/api/v1/tokens", "/api/v1/tokens", None).await;
    let audit = c.call("GET", "/api/v1/audit", &format!("/api/v1/audit?app={APP}&limit=500"), None).await;
    assert!(audit.as_array().unwrap().len() > 10, "{audit}");

    let all: BTreeSet<(String, String)> =
        capstan_server::api::table().docs().iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
    let missed: Vec<_> = all.difference(&c.seen).collect();
    assert!(missed.is_empty(), "routes not exercised: {missed:?}");
}

/// The schemas are strict enough to catch a wrong answer: the check above can fail.
#[tokio::test]
async fn an_answer_that_breaks_its_schema_is_caught() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let document = document(&server).await;
    let (_, mut channel) = server.api(Method::GET, &format!("/apps/{APP}/channels/production"), None).await;
    let schema = json!({ "$ref": "#/components/schemas/Channel" });
    assert_valid(&document, &schema, &channel, "channel");
    let bad_lane = json!([{ "min_native": null, "target": { "version": "1.0.0" }, "rollout": null }]);
    for (field, wrong) in [("lanes", bad_lane), ("strategy", json!("sideways")), ("delivery", json!("pigeon"))] {
        let mut broken = channel.clone();
        broken[field] = wrong;
        let caught = std::panic::catch_unwind(|| assert_valid(&document, &schema, &broken, "broken"));
        assert!(caught.is_err(), "a channel with `{field}` = {} passed", broken[field]);
    }
    channel.as_object_mut().unwrap().remove("revision");
    assert!(std::panic::catch_unwind(|| assert_valid(&document, &schema, &channel, "no revision")).is_err());
}
