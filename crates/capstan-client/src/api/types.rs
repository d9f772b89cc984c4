//! The management API's JSON shapes, as the client reads and writes them.
//!
//! These mirror the server's types (`capstan-server`'s `store` and `api` modules) instead of
//! importing them, because a client must never depend on the server crate. Reading is
//! lenient (unknown fields ignored, optional fields defaulted) so a newer server does not break
//! an older CLI. `drift_tests` compares these types with the schemas a real server publishes;
//! the end-to-end tests against the real server catch drift in meaning.

use std::collections::BTreeMap;

use capstan_core::version::Strategy;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also sets and clears device channel overrides.
    Qa,
    /// Also uploads, publishes, rolls out, promotes and rolls back.
    Publisher,
    /// Also manages apps and tokens.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Qa => "qa",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }
}

/// `GET /api/v1/me`: who the token is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Me {
    /// Token id.
    pub token_id: i64,
    /// Token name.
    pub name: String,
    /// Token role.
    pub role: Role,
}

/// An app registered on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct App {
    /// Reverse-DNS id, as devices send it.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Channel devices get when they ask for none.
    pub default_channel: String,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
}

/// `POST /api/v1/apps` body.
#[derive(Debug, Clone, Serialize)]
pub struct CreateApp {
    /// Reverse-DNS id.
    pub id: String,
    /// Display name (the server defaults it to the id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A percentage rollout of a bundle on top of a channel's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Rollout {
    /// The bundle being rolled out.
    pub version: String,
    /// Share of devices in basis points (0–10 000).
    pub share_bp: u32,
    /// When it started, epoch ms.
    #[serde(default)]
    pub started_at_ms: i64,
}

impl Rollout {
    /// The share as a percentage.
    pub fn percent(&self) -> f64 {
        f64::from(self.share_bp) / 100.0
    }
}

/// A channel's policy switches (protocol.md §2, step 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ChannelSettings {
    /// Devices without an opinion may get this channel by default.
    pub public: bool,
    /// Devices may choose this channel themselves.
    pub allow_self_set: bool,
    /// iOS devices allowed.
    pub ios: bool,
    /// Android devices allowed.
    pub android: bool,
    /// Electron devices allowed.
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
    #[cfg_attr(test, schemars(with = "String"))]
    pub strategy: Strategy,
    /// Bundles older than the native version are refused.
    pub block_under_native: bool,
}

/// A channel: policy plus what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Channel {
    /// Numeric id.
    pub id: i64,
    /// Owning app.
    pub app_id: String,
    /// Name.
    pub name: String,
    /// Policy.
    #[serde(flatten)]
    pub settings: ChannelSettings,
    /// What it serves: a bundle version, `builtin` (the store build), or nothing yet.
    pub target: Option<String>,
    /// A rollout in progress.
    pub rollout: Option<Rollout>,
    /// Bumped by every change.
    #[serde(default)]
    pub revision: i64,
    /// Creation time, epoch ms.
    #[serde(default)]
    pub created_at_ms: i64,
    /// Last change, epoch ms.
    #[serde(default)]
    pub updated_at_ms: i64,
}

/// Target text of a channel that sends devices back to the store build.
pub const BUILTIN: &str = "builtin";

impl Channel {
    /// The bundle version the channel serves to everyone, if it serves a bundle.
    pub fn target_bundle(&self) -> Option<&str> {
        self.target.as_deref().filter(|t| *t != BUILTIN)
    }

    /// The newest bundle any device of this channel may get now (rollout or target).
    pub fn newest_bundle(&self) -> Option<semver::Version> {
        let rollout = self.rollout.as_ref().map(|r| r.version.as_str());
        [self.target_bundle(), rollout].into_iter().flatten().filter_map(|v| semver::Version::parse(v).ok()).max()
    }
}

/// Channel settings to change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SettingsPatch {
    /// See [`ChannelSettings::public`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// See [`ChannelSettings::allow_self_set`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_self_set: Option<bool>,
    /// See [`ChannelSettings::ios`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ios: Option<bool>,
    /// See [`ChannelSettings::android`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android: Option<bool>,
    /// See [`ChannelSettings::electron`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub electron: Option<bool>,
    /// See [`ChannelSettings::allow_prod`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_prod: Option<bool>,
    /// See [`ChannelSettings::allow_dev`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_dev: Option<bool>,
    /// See [`ChannelSettings::allow_device`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_device: Option<bool>,
    /// See [`ChannelSettings::allow_emulator`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_emulator: Option<bool>,
    /// See [`ChannelSettings::strategy`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// See [`ChannelSettings::block_under_native`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_under_native: Option<bool>,
}

impl SettingsPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == SettingsPatch::default()
    }
}

/// `POST .../channels` body.
#[derive(Debug, Clone, Serialize)]
pub struct CreateChannel {
    /// Name.
    pub name: String,
    /// Settings beyond the defaults.
    #[serde(flatten)]
    pub settings: SettingsPatch,
}

/// A stored bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Bundle {
    /// Owning app.
    pub app_id: String,
    /// Semver version.
    pub version: String,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// What devices verify (the SHA-256 for plain bundles).
    pub checksum: String,
    /// Size in bytes.
    pub size: i64,
    /// Files in the zip.
    #[serde(default)]
    pub file_count: i64,
    /// Oldest native version that can run it.
    pub min_native_version: Option<String>,
    /// Release notes.
    #[serde(default)]
    pub notes: String,
    /// Inspection warnings.
    #[serde(default)]
    #[ts(type = "unknown")]
    pub warnings: serde_json::Value,
    /// Who uploaded it.
    #[serde(default)]
    pub created_by: String,
    /// When, epoch ms.
    #[serde(default)]
    pub created_at_ms: i64,
}

