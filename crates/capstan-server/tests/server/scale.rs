//! Several replicas on PostgreSQL + S3 (the services of `scripts/test-services.sh`): each a
//! real server on its own port and data directory, sharing only the database and the bucket.

use std::time::{Duration, Instant};

use capstan_server::config::{Config, DownloadMode};
use capstan_server::store::postgres::PostgresDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::services::{Services, services};
use crate::support::*;

/// A replica on the shared services, with the cache settings servers ship with (the bound the
/// README states is what these tests poll up to).
async fn replica(services: &Services, downloads: DownloadMode) -> TestServer {
    TestServer::start_with(|config| {
        services.apply(config);
        let defaults = Config::default();
        config.cache_check_ms = defaults.cache_check_ms;
        config.cache_ttl_ms = defaults.cache_ttl_ms;
        config.downloads = downloads;
    })
    .await
}

/// How long a change made through one replica may still be served by another: one check
/// interval, plus the revision query and the reload (allowed a second on a busy test machine).
fn staleness_bound() -> Duration {
    Duration::from_millis(Config::default().cache_check_ms) + Duration::from_secs(1)
}

/// Polls `server` with `info` until `done(answer)`, for at most the staleness bound; answers
/// how long it took.
async fn until(server: &TestServer, info: &Value, what: &str, done: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let answer = server.updates(info).await;
        if done(&answer) {
            let took = start.elapsed();
            eprintln!("{what}: seen by the other replica after {} ms", took.as_millis());
            return took;
        }
        assert!(start.elapsed() < staleness_bound(), "{what}: still {answer} after {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get(url: &str, range: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// A download URL serves exactly `bytes`, whole and from an offset (as a device resumes).
async fn downloads_exactly(url: &str, bytes: &[u8]) {
    let (status, headers, body) = get(url, None).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    assert_eq!(body, bytes, "whole download of {url}");
    assert_eq!(headers["content-length"].to_str().unwrap(), bytes.len().to_string());
    assert!(headers.get("content-encoding").is_none(), "raw bytes, no content encoding");
    let from = bytes.len() / 3;
    let (status, headers, body) = get(url, Some(&format!("bytes={from}-"))).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{url}");
    assert_eq!(body, &bytes[from..], "resumed download of {url}");
    assert_eq!(headers["content-range"].to_str().unwrap(), format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len()));
    assert_eq!(headers["content-length"].to_str().unwrap(), (bytes.len() - from).to_string());
}

#[tokio::test]
async fn two_replicas_share_releases_downloads_and_stats() {
    let Some(services) = services("two_replicas").await else { return };
    // a: management and presigned downloads; b: devices, streamed downloads.
    let a = replica(&services, DownloadMode::Presigned).await;
    let b = replica(&services, DownloadMode::Server).await;
    a.create_app(APP).await;
    let phone = device(APP, "phone-1");
    assert_eq!(b.updates(&phone).await["kind"], "up_to_date", "b knows the app a created: {}", b.updates(&phone).await);

    // Publish through a; devices served by b are offered it, and download it from b.
    let first = bundle_zip_of_size("1.0.1", 300_000);
    let (status, body) = a.upload(APP, "1.0.1", first.clone(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    a.publish(APP, "production", "1.0.1").await;
    until(&b, &phone, "publish", |answer| answer["version"] == "1.0.1").await;
    let offer = b.updates(&phone).await;
    let streamed = offer["url"].as_str().unwrap();
    assert!(streamed.starts_with(&format!("{}/dl/", b.base)), "b streams from the store: {streamed}");
    assert_eq!(offer["checksum"], sha256_hex(&first));
    downloads_exactly(streamed, &first).await;

    // a offers presigned URLs of the store, the same one while it is fresh (signed once).
    let presigned = a.updates(&phone).await["url"].as_str().unwrap().to_owned();
    let endpoint = services.s3.endpoint.clone().unwrap();
    assert!(presigned.starts_with(&endpoint) && presigned.contains("X-Amz-Signature="), "{presigned}");
    assert_eq!(a.updates(&device(APP, "phone-2")).await["url"], presigned, "signed once, reused");
    // The delta manifest's files stay on a's own /dl/ (immutable, cacheable URLs), streamed from
    // the store; the noise and the tiny text files are stored raw, so each body hashes as listed.
    let manifest = a.updates(&phone).await["manifest"].as_array().cloned().unwrap_or_default();
    assert_eq!(manifest.len(), 3, "index.html, app.js and big.bin: {manifest:?}");
    for entry in &manifest {
        let url = entry["download_url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/dl/", a.base)), "manifest files are not presigned: {url}");
        let (status, _, body) = get(url, None).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(entry["file_hash"], sha256_hex(&body), "{entry}");
    }
    downloads_exactly(&presigned, &first).await;
    let tampered = presigned.replace("X-Amz-Expires=", "X-Amz-Expires=1");
    assert_eq!(get(&tampered, None).await.0, StatusCode::FORBIDDEN, "the store checks the signature");

    // A rollback through a is seen by devices on b within the bound.
    let second = bundle_zip_of_size("1.0.2", 50_000);
    a.upload(APP, "1.0.2", second, "").await;
    a.publish(APP, "production", "1.0.2").await;
    until(&b, &phone, "second publish", |answer| answer["version"] == "1.0.2").await;
    let (status, body) =
        a.api(Method::POST, &format!("/apps/{APP}/channels/production/rollback"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until(&b, &phone, "rollback", |answer| answer["version"] == "1.0.1").await;

    // So is a rollout aborted through a.
    let rollout = format!("/apps/{APP}/channels/production/rollout");
    let third = bundle_zip_of_size("1.1.0", 10_000);
    a.upload(APP, "1.1.0", third, "").await;
    a.api(Method::POST, &rollout, Some(json!({ "version": "1.1.0", "percent": 100 }))).await;
    until(&b, &phone, "rollout", |answer| answer["version"] == "1.1.0").await;
    let (status, _) = a.api(Method::DELETE, &rollout, None).await;
    assert_eq!(status, StatusCode::OK);
    until(&b, &phone, "aborted rollout", |answer| answer["version"] == "1.0.1").await;

    // Stats posted to both replicas at once are all stored and counted.
    let batches: Vec<_> = (0..40)
        .map(|i| {
            let server = if i % 2 == 0 { &a } else { &b };
            let events: Vec<Value> = (0..50)
                .map(|j| {
                    let mut event = device(APP, &format!("stats-{i}-{j}"));
                    event["action"] = json!(["set", "download_complete"][j % 2]);
                    event["version_name"] = json!("1.0.1");
                    event
                })
                .collect();
            server.send(Method::POST, "/stats", None, Some(json!(events)))
        })
        .collect();
    for (status, body) in futures_util::future::join_all(batches).await {
        assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    }
    for server in [&a, &b] {
        assert_eq!(server.state.db().count_events(APP).await.unwrap(), 2000, "every acknowledged event stored");
        let (_, timeline) =
            server.api(Method::GET, &format!("/apps/{APP}/stats/timeline?bucket=day&days=1"), None).await;
        let counted: i64 = timeline["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_i64().unwrap()).sum();
        assert_eq!(counted, 2000, "every acknowledged event counted: {timeline}");
    }

    // The device told a first and b later: whichever replica flushes last, b's newer state stays.
    let older = device_with(APP, "roamer", json!({ "version_name": "builtin" }));
    let newer = device_with(APP, "roamer", json!({ "version_name": "1.0.1" }));
    a.updates(&older).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    b.updates(&newer).await;
    b.state.ingest().devices.flush(b.state.db()).await;
    a.state.ingest().devices.flush(a.state.db()).await;
    let stored = a.state.db().get_device(APP, "roamer").await.unwrap().unwrap();
    assert_eq!(stored.bundle_version, "1.0.1", "the newer report wins");

    a.stop().await;
    b.stop().await;
}

/// A zip of about `size` incompressible bytes, different per version.
fn bundle_zip_of_size(version: &str, size: usize) -> Vec<u8> {
    let mut payload = noise(size);
    payload[..version.len()].copy_from_slice(version.as_bytes());
    let js = format!("console.log('{version}'); CapacitorUpdater.notifyAppReady();");
    zip_of(&[
        ("index.html", b"<!doctype html><script src=app.js></script>"),
        ("app.js", js.as_bytes()),
        ("big.bin", &payload),
    ])
}

#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    let Some(services) = services("starting_together").await else { return };
    let opens = (0..4).map(|_| PostgresDatabase::open(&services.database_url, 2));
    for opened in futures_util::future::join_all(opens).await {
        opened.expect("every replica starts");
    }
    let mut conn = services.connect().await;
    let (applied, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(applied, distinct, "each migration applied once");
    assert!(applied >= 1);
}

#[tokio::test]
async fn uploads_in_progress_on_one_replica_survive_another_starting() {
    let Some(services) = services("uploads_survive").await else { return };
    let a = replica(&services, DownloadMode::Server).await;
    a.create_app(APP).await;
    a.upload_ok(APP, "1.0.0", "").await;
    // A blob stored but not yet committed (an upload between its last two steps on a): fresh,
    // so a replica starting now keeps it.
    let source = a.dir.path().join("pending.zip");
    std::fs::write(&source, bundle_zip("9.9.9")).unwrap();
    a.state.blobs().put_file(&format!("{APP}/9.9.9/pending.zip"), &source).await.unwrap();
    let b = replica(&services, DownloadMode::Server).await;
    assert!(b.state.blobs().exists(&format!("{APP}/9.9.9/pending.zip")).await.unwrap());
    // The committed bundle's zip and its per-file artifacts are all kept.
    let keys = b.state.db().blob_keys().await.unwrap();
    let artifacts = b.state.db().app_artifacts(APP).await.unwrap();
    assert!(!artifacts.is_empty());
    assert_eq!(keys.len(), 1 + artifacts.len(), "{keys:?}");
    for key in &keys {
        assert!(b.state.blobs().exists(key).await.unwrap(), "{key}");
    }
    a.stop().await;
    b.stop().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_capstan-server");

/// Runs `capstan-server serve` with `vars`; answers its exit status and stderr.
fn serve_with(vars: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .arg("serve")
        .env("CAPSTAN_DATA_DIR", data.path())
        .env("CAPSTAN_LISTEN", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .env("CAPSTAN_LOG", "off")
        .env_remove("CAPSTAN_CONFIG")
        .envs(vars.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn one_clear_line(stderr: &str, expected: &str) {
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn an_unusable_database_or_store_stops_the_start_with_one_line() {
    let (status, stderr) = serve_with(&[("CAPSTAN_DATABASE_URL", "postgres://capstan:hunter2@127.0.0.1:1/capstan")]);
    assert!(!status.success());
    one_clear_line(&stderr, "postgres://capstan:<redacted>@127.0.0.1:1/capstan");
    let (_, stderr) = serve_with(&[("CAPSTAN_DATABASE_URL", "mysql://capstan:hunter2@db/capstan")]);
    one_clear_line(&stderr, "not a database this server can use");
    let (_, stderr) = serve_with(&[("CAPSTAN_DATABASE_URL", "postgres://capstan:hunter2@127.0.0.1:99999/x")]);
    one_clear_line(&stderr, "cannot use the database");
    let (_, stderr) = serve_with(&[
        ("CAPSTAN_STORAGE_URL", "s3://bucket/prefix"),
        ("CAPSTAN_S3_ENDPOINT", "http://127.0.0.1:1"),
        ("AWS_ACCESS_KEY_ID", "k"),
        ("AWS_SECRET_ACCESS_KEY", "hunter2"),
    ]);
    one_clear_line(&stderr, "cannot reach the blob store s3://bucket/prefix");
    let (_, stderr) = serve_with(&[("CAPSTAN_DOWNLOADS", "presigned")]);
    one_clear_line(&stderr, "presigned");

    let Some(services) = services("unusable_database").await else { return };
    let missing = services.database_url.rsplit_once('/').unwrap().0.to_owned() + "/no_such_database";
    let (_, stderr) = serve_with(&[("CAPSTAN_DATABASE_URL", &missing)]);
    one_clear_line(&stderr, "no_such_database");
    let wrong_key = [
        ("CAPSTAN_STORAGE_URL", services.storage_url.as_str()),
        ("CAPSTAN_S3_ENDPOINT", services.s3.endpoint.as_deref().unwrap()),
        ("CAPSTAN_S3_PATH_STYLE", "true"),
        ("AWS_ACCESS_KEY_ID", services.s3.access_key_id.as_deref().unwrap()),
        ("AWS_SECRET_ACCESS_KEY", "hunter2"),
    ];
    let (_, stderr) = serve_with(&wrong_key);
    one_clear_line(&stderr, "cannot reach the blob store");
}

/// The mechanism behind the bound, without timers: a replica's check reloads the apps whose
/// revision moved (and only those), and a snapshot nobody confirmed within the TTL is reloaded
/// before it is served.
#[tokio::test]
async fn a_check_reloads_what_another_replica_changed_and_unconfirmed_snapshots_expire() {
    let first = TestServer::start().await;
    first.create_app(APP).await;
    first.create_app("com.other.app").await;
    first.upload_ok(APP, "1.0.1", "").await;
    let clock = std::sync::Arc::new(capstan_server::clock::SystemClock);
    let second = replica_of(&first, clock).await;
    let phone = device(APP, "phone-1");
    let snapshot = second.cache().get(APP).await.unwrap().unwrap();
    let other = second.cache().get("com.other.app").await.unwrap().unwrap();
    assert!(snapshot.channel("production").unwrap().main_lane().is_none());

    first.publish(APP, "production", "1.0.1").await;
    let unchanged = second.cache().get(APP).await.unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(&snapshot, &unchanged), "served from memory until checked");
    second.cache().check().await.unwrap();
    let reloaded = second.cache().get(APP).await.unwrap().unwrap();
    assert_eq!(reloaded.channel("production").unwrap().main_lane().and_then(|l| l.target_bundle()), Some("1.0.1"));
    let kept = second.cache().get("com.other.app").await.unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(&other, &kept), "an app that did not change is not reloaded");
    let resolved = capstan_server::device::resolve::resolve(
        &reloaded,
        &capstan_core::protocol::DeviceInfo::from_json_slice(phone.to_string().as_bytes()).unwrap(),
        "http://x",
    );
    assert!(matches!(resolved.answer, capstan_core::protocol::UpdateAnswer::Offer(_)));

    // A cache whose checks stopped (the database unreachable, say) does not serve a snapshot
    // past its TTL: the next request reads the database.
    let cache = capstan_server::cache::ConfigCache::new(
        std::sync::Arc::new(
            capstan_server::store::sqlite::SqliteDatabase::open(&first.config().data_dir.join("capstan.db"), false)
                .await
                .unwrap(),
        ),
        Duration::from_millis(100),
    );
    let before = cache.get(APP).await.unwrap().unwrap();
    assert_eq!(before.channel("production").unwrap().main_lane().and_then(|l| l.target_bundle()), Some("1.0.1"));
    first.upload_ok(APP, "1.0.2", "").await;
    first.publish(APP, "production", "1.0.2").await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let after = cache.get(APP).await.unwrap().unwrap();
    assert_eq!(after.channel("production").unwrap().main_lane().and_then(|l| l.target_bundle()), Some("1.0.2"));
    second.shutdown().await;
    first.stop().await;
}

/// A store that refuses writes fails the upload with a JSON error and stores nothing. The
/// upload used to panic in the S3 writer's cleanup (object_store cannot abort a writer whose
/// completion failed), and the release manager saw the connection drop. The refusal is real:
/// s3s-fs keeps each object's metadata in a file named after the base64 of its key, so it
/// answers 500 to any write of a key over ~190 bytes (a file name's limit is 255), while reads
/// and listings under that prefix work, as with a bucket that is full or read-only.
#[tokio::test]
async fn a_store_refusing_writes_fails_the_upload_cleanly() {
    let Some(services) = services("store_refusing_writes").await else { return };
    let unwritable = format!("{}/{}", services.storage_url, "x".repeat(200));
    let server = TestServer::start_with(|config| {
        services.apply(config);
        config.storage_url = Some(unwritable);
    })
    .await;
    server.create_app(APP).await;
    let (status, body) = server.upload(APP, "1.0.1", bundle_zip("1.0.1"), "").await;
    assert!(status.is_server_error(), "{status} {body}");
    assert!(body["error"].is_string() && body["message"].is_string(), "a JSON error body: {body}");
    let (status, bundles) = server.api(Method::GET, &format!("/apps/{APP}/bundles"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bundles.as_array().map(Vec::len), Some(0), "nothing stored: {bundles}");
    server.stop().await;
}
