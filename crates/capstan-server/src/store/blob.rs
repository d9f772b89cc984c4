//! Where bundle bytes live: the [`BlobStore`] trait, and the byte ranges devices resume with.
//!
//! A blob is written once from a finished local file (an upload is received, hashed and
//! inspected on local disk first) and then only read, whole or as one byte range, or handed
//! out as a short-lived signed URL by stores that can sign one. One download path serves
//! every store: `device::download` asks for the size, resolves the `Range` header against it
//! and streams [`BlobStore::read`].

use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob under that key.
    #[error("blob not found")]
    NotFound,
    /// The key would leave the store (`..`, absolute, odd characters).
    #[error("invalid blob key `{0}`")]
    InvalidKey(String),
    /// The store failed.
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// An inclusive byte range of a blob, already checked against its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// How many bytes.
    pub fn len(self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range holds at least one byte.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// What [`BlobStore::read`] returns: the bytes asked for, as a stream.
pub struct BlobRead {
    /// How many bytes the stream yields.
    pub len: u64,
    /// The bytes.
    pub body: ByteStream,
}

/// How old an unreferenced blob (or a temporary file of a directory store) must be before a
/// start-up clean-up removes it. A blob is stored before its bundle row is committed (an
/// upload's last step, a second or two); another replica may be between those two steps right
/// now, so only what a crash left long ago is collected.
pub const ORPHAN_GRACE_MS: i64 = 60 * 60 * 1000;

/// A stored blob and when it was written (to tell a crash's leftovers from an upload that is
/// being committed right now by another replica).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Its key.
    pub key: String,
    /// Last modification, epoch ms.
    pub modified_ms: i64,
}

/// Where bundle bytes live.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Reachable and writable (for `/readyz`).
    async fn ping(&self) -> Result<(), BlobError>;
    /// Stores the finished file at `source` under `key`, durably: after this returns the blob
    /// survives a crash, and before it returns no reader can see a partial blob. The source
    /// file may be moved away.
    async fn put_file(&self, key: &str, source: &Path) -> Result<(), BlobError>;
    /// Removes a blob; removing a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Whether a blob exists.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;
    /// Every blob, by key.
    async fn list(&self) -> Result<Vec<BlobEntry>, BlobError>;
    /// A blob's size in bytes.
    async fn size(&self, key: &str) -> Result<u64, BlobError>;
    /// The blob's bytes, or one range of them (checked against [`BlobStore::size`] first).
    async fn read(&self, key: &str, range: Option<ByteRange>) -> Result<BlobRead, BlobError>;
    /// A URL that serves the blob without this server for `ttl` (a presigned object-store
    /// link), when the store can make one; `None` otherwise.
    async fn signed_url(&self, key: &str, ttl: Duration) -> Result<Option<String>, BlobError>;
}

/// Checks a blob key: relative, `/`-separated, only `[A-Za-z0-9._+-]` segments, no `..`.
pub fn check_blob_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && !segment.starts_with('.')
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        });
    if ok { Ok(()) } else { Err(BlobError::InvalidKey(capstan_core::protocol::cut(key, 80))) }
}

/// Reads a whole blob into memory (small blobs only: tests, and checks of what was stored).
pub async fn read_all(store: &dyn BlobStore, key: &str) -> Result<Vec<u8>, BlobError> {
    use futures_util::TryStreamExt;
    let read = store.read(key, None).await?;
    let chunks: Vec<Bytes> = read.body.try_collect().await?;
    Ok(chunks.concat())
}

/// Reads a whole blob as a stream and answers its size and SHA-256 (hex), to check a copy
/// against what its bundle row records.
pub async fn digest(store: &dyn BlobStore, key: &str) -> Result<(u64, String), BlobError> {
    use futures_util::TryStreamExt;
    use sha2::{Digest, Sha256};
    let mut body = store.read(key, None).await?.body;
    let mut hasher = Sha256::new();
    let mut len: u64 = 0;
    while let Some(chunk) = body.try_next().await? {
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((len, hex::encode(hasher.finalize())))
}
