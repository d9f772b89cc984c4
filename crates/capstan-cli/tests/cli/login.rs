//! `capstan login` and profiles with the real OS keychain: a private D-Bus session with
//! gnome-keyring (scripts/with-keyring.sh), and a machine with no session bus at all.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use capstan_testkit::Server;

fn script() -> std::path::PathBuf {
    Path::new(&manifest_dir()).join("../../scripts/with-keyring.sh")
}

/// Runs a shell snippet inside one private Secret Service session; `$CAPSTAN` is the binary.
fn in_keyring_session(config: &Path, snippet: &str, stdin: &str) -> std::process::Output {
    let mut child = Command::new(script())
        .args(["bash", "-c", snippet])
        .env("CAPSTAN", env!("CARGO_BIN_EXE_capstan"))
        .env("CAPSTAN_CONFIG_DIR", config)
        .env_remove("CAPSTAN_SERVER")
        .env_remove("CAPSTAN_TOKEN")
        .env_remove("CAPSTAN_PROFILE")
        .env_remove("CAPSTAN_APP")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/with-keyring.sh runs (apt: dbus dbus-x11 gnome-keyring)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn login_keeps_the_token_in_the_keychain_and_profiles_use_it() {
    let server = Server::start();
    let config = tempfile::tempdir().unwrap();
    let snippet = format!(
        r#"set -e
        "$CAPSTAN" login {url} --name staging --default-app com.example.kc --token-stdin --json
        "$CAPSTAN" app create com.example.kc --json >/dev/null
        echo "--- apps"
        "$CAPSTAN" app list --json
        echo "--- profiles"
        "$CAPSTAN" profile list --json
        "$CAPSTAN" profile remove staging
        echo "--- after remove"
        "$CAPSTAN" app list 2>&1 || echo "exit $?"
        "#,
        url = server.url()
    );
    let output = in_keyring_session(config.path(), &snippet, &format!("{}\n", server.token));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));

    let (login, rest) = stdout.split_once("--- apps").unwrap();
    let login: Value = serde_json::from_str(login).unwrap();
    assert_eq!(login["me"]["role"], "admin");
    assert_eq!(login["profile"], "staging");
    let (apps, rest) = rest.split_once("--- profiles").unwrap();
    let apps: Value = serde_json::from_str(apps).unwrap();
    assert_eq!(apps[0]["id"], "com.example.kc", "the token came from the keychain");
    let (profiles, after) = rest.split_once("--- after remove").unwrap();
    let profiles: Value =
        serde_json::from_str(profiles.lines().take_while(|l| !l.starts_with("Removed")).collect::<String>().as_str())
            .unwrap();
    assert_eq!(profiles[0]["name"], "staging");
    assert_eq!(profiles[0]["active"], true);
    assert!(after.contains("no server configured") && after.contains("exit 1"), "{after}");

    let file = std::fs::read_to_string(config.path().join("profiles.toml")).unwrap();
    assert!(!file.contains(&server.token), "the token never touches the profile file:\n{file}");
}

#[test]
fn no_session_bus_is_a_clear_error_and_saves_nothing() {
    let server = Server::start();
    let config = tempfile::tempdir().unwrap();
    let missing = config.path().join("no-bus");
    let mut child = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["login", &server.url(), "--name", "prod", "--token-stdin"])
        .env("CAPSTAN_CONFIG_DIR", config.path())
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", missing.display()))
        .env("XDG_RUNTIME_DIR", &missing)
        .env_remove("CAPSTAN_TOKEN")
        .env_remove("CAPSTAN_SERVER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(format!("{}\n", server.token).as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the OS keychain is not available"), "{stderr}");
    assert!(stderr.contains("CAPSTAN_SERVER and CAPSTAN_TOKEN"), "says what to do instead: {stderr}");
    assert!(!config.path().join("profiles.toml").exists(), "nothing saved without the keychain");
}

#[test]
fn without_any_configuration_commands_say_how_to_connect() {
    let config = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["app", "list"])
        .env("CAPSTAN_CONFIG_DIR", config.path())
        .env_remove("CAPSTAN_TOKEN")
        .env_remove("CAPSTAN_SERVER")
        .env_remove("CAPSTAN_PROFILE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no server configured: run `capstan login URL`"), "{stderr}");
    assert!(stderr.contains("CAPSTAN_SERVER and CAPSTAN_TOKEN"), "{stderr}");

    let listed = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["profile", "list"])
        .env("CAPSTAN_CONFIG_DIR", config.path())
        .output()
        .unwrap();
    assert!(listed.status.success());
    assert!(String::from_utf8(listed.stdout).unwrap().contains("no profiles"));
}

#[test]
fn help_covers_every_command() {
    let output = Command::new(env!("CARGO_BIN_EXE_capstan")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in ["login", "profile", "app", "publish", "bundle", "channel", "device", "keys", "stats", "audit"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "{command} in\n{help}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_capstan")).args(["channel", "rollout", "x"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "rollout needs --percent, --finish or --abort");
}

/// This package's directory, read when the test runs (cargo sets it then too): clones at other
/// paths share one target directory, and a path baked in at compile time may be another clone's.
fn manifest_dir() -> std::ffi::OsString {
    std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")
}
