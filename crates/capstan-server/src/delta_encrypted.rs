//! Delta updates of encrypted bundles (issue 12, point 4; protocol.md §8).
//!
//! A device with the app's `publicKey` builds an encrypted bundle from a manifest like this
//! (Android `DownloadService.handleManifestDownload`/`downloadAndVerify`, iOS
//! `CapgoUpdater.downloadManifest`/`processManifestFileData`): it opens each entry's
//! `file_hash` with the public key (the RSA "private encrypt" of the file's 32-byte SHA-256,
//! hex), downloads the entry, decrypts it on its own with the bundle's `session_key` (AES-128-CBC,
//! the bundle's key *and* IV), Brotli-decodes it when the name ends in `.br`, and compares the
//! SHA-256 of the result with the opened hash. So each entry is `encrypt(brotli-or-raw(file))`
//! with this bundle's key (its bytes belong to this bundle alone) and its hash is signed with the
//! private key, which only the publishing client holds.
//!
//! Division of work: the client signs the per-file hashes and sends them after the upload
//! (`PUT .../bundles/{version}/encrypted-files`, [`attach`]); the server makes the encrypted
//! files itself. It can: the AES key is wrapped with the *private* key, so the registered public
//! key opens it, as it already does to check every encrypted upload. That keeps the upload the
//! size it was (the files are not sent twice) and lets the server check everything a device will:
//! every file of the bundle is listed once, nothing else is, and each signed hash opens with the
//! bundle's key to the SHA-256 of that file. The encrypted files are made with
//! [`generate_artifacts`] (the plain bundles' rules: Brotli for files of at least 8 KiB that
//! shrink), then encrypted.
//!
//! One exception to those rules: an empty file is sent Brotli-encoded (a one-byte stream).
//! Encrypting zero bytes gives one block that decrypts to nothing, and current Android plugins
//! refuse an empty decryption result (`CryptoCipher.decryptAesFile`: "Empty decrypted data").
//!
//! Storage: per upload ([`EncryptedFileStore`]), blobs under the artifact layout
//! (`<app>/files/<sha256>-<random>[.br]`, so the orphan sweep knows them), removed by the
//! collection once the bundle is deleted.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use capstan_core::api::{Bundle, EncryptedFiles};
use capstan_core::bundle::InspectLimits;
use capstan_core::bundle::artifacts::{
    Artifact, ArtifactSink, Encoding, ManifestFile, SinkError, StoredForm, empty_brotli_stream, generate_artifacts,
};
use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{OpenError, SessionKey, SignedField, VerifyingKey, open_bundle, open_signed_sha256};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::AppState;
use crate::auth::random_hex;
use crate::delta::{TempFile, discard, store_new};
use crate::error::AppError;
use crate::store::{EncryptedFile, StoreError, StoredArtifact, StoredBundle};

/// Bytes of request body allowed per file of the bundle (a path and 512 hex characters of
/// JSON), plus [`BODY_SLACK`]: the body is bounded by the bundle it describes.
pub const BODY_PER_FILE: u64 = 2048;
/// See [`BODY_PER_FILE`].
pub const BODY_SLACK: u64 = 64 * 1024;

/// Hex characters of a signed SHA-256 (one RSA-2048 block).
const SIGNED_HEX_LEN: usize = 512;

/// The encrypted form of one content of the bundle, spooled before it goes to the blob store.
struct Encrypted {
    encoding: Encoding,
    size: u64,
    stored_size: u64,
    temp: TempFile,
}

/// Encrypts each artifact the generator produces with the bundle's session key, into
/// temporary files. Nothing is shared with other bundles, so nothing is ever "found".
struct EncryptingSink {
    session: SessionKey,
    upload_dir: PathBuf,
    made: HashMap<String, Encrypted>,
}

impl ArtifactSink for EncryptingSink {
    fn find(&mut self, _key: &str) -> Result<Option<StoredForm>, SinkError> {
        Ok(None)
    }

