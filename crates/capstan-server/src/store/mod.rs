//! Storage behind small traits, one implementation per backend: the database (SQLite, or
//! PostgreSQL for several replicas) behind [`Database`], bundle bytes behind [`BlobStore`] (a
//! directory, or an S3-compatible bucket). [`open`] picks the backends from the configuration,
//! in one place.
//!
//! The database traits are split by concern (tokens, apps, channels, bundles, devices, events,
//! audit, leases, signing, webhooks), and every method that changes state is one transaction that also
//! writes its audit entry (and channel history where relevant): a crash leaves either the whole
//! change or none of it. Rules that are not about storage (which override wins, when a bundle is in use, what
//! a release does to a channel) live in `capstan-core`, and backends call them; the SQL is
//! written once to run on SQLite and PostgreSQL alike where it can ([`sql`]), and row decoding
//! is typed ([`rows`]) so a bad row is an error, never a panic.
//!
//! The contract every backend must meet is a test suite (`tests/server/contract.rs`), run
//! against each backend pair.

pub mod blob;
mod channel_store;
pub mod decision_inputs;
mod device_search;
pub mod disk;
pub mod postgres;
pub mod rollouts;
pub mod rows;
pub mod s3;
pub mod snapshot;
pub mod sql;
pub mod sqlite;
pub mod tables;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use capstan_core::api::{
    App, AppSigning, AuditEntry, BucketCount, Bundle, Channel, ChannelSettings, DeviceEvent, DeviceFilter,
    DeviceOverride, DeviceRecord, HistoryAction, HistoryEntry, OverrideSource, Role, SigningKeyRecord, TokenRecord,
    WebhookEvent,
};
use capstan_core::bundle::artifacts::Encoding;

pub use blob::{BlobError, BlobRead, BlobStore, ByteRange, check_blob_key};
pub use decision_inputs::{DecisionGroup, DecisionInputStore, DecisionInputs};
pub use rollouts::RolloutStore;
pub use webhooks::WebhookStore;

use crate::config::Config;

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
    /// The database or store failed, or a stored row could not be read.
    #[error("storage backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A backend failure.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(e))
    }
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A bundle as stored: what the API shows, and where its bytes are (a server-only detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBundle {
    /// The bundle.
    pub bundle: Bundle,
    /// Where the bytes are in the blob store.
    pub blob_key: String,
}

/// An API token as stored: the record and the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The record the API shows.
    pub record: TokenRecord,
    /// SHA-256 of the token, lowercase hex.
    pub hash: String,
}

/// Everything devices of one app are answered from, read in one read transaction (so a channel
/// never points at a bundle the same read did not see).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The app.
    pub app: App,
    /// Its configuration revision when read: every change to the app, its channels, bundles or
    /// overrides increases it (see `crate::cache`).
    pub revision: i64,
    /// Its channels, by id.
    pub channels: Vec<Channel>,
    /// Its bundles.
    pub bundles: Vec<StoredBundle>,
    /// Its device overrides.
    pub overrides: Vec<DeviceOverride>,
    /// Files of the served bundles that have per-file artifacts (delta updates), by version:
    /// only what channels serve, as an app keeps many bundles of hundreds of files each.
    pub files: HashMap<String, Vec<BundleFile>>,
}

/// Every bundle version a channel serves to some device: targets and rollouts of every line.
pub(crate) fn served_versions(channels: &[Channel]) -> std::collections::BTreeSet<String> {
    channels
        .iter()
        .flat_map(|channel| &channel.lanes)
        .flat_map(|lane| lane.target_bundle().into_iter().chain(lane.rollout.as_ref().map(|r| r.version.as_str())))
        .map(str::to_owned)
        .collect()
}

