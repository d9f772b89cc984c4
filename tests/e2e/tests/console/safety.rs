//! Release safety in the console: a release manager starts a rollout plan on production from
//! the Channels screen; the devices offered the bundle fail to install it; the server's release
//! safety job pauses the plan by itself, and the console shows it paused and why.

use std::time::{Duration, Instant};

use capstan_testkit::{Server, device_info};
use serde_json::Value;

use crate::harness::Console;
use crate::release::web_project;

const APP: &str = "com.example.safety";
/// Longest wait for the server's job to pause the plan once the failures are in. The job runs
/// every second here (`CAPSTAN_RELEASE_SAFETY_EVERY_MS`, a minute by default).
const PAUSE_WITHIN: Duration = Duration::from_secs(30);

fn device_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-000000000000")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_started_in_the_console_pauses_on_failures_and_says_why() {
    let server = Server::start_with_env(&[("CAPSTAN_RELEASE_SAFETY_EVERY_MS", "1000")]);
    server.capstan_json(&["app", "create", APP]);
    let home = tempfile::tempdir().unwrap();
    // Production serves 1.0.0; 1.1.0 was uploaded (and published to beta) by CI.
    let stable = web_project(&home.path().join("shop"), "1.0.0");
    let next = web_project(&home.path().join("shop-next"), "1.1.0");
    server.capstan_json(&["publish", &stable.display().to_string(), "--channel", "production", "--app", APP]);
    server.capstan_json(&["channel", "create", "beta", "--app", APP]);
    server.capstan_json(&["publish", &next.display().to_string(), "--channel", "beta", "--app", APP]);

    let console = Console::start(home.path()).await;
    console.connect(&server, &server.token, APP).await;
    console.wait_for_text("[data-testid=active-server]", "admin").await;
    console.open("Channels").await;
    console.fill("plan-version-production", "1.1.0").await;
    console.fill("plan-steps-production", "10, 50, 100").await;
    console.fill("plan-hours-production", "1").await;
    console.fill("plan-max-failure-production", "5").await;
    console.select("plan-on-failure-production", "pause").await;
    console.button_in("channel-production", "Start plan").await.click().await;
    console.wait_for_text("[data-testid=plan-production] [data-testid=plan-status]", "1.1.0: active").await;

    // As read back from the server: the first of three steps, the next one due in an hour.
    console.button("Refresh").await.click().await;
    console.wait_for_text("[data-testid=channel-production] [data-testid=rollout]", "1.1.0 to 10 % of devices").await;
    let plan = "[data-testid=plan-production]";
    console.wait_for_text(&format!("{plan} [data-testid=plan-status]"), "1.1.0: active").await;
    let steps = console.element(&format!("{plan} [data-testid=plan-steps]")).await.text().await;
    assert_eq!(steps, "[10 %] → 50 % → 100 %");
    let next_step = console.element(&format!("{plan} [data-testid=plan-next]")).await.text().await;
    assert!(next_step.contains(':') && next_step != "—", "a time: {next_step}");
    assert!(!console.driver.exists(&format!("{plan} [data-testid=plan-reason]")).await);
    console.screenshot("channels-plan-active").await;

    // Devices on the store build ask for updates; about 10 % are offered 1.1.0.
    let offered: Vec<String> = (0..300)
        .map(device_id)
        .filter(|id| {
            let (status, answer) = server.post("/updates", &device_info(APP, id, "1.0.0"));
            assert_eq!(status, 200, "{answer}");
            answer["version"] == "1.1.0"
        })
        .collect();
    assert!((12..=60).contains(&offered.len()), "{} of 300 offered 1.1.0", offered.len());
    // Their failures count for the channel they were answered from once the server has written
    // who asked (every `device_flush_ms`, a second by default).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failures: Vec<Value> = offered
        .iter()
        .map(|id| {
            let mut event = device_info(APP, id, "1.0.0");
            event["action"] = "download_fail".into();
            event["version_name"] = "1.1.0".into();
            event["old_version_name"] = "builtin".into();
            event
        })
        .collect();
    let (status, answer) = server.post("/stats", &Value::Array(failures));
    assert_eq!(status, 200, "{answer}");

    // The server pauses the plan by itself; Refresh shows it, with the reason.
    let started = Instant::now();
    let status_css = format!("{plan} [data-testid=plan-status]");
    loop {
        console.button("Refresh").await.click().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let shown = console.element(&status_css).await.text().await;
        if shown == "1.1.0: paused" {
            break;
        }
        assert!(started.elapsed() < PAUSE_WITHIN, "not paused within {PAUSE_WITHIN:?}: `{shown}`");
    }
    let reason = console.element(&format!("{plan} [data-testid=plan-reason]")).await.text().await;
    let attempts = offered.len();
    assert!(reason.starts_with("paused: "), "{reason}");
    assert!(reason.contains(&format!("{attempts} failures in {attempts} attempts")), "{reason}");
    assert!(reason.contains("over the 5 % threshold"), "{reason}");
    assert_eq!(console.element(&format!("{plan} [data-testid=plan-next]")).await.text().await, "—");
    console.button_in("plan-production", "Resume plan").await;
    // Paused holds the share: the devices that have 1.1.0 keep it, no one else gets it.
    console.wait_for_text("[data-testid=channel-production] [data-testid=rollout]", "1.1.0 to 10 % of devices").await;
    console.screenshot("channels-plan-paused").await;
    console.stop().await;
}
