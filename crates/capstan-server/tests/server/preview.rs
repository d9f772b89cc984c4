//! The fleet preview against the truth: thousands of synthetic devices (platforms, native
//! versions, bundles, requested channels, overrides, a rollout) call `/updates`; for each kind
//! of change, the preview taken before it must count exactly what `/updates` answers the same
//! devices once the change is really made.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::services::services;
use crate::support::*;

const DEVICES: usize = 2400;
const PLATFORMS: [&str; 3] = ["android", "ios", "electron"];
const NATIVES: [&str; 4] = ["1.0.0", "1.5.0", "2.0.0", "2.1.3"];
const RUNNING: [&str; 3] = ["builtin", "1.0.1", "1.0.2"];
const REQUESTED: [Option<&str>; 4] = [None, Some("beta"), Some("staging"), Some("gone")];

fn device_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i.wrapping_mul(2_654_435_761) as u32, i)
}

/// Device `i`'s info object: every combination of the lists above occurs.
fn info(i: usize) -> Value {
    let mut changes = json!({
        "platform": PLATFORMS[i % 3],
        "version_build": NATIVES[(i / 3) % 4],
        "version_name": RUNNING[(i / 12) % 3],
        "is_emulator": i.is_multiple_of(17),
        "is_prod": !i.is_multiple_of(13),
    });
    if let Some(channel) = REQUESTED[(i / 36) % 4] {
        changes["defaultChannel"] = json!(channel);
    }
    device_with(APP, &device_id(i), changes)
}

/// An answer of `/updates` counted as the preview counts it: (outcome, the bundle it keeps).
fn counted(answer: &Value, info: &Value) -> (Value, Option<String>) {
    let current = match info["version_name"].as_str().unwrap() {
        "builtin" => info["version_build"].as_str().unwrap().to_owned(),
        other => other.to_owned(),
    };
    let outcome = if answer.get("url").is_some() {
        json!({ "kind": "receives", "version": answer["version"] })
    } else if answer["version"] == "builtin" && answer.get("error").is_none() {
        json!({ "kind": "store_build" })
    } else {
        match answer["kind"].as_str().unwrap() {
            "up_to_date" => json!({ "kind": "stays" }),
            "blocked" => json!({
                "kind": "blocked",
                "code": answer["error"],
                "would_get": answer.get("version").cloned().unwrap_or(json!("")),
            }),
            _ => json!({ "kind": "refused", "code": answer["error"] }),
        }
    };
    let keeps = !matches!(outcome["kind"].as_str(), Some("receives" | "store_build"));
    (outcome, keeps.then_some(current))
}

type Counts = BTreeMap<String, u64>;

fn key(outcome: &Value, current: Option<&str>) -> String {
    format!("{outcome} keeps {current:?}")
}

/// What every device gets now.
async fn answers(server: &TestServer) -> Vec<(Value, Option<String>)> {
    let mut answers = Vec::with_capacity(DEVICES);
    for i in 0..DEVICES {
        let info = info(i);
        answers.push(counted(&server.updates(&info).await, &info));
    }
    answers
}

fn counts(answers: &[(Value, Option<String>)]) -> Counts {
    let mut counts = Counts::new();
    for (outcome, current) in answers {
        *counts.entry(key(outcome, current.as_deref())).or_default() += 1;
    }
    counts
}

/// The preview's groups counted the same way, by their outcome before or after the change.
fn preview_counts(preview: &Value, side: &str) -> Counts {
    let mut counts = Counts::new();
    for group in preview["groups"].as_array().unwrap() {
        // `current` is only reported for outcomes that keep the bundle after the change.
        let current = group["current"].as_str();
        let outcome = &group[side];
        let keeps = !matches!(outcome["kind"].as_str(), Some("receives" | "store_build"));
        let current = if keeps { current } else { None };
        *counts.entry(key(outcome, current)).or_default() += group["devices"].as_u64().unwrap();
    }
    counts
}

