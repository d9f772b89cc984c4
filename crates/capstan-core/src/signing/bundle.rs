//! Whole bundles: encrypting and signing a plain zip, and opening one exactly as a device does.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::checksum::{open_signed_sha256, sign_sha256};
use super::errors::{EncryptError, OpenError, SignedField};
use super::keys::{SigningKey, VerifyingKey};
use super::output::Output;
use super::session::{SessionKey, encrypt_error, open_error};
use crate::progress::{CancelFlag, Progress};

/// What to store with an encrypted bundle and send to devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncryptedBundle {
    /// The signed checksum devices verify: 512 lowercase hex characters.
    pub checksum: String,
    /// The `session_key`: `base64(iv):base64(wrapped AES key)`.
    pub session_key: String,
    /// The key id of the signing key pair (what devices with this `publicKey` report).
    pub key_id: String,
    /// SHA-256 of the plain zip, lowercase hex (what the signed checksum opens to).
    pub plain_sha256: String,
    /// Size of the plain zip in bytes.
    pub plain_size: u64,
    /// Size of the encrypted file in bytes (what devices download).
    pub encrypted_size: u64,
}

/// What an encrypted bundle opened to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenedBundle {
    /// SHA-256 of the decrypted zip, lowercase hex; equal to the signed checksum.
    pub sha256: String,
    /// Size of the decrypted zip in bytes.
    pub size: u64,
}

/// Encrypts the plain bundle zip at `plain_zip` into `out` with `session` (AES-128-CBC,
/// PKCS#7) and signs its SHA-256 with `signer`, reading the zip once. Nothing is left at
/// `out` on failure.
pub fn encrypt_bundle(
    signer: &SigningKey,
    session: &SessionKey,
    plain_zip: &Path,
    out: &Path,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<EncryptedBundle, EncryptError> {
    let read_error = |source| EncryptError::Io { path: plain_zip.to_path_buf(), source };
    let input = File::open(plain_zip).map_err(read_error)?;
    progress.start(input.metadata().map_err(read_error)?.len());
    let output = Output::create(out).map_err(|source| EncryptError::Io { path: out.to_path_buf(), source })?;
    let mut hasher = Sha256::new();
    let mut plain_size = 0u64;
    let encrypted_size = session
        .encrypt_stream(&mut BufReader::new(input), &mut BufWriter::new(output.file()), &mut |plain: &[u8], read| {
            hasher.update(plain);
            plain_size += plain.len() as u64;
            progress.advance(read);
            !cancel.is_cancelled()
        })
        .map_err(|error| encrypt_error(error, plain_zip, out))?;
    let sha256: [u8; 32] = hasher.finalize().into();
    let checksum = sign_sha256(signer, &sha256)?;
    output.keep(out).map_err(|source| EncryptError::Io { path: out.to_path_buf(), source })?;
    Ok(EncryptedBundle {
        checksum,
        session_key: session.as_str().to_owned(),
        key_id: signer.key_id().to_owned(),
        plain_sha256: hex::encode(sha256),
        plain_size,
        encrypted_size,
    })
}

/// Opens an encrypted bundle exactly as a device does and writes the plain zip to `out`:
/// opens the signed `checksum` and the `session_key` with the public key, decrypts with
/// AES-128-CBC, and compares the SHA-256 of the result with the signed one. Nothing is left at
/// `out` unless every check passes. Inspect the zip afterwards with
/// [`inspect_zip`](crate::bundle::inspect_zip), as for a plain upload.
pub fn open_bundle(
    key: &VerifyingKey,
    encrypted: &Path,
    session_key: &str,
    signed_checksum: &str,
    out: &Path,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<OpenedBundle, OpenError> {
    let output = Output::create(out).map_err(|source| OpenError::Io { path: out.to_path_buf(), source })?;
    let opened = open_into(
        key,
        encrypted,
        session_key,
        signed_checksum,
        &mut BufWriter::new(output.file()),
        out,
        progress,
        cancel,
    )?;
    output.keep(out).map_err(|source| OpenError::Io { path: out.to_path_buf(), source })?;
    Ok(opened)
}

/// The same checks as [`open_bundle`] without keeping the decrypted zip: for a publisher
/// checking what the server stores before pointing a channel at it.
pub fn verify_bundle(
    key: &VerifyingKey,
    encrypted: &Path,
    session_key: &str,
    signed_checksum: &str,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<OpenedBundle, OpenError> {
    open_into(key, encrypted, session_key, signed_checksum, &mut io::sink(), Path::new("(discarded)"), progress, cancel)
}

#[allow(clippy::too_many_arguments)]
fn open_into(
    key: &VerifyingKey,
    encrypted: &Path,
    session_key: &str,
    signed_checksum: &str,
    output: &mut impl Write,
    output_path: &Path,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<OpenedBundle, OpenError> {
    // The cheap checks first, so a wrong key is refused before reading hundreds of megabytes.
    let expected = open_signed_sha256(key, signed_checksum, SignedField::Checksum)?;
    let session = SessionKey::open(key, session_key)?;
    let read_error = |source| OpenError::Io { path: encrypted.to_path_buf(), source };
    let input = File::open(encrypted).map_err(read_error)?;
    progress.start(input.metadata().map_err(read_error)?.len());
    let mut hasher = Sha256::new();
    let size = session
        .decrypt_stream(&mut BufReader::new(input), output, &mut |plain: &[u8], read| {
            hasher.update(plain);
            progress.advance(read);
            !cancel.is_cancelled()
        })
        .map_err(|error| open_error(error, encrypted, output_path))?;
    if size == 0 {
        return Err(OpenError::EmptyPlain);
    }
    let actual = hex::encode(hasher.finalize());
    if actual != expected {
        return Err(OpenError::ChecksumMismatch { field: SignedField::Checksum, expected, actual });
    }
    Ok(OpenedBundle { sha256: actual, size })
}
