//! The release flow end to end: a real `capstan-server`, the `capstan` binary as CI runs it
//! (server and token from the environment), and plugin-shaped `/updates` requests after each
//! step to check what devices really get.

use std::path::Path;

use serde_json::{Value, json};

use crate::web_build;
use capstan_testkit::Server;

const APP: &str = "com.example.e2e";

fn device_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

/// What the plugin sends (protocol.md §1) for a device running `running` on native 0.9.0.
/// (Not 1.0.0: the server reads a bundle named like the native version as the store build.)
fn info(device: &str, running: &str) -> Value {
    json!({
        "platform": "android", "device_id": device, "app_id": APP, "custom_id": "",
        "version_build": "0.9.0", "version_code": "1", "version_os": "14",
        "version_name": running, "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true,
    })
}

/// The bundle version the server offers, `builtin`, or `=<error code>` when it offers none.
fn offered(server: &Server, device: &str, running: &str) -> String {
    let (status, answer) = server.post("/updates", &info(device, running));
    assert_eq!(status, 200, "{answer}");
    match (answer.get("version").and_then(Value::as_str), answer.get("error").and_then(Value::as_str)) {
        (Some(version), None) => version.to_owned(),
        (_, Some(error)) => format!("={error}"),
        _ => panic!("unexpected /updates answer {answer}"),
    }
}

/// `args` followed by `--app APP`.
fn with_app<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(["--app", APP]).collect()
}

fn set_package_version(root: &Path, version: &str) {
    std::fs::write(root.join("package.json"), json!({ "name": "e2e", "version": version }).to_string()).unwrap();
}

fn failure(server: &Server, cwd: &Path, args: &[&str]) -> String {
    let output = server.capstan(cwd, args);
    assert_eq!(output.status.code(), Some(1), "capstan {} should fail", args.join(" "));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one-line reason: {stderr}");
    stderr
}

