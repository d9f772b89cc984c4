//! Upgrades keep working: a data directory written by the v0.1 server (kept as a fixture with
//! the answers that server gave; see `tests/fixtures/make_upgrade_fixture.py`) opens with this
//! server, which finds everything and answers devices the same way. Every later storage change
//! must keep this test passing.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The MIN_NATIVE_VERSION of each bundle version, from what v0.1 listed.
fn min_natives(expected: &Value) -> BTreeMap<String, Value> {
    let bundles = expected["management"]["/api/v1/apps/com.fixture.app/bundles"].as_array().unwrap();
    bundles.iter().map(|b| (b["version"].as_str().unwrap().to_owned(), b["min_native_version"].clone())).collect()
}

/// A v0.1 channel's `target` and `rollout` as v0.2's native lines: the target's line and the
/// rollout's line (keyed by their bundles' MIN_NATIVE_VERSION), newest line first.
fn as_lanes(object: &mut Map<String, Value>, min: &BTreeMap<String, Value>) {
    let target = object.remove("target").unwrap_or(Value::Null);
    let rollout = object.remove("rollout").unwrap_or(Value::Null);
    let line = |version: &Value| version.as_str().and_then(|v| min.get(v)).cloned().unwrap_or(Value::Null);
    let mut lanes: Vec<Value> = Vec::new();
    if !target.is_null() {
        lanes.push(json!({ "min_native": line(&target), "target": target, "rollout": null }));
    }
    if !rollout.is_null() {
        let key = line(&rollout["version"]);
        match lanes.iter_mut().find(|l| l["min_native"] == key) {
            Some(lane) => lane["rollout"] = rollout,
            None => lanes.push(json!({ "min_native": key, "target": null, "rollout": rollout })),
        }
    }
    lanes.sort_by_key(|l| std::cmp::Reverse(l["min_native"].as_str().map(|v| semver::Version::parse(v).unwrap())));
    object.insert("lanes".into(), Value::Array(lanes));
}

/// What v0.2 answers where v0.1 answered differently on purpose:
/// - bundles no longer show where their bytes are stored (`blob_key` is a server-side detail);
/// - a channel serves per native line (`lanes`), and each history line names its line;
///
/// Stored audit snapshots are history and stay as written.
fn expected_now(path: &str, mut answer: Value, min: &BTreeMap<String, Value>) -> Value {
    let items: Vec<&mut Value> = match &mut answer {
        Value::Array(items) => items.iter_mut().collect(),
        // An app's detail lists its channels.
        Value::Object(detail) if detail.contains_key("channels") => {
            detail["channels"].as_array_mut().unwrap().iter_mut().collect()
        }
        _ => Vec::new(),
    };
    for item in items {
        let Some(object) = item.as_object_mut() else { continue };
        if path.ends_with("/bundles") {
            object.remove("blob_key");
            // Bundles from before native-change detection have no native fingerprint.
            object.insert("native_digest".into(), Value::Null);
        } else if path.ends_with("/history") {
            let about = if object["action"].as_str().unwrap().starts_with("rollout") {
                let after = &object["rollout_after"];
                if after.is_null() { object["rollout_before"]["version"].clone() } else { after["version"].clone() }
            } else {
                object["target_after"].clone()
            };
            let line = about.as_str().and_then(|v| min.get(v)).cloned().unwrap_or(Value::Null);
            object.insert("min_native".into(), line);
        } else if object.contains_key("target") {
            // A channel, or a channel's adoption figures.
            as_lanes(object, min);
        }
    }
    answer
}

/// Fields added since v0.1, which the old data cannot hold: a device's reported `key_id`
/// (null for every device v0.1 stored). Removed from the new answers before comparing.
fn without_added_fields(path: &str, mut answer: Value) -> Value {
    let devices: Vec<&mut Value> = if path.contains("/devices/") {
        answer.get_mut("device").into_iter().collect()
    } else if path.contains("/devices") {
        answer.as_array_mut().map(|a| a.iter_mut().collect()).unwrap_or_default()
    } else {
        Vec::new()
    };
    for device in devices.into_iter().filter_map(Value::as_object_mut) {
        assert_eq!(device.remove("key_id"), Some(Value::Null), "{path}: v0.1 devices reported no key id");
        // Stored since the fleet preview (migration 0010): unknown for devices not seen since.
        assert_eq!(device.remove("requested_channel"), Some(Value::Null), "{path}: no requested channel stored yet");
        assert_eq!(device.remove("on_builtin"), Some(Value::Bool(false)), "{path}: on_builtin defaults to false");
    }
    without_delta_fields(path, &mut answer);
    without_release_safety_fields(path, &mut answer);
    answer
}

