//! Per-file artifacts for delta updates: a bundle zip → one content-addressed blob per file,
//! plus the list (in zip order) from which the update server builds the `manifest` of an update
//! answer (protocol.md §8).
//!
//! # What the plugin does with a manifest (read in `Cap-go/capacitor-updater`)
//!
//! Android `DownloadService.java` (`handleManifestDownload`, `downloadAndVerify`), iOS
//! `CapgoUpdater+Manifest.swift`, and the Rust core that newer versions share
//! (`core/src/engine/manifest.rs`) agree on this, per entry `{file_name, file_hash,
//! download_url}`:
//!
//! - An empty `file_hash` fails the whole download. With encryption (a public key in the app and
//!   a `session_key` in the answer), `file_hash` is first recovered with the public key
//!   (`CryptoCipher.decryptChecksum`: 256 bytes as hex, or legacy base64, RSA-2048 PKCS#1 v1.5
//!   "private encrypt" of the 32 raw SHA-256 bytes; the CLI's `encryptChecksumV3`).
//! - The hash compared is always the lowercase hex SHA-256 of the *original* file: Android hashes
//!   the bytes it writes after decrypting and Brotli-decoding (`writeFileAtomic`), iOS hashes the
//!   written file. Comparison ignores case.
//! - Reuse before download: a file of the app-store build with that hash (Android: APK
//!   `assets/public/<path>` then `files/public/<path>`, `.br` stripped; iOS:
//!   `Bundle.main/public/<file_name>`), else the delta cache `capgo_downloads/<hash>_<basename>`
//!   (basename without `.br`; the legacy name with `.br` is also tried), trusted by name and size.
//! - Download (Android): into `partial_<hash>_<sha256(file_name)[..16]>.tmp`; when it already
//!   holds n > 0 bytes the request carries `Range: bytes=n-`; **206 appends, 200 replaces, 416
//!   keeps the partial as the whole file**, anything else fails. iOS sends a plain GET and
//!   accepts any 2xx. Up to 64 files at once on Android (2 per core, at least 8), 8 on iOS.
//! - Then, in order: AES-128-CBC decryption of each file on its own with the bundle's session
//!   key and IV, Brotli decoding when `file_name` ends in `.br` (the body is raw Brotli, never a
//!   `Content-Encoding`), the SHA-256 check, and the write to `<bundle>/<file_name without .br>`.
//!   `file_name` is a `/`-separated path relative to the bundle root (where `index.html` is);
//!   parent folders are created, paths escaping the bundle and two entries with the same target
//!   fail the download. Verified files are copied into the delta cache for the next update.
//! - Versions: plugins before the `.br` naming Brotli-decoded *every* manifest file, so a
//!   manifest with plain files breaks them. The hosted CLI uploads delta files only for projects
//!   on plugin ≥ 5.10.0 / 6.25.0 / 7.0.35 (7.0.30 in older CLIs), any 8.x (`src/utils.ts`,
//!   `BROTLI_MIN_UPDATER_VERSION_*`); the hosted backend adds `manifest` for plugins ≥ 6.25.0
//!   (`supabase/functions/_backend/utils/update.ts`). Serve it to 6.x ≥ 6.25.0, 7.x ≥ 7.0.35 and
//!   every 8.x.
//!
//! # What the hosted CLI produces (`Cap-go/CLI`, `src/bundle/partial.ts`)
//!
//! Every file of the build is listed. A file of at least 8 KiB (`BROTLI_MIN_SIZE = 8192`) is
//! Brotli-compressed (Node's default, quality 11) and kept compressed only if that saves more
//! than 10 bytes; its `file_name` then ends in `.br`. With encryption, the (compressed) bytes
//! are encrypted with the bundle's session key, and `file_hash` is the signed hash above.
//!
//! # What this module produces
//!
//! The same rules, with Brotli quality [`BROTLI_QUALITY`] instead of 11: on minified
//! JavaScript, quality 11 is about 10 % smaller but 25–30 times slower, while quality 5 costs
//! about what deflate-6 costs and is about 7 % smaller than it (measured on this machine).
//! Files known not to compress (an already-compressed type, or deflate saving under 3 % in the
//! zip) are not tried. Artifacts are keyed by the SHA-256 of the original file, so a file shared
//! by many bundles is stored once; the first stored form of a key is the one every manifest
//! uses ([`ArtifactSink::find`]). Encryption is not done here.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::SpooledTempFile;

