//! The signed half of a publish: encrypting the checked plain zip for upload, and opening what
//! the server then stores exactly as a device will, before any channel points at it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use capstan_core::api::Bundle;
use capstan_core::progress::{CancelFlag, NoProgress, Progress};
use capstan_core::signing::{EncryptError, EncryptedBundle, OpenError, SessionKey, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::api::Api;
use crate::blocking::run_with_progress;
use crate::error::{ClientError, ClientResult};

/// An encrypted bundle ready to upload.
pub(crate) struct Sealed {
    /// The encrypted file.
    pub path: PathBuf,
    /// SHA-256 of the encrypted bytes (what the server checks the upload against).
    pub sha256: String,
    /// `session_key`, signed `checksum`, `key_id`, and the plain zip's SHA-256.
    pub fields: EncryptedBundle,
}

/// Encrypts `plain` with a fresh AES key and IV and signs its SHA-256 with `key`, into `work`.
pub(crate) async fn seal(
    key: Arc<SigningKey>,
    plain: &Path,
    work: &Path,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> ClientResult<Sealed> {
    let (plain, out, cancel) = (plain.to_path_buf(), work.join("bundle.encrypted"), cancel.clone());
    run_with_progress(progress, move |p| {
        let session = SessionKey::generate(&key).map_err(encrypt_error)?;
        let fields =
            capstan_core::signing::encrypt_bundle(&key, &session, &plain, &out, p, &cancel).map_err(encrypt_error)?;
        let sha256 = sha256_file(&out)?;
        Ok(Sealed { path: out, sha256, fields })
    })
    .await
}

fn encrypt_error(error: EncryptError) -> ClientError {
    match error {
        EncryptError::Cancelled => ClientError::Cancelled,
        EncryptError::Io { path, source } => ClientError::Io { path, source },
        other => ClientError::Invalid(format!("cannot encrypt the bundle: {other}")),
    }
}

fn sha256_file(path: &Path) -> ClientResult<String> {
    let io = |source| ClientError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let read = file.read(&mut buffer).map_err(io)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// Downloads what the server stores for `stored` from the URL devices get, and opens it as a
/// device does with `public`: the signed checksum and session key must open, the bytes must
/// decrypt and hash to the signed checksum, and that must be `plain_sha256`, the zip checked here.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn check_stored(
    api: &Api,
    app: &str,
    stored: &Bundle,
    public: &VerifyingKey,
    plain_sha256: &str,
    work: &Path,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> ClientResult<()> {
    if stored.session_key.is_empty() || stored.key_id.as_deref() != Some(public.key_id()) {
        return Err(ClientError::NotOpenable {
            reason: format!(
                "the server stored it {}",
                match &stored.key_id {
                    Some(other) if !stored.session_key.is_empty() => format!("as signed with key {other}"),
                    _ => "unsigned".to_owned(),
                }
            ),
        });
    }
    let url = api.bundle_download(app, &stored.version).await?.url;
    let downloaded = work.join("stored.bundle");
    api.download(&url, &downloaded, progress, cancel).await?;
    let (public, session_key, checksum, cancel) =
        (public.clone(), stored.session_key.clone(), stored.checksum.clone(), cancel.clone());
    let opened = tokio::task::spawn_blocking(move || {
        capstan_core::signing::verify_bundle(&public, &downloaded, &session_key, &checksum, &NoProgress, &cancel)
    })
    .await
    .expect("opening a bundle does not panic")
    .map_err(|error| match error {
        OpenError::Cancelled => ClientError::Cancelled,
        other => ClientError::NotOpenable { reason: other.to_string() },
    })?;
    if opened.sha256 != plain_sha256 {
        return Err(ClientError::NotOpenable {
            reason: format!("it opens to a zip with SHA-256 {}, not the {plain_sha256} published", opened.sha256),
        });
    }
    Ok(())
}