/// A history line to write with a channel save: what happened to one native line.
#[derive(Debug, Clone)]
pub struct NewHistory {
    /// What happened.
    pub action: HistoryAction,
    /// The native line (MIN_NATIVE_VERSION key) it happened on.
    pub min_native: Option<String>,
    /// Who.
    pub actor: String,
    /// Why, when the server acted by itself (a plan, the guard, a schedule).
    pub reason: Option<String>,
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

/// Counts of one action for one bundle version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCount {
    /// Bundle version.
    pub version: String,
    /// Action.
    pub action: String,
    /// Events.
    pub count: i64,
}

/// Devices per (channel, bundle) seen since a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCount {
    /// Channel (None: never resolved).
    pub channel: Option<String>,
    /// Bundle version running.
    pub bundle_version: String,
    /// Devices.
    pub devices: i64,
}

/// Active devices per (native version, reported key id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdCount {
    /// Native version.
    pub native_version: String,
    /// Key id as reported (None: the device sent none).
    pub key_id: Option<String>,
    /// Devices.
    pub devices: i64,
}

/// API tokens (stored hashed).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a token hash. `Conflict` if the hash exists.
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
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<StoredToken>>;
}

/// Apps.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates an app and its default channel in one transaction. `Conflict` if it exists.
    async fn create_app(&self, app: &App, default_channel: &NewChannel, audit: NewAudit) -> StoreResult<App>;
    /// Every app.
    async fn list_apps(&self) -> StoreResult<Vec<App>>;
    /// One app.
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>>;
    /// Saves an app's name and default channel.
    async fn update_app(&self, app: &App, audit: NewAudit) -> StoreResult<App>;
    /// Every app's configuration revision (one small query: replicas poll it).
    async fn config_revisions(&self) -> StoreResult<Vec<(String, i64)>>;
    /// An app's whole configuration, read consistently; `None` for an unknown app.
    async fn app_config(&self, app_id: &str) -> StoreResult<Option<AppConfig>>;
}

/// Channels and their history.
#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Creates a channel. `Conflict` if the name is taken.
    async fn create_channel(&self, channel: &NewChannel, audit: NewAudit) -> StoreResult<Channel>;
    /// The app's channels, by id.
    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>>;
    /// One channel by name.
    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>>;
    /// Saves `after` (settings and lines) if the stored revision is still the one `before` was
    /// read at (else `Conflict`), with one history line per changed native line, each from
    /// `before`'s line to `after`'s. A target or rollout naming a bundle that does not exist is
    /// a `Conflict`, and so is one newly naming a bundle that is not signed while the app
    /// requires signed bundles. `events` are queued for the app's webhooks in the same
    /// transaction, so they are stored if and only if the change is.
    async fn save_channel(
        &self,
        before: &Channel,
        after: &Channel,
        history: &[NewHistory],
        events: &[WebhookEvent],
        audit: NewAudit,
    ) -> StoreResult<Channel>;
    /// A channel's history, newest first.
    async fn channel_history(&self, channel_id: i64, limit: u32) -> StoreResult<Vec<HistoryEntry>>;
}

/// Bundle metadata (the bytes are in the [`BlobStore`]).
#[async_trait]
pub trait BundleStore: Send + Sync {
    /// Inserts a bundle. `Conflict` if `(app, version)` exists.
    async fn insert_bundle(&self, bundle: &StoredBundle, audit: NewAudit) -> StoreResult<StoredBundle>;
    /// The app's bundles, newest first.
    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<StoredBundle>>;
    /// One bundle.
    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<StoredBundle>>;
    /// Deletes a bundle unless a channel serves it (`InUse`).
    async fn delete_bundle(&self, app_id: &str, version: &str, audit: NewAudit) -> StoreResult<StoredBundle>;
    /// Every blob key referenced by a bundle (to collect orphans after a crash).
    async fn blob_keys(&self) -> StoreResult<Vec<String>>;
    /// Records a bundle's native fingerprint (JSON) and its digest, once: `Conflict` if another
    /// one is recorded, `NotFound` without the bundle. Audited.
    async fn set_native_fingerprint(
        &self,
        app_id: &str,
        version: &str,
        fingerprint: &str,
        digest: &str,
        audit: NewAudit,
    ) -> StoreResult<()>;
    /// A bundle's native fingerprint (JSON), if it has one.
    async fn native_fingerprint(&self, app_id: &str, version: &str) -> StoreResult<Option<String>>;
}

