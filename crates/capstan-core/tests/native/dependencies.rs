//! Native dependencies: recognised by name, or by the native code an installed package ships;
//! workspaces; broken manifests.

use capstan_core::native::{self, NativeError};
use serde_json::json;

use crate::fixtures::{Project, Vcs, diff};

/// Installs packages into node_modules as npm would lay them out.
fn install(project: &Project) {
    let package = |name: &str, version: &str| json!({"name": name, "version": version}).to_string();
    project.write("node_modules/capacitor-plugin-x/package.json", &package("capacitor-plugin-x", "2.1.0"));
    project.write("node_modules/capacitor-plugin-x/android/build.gradle", "// plugin");
    project.write("node_modules/cordova-plugin-y/package.json", &package("cordova-plugin-y", "1.0.0"));
    project.write("node_modules/cordova-plugin-y/plugin.xml", "<plugin/>");
    project.write("node_modules/pod-only/package.json", &package("pod-only", "0.9.0"));
    project.write("node_modules/pod-only/PodOnly.podspec", "Pod::Spec.new");
    project.write("node_modules/lodash/package.json", &package("lodash", "4.17.21"));
    project.write("node_modules/@capacitor/cli/package.json", &package("@capacitor/cli", "6.2.2"));
    project.write("node_modules/@capacitor/core/package.json", &package("@capacitor/core", "6.2.2"));
}

fn names(fingerprint: &native::NativeFingerprint) -> Vec<String> {
    fingerprint.dependencies.iter().map(|d| format!("{} {}", d.name, d.version)).collect()
}

#[test]
fn installed_packages_that_ship_native_code_count() {
    let mut project = Project::new(Vcs::Git);
    project.set_dependency("capacitor-plugin-x", "^2.0.0", "2.1.0");
    project.set_dependency("cordova-plugin-y", "1.0.0", "1.0.0");
    project.set_dependency("pod-only", "~0.9.0", "0.9.0");
    project.commit("third-party plugins");
    let without = project.fingerprint();
    assert!(!without.node_modules);
    assert!(!names(&without).iter().any(|n| n.starts_with("capacitor-plugin-x")), "{:?}", names(&without));

    install(&project);
    let with = project.fingerprint();
    assert!(with.node_modules);
    let found = names(&with);
    for expected in ["capacitor-plugin-x 2.1.0", "cordova-plugin-y 1.0.0", "pod-only 0.9.0", "@capacitor/core 6.2.2"] {
        assert!(found.contains(&expected.to_owned()), "{expected} in {found:?}");
    }
    assert!(!found.iter().any(|n| n.starts_with("lodash") || n.starts_with("@capacitor/cli")), "{found:?}");

    // One publish without node_modules, the next with: the plugins only node_modules reveals
    // are not reported as added, and the diff says what it could not compare.
    let change = diff(&without, &with);
    assert!(change.is_empty(), "{change}");
    assert_eq!(change.not_compared.len(), 1);

    project.set_dependency("capacitor-plugin-x", "^2.0.0", "2.2.0");
    assert_eq!(diff(&with, &project.fingerprint()).to_string(), "capacitor-plugin-x 2.1.0 → 2.2.0");
}

#[test]
fn a_workspace_lockfile_resolves_for_the_app_package() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let write = |path: &str, text: &str| {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("package.json", &json!({"name": "monorepo", "private": true, "workspaces": ["apps/*"]}).to_string());
    write(
        "apps/mobile/package.json",
        &json!({"name": "mobile", "dependencies": {"@capacitor/core": "^6.0.0", "@capacitor/camera": "^6.0.0"}})
            .to_string(),
    );
    write("apps/mobile/capacitor.config.ts", "export default { appId: 'com.example.app', webDir: 'dist' };\n");
    write(
        "package-lock.json",
        &json!({"name": "monorepo", "lockfileVersion": 3, "packages": {
            "": {"name": "monorepo", "workspaces": ["apps/*"]},
            "apps/mobile": {"name": "mobile"},
            "node_modules/mobile": {"resolved": "apps/mobile", "link": true},
            "node_modules/@capacitor/core": {"version": "6.2.2"},
            "node_modules/@capacitor/camera": {"version": "5.0.9"},
            "apps/mobile/node_modules/@capacitor/camera": {"version": "6.0.1"}
        }})
        .to_string(),
    );
    let project = native::find_project(&repo.join("apps/mobile/dist")).unwrap();
    let fingerprint = native::fingerprint(&project).unwrap();
    assert_eq!(fingerprint.lockfile.as_deref(), Some("../../package-lock.json"));
    assert_eq!(names(&fingerprint), ["@capacitor/camera 6.0.1", "@capacitor/core 6.2.2"]);
}

#[test]
fn broken_manifests_are_errors_that_name_the_file() {
    let project = Project::new(Vcs::None);
    project.write("package-lock.json", "{ not json");
    let error = native::fingerprint(&project.project()).unwrap_err();
    assert!(matches!(error, NativeError::Lockfile { .. }), "{error:?}");
    assert!(error.to_string().contains("package-lock.json"), "{error}");

    project.write("package.json", "{\"dependencies\": []}");
    let error = native::fingerprint(&project.project()).unwrap_err();
    assert!(matches!(error, NativeError::PackageJson { .. }), "{error:?}");
    assert!(error.to_string().contains("\"dependencies\" is not an object"), "{error}");
}
