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
