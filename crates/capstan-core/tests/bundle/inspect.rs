//! Inspecting zips made by others: each rule has a hand-crafted hostile zip that breaks it.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use capstan_core::bundle::{InspectError, InspectLimits, rules::NameProblem};
use tempfile::TempDir;

use crate::fixtures::*;

const INDEX: &[u8] = b"<html>notifyAppReady</html>";

/// Writes `bytes` as a zip in a fresh temp dir.
fn zip_file(bytes: &[u8]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.zip");
    fs::write(&path, bytes).unwrap();
    (dir, path)
}

fn inspect_raw(entries: &[RawEntry]) -> Result<capstan_core::bundle::BundleReport, InspectError> {
    let (_dir, path) = zip_file(&raw_zip(entries));
    inspect(&path)
}

fn with_index(mut entries: Vec<RawEntry>) -> Vec<RawEntry> {
    entries.insert(0, RawEntry::stored("index.html", INDEX));
    entries
}

#[test]
fn a_zip_made_by_info_zip_passes() {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    let zip = dir.path().join("info.zip");
    run(Command::new("zip").current_dir(&build).arg("-q").arg("-r").arg(&zip).arg("."));
    let report = inspect(&zip).unwrap();
    assert_eq!(report.files.len(), read_tree(&build).len());
    assert_eq!(report.index_root, "");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let sha256sum = run(Command::new("sha256sum").arg(&zip));
    assert_eq!(sha256sum.split_whitespace().next().unwrap(), report.sha256);
}

#[test]
fn a_single_wrapping_folder_is_reported() {
    let report = inspect_raw(&[RawEntry::stored("www/", b""), RawEntry::deflated("www/index.html", INDEX)]).unwrap();
    assert_eq!(report.index_root, "www/");
    assert_eq!(report.files.len(), 1);
}

#[test]
fn missing_index_html_is_refused() {
    let error = inspect_raw(&[RawEntry::stored("app.js", b"x")]).unwrap_err();
    assert!(matches!(error, InspectError::NoIndexHtml), "{error}");
    let two_folders = inspect_raw(&[RawEntry::stored("a/index.html", b"x"), RawEntry::stored("b/index.html", b"x")]);
    assert!(matches!(two_folders.unwrap_err(), InspectError::NoIndexHtml));
}

#[test]
fn zip_slip_is_refused() {
    let error = inspect_raw(&with_index(vec![RawEntry::stored("../../evil.js", b"x")])).unwrap_err();
    assert!(matches!(error, InspectError::BadName { problem: NameProblem::DotSegment, .. }), "{error}");
    let nested = inspect_raw(&with_index(vec![RawEntry::stored("assets/../../evil.js", b"x")])).unwrap_err();
    assert!(matches!(nested, InspectError::BadName { problem: NameProblem::DotSegment, .. }));
}

#[test]
fn absolute_paths_are_refused() {
    for name in ["/etc/passwd", "C:/Windows/evil.dll"] {
        let error = inspect_raw(&with_index(vec![RawEntry::stored(name, b"x")])).unwrap_err();
        assert!(matches!(error, InspectError::BadName { problem: NameProblem::Absolute, .. }), "{name}: {error}");
    }
}

#[test]
fn backslashes_and_nul_are_refused() {
    let backslash = inspect_raw(&with_index(vec![RawEntry::stored("assets\\app.js", b"x")])).unwrap_err();
    assert!(matches!(backslash, InspectError::BadName { problem: NameProblem::Backslash, .. }), "{backslash}");
    let nul = inspect_raw(&with_index(vec![RawEntry::stored("app.js\0.png", b"x")])).unwrap_err();
    assert!(matches!(nul, InspectError::BadName { problem: NameProblem::ControlCharacter, .. }), "{nul}");
}

#[test]
fn non_utf8_names_are_refused() {
    let mut entry = RawEntry::stored("x", b"x");
    entry.name = vec![0xff, 0xfe, b'a'];
    assert!(matches!(inspect_raw(&with_index(vec![entry])).unwrap_err(), InspectError::NonUtf8Name));
}

#[test]
fn duplicate_names_are_refused() {
    let error = inspect_raw(&with_index(vec![RawEntry::stored("app.js", b"one"), RawEntry::stored("app.js", b"two")]))
        .unwrap_err();
    assert!(matches!(error, InspectError::Duplicate(ref name) if name == "app.js"), "{error}");
}

#[test]
fn symlink_entries_are_refused() {
    let mut link = RawEntry::stored("assets/passwd", b"/etc/passwd");
    link.unix_mode = 0o120777;
    let error = inspect_raw(&with_index(vec![link])).unwrap_err();
    assert!(matches!(error, InspectError::Symlink(_)), "{error}");
}

#[test]
fn stored_entries_with_data_descriptors_are_refused() {
    let mut entry = RawEntry::stored("app.js", b"console.log(1)");
    entry.flags = 8;
    let error = inspect_raw(&with_index(vec![entry])).unwrap_err();
    assert!(matches!(error, InspectError::StoredWithDataDescriptor(_)), "{error}");
    // A deflated entry with a data descriptor is fine: ZipInputStream finds its end.
    let mut deflated = RawEntry::deflated("app.js", b"console.log(1)");
    deflated.flags = 8;
    inspect_raw(&with_index(vec![deflated])).unwrap();
}

