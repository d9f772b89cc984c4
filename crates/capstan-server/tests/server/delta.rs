//! Delta updates on the server (protocol.md §8): which answers carry a manifest, artifact
//! downloads under §6, encrypted bundles, and what a crash leaves to the collection job.
//! The whole device side (install, Range resume, Brotli, byte-for-byte tree) is tested end to
//! end in `capstan-cli`'s `delta` suite.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use serde_json::{Value, json};

use crate::support::*;

/// A bundle with a large compressible chunk (served `.br`), noise (served raw) and a small page.
fn delta_zip(version: &str) -> Vec<u8> {
    let js = format!("CapacitorUpdater.notifyAppReady();{}", "function f(a){return a+1};".repeat(2_000));
    zip_of(&[
        ("index.html", format!("<html>{version}</html>").as_bytes()),
        ("assets/app.js", js.as_bytes()),
        ("assets/noise.bin", &noise(50_000)),
    ])
}

/// The artifact blobs stored for the app.
fn artifact_files(server: &TestServer) -> Vec<String> {
    let mut files: Vec<String> =
        server.stored_files().into_iter().filter(|f| f.contains(&format!("{APP}/files/"))).collect();
    files.sort();
    files
}

#[tokio::test]
async fn manifests_go_to_capable_plugins_on_delta_channels_and_artifacts_download_under_section_6() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let (status, body) = server.upload(APP, "1.0.1", delta_zip("1.0.1"), "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.publish(APP, "production", "1.0.1").await;

    let answer = server.updates(&device(APP, "d1")).await;
    let manifest = answer["manifest"].as_array().expect("a manifest for plugin 8.51.14").clone();
    let names: Vec<&str> = manifest.iter().map(|e| e["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["index.html", "assets/app.js.br", "assets/noise.bin"], "zip order, .br where it pays");
    assert_eq!(artifact_files(&server).len(), 3);

    // An artifact: raw Brotli bytes, exact length, single ranges.
    let entry = &manifest[1];
    let url = entry["download_url"].as_str().unwrap();
    let whole = server.client.get(url).header(ACCEPT_ENCODING, "br, gzip").send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert!(whole.headers().get(CONTENT_ENCODING).is_none(), "the .br bytes are the body, not an encoding");
    let length: usize = whole.headers()[CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(bytes.len(), length);
    let mut decoded = Vec::new();
    brotli_decode(&bytes, &mut decoded);
    assert_eq!(sha256_hex(&decoded), entry["file_hash"].as_str().unwrap());
    let from = length / 2;
    let part = server.client.get(url).header(RANGE, format!("bytes={from}-")).send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[CONTENT_RANGE], format!("bytes {from}-{}/{}", length - 1, length).as_str());
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[from..]);

    // Plugins that cannot build bundles file by file, and zip channels, get the zip alone.
    for old in ["6.24.0", "7.0.34", "5.10.0"] {
        let answer = server.updates(&device_with(APP, "d2", json!({ "plugin_version": old }))).await;
        assert_eq!(keys(&answer), ["checksum", "session_key", "url", "version"], "{old}");
    }
    server.patch_channel(APP, "production", json!({ "delivery": "zip" })).await;
    let answer = server.updates(&device(APP, "d1")).await;
    assert_eq!(keys(&answer), ["checksum", "session_key", "url", "version"]);
    server.patch_channel(APP, "production", json!({ "delivery": "delta" })).await;
    assert!(server.updates(&device(APP, "d1")).await.get("manifest").is_some());
    let (status, body) = server
        .api(reqwest::Method::PATCH, &format!("/apps/{APP}/channels/production"), Some(json!({ "delivery": "rsync" })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    server.stop().await;
}

fn brotli_decode(bytes: &[u8], out: &mut Vec<u8>) {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.br");
    std::fs::write(&path, bytes).unwrap();
    capstan_core::bundle::artifacts::open_stored(&path, capstan_core::bundle::artifacts::Encoding::Brotli)
        .unwrap()
        .read_to_end(out)
        .unwrap();
}

#[tokio::test]
async fn encrypted_bundles_get_no_artifacts_and_no_manifest() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let signer = test_signer();
    let (status, body) = server.register_key(APP, signer.verifying_key().pem()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (bytes, fields) = encrypt_zip(&signer, &delta_zip("1.0.1"));
    let (status, body) = server.upload_encrypted(APP, "1.0.1", bytes, &fields).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.publish(APP, "production", "1.0.1").await;
    let answer = server.updates(&device(APP, "d1")).await;
    assert_eq!(answer["session_key"], fields.session_key);
    assert!(answer.get("manifest").is_none(), "a device must never get a manifest it cannot verify: {answer}");
    assert_eq!(artifact_files(&server), Vec::<String>::new());
    server.stop().await;
}

/// The signed per-file hashes of `delta_zip(version)`, as the publishing client sends them.
fn signed_files(signer: &capstan_core::signing::SigningKey, version: &str) -> Vec<(String, String)> {
    signed_files_of(signer, &delta_zip(version))
}

fn body_of(files: &[(String, String)]) -> Value {
    json!({ "files": files.iter().map(|(path, hash)| json!({ "path": path, "file_hash": hash })).collect::<Vec<_>>() })
}

/// The server takes an encrypted bundle's signed hashes only when they describe exactly its
/// files and open with its key; then capable plugins get a manifest of files encrypted with the
/// bundle's session key, and deleting the bundle removes them.
#[tokio::test]
async fn encrypted_files_are_checked_against_the_bundle_then_served_to_capable_plugins() {
    encrypted_files_flow(TestServer::start().await, true).await;
}

/// The same on PostgreSQL and S3, with presigned downloads: the zip's link is presigned, the
/// manifest's stay on this server's `/dl/`.
#[tokio::test]
async fn encrypted_files_on_postgres_and_s3_with_presigned_zips() {
    let Some(services) = crate::services::services("encrypted_files").await else { return };
    let server = TestServer::start_with(|config| {
        services.apply(config);
        config.downloads = capstan_server::config::DownloadMode::Presigned;
    })
    .await;
    encrypted_files_flow(server, false).await;
}

/// `on_disk`: the blobs are files under the server's data folder (counted directly); otherwise
/// they are checked through their download links only.
async fn encrypted_files_flow(server: TestServer, on_disk: bool) {
    use capstan_core::signing::{SessionKey, SignedField, open_signed_sha256};
    let blob_count = |server: &TestServer| on_disk.then(|| artifact_files(server).len());
    server.create_app(APP).await;
    let signer = test_signer();
    server.register_key(APP, signer.verifying_key().pem()).await;
    let (bytes, fields) = encrypt_zip(&signer, &delta_zip("1.0.1"));
    let (status, body) = server.upload_encrypted(APP, "1.0.1", bytes, &fields).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.publish(APP, "production", "1.0.1").await;
    let path = format!("/apps/{APP}/bundles/1.0.1/encrypted-files");
    let good = signed_files(&signer, "1.0.1");

    let other = capstan_core::signing::SigningKey::generate().unwrap();
    let mut missing = good.clone();
    missing.pop();
    let mut extra = good.clone();
    extra.push(("assets/ghost.js".into(), good[0].1.clone()));
    let mut swapped = good.clone();
    swapped[0].1 = good[1].1.clone();
    let mut not_hex = good.clone();
    not_hex[0].1 = "zz".repeat(256);
    let mut plain_hash = good.clone();
    plain_hash[0].1 = "ab".repeat(32);
    let cases = [
        (body_of(&missing), "missing_file"),
        (body_of(&extra), "unknown_file"),
        (body_of(&swapped), "file_hash_mismatch"),
        (body_of(&not_hex), "invalid_file_hash"),
        (body_of(&plain_hash), "invalid_file_hash"),
        (body_of(&signed_files(&other, "1.0.1")), "invalid_file_hash"),
        (json!({ "files": [{ "path": "index.html" }] }), "invalid_json"),
    ];
    for (body, code) in cases {
        let (status, answer) = server.api(reqwest::Method::PUT, &path, Some(body)).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
        assert!(server.updates(&device(APP, "d1")).await.get("manifest").is_none());
        assert!(blob_count(&server).is_none_or(|n| n == 0), "{code}: nothing stored");
    }
    let huge = json!({ "files": (0..200).map(|i| json!({ "path": format!("{i}{}", "x".repeat(900)), "file_hash": "ab".repeat(256) })).collect::<Vec<_>>() });
    let (status, answer) = server.api(reqwest::Method::PUT, &path, Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "bounded by the bundle's 3 files: {answer}");

    let (status, answer) = server.api(reqwest::Method::PUT, &path, Some(body_of(&good))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = server.api(reqwest::Method::PUT, &path, Some(body_of(&good))).await;
    assert_eq!(status, StatusCode::CONFLICT, "once: {answer}");

    let answer = server.updates(&device(APP, "d1")).await;
    let manifest = answer["manifest"].as_array().expect("a manifest for plugin 8.51.14").clone();
    let names: Vec<&str> = manifest.iter().map(|e| e["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["index.html", "assets/app.js.br", "assets/noise.bin"]);
    let dl = format!("{}/dl/", server.base);
    assert!(manifest.iter().all(|e| e["download_url"].as_str().unwrap().starts_with(&dl)), "{answer}");
    let session = SessionKey::open(signer.verifying_key(), answer["session_key"].as_str().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for entry in &manifest {
        let name = entry["file_name"].as_str().unwrap();
        let hash =
            open_signed_sha256(signer.verifying_key(), entry["file_hash"].as_str().unwrap(), SignedField::FileHash)
                .unwrap();
        let response = server.client.get(entry["download_url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let encrypted = dir.path().join("encrypted");
        std::fs::write(&encrypted, response.bytes().await.unwrap()).unwrap();
        let decrypted = dir.path().join("decrypted");
        session.decrypt_file(&encrypted, &decrypted).unwrap();
        let mut plain = std::fs::read(&decrypted).unwrap();
        if name.ends_with(".br") {
            let mut decoded = Vec::new();
            brotli_decode(&plain, &mut decoded);
            plain = decoded;
        }
        assert_eq!(sha256_hex(&plain), hash, "{name}");
    }
    for old in ["7.29.0", "6.29.9", "7.0.35"] {
        let answer = server.updates(&device_with(APP, "d2", json!({ "plugin_version": old }))).await;
        assert!(answer.get("manifest").is_none(), "{old}: {answer}");
    }
    assert!(blob_count(&server).is_none_or(|n| n == 3));

    // A plain bundle's files are made at upload.
    let (status, _) = server.upload(APP, "1.0.2", delta_zip("1.0.2"), "").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = server
        .api(reqwest::Method::PUT, &format!("/apps/{APP}/bundles/1.0.2/encrypted-files"), Some(body_of(&good)))
        .await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("not_encrypted")), "{answer}");

    // Deleting the encrypted bundle removes its files (the plain one keeps its own 3).
    server.publish(APP, "production", "1.0.2").await;
    let (status, answer) = server.api(reqwest::Method::DELETE, &format!("/apps/{APP}/bundles/1.0.1"), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(blob_count(&server).is_none_or(|n| n == 3), "only 1.0.2's");
    for entry in &manifest {
        let response = server.client.get(entry["download_url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{entry} is gone with its bundle");
    }
    server.stop().await;
}

/// A crash after a bundle's row was deleted but before its artifacts were collected, and one
/// during an upload after some artifact blobs were stored: the collection job removes both.
#[tokio::test]
async fn the_collection_job_removes_what_a_crash_left() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    for version in ["1.0.1", "1.0.2"] {
        let (status, body) = server.upload(APP, version, delta_zip(version), "").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let shared = artifact_files(&server);
    assert_eq!(shared.len(), 4, "app.js and noise.bin are shared: {shared:?}");
    let listed: Value = server.api(reqwest::Method::GET, &format!("/apps/{APP}/bundles/1.0.2"), None).await.1;
    let index_size = "<html>1.0.2</html>".len();
    assert_eq!(listed["delta"], json!({ "from_version": "1.0.1", "download_bytes": index_size }));

    // The row goes, the process dies before collecting: the artifacts stay until the job runs.
    let entry = capstan_server::store::NewAudit {
        actor: "t".into(),
        app_id: Some(APP.into()),
        action: "bundle.delete".into(),
        subject: "1.0.1".into(),
        before: None,
        after: None,
        at_ms: 1,
    };
    server.state.db().delete_bundle(APP, "1.0.1", entry).await.unwrap();
    // An upload died after storing an artifact blob long ago.
    let stray = format!("{APP}/files/{}-dead", "0".repeat(64));
    let source = server.dir.path().join("stray");
    std::fs::write(&source, b"half an upload").unwrap();
    server.state.blobs().put_file(&stray, &source).await.unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let stray_file = server.dir.path().join("data/blobs").join(&stray);
    std::fs::File::options().write(true).open(&stray_file).unwrap().set_modified(two_hours_ago).unwrap();
    assert_eq!(artifact_files(&server).len(), 5);

    // The server's runner ran it at start; this is its next run.
    let job = capstan_server::jobs::server_jobs(server.config())
        .into_iter()
        .find(|j| j.name() == "collect-artifacts")
        .unwrap();
    job.run(&server.state).await.unwrap();
    let left = artifact_files(&server);
    assert_eq!(left.len(), 3, "1.0.2's three files: {left:?}");
    assert!(left.iter().all(|f| shared.contains(f)));
    server.stop().await;
}

/// The plugin Brotli-decodes every manifest entry named `*.br`: a bundle shipping precompressed
/// files (`app.js.br` beside `app.js`) is served as a zip.
#[tokio::test]
async fn bundles_with_br_files_are_zips_only() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let zip = zip_of(&[
        ("index.html", b"<html></html>"),
        ("app.js", b"CapacitorUpdater.notifyAppReady()"),
        ("app.js.br", b"\x1b\x20\x00"),
    ]);
    let (status, body) = server.upload(APP, "1.0.1", zip, "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.publish(APP, "production", "1.0.1").await;
    assert_eq!(keys(&server.updates(&device(APP, "d1")).await), ["checksum", "session_key", "url", "version"]);
    assert_eq!(artifact_files(&server), Vec::<String>::new());
    server.stop().await;
}

#[tokio::test]
async fn with_delta_artifacts_off_new_bundles_are_zips_only() {
    let server = TestServer::start_with(|config| config.delta_artifacts = false).await;
    server.create_app(APP).await;
    let (status, body) = server.upload(APP, "1.0.1", delta_zip("1.0.1"), "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.publish(APP, "production", "1.0.1").await;
    assert_eq!(keys(&server.updates(&device(APP, "d1")).await), ["checksum", "session_key", "url", "version"]);
    assert_eq!(artifact_files(&server), Vec::<String>::new());
    server.stop().await;
}
