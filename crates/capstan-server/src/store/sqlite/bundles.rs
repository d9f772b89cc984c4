//! Bundle metadata. A bundle a channel serves cannot be deleted (`Channel::serves`).

use async_trait::async_trait;

use super::{SqliteDatabase, Tx, commit, unique_or_backend};
use crate::store::rows::{BundleRow, ChannelRow, convert, to_json};
use crate::store::{BundleStore, NewAudit, StoreError, StoreResult, StoredBundle};

/// Inserts a bundle row inside `tx` (also used when a bundle is inserted with its files).
pub(super) async fn insert_bundle_row(tx: &mut Tx, stored: &StoredBundle) -> StoreResult<()> {
    let b = &stored.bundle;
    sqlx::query(
        "INSERT INTO bundles (app_id, version, sha256, checksum, size, file_count, min_native_version, notes, session_key, \
         key_id, blob_key, warnings, created_by, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&b.app_id)
    .bind(&b.version)
    .bind(&b.sha256)
    .bind(&b.checksum)
    .bind(b.size)
    .bind(b.file_count)
    .bind(&b.min_native_version)
    .bind(&b.notes)
    .bind(&b.session_key)
    .bind(&b.key_id)
    .bind(&stored.blob_key)
    .bind(to_json(&b.warnings))
    .bind(&b.created_by)
    .bind(b.created_at_ms)
    .execute(&mut **tx)
    .await
    .map_err(|e| unique_or_backend(e, || format!("bundle {} already exists; versions are immutable", b.version)))?;
    Ok(())
}

#[async_trait]
impl BundleStore for SqliteDatabase {
    async fn insert_bundle(&self, stored: &StoredBundle, audit: NewAudit) -> StoreResult<StoredBundle> {
        let mut tx = self.begin().await?;
        insert_bundle_row(&mut tx, stored).await?;
        commit(tx, Some(&audit)).await?;
        Ok(stored.clone())
    }

    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<StoredBundle>> {
        let rows: Vec<BundleRow> = self
            .all(
                sqlx::query_as("SELECT * FROM bundles WHERE app_id = $1 ORDER BY created_at_ms DESC, version DESC")
                    .bind(app_id),
            )
            .await?;
        convert(rows)
    }

    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<StoredBundle>> {
        let row: Option<BundleRow> = self
            .one(sqlx::query_as("SELECT * FROM bundles WHERE app_id = $1 AND version = $2").bind(app_id).bind(version))
            .await?;
        row.map(StoredBundle::try_from).transpose()
    }

    async fn delete_bundle(&self, app_id: &str, version: &str, audit: NewAudit) -> StoreResult<StoredBundle> {
        let mut tx = self.begin().await?;
        let row: BundleRow = sqlx::query_as("SELECT * FROM bundles WHERE app_id = $1 AND version = $2")
            .bind(app_id)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .ok_or(StoreError::NotFound)?;
        let channels: Vec<ChannelRow> = sqlx::query_as("SELECT * FROM channels WHERE app_id = $1")
            .bind(app_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        for channel in convert::<_, capstan_core::api::Channel>(channels)? {
            if channel.serves(version) {
                return Err(StoreError::InUse(format!("channel `{}` serves {version}", channel.name)));
            }
        }
        // Its artifacts that no other bundle lists are collected after the commit
        // (`ArtifactStore::collect_artifacts`), or by the collection job after a crash.
        for delete in [
            "DELETE FROM bundle_files WHERE app_id = $1 AND version = $2",
            "DELETE FROM bundles WHERE app_id = $1 AND version = $2",
        ] {
            sqlx::query(delete).bind(app_id).bind(version).execute(&mut *tx).await.map_err(StoreError::backend)?;
        }
        commit(tx, Some(&audit)).await?;
        row.try_into()
    }

    async fn set_native_fingerprint(
        &self,
        app_id: &str,
        version: &str,
        fingerprint: &str,
        digest: &str,
        audit: NewAudit,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let recorded: Option<Option<String>> =
            sqlx::query_scalar("SELECT native_digest FROM bundles WHERE app_id = $1 AND version = $2")
                .bind(app_id)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
        match recorded {
            None => return Err(StoreError::NotFound),
            // Idempotent, so a client can retry; a different fingerprint would rewrite history.
            Some(Some(existing)) if existing == digest => return Ok(()),
            Some(Some(_)) => {
                return Err(StoreError::Conflict(format!("bundle {version} already has another native fingerprint")));
            }
            Some(None) => {}
        }
        sqlx::query(
            "UPDATE bundles SET native_fingerprint = $1, native_digest = $2 WHERE app_id = $3 AND version = $4",
        )
        .bind(fingerprint)
        .bind(digest)
        .bind(app_id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        commit(tx, Some(&audit)).await
    }

    async fn native_fingerprint(&self, app_id: &str, version: &str) -> StoreResult<Option<String>> {
        let found: Option<Option<String>> =
            sqlx::query_scalar("SELECT native_fingerprint FROM bundles WHERE app_id = $1 AND version = $2")
                .bind(app_id)
                .bind(version)
                .fetch_optional(&self.reader)
                .await
                .map_err(StoreError::backend)?;
        Ok(found.flatten())
    }

    async fn blob_keys(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT blob_key FROM bundles UNION ALL SELECT blob_key FROM artifacts")
            .fetch_all(&self.writer)
            .await
            .map_err(StoreError::backend)
    }
}
