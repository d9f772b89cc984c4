//! `capstan-server backup` and `restore`: an online backup of an embedded install (SQLite
//! database and bundle directory) and bringing it back into a new data directory.
//!
//! A backup is an [`EmbeddedSnapshot`] with its blobs copied (never linked: a backup must
//! survive damage to the original files), checked, and sealed with `backup.json`, written last:
//! a directory without it is an interrupted backup and `restore` refuses it. What a backup
//! holds is what the server had committed when its database copy was taken (`VACUUM INTO`,
//! one read transaction), so every stats event and bundle acknowledged before `backup` started
//! is in it.
//!
//! A restore copies the backup into the data directory under a temporary name, checks the
//! copy as the backup was checked (SQLite's integrity check, the row counts `backup.json`
//! records, every bundle's SHA-256 and every delta file's size), and only then moves the
//! database into place, so a server never starts on a half-restored directory. It refuses a
//! data directory that already holds a database: it never overwrites one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, SqlitePool};

use crate::clock::{Clock, SystemClock};
use crate::migrate::INSTALL_ID_FILE;
use crate::store::StoreError;
use crate::store::blob::{BlobError, BlobStore, digest};
use crate::store::disk::DiskBlobStore;
use crate::store::snapshot::{BlobCopy, EmbeddedSnapshot, SnapshotError, link_tree};
use crate::store::sqlite::SqliteDatabase;
use crate::store::tables::TABLES;

/// The file that seals a finished backup and describes it.
pub const MANIFEST_FILE: &str = "backup.json";
const DATABASE_FILE: &str = "capstan.db";
const BLOBS_DIR: &str = "blobs";
/// The layout this release writes and reads.
const FORMAT: u32 = 1;

/// What a backup holds, written to `backup.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The layout version ([`FORMAT`]).
    pub format: u32,
    /// The `capstan-server` release that wrote it.
    pub server_version: String,
    /// When the backup finished, epoch ms.
    pub taken_at_ms: i64,
    /// Rows per table.
    pub rows: Vec<(String, i64)>,
    /// Blobs (bundles and delta files) and their total size.
    pub blobs: usize,
    /// Total bytes of the blobs.
    pub blob_bytes: u64,
}

/// Why a backup or a restore stopped. Neither leaves anything a server would use.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The source could not be snapshotted.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A database step failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A blob is missing or unreadable.
    #[error("blob {key}: {source}")]
    Blob {
        /// Its key.
        key: String,
        /// Why.
        source: BlobError,
    },
    /// The request cannot be carried out as asked (and nothing was changed).
    #[error("{0}")]
    Refused(String),
    /// A check of the copy failed.
    #[error("the copy does not check out: {0}")]
    Damaged(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

fn db(step: &'static str) -> impl FnOnce(sqlx::Error) -> BackupError {
    move |e| BackupError::Damaged(format!("{step}: {e}"))
}

/// Backs up the embedded install in `data_dir` into `out` (created; it must not exist or be
/// empty), while its server may keep running.
pub async fn backup(data_dir: &Path, out: &Path) -> Result<BackupManifest, BackupError> {
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(BackupError::Refused(format!("{} is not empty: back up into a new directory", out.display())));
    }
    let snapshot = EmbeddedSnapshot::take(data_dir, out, BlobCopy::Copy).await?;
    let install_id = data_dir.join(INSTALL_ID_FILE);
    if install_id.is_file() {
        std::fs::copy(&install_id, out.join(INSTALL_ID_FILE)).map_err(io(&install_id))?;
    }
    let (rows, blobs, blob_bytes) = check(snapshot.db.read_pool(), &snapshot.blobs).await?;
    snapshot.db.close().await?;
    let manifest = BackupManifest {
        format: FORMAT,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        taken_at_ms: SystemClock.now_ms(),
        rows,
        blobs,
        blob_bytes,
    };
    sync_tree(out)?;
    write_durably(&out.join(MANIFEST_FILE), &serde_json::to_vec_pretty(&manifest).expect("manifest serializes"))?;
    Ok(manifest)
}

