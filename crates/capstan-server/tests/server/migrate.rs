//! `capstan-server migrate`: an embedded install (the v0.1 fixture, grown with generated data)
//! moves to PostgreSQL + S3 while its server runs, survives a SIGKILL half-way, catches up after
//! the embedded server stops, and ends up identical: every table compared row for row with the
//! source (columns found in the source's own schema, not in the tool's table list), every blob
//! read back and hashed, and every management answer equal on a server over each.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use capstan_core::api::{DeviceEvent, SigningKeyRecord};
use capstan_server::migrate::{MigrateError, MigrateOptions, migrate};
use capstan_server::store::NewAudit;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};

use crate::services::{Services, services};
use crate::support::*;

const FIXTURE_APP: &str = "com.fixture.app";
const BIN: &str = env!("CARGO_BIN_EXE_capstan-server");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The fixture's data directory, copied into `dir`.
fn fixture_install(dir: &Path) -> std::path::PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade-v0.1/data");
    let data = dir.join("data");
    copy_dir(&fixture, &data);
    data
}

fn options(data: &Path, services: &Services) -> MigrateOptions {
    MigrateOptions {
        source: data.to_path_buf(),
        database_url: services.database_url.clone(),
        storage_url: services.storage_url.clone(),
        s3: services.s3.clone(),
    }
}

fn events(app: &str, count: usize, seed: usize) -> Vec<DeviceEvent> {
    (0..count)
        .map(|i| DeviceEvent {
            app_id: app.into(),
            device_id: format!("gen-{:05}", (i * 7 + seed) % 3000),
            action: ["set", "download_complete", "update_fail"][i % 3].into(),
            version_name: "1.0.1".into(),
            old_version_name: "builtin".into(),
            platform: ["ios", "android"][i % 2].into(),
            native_version: "1.0.0".into(),
            plugin_version: "8.51.14".into(),
            metadata: (i % 5 == 0).then(|| format!("{{\"i\":{i}}}")),
            device_ts_ms: (i % 7 != 0).then_some(1_700_000_000_000 + i as i64),
            received_ms: 1_760_000_000_000 + (i as i64) * 60_000,
        })
        .collect()
}

