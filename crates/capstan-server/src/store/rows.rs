//! Typed rows: what each table's columns decode to, and their conversion into the API types.
//!
//! `sqlx::FromRow` decodes by column name with `try_get`, so a missing or mistyped column is an
//! error, never a panic; the conversions check what SQL types cannot (JSON columns, enums
//! stored as text). The row types are generic over the database, so every SQL backend shares
//! them.

use capstan_core::api::{
    App, AuditEntry, Bundle, Channel, DeviceEvent, DeviceOverride, DeviceRecord, HistoryAction, HistoryEntry,
    OverrideSource, Role, Rollout, SigningKeyRecord, Target, TokenRecord,
};

use capstan_core::bundle::artifacts::Encoding;

use super::{BundleFile, StoreError, StoreResult, StoredArtifact, StoredBundle, StoredToken};

/// A stored value that does not read back (a hand-edited database, a downgrade).
#[derive(Debug, thiserror::Error)]
#[error("unreadable {column} in table {table}: {reason}")]
pub struct BadRow {
    table: &'static str,
    column: &'static str,
    reason: String,
}

pub(crate) fn bad(table: &'static str, column: &'static str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::backend(BadRow { table, column, reason: reason.to_string() })
}

fn json<T: serde::de::DeserializeOwned>(table: &'static str, column: &'static str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| bad(table, column, e))
}

fn json_opt<T: serde::de::DeserializeOwned>(
    table: &'static str,
    column: &'static str,
    text: Option<String>,
) -> StoreResult<Option<T>> {
    text.map(|t| json(table, column, &t)).transpose()
}

/// JSON text of a value for a text column.
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("API types serialize to JSON")
}

/// JSON text of a rollout column.
pub fn rollout_text(rollout: Option<&Rollout>) -> Option<String> {
    rollout.map(to_json)
}

/// A `tokens` row.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenRow {
    id: i64,
    name: String,
    role: String,
    hash: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl TryFrom<TokenRow> for StoredToken {
    type Error = StoreError;
    fn try_from(row: TokenRow) -> StoreResult<StoredToken> {
        let role: Role = row.role.parse().map_err(|e| bad("tokens", "role", e))?;
        let record = TokenRecord {
            id: row.id,
            name: row.name,
            role,
            created_at_ms: row.created_at_ms,
            revoked_at_ms: row.revoked_at_ms,
        };
        Ok(StoredToken { record, hash: row.hash })
    }
}

/// An `apps` row.
#[derive(Debug, sqlx::FromRow)]
pub struct AppRow {
    id: String,
    name: String,
    default_channel: String,
    created_at_ms: i64,
}

impl From<AppRow> for App {
    fn from(row: AppRow) -> App {
        App { id: row.id, name: row.name, default_channel: row.default_channel, created_at_ms: row.created_at_ms }
    }
}

