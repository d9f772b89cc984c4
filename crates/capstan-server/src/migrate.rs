//! `capstan-server migrate`: moves an embedded install (SQLite + blob directory) to
//! PostgreSQL + an S3-compatible store, while the embedded server keeps running.
//!
//! One run:
//! 1. takes a consistent snapshot of the source ([`EmbeddedSnapshot`]);
//! 2. checks the target: empty, or holding an earlier, unfinished or finished run *from this
//!    install* that no server has used since (the `imports` table says which); anything else is
//!    refused, so nothing another install or a running fleet wrote is ever overwritten;
//! 3. copies every table in key order, in pages that commit one by one: tables that only grow
//!    (events, audit, channel history) continue after the highest id the target holds, the
//!    others are upserted (and, for bundles and overrides, rows gone from the source are
//!    removed); ids are kept (channel ids are what devices know), and sequences are moved past
//!    them;
//! 4. copies every bundle's blob the target does not hold yet, as a multipart upload;
//! 5. verifies: row counts per table, then every row compared column by column in key order,
//!    then every blob read back from the target store and hashed (SHA-256 and size as recorded);
//! 6. marks the run finished. Servers refuse to start on the database before that.
//!
//! Running it again therefore resumes an interrupted run, and after the embedded server is
//! stopped, catches up with what it wrote since the previous run (the cut-over takes as long
//! as that last short run).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

use crate::clock::{Clock, SystemClock};
use crate::config::S3Config;
use crate::store::blob::{BlobError, BlobStore};
use crate::store::postgres::PostgresDatabase;
use crate::store::s3::S3BlobStore;
use crate::store::snapshot::{BlobCopy, EmbeddedSnapshot, SnapshotError};
use crate::store::tables::{Growth, TABLES, Table, Values, postgres_insert, postgres_value, sqlite_value};
use crate::store::{BundleStore, OpenError, StoreError};

/// The file in a data directory that names the install (written by the first `migrate`).
pub const INSTALL_ID_FILE: &str = "install-id";
/// The PostgreSQL advisory lock a run holds (`capsmigr` in ASCII, as a number).
const RUN_LOCK: i64 = 0x6361_7073_6d69_6772;

/// What to move where.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The embedded install's data directory (holding `capstan.db` and `blobs/`).
    pub source: PathBuf,
    /// The PostgreSQL URL to fill.
    pub database_url: String,
    /// The object store to fill (`s3://bucket/prefix`).
    pub storage_url: String,
    /// How to reach the object store.
    pub s3: S3Config,
}

