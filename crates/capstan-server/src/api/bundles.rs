//! Bundles: streaming upload, checks, then visibility.
//!
//! The upload is streamed to a temporary file while it is hashed (never held in memory), then
//! compared with the checksum the client announced, inspected with `capstan-core` (the same
//! rules the CLI applies before uploading), moved into the blob store durably, and only then
//! inserted in the database in one transaction. Until that insert nothing is visible; if the
//! server dies before it, startup removes the temporary file and the unreferenced blob.
//! A plain bundle's per-file artifacts (delta updates, [`crate::delta`]) are stored before the
//! zip and committed with the bundle row in the same transaction.
//!
//! An encrypted (signed) upload is opened first, exactly as a device opens it, with the
//! registered public key its `key_id` names: the signed checksum and session key must open, the
//! bytes must decrypt and hash to the signed checksum, and the zip inside is inspected with the
//! same rules as a plain upload. The AES key is wrapped with the *private* key, so the public
//! key is all this takes: encryption authenticates bundles, it does not hide them.

use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use capstan_core::api::{AppSigning, Bundle, BundleDownload, UploadParams};
use capstan_core::bundle::{BundleReport, InspectError, InspectLimits, inspect_zip};
use capstan_core::native::NativeFingerprint;
use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{KEY_ID_LEN, OpenError, VerifyingKey, open_bundle};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{ApiJson, ApiQuery, audit, require_app, snapshot_of};
use crate::AppState;
use crate::auth::{Caller, random_hex};
use crate::delta;
use crate::error::AppError;
use crate::store::{FilesInserted, StoreError, StoredBundle};

/// Header carrying the SHA-256 the client computed (alternative to the `sha256` parameter).
pub const SHA256_HEADER: &str = "x-capstan-sha256";

/// Removes the temporary upload file however the request ends.
struct TempUpload(PathBuf);

impl Drop for TempUpload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_version(version: &str) -> Result<(), AppError> {
    let ok = version.len() <= 64 && semver::Version::parse(version).is_ok();
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request("invalid_version", format!("`{version}` is not a semver version such as 1.4.2")))
    }
}

/// What an encrypted upload says about itself.
struct Encryption {
    session_key: String,
    /// The signed checksum, lowercase.
    checksum: String,
    key_id: String,
}

struct Validated {
    sha256: String,
    min_native: Option<String>,
    encrypted: Option<Encryption>,
}

