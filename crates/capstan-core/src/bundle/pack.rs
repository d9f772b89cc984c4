//! Folder → bundle zip, fast and reproducible.
//!
//! Files are compressed in parallel on every core into self-contained zip entries
//! ([`zip::write::PreparedZipFile`]) and appended in sorted order by one writer thread, which
//! hashes the bytes as they go to disk. Memory stays bounded: workers only run ahead of the
//! writer by [`IN_FLIGHT_BUDGET`] bytes, and files above [`STREAMED_FILE`] are streamed by the
//! writer instead of being buffered. Entries carry a fixed timestamp and mode, so the same
//! folder always gives byte-identical zips.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, mpsc};

use sha2::{Digest, Sha256};
use zip::write::{PreparedZipFile, SimpleFileOptions};
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::rules::{self, NameProblem};
use super::{BundleReport, inspect};
use crate::progress::{CancelFlag, Progress};

/// Files larger than this are streamed by the writer thread rather than compressed ahead in
/// memory, which keeps peak memory flat whatever the bundle holds.
const STREAMED_FILE: u64 = 8 << 20;
/// How many bytes of source files may be read and compressed ahead of the writer.
const IN_FLIGHT_BUDGET: u64 = 48 << 20;
/// Deflate level: 6 is what `zip -6` and the plugin ecosystem use; same ratio, we are just
/// faster at it.
const DEFLATE_LEVEL: i64 = 6;

/// How to pack a folder.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Keep OS and VCS junk (`.DS_Store`, `__MACOSX`, `.git`, `Thumbs.db`) instead of leaving
    /// it out.
    pub include_junk: bool,
}