/// What a run copied and verified.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Rows per table in the snapshot (all present and equal in the target).
    pub rows: Vec<(&'static str, i64)>,
    /// Rows written by this run, per table.
    pub written: Vec<(&'static str, u64)>,
    /// Blobs verified, and how many of them this run uploaded.
    pub blobs: usize,
    /// Blobs uploaded by this run.
    pub blobs_uploaded: usize,
    /// Their total size in bytes.
    pub blob_bytes: u64,
}

/// Why a run stopped. Every variant leaves the target resumable: run again.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source could not be read.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The target could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The target holds something this run must not touch.
    #[error("refusing the target: {0}")]
    Refused(String),
    /// A database step failed.
    #[error("{step}: {source}")]
    Database {
        /// What was being done.
        step: String,
        /// Why it failed.
        source: sqlx::Error,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob could not be copied or read back.
    #[error("blob {key}: {source}")]
    Blob {
        /// Its key.
        key: String,
        /// Why.
        source: BlobError,
    },
    /// Verification found a difference (the run is not marked finished).
    #[error("verification failed: {0}")]
    Mismatch(String),
    /// The install id file could not be read or written.
    #[error("cannot read or write {path}: {source}")]
    InstallId {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn db_step(step: impl Into<String>) -> impl FnOnce(sqlx::Error) -> MigrateError {
    let step = step.into();
    move |source| MigrateError::Database { step, source }
}

/// Refuses to serve a database that a `migrate` run is filling, and records that servers use
/// one that was migrated (from then on, `migrate` refuses it). Called when a server opens
/// PostgreSQL.
pub async fn claim_for_serving(db: &PostgresDatabase) -> Result<(), OpenError> {
    let unfinished: Option<(String, i64)> =
        sqlx::query_as("SELECT source, started_at_ms FROM imports WHERE finished_at_ms IS NULL LIMIT 1")
            .fetch_optional(db.pool())
            .await
            .map_err(StoreError::backend)?;
    if let Some((source, _)) = unfinished {
        return Err(OpenError::NotReady(format!(
            "this database is being filled by `capstan-server migrate` from {source} and that run has not finished: \
             run it again to completion before starting servers on it"
        )));
    }
    sqlx::query("UPDATE imports SET served_since_ms = $1 WHERE served_since_ms IS NULL")
        .bind(SystemClock.now_ms())
        .execute(db.pool())
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

/// The install's id, created on first use.
fn install_id(data_dir: &Path) -> Result<String, MigrateError> {
    let path = data_dir.join(INSTALL_ID_FILE);
    let fail = |source| MigrateError::InstallId { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) => Err(fail(std::io::Error::other("the file is empty"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = crate::auth::random_hex(16);
            std::fs::write(&path, format!("{id}\n")).map_err(fail)?;
            Ok(id)
        }
        Err(e) => Err(fail(e)),
    }
}

/// Runs a migration; `progress` receives one line per step.
pub async fn migrate(
    options: &MigrateOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<MigrateReport, MigrateError> {
    let started = Instant::now();
    let source_id = install_id(&options.source)?;
    let source_name = std::fs::canonicalize(&options.source).unwrap_or_else(|_| options.source.clone());
    let target = PostgresDatabase::open(&options.database_url, 4).await.map_err(OpenError::from)?;
    let store = S3BlobStore::open(&options.storage_url, &options.s3).map_err(OpenError::from)?;
    store.ping().await.map_err(|source| OpenError::Blobs { store: options.storage_url.clone(), source })?;
    // One run at a time per database: the lock lives as long as this connection.
    let mut run_lock = target.pool().acquire().await.map_err(db_step("connecting"))?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(RUN_LOCK)
        .fetch_one(&mut run_lock)
        .await
        .map_err(db_step("taking the run lock"))?;
    if !locked {
        return Err(MigrateError::Refused("another `capstan-server migrate` is running into this database".into()));
    }
    check_target(target.pool(), &store, &source_id).await?;

    progress(&format!("snapshot of {}", source_name.display()));
    let scratch = tempfile::Builder::new()
        .prefix(".migrate-snapshot-")
        .tempdir_in(&options.source)
        .map_err(|source| SnapshotError::Io { path: options.source.clone(), source })?;
    let snapshot = EmbeddedSnapshot::take(&options.source, scratch.path(), BlobCopy::Link).await?;
    let source = snapshot.db.read_pool();

    sqlx::query(
        "INSERT INTO imports (source_id, source, started_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (source_id) DO UPDATE SET started_at_ms = excluded.started_at_ms, finished_at_ms = NULL",
    )
    .bind(&source_id)
    .bind(source_name.display().to_string())
    .bind(SystemClock.now_ms())
    .execute(target.pool())
    .await
    .map_err(db_step("recording the run"))?;

    let mut report = MigrateReport::default();
    for table in TABLES {
        let written = copy_table(table, source, target.pool()).await?;
        progress(&format!("{}: {written} rows written", table.name));
        report.written.push((table.name, written));
    }
    move_sequences(target.pool()).await?;
    let keys = snapshot.db.blob_keys().await?;
    for key in &keys {
        if copy_blob(&snapshot, &store, key).await? {
            report.blobs_uploaded += 1;
        }
    }
    progress(&format!("blobs: {} of {} uploaded", report.blobs_uploaded, keys.len()));

    progress("verifying rows");
    for table in TABLES {
        let rows = verify_table(table, source, target.pool()).await?;
        report.rows.push((table.name, rows));
    }
    progress("verifying blobs (SHA-256 of each, read back from the store)");
    for bundle in all_bundles(&snapshot).await? {
        report.blob_bytes += verify_blob(&store, &bundle.blob_key, &bundle.bundle.sha256, bundle.bundle.size).await?;
        report.blobs += 1;
    }
    sqlx::query("UPDATE imports SET finished_at_ms = $1 WHERE source_id = $2")
        .bind(SystemClock.now_ms())
        .bind(&source_id)
        .execute(target.pool())
        .await
        .map_err(db_step("marking the run finished"))?;
    progress(&format!("done in {:.1} s", started.elapsed().as_secs_f64()));
    let _ = sqlx::Connection::close(run_lock).await;
    Ok(report)
}

/// Refuses a target holding anything but earlier runs from this install that no server used.
async fn check_target(target: &PgPool, store: &S3BlobStore, source_id: &str) -> Result<(), MigrateError> {
    let runs: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT source_id, source, served_since_ms FROM imports")
            .fetch_all(target)
            .await
            .map_err(db_step("reading earlier runs"))?;
    match runs.as_slice() {
        [] => {
            for table in TABLES {
                let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", table.name)))
                    .fetch_one(target)
                    .await
                    .map_err(db_step(format!("counting {}", table.name)))?;
                if rows > 0 {
                    return Err(MigrateError::Refused(format!(
                        "the database already holds data ({rows} rows in `{}`) that no `migrate` run wrote",
                        table.name
                    )));
                }
            }
            let objects =
                store.list().await.map_err(|source| MigrateError::Blob { key: "(listing)".into(), source })?;
            if let Some(first) = objects.first() {
                return Err(MigrateError::Refused(format!(
                    "the storage prefix already holds {} objects (such as `{}`)",
                    objects.len(),
                    first.key
                )));
            }
            Ok(())
        }
        [(id, _, None)] if id == source_id => Ok(()),
        [(id, _, Some(since))] if id == source_id => Err(MigrateError::Refused(format!(
            "servers have used this database since {} (epoch ms): migrating again would overwrite what they wrote",
            since
        ))),
        [(_, source, _), ..] => {
            Err(MigrateError::Refused(format!("the database holds data migrated from another install ({source})")))
        }
    }
}

fn bind_values<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    values: &'q Values,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    use crate::store::tables::Value;
    for value in values {
        query = match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.as_deref()),
            Value::Bool(v) => query.bind(*v),
        };
    }
    query
}

fn bind_pg_values<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    values: &'q Values,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    use crate::store::tables::Value;
    for value in values {
        query = match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.as_deref()),
            Value::Bool(v) => query.bind(*v),
        };
    }
    query
}

