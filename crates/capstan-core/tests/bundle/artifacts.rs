//! Per-file artifacts of real bundles packed by `pack_folder`, decoded back with Brotli's
//! reference decoder (the `brotli` command, Google's C implementation).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use capstan_core::bundle::artifacts::{
    Artifact, ArtifactError, ArtifactReport, ArtifactSink, BROTLI_MIN_SIZE, DirectorySink, Encoding, ManifestFile,
    SinkError, StoredForm, delta_download_size, generate_artifacts,
};
use capstan_core::bundle::{InspectError, InspectLimits};
use capstan_core::progress::{CancelFlag, NoProgress};

use crate::fixtures::*;

/// A [`DirectorySink`] that also records every call, to prove what was (not) stored.
struct RecordingSink {
    inner: DirectorySink,
    puts: Vec<String>,
}

impl RecordingSink {
    fn new(root: &Path) -> Self {
        RecordingSink { inner: DirectorySink::new(root).unwrap(), puts: Vec::new() }
    }
}

impl ArtifactSink for RecordingSink {
    fn find(&mut self, key: &str) -> Result<Option<StoredForm>, SinkError> {
        self.inner.find(key)
    }

    fn put(&mut self, artifact: Artifact<'_>, bytes: &mut dyn Read) -> Result<(), SinkError> {
        self.puts.push(artifact.key.to_owned());
        self.inner.put(artifact, bytes)
    }
}

fn generate(zip: &Path, sink: &mut RecordingSink) -> Result<ArtifactReport, ArtifactError> {
    generate_artifacts(zip, &InspectLimits::default(), sink, &NoProgress, &CancelFlag::new())
}

/// Minified-looking JavaScript of exactly `len` bytes: compresses well.
fn js(len: usize, seed: u64) -> Vec<u8> {
    let words = ["function", "return", "const", "=>", "this.", "null", "(e,t)", "{", "}", ";"];
    let noise = noise(len, seed);
    let mut text = Vec::with_capacity(len + 16);
    for byte in noise {
        text.extend_from_slice(words[byte as usize % words.len()].as_bytes());
        if text.len() >= len {
            break;
        }
    }
    text.truncate(len);
    text
}

/// A build with every case the generator distinguishes.
fn build(root: &Path) {
    write(root, "index.html", "<!doctype html><script src=\"assets/app.js\"></script>");
    write(root, "assets/app.js", js(60_000, 1));
    write(root, "assets/small.js", js(2_000, 2));
    write(root, "assets/edge-below.js", js(BROTLI_MIN_SIZE as usize - 1, 3));
    write(root, "assets/edge-at.js", js(BROTLI_MIN_SIZE as usize, 4));
    write(root, "assets/img/photo.jpg", noise(50_000, 5));
    // Incompressible under a name that does not say so: Brotli is tried and does not shrink it.
    write(root, "assets/blob.bin", noise(30_000, 10));
    write(root, "assets/deep/er/still/vendor.js", js(30_000, 6));
    // The same file under two paths: one artifact.
    write(root, "assets/copy-a.css", ".a{color:red}".repeat(1_000));
    write(root, "assets/copy-b.css", ".a{color:red}".repeat(1_000));
    write(root, "empty.txt", "");
}