#[test]
fn publish_rollout_rollback_promote_and_override_reach_devices() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    web_build(cwd);

    let created = server.json(cwd, &["app", "create", APP, "--name", "E2E"]);
    assert_eq!(created["default_channel"], "production");
    let me = server.json(cwd, &with_app(&["app", "list"]));
    assert_eq!(me[0]["id"], APP);

    // 1.0.0 to everyone on production; devices on the store build get it with the checksum.
    set_package_version(cwd, "1.0.0");
    let first = server.json(cwd, &with_app(&["publish", "dist", "--channel", "production"]));
    assert_eq!(first["version"], "1.0.0");
    assert_eq!(first["version_source"], json!({ "kind": "file", "path": cwd.join("package.json") }));
    assert_eq!(first["min_native_source"], json!({ "kind": "none" }));
    let (_, answer) = server.post("/updates", &info(&device_id(0), "builtin"));
    assert_eq!(answer["version"], "1.0.0");
    assert_eq!(answer["checksum"], first["sha256"], "devices verify the checksum the CLI computed");

    // 1.1.0 to 10 % of production.
    set_package_version(cwd, "1.1.0");
    let second = server
        .json(cwd, &with_app(&["publish", "dist", "--channel", "production", "--rollout", "10", "--notes", "faster"]));
    assert_eq!(second["rollout_percent"], 10.0);
    let devices: Vec<String> = (0..200).map(device_id).collect();
    let inside: Vec<&String> = devices.iter().filter(|d| offered(&server, d, "1.0.0") == "1.1.0").collect();
    assert!((8..=40).contains(&inside.len()), "{} of 200 devices in a 10 % rollout", inside.len());
    for device in &devices {
        let expected = if inside.contains(&device) { "1.1.0" } else { "=no_new_version_available" };
        assert_eq!(offered(&server, device, "1.0.0"), expected, "a device never flips in or out");
    }

    // The publish rules, before anything is uploaded.
    let exists = failure(&server, cwd, &with_app(&["publish", "dist", "--channel", "production"]));
    assert!(exists.contains("bundle 1.1.0 already exists"), "{exists}");
    let older = failure(&server, cwd, &with_app(&["publish", "dist", "--channel", "production", "--version", "1.0.5"]));
    assert!(older.contains("already serves 1.1.0; 1.0.5 is not newer"), "{older}");

    // Widen to 100 %: everyone gets 1.1.0.
    let widened = server.json(cwd, &with_app(&["channel", "rollout", "production", "--percent", "100"]));
    assert_eq!(widened["lanes"][0]["target"], "1.1.0");
    assert_eq!(widened["lanes"][0]["rollout"], Value::Null);
    assert!(devices.iter().take(50).all(|d| offered(&server, d, "1.0.0") == "1.1.0"));

    // Roll back: devices on 1.1.0 go back to 1.0.0.
    let rolled = server.json(cwd, &with_app(&["channel", "rollback", "production"]));
    assert_eq!(rolled["lanes"][0]["target"], "1.0.0");
    assert_eq!(offered(&server, &device_id(1), "1.1.0"), "1.0.0");

    // A beta channel gets 1.2.0 (MIN_NATIVE_VERSION from the file beside the build), then is
    // promoted to production.
    server.json(cwd, &with_app(&["channel", "create", "beta", "--self-assign", "true"]));
    std::fs::write(cwd.join("MIN_NATIVE_VERSION"), "0.9\n").unwrap();
    let beta = server.json(cwd, &with_app(&["publish", "dist", "--channel", "beta", "--version", "1.2.0"]));
    assert_eq!(beta["min_native_version"], "0.9.0");
    assert_eq!(beta["min_native_source"], json!({ "kind": "file", "path": cwd.join("MIN_NATIVE_VERSION") }));
    assert_eq!(offered(&server, &device_id(2), "1.0.0"), "=no_new_version_available", "production still serves 1.0.0");
    let promoted = server.json(cwd, &with_app(&["channel", "promote", "beta", "--to", "production"]));
    assert_eq!(promoted["name"], "production");
    assert_eq!(promoted["lanes"][0]["target"], "1.2.0");
    assert_eq!(offered(&server, &device_id(2), "1.0.0"), "1.2.0");

    // QA pins one device to beta; only it gets beta's next bundle.
    let qa_device = device_id(3);
    server.json(cwd, &with_app(&["device", "set-channel", &qa_device, "beta"]));
    std::fs::remove_file(cwd.join("MIN_NATIVE_VERSION")).unwrap();
    let next = server.json(cwd, &with_app(&["publish", "dist", "--channel", "beta", "--version", "1.3.0"]));
    assert_eq!(next["min_native_source"], json!({ "kind": "channel", "bundle": "1.2.0" }), "kept from beta's bundle");
    assert_eq!(next["min_native_version"], "0.9.0");
    assert_eq!(offered(&server, &qa_device, "1.2.0"), "1.3.0");
    assert_eq!(offered(&server, &device_id(4), "1.2.0"), "=no_new_version_available");
    let shown = server.json(cwd, &with_app(&["device", "show", &qa_device]));
    assert_eq!(shown["override"]["channel"], "beta");
    let found = server.json(cwd, &with_app(&["device", "find", &qa_device[..8]]));
    assert_eq!(found[0]["device_id"], qa_device.as_str());
    let cleared = server.json(cwd, &with_app(&["device", "clear-channel", &qa_device]));
    assert_eq!(cleared["removed"], true);
    assert_eq!(offered(&server, &qa_device, "1.3.0"), "1.2.0", "back on production");

    // Roll production back to the store build.
    server.json(cwd, &with_app(&["channel", "rollback", "production", "--to", "builtin"]));
    let (_, answer) = server.post("/updates", &info(&device_id(5), "1.2.0"));
    assert_eq!(answer, json!({ "version": "builtin" }));

    // What release managers read afterwards.
    let history = server.json(cwd, &with_app(&["channel", "history", "production"]));
    let actions: Vec<&str> = history.as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    for action in ["rollback", "promote", "rollout_finish", "rollout_start", "publish"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let bundles = server.json(cwd, &with_app(&["bundle", "list"]));
    assert_eq!(bundles.as_array().unwrap().len(), 4);
    assert_eq!(bundles[0]["version"], "1.3.0", "newest first");
    let stats = server.json(cwd, &with_app(&["stats"]));
    assert_eq!(stats["bundles"].as_array().unwrap().len(), 4);
    let audit = server.json(cwd, &with_app(&["audit"]));
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "device.override_set"));

    // Human output is a table.
    let table = server.capstan(cwd, &with_app(&["channel", "list"]));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("CHANNEL"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("beta") && l.contains("1.3.0")), "{text}");
}

