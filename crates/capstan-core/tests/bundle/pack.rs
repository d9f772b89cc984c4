//! Packing a folder: what devices extract must be exactly the folder, byte for byte.

use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use capstan_core::bundle::{PackError, PackOptions, Warning, pack_folder};
use capstan_core::progress::{CancelFlag, NoProgress, Progress};
use tempfile::tempdir;

use crate::fixtures::*;

#[test]
fn unzip_extracts_exactly_the_folder() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    let zip = dir.path().join("bundle.zip");
    let report = pack(&build, &zip).unwrap();

    let extracted = dir.path().join("extracted");
    run(Command::new("unzip").arg("-q").arg(&zip).arg("-d").arg(&extracted));
    assert_eq!(read_tree(&extracted), read_tree(&build));
    assert_eq!(report.files.len(), read_tree(&build).len());
    assert_eq!(report.index_root, "");
}

#[test]
fn java_zip_input_stream_reads_every_entry_like_android() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    // One file above the streaming threshold, so the writer's streamed path is covered too.
    write(&build, "assets/movie.mp4", noise(9 << 20, 4));
    write(&build, "assets/huge.js", "var x=1;notifyAppReady;".repeat(500_000));
    let zip = dir.path().join("bundle.zip");
    pack(&build, &zip).unwrap();

    let listing = run(Command::new("java").arg(java_stream_extract()).arg(&zip));
    let mut from_java: Vec<(String, String)> = listing
        .lines()
        .map(|line| {
            let (hash, name) = line.split_once(' ').unwrap();
            (name.to_owned(), hash.to_owned())
        })
        .collect();
    from_java.sort();
    let expected: Vec<(String, String)> =
        read_tree(&build).into_iter().map(|(name, bytes)| (name, sha256_hex(&bytes))).collect();
    assert_eq!(from_java, expected);
}

#[test]
fn checksum_is_sha256sum_of_the_file() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    write(&build, "assets/movie.mp4", noise(9 << 20, 5));
    let zip = dir.path().join("bundle.zip");
    let report = pack(&build, &zip).unwrap();
    let sha256sum = run(Command::new("sha256sum").arg(&zip));
    assert_eq!(sha256sum.split_whitespace().next().unwrap(), report.sha256);
    assert_eq!(report.zip_size, fs::metadata(&zip).unwrap().len());
}

#[test]
fn packing_is_reproducible() {
    let dir = tempdir().unwrap();
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    web_build(&first);
    // Larger than a worker's read chunk (256 KiB): compressed in pieces.
    let big: String = (0..40_000).map(|i| format!("var v{}={};", i % 977, i * 7 % 1009)).collect();
    write(&first, "assets/big.js", big);
    // The same content written in another order, with other timestamps and permissions.
    for (name, contents) in read_tree(&first).into_iter().rev() {
        write(&second, &name, contents);
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(second.join("index.html"), fs::Permissions::from_mode(0o600)).unwrap();

    let (zip_a, zip_b, zip_a2) = (dir.path().join("a.zip"), dir.path().join("b.zip"), dir.path().join("a2.zip"));
    let report_a = pack(&first, &zip_a).unwrap();
    let report_b = pack(&second, &zip_b).unwrap();
    pack(&first, &zip_a2).unwrap();
    assert_eq!(fs::read(&zip_a).unwrap(), fs::read(&zip_a2).unwrap());
    assert_eq!(fs::read(&zip_a).unwrap(), fs::read(&zip_b).unwrap());
    assert_eq!(report_a.sha256, report_b.sha256);
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    // Enough files of mixed sizes that several threads are busy at once.
    for i in 0..60 {
        write(&build, &format!("assets/chunk{i:02}.js"), format!("var v{i}={i};").repeat(i * 500 + 1));
        write(&build, &format!("assets/img{i:02}.bin"), noise(i * 3000 + 1, i as u64 + 10));
    }
    let default_zip = dir.path().join("default.zip");
    pack(&build, &default_zip).unwrap();
    for threads in [1, 3, 16] {
        let zip = dir.path().join(format!("{threads}.zip"));
        let options = PackOptions { threads: std::num::NonZeroUsize::new(threads), ..PackOptions::default() };
        pack_folder(&build, &zip, &options, &NoProgress, &CancelFlag::new()).unwrap();
        assert_eq!(fs::read(&zip).unwrap(), fs::read(&default_zip).unwrap(), "{threads} threads");
    }
}

#[test]
fn single_top_level_folder_becomes_the_root() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("build");
    web_build(&build.join("www"));
    write(&build, ".DS_Store", "junk");
    let report = pack(&build, &dir.path().join("single.zip")).unwrap();
    assert!(report.files.iter().any(|f| f.path == "index.html"));
    assert!(report.files.iter().all(|f| !f.path.starts_with("www/")));
}

