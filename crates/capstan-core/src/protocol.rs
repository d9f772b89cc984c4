//! The wire format of the `@capgo/capacitor-updater` device plugin (shared/protocol.md).
//!
//! Devices are many plugin releases in the field and their input is untrusted, so reading is
//! lenient (unknown fields ignored, numbers where strings are expected coerced, missing booleans
//! defaulted) and bounded (every stored string is cut to a fixed length). Writing is strict: the
//! answers below serialize to exactly the keys and JSON types the plugin decodes, because iOS
//! decodes a typed struct and a wrong type breaks the device.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest device id kept (plugins send a 36-character UUID).
pub const MAX_DEVICE_ID_LEN: usize = 64;
/// Longest app id kept.
pub const MAX_APP_ID_LEN: usize = 128;
/// Longest version text kept (native versions, bundle versions, plugin versions).
pub const MAX_VERSION_LEN: usize = 64;
/// Longest free text kept (custom id, OS version, install source, action).
pub const MAX_TEXT_LEN: usize = 256;
/// Longest channel name kept.
pub const MAX_CHANNEL_LEN: usize = 64;
/// Most metadata entries kept per stats event.
pub const MAX_METADATA_ENTRIES: usize = 32;
/// Longest metadata value kept.
pub const MAX_METADATA_VALUE_LEN: usize = 512;

/// The device info object every device request carries (protocol.md §1), normalised:
/// device id lowercased, `builtin` bundle name replaced by the native version, lengths bounded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// `android`, `ios` or `electron` (lowercased); anything else is kept as sent.
    pub platform: String,
    /// The install's random id, lowercased.
    pub device_id: String,
    /// Reverse-DNS app id.
    pub app_id: String,
    /// App-set user id; empty means none.
    pub custom_id: String,
    /// Native shell version as sent (not yet coerced to semver).
    pub version_build: String,
    /// Android versionCode / iOS CFBundleVersion.
    pub version_code: String,
    /// OS version.
    pub version_os: String,
    /// Web bundle running now; `builtin` (or nothing) is replaced by `version_build`.
    pub version_name: String,
    /// Whether the device said it runs the store-shipped bundle (`builtin` or no bundle name).
    pub on_builtin: bool,
    /// Plugin release, e.g. `8.51.14`.
    pub plugin_version: String,
    /// Emulator or simulator; false when missing.
    pub is_emulator: bool,
    /// Production build; true when missing.
    pub is_prod: bool,
    /// Store the app came from, when sent.
    pub install_source: String,
    /// Channel the device asks for (`defaultChannel`), when sent and not empty.
    pub default_channel: Option<String>,
    /// First 20 characters of the app's public key body, when the app encrypts bundles.
    pub key_id: Option<String>,
}

/// Which fields a request lacked to be answered at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing required field `{0}`")]
pub struct MissingField(pub &'static str);

impl DeviceInfo {
    /// Reads the info object from a JSON object (a request body) or from a query string turned
    /// into string values: `is_prod=true` works as well as `"is_prod": true`.
    pub fn from_fields(fields: &Map<String, Value>) -> DeviceInfo {
        let version_build = text(fields, "version_build", MAX_VERSION_LEN);
        let raw_name = text(fields, "version_name", MAX_VERSION_LEN);
        let on_builtin = raw_name.is_empty() || raw_name == "builtin";
        let version_name = if on_builtin {
            version_build.clone()
        } else {
            raw_name
        };
        let optional = |key, max| Some(text(fields, key, max)).filter(|s| !s.is_empty());
        DeviceInfo {
            platform: text(fields, "platform", 16).to_ascii_lowercase(),
            device_id: text(fields, "device_id", MAX_DEVICE_ID_LEN).to_lowercase(),
            app_id: text(fields, "app_id", MAX_APP_ID_LEN),
            custom_id: text(fields, "custom_id", MAX_TEXT_LEN),
            version_build,
            version_code: text(fields, "version_code", MAX_VERSION_LEN),
            version_os: text(fields, "version_os", MAX_VERSION_LEN),
            version_name,
            on_builtin,
            plugin_version: text(fields, "plugin_version", MAX_VERSION_LEN),
            is_emulator: flag(fields, "is_emulator").unwrap_or(false),
            is_prod: flag(fields, "is_prod").unwrap_or(true),
            install_source: text(fields, "install_source", MAX_TEXT_LEN),
            default_channel: optional("defaultChannel", MAX_CHANNEL_LEN),
            key_id: optional("key_id", MAX_TEXT_LEN),
        }
    }

    /// The first required field that is missing: without these no answer can be computed.
    pub fn check_required(&self) -> Result<(), MissingField> {
        for (name, value) in [
            ("app_id", &self.app_id),
            ("device_id", &self.device_id),
            ("platform", &self.platform),
            ("version_build", &self.version_build),
        ] {
            if value.trim().is_empty() {
                return Err(MissingField(name));
            }
        }
        Ok(())
    }
}

/// Whether a plugin release keeps its chosen channel on the device and sends it back as
/// `defaultChannel` (6.50+, 7.50+, 8.45.11+). Older ("legacy") releases expect the server to
/// persist the channel a device set. Unreadable versions count as legacy, the safe side.
pub fn is_current_plugin(plugin_version: &str) -> bool {
    let Ok(version) = crate::version::parse_lenient(plugin_version) else {
        return false;
    };
    let v = (version.major, version.minor, version.patch);
    match version.major {
        0..=5 => false,
        6 => v >= (6, 50, 0),
        7 => v >= (7, 50, 0),
        8 => v >= (8, 45, 11),
        _ => true,
    }
}

/// One stats event (protocol.md §3), normalised and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsEvent {
    /// The sender, as in every request.
    pub info: DeviceInfo,
    /// What happened (`set`, `download_fail`, ...); unknown actions are kept as sent.
    pub action: String,
    /// The bundle the event is about; `<version>:<file>` is cut at the first `:`.
    pub version_name: String,
    /// For `set`: the bundle before.
    pub old_version_name: String,
    /// Device clock, epoch milliseconds (current plugins only).
    pub timestamp_ms: Option<i64>,
    /// Extra string values, bounded in count and length.
    pub metadata: BTreeMap<String, String>,
}