#[test]
fn wrong_token_and_missing_things_are_one_line_failures() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .current_dir(cwd)
        .args(["app", "list"])
        .env("CAPSTAN_SERVER", server.url())
        .env("CAPSTAN_TOKEN", "capstan_0000")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("the server refused the token"), "{stderr}");

    let missing = failure(&server, cwd, &["channel", "show", "production", "--app", "com.example.none"]);
    assert!(missing.contains("not found"), "{missing}");
    let no_app = failure(&server, cwd, &["channel", "list"]);
    assert!(no_app.contains("no app: pass --app"), "{no_app}");
}

/// Runs `args` with `--dry-run` until the preview counts `devices` (device state is written a
/// moment after `/updates` answers: polled for at most 10 s).
fn dry_run(server: &Server, cwd: &Path, args: &[&str], devices: u64) -> Value {
    let args: Vec<&str> = with_app(args).into_iter().chain(["--dry-run"]).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let preview = server.json(cwd, &args);
        if preview["devices"] == devices || std::time::Instant::now() > deadline {
            return preview;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn dry_runs_change_nothing_and_count_what_devices_then_get() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    web_build(cwd);
    server.json(cwd, &["app", "create", APP]);
    server.json(cwd, &with_app(&["channel", "create", "beta"]));
    server.json(cwd, &with_app(&["publish", "dist", "--channel", "production", "--version", "1.0.0"]));
    let devices: Vec<String> = (0..120).map(device_id).collect();
    assert!(devices.iter().all(|d| offered(&server, d, "1.0.0") == "=no_new_version_available"));

    // A publish dry run checks and previews, and uploads nothing.
    let preview = dry_run(&server, cwd, &["publish", "dist", "--channel", "production", "--version", "1.1.0"], 120);
    assert_eq!(preview["devices"], 120, "{preview}");
    assert_eq!(preview["changed"], 120, "{preview}");
    assert_eq!(server.json(cwd, &with_app(&["bundle", "list"])).as_array().unwrap().len(), 1, "nothing uploaded");

    // A plan's dry run previews its first step (10 %) and starts nothing.
    server.json(cwd, &with_app(&["publish", "dist", "--channel", "beta", "--version", "1.1.0"]));
    let plan = ["channel", "rollout", "production", "--plan", "10,50,100", "--version", "1.1.0"];
    let preview = dry_run(&server, cwd, &plan, 120);
    let would_get: u64 = preview["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["after"] == json!({ "kind": "receives", "version": "1.1.0" }))
        .map(|g| g["devices"].as_u64().unwrap())
        .sum();
    assert_eq!(preview["changed"], would_get, "{preview}");
    assert!(devices.iter().all(|d| offered(&server, d, "1.0.0") == "=no_new_version_available"), "nothing started");
    let none = server.capstan(cwd, &with_app(&["channel", "plan", "production", "--json"]));
    let said = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success() && said.contains("rollout plan of channel `production`"), "no plan: {said}");

    // The plan itself: exactly the devices the preview counted get 1.1.0.
    server.json(cwd, &with_app(&plan));
    let got = devices.iter().filter(|d| offered(&server, d, "1.0.0") == "1.1.0").count() as u64;
    assert_eq!(got, would_get, "the preview counted what /updates answers after the change");
    assert!((3..=30).contains(&got), "{got} of 120 devices in a 10 % step");
}
