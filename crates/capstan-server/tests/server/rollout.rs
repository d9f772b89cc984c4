//! Percentage rollouts over thousands of synthetic devices, and override precedence.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

const DEVICES: usize = 4000;

fn device_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i * 7919, i)
}

async fn who_gets(server: &TestServer, version: &str) -> Vec<bool> {
    let mut inside = Vec::with_capacity(DEVICES);
    for i in 0..DEVICES {
        let answer = server.updates(&device_with(APP, &device_id(i), json!({ "version_name": "1.0.1" }))).await;
        inside.push(answer["version"] == version);
    }
    inside
}

#[tokio::test]
async fn rollout_share_is_respected_sticky_and_only_grows() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    server.upload_ok(APP, "1.1.0", "").await;
    server.publish(APP, "production", "1.0.1").await;
    let path = format!("/apps/{APP}/channels/production/rollout");
    let (status, body) = server.api(Method::POST, &path, Some(json!({ "version": "1.1.0", "percent": 20 }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let first = who_gets(&server, "1.1.0").await;
    let share = first.iter().filter(|x| **x).count() as f64 / DEVICES as f64;
    assert!((0.17..=0.23).contains(&share), "20 % rollout reached {share}");
    assert_eq!(who_gets(&server, "1.1.0").await, first, "the same devices get the same answer every time");

    let (status, _) = server.api(Method::PATCH, &path, Some(json!({ "percent": 50 }))).await;
    assert_eq!(status, StatusCode::OK);
    let wider = who_gets(&server, "1.1.0").await;
    let share = wider.iter().filter(|x| **x).count() as f64 / DEVICES as f64;
    assert!((0.46..=0.54).contains(&share), "50 % rollout reached {share}");
    assert!(
        first.iter().zip(&wider).all(|(before, after)| !before || *after),
        "raising the share never drops a device"
    );

    let (status, body) = server.api(Method::POST, &format!("{path}/finish"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["lanes"][0]["target"].as_str(), body["lanes"][0]["rollout"].is_null()), (Some("1.1.0"), true));
    assert!(who_gets(&server, "1.1.0").await.iter().all(|x| *x));
    server.stop().await;
}

#[tokio::test]
async fn aborting_a_rollout_returns_everyone_to_the_target() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    server.upload_ok(APP, "1.1.0", "").await;
    server.publish(APP, "production", "1.0.1").await;
    let path = format!("/apps/{APP}/channels/production/rollout");
    server.api(Method::POST, &path, Some(json!({ "version": "1.1.0", "percent": 100 }))).await;
    assert_eq!(server.updates(&device(APP, "d1")).await["version"], "1.1.0");
    let (status, _) = server.api(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.updates(&device(APP, "d1")).await["version"], "1.0.1");
    server.stop().await;
}

#[tokio::test]
async fn overrides_win_in_order_operator_then_device_then_requested_then_default() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    for (channel, version) in [("beta", "1.0.2"), ("staging", "1.0.3"), ("qa", "1.0.4")] {
        server.create_channel(APP, json!({ "name": channel, "allow_self_set": true })).await;
        server.upload_ok(APP, version, "").await;
        server.publish(APP, channel, version).await;
    }
    server.upload_ok(APP, "1.0.1", "").await;
    server.publish(APP, "production", "1.0.1").await;
    let asks_staging = device_with(APP, "d1", json!({ "defaultChannel": "staging", "plugin_version": "6.27.0" }));

    assert_eq!(server.updates(&device(APP, "d1")).await["version"], "1.0.1", "default channel");
    assert_eq!(server.updates(&asks_staging).await["version"], "1.0.3", "requested channel");

    // A legacy plugin's setChannel is stored and beats what the device sends as defaultChannel.
    let mut set = asks_staging.clone();
    set["channel"] = json!("beta");
    let (status, body) = server.send(Method::POST, "/channel_self", None, Some(set)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok", "allowSet": true })));
    assert_eq!(server.updates(&asks_staging).await["version"], "1.0.2", "device override");

    // QA pins the device: the operator's override beats everything, and the device cannot undo it.
    let (status, body) =
        server.api(Method::PUT, &format!("/apps/{APP}/devices/D1/override"), Some(json!({ "channel": "qa" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.updates(&asks_staging).await["version"], "1.0.4", "operator override");
    let mut set_again = asks_staging.clone();
    set_again["channel"] = json!("beta");
    server.send(Method::POST, "/channel_self", None, Some(set_again)).await;
    server.send(Method::DELETE, "/channel_self", None, Some(asks_staging.clone())).await;
    assert_eq!(server.updates(&asks_staging).await["version"], "1.0.4", "still the operator override");

    let (status, _) = server.api(Method::DELETE, &format!("/apps/{APP}/devices/d1/override"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.updates(&asks_staging).await["version"], "1.0.3", "back to the requested channel");
    server.stop().await;
}

/// The rule the CLI and console check early is the server's: a direct API call cannot send
/// devices backwards by accident, and `force` is an explicit, audited override.
#[tokio::test]
async fn a_version_not_newer_than_the_channel_needs_force_and_is_audited() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        server.upload_ok(APP, version, "").await;
    }
    server.publish(APP, "production", "1.1.0").await;
    let channel = format!("/apps/{APP}/channels/production");
    let (_, before) = server.api(Method::GET, &channel, None).await;

    for (path, body) in [
        ("publish", json!({ "version": "1.0.0" })),
        ("publish", json!({ "version": "1.1.0" })),
        ("rollout", json!({ "version": "1.0.0", "percent": 10 })),
    ] {
        let (status, answer) = server.api(Method::POST, &format!("{channel}/{path}"), Some(body.clone())).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("not_newer")),
            "{body}: {answer}"
        );
    }
    let (_, after) = server.api(Method::GET, &channel, None).await;
    assert_eq!(after, before, "refusals change nothing");

    // A rollout of 1.2.0 makes 1.2.0 the newest served: 1.1.5 would not be newer either.
    let (status, _) = server
        .api(Method::POST, &format!("{channel}/rollout"), Some(json!({ "version": "1.2.0", "percent": 5 })))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) =
        server.api(Method::POST, &format!("{channel}/publish"), Some(json!({ "version": "1.1.0" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    server.publish_forced(APP, "production", "1.0.0").await;
    let (_, channel_now) = server.api(Method::GET, &channel, None).await;
    assert_eq!(
        (channel_now["lanes"][0]["target"].as_str(), channel_now["lanes"][0]["rollout"].is_null()),
        (Some("1.0.0"), true)
    );
    let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}&limit=1"), None).await;
    assert_eq!(audit[0]["action"], "channel.publish.forced", "{audit}");
    let (_, history) = server.api(Method::GET, &format!("{channel}/history"), None).await;
    assert_eq!(history[0]["action"], "publish");
    server.stop().await;
}
