//! The typed management-API client (`/api/v1`, bearer token).
//!
//! One method per route, sending and returning the shared wire types of
//! `capstan_core::api` (the server answers with the very same types). Errors keep the
//! server's code and message (`{"error", "message"}`), so the CLI prints the server's sentence
//! and the console can branch on [`crate::ClientError::code`].

mod rollouts;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use capstan_core::progress::{CancelFlag, Progress};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use capstan_core::api::{
    ActiveQuery, App, AppSigning, AuditEntry, AuditQuery, Bundle, BundleDownload, BundleHealth, ChangeRollout, Channel,
    ChannelAdoption, CreateApp, CreateChannel, CreateToken, CreatedToken, DeviceDetail, DeviceFilter, DeviceOverride,
    DeviceRecord, EncryptedFiles, ErrorBody, HistoryEntry, KeyCoverage, LaneQuery, Me, Preview, PreviewRequest,
    Promote, ProposedChange, Publish, RegisterKey, Removed, Rollback, RollbackTo, SetOverride, SettingsPatch,
    SigningKeyRecord, StartRollout, Timeline, TimelineQuery, TokenRecord, UpdateSigning, UploadParams,
};
use capstan_core::api::{CreateWebhook, CreatedWebhook, DeliveryQuery, Webhook, WebhookDelivery};

use capstan_core::native::NativeFingerprint;

use crate::error::{ClientError, ClientResult};

/// How long to wait for a server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Upload chunk size: large enough to keep the link busy, small enough for smooth progress.
const UPLOAD_CHUNK: usize = 256 * 1024;

/// A connection to one server with one token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never in logs or panic messages.
        f.debug_struct("Api").field("base", &self.base.as_str()).field("token", &"<redacted>").finish()
    }
}