fn validate(params: &UploadParams, headers: &HeaderMap) -> Result<Validated, AppError> {
    check_version(&params.version)?;
    let sha256 = params
        .sha256
        .clone()
        .or_else(|| headers.get(SHA256_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .map(|s| s.trim().to_ascii_lowercase())
        .ok_or_else(|| {
            AppError::bad_request("missing_sha256", format!("send the zip's SHA-256 as `sha256` or `{SHA256_HEADER}`"))
        })?;
    if !is_hex(&sha256, 64) {
        return Err(AppError::bad_request("invalid_sha256", "sha256 must be 64 hex characters"));
    }
    let min_native = match params.min_native_version.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => {
            let parsed = capstan_core::version::parse_lenient(text)
                .map_err(|e| AppError::bad_request("invalid_version", e.to_string()))?;
            Some(parsed.to_string())
        }
        None => None,
    };
    if params.notes.as_ref().is_some_and(|n| n.len() > 10_000) {
        return Err(AppError::bad_request("invalid_notes", "notes are limited to 10 000 bytes"));
    }
    let encrypted = match (&params.session_key, &params.checksum, &params.key_id) {
        (None, None, None) => None,
        (Some(session_key), Some(checksum), Some(key_id)) => {
            let checksum = checksum.trim().to_ascii_lowercase();
            if !is_hex(&checksum, 512) {
                return Err(AppError::bad_request(
                    "invalid_checksum",
                    "the checksum of an encrypted bundle is its signed SHA-256: 512 hex characters",
                ));
            }
            if session_key.is_empty() || session_key.len() > 2048 || !session_key.contains(':') {
                return Err(AppError::bad_request(
                    "invalid_session_key",
                    "session_key must be `base64(iv):base64(key)`",
                ));
            }
            if key_id.len() != KEY_ID_LEN {
                return Err(AppError::bad_request(
                    "invalid_key_id",
                    format!("key_id must be the first {KEY_ID_LEN} characters of the public key's PEM body"),
                ));
            }
            Some(Encryption { session_key: session_key.clone(), checksum, key_id: key_id.clone() })
        }
        _ => {
            return Err(AppError::bad_request(
                "incomplete_encryption",
                "encrypted bundles need session_key, checksum and key_id together",
            ));
        }
    };
    Ok(Validated { sha256, min_native, encrypted })
}

/// Streams the body to `path`, hashing it; refuses more than `limit` bytes.
async fn receive(state: &AppState, body: Body, path: &FsPath, limit: u64) -> Result<(String, u64), AppError> {
    let io = |e: std::io::Error| AppError::Internal(Box::new(e));
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| AppError::bad_request("upload_interrupted", format!("upload interrupted: {e}")))?;
        state.metrics().upload_bytes(chunk.len());
        size += chunk.len() as u64;
        if size > limit {
            return Err(AppError::TooLarge { limit });
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Upload a bundle.
pub async fn upload(
    caller: Caller,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Bundle>), AppError> {
    require_app(&state, &app_id).await?;
    let checked = validate(&params, &headers)?;
    // Refused before a byte is read: what the app's signing rule and keys cannot accept.
    let signing = state.db().app_signing(&app_id).await?;
    let opener = match &checked.encrypted {
        Some(encryption) => Some(registered_key(&signing, &encryption.key_id)?),
        None if signing.require_signed => {
            return Err(AppError::InvalidBundle {
                code: "signature_required",
                message: format!(
                    "app `{app_id}` requires signed bundles and this upload is not signed: publish with the app's \
                     signing key (`capstan keys show --app {app_id}`)"
                ),
            });
        }
        None => None,
    };
    let limit = state.config().max_bundle_bytes;
    if let Some(length) =
        headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && length > limit
    {
        return Err(AppError::TooLarge { limit });
    }
    if state.db().get_bundle(&app_id, &params.version).await?.is_some() {
        return Err(AppError::Conflict(format!("bundle {} already exists; versions are immutable", params.version)));
    }

    let temp = TempUpload(state.upload_dir().join(format!("upload-{}.part", random_hex(12))));
    let (sha256, size) = receive(&state, body, &temp.0, limit).await?;
    if sha256 != checked.sha256 {
        return Err(AppError::InvalidBundle {
            code: "checksum_mismatch",
            message: format!("received bytes hash to {sha256}, not the announced {}", checked.sha256),
        });
    }
    let mut spooled_artifacts = None;
    let (checksum, session_key, key_id, report) = match (checked.encrypted, opener) {
        (Some(encryption), Some(key)) => {
            let plain = TempUpload(state.upload_dir().join(format!("upload-{}.plain", random_hex(12))));
            let report = open_and_inspect(key, temp.0.clone(), plain.0.clone(), &encryption).await?;
            (encryption.checksum, encryption.session_key, Some(encryption.key_id), report)
        }
        _ if state.config().delta_artifacts => {
            // Artifacts are generated while the zip is inspected (inspection reads on one core,
            // generation on all): stored only if the bundle passes and gets a manifest.
            let (report, spooled) =
                tokio::join!(inspect(temp.0.clone()), delta::spool(&state, &app_id, temp.0.clone()));
            let report = report?;
            spooled_artifacts = Some(spooled?);
            (sha256.clone(), String::new(), None, report)
        }
        _ => (sha256.clone(), String::new(), None, inspect(temp.0.clone()).await?),
    };
    let file_count = report.files.len() as i64;
    let generated = match spooled_artifacts {
        Some(spooled) if delta::deliverable(&state, &session_key, &report.files) => Some(spooled.store(&state).await?),
        _ => None,
    };

    // Unique per upload (not only per content): no other upload, on this replica or another,
    // ever writes or deletes this key, whatever happens to a bundle of the same version.
    let blob_key = format!("{app_id}/{}/{sha256}-{}.zip", params.version, random_hex(4));
    if let Err(error) = state.blobs().put_file(&blob_key, &temp.0).await {
        if let Some(generated) = &generated {
            delta::discard(&state, &generated.written).await;
        }
        return Err(error.into());
    }
    let bundle = Bundle {
        app_id: app_id.clone(),
        version: params.version.clone(),
        sha256,
        checksum,
        size: size as i64,
        file_count,
        min_native_version: checked.min_native,
        notes: params.notes.unwrap_or_default(),
        session_key,
        key_id,
        warnings: report.warnings,
        native_digest: None,
        created_by: caller.actor(),
        created_at_ms: state.now_ms(),
        delta: None,
    };
    let entry =
        audit(&state, caller.actor(), Some(&app_id), "bundle.upload", &bundle.version, None, snapshot_of(&bundle));
    let stored = StoredBundle { bundle, blob_key: blob_key.clone() };
    let inserted = match &generated {
        None => {
            state.db().insert_bundle(&stored, entry).await.map(|_| FilesInserted::Inserted { unused_blobs: vec![] })
        }
        Some(generated) => {
            state
                .db()
                .insert_bundle_with_files(&stored, &generated.files, &generated.written, &generated.reused, entry)
                .await
        }
    };
    match inserted {
        Ok(FilesInserted::Inserted { unused_blobs }) => {
            for key in unused_blobs {
                let _ = state.blobs().delete(&key).await;
            }
            state.cache().invalidate(&app_id);
            let mut bundle = stored.bundle;
            delta::fill_delta_sizes(&state, &app_id, std::slice::from_mut(&mut bundle)).await?;
            Ok((StatusCode::CREATED, Json(bundle)))
        }
        Ok(FilesInserted::ArtifactsGone(gone)) => {
            let _ = state.blobs().delete(&blob_key).await;
            if let Some(generated) = &generated {
                delta::discard(&state, &generated.written).await;
            }
            Err(AppError::Conflict(format!(
                "{} file(s) this bundle shares with a bundle deleted during the upload were removed meanwhile; \
                 upload it again",
                gone.len()
            )))
        }
        Err(error) => {
            if let Some(generated) = &generated {
                delta::discard(&state, &generated.written).await;
            }
            // Not committed (a concurrent upload of the same version won, or the database
            // failed): the blob is this upload's alone.
            let _ = state.blobs().delete(&blob_key).await;
            Err(error.into())
        }
    }
}

/// The registered key an encrypted upload names, or why it cannot be accepted.
pub(crate) fn registered_key(signing: &AppSigning, key_id: &str) -> Result<VerifyingKey, AppError> {
    let record = signing.key(key_id).ok_or_else(|| AppError::InvalidBundle {
        code: "unregistered_key",
        message: format!(
            "this bundle is signed with key {key_id}, which is not registered for app `{}`: an admin registers its \
             public key first (`capstan keys register`)",
            signing.app_id
        ),
    })?;
    // Stored keys were parsed when registered; one that no longer parses is a damaged database.
    VerifyingKey::from_pem(&record.public_key).map_err(|e| AppError::Internal(Box::new(e)))
}

/// Inspects a plain zip with the rules every bundle meets.
async fn inspect(zip: PathBuf) -> Result<BundleReport, AppError> {
    tokio::task::spawn_blocking(move || inspect_zip(&zip, &InspectLimits::default(), &NoProgress, &CancelFlag::new()))
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(|e| match e {
            InspectError::Io { source, .. } => AppError::Internal(Box::new(source)),
            other => AppError::InvalidBundle { code: "invalid_bundle", message: other.to_string() },
        })
}

/// Opens an encrypted upload as a device would (into `plain`), then inspects the zip inside.
async fn open_and_inspect(
    key: VerifyingKey,
    encrypted: PathBuf,
    plain: PathBuf,
    encryption: &Encryption,
) -> Result<BundleReport, AppError> {
    let (session_key, checksum) = (encryption.session_key.clone(), encryption.checksum.clone());
    let out = plain.clone();
    tokio::task::spawn_blocking(move || {
        open_bundle(&key, &encrypted, &session_key, &checksum, &out, &NoProgress, &CancelFlag::new())
    })
    .await
    .map_err(|e| AppError::Internal(Box::new(e)))?
    .map_err(|e| match e {
        OpenError::Io { source, .. } => AppError::Internal(Box::new(source)),
        other => AppError::InvalidBundle {
            code: "invalid_signature",
            message: format!("the encrypted bundle does not open as a device would open it: {other}"),
        },
    })?;
    inspect(plain).await
}

/// The URL devices are given for a bundle.
pub async fn download(
    State(state): State<AppState>,
    Path((app_id, version)): Path<(String, String)>,
) -> Result<Json<BundleDownload>, AppError> {
    let stored = state.db().get_bundle(&app_id, &version).await?;
    let stored = stored.ok_or_else(|| AppError::NotFound(format!("bundle {version}")))?;
    // The same URL `/updates` offers: presigned when downloads go straight from the store.
    let presigned = match state.links().presigned() {
        true => state.links().presigned_url(state.blobs(), &stored.blob_key).await,
        false => None,
    };
    let url = presigned.unwrap_or_else(|| crate::device::download::url(state.base_url(), &stored.blob_key));
    Ok(Json(BundleDownload { url }))
}

/// List bundles.
pub async fn list(State(state): State<AppState>, Path(app_id): Path<String>) -> Result<Json<Vec<Bundle>>, AppError> {
    require_app(&state, &app_id).await?;
    let mut bundles: Vec<Bundle> = state.db().list_bundles(&app_id).await?.into_iter().map(|b| b.bundle).collect();
    delta::fill_delta_sizes(&state, &app_id, &mut bundles).await?;
    Ok(Json(bundles))
}

/// Show a bundle.
pub async fn show(
    State(state): State<AppState>,
    Path((app_id, version)): Path<(String, String)>,
) -> Result<Json<Bundle>, AppError> {
    let stored = state.db().get_bundle(&app_id, &version).await?;
    let mut bundle = stored.map(|b| b.bundle).ok_or_else(|| AppError::NotFound(format!("bundle {version}")))?;
    delta::fill_delta_sizes(&state, &app_id, std::slice::from_mut(&mut bundle)).await?;
    Ok(Json(bundle))
}

/// Delete a bundle that no channel serves.
pub async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, version)): Path<(String, String)>,
) -> Result<Json<Bundle>, AppError> {
    let before = state
        .db()
        .get_bundle(&app_id, &version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("bundle {version}")))?;
    let entry =
        audit(&state, caller.actor(), Some(&app_id), "bundle.delete", &version, snapshot_of(&before.bundle), None);
    let deleted = match state.db().delete_bundle(&app_id, &version, entry).await {
        Err(StoreError::NotFound) => return Err(AppError::NotFound(format!("bundle {version}"))),
        other => other?,
    };
    state.cache().invalidate(&app_id);
    // After the commit: a crash here leaves an orphan blob that the next start removes.
    if let Err(error) = state.blobs().delete(&deleted.blob_key).await {
        tracing::warn!(%error, key = %deleted.blob_key, "could not remove a deleted bundle's blob");
    }
    // Its files no other bundle lists; a crash here leaves them to the collection job.
    if let Err(error) = delta::collect(&state, Some(&app_id)).await {
        tracing::warn!(%error, "could not collect a deleted bundle's artifacts; the collection job will");
    }
    Ok(Json(deleted.bundle))
}

