//! Release safety with an injected clock: rollout plans advance step by step while healthy,
//! pause or roll back on failures (saying why in the history), the guard acts on channels
//! without a plan, scheduled publishes happen at their time, and two replicas on one
//! PostgreSQL database never both take a step.

use std::sync::Arc;

use capstan_server::clock::ManualClock;
use capstan_server::jobs::{Job, JobRunner, Outcome};
use capstan_server::rollouts::ReleaseSafety;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::services::services;
use crate::support::*;

const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

fn runner(holder: &str) -> JobRunner {
    JobRunner::new(vec![Arc::new(ReleaseSafety::default())], holder.into())
}

/// An app whose `production` serves 1.0.0, with 1.1.0 uploaded.
async fn app_serving_1_0_0(server: &TestServer) {
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.0", "").await;
    server.upload_ok(APP, "1.1.0", "").await;
    server.publish(APP, "production", "1.0.0").await;
}

/// `n` devices are answered from `production` (so their events count for it), then report
/// `action` for `version`.
pub(crate) async fn devices_report(server: &TestServer, prefix: &str, n: usize, action: &str, version: &str) {
    let mut events = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        server.updates(&device(APP, &id)).await;
        let mut event = device(APP, &id);
        event["action"] = json!(action);
        event["version_name"] = json!(version);
        events.push(event);
    }
    server.state.ingest().devices.flush(server.state.db()).await;
    let (status, body) = server.send(Method::POST, "/stats", None, Some(Value::Array(events))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn plan_of(server: &TestServer) -> Value {
    let (status, body) = server.api(Method::GET, &format!("/apps/{APP}/channels/production/plan"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn production(server: &TestServer) -> Value {
    let (_, body) = server.api(Method::GET, &format!("/apps/{APP}/channels/production"), None).await;
    body["lanes"][0].clone()
}

async fn history(server: &TestServer) -> Vec<Value> {
    let (_, body) = server.api(Method::GET, &format!("/apps/{APP}/channels/production/history"), None).await;
    body.as_array().unwrap().clone()
}

pub(crate) async fn start_plan(server: &TestServer, on_failure: &str) -> Value {
    let body = json!({
        "version": "1.1.0", "steps": [1, 10, 50, 100], "every_ms": HOUR, "min_devices": 20,
        "max_failure_rate": 2, "on_failure": on_failure,
    });
    let (status, body) = server.api(Method::PUT, &format!("/apps/{APP}/channels/production/plan"), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn a_healthy_plan_advances_step_by_step_on_time() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(clock.clone()).await;
    app_serving_1_0_0(&server).await;
    let started = start_plan(&server, "pause").await;
    assert_eq!(started["plan"]["step"], 0);
    assert_eq!(started["next_step_at_ms"], T0 + HOUR);
    assert_eq!(production(&server).await["rollout"]["share_bp"], 100, "the first step starts the rollout");
    let jobs = runner("a");

    devices_report(&server, "ok", 30, "set", "1.1.0").await;
    // Not due yet: nothing moves.
    clock.advance(HOUR / 2);
    assert_eq!(jobs.run_due(&server.state).await, [("release_safety", Outcome::Ran)]);
    assert_eq!(plan_of(&server).await["plan"]["step"], 0);
    assert_eq!(production(&server).await["rollout"]["share_bp"], 100);

    for (step, share) in [(1, 1000), (2, 5000)] {
        clock.advance(HOUR / 2 + if step == 1 { 0 } else { HOUR / 2 });
        jobs.run_due(&server.state).await;
        let plan = plan_of(&server).await;
        assert_eq!(plan["plan"]["step"], step, "{plan}");
        assert_eq!(plan["plan"]["status"], "active");
        assert_eq!(production(&server).await["rollout"]["share_bp"], share);
        let last = &history(&server).await[0];
        assert_eq!(last["action"], "rollout_change");
        assert_eq!(last["actor"], "capstan (rollout plan)");
        let reason = last["reason"].as_str().unwrap();
        assert!(reason.starts_with(&format!("step {} of 4", step + 1)), "{reason}");
        assert!(reason.contains("0 failures in 30 attempts"), "{reason}");
    }
    // The last step gives the bundle to everyone, and devices get it.
    clock.advance(HOUR);
    jobs.run_due(&server.state).await;
    let lane = production(&server).await;
    assert_eq!((lane["target"].as_str(), lane["rollout"].is_null()), (Some("1.1.0"), true), "{lane}");
    let plan = plan_of(&server).await;
    assert_eq!(plan["plan"]["status"], "done");
    assert!(plan["next_step_at_ms"].is_null());
    assert_eq!(history(&server).await[0]["action"], "rollout_finish");
    let answer = server.updates(&device_with(APP, "late", json!({ "version_name": "1.0.0" }))).await;
    assert_eq!(answer["version"], "1.1.0", "the device cache was refreshed");
    let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}"), None).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "rollout_plan.step").count(), 2, "{actions:?}");
    assert!(actions.contains(&"rollout_plan.finish") && actions.contains(&"rollout_plan.create"), "{actions:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_plan_with_too_few_devices_waits() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(clock.clone()).await;
    app_serving_1_0_0(&server).await;
    start_plan(&server, "pause").await;
    devices_report(&server, "few", 5, "set", "1.1.0").await;
    clock.advance(3 * HOUR);
    runner("a").run_due(&server.state).await;
    let plan = plan_of(&server).await;
    assert_eq!((plan["plan"]["step"].as_i64(), plan["plan"]["status"].as_str()), (Some(0), Some("active")));
    assert_eq!(plan["health"]["current"]["attempts"], 5);
    server.stop().await;
}

#[tokio::test]
async fn a_failing_plan_pauses_at_the_next_evaluation_and_says_why() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(clock.clone()).await;
    app_serving_1_0_0(&server).await;
    start_plan(&server, "pause").await;
    devices_report(&server, "ok", 10, "set", "1.1.0").await;
    devices_report(&server, "bad", 10, "download_fail", "1.1.0").await;
    let jobs = runner("a");
    // A breach does not wait for the step's time.
    clock.advance(60_000);
    jobs.run_due(&server.state).await;
    let plan = plan_of(&server).await;
    assert_eq!(plan["plan"]["status"], "paused", "{plan}");
    let reason = plan["plan"]["reason"].as_str().unwrap();
    assert!(reason.contains("10 failures in 20 attempts") && reason.contains("over the 2 % threshold"), "{reason}");
    assert_eq!(production(&server).await["rollout"]["share_bp"], 100, "pause holds the share");
    let last = &history(&server).await[0];
    assert_eq!(last["action"], "rollout_pause");
    assert_eq!(last["reason"].as_str(), Some(reason));
    // Paused: hours later, still no step (and the guard leaves a planned rollout to its plan).
    clock.advance(5 * HOUR);
    jobs.run_due(&server.state).await;
    assert_eq!(production(&server).await["rollout"]["share_bp"], 100);
    assert_eq!(history(&server).await[0]["action"], "rollout_pause");
    // By hand: resume, then cancel; refusals are clear and change nothing.
    let path = format!("/apps/{APP}/channels/production/plan");
    let (status, body) = server.api(Method::POST, &format!("{path}/pause"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = server.api(Method::POST, &format!("{path}/resume"), None).await;
    assert_eq!((status, body["plan"]["status"].as_str()), (StatusCode::OK, Some("active")), "{body}");
    let (status, body) = server.api(Method::DELETE, &path, None).await;
    assert_eq!((status, body["plan"]["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_failing_plan_set_to_roll_back_rolls_back() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(clock.clone()).await;
    app_serving_1_0_0(&server).await;
    start_plan(&server, "rollback").await;
    devices_report(&server, "bad", 12, "update_fail", "1.1.0").await;
    devices_report(&server, "set", 12, "set", "1.1.0").await;
    clock.advance(60_000);
    runner("a").run_due(&server.state).await;
    let lane = production(&server).await;
    assert_eq!((lane["target"].as_str(), lane["rollout"].is_null()), (Some("1.0.0"), true), "{lane}");
    let plan = plan_of(&server).await;
    assert_eq!(plan["plan"]["status"], "rolled_back");
    let last = &history(&server).await[0];
    assert_eq!(last["action"], "rollout_abort");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rolled back: step 1 (1 %)") && reason.contains("12 failures in 12 attempts"),
        "{reason}"
    );
    let answer = server.updates(&device_with(APP, "bad-0", json!({ "version_name": "1.1.0" }))).await;
    assert_eq!(answer["version"], "1.0.0", "devices are sent back");
    server.stop().await;
}

#[tokio::test]
async fn plans_refuse_bad_input_and_change_nothing() {
    let server = TestServer::start().await;
    app_serving_1_0_0(&server).await;
    let path = format!("/apps/{APP}/channels/production/plan");
    for (body, code) in [
        (json!({ "version": "1.1.0", "steps": [10, 5, 100], "every_ms": 1, "max_failure_rate": 2 }), "invalid_plan"),
        (json!({ "version": "1.1.0", "steps": [1, 50], "every_ms": 1, "max_failure_rate": 2 }), "invalid_plan"),
        (json!({ "version": "1.1.0", "steps": [1, 100], "every_ms": 1, "max_failure_rate": 0 }), "invalid_plan"),
        (json!({ "version": "9.9.9", "steps": [1, 100], "every_ms": 1, "max_failure_rate": 2 }), "unknown_bundle"),
    ] {
        let (status, answer) = server.api(Method::PUT, &path, Some(body)).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
    }
    let (status, _) = server.api(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(production(&server).await["rollout"].is_null());
    let (status, _) = server
        .api(
            Method::PUT,
            &path,
            Some(json!({ "version": "1.1.0", "steps": [1, 100], "every_ms": 1, "max_failure_rate": 2 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .api(
            Method::PUT,
            &path,
            Some(json!({ "version": "1.1.0", "steps": [1, 100], "every_ms": 1, "max_failure_rate": 2 })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_guard_rolls_back_a_failing_rollout_once_and_only_where_it_is_on() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(clock.clone()).await;
    app_serving_1_0_0(&server).await;
    let (_, channel) = server.api(Method::GET, &format!("/apps/{APP}/channels/production"), None).await;
    assert_eq!((channel["guard"].as_bool(), channel["guard_threshold_bp"].as_i64()), (Some(true), Some(500)));
    let path = format!("/apps/{APP}/channels/production/rollout");
    let (status, _) = server.api(Method::POST, &path, Some(json!({ "version": "1.1.0", "percent": 50 }))).await;
    assert_eq!(status, StatusCode::OK);
    // Off: failures change nothing.
    server.patch_channel(APP, "production", json!({ "guard": false })).await;
    devices_report(&server, "bad", 15, "checksum_fail", "1.1.0").await;
    devices_report(&server, "ok", 5, "set", "1.1.0").await;
    let jobs = runner("a");
    clock.advance(60_000);
    jobs.run_due(&server.state).await;
    assert_eq!(production(&server).await["rollout"]["share_bp"], 5000);
    // The health the screens show: the same figures.
    let (_, health) = server.api(Method::GET, &format!("/apps/{APP}/channels/production/health"), None).await;
    let rollout = health.as_array().unwrap().iter().find(|h| h["version"] == "1.1.0").unwrap();
    assert_eq!(
        (rollout["current"]["attempts"].as_i64(), rollout["current"]["failures"].as_i64()),
        (Some(20), Some(15))
    );
    assert_eq!((rollout["verdict"].as_str(), rollout["baseline_version"].as_str()), (Some("failing"), Some("1.0.0")));
    let (_, bundles) = server.api(Method::GET, &format!("/apps/{APP}/stats/bundles"), None).await;
    let bundle = bundles.as_array().unwrap().iter().find(|b| b["version"] == "1.1.0").unwrap();
    assert_eq!(bundle["on_channels"][0], *rollout);
    let (_, adoption) = server.api(Method::GET, &format!("/apps/{APP}/stats/channels"), None).await;
    assert!(adoption[0]["health"].as_array().unwrap().contains(rollout));

    // On: the next evaluation rolls the rollout back, says why, and acts once.
    server.patch_channel(APP, "production", json!({ "guard": true })).await;
    clock.advance(60_000);
    jobs.run_due(&server.state).await;
    let lane = production(&server).await;
    assert_eq!((lane["target"].as_str(), lane["rollout"].is_null()), (Some("1.0.0"), true), "{lane}");
    let entries = history(&server).await;
    assert_eq!(
        (entries[0]["action"].as_str(), entries[0]["actor"].as_str()),
        (Some("rollout_abort"), Some("capstan (guard)"))
    );
    let reason = entries[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("guard rolled back: 1.1.0 on `production` is failing") && reason.contains("over the 5 %"),
        "{reason}"
    );
    let (status, _) =
        server.api(Method::POST, &path, Some(json!({ "version": "1.1.0", "percent": 5, "force": true }))).await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(60_000);
    jobs.run_due(&server.state).await;
    assert_eq!(production(&server).await["rollout"]["share_bp"], 500, "the guard acts once per bundle");
    let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}"), None).await;
    assert_eq!(audit.as_array().unwrap().iter().filter(|e| e["action"] == "guard.rollback").count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_scheduled_publish_happens_at_its_time() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::start_with_clock(clock.clone()).await;
    app_serving_1_0_0(&server).await;
    server.upload_ok(APP, "1.2.0", "").await;
    let path = format!("/apps/{APP}/channels/production/schedule");
    let (status, body) = server.api(Method::POST, &path, Some(json!({ "version": "1.1.0", "at_ms": T0 - 1 }))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_time")));
    let (status, body) = server.api(Method::POST, &path, Some(json!({ "version": "7.0.0", "at_ms": T0 + HOUR }))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unknown_bundle")));
    let (status, first) =
        server.api(Method::POST, &path, Some(json!({ "version": "1.1.0", "at_ms": T0 + 2 * HOUR }))).await;
    assert_eq!((status, first["status"].as_str()), (StatusCode::CREATED, Some("pending")), "{first}");
    let (_, second) =
        server.api(Method::POST, &path, Some(json!({ "version": "1.2.0", "at_ms": T0 + 3 * HOUR }))).await;
    let (status, cancelled) =
        server.api(Method::DELETE, &format!("/apps/{APP}/schedules/{}", second["id"]), None).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    let (status, _) = server.api(Method::DELETE, &format!("/apps/{APP}/schedules/{}", second["id"]), None).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let jobs = runner("a");
    clock.advance(2 * HOUR - 60_000);
    jobs.run_due(&server.state).await;
    assert_eq!(production(&server).await["target"], "1.0.0", "not before its time");
    clock.advance(60_000);
    jobs.run_due(&server.state).await;
    assert_eq!(production(&server).await["target"], "1.1.0");
    let last = &history(&server).await[0];
    assert_eq!(last["action"], "publish");
    assert!(last["actor"].as_str().unwrap().starts_with("capstan (scheduled by test-admin"), "{last}");
    assert!(last["reason"].as_str().unwrap().contains("scheduled publish of 1.1.0"), "{last}");
    clock.advance(2 * HOUR);
    jobs.run_due(&server.state).await;
    assert_eq!(production(&server).await["target"], "1.1.0", "the cancelled one never runs");
    let (_, list) = server.api(Method::GET, &format!("/apps/{APP}/schedules"), None).await;
    let statuses: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["done", "cancelled"]);
    server.stop().await;
}

#[tokio::test]
async fn two_replicas_never_both_advance_a_plan() {
    let Some(services) = services("two_replicas_plan").await else { return };
    let clock = Arc::new(ManualClock::new(T0));
    let a = TestServer::start_configured_with_clock(|c| services.apply(c), clock.clone()).await;
    let b = TestServer::start_configured_with_clock(|c| services.apply(c), clock.clone()).await;
    app_serving_1_0_0(&a).await;
    start_plan(&a, "pause").await;
    devices_report(&a, "ok", 25, "set", "1.1.0").await;
    let (ra, rb) = (runner("replica-a"), runner("replica-b"));

    // Under the lease: each due run, exactly one replica acts.
    for step in 1..=2 {
        clock.advance(HOUR);
        let (oa, ob) = tokio::join!(ra.run_due(&a.state), rb.run_due(&b.state));
        let ran = [oa[0].1, ob[0].1].iter().filter(|o| **o == Outcome::Ran).count();
        assert_eq!(ran, 1, "{oa:?} {ob:?}");
        assert_eq!(plan_of(&a).await["plan"]["step"], step);
    }
    // Even without the lease (a holder whose lease expired mid-run), the revisions each write
    // names let only one of two simultaneous evaluations take the step.
    clock.advance(HOUR);
    let job = ReleaseSafety::default();
    let (_, _) = tokio::join!(job.run(&a.state), job.run(&b.state));
    let changes = history(&a).await.iter().filter(|h| h["action"] == "rollout_change").count();
    let finishes = history(&a).await.iter().filter(|h| h["action"] == "rollout_finish").count();
    assert_eq!((changes, finishes), (2, 1), "one step per due time, never two");
    assert_eq!(plan_of(&b).await["plan"]["status"], "done");
    a.stop().await;
    b.stop().await;
}
