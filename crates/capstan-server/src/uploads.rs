//! Where bundle uploads are received before they are checked: one directory per running
//! server, locked for its lifetime.
//!
//! Several servers may share a data directory (replicas on one host with the same settings).
//! At start a server removes only the directories of servers that are gone (their lock is
//! free), never those of servers that are receiving uploads right now.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// This server's upload directory, and the lock that says it is alive.
pub struct UploadDir {
    path: PathBuf,
    _lock: File,
}

impl UploadDir {
    /// Creates `<root>/<holder>/` under a lock, after removing what stopped servers left.
    pub fn claim(root: &Path, holder: &str) -> io::Result<UploadDir> {
        std::fs::create_dir_all(root)?;
        remove_abandoned(root)?;
        let lock = File::create(root.join(format!("{holder}.lock")))?;
        lock.lock()?;
        let path = root.join(holder);
        std::fs::create_dir_all(&path)?;
        Ok(UploadDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Older layouts put upload files directly in the root; a file this old is a crash's leftover.
const LOOSE_FILE_GRACE: Duration = Duration::from_secs(3600);

fn remove_abandoned(root: &Path) -> io::Result<()> {
    // Locks first: a stopped server's directory goes with its lock file.
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        let Some(holder) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".lock")) else {
            continue;
        };
        let lock = match File::options().write(true).open(&path) {
            Ok(lock) => lock,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match lock.try_lock() {
            Ok(()) => {
                tracing::info!(holder, "removing the uploads of a server that stopped");
                ignore_missing(std::fs::remove_dir_all(root.join(holder)))?;
                ignore_missing(std::fs::remove_file(&path))?;
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
    // Then what has no lock: files of older layouts, and directories whose server removed its
    // lock file but not the directory. Only old ones go (see `LOOSE_FILE_GRACE`).
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        let locked = path.extension().is_some_and(|e| e == "lock") || path.with_extension("lock").exists();
        let Ok(metadata) = entry.metadata() else { continue };
        let age = SystemTime::now().duration_since(metadata.modified()?).unwrap_or_default();
        if locked || age < LOOSE_FILE_GRACE {
            continue;
        }
        if metadata.is_dir() {
            ignore_missing(std::fs::remove_dir_all(&path))?;
        } else {
            ignore_missing(std::fs::remove_file(&path))?;
        }
    }
    Ok(())
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_server_keeps_its_uploads_and_a_stopped_one_loses_them() {
        let root = tempfile::tempdir().unwrap();
        let first = UploadDir::claim(root.path(), "a").unwrap();
        std::fs::write(first.path().join("upload-1.part"), b"in progress").unwrap();
        let second = UploadDir::claim(root.path(), "b").unwrap();
        assert!(first.path().join("upload-1.part").exists(), "a running server's upload survives another's start");
        drop(first);
        let _third = UploadDir::claim(root.path(), "c").unwrap();
        assert!(!root.path().join("a").exists() && !root.path().join("a.lock").exists(), "a stopped server's are gone");
        assert!(second.path().exists());
    }
}
