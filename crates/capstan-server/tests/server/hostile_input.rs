//! Malformed and oversized input gets a 4xx, never a 5xx; rate limits answer protocol.md §7.

use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn malformed_and_oversized_json_is_4xx_everywhere() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let huge = format!("{{\"app_id\":\"{APP}\",\"pad\":\"{}\"}}", "x".repeat(200_000));
    for path in ["/updates", "/channel_self"] {
        for body in ["{", "[]", "null", "\"x\"", "{\"app_id\": [1,2,3]}", huge.as_str()] {
            let (status, answer) = server.post_raw(path, body.to_owned()).await;
            assert!(
                status.is_client_error() || status == StatusCode::OK,
                "{path} {}: {status}",
                &body[..body.len().min(20)]
            );
            assert!(!status.is_server_error());
            if status != StatusCode::OK {
                assert!(answer["error"].is_string(), "{answer}");
            }
        }
    }
    let (status, answer) = server.post_raw("/updates", "{").await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json_body")));
    let (status, _) = server.post_raw("/updates", huge.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = server.post_raw("/stats", format!("[{}]", "{},".repeat(1_000_000))).await;
    assert!(status.is_client_error(), "{status}");

    // Hostile strings are cut, never stored whole.
    let long =
        device_with(APP, &"f".repeat(5000), json!({ "custom_id": "c".repeat(30_000), "version_build": "1.0.0" }));
    let answer = server.updates(&long).await;
    assert_eq!(answer["kind"], "up_to_date");
    let (_, found) = server.api(Method::GET, &format!("/apps/{APP}/devices?q={}", "f".repeat(64)), None).await;
    assert_eq!(found[0]["device_id"].as_str().unwrap().len(), 64);
    assert_eq!(found[0]["custom_id"].as_str().unwrap().len(), 256);

    // The management API: our error shape for bad JSON, 413 for too much.
    let bad = server
        .client
        .post(format!("{}/api/v1/apps", server.base))
        .bearer_auth(&server.admin)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad.json::<serde_json::Value>().await.unwrap()["error"], "invalid_json");
    let big = server
        .client
        .post(format!("{}/api/v1/apps", server.base))
        .bearer_auth(&server.admin)
        .header("content-type", "application/json")
        .body(huge.repeat(3))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = server.api(Method::POST, "/apps", Some(json!({ "id": "../../etc" }))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_name")));
    server.stop().await;
}

/// Text PostgreSQL cannot store (NUL) and text a JSON encoder must escape reach the database
/// as device state; a device sending it must neither be refused a decision nor keep the
/// devices flushed beside it from being written (PostgreSQL refuses the whole statement).
#[tokio::test]
async fn device_text_with_nul_and_escapes_is_stored_beside_its_neighbours() {
    nul_and_escapes(TestServer::start().await).await;
}

#[tokio::test]
async fn device_text_with_nul_and_escapes_is_stored_beside_its_neighbours_on_postgres() {
    let Some(services) = crate::services::services("nul_and_escapes").await else { return };
    nul_and_escapes(TestServer::start_with(|c| services.apply(c)).await).await;
}

async fn nul_and_escapes(server: TestServer) {
    server.create_app(APP).await;
    let hostile = json!({
        "custom_id": "quote\" back\\slash \u{0}nul\ttab é 😀",
        "version_os": "14\u{0}",
        "plugin_version": "8.0.0\u{0}x",
        "key_id": "\u{0}",
    });
    let answer = server.updates(&device_with(APP, "hostile-\u{0}1", hostile)).await;
    assert_eq!(answer["kind"], "up_to_date", "{answer}");
    server.updates(&device_with(APP, "neighbour-1", json!({ "custom_id": "plain" }))).await;

    let (_, found) = server.api(Method::GET, &format!("/apps/{APP}/devices?q=neighbour-1"), None).await;
    assert_eq!(found[0]["custom_id"], "plain", "{found}");
    let (status, detail) = server.api(Method::GET, &format!("/apps/{APP}/devices/hostile-1"), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let device = &detail["device"];
    assert_eq!(device["custom_id"], "quote\" back\\slash nul\ttab é 😀", "NUL dropped, the rest kept");
    assert_eq!((device["os_version"].as_str(), device["plugin_version"].as_str()), (Some("14"), Some("8.0.0x")));
    assert!(device["key_id"].is_null(), "a key id of only NUL is no key id: {device}");
    server.stop().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_the_protocol_body() {
    let server = TestServer::start_with(|c| {
        c.rate_limit.per_second = 1;
        c.rate_limit.burst = 3;
    })
    .await;
    server.create_app(APP).await;
    let url = format!("{}/updates", server.base);
    let mut limited = None;
    for _ in 0..10 {
        let sent = std::time::Instant::now();
        let response = server.client.post(&url).json(&device(APP, "d1")).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            // Held before it is answered, so a flood waits instead of spinning (ratelimit::HOLD).
            let held = sent.elapsed();
            assert!(held >= capstan_server::ratelimit::HOLD - Duration::from_millis(50), "answered after {held:?}");
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let limited = limited.expect("a burst of 3 is exceeded within 10 requests");
    let seconds: u64 = limited.headers()[RETRY_AFTER].to_str().unwrap().parse().expect("numeric Retry-After");
    assert!(seconds >= 1);
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": "too_many_requests", "message": "Too many requests", "moreInfo": { "retryAfterSeconds": seconds } })
    );
    // Still limited, an unknown app gets unknown_app, never 429.
    let unknown = server.updates(&device("com.nobody", "d1")).await;
    assert_eq!(unknown["error"], "unknown_app");
    server.stop().await;
}