/// A `channels` row: settings and lanes are JSON text.
#[derive(Debug, sqlx::FromRow)]
pub struct ChannelRow {
    id: i64,
    app_id: String,
    name: String,
    settings: String,
    lanes: String,
    revision: i64,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl TryFrom<ChannelRow> for Channel {
    type Error = StoreError;
    fn try_from(row: ChannelRow) -> StoreResult<Channel> {
        let mut channel = Channel {
            id: row.id,
            app_id: row.app_id,
            name: row.name,
            settings: json("channels", "settings", &row.settings)?,
            lanes: json("channels", "lanes", &row.lanes)?,
            revision: row.revision,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        };
        // Lines are stored as written; readers get them newest first.
        channel.tidy_lanes();
        Ok(channel)
    }
}

/// A `channel_history` row joined with its channel's name.
#[derive(Debug, sqlx::FromRow)]
pub struct HistoryRow {
    id: i64,
    channel: String,
    min_native: Option<String>,
    action: String,
    target_before: Option<String>,
    target_after: Option<String>,
    rollout_before: Option<String>,
    rollout_after: Option<String>,
    actor: String,
    at_ms: i64,
    reason: Option<String>,
}

impl TryFrom<HistoryRow> for HistoryEntry {
    type Error = StoreError;
    fn try_from(row: HistoryRow) -> StoreResult<HistoryEntry> {
        let action: HistoryAction = serde_json::from_value(serde_json::Value::String(row.action))
            .map_err(|e| bad("channel_history", "action", e))?;
        Ok(HistoryEntry {
            id: row.id,
            channel: row.channel,
            min_native: row.min_native,
            action,
            target_before: row.target_before.as_deref().map(Target::from_text),
            target_after: row.target_after.as_deref().map(Target::from_text),
            rollout_before: json_opt("channel_history", "rollout_before", row.rollout_before)?,
            rollout_after: json_opt("channel_history", "rollout_after", row.rollout_after)?,
            actor: row.actor,
            at_ms: row.at_ms,
            reason: row.reason,
        })
    }
}

/// A `bundles` row: warnings are JSON text.
#[derive(Debug, sqlx::FromRow)]
pub struct BundleRow {
    app_id: String,
    version: String,
    sha256: String,
    checksum: String,
    size: i64,
    file_count: i64,
    min_native_version: Option<String>,
    notes: String,
    session_key: String,
    key_id: Option<String>,
    blob_key: String,
    warnings: String,
    native_digest: Option<String>,
    created_by: String,
    created_at_ms: i64,
}

impl TryFrom<BundleRow> for StoredBundle {
    type Error = StoreError;
    fn try_from(row: BundleRow) -> StoreResult<StoredBundle> {
        let bundle = Bundle {
            app_id: row.app_id,
            version: row.version,
            sha256: row.sha256,
            checksum: row.checksum,
            size: row.size,
            file_count: row.file_count,
            min_native_version: row.min_native_version,
            notes: row.notes,
            session_key: row.session_key,
            key_id: row.key_id,
            warnings: json("bundles", "warnings", &row.warnings)?,
            native_digest: row.native_digest,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
            delta: None,
        };
        Ok(StoredBundle { bundle, blob_key: row.blob_key })
    }
}

/// A `signing_keys` row.
#[derive(Debug, sqlx::FromRow)]
pub struct SigningKeyRow {
    key_id: String,
    public_key: String,
    created_by: String,
    created_at_ms: i64,
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(row: SigningKeyRow) -> SigningKeyRecord {
        SigningKeyRecord {
            key_id: row.key_id,
            public_key: row.public_key,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
        }
    }
}

/// An `overrides` row.
#[derive(Debug, sqlx::FromRow)]
pub struct OverrideRow {
    app_id: String,
    device_id: String,
    channel_id: i64,
    source: String,
    set_at_ms: i64,
}

impl TryFrom<OverrideRow> for DeviceOverride {
    type Error = StoreError;
    fn try_from(row: OverrideRow) -> StoreResult<DeviceOverride> {
        let source = OverrideSource::from_text(&row.source).ok_or_else(|| bad("overrides", "source", &row.source))?;
        Ok(DeviceOverride {
            app_id: row.app_id,
            device_id: row.device_id,
            channel_id: row.channel_id,
            source,
            set_at_ms: row.set_at_ms,
        })
    }
}

/// A `devices` row.
#[derive(Debug, sqlx::FromRow)]
pub struct DeviceRow {
    app_id: String,
    device_id: String,
    custom_id: String,
    platform: String,
    native_version: String,
    bundle_version: String,
    plugin_version: String,
    os_version: String,
    is_prod: bool,
    is_emulator: bool,
    channel: Option<String>,
    key_id: Option<String>,
    first_seen_ms: i64,
    last_seen_ms: i64,
    requested_channel: Option<String>,
    on_builtin: bool,
}

/// The first `limit` of two device search answers (each newest first), newest first, a device
/// both hold once: the order of the search statements (`sql::DeviceSearchSql`).
pub fn newest_devices(by_id: Vec<DeviceRow>, by_custom_id: Vec<DeviceRow>, limit: usize) -> Vec<DeviceRow> {
    let mut found = by_id;
    for row in by_custom_id {
        if !found.iter().any(|f| f.device_id == row.device_id) {
            found.push(row);
        }
    }
    found.sort_by(|a, b| (b.last_seen_ms, &b.device_id).cmp(&(a.last_seen_ms, &a.device_id)));
    found.truncate(limit);
    found
}

impl From<DeviceRow> for DeviceRecord {
    fn from(row: DeviceRow) -> DeviceRecord {
        DeviceRecord {
            app_id: row.app_id,
            device_id: row.device_id,
            custom_id: row.custom_id,
            platform: row.platform,
            native_version: row.native_version,
            bundle_version: row.bundle_version,
            plugin_version: row.plugin_version,
            os_version: row.os_version,
            is_prod: row.is_prod,
            is_emulator: row.is_emulator,
            channel: row.channel,
            key_id: row.key_id,
            requested_channel: row.requested_channel,
            on_builtin: row.on_builtin,
            first_seen_ms: row.first_seen_ms,
            last_seen_ms: row.last_seen_ms,
        }
    }
}

/// An `events` row.
#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    app_id: String,
    device_id: String,
    action: String,
    version_name: String,
    old_version_name: String,
    platform: String,
    native_version: String,
    plugin_version: String,
    metadata: Option<String>,
    device_ts_ms: Option<i64>,
    received_ms: i64,
}

