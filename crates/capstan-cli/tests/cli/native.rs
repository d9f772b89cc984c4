//! Native-change detection at publish, on a real Capacitor project tree: the `capstan` binary
//! against a real server, as CI runs it. A web-only change publishes; a native change stops the
//! publish with what changed, before anything is uploaded, until MIN_NATIVE_VERSION is raised
//! (explicitly or to the suggested value) or the change is forced; devices on the old shell
//! keep the old bundle.

use std::path::Path;

use serde_json::{Value, json};

use capstan_testkit::Server;

const APP: &str = "com.example.native";

/// A Capacitor project as `npm create` + `cap add android ios` leaves it, with a web build.
fn project(root: &Path) {
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("capacitor.config.ts", "export default { appId: 'com.example.native', webDir: 'www' };\n");
    write(
        "android/app/build.gradle",
        "android {\n  defaultConfig {\n    versionCode 20\n    versionName \"1.1.0\"\n  }\n}\n",
    );
    write("android/build.gradle", "buildscript {}\n");
    write("ios/App/Podfile", "platform :ios, '13.0'\ntarget 'App' do\n  capacitor_pods\nend\n");
    write("www/index.html", "<!doctype html><script src=app.js></script>");
    write("www/app.js", "CapacitorUpdater.notifyAppReady(); // v1\n");
    dependencies(root, &[("@capacitor/core", "6.1.0"), ("@capacitor/camera", "6.0.1")]);
}

