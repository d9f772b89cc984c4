//! Signed bundles end to end: `capstan keys` with the real OS keychain (a private D-Bus session
//! with gnome-keyring, scripts/with-keyring.sh), publishing through the real CLI to a real
//! server, and the stored bundle downloaded as a device does and opened two independent ways:
//! in Rust, and in Java as the Android plugin opens it (tests/java/OpenEncrypted.java).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use capstan_client::api::Api;
use capstan_core::api::UploadParams;
use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{SigningKey, VerifyingKey, open_bundle};
use serde_json::{Value, json};

use crate::web_build;
use capstan_testkit::Server;

const APP: &str = "com.example.signed";

fn repo() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("../..")
}

pub(crate) fn key_fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("crates/capstan-core/tests/signing/keys").join(name)).unwrap()
}

/// What a current plugin sends from a device on the store build, with its `publicKey`'s key id.
fn device(id: usize, key_id: &str) -> Value {
    json!({
        "platform": "android", "device_id": format!("{id:08x}-0000-4000-8000-000000000000"), "app_id": APP,
        "custom_id": "", "version_build": "0.9.0", "version_code": "1", "version_os": "14", "version_name": "builtin",
        "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true, "key_id": key_id,
    })
}

/// `capstan` against `server` CI style, with no session bus (so no keychain) and `env` added.
pub(crate) fn capstan(server: &Server, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let missing = cwd.join("no-bus");
    let mut command = Command::new(env!("CARGO_BIN_EXE_capstan"));
    command
        .current_dir(cwd)
        .args(args)
        .env("CAPSTAN_SERVER", server.url())
        .env("CAPSTAN_TOKEN", &server.token)
        .env("CAPSTAN_CONFIG_DIR", cwd.join(".capstan-config"))
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", missing.display()))
        .env("XDG_RUNTIME_DIR", &missing)
        .env_remove("CAPSTAN_SIGNING_KEY")
        .env_remove("CAPSTAN_PROFILE")
        .env_remove("CAPSTAN_APP")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// Asserts a one-line failure and returns it.
fn refused(output: Output, what: &str) -> String {
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{what} should fail: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{what}: one-line reason: {stderr}");
    stderr
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Every file under `dirs` whose bytes contain `needle`.
fn files_containing(dirs: &[&Path], needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    let mut scanned = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                scanned += 1;
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path);
                }
            }
        }
    }
    assert!(scanned > 0, "the scan found files to look at");
    found
}