/// Why a folder could not be packed. Nothing is left at the output path when packing fails.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The input is not a readable folder.
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    /// No `index.html` at the root nor in a single top-level folder.
    #[error("no index.html in {0}: point at the web build output (the folder with index.html, e.g. dist/ or www/)")]
    NoIndexHtml(PathBuf),
    /// A symlink leads outside the build folder; following it could ship unrelated files.
    #[error("{0} is a symlink that leads outside the build folder")]
    SymlinkEscapes(PathBuf),
    /// A symlink loop, an unreadable directory, or a non-file where a file should be.
    #[error("cannot walk the build folder: {0}")]
    Walk(String),
    /// A file name the device cannot extract.
    #[error("{path}: {problem}")]
    BadName {
        /// The offending path, relative to the build root.
        path: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A file name that is not UTF-8.
    #[error("{0}: file name is not valid UTF-8")]
    NonUtf8Name(PathBuf),
    /// Reading a source file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing the zip failed (disk full, permissions).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Packs the web build in `folder` into a bundle zip at `out`.
///
/// `index.html` must be at the root of `folder`, or `folder` must hold exactly one directory
/// that has it (which then becomes the zip root). The zip is written to a temporary file next
/// to `out`, synced, and renamed into place, so `out` is either the complete bundle or untouched.
pub fn pack_folder(
    folder: &Path,
    out: &Path,
    options: &PackOptions,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<BundleReport, PackError> {
    let root = find_web_root(folder)?;
    let listing = list_files(&root, options)?;
    let total: u64 = listing.files.iter().map(|f| f.size).sum();
    progress.start(total);

    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let write_error = |source| PackError::Write { path: out.to_path_buf(), source };
    let temp =
        tempfile::Builder::new().prefix(".capstan-pack-").suffix(".tmp").tempfile_in(parent).map_err(write_error)?;
    let (file, temp_path) = temp.into_parts();
    // Temporary files are private (0600); a bundle is an ordinary build artefact.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(write_error)?;

    let output = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let (output, mentions_notify) = write_entries(output, &listing.files, progress, cancel)?;
    let (file, digest) = output.finish().map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    let sha256 = match digest {
        Some(digest) => digest,
        None => hash_file(&temp_path).map_err(write_error)?,
    };
    temp_path.persist(out).map_err(|e| write_error(e.error))?;

    let files = inspect::list_entries(out).map_err(|e| write_error(io::Error::other(e.to_string())))?;
    let zip_size = std::fs::metadata(out).map_err(write_error)?.len();
    Ok(BundleReport {
        warnings: super::collect_warnings(&files, zip_size, mentions_notify),
        sha256,
        zip_size,
        total_size: total,
        files,
        index_root: String::new(),
        excluded: listing.excluded,
    })
}

/// Finds the folder whose contents become the zip root.
fn find_web_root(folder: &Path) -> Result<PathBuf, PackError> {
    if !folder.is_dir() {
        return Err(PackError::NotAFolder(folder.to_path_buf()));
    }
    if folder.join("index.html").is_file() {
        return Ok(folder.to_path_buf());
    }
    let read_error = |source| PackError::Read { path: folder.to_path_buf(), source };
    let mut children = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        if !rules::is_junk(&entry.file_name().to_string_lossy()) {
            children.push(entry.path());
        }
    }
    match children.as_slice() {
        [only] if only.join("index.html").is_file() => Ok(only.clone()),
        _ => Err(PackError::NoIndexHtml(folder.to_path_buf())),
    }
}

/// A file to pack.
struct SourceFile {
    /// Entry name inside the zip.
    name: String,
    path: PathBuf,
    size: u64,
}

struct Listing {
    files: Vec<SourceFile>,
    excluded: Vec<String>,
}

/// Lists the files under `root` in zip order, enforcing the naming and symlink rules.
fn list_files(root: &Path, options: &PackOptions) -> Result<Listing, PackError> {
    let canonical_root = root.canonicalize().map_err(|source| PackError::Read { path: root.to_path_buf(), source })?;
    let mut files = Vec::new();
    let mut excluded = Vec::new();
    let mut walk = walkdir::WalkDir::new(root).follow_links(true).min_depth(1).sort_by_file_name().into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| PackError::Walk(e.to_string()))?;
        let relative = entry.path().strip_prefix(root).expect("walkdir yields paths under its root");
        let name = zip_name(relative)?;
        if !options.include_junk && rules::is_junk(&entry.file_name().to_string_lossy()) {
            if entry.file_type().is_dir() {
                walk.skip_current_dir();
            }
            excluded.push(name);
            continue;
        }
        if entry.path_is_symlink() {
            let target =
                entry.path().canonicalize().map_err(|e| PackError::Walk(format!("{}: {e}", entry.path().display())))?;
            if !target.starts_with(&canonical_root) {
                return Err(PackError::SymlinkEscapes(relative.to_path_buf()));
            }
        }
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        if !file_type.is_file() {
            return Err(PackError::Walk(format!("{name} is not a regular file")));
        }
        rules::check_entry_name(&name).map_err(|problem| PackError::BadName { path: name.clone(), problem })?;
        let size = entry.metadata().map_err(|e| PackError::Walk(e.to_string()))?.len();
        files.push(SourceFile { name, path: entry.into_path(), size });
    }
    // walkdir sorts per directory; a global byte-order sort makes the order independent of how
    // the file system lists names.
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing { files, excluded })
}

fn zip_name(relative: &Path) -> Result<String, PackError> {
    let mut parts = Vec::new();
    for component in relative.components() {
        let part = component.as_os_str().to_str().ok_or_else(|| PackError::NonUtf8Name(relative.to_path_buf()))?;
        parts.push(part);
    }
    Ok(parts.join("/"))
}

fn entry_options(method: CompressionMethod) -> SimpleFileOptions {
    let level = (method == CompressionMethod::Deflated).then_some(DEFLATE_LEVEL);
    SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644)
}

/// An entry compressed by a worker, or a marker that the writer streams it itself.
enum Prepared {
    Buffered { entry: PreparedZipFile, mentions_notify: bool },
    Streamed,
}