#[test]
fn methods_android_cannot_extract_are_refused() {
    let mut bzip2 = RawEntry::stored("app.js", b"x");
    bzip2.method = 12;
    let error = inspect_raw(&with_index(vec![bzip2])).unwrap_err();
    assert!(matches!(error, InspectError::UnsupportedMethod { method: 12, .. }), "{error}");
}

#[test]
fn encrypted_entries_are_refused() {
    let mut entry = RawEntry::stored("app.js", b"x");
    entry.flags = 1;
    assert!(matches!(inspect_raw(&with_index(vec![entry])).unwrap_err(), InspectError::Encrypted(_)));
}

#[test]
fn zip_bombs_are_refused_before_inflating() {
    // 200 MB of zeros deflate to about 200 kB: a 1000:1 ratio no web asset has.
    let bomb = RawEntry::deflated("zeros.txt", &vec![0u8; 200_000_000]);
    let error = inspect_raw(&with_index(vec![bomb])).unwrap_err();
    assert!(matches!(error, InspectError::Bomb(_)), "{error}");
    assert!(error.to_string().contains("expands"));
}

#[test]
fn total_size_and_entry_count_are_bounded() {
    let entries = with_index((0..10).map(|i| RawEntry::stored(&format!("f{i}.txt"), &[b'x'; 1000])).collect());
    let (_dir, path) = zip_file(&raw_zip(&entries));
    let small = InspectLimits { max_total_size: 5_000, ..InspectLimits::default() };
    assert!(matches!(inspect_with(&path, &small).unwrap_err(), InspectError::Bomb(_)));
    let few = InspectLimits { max_entries: 5, ..InspectLimits::default() };
    assert!(matches!(inspect_with(&path, &few).unwrap_err(), InspectError::TooManyEntries(5)));
    inspect(&path).unwrap();
}

#[test]
fn entries_that_lie_about_their_size_are_refused() {
    // Declares 10 bytes, inflates to 100 kB: caught after 11 bytes, never fully inflated.
    let mut liar = RawEntry::deflated("app.js", &vec![b'a'; 100_000]);
    liar.uncompressed_size = 10;
    let error = inspect_raw(&with_index(vec![liar])).unwrap_err();
    assert!(matches!(error, InspectError::Corrupt { .. }), "{error}");
}

#[test]
fn corrupted_data_fails_the_crc() {
    let mut entry = RawEntry::stored("app.js", b"console.log('hello')");
    entry.data[3] ^= 0xff;
    let error = inspect_raw(&with_index(vec![entry])).unwrap_err();
    assert!(matches!(error, InspectError::Corrupt { .. }), "{error}");
}

#[test]
fn local_and_central_headers_must_agree() {
    let mut entry = RawEntry::stored("app.js", b"x");
    entry.local_name = Some(b"evil.js".to_vec());
    let error = inspect_raw(&with_index(vec![entry])).unwrap_err();
    assert!(matches!(error, InspectError::HeaderMismatch(_)), "{error}");
}

#[test]
fn overlapping_entries_are_refused() {
    // `outer.bin` stores, as its data, the complete local record of `inner.js`; a second
    // central entry points inside it. Two files, one set of bytes: the overlap zip bomb shape.
    let inner = RawEntry::stored("inner.js", b"payload");
    let inner_record = raw_zip(std::slice::from_ref(&inner));
    let inner_local_len = 30 + "inner.js".len() + b"payload".len();
    let outer = RawEntry::stored("outer.bin", &inner_record[..inner_local_len]);
    let outer_offset = (30 + "index.html".len() + INDEX.len()) as u32;
    let mut aliased = inner.clone();
    aliased.central_only_at = Some(outer_offset + 30 + "outer.bin".len() as u32);
    let error = inspect_raw(&with_index(vec![outer, aliased])).unwrap_err();
    assert!(matches!(error, InspectError::Overlap(ref name) if name == "inner.js"), "{error}");
}

#[test]
fn not_a_zip_is_a_clear_error() {
    for bytes in [&b""[..], b"hello, I am a text file", &[0x50, 0x4b, 0x03, 0x04, 0, 0]] {
        let (_dir, path) = zip_file(bytes);
        let error = inspect(&path).unwrap_err();
        assert!(matches!(error, InspectError::NotAZip(_)), "{error}");
    }
    let missing = inspect(&PathBuf::from("/nonexistent/bundle.zip")).unwrap_err();
    assert!(matches!(missing, InspectError::Io { .. }));
}

#[test]
fn reports_files_sizes_and_warnings() {
    let report = inspect_raw(&[
        RawEntry::stored("index.html", b"<html></html>"),
        RawEntry::deflated("app.js", &b"console.log(1);".repeat(100)),
        RawEntry::stored("app.js.map", b"{}"),
    ])
    .unwrap();
    assert_eq!(report.files.len(), 3);
    assert_eq!(report.total_size, 13 + 1500 + 2);
    let codes: Vec<String> =
        report.warnings.iter().map(|w| serde_json::to_value(w).unwrap()["code"].as_str().unwrap().to_owned()).collect();
    assert_eq!(codes, ["no_notify_app_ready", "source_maps"]);
}