    fn put(&mut self, artifact: Artifact<'_>, bytes: &mut dyn Read) -> Result<(), SinkError> {
        let temp = TempFile(self.upload_dir.join(format!("encrypted-{}.part", random_hex(12))));
        // See the module comment: an empty file goes as a Brotli stream, never as zero bytes.
        let (encoding, stored_size) = if artifact.size == 0 {
            let stream = empty_brotli_stream();
            (Encoding::Brotli, self.session.encrypt_reader(&mut stream.as_slice(), &temp.0)?)
        } else {
            (artifact.form.encoding, self.session.encrypt_reader(bytes, &temp.0)?)
        };
        let made = Encrypted { encoding, size: artifact.size, stored_size, temp };
        self.made.insert(artifact.key.to_owned(), made);
        Ok(())
    }
}

/// Stores the encrypted files of the encrypted bundle `stored`, whose publishing client signed
/// every file's hash (`request`), and records them for delta updates. Returns the bundle.
pub async fn attach(
    state: &AppState,
    stored: &StoredBundle,
    key: VerifyingKey,
    request: EncryptedFiles,
) -> Result<Bundle, AppError> {
    let bundle = &stored.bundle;
    if bundle.session_key.is_empty() {
        return Err(AppError::bad_request(
            "not_encrypted",
            format!("bundle {} is not encrypted: its files are made at upload", bundle.version),
        ));
    }
    if !state.config().delta_artifacts {
        return Err(AppError::Conflict("delta artifacts are turned off on this server (`delta_artifacts`)".into()));
    }
    let signed = signed_hashes(request)?;

    let work = |name: &str| TempFile(state.upload_dir().join(format!("{name}-{}.part", random_hex(12))));
    let (encrypted, plain) = (work("stored"), work("plain"));
    download(state, &stored.blob_key, &encrypted.0).await?;
    let session_key = bundle.session_key.clone();
    let checksum = bundle.checksum.clone();
    let (source, out, upload_dir) = (encrypted.0.clone(), plain.0.clone(), state.upload_dir().to_path_buf());
    let (report, sink) = tokio::task::spawn_blocking(move || -> Result<_, AppError> {
        open_bundle(&key, &source, &session_key, &checksum, &out, &NoProgress, &CancelFlag::new())
            .map_err(stored_unopenable)?;
        let session = SessionKey::open(&key, &session_key).map_err(stored_unopenable)?;
        let mut sink = EncryptingSink { session, upload_dir, made: HashMap::new() };
        let report = generate_artifacts(&out, &InspectLimits::default(), &mut sink, &NoProgress, &CancelFlag::new())
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let files = check_signed(&key, &report.files, signed)?;
        Ok((files, sink))
    })
    .await
    .map_err(|e| AppError::Internal(Box::new(e)))??;

    // One blob per content of the bundle (two paths with the same content share it).
    let mut new = Vec::with_capacity(sink.made.len());
    for (sha256, made) in sink.made {
        let suffix = if made.encoding == Encoding::Brotli { ".br" } else { "" };
        let blob_key = format!("{}/files/{sha256}-{}{suffix}", bundle.app_id, random_hex(8));
        let artifact = StoredArtifact {
            sha256,
            encoding: made.encoding,
            size: made.size as i64,
            stored_size: made.stored_size as i64,
            blob_key,
        };
        new.push((artifact, made.temp));
    }
    let written = store_new(state, new).await?;
    let by_sha: HashMap<&str, &StoredArtifact> = written.iter().map(|a| (a.sha256.as_str(), a)).collect();
    let rows: Vec<EncryptedFile> = report
        .into_iter()
        .map(|(path, sha256, file_hash)| {
            let artifact = by_sha[sha256.as_str()];
            EncryptedFile {
                path,
                file_hash,
                sha256,
                encoding: artifact.encoding,
                size: artifact.size,
                stored_size: artifact.stored_size,
                blob_key: artifact.blob_key.clone(),
            }
        })
        .collect();
    match state.db().insert_encrypted_files(&bundle.app_id, &stored.blob_key, &rows).await {
        Ok(()) => {}
        Err(error) => {
            discard(state, &written).await;
            return Err(match error {
                StoreError::NotFound => AppError::NotFound(format!("bundle {} (deleted meanwhile)", bundle.version)),
                StoreError::Conflict(_) => {
                    AppError::Conflict(format!("bundle {} has its encrypted files already", bundle.version))
                }
                other => other.into(),
            });
        }
    }
    state.cache().invalidate(&bundle.app_id);
    let mut bundle = bundle.clone();
    crate::delta::fill_delta_sizes(state, &bundle.app_id.clone(), std::slice::from_mut(&mut bundle)).await?;
    Ok(bundle)
}

