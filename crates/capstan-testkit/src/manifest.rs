//! A device that installs a bundle from an update answer's `manifest` the way
//! `@capgo/capacitor-updater` does (Android `DownloadService`, 8.x; protocol.md §8), over real
//! HTTP, so tests can check a server's delta updates end to end.
//!
//! For each entry `{file_name, file_hash, download_url}`, in manifest order: an empty hash or a
//! path escaping the bundle fails the install; a file of the store build ([`Device::builtin`])
//! or of the delta cache (`<hash>_<basename>`) with that hash is copied; otherwise the file is
//! downloaded into `partial_<hash>_<token>.tmp`, resuming a partial with `Range: bytes=n-`
//! (206 appends, 200 replaces, 416 keeps the partial as complete), Brotli-decoded when the name
//! ends in `.br`, checked against `file_hash`, written without the `.br`, and cached.
//!
//! Stricter than the plugin where the plugin would silently suffer: every response must carry
//! an exact `Content-Length`, no `Content-Encoding`, and a 206 a `Content-Range` starting where
//! the partial ends (protocol.md §6); a breach is a [`FetchError::Contract`].
//!
//! Encrypted bundles ([`Device::install_encrypted`]): as the plugin does when the app has a
//! `publicKey` and the answer a `session_key`, each `file_hash` is first opened with the public
//! key (the plain SHA-256 is then what the cache and the check use), and each download is
//! decrypted on its own with the session key (opened with the public key) before it is
//! Brotli-decoded. The RSA and AES steps are `capstan-core`'s, which its `signing` tests check
//! against Java's `Cipher` and Node's `crypto` (what the plugin and the hosted CLI use).
//!
//! Not modelled: parallel downloads (the plugin fetches up to 64 files at once), redirects.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use capstan_core::signing::{SessionKey, SignedField, VerifyingKey, open_signed_sha256};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One entry of an update answer's `manifest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Path in the bundle, plus `.br` when the body is Brotli.
    pub file_name: String,
    /// SHA-256 of the original file (hex).
    pub file_hash: String,
    /// Where to GET the body.
    pub download_url: String,
}

impl ManifestEntry {
    /// Reads the `manifest` array of an update answer (missing fields become empty strings, as
    /// the plugin's `optString` makes them).
    pub fn list_from_answer(answer: &Value) -> Vec<ManifestEntry> {
        let text = |entry: &Value, key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        answer
            .get("manifest")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| ManifestEntry {
                        file_name: text(e, "file_name"),
                        file_hash: text(e, "file_hash"),
                        download_url: text(e, "download_url"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Drops the download of one entry after some bytes of its body, as a killed app or a lost
/// network does; the next [`Device::install`] resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The entry's `file_name`.
    pub file_name: String,
    /// Body bytes received before the connection drops.
    pub after_bytes: u64,
}

/// One HTTP exchange of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The entry.
    pub file_name: String,
    /// `n` when the request carried `Range: bytes=n-`.
    pub range_from: Option<u64>,
    /// The response status.
    pub status: u16,
    /// Body bytes received.
    pub body_bytes: u64,
}

/// What an install did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// Every HTTP exchange, in order.
    pub exchanges: Vec<Exchange>,
    /// Entries copied from the store build.
    pub from_builtin: Vec<String>,
    /// Entries copied from the delta cache.
    pub from_cache: Vec<String>,
}

impl InstallReport {
    /// Body bytes downloaded.
    pub fn downloaded_bytes(&self) -> u64 {
        self.exchanges.iter().map(|e| e.body_bytes).sum()
    }

