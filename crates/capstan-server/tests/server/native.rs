//! The native rule on the server: a bundle whose recorded native fingerprint differs from the
//! bundle its shells run cannot be served without a raised MIN_NATIVE_VERSION, whatever client
//! sends the request; forcing is audited. Fingerprints are made from a real project tree.

use std::path::Path;

use capstan_core::native::{NativeFingerprint, find_project, fingerprint};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// A Capacitor project with these plugins, fingerprinted.
pub fn project(root: &Path, plugins: &[&str]) -> NativeFingerprint {
    std::fs::write(root.join("capacitor.config.json"), r#"{"appId":"com.example.app","webDir":"www"}"#).unwrap();
    std::fs::create_dir_all(root.join("android/app")).unwrap();
    std::fs::write(root.join("android/app/build.gradle"), "android {}\n").unwrap();
    let mut deps = serde_json::Map::new();
    for plugin in plugins {
        deps.insert(plugin.to_string(), json!("6.0.0"));
    }
    std::fs::write(
        root.join("package.json"),
        json!({ "name": "x", "version": "1.0.0", "dependencies": deps }).to_string(),
    )
    .unwrap();
    fingerprint(&find_project(root).expect("a Capacitor project")).unwrap()
}

async fn record(server: &TestServer, version: &str, fingerprint: &NativeFingerprint) -> (StatusCode, Value) {
    let body = serde_json::to_value(fingerprint).unwrap();
    server.api(Method::PUT, &format!("/apps/{APP}/bundles/{version}/native"), Some(body)).await
}

async fn publish(server: &TestServer, body: Value) -> (StatusCode, Value) {
    server.api(Method::POST, &format!("/apps/{APP}/channels/production/publish"), Some(body)).await
}

#[tokio::test]
async fn a_changed_native_surface_needs_a_raised_min_native_version_or_force() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let root = tempfile::tempdir().unwrap();
    let before = project(root.path(), &["@capacitor/core"]);
    let after = project(root.path(), &["@capacitor/core", "@capacitor/camera"]);
    assert_ne!(before.digest, after.digest);

    server.upload_ok(APP, "1.0.0", "&min_native_version=1.0.0").await;
    let (status, bundle) = record(&server, "1.0.0", &before).await;
    assert_eq!((status, bundle["native_digest"].as_str()), (StatusCode::OK, Some(before.digest.as_str())));
    let (status, _) = record(&server, "1.0.0", &before).await;
    assert_eq!(status, StatusCode::OK, "recording the same fingerprint again is harmless");
    let (status, refused) = record(&server, "1.0.0", &after).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "recorded once");
    let (status, refused) =
        server.api(Method::PUT, &format!("/apps/{APP}/bundles/1.0.0/native"), Some(json!({ "digest": "x" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    publish(&server, json!({ "version": "1.0.0" })).await;
    let (_, fetched) = server.api(Method::GET, &format!("/apps/{APP}/bundles/1.0.0/native"), None).await;
    assert_eq!(fetched["digest"], before.digest.as_str());

    // 1.0.1 adds a plugin but keeps MIN_NATIVE_VERSION 1.0.0: refused, in words, nothing changes.
    server.upload_ok(APP, "1.0.1", "&min_native_version=1.0.0").await;
    record(&server, "1.0.1", &after).await;
    let (_, channel_before) = server.api(Method::GET, &format!("/apps/{APP}/channels/production"), None).await;
    for body in [json!({ "version": "1.0.1" }), json!({ "version": "1.0.1", "force": true })] {
        let (status, refused) = publish(&server, body).await;
        assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("native_changed")), "{refused}");
        assert!(refused["message"].as_str().unwrap().contains("plugin @capacitor/camera added"), "{refused}");
    }
    let (status, refused) = server
        .api(
            Method::POST,
            &format!("/apps/{APP}/channels/production/rollout"),
            Some(json!({ "version": "1.0.1", "percent": 5 })),
        )
        .await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("native_changed")));
    let (_, channel_now) = server.api(Method::GET, &format!("/apps/{APP}/channels/production"), None).await;
    assert_eq!(channel_now, channel_before);

    // A raised MIN_NATIVE_VERSION goes through; so does a bundle uploaded without a fingerprint.
    server.upload_ok(APP, "1.0.2", "&min_native_version=1.1.0").await;
    record(&server, "1.0.2", &after).await;
    let (status, _) = publish(&server, json!({ "version": "1.0.2" })).await;
    assert_eq!(status, StatusCode::OK);
    server.upload_ok(APP, "1.0.3", "&min_native_version=1.1.0").await;
    let (status, _) = publish(&server, json!({ "version": "1.0.3" })).await;
    assert_eq!(status, StatusCode::OK, "no fingerprint, nothing to check");

    // Forcing is possible and audited.
    let (status, answer) = publish(&server, json!({ "version": "1.0.1", "force": true, "force_native": true })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}&limit=1"), None).await;
    assert_eq!(audit[0]["action"], "channel.publish.forced_native", "{audit}");
    server.stop().await;
}
