//! Test support shared by Capstan's end-to-end suites.
//!
//! [`Server`] is a real `capstan-server` with its own data directory on a free loopback port
//! and an admin token made with `capstan-server token create`, killed when dropped.
//! [`Server::post`] speaks to its device endpoints the way the plugin does, and
//! [`manifest::Device`] installs a delta update's manifest the way the plugin does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub mod manifest;

/// A running server.
pub struct Server {
    child: Child,
    /// Where it listens (devices and management API).
    pub addr: SocketAddr,
    /// An admin token.
    pub token: String,
    data: tempfile::TempDir,
}

/// A workspace binary built next to the running test: test executables live in
/// `target/<profile>/deps/`, binaries in `target/<profile>/`. `cargo test --workspace` builds
/// every workspace binary before it runs any test.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("test executables live in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} is missing: run `cargo build --workspace` first", path.display());
    path
}

fn server_binary() -> PathBuf {
    match std::env::var_os("CAPSTAN_SERVER_BIN") {
        Some(path) => PathBuf::from(path),
        None => workspace_binary("capstan-server"),
    }
}

/// `capstan-server` with a clean environment pointing at `data`.
fn server_command(data: &Path) -> Command {
    let mut command = Command::new(server_binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CAPSTAN_") {
            command.env_remove(name);
        }
    }
    command
        .env("CAPSTAN_DATA_DIR", data)
        .env("CAPSTAN_LISTEN", "127.0.0.1:0")
        .env("CAPSTAN_DURABLE_WRITES", "false")
        .env("CAPSTAN_RATE_LIMIT_PER_SECOND", "100000")
        .env("CAPSTAN_RATE_LIMIT_BURST", "100000")
        .env("CAPSTAN_LOG", "info")
        .stdin(Stdio::null());
    command
}

impl Server {
    /// Starts a server and waits until it logs its address.
    pub fn start() -> Server {
        Server::start_with_env(&[])
    }

    /// [`Server::start`] with extra settings for `serve`, such as
    /// `("CAPSTAN_RELEASE_SAFETY_EVERY_MS", "1000")`.
    pub fn start_with_env(env: &[(&str, &str)]) -> Server {
        let data = tempfile::tempdir().unwrap();
        let created =
            server_command(data.path()).args(["token", "create", "--role", "admin", "--name", "e2e"]).output().unwrap();
        assert!(created.status.success(), "token create: {}", String::from_utf8_lossy(&created.stderr));
        let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
        assert!(token.starts_with("capstan_"), "{token}");

        let mut child = server_command(data.path())
            .arg("serve")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // `ready listen=127.0.0.1:PORT`, in the server's log format.
                if line.contains("ready")
                    && let Some(addr) = line.split_whitespace().find_map(|w| w.strip_prefix("listen="))
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(addr.trim_matches('"').to_owned());
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        let addr = receiver.recv_timeout(Duration::from_secs(60)).expect("capstan-server logs `ready` within 60 s");
        Server { child, addr: addr.parse().unwrap(), token, data }
    }

    /// A new token of `role` (`admin`, `publisher`, `qa`, `viewer`), made the way an operator
    /// does: `capstan-server token create` on the running server's data directory.
    pub fn create_token(&self, role: &str) -> String {
        let created = server_command(self.data.path())
            .args(["token", "create", "--role", role, "--name", role])
            .output()
            .unwrap();
        assert!(created.status.success(), "token create: {}", String::from_utf8_lossy(&created.stderr));
        String::from_utf8(created.stdout).unwrap().trim().to_owned()
    }

    /// Runs the `capstan` CLI in `cwd` against this server, CI style (server and token from
    /// the environment, profiles in `cwd/.capstan-config`).
    pub fn capstan(&self, cwd: &Path, args: &[&str]) -> Output {
        Command::new(workspace_binary("capstan"))
            .current_dir(cwd)
            .args(args)
            .env("CAPSTAN_SERVER", self.url())
            .env("CAPSTAN_TOKEN", &self.token)
            .env("CAPSTAN_CONFIG_DIR", cwd.join(".capstan-config"))
            .env_remove("CAPSTAN_PROFILE")
            .env_remove("CAPSTAN_APP")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `capstan … --json` in `cwd`, asserts success, returns the JSON.
    pub fn json(&self, cwd: &Path, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.capstan(cwd, &all);
        assert!(
            output.status.success(),
            "capstan {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("capstan {}: not JSON ({e})", args.join(" ")))
    }

    /// [`Server::json`] from a throwaway directory.
    pub fn capstan_json(&self, args: &[&str]) -> Value {
        let cwd = tempfile::tempdir().unwrap();
        self.json(cwd.path(), args)
    }

    /// Asks `/updates` as `devices` distinct Android devices running the store build of
    /// `native` and returns, per answered version (`""` for no update), how many got it.
    pub fn devices_ask_for_updates(
        &self,
        app: &str,
        native: &str,
        devices: usize,
    ) -> std::collections::BTreeMap<String, usize> {
        let mut answers = std::collections::BTreeMap::new();
        for i in 0..devices {
            let (status, answer) =
                self.post("/updates", &device_info(app, &format!("{i:08x}-0000-4000-8000-000000000000"), native));
            assert_eq!(status, 200, "{answer}");
            let version = answer.get("version").and_then(Value::as_str).unwrap_or_default().to_owned();
            *answers.entry(version).or_insert(0) += 1;
        }
        answers
    }

    /// The server's data directory (database and blobs), for tests that damage what it stores.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POSTs `body` to `path` on the device side and returns the status and JSON answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("POST", path, Some(body))
    }

    /// GETs `path` (no token: public routes such as `/api/v1/openapi.json`) and returns the
    /// status and JSON answer.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, None)
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, payload) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(payload)
        } else {
            payload.to_owned()
        };
        (status, serde_json::from_str(&payload).unwrap_or(Value::Null))
    }
}

/// The info object a current Android plugin sends from a device on the store-shipped bundle.
pub fn device_info(app: &str, device_id: &str, native: &str) -> Value {
    serde_json::json!({
        "platform": "android",
        "device_id": device_id,
        "app_id": app,
        "custom_id": "",
        "version_build": native,
        "version_code": "1",
        "version_os": "14",
        "version_name": "builtin",
        "plugin_version": "8.45.11",
        "is_emulator": false,
        "is_prod": true,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
