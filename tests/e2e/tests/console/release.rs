//! A release manager's first day: connect with a token (kept in the keychain), publish a
//! build to 10 % of production, and see plugin-shaped devices pick it up. Plus the role rules.

use std::path::Path;

use capstan_testkit::Server;

use crate::harness::Console;

const APP: &str = "com.example.console";

fn web_project(root: &Path, version: &str) -> std::path::PathBuf {
    let dist = root.join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(root.join("package.json"), format!("{{\"name\":\"shop\",\"version\":\"{version}\"}}")).unwrap();
    std::fs::write(root.join("MIN_NATIVE_VERSION"), "1.0.0\n").unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><html><body>shop</body></html>").unwrap();
    std::fs::write(dist.join("assets/app.js"), "import{CapacitorUpdater as u}from'x';u.notifyAppReady();").unwrap();
    dist
}

async fn connect(console: &Console, server: &Server, token: &str) {
    // A first start has no profile: the console opens on the Connect screen.
    console.wait_for_text("[data-testid=active-server]", "Not connected").await;
    console.fill("profile", "local").await;
    console.fill("url", &server.url()).await;
    console.fill("token", token).await;
    console.fill("app", APP).await;
    console.button("Test and save").await.click().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_publish_a_rollout_and_devices_pick_it_up() {
    let server = Server::start();
    server.capstan_json(&["app", "create", APP, "--name", "Shop"]);
    let home = tempfile::tempdir().unwrap();
    let dist = web_project(&home.path().join("shop"), "1.0.0");
    let console = Console::start(home.path()).await;

    connect(&console, &server, &server.token).await;
    console.wait_for_text("[data-testid=active-server]", "admin").await;
    let active = console.element("[data-testid=active-server]").await.text().await;
    assert!(active.contains("local") && active.contains(&server.url()), "{active}");
    // The token went to the keychain, not to the profile file.
    let profiles = std::fs::read_to_string(home.path().join("config/capstan/profiles.toml")).unwrap();
    assert!(profiles.contains(&server.url()) && !profiles.contains(&server.token), "{profiles}");

    console.fill("folder", &dist.display().to_string()).await;
    console.button("Check bundle").await.click().await;
    let preview_sha = console.wait_for_text("[data-testid=sha256]", "").await.text().await;
    console.wait_for_text("[data-testid=version-hint]", "package.json").await;
    console.fill("rollout", "10").await;
    console.screenshot("publish-form").await;
    console.button("Publish 1.0.0 to production").await.click().await;

    let result = console.wait_for_text("[data-testid=publish-result]", "Published 1.0.0 to production").await;
    assert!(result.text().await.contains("for 10 % of devices"));
    let verified = console.element("[data-testid=verified-sha256]").await.text().await;
    assert_eq!(verified, preview_sha, "what was previewed is what the server verified");
    console.screenshot("publish-result").await;

    // Plugin-shaped devices on the store build: about 10 % get 1.0.0, the rest are told there
    // is nothing new. Stable buckets: asking again gives the same split.
    let answers = server.devices_ask_for_updates(APP, "1.0.0", 2000);
    let updated = answers.get("1.0.0").copied().unwrap_or(0);
    assert!((120..=280).contains(&updated), "{answers:?}");
    assert_eq!(answers.values().sum::<usize>(), 2000);
    assert_eq!(server.devices_ask_for_updates(APP, "1.0.0", 2000), answers);

    console.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_token_cannot_publish_and_is_told_why() {
    let server = Server::start();
    server.capstan_json(&["app", "create", APP]);
    let viewer = server.create_token("viewer");
    let home = tempfile::tempdir().unwrap();
    let dist = web_project(&home.path().join("shop"), "2.0.0");
    let console = Console::start(home.path()).await;

    connect(&console, &server, &viewer).await;
    console.wait_for_text("[data-testid=active-server]", "viewer").await;
    console.fill("folder", &dist.display().to_string()).await;
    console.button("Check bundle").await.click().await;
    console.wait_for_text("[data-testid=publish-denied]", "role (viewer) cannot publish").await;
    let publish = console.button("Publish 2.0.0 to production").await;
    assert!(!publish.is_enabled().await);
    console.screenshot("publish-viewer").await;
    console.stop().await;

    // And the server agrees: nothing was published.
    let channels = server.capstan_json(&["channel", "show", "production", "--app", APP]);
    assert!(channels["target"].is_null(), "{channels}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_refused_in_words() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let console = Console::start(home.path()).await;
    connect(&console, &server, "capstan_not-a-real-token").await;
    let alert = console.element("[role=alert]").await;
    let message = alert.text().await;
    assert!(!message.is_empty());
    console.screenshot("connect-refused").await;
    assert!(!home.path().join("config/capstan/profiles.toml").exists(), "nothing saved for a refused token");
    console.stop().await;
}
