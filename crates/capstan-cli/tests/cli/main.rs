//! The `capstan` binary as a terminal or a CI job uses it: exit codes, JSON output, messages.

mod bundle;
mod client;
mod delta;
mod e2e;
mod keys;
mod login;
mod native;
mod webhook;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `capstan` with `args` in `cwd`.
pub fn capstan(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capstan")).current_dir(cwd).args(args).output().expect("capstan runs")
}

/// A tiny web build under `root/dist`.
pub fn web_build(root: &Path) -> std::path::PathBuf {
    let dist = root.join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "<html></html>").unwrap();
    std::fs::write(dist.join("assets/app.js"), "CapacitorUpdater.notifyAppReady();".repeat(50)).unwrap();
    std::fs::write(dist.join(".DS_Store"), "junk").unwrap();
    dist
}
