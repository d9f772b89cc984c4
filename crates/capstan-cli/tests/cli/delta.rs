//! Delta updates end to end (protocol.md §8): a real `capstan-server`, bundles published with
//! the `capstan` binary, and a device that installs each update's `manifest` the way the
//! plugin does (`capstan_testkit::manifest::Device`: cache reuse, Range resume, Brotli-decoding
//! `.br` entries, SHA-256 checks), compared byte for byte with the unzipped bundle.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use capstan_client::api::Api;
use capstan_testkit::Server;
use capstan_testkit::manifest::{Cut, Device, FetchError, ManifestEntry, assert_same_tree, unzip_bundle};
use serde_json::{Value, json};

const APP: &str = "com.example.delta";

/// Deterministic bytes: `compressible` ones look like minified JavaScript, the others are noise.
fn content(seed: u64, len: usize, compressible: bool) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let words: [&[u8]; 8] =
        [b"function ", b"return ", b"const a=", b"this.state", b"=>{", b"};", b"CapacitorUpdater", b"(e,t,n)"];
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        if compressible {
            out.extend_from_slice(words[(state >> 61) as usize]);
            out.extend_from_slice(format!("{}", (state >> 40) % 1000).as_bytes());
        } else {
            out.extend_from_slice(&state.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// A web build: a large vendor chunk and an image that never change, an app chunk, a small
/// chunk and `index.html` that change with `release`, and one file duplicated under two names.
fn web_build(root: &Path, release: u64) -> PathBuf {
    let dist = root.join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(dist.join("assets/img")).unwrap();
    let write = |path: &str, bytes: Vec<u8>| std::fs::write(dist.join(path), bytes).unwrap();
    write("index.html", format!("<html><script src=assets/app.js></script>{release}</html>").into_bytes());
    write("assets/vendor.js", content(1, 300_000, true));
    write("assets/img/logo.png", content(2, 40_000, false));
    write(
        "assets/app.js",
        [b"CapacitorUpdater.notifyAppReady();".to_vec(), content(10 + release, 60_000, true)].concat(),
    );
    write("assets/chunk.js", content(20 + release, 900, true));
    write("assets/copy-of-vendor.js", content(1, 300_000, true));
    dist
}

/// What a current Android plugin (delta-capable) or an old one sends from a device running
/// `running` on native 0.9.0.
fn info(device: &str, running: &str, plugin: &str) -> Value {
    json!({
        "platform": "android", "device_id": device, "app_id": APP, "custom_id": "",
        "version_build": "0.9.0", "version_code": "1", "version_os": "14",
        "version_name": running, "plugin_version": plugin, "is_emulator": false, "is_prod": true,
    })
}

fn with_app<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(["--app", APP]).collect()
}

/// GETs a URL of the server whole, as raw bytes (the zip a device would download).
fn get_bytes(server: &Server, url: &str) -> Vec<u8> {
    let path = url.strip_prefix(&server.url()).expect("a URL of this server");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response[..split]));
    response[split + 4..].to_vec()
}

/// The bundle the server offers, unzipped from its `url`.
fn unzipped(server: &Server, answer: &Value, dest: &Path) -> PathBuf {
    let zip = dest.with_extension("zip");
    std::fs::write(&zip, get_bytes(server, answer["url"].as_str().unwrap())).unwrap();
    unzip_bundle(&zip, dest)
}

