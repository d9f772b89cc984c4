//! A running server and the few helpers every test needs.

use std::io::Write;

use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{EncryptedBundle, SessionKey, SigningKey, encrypt_bundle};
use capstan_server::AppState;
use capstan_server::auth::{Role, generate_token, hash_token};
use capstan_server::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const APP: &str = "com.example.app";

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub admin: String,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server; `adjust` changes the test defaults (no rate limit, no timed flushes).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        Self::launch(adjust, None).await
    }

    /// Starts a server whose business logic reads `clock`.
    pub async fn start_with_clock(clock: std::sync::Arc<dyn capstan_server::clock::Clock>) -> TestServer {
        Self::launch(|_| {}, Some(clock)).await
    }

    /// Starts a server whose business logic reads `clock`, with `adjust` applied to the test defaults.
    pub async fn start_configured_with_clock(
        adjust: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn capstan_server::clock::Clock>,
    ) -> TestServer {
        Self::launch(adjust, Some(clock)).await
    }

    async fn launch(
        adjust: impl FnOnce(&mut Config),
        clock: Option<std::sync::Arc<dyn capstan_server::clock::Clock>>,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config {
            data_dir: dir.path().join("data"),
            listen: addr,
            public_url: Some(format!("http://{addr}")),
            durable_writes: false,
            // Flushes happen on demand (management reads) and at shutdown, never on a timer, so
            // no test depends on timing.
            device_flush_ms: 3_600_000,
            cache_ttl_ms: 3_600_000,
            ..Config::default()
        };
        config.rate_limit.per_second = 0;
        // A test that injects a clock runs periodic jobs itself, when it has moved the clock.
        config.background_jobs = clock.is_none();
        adjust(&mut config);
        let state = match clock {
            None => AppState::open(config).await.unwrap(),
            Some(clock) => {
                let storage = capstan_server::store::open(&config).await.unwrap();
                let uploads = config.data_dir.join("uploads");
                std::fs::create_dir_all(&uploads).unwrap();
                AppState::new(config, storage, clock, uploads)
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(capstan_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        let admin = generate_token();
        state.db().insert_token("test-admin", Role::Admin, &hash_token(&admin), 0, None).await.unwrap();
        TestServer {
            base: format!("http://{addr}"),
            state,
            client: reqwest::Client::new(),
            admin,
            dir,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Graceful stop: waits for the server and its final flush.
    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// [`TestServer::stop`], handing back the data directory for a restart on it.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.handle.take().unwrap().await.unwrap().unwrap();
        self.dir
    }

    /// The settings this server runs with.
    pub fn config(&self) -> &Config {
        self.state.config()
    }

    pub async fn token(&self, role: Role) -> String {
        let token = generate_token();
        self.state.db().insert_token(role.as_str(), role, &hash_token(&token), 0, None).await.unwrap();
        token
    }

    /// Any request; answers the status and the body as JSON (Null when empty or not JSON).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(method, &format!("/api/v1{path}"), Some(&self.admin.clone()), body).await
    }

    /// `POST` a raw body to a device endpoint.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn updates(&self, info: &Value) -> Value {
        let (status, body) = self.send(Method::POST, "/updates", None, Some(info.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn create_app(&self, id: &str) {
        let (status, body) = self.api(Method::POST, "/apps", Some(json!({ "id": id }))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn create_channel(&self, app: &str, settings: Value) {
        let (status, body) = self.api(Method::POST, &format!("/apps/{app}/channels"), Some(settings)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn patch_channel(&self, app: &str, channel: &str, settings: Value) {
        let (status, body) = self.api(Method::PATCH, &format!("/apps/{app}/channels/{channel}"), Some(settings)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Uploads `zip` with extra query parameters; answers status and body.
    pub async fn upload(&self, app: &str, version: &str, zip: Vec<u8>, extra: &str) -> (StatusCode, Value) {
        let sha = sha256_hex(&zip);
        let url = format!("{}/api/v1/apps/{app}/bundles?version={version}&sha256={sha}{extra}", self.base);
        let response = self.client.post(url).bearer_auth(&self.admin).body(zip).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads encrypted bytes with their `session_key`, signed `checksum` and `key_id`.
    pub async fn upload_encrypted(
        &self,
        app: &str,
        version: &str,
        encrypted: Vec<u8>,
        fields: &EncryptedBundle,
    ) -> (StatusCode, Value) {
        let query = [
            ("version", version),
            ("sha256", &sha256_hex(&encrypted)),
            ("session_key", &fields.session_key),
            ("checksum", &fields.checksum),
            ("key_id", &fields.key_id),
        ];
        let url = format!("{}/api/v1/apps/{app}/bundles", self.base);
        let response =
            self.client.post(url).query(&query).bearer_auth(&self.admin).body(encrypted).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Registers a public key for `app` as the admin.
    pub async fn register_key(&self, app: &str, public_key: &str) -> (StatusCode, Value) {
        self.api(Method::POST, &format!("/apps/{app}/signing/keys"), Some(json!({ "public_key": public_key }))).await
    }

    /// Uploads a small valid bundle; returns its bytes.
    pub async fn upload_ok(&self, app: &str, version: &str, extra: &str) -> Vec<u8> {
        let zip = bundle_zip(version);
        let (status, body) = self.upload(app, version, zip.clone(), extra).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        zip
    }

    pub async fn publish(&self, app: &str, channel: &str, version: &str) {
        self.publish_with(app, channel, json!({ "version": version })).await;
    }

    /// Publishes even a version that is not newer than what the channel serves (audited).
    pub async fn publish_forced(&self, app: &str, channel: &str, version: &str) {
        self.publish_with(app, channel, json!({ "version": version, "force": true })).await;
    }

    async fn publish_with(&self, app: &str, channel: &str, body: Value) {
        let (status, body) =
            self.api(Method::POST, &format!("/apps/{app}/channels/{channel}/publish"), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Every file under the data directory's blob and upload folders.
    pub fn stored_files(&self) -> Vec<String> {
        let data = self.dir.path().join("data");
        let mut files = Vec::new();
        for folder in ["blobs", "uploads"] {
            let mut stack = vec![data.join(folder)];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if entry.file_type().unwrap().is_dir() {
                        stack.push(entry.path());
                    } else if entry.path().extension().is_none_or(|e| e != "lock") {
                        // (A running server's lock on its upload directory is not a file it stored.)
                        files.push(entry.path().display().to_string());
                    }
                }
            }
        }
        files
    }
}

/// POSTs `body` as JSON to a full URL (servers a test starts itself, outside [`TestServer`])
/// and returns the status and JSON answer.
pub async fn post_json(url: String, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new().post(url).json(body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A zip with the given entries, deflated.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A valid bundle whose bytes differ per version.
pub fn bundle_zip(version: &str) -> Vec<u8> {
    let js = format!("console.log('{version}'); CapacitorUpdater.notifyAppReady();");
    zip_of(&[("index.html", b"<!doctype html><script src=app.js></script>"), ("app.js", js.as_bytes())])
}

/// A test key file made with OpenSSL (capstan-core's signing fixtures; they sign nothing real).
pub fn key_fixture(name: &str) -> String {
    let dir =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../capstan-core/tests/signing/keys");
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// The fixtures' RSA-2048 key pair (its public half is `rsa2048.public.pkcs1.pem`).
pub fn test_signer() -> SigningKey {
    SigningKey::from_pem(&key_fixture("rsa2048.pkcs8.pem")).unwrap()
}

/// `zip` encrypted and signed with `signer` as a publisher does: the bytes and their fields.
pub fn encrypt_zip(signer: &SigningKey, zip: &[u8]) -> (Vec<u8>, EncryptedBundle) {
    let dir = tempfile::tempdir().unwrap();
    let (plain, encrypted) = (dir.path().join("plain.zip"), dir.path().join("bundle.enc"));
    std::fs::write(&plain, zip).unwrap();
    let session = SessionKey::generate(signer).unwrap();
    let fields = encrypt_bundle(signer, &session, &plain, &encrypted, &NoProgress, &CancelFlag::new()).unwrap();
    (std::fs::read(&encrypted).unwrap(), fields)
}

/// A device info object as current plugins send it.
pub fn device(app: &str, device_id: &str) -> Value {
    json!({
        "platform": "android",
        "device_id": device_id,
        "app_id": app,
        "custom_id": "",
        "version_build": "1.0.0",
        "version_code": "10",
        "version_os": "14",
        "version_name": "builtin",
        "plugin_version": "8.51.14",
        "is_emulator": false,
        "is_prod": true,
    })
}

/// `device` with fields replaced.
pub fn device_with(app: &str, device_id: &str, changes: Value) -> Value {
    let mut info = device(app, device_id);
    for (k, v) in changes.as_object().unwrap() {
        info[k] = v.clone();
    }
    info
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// Incompressible bytes (xorshift), so zips of them are as large as their content.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Another replica's state over the same data directory and clock as `server` (no listener:
/// tests call its state directly).
pub async fn replica_of(server: &TestServer, clock: std::sync::Arc<dyn capstan_server::clock::Clock>) -> AppState {
    let config = server.config().clone();
    let storage = capstan_server::store::open(&config).await.unwrap();
    let uploads = tempfile::tempdir().unwrap().keep();
    AppState::new(config, storage, clock, uploads)
}

/// Every file of `zip` with its SHA-256 signed by `signer`: what the publishing client sends
/// for an encrypted bundle (`PUT .../encrypted-files`), as (path, file_hash).
pub fn signed_files_of(signer: &SigningKey, zip: &[u8]) -> Vec<(String, String)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            let sha: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
            (entry.name().unwrap().into_owned(), capstan_core::signing::manifest_file_hash(signer, &sha).unwrap())
        })
        .collect()
}