/// package.json and a package-lock.json (v3) resolving exactly these versions.
fn dependencies(root: &Path, deps: &[(&str, &str)]) {
    let declared: serde_json::Map<String, Value> =
        deps.iter().map(|(n, v)| (n.to_string(), json!(format!("^{v}")))).collect();
    let package = json!({ "name": "native-app", "version": "1.0.0", "dependencies": declared });
    std::fs::write(root.join("package.json"), package.to_string()).unwrap();
    let mut packages = serde_json::Map::new();
    packages.insert("".into(), json!({ "name": "native-app", "version": "1.0.0", "dependencies": declared }));
    for (name, version) in deps {
        packages.insert(format!("node_modules/{name}"), json!({ "version": version }));
    }
    let lock = json!({ "name": "native-app", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": packages });
    std::fs::write(root.join("package-lock.json"), lock.to_string()).unwrap();
}

fn edit(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn publish_args<'a>(version: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["publish", "www", "--channel", "production", "--app", APP, "--version", version];
    args.extend_from_slice(extra);
    args
}

/// The publish is refused, in one line that says `expected`, and nothing was uploaded.
fn refused(server: &Server, cwd: &Path, version: &str, extra: &[&str], expected: &str) {
    let output = server.capstan(cwd, &publish_args(version, extra));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{version} should be refused: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one-line reason: {stderr}");
    assert!(stderr.contains(expected), "`{expected}` in: {stderr}");
    let bundles = server.json(cwd, &["bundle", "list", "--app", APP]);
    assert!(bundles.as_array().unwrap().iter().all(|b| b["version"] != version), "{version} was not uploaded");
}

fn published(server: &Server, cwd: &Path, version: &str, extra: &[&str]) -> Value {
    server.json(cwd, &publish_args(version, extra))
}

/// What a device on native `native` running `running` is offered (`=code` when nothing).
fn offered(server: &Server, device: &str, native: &str, running: &str) -> String {
    let info = json!({
        "platform": "android", "device_id": device, "app_id": APP, "custom_id": "", "version_build": native,
        "version_code": "1", "version_os": "14", "version_name": running, "plugin_version": "8.51.14",
        "is_emulator": false, "is_prod": true,
    });
    let (status, answer) = server.post("/updates", &info);
    assert_eq!(status, 200, "{answer}");
    match (answer.get("url"), answer.get("version").and_then(Value::as_str), answer["error"].as_str()) {
        (Some(_), Some(version), _) => version.to_owned(),
        (_, _, Some(error)) => format!("={error}"),
        _ => format!("{answer}"),
    }
}

#[test]
fn native_changes_stop_a_publish_until_min_native_version_is_raised() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    project(cwd);
    server.json(cwd, &["app", "create", APP]);

    // The channel's first publish: recorded, nothing to compare with.
    let first = published(&server, cwd, "1.0.0", &["--min-native", "1.0.0"]);
    assert!(first["native"].as_str().unwrap().contains("recorded"), "{first}");
    let recorded = server.json(cwd, &["bundle", "list", "--app", APP]);
    assert!(recorded[0]["native_digest"].is_string(), "the fingerprint is stored with the bundle: {recorded}");

    // A web-only change publishes as before (a MIN_NATIVE_VERSION of 1.0.0 again).
    edit(cwd, "www/app.js", "CapacitorUpdater.notifyAppReady(); // v2\n");
    let web_only = published(&server, cwd, "1.0.1", &["--min-native", "1.0.0"]);
    assert!(web_only["native"].as_str().unwrap().contains("unchanged since 1.0.0"), "{web_only}");

    // Build outputs and web assets copied into the native projects are not native changes.
    edit(cwd, "android/app/build/outputs/apk/debug/app-debug.apk", "binary");
    edit(cwd, "android/app/src/main/assets/public/index.html", "<copied/>");
    edit(cwd, "ios/App/App/public/index.html", "<copied/>");
    edit(cwd, "www/app.js", "CapacitorUpdater.notifyAppReady(); // v3\n");
    published(&server, cwd, "1.0.2", &["--min-native", "1.0.0"]);

    // Each native change stops the publish with the right sentence.
    let camera_bump = |root: &Path| dependencies(root, &[("@capacitor/core", "6.1.0"), ("@capacitor/camera", "6.1.0")]);
    camera_bump(cwd);
    refused(&server, cwd, "1.1.0", &["--min-native", "1.0.0"], "@capacitor/camera 6.0.1 → 6.1.0");
    // The refusal says what to do: raise to the version the project declares (Gradle), or force.
    refused(&server, cwd, "1.1.0", &[], "--min-native 1.1.0");

    // Taking the suggested value (the native version the project declares: 1.1.0) lets it
    // through; shells before 1.1.0 keep 1.0.2, shells from 1.1.0 get 1.1.0.
    let raised = published(&server, cwd, "1.1.0", &["--raise-min-native"]);
    assert_eq!(raised["min_native_version"], "1.1.0", "{raised}");
    assert!(raised["native"].as_str().unwrap().contains("raised"), "{raised}");
    assert_eq!(offered(&server, "aaaaaaaa-0000-4000-8000-000000000001", "1.0.0", "1.0.1"), "1.0.2");
    assert_eq!(offered(&server, "aaaaaaaa-0000-4000-8000-000000000002", "1.1.0", "1.0.2"), "1.1.0");

    // Against 1.1.0 (the 1.1.0 line): an added plugin, an edited config, Gradle file or Podfile.
    let cases: [(&str, &ProjectEdit, &str); 4] = [
        (
            "1.1.1",
            &|root| {
                dependencies(
                    root,
                    &[("@capacitor/core", "6.1.0"), ("@capacitor/camera", "6.1.0"), ("@capacitor/haptics", "6.0.0")],
                )
            },
            "plugin @capacitor/haptics added",
        ),
        (
            "1.1.2",
            &|root| edit(root, "capacitor.config.ts", "export default { appId: 'x', webDir: 'www', plugins: {} };\n"),
            "capacitor.config.ts changed",
        ),
        (
            "1.1.3",
            &|root| {
                edit(
                    root,
                    "android/app/build.gradle",
                    "android { defaultConfig { versionName \"1.1.0\" minSdk 24 } }\n",
                )
            },
            "android/app/build.gradle changed",
        ),
        ("1.1.4", &|root| edit(root, "ios/App/Podfile", "platform :ios, '14.0'\n"), "ios/App/Podfile changed"),
    ];
    for (version, change, sentence) in cases {
        let snapshot = tempfile::tempdir().unwrap();
        copy_project(cwd, snapshot.path());
        change(snapshot.path());
        refused(&server, snapshot.path(), version, &["--min-native", "1.1.0"], sentence);
    }

    // Raising MIN_NATIVE_VERSION explicitly lets a native change through.
    edit(cwd, "ios/App/Podfile", "platform :ios, '14.0'\n");
    published(&server, cwd, "1.2.0", &["--min-native", "3.0.0"]);
    // Forcing is possible, and audited.
    edit(cwd, "capacitor.config.ts", "export default { appId: 'y', webDir: 'www' };\n");
    published(&server, cwd, "1.3.0", &["--min-native", "3.0.0", "--force-native"]);
    let audit = server.json(cwd, &["audit", "--app", APP]);
    assert!(
        audit.as_array().unwrap().iter().any(|a| a["action"] == "channel.publish.forced_native"),
        "the forced publish is audited: {audit}"
    );
}

/// A change made to a copy of the project.
type ProjectEdit = dyn Fn(&Path);

fn copy_project(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
