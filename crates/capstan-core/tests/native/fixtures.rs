//! A Capacitor project on disk, shaped like what `npm init @capacitor/app` + `cap add android` +
//! `cap add ios` leave, optionally in a real git repository.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use capstan_core::native::{self, CapacitorProject, NativeDiff, NativeFingerprint};
use serde_json::{Value, json};

/// Whether a fixture lives in a git repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vcs {
    Git,
    None,
}

/// Both kinds, for tests that must hold either way.
pub const BOTH: [Vcs; 2] = [Vcs::Git, Vcs::None];

/// The default native dependencies (name, version in package.json, resolved version).
const DEPENDENCIES: &[(&str, &str, &str)] = &[
    ("@capacitor/android", "6.1.0", "6.1.0"),
    ("@capacitor/camera", "6.0.1", "6.0.1"),
    ("@capacitor/core", "^6.0.0", "6.2.2"),
    ("@capacitor/ios", "6.1.0", "6.1.0"),
    ("@capgo/capacitor-updater", "^6.0.0", "6.51.16"),
    ("lodash", "^4.17.0", "4.17.21"),
];
const DEV_DEPENDENCIES: &[(&str, &str, &str)] =
    &[("@capacitor/cli", "^6.0.0", "6.2.2"), ("typescript", "5.4.5", "5.4.5")];

/// Capacitor's Android template .gitignore (the parts that matter here).
const ANDROID_GITIGNORE: &str = "*.apk\n*.aab\n.gradle/\nbuild/\nlocal.properties\n*.iml\n.idea/\n\
capacitor-cordova-android-plugins\napp/src/main/assets/public\napp/src/main/assets/capacitor.config.json\n\
app/src/main/assets/capacitor.plugins.json\napp/src/main/res/xml/config.xml\n";
/// Capacitor's iOS template .gitignore.
const IOS_GITIGNORE: &str = "App/build\nApp/Pods\nApp/output\nApp/Podfile.lock\nApp/App/public\nDerivedData\n\
xcuserdata\ncapacitor-cordova-ios-plugins\nApp/App/capacitor.config.json\nApp/App/config.xml\n";

pub struct Project {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub vcs: Vcs,
    /// name → (declared, resolved, dev)
    dependencies: BTreeMap<String, (String, String, bool)>,
}

