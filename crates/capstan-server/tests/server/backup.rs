//! `capstan-server backup` of a running embedded server under stats load, then `restore` into a
//! new data directory: every stats event acknowledged before the backup started and every
//! bundle is in the restored install, byte for byte. Unfinished backups and occupied targets
//! are refused untouched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_capstan-server");
/// Events per `/stats` batch; each batch is one device, so a device's events are all or none.
const BATCH: usize = 10;
const WRITERS: usize = 4;

fn batch(device_id: &str) -> Value {
    let events: Vec<Value> = (0..BATCH)
        .map(|i| {
            let mut event = device(APP, device_id);
            event["action"] = json!(["set", "download_complete", "update_fail"][i % 3]);
            event["version_name"] = json!("1.0.1");
            event["old_version_name"] = json!("builtin");
            event["timestamp"] = json!(1_700_000_000_000i64 + i as i64);
            event
        })
        .collect();
    json!(events)
}

/// Runs `capstan-server ARGS` and answers its exit status and stderr.
async fn run(args: &[&str]) -> (bool, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || std::process::Command::new(BIN).args(&args).output())
        .await
        .unwrap()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Events per device in a database file.
async fn events_per_device(db: &Path) -> BTreeMap<String, i64> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT device_id, COUNT(*) FROM events GROUP BY device_id").fetch_all(&mut conn).await.unwrap();
    rows.into_iter().collect()
}

#[tokio::test]
async fn a_backup_under_stats_load_restores_every_acknowledged_event_and_bundle() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let mut zips = BTreeMap::new();
    for version in ["1.0.1", "1.0.2", "1.1.0"] {
        zips.insert(version.to_owned(), server.upload_ok(APP, version, "").await);
    }
    server.publish(APP, "production", "1.0.2").await;

    // Writers post batches until told to stop, and record each batch the server acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(BTreeSet::<String>::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, stop, acked) = (format!("{}/stats", server.base), stop.clone(), acked.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let device_id = format!("w{w}-{n:06}");
                    let (status, body) = post_json(url.clone(), &batch(&device_id)).await;
                    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
                    acked.lock().unwrap().insert(device_id);
                    n += 1;
                }
            })
        })
        .collect();
    // Load first, then the backup while it goes on.
    while acked.lock().unwrap().len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let work = tempfile::tempdir().unwrap();
    let backup_dir = work.path().join("backup");
    let data_dir = server.config().data_dir.clone();
    let acked_before: BTreeSet<String> = acked.lock().unwrap().clone();
    let (ok, stderr) =
        run(&["backup", "--out", backup_dir.to_str().unwrap(), "--from", data_dir.to_str().unwrap()]).await;
    assert!(ok, "backup failed: {stderr}");
    let acked_during = acked.lock().unwrap().len() - acked_before.len();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(acked_during > 0, "the server acknowledged stats while the backup ran");
    let _source = server.stop_keeping_data().await;

    // A restore into a directory that already holds a database is refused, untouched.
    let (ok, stderr) =
        run(&["restore", "--from", backup_dir.to_str().unwrap(), "--to", data_dir.to_str().unwrap()]).await;
    assert!(!ok && stderr.contains("already holds a Capstan database"), "{stderr}");

    let restored_dir = work.path().join("restored");
    let (ok, stderr) =
        run(&["restore", "--from", backup_dir.to_str().unwrap(), "--to", restored_dir.to_str().unwrap()]).await;
    assert!(ok, "restore failed: {stderr}");

    // Every batch acknowledged before the backup started is there, whole; none is partial.
    let restored = events_per_device(&restored_dir.join("capstan.db")).await;
    for device_id in &acked_before {
        assert_eq!(restored.get(device_id), Some(&(BATCH as i64)), "acknowledged batch {device_id}");
    }
    assert!(restored.iter().filter(|(d, _)| d.starts_with('w')).all(|(_, n)| *n == BATCH as i64));

    // A server on the restored directory serves every bundle, byte for byte, and the release.
    let server = TestServer::start_with(|config| config.data_dir = restored_dir.clone()).await;
    let bundles = server.state.db().list_bundles(APP).await.unwrap();
    assert_eq!(bundles.len(), zips.len());
    for stored in bundles {
        let bytes = capstan_server::store::blob::read_all(server.state.blobs(), &stored.blob_key).await.unwrap();
        assert_eq!(&bytes, &zips[&stored.bundle.version], "bundle {}", stored.bundle.version);
    }
    let answer = server.updates(&device_with(APP, "after-restore", json!({ "version_name": "1.0.1" }))).await;
    assert_eq!(answer["version"], "1.0.2", "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn an_unfinished_or_foreign_backup_is_refused_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");

    // Not a backup at all.
    let (ok, stderr) =
        run(&["restore", "--from", work.path().to_str().unwrap(), "--to", target.to_str().unwrap()]).await;
    assert!(!ok && stderr.contains("not a Capstan backup"), "{stderr}");
    assert!(!target.exists(), "nothing written");

    // A finished backup whose database was damaged afterwards: the restore checks the copy and
    // leaves no database a server would start on.
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    let data_dir = server.config().data_dir.clone();
    let backup_dir = work.path().join("backup");
    let (ok, stderr) =
        run(&["backup", "--out", backup_dir.to_str().unwrap(), "--from", data_dir.to_str().unwrap()]).await;
    assert!(ok, "{stderr}");
    server.stop().await;
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", backup_dir.join("capstan.db").display()))
            .await
            .unwrap();
    let key: String = sqlx::query_scalar("SELECT blob_key FROM bundles").fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let blob = backup_dir.join("blobs").join(key);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let (ok, stderr) =
        run(&["restore", "--from", backup_dir.to_str().unwrap(), "--to", target.to_str().unwrap()]).await;
    assert!(!ok && stderr.contains("SHA-256"), "{stderr}");
    assert!(!target.join("capstan.db").exists(), "no database left to start on");

    // Backing up into a directory that holds anything is refused.
    let (ok, stderr) =
        run(&["backup", "--out", backup_dir.to_str().unwrap(), "--from", data_dir.to_str().unwrap()]).await;
    assert!(!ok && stderr.contains("not empty"), "{stderr}");
}
