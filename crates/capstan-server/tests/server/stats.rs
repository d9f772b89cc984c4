//! `POST /stats`: legacy objects and current arrays, any action, acknowledged only once stored.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

fn event(device_id: &str, action: &str, version: &str) -> Value {
    let mut event = device(APP, device_id);
    event["action"] = json!(action);
    event["version_name"] = json!(version);
    event["old_version_name"] = json!("1.0.0");
    event["timestamp"] = json!(1_700_000_000_000i64);
    event["metadata"] = json!({ "duration_ms": "812", "nested": { "ignored": true } });
    event
}

#[tokio::test]
async fn legacy_objects_and_current_arrays_are_stored_with_any_action() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    // Counters are kept per version for the app's bundles only (see abuse.rs for the others).
    server.upload_ok(APP, "1.0.1", "").await;
    let (status, body) = server.send(Method::POST, "/stats", None, Some(event("Legacy-1", "set", "1.0.1"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    let batch = json!([
        event("d2", "download_fail", "1.0.1:assets/big.js"),
        event("d2", "some_future_action", "1.0.1"),
        event("d2", "update_fail", "1.0.1"),
        event("d2", "set", "1.0.1"),
    ]);
    let (status, body) = server.send(Method::POST, "/stats", None, Some(batch)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    let (status, empty) = server.send(Method::POST, "/stats", None, Some(json!([]))).await;
    assert_eq!((status, empty), (StatusCode::OK, json!({ "status": "ok" })));

    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 5, "acknowledged means stored");
    let (_, detail) = server.api(Method::GET, &format!("/apps/{APP}/devices/d2"), None).await;
    let actions: Vec<&str> =
        detail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["set", "update_fail", "some_future_action", "download_fail"]);
    assert!(
        detail["events"].as_array().unwrap().iter().all(|e| e["version_name"] == "1.0.1"),
        "per-file names are cut at `:`"
    );
    let (_, detail) = server.api(Method::GET, &format!("/apps/{APP}/devices/legacy-1"), None).await;
    assert_eq!(detail["events"][0]["device_ts_ms"], 1_700_000_000_000i64);

    let (_, health) = server.api(Method::GET, &format!("/apps/{APP}/stats/bundles"), None).await;
    let bundle = health.as_array().unwrap().iter().find(|b| b["version"] == "1.0.1").expect("1.0.1 stats");
    assert_eq!(bundle["installs"], 2);
    assert_eq!(bundle["failures"], json!({ "download_fail": 1, "update_fail": 1 }));
    assert_eq!(bundle["rollbacks"], 1);
    let (_, timeline) = server.api(Method::GET, &format!("/apps/{APP}/stats/timeline?bucket=day"), None).await;
    let total: i64 = timeline["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 5);
    server.stop().await;
}

#[tokio::test]
async fn bodies_that_are_not_events_are_400_and_unknown_apps_are_acknowledged_not_stored() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    for body in ["{", "42", "\"set\"", "[1, 2]", "null"] {
        let (status, answer) = server.post_raw("/stats", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"], "invalid_json_body");
    }
    let mut stranger = event("d1", "set", "1.0.1");
    stranger["app_id"] = json!("com.nobody");
    let (status, _) = server.send(Method::POST, "/stats", None, Some(json!([stranger]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.state.db().count_events("com.nobody").await.unwrap(), 0);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_batches_are_all_committed_before_acknowledgement() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let mut tasks = Vec::new();
    for client in 0..20 {
        let (client_http, base) = (server.client.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            let batch: Vec<Value> =
                (0..200).map(|i| event(&format!("dev-{client}-{i}"), "app_moved_to_foreground", "1.0.1")).collect();
            client_http.post(format!("{base}/stats")).json(&batch).send().await.unwrap().status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 4000);
    server.stop().await;
}

#[tokio::test]
async fn device_state_buffered_by_updates_is_written_at_shutdown() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.updates(&device_with(APP, "d-shutdown", json!({ "custom_id": "user-42" }))).await;
    let state = server.state.clone();
    // The test config never flushes on a timer: only the graceful stop can have written it.
    server.stop().await;
    let stored = state.db().get_device(APP, "d-shutdown").await.unwrap().expect("flushed at shutdown");
    assert_eq!((stored.custom_id.as_str(), stored.channel.as_deref()), ("user-42", Some("production")));
}

#[tokio::test]
async fn a_group_commit_across_many_devices_is_all_queryable_and_counted() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let actions = ["set", "download_complete", "app_moved_to_foreground"];
    let mut tasks = Vec::new();
    for client in 0..16 {
        let (client_http, base) = (server.client.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            let batch: Vec<Value> =
                (0..200).map(|i| event(&format!("dev-{client}-{i}"), actions[i % actions.len()], "1.0.1")).collect();
            client_http.post(format!("{base}/stats")).json(&batch).send().await.unwrap().status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let db = server.state.db();
    assert_eq!(db.count_events(APP).await.unwrap(), 3200);
    // The hourly counters agree with the raw events, per action...
    let counts = db.action_counts(APP).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 3200);
    for action in actions {
        let raw = (0..200).filter(|i| actions[i % actions.len()] == action).count() as i64 * 16;
        assert_eq!(counts.iter().find(|c| c.action == action).map(|c| c.count), Some(raw), "{action}");
    }
    // ...and every device finds its own event.
    for (client, i) in [(0, 0), (7, 123), (15, 199)] {
        let events = db.device_events(APP, &format!("dev-{client}-{i}"), 10).await.unwrap();
        assert_eq!(events.len(), 1, "dev-{client}-{i}");
        assert_eq!(events[0].action, actions[i % actions.len()]);
    }
    server.stop().await;
}