#[test]
fn missing_index_html_is_a_clear_error() {
    let dir = tempdir().unwrap();
    write(dir.path(), "src/app.js", "x");
    write(dir.path(), "other/index.html", "x");
    write(dir.path(), "more/index.html", "x");
    let zip = dir.path().join("out.zip");
    let error = pack(dir.path(), &zip).unwrap_err();
    assert!(matches!(error, PackError::NoIndexHtml(_)), "{error}");
    assert!(error.to_string().contains("no index.html"));
    assert!(!zip.exists());
    let missing = pack(&dir.path().join("nope"), &zip).unwrap_err();
    assert!(matches!(missing, PackError::NotAFolder(_)));
}

#[test]
fn junk_is_excluded_and_listed_unless_asked_for() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    write(&build, ".DS_Store", "x");
    write(&build, "assets/Thumbs.db", "x");
    write(&build, "__MACOSX/._index.html", "x");
    write(&build, ".git/HEAD", "ref: main");
    let zip = dir.path().join("b.zip");
    let report = pack(&build, &zip).unwrap();
    assert_eq!(report.excluded, vec![".DS_Store", ".git", "__MACOSX", "assets/Thumbs.db"]);
    assert!(report.files.iter().all(|f| !f.path.contains("DS_Store") && !f.path.starts_with(".git")));

    let options = PackOptions { include_junk: true, ..PackOptions::default() };
    let report = pack_folder(&build, &zip, &options, &NoProgress, &CancelFlag::new()).unwrap();
    assert!(report.excluded.is_empty());
    for name in [".DS_Store", "assets/Thumbs.db", "__MACOSX/._index.html", ".git/HEAD"] {
        assert!(report.files.iter().any(|f| f.path == name), "{name} missing");
    }
}

#[test]
fn symlinks_inside_are_followed_and_escaping_ones_refused() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    std::os::unix::fs::symlink("assets/app.js", build.join("alias.js")).unwrap();
    let zip = dir.path().join("b.zip");
    let report = pack(&build, &zip).unwrap();
    let alias = report.files.iter().find(|f| f.path == "alias.js").unwrap();
    assert_eq!(alias.size, fs::metadata(build.join("assets/app.js")).unwrap().len());

    write(dir.path(), "secret.txt", "password");
    std::os::unix::fs::symlink("../secret.txt", build.join("leak.txt")).unwrap();
    let error = pack(&build, &zip).unwrap_err();
    assert!(matches!(error, PackError::SymlinkEscapes(_)), "{error}");

    fs::remove_file(build.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path(), build.join("assets/up")).unwrap();
    assert!(matches!(pack(&build, &zip).unwrap_err(), PackError::SymlinkEscapes(_)));
}

#[test]
fn hostile_file_names_are_refused() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    write(&build, "assets/a\\b.js", "x");
    let error = pack(&build, &dir.path().join("hostile.zip")).unwrap_err();
    assert!(matches!(error, PackError::BadName { .. }), "{error}");
    assert!(error.to_string().contains("backslash"));
}

