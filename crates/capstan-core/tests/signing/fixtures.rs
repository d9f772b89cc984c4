//! Keys, bundles and external programs for the tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use capstan_core::bundle::{PackOptions, pack_folder};
use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::SigningKey;

/// A test-only key file made with OpenSSL (see keys/README.md).
pub fn key_file(name: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/signing/keys").join(name)).unwrap()
}

/// One generated key pair shared by the tests (generation takes a moment).
pub fn signer() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().unwrap())
}

/// A second, unrelated key pair.
pub fn other_signer() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().unwrap())
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes a small web build under `root` and returns its files as (path, contents).
pub fn web_build(root: &Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        ("index.html".into(), b"<!doctype html><script src=\"app.js\"></script>".to_vec()),
        ("app.js".into(), "import{CapacitorUpdater as u}from'x';u.notifyAppReady();".repeat(300).into_bytes()),
        ("assets/logo.png".into(), noise(300_000, 1)),
        ("assets/empty.txt".into(), Vec::new()),
    ];
    for (name, contents) in &files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    files
}

/// Packs a web build into `dir/plain.zip` and returns the zip path and the build's files.
pub fn plain_bundle(dir: &Path) -> (PathBuf, Vec<(String, Vec<u8>)>) {
    let build = dir.join("dist");
    let files = web_build(&build);
    let zip = dir.join("plain.zip");
    pack_folder(&build, &zip, &PackOptions::default(), &NoProgress, &CancelFlag::new()).unwrap();
    (zip, files)
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Runs a command and returns its output, whatever the exit status.
pub fn output(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs a command and returns its stdout, failing the test with stderr when it fails.
pub fn run(command: &mut Command) -> String {
    let result = output(command);
    assert!(result.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&result.stderr));
    String::from_utf8(result.stdout).unwrap()
}