/// Compresses a small file completely in memory, storing it when deflate does not shrink it.
fn prepare(file: &SourceFile) -> Result<Prepared, PackError> {
    if file.size > STREAMED_FILE {
        return Ok(Prepared::Streamed);
    }
    let mut data = Vec::with_capacity(file.size as usize);
    File::open(&file.path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|source| PackError::Read { path: file.path.clone(), source })?;
    let mentions_notify = rules::is_javascript(&file.name) && rules::mentions_notify_app_ready(&data);
    let zip_error = |e: zip::result::ZipError| PackError::Read { path: file.path.clone(), source: io::Error::other(e) };
    let mut entry = if rules::is_precompressed(&file.name) {
        PreparedZipFile::from_data(&file.name, entry_options(CompressionMethod::Stored), &data).map_err(zip_error)?
    } else {
        PreparedZipFile::from_data(&file.name, entry_options(CompressionMethod::Deflated), &data).map_err(zip_error)?
    };
    if entry.compressed_size() >= data.len() as u64 && !data.is_empty() {
        entry = PreparedZipFile::from_data(&file.name, entry_options(CompressionMethod::Stored), &data)
            .map_err(zip_error)?;
    }
    Ok(Prepared::Buffered { entry, mentions_notify })
}

/// Hands out file indexes to workers, keeping them within [`IN_FLIGHT_BUDGET`] of the writer.
struct WorkGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

struct GateState {
    next_claim: usize,
    next_write: usize,
    in_flight: u64,
    stopped: bool,
}

impl WorkGate {
    fn new() -> Self {
        WorkGate {
            state: Mutex::new(GateState { next_claim: 0, next_write: 0, in_flight: 0, stopped: false }),
            changed: Condvar::new(),
        }
    }

    fn claim(&self, files: &[SourceFile]) -> Option<usize> {
        let mut state = self.state.lock().expect("gate lock");
        loop {
            if state.stopped || state.next_claim >= files.len() {
                return None;
            }
            let cost = buffered_cost(&files[state.next_claim]);
            // The file the writer needs next is always allowed, so progress never stalls.
            if state.in_flight + cost <= IN_FLIGHT_BUDGET || state.next_claim == state.next_write {
                state.in_flight += cost;
                state.next_claim += 1;
                return Some(state.next_claim - 1);
            }
            state = self.changed.wait(state).expect("gate lock");
        }
    }

    fn written(&self, file: &SourceFile) {
        let mut state = self.state.lock().expect("gate lock");
        state.in_flight -= buffered_cost(file);
        state.next_write += 1;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.state.lock().expect("gate lock").stopped = true;
        self.changed.notify_all();
    }
}

fn buffered_cost(file: &SourceFile) -> u64 {
    if file.size > STREAMED_FILE { 0 } else { file.size }
}

