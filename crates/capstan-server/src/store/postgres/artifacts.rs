//! Per-file artifacts of plain bundles and the file list of each bundle (delta updates).
//!
//! SQLite's single writer makes "a reused artifact is still recorded" hold until the upload
//! commits. Here uploads and collections of several replicas run side by side, so an upload
//! locks the artifacts its bundle lists (`FOR SHARE`) and a collection locks its candidates
//! (`FOR UPDATE`) and deletes them in a second statement, which sees (its own snapshot) the file
//! lists of uploads that committed while it waited.

use std::collections::HashMap;

use async_trait::async_trait;

use super::bundles::insert_bundle_row;
use super::{PostgresDatabase, Tx, commit};
use crate::store::rows::{ArtifactRow, FileRow, encoding_text};
use crate::store::sql::{APP_ARTIFACTS, APP_BUNDLE_FILES, BUNDLE_FILES, FIND_ARTIFACT};
use crate::store::{
    ArtifactStore, BundleFile, FilesInserted, NewAudit, StoreError, StoreResult, StoredArtifact, StoredBundle,
};

/// Records an artifact unless one is recorded for the content (a concurrent upload's, which wins).
const INSERT_ARTIFACT_IF_NEW: &str = "INSERT INTO artifacts (app_id, sha256, encoding, size, stored_size, blob_key, \
     created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, sha256) DO NOTHING";

/// Locks the app's artifacts with these hashes until the transaction ends (in hash order, as
/// every locker here, so two transactions never wait on each other); answers those recorded.
async fn lock_artifacts(tx: &mut Tx, app_id: &str, hashes: &[&str]) -> StoreResult<HashMap<String, StoredArtifact>> {
    let rows: Vec<ArtifactRow> = sqlx::query_as(
        "SELECT sha256, encoding, size, stored_size, blob_key FROM artifacts \
         WHERE app_id = $1 AND sha256 = ANY($2) ORDER BY sha256 FOR SHARE",
    )
    .bind(app_id)
    .bind(hashes)
    .fetch_all(&mut **tx)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(|row| StoredArtifact::try_from(row).map(|a| (a.sha256.clone(), a))).collect()
}

#[async_trait]
impl ArtifactStore for PostgresDatabase {
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
        // Record what this upload wrote, unless another upload recorded the content first
        // (then its record wins and this upload's blob is unused).
        let mut written: Vec<&StoredArtifact> = written.iter().collect();
        written.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        for artifact in &written {
            sqlx::query(INSERT_ARTIFACT_IF_NEW)
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
        // Every artifact the bundle lists stays recorded until this commits: a collection
        // waits for the locks, then sees this bundle's file list.
        let mut hashes: Vec<&str> = reused.iter().chain(written.iter().copied()).map(|a| a.sha256.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let recorded = lock_artifacts(&mut tx, app_id, &hashes).await?;
        let gone: Vec<String> = hashes.iter().filter(|h| !recorded.contains_key(**h)).map(|h| h.to_string()).collect();
        if !gone.is_empty() {
            return Ok(FilesInserted::ArtifactsGone(gone));
        }
        let unused_blobs = written
            .iter()
            .filter(|artifact| recorded[&artifact.sha256].blob_key != artifact.blob_key)
            .map(|artifact| artifact.blob_key.clone())
            .collect();
        insert_bundle_row(&mut tx, stored).await?;
        let positions: Vec<i64> = (0..files.len() as i64).collect();
        let (paths, hashes): (Vec<&str>, Vec<&str>) = files.iter().map(|(p, h)| (p.as_str(), h.as_str())).unzip();
        // One statement for the whole list (thousands of rows), not a round trip per row.
        sqlx::query(
            "INSERT INTO bundle_files (app_id, version, position, path, sha256) \
             SELECT $1, $2, position, path, sha256 FROM UNNEST($3::bigint[], $4::text[], $5::text[]) \
             AS f(position, path, sha256)",
        )
        .bind(app_id)
        .bind(&stored.bundle.version)
        .bind(&positions)
        .bind(&paths)
        .bind(&hashes)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
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
        // Lock the candidates first: an upload listing one holds it `FOR SHARE` until it commits.
        let candidates: Vec<(String, String)> = sqlx::query_as(
            "SELECT app_id, sha256 FROM artifacts WHERE ($1::text IS NULL OR app_id = $1) AND NOT EXISTS \
             (SELECT 1 FROM bundle_files f WHERE f.app_id = artifacts.app_id AND f.sha256 = artifacts.sha256) \
             ORDER BY app_id, sha256 FOR UPDATE",
        )
        .bind(app_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // A new statement, a new snapshot: the file lists of uploads that committed while the
        // locks were awaited are seen here, and their artifacts kept.
        let (apps, hashes): (Vec<String>, Vec<String>) = candidates.into_iter().unzip();
        let keys: Vec<String> = sqlx::query_scalar(
            "DELETE FROM artifacts WHERE (app_id, sha256) IN (SELECT * FROM UNNEST($1::text[], $2::text[])) \
             AND NOT EXISTS (SELECT 1 FROM bundle_files f \
             WHERE f.app_id = artifacts.app_id AND f.sha256 = artifacts.sha256) RETURNING blob_key",
        )
        .bind(&apps)
        .bind(&hashes)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        commit(tx, None).await?;
        Ok(keys)
    }
}