/// A stats body that is not an event or a list of events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a JSON object or an array of objects")]
pub struct NotEvents;

impl StatsEvent {
    /// Reads one event object. The event's `version_name` is about the event, not the bundle
    /// running, so it is not replaced by the native version the way the info object's is.
    pub fn from_fields(fields: &Map<String, Value>) -> StatsEvent {
        let info = DeviceInfo::from_fields(fields);
        let raw_name = text(fields, "version_name", MAX_VERSION_LEN + MAX_TEXT_LEN);
        let version_name = cut(raw_name.split(':').next().unwrap_or(""), MAX_VERSION_LEN);
        let metadata = match fields.get("metadata") {
            Some(Value::Object(map)) => map
                .iter()
                .take(MAX_METADATA_ENTRIES)
                .map(|(k, v)| (cut(k, 64), cut(&scalar_text(v), MAX_METADATA_VALUE_LEN)))
                .collect(),
            _ => BTreeMap::new(),
        };
        StatsEvent {
            info,
            action: text(fields, "action", MAX_TEXT_LEN),
            version_name,
            old_version_name: text(fields, "old_version_name", MAX_VERSION_LEN),
            timestamp_ms: fields.get("timestamp").and_then(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }),
            metadata,
        }
    }

    /// Reads a stats body: current plugins send an array, legacy ones a single object.
    pub fn parse_body(body: &Value) -> Result<Vec<StatsEvent>, NotEvents> {
        match body {
            Value::Object(fields) => Ok(vec![StatsEvent::from_fields(fields)]),
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_object()
                        .map(StatsEvent::from_fields)
                        .ok_or(NotEvents)
                })
                .collect(),
            _ => Err(NotEvents),
        }
    }
}

/// How a refusal is meant: the plugin reacts differently to each (protocol.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// Nothing to do.
    UpToDate,
    /// A policy keeps a bundle from this device.
    Blocked,
    /// The operator must fix something.
    Failed,
}

/// A bundle offered to a device. Exactly these keys: no `error`, `kind` or `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateOffer {
    /// Bundle version.
    pub version: String,
    /// Download URL of the zip.
    pub url: String,
    /// What the plugin verifies: SHA-256 hex of the zip, or the encrypted checksum.
    pub checksum: String,
    /// `base64(iv):base64(encrypted AES key)` for encrypted bundles, `""` otherwise.
    pub session_key: String,
    /// Makes the plugin fire its breaking-update event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaking: Option<bool>,
}

/// A refusal: up to date, blocked or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The protocol's error code.
    pub error: &'static str,
    /// Text for logs; `store_update_required` has a meaning to the plugin.
    pub message: String,
    /// Always sent: without it current plugins report a failed download.
    pub kind: RefusalKind,
    /// For blocked answers: the bundle the device would have got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Everything `POST /updates` may answer with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum UpdateAnswer {
    /// Download this bundle.
    Offer(UpdateOffer),
    /// Go back to the store-shipped bundle: `{"version":"builtin"}`.
    Builtin {
        /// Always `builtin`.
        version: &'static str,
    },
    /// No bundle for you, and why.
    Refusal(Refusal),
}