async fn preview(server: &TestServer, change: Value) -> Value {
    let (status, body) =
        server.api(Method::POST, &format!("/apps/{APP}/preview"), Some(json!({ "change": change }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn ok(server: &TestServer, method: Method, path: &str, body: Option<Value>) {
    let (status, answer) = server.api(method, &format!("/apps/{APP}{path}"), body).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
}

/// Previews `change`, makes it with `make`, and compares the preview with the answers.
async fn check_change(
    server: &TestServer,
    now: &[(Value, Option<String>)],
    change: Value,
    make: (Method, &str, Option<Value>),
) -> Vec<(Value, Option<String>)> {
    let seen = preview(server, change.clone()).await;
    assert_eq!(seen["devices"], DEVICES as u64, "{change}: every device is counted once");
    let (method, path, body) = make;
    ok(server, method, path, body).await;
    let after = answers(server).await;
    assert_eq!(
        preview_counts(&seen, "after"),
        counts(&after),
        "{change}: the preview must count what /updates answers after the change"
    );
    let changed = now.iter().zip(&after).filter(|(before, after)| before.0 != after.0).count();
    assert_eq!(seen["changed"], changed as u64, "{change}: devices whose answer changes, device by device");
    after
}

/// A management request: method, path under the app, body.
type Request = (Method, String, Option<Value>);

async fn fleet_preview_agrees_with_updates(server: TestServer) {
    server.create_app(APP).await;
    server.create_channel(APP, json!({ "name": "beta", "allow_self_set": true })).await;
    server.create_channel(APP, json!({ "name": "staging" })).await;
    for (version, extra) in [
        ("1.0.1", ""),
        ("1.0.2", ""),
        ("1.1.0", ""),
        ("1.2.0", ""),
        ("2.0.0", "&min_native_version=2.0.0"),
        ("2.1.0", "&min_native_version=2.0.0"),
    ] {
        server.upload_ok(APP, version, extra).await;
    }
    server.publish(APP, "production", "1.0.1").await;
    server.publish(APP, "production", "2.0.0").await;
    server.publish(APP, "beta", "1.1.0").await;
    server.publish(APP, "staging", "1.2.0").await;
    ok(&server, Method::POST, "/channels/production/rollout", Some(json!({ "version": "1.0.2", "percent": 30 }))).await;
    // Pinned devices: some to beta, some to staging.
    for i in (0..DEVICES).step_by(97) {
        let channel = if i % 2 == 0 { "beta" } else { "staging" };
        ok(&server, Method::PUT, &format!("/devices/{}/override", device_id(i)), Some(json!({ "channel": channel })))
            .await;
    }
    let mut now = answers(&server).await;
    let current = preview(&server, json!({ "kind": "nothing" })).await;
    assert_eq!(preview_counts(&current, "after"), counts(&now), "no change: the preview is what devices get now");
    assert_eq!(current["changed"], 0);

    let pinned = device_id(5);
    let steps: Vec<(Value, Request)> = vec![
        (
            json!({ "kind": "rollout_change", "channel": "production", "percent": 65 }),
            (Method::PATCH, "/channels/production/rollout".into(), Some(json!({ "percent": 65 }))),
        ),
        (
            json!({ "kind": "settings", "channel": "production", "settings": { "electron": false, "allow_emulator": false } }),
            (Method::PATCH, "/channels/production".into(), Some(json!({ "electron": false, "allow_emulator": false }))),
        ),
        (
            json!({ "kind": "set_override", "device_id": pinned, "channel": "staging" }),
            (Method::PUT, format!("/devices/{pinned}/override"), Some(json!({ "channel": "staging" }))),
        ),
        (
            json!({ "kind": "publish", "channel": "production", "version": "2.1.0" }),
            (Method::POST, "/channels/production/publish".into(), Some(json!({ "version": "2.1.0" }))),
        ),
        (
            json!({ "kind": "rollout_finish", "channel": "production" }),
            (Method::POST, "/channels/production/rollout/finish".into(), None),
        ),
        (
            json!({ "kind": "rollout_start", "channel": "production", "version": "1.1.0", "percent": 40 }),
            (Method::POST, "/channels/production/rollout".into(), Some(json!({ "version": "1.1.0", "percent": 40 }))),
        ),
        (
            json!({ "kind": "promote", "from": "staging", "to": "production" }),
            (Method::POST, "/channels/staging/promote".into(), Some(json!({ "to": "production" }))),
        ),
        (
            json!({ "kind": "rollback", "channel": "production" }),
            (Method::POST, "/channels/production/rollback".into(), Some(json!({}))),
        ),
        (
            json!({ "kind": "clear_override", "device_id": device_id(97) }),
            (Method::DELETE, format!("/devices/{}/override", device_id(97)), None),
        ),
        (
            json!({ "kind": "publish", "channel": "beta", "version": "builtin" }),
            (Method::POST, "/channels/beta/publish".into(), Some(json!({ "version": "builtin" }))),
        ),
        (
            json!({ "kind": "plan_start", "channel": "beta", "version": "1.2.0", "steps": [10, 50, 100] }),
            (
                Method::PUT,
                "/channels/beta/plan".into(),
                Some(
                    json!({ "version": "1.2.0", "steps": [10, 50, 100], "every_ms": 3_600_000, "min_devices": 10, "max_failure_rate": 2 }),
                ),
            ),
        ),
        (
            // A plan taking over a running rollout starts at the largest step its share reached.
            json!({ "kind": "plan_start", "channel": "production", "version": "1.1.0", "steps": [5, 25, 100] }),
            (
                Method::PUT,
                "/channels/production/plan".into(),
                Some(
                    json!({ "version": "1.1.0", "steps": [5, 25, 100], "every_ms": 3_600_000, "min_devices": 10, "max_failure_rate": 2 }),
                ),
            ),
        ),
    ];
    for (change, (method, path, body)) in steps {
        now = check_change(&server, &now, change, (method, &path, body)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn the_preview_counts_what_updates_answers_after_each_change_sqlite() {
    fleet_preview_agrees_with_updates(TestServer::start().await).await;
}

#[tokio::test]
async fn the_preview_counts_what_updates_answers_after_each_change_postgres() {
    let Some(services) = services("preview").await else { return };
    fleet_preview_agrees_with_updates(TestServer::start_with(|config| services.apply(config)).await).await;
}

#[tokio::test]
async fn a_preview_changes_nothing_and_refuses_bad_input() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    let (status, channel_before) = server.api(Method::GET, &format!("/apps/{APP}/channels/production"), None).await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({ "change": { "kind": "publish", "channel": "production", "version": "1.0.1" } });
    let (status, _) = server.api(Method::POST, &format!("/apps/{APP}/preview"), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, channel_after) = server.api(Method::GET, &format!("/apps/{APP}/channels/production"), None).await;
    assert_eq!(channel_before, channel_after, "a preview changes nothing");

    for (body, code) in [
        (json!({ "change": { "kind": "publish", "channel": "production", "version": "9.9.9" } }), "unknown_bundle"),
        (json!({ "change": { "kind": "rollout_change", "channel": "production", "percent": 120 } }), "invalid_percent"),
        (json!({ "change": { "kind": "nothing" }, "days": 0 }), "invalid_days"),
        (json!({ "change": { "kind": "rollout_finish", "channel": "production" } }), "conflict"),
    ] {
        let (status, answer) = server.api(Method::POST, &format!("/apps/{APP}/preview"), Some(body.clone())).await;
        assert!(status.is_client_error(), "{body}: {status} {answer}");
        assert_eq!(answer["error"], code, "{body}: {answer}");
    }
    let (status, _) =
        server.api(Method::POST, &format!("/apps/{APP}/preview"), Some(json!({ "change": { "kind": "bogus" } }))).await;
    assert!(status.is_client_error());
    // A bundle not uploaded yet is previewed from what the publisher says of it.
    let body = json!({ "change": { "kind": "publish", "channel": "production", "version": "3.0.0",
        "bundle": { "min_native_version": "3.0.0" } } });
    let (status, answer) = server.api(Method::POST, &format!("/apps/{APP}/preview"), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server.stop().await;
}
