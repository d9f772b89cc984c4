//! Publishing: from a build folder to a bundle preview, in the real window.

use std::path::Path;

use capstan_testkit::Server;

use crate::harness::Console;

fn web_build(root: &Path) {
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(root.join("index.html"), "<!doctype html><html><body>hello</body></html>").unwrap();
    std::fs::write(root.join("assets/app.js"), "import{CapacitorUpdater as u}from'x';u.notifyAppReady();".repeat(300))
        .unwrap();
    std::fs::write(root.join("assets/app.js.map"), "{\"version\":3}").unwrap();
    std::fs::write(root.join(".DS_Store"), "junk").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn previews_a_build_folder_picked_in_the_dialog_then_a_typed_one() {
    let home = tempfile::tempdir().unwrap();
    let build = home.path().join("app/dist");
    web_build(&build);
    let server = Server::start();
    // The native folder dialog answers with the build folder (its test seam).
    let console = Console::start_with(home.path(), &[("CAPSTAN_TEST_PICK_FOLDER", &build)]).await;
    console.connect(&server, &server.token, "com.example.preview").await;

    // A fresh server has no app: the admin registers one from the console.
    console.element("[data-testid=no-apps]").await;
    console.open("Servers").await;
    console.fill("new-app-id", "com.example.preview").await;
    console.button("Register app").await.click().await;
    console.wait_for_text("[data-testid=app-created]", "com.example.preview").await;
    let apps = server.capstan_json(&["app", "list"]);
    assert!(apps.to_string().contains("com.example.preview"), "{apps}");
    console.open("Publish").await;

    console.button("Browse…").await.click().await;
    let input = console.element("input[name=folder]").await;

    let count = console.wait_for_text("[data-testid=file-count]", "3").await;
    assert_eq!(count.text().await, "3");
    assert_eq!(input.value().await, build.display().to_string(), "the picked folder is shown");
    let sha = console.element("[data-testid=sha256]").await.text().await;
    assert_eq!(sha.len(), 64);
    let excluded = console.element("[data-testid=excluded]").await.text().await;
    assert!(excluded.contains(".DS_Store"), "{excluded}");
    let warning = console.element("li.warning[data-code=source_maps]").await.text().await;
    assert!(warning.contains("source map"), "{warning}");
    console.screenshot("publish-preview").await;

    // A folder without index.html is explained, not crashed on.
    input.clear().await;
    input.send_keys(&home.path().display().to_string()).await;
    console.button("Check bundle").await.click().await;
    let alert = console.wait_for_text("[role=alert]", "no index.html").await;
    assert!(alert.text().await.contains("no index.html"));
    console.screenshot("publish-error").await;

    console.stop().await;
}

/// A Capacitor project (config, Gradle, one plugin in the lockfile) around a `www` build.
fn capacitor_project(root: &Path, camera: &str, version_name: &str) {
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("capacitor.config.ts", "export default { appId: 'com.example.native', webDir: 'www' };\n");
    let gradle = format!("android {{\n    defaultConfig {{\n        versionName \"{version_name}\"\n    }}\n}}\n");
    write("android/app/build.gradle", &gradle);
    write("www/index.html", "<!doctype html><script src=app.js></script>");
    write("www/app.js", "CapacitorUpdater.notifyAppReady();\n");
    let package =
        serde_json::json!({ "name": "shop", "version": "1.0.0", "dependencies": { "@capacitor/camera": camera } });
    write("package.json", &package.to_string());
    let lock = serde_json::json!({ "name": "shop", "lockfileVersion": 3, "packages": {
        "": { "name": "shop", "version": "1.0.0" },
        "node_modules/@capacitor/camera": { "version": camera },
    }});
    write("package-lock.json", &lock.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_native_change_is_caught_before_publishing_and_min_native_raised_in_one_click() {
    const APP: &str = "com.example.native";
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("shop");
    capacitor_project(&project, "6.0.1", "1.0.0");
    server.json(&project, &["app", "create", APP]);
    let first =
        ["publish", "www", "--app", APP, "--channel", "production", "--version", "1.0.0", "--min-native", "1.0.0"];
    server.json(&project, &first);

    // The camera plugin is bumped (a native change) and the shell's version with it.
    capacitor_project(&project, "6.1.0", "1.1.0");
    let console = Console::start(home.path()).await;
    console.connect(&server, &server.token, APP).await;
    console.fill("folder", &project.join("www").display().to_string()).await;
    console.button("Check bundle").await.click().await;
    // package.json says 1.0.0, which the channel already serves: the form says so.
    console.wait_for_text("[data-testid=version-hint]", "already serves 1.0.0").await;
    console.fill("version", "1.0.1").await;
    let check = console.wait_for_text("[data-testid=native-check]", "Native surface changed").await;
    assert!(check.text().await.contains("@capacitor/camera 6.0.1 → 6.1.0"), "{}", check.text().await);
    let publish = console.button("Publish 1.0.1 to production").await;
    assert!(!publish.is_enabled().await, "publishing waits for MIN_NATIVE_VERSION to rise");
    console.screenshot("publish-native-change").await;

    console.button("Raise MIN_NATIVE_VERSION to 1.1.0").await.click().await;
    let raised = console.element("input[name=min_native]").await;
    assert_eq!(raised.value().await, "1.1.0", "the version android/app/build.gradle declares");
    console.wait_for_text("[data-testid=native-check]", "raised").await;
    console.button("Publish 1.0.1 to production").await.click().await;
    console.wait_for_text("[data-testid=publish-result]", "Published 1.0.1 to production").await;

    // Shells before 1.1.0 keep 1.0.0 (what their store build already is: nothing new); shells
    // from 1.1.0 get 1.0.1.
    let bundles = server.json(&project, &["bundle", "list", "--app", APP]);
    let published = bundles.as_array().unwrap().iter().find(|b| b["version"] == "1.0.1").unwrap();
    assert_eq!(published["min_native_version"], "1.1.0", "{bundles}");
    let old = server.devices_ask_for_updates(APP, "1.0.0", 50);
    let new = server.devices_ask_for_updates(APP, "1.1.0", 50);
    assert_eq!(old.get(""), Some(&50), "{old:?}");
    assert_eq!(new.get("1.0.1"), Some(&50), "{new:?}");
    console.stop().await;
}
