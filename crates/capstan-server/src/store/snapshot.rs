//! A consistent copy of an embedded install (the SQLite database and the blobs its bundles
//! reference), taken while its server keeps running: what `capstan-server migrate` reads from,
//! and what a backup would archive.
//!
//! How it stays consistent without stopping the server:
//! 1. every blob file is hard-linked (copied across filesystems) into the snapshot directory:
//!    blobs are immutable, so a link is the blob as it will ever be;
//! 2. `VACUUM INTO` writes the database as of one instant (SQLite reads it in one transaction;
//!    WAL lets the server keep writing meanwhile);
//! 3. blobs of bundles uploaded between 1 and 2 are linked now. A bundle's blob is stored before
//!    its row commits and removed only after its row is deleted, so every blob the copied rows
//!    name still exists, unless its bundle was deleted after step 2 *and* uploaded after step 1:
//!    then taking the snapshot again succeeds.
//!
//! The copy is then opened like any SQLite database of this server (migrations applied to the
//! copy only), so an install written by an older release reads with the current schema.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::blob::BlobStore;
use super::disk::DiskBlobStore;
use super::sqlite::SqliteDatabase;
use super::{BundleStore, StoreError};

/// How many times a snapshot is retaken when a blob vanished while it was taken.
const ATTEMPTS: usize = 3;

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No embedded database at the source.
    #[error("no Capstan database at {0}")]
    NoDatabase(PathBuf),
    /// Reading or copying failed.
    #[error("cannot snapshot {path}: {source}")]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite refused.
    #[error("cannot copy the database: {0}")]
    Database(#[from] StoreError),
    /// A bundle's blob was deleted while the snapshot was taken, every time.
    #[error("the blob of bundle `{0}` disappeared while the snapshot was taken, {ATTEMPTS} times; retry later")]
    Unsettled(String),
}

/// How a snapshot holds the blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobCopy {
    /// Hard links where the filesystem allows (copies across filesystems): instant, and enough
    /// for a snapshot read and thrown away (`migrate`), since blobs are never modified.
    Link,
    /// Independent copies: a backup must survive damage to the original files.
    Copy,
}

/// An embedded install frozen at one instant: `capstan.db` and `blobs/` in a directory.
pub struct EmbeddedSnapshot {
    dir: PathBuf,
    /// The copied database (read it, never write it back to the source).
    pub db: SqliteDatabase,
    /// The copied blobs.
    pub blobs: DiskBlobStore,
}

impl EmbeddedSnapshot {
    /// Snapshots the install in `data_dir` (its `capstan.db` and `blobs/`) into `into`, an
    /// empty directory (on the same filesystem, blobs can be linked rather than copied).
    pub async fn take(data_dir: &Path, into: &Path, blobs: BlobCopy) -> Result<EmbeddedSnapshot, SnapshotError> {
        let source_db = data_dir.join("capstan.db");
        if !source_db.is_file() {
            return Err(SnapshotError::NoDatabase(source_db));
        }
        let source_blobs = data_dir.join("blobs");
        let mut last_missing = String::new();
        for _ in 0..ATTEMPTS {
            let _ = std::fs::remove_dir_all(into);
            let io = |path: &Path| {
                let path = path.to_path_buf();
                move |source| SnapshotError::Io { path, source }
            };
            std::fs::create_dir_all(into.join("blobs")).map_err(io(into))?;
            link_tree(&source_blobs, &into.join("blobs"), blobs).await?;
            vacuum_into(&source_db, &into.join("capstan.db")).await?;
            let db = SqliteDatabase::open(&into.join("capstan.db"), false).await?;
            let store = DiskBlobStore::open(&into.join("blobs")).map_err(io(into))?;
            match link_late_blobs(&db, &store, &source_blobs, &into.join("blobs"), blobs).await? {
                None => return Ok(EmbeddedSnapshot { dir: into.to_path_buf(), db, blobs: store }),
                Some(missing) => last_missing = missing,
            }
        }
        Err(SnapshotError::Unsettled(last_missing))
    }

    /// Where the snapshot lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// `VACUUM INTO`: a compact copy of the database as of one read transaction.
async fn vacuum_into(source: &Path, target: &Path) -> Result<(), SnapshotError> {
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(StoreError::backend)?
        .filename(source)
        .create_if_missing(false)
        // The server may be writing: wait for its write lock rather than fail.
        .busy_timeout(std::time::Duration::from_secs(30))
        // Leaves the source as it is and writes the copy with the current page size, so an
        // install created with smaller pages converts by backup + restore.
        .page_size(super::sqlite::PAGE_SIZE);
    let mut conn = options.connect().await.map_err(StoreError::backend)?;
    sqlx::query("VACUUM INTO $1")
        .bind(target.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .map_err(StoreError::backend)?;
    conn.close().await.map_err(StoreError::backend)?;
    Ok(())
}

/// Links (or copies) every file under `from` into `to`, keeping relative paths; temporary
/// files of uploads in progress are left out.
pub(crate) async fn link_tree(from: &Path, to: &Path, mode: BlobCopy) -> Result<(), SnapshotError> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let mut stack = vec![from.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(SnapshotError::Io { path: dir, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| SnapshotError::Io { path: dir.clone(), source })?;
                let path = entry.path();
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(relative) = path.strip_prefix(&from) {
                    link_file(&path, &to.join(relative), mode)?;
                }
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| SnapshotError::Io { path: PathBuf::new(), source: std::io::Error::other(e) })?
}

fn link_file(from: &Path, to: &Path, mode: BlobCopy) -> Result<(), SnapshotError> {
    let fail = |source| SnapshotError::Io { path: from.to_path_buf(), source };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    if mode == BlobCopy::Copy || std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).map_err(fail)?;
    }
    Ok(())
}

/// Links blobs that rows of the copy reference but step 1 did not see. Answers the first
/// bundle whose blob is gone from the source too, if any.
async fn link_late_blobs(
    db: &SqliteDatabase,
    blobs: &DiskBlobStore,
    source: &Path,
    target: &Path,
    mode: BlobCopy,
) -> Result<Option<String>, SnapshotError> {
    for key in db.blob_keys().await? {
        if blobs.exists(&key).await.unwrap_or(false) {
            continue;
        }
        let from = source.join(&key);
        if !from.is_file() {
            return Ok(Some(key));
        }
        link_file(&from, &target.join(&key), mode)?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn page_size(path: &Path) -> i64 {
        let mut conn = SqliteConnectOptions::new().filename(path).connect().await.unwrap();
        let (size,): (i64,) = sqlx::query_as("PRAGMA page_size").fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        size
    }

    #[tokio::test]
    async fn a_copy_of_a_database_with_small_pages_gets_the_current_page_size_and_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = (dir.path().join("old.db"), dir.path().join("copy.db"));
        // A file as older releases created it: SQLite's default 4 KiB pages, in WAL mode.
        let mut conn = SqliteConnectOptions::new()
            .filename(&source)
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&mut conn).await.unwrap();
        sqlx::query("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000) INSERT INTO t SELECT x FROM n")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        assert_eq!(page_size(&source).await, 4096);

        vacuum_into(&source, &target).await.unwrap();

        assert_eq!(page_size(&source).await, 4096, "the source is left as it is");
        assert_eq!(page_size(&target).await, i64::from(crate::store::sqlite::PAGE_SIZE));
        let mut conn = SqliteConnectOptions::new().filename(&target).connect().await.unwrap();
        let (rows, sum): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), SUM(x) FROM t").fetch_one(&mut conn).await.unwrap();
        assert_eq!((rows, sum), (1000, 500_500));
    }
}
