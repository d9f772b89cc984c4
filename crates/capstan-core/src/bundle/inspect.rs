//! Checks an existing zip against the bundle rules before any device sees it.
//!
//! A zip that reaches Capstan may come from anyone: `zip -r`, an old script, or an attacker
//! with an upload token. Inspection reads the central directory and every local header with
//! `rawzip` (which exposes the raw flags that decide whether Android can stream an entry),
//! then decompresses every entry with bounded output to verify sizes and CRCs. Nothing is
//! extracted to disk.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rawzip::{CompressionMethod, ZipArchive};

use super::rules::{self, NameProblem};
use super::{BundleFile, BundleReport};
use crate::progress::{CancelFlag, Progress};

/// Bounds that keep a hostile zip from exhausting memory, disk or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectLimits {
    /// Most entries accepted.
    pub max_entries: u64,
    /// Most total uncompressed bytes accepted.
    pub max_total_size: u64,
    /// Highest compression ratio accepted for an entry larger than 1 MiB. Deflate on real web
    /// assets stays below about 30:1; bombs run near 1000:1.
    pub max_ratio: u64,
}

impl Default for InspectLimits {
    fn default() -> Self {
        InspectLimits { max_entries: 100_000, max_total_size: 2 << 30, max_ratio: 200 }
    }
}

/// Why a zip is not a bundle a device can install.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The zip.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Not a zip archive, or a structurally broken one.
    #[error("not a valid zip file: {0}")]
    NotAZip(String),
    /// More entries than [`InspectLimits::max_entries`].
    #[error("the zip has more than {0} entries")]
    TooManyEntries(u64),
    /// An entry name that is not UTF-8.
    #[error("an entry name is not valid UTF-8")]
    NonUtf8Name,
    /// An entry name that would escape or confuse extraction.
    #[error("entry `{name}`: {problem}")]
    BadName {
        /// The entry name (escaped for display).
        name: String,
        /// What is wrong.
        problem: NameProblem,
    },
    /// Two entries with the same name: which one a device extracts last is unspecified.
    #[error("entry `{0}` appears more than once")]
    Duplicate(String),
    /// A symlink entry could point anywhere on the device.
    #[error("entry `{0}` is a symbolic link; bundles may only hold files")]
    Symlink(String),
    /// The plugin cannot decrypt zip-level encryption.
    #[error("entry `{0}` is encrypted; use Capstan's bundle encryption instead of zip passwords")]
    Encrypted(String),
    /// Android extracts with `ZipInputStream`, which knows only stored and deflate.
    #[error("entry `{name}` uses compression method {method}; devices only extract stored and deflate")]
    UnsupportedMethod {
        /// The entry.
        name: String,
        /// The zip method number.
        method: u16,
    },
    /// `ZipInputStream` cannot find the end of a stored entry whose sizes come after the data.
    #[error("entry `{0}` is stored with a data descriptor, which Android cannot extract; repack with Capstan")]
    StoredWithDataDescriptor(String),
    /// Local and central headers disagree: different tools would extract different files.
    #[error("entry `{0}`: local header disagrees with the central directory")]
    HeaderMismatch(String),
    /// Entries sharing bytes: the classic overlapping-file zip bomb.
    #[error("entry `{0}` overlaps another entry")]
    Overlap(String),
    /// Too much uncompressed data, or a ratio no real asset has.
    #[error("zip bomb suspected: {0}")]
    Bomb(String),
    /// An entry's data does not match its declared size or CRC.
    #[error("entry `{name}` is corrupt: {reason}")]
    Corrupt {
        /// The entry.
        name: String,
        /// What failed.
        reason: String,
    },
    /// No `index.html` where the plugin looks for it.
    #[error("no index.html at the zip root or inside a single top-level folder")]
    NoIndexHtml,
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// One entry as the central directory declares it.
pub(crate) struct DeclaredEntry {
    /// Path inside the zip, `/`-separated.
    pub(crate) name: String,
    is_dir: bool,
    method: CompressionMethod,
    flags: rawzip::EntryFlags,
    /// Size inside the zip.
    pub(crate) compressed_size: u64,
    /// Size once extracted; reading the entry proves it.
    pub(crate) uncompressed_size: u64,
    wayfinder: rawzip::ZipArchiveEntryWayfinder,
    local_header_offset: u64,
}

impl DeclaredEntry {
    /// Whether the entry is deflated (else stored).
    pub(crate) fn is_deflated(&self) -> bool {
        self.method == CompressionMethod::DEFLATE
    }
}

/// A zip whose central directory and local headers follow every rule of protocol.md §5. Entry
/// data is checked as it is read: [`read`](Self::read) never yields more than the declared size
/// and fails at the end of an entry whose size or CRC is wrong.
pub(crate) struct CheckedZip {
    archive: ZipArchive<rawzip::FileReader>,
    entries: Vec<DeclaredEntry>,
    index_root: String,
}

