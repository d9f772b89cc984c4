//! Storage behind two small traits, so the embedded default (SQLite + a directory) and the
//! scaled-out setup (PostgreSQL + S3) run the same server code and the same contract tests.
//!
//! Every method that changes state is one transaction that also writes its audit entry (and
//! channel history where relevant): a crash leaves either the whole change or none of it.

pub mod contract;
pub mod disk;
pub mod sqlite;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use capstan_core::version::Strategy;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::Role;

/// Why a storage call failed. Callers branch on the first three; `Backend` is logged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique key or an optimistic revision check refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row is referenced and may not be removed.
    #[error("in use: {0}")]
    InUse(String),
    /// The database or store failed.
    #[error("storage backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;

/// An application registered on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct App {
    /// Reverse-DNS id, as devices send it.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Name of the channel devices get when they ask for none.
    pub default_channel: String,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
}

/// What a channel serves: a bundle, or the store-shipped build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Send devices back to the native build (`{"version":"builtin"}`).
    Builtin,
    /// A bundle version of the app.
    Bundle(String),
}

impl Target {
    /// The stored text: `builtin` or the version (no semver version can be `builtin`).
    pub fn as_text(&self) -> &str {
        match self {
            Target::Builtin => "builtin",
            Target::Bundle(v) => v,
        }
    }

    /// Reads the stored text.
    pub fn from_text(text: &str) -> Target {
        if text == "builtin" { Target::Builtin } else { Target::Bundle(text.to_owned()) }
    }

    /// The bundle version, unless this is the store build.
    pub fn bundle(&self) -> Option<&str> {
        match self {
            Target::Builtin => None,
            Target::Bundle(v) => Some(v),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_text())
    }
}

/// Matches the hand-written `Serialize` above: one string, not an enum object.
impl JsonSchema for Target {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A bundle version, or `builtin` for the store-shipped build.",
        })
    }
}

/// A percentage rollout of a new bundle on top of a channel's current target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Rollout {
    /// The bundle being rolled out.
    pub version: String,
    /// Share of devices in basis points (0–10 000).
    pub share_bp: u32,
    /// When the rollout started, epoch ms.
    pub started_at_ms: i64,
}

/// The policy switches of a channel (protocol.md §2, step 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelSettings {
    /// Devices without an opinion may get this channel by default.
    pub public: bool,
    /// Devices may choose this channel themselves (`setChannel`).
    pub allow_self_set: bool,
    /// Platform switches.
    pub ios: bool,
    /// Platform switches.
    pub android: bool,
    /// Platform switches.
    pub electron: bool,
    /// Production builds allowed.
    pub allow_prod: bool,
    /// Development builds allowed.
    pub allow_dev: bool,
    /// Physical devices allowed.
    pub allow_device: bool,
    /// Emulators allowed.
    pub allow_emulator: bool,
    /// Semver strategy against the native version.
    #[schemars(with = "crate::api::openapi::StrategySchema")]
    pub strategy: Strategy,
    /// Refuse bundles older than the native version.
    pub block_under_native: bool,
}

impl Default for ChannelSettings {
    /// protocol.md's defaults for a new channel.
    fn default() -> Self {
        ChannelSettings {
            public: false,
            allow_self_set: false,
            ios: true,
            android: true,
            electron: true,
            allow_prod: true,
            allow_dev: true,
            allow_device: true,
            allow_emulator: true,
            strategy: Strategy::None,
            block_under_native: true,
        }
    }
}

impl ChannelSettings {
    /// Whether the platform is switched on; unknown platforms are refused.
    pub fn allows_platform(&self, platform: &str) -> bool {
        match platform {
            "ios" => self.ios,
            "android" => self.android,
            "electron" => self.electron,
            _ => false,
        }
    }
}

/// A channel: policy plus what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Channel {
    /// Numeric id (sent to devices in `listChannels`).
    pub id: i64,
    /// Owning app.
    pub app_id: String,
    /// Name devices and operators use.
    pub name: String,
    /// Policy.
    #[serde(flatten)]
    pub settings: ChannelSettings,
    /// What it serves; `null` until something is published.
    pub target: Option<Target>,
    /// A rollout in progress.
    pub rollout: Option<Rollout>,
    /// Bumped by every write: saves name the revision they read (optimistic concurrency).
    pub revision: i64,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Last change, epoch ms.
    pub updated_at_ms: i64,
}