/// Restores the backup in `from` into `data_dir`, which must not hold a database yet. The
/// server must not be running on `data_dir`.
pub async fn restore(from: &Path, data_dir: &Path) -> Result<BackupManifest, BackupError> {
    let manifest = read_manifest(from)?;
    if data_dir.join(DATABASE_FILE).exists() {
        return Err(BackupError::Refused(format!(
            "{} already holds a Capstan database: restore into a new data directory, or move that one aside first",
            data_dir.display()
        )));
    }
    // Everything goes to a staging directory beside the target first; the database moves into
    // place last, so a server never starts on half a restore.
    let staging = data_dir.join(".restore");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join(BLOBS_DIR)).map_err(io(&staging))?;
    link_tree(&from.join(BLOBS_DIR), &data_dir.join(BLOBS_DIR), BlobCopy::Copy).await?;
    std::fs::copy(from.join(DATABASE_FILE), staging.join(DATABASE_FILE)).map_err(io(&from.join(DATABASE_FILE)))?;

    let restored = SqliteDatabase::open(&staging.join(DATABASE_FILE), false).await?;
    let blobs = DiskBlobStore::open(&data_dir.join(BLOBS_DIR)).map_err(io(data_dir))?;
    let (rows, count, bytes) = check(restored.read_pool(), &blobs).await?;
    restored.close().await?;
    let same_rows = manifest.rows.iter().all(|(table, n)| rows.iter().any(|(t, m)| t == table && m == n));
    if !same_rows || count != manifest.blobs || bytes != manifest.blob_bytes {
        return Err(BackupError::Damaged(format!(
            "it holds {count} blobs ({bytes} bytes) and rows {rows:?}; backup.json records {} blobs ({} bytes) and rows {:?}",
            manifest.blobs, manifest.blob_bytes, manifest.rows
        )));
    }
    let install_id = from.join(INSTALL_ID_FILE);
    if install_id.is_file() {
        std::fs::copy(&install_id, data_dir.join(INSTALL_ID_FILE)).map_err(io(&install_id))?;
    }
    sync_tree(data_dir)?;
    std::fs::rename(staging.join(DATABASE_FILE), data_dir.join(DATABASE_FILE)).map_err(io(data_dir))?;
    std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    sync_dir(data_dir)?;
    Ok(manifest)
}

/// Reads `backup.json`, refusing an unfinished backup or a layout this release does not know.
pub fn read_manifest(from: &Path) -> Result<BackupManifest, BackupError> {
    let path = from.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => BackupError::Refused(format!(
            "{} has no {MANIFEST_FILE}: it is not a Capstan backup, or the backup did not finish",
            from.display()
        )),
        _ => BackupError::Io { path: path.clone(), source },
    })?;
    let manifest: BackupManifest = serde_json::from_slice(&bytes)
        .map_err(|e| BackupError::Damaged(format!("{} does not read: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!(
            "{} is a backup in layout {}; this release reads layout {FORMAT}",
            from.display(),
            manifest.format
        )));
    }
    Ok(manifest)
}

/// Checks a database copy and the blobs beside it: SQLite's integrity check, then every
/// bundle read and hashed, every delta file's stored size. Answers rows per table, blob count
/// and bytes.
async fn check(pool: &SqlitePool, blobs: &DiskBlobStore) -> Result<(Vec<(String, i64)>, usize, u64), BackupError> {
    let integrity: String =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_one(pool).await.map_err(db("integrity check"))?;
    if integrity != "ok" {
        return Err(BackupError::Damaged(format!("SQLite integrity check: {integrity}")));
    }
    let mut rows = Vec::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", table.name)))
            .fetch_one(pool)
            .await
            .map_err(db("counting rows"))?;
        rows.push((table.name.to_owned(), n));
    }
    let (mut count, mut bytes) = (0usize, 0u64);
    let bundles: Vec<(String, String, i64)> = sqlx::query_as("SELECT blob_key, sha256, size FROM bundles")
        .fetch_all(pool)
        .await
        .map_err(db("listing bundles"))?;
    for (key, sha256, size) in bundles {
        let (len, got) = digest(blobs, &key).await.map_err(|source| BackupError::Blob { key: key.clone(), source })?;
        if got != sha256 || len as i64 != size {
            return Err(BackupError::Damaged(format!(
                "bundle blob {key} is {len} bytes with SHA-256 {got}; its row records {size} bytes with {sha256}"
            )));
        }
        (count, bytes) = (count + 1, bytes + len);
    }
    let artifacts: Vec<(String, i64)> = sqlx::query_as("SELECT blob_key, stored_size FROM artifacts")
        .fetch_all(pool)
        .await
        .map_err(db("listing delta files"))?;
    for (key, stored_size) in artifacts {
        let len = blobs.size(&key).await.map_err(|source| BackupError::Blob { key: key.clone(), source })?;
        if len as i64 != stored_size {
            return Err(BackupError::Damaged(format!(
                "delta file blob {key} is {len} bytes; its row records {stored_size}"
            )));
        }
        (count, bytes) = (count + 1, bytes + len);
    }
    Ok((rows, count, bytes))
}

/// Flushes every file and directory under `root` to disk, so a crash right after a backup or
/// restore reports success cannot lose what it wrote.
fn sync_tree(root: &Path) -> Result<(), BackupError> {
    for entry in std::fs::read_dir(root).map_err(io(root))? {
        let path = entry.map_err(io(root))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path).and_then(|f| f.sync_all()).map_err(io(&path))?;
        }
    }
    sync_dir(root)
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Writes a file and flushes it and its directory.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(io(path))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}