/// Removes what release safety added: the guard settings (off, with their defaults, on channels
/// that existed before it), the history's `reason` (none for what people did), and the health
/// figures beside the stats (computed from counters v0.1 did not keep). Audit snapshots
/// written by v0.1 have none of them.
fn without_release_safety_fields(path: &str, value: &mut Value) {
    let audit = path.starts_with("/api/v1/audit");
    let check = |removed: Option<Value>, expected: Value, what: &str| {
        assert!(removed == Some(expected) || (audit && removed.is_none()), "{path}: {what}");
    };
    match value {
        Value::Object(fields) => {
            if fields.contains_key("lanes") && fields.contains_key("revision") {
                check(fields.remove("guard"), Value::from(false), "existing channels keep the guard off");
                check(fields.remove("guard_threshold_bp"), Value::from(500), "the guard's default threshold");
                check(fields.remove("guard_action"), Value::from("rollback"), "the guard's default action");
            }
            if fields.contains_key("target_after") && fields.contains_key("action") {
                check(fields.remove("reason"), Value::Null, "people's changes have no reason");
            }
            if fields.contains_key("failures_total") {
                assert!(fields.remove("on_channels").is_some_and(|v| v.is_array()), "{path}: health per channel");
            }
            if fields.contains_key("active_devices") && fields.contains_key("channel") {
                assert!(fields.remove("health").is_some_and(|v| v.is_array()), "{path}: health of what it serves");
            }
            fields.values_mut().for_each(|v| without_release_safety_fields(path, v));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| without_release_safety_fields(path, v)),
        _ => {}
    }
}

/// Removes what delta updates added: channels deliver deltas by default, and v0.1 bundles have
/// no per-file artifacts, so no delta size. Audit snapshots written by v0.1 have neither field.
fn without_delta_fields(path: &str, value: &mut Value) {
    let audit = path.starts_with("/api/v1/audit");
    let check = |removed: Option<Value>, expected: Value, what: &str| {
        assert!(removed == Some(expected) || (audit && removed.is_none()), "{path}: {what}");
    };
    match value {
        Value::Object(fields) => {
            if fields.contains_key("lanes") && fields.contains_key("revision") {
                check(fields.remove("delivery"), Value::from("delta"), "channels default to delta");
            }
            if fields.contains_key("file_count") {
                check(fields.remove("delta"), Value::Null, "v0.1 bundles have no artifacts");
            }
            fields.values_mut().for_each(|v| without_delta_fields(path, v));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| without_delta_fields(path, v)),
        _ => {}
    }
}

#[tokio::test]
async fn a_v0_1_data_directory_opens_with_everything_and_the_same_device_answers() {
    let fixture = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/fixtures/upgrade-v0.1");
    let expected: Value = serde_json::from_slice(&std::fs::read(fixture.join("expected.json")).unwrap()).unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&fixture.join("data"), &copy.path().join("data"));
    let data_dir = copy.path().join("data");
    let server = TestServer::start_with(move |config| {
        config.data_dir = data_dir;
        config.public_url = Some("http://fixture.invalid".into());
    })
    .await;
    let old_admin = expected["tokens"]["admin"].as_str().unwrap();
    let min = min_natives(&expected);

    let reads = expected["management"].as_object().unwrap();
    assert!(reads.len() >= 30, "the fixture covers apps, channels, history, bundles, devices, stats, audit, tokens");
    for (path, old_answer) in reads {
        let (status, mut answer) = server.send(Method::GET, path, Some(old_admin), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        if path == "/api/v1/tokens" {
            // The test harness adds its own admin token; the fixture's are the ones to find.
            answer.as_array_mut().unwrap().retain(|t| t["name"] != "test-admin");
        }
        let answer = without_added_fields(path, answer);
        assert_eq!(answer, expected_now(path, old_answer.clone(), &min), "{path}");
    }
    let viewer = expected["tokens"]["viewer"].as_str().unwrap();
    let (status, me) = server.send(Method::GET, "/api/v1/me", Some(viewer), None).await;
    assert_eq!((status, me["role"].as_str()), (StatusCode::OK, Some("viewer")), "old tokens still authenticate");

    let updates = expected["updates"].as_array().unwrap();
    assert!(updates.iter().any(|u| u["answer"].get("url").is_some()), "some devices are offered a bundle");
    // v0.1 told 1.x shells inside production's 25 % rollout of 2.0.0 (which needs native 2.0.0)
    // to update from the store; v0.2 serves them their own line's bundle, 1.0.1.
    let offer_of_1_0_1 = updates.iter().find(|u| u["answer"]["version"] == "1.0.1" && u["answer"].get("url").is_some());
    let up_to_date = updates.iter().find(|u| u["answer"]["error"] == "no_new_version_available");
    let (offer_of_1_0_1, up_to_date) =
        (offer_of_1_0_1.unwrap()["answer"].clone(), up_to_date.unwrap()["answer"].clone());
    let mut changed = 0;
    for case in updates {
        let answer = server.updates(&case["request"]).await;
        let mut expected = case["answer"].clone();
        if expected["message"] == "store_update_required" && case["request"]["version_build"] == "1.0.0" {
            changed += 1;
            expected =
                if case["request"]["version_name"] == "1.0.1" { up_to_date.clone() } else { offer_of_1_0_1.clone() };
        }
        assert_eq!(answer, expected, "{}", case["request"]);
        // The offered bytes are still there and still what devices verify.
        if let Some(url) = answer["url"].as_str() {
            let path = url.strip_prefix("http://fixture.invalid").unwrap();
            let bytes =
                server.client.get(format!("{}{path}", server.base)).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(hex::encode(Sha256::digest(&bytes)), answer["checksum"].as_str().unwrap(), "{path}");
        }
    }
    assert_eq!(changed, 6, "the fixture has six such devices");
    server.stop().await;
}
