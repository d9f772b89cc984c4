//! Regression tests, named after the bug they pin.

use crate::fixtures::*;

/// A `.js` file larger than the streaming threshold that mentions `notifyAppReady` only near
/// its end must still count: the streamed path searches across read boundaries.
#[test]
fn notify_app_ready_found_in_streamed_js() {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("dist");
    write(&build, "index.html", "<html></html>");
    let mut js = "var a=1;".repeat(1_300_000).into_bytes();
    js.extend_from_slice(b"plugin.notifyAppReady();");
    write(&build, "main.js", js);
    let report = pack(&build, &dir.path().join("b.zip")).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let inspected = inspect(&dir.path().join("b.zip")).unwrap();
    assert!(inspected.warnings.is_empty(), "{:?}", inspected.warnings);
}

/// Files up to the streaming threshold are read in chunks of 256 KiB: a mention split across
/// two reads must still count.
#[test]
fn notify_app_ready_found_across_read_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("dist");
    write(&build, "index.html", "<html></html>");
    let mut js = b"var a=1;".repeat(40_000);
    // "notifyAppReady" starts 6 bytes before the first chunk ends.
    js.truncate((256 << 10) - 6 - "plugin.".len());
    js.extend_from_slice(b"plugin.notifyAppReady();var b=2;");
    js.extend_from_slice(&b"var c=3;".repeat(40_000));
    write(&build, "main.js", js);
    let report = pack(&build, &dir.path().join("b.zip")).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}
