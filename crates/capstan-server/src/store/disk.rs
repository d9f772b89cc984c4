//! Blobs in a local directory. Files arrive complete under a temporary name, are fsynced, then
//! renamed into place and the directory fsynced, so a crash never exposes a partial bundle.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::blob::{BlobEntry, BlobError, BlobRead, BlobStore, ByteRange, check_blob_key};

/// Temporary files start with this; keys never do (see [`check_blob_key`]).
const TEMP_PREFIX: &str = ".tmp-";

/// A directory of blobs; keys are relative paths below it.
#[derive(Debug, Clone)]
pub struct DiskBlobStore {
    root: PathBuf,
}

impl DiskBlobStore {
    /// Uses (creating) `root`, and removes temporary files a crash left behind long ago (a
    /// fresh one may be another server's write in progress, on a shared directory).
    pub fn open(root: &Path) -> io::Result<DiskBlobStore> {
        std::fs::create_dir_all(root)?;
        let grace = Duration::from_millis(super::blob::ORPHAN_GRACE_MS as u64);
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) && age > grace {
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
    let parent = target.parent().ok_or_else(|| io::Error::other("blob keys have a parent"))?;
    std::fs::create_dir_all(parent)?;
    // Rename within the store's directory; copy first when the source is on another
    // filesystem (rename would fail with EXDEV).
    let staged = root.join(format!("{TEMP_PREFIX}{}", crate::auth::random_hex(8)));
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

fn list_blocking(root: &Path) -> io::Result<Vec<BlobEntry>> {
    let mut entries = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                let key = relative.to_string_lossy().replace('\\', "/");
                if !key.starts_with(TEMP_PREFIX) {
                    let modified = metadata.modified()?.duration_since(UNIX_EPOCH).unwrap_or_default();
                    entries.push(BlobEntry { key, modified_ms: modified.as_millis() as i64 });
                }
            }
        }
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(entries)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BlobError::Io(io::Error::other(e)))?.map_err(not_found)
}

/// A missing file is a missing blob.
fn not_found(e: io::Error) -> BlobError {
    if e.kind() == io::ErrorKind::NotFound { BlobError::NotFound } else { BlobError::Io(e) }
}

#[async_trait]
impl BlobStore for DiskBlobStore {
    async fn ping(&self) -> Result<(), BlobError> {
        let root = self.root.clone();
        blocking(move || {
            let probe = root.join(format!("{TEMP_PREFIX}probe-{}", crate::auth::random_hex(4)));
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
        match blocking(move || std::fs::remove_file(&target)).await {
            Err(BlobError::NotFound) => Ok(()),
            other => other,
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let target = self.path(key)?;
        blocking(move || Ok(target.is_file())).await
    }

    async fn list(&self) -> Result<Vec<BlobEntry>, BlobError> {
        let root = self.root.clone();
        blocking(move || list_blocking(&root)).await
    }

    async fn size(&self, key: &str) -> Result<u64, BlobError> {
        let target = self.path(key)?;
        let metadata = tokio::fs::metadata(&target).await.map_err(not_found)?;
        // A directory is not a blob (a key prefix such as `app/version` must not look like one).
        if metadata.is_file() { Ok(metadata.len()) } else { Err(BlobError::NotFound) }
    }

    async fn read(&self, key: &str, range: Option<ByteRange>) -> Result<BlobRead, BlobError> {
        let target = self.path(key)?;
        let mut file = tokio::fs::File::open(&target).await.map_err(not_found)?;
        let len = match range {
            Some(range) => {
                file.seek(SeekFrom::Start(range.start)).await?;
                range.len()
            }
            None => file.metadata().await?.len(),
        };
        // 64 KiB reads: a large bundle streams in few system calls, a small one in one.
        let body = ReaderStream::with_capacity(file.take(len), 64 * 1024);
        Ok(BlobRead { len, body: Box::pin(body) })
    }

    async fn signed_url(&self, _key: &str, _ttl: Duration) -> Result<Option<String>, BlobError> {
        // A local directory has no URL of its own: the server serves it.
        Ok(None)
    }
}
