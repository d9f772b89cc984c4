//! Devices as support and QA see them: last known state, events, channel overrides.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What the server last heard from a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Lenient: an older or newer server may omit a field.
#[serde(default)]
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
    /// Key id of the app's `publicKey` as the plugin reported it (20 characters from 8.40.8,
    /// 7.50.1 and 6.50.1; 4 from 8.2.0–8.40.7); `null` when it sent none.
    pub key_id: Option<String>,
    /// The channel the device asked for (`defaultChannel` of its app's config); `null`: none.
    pub requested_channel: Option<String>,
    /// Whether it runs the store-shipped bundle (it said `builtin` or sent no bundle name).
    pub on_builtin: bool,
    /// First contact, epoch ms.
    pub first_seen_ms: i64,
    /// Last contact, epoch ms.
    pub last_seen_ms: i64,
}

query_params! {
    /// Device search filters (`GET .../devices` query). Empty fields do not filter.
    DeviceFilter {
        /// Device id or custom id (exact, or a prefix of the device id).
        q: String,
        /// Channel name.
        channel: String,
        /// Native version.
        native_version: String,
        /// Bundle version.
        bundle: String,
        /// Most rows (default 100, at most 1000).
        limit: u32,
    }
}

/// A stats event a device sent, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Lenient: an older or newer server may omit a field.
#[serde(default)]
pub struct DeviceEvent {
    /// App.
    pub app_id: String,
    /// Device (lowercase).
    pub device_id: String,
    /// Action as the plugin sent it (`set`, `download_fail`, …).
    pub action: String,
    /// Bundle the event is about.
    pub version_name: String,
    /// Previous bundle (for `set`).
    pub old_version_name: String,
    /// Platform.
    pub platform: String,
    /// Native version at the time.
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

/// Who set a per-device channel override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

    /// Reads the stored text.
    pub fn from_text(text: &str) -> Option<OverrideSource> {
        [OverrideSource::Operator, OverrideSource::Device].into_iter().find(|s| s.as_str() == text)
    }

    /// Whether an override from this source may replace one from `existing`: QA pinned a device
    /// on purpose, so a legacy plugin's `setChannel` must not undo that.
    pub fn may_replace(self, existing: OverrideSource) -> bool {
        !(existing == OverrideSource::Operator && self == OverrideSource::Device)
    }
}

impl std::fmt::Display for OverrideSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A per-device channel override (`PUT .../override` answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// A device's override as operators read it: the channel by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OverrideInfo {
    /// Channel name (`null` if the channel no longer exists).
    pub channel: Option<String>,
    /// When, epoch ms.
    pub set_at_ms: i64,
    /// Who set it.
    pub source: OverrideSource,
}

/// `GET .../devices/{device}` answer: a device, its override and its timeline (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceDetail {
    /// What the server last heard from it (`null` if only events or an override exist).
    pub device: Option<DeviceRecord>,
    /// Its latest events, newest first (at most 200).
    #[serde(default)]
    pub events: Vec<DeviceEvent>,
    /// Its channel override.
    #[serde(rename = "override")]
    pub channel_override: Option<OverrideInfo>,
}

/// `PUT .../override` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetOverride {
    /// Channel name.
    pub channel: String,
}

/// `DELETE .../override` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Removed {
    /// Whether there was an override to remove.
    pub removed: bool,
}
