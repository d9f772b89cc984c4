//! What changes a fingerprint, what does not, and the words for it.

use capstan_core::native::{self, FileSource, MAX_FILE_ENTRIES, NativeChange, NativeFingerprint};

use crate::fixtures::{BOTH, Project, Vcs, diff};

#[test]
fn the_fixture_is_covered_as_expected() {
    for vcs in BOTH {
        let project = Project::new(vcs);
        let fingerprint = project.fingerprint();
        assert_eq!(fingerprint.file_source, if vcs == Vcs::Git { FileSource::Git } else { FileSource::Walk });
        assert_eq!(fingerprint.config.path, "capacitor.config.ts");
        let paths: Vec<&str> = fingerprint.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "android/app/build.gradle",
                "android/app/capacitor.build.gradle",
                "android/app/src/main/AndroidManifest.xml",
                "android/app/src/main/java/com/example/app/MainActivity.java",
                "android/app/src/main/res/mipmap-hdpi/ic_launcher.png",
                "android/app/src/main/res/values/strings.xml",
                "android/build.gradle",
                "android/capacitor.settings.gradle",
                "android/gradle/wrapper/gradle-wrapper.properties",
                "android/settings.gradle",
                "android/variables.gradle",
                "ios/App/App.xcodeproj/project.pbxproj",
                "ios/App/App/AppDelegate.swift",
                "ios/App/App/Info.plist",
                "ios/App/Podfile",
            ],
            "{vcs:?}"
        );
        assert_eq!(fingerprint.file_count as usize, paths.len());
        let deps: Vec<(&str, &str)> =
            fingerprint.dependencies.iter().map(|d| (d.name.as_str(), d.version.as_str())).collect();
        assert_eq!(
            deps,
            [
                ("@capacitor/android", "6.1.0"),
                ("@capacitor/camera", "6.0.1"),
                ("@capacitor/core", "6.2.2"),
                ("@capacitor/ios", "6.1.0"),
                ("@capgo/capacitor-updater", "6.51.16"),
            ],
            "resolved versions, no CLI, no JS-only package"
        );
        assert_eq!(fingerprint.lockfile.as_deref(), Some("package-lock.json"));
        assert!(!fingerprint.node_modules);
        assert_eq!(project.fingerprint(), fingerprint, "the same tree gives the same fingerprint");
    }
}

#[test]
fn a_web_only_change_keeps_the_fingerprint() {
    for vcs in BOTH {
        let mut project = Project::new(vcs);
        let before = project.fingerprint();
        project.write("src/main.ts", "import { CapacitorUpdater } from '@capgo/capacitor-updater';\nconsole.log('new screen');\nCapacitorUpdater.notifyAppReady();\n");
        project.write("dist/app.js", "console.log('v2')");
        project.write("dist/new-page.html", "<p>new</p>");
        project.set_dependency("lodash", "^4.17.0", "4.17.22");
        project.set_dependency("typescript", "5.5.0", "5.5.0");
        project.set_dependency("@capacitor/cli", "^6.1.0", "6.2.3");
        let package = project.read("package.json").replace("\"version\": \"1.0.0\"", "\"version\": \"1.0.1\"");
        project.write("package.json", &package);
        project.commit("web-only release");
        let after = project.fingerprint();
        assert_eq!(after.digest, before.digest, "{vcs:?}: {}", diff(&before, &after));
        assert!(diff(&before, &after).is_empty());
    }
}

#[test]
fn a_bumped_native_dependency_is_named_with_both_versions() {
    for vcs in BOTH {
        let mut project = Project::new(vcs);
        let before = project.fingerprint();
        project.set_dependency("@capacitor/camera", "6.1.0", "6.1.0");
        project.commit("camera 6.1");
        let change = diff(&before, &project.fingerprint());
        assert_eq!(change.to_string(), "@capacitor/camera 6.0.1 → 6.1.0", "{vcs:?}");
        assert_eq!(
            change.changes,
            [NativeChange::DependencyChanged {
                name: "@capacitor/camera".into(),
                from: "6.0.1".into(),
                to: "6.1.0".into()
            }]
        );

        // Same range in package.json, newer resolution in the lockfile: still a native change.
        let before = project.fingerprint();
        project.set_dependency("@capgo/capacitor-updater", "^6.0.0", "6.52.0");
        assert_eq!(diff(&before, &project.fingerprint()).to_string(), "@capgo/capacitor-updater 6.51.16 → 6.52.0");
    }
}

