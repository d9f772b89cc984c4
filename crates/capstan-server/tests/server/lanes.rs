//! A channel serves each native line its own bundle: after a release that needs a 2.x shell,
//! 1.x shells keep getting web-only fixes. Checked device by device, through rollouts and
//! rollbacks on either line.

use capstan_core::version::{RolloutShare, rollout_bucket};
use capstan_server::device::resolve::rollout_key;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const DEVICES_PER_SHELL: usize = 300;
const SHELLS: [&str; 2] = ["1.2.0", "2.3.0"];

fn device_id(shell: &str, i: usize) -> String {
    format!("{:08x}-{}-4000-8000-{i:012x}", i * 7919, if shell.starts_with('1') { "1111" } else { "2222" })
}

/// A line's state as the test models it: the target and an optional rollout (version, percent).
#[derive(Clone)]
struct Line {
    target: Option<&'static str>,
    rollout: Option<(&'static str, f64)>,
}

/// What the line offers one device, computed the way the rollout contract says: a stable
/// per-device bucket against the share.
fn offered(line: &Line, device: &str) -> Option<&'static str> {
    if let Some((version, percent)) = line.rollout {
        let share = RolloutShare::from_percent(percent).unwrap();
        if share.includes(rollout_bucket(&rollout_key(APP, "production", version), device)) {
            return Some(version);
        }
    }
    line.target
}

/// The newest bundle among the lines the shell can run (`one` runs on 1.0.0+, `two` on 2.0.0+).
fn expected(shell: &str, device: &str, one: &Line, two: &Line) -> Option<&'static str> {
    let mut candidates = vec![offered(one, device)];
    if shell.starts_with('2') {
        candidates.push(offered(two, device));
    }
    candidates.into_iter().flatten().max_by_key(|v| semver::Version::parse(v).unwrap())
}

/// Every device of both shells against the model; a device on the store build of its shell.
async fn check(server: &TestServer, one: &Line, two: &Line, what: &str) {
    for shell in SHELLS {
        for i in 0..DEVICES_PER_SHELL {
            let id = device_id(shell, i);
            let answer = server.updates(&device_with(APP, &id, json!({ "version_build": shell }))).await;
            let got = answer.get("url").and_then(|_| answer["version"].as_str());
            let want = expected(shell, &id, one, two).filter(|v| {
                // Bundles older than the shell are refused by the channel's default rule.
                semver::Version::parse(v).unwrap() >= semver::Version::parse(shell).unwrap()
            });
            assert_eq!(got, want, "{what}: shell {shell}, device {id}: {answer}");
        }
    }
}

async fn post(server: &TestServer, path: &str, body: Value) -> Value {
    let (status, answer) =
        server.api(Method::POST, &format!("/apps/{APP}/channels/production/{path}"), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    answer
}

#[tokio::test]
async fn each_shell_gets_the_newest_bundle_it_can_run_through_rollouts_and_rollbacks() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    for (version, min) in [
        ("1.4.0", "1.0.0"),
        ("2.4.0", "2.0.0"),
        ("1.4.1", "1.0.0"),
        ("2.4.1", "2.0.0"),
        ("1.4.2", "1.0.0"),
        ("2.5.0", "1.0.0"),
    ] {
        server.upload_ok(APP, version, &format!("&min_native_version={min}")).await;
    }
    let mut one = Line { target: None, rollout: None };
    let mut two = Line { target: None, rollout: None };

    server.publish(APP, "production", "1.4.0").await;
    one.target = Some("1.4.0");
    server.publish(APP, "production", "2.4.0").await;
    two.target = Some("2.4.0");
    check(&server, &one, &two, "1.4.0 for 1.x, 2.4.0 for 2.x").await;

    // A fix for 1.x shells after a release for 2.x shells: 1.4.1 is newer than its own line.
    let channel = post(&server, "publish", json!({ "version": "1.4.1" })).await;
    one.target = Some("1.4.1");
    let lines: Vec<(&str, &str)> = channel["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["min_native"].as_str().unwrap(), l["target"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [("2.0.0", "2.4.0"), ("1.0.0", "1.4.1")], "newest line first");
    check(&server, &one, &two, "1.4.1 reaches 1.x only").await;

    // Rollouts on both lines at once.
    post(&server, "rollout", json!({ "version": "2.4.1", "percent": 50 })).await;
    two.rollout = Some(("2.4.1", 50.0));
    post(&server, "rollout", json!({ "version": "1.4.2", "percent": 30 })).await;
    one.rollout = Some(("1.4.2", 30.0));
    check(&server, &one, &two, "a rollout on each line").await;

    // With two rollouts a change must name its line.
    let (status, refused) = server.api(Method::DELETE, &format!("/apps/{APP}/channels/production/rollout"), None).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("which_line")), "{refused}");
    let (status, _) =
        server.api(Method::DELETE, &format!("/apps/{APP}/channels/production/rollout?min_native=1.0"), None).await;
    assert_eq!(status, StatusCode::OK);
    one.rollout = None;
    check(&server, &one, &two, "1.x rollout aborted, 2.x rollout running").await;

    // Finish the 2.x rollout, then roll the 2.x line back: 1.x is untouched.
    post(&server, "rollout/finish", json!({})).await;
    two = Line { target: Some("2.4.1"), rollout: None };
    check(&server, &one, &two, "2.4.1 finished").await;
    post(&server, "rollback", json!({ "min_native": "2.0.0" })).await;
    two.target = Some("2.4.0");
    check(&server, &one, &two, "2.x rolled back to 2.4.0").await;

    // Roll back without naming a line: the line changed last (2.x again, now back to nothing
    // before 2.4.0 would be refused), so name 1.x: 1.4.1 → 1.4.0.
    post(&server, "rollback", json!({ "min_native": "1.0.0" })).await;
    one.target = Some("1.4.0");
    check(&server, &one, &two, "1.x rolled back to 1.4.0").await;

    // A web-only release newer than both lines, for any shell from 1.0.0: 2.x shells take it
    // too, since it is the newest bundle they can run.
    post(&server, "publish", json!({ "version": "2.5.0" })).await;
    one.target = Some("2.5.0");
    check(&server, &one, &two, "2.5.0 for every shell").await;

    let (_, history) = server.api(Method::GET, &format!("/apps/{APP}/channels/production/history"), None).await;
    let steps: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["action"].as_str().unwrap(), h["min_native"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("publish", "1.0.0"),
            ("rollback", "1.0.0"),
            ("rollback", "2.0.0"),
            ("rollout_finish", "2.0.0"),
            ("rollout_abort", "1.0.0"),
            ("rollout_start", "1.0.0"),
            ("rollout_start", "2.0.0"),
            ("publish", "1.0.0"),
            ("publish", "2.0.0"),
            ("publish", "1.0.0"),
        ],
        "every history line names its native line"
    );

    // The store build for everyone: every line goes back to it at once.
    let channel = post(&server, "rollback", json!({ "to": "builtin" })).await;
    assert!(channel["lanes"].as_array().unwrap().iter().all(|l| l["target"] == "builtin"), "{channel}");
    server.stop().await;
}
