//! Per-file artifacts of plain bundles and the file list of each bundle (delta updates).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};

use super::bundles::insert_bundle_row;
use super::{SqliteDatabase, Tx, commit};
use crate::store::rows::{ArtifactRow, FileRow, encoding_text};
use crate::store::sql::{
    APP_ARTIFACTS, APP_BUNDLE_FILES, BUNDLE_FILES, FIND_ARTIFACT, INSERT_ARTIFACT, INSERT_BUNDLE_FILES_HEAD,
};
use crate::store::{
    ArtifactStore, BundleFile, FilesInserted, NewAudit, StoreError, StoreResult, StoredArtifact, StoredBundle,
};

async fn artifact_in(tx: &mut Tx, app_id: &str, sha256: &str) -> StoreResult<Option<StoredArtifact>> {
    let row: Option<ArtifactRow> = sqlx::query_as(FIND_ARTIFACT)
        .bind(app_id)
        .bind(sha256)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::backend)?;
    row.map(StoredArtifact::try_from).transpose()
}

/// Rows or values per statement below: a bundle lists thousands of files, and one statement per
/// row costs a round trip to the database thread each. 1,000 × 5 binds stays well under
/// SQLite's limit of 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 1000;

/// Which of these artifacts are recorded for the app.
async fn recorded_hashes(tx: &mut Tx, app_id: &str, artifacts: &[StoredArtifact]) -> StoreResult<HashSet<String>> {
    let mut recorded = HashSet::new();
    for chunk in artifacts.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT sha256 FROM artifacts WHERE app_id = ");
        query.push_bind(app_id).push(" AND sha256 IN (");
        let mut list = query.separated(", ");
        for artifact in chunk {
            list.push_bind(&artifact.sha256);
        }
        query.push(")");
        let hashes: Vec<String> = query.build_query_scalar().fetch_all(&mut **tx).await.map_err(StoreError::backend)?;
        recorded.extend(hashes);
    }
    Ok(recorded)
}

/// Inserts a bundle's file list (path, SHA-256) in zip order.
async fn insert_files(tx: &mut Tx, app_id: &str, version: &str, files: &[(String, String)]) -> StoreResult<()> {
    let numbered: Vec<(i64, &(String, String))> = (0..).zip(files).collect();
    for chunk in numbered.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(INSERT_BUNDLE_FILES_HEAD);
        query.push_values(chunk, |mut row, (position, (path, sha256))| {
            row.push_bind(app_id).push_bind(version).push_bind(*position).push_bind(path).push_bind(sha256);
        });
        query.build().execute(&mut **tx).await.map_err(StoreError::backend)?;
    }
    Ok(())
}

#[async_trait]
impl ArtifactStore for SqliteDatabase {
    async fn find_artifact(&self, app_id: &str, sha256: &str) -> StoreResult<Option<StoredArtifact>> {
        let row: Option<ArtifactRow> = self.one(sqlx::query_as(FIND_ARTIFACT).bind(app_id).bind(sha256)).await?;
        row.map(StoredArtifact::try_from).transpose()
    }

    async fn app_artifacts(&self, app_id: &str) -> StoreResult<HashMap<String, StoredArtifact>> {
        let rows: Vec<ArtifactRow> = self.all(sqlx::query_as(APP_ARTIFACTS).bind(app_id)).await?;
        rows.into_iter()
            .map(|row| StoredArtifact::try_from(row).map(|artifact| (artifact.sha256.clone(), artifact)))
            .collect()
    }

    async fn insert_bundle_with_files(
        &self,
        stored: &StoredBundle,
        files: &[(String, String)],
        written: &[StoredArtifact],
        reused: &[StoredArtifact],
        audit: NewAudit,
    ) -> StoreResult<FilesInserted> {
        let app_id = &stored.bundle.app_id;
        let mut tx = self.begin().await?;
        // BEGIN IMMEDIATE holds the write lock: nothing collects an artifact between this
        // check and the commit.
        let recorded = recorded_hashes(&mut tx, app_id, reused).await?;
        let gone: Vec<String> =
            reused.iter().filter(|a| !recorded.contains(&a.sha256)).map(|a| a.sha256.clone()).collect();
        if !gone.is_empty() {
            return Ok(FilesInserted::ArtifactsGone(gone));
        }
        insert_bundle_row(&mut tx, stored).await?;
        let mut unused_blobs = Vec::new();
        for artifact in written {
            match artifact_in(&mut tx, app_id, &artifact.sha256).await? {
                Some(existing) if existing.blob_key != artifact.blob_key => {
                    unused_blobs.push(artifact.blob_key.clone())
                }
                Some(_) => {}
                None => {
                    sqlx::query(INSERT_ARTIFACT)
                        .bind(app_id)
                        .bind(&artifact.sha256)
                        .bind(encoding_text(artifact.encoding))
                        .bind(artifact.size)
                        .bind(artifact.stored_size)
                        .bind(&artifact.blob_key)
                        .bind(stored.bundle.created_at_ms)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::backend)?;
                }
            }
        }
        insert_files(&mut tx, app_id, &stored.bundle.version, files).await?;
        commit(tx, Some(&audit)).await?;
        Ok(FilesInserted::Inserted { unused_blobs })
    }

    async fn bundle_files(&self, app_id: &str, version: &str) -> StoreResult<Vec<BundleFile>> {
        let rows: Vec<FileRow> = self.all(sqlx::query_as(BUNDLE_FILES).bind(app_id).bind(version)).await?;
        rows.into_iter().map(BundleFile::try_from).collect()
    }

    async fn app_bundle_files(&self, app_id: &str) -> StoreResult<HashMap<String, Vec<BundleFile>>> {
        let rows: Vec<FileRow> = self.all(sqlx::query_as(APP_BUNDLE_FILES).bind(app_id)).await?;
        let mut by_version: HashMap<String, Vec<BundleFile>> = HashMap::new();
        for row in rows {
            let version = row.version.clone();
            by_version.entry(version).or_default().push(row.try_into()?);
        }
        Ok(by_version)
    }

    async fn collect_artifacts(&self, app_id: Option<&str>) -> StoreResult<Vec<String>> {
        let mut tx = self.begin().await?;
        let keys: Vec<String> = sqlx::query_scalar(
            "DELETE FROM artifacts WHERE ($1 IS NULL OR app_id = $1) AND NOT EXISTS \
             (SELECT 1 FROM bundle_files f WHERE f.app_id = artifacts.app_id AND f.sha256 = artifacts.sha256) \
             RETURNING blob_key",
        )
        .bind(app_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        commit(tx, None).await?;
        Ok(keys)
    }
}
