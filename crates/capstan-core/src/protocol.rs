//! The wire format of the `@capgo/capacitor-updater` device plugin (docs/device-protocol.md).
//!
//! Devices are many plugin releases in the field and their input is untrusted, so reading is
//! lenient (unknown fields ignored, numbers where strings are expected coerced, missing booleans
//! defaulted) and bounded (every stored string is cut to a fixed length). Writing is strict: the
//! answers below serialize to exactly the keys and JSON types the plugin decodes, because iOS
//! decodes a typed struct and a wrong type breaks the device.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

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
///
/// Text borrows from the request body where it can (`/updates` reads one per request, and most
/// of it is only compared, never kept): a field is owned only when the body had escapes in it
/// or normalising changed it. [`DeviceInfo::into_owned`] detaches it from the body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo<'a> {
    /// `android`, `ios` or `electron` (lowercased); anything else is kept as sent.
    pub platform: Cow<'a, str>,
    /// The install's random id, lowercased.
    pub device_id: Cow<'a, str>,
    /// Reverse-DNS app id.
    pub app_id: Cow<'a, str>,
    /// App-set user id; empty means none.
    pub custom_id: Cow<'a, str>,
    /// Native shell version as sent (not yet coerced to semver).
    pub version_build: Cow<'a, str>,
    /// Android versionCode / iOS CFBundleVersion.
    pub version_code: Cow<'a, str>,
    /// OS version.
    pub version_os: Cow<'a, str>,
    /// Web bundle running now; `builtin` (or nothing) is replaced by `version_build`.
    pub version_name: Cow<'a, str>,
    /// Whether the device said it runs the store-shipped bundle (`builtin` or no bundle name).
    pub on_builtin: bool,
    /// Plugin release, e.g. `8.51.14`.
    pub plugin_version: Cow<'a, str>,
    /// Emulator or simulator; false when missing.
    pub is_emulator: bool,
    /// Production build; true when missing.
    pub is_prod: bool,
    /// Store the app came from, when sent.
    pub install_source: Cow<'a, str>,
    /// Channel the device asks for (`defaultChannel`), when sent and not empty.
    pub default_channel: Option<Cow<'a, str>>,
    /// First 20 characters of the app's public key body, when the app encrypts bundles.
    pub key_id: Option<Cow<'a, str>>,
}

