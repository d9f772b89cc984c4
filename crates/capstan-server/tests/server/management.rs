//! The release flow through the management API: publish, promote, roll back, history, audit,
//! devices, stats and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn publish_promote_rollback_with_history_and_audit() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.create_channel(APP, json!({ "name": "staging", "allow_self_set": true })).await;
    for version in ["1.0.1", "1.0.2", "1.0.3"] {
        server.upload_ok(APP, version, "").await;
    }
    server.publish(APP, "production", "1.0.1").await;
    server.publish(APP, "staging", "1.0.2").await;
    let (status, promoted) = server
        .api(Method::POST, &format!("/apps/{APP}/channels/staging/promote"), Some(json!({ "to": "production" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    assert_eq!(
        (promoted["name"].as_str(), promoted["lanes"][0]["target"].as_str()),
        (Some("production"), Some("1.0.2"))
    );
    server.publish(APP, "production", "1.0.3").await;

    let rollback = format!("/apps/{APP}/channels/production/rollback");
    let (_, once) = server.api(Method::POST, &rollback, Some(json!({}))).await;
    assert_eq!(once["lanes"][0]["target"], "1.0.2");
    let (_, twice) = server.api(Method::POST, &rollback, Some(json!({ "to": "previous" }))).await;
    assert_eq!(twice["lanes"][0]["target"], "1.0.1", "a second rollback goes one more release back");
    let (status, _) = server.api(Method::POST, &rollback, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing before the first release");
    let (_, store) = server.api(Method::POST, &rollback, Some(json!({ "to": "builtin" }))).await;
    assert_eq!(store["lanes"][0]["target"], "builtin");
    assert_eq!(
        server.updates(&device_with(APP, "d1", json!({ "version_name": "1.0.3" }))).await,
        json!({ "version": "builtin" })
    );

    let (_, history) = server.api(Method::GET, &format!("/apps/{APP}/channels/production/history"), None).await;
    let actions: Vec<&str> = history.as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["rollback", "rollback", "rollback", "publish", "promote", "publish"]);
    assert_eq!(
        (history[0]["target_before"].as_str(), history[0]["target_after"].as_str()),
        (Some("1.0.1"), Some("builtin"))
    );
    assert!(history[0]["actor"].as_str().unwrap().contains("test-admin"));

    // Bundles a channel serves cannot be deleted; others can, and their blob goes too.
    let (status, body) = server.api(Method::DELETE, &format!("/apps/{APP}/bundles/1.0.2"), None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("in_use")), "staging serves 1.0.2");
    let (status, _) = server.api(Method::DELETE, &format!("/apps/{APP}/bundles/1.0.3"), None).await;
    assert_eq!(status, StatusCode::OK);
    let zips = server.stored_files().into_iter().filter(|f| f.ends_with(".zip")).count();
    assert_eq!(zips, 2);
    let (status, _) = server
        .api(Method::POST, &format!("/apps/{APP}/channels/production/publish"), Some(json!({ "version": "1.0.3" })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a deleted bundle cannot be published");

    let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}"), None).await;
    let entries = audit.as_array().unwrap();
    let delete = entries.iter().find(|e| e["action"] == "bundle.delete").expect("delete audited");
    assert_eq!(delete["before"]["version"], "1.0.3");
    assert!(delete["actor"].as_str().unwrap().contains("test-admin") && delete["at_ms"].as_i64().unwrap() > 0);
    let publish = entries.iter().find(|e| e["action"] == "channel.publish").unwrap();
    assert!(publish["before"].is_object() && publish["after"].is_object());
    for action in ["app.create", "channel.create", "bundle.upload", "channel.promote", "channel.rollback"] {
        assert!(entries.iter().any(|e| e["action"] == action), "{action} audited");
    }
    server.stop().await;
}

#[tokio::test]
async fn devices_are_searchable_and_channel_adoption_is_reported() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    server.publish(APP, "production", "1.0.1").await;
    for i in 0..4 {
        let bundle = if i < 3 { "1.0.1" } else { "builtin" };
        server
            .updates(&device_with(
                APP,
                &format!("dev-{i}"),
                json!({ "custom_id": format!("user-{i}"), "version_name": bundle }),
            ))
            .await;
    }
    let (_, by_custom) = server.api(Method::GET, &format!("/apps/{APP}/devices?q=user-2"), None).await;
    assert_eq!(by_custom.as_array().unwrap().len(), 1);
    assert_eq!(by_custom[0]["device_id"], "dev-2");
    let (_, by_bundle) =
        server.api(Method::GET, &format!("/apps/{APP}/devices?bundle=1.0.1&channel=production"), None).await;
    assert_eq!(by_bundle.as_array().unwrap().len(), 3);
    let (_, detail) = server.api(Method::GET, &format!("/apps/{APP}/devices/DEV-1"), None).await;
    assert_eq!(
        (detail["device"]["native_version"].as_str(), detail["device"]["channel"].as_str()),
        (Some("1.0.0"), Some("production"))
    );
    let (status, _) = server.api(Method::GET, &format!("/apps/{APP}/devices/ghost"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, adoption) = server.api(Method::GET, &format!("/apps/{APP}/stats/channels"), None).await;
    let production = &adoption[0];
    assert_eq!((production["active_devices"].as_i64(), production["on_target"].as_i64()), (Some(4), Some(3)));
    assert_eq!(production["adoption"], 0.75);
    let (_, health) = server.api(Method::GET, &format!("/apps/{APP}/stats/bundles"), None).await;
    assert_eq!(health.as_array().unwrap().iter().find(|b| b["version"] == "1.0.1").unwrap()["active_devices"], 3);
    server.stop().await;
}

#[tokio::test]
async fn openapi_lists_every_route_and_tokens_are_managed_over_http() {
    let server = TestServer::start().await;
    let (status, doc) = server.send(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for route in capstan_server::api::table().docs() {
        assert!(
            doc["paths"][route.path][route.method.to_ascii_lowercase()].is_object(),
            "{} {}",
            route.method,
            route.path
        );
    }

    let (status, created) =
        server.api(Method::POST, "/tokens", Some(json!({ "name": "ci", "role": "publisher" }))).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = created["token"].as_str().unwrap().to_owned();
    let (_, me) = server.send(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!((me["name"].as_str(), me["role"].as_str()), (Some("ci"), Some("publisher")));
    let (_, listed) = server.api(Method::GET, "/tokens", None).await;
    assert!(listed.to_string().find(&token).is_none(), "secrets are never listed");
    assert!(listed.as_array().unwrap().iter().all(|t| t.get("hash").is_none()));
    let id = created["record"]["id"].as_i64().unwrap();
    let (status, _) = server.api(Method::DELETE, &format!("/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.send(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked tokens stop working at once");
    server.stop().await;
}

#[tokio::test]
async fn active_devices_follow_the_injected_clock() {
    let clock = std::sync::Arc::new(capstan_server::clock::ManualClock::new(1_700_000_000_000));
    let server = TestServer::start_with_clock(clock.clone()).await;
    server.create_app(APP).await;
    server.updates(&device(APP, "old-device")).await;
    clock.advance(40 * 24 * 3600 * 1000);
    server.updates(&device(APP, "new-device")).await;
    let (_, adoption) = server.api(Method::GET, &format!("/apps/{APP}/stats/channels?active_days=30"), None).await;
    assert_eq!(adoption[0]["active_devices"], 1, "only the device seen in the last 30 days");
    let (_, adoption) = server.api(Method::GET, &format!("/apps/{APP}/stats/channels?active_days=60"), None).await;
    assert_eq!(adoption[0]["active_devices"], 2);
    let (_, found) = server.api(Method::GET, &format!("/apps/{APP}/devices?q=new-device"), None).await;
    assert_eq!(found[0]["last_seen_ms"], 1_700_000_000_000i64 + 40 * 24 * 3600 * 1000);
    server.stop().await;
}

#[tokio::test]
async fn split_listeners_keep_the_management_api_off_the_public_port() {
    use capstan_server::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let management = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (public_addr, management_addr) = (public.local_addr().unwrap(), management.local_addr().unwrap());
    let config = Config {
        data_dir: dir.path().join("data"),
        listen: public_addr,
        management_listen: Some(management_addr),
        durable_writes: false,
        ..Config::default()
    };
    let state = capstan_server::AppState::open(config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(capstan_server::serve_split(public, management, state, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let status = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status() }
    };
    assert_eq!(status(format!("http://{public_addr}/api/v1/openapi.json")).await, StatusCode::NOT_FOUND);
    assert_eq!(status(format!("http://{management_addr}/api/v1/openapi.json")).await, StatusCode::OK);
    assert_eq!(status(format!("http://{public_addr}/healthz")).await, StatusCode::OK);
    assert_eq!(status(format!("http://{management_addr}/readyz")).await, StatusCode::OK);
    let (_, device_answer) = post_json(format!("http://{public_addr}/updates"), &device("com.nobody", "d1")).await;
    assert_eq!(device_answer["error"], "unknown_app");
    let (on_management, _) = post_json(format!("http://{management_addr}/updates"), &device("com.nobody", "d1")).await;
    assert_eq!(on_management, StatusCode::NOT_FOUND);
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
