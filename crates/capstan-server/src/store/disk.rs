//! Blobs in a local directory. Files arrive complete under a temporary name, are fsynced, then
//! renamed into place and the directory fsynced, so a crash never exposes a partial bundle.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{BlobError, BlobStore, check_blob_key};

/// A directory of blobs; keys are relative paths below it.
#[derive(Debug, Clone)]
pub struct DiskBlobStore {
    root: PathBuf,
}

impl DiskBlobStore {
    /// Uses (creating) `root`, and removes temporary files a crash left behind.
    pub fn open(root: &Path) -> io::Result<DiskBlobStore> {
        std::fs::create_dir_all(root)?;
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(DiskBlobStore { root: root.to_path_buf() })
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_blob_key(key)?;
        Ok(self.root.join(key))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn put_blocking(root: &Path, target: &Path, source: &Path) -> io::Result<()> {
    let parent = target.parent().expect("keys have a parent");
    std::fs::create_dir_all(parent)?;
    // Rename within the store's directory; copy first when the source is on another
    // filesystem (rename would fail with EXDEV).
    let staged = root.join(format!(".tmp-{}", crate::auth::random_hex(8)));
    if std::fs::rename(source, &staged).is_err() {
        std::fs::copy(source, &staged)?;
        std::fs::remove_file(source)?;
    }
    let result = std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&staged, target))
        .and_then(|()| sync_dir(parent))
        .and_then(|()| sync_dir(root));
    if result.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    result
}

fn list_blocking(root: &Path) -> io::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                let key = relative.to_string_lossy().replace('\\', "/");
                if !key.starts_with(".tmp-") {
                    keys.push(key);
                }
            }
        }
    }
    keys.sort();
    Ok(keys)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BlobError::Io(io::Error::other(e)))?.map_err(BlobError::Io)
}

#[async_trait]
impl BlobStore for DiskBlobStore {
    async fn ping(&self) -> Result<(), BlobError> {
        let root = self.root.clone();
        blocking(move || {
            let probe = root.join(format!(".tmp-probe-{}", crate::auth::random_hex(4)));
            std::fs::write(&probe, b"ok")?;
            std::fs::remove_file(&probe)
        })
        .await
    }

    async fn put_file(&self, key: &str, source: &Path) -> Result<(), BlobError> {
        let target = self.path(key)?;
        let (root, source) = (self.root.clone(), source.to_path_buf());
        blocking(move || put_blocking(&root, &target, &source)).await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let target = self.path(key)?;
        blocking(move || match std::fs::remove_file(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let target = self.path(key)?;
        blocking(move || target.try_exists()).await
    }

    async fn list(&self) -> Result<Vec<String>, BlobError> {
        let root = self.root.clone();
        blocking(move || list_blocking(&root)).await
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }
}