/// A per-file artifact of a plain bundle (delta updates), as stored: stored once per app and
/// content, whatever bundles list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// SHA-256 of the original file, lowercase hex (the manifest's `file_hash`).
    pub sha256: String,
    /// Raw, or Brotli (served under the file's name plus `.br`).
    pub encoding: Encoding,
    /// Bytes of the original file.
    pub size: i64,
    /// Bytes stored and downloaded.
    pub stored_size: i64,
    /// Where its bytes are in the blob store.
    pub blob_key: String,
}

/// One file of a bundle, in zip order, and its artifact: one entry of the bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Path below the folder holding `index.html`.
    pub path: String,
    /// Its artifact.
    pub artifact: StoredArtifact,
}

/// How [`ArtifactStore::insert_bundle_with_files`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesInserted {
    /// The bundle and its files are stored. These blobs the upload wrote lost to an artifact
    /// another upload recorded first for the same content: nothing lists them, delete them.
    Inserted {
        /// Blob keys no row names.
        unused_blobs: Vec<String>,
    },
    /// Nothing was stored: artifacts the upload found recorded (and did not write again) were
    /// collected meanwhile. Generate the artifacts again and retry.
    ArtifactsGone(Vec<String>),
}

/// Per-file artifacts of plain bundles, and which bundle lists which (delta updates).
///
/// An artifact is recorded with the first bundle listing it and removed, with its blob, once
/// no bundle lists it ([`ArtifactStore::collect_artifacts`], after a bundle is deleted and
/// periodically). Deleting a bundle (`BundleStore::delete_bundle`) removes its file list.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// The app's artifact for this content, if one is recorded.
    async fn find_artifact(&self, app_id: &str, sha256: &str) -> StoreResult<Option<StoredArtifact>>;
    /// Every artifact the app has, by SHA-256 (read once per upload instead of once per file).
    async fn app_artifacts(&self, app_id: &str) -> StoreResult<HashMap<String, StoredArtifact>>;
    /// Inserts a bundle (`Conflict` if the version exists) with its files in one transaction.
    /// `written` are artifacts this upload stored: recorded unless one is already recorded for
    /// the content. `reused` are artifacts it found recorded: they must still be.
    async fn insert_bundle_with_files(
        &self,
        bundle: &StoredBundle,
        files: &[(String, String)],
        written: &[StoredArtifact],
        reused: &[StoredArtifact],
        audit: NewAudit,
    ) -> StoreResult<FilesInserted>;
    /// The files of one bundle in zip order (empty when it has no artifacts).
    async fn bundle_files(&self, app_id: &str, version: &str) -> StoreResult<Vec<BundleFile>>;
    /// The files of every bundle of the app that has them, by version, in zip order.
    async fn app_bundle_files(&self, app_id: &str) -> StoreResult<HashMap<String, Vec<BundleFile>>>;
    /// Removes the artifacts (of one app, or of all) that no bundle lists; answers their blob
    /// keys, for the caller to delete after this commits.
    async fn collect_artifacts(&self, app_id: Option<&str>) -> StoreResult<Vec<String>>;
}

/// One file of an encrypted bundle's manifest: encrypted with that bundle's session key, so
/// stored for that upload alone (delta updates of encrypted bundles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFile {
    /// Path below the folder holding `index.html`.
    pub path: String,
    /// The manifest's `file_hash`: the original file's SHA-256 signed with the app's private
    /// key, 512 lowercase hex characters.
    pub file_hash: String,
    /// SHA-256 of the original file, lowercase hex (what `file_hash` opens to).
    pub sha256: String,
    /// Raw or Brotli before encryption (Brotli is served as the path plus `.br`).
    pub encoding: Encoding,
    /// Bytes of the original file.
    pub size: i64,
    /// Encrypted bytes stored and downloaded.
    pub stored_size: i64,
    /// Where the encrypted bytes are in the blob store.
    pub blob_key: String,
}