impl Project {
    /// A fresh project, committed when in git.
    pub fn new(vcs: Vcs) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("my-app");
        let mut dependencies = BTreeMap::new();
        for (list, dev) in [(DEPENDENCIES, false), (DEV_DEPENDENCIES, true)] {
            for (name, declared, resolved) in list {
                dependencies.insert(name.to_string(), (declared.to_string(), resolved.to_string(), dev));
            }
        }
        let project = Project { _dir: dir, root, vcs, dependencies };
        project.write_tree();
        project.write_package_files();
        if vcs == Vcs::Git {
            project.git(&["init", "-q"]);
            project.commit("native project");
        }
        project
    }

    fn write_tree(&self) {
        self.write(".gitignore", "node_modules/\ndist/\n");
        self.write(
            "capacitor.config.ts",
            "import type { CapacitorConfig } from '@capacitor/cli';\n\nconst config: CapacitorConfig = {\n  appId: 'com.example.app',\n  appName: 'My App',\n  webDir: 'dist',\n  plugins: {\n    CapacitorUpdater: {\n      autoUpdate: true,\n      updateUrl: 'https://updates.example.com/updates',\n    },\n  },\n};\n\nexport default config;\n",
        );
        self.write(
            "src/main.ts",
            "import { CapacitorUpdater } from '@capgo/capacitor-updater';\nCapacitorUpdater.notifyAppReady();\n",
        );
        self.write("dist/index.html", "<!doctype html><script src=\"app.js\"></script>");
        self.write("dist/app.js", "console.log('v1')");

        self.write("android/.gitignore", ANDROID_GITIGNORE);
        self.write("android/build.gradle", "buildscript {\n    dependencies {\n        classpath 'com.android.tools.build:gradle:8.2.1'\n    }\n}\napply from: \"variables.gradle\"\n");
        self.write(
            "android/settings.gradle",
            "include ':app'\ninclude ':capacitor-cordova-android-plugins'\napply from: 'capacitor.settings.gradle'\n",
        );
        self.write(
            "android/variables.gradle",
            "ext {\n    minSdkVersion = 22\n    compileSdkVersion = 34\n    targetSdkVersion = 34\n}\n",
        );
        self.write("android/capacitor.settings.gradle", "include ':capacitor-android'\nproject(':capacitor-android').projectDir = new File('../node_modules/@capacitor/android/capacitor')\n");
        self.write(
            "android/gradle/wrapper/gradle-wrapper.properties",
            "distributionUrl=https\\://services.gradle.org/distributions/gradle-8.2.1-all.zip\n",
        );
        self.write("android/app/build.gradle", &gradle("1.4"));
        self.write(
            "android/app/capacitor.build.gradle",
            "dependencies {\n    implementation project(':capacitor-camera')\n}\n",
        );
        self.write("android/app/src/main/AndroidManifest.xml", "<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\">\n    <uses-permission android:name=\"android.permission.INTERNET\" />\n</manifest>\n");
        self.write("android/app/src/main/java/com/example/app/MainActivity.java", "package com.example.app;\n\nimport com.getcapacitor.BridgeActivity;\n\npublic class MainActivity extends BridgeActivity {}\n");
        self.write(
            "android/app/src/main/res/values/strings.xml",
            "<resources><string name=\"app_name\">My App</string></resources>\n",
        );
        self.write_bytes("android/app/src/main/res/mipmap-hdpi/ic_launcher.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");

        self.write("ios/.gitignore", IOS_GITIGNORE);
        self.write("ios/App/Podfile", "platform :ios, '13.0'\nuse_frameworks!\n\ndef capacitor_pods\n  pod 'Capacitor', :path => '../../node_modules/@capacitor/ios'\n  pod 'CapacitorCamera', :path => '../../node_modules/@capacitor/camera'\nend\n\ntarget 'App' do\n  capacitor_pods\nend\n");
        self.write("ios/App/App/AppDelegate.swift", "import UIKit\nimport Capacitor\n\n@UIApplicationMain\nclass AppDelegate: UIResponder, UIApplicationDelegate {}\n");
        self.write(
            "ios/App/App/Info.plist",
            "<plist><dict><key>CFBundleShortVersionString</key><string>$(MARKETING_VERSION)</string></dict></plist>\n",
        );
        self.write("ios/App/App.xcodeproj/project.pbxproj", &pbxproj("1.3"));
    }

    /// Rewrites package.json and package-lock.json (v3) from the dependency table.
    fn write_package_files(&self) {
        let section = |dev: bool| -> serde_json::Map<String, Value> {
            self.dependencies
                .iter()
                .filter(|(_, (_, _, d))| *d == dev)
                .map(|(name, (declared, _, _))| (name.clone(), json!(declared)))
                .collect()
        };
        let package = json!({
            "name": "my-app", "version": "1.0.0", "private": true,
            "dependencies": section(false), "devDependencies": section(true)
        });
        self.write("package.json", &serde_json::to_string_pretty(&package).unwrap());
        let mut packages = serde_json::Map::new();
        packages.insert(
            String::new(),
            json!({"name": "my-app", "version": "1.0.0", "dependencies": section(false), "devDependencies": section(true)}),
        );
        for (name, (_, resolved, dev)) in &self.dependencies {
            let mut entry = json!({
                "version": resolved,
                "resolved": format!("https://registry.npmjs.org/{name}/-/{}-{resolved}.tgz", name.rsplit('/').next().unwrap()),
                "license": "MIT"
            });
            if *dev {
                entry["dev"] = json!(true);
            }
            packages.insert(format!("node_modules/{name}"), entry);
        }
        let lock =
            json!({"name": "my-app", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": packages});
        self.write("package-lock.json", &serde_json::to_string_pretty(&lock).unwrap());
    }

    /// `npm install name@version` as far as the project files are concerned.
    pub fn set_dependency(&mut self, name: &str, declared: &str, resolved: &str) {
        let dev = self.dependencies.get(name).is_some_and(|(_, _, dev)| *dev);
        self.dependencies.insert(name.to_owned(), (declared.to_owned(), resolved.to_owned(), dev));
        self.write_package_files();
    }

    /// `npm uninstall name`.
    pub fn remove_dependency(&mut self, name: &str) {
        self.dependencies.remove(name);
        self.write_package_files();
    }

    /// What `npm run build`, `cap sync`, Gradle, CocoaPods, Xcode and the IDEs leave behind.
    pub fn add_build_outputs(&self) {
        for (path, content) in [
            ("android/app/build/outputs/apk/debug/app-debug.apk", "apk"),
            ("android/app/build/intermediates/assets/debug/public/index.html", "copy"),
            ("android/build/reports/problems/problems-report.html", "report"),
            ("android/.gradle/8.2.1/checksums/checksums.lock", "lock"),
            ("android/.idea/workspace.xml", "<project/>"),
            ("android/app/app.iml", "<module/>"),
            ("android/local.properties", "sdk.dir=/home/me/Android/Sdk"),
            ("android/app/src/main/assets/public/index.html", "<!doctype html><script src=\"app.js\"></script>"),
            ("android/app/src/main/assets/public/app.js", "console.log('v1')"),
            ("android/app/src/main/assets/capacitor.config.json", "{\"appId\": \"com.example.app\"}"),
            ("android/app/src/main/assets/capacitor.plugins.json", "[]"),
            ("android/app/src/main/res/xml/config.xml", "<widget/>"),
            ("android/capacitor-cordova-android-plugins/build.gradle", "// generated"),
            ("ios/App/App/public/index.html", "<!doctype html>"),
            ("ios/App/App/capacitor.config.json", "{}"),
            ("ios/App/App/config.xml", "<widget/>"),
            ("ios/App/Pods/Manifest.lock", "PODS:\n  - Capacitor (6.1.0)"),
            ("ios/App/Podfile.lock", "PODS:\n  - Capacitor (6.1.0)"),
            ("ios/App/build/Release-iphoneos/App.app/Info.plist", "<plist/>"),
            ("ios/DerivedData/App/info.plist", "<plist/>"),
            ("ios/App/App.xcodeproj/xcuserdata/me.xcuserdatad/xcschemes/xcschememanagement.plist", "<plist/>"),
            ("ios/capacitor-cordova-ios-plugins/CordovaPlugins.podspec", "# generated"),
            ("ios/.DS_Store", "junk"),
        ] {
            self.write(path, content);
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn write(&self, relative: &str, content: &str) {
        self.write_bytes(relative, content.as_bytes());
    }

    pub fn write_bytes(&self, relative: &str, content: &[u8]) {
        let path = self.root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.root.join(relative)).unwrap()
    }

    pub fn remove(&self, relative: &str) {
        fs::remove_file(self.root.join(relative)).unwrap();
    }

    /// Commits everything git does not ignore (no-op without git).
    pub fn commit(&self, message: &str) {
        if self.vcs == Vcs::Git {
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        }
    }

    /// Runs git in the project with no user or system configuration.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.root, args)
    }

    /// The project as `find_project` finds it from the web build folder.
    pub fn project(&self) -> CapacitorProject {
        native::find_project(&self.path("dist")).expect("the fixture is a Capacitor project")
    }

    pub fn fingerprint(&self) -> NativeFingerprint {
        native::fingerprint(&self.project()).unwrap_or_else(|e| panic!("fingerprint of {}: {e}", self.root.display()))
    }
}

/// Runs git in `dir` with no user or system configuration.
pub fn git(dir: &Path, args: &[&str]) -> String {
    fs::create_dir_all(dir).unwrap();
    let output = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// An app module build.gradle as Capacitor's template has it.
pub fn gradle(version_name: &str) -> String {
    format!(
        "apply plugin: 'com.android.application'\n\nandroid {{\n    namespace \"com.example.app\"\n    compileSdk rootProject.ext.compileSdkVersion\n    defaultConfig {{\n        applicationId \"com.example.app\"\n        minSdkVersion rootProject.ext.minSdkVersion\n        versionCode 14\n        versionName \"{version_name}\"\n    }}\n}}\n\napply from: 'capacitor.build.gradle'\n"
    )
}

/// The build-settings part of an Xcode project file, Debug and Release.
pub fn pbxproj(marketing_version: &str) -> String {
    let config = |name: &str| {
        format!(
            "\t\t504EC3171FED79650016851F /* {name} */ = {{\n\t\t\tisa = XCBuildConfiguration;\n\t\t\tbuildSettings = {{\n\t\t\t\tCURRENT_PROJECT_VERSION = 14;\n\t\t\t\tINFOPLIST_FILE = App/Info.plist;\n\t\t\t\tMARKETING_VERSION = {marketing_version};\n\t\t\t\tPRODUCT_BUNDLE_IDENTIFIER = com.example.app;\n\t\t\t}};\n\t\t\tname = {name};\n\t\t}};\n"
        )
    };
    format!("// !$*UTF8*$!\n{{\n\tobjects = {{\n{}{}\t}};\n}}\n", config("Debug"), config("Release"))
}

/// The difference from `old` to `new`, which must be comparable.
pub fn diff(old: &NativeFingerprint, new: &NativeFingerprint) -> NativeDiff {
    native::compare(old, new).expect("same format")
}
