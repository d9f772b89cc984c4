//! `POST /updates`: every row of protocol.md §2.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

fn refusal(body: &Value) -> (&str, &str) {
    (body["error"].as_str().unwrap_or("<none>"), body["kind"].as_str().unwrap_or("<none>"))
}

#[tokio::test]
async fn update_answer_has_exact_keys_and_a_working_url() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let zip = server.upload_ok(APP, "1.0.1", "").await;
    server.publish(APP, "production", "1.0.1").await;

    let answer = server.updates(&device(APP, "A0A0A0A0-0000-4000-8000-000000000001")).await;
    assert_eq!(keys(&answer), ["checksum", "manifest", "session_key", "url", "version"]);
    for entry in answer["manifest"].as_array().unwrap() {
        assert_eq!(keys(entry), ["download_url", "file_hash", "file_name"]);
    }
    assert_eq!(answer["version"], "1.0.1");
    assert_eq!(answer["checksum"], sha256_hex(&zip));
    assert_eq!(answer["session_key"], "");
    let downloaded = reqwest::get(answer["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), zip.as_slice());

    // The device now runs it: nothing new. Device ids are case-blind.
    let on_it = server
        .updates(&device_with(APP, "a0a0a0a0-0000-4000-8000-000000000001", json!({ "version_name": "1.0.1" })))
        .await;
    assert_eq!(refusal(&on_it), ("no_new_version_available", "up_to_date"));
    assert_eq!(on_it["message"], "No new version available");
    server.stop().await;
}

#[tokio::test]
async fn nothing_published_is_up_to_date_and_builtin_targets_revert_devices() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    assert_eq!(refusal(&server.updates(&device(APP, "d1")).await), ("no_new_version_available", "up_to_date"));

    server.upload_ok(APP, "1.0.1", "").await;
    server.publish(APP, "production", "builtin").await;
    let on_bundle = server.updates(&device_with(APP, "d1", json!({ "version_name": "1.0.1" }))).await;
    assert_eq!(on_bundle, json!({ "version": "builtin" }), "exactly one key");
    let on_builtin = server.updates(&device(APP, "d1")).await;
    assert_eq!(refusal(&on_builtin), ("already_on_builtin", "up_to_date"));
    // Current plugins may send the native version itself as the bundle name.
    let native_name = server.updates(&device_with(APP, "d1", json!({ "version_name": "1.0.0" }))).await;
    assert_eq!(refusal(&native_name), ("already_on_builtin", "up_to_date"));
    server.stop().await;
}

#[tokio::test]
async fn a_bundle_numbered_like_the_native_build_is_not_offered_forever() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.0", "").await;
    server.publish(APP, "production", "1.0.0").await;
    // Native 1.0.0 on its store build: it already runs version 1.0.0.
    for name in ["builtin", "1.0.0"] {
        let answer = server.updates(&device_with(APP, "d1", json!({ "version_name": name }))).await;
        assert_eq!(refusal(&answer), ("no_new_version_available", "up_to_date"), "{name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn min_native_version_gate_asks_for_a_store_update() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "2.0.1", "&min_native_version=2.0").await;
    server.publish(APP, "production", "2.0.1").await;

    let old_shell = server.updates(&device_with(APP, "d1", json!({ "version_build": "1.9" }))).await;
    assert_eq!(refusal(&old_shell), ("disable_auto_update_to_metadata", "blocked"));
    assert_eq!(old_shell["message"], "store_update_required");
    assert_eq!(old_shell["version"], "2.0.1");

    let new_shell = server.updates(&device_with(APP, "d2", json!({ "version_build": "2" }))).await;
    assert_eq!(
        new_shell["version"], "2.0.1",
        "version_build `2` is coerced to 2.0.0 (at least the minimum): {new_shell}"
    );
    assert!(new_shell.get("error").is_none());
    server.stop().await;
}

#[tokio::test]
async fn channel_strategies_block_their_semver_boundary() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    for version in ["2.0.0", "1.3.0", "1.2.9"] {
        server.upload_ok(APP, version, "").await;
    }
    let cases = [
        ("major", "2.0.0", "disable_auto_update_to_major"),
        ("minor", "1.3.0", "disable_auto_update_to_minor"),
        ("patch", "1.3.0", "disable_auto_update_to_patch"),
    ];
    for (strategy, version, code) in cases {
        server.create_channel(APP, json!({ "name": strategy, "allow_self_set": true, "strategy": strategy })).await;
        server.publish(APP, strategy, version).await;
        let answer = server
            .updates(&device_with(APP, "d1", json!({ "version_build": "1.2.3", "defaultChannel": strategy })))
            .await;
        assert_eq!(refusal(&answer), (code, "blocked"), "{strategy}: {answer}");
        assert_eq!(answer["version"], version);
    }
    // A patch inside the native line passes the strictest strategy (an older version than the
    // channel serves: forced).
    server.publish_forced(APP, "patch", "1.2.9").await;
    let patch =
        server.updates(&device_with(APP, "d1", json!({ "version_build": "1.2.3", "defaultChannel": "patch" }))).await;
    assert_eq!(patch["version"], "1.2.9", "{patch}");
    assert!(patch.get("kind").is_none());
    server.stop().await;
}

