//! The keychain against a real Secret Service (gnome-keyring in a private D-Bus session), and
//! against none at all.
//!
//! Each test re-runs itself inside `scripts/with-keyring.sh` (or with a broken bus address),
//! so a plain `cargo test` exercises the real store and no test can pass by skipping.

use std::process::Command;

use capstan_client::keychain::{Keychain, KeychainError};
use capstan_client::signing::KeyStore;
use capstan_core::signing::SigningKey;

/// Set by `scripts/with-keyring.sh`: we are inside the private D-Bus session.
const INSIDE_KEYRING: &str = "CAPSTAN_KEYRING_TEST";
/// Set when re-running a test with no reachable session bus.
const INSIDE_NO_BUS: &str = "CAPSTAN_NO_BUS_TEST";

fn script() -> std::path::PathBuf {
    std::path::Path::new(&manifest_dir()).join("../../scripts/with-keyring.sh")
}

/// Runs `body` inside a fresh Secret Service: directly when already inside one, else by
/// re-running this very test under the script (with `script_args`, e.g. `--locked`).
fn in_secret_service(script_args: &[&str], test: &str, body: impl FnOnce()) {
    if std::env::var_os(INSIDE_KEYRING).is_some() {
        body();
        return;
    }
    // A keychain that waits for an unlock prompt nobody can answer must fail the test, not hang it.
    let output = Command::new("timeout")
        .arg("120")
        .arg(script())
        .args(script_args)
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .output()
        .expect("scripts/with-keyring.sh runs (apt: dbus dbus-x11 gnome-keyring)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "inside the Secret Service:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `body` with no reachable session bus.
fn without_session_bus(test: &str, body: impl FnOnce()) {
    if std::env::var_os(INSIDE_NO_BUS).is_some() {
        body();
        return;
    }
    let missing = std::env::temp_dir().join("capstan-no-such-bus");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE_NO_BUS, "1")
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", missing.display()))
        .env("XDG_RUNTIME_DIR", &missing)
        .env_remove(INSIDE_KEYRING)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "without a bus:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn token_round_trip_in_a_real_secret_service() {
    in_secret_service(&[], "token_round_trip_in_a_real_secret_service", || {
        let keychain = Keychain::new();
        assert_eq!(keychain.get("staging").unwrap(), None);
        assert!(matches!(keychain.require("staging"), Err(KeychainError::NoToken { .. })));
        keychain.set("staging", "capstan_first").unwrap();
        keychain.set("production", "capstan_prod").unwrap();
        assert_eq!(keychain.get("staging").unwrap().as_deref(), Some("capstan_first"));
        keychain.set("staging", "capstan_second").unwrap();
        assert_eq!(keychain.require("staging").unwrap(), "capstan_second", "set replaces");
        assert!(keychain.delete("staging").unwrap());
        assert!(!keychain.delete("staging").unwrap(), "deleting twice reports nothing to delete");
        assert_eq!(keychain.get("staging").unwrap(), None);
        assert_eq!(keychain.get("production").unwrap().as_deref(), Some("capstan_prod"), "accounts are separate");
    });
}

#[test]
fn signing_keys_round_trip_per_app_apart_from_tokens() {
    in_secret_service(&[], "signing_keys_round_trip_per_app_apart_from_tokens", || {
        let store = KeyStore::new();
        assert!(store.get("com.example.a").unwrap().is_none());
        let (first, second) = (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
        store.set("com.example.a", &first).unwrap();
        store.set("com.example.b", &second).unwrap();
        assert_eq!(store.get("com.example.a").unwrap().unwrap().key_id(), first.key_id());
        assert_eq!(store.get("com.example.b").unwrap().unwrap().key_id(), second.key_id(), "one key per app");
        // A token under a profile named like the app lives in another service: no clash.
        Keychain::new().set("com.example.a", "capstan_token").unwrap();
        assert_eq!(store.get("com.example.a").unwrap().unwrap().key_id(), first.key_id());
        assert_eq!(Keychain::new().get("com.example.a").unwrap().as_deref(), Some("capstan_token"));
        // What is stored is the private key itself, as PEM (the keychain is its only copy).
        let stored = Keychain::signing_keys().get("com.example.a").unwrap().unwrap();
        assert!(stored.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{}", &stored[..40]);
        // A damaged entry is an error that names it, never a silent "no key".
        Keychain::signing_keys().set("com.example.a", "not a key").unwrap();
        let error = store.get("com.example.a").unwrap_err().to_string();
        assert!(error.contains("the key stored for `com.example.a` in the OS keychain"), "{error}");
        assert!(store.delete("com.example.b").unwrap());
        assert!(store.get("com.example.b").unwrap().is_none());
    });
}

#[test]
fn no_session_bus_is_a_clear_error() {
    without_session_bus("no_session_bus_is_a_clear_error", || {
        let error = Keychain::new().get("staging").unwrap_err();
        assert!(matches!(error, KeychainError::Unavailable { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("OS keychain is not available"), "{text}");
        assert!(text.contains("CAPSTAN_TOKEN"), "says what to do in CI: {text}");
        assert!(matches!(Keychain::new().set("staging", "capstan_x"), Err(KeychainError::Unavailable { .. })));
    });
}

#[test]
fn locked_keychain_is_a_clear_error() {
    in_secret_service(&["--locked"], "locked_keychain_is_a_clear_error", || {
        let error = Keychain::new().set("staging", "capstan_x").unwrap_err();
        assert!(matches!(error, KeychainError::Locked { .. }), "{error:?}");
        assert!(error.to_string().contains("keychain is locked"), "{error}");
        assert!(error.to_string().contains("unlock it"), "says what to do: {error}");
    });
}

/// This package's directory, read when the test runs (cargo sets it then too): clones at other
/// paths share one target directory, and a path baked in at compile time may be another clone's.
fn manifest_dir() -> std::ffi::OsString {
    std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")
}
