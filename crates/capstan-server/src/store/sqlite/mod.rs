//! The embedded database: one SQLite file in WAL mode, split by concern (one module per
//! trait of [`super::Database`]).
//!
//! Writes go through a pool of one connection, so they queue in-process instead of fighting
//! for SQLite's single write lock (a deferred transaction that upgrades to a writer can fail
//! with SQLITE_BUSY without waiting). Reads use a separate small pool and run beside writes,
//! which WAL allows.

mod apps;
mod artifacts;
mod audit;
mod bundles;
mod channels;
mod decision_inputs;
mod devices;
mod encrypted_files;
mod events;
mod leases;
mod rollouts;
mod signing;
mod tokens;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{FromRow, Sqlite, SqlitePool, Transaction};

use super::sql::INSERT_AUDIT;
pub(super) use super::sql::unique_or_backend;
use super::{Database, NewAudit, StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A write transaction on the single writer connection.
type Tx = Transaction<'static, Sqlite>;

/// A typed query: `sqlx::query_as(SQL).bind(…)`.
type TypedQuery<'q, R> = sqlx::query::QueryAs<'q, Sqlite, R, SqliteArguments>;

/// SQLite behind [`Database`].
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// Page size of the databases this server creates: 16 KiB instead of SQLite's 4 KiB. A device
/// flush dirties index pages all over the tree and SQLite writes each one to the WAL in two
/// system calls: a quarter as many pages cost the flush about a fifth less CPU per device
/// (bench/updates/PROFILE.md). SQLite keeps an existing file's page size; a backup (`VACUUM
/// INTO`, see `store::snapshot`) is written with this one, so backup + restore converts.
pub const PAGE_SIZE: u32 = 16 * 1024;

impl SqliteDatabase {
    /// Opens (creating if needed) the database file and applies migrations.
    /// `durable` chooses `synchronous=FULL` (survives power loss) over `NORMAL` (survives a
    /// process crash, which is what SIGKILL tests exercise).
    pub async fn open(path: &Path, durable: bool) -> StoreResult<SqliteDatabase> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StoreError::backend)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if durable { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .busy_timeout(Duration::from_secs(10))
            // 64 MiB of page cache (the default is 2 MiB): stats ingestion touches index pages
            // all over the tree.
            .pragma("cache_size", "-65536")
            .page_size(PAGE_SIZE)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::backend)?;
        MIGRATOR.run(&writer).await.map_err(StoreError::backend)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(StoreError::backend)?;
        Ok(SqliteDatabase { writer, reader })
    }

    /// Closes the database with everything in its main file (the write-ahead log checkpointed
    /// and emptied), so that file alone is the whole database: what a tool copying it needs.
    pub async fn close(self) -> StoreResult<()> {
        self.reader.close().await;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await.map_err(StoreError::backend)?;
        self.writer.close().await;
        Ok(())
    }

    /// The pool of read-only connections (for tools that read whole tables, such as
    /// `capstan-server migrate` reading a snapshot).
    pub fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// At most one row, read beside the writer.
    async fn one<R>(&self, query: TypedQuery<'_, R>) -> StoreResult<Option<R>>
    where
        R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        query.fetch_optional(&self.reader).await.map_err(StoreError::backend)
    }

    /// Every row, read beside the writer.
    async fn all<R>(&self, query: TypedQuery<'_, R>) -> StoreResult<Vec<R>>
    where
        R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        query.fetch_all(&self.reader).await.map_err(StoreError::backend)
    }

    /// Starts a read transaction: every read in it sees the same committed state (WAL keeps
    /// that snapshot while the writer goes on).
    async fn begin_read(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.reader.begin().await.map_err(StoreError::backend)
    }

    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock now, so nothing read
    /// inside can change before the commit.
    async fn begin(&self) -> StoreResult<Tx> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::backend)
    }
}

/// Ends every audited change the same way: the audit entry is written in the transaction of
/// the change it describes, then both commit together.
async fn commit(mut tx: Tx, audit: Option<&NewAudit>) -> StoreResult<()> {
    if let Some(audit) = audit {
        sqlx::query(INSERT_AUDIT)
            .bind(&audit.actor)
            .bind(&audit.app_id)
            .bind(&audit.action)
            .bind(&audit.subject)
            .bind(audit.before.as_ref().map(super::rows::to_json))
            .bind(audit.after.as_ref().map(super::rows::to_json))
            .bind(audit.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
    }
    tx.commit().await.map_err(StoreError::backend)
}

#[async_trait]
impl Database for SqliteDatabase {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(StoreError::backend)?;
        sqlx::query("SELECT 1").execute(&self.writer).await.map_err(StoreError::backend)?;
        Ok(())
    }
}
