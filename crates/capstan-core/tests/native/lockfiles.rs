//! The three lockfile formats, as the real package managers write them (see lockfiles/README.md).

use std::path::Path;

use capstan_core::native::{self, NativeDependency};

const LOCKFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/native/lockfiles");

/// A Capacitor project holding the fixture package.json and one lockfile.
fn project_with(lockfile: &str) -> (tempfile::TempDir, Vec<NativeDependency>, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(Path::new(LOCKFILES).join("package.json"), root.join("package.json")).unwrap();
    std::fs::copy(Path::new(LOCKFILES).join(lockfile), root.join(lockfile)).unwrap();
    std::fs::write(root.join("capacitor.config.json"), "{\"appId\": \"com.example.app\", \"webDir\": \"www\"}")
        .unwrap();
    let project = native::find_project(root).unwrap();
    let fingerprint = native::fingerprint(&project).unwrap();
    (dir, fingerprint.dependencies, fingerprint.lockfile)
}

#[test]
fn npm_pnpm_and_yarn_resolve_the_same_versions() {
    let expected: Vec<(String, String)> = [
        ("@capacitor/android", "6.1.0"),
        ("@capacitor/camera", "6.0.1"),
        ("@capacitor/core", "6.2.2"),
        ("@capgo/capacitor-updater", "6.51.16"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    for lockfile in ["package-lock.json", "pnpm-lock.yaml", "yarn.lock"] {
        let (_dir, dependencies, found) = project_with(lockfile);
        let got: Vec<(String, String)> = dependencies.into_iter().map(|d| (d.name, d.version)).collect();
        assert_eq!(got, expected, "{lockfile}");
        assert_eq!(found.as_deref(), Some(lockfile));
    }
}

#[test]
fn without_a_lockfile_the_declared_range_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(Path::new(LOCKFILES).join("package.json"), dir.path().join("package.json")).unwrap();
    std::fs::write(dir.path().join("capacitor.config.json"), "{}").unwrap();
    let fingerprint = native::fingerprint(&native::find_project(dir.path()).unwrap()).unwrap();
    assert_eq!(fingerprint.lockfile, None);
    let core = fingerprint.dependencies.iter().find(|d| d.name == "@capacitor/core").unwrap();
    assert_eq!(core.version, "^6.0.0");
}