/// The files of encrypted bundles, each bundle's own (delta updates of encrypted bundles).
///
/// They are tied to one upload (the bundle row's blob key), not to a version: once that bundle
/// is deleted they are served to nobody, and [`EncryptedFileStore::collect_encrypted_files`]
/// removes them (right after a delete, and periodically). A bundle's files are read with the
/// plain ones ([`ArtifactStore::bundle_files`]).
#[async_trait]
pub trait EncryptedFileStore: Send + Sync {
    /// Records the files of the bundle stored under `bundle_blob_key`, in manifest order, in one
    /// transaction. `NotFound` when that bundle does not exist (deleted meanwhile), `Conflict`
    /// when it has files already.
    async fn insert_encrypted_files(
        &self,
        app_id: &str,
        bundle_blob_key: &str,
        files: &[EncryptedFile],
    ) -> StoreResult<()>;
    /// Removes the files (of one app, or of all) whose bundle no longer exists; answers their
    /// blob keys, for the caller to delete after this commits.
    async fn collect_encrypted_files(&self, app_id: Option<&str>) -> StoreResult<Vec<String>>;
}

/// Signing: registered public keys and the "require signed bundles" rule, per app.
///
/// While an app requires signed bundles, every bundle a channel serves is signed with a
/// registered key ("signed" below): the backend checks it inside the transaction of each
/// change that could break it, so two concurrent changes cannot.
#[async_trait]
pub trait SigningStore: Send + Sync {
    /// The app's rule and keys (oldest first). `NotFound` for an unknown app.
    async fn app_signing(&self, app_id: &str) -> StoreResult<AppSigning>;
    /// Registers a public key. `Conflict` if the app has a key with this key id.
    async fn insert_signing_key(&self, app_id: &str, key: &SigningKeyRecord, audit: NewAudit) -> StoreResult<()>;
    /// Removes a key. `NotFound` if the app has none with this id; `InUse` while the app
    /// requires signed bundles and a channel serves a bundle signed with it.
    async fn delete_signing_key(&self, app_id: &str, key_id: &str, audit: NewAudit) -> StoreResult<SigningKeyRecord>;
    /// Sets the rule. Turning it on is `InUse` while a channel serves a bundle that is not signed.
    async fn set_require_signed(&self, app_id: &str, require: bool, audit: NewAudit) -> StoreResult<AppSigning>;
    /// Devices seen since `since_ms` per (native version, reported key id).
    async fn key_id_counts(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<KeyIdCount>>;
}

/// Devices: last known state and channel overrides.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Sets a device's override, unless an existing one may not be replaced by this source
    /// ([`OverrideSource::may_replace`]); answers the override in force afterwards.
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
    /// One device's override.
    async fn get_override(&self, app_id: &str, device_id: &str) -> StoreResult<Option<DeviceOverride>>;
    /// Inserts or refreshes devices in one transaction (a batch from the in-memory buffer).
    async fn upsert_devices(&self, devices: &[DeviceRecord]) -> StoreResult<()>;
    /// Devices matching the filter, most recently seen first.
    async fn search_devices(&self, app_id: &str, filter: &DeviceFilter) -> StoreResult<Vec<DeviceRecord>>;
    /// One device.
    async fn get_device(&self, app_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>>;
    /// Devices seen since `since_ms` per (channel, bundle).
    async fn device_counts(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<DeviceCount>>;
}

/// What the hourly counters call a version that is not a bundle of the app (nor `builtin`):
/// made-up versions are counted together under it. Not a semver version, so never a bundle's.
pub const UNKNOWN_VERSION: &str = "unknown";

/// Stats events and their hourly counters.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Inserts events (and adds them to the counters) in one transaction. Counters are kept
    /// per version only for the app's bundles and `builtin`; other versions are counted under
    /// [`UNKNOWN_VERSION`] (the events themselves keep what the device sent).
    async fn insert_events(&self, events: &[DeviceEvent]) -> StoreResult<()>;
    /// Deletes up to `limit` of the oldest events received before `before_ms` (the retention
    /// job; counters are kept). Answers how many were deleted: fewer than `limit` when done.
    async fn delete_events_before(&self, before_ms: i64, limit: u32) -> StoreResult<u64>;
    /// A device's events, newest first.
    async fn device_events(&self, app_id: &str, device_id: &str, limit: u32) -> StoreResult<Vec<DeviceEvent>>;
    /// How many events an app has.
    async fn count_events(&self, app_id: &str) -> StoreResult<i64>;
    /// Events per (bundle version, action).
    async fn action_counts(&self, app_id: &str) -> StoreResult<Vec<ActionCount>>;
    /// Events per (time bucket, action) since `since_ms`, optionally for one bundle, by
    /// receipt time. Buckets are whole hours (`bucket_ms` is rounded up to one).
    async fn event_buckets(
        &self,
        app_id: &str,
        bucket_ms: i64,
        since_ms: i64,
        version: Option<&str>,
    ) -> StoreResult<Vec<BucketCount>>;
}

/// The audit log (entries are written by the changes they describe).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Audit entries, newest first, optionally for one app.
    async fn list_audit(&self, app_id: Option<&str>, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// Leases on periodic work, so one replica at a time does it (see `crate::jobs`).
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes or renews lease `name` for `holder` until `now_ms + ttl_ms`. True if `holder`
    /// holds it now; false if another holder's lease has not expired.
    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<bool>;
    /// Gives up a lease `holder` holds (at shutdown), so another replica need not wait for it
    /// to expire.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
}

/// The database: every concern, and a liveness check.
#[async_trait]
pub trait Database:
    TokenStore
    + AppStore
    + ChannelStore
    + BundleStore
    + DeviceStore
    + EventStore
    + AuditStore
    + LeaseStore
    + SigningStore
    + ArtifactStore
    + EncryptedFileStore
    + WebhookStore
    + RolloutStore
    + DecisionInputStore
    + 'static
{
    /// Reachable and answering (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
}

/// A history line's before and after, as stored: one native line's target and rollout in
/// `before` and in `after` (text and JSON text).
pub(crate) struct HistoryColumns<'a> {
    pub target_before: Option<&'a str>,
    pub target_after: Option<&'a str>,
    pub rollout_before: Option<String>,
    pub rollout_after: Option<String>,
}