#[test]
fn signed_publish_from_the_keychain_opens_in_rust_and_java_and_the_key_is_in_no_file() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let (home, work) = (root.path().join("home"), root.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    web_build(&work);
    // HOME holds the user's config directory (~/.config, XDG_CONFIG_HOME unset) and, copied at
    // the end, the data directory the keyring session used: where a careless tool writes a key.

    let snippet = r#"set -e
        cd "$WORK"
        "$CAPSTAN" app create "$APP" --json >/dev/null
        echo "--- create"; "$CAPSTAN" keys create --app "$APP" --json
        echo "--- show"; "$CAPSTAN" keys show --app "$APP" --json
        "$CAPSTAN" bundle pack dist --out plain.zip --json >/dev/null
        echo "--- publish"; "$CAPSTAN" publish plain.zip --app "$APP" --channel production --version 1.0.0 --json
        echo "--- list"; "$CAPSTAN" keys list --app "$APP" --json
        "$CAPSTAN" keys export --app "$APP" --out "$WORK/backup.pem" 2>"$WORK/export.stderr" >/dev/null
        echo "--- again"; "$CAPSTAN" keys create --app "$APP" 2>&1 || echo "exit $?"
        cp -r "$XDG_DATA_HOME" "$HOME/xdg-data-copy"
        "#;
    let output = Command::new(repo().join("scripts/with-keyring.sh"))
        .args(["bash", "-c", snippet])
        .env("CAPSTAN", env!("CARGO_BIN_EXE_capstan"))
        .env("CAPSTAN_SERVER", server.url())
        .env("CAPSTAN_TOKEN", &server.token)
        .env("APP", APP)
        .env("WORK", &work)
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CAPSTAN_CONFIG_DIR")
        .env_remove("CAPSTAN_SIGNING_KEY")
        .env_remove("CAPSTAN_PROFILE")
        .env_remove("CAPSTAN_APP")
        .stdin(Stdio::null())
        .output()
        .expect("scripts/with-keyring.sh runs (apt: dbus dbus-x11 gnome-keyring)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let section = |name: &str| -> String {
        let start = stdout.find(&format!("--- {name}\n")).unwrap_or_else(|| panic!("{name} in {stdout}"));
        let rest = &stdout[start + name.len() + 5..];
        rest[..rest.find("\n--- ").unwrap_or(rest.len())].to_owned()
    };
    let json = |name: &str| -> Value { serde_json::from_str(&section(name)).unwrap() };

    // The key: printed as the plugin's publicKey wants it, registered, held by the keychain.
    let created = json("create");
    let public_pem = created["public_key"].as_str().unwrap();
    assert!(
        public_pem.starts_with("-----BEGIN RSA PUBLIC KEY-----\n")
            && public_pem.ends_with("-----END RSA PUBLIC KEY-----")
    );
    let public = VerifyingKey::from_pem(public_pem).expect("the printed key parses as the plugin parses it");
    assert_eq!(created["key_id"], public.key_id());
    assert_eq!(created["registered"], true);
    let snippet: Value = serde_json::from_str(created["config_snippet"].as_str().unwrap()).unwrap();
    assert_eq!(snippet["plugins"]["CapacitorUpdater"]["publicKey"], public_pem, "the snippet holds the same key");
    let shown = json("show");
    assert_eq!((shown["source"].as_str(), shown["registered"].as_bool()), (Some("keychain"), Some(true)));
    assert_eq!(shown["public_key"], public_pem);
    let listed = json("list");
    assert_eq!(listed[0]["local_key_id"], public.key_id());
    assert_eq!(listed[0]["signs"], true);
    let again = section("again");
    assert!(again.contains("already holds a signing key") && again.contains("exit 1"), "{again}");

    // The publish signed with the keychain's key and checked what the server stores.
    let published = json("publish");
    assert_eq!(published["signature"]["key_id"], public.key_id());
    assert_eq!(published["signature"]["key_source"], "keychain");
    let plain = std::fs::read(work.join("plain.zip")).unwrap();
    assert_eq!(published["sha256"], sha256_hex(&plain));

    // A device with the app's key asks, downloads, and opens the bundle two independent ways.
    let (status, offer) = server.post("/updates", &device(1, public.key_id()));
    assert_eq!(status, 200, "{offer}");
    assert_eq!(offer["version"], "1.0.0", "{offer}");
    assert_eq!(offer["checksum"].as_str().unwrap().len(), 512, "the signed checksum");
    let encrypted = work.join("downloaded.bundle");
    let api = Api::new(&server.url(), &server.token).unwrap();
    runtime()
        .block_on(api.download(offer["url"].as_str().unwrap(), &encrypted, &NoProgress, &CancelFlag::new()))
        .unwrap();
    assert_ne!(std::fs::read(&encrypted).unwrap(), plain, "what devices download is encrypted");
    let (session_key, checksum) = (offer["session_key"].as_str().unwrap(), offer["checksum"].as_str().unwrap());
    let rust_out = work.join("rust.zip");
    open_bundle(&public, &encrypted, session_key, checksum, &rust_out, &NoProgress, &CancelFlag::new()).unwrap();
    assert_eq!(std::fs::read(&rust_out).unwrap(), plain, "Rust opens it to the plain zip");
    let key_file = work.join("publicKey.pem");
    std::fs::write(&key_file, public_pem).unwrap();
    let java_out = work.join("java.zip");
    let java = Command::new("java")
        .arg(repo().join("tests/java/OpenEncrypted.java"))
        .args([
            key_file.as_os_str(),
            encrypted.as_os_str(),
            session_key.as_ref(),
            checksum.as_ref(),
            java_out.as_os_str(),
        ])
        .arg("zip")
        .output()
        .expect("java runs (apt: default-jre-headless)");
    let java_stdout = String::from_utf8_lossy(&java.stdout);
    assert!(java.status.success(), "{java_stdout}\n{}", String::from_utf8_lossy(&java.stderr));
    assert_eq!(std::fs::read(&java_out).unwrap(), plain, "Java opens it to the plain zip, as Android does");
    assert!(java_stdout.lines().any(|l| l.ends_with(" index.html")), "ZipInputStream reads it: {java_stdout}");

    // A device that trusts another key is refused in words.
    let foreign = SigningKey::from_pem(&key_fixture("rsa2048.pkcs8.pem")).unwrap();
    let (_, refusal) = server.post("/updates", &device(2, foreign.key_id()));
    assert_eq!((refusal["error"].as_str(), refusal["kind"].as_str()), (Some("key_id_mismatch"), Some("blocked")));
    assert!(refusal["message"].as_str().unwrap().contains("signed with key"), "{refusal}");

    // The private key: in the keychain (the export read it from there), in no file under the
    // user's config or data directories.
    let exported = std::fs::read_to_string(work.join("backup.pem")).unwrap();
    let backup = SigningKey::from_pem(&exported).unwrap();
    assert_eq!(backup.key_id(), public.key_id(), "the keychain held the key that signed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(work.join("backup.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the export is readable by its owner only");
    }
    let warning = std::fs::read_to_string(work.join("export.stderr")).unwrap();
    assert!(warning.contains("warning: whoever reads"), "{warning}");
    let body: String = exported.lines().filter(|l| !l.starts_with("-----")).collect();
    let private_line = exported.lines().nth(10).unwrap();
    for needle in [&body[200..240], private_line] {
        let leaks = files_containing(&[&home], needle);
        assert!(leaks.is_empty(), "private key material in {leaks:?}");
    }
    assert!(home.join("xdg-data-copy/keyrings").is_dir(), "the scan covered the keyring's data directory");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn bad_keys_are_refused_before_anything_is_uploaded_and_the_server_holds_the_line() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    web_build(cwd);
    server.json(cwd, &["app", "create", APP]);
    let registered = key_fixture("rsa2048.public.pkcs1.pem");
    std::fs::write(cwd.join("registered.pem"), &registered).unwrap();
    let done = server.json(cwd, &["keys", "register", "--app", APP, "--public-key", "registered.pem"]);
    assert_eq!(done["key_id"], VerifyingKey::from_pem(&registered).unwrap().key_id());

    let publish = ["publish", "dist", "--app", APP, "--channel", "production", "--version", "1.0.0"];
    let other = SigningKey::generate().unwrap().to_pem().unwrap().to_string();
    // One base64 character changed in the middle of the key, as a damaged backup would be.
    let mut lines: Vec<String> = key_fixture("rsa2048.pkcs8.pem").lines().map(str::to_owned).collect();
    let changed = if lines[10].as_bytes()[20] == b'A' { "B" } else { "A" };
    lines[10].replace_range(20..21, changed);
    let corrupted = lines.join("\n");
    let truncated: String = key_fixture("rsa2048.pkcs8.pem").lines().take(8).collect::<Vec<_>>().join("\n");
    for (name, pem, says) in [
        ("a 4096-bit key", key_fixture("rsa4096.pkcs1.pem"), "4096-bit RSA key: the plugin accepts only 2048-bit keys"),
        ("an EC key", key_fixture("ec.pkcs8.pem"), "an EC key, not an RSA key"),
        ("another app's key", other.clone(), "does not belong to the registered public key"),
        ("a corrupted key", corrupted.clone(), "corrupted"),
    ] {
        let stderr = refused(capstan(&server, cwd, &publish, &[("CAPSTAN_SIGNING_KEY", &pem)]), name);
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(stderr.contains("CAPSTAN_SIGNING_KEY") || name == "another app's key", "names the source: {stderr}");
    }
    for (name, pem, says) in [
        ("a corrupted exported key file", corrupted, "backup.pem: the key is corrupted"),
        ("a truncated exported key file", truncated, "backup.pem: the key is corrupted"),
        ("a 4096-bit key file", key_fixture("rsa4096.pkcs1.pem"), "2048-bit"),
        ("a public key file", registered.clone(), "this is a public key"),
        ("a passphrase-protected key", key_fixture("rsa2048.encrypted.pem"), "passphrase"),
    ] {
        std::fs::write(cwd.join("backup.pem"), pem).unwrap();
        let stderr = refused(capstan(&server, cwd, &["keys", "import", "backup.pem", "--app", APP], &[]), name);
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
    // A key that pairs with no registered key is not imported silently either (read before
    // the keychain is touched: there is none here).
    std::fs::write(cwd.join("backup.pem"), &other).unwrap();
    let stderr =
        refused(capstan(&server, cwd, &["keys", "import", "backup.pem", "--app", APP, "--no-register"], &[]), "other");
    assert!(stderr.contains("does not belong to the registered public key"), "{stderr}");

    // No key on this machine (and no keychain): refused in words.
    let stderr = refused(capstan(&server, cwd, &publish, &[]), "no key");
    assert!(stderr.contains("OS keychain is not available") && stderr.contains("CAPSTAN_SIGNING_KEY"), "{stderr}");
    let bundles = server.json(cwd, &["bundle", "list", "--app", APP]);
    assert_eq!(bundles, json!([]), "nothing was uploaded");

    // The right key from CI's environment signs.
    let ci_key = key_fixture("rsa2048.pkcs8.pem");
    let output = capstan(&server, cwd, &[&publish[..], &["--json"]].concat(), &[("CAPSTAN_SIGNING_KEY", &ci_key)]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let published: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(published["signature"]["key_source"], "environment");

    // What the server stores is opened as a device would before a channel points at it: damage
    // the stored bytes, and assigning the (otherwise identical) bundle to beta is refused.
    server.json(cwd, &["channel", "create", "beta", "--app", APP]);
    let blob_dir = server.data_dir().join("blobs").join(APP).join("1.0.0");
    let blob = std::fs::read_dir(&blob_dir).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    let to_beta = ["publish", "dist", "--app", APP, "--channel", "beta", "--version", "1.0.0", "--force"];
    let stderr = refused(capstan(&server, cwd, &to_beta, &[("CAPSTAN_SIGNING_KEY", &ci_key)]), "damaged blob");
    assert!(stderr.contains("does not open as a device would open it"), "{stderr}");
    assert_eq!(server.json(cwd, &["channel", "show", "beta", "--app", APP])["target"], Value::Null, "not assigned");

    // Required: a plain upload (any client) is refused, nothing stored, no channel changes.
    let on = server.json(cwd, &["keys", "require-signed", "on", "--app", APP]);
    assert_eq!(on["require_signed"], true);
    let channel_before = server.json(cwd, &["channel", "show", "production", "--app", APP]);
    let zip = cwd.join("plain.zip");
    server.json(cwd, &["bundle", "pack", "dist", "--out", zip.to_str().unwrap()]);
    let api = Api::new(&server.url(), &server.token).unwrap();
    let params = UploadParams {
        version: "1.1.0".into(),
        sha256: Some(sha256_hex(&std::fs::read(&zip).unwrap())),
        ..UploadParams::default()
    };
    let error = runtime().block_on(api.upload_bundle(APP, &params, &zip, &NoProgress, &CancelFlag::new())).unwrap_err();
    assert!(error.to_string().contains("requires signed bundles"), "{error}");
    let bundles = server.json(cwd, &["bundle", "list", "--app", APP]);
    assert_eq!(bundles.as_array().unwrap().len(), 1, "only the signed 1.0.0");
    assert_eq!(server.json(cwd, &["channel", "show", "production", "--app", APP]), channel_before);
    let coverage = server.json(cwd, &["keys", "coverage", "--app", APP]);
    assert_eq!(coverage["active_devices"], 0);
}