/// Record the native fingerprint the publishing client computed for a bundle (once).
pub async fn set_native(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, version)): Path<(String, String)>,
    ApiJson(fingerprint): ApiJson<NativeFingerprint>,
) -> Result<Json<Bundle>, AppError> {
    fingerprint
        .validate()
        .map_err(|e| AppError::bad_request("invalid_fingerprint", format!("not a native fingerprint: {e}")))?;
    let summary = serde_json::json!({
        "digest": fingerprint.digest,
        "files": fingerprint.file_count,
        "dependencies": fingerprint.dependencies.len(),
    });
    let entry =
        audit(&state, caller.actor(), Some(&app_id), "bundle.native_fingerprint", &version, None, Some(summary));
    let text = serde_json::to_string(&fingerprint).map_err(|e| AppError::Internal(Box::new(e)))?;
    match state.db().set_native_fingerprint(&app_id, &version, &text, &fingerprint.digest, entry).await {
        Err(StoreError::NotFound) => return Err(AppError::NotFound(format!("bundle {version}"))),
        other => other?,
    }
    state.cache().invalidate(&app_id);
    let stored = state.db().get_bundle(&app_id, &version).await?;
    stored.map(|b| Json(b.bundle)).ok_or_else(|| AppError::NotFound(format!("bundle {version}")))
}

/// A bundle's native fingerprint, as recorded at publish.
pub async fn native(
    State(state): State<AppState>,
    Path((app_id, version)): Path<(String, String)>,
) -> Result<Json<NativeFingerprint>, AppError> {
    let text = state
        .db()
        .native_fingerprint(&app_id, &version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("native fingerprint of bundle {version}")))?;
    let fingerprint = serde_json::from_str(&text).map_err(|e| AppError::Internal(Box::new(e)))?;
    Ok(Json(fingerprint))
}