/// Grows the fixture through a running server: bundles, releases, overrides of both sources,
/// devices and stats through the device endpoints, and many events.
async fn grow(server: &TestServer) {
    server.upload_ok(FIXTURE_APP, "3.0.0", "&notes=generated").await;
    server.upload_ok(FIXTURE_APP, "3.0.1", "&min_native_version=1.0.0").await;
    server.publish_forced(FIXTURE_APP, "beta", "3.0.0").await;
    // Columns and tables later migrations added: a native fingerprint, a signing key.
    let audit = |action: &str| NewAudit {
        actor: "migrate-test".into(),
        app_id: Some(FIXTURE_APP.into()),
        action: action.into(),
        subject: "s".into(),
        before: None,
        after: None,
        at_ms: 1_760_000_000_000,
    };
    let db = server.state.db();
    db.set_native_fingerprint(FIXTURE_APP, "3.0.0", "{\"digest\":\"d1\"}", "d1", audit("bundle.native")).await.unwrap();
    let key = SigningKeyRecord {
        key_id: "MIIBCgKCAQEAmigrate1".into(),
        public_key: "pem".into(),
        created_by: "migrate-test".into(),
        created_at_ms: 1_760_000_000_000,
    };
    db.insert_signing_key(FIXTURE_APP, &key, audit("signing.key_register")).await.unwrap();
    let rollout = format!("/apps/{FIXTURE_APP}/channels/staging/rollout");
    let (status, body) = server.api(Method::POST, &rollout, Some(json!({ "version": "3.0.1", "percent": 25 }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .api(Method::PUT, &format!("/apps/{FIXTURE_APP}/devices/pinned-1/override"), Some(json!({ "channel": "beta" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for i in 0..40 {
        let key_id = (i % 2 == 0).then_some("MIIBCgKCAQEAmigrate1");
        let info = device_with(
            FIXTURE_APP,
            &format!("http-{i}"),
            json!({ "custom_id": format!("user-{i}"), "key_id": key_id }),
        );
        server.updates(&info).await;
    }
    let legacy = device_with(FIXTURE_APP, "legacy-1", json!({ "plugin_version": "6.27.0", "channel": "beta" }));
    let (status, _) = server.send(Method::POST, "/channel_self", None, Some(legacy)).await;
    assert_eq!(status, StatusCode::OK);
    let stats: Vec<Value> = (0..100)
        .map(|i| {
            let mut event = device(FIXTURE_APP, &format!("http-{}", i % 40));
            event["action"] = json!("set");
            event["version_name"] = json!("3.0.1");
            event
        })
        .collect();
    let (status, _) = server.send(Method::POST, "/stats", None, Some(json!(stats))).await;
    assert_eq!(status, StatusCode::OK);
    server.state.ingest().devices.flush(server.state.db()).await;
    server.state.db().insert_events(&events(FIXTURE_APP, 25_000, 0)).await.unwrap();
}

/// Every table of the source with every column of the source's schema (but SQLite's index
/// helper `id_bucket`, the cache token `config_revision` and the replicas' leases), row for
/// row in key order, as text on both sides.
async fn assert_same_tables(source_db: &Path, services: &Services) {
    let mut source = sqlx::SqliteConnection::connect(&format!("sqlite://{}", source_db.display())).await.unwrap();
    let mut target = services.connect().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT IN ('_sqlx_migrations', 'leases') ORDER BY name",
    )
    .fetch_all(&mut source)
    .await
    .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    for table in tables {
        let info = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA table_info({table})")))
            .fetch_all(&mut source)
            .await
            .unwrap();
        let columns: Vec<String> = info
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .filter(|c| c != "id_bucket" && c != "config_revision")
            .collect();
        let mut key: Vec<(i64, String)> =
            info.iter().filter(|r| r.get::<i64, _>("pk") > 0).map(|r| (r.get("pk"), r.get("name"))).collect();
        key.sort();
        let order = key.into_iter().map(|(_, name)| name).collect::<Vec<_>>().join(", ");
        // Output columns get names of their own, so ORDER BY sorts by the stored values.
        let select = |cast: &dyn Fn(&str) -> String| {
            let list = columns.iter().enumerate().map(|(i, c)| format!("{} AS out_{i}", cast(c))).collect::<Vec<_>>();
            let list = list.join(", ");
            format!("SELECT {list} FROM {table} ORDER BY {order}")
        };
        let booleans: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 AND data_type = 'boolean'",
        )
        .bind(&table)
        .fetch_all(&mut target)
        .await
        .unwrap();
        let theirs_sql = select(&|c| {
            if booleans.iter().any(|b| b == c) {
                format!("CASE WHEN {c} THEN '1' ELSE '0' END")
            } else {
                format!("{c}::text")
            }
        });
        let ours: Vec<Vec<Option<String>>> =
            sqlx::query(sqlx::AssertSqlSafe(select(&|c| format!("CAST({c} AS TEXT)"))))
                .fetch_all(&mut source)
                .await
                .unwrap()
                .iter()
                .map(|row| (0..row.len()).map(|i| row.get::<Option<String>, _>(i)).collect())
                .collect();
        let theirs: Vec<Vec<Option<String>>> = sqlx::query(sqlx::AssertSqlSafe(theirs_sql))
            .fetch_all(&mut target)
            .await
            .unwrap()
            .iter()
            .map(|row| (0..row.len()).map(|i| row.get::<Option<String>, _>(i)).collect())
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{table}: row count");
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "{table}: a row differs ({columns:?})");
        }
        eprintln!("{table}: {} rows identical", ours.len());
    }
}

/// Every bundle's blob, read back from the target store through the trait, hashed.
async fn assert_same_blobs(source_db: &Path, services: &Services) {
    let source = capstan_server::store::sqlite::SqliteDatabase::open(source_db, false).await.unwrap();
    let store = capstan_server::store::s3::S3BlobStore::open(&services.storage_url, &services.s3).unwrap();
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT blob_key, sha256, size FROM bundles").fetch_all(source.read_pool()).await.unwrap();
    assert!(rows.len() >= 4);
    for (key, sha256, size) in rows {
        let bytes = capstan_server::store::blob::read_all(&store, &key).await.unwrap();
        assert_eq!((hex::encode(Sha256::digest(&bytes)), bytes.len() as i64), (sha256, size), "{key}");
    }
}

/// `capstan-server migrate` as a user runs it.
fn migrate_command(data: &Path, services: &Services) -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    command
        .args(["migrate", "--to-database", &services.database_url, "--to-storage", &services.storage_url, "--from"])
        .arg(data)
        .env("CAPSTAN_DATA_DIR", "/nonexistent")
        .env("CAPSTAN_S3_ENDPOINT", services.s3.endpoint.as_deref().unwrap())
        .env("CAPSTAN_S3_REGION", "us-east-1")
        .env("CAPSTAN_S3_PATH_STYLE", "true")
        .env("AWS_ACCESS_KEY_ID", services.s3.access_key_id.as_deref().unwrap())
        .env("AWS_SECRET_ACCESS_KEY", services.s3.secret_access_key.as_deref().unwrap())
        .env("NO_COLOR", "1")
        .env_remove("CAPSTAN_CONFIG")
        .stdin(std::process::Stdio::null());
    command
}

async fn count(services: &Services, sql: &str) -> i64 {
    let mut conn = services.connect().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut conn).await.unwrap()
}

#[tokio::test]
async fn an_embedded_install_moves_while_running_resumes_catches_up_and_matches_row_for_row() {
    let Some(services) = services("migrate").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = fixture_install(dir.path());
    let embedded = TestServer::start_with({
        let data = data.clone();
        move |config| config.data_dir = data
    })
    .await;
    grow(&embedded).await;
    let total_events = embedded.state.db().count_events(FIXTURE_APP).await.unwrap();

    // Killed half-way through the events (a crash, not a clean stop), while the server runs.
    let mut child = migrate_command(&data, &services)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let copied_before_kill = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("migrate finished ({status}) before it could be interrupted");
        }
        let mut conn = services.connect().await;
        let copied: Option<i64> =
            sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_optional(&mut conn).await.ok().flatten();
        if copied.is_some_and(|n| n > 0) {
            child.kill().unwrap();
            child.wait().unwrap();
            break count(&services, "SELECT COUNT(*) FROM events").await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(copied_before_kill > 0 && copied_before_kill < total_events, "{copied_before_kill} of {total_events}");
    assert_eq!(count(&services, "SELECT COUNT(*) FROM imports WHERE finished_at_ms IS NULL").await, 1);

    // No server starts on a half-filled database.
    let early = capstan_server::store::open(&{
        let mut config = capstan_server::config::Config::default();
        services.apply(&mut config);
        config
    })
    .await;
    let refusal = early.err().expect("a server must not start on an unfinished migration").to_string();
    assert!(refusal.contains("capstan-server migrate") && refusal.contains("has not finished"), "{refusal}");

    // Running it again resumes after the events already copied, and verifies everything, while
    // devices keep posting stats to the embedded server.
    let posting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = tokio::spawn({
        let (base, posting) = (embedded.base.clone(), posting.clone());
        async move {
            let mut acknowledged = 0;
            while posting.load(std::sync::atomic::Ordering::SeqCst) {
                let batch: Vec<Value> = (0..20).map(|i| device(FIXTURE_APP, &format!("during-{i}"))).collect();
                let batch: Vec<Value> = batch
                    .into_iter()
                    .map(|mut e| {
                        e["action"] = json!("app_moved_to_foreground");
                        e
                    })
                    .collect();
                let (status, _) = post_json(format!("{base}/stats"), &json!(batch)).await;
                assert_eq!(status, StatusCode::OK);
                acknowledged += 20;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            acknowledged
        }
    });
    let report = migrate(&options(&data, &services), &|line| eprintln!("migrate: {line}")).await.unwrap();
    posting.store(false, std::sync::atomic::Ordering::SeqCst);
    let posted_meanwhile: i64 = writer.await.unwrap();
    assert!(posted_meanwhile > 0);
    let written = |table: &str| report.written.iter().find(|(t, _)| *t == table).unwrap().1 as i64;
    // The snapshot was taken at some point while stats kept coming: it holds every event from
    // before the run, and was copied from where the killed run stopped.
    let snapshot_events = report.rows.iter().find(|(t, _)| *t == "events").unwrap().1;
    assert!((total_events..=total_events + posted_meanwhile).contains(&snapshot_events), "{snapshot_events}");
    assert_eq!(written("events"), snapshot_events - copied_before_kill, "resumed, not restarted");
    assert_eq!(report.blobs, 5);

    // The embedded server goes on (a rollback, a cleared override, a deleted bundle, more
    // events), then stops; running again catches up.
    let (status, body) =
        embedded.api(Method::POST, &format!("/apps/{FIXTURE_APP}/channels/beta/rollback"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) =
        embedded.api(Method::DELETE, &format!("/apps/{FIXTURE_APP}/devices/pinned-1/override"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = embedded.api(Method::DELETE, &format!("/apps/{FIXTURE_APP}/bundles/3.0.0"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    embedded.state.db().insert_events(&events(FIXTURE_APP, 1_000, 5)).await.unwrap();
    embedded.updates(&device(FIXTURE_APP, "late-device")).await;
    embedded.stop().await;
    let output = migrate_command(&data, &services).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    let events_line = ["events".to_owned(), (total_events + posted_meanwhile + 1_000).to_string(), "rows".to_owned()];
    assert!(printed.lines().any(|l| l.split_whitespace().eq(events_line.iter().map(String::as_str))), "{printed}");

    assert_same_tables(&data.join("capstan.db"), &services).await;
    assert_same_blobs(&data.join("capstan.db"), &services).await;

    // A server over each answers the management API and devices alike.
    let old = TestServer::start_with({
        let data = data.clone();
        move |config| {
            config.data_dir = data;
            config.public_url = Some("http://same.invalid".into());
        }
    })
    .await;
    let new = TestServer::start_with(|config| {
        services.apply(config);
        config.public_url = Some("http://same.invalid".into());
    })
    .await;
    let expected: Value = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade-v0.1/expected.json"))
            .unwrap(),
    )
    .unwrap();
    let mut paths: Vec<String> = expected["management"].as_object().unwrap().keys().cloned().collect();
    paths.extend(["legacy-1", "http-7", "late-device"].map(|d| format!("/api/v1/apps/{FIXTURE_APP}/devices/{d}")));
    paths.push(format!("/api/v1/apps/{FIXTURE_APP}/stats/timeline?bucket=hour&days=36500"));
    let old_admin = expected["tokens"]["admin"].as_str().unwrap();
    for path in &paths {
        let (status, mut a) = old.send(Method::GET, path, Some(old_admin), None).await;
        let (status_b, mut b) = new.send(Method::GET, path, Some(old_admin), None).await;
        assert_eq!((status, status_b), (StatusCode::OK, StatusCode::OK), "{path}: {a} / {b}");
        if path.ends_with("/tokens") {
            for list in [&mut a, &mut b] {
                list.as_array_mut().unwrap().retain(|t| t["name"] != "test-admin");
            }
        }
        if path.contains("/devices?") {
            // Devices seen in the same millisecond may come in either order.
            for list in [&mut a, &mut b] {
                list.as_array_mut().unwrap().sort_by_key(|d| d["device_id"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(a, b, "{path}");
    }
    let mut answers = BTreeMap::new();
    for case in expected["updates"].as_array().unwrap() {
        let (a, b) = (old.updates(&case["request"]).await, new.updates(&case["request"]).await);
        assert_eq!(a, b, "{}", case["request"]);
        if let Some(url) = b["url"].as_str() {
            let path = url.strip_prefix("http://same.invalid").unwrap();
            let bytes = new.client.get(format!("{}{path}", new.base)).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(hex::encode(Sha256::digest(&bytes)), b["checksum"].as_str().unwrap(), "{path}");
            answers.insert(path.to_owned(), ());
        }
    }
    assert!(!answers.is_empty(), "some devices were offered a bundle and downloaded it");
    // New rows get new ids past the copied ones.
    let copied_max = count(&services, "SELECT MAX(id) FROM channels").await;
    new.create_channel(FIXTURE_APP, json!({ "name": "after-migration" })).await;
    let (_, created) = new.api(Method::GET, &format!("/apps/{FIXTURE_APP}/channels/after-migration"), None).await;
    assert!(created["id"].as_i64().unwrap() > copied_max, "{created}");
    old.stop().await;
    new.stop().await;

    // Servers have used the target now: migrating again would overwrite what they wrote.
    match migrate(&options(&data, &services), &|_| {}).await {
        Err(MigrateError::Refused(why)) => assert!(why.contains("servers have used this database"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_target_holding_other_data_is_refused_untouched() {
    let Some(services) = services("migrate_refusals").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = fixture_install(dir.path());

    // A database another run is filling right now.
    let mut running = services.connect().await;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(0x6361_7073_6d69_6772_i64).execute(&mut running).await.unwrap();
    match migrate(&options(&data, &services), &|_| {}).await {
        Err(MigrateError::Refused(why)) => assert!(why.contains("another `capstan-server migrate`"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    drop(running);

    // A database a server already uses.
    let other = TestServer::start_with(|config| services.apply(config)).await;
    other.create_app("com.other.app").await;
    other.stop().await;
    match migrate(&options(&data, &services), &|_| {}).await {
        Err(MigrateError::Refused(why)) => assert!(why.contains("already holds data"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(count(&services, "SELECT COUNT(*) FROM apps").await, 1, "nothing written");
    assert_eq!(count(&services, "SELECT COUNT(*) FROM imports").await, 0);

    // An empty database, but a storage prefix that holds objects.
    let Some(fresh) = crate::services::services("migrate_refusals_store").await else { return };
    let store = capstan_server::store::s3::S3BlobStore::open(&fresh.storage_url, &fresh.s3).unwrap();
    let file = dir.path().join("foreign.zip");
    std::fs::write(&file, b"not ours").unwrap();
    capstan_server::store::BlobStore::put_file(&store, "someone/else/foreign.zip", &file).await.unwrap();
    match migrate(&options(&data, &fresh), &|_| {}).await {
        Err(MigrateError::Refused(why)) => assert!(why.contains("storage prefix already holds"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(count(&fresh, "SELECT COUNT(*) FROM imports").await, 0);

    // A database filled from another install.
    let Some(third) = crate::services::services("migrate_refusals_other").await else { return };
    migrate(&options(&data, &third), &|_| {}).await.expect("a first migration");
    let second_install = fixture_install(&dir.path().join("second"));
    match migrate(&options(&second_install, &third), &|_| {}).await {
        Err(MigrateError::Refused(why)) => assert!(why.contains("another install"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