/// One HTTP client per process, so connections and TLS set-up are reused: the console makes an
/// `Api` per command (a reqwest `Client` is a handle to shared state; cloning it is cheap).
fn shared_http() -> ClientResult<reqwest::Client> {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(http) = HTTP.get() {
        return Ok(http.clone());
    }
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("capstan-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::Invalid(format!("cannot set up HTTP: {e}")))?;
    Ok(HTTP.get_or_init(|| http).clone())
}

impl Api {
    /// A client for the server at `base_url` using `token`.
    pub fn new(base_url: &str, token: &str) -> ClientResult<Api> {
        let base = Url::parse(base_url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                ClientError::Invalid(format!("`{base_url}` is not a server URL: expected http:// or https://"))
            })?;
        Ok(Api { http: shared_http()?, base, token: token.trim().to_owned() })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `/api/v1/<segments…>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("http URLs have a path");
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder, url: &Url) -> ClientResult<T> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| network(url, &e))?;
        decode(response, url).await
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str], query: &impl Serialize) -> ClientResult<T> {
        let url = self.url(segments);
        self.call(self.http.get(url.clone()).query(query), &url).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&impl Serialize>,
    ) -> ClientResult<T> {
        let url = self.url(segments);
        let mut request = self.http.request(method, url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        self.call(request, &url).await
    }

    /// Who the token is, and its role.
    pub async fn me(&self) -> ClientResult<Me> {
        self.get(&["me"], &()).await
    }

    /// Every app.
    pub async fn apps(&self) -> ClientResult<Vec<App>> {
        self.get(&["apps"], &()).await
    }

    /// Creates an app (with its default channel `production`).
    pub async fn create_app(&self, body: &CreateApp) -> ClientResult<App> {
        self.send(Method::POST, &["apps"], Some(body)).await
    }

    /// An app's channels.
    pub async fn channels(&self, app: &str) -> ClientResult<Vec<Channel>> {
        self.get(&["apps", app, "channels"], &()).await
    }

    /// One channel.
    pub async fn channel(&self, app: &str, channel: &str) -> ClientResult<Channel> {
        self.get(&["apps", app, "channels", channel], &()).await
    }

    /// Creates a channel.
    pub async fn create_channel(&self, app: &str, body: &CreateChannel) -> ClientResult<Channel> {
        self.send(Method::POST, &["apps", app, "channels"], Some(body)).await
    }

    /// Changes a channel's settings.
    pub async fn update_channel(&self, app: &str, channel: &str, patch: &SettingsPatch) -> ClientResult<Channel> {
        self.send(Method::PATCH, &["apps", app, "channels", channel], Some(patch)).await
    }

    /// Points a channel at a bundle version or `builtin`; ends any rollout. The server refuses
    /// a version that is not newer than what the channel serves unless `body.force`.
    pub async fn publish(&self, app: &str, channel: &str, body: &Publish) -> ClientResult<Channel> {
        self.send(Method::POST, &["apps", app, "channels", channel, "publish"], Some(body)).await
    }

    /// Starts rolling a version out to a share of the channel's devices.
    pub async fn start_rollout(&self, app: &str, channel: &str, body: &StartRollout) -> ClientResult<Channel> {
        self.send(Method::POST, &["apps", app, "channels", channel, "rollout"], Some(body)).await
    }

    /// Changes the running rollout's percentage (on native line `line`, needed only when
    /// several lines roll out: a MIN_NATIVE_VERSION, or `any`).
    pub async fn change_rollout(
        &self,
        app: &str,
        channel: &str,
        percent: f64,
        line: Option<&str>,
    ) -> ClientResult<Channel> {
        let body = ChangeRollout { percent, min_native: line.map(str::to_owned) };
        self.send(Method::PATCH, &["apps", app, "channels", channel, "rollout"], Some(&body)).await
    }

    /// Finishes a rollout: its bundle becomes its line's target.
    pub async fn finish_rollout(&self, app: &str, channel: &str, line: Option<&str>) -> ClientResult<Channel> {
        let url = self.url(&["apps", app, "channels", channel, "rollout", "finish"]);
        let request = self.http.post(url.clone()).query(&LaneQuery { min_native: line.map(str::to_owned) });
        self.call(request, &url).await
    }

    /// Aborts a rollout: everyone on the line gets its target again.
    pub async fn abort_rollout(&self, app: &str, channel: &str, line: Option<&str>) -> ClientResult<Channel> {
        let url = self.url(&["apps", app, "channels", channel, "rollout"]);
        let request = self.http.delete(url.clone()).query(&LaneQuery { min_native: line.map(str::to_owned) });
        self.call(request, &url).await
    }

    /// Copies `from`'s target to `to`.
    pub async fn promote(&self, app: &str, from: &str, to: &str) -> ClientResult<Channel> {
        let body = Promote { to: to.to_owned() };
        self.send(Method::POST, &["apps", app, "channels", from, "promote"], Some(&body)).await
    }

    /// Rolls a native line back to its previous target (by default the line changed last), or
    /// every line to the store build.
    pub async fn rollback(
        &self,
        app: &str,
        channel: &str,
        to: RollbackTo,
        line: Option<&str>,
    ) -> ClientResult<Channel> {
        let body = Rollback { to, min_native: line.map(str::to_owned) };
        self.send(Method::POST, &["apps", app, "channels", channel, "rollback"], Some(&body)).await
    }

    /// What the devices seen in the last `days` (default 30) would get after `change`; nothing
    /// is changed.
    pub async fn preview(&self, app: &str, change: ProposedChange, days: Option<u32>) -> ClientResult<Preview> {
        let body = PreviewRequest { change, days };
        self.send(Method::POST, &["apps", app, "preview"], Some(&body)).await
    }

    /// A channel's history, newest first.
    pub async fn history(&self, app: &str, channel: &str) -> ClientResult<Vec<HistoryEntry>> {
        self.get(&["apps", app, "channels", channel, "history"], &()).await
    }

    /// An app's bundles.
    pub async fn bundles(&self, app: &str) -> ClientResult<Vec<Bundle>> {
        self.get(&["apps", app, "bundles"], &()).await
    }

    /// One bundle, or `None` if the version does not exist.
    pub async fn bundle(&self, app: &str, version: &str) -> ClientResult<Option<Bundle>> {
        match self.get(&["apps", app, "bundles", version], &()).await {
            Ok(bundle) => Ok(Some(bundle)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Deletes a bundle no channel serves (with its per-file artifacts no other bundle uses).
    pub async fn delete_bundle(&self, app: &str, version: &str) -> ClientResult<Bundle> {
        self.send::<Bundle>(Method::DELETE, &["apps", app, "bundles", version], None::<&()>).await
    }

    /// The native fingerprint recorded for a bundle, or `None` when it has none.
    pub async fn native_fingerprint(&self, app: &str, version: &str) -> ClientResult<Option<NativeFingerprint>> {
        match self.get(&["apps", app, "bundles", version, "native"], &()).await {
            Ok(fingerprint) => Ok(Some(fingerprint)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Records the native fingerprint of a bundle's project (once).
    pub async fn set_native_fingerprint(
        &self,
        app: &str,
        version: &str,
        fingerprint: &NativeFingerprint,
    ) -> ClientResult<Bundle> {
        self.send(Method::PUT, &["apps", app, "bundles", version, "native"], Some(fingerprint)).await
    }

    /// Sends the signed per-file hashes of an encrypted bundle, so devices can get it file by
    /// file (delta updates). A server from before this existed answers 404.
    pub async fn attach_encrypted_files(
        &self,
        app: &str,
        version: &str,
        files: &EncryptedFiles,
    ) -> ClientResult<Bundle> {
        self.send(Method::PUT, &["apps", app, "bundles", version, "encrypted-files"], Some(files)).await
    }

    /// Streams the zip at `path` to the server, reporting bytes sent; stops when `cancel` is set.
    pub async fn upload_bundle(
        &self,
        app: &str,
        params: &UploadParams,
        path: &Path,
        progress: &dyn Progress,
        cancel: &CancelFlag,
    ) -> ClientResult<Bundle> {
        let io = |source| ClientError::Io { path: path.to_path_buf(), source };
        let file = tokio::fs::File::open(path).await.map_err(io)?;
        let length = file.metadata().await.map_err(io)?.len();
        progress.start(length);

        // The body stream must be 'static, so it counts bytes into a shared counter and this
        // task turns the counter into progress calls (`progress` is only borrowed).
        let sent = Arc::new(AtomicU64::new(0));
        let body = reqwest::Body::wrap_stream(file_stream(file, sent.clone(), cancel.clone()));
        let url = self.url(&["apps", app, "bundles"]);
        let request = self
            .http
            .post(url.clone())
            .query(params)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/zip")
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body)
            .send();
        tokio::pin!(request);
        let mut reported = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let response = loop {
            tokio::select! {
                response = &mut request => break response,
                _ = tick.tick() => {
                    let now = sent.load(Ordering::Relaxed);
                    progress.advance(now - reported);
                    reported = now;
                    if cancel.is_cancelled() {
                        // Dropping the request closes the connection: the server discards the part.
                        return Err(ClientError::Cancelled);
                    }
                }
            }
        };
        if cancel.is_cancelled() {
            return Err(ClientError::Cancelled);
        }
        let response = response.map_err(|e| network(&url, &e))?;
        progress.advance(sent.load(Ordering::Relaxed) - reported);
        decode(response, &url).await
    }

    /// The URL devices download bundle `version` from.
    pub async fn bundle_download(&self, app: &str, version: &str) -> ClientResult<BundleDownload> {
        self.get(&["apps", app, "bundles", version, "download"], &()).await
    }

    /// Downloads `url` into `path` the way a device does: a plain GET, with no token (the URL
    /// may be another host's, such as a CDN's). Reports bytes received; stops when `cancel` is set.
    pub async fn download(
        &self,
        url: &str,
        path: &Path,
        progress: &dyn Progress,
        cancel: &CancelFlag,
    ) -> ClientResult<u64> {
        let parsed = Url::parse(url)
            .map_err(|e| ClientError::BadResponse { url: url.to_owned(), reason: format!("not a URL: {e}") })?;
        let mut response = self.http.get(parsed.clone()).send().await.map_err(|e| network(&parsed, &e))?;
        if !response.status().is_success() {
            return Err(ClientError::BadResponse {
                url: without_query(&parsed),
                reason: format!("the download answered {}", response.status()),
            });
        }
        progress.start(response.content_length().unwrap_or(0));
        let io = |source| ClientError::Io { path: path.to_path_buf(), source };
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut received = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| network(&parsed, &e))? {
            if cancel.is_cancelled() {
                return Err(ClientError::Cancelled);
            }
            file.write_all(&chunk).await.map_err(io)?;
            received += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        file.flush().await.map_err(io)?;
        Ok(received)
    }

    /// An app's signing rule and registered public keys.
    pub async fn signing(&self, app: &str) -> ClientResult<AppSigning> {
        self.get(&["apps", app, "signing"], &()).await
    }

    /// Requires signed bundles, or stops requiring them (admin).
    pub async fn update_signing(&self, app: &str, require_signed: bool) -> ClientResult<AppSigning> {
        self.send(Method::PATCH, &["apps", app, "signing"], Some(&UpdateSigning { require_signed })).await
    }

    /// Registers a public key (PKCS#1 PEM) for `app` (admin).
    pub async fn register_key(&self, app: &str, public_key: &str) -> ClientResult<SigningKeyRecord> {
        let body = RegisterKey { public_key: public_key.to_owned() };
        self.send(Method::POST, &["apps", app, "signing", "keys"], Some(&body)).await
    }

    /// Removes a registered public key (admin).
    pub async fn remove_key(&self, app: &str, key_id: &str) -> ClientResult<SigningKeyRecord> {
        self.send(Method::DELETE, &["apps", app, "signing", "keys", key_id], None::<&()>).await
    }

    /// Which keys the devices seen in the last `active_days` days trust, per native version.
    pub async fn key_coverage(&self, app: &str, active_days: Option<u32>) -> ClientResult<KeyCoverage> {
        self.get(&["apps", app, "signing", "coverage"], &ActiveQuery { active_days }).await
    }

    /// Devices matching `filter`.
    pub async fn devices(&self, app: &str, filter: &DeviceFilter) -> ClientResult<Vec<DeviceRecord>> {
        self.get(&["apps", app, "devices"], filter).await
    }

    /// A device with its override and timeline.
    pub async fn device(&self, app: &str, device: &str) -> ClientResult<DeviceDetail> {
        self.get(&["apps", app, "devices", device], &()).await
    }

    /// Pins a device to a channel.
    pub async fn set_override(&self, app: &str, device: &str, channel: &str) -> ClientResult<DeviceOverride> {
        let body = SetOverride { channel: channel.to_owned() };
        self.send(Method::PUT, &["apps", app, "devices", device, "override"], Some(&body)).await
    }

    /// Removes a device's override; `false` when it had none.
    pub async fn clear_override(&self, app: &str, device: &str) -> ClientResult<bool> {
        let answer: Removed =
            self.send(Method::DELETE, &["apps", app, "devices", device, "override"], None::<&()>).await?;
        Ok(answer.removed)
    }

    /// Health per bundle.
    pub async fn bundle_stats(&self, app: &str) -> ClientResult<Vec<BundleHealth>> {
        self.get(&["apps", app, "stats", "bundles"], &ActiveQuery::default()).await
    }

    /// Adoption per channel.
    pub async fn channel_stats(&self, app: &str) -> ClientResult<Vec<ChannelAdoption>> {
        self.get(&["apps", app, "stats", "channels"], &ActiveQuery::default()).await
    }

    /// The app's webhooks (admin; never their secrets).
    pub async fn webhooks(&self, app: &str) -> ClientResult<Vec<Webhook>> {
        self.get(&["apps", app, "webhooks"], &()).await
    }

    /// Registers a webhook; its signing secret is in the answer only (admin).
    pub async fn create_webhook(&self, app: &str, body: &CreateWebhook) -> ClientResult<CreatedWebhook> {
        self.send(Method::POST, &["apps", app, "webhooks"], Some(body)).await
    }

    /// Removes webhook `id`: nothing more is sent to it (admin).
    pub async fn remove_webhook(&self, app: &str, id: i64) -> ClientResult<Webhook> {
        self.send(Method::DELETE, &["apps", app, "webhooks", &id.to_string()], None::<&()>).await
    }

    /// The webhook delivery log, newest first, optionally of one webhook (admin).
    pub async fn webhook_deliveries(&self, app: &str, query: &DeliveryQuery) -> ClientResult<Vec<WebhookDelivery>> {
        self.get(&["apps", app, "webhooks", "deliveries"], query).await
    }

    /// Every token of the server, revoked ones included (admin).
    pub async fn tokens(&self) -> ClientResult<Vec<TokenRecord>> {
        self.get(&["tokens"], &()).await
    }

    /// A new token; its secret is in the answer only (admin).
    pub async fn create_token(&self, body: &CreateToken) -> ClientResult<CreatedToken> {
        self.send(Method::POST, &["tokens"], Some(body)).await
    }

    /// Revokes token `id`: requests with it are refused from now on (admin).
    pub async fn revoke_token(&self, id: i64) -> ClientResult<TokenRecord> {
        self.send(Method::DELETE, &["tokens", &id.to_string()], None::<&()>).await
    }

    /// Events per `bucket` (`hour` or `day`) and action over the last `days` days, of one
    /// bundle `version` or of all.
    pub async fn timeline(&self, app: &str, bucket: &str, days: u32, version: Option<&str>) -> ClientResult<Timeline> {
        let query =
            TimelineQuery { bucket: Some(bucket.to_owned()), days: Some(days), version: version.map(str::to_owned) };
        self.get(&["apps", app, "stats", "timeline"], &query).await
    }

    /// The audit log, newest first.
    pub async fn audit(&self, app: Option<&str>, limit: u32) -> ClientResult<Vec<AuditEntry>> {
        self.get(&["audit"], &AuditQuery { app: app.map(str::to_owned), limit: Some(limit) }).await
    }
}

/// The file as a stream of chunks, counting bytes into `sent` and failing once `cancel` is set.
fn file_stream(
    file: tokio::fs::File,
    sent: Arc<AtomicU64>,
    cancel: CancelFlag,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    futures_util::stream::unfold(Some(file), move |file| {
        let (sent, cancel) = (sent.clone(), cancel.clone());
        async move {
            let mut file = file?;
            if cancel.is_cancelled() {
                return Some((Err(std::io::Error::other("upload cancelled")), None));
            }
            let mut chunk = vec![0u8; UPLOAD_CHUNK];
            match file.read(&mut chunk).await {
                Ok(0) => None,
                Ok(n) => {
                    chunk.truncate(n);
                    sent.fetch_add(n as u64, Ordering::Relaxed);
                    Some((Ok(chunk), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    })
}

fn network(url: &Url, error: &reqwest::Error) -> ClientError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    ClientError::Network { url: without_query(url), reason }
}

fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response, url: &Url) -> ClientResult<T> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| network(url, &e))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::BadResponse { url: without_query(url), reason: e.to_string() });
    }
    let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
    let (code, message) = match body {
        Some(body) => (body.error, body.message),
        None => (String::new(), String::from_utf8_lossy(&bytes).chars().take(200).collect()),
    };
    let message = match status {
        // The server's sentence is about the request; say what the user should do.
        StatusCode::UNAUTHORIZED => {
            "the server refused the token: it is expired, revoked or mistyped; log in again (`capstan login`) or fix CAPSTAN_TOKEN".to_owned()
        }
        StatusCode::FORBIDDEN => format!("not allowed: {message}"),
        _ if message.is_empty() => format!("{url} answered {status}", url = without_query(url)),
        _ => message,
    };
    Err(ClientError::Api { status: status.as_u16(), code, message })
}