use super::inspect::{CheckedZip, DeclaredEntry, InspectError, InspectLimits};
use super::rules;
use crate::progress::{CancelFlag, Progress};

/// Files smaller than this are stored as they are: Brotli's framing eats most of the gain and
/// the hosted CLI draws the line here too.
pub const BROTLI_MIN_SIZE: u64 = 8 * 1024;
/// Brotli quality: 5 encodes minified JavaScript at deflate-6 speed and about 7 % smaller;
/// 6 saves about 1 % more for 15 % more time, 7 and up are 10–60 times slower.
pub const BROTLI_QUALITY: u32 = 5;
/// Brotli window (log2 bytes): the format's usual maximum, which every decoder supports.
const BROTLI_WINDOW: i32 = 22;
/// A file (or its compressed form) is held in memory up to this size, in a temporary file
/// beyond it.
const SPOOL_LIMIT: usize = 8 << 20;
/// Most worker threads; each holds at most two spools in memory.
const MAX_WORKERS: usize = 8;

/// How an artifact's bytes are stored and served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The original bytes.
    Raw,
    /// Brotli-compressed; served under the file's name plus `.br`, as raw bytes.
    Brotli,
}

/// An artifact's stored form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredForm {
    /// Raw or Brotli.
    pub encoding: Encoding,
    /// Bytes stored, and downloaded by a device that does not have the file.
    pub stored_size: u64,
}

/// One artifact handed to an [`ArtifactSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact<'a> {
    /// SHA-256 of the original file, lowercase hex.
    pub key: &'a str,
    /// Size of the original file.
    pub size: u64,
    /// How `bytes` are stored.
    pub form: StoredForm,
}

/// What a sink's failure carries: the sink's own error.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where artifacts go: the server's blob store, a directory in tests. Calls come from worker
/// threads, one at a time.
pub trait ArtifactSink {
    /// The stored form of `key` when the sink already holds it; its bytes are then not produced
    /// again.
    fn find(&mut self, key: &str) -> Result<Option<StoredForm>, SinkError>;

    /// Stores exactly `artifact.form.stored_size` bytes read from `bytes` under `artifact.key`.
    fn put(&mut self, artifact: Artifact<'_>, bytes: &mut dyn Read) -> Result<(), SinkError>;
}

/// One file of a bundle as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path the device writes, relative to the folder holding `index.html`.
    pub path: String,
    /// SHA-256 of the original file, lowercase hex: the artifact's key and the manifest's
    /// `file_hash`.
    pub sha256: String,
    /// Size of the original file.
    pub size: u64,
    /// How the artifact is stored and served.
    pub encoding: Encoding,
    /// Bytes a device downloads for this file when it does not have it.
    pub stored_size: u64,
}

impl ManifestFile {
    /// The manifest's `file_name`: the path, plus `.br` when the artifact is Brotli.
    pub fn file_name(&self) -> String {
        match self.encoding {
            Encoding::Raw => self.path.clone(),
            Encoding::Brotli => format!("{}.br", self.path),
        }
    }
}

/// The artifacts of one bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactReport {
    /// Every file of the bundle, in zip order.
    pub files: Vec<ManifestFile>,
    /// Artifacts this call handed to the sink (not already there, each once).
    pub new_artifacts: usize,
    /// Their stored bytes.
    pub new_bytes: u64,
}

