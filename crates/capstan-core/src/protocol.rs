//! The wire format of the `@capgo/capacitor-updater` device plugin (shared/protocol.md).
//!
//! Devices are many plugin releases in the field and their input is untrusted, so reading is
//! lenient (unknown fields ignored, numbers where strings are expected coerced, missing booleans
//! defaulted) and bounded (every stored string is cut to a fixed length). Writing is strict: the
//! answers below serialize to exactly the keys and JSON types the plugin decodes, because iOS
//! decodes a typed struct and a wrong type breaks the device.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
        DeviceInfo::read(fields)
    }

    /// Reads the info object straight from a JSON body without building a JSON tree: the
    /// `/updates` hot path. Same leniency as [`DeviceInfo::from_fields`].
    pub fn from_json_slice(body: &[u8]) -> Result<DeviceInfo, NotAnObject> {
        let object: WireObject<'_> = serde_json::from_slice(body).map_err(|_| NotAnObject)?;
        Ok(DeviceInfo::read(&object))
    }

    fn read(fields: &impl Fields) -> DeviceInfo {
        let version_build = text(fields, "version_build", MAX_VERSION_LEN);
        let raw_name = text(fields, "version_name", MAX_VERSION_LEN);
        let on_builtin = raw_name.is_empty() || raw_name == "builtin";
        let version_name = if on_builtin { version_build.clone() } else { raw_name };
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

/// Whether a plugin release builds a bundle from an answer's `manifest`, Brotli-decoding only
/// the `.br` entries (6.25+, 7.0.35+, every 8.x and later; protocol.md §8). Earlier releases
/// either ignore the manifest or Brotli-decode every file, so they get the zip alone.
/// Unreadable versions get the zip, the safe side.
pub fn supports_manifest(plugin_version: &str) -> bool {
    let Ok(version) = crate::version::parse_lenient(plugin_version) else {
        return false;
    };
    let v = (version.major, version.minor, version.patch);
    match version.major {
        0..=5 => false,
        6 => v >= (6, 25, 0),
        7 => v >= (7, 0, 35),
        _ => true,
    }
}

/// One file of a delta update (protocol.md §8): the plugin fetches `download_url` unless it
/// already holds a file hashing to `file_hash`, and Brotli-decodes it when `file_name` ends in
/// `.br`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    /// Path in the bundle, plus `.br` when the body is Brotli-compressed.
    pub file_name: String,
    /// Lowercase hex SHA-256 of the original file.
    pub file_hash: String,
    /// Where to download the (possibly compressed) bytes.
    pub download_url: String,
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
        StatsEvent::read(fields)
    }

    fn read(fields: &impl Fields) -> StatsEvent {
        let info = DeviceInfo::read(fields);
        let raw_name = text(fields, "version_name", MAX_VERSION_LEN + MAX_TEXT_LEN);
        let version_name = cut(raw_name.split(':').next().unwrap_or(""), MAX_VERSION_LEN);
        let metadata = fields.metadata();
        StatsEvent {
            info,
            action: text(fields, "action", MAX_TEXT_LEN),
            version_name,
            old_version_name: text(fields, "old_version_name", MAX_VERSION_LEN),
            timestamp_ms: fields.scalar("timestamp").and_then(|v| match v {
                Scalar::Int(n) => Some(n),
                Scalar::Text(s) => s.trim().parse().ok(),
                _ => None,
            }),
            metadata,
        }
    }

    /// Reads a stats body straight from its bytes (array or single object) without building a
    /// JSON tree: the ingestion hot path. Same leniency as [`StatsEvent::parse_body`].
    pub fn parse_json_slice(body: &[u8]) -> Result<Vec<StatsEvent>, NotEvents> {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => {
                let objects: Vec<WireObject<'_>> = serde_json::from_slice(body).map_err(|_| NotEvents)?;
                Ok(objects.iter().map(StatsEvent::read).collect())
            }
            Some(b'{') => {
                let object: WireObject<'_> = serde_json::from_slice(body).map_err(|_| NotEvents)?;
                Ok(vec![StatsEvent::read(&object)])
            }
            _ => Err(NotEvents),
        }
    }

    /// Reads a stats body: current plugins send an array, legacy ones a single object.
    pub fn parse_body(body: &Value) -> Result<Vec<StatsEvent>, NotEvents> {
        match body {
            Value::Object(fields) => Ok(vec![StatsEvent::from_fields(fields)]),
            Value::Array(items) => {
                items.iter().map(|item| item.as_object().map(StatsEvent::from_fields).ok_or(NotEvents)).collect()
            }
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
    /// Every file of the bundle, for plugins that build it file by file; `url` stays valid.
    /// (A boxed slice: answers travel by value, and most carry none.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Box<[ManifestEntry]>>,
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
    pub fn refusal(error: &'static str, kind: RefusalKind, message: impl Into<String>) -> UpdateAnswer {
        UpdateAnswer::Refusal(Refusal { error, message: message.into(), kind, version: None })
    }

    /// A blocked answer naming the bundle the device would have got.
    pub fn blocked(error: &'static str, message: impl Into<String>, version: impl Into<String>) -> UpdateAnswer {
        UpdateAnswer::Refusal(Refusal {
            error,
            message: message.into(),
            kind: RefusalKind::Blocked,
            version: Some(version.into()),
        })
    }

    /// The device already runs what it should.
    pub fn up_to_date() -> UpdateAnswer {
        UpdateAnswer::refusal("no_new_version_available", RefusalKind::UpToDate, "No new version available")
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

/// A body that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a JSON object")]
pub struct NotAnObject;

/// A scalar field value as sent: devices have sent numbers and booleans where strings belong
/// (and the reverse), so every reader goes through this and decides what it accepts.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Float(f64),
    /// `null`, an array or an object: not a value any protocol field takes.
    Nothing,
}

impl Scalar<'_> {
    fn to_text(&self) -> String {
        match self {
            Scalar::Text(s) => s.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Nothing => String::new(),
        }
    }
}

/// Where the info object's fields come from: a JSON tree (query strings, `/channel_self`) or
/// the flat reader below (the hot paths).
trait Fields {
    fn scalar(&self, key: &str) -> Option<Scalar<'_>>;
    fn metadata(&self) -> BTreeMap<String, String>;
}

impl Fields for Map<String, Value> {
    fn scalar(&self, key: &str) -> Option<Scalar<'_>> {
        Some(match self.get(key)? {
            Value::String(s) => Scalar::Text(Cow::Borrowed(s)),
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => n.as_i64().map(Scalar::Int).unwrap_or_else(|| Scalar::Float(n.as_f64().unwrap_or(0.0))),
            Value::Null | Value::Array(_) | Value::Object(_) => Scalar::Nothing,
        })
    }

    fn metadata(&self) -> BTreeMap<String, String> {
        match self.get("metadata") {
            Some(Value::Object(map)) => map
                .iter()
                .take(MAX_METADATA_ENTRIES)
                .map(|(k, v)| {
                    // Metadata is a string map; nested values are not part of the protocol.
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Bool(_) | Value::Number(_) => v.to_string(),
                        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
                    };
                    (cut(k, 64), cut(&text, MAX_METADATA_VALUE_LEN))
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }
}

/// One JSON object read flat: scalar fields borrowed from the body where possible, nested
/// values skipped, `metadata` kept as bounded text. Later duplicates win, as in a JSON tree.
#[derive(Debug, Default)]
struct WireObject<'a> {
    fields: Vec<(Cow<'a, str>, Scalar<'a>)>,
    metadata: BTreeMap<String, String>,
}

impl Fields for WireObject<'_> {
    fn scalar(&self, key: &str) -> Option<Scalar<'_>> {
        self.fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn metadata(&self) -> BTreeMap<String, String> {
        self.metadata.clone()
    }
}