#[tokio::test]
async fn bundles_under_the_native_version_are_blocked_and_a_rollback_below_native_reverts_to_builtin() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.0", "").await;
    server.upload_ok(APP, "1.6.0", "").await;
    server.publish(APP, "production", "1.0.0").await;
    server.publish(APP, "production", "1.6.0").await;

    let native = json!({ "version_build": "1.5.0" });
    let fresh = server.updates(&device_with(APP, "d1", native.clone())).await;
    assert_eq!(fresh["version"], "1.6.0");

    let (status, body) =
        server.api(Method::POST, &format!("/apps/{APP}/channels/production/rollback"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lanes"][0]["target"], "1.0.0");

    // A device still running the bundle that was rolled away from goes back to the store build.
    let stranded =
        server.updates(&device_with(APP, "d1", json!({ "version_build": "1.5.0", "version_name": "1.6.0" }))).await;
    assert_eq!(stranded, json!({ "version": "builtin" }));
    // A device on the store build is simply blocked from the older bundle.
    let on_builtin = server.updates(&device_with(APP, "d2", native)).await;
    assert_eq!(refusal(&on_builtin), ("disable_auto_update_under_native", "blocked"));
    assert_eq!(on_builtin["version"], "1.0.0");
    // With the rule switched off the older bundle is offered.
    server.patch_channel(APP, "production", json!({ "block_under_native": false })).await;
    let allowed = server.updates(&device_with(APP, "d2", json!({ "version_build": "1.5.0" }))).await;
    assert_eq!(allowed["version"], "1.0.0");
    server.stop().await;
}

#[tokio::test]
async fn platform_build_and_device_switches_block_with_their_codes() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    server.publish(APP, "production", "1.0.1").await;
    // The only public channel must stay usable for the platform checks, so switch one thing at
    // a time and restore it.
    let cases = [
        (json!({ "ios": false }), json!({ "platform": "ios" }), "disabled_platform_ios"),
        (
            json!({ "android": false }),
            json!({ "platform": "android", "defaultChannel": "production" }),
            "disabled_platform_android",
        ),
        (json!({ "allow_prod": false }), json!({ "is_prod": true }), "disable_prod_build"),
        (json!({ "allow_dev": false }), json!({ "is_prod": false }), "disable_dev_build"),
        (json!({ "allow_emulator": false }), json!({ "is_emulator": true }), "disable_emulator"),
        (json!({ "allow_device": false }), json!({ "is_emulator": false }), "disable_device"),
    ];
    for (switch, info, code) in cases {
        server.patch_channel(APP, "production", switch.clone()).await;
        let answer = server.updates(&device_with(APP, "d1", info)).await;
        let restore: serde_json::Map<String, Value> =
            switch.as_object().unwrap().keys().map(|k| (k.clone(), json!(true))).collect();
        server.patch_channel(APP, "production", Value::Object(restore)).await;
        if code == "disabled_platform_ios" {
            // With no other public channel for iOS, the device has no channel at all.
            assert_eq!(refusal(&answer), ("no_channel", "failed"), "{answer}");
            continue;
        }
        assert_eq!(refusal(&answer), (code, "blocked"), "{answer}");
        assert_eq!(answer["version"], "1.0.1");
    }
    // A device that names the channel gets the platform block rather than no_channel.
    server.patch_channel(APP, "production", json!({ "ios": false })).await;
    let named =
        server.updates(&device_with(APP, "d1", json!({ "platform": "ios", "defaultChannel": "production" }))).await;
    assert_eq!(refusal(&named), ("disabled_platform_ios", "blocked"));
    server.stop().await;
}