/// Compresses on all cores and writes entries in order. Returns the writer and whether any
/// JavaScript mentions `notifyAppReady`.
fn write_entries<W: Write + Seek>(
    output: W,
    files: &[SourceFile],
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<(W, bool), PackError> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 16);
    let gate = WorkGate::new();
    let (results, ready) = mpsc::channel::<(usize, Result<Prepared, PackError>)>();

    std::thread::scope(|scope| {
        for _ in 0..workers {
            let results = results.clone();
            let gate = &gate;
            scope.spawn(move || {
                while let Some(index) = gate.claim(files) {
                    if cancel.is_cancelled() {
                        gate.stop();
                        return;
                    }
                    if results.send((index, prepare(&files[index]))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(results);
        let outcome = write_in_order(output, files, &gate, &ready, progress, cancel);
        // Wake and release workers whether we finished or failed part-way.
        gate.stop();
        drop(ready);
        outcome
    })
}

fn write_in_order<W: Write + Seek>(
    output: W,
    files: &[SourceFile],
    gate: &WorkGate,
    ready: &mpsc::Receiver<(usize, Result<Prepared, PackError>)>,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<(W, bool), PackError> {
    let zip_error =
        |e: zip::result::ZipError| PackError::Write { path: PathBuf::from("bundle zip"), source: io::Error::other(e) };
    let mut zip = ZipWriter::new(output);
    let mut waiting: BTreeMap<usize, Result<Prepared, PackError>> = BTreeMap::new();
    let mut mentions_notify = false;
    for (index, file) in files.iter().enumerate() {
        let prepared = loop {
            if let Some(prepared) = waiting.remove(&index) {
                break prepared;
            }
            match ready.recv() {
                Ok((i, prepared)) => {
                    waiting.insert(i, prepared);
                }
                // Workers only stop early when cancelled.
                Err(_) => return Err(PackError::Cancelled),
            }
        };
        if cancel.is_cancelled() {
            return Err(PackError::Cancelled);
        }
        match prepared? {
            Prepared::Buffered { entry, mentions_notify: notify } => {
                mentions_notify |= notify;
                zip.add_prepared_file(entry).map_err(zip_error)?;
            }
            Prepared::Streamed => mentions_notify |= stream_entry(&mut zip, file, cancel)?,
        }
        gate.written(file);
        progress.advance(file.size);
    }
    Ok((zip.finish().map_err(zip_error)?, mentions_notify))
}

/// Streams a large file into the archive, deciding between deflate and store on a sample of
/// its first mebibyte (a large file is either media, which does not compress, or text, which
/// compresses throughout).
fn stream_entry<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    file: &SourceFile,
    cancel: &CancelFlag,
) -> Result<bool, PackError> {
    let read_error = |source| PackError::Read { path: file.path.clone(), source };
    let mut source = File::open(&file.path).map_err(read_error)?;
    let method = if rules::is_precompressed(&file.name) || !sample_compresses(&mut source).map_err(read_error)? {
        CompressionMethod::Stored
    } else {
        CompressionMethod::Deflated
    };
    source.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let write_error = |source| PackError::Write { path: PathBuf::from("bundle zip"), source };
    zip.start_file(file.name.as_str(), entry_options(method).large_file(file.size >= u32::MAX as u64))
        .map_err(|e| write_error(io::Error::other(e)))?;

    let check_notify = rules::is_javascript(&file.name);
    let mut mentions_notify = false;
    // Keep the tail of the previous chunk so a mention split across two reads is still found.
    let mut carry: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        if cancel.is_cancelled() {
            return Err(PackError::Cancelled);
        }
        let n = source.read(&mut buffer).map_err(read_error)?;
        if n == 0 {
            break;
        }
        zip.write_all(&buffer[..n]).map_err(write_error)?;
        if check_notify && !mentions_notify {
            carry.extend_from_slice(&buffer[..n]);
            mentions_notify = rules::mentions_notify_app_ready(&carry);
            let keep = carry.len().min(32);
            carry.drain(..carry.len() - keep);
        }
    }
    Ok(mentions_notify)
}

fn sample_compresses(source: &mut File) -> io::Result<bool> {
    let mut sample = Vec::with_capacity(1 << 20);
    Read::by_ref(source).take(1 << 20).read_to_end(&mut sample)?;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(DEFLATE_LEVEL as u32));
    encoder.write_all(&sample)?;
    let compressed = encoder.finish()?;
    Ok((compressed.len() as f64) < sample.len() as f64 * 0.97)
}

/// SHA-256 of a file, lowercase hex.
pub(crate) fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// Hashes bytes on their way to disk, so the checksum costs no second read. The zip writer may
/// seek back to patch a header (streamed entries); the running hash is then no longer the
/// file's and [`finish`](Self::finish) reports that, so the caller re-reads the file instead.
struct HashingWriter {
    inner: BufWriter<File>,
    hasher: Sha256,
    position: u64,
    linear: bool,
}

impl HashingWriter {
    fn new(inner: BufWriter<File>) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), position: 0, linear: true }
    }

    /// Flushes and returns the file and, when every byte was written in order, its SHA-256.
    fn finish(self) -> io::Result<(File, Option<String>)> {
        let file = self.inner.into_inner().map_err(|e| e.into_error())?;
        let digest = self.linear.then(|| hex::encode(self.hasher.finalize()));
        Ok((file, digest))
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.linear {
            self.hasher.update(&buf[..n]);
        }
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for HashingWriter {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        if matches!(pos, SeekFrom::Current(0)) {
            return Ok(self.position);
        }
        let new_position = self.inner.seek(pos)?;
        if new_position != self.position {
            self.linear = false;
        }
        self.position = new_position;
        Ok(new_position)
    }
}