/// A key or string borrowed from the body unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map(Scalar::Int).unwrap_or(Scalar::Float(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Nothing)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nothing)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nothing)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// `metadata`: a string map, bounded; anything else reads as empty.
struct Metadata(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = Metadata;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let value: Scalar<'de> = map.next_value()?;
                    if out.len() < MAX_METADATA_ENTRIES {
                        out.insert(cut(&key, 64), cut(&value.to_text(), MAX_METADATA_VALUE_LEN));
                    }
                }
                Ok(Metadata(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Metadata(BTreeMap::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Metadata(BTreeMap::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Metadata(BTreeMap::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Metadata(BTreeMap::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Metadata(BTreeMap::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Metadata(BTreeMap::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Metadata(BTreeMap::new()))
            }
        }
        deserializer.deserialize_any(MetadataVisitor)
    }
}

impl<'de> Deserialize<'de> for WireObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = WireObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = WireObject::default();
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    if key == "metadata" {
                        out.metadata = map.next_value::<Metadata>()?.0;
                    } else {
                        let value: Scalar<'de> = map.next_value()?;
                        out.fields.push((key, value));
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

fn text(fields: &impl Fields, key: &str, max: usize) -> String {
    match fields.scalar(key) {
        None | Some(Scalar::Nothing) => String::new(),
        Some(Scalar::Text(s)) => cut(s.trim(), max),
        Some(other) => cut(&other.to_text(), max),
    }
}

fn flag(fields: &impl Fields, key: &str) -> Option<bool> {
    match fields.scalar(key)? {
        Scalar::Bool(b) => Some(b),
        Scalar::Text(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Scalar::Int(n) => Some(n != 0),
        Scalar::Float(_) | Scalar::Nothing => None,
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
        assert_eq!(info(json!({"app_id": "a"})).check_required(), Err(MissingField("device_id")));
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
        assert_eq!(StatsEvent::parse_body(&json!([one.clone(), one])).unwrap().len(), 2);
        assert_eq!(StatsEvent::parse_body(&json!([1])), Err(NotEvents));
        assert_eq!(StatsEvent::parse_body(&json!("x")), Err(NotEvents));
    }

    #[test]
    fn the_flat_reader_agrees_with_the_tree_reader() {
        let bodies = [
            json!({"platform": "IOS", "device_id": "ABC", "app_id": "com.x", "version_build": 12, "version_name": "builtin",
                   "is_prod": "false", "is_emulator": 1, "unknown": [1, {"a": 2}], "defaultChannel": "beta", "key_id": null,
                   "action": "download_fail", "version_name_x": 1.5, "timestamp": "1700000000000",
                   "metadata": {"duration_ms": 812, "nested": {"a": 1}, "s": "line\nbreak"}}),
            json!({"app_id": "com.x", "device_id": "d", "version_name": "1.2.3:assets/a.js", "metadata": "not a map", "platform": "android"}),
            json!({"app_id": "first", "app_id": "second"}),
        ];
        for body in bodies {
            let bytes = serde_json::to_vec(&body).unwrap();
            let tree = body.as_object().unwrap();
            assert_eq!(DeviceInfo::from_json_slice(&bytes).unwrap(), DeviceInfo::from_fields(tree));
            assert_eq!(StatsEvent::parse_json_slice(&bytes).unwrap(), vec![StatsEvent::from_fields(tree)]);
            let array = serde_json::to_vec(&json!([body.clone(), body])).unwrap();
            assert_eq!(StatsEvent::parse_json_slice(&array).unwrap().len(), 2);
        }
        for bad in ["[1]", "\"x\"", "{", "42", "", "[{}, 3]"] {
            assert_eq!(StatsEvent::parse_json_slice(bad.as_bytes()), Err(NotEvents), "{bad}");
        }
        assert_eq!(DeviceInfo::from_json_slice(b"[]"), Err(NotAnObject));
    }

    #[test]
    fn manifests_go_to_plugins_that_decode_only_br_entries() {
        for yes in ["6.25.0", "6.99.1", "7.0.35", "7.1.0", "8.0.0", "8.51.14", "9.0.0"] {
            assert!(supports_manifest(yes), "{yes}");
        }
        for no in ["5.10.0", "6.24.9", "7.0.34", "4.0.0", "", "banana"] {
            assert!(!supports_manifest(no), "{no}");
        }
    }

    #[test]
    fn answers_serialize_to_exact_shapes() {
        let offer = UpdateAnswer::Offer(UpdateOffer {
            version: "1.0.0".into(),
            url: "u".into(),
            checksum: "c".into(),
            session_key: String::new(),
            breaking: None,
            manifest: None,
        });
        assert_eq!(
            serde_json::to_value(&offer).unwrap(),
            json!({"version": "1.0.0", "url": "u", "checksum": "c", "session_key": ""})
        );
        let entry = ManifestEntry { file_name: "a.js.br".into(), file_hash: "h".into(), download_url: "d".into() };
        let with_manifest = UpdateAnswer::Offer(UpdateOffer {
            version: "1.0.0".into(),
            url: "u".into(),
            checksum: "c".into(),
            session_key: String::new(),
            breaking: None,
            manifest: Some(vec![entry].into()),
        });
        assert_eq!(
            serde_json::to_value(&with_manifest).unwrap(),
            json!({"version": "1.0.0", "url": "u", "checksum": "c", "session_key": "",
                   "manifest": [{"file_name": "a.js.br", "file_hash": "h", "download_url": "d"}]})
        );
        assert_eq!(serde_json::to_value(UpdateAnswer::builtin()).unwrap(), json!({"version": "builtin"}));
        assert_eq!(
            serde_json::to_value(UpdateAnswer::up_to_date()).unwrap(),
            json!({"error": "no_new_version_available", "message": "No new version available", "kind": "up_to_date"})
        );
    }
}
