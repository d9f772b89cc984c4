//! Delta updates on the server (protocol.md §8): per-file artifacts of each plain bundle,
//! generated at upload into the blob store, and their collection once no bundle lists them.
//!
//! At upload, after the zip passed inspection, every file becomes a content-addressed artifact
//! (`capstan_core::bundle::artifacts`: Brotli where it pays) stored once per app: a file whose
//! content the app already has is not stored again. Blobs are written first; the bundle row,
//! the rows of the artifacts it introduced and its file list then commit in one transaction.
//! A crash before that commit leaves no visible bundle, only blobs no row names, which the
//! orphan sweep removes ([`CollectArtifacts`], and start-up). Deleting a bundle removes its file
//! list; the artifacts no other bundle lists are removed right after, or by the job after a
//! crash. Blob keys carry a random suffix, so collecting an artifact never deletes the blob of
//! an upload that stored the same content again meanwhile.
//!
//! Encrypted bundles get no artifacts at upload: their files are encrypted with the bundle's own
//! session key and their manifest hashes must be signed with the private key, which only the
//! publishing client holds. It sends those signed hashes afterwards and the server then stores
//! the bundle's own encrypted files ([`crate::delta_encrypted`]).

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use async_trait::async_trait;
use capstan_core::api::{Bundle, DeltaSize};
use capstan_core::bundle::InspectLimits;
use capstan_core::bundle::artifacts::{
    Artifact, ArtifactSink, Encoding, ManifestFile, SinkError, StoredForm, delta_download_size, generate_artifacts,
};
use capstan_core::progress::{CancelFlag, NoProgress};
use futures_util::StreamExt;

use crate::AppState;
use crate::auth::random_hex;
use crate::error::AppError;
use crate::jobs::{Job, JobError};
use crate::store::{BundleFile, StoredArtifact, StoredBundle};

/// The artifacts of one upload, ready to commit with its bundle.
#[derive(Debug, Default)]
pub struct Generated {
    /// Every file in zip order: (path, SHA-256).
    pub files: Vec<(String, String)>,
    /// Artifacts this upload stored.
    pub written: Vec<StoredArtifact>,
    /// Artifacts it found already stored.
    pub reused: Vec<StoredArtifact>,
}

/// Most artifact blobs stored at once: the blob store makes each durable (a disk store fsyncs
/// the file and its folders), and concurrent syncs share the filesystem's journal commits, where
/// one at a time would cost a full commit per file.
const CONCURRENT_PUTS: usize = 16;

/// Where generated artifacts go first: the app's known artifacts are read once (no query per
/// file), and new ones are written to temporary files, stored in the blob store afterwards
/// ([`store_new`]), concurrently. It runs on a blocking thread: generation hashes and
/// compresses on all cores.
struct SpoolSink {
    upload_dir: PathBuf,
    app_id: String,
    known: HashMap<String, StoredArtifact>,
    new: Vec<(StoredArtifact, TempFile)>,
    reused: Vec<StoredArtifact>,
}