#[tokio::test]
async fn channel_choice_private_missing_and_unknown_channels() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    server.upload_ok(APP, "1.0.2", "").await;
    server.publish(APP, "production", "1.0.1").await;
    server.create_channel(APP, json!({ "name": "internal" })).await;
    server.publish(APP, "internal", "1.0.2").await;

    let private = server.updates(&device_with(APP, "d1", json!({ "defaultChannel": "internal" }))).await;
    assert_eq!(refusal(&private), ("cannot_update_via_private_channel", "blocked"));
    // Decision: a channel name that does not exist (stale config, typo) falls back to the
    // app's default channel instead of cutting the device off.
    let missing = server.updates(&device_with(APP, "d1", json!({ "defaultChannel": "no-such-channel" }))).await;
    assert_eq!(missing["version"], "1.0.1");

    server.patch_channel(APP, "production", json!({ "public": false })).await;
    let none = server.updates(&device(APP, "d1")).await;
    assert_eq!(refusal(&none), ("no_channel", "failed"));
    server.stop().await;
}

#[tokio::test]
async fn failed_codes_for_unknown_apps_missing_info_and_bad_versions() {
    let server = TestServer::start_with(|c| {
        c.rate_limit.per_second = 1;
        c.rate_limit.burst = 1;
    })
    .await;
    server.create_app(APP).await;
    // Unknown apps are answered 200 failed, never 429, however often they ask.
    for _ in 0..5 {
        let unknown = server.updates(&device("com.nobody", "d1")).await;
        assert_eq!(refusal(&unknown), ("unknown_app", "failed"));
    }
    let missing = server.updates(&json!({ "app_id": APP, "platform": "ios" })).await;
    assert_eq!(refusal(&missing), ("missing_info", "failed"));
    let bad = server.updates(&device_with(APP, "d1", json!({ "version_build": "one.two" }))).await;
    assert_eq!(refusal(&bad), ("semver_error", "failed"));
    server.stop().await;
}

#[test]
fn a_channel_pointing_at_a_missing_bundle_is_misconfigured() {
    // The database refuses such a pointer, so this can only come from a damaged snapshot:
    // check the pure resolver directly.
    use capstan_core::api::{App, Channel, ChannelSettings, Lane, Target};
    use capstan_server::cache::AppSnapshot;
    let channel = Channel {
        id: 1,
        app_id: APP.into(),
        name: "production".into(),
        settings: ChannelSettings { public: true, ..ChannelSettings::default() },
        lanes: vec![Lane { min_native: None, target: Some(Target::Bundle("9.9.9".into())), rollout: None }],
        revision: 1,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let snapshot = AppSnapshot {
        app: App { id: APP.into(), name: "x".into(), default_channel: "production".into(), created_at_ms: 0 },
        channels: vec![channel],
        bundles: Default::default(),
        overrides: Default::default(),
        files: Default::default(),
        offers: Default::default(),
    };
    let body = device(APP, "d1");
    let info = capstan_core::protocol::DeviceInfo::from_fields(body.as_object().unwrap());
    let answer =
        serde_json::to_value(capstan_server::device::resolve::resolve(&snapshot, &info, "http://x").answer).unwrap();
    assert_eq!(refusal(&answer), ("misconfigured_channel", "failed"));
}
