//! Build folders and hand-crafted zips for the tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use capstan_core::bundle::{BundleReport, InspectError, InspectLimits, PackError, PackOptions};
use capstan_core::progress::{CancelFlag, NoProgress};

/// Deterministic pseudo-random bytes (xorshift), so fixtures are the same on every run.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes `contents` at `root/relative`, creating parent folders.
pub fn write(root: &Path, relative: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A small but realistic web build: HTML, minified JS that calls notifyAppReady, CSS, an
/// incompressible image, nested folders, a file name with spaces and non-ASCII characters.
pub fn web_build(root: &Path) {
    write(root, "index.html", "<!doctype html><html><head><script src=\"assets/app.js\"></script></head></html>");
    let js = "import{CapacitorUpdater as u}from'@capgo/capacitor-updater';u.notifyAppReady();".repeat(200);
    write(root, "assets/app.js", js);
    write(root, "assets/vendor.js", "function a(b){return b*2}var c=[1,2,3].map(a);".repeat(2000));
    write(root, "assets/style.css", ".btn{color:red;padding:4px}".repeat(500));
    write(root, "assets/logo.png", noise(40_000, 1));
    write(root, "assets/fonts/inter.woff2", noise(20_000, 2));
    write(root, "assets/data.bin", noise(30_000, 3));
    write(root, "media/été photo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>");
    write(root, "empty.txt", "");
}

/// Packs with default options and no progress.
pub fn pack(folder: &Path, out: &Path) -> Result<BundleReport, PackError> {
    capstan_core::bundle::pack_folder(folder, out, &PackOptions::default(), &NoProgress, &CancelFlag::new())
}

/// Inspects with default limits.
pub fn inspect(zip: &Path) -> Result<BundleReport, InspectError> {
    inspect_with(zip, &InspectLimits::default())
}

/// Inspects with the given limits.
pub fn inspect_with(zip: &Path, limits: &InspectLimits) -> Result<BundleReport, InspectError> {
    capstan_core::bundle::inspect_zip(zip, limits, &NoProgress, &CancelFlag::new())
}

/// Every file under `root` as (relative path, contents), sorted.
pub fn read_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e.path().strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            (relative, fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Runs a command and returns its stdout, failing the test with stderr when it fails.
pub fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The Java program that extracts like Android does.
pub fn java_stream_extract() -> PathBuf {
    Path::new(&manifest_dir()).join("../../tests/java/StreamExtract.java")
}

/// SHA-256 hex of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// One entry of a hand-written zip: every header field the tests need to get wrong on purpose.
#[derive(Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    /// Name in the local header when it should differ from the central directory.
    pub local_name: Option<Vec<u8>>,
    pub method: u16,
    pub flags: u16,
    /// The bytes stored in the archive (already compressed when `method` is 8).
    pub data: Vec<u8>,
    pub crc: u32,
    pub uncompressed_size: u32,
    /// Unix mode in the high 16 bits of the external attributes.
    pub unix_mode: u32,
    /// Only a central directory record, pointing at this offset (inside another entry's data,
    /// for overlap tests); no local header is written for it.
    pub central_only_at: Option<u32>,
}

impl RawEntry {
    /// A stored file.
    pub fn stored(name: &str, contents: &[u8]) -> Self {
        RawEntry {
            name: name.as_bytes().to_vec(),
            local_name: None,
            method: 0,
            flags: 0,
            data: contents.to_vec(),
            crc: crc32fast::hash(contents),
            uncompressed_size: contents.len() as u32,
            unix_mode: 0o100644,
            central_only_at: None,
        }
    }

    /// A deflated file.
    pub fn deflated(name: &str, contents: &[u8]) -> Self {
        use std::io::Write;
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(9));
        encoder.write_all(contents).unwrap();
        RawEntry { method: 8, data: encoder.finish().unwrap(), ..RawEntry::stored(name, contents) }
    }
}

/// Writes a zip from raw entries: local headers (+ data descriptors when flag bit 3 is set),
/// central directory, end record.
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for entry in entries {
        offsets.push(entry.central_only_at.unwrap_or(out.len() as u32));
        if entry.central_only_at.is_some() {
            continue;
        }
        let local_name = entry.local_name.as_ref().unwrap_or(&entry.name);
        let descriptor = entry.flags & 8 != 0;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&entry.flags.to_le_bytes());
        out.extend_from_slice(&entry.method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x21u16.to_le_bytes());
        let (crc, csize, usize) =
            if descriptor { (0, 0, 0) } else { (entry.crc, entry.data.len() as u32, entry.uncompressed_size) };
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&csize.to_le_bytes());
        out.extend_from_slice(&usize.to_le_bytes());
        out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(local_name);
        out.extend_from_slice(&entry.data);
        if descriptor {
            out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            out.extend_from_slice(&entry.crc.to_le_bytes());
            out.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&entry.uncompressed_size.to_le_bytes());
        }
    }
    let directory_start = out.len() as u32;
    for (index, entry) in entries.iter().enumerate() {
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&entry.flags.to_le_bytes());
        out.extend_from_slice(&entry.method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x21u16.to_le_bytes());
        out.extend_from_slice(&entry.crc.to_le_bytes());
        out.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&entry.uncompressed_size.to_le_bytes());
        out.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        out.extend_from_slice(&(entry.unix_mode << 16).to_le_bytes());
        out.extend_from_slice(&offsets[index].to_le_bytes());
        out.extend_from_slice(&entry.name);
    }
    let directory_size = out.len() as u32 - directory_start;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&directory_size.to_le_bytes());
    out.extend_from_slice(&directory_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// This package's directory, read when the test runs (cargo sets it then too): clones at other
/// paths share one target directory, and a path baked in at compile time may be another clone's.
fn manifest_dir() -> std::ffi::OsString {
    std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")
}