/// What a save did to the line `line.min_native`, as [`HistoryColumns`].
pub(crate) fn history_columns<'a>(before: &'a Channel, after: &'a Channel, line: &NewHistory) -> HistoryColumns<'a> {
    use capstan_core::api::Target;
    let (was, now) = (before.lane(line.min_native.as_deref()), after.lane(line.min_native.as_deref()));
    HistoryColumns {
        target_before: was.and_then(|l| l.target.as_ref()).map(Target::as_text),
        target_after: now.and_then(|l| l.target.as_ref()).map(Target::as_text),
        rollout_before: rows::rollout_text(was.and_then(|l| l.rollout.as_ref())),
        rollout_after: rows::rollout_text(now.and_then(|l| l.rollout.as_ref())),
    }
}

/// Whether a bundle's native fingerprint is still to be recorded, given the digest recorded
/// (`None`: no such bundle): `NotFound` without the bundle, `false` for the same digest again
/// (idempotent, so a client can retry), `Conflict` for another one (it would rewrite history).
pub(crate) fn needs_fingerprint(recorded: Option<Option<String>>, version: &str, digest: &str) -> StoreResult<bool> {
    match recorded {
        None => Err(StoreError::NotFound),
        Some(Some(existing)) if existing == digest => Ok(false),
        Some(Some(_)) => Err(StoreError::Conflict(format!("bundle {version} already has another native fingerprint"))),
        Some(None) => Ok(true),
    }
}

