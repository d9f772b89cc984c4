//! Signing: the public keys registered for an app, the "require signed bundles" rule, and which
//! keys the installed apps trust.
//!
//! The server only ever holds public keys: private keys stay on the release manager's machine
//! (see `capstan_client::signing`). A bundle signed with a registered key can be opened by anyone
//! who holds the app, so signing proves who published; it hides nothing.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A public key registered for an app: bundles signed with its private half are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Lenient: an older or newer server may omit a field.
#[serde(default)]
pub struct SigningKeyRecord {
    /// The key id devices report: the first 20 characters of the public key's PEM body.
    pub key_id: String,
    /// The public key exactly as the app's `publicKey` setting holds it (PKCS#1 PEM).
    pub public_key: String,
    /// Who registered it.
    pub created_by: String,
    /// When, epoch ms.
    pub created_at_ms: i64,
}

/// `GET /api/v1/apps/{app}/signing` answer: an app's signing rule and registered keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AppSigning {
    /// The app.
    pub app_id: String,
    /// Whether every upload must be signed with a registered key, and every channel serve only
    /// signed bundles.
    pub require_signed: bool,
    /// Registered public keys, oldest first.
    pub keys: Vec<SigningKeyRecord>,
}

impl AppSigning {
    /// The registered key with this key id.
    pub fn key(&self, key_id: &str) -> Option<&SigningKeyRecord> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }
}

/// `POST /api/v1/apps/{app}/signing/keys` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterKey {
    /// The public key, PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`), RSA-2048. Never the
    /// private key: the server refuses one.
    pub public_key: String,
}

/// `PATCH /api/v1/apps/{app}/signing` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSigning {
    /// Require signed bundles. Turning it on is refused while a channel serves an unsigned
    /// bundle.
    pub require_signed: bool,
}

/// `GET /api/v1/apps/{app}/bundles/{version}/download` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BundleDownload {
    /// The URL devices are given for this bundle (no token needed), so a publisher can check
    /// what devices will download.
    pub url: String,
}

/// What an installed app's `key_id` says about the key it trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyTrust {
    /// A 20-character key id of a registered key.
    Registered,
    /// A 20-character key id of no registered key (a retired key, or a key never registered).
    Unregistered,
    /// A plugin that reports only 4 characters (8.2.0–8.40.7): the same for every 2048-bit key,
    /// so which key it trusts cannot be told.
    Unknown,
    /// No key id: the app has no `publicKey` and accepts only plain bundles.
    NoKey,
}

impl KeyTrust {
    /// Classifies a device's reported `key_id` against the registered keys.
    pub fn of(reported: Option<&str>, registered: &AppSigning) -> KeyTrust {
        match reported.map(str::trim).filter(|k| !k.is_empty()) {
            None => KeyTrust::NoKey,
            Some(key_id) if key_id.len() != crate::signing::KEY_ID_LEN => KeyTrust::Unknown,
            Some(key_id) if registered.key(key_id).is_some() => KeyTrust::Registered,
            Some(_) => KeyTrust::Unregistered,
        }
    }
}

/// Active devices on one native version that trust one key (or fall in one [`KeyTrust`] class).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyShare {
    /// Native app version (`version_build`); `null` in the totals over every version.
    pub native_version: Option<String>,
    /// What the devices' key id says.
    pub trust: KeyTrust,
    /// The 20-character key id, for [`KeyTrust::Registered`] and [`KeyTrust::Unregistered`].
    pub key_id: Option<String>,
    /// Active devices.
    pub devices: i64,
    /// Their share of the active devices on this native version (of all, in the totals), in
    /// percent.
    pub percent: f64,
}

/// `GET /api/v1/apps/{app}/signing/coverage` answer: which keys the active devices trust, so a
/// team knows when an old key can be retired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct KeyCoverage {
    /// The app.
    pub app_id: String,
    /// Devices seen in this many days count as active.
    pub active_days: u32,
    /// Active devices.
    pub active_devices: i64,
    /// Per key (or class) over every native version, most devices first.
    pub totals: Vec<KeyShare>,
    /// Per native version (newest first), then per key, most devices first.
    pub by_native: Vec<KeyShare>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_classify_by_length_and_registration() {
        let signing = AppSigning {
            keys: vec![SigningKeyRecord { key_id: "MIIBCgKCAQEAregister".into(), ..SigningKeyRecord::default() }],
            ..AppSigning::default()
        };
        assert_eq!(KeyTrust::of(None, &signing), KeyTrust::NoKey);
        assert_eq!(KeyTrust::of(Some(""), &signing), KeyTrust::NoKey);
        assert_eq!(KeyTrust::of(Some("MIIB"), &signing), KeyTrust::Unknown, "4 characters from 8.2.0–8.40.7");
        assert_eq!(KeyTrust::of(Some("MIIBCgKCAQEAregister"), &signing), KeyTrust::Registered);
        assert_eq!(KeyTrust::of(Some("MIIBCgKCAQEAsomeelse"), &signing), KeyTrust::Unregistered);
    }
}