#[test]
fn an_added_or_removed_plugin_is_named() {
    for vcs in BOTH {
        let mut project = Project::new(vcs);
        let before = project.fingerprint();
        project.set_dependency("@capacitor/haptics", "^6.0.0", "6.0.2");
        project.commit("haptics");
        let added = project.fingerprint();
        assert_eq!(diff(&before, &added).to_string(), "plugin @capacitor/haptics added", "{vcs:?}");
        project.remove_dependency("@capacitor/haptics");
        project.remove_dependency("@capacitor/camera");
        project.commit("fewer plugins");
        assert_eq!(
            diff(&added, &project.fingerprint()).to_string(),
            "plugin @capacitor/camera removed; plugin @capacitor/haptics removed"
        );
    }
}

#[test]
fn an_edited_config_gradle_file_or_podfile_is_named() {
    for vcs in BOTH {
        let project = Project::new(vcs);
        let before = project.fingerprint();
        project.write(
            "capacitor.config.ts",
            &project.read("capacitor.config.ts").replace("autoUpdate: true", "autoUpdate: false"),
        );
        project.commit("config");
        assert_eq!(diff(&before, &project.fingerprint()).to_string(), "capacitor.config.ts changed", "{vcs:?}");

        let before = project.fingerprint();
        project.write(
            "android/app/build.gradle",
            &project.read("android/app/build.gradle").replace("versionCode 14", "versionCode 15"),
        );
        project.commit("gradle");
        assert_eq!(diff(&before, &project.fingerprint()).to_string(), "android/app/build.gradle changed", "{vcs:?}");

        let before = project.fingerprint();
        project.write("ios/App/Podfile", &project.read("ios/App/Podfile").replace("13.0", "14.0"));
        project.commit("podfile");
        assert_eq!(diff(&before, &project.fingerprint()).to_string(), "ios/App/Podfile changed", "{vcs:?}");

        let before = project.fingerprint();
        project.write("ios/App/App/PushHandler.swift", "import UIKit\n");
        project.remove("android/app/src/main/res/values/strings.xml");
        project.commit("files");
        assert_eq!(
            diff(&before, &project.fingerprint()).to_string(),
            "android/app/src/main/res/values/strings.xml removed; ios/App/App/PushHandler.swift added",
            "{vcs:?}"
        );
    }
}

#[test]
fn several_changes_read_as_one_sentence() {
    let mut project = Project::new(Vcs::Git);
    let before = project.fingerprint();
    project.set_dependency("@capacitor/camera", "6.1.0", "6.1.0");
    project.set_dependency("@capacitor/haptics", "^6.0.0", "6.0.2");
    project.write("capacitor.config.ts", &project.read("capacitor.config.ts").replace("My App", "My Great App"));
    project.write("android/app/build.gradle", &crate::fixtures::gradle("1.5"));
    project.commit("native release");
    let change = diff(&before, &project.fingerprint());
    assert_eq!(
        change.to_string(),
        "@capacitor/camera 6.0.1 → 6.1.0; plugin @capacitor/haptics added; capacitor.config.ts changed; android/app/build.gradle changed"
    );
    assert_eq!(change.summary(2), "@capacitor/camera 6.0.1 → 6.1.0; plugin @capacitor/haptics added; and 2 more");
}