/// Why artifacts could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The zip breaks a bundle rule or is corrupt; see [`InspectError`].
    #[error(transparent)]
    Zip(#[from] InspectError),
    /// A temporary file for a large entry could not be written or read back.
    #[error("cannot buffer `{name}` while generating artifacts: {source}")]
    Spool {
        /// The entry.
        name: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The sink failed.
    #[error("cannot store the artifact of `{name}`: {source}")]
    Sink {
        /// The entry.
        name: String,
        /// The sink's error.
        source: SinkError,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Generates the artifacts of the bundle zip at `zip`, checking it against the same rules as
/// [`inspect_zip`](super::inspect_zip) on the way.
///
/// Entries are read, hashed and compressed on all cores, one whole entry per worker, never the
/// whole zip in memory. The sink receives only entries that extracted with the right size and
/// CRC, each key at most once. On an error, artifacts already handed to the sink belong to no
/// bundle: the caller collects them (or inspects the zip first, so only I/O can fail here).
pub fn generate_artifacts<S: ArtifactSink + Send>(
    zip: &Path,
    limits: &InspectLimits,
    sink: &mut S,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<ArtifactReport, ArtifactError> {
    let zip = CheckedZip::open(zip, limits)?;
    let entries: Vec<&DeclaredEntry> = zip.files().collect();
    progress.start(entries.iter().map(|e| e.uncompressed_size).sum());

    let run = Run {
        zip: &zip,
        entries: &entries,
        next: AtomicUsize::new(0),
        sink: Mutex::new(sink),
        state: Mutex::new(RunState {
            hashes: vec![None; entries.len()],
            forms: HashMap::new(),
            new_artifacts: 0,
            new_bytes: 0,
            error: None,
        }),
        progress,
        cancel,
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, MAX_WORKERS);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(entries.len()) {
            scope.spawn(|| run.work());
        }
    });

    let state = run.state.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(error) = state.error {
        return Err(error);
    }
    if cancel.is_cancelled() {
        return Err(ArtifactError::Cancelled);
    }
    let root = zip.index_root();
    let mut files = Vec::with_capacity(entries.len());
    for (entry, hash) in entries.iter().zip(state.hashes) {
        let (sha256, size) = hash.expect("every entry was hashed when no worker failed");
        let form = state.forms[&sha256].expect("every key was stored when no worker failed");
        files.push(ManifestFile {
            // Entries all live under the index root (inspection checked it).
            path: entry.name.strip_prefix(root).unwrap_or(&entry.name).to_owned(),
            sha256,
            size,
            encoding: form.encoding,
            stored_size: form.stored_size,
        });
    }
    Ok(ArtifactReport { files, new_artifacts: state.new_artifacts, new_bytes: state.new_bytes })
}

/// Bytes a device that installed `held` from its manifest downloads to install `next`.
///
/// The plugin reuses a file only from its delta cache, named `<sha256>_<basename>`: an entry of
/// `next` is free when `held` has the same content under the same file name (in any folder),
/// and is downloaded once per content and file name otherwise. A device that installed `held`
/// from the zip has no such cache and downloads every file it does not find in its store build.
pub fn delta_download_size(held: &[ManifestFile], next: &[ManifestFile]) -> u64 {
    let cache_name =
        |file: &ManifestFile| (file.sha256.clone(), file.path.rsplit('/').next().unwrap_or_default().to_owned());
    let mut cached: HashSet<(String, String)> = held.iter().map(cache_name).collect();
    next.iter().filter(|file| cached.insert(cache_name(file))).map(|file| file.stored_size).sum()
}

/// State shared by the workers of one [`generate_artifacts`] call.
struct Run<'a, S> {
    zip: &'a CheckedZip,
    entries: &'a [&'a DeclaredEntry],
    /// Index of the next entry to claim.
    next: AtomicUsize,
    sink: Mutex<&'a mut S>,
    state: Mutex<RunState>,
    progress: &'a dyn Progress,
    cancel: &'a CancelFlag,
}

struct RunState {
    /// Per entry, in zip order: its key and size once hashed.
    hashes: Vec<Option<(String, u64)>>,
    /// Per key: its stored form, `None` while a worker is producing it.
    forms: HashMap<String, Option<StoredForm>>,
    new_artifacts: usize,
    new_bytes: u64,
    /// The first failure; the other workers stop at their next entry.
    error: Option<ArtifactError>,
}

/// What a worker does with an entry once it knows its key.
enum Claim {
    /// Another entry of this run has (or is producing) it.
    Known,
    /// This worker produces it.
    Mine,
}

