//! Signed SHA-256 values: an encrypted bundle's `checksum` and its manifest entries' `file_hash`.
//!
//! Both are `hex(private-key encryption of the 32 raw SHA-256 bytes)`: 512 lowercase hex
//! characters, the format of plugins ≥ 5.30 / 6.30 / 7.30 and every 8.x (older plugins read a
//! base64 variant that Capstan does not produce).

use super::errors::{EncryptError, OpenError, SignedField};
use super::keys::{SigningKey, VerifyingKey};

/// Bytes in an RSA-2048 block, hence in a signed value.
const SIGNED_LEN: usize = 256;
/// Bytes in a SHA-256.
const SHA256_LEN: usize = 32;

/// Signs a SHA-256 the way devices verify it: the bundle's `checksum` when `sha256` is the
/// plain zip's, or a manifest entry's `file_hash` (see [`manifest_file_hash`]).
pub fn sign_sha256(key: &SigningKey, sha256: &[u8; SHA256_LEN]) -> Result<String, EncryptError> {
    let signed = key.private_encrypt(sha256).map_err(|e| EncryptError::Rsa(e.to_string()))?;
    Ok(hex::encode(signed))
}

/// The `file_hash` of one entry in an encrypted bundle's delta manifest: the signed SHA-256 of
/// the original file, before Brotli and encryption. The plugin opens it with the public key
/// when the answer carries a `session_key`, then compares it with the SHA-256 of the file it
/// decrypted and decoded; a plain 64-character hash would be refused there.
pub fn manifest_file_hash(key: &SigningKey, original_file_sha256: &[u8; SHA256_LEN]) -> Result<String, EncryptError> {
    sign_sha256(key, original_file_sha256)
}

/// Opens a signed SHA-256 as a device does: hex-decodes it (either case, as the plugin
/// accepts), checks it is one 256-byte block, decrypts it with the public key and checks it
/// holds 32 bytes. Returns the SHA-256 as lowercase hex.
pub fn open_signed_sha256(key: &VerifyingKey, signed_hex: &str, field: SignedField) -> Result<String, OpenError> {
    let malformed = |reason: String| OpenError::MalformedSigned { field, reason };
    if signed_hex.len() != SIGNED_LEN * 2 {
        return Err(malformed(format!(
            "{} characters, expected {} hex characters (an RSA-2048 signature)",
            signed_hex.len(),
            SIGNED_LEN * 2
        )));
    }
    let signed = hex::decode(signed_hex).map_err(|e| malformed(format!("not hex: {e}")))?;
    let sha256 = key.public_decrypt(&signed).ok_or(OpenError::NotSignedByKey(field))?;
    if sha256.len() != SHA256_LEN {
        return Err(OpenError::WrongLength { field, len: sha256.len(), expected: SHA256_LEN });
    }
    Ok(hex::encode(sha256))
}