impl UpdateAnswer {
    /// The revert-to-store-build answer.
    pub fn builtin() -> UpdateAnswer {
        UpdateAnswer::Builtin { version: "builtin" }
    }

    /// A refusal with the given code, kind and message.
    pub fn refusal(
        error: &'static str,
        kind: RefusalKind,
        message: impl Into<String>,
    ) -> UpdateAnswer {
        UpdateAnswer::Refusal(Refusal {
            error,
            message: message.into(),
            kind,
            version: None,
        })
    }

    /// A blocked answer naming the bundle the device would have got.
    pub fn blocked(
        error: &'static str,
        message: impl Into<String>,
        version: impl Into<String>,
    ) -> UpdateAnswer {
        UpdateAnswer::Refusal(Refusal {
            error,
            message: message.into(),
            kind: RefusalKind::Blocked,
            version: Some(version.into()),
        })
    }

    /// The device already runs what it should.
    pub fn up_to_date() -> UpdateAnswer {
        UpdateAnswer::refusal(
            "no_new_version_available",
            RefusalKind::UpToDate,
            "No new version available",
        )
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // Nested values are not part of the protocol; keep them readable rather than drop them.
        other => other.to_string(),
    }
}

fn text(fields: &Map<String, Value>, key: &str, max: usize) -> String {
    match fields.get(key) {
        Some(Value::Array(_) | Value::Object(_)) | None => String::new(),
        Some(value) => cut(scalar_text(value).trim(), max),
    }
}

fn flag(fields: &Map<String, Value>, key: &str) -> Option<bool> {
    match fields.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(value: Value) -> DeviceInfo {
        DeviceInfo::from_fields(value.as_object().unwrap())
    }

    #[test]
    fn info_is_normalised_and_lenient() {
        let device = info(json!({
            "platform": "IOS", "device_id": "ABCDEF", "app_id": "com.x", "version_build": 12,
            "version_name": "builtin", "is_prod": "false", "unknown": [1, 2], "defaultChannel": ""
        }));
        assert_eq!(device.platform, "ios");
        assert_eq!(device.device_id, "abcdef");
        assert_eq!(device.version_build, "12");
        assert_eq!(device.version_name, "12");
        assert!(device.on_builtin);
        assert!(!device.is_prod);
        assert!(!device.is_emulator);
        assert_eq!(device.default_channel, None);
        assert_eq!(device.check_required(), Ok(()));
        assert_eq!(
            info(json!({"app_id": "a"})).check_required(),
            Err(MissingField("device_id"))
        );
    }

    #[test]
    fn strings_are_bounded_on_char_boundaries() {
        let device = info(json!({ "custom_id": "é".repeat(1000), "device_id": "x".repeat(1000) }));
        assert!(device.custom_id.len() <= MAX_TEXT_LEN);
        assert_eq!(device.device_id.len(), MAX_DEVICE_ID_LEN);
        assert!(device.custom_id.chars().all(|c| c == 'é'));
    }

    #[test]
    fn current_plugins_are_recognised() {
        for current in ["6.50.0", "7.50.1", "8.45.11", "8.51.14", "9.0.0"] {
            assert!(is_current_plugin(current), "{current}");
        }
        for legacy in ["6.27.0", "7.36.0", "8.45.10", "5.9.0", "", "garbage"] {
            assert!(!is_current_plugin(legacy), "{legacy}");
        }
    }

    #[test]
    fn stats_bodies_accept_objects_and_arrays_only() {
        let one = json!({"action": "download_fail", "version_name": "1.2.3:assets/a.js", "device_id": "D"});
        let events = StatsEvent::parse_body(&one).unwrap();
        assert_eq!(events[0].version_name, "1.2.3");
        assert_eq!(events[0].info.device_id, "d");
        assert_eq!(
            StatsEvent::parse_body(&json!([one.clone(), one]))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(StatsEvent::parse_body(&json!([1])), Err(NotEvents));
        assert_eq!(StatsEvent::parse_body(&json!("x")), Err(NotEvents));
    }

    #[test]
    fn answers_serialize_to_exact_shapes() {
        let offer = UpdateAnswer::Offer(UpdateOffer {
            version: "1.0.0".into(),
            url: "u".into(),
            checksum: "c".into(),
            session_key: String::new(),
            breaking: None,
        });
        assert_eq!(
            serde_json::to_value(&offer).unwrap(),
            json!({"version": "1.0.0", "url": "u", "checksum": "c", "session_key": ""})
        );
        assert_eq!(
            serde_json::to_value(UpdateAnswer::builtin()).unwrap(),
            json!({"version": "builtin"})
        );
        assert_eq!(
            serde_json::to_value(UpdateAnswer::up_to_date()).unwrap(),
            json!({"error": "no_new_version_available", "message": "No new version available", "kind": "up_to_date"})
        );
    }
}