impl<'a, S: ArtifactSink> Run<'a, S> {
    fn work(&self) {
        let mut buffer = vec![0u8; 256 << 10];
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.entries.len() || self.lock_state().error.is_some() {
                return;
            }
            let entry = self.entries[index];
            let outcome = if self.cancel.is_cancelled() {
                Err(ArtifactError::Cancelled)
            } else {
                self.process(index, entry, &mut buffer)
            };
            match outcome {
                Ok(()) => self.progress.advance(entry.uncompressed_size),
                Err(error) => {
                    self.lock_state().error.get_or_insert(error);
                    return;
                }
            }
        }
    }

    fn process(&self, index: usize, entry: &DeclaredEntry, buffer: &mut [u8]) -> Result<(), ArtifactError> {
        let (raw, sha256, size) = self.extract(entry, buffer)?;
        let claim = {
            let mut state = self.lock_state();
            state.hashes[index] = Some((sha256.clone(), size));
            match state.forms.get(&sha256) {
                Some(_) => Claim::Known,
                None => {
                    state.forms.insert(sha256.clone(), None);
                    Claim::Mine
                }
            }
        };
        if let Claim::Known = claim {
            return Ok(());
        }
        let sink_error = |source| ArtifactError::Sink { name: entry.name.clone(), source };
        let existing = self.lock_sink().find(&sha256).map_err(sink_error)?;
        let form = match existing {
            Some(form) => form,
            None => {
                let spool_error = |source| ArtifactError::Spool { name: entry.name.clone(), source };
                let worth_trying = size >= BROTLI_MIN_SIZE && !known_incompressible(entry);
                let (mut stored, form) = choose_form(raw, size, worth_trying).map_err(spool_error)?;
                stored.seek(SeekFrom::Start(0)).map_err(spool_error)?;
                let artifact = Artifact { key: &sha256, size, form };
                self.lock_sink().put(artifact, &mut stored.take(form.stored_size)).map_err(sink_error)?;
                let mut state = self.lock_state();
                state.new_artifacts += 1;
                state.new_bytes += form.stored_size;
                form
            }
        };
        self.lock_state().forms.insert(sha256, Some(form));
        Ok(())
    }

    /// Extracts `entry` into a spool, hashing it on the way. Returns the spool, the key and
    /// the size.
    fn extract(
        &self,
        entry: &DeclaredEntry,
        buffer: &mut [u8],
    ) -> Result<(SpooledTempFile, String, u64), ArtifactError> {
        let spool_error = |source| ArtifactError::Spool { name: entry.name.clone(), source };
        let mut reader = self.zip.read(entry)?;
        let mut spool = SpooledTempFile::new(SPOOL_LIMIT);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            if self.cancel.is_cancelled() {
                return Err(ArtifactError::Cancelled);
            }
            let n = reader.read(buffer).map_err(|e| CheckedZip::corrupt(entry, e.to_string()))?;
            if n == 0 {
                return Ok((spool, hex::encode(hasher.finalize()), size));
            }
            hasher.update(&buffer[..n]);
            spool.write_all(&buffer[..n]).map_err(spool_error)?;
            size += n as u64;
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_sink(&self) -> std::sync::MutexGuard<'_, &'a mut S> {
        self.sink.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether compressing `entry` is known to be wasted: its type is stored compressed already
/// (the packer's rule), or deflate saved less than 3 % of it in the zip. Skipping those saves
/// about a sixth of the generation time on a typical build.
fn known_incompressible(entry: &DeclaredEntry) -> bool {
    rules::is_precompressed(&entry.name)
        || (entry.is_deflated() && entry.compressed_size as f64 >= entry.uncompressed_size as f64 * 0.97)
}

/// Brotli-compresses `raw` when `worth_trying` and keeps whichever form is smaller. Returns the
/// chosen bytes and their form.
fn choose_form(mut raw: SpooledTempFile, size: u64, worth_trying: bool) -> io::Result<(SpooledTempFile, StoredForm)> {
    let raw_form = StoredForm { encoding: Encoding::Raw, stored_size: size };
    if !worth_trying {
        return Ok((raw, raw_form));
    }
    raw.seek(SeekFrom::Start(0))?;
    let mut compressed = SpooledTempFile::new(SPOOL_LIMIT);
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY as i32,
        lgwin: BROTLI_WINDOW,
        size_hint: usize::try_from(size).unwrap_or(usize::MAX),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut raw, &mut compressed, &params)?;
    let compressed_size = compressed.stream_position()?;
    if compressed_size < size {
        Ok((compressed, StoredForm { encoding: Encoding::Brotli, stored_size: compressed_size }))
    } else {
        Ok((raw, raw_form))
    }
}

/// A complete Brotli stream that decodes to no bytes. An encrypted manifest sends an empty file
/// this way (as `NAME.br`): encrypted as it is, an empty file decrypts to nothing, which
/// current Android plugins refuse ("Empty decrypted data").
pub fn empty_brotli_stream() -> Vec<u8> {
    let mut stream = Vec::new();
    brotli::BrotliCompress(&mut io::empty(), &mut stream, &brotli::enc::BrotliEncoderParams::default())
        .expect("compressing nothing into memory cannot fail");
    stream
}

/// A sink that keeps artifacts as files in one folder: `<key>` for raw ones, `<key>.br` for
/// Brotli ones, so a plain static file server can serve them. For tests, benchmarks and tools:
/// each file is written to a temporary name and renamed (no reader sees half an artifact) but
/// not synced to disk, which would cost a disk flush per file; durable storage is the blob
/// store's business.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    root: PathBuf,
}