/// Removes a temporary file however the upload ends (the blob store may have moved it away).
pub(crate) struct TempFile(pub(crate) PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl ArtifactSink for SpoolSink {
    fn find(&mut self, key: &str) -> Result<Option<StoredForm>, SinkError> {
        Ok(self.known.get(key).map(|artifact| {
            self.reused.push(artifact.clone());
            StoredForm { encoding: artifact.encoding, stored_size: artifact.stored_size as u64 }
        }))
    }

    fn put(&mut self, artifact: Artifact<'_>, bytes: &mut dyn Read) -> Result<(), SinkError> {
        let temp = TempFile(self.upload_dir.join(format!("artifact-{}.part", random_hex(12))));
        let mut file = std::fs::File::create(&temp.0)?;
        let written = std::io::copy(bytes, &mut file)?;
        drop(file);
        if written != artifact.form.stored_size {
            return Err(format!("expected {} bytes, got {written}", artifact.form.stored_size).into());
        }
        let suffix = match artifact.form.encoding {
            Encoding::Raw => "",
            Encoding::Brotli => ".br",
        };
        let stored = StoredArtifact {
            sha256: artifact.key.to_owned(),
            encoding: artifact.form.encoding,
            size: artifact.size as i64,
            stored_size: written as i64,
            blob_key: format!("{}/files/{}-{}{suffix}", self.app_id, artifact.key, random_hex(4)),
        };
        self.new.push((stored, temp));
        Ok(())
    }
}

/// Whether a blob key has the layout artifacts are stored under (`<app>/files/<sha256>-<random
/// hex>[.br]`): the orphan sweep removes only keys the server writes.
pub(crate) fn is_artifact_key(key: &str) -> bool {
    let hex = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit());
    let mut parts = key.split('/');
    let (Some(_app), Some("files"), Some(name), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let name = name.strip_suffix(".br").unwrap_or(name);
    matches!(name.split_once('-'), Some((sha, random)) if sha.len() == 64 && hex(sha) && hex(random))
}

/// Stores the spooled artifacts in the blob store, [`CONCURRENT_PUTS`] at a time. On failure,
/// removes those it stored.
pub(crate) async fn store_new(
    state: &AppState,
    new: Vec<(StoredArtifact, TempFile)>,
) -> Result<Vec<StoredArtifact>, AppError> {
    let results: Vec<(StoredArtifact, Result<(), crate::store::BlobError>)> = futures_util::stream::iter(new)
        .map(|(artifact, temp)| async move {
            let result = state.blobs().put_file(&artifact.blob_key, &temp.0).await;
            drop(temp);
            (artifact, result)
        })
        .buffer_unordered(CONCURRENT_PUTS)
        .collect()
        .await;
    let mut stored = Vec::with_capacity(results.len());
    let mut failure = None;
    for (artifact, result) in results {
        match result {
            Ok(()) => stored.push(artifact),
            Err(error) => failure = Some(error),
        }
    }
    match failure {
        None => Ok(stored),
        Some(error) => {
            discard(state, &stored).await;
            Err(error.into())
        }
    }
}

/// Whether a bundle gets per-file artifacts (and so a manifest): the server has delta artifacts
/// on, the bundle is plain (an encrypted bundle's files would need per-file encryption and
/// signed hashes from the publishing client), and no file's name ends in `.br` (the plugin
/// Brotli-decodes every entry so named and writes it without the suffix: a precompressed
/// `app.js.br` next to `app.js` would break the install).
pub fn deliverable(state: &AppState, session_key: &str, files: &[capstan_core::bundle::BundleFile]) -> bool {
    state.config().delta_artifacts
        && session_key.is_empty()
        && !files.iter().any(|file| file.path.to_ascii_lowercase().ends_with(".br"))
}

/// A bundle's artifacts generated into temporary files, not yet in the blob store: made while
/// the upload is still being inspected, stored ([`Spooled::store`]) only once it passed. Dropped
/// unstored, its temporary files are removed.
pub struct Spooled {
    files: Vec<(String, String)>,
    new: Vec<(StoredArtifact, TempFile)>,
    reused: Vec<StoredArtifact>,
}

/// Generates the artifacts of the plain bundle zip at `zip` into temporary files. Safe to run
/// on a zip not yet inspected: generation checks the same rules as inspection as it reads.
pub async fn spool(state: &AppState, app_id: &str, zip: PathBuf) -> Result<Spooled, AppError> {
    let mut sink = SpoolSink {
        upload_dir: state.upload_dir().to_path_buf(),
        app_id: app_id.to_owned(),
        known: state.db().app_artifacts(app_id).await?,
        new: Vec::new(),
        reused: Vec::new(),
    };
    let (sink, result) = tokio::task::spawn_blocking(move || {
        let result = generate_artifacts(&zip, &InspectLimits::default(), &mut sink, &NoProgress, &CancelFlag::new());
        (sink, result)
    })
    .await
    .map_err(|e| AppError::Internal(Box::new(e)))?;
    // On an error the spooled files go with the sink; nothing reached the blob store yet.
    let report = result.map_err(|error| AppError::Internal(Box::new(error)))?;
    Ok(Spooled {
        files: report.files.into_iter().map(|file| (file.path, file.sha256)).collect(),
        new: sink.new,
        reused: sink.reused,
    })
}

impl Spooled {
    /// Stores the new artifacts in the blob store. On failure, the blobs it stored are removed
    /// (a crash leaves them to the orphan sweep).
    pub async fn store(self, state: &AppState) -> Result<Generated, AppError> {
        let written = store_new(state, self.new).await?;
        Ok(Generated { files: self.files, written, reused: self.reused })
    }
}

/// Removes blobs of artifacts no row names (best effort: the orphan sweep retries).
pub async fn discard(state: &AppState, artifacts: &[StoredArtifact]) {
    let keys: Vec<String> = artifacts.iter().map(|a| a.blob_key.clone()).collect();
    delete_blobs(state, &keys).await;
}

async fn delete_blobs(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(error) = state.blobs().delete(key).await {
            tracing::warn!(%error, %key, "could not remove an unused artifact blob; the orphan sweep will");
        }
    }
}

