//! The signed per-file hashes of an encrypted bundle (delta updates of encrypted bundles).
//!
//! A device opens each manifest entry's `file_hash` with the app's public key, so it must be
//! the SHA-256 of the original file signed with the private key, which never leaves this
//! machine. After the upload, the client hashes every file of the plain zip, signs each hash
//! and sends the list; the server checks it against the bundle (every file listed once, each
//! hash opening to that file's SHA-256) and makes the encrypted files itself with the bundle's
//! session key, which the registered public key opens.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use capstan_core::api::{EncryptedFiles, SignedFile};
use capstan_core::bundle::InspectLimits;
use capstan_core::bundle::artifacts::{Artifact, ArtifactSink, Encoding, SinkError, StoredForm, generate_artifacts};
use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{SigningKey, manifest_file_hash};

use crate::api::Api;
use crate::error::{ClientError, ClientResult};

/// Hashes only: every content is reported as already stored, so nothing is compressed.
struct HashOnly;

impl ArtifactSink for HashOnly {
    fn find(&mut self, _key: &str) -> Result<Option<StoredForm>, SinkError> {
        Ok(Some(StoredForm { encoding: Encoding::Raw, stored_size: 0 }))
    }

    fn put(&mut self, _artifact: Artifact<'_>, _bytes: &mut dyn Read) -> Result<(), SinkError> {
        Err("nothing is stored while hashing".into())
    }
}

/// Every file of the plain bundle zip at `plain_zip` (paths as devices write them), with its
/// SHA-256 signed by `key`.
pub(crate) fn signed_files(key: &SigningKey, plain_zip: &Path, cancel: &CancelFlag) -> ClientResult<EncryptedFiles> {
    let report = generate_artifacts(plain_zip, &InspectLimits::default(), &mut HashOnly, &NoProgress, cancel)
        .map_err(|e| ClientError::Invalid(format!("cannot hash the bundle's files: {e}")))?;
    let files = report
        .files
        .into_iter()
        .map(|file| {
            let mut sha256 = [0u8; 32];
            hex::decode_to_slice(&file.sha256, &mut sha256).expect("artifact keys are SHA-256 hex");
            let file_hash = manifest_file_hash(key, &sha256)
                .map_err(|e| ClientError::Invalid(format!("cannot sign the hash of `{}`: {e}", file.path)))?;
            Ok(SignedFile { path: file.path, file_hash })
        })
        .collect::<ClientResult<Vec<_>>>()?;
    Ok(EncryptedFiles { files })
}

/// Signs and sends the per-file hashes of the encrypted bundle `version` (uploaded from
/// `plain_zip`). `Ok(None)` when done; `Ok(Some(why))` when the server cannot deliver the
/// bundle file by file (an older server, delta artifacts turned off, a `.br` file in the
/// bundle): devices then get the zip, which is not a reason to stop a publish.
pub(crate) async fn attach(
    api: &Api,
    app: &str,
    version: &str,
    key: Arc<SigningKey>,
    plain_zip: &Path,
    cancel: &CancelFlag,
) -> ClientResult<Option<String>> {
    let (zip, cancel) = (plain_zip.to_path_buf(), cancel.clone());
    let files = tokio::task::spawn_blocking(move || signed_files(&key, &zip, &cancel))
        .await
        .expect("hashing a bundle does not panic")?;
    match api.attach_encrypted_files(app, version, &files).await {
        Ok(_) => Ok(None),
        Err(ClientError::Api { status: 404 | 409, message, .. }) => Ok(Some(format!(
            "devices get bundle {version} as a whole zip (no delta update): the server says {message}"
        ))),
        Err(other) => Err(other),
    }
}