/// A stored bundle. Immutable once inserted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Bundle {
    /// Owning app.
    pub app_id: String,
    /// Semver version, unique per app.
    pub version: String,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// What devices verify: the SHA-256 for plain bundles, the encrypted checksum otherwise.
    pub checksum: String,
    /// Size of the stored bytes.
    pub size: i64,
    /// Files in the zip (0 for encrypted bundles, which the server cannot open).
    pub file_count: i64,
    /// Oldest native version that can run it.
    pub min_native_version: Option<String>,
    /// Release notes.
    pub notes: String,
    /// Encryption session key, `""` for plain bundles.
    pub session_key: String,
    /// Key the bundle was encrypted for.
    pub key_id: Option<String>,
    /// Where the bytes are in the blob store.
    pub blob_key: String,
    /// Inspection warnings, as JSON (`capstan_core::bundle::Warning`s, stored as they were
    /// serialized at upload).
    #[schemars(with = "Vec<crate::api::openapi::WarningSchema>")]
    pub warnings: serde_json::Value,
    /// Who uploaded it.
    pub created_by: String,
    /// When, epoch ms.
    pub created_at_ms: i64,
}

/// One change of a channel's target or rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HistoryEntry {
    /// Sequence id.
    pub id: i64,
    /// Channel name.
    pub channel: String,
    /// `publish`, `rollout_start`, `rollout_change`, `rollout_finish`, `rollout_abort`,
    /// `promote`, `rollback`.
    pub action: String,
    /// Target before.
    pub target_before: Option<String>,
    /// Target after.
    pub target_after: Option<String>,
    /// Rollout before.
    pub rollout_before: Option<Rollout>,
    /// Rollout after.
    pub rollout_after: Option<Rollout>,
    /// Who.
    pub actor: String,
    /// When, epoch ms.
    pub at_ms: i64,
}

/// A history line to write with a channel save.
#[derive(Debug, Clone)]
pub struct NewHistory {
    /// See [`HistoryEntry::action`].
    pub action: &'static str,
    /// Who.
    pub actor: String,
}

/// One management change: who, what, before, after, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AuditEntry {
    /// Sequence id.
    pub id: i64,
    /// Who (token name and id, or `device` for device-initiated overrides).
    pub actor: String,
    /// App concerned, if any.
    pub app_id: Option<String>,
    /// What was done, e.g. `channel.publish`.
    pub action: String,
    /// What it was done to, e.g. the channel name.
    pub subject: String,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// When, epoch ms.
    pub at_ms: i64,
}

/// An audit entry to write in the same transaction as the change it describes.
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// See [`AuditEntry::actor`].
    pub actor: String,
    /// See [`AuditEntry::app_id`].
    pub app_id: Option<String>,
    /// See [`AuditEntry::action`].
    pub action: String,
    /// See [`AuditEntry::subject`].
    pub subject: String,
    /// See [`AuditEntry::before`].
    pub before: Option<serde_json::Value>,
    /// See [`AuditEntry::after`].
    pub after: Option<serde_json::Value>,
    /// See [`AuditEntry::at_ms`].
    pub at_ms: i64,
}

/// An API token as stored: only the SHA-256 of the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TokenRecord {
    /// Id used to revoke it.
    pub id: i64,
    /// Human name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token, lowercase hex.
    #[serde(skip)]
    pub hash: String,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Revocation time, epoch ms.
    pub revoked_at_ms: Option<i64>,
}

/// Who set a per-device channel override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverrideSource {
    /// An operator (QA) through the management API: wins over device requests.
    Operator,
    /// A legacy plugin's `setChannel`.
    Device,
}

impl OverrideSource {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideSource::Operator => "operator",
            OverrideSource::Device => "device",
        }
    }
}

/// A per-device channel override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DeviceOverride {
    /// App.
    pub app_id: String,
    /// Device (lowercase).
    pub device_id: String,
    /// Channel id.
    pub channel_id: i64,
    /// Who set it.
    pub source: OverrideSource,
    /// When, epoch ms.
    pub set_at_ms: i64,
}

