//! A release manager's first day: connect with a token (kept in the keychain), publish a
//! build to 10 % of production, and see plugin-shaped devices pick it up. Plus the role rules.

use std::path::Path;

use capstan_testkit::Server;

use crate::harness::Console;

const APP: &str = "com.example.console";

pub(crate) fn web_project(root: &Path, version: &str) -> std::path::PathBuf {
    let dist = root.join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(root.join("package.json"), format!("{{\"name\":\"shop\",\"version\":\"{version}\"}}")).unwrap();
    std::fs::write(root.join("MIN_NATIVE_VERSION"), "1.0.0\n").unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><html><body>shop</body></html>").unwrap();
    std::fs::write(dist.join("assets/app.js"), "import{CapacitorUpdater as u}from'x';u.notifyAppReady();").unwrap();
    dist
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_publish_a_rollout_and_devices_pick_it_up() {
    let server = Server::start();
    server.capstan_json(&["app", "create", APP, "--name", "Shop"]);
    let home = tempfile::tempdir().unwrap();
    let dist = web_project(&home.path().join("shop"), "1.0.1");
    let console = Console::start(home.path()).await;

    console.connect(&server, &server.token, APP).await;
    console.wait_for_text("[data-testid=active-server]", "admin").await;
    let active = console.element("[data-testid=active-server]").await.text().await;
    assert!(active.contains("local") && active.contains(&server.url()), "{active}");
    // The token went to the keychain, not to the profile file.
    let profiles = std::fs::read_to_string(home.path().join("config/capstan/profiles.toml")).unwrap();
    assert!(profiles.contains(&server.url()) && !profiles.contains(&server.token), "{profiles}");

    console.fill("folder", &dist.display().to_string()).await;
    console.button("Check bundle").await.click().await;
    let preview_sha = console.element("[data-testid=sha256]").await.text().await;
    assert_eq!(preview_sha.len(), 64, "a SHA-256 in hex: {preview_sha}");
    console.wait_for_text("[data-testid=version-hint]", "package.json").await;
    console.fill("rollout", "10").await;
    console.screenshot("publish-form").await;
    console.button("Publish 1.0.1 to production").await.click().await;

    let result = console.wait_for_text("[data-testid=publish-result]", "Published 1.0.1 to production").await;
    assert!(result.text().await.contains("for 10 % of devices"));
    let verified = console.element("[data-testid=verified-sha256]").await.text().await;
    assert_eq!(verified, preview_sha, "what was previewed is what the server verified");
    console.screenshot("publish-result").await;

    // Plugin-shaped devices on the store build: about 10 % get 1.0.1, the rest are told there
    // is nothing new. Stable buckets: asking again gives the same split.
    let answers = server.devices_ask_for_updates(APP, "1.0.0", 2000);
    let updated = answers.get("1.0.1").copied().unwrap_or(0);
    assert!((120..=280).contains(&updated), "{answers:?}");
    assert_eq!(answers.values().sum::<usize>(), 2000);
    assert_eq!(server.devices_ask_for_updates(APP, "1.0.0", 2000), answers);

    // Channels: widen the rollout to 50 %, confirmed in words first.
    console.open("Channels").await;
    console.wait_for_text("[data-testid=channel-production] [data-testid=rollout]", "1.0.1 to 10 %").await;
    console.screenshot("channels-rollout").await;
    console.fill("share-production", "50").await;
    console.button_in("channel-production", "Change share").await.click().await;
    let question = console.confirm("Widen rollout", "50 % of production's devices will get 1.0.1 (now 10 %)").await;
    assert!(question.contains("Widen the 1.0.1 rollout on production to 50 %?"), "{question}");
    console.wait_for_text("[data-testid=channel-notice]", "now reaches 50 %").await;
    let widened = server.devices_ask_for_updates(APP, "1.0.0", 2000);
    let updated_now = widened.get("1.0.1").copied().unwrap_or(0);
    assert!((850..=1150).contains(&updated_now), "{widened:?}");

    // Finish: every device gets 1.0.1.
    console.button_in("channel-production", "Finish rollout").await.click().await;
    console.confirm("Finish rollout", "Every device on production will get 1.0.1").await;
    console
        .wait_for_text("[data-testid=channel-production] [data-testid=serves]", "Serves 1.0.1 to every device.")
        .await;
    assert_eq!(server.devices_ask_for_updates(APP, "1.0.0", 2000).get("1.0.1"), Some(&2000));

    // A beta channel gets 1.0.2 from CI; the release manager promotes it to production.
    let next = web_project(&home.path().join("shop-next"), "1.0.2");
    server.capstan_json(&["channel", "create", "beta", "--app", APP]);
    server.capstan_json(&["publish", &next.display().to_string(), "--channel", "beta", "--app", APP]);
    console.button("Refresh").await.click().await;
    console.select("promote-from-production", "beta").await;
    console.button_in("channel-production", "Promote").await.click().await;
    console.confirm("Promote", "Every device on production goes from 1.0.1 to 1.0.2 (what beta serves)").await;
    console
        .wait_for_text("[data-testid=channel-production] [data-testid=serves]", "Serves 1.0.2 to every device.")
        .await;
    assert_eq!(server.devices_ask_for_updates(APP, "1.0.0", 200).get("1.0.2"), Some(&200));
    console.screenshot("channels").await;

    // 1.0.2 misbehaves: roll production back to the previous bundle.
    console.button_in("channel-production", "Roll back to previous").await.click().await;
    console.confirm("Roll back", "Every device on production goes from 1.0.2 to 1.0.1").await;
    console
        .wait_for_text("[data-testid=channel-production] [data-testid=serves]", "Serves 1.0.1 to every device.")
        .await;
    assert_eq!(server.devices_ask_for_updates(APP, "1.0.0", 200).get("1.0.1"), Some(&200));
    console.button_in("channel-production", "History").await.click().await;
    console.wait_for_text("[data-testid=history-production]", "Rolled back from 1.0.2 to 1.0.1").await;
    console.screenshot("channels-history").await;

    // The device reports installing 1.0.1, as the plugin does after an update.
    let device = "00000007-0000-4000-8000-000000000000";
    let mut installed = capstan_testkit::device_info(APP, device, "1.0.0");
    installed["action"] = "set".into();
    installed["version_name"] = "1.0.1".into();
    installed["old_version_name"] = "builtin".into();
    assert_eq!(server.post("/stats", &installed).0, 200);
    // So do 300 more (one batch, as the plugin may send), and 40 report failed downloads of 1.0.2.
    let id = |i: usize| format!("{i:08x}-0000-4000-8000-000000000000");
    let event = |i: usize, action: &str, version: &str| {
        let mut event = capstan_testkit::device_info(APP, &id(i), "1.0.0");
        event["action"] = action.into();
        event["version_name"] = version.into();
        event["old_version_name"] = "builtin".into();
        event
    };
    let batch: Vec<_> = (100..400)
        .map(|i| event(i, "set", "1.0.1"))
        .chain((400..440).map(|i| event(i, "download_fail", "1.0.2")))
        .collect();
    assert_eq!(server.post("/stats", &serde_json::Value::Array(batch)).0, 200);
    for i in 100..400 {
        let mut running = capstan_testkit::device_info(APP, &id(i), "1.0.0");
        running["version_name"] = "1.0.1".into();
        assert_eq!(server.post("/updates", &running).0, 200);
    }

    // Bundles and their health, stats and the audit log: the screens a release manager reads.
    console.open("Bundles").await;
    console.wait_for_text("[data-testid=bundles-table]", "1.0.2").await;
    console.screenshot("bundles").await;
    console.open("Stats").await;
    console.element("[data-testid=adoption-chart]").await;
    console.wait_for_text("[data-testid=adoption-trend]", "1.0.1 (production)").await;
    console.wait_for_text("[data-testid=summary-installs]", "301").await;
    console.wait_for_text("[data-testid=summary-failures]", "40").await;
    console.screenshot("stats").await;
    console.open("Audit log").await;
    console.element("[data-testid=audit-table] tr[data-action='channel.rollback']").await;
    console.screenshot("audit").await;

    // QA pins the device to beta; it then gets beta's 1.0.2 while the others stay on 1.0.1.
    console.open("Devices").await;
    find_device(&console, device).await;
    console.select("override-channel", "beta").await;
    console.button_in("device-detail", "Set override").await.click().await;
    console.wait_for_text("[data-testid=device-channel]", "set by QA").await;
    let (_, answer) = server.post("/updates", &capstan_testkit::device_info(APP, device, "1.0.0"));
    assert_eq!(answer["version"], "1.0.2", "{answer}");
    let (_, other) =
        server.post("/updates", &capstan_testkit::device_info(APP, "00000008-0000-4000-8000-000000000000", "1.0.0"));
    assert_eq!(other["version"], "1.0.1", "{other}");

    // The admin makes a viewer token for support, in the console; it is shown once.
    console.open("Servers").await;
    console.fill("token-name", "support").await;
    console.select("token-role", "viewer").await;
    console.button("Create token").await.click().await;
    let support = console.wait_for_text("[data-testid=created-token-secret]", "capstan_").await.text().await;
    console.screenshot("servers").await;
    for _ in 0..3 {
        if console.element("[data-testid=theme-toggle]").await.text().await.contains("dark") {
            break;
        }
        console.element("[data-testid=theme-toggle]").await.click().await;
    }
    console.open("Channels").await;
    console.wait_for_text("[data-testid=channel-production] [data-testid=serves]", "1.0.1").await;
    console.screenshot("channels-dark").await;
    console.stop().await;

    // Support, with the viewer token the admin made, finds the same device and reads its story.
    let home = tempfile::tempdir().unwrap();
    let console = Console::start(home.path()).await;
    console.connect(&server, &support, APP).await;
    console.wait_for_text("[data-testid=active-server]", "viewer").await;
    console.open("Devices").await;
    find_device(&console, device).await;
    console.wait_for_text("[data-testid=device-channel]", "beta").await;
    console.wait_for_text("[data-testid=device-timeline]", "1.0.1").await;
    console.element("[data-testid=device-timeline] li[data-action=set]").await;
    console.element("[data-testid=override-denied]").await;
    console.screenshot("device").await;
    console.stop().await;
}

/// Searches the Devices screen for `device` and opens its page. One search is enough: the
/// server writes buffered device state before it answers a search.
async fn find_device(console: &Console, device: &str) {
    console.fill("device-search", device).await;
    console.button("Search").await.click().await;
    // A search for a whole id opens the device directly; a list shows it as a row to open.
    let row = format!("tr[data-device-id='{device}'] button");
    let found = console.element(&format!("[data-testid=device-detail], {row}")).await;
    if !console.driver.exists("[data-testid=device-detail]").await {
        found.click().await;
        console.element("[data-testid=device-detail]").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_token_cannot_publish_and_is_told_why() {
    let server = Server::start();
    server.capstan_json(&["app", "create", APP]);
    let viewer = server.create_token("viewer");
    let home = tempfile::tempdir().unwrap();
    let dist = web_project(&home.path().join("shop"), "2.0.0");
    let console = Console::start(home.path()).await;

    console.connect(&server, &viewer, APP).await;
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
    assert!(channels["lanes"][0]["target"].is_null(), "{channels}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_refused_in_words() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let console = Console::start(home.path()).await;
    console.connect(&server, "capstan_not-a-real-token", APP).await;
    let alert = console.element("[role=alert]").await;
    let message = alert.text().await;
    assert!(!message.is_empty());
    console.screenshot("connect-refused").await;
    assert!(!home.path().join("config/capstan/profiles.toml").exists(), "nothing saved for a refused token");
    console.stop().await;
}