/// One change of a channel's target or rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct HistoryEntry {
    /// Sequence id.
    pub id: i64,
    /// Channel name.
    #[serde(default)]
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

/// One management change in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct AuditEntry {
    /// Sequence id.
    pub id: i64,
    /// Who.
    pub actor: String,
    /// App concerned.
    pub app_id: Option<String>,
    /// What, e.g. `channel.publish`.
    pub action: String,
    /// To what, e.g. the channel name.
    pub subject: String,
    /// State before.
    #[serde(default)]
    #[ts(type = "unknown")]
    pub before: Option<serde_json::Value>,
    /// State after.
    #[serde(default)]
    #[ts(type = "unknown")]
    pub after: Option<serde_json::Value>,
    /// When, epoch ms.
    pub at_ms: i64,
}

/// What the server last heard from a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct DeviceRecord {
    /// App.
    pub app_id: String,
    /// Device id (lowercase).
    pub device_id: String,
    /// App-set user id.
    #[serde(default)]
    pub custom_id: String,
    /// Platform.
    pub platform: String,
    /// Native version.
    pub native_version: String,
    /// Bundle running.
    pub bundle_version: String,
    /// Plugin release.
    #[serde(default)]
    pub plugin_version: String,
    /// OS version.
    #[serde(default)]
    pub os_version: String,
    /// Production build.
    #[serde(default)]
    pub is_prod: bool,
    /// Emulator.
    #[serde(default)]
    pub is_emulator: bool,
    /// Channel resolved at the last update check.
    pub channel: Option<String>,
    /// First contact, epoch ms.
    #[serde(default)]
    pub first_seen_ms: i64,
    /// Last contact, epoch ms.
    #[serde(default)]
    pub last_seen_ms: i64,
}

/// A device's channel override as the device page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct OverrideInfo {
    /// The channel it is pinned to.
    pub channel: Option<String>,
    /// `operator` (QA) or `device` (a legacy plugin's setChannel).
    pub source: String,
    /// When, epoch ms.
    pub set_at_ms: i64,
}

/// A stats event of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct DeviceEvent {
    /// Action as the plugin sent it (`set`, `download_fail`, …).
    pub action: String,
    /// Bundle the event is about.
    #[serde(default)]
    pub version_name: String,
    /// Previous bundle (for `set`).
    #[serde(default)]
    pub old_version_name: String,
    /// Native version at the time.
    #[serde(default)]
    pub native_version: String,
    /// Metadata map as JSON text.
    #[serde(default)]
    pub metadata: Option<String>,
    /// Device clock, epoch ms.
    #[serde(default)]
    pub device_ts_ms: Option<i64>,
    /// Server clock at receipt, epoch ms.
    pub received_ms: i64,
}

/// `GET .../devices/{id}`: a device, its override and its timeline (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct DeviceDetail {
    /// What the server last heard from it (none if it only has an override).
    pub device: Option<DeviceRecord>,
    /// Its channel override.
    #[serde(rename = "override")]
    pub channel_override: Option<OverrideInfo>,
    /// Its events.
    #[serde(default)]
    pub events: Vec<DeviceEvent>,
}

/// `PUT .../override` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct DeviceOverride {
    /// App.
    pub app_id: String,
    /// Device.
    pub device_id: String,
    /// Channel id.
    pub channel_id: i64,
    /// `operator` or `device`.
    pub source: String,
    /// When, epoch ms.
    pub set_at_ms: i64,
}

/// Device search filters; `None` does not filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
pub struct DeviceFilter {
    /// Device id, custom id, or a prefix of the device id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Channel name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Native version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_version: Option<String>,
    /// Bundle version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// Most rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Health of one bundle version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct BundleHealth {
    /// Bundle version.
    pub version: String,
    /// `set` events.
    pub installs: i64,
    /// Failure events by action.
    #[serde(default)]
    pub failures: BTreeMap<String, i64>,
    /// Sum of failures.
    pub failures_total: i64,
    /// `update_fail` + `reset`.
    pub rollbacks: i64,
    /// Devices running it seen recently.
    pub active_devices: i64,
}

/// Adoption on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ChannelAdoption {
    /// Channel name.
    pub channel: String,
    /// What it serves.
    pub target: Option<String>,
    /// Rollout in progress.
    pub rollout: Option<Rollout>,
    /// Devices seen recently on this channel.
    pub active_devices: i64,
    /// Of those, devices on the target.
    pub on_target: i64,
    /// `on_target / active_devices` (0–1).
    pub adoption: f64,
    /// Devices per bundle version.
    #[serde(default)]
    pub by_bundle: BTreeMap<String, i64>,
}

/// An API token as the server lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TokenRecord {
    /// Id used to revoke it.
    pub id: i64,
    /// Who or what uses it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Revocation time, epoch ms; `None` while it works.
    pub revoked_at_ms: Option<i64>,
}

/// `POST /api/v1/tokens` body.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct CreateToken {
    /// Who or what will use it.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// `POST /api/v1/tokens` answer: the record, and the secret shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct CreatedToken {
    /// The stored token.
    pub record: TokenRecord,
    /// The secret: the server keeps only its hash.
    pub token: String,
}

/// Events of one action in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct BucketCount {
    /// Bucket start, epoch ms.
    pub start_ms: i64,
    /// Action as devices sent it (`set`, `download_fail`, …).
    pub action: String,
    /// Events.
    pub count: i64,
}

/// `GET .../stats/timeline`: events per time bucket and action, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Timeline {
    /// Bucket width, ms.
    pub bucket_ms: i64,
    /// Non-empty buckets.
    pub buckets: Vec<BucketCount>,
}

/// What the server says about a failed request.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    /// Short code.
    pub error: String,
    /// Sentence.
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod drift_tests;