/// What the server last heard from a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DeviceRecord {
    /// App.
    pub app_id: String,
    /// Device (lowercase).
    pub device_id: String,
    /// App-set user id.
    pub custom_id: String,
    /// Platform.
    pub platform: String,
    /// Native version (`version_build`).
    pub native_version: String,
    /// Bundle running (`version_name`, `builtin` resolved to the native version).
    pub bundle_version: String,
    /// Plugin release.
    pub plugin_version: String,
    /// OS version.
    pub os_version: String,
    /// Production build.
    pub is_prod: bool,
    /// Emulator.
    pub is_emulator: bool,
    /// Channel resolved at the last update check.
    pub channel: Option<String>,
    /// First contact, epoch ms.
    pub first_seen_ms: i64,
    /// Last contact, epoch ms.
    pub last_seen_ms: i64,
}

/// Filters for device search. Empty fields do not filter.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct DeviceFilter {
    /// Device id or custom id (exact, or a prefix of the device id).
    pub q: Option<String>,
    /// Channel name.
    pub channel: Option<String>,
    /// Native version.
    pub native_version: Option<String>,
    /// Bundle version.
    pub bundle: Option<String>,
    /// Most rows (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// A stats event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct EventRecord {
    /// App.
    pub app_id: String,
    /// Device (lowercase).
    pub device_id: String,
    /// Action as sent.
    pub action: String,
    /// Bundle the event is about.
    pub version_name: String,
    /// Previous bundle (for `set`).
    pub old_version_name: String,
    /// Platform.
    pub platform: String,
    /// Native version.
    pub native_version: String,
    /// Plugin release.
    pub plugin_version: String,
    /// Metadata map as JSON text, if any.
    pub metadata: Option<String>,
    /// Device clock, epoch ms.
    pub device_ts_ms: Option<i64>,
    /// Server clock at receipt, epoch ms.
    pub received_ms: i64,
}

/// Counts of one action for one bundle version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionCount {
    /// Bundle version.
    pub version: String,
    /// Action.
    pub action: String,
    /// Events.
    pub count: i64,
}

/// Devices per (channel, bundle) seen since a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceCount {
    /// Channel (None: never resolved).
    pub channel: Option<String>,
    /// Bundle version running.
    pub bundle_version: String,
    /// Devices.
    pub devices: i64,
}

/// Events of one action in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BucketCount {
    /// Bucket start, epoch ms.
    pub start_ms: i64,
    /// Action.
    pub action: String,
    /// Events.
    pub count: i64,
}

/// A new channel to create.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// App.
    pub app_id: String,
    /// Name.
    pub name: String,
    /// Policy.
    pub settings: ChannelSettings,
    /// Creation time.
    pub at_ms: i64,
}

