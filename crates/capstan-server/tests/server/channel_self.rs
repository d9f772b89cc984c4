//! `{channelUrl}`: every verb, body or query string (protocol.md §4).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn setup() -> TestServer {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.create_channel(APP, json!({ "name": "beta", "allow_self_set": true })).await;
    server.create_channel(APP, json!({ "name": "internal" })).await;
    server.create_channel(APP, json!({ "name": "ios-beta", "allow_self_set": true, "android": false })).await;
    server.create_channel(APP, json!({ "name": "emulators", "allow_self_set": true, "allow_device": false })).await;
    server
}

fn query(info: &Value) -> String {
    info.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn list_is_a_bare_array_of_pickable_channels_from_a_query_string() {
    let server = setup().await;
    let (status, list) =
        server.send(Method::GET, &format!("/channel_self?{}", query(&device(APP, "d1"))), None, None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list.as_array().expect("bare array").iter().map(|c| c["name"].as_str().unwrap()).collect();
    // Private, wrong-platform and wrong-device-class channels are not listed.
    assert_eq!(names, ["production", "beta"]);
    let beta = &list[1];
    assert!(beta["id"].is_i64(), "id is a JSON number: {beta}");
    assert_eq!((beta["public"].clone(), beta["allow_self_set"].clone()), (json!(false), json!(true)));
    let (_, ios) = server
        .send(
            Method::GET,
            &format!("/channel_self?{}", query(&device_with(APP, "d1", json!({ "platform": "ios" })))),
            None,
            None,
        )
        .await;
    assert_eq!(ios.as_array().unwrap().len(), 3);
    let (_, unknown) =
        server.send(Method::GET, &format!("/channel_self?{}", query(&device("com.nobody", "d1"))), None, None).await;
    assert_eq!(unknown, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn set_get_unset_for_a_legacy_plugin() {
    let server = setup().await;
    let legacy = device_with(APP, "d1", json!({ "plugin_version": "6.27.0" }));
    let (_, got) = server.send(Method::PUT, "/channel_self", None, Some(legacy.clone())).await;
    assert_eq!(got, json!({ "channel": "production", "status": "default", "allowSet": false }));

    let mut set = legacy.clone();
    set["channel"] = json!("beta");
    let (status, answer) = server.send(Method::POST, "/channel_self", None, Some(set)).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({ "status": "ok", "allowSet": true })));
    let (_, got) = server.send(Method::PUT, "/channel_self", None, Some(legacy.clone())).await;
    assert_eq!(got, json!({ "channel": "beta", "status": "override", "allowSet": true }));

    // Legacy unset sends the info object as a query string.
    let (status, answer) = server.send(Method::DELETE, &format!("/channel_self?{}", query(&legacy)), None, None).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({ "status": "ok" })));
    let (_, got) = server.send(Method::PUT, "/channel_self", None, Some(legacy)).await;
    assert_eq!(got["channel"], "production");
    server.stop().await;
}

#[tokio::test]
async fn current_plugins_are_validated_not_persisted() {
    let server = setup().await;
    let current = device(APP, "d2");
    let mut set = current.clone();
    set["channel"] = json!("beta");
    let (_, answer) = server.send(Method::POST, "/channel_self", None, Some(set)).await;
    assert_eq!(answer, json!({ "status": "ok", "allowSet": true }));
    let (_, got) = server.send(Method::PUT, "/channel_self", None, Some(current.clone())).await;
    assert_eq!(got["channel"], "production", "nothing stored for a current plugin");
    let mut asks = current;
    asks["defaultChannel"] = json!("beta");
    let (_, got) = server.send(Method::PUT, "/channel_self", None, Some(asks)).await;
    assert_eq!(got, json!({ "channel": "beta", "status": "override", "allowSet": true }));
    server.stop().await;
}

#[tokio::test]
async fn refusals_name_the_reason() {
    let server = setup().await;
    for (channel, code) in [
        ("internal", "channel_self_set_not_allowed"),
        ("nope", "channel_not_found"),
        ("production", "channel_self_set_not_allowed"),
    ] {
        let mut set = device_with(APP, "d1", json!({ "plugin_version": "6.27.0" }));
        set["channel"] = json!(channel);
        let (status, answer) = server.send(Method::POST, "/channel_self", None, Some(set)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["error"], code, "{channel}: {answer}");
        assert!(answer["message"].is_string());
    }
    let (_, unknown) = server.send(Method::PUT, "/channel_self", None, Some(device("com.nobody", "d1"))).await;
    assert_eq!((unknown["error"].as_str(), unknown["kind"].as_str()), (Some("unknown_app"), Some("failed")));
    server.stop().await;
}
