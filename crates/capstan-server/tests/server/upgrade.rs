//! Upgrades keep working: a data directory written by the v0.1 server (kept as a fixture with
//! the answers that server gave; see `tests/fixtures/make_upgrade_fixture.py`) opens with this
//! server, which finds everything and answers devices the same way. Every later storage change
//! must keep this test passing.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;
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

/// What changed on purpose since v0.1: bundles no longer show where their bytes are stored
/// (`blob_key` is a server-side detail). Stored audit snapshots are history and stay as written.
fn without_removed_fields(path: &str, mut answer: Value) -> Value {
    if path.ends_with("/bundles")
        && let Some(bundles) = answer.as_array_mut()
    {
        for bundle in bundles {
            bundle.as_object_mut().unwrap().remove("blob_key");
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
    }
    answer
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
        assert_eq!(answer, without_removed_fields(path, old_answer.clone()), "{path}");
    }
    let viewer = expected["tokens"]["viewer"].as_str().unwrap();
    let (status, me) = server.send(Method::GET, "/api/v1/me", Some(viewer), None).await;
    assert_eq!((status, me["role"].as_str()), (StatusCode::OK, Some("viewer")), "old tokens still authenticate");

    let updates = expected["updates"].as_array().unwrap();
    assert!(updates.iter().any(|u| u["answer"].get("url").is_some()), "some devices are offered a bundle");
    for case in updates {
        let answer = server.updates(&case["request"]).await;
        assert_eq!(answer, case["answer"], "{}", case["request"]);
        // The offered bytes are still there and still what devices verify.
        if let Some(url) = answer["url"].as_str() {
            let path = url.strip_prefix("http://fixture.invalid").unwrap();
            let bytes =
                server.client.get(format!("{}{path}", server.base)).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(hex::encode(Sha256::digest(&bytes)), answer["checksum"].as_str().unwrap(), "{path}");
        }
    }
    server.stop().await;
}