/// Artifact blobs the server stores for the app.
fn artifact_blobs(server: &Server) -> BTreeSet<String> {
    let folder = walkdir::WalkDir::new(server.data_dir())
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_dir() && e.path().ends_with(format!("{APP}/files")));
    let Some(folder) = folder else { return BTreeSet::new() };
    std::fs::read_dir(folder.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn delta_capable_plugins_build_bundles_file_by_file_and_older_ones_get_the_zip() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    server.json(cwd, &["app", "create", APP]);

    // 1.0.0: a device on the store build gets the manifest and the zip URL.
    web_build(cwd, 0);
    server.json(cwd, &with_app(&["publish", "dist", "--channel", "production", "--version", "1.0.0"]));
    let device_id = "00000001-0000-4000-8000-000000000001";
    let (status, answer) = server.post("/updates", &info(device_id, "builtin", "8.51.14"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["version"], "1.0.0");
    let manifest = ManifestEntry::list_from_answer(&answer);
    assert_eq!(manifest.len(), 6, "every file is listed: {answer}");
    let names: BTreeSet<&str> = manifest.iter().map(|e| e.file_name.as_str()).collect();
    assert!(
        names.contains("assets/vendor.js.br") && names.contains("assets/app.js.br"),
        "large JS is Brotli: {names:?}"
    );
    assert!(names.contains("assets/img/logo.png") && names.contains("index.html"), "noise and small files raw");
    let expected = unzipped(&server, &answer, &cwd.join("zip-1.0.0"));

    // The download of the large chunk is cut part-way; the next attempt resumes it with Range.
    let device = Device::new(cwd.join("device-cache"));
    let cut = Cut { file_name: "assets/vendor.js.br".into(), after_bytes: 5_000 };
    let first = cwd.join("bundle-1.0.0");
    match device.install(&manifest, &first, Some(&cut)) {
        Err(FetchError::Interrupted(name)) => assert_eq!(name, "assets/vendor.js.br"),
        other => panic!("the cut download should interrupt the install: {other:?}"),
    }
    std::fs::remove_dir_all(&first).unwrap();
    let report = device.install(&manifest, &first, None).unwrap();
    let resumed = report.exchanges.iter().find(|e| e.file_name == "assets/vendor.js.br").unwrap();
    assert_eq!((resumed.range_from, resumed.status), (Some(5_000), 206), "{report:?}");
    assert_same_tree(&first, &expected);
    // What the cut attempt verified came from the device's cache; nothing was fetched twice.
    assert_eq!(report.downloaded_files().len() + report.from_cache.len(), 6, "{report:?}");

    // 1.0.1 changes app.js, chunk.js and index.html: only those are downloaded.
    web_build(cwd, 1);
    server.json(cwd, &with_app(&["publish", "dist", "--channel", "production", "--version", "1.0.1"]));
    let (_, answer) = server.post("/updates", &info(device_id, "1.0.0", "8.51.14"));
    assert_eq!(answer["version"], "1.0.1");
    let manifest = ManifestEntry::list_from_answer(&answer);
    let second = cwd.join("bundle-1.0.1");
    let report = device.install(&manifest, &second, None).unwrap();
    assert_same_tree(&second, &unzipped(&server, &answer, &cwd.join("zip-1.0.1")));
    let downloaded: BTreeSet<String> = report.downloaded_files().into_iter().collect();
    let changed: BTreeSet<String> =
        ["assets/app.js.br", "assets/chunk.js", "index.html"].into_iter().map(str::to_owned).collect();
    assert_eq!(downloaded, changed);
    let zip_size = get_bytes(&server, answer["url"].as_str().unwrap()).len() as u64;
    println!("delta download {} B instead of the {zip_size} B zip", report.downloaded_bytes());
    assert!(report.downloaded_bytes() * 5 < zip_size, "{} of {zip_size}", report.downloaded_bytes());

    // `bundle list` shows the saving the server computed, which is what the device downloaded.
    let listed = server.json(cwd, &with_app(&["bundle", "list"]));
    let latest = listed.as_array().unwrap().iter().find(|b| b["version"] == "1.0.1").unwrap();
    assert_eq!(latest["delta"], json!({ "from_version": "1.0.0", "download_bytes": report.downloaded_bytes() }));
    let table = String::from_utf8(server.capstan(cwd, &with_app(&["bundle", "list"])).stdout).unwrap();
    assert!(table.contains(" instead of ") && table.contains("from 1.0.0"), "{table}");

    // Plugins that do not build bundles file by file get the zip alone, as does everyone on a
    // channel switched to zip delivery.
    for old in ["6.24.0", "7.0.34", "5.10.0"] {
        let (_, answer) = server.post("/updates", &info(device_id, "1.0.0", old));
        assert_eq!(answer["version"], "1.0.1");
        assert!(answer.get("manifest").is_none() && answer["url"].is_string(), "{old}: {answer}");
    }
    server.json(cwd, &with_app(&["channel", "update", "production", "--delivery", "zip"]));
    let (_, answer) = server.post("/updates", &info(device_id, "1.0.0", "8.51.14"));
    assert!(answer.get("manifest").is_none() && answer["url"].is_string(), "{answer}");
    let shown = server.json(cwd, &with_app(&["channel", "show", "production"]));
    assert_eq!(shown["delivery"], "zip");

    // Deleting bundles removes exactly the artifacts no remaining bundle lists.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = Api::new(&server.url(), &server.token).unwrap();
    let blobs_of_two = artifact_blobs(&server);
    assert_eq!(blobs_of_two.len(), 8, "5 of 1.0.0 + 3 changed in 1.0.1: {blobs_of_two:?}");
    runtime.block_on(api.delete_bundle(APP, "1.0.0")).unwrap();
    let after_first = artifact_blobs(&server);
    assert_eq!(after_first.len(), 5, "1.0.1's files stay: {after_first:?}");
    assert!(after_first.is_subset(&blobs_of_two));
    server.json(cwd, &with_app(&["channel", "rollback", "production", "--to", "builtin"]));
    runtime.block_on(api.delete_bundle(APP, "1.0.1")).unwrap();
    assert_eq!(artifact_blobs(&server), BTreeSet::new(), "no artifact outlives every bundle listing it");
}

/// Encrypted bundles file by file (issue 12, point 4): the real `capstan publish` with the app's
/// key signs every file's hash; a current plugin with the matching `publicKey` opens each
/// `file_hash` with the public key, decrypts each download with the session key, Brotli-decodes
/// `.br`, checks the SHA-256 and rebuilds the tree byte for byte. Older plugins get the zip, and
/// deleting the bundles leaves no encrypted file behind.
#[test]
fn encrypted_bundles_are_delivered_file_by_file_to_plugins_holding_the_key() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    server.json(cwd, &["app", "create", APP]);
    let public_pem = crate::keys::key_fixture("rsa2048.public.pkcs1.pem");
    let public = capstan_core::signing::VerifyingKey::from_pem(&public_pem).unwrap();
    std::fs::write(cwd.join("public.pem"), &public_pem).unwrap();
    server.json(cwd, &with_app(&["keys", "register", "--public-key", "public.pem"]));
    let private = crate::keys::key_fixture("rsa2048.pkcs8.pem");
    let publish = |version: &str| {
        let args = with_app(&["publish", "dist", "--channel", "production", "--version", version, "--json"]);
        let output = crate::keys::capstan(&server, cwd, &args, &[("CAPSTAN_SIGNING_KEY", &private)]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let published: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(published["warnings"], json!([]), "{published}");
        published
    };
    let device_info = |running: &str, plugin: &str| {
        let mut info = info("00000002-0000-4000-8000-000000000002", running, plugin);
        info["key_id"] = json!(public.key_id());
        info
    };

    // 1.0.0, with an empty file (sent Brotli-encoded: Android refuses an empty decryption).
    let dist = web_build(cwd, 0);
    std::fs::write(dist.join("assets/empty.txt"), b"").unwrap();
    publish("1.0.0");
    let (status, answer) = server.post("/updates", &device_info("builtin", "8.51.14"));
    assert_eq!(status, 200, "{answer}");
    let session_key = answer["session_key"].as_str().unwrap().to_owned();
    assert!(!session_key.is_empty(), "an encrypted bundle: {answer}");
    let manifest = ManifestEntry::list_from_answer(&answer);
    assert_eq!(manifest.len(), 7, "every file is listed: {answer}");
    assert!(manifest.iter().all(|e| e.file_hash.len() == 512), "signed hashes: {answer}");
    let names: BTreeSet<&str> = manifest.iter().map(|e| e.file_name.as_str()).collect();
    for expected in
        ["assets/vendor.js.br", "assets/app.js.br", "assets/empty.txt.br", "assets/img/logo.png", "index.html"]
    {
        assert!(names.contains(expected), "{expected} in {names:?}");
    }
    let zip_tree = |answer: &Value, name: &str| {
        // The zip devices without delta get: decrypted as a device does, then unzipped.
        let encrypted = cwd.join(format!("{name}.encrypted"));
        std::fs::write(&encrypted, get_bytes(&server, answer["url"].as_str().unwrap())).unwrap();
        let zip = cwd.join(format!("{name}.zip"));
        let cancel = capstan_core::progress::CancelFlag::new();
        let (session_key, checksum) = (answer["session_key"].as_str().unwrap(), answer["checksum"].as_str().unwrap());
        capstan_core::signing::open_bundle(
            &public,
            &encrypted,
            session_key,
            checksum,
            &zip,
            &capstan_core::progress::NoProgress,
            &cancel,
        )
        .unwrap();
        unzip_bundle(&zip, &cwd.join(name))
    };
    let expected = zip_tree(&answer, "zip-1.0.0");

    // A cut download resumes with Range; every file decrypts, decodes and checks.
    let device = Device::new(cwd.join("device-cache"));
    let first = cwd.join("bundle-1.0.0");
    let cut = Cut { file_name: "assets/vendor.js.br".into(), after_bytes: 5_000 };
    match device.install_encrypted(&manifest, &first, Some(&cut), &public, &session_key) {
        Err(FetchError::Interrupted(name)) => assert_eq!(name, "assets/vendor.js.br"),
        other => panic!("the cut download should interrupt the install: {other:?}"),
    }
    std::fs::remove_dir_all(&first).unwrap();
    let report = device.install_encrypted(&manifest, &first, None, &public, &session_key).unwrap();
    let resumed = report.exchanges.iter().find(|e| e.file_name == "assets/vendor.js.br").unwrap();
    assert_eq!((resumed.range_from, resumed.status), (Some(5_000), 206), "{report:?}");
    assert_same_tree(&first, &expected);
    assert_same_tree(&first, &dist);

    // A device trusting another key refuses the bundle: neither the session key nor a signed
    // hash opens with it.
    let other = capstan_core::signing::SigningKey::generate().unwrap();
    let refused = Device::new(cwd.join("other-cache")).install_encrypted(
        &manifest,
        &cwd.join("other"),
        None,
        other.verifying_key(),
        &session_key,
    );
    assert!(matches!(refused, Err(FetchError::Decrypt { .. })), "{refused:?}");

    // 1.0.1 changes app.js, chunk.js and index.html: a device holding 1.0.0 downloads only
    // those, although every encrypted file of 1.0.1 is new (its own session key).
    web_build(cwd, 1);
    publish("1.0.1");
    let (_, answer) = server.post("/updates", &device_info("1.0.0", "8.51.14"));
    assert_eq!(answer["version"], "1.0.1");
    let session_key = answer["session_key"].as_str().unwrap().to_owned();
    let manifest = ManifestEntry::list_from_answer(&answer);
    let second = cwd.join("bundle-1.0.1");
    let report = device.install_encrypted(&manifest, &second, None, &public, &session_key).unwrap();
    assert_same_tree(&second, &zip_tree(&answer, "zip-1.0.1"));
    let downloaded: BTreeSet<String> = report.downloaded_files().into_iter().collect();
    let changed: BTreeSet<String> =
        ["assets/app.js.br", "assets/chunk.js", "index.html"].into_iter().map(str::to_owned).collect();
    assert_eq!(downloaded, changed);
    let listed = server.json(cwd, &with_app(&["bundle", "list"]));
    let latest = listed.as_array().unwrap().iter().find(|b| b["version"] == "1.0.1").unwrap();
    assert_eq!(latest["delta"], json!({ "from_version": "1.0.0", "download_bytes": report.downloaded_bytes() }));

    // Plugins that cannot read hex-signed hashes in a manifest get the zip alone.
    for old in ["7.0.35", "6.29.0", "7.29.9"] {
        let (_, answer) = server.post("/updates", &device_info("1.0.0", old));
        assert_eq!(answer["version"], "1.0.1");
        assert!(answer.get("manifest").is_none() && answer["url"].is_string(), "{old}: {answer}");
    }

    // Encrypted files belong to their bundle: deleting the bundles removes every one.
    // 1.0.0 holds 6 distinct contents (the vendor copy shares its blob), 1.0.1 5 (no empty file).
    assert_eq!(artifact_blobs(&server).len(), 11, "each bundle its own encrypted files");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = Api::new(&server.url(), &server.token).unwrap();
    runtime.block_on(api.delete_bundle(APP, "1.0.0")).unwrap();
    assert_eq!(artifact_blobs(&server).len(), 5, "1.0.1's files stay");
    server.json(cwd, &with_app(&["channel", "rollback", "production", "--to", "builtin"]));
    runtime.block_on(api.delete_bundle(APP, "1.0.1")).unwrap();
    assert_eq!(artifact_blobs(&server), BTreeSet::new(), "no encrypted file outlives its bundle");
}