impl CheckedZip {
    /// Opens `path` and checks its structure; no entry data is read yet.
    pub(crate) fn open(path: &Path, limits: &InspectLimits) -> Result<Self, InspectError> {
        let mut buffer = vec![0u8; rawzip::RECOMMENDED_BUFFER_SIZE];
        let archive = open(path, &mut buffer)?;
        let entries = read_central_directory(&archive, &mut buffer, limits)?;
        check_local_headers(&archive, &entries)?;
        let index_root = find_index_root(&entries)?;
        Ok(CheckedZip { archive, entries, index_root })
    }

    /// The file entries (no directories), in zip order.
    pub(crate) fn files(&self) -> impl Iterator<Item = &DeclaredEntry> {
        self.entries.iter().filter(|e| !e.is_dir)
    }

    /// Folder holding `index.html`: `""` or `"www/"`.
    pub(crate) fn index_root(&self) -> &str {
        &self.index_root
    }

    /// The extracted bytes of `entry`. Read errors mean the entry is corrupt; see
    /// [`corrupt`](Self::corrupt).
    pub(crate) fn read<'a>(&'a self, entry: &DeclaredEntry) -> Result<impl Read + 'a, InspectError> {
        let located = self.archive.get_entry(entry.wayfinder).map_err(|e| Self::corrupt(entry, e.to_string()))?;
        let raw = located.reader();
        let decoder: Box<dyn Read + 'a> = if entry.method == CompressionMethod::DEFLATE {
            Box::new(flate2::read::DeflateDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        // One byte past the declared size is enough to prove a lie without inflating a bomb.
        Ok(located.verifying_reader(decoder.take(entry.uncompressed_size + 1)))
    }

    /// The error for an entry whose data cannot be read back as declared.
    pub(crate) fn corrupt(entry: &DeclaredEntry, reason: String) -> InspectError {
        InspectError::Corrupt { name: entry.name.clone(), reason }
    }
}

