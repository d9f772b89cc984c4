//! Signing from the console: a release manager creates the app's key (into the keychain of the
//! console's private D-Bus session), requires signed bundles, publishes signed, and devices get
//! a bundle they open with the public key the console showed.

use std::path::Path;

use capstan_testkit::Server;
use serde_json::Value;

use crate::harness::Console;

const APP: &str = "com.example.signed";

fn web_project(root: &Path, version: &str) -> std::path::PathBuf {
    let dist = root.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(root.join("package.json"), format!("{{\"name\":\"shop\",\"version\":\"{version}\"}}")).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><html><body>signed</body></html>").unwrap();
    std::fs::write(dist.join("app.js"), "import{CapacitorUpdater as u}from'x';u.notifyAppReady();").unwrap();
    dist
}

/// GET a management route as the admin.
async fn api(server: &Server, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1{path}", server.url()))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())) {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_a_key_requires_signed_bundles_and_publishes_signed() {
    let server = Server::start();
    server.capstan_json(&["app", "create", APP, "--name", "Signed"]);
    let home = tempfile::tempdir().unwrap();
    let dist = web_project(&home.path().join("shop"), "1.0.1");
    let console = Console::start(home.path()).await;
    console.connect(&server, &server.token, APP).await;
    console.wait_for_text("[data-testid=active-server]", "admin").await;

    // Create the key: the private half goes to the keychain, the public half is registered
    // and shown with the config snippet.
    console.open("Keys").await;
    console.wait_for_text("[data-testid=local-key]", "holds no signing key").await;
    console.button("Create key").await.click().await;
    console.wait_for_text("[data-testid=key-notice]", "its public half is registered on the server").await;
    let public_key = console.element("[data-testid=public-key]").await.text().await;
    assert!(public_key.starts_with("-----BEGIN RSA PUBLIC KEY-----"), "{public_key}");
    let snippet = console.element("[data-testid=config-snippet]").await.text().await;
    let snippet: Value = serde_json::from_str(&snippet).unwrap();
    assert_eq!(snippet["plugins"]["CapacitorUpdater"]["publicKey"].as_str().unwrap().trim(), public_key.trim());
    let signing = api(&server, &format!("/apps/{APP}/signing")).await;
    let key_id = signing["keys"][0]["key_id"].as_str().unwrap().to_owned();
    assert_eq!(signing["keys"][0]["public_key"].as_str().unwrap().trim(), public_key.trim(), "what the app will ship");
    console.wait_for_text("[data-testid=local-key]", &key_id).await;
    console.wait_for_text("[data-testid=keys-table]", "signs (from the OS keychain)").await;

    // Require signed bundles: the server now refuses anything else.
    console.element("[name=require-signed]").await.click().await;
    for _ in 0..100 {
        if api(&server, &format!("/apps/{APP}/signing")).await["require_signed"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(api(&server, &format!("/apps/{APP}/signing")).await["require_signed"], true);
    console.screenshot("keys").await;

    // A backup export: a 0600 file, and no copy of the key under the console's config or data.
    let backup = home.path().join("backup.pem");
    console.fill("export-path", &backup.display().to_string()).await;
    console.button("Export key").await.click().await;
    console.wait_for_text("[data-testid=key-notice]", "Whoever reads that file can publish").await;
    let exported = std::fs::read_to_string(&backup).unwrap();
    assert!(exported.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "the private key, as PEM");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let private_line = exported.lines().nth(8).unwrap();
    for dir in ["config", "data", "cache"] {
        let leaks = files_containing(&home.path().join(dir), private_line);
        assert!(leaks.is_empty(), "private key material in {leaks:?}");
    }

    // Publish from the console: signed with the keychain's key, checked as a device opens it.
    console.open("Publish").await;
    console.fill("folder", &dist.display().to_string()).await;
    console.button("Check bundle").await.click().await;
    console.element("[data-testid=sha256]").await;
    console.button("Publish 1.0.1 to production").await.click().await;
    console.wait_for_text("[data-testid=publish-result]", "Published 1.0.1 to production").await;
    let signed = console.wait_for_text("[data-testid=signed-with]", &key_id).await.text().await;
    assert!(signed.contains("opened as a device opens it"), "{signed}");
    console.screenshot("publish-signed").await;
    let bundle = api(&server, &format!("/apps/{APP}/bundles/1.0.1")).await;
    assert_eq!(bundle["key_id"], key_id.as_str());
    assert_eq!(bundle["checksum"].as_str().unwrap().len(), 512, "a signed checksum");

    // A device whose app ships that public key gets the signed bundle; one trusting another key
    // is refused in words.
    let mut info = capstan_testkit::device_info(APP, "00000001-0000-4000-8000-000000000000", "1.0.0");
    info["key_id"] = key_id.clone().into();
    let (_, offer) = server.post("/updates", &info);
    assert_eq!(offer["version"], "1.0.1", "{offer}");
    assert!(!offer["session_key"].as_str().unwrap().is_empty(), "{offer}");
    info["device_id"] = "00000002-0000-4000-8000-000000000000".into();
    info["key_id"] = "MIIBCgKCAQEAsomeothe".into();
    let (_, refused) = server.post("/updates", &info);
    assert_eq!(refused["error"], "key_id_mismatch", "{refused}");

    // Coverage: the two devices, one trusting the registered key.
    console.open("Keys").await;
    console.wait_for_text("[data-testid=coverage-table]", &format!("key {key_id} (registered)")).await;
    console.wait_for_text("[data-testid=key-coverage]", "2 devices seen").await;
    console.screenshot("keys-coverage").await;
    console.stop().await;
}
