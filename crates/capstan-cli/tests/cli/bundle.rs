//! `capstan bundle pack|inspect`.

use std::process::Command;

use serde_json::Value;

use crate::{capstan, web_build};

#[test]
fn pack_json_describes_the_zip_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    web_build(dir.path());
    let output = capstan(dir.path(), &["bundle", "pack", "dist", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(json["file"], "dist.zip", "defaults to <folder>.zip in the current directory");
    let zip = dir.path().join("dist.zip");
    assert_eq!(json["size"], std::fs::metadata(&zip).unwrap().len());
    let sha256sum = Command::new("sha256sum").arg(&zip).output().unwrap();
    assert_eq!(json["sha256"], String::from_utf8_lossy(&sha256sum.stdout).split_whitespace().next().unwrap());
    assert_eq!(json["files"], 2);
    assert_eq!(json["excluded"], serde_json::json!([".DS_Store"]));
    assert_eq!(json["warnings"], serde_json::json!([]));
}

#[test]
fn pack_human_output_and_inspect_agree() {
    let dir = tempfile::tempdir().unwrap();
    web_build(dir.path());
    let packed = capstan(dir.path(), &["bundle", "pack", "dist", "--out", "out.zip"]);
    assert!(packed.status.success());
    let text = String::from_utf8(packed.stdout).unwrap();
    assert!(text.contains("Packed dist → out.zip"), "{text}");
    assert!(text.contains("excluded   .DS_Store"), "{text}");

    let inspected = capstan(dir.path(), &["bundle", "inspect", "out.zip", "--json"]);
    assert!(inspected.status.success());
    let json: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let sha = text.lines().find_map(|l| l.trim().strip_prefix("sha256")).unwrap().trim();
    assert_eq!(json["sha256"], sha);
}

#[test]
fn failures_exit_1_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let output = capstan(dir.path(), &["bundle", "pack", "src"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot pack src: no index.html in src"), "{stderr}");
    assert!(!dir.path().join("src.zip").exists());

    std::fs::write(dir.path().join("notes.zip"), "not a zip at all").unwrap();
    let output = capstan(dir.path(), &["bundle", "inspect", "notes.zip"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("notes.zip is not a usable bundle: not a valid zip file"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(capstan(dir.path(), &["bundle", "pack"]).status.code(), Some(2));
    assert_eq!(capstan(dir.path(), &["bundle", "frobnicate"]).status.code(), Some(2));
    assert_eq!(capstan(dir.path(), &["bundle", "pack", "dist", "--threads", "0"]).status.code(), Some(2));
    let help = capstan(dir.path(), &["bundle", "pack", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout).unwrap().contains("--include-junk"));
}