/// The database: apps, channels, bundles metadata, devices, events, tokens, audit.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Reachable and answering (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Stores a token hash.
    async fn insert_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        at_ms: i64,
        audit: Option<NewAudit>,
    ) -> StoreResult<TokenRecord>;
    /// Every token, revoked ones included.
    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    /// Marks a token revoked. `NotFound` if unknown or already revoked.
    async fn revoke_token(&self, id: i64, at_ms: i64, audit: Option<NewAudit>) -> StoreResult<TokenRecord>;
    /// The live (not revoked) token with this hash.
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>>;

    /// Creates an app and its default channel in one transaction. `Conflict` if it exists.
    async fn create_app(&self, app: &App, default_channel: &NewChannel, audit: NewAudit) -> StoreResult<App>;
    /// Every app.
    async fn list_apps(&self) -> StoreResult<Vec<App>>;
    /// One app.
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>>;
    /// Saves an app's name and default channel.
    async fn update_app(&self, app: &App, audit: NewAudit) -> StoreResult<App>;

    /// Creates a channel. `Conflict` if the name is taken.
    async fn create_channel(&self, channel: &NewChannel, audit: NewAudit) -> StoreResult<Channel>;
    /// The app's channels, by id.
    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>>;
    /// One channel by name.
    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>>;
    /// Saves settings, target and rollout if the stored revision is still `channel.revision`
    /// (else `Conflict`), with a history line when the target or rollout changed.
    async fn save_channel(
        &self,
        channel: &Channel,
        history: Option<NewHistory>,
        audit: NewAudit,
    ) -> StoreResult<Channel>;
    /// A channel's history, newest first.
    async fn channel_history(&self, channel_id: i64, limit: u32) -> StoreResult<Vec<HistoryEntry>>;

    /// Inserts a bundle. `Conflict` if `(app, version)` exists.
    async fn insert_bundle(&self, bundle: &Bundle, audit: NewAudit) -> StoreResult<Bundle>;
    /// The app's bundles, newest first.
    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<Bundle>>;
    /// One bundle.
    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<Bundle>>;
    /// Deletes a bundle unless a channel targets or rolls it out (`InUse`).
    async fn delete_bundle(&self, app_id: &str, version: &str, audit: NewAudit) -> StoreResult<Bundle>;
    /// Every blob key referenced by a bundle (to collect orphans after a crash).
    async fn blob_keys(&self) -> StoreResult<Vec<String>>;

    /// Sets a device's override. A device-sourced write never replaces an operator's.
    async fn set_override(&self, entry: &DeviceOverride, audit: Option<NewAudit>) -> StoreResult<DeviceOverride>;
    /// Removes a device's override (only one from `source`, when given). True if one was removed.
    async fn clear_override(
        &self,
        app_id: &str,
        device_id: &str,
        source: Option<OverrideSource>,
        audit: Option<NewAudit>,
    ) -> StoreResult<bool>;
    /// The app's overrides.
    async fn list_overrides(&self, app_id: &str) -> StoreResult<Vec<DeviceOverride>>;

    /// Inserts or refreshes devices in one transaction (a batch from the in-memory buffer).
    async fn upsert_devices(&self, devices: &[DeviceRecord]) -> StoreResult<()>;
    /// Devices matching the filter, most recently seen first.
    async fn search_devices(&self, app_id: &str, filter: &DeviceFilter) -> StoreResult<Vec<DeviceRecord>>;
    /// One device.
    async fn get_device(&self, app_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>>;

    /// Inserts events in one transaction.
    async fn insert_events(&self, events: &[EventRecord]) -> StoreResult<()>;
    /// A device's events, newest first.
    async fn device_events(&self, app_id: &str, device_id: &str, limit: u32) -> StoreResult<Vec<EventRecord>>;
    /// How many events an app has.
    async fn count_events(&self, app_id: &str) -> StoreResult<i64>;
    /// Events per (bundle version, action).
    async fn action_counts(&self, app_id: &str) -> StoreResult<Vec<ActionCount>>;
    /// Devices seen since `since_ms` per (channel, bundle).
    async fn device_counts(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<DeviceCount>>;
    /// Events per (time bucket, action) since `since_ms`, optionally for one bundle, by
    /// receipt time. Buckets are whole hours (`bucket_ms` is rounded up to one).
    async fn event_buckets(
        &self,
        app_id: &str,
        bucket_ms: i64,
        since_ms: i64,
        version: Option<&str>,
    ) -> StoreResult<Vec<BucketCount>>;

    /// Audit entries, newest first, optionally for one app.
    async fn list_audit(&self, app_id: Option<&str>, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob under that key.
    #[error("blob not found")]
    NotFound,
    /// The key would leave the store (`..`, absolute, odd characters).
    #[error("invalid blob key `{0}`")]
    InvalidKey(String),
    /// The store failed.
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Where bundle bytes live.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Reachable and writable (for `/readyz`).
    async fn ping(&self) -> Result<(), BlobError>;
    /// Moves the finished file at `source` under `key`, durably: after this returns the blob
    /// survives a crash, and before it returns no reader can see a partial blob.
    async fn put_file(&self, key: &str, source: &Path) -> Result<(), BlobError>;
    /// Removes a blob; removing a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Whether a blob exists.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;
    /// Every key.
    async fn list(&self) -> Result<Vec<String>, BlobError>;
    /// A local file for the blob, when the store is a local directory (served with ranges).
    fn local_path(&self, key: &str) -> Option<PathBuf>;
}

/// Checks a blob key: relative, `/`-separated, only `[A-Za-z0-9._+-]` segments, no `..`.
pub fn check_blob_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && !segment.starts_with('.')
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        });
    if ok { Ok(()) } else { Err(BlobError::InvalidKey(capstan_core::protocol::cut(key, 80))) }
}

/// A stable 64-bit key for (app, device) (FNV-1a), for compact event indexes. Collisions are
/// harmless: lookups also compare the app and device ids.
pub fn device_key(app_id: &str, device_id: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in app_id.bytes().chain([0u8]).chain(device_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}