    /// Entries fetched over the network, each once.
    pub fn downloaded_files(&self) -> Vec<String> {
        let mut names: Vec<String> = self.exchanges.iter().map(|e| e.file_name.clone()).collect();
        names.dedup();
        names
    }
}

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The manifest itself is unusable (the plugin fails the whole download).
    #[error("bad manifest entry `{file_name}`: {problem}")]
    Manifest {
        /// The entry.
        file_name: String,
        /// What is wrong.
        problem: String,
    },
    /// The download was cut on purpose ([`Cut`]); its partial file stays.
    #[error("download of `{0}` interrupted")]
    Interrupted(String),
    /// The server answered something else than 200, 206 or (with a partial) 416.
    #[error("`{file_name}`: HTTP {status}")]
    Status {
        /// The entry.
        file_name: String,
        /// The status.
        status: u16,
    },
    /// The server broke protocol.md §6.
    #[error("`{file_name}`: {problem}")]
    Contract {
        /// The entry.
        file_name: String,
        /// What the response did wrong.
        problem: String,
    },
    /// The `.br` body is not valid Brotli.
    #[error("`{file_name}`: not valid Brotli: {source}")]
    Brotli {
        /// The entry.
        file_name: String,
        /// The decoder's error.
        source: io::Error,
    },
    /// The file's SHA-256 is not `file_hash`.
    #[error("`{file_name}`: SHA-256 {actual}, manifest says {expected}")]
    Checksum {
        /// The entry.
        file_name: String,
        /// `file_hash`.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
    /// A signed `file_hash` did not open with the public key, or a download did not decrypt
    /// with the session key (the plugin's `decrypt_fail` / checksum failures).
    #[error("`{file_name}`: cannot decrypt: {problem}")]
    Decrypt {
        /// The entry.
        file_name: String,
        /// What failed.
        problem: String,
    },
    /// Network or disk.
    #[error("`{file_name}`: {source}")]
    Io {
        /// The entry.
        file_name: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// A device's delta storage: the cache that outlives bundles, and optionally the web files of
/// the store build.
#[derive(Debug, Clone)]
pub struct Device {
    cache: PathBuf,
    builtin: Option<PathBuf>,
}

impl Device {
    /// A device keeping its delta cache (the plugin's `capgo_downloads`) in `cache`.
    pub fn new(cache: impl Into<PathBuf>) -> Device {
        Device { cache: cache.into(), builtin: None }
    }

    /// The web files shipped in the store build (the plugin's `public/`), reused when a hash
    /// matches.
    pub fn builtin(mut self, folder: impl Into<PathBuf>) -> Device {
        self.builtin = Some(folder.into());
        self
    }

    /// The delta cache folder.
    pub fn cache(&self) -> &Path {
        &self.cache
    }

    /// Installs the bundle described by `manifest` into `bundle` (a new, empty folder), cutting
    /// the download named by `cut` part-way.
    pub fn install(
        &self,
        manifest: &[ManifestEntry],
        bundle: &Path,
        cut: Option<&Cut>,
    ) -> Result<InstallReport, FetchError> {
        self.install_with(manifest, bundle, cut, None)
    }

    /// [`Device::install`] for an encrypted bundle: an app whose `publicKey` is `public`, and an
    /// answer whose `session_key` is `session_key`.
    pub fn install_encrypted(
        &self,
        manifest: &[ManifestEntry],
        bundle: &Path,
        cut: Option<&Cut>,
        public: &VerifyingKey,
        session_key: &str,
    ) -> Result<InstallReport, FetchError> {
        let session = SessionKey::open(public, session_key)
            .map_err(|e| FetchError::Decrypt { file_name: String::new(), problem: format!("session_key: {e}") })?;
        self.install_with(manifest, bundle, cut, Some((public, &session)))
    }

    fn install_with(
        &self,
        manifest: &[ManifestEntry],
        bundle: &Path,
        cut: Option<&Cut>,
        encryption: Option<(&VerifyingKey, &SessionKey)>,
    ) -> Result<InstallReport, FetchError> {
        let io_error = |file_name: &str| {
            let file_name = file_name.to_owned();
            move |source| FetchError::Io { file_name, source }
        };
        fs::create_dir_all(&self.cache).map_err(io_error(""))?;
        fs::create_dir_all(bundle).map_err(io_error(""))?;
        let planned = plan(manifest)?;
        let mut report = InstallReport::default();
        for (entry, relative) in planned {
            let name = entry.file_name.as_str();
            let target = bundle.join(&relative);
            fs::create_dir_all(target.parent().expect("a target is inside the bundle")).map_err(io_error(name))?;
            let hash = match encryption {
                None => entry.file_hash.to_ascii_lowercase(),
                Some((public, _)) => open_signed_sha256(public, &entry.file_hash, SignedField::FileHash)
                    .map_err(|e| FetchError::Decrypt { file_name: name.to_owned(), problem: e.to_string() })?,
            };

            if let Some(builtin) = &self.builtin
                && sha256_file(&builtin.join(&relative)).is_ok_and(|actual| actual == hash)
            {
                fs::copy(builtin.join(&relative), &target).map_err(io_error(name))?;
                report.from_builtin.push(name.to_owned());
                continue;
            }
            let basename = relative.rsplit('/').next().unwrap_or(&relative);
            let cached = self.cache.join(format!("{hash}_{basename}"));
            if cached.is_file() {
                fs::copy(&cached, &target).map_err(io_error(name))?;
                report.from_cache.push(name.to_owned());
                continue;
            }

            let partial = self.cache.join(format!("partial_{hash}_{}.tmp", &sha256_hex(name.as_bytes())[..16]));
            let cut_after = cut.filter(|c| c.file_name == name).map(|c| c.after_bytes);
            download(entry, &partial, cut_after, &mut report)?;
            let actual = match encryption {
                None => decode_into(entry, &partial, &target)?,
                Some((_, session)) => {
                    let decrypted = partial.with_extension("decrypted");
                    session
                        .decrypt_file(&partial, &decrypted)
                        .map_err(|e| FetchError::Decrypt { file_name: name.to_owned(), problem: e.to_string() })?;
                    let actual = decode_into(entry, &decrypted, &target);
                    let _ = fs::remove_file(&decrypted);
                    actual?
                }
            };
            if actual != hash {
                let _ = fs::remove_file(&partial);
                let _ = fs::remove_file(&target);
                return Err(FetchError::Checksum { file_name: name.to_owned(), expected: hash, actual });
            }
            fs::remove_file(&partial).map_err(io_error(name))?;
            fs::copy(&target, &cached).map_err(io_error(name))?;
        }
        Ok(report)
    }
}

/// Checks every entry before anything is fetched, as the plugin does: returns each entry with
/// the path it is written to.
fn plan(manifest: &[ManifestEntry]) -> Result<Vec<(&ManifestEntry, String)>, FetchError> {
    let mut targets = HashSet::new();
    let mut planned = Vec::with_capacity(manifest.len());
    for entry in manifest {
        let bad =
            |problem: &str| FetchError::Manifest { file_name: entry.file_name.clone(), problem: problem.to_owned() };
        if entry.file_hash.is_empty() {
            return Err(bad("empty file_hash"));
        }
        let relative = target_path(&entry.file_name).map_err(bad)?;
        if !targets.insert(relative.clone()) {
            return Err(bad("two entries write the same file"));
        }
        planned.push((entry, relative));
    }
    Ok(planned)
}

/// The path a `file_name` is written to, relative to the bundle: `.br` dropped, and nothing
/// that could leave the bundle folder.
fn target_path(file_name: &str) -> Result<String, &'static str> {
    let path = file_name.strip_suffix(".br").unwrap_or(file_name);
    if path.starts_with('/') || path.contains('\\') {
        return Err("not a relative path");
    }
    if path.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
        return Err("empty, `.` or `..` path segment");
    }
    Ok(path.to_owned())
}

/// Downloads `entry`'s body into `partial`, resuming what it holds.
fn download(
    entry: &ManifestEntry,
    partial: &Path,
    cut_after: Option<u64>,
    report: &mut InstallReport,
) -> Result<(), FetchError> {
    let name = entry.file_name.as_str();
    let io_error = |source| FetchError::Io { file_name: name.to_owned(), source };
    let contract = |problem: String| FetchError::Contract { file_name: name.to_owned(), problem };
    let existing = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    let range_from = (existing > 0).then_some(existing);
    let (head, mut body) = http_get(&entry.download_url, range_from).map_err(io_error)?;
    let mut exchange = Exchange { file_name: name.to_owned(), range_from, status: head.status, body_bytes: 0 };

    if head.status == 416 && existing > 0 {
        // The partial already holds the whole file.
        report.exchanges.push(exchange);
        return Ok(());
    }
    if head.status != 200 && head.status != 206 {
        report.exchanges.push(exchange);
        return Err(FetchError::Status { file_name: name.to_owned(), status: head.status });
    }
    if let Some(encoding) = head.header("content-encoding") {
        return Err(contract(format!("Content-Encoding: {encoding} (bodies must be raw bytes)")));
    }
    if head.header("transfer-encoding").is_some() {
        return Err(contract("chunked body instead of a Content-Length".into()));
    }
    let length: u64 = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| contract("no Content-Length".into()))?;
    let append = head.status == 206 && existing > 0;
    if head.status == 206 {
        let expected_start = if append { existing } else { 0 };
        check_content_range(head.header("content-range"), expected_start, length).map_err(contract)?;
    }