/// Removes the app's artifacts that no bundle lists any more, and the files of its deleted
/// encrypted bundles, with their blobs.
pub async fn collect(state: &AppState, app_id: Option<&str>) -> Result<usize, JobError> {
    let mut keys = state.db().collect_artifacts(app_id).await?;
    keys.extend(state.db().collect_encrypted_files(app_id).await?);
    delete_blobs(state, &keys).await;
    Ok(keys.len())
}

/// The files of a bundle as `capstan_core` computes delta sizes with.
fn manifest_files(files: &[BundleFile]) -> Vec<ManifestFile> {
    files
        .iter()
        .map(|file| ManifestFile {
            path: file.path.clone(),
            sha256: file.artifact.sha256.clone(),
            size: file.artifact.size as u64,
            encoding: file.artifact.encoding,
            stored_size: file.artifact.stored_size as u64,
        })
        .collect()
}

/// Fills [`Bundle::delta`] of the app's bundles: what a device holding the previous upload of
/// the same native line (MIN_NATIVE_VERSION) downloads with a delta update.
pub async fn fill_delta_sizes(state: &AppState, app_id: &str, bundles: &mut [Bundle]) -> Result<(), AppError> {
    let all: Vec<StoredBundle> = state.db().list_bundles(app_id).await?;
    let files = match bundles {
        // One bundle (an upload's answer): only its file list and its predecessor's, not every
        // bundle's (thousands of rows each).
        [bundle] => {
            let mut files = HashMap::new();
            for version in std::iter::once(&bundle.version).chain(previous_of(bundle, &all).map(|p| &p.version)) {
                files.insert(version.clone(), state.db().bundle_files(app_id, version).await?);
            }
            files
        }
        _ => state.db().app_bundle_files(app_id).await?,
    };
    for bundle in bundles.iter_mut() {
        bundle.delta = delta_size(bundle, &all, &files);
    }
    Ok(())
}

/// The bundle a delta of `bundle` is measured from: the newest earlier upload of the same line
/// (ties on time broken by version, as listed).
fn previous_of<'a>(bundle: &Bundle, all: &'a [StoredBundle]) -> Option<&'a Bundle> {
    all.iter()
        .map(|stored| &stored.bundle)
        .filter(|other| other.min_native_version == bundle.min_native_version && other.version != bundle.version)
        .filter(|other| (other.created_at_ms, &other.version) < (bundle.created_at_ms, &bundle.version))
        .max_by(|a, b| (a.created_at_ms, &a.version).cmp(&(b.created_at_ms, &b.version)))
}