impl From<EventRow> for DeviceEvent {
    fn from(row: EventRow) -> DeviceEvent {
        DeviceEvent {
            app_id: row.app_id,
            device_id: row.device_id,
            action: row.action,
            version_name: row.version_name,
            old_version_name: row.old_version_name,
            platform: row.platform,
            native_version: row.native_version,
            plugin_version: row.plugin_version,
            metadata: row.metadata,
            device_ts_ms: row.device_ts_ms,
            received_ms: row.received_ms,
        }
    }
}

/// An `audit` row: before and after are JSON text.
#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    id: i64,
    actor: String,
    app_id: Option<String>,
    action: String,
    subject: String,
    before: Option<String>,
    after: Option<String>,
    at_ms: i64,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(row: AuditRow) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            id: row.id,
            actor: row.actor,
            app_id: row.app_id,
            action: row.action,
            subject: row.subject,
            before: json_opt("audit", "before", row.before)?,
            after: json_opt("audit", "after", row.after)?,
            at_ms: row.at_ms,
        })
    }
}

/// Converts every row, failing on the first unreadable one.
pub fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> StoreResult<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}

/// An `artifacts` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ArtifactRow {
    sha256: String,
    encoding: String,
    size: i64,
    stored_size: i64,
    blob_key: String,
}

impl TryFrom<ArtifactRow> for StoredArtifact {
    type Error = StoreError;
    fn try_from(row: ArtifactRow) -> StoreResult<StoredArtifact> {
        let encoding = match row.encoding.as_str() {
            "raw" => Encoding::Raw,
            "brotli" => Encoding::Brotli,
            other => {
                return Err(bad("artifacts", "encoding", format!("unknown encoding `{other}`")));
            }
        };
        Ok(StoredArtifact {
            sha256: row.sha256,
            encoding,
            size: row.size,
            stored_size: row.stored_size,
            blob_key: row.blob_key,
        })
    }
}

/// A `bundle_files` row joined with its artifact.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FileRow {
    pub(crate) version: String,
    pub(crate) path: String,
    #[sqlx(flatten)]
    pub(crate) artifact: ArtifactRow,
}

/// How an artifact's encoding is stored.
pub(crate) fn encoding_text(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Raw => "raw",
        Encoding::Brotli => "brotli",
    }
}

impl TryFrom<FileRow> for BundleFile {
    type Error = StoreError;
    fn try_from(row: FileRow) -> StoreResult<BundleFile> {
        Ok(BundleFile { path: row.path, artifact: row.artifact.try_into()? })
    }
}