    let mut file =
        OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(partial).map_err(io_error)?;
    let mut buffer = vec![0u8; 64 << 10];
    while exchange.body_bytes < length {
        let mut want = buffer.len().min((length - exchange.body_bytes) as usize);
        if let Some(cut) = cut_after {
            want = want.min(cut.saturating_sub(exchange.body_bytes) as usize);
            if want == 0 {
                file.flush().map_err(io_error)?;
                report.exchanges.push(exchange);
                return Err(FetchError::Interrupted(name.to_owned()));
            }
        }
        let n = body.read(&mut buffer[..want]).map_err(io_error)?;
        if n == 0 {
            return Err(contract(format!(
                "body ended after {} of {length} bytes announced by Content-Length",
                exchange.body_bytes
            )));
        }
        file.write_all(&buffer[..n]).map_err(io_error)?;
        exchange.body_bytes += n as u64;
    }
    // A cut at exactly the body's length: every byte arrived, but the app died before it could
    // finish; the next attempt asks for `bytes=<length>-`.
    let interrupted = cut_after.is_some_and(|cut| cut <= exchange.body_bytes);
    file.flush().map_err(io_error)?;
    report.exchanges.push(exchange);
    if interrupted {
        return Err(FetchError::Interrupted(name.to_owned()));
    }
    let mut extra = [0u8; 1];
    if body.read(&mut extra).map_err(io_error)? != 0 {
        return Err(contract(format!("body longer than its Content-Length of {length}")));
    }
    Ok(())
}