/// Inspects the zip at `path`: every rule of protocol.md §5, bomb limits, CRCs.
pub fn inspect_zip(
    path: &Path,
    limits: &InspectLimits,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> Result<BundleReport, InspectError> {
    let io_error = |source| InspectError::Io { path: path.to_path_buf(), source };
    let zip_size = std::fs::metadata(path).map_err(io_error)?.len();
    let zip = CheckedZip::open(path, limits)?;

    let total_size: u64 = zip.files().map(|e| e.uncompressed_size).sum();
    progress.start(total_size);
    let mut mentions_notify = false;
    for entry in zip.files() {
        if cancel.is_cancelled() {
            return Err(InspectError::Cancelled);
        }
        mentions_notify |= verify_entry_data(&zip, entry)?;
        progress.advance(entry.uncompressed_size);
    }

    let sha256 = super::pack::hash_file(path).map_err(io_error)?;
    let files: Vec<BundleFile> = zip
        .files()
        .map(|e| BundleFile { path: e.name.clone(), size: e.uncompressed_size, compressed_size: e.compressed_size })
        .collect();
    let index_root = zip.index_root;
    Ok(BundleReport {
        warnings: super::collect_warnings(&files, zip_size, mentions_notify),
        sha256,
        zip_size,
        total_size,
        files,
        index_root,
        excluded: Vec::new(),
    })
}

/// Lists a zip's files from its central directory, without checking or decompressing them.
/// Used to report on a zip Capstan itself has just written.
pub(crate) fn list_entries(path: &Path) -> Result<Vec<BundleFile>, InspectError> {
    let mut buffer = vec![0u8; rawzip::RECOMMENDED_BUFFER_SIZE];
    let archive = open(path, &mut buffer)?;
    let limits = InspectLimits { max_entries: u64::MAX, max_total_size: u64::MAX, max_ratio: u64::MAX };
    Ok(read_central_directory(&archive, &mut buffer, &limits)?
        .into_iter()
        .filter(|e| !e.is_dir)
        .map(|e| BundleFile { path: e.name, size: e.uncompressed_size, compressed_size: e.compressed_size })
        .collect())
}

fn open(path: &Path, buffer: &mut [u8]) -> Result<ZipArchive<rawzip::FileReader>, InspectError> {
    let file = File::open(path).map_err(|source| InspectError::Io { path: path.to_path_buf(), source })?;
    ZipArchive::from_file(file, buffer).map_err(|e| InspectError::NotAZip(e.to_string()))
}

fn read_central_directory(
    archive: &ZipArchive<rawzip::FileReader>,
    buffer: &mut [u8],
    limits: &InspectLimits,
) -> Result<Vec<DeclaredEntry>, InspectError> {
    if archive.entries_hint() > limits.max_entries {
        return Err(InspectError::TooManyEntries(limits.max_entries));
    }
    let not_a_zip = |e: rawzip::Error| InspectError::NotAZip(e.to_string());
    let mut entries = Vec::new();
    let mut names = HashSet::new();
    let mut declared_total: u64 = 0;
    let mut records = archive.entries(buffer);
    while let Some(record) = records.next_entry().map_err(not_a_zip)? {
        if entries.len() as u64 >= limits.max_entries {
            return Err(InspectError::TooManyEntries(limits.max_entries));
        }
        let raw_path = record.file_path();
        let name = std::str::from_utf8(raw_path.as_ref()).map_err(|_| InspectError::NonUtf8Name)?.to_owned();
        rules::check_entry_name(&name)
            .map_err(|problem| InspectError::BadName { name: name.escape_debug().to_string(), problem })?;
        if !names.insert(name.trim_end_matches('/').to_owned()) {
            return Err(InspectError::Duplicate(name));
        }
        if record.mode().is_symlink() {
            return Err(InspectError::Symlink(name));
        }
        let flags = record.flags();
        if flags.is_encrypted() || flags.has_strong_encryption() {
            return Err(InspectError::Encrypted(name));
        }
        let method = record.compression_method();
        if method != CompressionMethod::STORE && method != CompressionMethod::DEFLATE {
            return Err(InspectError::UnsupportedMethod { name, method: method.as_u16() });
        }
        if method == CompressionMethod::STORE && flags.has_data_descriptor() {
            return Err(InspectError::StoredWithDataDescriptor(name));
        }
        let (compressed_size, uncompressed_size) = (record.compressed_size_hint(), record.uncompressed_size_hint());
        if uncompressed_size > 1 << 20 && uncompressed_size / compressed_size.max(1) > limits.max_ratio {
            return Err(InspectError::Bomb(format!(
                "`{name}` expands {}:1 (limit {}:1)",
                uncompressed_size / compressed_size.max(1),
                limits.max_ratio
            )));
        }
        declared_total = declared_total.saturating_add(uncompressed_size);
        if declared_total > limits.max_total_size {
            return Err(InspectError::Bomb(format!(
                "more than {} uncompressed",
                super::human_bytes(limits.max_total_size)
            )));
        }
        entries.push(DeclaredEntry {
            is_dir: record.is_dir(),
            name,
            method,
            flags,
            compressed_size,
            uncompressed_size,
            wayfinder: record.wayfinder(),
            local_header_offset: record.local_header_offset(),
        });
    }
    Ok(entries)
}

/// Android reads local headers front to back and ignores the central directory, so the two must
/// agree, and no two entries may share bytes.
fn check_local_headers(
    archive: &ZipArchive<rawzip::FileReader>,
    entries: &[DeclaredEntry],
) -> Result<(), InspectError> {
    let mut header_buffer = vec![0u8; 2 * rules::MAX_NAME_LEN + (1 << 16)];
    let mut ranges: Vec<(u64, u64, &str)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let located = archive.get_entry(entry.wayfinder).map_err(|e| InspectError::NotAZip(e.to_string()))?;
        let local =
            located.local_header(&mut header_buffer).map_err(|_| InspectError::HeaderMismatch(entry.name.clone()))?;
        let local_path = local.file_path();
        let local_name: &[u8] = local_path.as_ref();
        if local_name != entry.name.as_bytes()
            || local.compression_method() != entry.method
            || local.flags().has_data_descriptor() != entry.flags.has_data_descriptor()
        {
            return Err(InspectError::HeaderMismatch(entry.name.clone()));
        }
        let (start, end) = located.compressed_data_range();
        ranges.push((entry.local_header_offset, end.max(start), &entry.name));
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(InspectError::Overlap(pair[1].2.to_owned()));
        }
    }
    Ok(())
}

/// Where `index.html` is: the root (`""`) or a single top-level folder (`"www/"`), the only two
/// layouts the plugin unwraps.
fn find_index_root(entries: &[DeclaredEntry]) -> Result<String, InspectError> {
    let is_file = |path: &str| entries.iter().any(|e| !e.is_dir && e.name == path);
    if is_file("index.html") {
        return Ok(String::new());
    }
    let top_level: HashSet<&str> = entries.iter().map(|e| e.name.split('/').next().unwrap_or_default()).collect();
    match top_level.into_iter().collect::<Vec<_>>().as_slice() {
        [folder] if is_file(&format!("{folder}/index.html")) => Ok(format!("{folder}/")),
        _ => Err(InspectError::NoIndexHtml),
    }
}

/// Decompresses one entry, never producing more than its declared size, and checks its CRC.
/// Returns whether it is JavaScript that mentions `notifyAppReady`.
fn verify_entry_data(zip: &CheckedZip, entry: &DeclaredEntry) -> Result<bool, InspectError> {
    let mut verifier = zip.read(entry)?;
    let check_notify = rules::is_javascript(&entry.name);
    let mut mentions_notify = false;
    let mut carry: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let n = verifier.read(&mut buffer).map_err(|e| CheckedZip::corrupt(entry, e.to_string()))?;
        if n == 0 {
            return Ok(mentions_notify);
        }
        if check_notify && !mentions_notify {
            carry.extend_from_slice(&buffer[..n]);
            mentions_notify = rules::mentions_notify_app_ready(&carry);
            let keep = carry.len().min(32);
            carry.drain(..carry.len() - keep);
        }
    }
}