/// `InUse` if one of `channels` serves `version`.
pub(crate) fn refuse_if_served(channels: Vec<Channel>, version: &str) -> StoreResult<()> {
    match channels.iter().find(|channel| channel.serves(version)) {
        Some(channel) => Err(StoreError::InUse(format!("channel `{}` serves {version}", channel.name))),
        None => Ok(()),
    }
}

/// The conflict of a channel save whose revision check failed.
pub(crate) fn changed_meanwhile(before: &Channel) -> StoreError {
    StoreError::Conflict(format!("channel `{}` changed meanwhile; reload and retry", before.name))
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

/// The storage a server runs on.
#[derive(Clone)]
pub struct Storage {
    /// The database.
    pub db: Arc<dyn Database>,
    /// The blob store.
    pub blobs: Arc<dyn BlobStore>,
}

/// Why storage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be prepared.
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A database or storage URL names a backend this server does not have, or settings
    /// contradict each other.
    #[error("{setting}: {message}")]
    Unsupported {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
    /// PostgreSQL could not be reached, logged into or migrated.
    #[error(transparent)]
    Postgres(#[from] postgres::PostgresOpenError),
    /// The object store is misconfigured.
    #[error(transparent)]
    S3(#[from] s3::S3OpenError),
    /// The blob store does not answer.
    #[error("cannot reach the blob store {store}: {source}")]
    Blobs {
        /// Which store.
        store: String,
        /// Why.
        source: BlobError,
    },
    /// The database is being filled by `capstan-server migrate`, or is in another state that
    /// a server must not start on.
    #[error("{0}")]
    NotReady(String),
}

/// Opens the database the configuration names: the embedded SQLite file under the data
/// directory, or PostgreSQL when `database_url` is a `postgres://` URL. A server must not start
/// on a PostgreSQL database while `capstan-server migrate` is filling it (see `crate::migrate`).
pub async fn open_database(config: &Config) -> Result<Arc<dyn Database>, OpenError> {
    match config.database_url.as_deref() {
        None => {
            let dir = &config.data_dir;
            std::fs::create_dir_all(dir).map_err(|source| OpenError::DataDir { path: dir.clone(), source })?;
            Ok(Arc::new(sqlite::SqliteDatabase::open(&dir.join("capstan.db"), config.durable_writes).await?))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let db = postgres::PostgresDatabase::open(url, config.database_max_connections).await?;
            crate::migrate::claim_for_serving(&db).await?;
            Ok(Arc::new(db))
        }
        Some(url) => Err(OpenError::Unsupported {
            setting: "database_url",
            message: format!(
                "`{}` is not a database this server can use (postgres://…, or unset for the embedded SQLite file)",
                crate::config::redact_url(url)
            ),
        }),
    }
}

/// Opens the blob store the configuration names (a directory under the data directory, or
/// the S3 bucket of `storage_url`) and checks that it answers.
pub async fn open_blobs(config: &Config) -> Result<Arc<dyn BlobStore>, OpenError> {
    let store: Arc<dyn BlobStore> = match config.storage_url.as_deref() {
        None => {
            let dir = config.data_dir.join("blobs");
            Arc::new(
                disk::DiskBlobStore::open(&dir).map_err(|source| OpenError::DataDir { path: dir.clone(), source })?,
            )
        }
        Some(url) if url.starts_with("s3://") => Arc::new(s3::S3BlobStore::open(url, &config.s3)?),
        Some(url) => {
            return Err(OpenError::Unsupported {
                setting: "storage_url",
                message: format!(
                    "`{url}` is not a store this server can use (s3://bucket/prefix, or unset for a directory)"
                ),
            });
        }
    };
    let name = config.storage_url.clone().unwrap_or_else(|| config.data_dir.join("blobs").display().to_string());
    store.ping().await.map_err(|source| OpenError::Blobs { store: name, source })?;
    Ok(store)
}

/// Opens both, as configured.
pub async fn open(config: &Config) -> Result<Storage, OpenError> {
    Ok(Storage { db: open_database(config).await?, blobs: open_blobs(config).await? })
}