/// `Content-Range: bytes start-end/total` must start at `start` and cover `length` bytes
/// through the end of the file.
fn check_content_range(value: Option<&str>, start: u64, length: u64) -> Result<(), String> {
    let value = value.ok_or("206 without Content-Range")?;
    let parsed = value.strip_prefix("bytes ").and_then(|rest| {
        let (range, total) = rest.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        Some((first.parse::<u64>().ok()?, last.parse::<u64>().ok()?, total.parse::<u64>().ok()?))
    });
    match parsed {
        Some((first, last, total)) if first == start && last + 1 == total && last + 1 - first == length => Ok(()),
        _ => Err(format!("Content-Range `{value}` does not match a request from byte {start} ({length} bytes sent)")),
    }
}

/// Writes the file `partial` holds to `target` (Brotli-decoded for `.br` names) and returns its
/// SHA-256.
fn decode_into(entry: &ManifestEntry, partial: &Path, target: &Path) -> Result<String, FetchError> {
    let name = entry.file_name.as_str();
    let io_error = |source| FetchError::Io { file_name: name.to_owned(), source };
    let source = File::open(partial).map_err(io_error)?;
    let mut reader: Box<dyn Read> = if name.ends_with(".br") {
        Box::new(brotli_decompressor::Decompressor::new(source, 64 << 10))
    } else {
        Box::new(source)
    };
    let mut output = File::create(target).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(n) => n,
            Err(source) if name.ends_with(".br") => {
                return Err(FetchError::Brotli { file_name: name.to_owned(), source });
            }
            Err(source) => return Err(io_error(source)),
        };
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
        output.write_all(&buffer[..n]).map_err(io_error)?;
    }
}

/// Status and headers of an HTTP response.
struct Head {
    status: u16,
    /// Lowercase names.
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// GETs an `http://` URL, as OkHttp does: `Accept-Encoding: gzip` unless resuming with a Range.
/// Returns the head and the unread body.
fn http_get(url: &str, range_from: Option<u64>) -> io::Result<(Head, BufReader<TcpStream>)> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let rest = url.strip_prefix("http://").ok_or_else(|| invalid(format!("not an http:// URL: {url}")))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let extra = match range_from {
        Some(from) => format!("Range: bytes={from}-\r\n"),
        None => "Accept-Encoding: gzip\r\n".to_owned(),
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: CapacitorUpdater/8.51.0 (capstan-testkit) android/14\r\n{extra}Connection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line `{status_line}`")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok((Head { status, headers }, reader))
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Extracts a bundle zip into `dest` and returns the folder holding `index.html`: `dest`, or
/// its single top-level folder when the zip wraps everything in one (as the plugin unwraps).
pub fn unzip_bundle(zip: &Path, dest: &Path) -> PathBuf {
    let file = File::open(zip).unwrap_or_else(|e| panic!("cannot open {}: {e}", zip.display()));
    zip::ZipArchive::new(file)
        .and_then(|mut archive| archive.extract(dest))
        .unwrap_or_else(|e| panic!("cannot extract {}: {e}", zip.display()));
    if dest.join("index.html").is_file() {
        return dest.to_path_buf();
    }
    let children: Vec<PathBuf> = fs::read_dir(dest).unwrap().map(|e| e.unwrap().path()).collect();
    match children.as_slice() {
        [only] if only.join("index.html").is_file() => only.clone(),
        _ => panic!("{} has no index.html at its root or in a single folder", zip.display()),
    }
}

/// Every file under `root`: relative `/`-separated path → contents.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, folder: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(folder).unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                files.insert(relative, fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

/// Asserts that two folders hold the same files byte for byte, naming the differences.
pub fn assert_same_tree(actual: &Path, expected: &Path) {
    let (actual_files, expected_files) = (read_tree(actual), read_tree(expected));
    let missing: Vec<&String> = expected_files.keys().filter(|k| !actual_files.contains_key(*k)).collect();
    let extra: Vec<&String> = actual_files.keys().filter(|k| !expected_files.contains_key(*k)).collect();
    let differ: Vec<&String> =
        expected_files.iter().filter(|(k, v)| actual_files.get(*k).is_some_and(|a| a != *v)).map(|(k, _)| k).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "{} differs from {}: missing {missing:?}, extra {extra:?}, different {differ:?}",
        actual.display(),
        expected.display()
    );
}