fn brotli_reference_decode(path: &Path) -> Vec<u8> {
    let output = Command::new("brotli")
        .arg("--decompress")
        .arg("--stdout")
        .arg(path)
        .output()
        .expect("the `brotli` command (apt package brotli) decodes artifacts in this test");
    assert!(output.status.success(), "brotli -d {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    output.stdout
}

struct Packed {
    _dir: tempfile::TempDir,
    build: PathBuf,
    zip: PathBuf,
    store: PathBuf,
}

fn packed(make: impl Fn(&Path)) -> Packed {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("www");
    make(&build);
    let zip = dir.path().join("bundle.zip");
    pack(&build, &zip).unwrap();
    let store = dir.path().join("store");
    Packed { build, zip, store, _dir: dir }
}

#[test]
fn every_file_becomes_an_artifact_the_reference_decoder_restores() {
    let bundle = packed(build);
    let mut sink = RecordingSink::new(&bundle.store);
    let report = generate(&bundle.zip, &mut sink).unwrap();

    // Zip order, every file, keyed by the SHA-256 of the original.
    let zip_order: Vec<String> = inspect(&bundle.zip).unwrap().files.into_iter().map(|f| f.path).collect();
    let paths: Vec<String> = report.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(paths, zip_order);
    for file in &report.files {
        let original = fs::read(bundle.build.join(&file.path)).unwrap();
        assert_eq!(file.sha256, sha256_hex(&original), "{}", file.path);
        assert_eq!(file.size, original.len() as u64, "{}", file.path);

        let stored_path = bundle.store.join(DirectorySink::file_name(&file.sha256, file.encoding));
        let stored = fs::read(&stored_path).unwrap();
        assert_eq!(stored.len() as u64, file.stored_size, "{}", file.path);
        let decoded = match file.encoding {
            Encoding::Raw => stored,
            Encoding::Brotli => brotli_reference_decode(&stored_path),
        };
        assert!(decoded == original, "{} does not decode to the original", file.path);
    }

    let by_path: HashMap<&str, &ManifestFile> = report.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let encoding = |path: &str| by_path[path].encoding;
    assert_eq!(encoding("assets/app.js"), Encoding::Brotli);
    assert_eq!(encoding("assets/deep/er/still/vendor.js"), Encoding::Brotli);
    assert_eq!(encoding("assets/edge-at.js"), Encoding::Brotli);
    assert_eq!(encoding("assets/edge-below.js"), Encoding::Raw, "below 8 KiB stays raw");
    assert_eq!(encoding("assets/small.js"), Encoding::Raw);
    assert_eq!(encoding("assets/img/photo.jpg"), Encoding::Raw, "already compressed stays raw");
    assert_eq!(encoding("assets/blob.bin"), Encoding::Raw, "incompressible stays raw");
    assert_eq!(encoding("empty.txt"), Encoding::Raw);
    assert!(by_path["assets/app.js"].stored_size < 60_000 / 2, "{:?}", by_path["assets/app.js"]);
    assert_eq!(by_path["assets/app.js"].file_name(), "assets/app.js.br");
    assert_eq!(by_path["empty.txt"].sha256, sha256_hex(b""));

    // Two paths, one key, one artifact.
    assert_eq!(by_path["assets/copy-a.css"].sha256, by_path["assets/copy-b.css"].sha256);
    let distinct: std::collections::BTreeSet<&str> = report.files.iter().map(|f| f.sha256.as_str()).collect();
    assert_eq!(report.new_artifacts, distinct.len());
    assert_eq!(sink.puts.len(), distinct.len(), "each key stored once: {:?}", sink.puts);
    assert_eq!(fs::read_dir(&bundle.store).unwrap().count(), distinct.len(), "no temporary file left behind");
}

#[test]
fn a_second_bundle_stores_only_what_changed() {
    let first = packed(build);
    let mut sink = RecordingSink::new(&first.store);
    let old = generate(&first.zip, &mut sink).unwrap();

    let second = packed(|root| {
        build(root);
        write(root, "assets/app.js", js(60_000, 99));
        write(root, "index.html", "<!doctype html><script src=\"assets/app.js?v=2\"></script>");
    });
    let mut sink = RecordingSink::new(&first.store);
    let new = generate(&second.zip, &mut sink).unwrap();

    let changed: BTreeMap<&str, &ManifestFile> = new
        .files
        .iter()
        .filter(|f| matches!(f.path.as_str(), "assets/app.js" | "index.html"))
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut expected_puts: Vec<String> = changed.values().map(|f| f.sha256.clone()).collect();
    let mut puts = sink.puts.clone();
    expected_puts.sort();
    puts.sort();
    assert_eq!(puts, expected_puts, "only the changed files are stored again");
    assert_eq!(new.new_artifacts, 2);
    assert_eq!(new.new_bytes, changed.values().map(|f| f.stored_size).sum::<u64>());
    assert_eq!(delta_download_size(&old.files, &new.files), new.new_bytes);

    // Unchanged files keep their stored form, found in the sink rather than recompressed.
    let old_by_path: HashMap<&str, &ManifestFile> = old.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for file in new.files.iter().filter(|f| !changed.contains_key(f.path.as_str())) {
        assert_eq!(&file, &old_by_path[file.path.as_str()]);
    }

    // The same bundle again: nothing new.
    let mut sink = RecordingSink::new(&first.store);
    let again = generate(&second.zip, &mut sink).unwrap();
    assert_eq!(again.files, new.files);
    assert!(sink.puts.is_empty());
}

#[test]
fn a_file_larger_than_the_memory_bound_goes_through_a_temporary_file() {
    // 9 MiB of text: above the 8 MiB spool limit, so both the extracted and the compressed
    // bytes pass through temporary files.
    let bundle = packed(|root| {
        write(root, "index.html", "<html></html>");
        write(root, "big.js", js(9 << 20, 7));
    });
    let mut sink = RecordingSink::new(&bundle.store);
    let report = generate(&bundle.zip, &mut sink).unwrap();
    let big = report.files.iter().find(|f| f.path == "big.js").unwrap();
    assert_eq!(big.encoding, Encoding::Brotli);
    let stored = bundle.store.join(DirectorySink::file_name(&big.sha256, Encoding::Brotli));
    assert!(brotli_reference_decode(&stored) == fs::read(bundle.build.join("big.js")).unwrap());
}

#[test]
fn paths_are_relative_to_the_folder_holding_index_html() {
    // A zip that wraps everything in one folder, as `zip -r bundle.zip www` makes.
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("wrapped.zip");
    let entries = vec![
        RawEntry::stored("www/", b""),
        RawEntry::stored("www/index.html", b"<html></html>"),
        RawEntry::deflated("www/assets/app.js", &js(20_000, 8)),
    ];
    fs::write(&zip, raw_zip(&entries)).unwrap();
    let mut sink = RecordingSink::new(&dir.path().join("store"));
    let report = generate(&zip, &mut sink).unwrap();
    let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["index.html", "assets/app.js"]);
}