impl DirectorySink {
    /// A sink writing into `root`, which is created when missing.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(DirectorySink { root })
    }

    /// Where the artifact `key` in `encoding` lives.
    pub fn path(&self, key: &str, encoding: Encoding) -> PathBuf {
        self.root.join(Self::file_name(key, encoding))
    }

    /// The file name of an artifact: `<key>` or `<key>.br`.
    pub fn file_name(key: &str, encoding: Encoding) -> String {
        match encoding {
            Encoding::Raw => key.to_owned(),
            Encoding::Brotli => format!("{key}.br"),
        }
    }
}

impl ArtifactSink for DirectorySink {
    fn find(&mut self, key: &str) -> Result<Option<StoredForm>, SinkError> {
        for encoding in [Encoding::Raw, Encoding::Brotli] {
            match fs::metadata(self.path(key, encoding)) {
                Ok(metadata) => return Ok(Some(StoredForm { encoding, stored_size: metadata.len() })),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    fn put(&mut self, artifact: Artifact<'_>, bytes: &mut dyn Read) -> Result<(), SinkError> {
        let mut temp = tempfile::NamedTempFile::new_in(&self.root)?;
        let written = io::copy(bytes, &mut temp)?;
        if written != artifact.form.stored_size {
            return Err(format!("expected {} bytes, got {written}", artifact.form.stored_size).into());
        }
        temp.persist(self.path(artifact.key, artifact.form.encoding)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Opens an artifact written by [`DirectorySink`] and decodes it: the original file's bytes.
pub fn open_stored(path: &Path, encoding: Encoding) -> io::Result<Box<dyn Read>> {
    let file = File::open(path)?;
    Ok(match encoding {
        Encoding::Raw => Box::new(file),
        Encoding::Brotli => Box::new(brotli::Decompressor::new(file, 64 << 10)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_brotli_stream_is_not_empty_and_decodes_to_nothing() {
        let stream = empty_brotli_stream();
        assert!(!stream.is_empty());
        let mut decoded = Vec::new();
        brotli::Decompressor::new(stream.as_slice(), 4096).read_to_end(&mut decoded).unwrap();
        assert!(decoded.is_empty());
    }

    fn manifest_file(path: &str, sha256: &str, stored_size: u64) -> ManifestFile {
        ManifestFile { path: path.into(), sha256: sha256.into(), size: 1, encoding: Encoding::Raw, stored_size }
    }

    #[test]
    fn file_names_mark_brotli() {
        let mut file = manifest_file("assets/app.js", "ab", 1);
        assert_eq!(file.file_name(), "assets/app.js");
        file.encoding = Encoding::Brotli;
        assert_eq!(file.file_name(), "assets/app.js.br");
    }

    #[test]
    fn delta_counts_what_the_delta_cache_lacks() {
        let held = [manifest_file("a.js", "k1", 10), manifest_file("css/b.css", "k2", 20)];
        let next = [
            manifest_file("a.js", "k1", 10),
            // Same content and file name in another folder: found in the cache.
            manifest_file("old/b.css", "k2", 20),
            // Same content, another file name: the cache name differs, downloaded.
            manifest_file("c.css", "k2", 20),
            manifest_file("d.js", "k3", 30),
            manifest_file("copy/d.js", "k3", 30),
        ];
        assert_eq!(delta_download_size(&held, &next), 50);
        assert_eq!(delta_download_size(&[], &held), 30);
        assert_eq!(delta_download_size(&next, &next), 0);
    }
}