fn delta_size(bundle: &Bundle, all: &[StoredBundle], files: &HashMap<String, Vec<BundleFile>>) -> Option<DeltaSize> {
    let next = files.get(&bundle.version).filter(|files| !files.is_empty())?;
    let previous = previous_of(bundle, all)?;
    let held = files.get(&previous.version).filter(|files| !files.is_empty())?;
    let bytes = delta_download_size(&manifest_files(held), &manifest_files(next));
    Some(DeltaSize { from_version: previous.version.clone(), download_bytes: bytes as i64 })
}

/// How often unused artifacts and orphan blobs are collected.
const COLLECT_EVERY_MS: i64 = 60 * 60 * 1000;

/// Collects what a crash left: artifacts no bundle lists (a crash right after a bundle was
/// deleted) and blobs no row names (a crash during an upload).
pub struct CollectArtifacts;

#[async_trait]
impl Job for CollectArtifacts {
    fn name(&self) -> &'static str {
        "collect-artifacts"
    }

    fn every_ms(&self) -> i64 {
        COLLECT_EVERY_MS
    }

    async fn run(&self, state: &AppState) -> Result<(), JobError> {
        let removed = collect(state, None).await?;
        if removed > 0 {
            tracing::info!(removed, "removed artifacts no bundle lists");
        }
        crate::remove_orphan_blobs(state.db(), state.blobs(), state.now_ms()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_orphan_sweep_recognises_only_artifact_keys() {
        let sha = "ab".repeat(32);
        for ours in [format!("app/files/{sha}-0f3a"), format!("app/files/{sha}-0f3a.br")] {
            assert!(is_artifact_key(&ours), "{ours}");
        }
        for other in [
            format!("app/files/{sha}"),
            format!("app/files/{sha}-"),
            format!("app/files/{sha}-zz"),
            format!("app/other/{sha}-0f3a"),
            format!("app/files/x/{sha}-0f3a"),
            format!("app/files/{}-0f3a", "ab".repeat(31)),
            "backups/files/readme.txt".into(),
        ] {
            assert!(!is_artifact_key(&other), "{other}");
        }
    }

    fn bundle(version: &str, at: i64, line: Option<&str>) -> StoredBundle {
        let bundle = Bundle {
            version: version.into(),
            created_at_ms: at,
            min_native_version: line.map(str::to_owned),
            ..Bundle::default()
        };
        StoredBundle { bundle, blob_key: String::new() }
    }

    fn file(path: &str, sha: &str, stored: i64) -> BundleFile {
        let artifact = StoredArtifact {
            sha256: sha.into(),
            encoding: Encoding::Raw,
            size: stored,
            stored_size: stored,
            blob_key: String::new(),
        };
        BundleFile { path: path.into(), artifact }
    }

    #[test]
    fn the_delta_is_against_the_previous_upload_of_the_same_line() {
        let all = vec![bundle("1.0.0", 1, None), bundle("2.0.0", 2, Some("2.0.0")), bundle("1.0.1", 3, None)];
        let files = HashMap::from([
            ("1.0.0".to_owned(), vec![file("index.html", "a", 10), file("app.js", "b", 1000)]),
            ("2.0.0".to_owned(), vec![file("index.html", "c", 10)]),
            ("1.0.1".to_owned(), vec![file("index.html", "d", 11), file("app.js", "b", 1000)]),
        ]);
        let delta = delta_size(&all[2].bundle, &all, &files).unwrap();
        assert_eq!(delta, DeltaSize { from_version: "1.0.0".into(), download_bytes: 11 });
        assert_eq!(delta_size(&all[0].bundle, &all, &files), None, "no earlier bundle");
        assert_eq!(delta_size(&all[1].bundle, &all, &files), None, "first of its line");
    }
}