/// Which fields a request lacked to be answered at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing required field `{0}`")]
pub struct MissingField(pub &'static str);

impl<'a> DeviceInfo<'a> {
    /// Reads the info object from a JSON object (a request body) or from a query string turned
    /// into string values: `is_prod=true` works as well as `"is_prod": true`.
    pub fn from_fields(fields: &'a Map<String, Value>) -> DeviceInfo<'a> {
        DeviceInfo::read(&WireObject::from_map(fields))
    }

    /// Reads the info object straight from a JSON body, typed and borrowing, without building a
    /// JSON tree: the `/updates` hot path. Same leniency as [`DeviceInfo::from_fields`].
    pub fn from_json_slice(body: &'a [u8]) -> Result<DeviceInfo<'a>, NotAnObject> {
        let object: WireObject<'a> = serde_json::from_slice(body).map_err(|_| NotAnObject)?;
        Ok(DeviceInfo::read(&object))
    }

    fn read(fields: &WireObject<'a>) -> DeviceInfo<'a> {
        let version_build = text(&fields.version_build, MAX_VERSION_LEN);
        let raw_name = text(&fields.version_name, MAX_VERSION_LEN);
        let on_builtin = raw_name.is_empty() || raw_name == "builtin";
        let version_name = if on_builtin { version_build.clone() } else { raw_name };
        let optional = |value, max| Some(text(value, max)).filter(|s| !s.is_empty());
        DeviceInfo {
            platform: ascii_lowercase(text(&fields.platform, 16)),
            device_id: lowercase(text(&fields.device_id, MAX_DEVICE_ID_LEN)),
            app_id: text(&fields.app_id, MAX_APP_ID_LEN),
            custom_id: text(&fields.custom_id, MAX_TEXT_LEN),
            version_build,
            version_code: text(&fields.version_code, MAX_VERSION_LEN),
            version_os: text(&fields.version_os, MAX_VERSION_LEN),
            version_name,
            on_builtin,
            plugin_version: text(&fields.plugin_version, MAX_VERSION_LEN),
            is_emulator: flag(&fields.is_emulator).unwrap_or(false),
            is_prod: flag(&fields.is_prod).unwrap_or(true),
            install_source: text(&fields.install_source, MAX_TEXT_LEN),
            default_channel: optional(&fields.default_channel, MAX_CHANNEL_LEN),
            key_id: optional(&fields.key_id, MAX_TEXT_LEN),
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

    /// The same info, owning its text.
    pub fn into_owned(self) -> DeviceInfo<'static> {
        let own = |s: Cow<'a, str>| Cow::Owned(s.into_owned());
        DeviceInfo {
            platform: own(self.platform),
            device_id: own(self.device_id),
            app_id: own(self.app_id),
            custom_id: own(self.custom_id),
            version_build: own(self.version_build),
            version_code: own(self.version_code),
            version_os: own(self.version_os),
            version_name: own(self.version_name),
            on_builtin: self.on_builtin,
            plugin_version: own(self.plugin_version),
            is_emulator: self.is_emulator,
            is_prod: self.is_prod,
            install_source: own(self.install_source),
            default_channel: self.default_channel.map(own),
            key_id: self.key_id.map(own),
        }
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

/// Whether a plugin release builds an *encrypted* bundle from a `manifest`: it must also read
/// the signed `file_hash` in hex, the only form Capstan signs (6.30+, 7.30+, every 8.x and
/// later; the hosted CLI's `encryptChecksumV3` threshold). Those releases are the ones that
/// read the bundle's hex `checksum` too, so older ones cannot open an encrypted bundle at all.
pub fn supports_encrypted_manifest(plugin_version: &str) -> bool {
    let Ok(version) = crate::version::parse_lenient(plugin_version) else {
        return false;
    };
    let v = (version.major, version.minor, version.patch);
    match version.major {
        0..=5 => false,
        6 => v >= (6, 30, 0),
        7 => v >= (7, 30, 0),
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

/// One stats event (protocol.md §3), normalised and bounded; text borrowed from the body
/// where it can be, as in [`DeviceInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsEvent<'a> {
    /// The sender, as in every request.
    pub info: DeviceInfo<'a>,
    /// What happened (`set`, `download_fail`, ...); unknown actions are kept as sent.
    pub action: Cow<'a, str>,
    /// The bundle the event is about; `<version>:<file>` is cut at the first `:`.
    pub version_name: Cow<'a, str>,
    /// For `set`: the bundle before.
    pub old_version_name: Cow<'a, str>,
    /// Device clock, epoch milliseconds (current plugins only).
    pub timestamp_ms: Option<i64>,
    /// Extra string values, bounded in count and length.
    pub metadata: BTreeMap<String, String>,
}

/// The events of one stats body, and how many of its array elements were not events at all
/// (`null`, numbers, strings, arrays): those are dropped, the others kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsBatch<'a> {
    /// The events read.
    pub events: Vec<StatsEvent<'a>>,
    /// Elements that were not objects.
    pub dropped: usize,
}

/// A stats body that cannot be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatsBodyError {
    /// Not JSON, or neither an object nor an array.
    #[error("expected a JSON object or an array of objects")]
    NotEvents,
    /// More array elements than a body may hold; reading stopped keeping them at the limit.
    #[error("too many events in one body (at most {0})")]
    TooManyEvents(usize),
}

impl<'a> StatsEvent<'a> {
    /// Reads one event object. The event's `version_name` is about the event, not the bundle
    /// running, so it is not replaced by the native version the way the info object's is.
    pub fn from_fields(fields: &'a Map<String, Value>) -> StatsEvent<'a> {
        StatsEvent::read(&WireObject::from_map(fields))
    }

    fn read(fields: &WireObject<'a>) -> StatsEvent<'a> {
        let info = DeviceInfo::read(fields);
        let raw_name = text(&fields.version_name, MAX_VERSION_LEN + MAX_TEXT_LEN);
        let version_name = narrow(raw_name, |name| prefix(name.split(':').next().unwrap_or(""), MAX_VERSION_LEN));
        StatsEvent {
            info,
            action: text(&fields.action, MAX_TEXT_LEN),
            version_name,
            old_version_name: text(&fields.old_version_name, MAX_VERSION_LEN),
            timestamp_ms: fields.timestamp.as_ref().and_then(|v| match v {
                Scalar::Int(n) => Some(*n),
                Scalar::Text(s) => s.trim().parse().ok(),
                _ => None,
            }),
            metadata: fields.metadata.clone().unwrap_or_default(),
        }
    }

    /// Reads a stats body straight from its bytes (array or single object), typed and
    /// borrowing, without building a JSON tree: the ingestion hot path. Array elements that are
    /// not objects are counted as dropped; past `max_events` elements the body is refused, and
    /// the rest of it is only scanned, never kept.
    pub fn parse_json_slice(body: &'a [u8], max_events: usize) -> Result<StatsBatch<'a>, StatsBodyError> {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => {
                let mut deserializer = serde_json::Deserializer::from_slice(body);
                let elements = Elements::deserialize(&mut deserializer, max_events)?;
                deserializer.end().map_err(|_| StatsBodyError::NotEvents)?;
                if elements.too_many {
                    return Err(StatsBodyError::TooManyEvents(max_events));
                }
                let events = elements.objects.iter().map(StatsEvent::read).collect();
                Ok(StatsBatch { events, dropped: elements.dropped })
            }
            Some(b'{') => {
                let object: WireObject<'a> = serde_json::from_slice(body).map_err(|_| StatsBodyError::NotEvents)?;
                Ok(StatsBatch { events: vec![StatsEvent::read(&object)], dropped: 0 })
            }
            _ => Err(StatsBodyError::NotEvents),
        }
    }

    /// Reads a stats body already parsed as JSON: current plugins send an array, legacy ones a
    /// single object. Same rules as [`StatsEvent::parse_json_slice`].
    pub fn parse_body(body: &'a Value, max_events: usize) -> Result<StatsBatch<'a>, StatsBodyError> {
        match body {
            Value::Object(fields) => Ok(StatsBatch { events: vec![StatsEvent::from_fields(fields)], dropped: 0 }),
            Value::Array(items) if items.len() > max_events => Err(StatsBodyError::TooManyEvents(max_events)),
            Value::Array(items) => {
                let events: Vec<StatsEvent<'a>> =
                    items.iter().filter_map(Value::as_object).map(StatsEvent::from_fields).collect();
                Ok(StatsBatch { dropped: items.len() - events.len(), events })
            }
            _ => Err(StatsBodyError::NotEvents),
        }
    }

    /// The same event, owning its text.
    pub fn into_owned(self) -> StatsEvent<'static> {
        StatsEvent {
            info: self.info.into_owned(),
            action: Cow::Owned(self.action.into_owned()),
            version_name: Cow::Owned(self.version_name.into_owned()),
            old_version_name: Cow::Owned(self.old_version_name.into_owned()),
            timestamp_ms: self.timestamp_ms,
            metadata: self.metadata,
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
    /// (Shared: the server builds a bundle's manifest once and every answer points at it.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Arc<[ManifestEntry]>>,
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
    prefix(s, max).to_owned()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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

impl<'a> Scalar<'a> {
    fn to_text(&self) -> String {
        match self {
            Scalar::Text(s) => s.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Nothing => String::new(),
        }
    }

    fn of_value(value: &'a Value) -> Scalar<'a> {
        match value {
            Value::String(s) => Scalar::Text(Cow::Borrowed(s)),
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => n.as_i64().map(Scalar::Int).unwrap_or_else(|| Scalar::Float(n.as_f64().unwrap_or(0.0))),
            Value::Null | Value::Array(_) | Value::Object(_) => Scalar::Nothing,
        }
    }
}

/// The protocol's fields of one JSON object, typed and borrowed from the body where possible;
/// every other key is skipped without being kept. Later duplicates win, as in a JSON tree.
#[derive(Debug, Default)]
struct WireObject<'a> {
    platform: Option<Scalar<'a>>,
    device_id: Option<Scalar<'a>>,
    app_id: Option<Scalar<'a>>,
    custom_id: Option<Scalar<'a>>,
    version_build: Option<Scalar<'a>>,
    version_code: Option<Scalar<'a>>,
    version_os: Option<Scalar<'a>>,
    version_name: Option<Scalar<'a>>,
    plugin_version: Option<Scalar<'a>>,
    is_emulator: Option<Scalar<'a>>,
    is_prod: Option<Scalar<'a>>,
    install_source: Option<Scalar<'a>>,
    default_channel: Option<Scalar<'a>>,
    key_id: Option<Scalar<'a>>,
    action: Option<Scalar<'a>>,
    old_version_name: Option<Scalar<'a>>,
    timestamp: Option<Scalar<'a>>,
    /// `metadata` as bounded text (stats events only).
    metadata: Option<BTreeMap<String, String>>,
}

impl<'a> WireObject<'a> {
    /// Where a key's value goes; `None` for keys the protocol does not read.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Scalar<'a>>> {
        Some(match key {
            "platform" => &mut self.platform,
            "device_id" => &mut self.device_id,
            "app_id" => &mut self.app_id,
            "custom_id" => &mut self.custom_id,
            "version_build" => &mut self.version_build,
            "version_code" => &mut self.version_code,
            "version_os" => &mut self.version_os,
            "version_name" => &mut self.version_name,
            "plugin_version" => &mut self.plugin_version,
            "is_emulator" => &mut self.is_emulator,
            "is_prod" => &mut self.is_prod,
            "install_source" => &mut self.install_source,
            "defaultChannel" => &mut self.default_channel,
            "key_id" => &mut self.key_id,
            "action" => &mut self.action,
            "old_version_name" => &mut self.old_version_name,
            "timestamp" => &mut self.timestamp,
            _ => return None,
        })
    }

    /// The same fields read from a JSON tree (query strings, `/channel_self` bodies).
    fn from_map(map: &'a Map<String, Value>) -> WireObject<'a> {
        let mut out = WireObject::default();
        for (key, value) in map {
            if key == "metadata" {
                out.metadata = Some(metadata_of_value(value));
            } else if let Some(slot) = out.slot(key) {
                *slot = Some(Scalar::of_value(value));
            }
        }
        out
    }
}

fn metadata_of_value(value: &Value) -> BTreeMap<String, String> {
    match value {
        Value::Object(map) => map
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

/// Fills `out` from an object's entries (the body reader's one loop over keys).
fn read_entries<'de, A: MapAccess<'de>>(mut map: A, out: &mut WireObject<'de>) -> Result<(), A::Error> {
    while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
        if key == "metadata" {
            out.metadata = Some(map.next_value::<Metadata>()?.0);
        } else if let Some(slot) = out.slot(&key) {
            *slot = Some(map.next_value::<Scalar<'de>>()?);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for WireObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = WireObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let mut out = WireObject::default();
                read_entries(map, &mut out)?;
                Ok(out)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// One array element of a stats body: an object, or anything else (kept as `None`, to count).
struct Element<'a>(Option<WireObject<'a>>);

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;
        impl<'de> Visitor<'de> for ElementVisitor {
            type Value = Element<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let mut out = WireObject::default();
                read_entries(map, &mut out)?;
                Ok(Element(Some(out)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Element(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Element(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Element(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Element(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Element(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Element(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Element(None))
            }
        }
        deserializer.deserialize_any(ElementVisitor)
    }
}

/// The elements of a stats array: objects kept (at most `max`), the rest counted. Past `max`
/// elements the remainder is only scanned for well-formedness, so an oversized body costs a
/// scan, not an allocation per element.
struct Elements<'a> {
    objects: Vec<WireObject<'a>>,
    dropped: usize,
    too_many: bool,
}

impl<'de> Elements<'de> {
    fn deserialize(
        deserializer: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
        max: usize,
    ) -> Result<Elements<'de>, StatsBodyError> {
        struct ElementsVisitor(usize);
        impl<'de> Visitor<'de> for ElementsVisitor {
            type Value = Elements<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Elements { objects: Vec::new(), dropped: 0, too_many: false };
                let mut seen = 0usize;
                while seen < self.0 {
                    match seq.next_element::<Element<'de>>()? {
                        Some(Element(Some(object))) => out.objects.push(object),
                        Some(Element(None)) => out.dropped += 1,
                        None => return Ok(out),
                    }
                    seen += 1;
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    out.too_many = true;
                }
                Ok(out)
            }
        }
        serde::Deserializer::deserialize_seq(deserializer, ElementsVisitor(max)).map_err(|_| StatsBodyError::NotEvents)
    }
}

fn text<'a>(value: &Option<Scalar<'a>>, max: usize) -> Cow<'a, str> {
    without_nul(match value {
        None | Some(Scalar::Nothing) => Cow::Borrowed(""),
        Some(Scalar::Text(Cow::Borrowed(s))) => Cow::Borrowed(prefix(s.trim(), max)),
        Some(Scalar::Text(Cow::Owned(s))) => Cow::Owned(cut(s.trim(), max)),
        Some(other) => Cow::Owned(cut(&other.to_text(), max)),
    })
}

/// `text` without NUL characters (JSON's `\u0000`), copied only when it has one: no field has a
/// use for them, and PostgreSQL refuses text holding one, which would fail the whole statement
/// that writes a batch of devices or events, not only the sender's row.
fn without_nul(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.contains('\0') { Cow::Owned(text.replace('\0', "").trim().to_owned()) } else { text }
}

/// `text` narrowed to a part of itself, still borrowed when it was.
fn narrow<'a>(text: Cow<'a, str>, part: impl for<'x> Fn(&'x str) -> &'x str) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(part(s)),
        Cow::Owned(s) => Cow::Owned(part(&s).to_owned()),
    }
}

/// Lowercased (Unicode), copied only when that changes it.
fn lowercase(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) { text } else { Cow::Owned(text.to_lowercase()) }
}

/// ASCII-lowercased, copied only when that changes it.
fn ascii_lowercase(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(text.to_ascii_lowercase()) } else { text }
}

fn flag(value: &Option<Scalar<'_>>) -> Option<bool> {
    match value.as_ref()? {
        Scalar::Bool(b) => Some(*b),
        Scalar::Text(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Scalar::Int(n) => Some(*n != 0),
        Scalar::Float(_) | Scalar::Nothing => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(value: Value) -> DeviceInfo<'static> {
        DeviceInfo::from_fields(value.as_object().unwrap()).into_owned()
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
    fn nul_characters_are_dropped_from_every_text_field() {
        let body = br#"{"platform":"android","device_id":"d\u00001","app_id":"com.x","version_build":"1.0\u0000","custom_id":"\u0000 a\u0000b ","key_id":"\u0000"}"#;
        let fields: Map<String, Value> = serde_json::from_slice(body).unwrap();
        for device in [DeviceInfo::from_json_slice(body).unwrap(), DeviceInfo::from_fields(&fields)] {
            assert_eq!((&*device.device_id, &*device.version_build, &*device.custom_id), ("d1", "1.0", "ab"));
            assert_eq!(device.key_id, None, "nothing but NUL is nothing");
        }
        let events = br#"[{"app_id":"com.x","device_id":"d","action":"set\u0000","version_name":"1.0.0\u0000"}]"#;
        let event = &StatsEvent::parse_json_slice(events, 10).unwrap().events[0];
        assert_eq!((&*event.action, &*event.version_name), ("set", "1.0.0"));
    }

    #[test]
    fn text_is_borrowed_from_the_body_unless_normalising_changed_it() {
        let body = br#"{"platform":"android","device_id":"Ab-1","app_id":"com.x","version_build":"1.0","version_name":"2.0","custom_id":"a\nb"}"#;
        let device = DeviceInfo::from_json_slice(body).unwrap();
        assert!(matches!(device.platform, Cow::Borrowed("android")));
        assert!(matches!(device.app_id, Cow::Borrowed("com.x")));
        assert!(matches!(device.version_name, Cow::Borrowed("2.0")));
        assert!(matches!(&device.device_id, Cow::Owned(id) if id == "ab-1"), "lowercased: a copy");
        assert!(matches!(&device.custom_id, Cow::Owned(id) if id == "a\nb"), "unescaped: a copy");
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
    fn stats_bodies_accept_objects_and_arrays_and_drop_elements_that_are_not_events() {
        let one = json!({"action": "download_fail", "version_name": "1.2.3:assets/a.js", "device_id": "D"});
        let batch = StatsEvent::parse_body(&one, 10).unwrap();
        assert_eq!(batch.events[0].version_name, "1.2.3");
        assert_eq!(batch.events[0].info.device_id, "d");
        let two = json!([one.clone(), one.clone()]);
        assert_eq!(StatsEvent::parse_body(&two, 10).unwrap().events.len(), 2);
        let mixed = json!([one.clone(), null, 1, "x", [one.clone()], one]);
        let batch = StatsEvent::parse_body(&mixed, 10).unwrap();
        assert_eq!((batch.events.len(), batch.dropped), (2, 4));
        assert_eq!(StatsEvent::parse_body(&mixed, 5), Err(StatsBodyError::TooManyEvents(5)));
        assert_eq!(StatsEvent::parse_body(&json!("x"), 10), Err(StatsBodyError::NotEvents));
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
            json!({"app_id": "com.\"x\"", "device_id": "Ünïcode", "custom_id": "  padded  ", "version_os": true}),
        ];
        for body in bodies {
            let bytes = serde_json::to_vec(&body).unwrap();
            let tree = body.as_object().unwrap();
            assert_eq!(DeviceInfo::from_json_slice(&bytes).unwrap(), DeviceInfo::from_fields(tree));
            let flat = StatsEvent::parse_json_slice(&bytes, 10).unwrap();
            assert_eq!(flat, StatsBatch { events: vec![StatsEvent::from_fields(tree)], dropped: 0 });
            let array = serde_json::to_vec(&json!([body.clone(), null, body])).unwrap();
            let batch = StatsEvent::parse_json_slice(&array, 10).unwrap();
            assert_eq!((batch.events.len(), batch.dropped), (2, 1));
        }
        for bad in ["\"x\"", "{", "42", "", "[{}, 3", "[{}] x", "null"] {
            assert_eq!(StatsEvent::parse_json_slice(bad.as_bytes(), 10), Err(StatsBodyError::NotEvents), "{bad}");
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
    fn encrypted_manifests_go_to_plugins_that_read_hex_signed_hashes() {
        for yes in ["6.30.0", "6.50.1", "7.30.0", "7.50.1", "8.0.0", "8.51.14", "9.0.0"] {
            assert!(supports_encrypted_manifest(yes), "{yes}");
        }
        for no in ["5.30.0", "6.25.0", "6.29.9", "7.0.35", "7.29.9", "", "banana"] {
            assert!(!supports_encrypted_manifest(no), "{no}");
        }
    }

    #[test]
    fn an_oversized_array_is_refused_after_a_scan() {
        let body = format!("[{}{{}}]", "{},".repeat(5000));
        assert_eq!(StatsEvent::parse_json_slice(body.as_bytes(), 1000), Err(StatsBodyError::TooManyEvents(1000)));
        let fits = format!("[{}{{}}]", "{},".repeat(999));
        assert_eq!(StatsEvent::parse_json_slice(fits.as_bytes(), 1000).unwrap().events.len(), 1000);
        let broken = format!("[{}{{}}", "{},".repeat(5000));
        assert_eq!(StatsEvent::parse_json_slice(broken.as_bytes(), 1000), Err(StatsBodyError::NotEvents));
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
