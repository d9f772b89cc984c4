//! Bundles: the uploaded zips, immutable once stored.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::bundle::Warning;

/// A stored bundle, as the management API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Lenient: an older or newer server may omit a field.
#[serde(default)]
pub struct Bundle {
    /// Owning app.
    pub app_id: String,
    /// Semver version, unique per app.
    pub version: String,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// What devices verify: the SHA-256 for plain bundles, the signed checksum otherwise.
    pub checksum: String,
    /// Size of the stored bytes.
    pub size: i64,
    /// Files in the zip.
    pub file_count: i64,
    /// Oldest native version that can run it.
    pub min_native_version: Option<String>,
    /// Release notes.
    pub notes: String,
    /// Encryption session key (`base64(iv):base64(encrypted key)`), `""` for plain bundles.
    pub session_key: String,
    /// Key the bundle was encrypted for.
    pub key_id: Option<String>,
    /// What the inspection found worth a look.
    pub warnings: Vec<Warning>,
    /// Digest of the native fingerprint the publisher recorded for it (`GET .../native` has the
    /// fingerprint); `null` when it was published without one.
    pub native_digest: Option<String>,
    /// Who uploaded it.
    pub created_by: String,
    /// When, epoch ms.
    pub created_at_ms: i64,
    /// What a device holding the previous bundle of the same native line downloads to get this
    /// one with a delta update, computed by the server; `null` without a previous bundle or
    /// when either bundle has no per-file artifacts (encrypted bundles, bundles uploaded before
    /// delta updates).
    pub delta: Option<DeltaSize>,
}

/// A bundle's delta download against its predecessor, next to the full zip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct DeltaSize {
    /// The bundle a device is assumed to hold (the previous upload of the same native line).
    pub from_version: String,
    /// Bytes it downloads with a delta update (only files missing from its delta cache).
    pub download_bytes: i64,
}

/// One file of an encrypted bundle with its signed hash, as the publishing client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedFile {
    /// Path below the folder holding `index.html`, `/`-separated, as in the zip.
    pub path: String,
    /// The delta manifest's `file_hash`: the SHA-256 of the original file signed with the
    /// app's private key, 512 hex characters (`capstan_core::signing::manifest_file_hash`).
    pub file_hash: String,
}

/// Body of `PUT .../bundles/{version}/encrypted-files`: every file of an encrypted bundle with
/// its signed hash, so the server can offer the bundle file by file (delta updates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EncryptedFiles {
    /// Every file of the bundle, once.
    pub files: Vec<SignedFile>,
}

/// Query parameters of a bundle upload (`POST .../bundles`, the zip is the raw body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct UploadParams {
    /// Semver version, unique per app.
    pub version: String,
    /// SHA-256 of the body, lowercase hex (or the `x-capstan-sha256` header).
    pub sha256: Option<String>,
    /// Oldest native version that can run this bundle.
    pub min_native_version: Option<String>,
    /// Release notes.
    pub notes: Option<String>,
    /// For encrypted bundles: `base64(iv):base64(encrypted key)`.
    pub session_key: Option<String>,
    /// For encrypted bundles: the key id devices report.
    pub key_id: Option<String>,
    /// For encrypted bundles: the (signed) checksum devices verify.
    pub checksum: Option<String>,
}
