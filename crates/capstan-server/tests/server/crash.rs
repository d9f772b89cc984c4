//! The real binary: token commands, SIGKILL during an upload, SIGTERM flushing buffered state.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_capstan-server");

fn command(data: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("CAPSTAN_DATA_DIR", data)
        .env("CAPSTAN_LISTEN", "127.0.0.1:0")
        .env("CAPSTAN_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("CAPSTAN_CONFIG");
    command
}

/// Starts `serve` and reads its log until it names the address it listens on.
fn start(data: &Path) -> (Child, String) {
    let mut child =
        command(data).arg("serve").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server exited before it was ready").unwrap();
        if let Some(rest) = line.split("listen=").nth(1)
            && line.contains("ready")
        {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

fn token(data: &Path) -> String {
    let output = command(data).args(["token", "create", "--role", "admin", "--name", "crash-test"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout");
    stdout.trim().to_owned()
}

/// Upload files under `dir` (each server receives uploads in a directory of its own there,
/// next to the lock file that says it is running).
fn files_in(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else if !name.ends_with(".lock") {
                files.push(name);
            }
        }
    }
    files
}

#[tokio::test]
async fn sigkill_during_an_upload_restarts_clean_and_keeps_acknowledged_stats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = token(&data);
    let client = reqwest::Client::new();
    let (mut child, base) = start(&data);

    let created = client
        .post(format!("{base}/api/v1/apps"))
        .bearer_auth(&admin)
        .json(&json!({ "id": APP }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let mut stats = device(APP, "acked-device");
    stats["action"] = json!("set");
    stats["version_name"] = json!("1.0.0");
    let acked = client.post(format!("{base}/stats")).json(&json!([stats.clone(), stats])).send().await.unwrap();
    assert_eq!(acked.status(), StatusCode::OK);

    // Send half a bundle and keep the request open.
    let noise = noise(400_000);
    let zip = zip_of(&[("index.html", b"<html>"), ("noise.bin", &noise)]);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let url = format!("{base}/api/v1/apps/{APP}/bundles?version=1.0.1&sha256={}", sha256_hex(&zip));
    let upload = tokio::spawn({
        let (client, admin) = (client.clone(), admin.clone());
        let stream =
            futures_util::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|item| (item, r)) });
        async move { client.post(url).bearer_auth(admin).body(reqwest::Body::wrap_stream(stream)).send().await }
    });
    sender.send(Ok(zip[..zip.len() / 2].to_vec())).await.unwrap();
    let uploads = data.join("uploads");
    // Wait for the server to have written part of the upload (a condition, not a timer).
    while files_in(&uploads).is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(sender);
    // The client's request fails or gets a truncated answer; either way nothing was acknowledged.
    let _ = upload.await;
    assert_eq!(files_in(&uploads).len(), 1, "a partial upload was on disk when the server died");

    let (mut child, base) = start(&data);
    assert!(files_in(&uploads).is_empty(), "restart removed the partial upload");
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let bundles: Value = client
        .get(format!("{base}/api/v1/apps/{APP}/bundles"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bundles, json!([]), "nothing half-published");
    let timeline: Value = client
        .get(format!("{base}/api/v1/apps/{APP}/stats/timeline"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total: i64 = timeline["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 2, "acknowledged stats survived SIGKILL");

    let url = format!("{base}/api/v1/apps/{APP}/bundles?version=1.0.1&sha256={}", sha256_hex(&zip));
    let retried = client.post(url).bearer_auth(&admin).body(zip.clone()).send().await.unwrap();
    assert_eq!(retried.status(), StatusCode::CREATED, "the same version uploads cleanly after the crash");

    // SIGTERM: graceful, flushes device state buffered in memory, exits 0.
    let published = client
        .post(format!("{base}/api/v1/apps/{APP}/channels/production/publish"))
        .bearer_auth(&admin)
        .json(&json!({ "version": "1.0.1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    let (_, answer) = post_json(format!("{base}/updates"), &device(APP, "term-device")).await;
    assert_eq!(answer["version"], "1.0.1");
    assert!(answer["url"].as_str().unwrap().starts_with(&base), "links use the real address: {answer}");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "graceful exit");

    let listed = command(&data).args(["token", "list"]).output().unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("crash-test") && listed.contains("admin") && !listed.contains(&admin), "{listed}");

    let (mut child, base) = start(&data);
    let device: Value = client
        .get(format!("{base}/api/v1/apps/{APP}/devices/term-device"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(device["device"]["bundle_version"], "1.0.0");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Startup removes blobs no bundle references (left by an upload interrupted after its blob was
/// stored but before its row committed), and keeps every referenced one.
/// A crash between storing a blob and committing its bundle row leaves an unreferenced blob:
/// the next start removes it once it is older than an upload takes, and keeps a fresh one,
/// which may be another replica's upload between its two steps.
#[tokio::test]
async fn startup_removes_old_blobs_no_bundle_references() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.0", "").await;
    // The zip and its per-file artifacts.
    let uploaded = server.state.blobs().list().await.unwrap().len();
    let put = |name: &str| {
        let source = server.dir.path().join(name);
        std::fs::write(&source, b"not referenced").unwrap();
        (format!("{APP}/9.9.9/{name}"), source)
    };
    let (stray, source) = put("stray.zip");
    server.state.blobs().put_file(&stray, &source).await.unwrap();
    let (fresh, source) = put("in-progress.zip");
    server.state.blobs().put_file(&fresh, &source).await.unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let stray_file = server.dir.path().join("data/blobs").join(&stray);
    std::fs::File::options().write(true).open(&stray_file).unwrap().set_modified(two_hours_ago).unwrap();
    let before: Vec<String> = server.state.blobs().list().await.unwrap().into_iter().map(|b| b.key).collect();
    assert_eq!(before.len(), uploaded + 2, "{before:?}");
    let dir = server.stop_keeping_data().await;

    let config = capstan_server::config::Config {
        data_dir: dir.path().join("data"),
        durable_writes: false,
        ..capstan_server::config::Config::default()
    };
    let reopened = capstan_server::AppState::open(config).await.unwrap();
    let after: Vec<String> = reopened.blobs().list().await.unwrap().into_iter().map(|b| b.key).collect();
    let kept: Vec<String> = before.into_iter().filter(|key| *key != stray).collect();
    assert_eq!(after, kept, "only the old unreferenced blob is gone");
    assert!(after.contains(&fresh), "a fresh unreferenced blob is kept");
    reopened.shutdown().await;
}