#[test]
fn build_outputs_and_copied_web_assets_do_not_count() {
    for vcs in BOTH {
        let project = Project::new(vcs);
        let before = project.fingerprint();
        project.add_build_outputs();
        project.commit("after a build");
        let after = project.fingerprint();
        assert_eq!(after.digest, before.digest, "{vcs:?}: {}", diff(&before, &after));

        // Teams that commit what `cap copy` writes (force-added past the template's .gitignore):
        // a new web build copied into the native folders is still not a native change.
        if vcs == Vcs::Git {
            project.git(&[
                "add",
                "-f",
                "android/app/src/main/assets",
                "ios/App/App/public",
                "ios/App/App/capacitor.config.json",
            ]);
            project.git(&["commit", "-q", "-m", "copied web assets"]);
            assert!(project.git(&["ls-files", "android/app/src/main/assets/public"]).contains("index.html"));
        }
        project.write("android/app/src/main/assets/public/app.js", "console.log('v2')");
        project.write("ios/App/App/public/index.html", "<!doctype html><p>v2</p>");
        project
            .write("android/app/src/main/assets/capacitor.config.json", "{\"appId\": \"com.example.app\", \"v\": 2}");
        project.commit("web v2 copied");
        assert_eq!(project.fingerprint().digest, before.digest, "{vcs:?}");
    }
}

#[test]
fn untracked_files_do_not_count_in_a_git_repository() {
    let project = Project::new(Vcs::Git);
    let before = project.fingerprint();
    project.write("android/app/src/main/java/com/example/app/Scratch.java", "class Scratch {}\n");
    project.write("ios/App/App/Experiment.swift", "// not committed\n");
    assert_eq!(project.fingerprint().digest, before.digest, "untracked files are not the shell");

    // Once committed they are; and a tracked file's uncommitted edit counts (the working tree
    // is what a build uses).
    project.commit("scratch");
    let committed = project.fingerprint();
    assert_eq!(
        diff(&before, &committed).to_string(),
        "android/app/src/main/java/com/example/app/Scratch.java added; ios/App/App/Experiment.swift added"
    );
    project.write("ios/App/App/Experiment.swift", "// edited, not committed\n");
    assert_eq!(diff(&committed, &project.fingerprint()).to_string(), "ios/App/App/Experiment.swift changed");

    // Without git the same untracked file is part of the project.
    let plain = Project::new(Vcs::None);
    let before = plain.fingerprint();
    plain.write("android/app/src/main/java/com/example/app/Scratch.java", "class Scratch {}\n");
    assert_eq!(
        diff(&before, &plain.fingerprint()).to_string(),
        "android/app/src/main/java/com/example/app/Scratch.java added"
    );
}

#[test]
fn an_untracked_project_inside_a_repository_is_walked() {
    // A home folder kept in git around a project that was never committed: git would list
    // nothing, which would hide every native change. The project is walked instead.
    let outer = tempfile::tempdir().unwrap();
    crate::fixtures::git(outer.path(), &["init", "-q"]);
    let project = Project::new(Vcs::None);
    let inside = outer.path().join("projects/my-app");
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    copy_tree(&project.root, &inside);
    let found = native::find_project(&inside.join("dist")).unwrap();
    let fingerprint = native::fingerprint(&found).unwrap();
    assert_eq!(fingerprint.file_source, FileSource::Walk);
    assert_eq!(fingerprint.digest, project.fingerprint().digest);
}

#[test]
fn line_endings_do_not_count() {
    for vcs in BOTH {
        let project = Project::new(vcs);
        let before = project.fingerprint();
        for file in ["android/app/build.gradle", "capacitor.config.ts", "ios/App/Podfile"] {
            project.write(file, &project.read(file).replace('\n', "\r\n"));
        }
        assert_eq!(project.fingerprint().digest, before.digest, "{vcs:?}: a Windows checkout of the same commit");
    }
}

#[cfg(unix)]
#[test]
fn symlinks_are_hashed_as_links_not_followed() {
    let project = Project::new(Vcs::None);
    let outside = project.root.parent().unwrap().join("secret.txt");
    std::fs::write(&outside, "one").unwrap();
    std::os::unix::fs::symlink(&outside, project.path("android/app/linked.txt")).unwrap();
    let before = project.fingerprint();
    assert!(before.files.iter().any(|f| f.path == "android/app/linked.txt"));
    std::fs::write(&outside, "two").unwrap();
    assert_eq!(project.fingerprint().digest, before.digest, "the target's content is not read");
}