#[test]
fn compressible_files_are_deflated_and_media_stored() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    let report = pack(&build, &dir.path().join("b.zip")).unwrap();
    let file = |name: &str| report.files.iter().find(|f| f.path == name).unwrap().clone();
    assert!(file("assets/vendor.js").compressed_size * 10 < file("assets/vendor.js").size);
    // Already compressed by extension, and incompressible by content: both stored as-is.
    assert_eq!(file("assets/logo.png").compressed_size, file("assets/logo.png").size);
    assert_eq!(file("assets/data.bin").compressed_size, file("assets/data.bin").size);
    // Never larger than `zip -6` on the same folder.
    let info_zip = dir.path().join("info.zip");
    run(Command::new("zip").current_dir(&build).arg("-q").arg("-r").arg("-6").arg(&info_zip).arg("."));
    assert!(report.zip_size <= fs::metadata(&info_zip).unwrap().len());
}

#[test]
fn warnings_point_at_what_needs_a_look() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    write(&build, "index.html", "<html></html>");
    write(&build, "app.js", "console.log('no plugin call')");
    write(&build, "app.js.map", "{}");
    write(&build, "video.mp4", noise(51_000_000, 9));
    let report = pack(&build, &dir.path().join("b.zip")).unwrap();
    assert_eq!(
        report.warnings,
        vec![
            Warning::NoNotifyAppReady,
            Warning::SourceMaps { count: 1 },
            Warning::LargeFile { path: "video.mp4".into(), size: 51_000_000 },
            Warning::LargeBundle { size: report.zip_size },
        ]
    );
    let clean = tempdir().unwrap();
    web_build(clean.path());
    assert!(pack(clean.path(), &dir.path().join("c.zip")).unwrap().warnings.is_empty());
}

#[derive(Default)]
struct CountingProgress {
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for CountingProgress {
    fn start(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::SeqCst);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::SeqCst);
    }
}

#[test]
fn progress_reaches_the_total() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    let progress = CountingProgress::default();
    let report =
        pack_folder(&build, &dir.path().join("b.zip"), &PackOptions::default(), &progress, &CancelFlag::new()).unwrap();
    assert_eq!(progress.total.load(Ordering::SeqCst), report.total_size);
    assert_eq!(progress.done.load(Ordering::SeqCst), report.total_size);
    assert!(report.total_size > 0);
}

/// Cancels as soon as the first bytes are reported done.
struct CancelAfterFirstFile(CancelFlag);

impl Progress for CancelAfterFirstFile {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {
        self.0.cancel();
    }
}

#[test]
fn cancelling_leaves_nothing_behind() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let zip = out_dir.join("b.zip");
    let cancel = CancelFlag::new();
    let error =
        pack_folder(&build, &zip, &PackOptions::default(), &CancelAfterFirstFile(cancel.clone()), &cancel).unwrap_err();
    assert!(matches!(error, PackError::Cancelled), "{error}");
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 0, "no zip and no temporary file");
}

#[test]
fn a_failed_pack_keeps_the_previous_zip_intact() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    let zip = dir.path().join("b.zip");
    let good = pack(&build, &zip).unwrap();
    write(&build, "bad\\name.js", "x");
    pack(&build, &zip).unwrap_err();
    assert_eq!(sha256_hex(&fs::read(&zip).unwrap()), good.sha256);
}

#[test]
fn packed_bundles_pass_inspection() {
    let dir = tempdir().unwrap();
    let build = dir.path().join("dist");
    web_build(&build);
    write(&build, "assets/movie.mp4", noise(9 << 20, 6));
    let zip = dir.path().join("b.zip");
    let packed = pack(&build, &zip).unwrap();
    let inspected = inspect(&zip).unwrap();
    assert_eq!(inspected.sha256, packed.sha256);
    assert_eq!(inspected.files, packed.files);
    assert_eq!(inspected.warnings, packed.warnings);
}
