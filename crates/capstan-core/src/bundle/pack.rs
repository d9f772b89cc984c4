//! Folder → bundle zip, fast and reproducible.
//!
//! Files are compressed in parallel on every core into self-contained zip entries
//! ([`zip::write::PreparedZipFile`]) and appended in sorted order by one writer thread, which
//! hashes the bytes as they go to disk. Memory stays bounded: workers read files in
//! [`READ_CHUNK`]s and keep only the compressed entry, they only run ahead of the writer by
//! [`IN_FLIGHT_BUDGET`] bytes, and files above [`STREAMED_FILE`] are streamed by the writer
//! instead of being buffered. Entries carry a fixed timestamp and mode, so the same
//! folder always gives byte-identical zips.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, mpsc};

use sha2::{Digest, Sha256};
use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::rules::{self, NameProblem};
use super::{BundleReport, inspect};
use crate::progress::{CancelFlag, Progress};

/// Files larger than this are streamed by the writer thread rather than compressed ahead in
/// memory, which keeps peak memory flat whatever the bundle holds.
const STREAMED_FILE: u64 = 8 << 20;
/// Most compressing threads when the caller does not choose.
const MAX_WORKERS: usize = 16;
/// How much of a file a worker reads at a time: its memory holds this, not the whole file.
/// Deflate sees larger files in pieces of this size, so changing it changes their bytes in the
/// zip (as did going from whole files to pieces): keep it fixed.
const READ_CHUNK: usize = 256 << 10;
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
    /// How many threads compress files (`None`: one per core, at most 16). Each holds the
    /// compressed file it is working on, so fewer threads also means less memory.
    pub threads: Option<NonZeroUsize>,
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
    let (output, mentions_notify) = write_entries(output, &listing.files, options.threads, progress, cancel)?;
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

/// Compresses a file into a self-contained entry, storing it when deflate does not shrink it.
///
/// The file is read in chunks through `buffer` (one per worker, reused): only the compressed
/// entry grows with the file's size, never a copy of the source.
fn prepare(file: &SourceFile, buffer: &mut [u8]) -> Result<Prepared, PackError> {
    if file.size > STREAMED_FILE {
        return Ok(Prepared::Streamed);
    }
    if rules::is_precompressed(&file.name) {
        return compress_file(file, CompressionMethod::Stored, buffer);
    }
    let deflated = compress_file(file, CompressionMethod::Deflated, buffer)?;
    match deflated {
        Prepared::Buffered { ref entry, .. }
            if entry.uncompressed_size() > 0 && entry.compressed_size() >= entry.uncompressed_size() =>
        {
            // Read it again rather than keep a copy of every file in case it does not compress:
            // incompressible files without a media extension are rare, and in the page cache.
            drop(deflated);
            compress_file(file, CompressionMethod::Stored, buffer)
        }
        deflated => Ok(deflated),
    }
}

fn compress_file(file: &SourceFile, method: CompressionMethod, buffer: &mut [u8]) -> Result<Prepared, PackError> {
    let read_error = |source| PackError::Read { path: file.path.clone(), source };
    let zip_error = |e: zip::result::ZipError| PackError::Read { path: file.path.clone(), source: io::Error::other(e) };
    let mut source = File::open(&file.path).map_err(read_error)?;
    let mut builder = ZipFileBuilder::new(&file.name, entry_options(method)).map_err(zip_error)?;
    let mut notify = NotifyScan::new(rules::is_javascript(&file.name));
    loop {
        let n = read_chunk(&mut source, buffer).map_err(read_error)?;
        if n == 0 {
            break;
        }
        builder.write_all(&buffer[..n]).map_err(read_error)?;
        notify.feed(&buffer[..n]);
    }
    let entry = builder.finish().map_err(zip_error)?;
    Ok(Prepared::Buffered { entry, mentions_notify: notify.found })
}

/// Reads until `buffer` is full or the file ends. Deflate's output depends on where its input is
/// cut (zlib-rs, unlike zlib, can encode the same data fed in other pieces differently), so the
/// cuts must fall at the same offsets on every run, whatever sizes the OS hands reads back in.
fn read_chunk(source: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Looks for `notifyAppReady` in a file read in chunks, across chunk boundaries too.
struct NotifyScan {
    wanted: bool,
    found: bool,
    /// The end of the previous chunk, to find a mention split between two reads.
    tail: Vec<u8>,
}

impl NotifyScan {
    /// Longer than the mention, so a mention split across two chunks is whole in `tail` + head.
    const OVERLAP: usize = 32;

    fn new(wanted: bool) -> Self {
        NotifyScan { wanted, found: false, tail: Vec::new() }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if !self.wanted || self.found {
            return;
        }
        if chunk.len() >= Self::OVERLAP {
            self.tail.extend_from_slice(&chunk[..Self::OVERLAP]);
            self.found = rules::mentions_notify_app_ready(&self.tail) || rules::mentions_notify_app_ready(chunk);
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - Self::OVERLAP..]);
        } else {
            self.tail.extend_from_slice(chunk);
            self.found = rules::mentions_notify_app_ready(&self.tail);
            let excess = self.tail.len().saturating_sub(Self::OVERLAP);
            self.tail.drain(..excess);
        }
    }
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
    workers: Option<NonZeroUsize>,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<(W, bool), PackError> {
    let workers = workers.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()).min(MAX_WORKERS),
        NonZeroUsize::get,
    );
    let gate = WorkGate::new();
    let (results, ready) = mpsc::channel::<(usize, Result<Prepared, PackError>)>();

    std::thread::scope(|scope| {
        for _ in 0..workers {
            let results = results.clone();
            let gate = &gate;
            scope.spawn(move || {
                let mut buffer = vec![0u8; READ_CHUNK];
                while let Some(index) = gate.claim(files) {
                    if cancel.is_cancelled() {
                        gate.stop();
                        return;
                    }
                    if results.send((index, prepare(&files[index], &mut buffer))).is_err() {
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

    let mut notify = NotifyScan::new(rules::is_javascript(&file.name));
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        if cancel.is_cancelled() {
            return Err(PackError::Cancelled);
        }
        let n = read_chunk(&mut source, &mut buffer).map_err(read_error)?;
        if n == 0 {
            break;
        }
        zip.write_all(&buffer[..n]).map_err(write_error)?;
        notify.feed(&buffer[..n]);
    }
    Ok(notify.found)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` in chunks of `size` bytes.
    fn scan_in_chunks(text: &[u8], size: usize) -> bool {
        let mut scan = NotifyScan::new(true);
        text.chunks(size).for_each(|chunk| scan.feed(chunk));
        scan.found
    }

    #[test]
    fn notify_scan_finds_a_mention_wherever_the_chunks_split_it() {
        let mut text = vec![b'x'; 100];
        text.extend_from_slice(b"notifyAppReady");
        text.extend_from_slice(&[b'y'; 100]);
        for size in 1..text.len() {
            assert!(scan_in_chunks(&text, size), "chunks of {size}");
        }
    }

    #[test]
    fn notify_scan_finds_nothing_in_other_text_or_when_not_wanted() {
        let text = b"notifyApp Ready notifyAppRead".repeat(10);
        for size in 1..text.len() {
            assert!(!scan_in_chunks(&text, size), "chunks of {size}");
        }
        let mut scan = NotifyScan::new(false);
        scan.feed(b"notifyAppReady");
        assert!(!scan.found);
    }
}