/// One page of the source, after `after` (a key) in key order.
async fn source_page(table: &Table, source: &SqlitePool, after: Option<&Values>) -> Result<Vec<Values>, MigrateError> {
    let sql = table.page_query(after.is_some(), table.page_rows());
    let query = match after {
        Some(key) => bind_values(sqlx::query(AssertSqlSafe(sql)), key),
        None => sqlx::query(AssertSqlSafe(sql)),
    };
    let rows = query.fetch_all(source).await.map_err(db_step(format!("reading {}", table.name)))?;
    rows.iter()
        .map(|row| table.columns.iter().map(|(name, kind)| sqlite_value(row, name, *kind)).collect())
        .collect::<Result<_, _>>()
        .map_err(db_step(format!("reading {}", table.name)))
}

/// One page of the target, after `after` in key order.
async fn target_page(table: &Table, target: &PgPool, after: Option<&Values>) -> Result<Vec<Values>, MigrateError> {
    let sql = table.page_query(after.is_some(), table.page_rows());
    let query = match after {
        Some(key) => bind_pg_values(sqlx::query(AssertSqlSafe(sql)), key),
        None => sqlx::query(AssertSqlSafe(sql)),
    };
    let rows = query.fetch_all(target).await.map_err(db_step(format!("reading back {}", table.name)))?;
    rows.iter()
        .map(|row| table.columns.iter().map(|(name, kind)| postgres_value(row, name, *kind)).collect())
        .collect::<Result<_, _>>()
        .map_err(db_step(format!("reading back {}", table.name)))
}

/// Copies one table; answers the rows written.
async fn copy_table(table: &Table, source: &SqlitePool, target: &PgPool) -> Result<u64, MigrateError> {
    let mut after: Option<Values> = None;
    if table.growth == Growth::Appended {
        let max: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!("SELECT MAX(id) FROM {}", table.name)))
            .fetch_one(target)
            .await
            .map_err(db_step(format!("resuming {}", table.name)))?;
        after = max.map(|id| vec![crate::store::tables::Value::Int(Some(id))]);
    }
    let mut seen: HashSet<Values> = HashSet::new();
    let mut written = 0;
    loop {
        let page = source_page(table, source, after.as_ref()).await?;
        let Some(last) = page.last() else { break };
        after = Some(table.key_of(last));
        if table.growth == Growth::UpdatedAndDeleted {
            seen.extend(page.iter().map(|row| table.key_of(row)));
        }
        let done = postgres_insert(table, &page)
            .build()
            .execute(target)
            .await
            .map_err(db_step(format!("writing {}", table.name)))?;
        written += done.rows_affected();
    }
    if table.growth == Growth::UpdatedAndDeleted {
        written += prune(table, target, &seen).await?;
    }
    Ok(written)
}