#[test]
fn a_large_native_project_is_stored_by_folder_and_still_compared() {
    let project = Project::new(Vcs::Git);
    for i in 0..600 {
        project.write(
            &format!("android/app/src/main/res/drawable-{}/splash_{i}.xml", i % 6),
            &format!("<splash n=\"{i}\"/>"),
        );
    }
    project.commit("many resources");
    let before = project.fingerprint();
    assert!(before.files.len() <= MAX_FILE_ENTRIES, "{} entries", before.files.len());
    assert_eq!(before.file_count, 615);
    let json = serde_json::to_string(&before).unwrap();
    assert!(json.len() < 20_000, "{} bytes stored for 615 files", json.len());

    project.write("android/app/src/main/res/drawable-3/splash_9.xml", "<splash changed=\"yes\"/>");
    project.write("android/app/build.gradle", &crate::fixtures::gradle("1.5"));
    project.commit("one resource and gradle");
    let after = project.fingerprint();
    let words = diff(&before, &after).to_string();
    assert!(
        words.contains("files under android/app/src/main/res/drawable-3/ changed")
            || words.contains("files under android/app/src/main/res/ changed"),
        "{words}"
    );
    assert!(words.contains("android/app/build.gradle changed"), "{words}");
    assert!(!words.contains("drawable-4"), "untouched folders are not reported: {words}");

    // Crossing the limit between two publishes: the small side's files are summarised the same
    // way for the comparison, so unchanged folders stay silent.
    let small = Project::new(Vcs::Git);
    let small_before = small.fingerprint();
    for i in 0..600 {
        small.write(&format!("android/app/src/main/res/drawable-{}/splash_{i}.xml", i % 6), "<splash/>");
    }
    small.commit("many");
    let words = diff(&small_before, &small.fingerprint()).to_string();
    assert!(words.contains("added"), "{words}");
    assert!(!words.contains("MainActivity") && !words.contains("ios/"), "unchanged files are not reported: {words}");
}

#[test]
fn fingerprints_survive_storage_and_are_checked_when_read_back() {
    let project = Project::new(Vcs::Git);
    let fingerprint = project.fingerprint();
    fingerprint.validate().unwrap();
    let json = serde_json::to_string(&fingerprint).unwrap();
    let back: NativeFingerprint = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fingerprint);

    let mut bad = fingerprint.clone();
    bad.digest = "not a digest".into();
    assert!(bad.validate().is_err());
    let mut bad = fingerprint.clone();
    bad.files[0].sha256 = "X".repeat(64);
    assert!(bad.validate().unwrap_err().to_string().contains("android/app/build.gradle"));
    let mut bad = fingerprint.clone();
    bad.files = vec![bad.files[0].clone(); MAX_FILE_ENTRIES + 1];
    assert!(bad.validate().is_err());
    let mut bad = fingerprint.clone();
    bad.config.path = "../etc/passwd".into();
    assert!(bad.validate().is_err());

    let mut newer = fingerprint.clone();
    newer.format += 1;
    let error = native::compare(&fingerprint, &newer).unwrap_err();
    assert!(error.to_string().contains("cannot be compared"), "{error}");
}

#[test]
fn no_project_is_a_normal_answer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/index.html"), "<p>").unwrap();
    assert_eq!(native::find_project(&dir.path().join("www")), None);
}

#[test]
fn a_switch_of_config_format_is_named() {
    let project = Project::new(Vcs::None);
    let before = project.fingerprint();
    project.remove("capacitor.config.ts");
    project.write("capacitor.config.json", "{\"appId\": \"com.example.app\", \"webDir\": \"dist\"}");
    assert_eq!(
        diff(&before, &project.fingerprint()).to_string(),
        "capacitor.config.ts replaced by capacitor.config.json"
    );
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
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