/// The request's signed hashes by path, checked for shape: each path once, each hash 512 hex
/// characters (lowercased, as it is stored and served).
fn signed_hashes(request: EncryptedFiles) -> Result<HashMap<String, String>, AppError> {
    let mut signed = HashMap::with_capacity(request.files.len());
    for file in request.files {
        let hash = file.file_hash.trim().to_ascii_lowercase();
        if hash.len() != SIGNED_HEX_LEN || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::bad_request(
                "invalid_file_hash",
                format!(
                    "the file_hash of `{}` must be the file's signed SHA-256: {SIGNED_HEX_LEN} hex characters",
                    file.path
                ),
            ));
        }
        if signed.insert(file.path.clone(), hash).is_some() {
            return Err(AppError::bad_request("duplicate_file", format!("`{}` is listed twice", file.path)));
        }
    }
    Ok(signed)
}

/// Matches the bundle's files (zip order) with the signed hashes: every file listed, nothing
/// else, each hash opening with the bundle's key to that file's SHA-256. Returns (path, sha256,
/// file_hash) in zip order.
fn check_signed(
    key: &VerifyingKey,
    files: &[ManifestFile],
    mut signed: HashMap<String, String>,
) -> Result<Vec<(String, String, String)>, AppError> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        if file.path.to_ascii_lowercase().ends_with(".br") {
            // The plugin Brotli-decodes every entry so named (the plain bundles' rule).
            return Err(AppError::Conflict(format!(
                "the bundle holds `{}`: a file named .br cannot be delivered file by file (devices get the zip)",
                file.path
            )));
        }
        let hash = signed.remove(&file.path).ok_or_else(|| {
            AppError::bad_request("missing_file", format!("`{}` of the bundle has no signed hash", file.path))
        })?;
        let opened = open_signed_sha256(key, &hash, SignedField::FileHash).map_err(|e| {
            AppError::bad_request("invalid_file_hash", format!("the file_hash of `{}` does not open: {e}", file.path))
        })?;
        if opened != file.sha256 {
            return Err(AppError::bad_request(
                "file_hash_mismatch",
                format!(
                    "the file_hash of `{}` opens to SHA-256 {opened}, but the bundle's file hashes to {}",
                    file.path, file.sha256
                ),
            ));
        }
        out.push((file.path.clone(), file.sha256.clone(), hash));
    }
    if let Some(extra) = signed.keys().min() {
        return Err(AppError::bad_request("unknown_file", format!("`{extra}` is not a file of the bundle")));
    }
    Ok(out)
}

/// A stored bundle that no longer opens with its registered key: the key changed or the
/// bytes are damaged; either way not the client's mistake to fix here.
fn stored_unopenable(error: OpenError) -> AppError {
    match error {
        OpenError::Io { source, .. } => AppError::Internal(Box::new(source)),
        other => AppError::InvalidBundle {
            code: "invalid_signature",
            message: format!("the stored bundle does not open with its registered key: {other}"),
        },
    }
}

/// Copies a blob into a local file.
async fn download(state: &AppState, key: &str, path: &Path) -> Result<(), AppError> {
    let io = |e: std::io::Error| AppError::Internal(Box::new(e));
    let mut read = state.blobs().read(key, None).await?;
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    while let Some(chunk) = read.body.next().await {
        file.write_all(&chunk.map_err(io)?).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(())
}