/// Removes target rows whose key the source no longer has.
async fn prune(table: &Table, target: &PgPool, keep: &HashSet<Values>) -> Result<u64, MigrateError> {
    let mut gone = Vec::new();
    let mut after: Option<Values> = None;
    loop {
        let page = target_page(table, target, after.as_ref()).await?;
        let Some(last) = page.last() else { break };
        after = Some(table.key_of(last));
        gone.extend(page.iter().map(|row| table.key_of(row)).filter(|key| !keep.contains(key)));
    }
    let filter = table.key.iter().enumerate().map(|(i, k)| format!("{k} = ${}", i + 1)).collect::<Vec<_>>();
    let sql = format!("DELETE FROM {} WHERE {}", table.name, filter.join(" AND "));
    for key in &gone {
        bind_pg_values(sqlx::query(AssertSqlSafe(sql.clone())), key)
            .execute(target)
            .await
            .map_err(db_step(format!("removing a row of {}", table.name)))?;
    }
    Ok(gone.len() as u64)
}

/// Moves every identity sequence past the ids copied, so new rows do not collide with them.
async fn move_sequences(target: &PgPool) -> Result<(), MigrateError> {
    for table in TABLES.iter().filter(|t| t.identity) {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)",
            table.name
        );
        sqlx::query(AssertSqlSafe(sql))
            .execute(target)
            .await
            .map_err(db_step(format!("moving the id sequence of {}", table.name)))?;
    }
    Ok(())
}

/// Uploads a snapshot's blob unless the target holds it already at the same size; true if
/// uploaded. The snapshot's file is handed to the store as is (it is a throwaway copy).
async fn copy_blob(snapshot: &EmbeddedSnapshot, to: &dyn BlobStore, key: &str) -> Result<bool, MigrateError> {
    let fail = |source| MigrateError::Blob { key: key.to_owned(), source };
    crate::store::check_blob_key(key).map_err(fail)?;
    let size = snapshot.blobs.size(key).await.map_err(fail)?;
    if to.exists(key).await.map_err(fail)? && to.size(key).await.map_err(fail)? == size {
        return Ok(false);
    }
    to.put_file(key, &snapshot.dir().join("blobs").join(key)).await.map_err(fail)?;
    Ok(true)
}

async fn all_bundles(snapshot: &EmbeddedSnapshot) -> Result<Vec<crate::store::StoredBundle>, MigrateError> {
    let mut bundles = Vec::new();
    for app in crate::store::AppStore::list_apps(&snapshot.db).await? {
        bundles.extend(snapshot.db.list_bundles(&app.id).await?);
    }
    Ok(bundles)
}

/// Reads a blob back from the target store and checks its size and SHA-256; answers its size.
async fn verify_blob(store: &dyn BlobStore, key: &str, sha256: &str, size: i64) -> Result<u64, MigrateError> {
    let (len, got) = crate::store::blob::digest(store, key)
        .await
        .map_err(|source| MigrateError::Blob { key: key.to_owned(), source })?;
    if got != sha256 || len as i64 != size {
        return Err(MigrateError::Mismatch(format!(
            "blob {key} reads back as {len} bytes with SHA-256 {got}, recorded {size} bytes with {sha256}"
        )));
    }
    Ok(len)
}

/// Compares a table row by row in key order; answers its row count.
async fn verify_table(table: &Table, source: &SqlitePool, target: &PgPool) -> Result<i64, MigrateError> {
    let count = format!("SELECT COUNT(*) FROM {}", table.name);
    let source_rows: i64 = sqlx::query_scalar(AssertSqlSafe(count.clone()))
        .fetch_one(source)
        .await
        .map_err(db_step(format!("counting {}", table.name)))?;
    let target_rows: i64 = sqlx::query_scalar(AssertSqlSafe(count))
        .fetch_one(target)
        .await
        .map_err(db_step(format!("counting {} in the target", table.name)))?;
    if source_rows != target_rows {
        return Err(MigrateError::Mismatch(format!(
            "`{}` has {source_rows} rows in the source and {target_rows} in the target",
            table.name
        )));
    }
    let mut after: Option<Values> = None;
    loop {
        let ours = source_page(table, source, after.as_ref()).await?;
        let theirs = target_page(table, target, after.as_ref()).await?;
        if let Some((a, b)) = ours.iter().zip(&theirs).find(|(a, b)| a != b) {
            let differing: Vec<String> = table
                .columns
                .iter()
                .zip(a.iter().zip(b))
                .filter(|(_, (x, y))| x != y)
                .map(|((name, _), (x, y))| format!("{name}: {x} vs {y}"))
                .collect();
            let key: Vec<String> = table.key_of(a).iter().map(ToString::to_string).collect();
            return Err(MigrateError::Mismatch(format!(
                "`{}` row ({}) differs: {}",
                table.name,
                key.join(", "),
                differing.join("; ")
            )));
        }
        if ours.len() != theirs.len() {
            return Err(MigrateError::Mismatch(format!("`{}` rows differ in key order", table.name)));
        }
        let Some(last) = ours.last() else { break };
        after = Some(table.key_of(last));
    }
    Ok(source_rows)
}