#[test]
fn a_corrupt_entry_is_refused_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("corrupt.zip");
    let mut broken = RawEntry::stored("app.js", &js(20_000, 9));
    broken.data[100] ^= 0xff;
    fs::write(&zip, raw_zip(&[RawEntry::stored("index.html", b"<html></html>"), broken])).unwrap();
    let mut sink = RecordingSink::new(&dir.path().join("store"));
    let error = generate(&zip, &mut sink).unwrap_err();
    assert!(matches!(error, ArtifactError::Zip(InspectError::Corrupt { ref name, .. }) if name == "app.js"), "{error}");
    let stored_app = sink.puts.iter().any(|key| *key == sha256_hex(&js(20_000, 9)));
    assert!(!stored_app, "the corrupt entry reached the sink: {:?}", sink.puts);
}

#[test]
fn a_zip_breaking_the_bundle_rules_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("slip.zip");
    fs::write(&zip, raw_zip(&[RawEntry::stored("index.html", b"x"), RawEntry::stored("../evil.js", b"x")])).unwrap();
    let mut sink = RecordingSink::new(&dir.path().join("store"));
    let error = generate(&zip, &mut sink).unwrap_err();
    assert!(matches!(error, ArtifactError::Zip(InspectError::BadName { .. })), "{error}");

    fs::write(&zip, b"not a zip").unwrap();
    let error = generate(&zip, &mut sink).unwrap_err();
    assert!(matches!(error, ArtifactError::Zip(InspectError::NotAZip(_))), "{error}");
    assert!(sink.puts.is_empty());
}

#[test]
fn a_failing_sink_fails_the_generation() {
    struct FullDisk;
    impl ArtifactSink for FullDisk {
        fn find(&mut self, _key: &str) -> Result<Option<StoredForm>, SinkError> {
            Ok(None)
        }
        fn put(&mut self, _artifact: Artifact<'_>, _bytes: &mut dyn Read) -> Result<(), SinkError> {
            Err("no space left".into())
        }
    }
    let bundle = packed(build);
    let error =
        generate_artifacts(&bundle.zip, &InspectLimits::default(), &mut FullDisk, &NoProgress, &CancelFlag::new())
            .unwrap_err();
    assert!(matches!(&error, ArtifactError::Sink { source, .. } if source.to_string() == "no space left"), "{error}");
}

#[test]
fn cancelling_stops_the_generation() {
    let bundle = packed(build);
    let cancel = CancelFlag::new();
    cancel.cancel();
    let mut sink = RecordingSink::new(&bundle.store);
    let error =
        generate_artifacts(&bundle.zip, &InspectLimits::default(), &mut sink, &NoProgress, &cancel).unwrap_err();
    assert!(matches!(error, ArtifactError::Cancelled), "{error}");
    assert!(sink.puts.is_empty());
}
