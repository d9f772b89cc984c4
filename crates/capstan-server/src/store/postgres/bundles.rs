//! Bundle metadata. A bundle a channel serves cannot be deleted (`Channel::serves`).

use async_trait::async_trait;

use super::{PostgresDatabase, Tx, commit, unique_or_backend};
use crate::store::rows::{BundleRow, ChannelRow, convert, to_json};
use crate::store::sql::{
    BLOB_KEYS, DELETE_BUNDLE, DELETE_BUNDLE_FILES, GET_BUNDLE, INSERT_BUNDLE, LIST_BUNDLES, LIST_CHANNELS,
    NATIVE_FINGERPRINT, SET_NATIVE_FINGERPRINT,
};
use crate::store::{BundleStore, NewAudit, StoreError, StoreResult, StoredBundle, needs_fingerprint, refuse_if_served};

/// Inserts a bundle row inside `tx` (also used when a bundle is inserted with its files).
pub(super) async fn insert_bundle_row(tx: &mut Tx, stored: &StoredBundle) -> StoreResult<()> {
    let b = &stored.bundle;
    sqlx::query(INSERT_BUNDLE)
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
impl BundleStore for PostgresDatabase {
    async fn insert_bundle(&self, stored: &StoredBundle, audit: NewAudit) -> StoreResult<StoredBundle> {
        let mut tx = self.begin().await?;
        insert_bundle_row(&mut tx, stored).await?;
        commit(tx, Some(&audit)).await?;
        Ok(stored.clone())
    }

    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<StoredBundle>> {
        let rows: Vec<BundleRow> = self.all(sqlx::query_as(LIST_BUNDLES).bind(app_id)).await?;
        convert(rows)
    }

    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<StoredBundle>> {
        let row: Option<BundleRow> = self.one(sqlx::query_as(GET_BUNDLE).bind(app_id).bind(version)).await?;
        row.map(StoredBundle::try_from).transpose()
    }

    async fn delete_bundle(&self, app_id: &str, version: &str, audit: NewAudit) -> StoreResult<StoredBundle> {
        let mut tx = self.begin().await?;
        // The row lock makes a concurrent save that points a channel at this bundle (it takes
        // `FOR SHARE` on it) wait for this transaction, or this one wait for it; the channel
        // check below then reads what that save committed.
        let row: BundleRow = sqlx::query_as("SELECT * FROM bundles WHERE app_id = $1 AND version = $2 FOR UPDATE")
            .bind(app_id)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .ok_or(StoreError::NotFound)?;
        let channels: Vec<ChannelRow> =
            sqlx::query_as(LIST_CHANNELS).bind(app_id).fetch_all(&mut *tx).await.map_err(StoreError::backend)?;
        refuse_if_served(convert(channels)?, version)?;
        // Its artifacts that no other bundle lists are collected after the commit
        // (`ArtifactStore::collect_artifacts`), or by the collection job after a crash.
        for delete in [DELETE_BUNDLE_FILES, DELETE_BUNDLE] {
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
        // The row lock: two replicas recording different fingerprints at once cannot both see
        // none recorded.
        let recorded: Option<Option<String>> =
            sqlx::query_scalar("SELECT native_digest FROM bundles WHERE app_id = $1 AND version = $2 FOR UPDATE")
                .bind(app_id)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
        if !needs_fingerprint(recorded, version, digest)? {
            return Ok(());
        }
        sqlx::query(SET_NATIVE_FINGERPRINT)
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
        let found: Option<(Option<String>,)> =
            self.one(sqlx::query_as(NATIVE_FINGERPRINT).bind(app_id).bind(version)).await?;
        Ok(found.and_then(|(fingerprint,)| fingerprint))
    }

    async fn blob_keys(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(BLOB_KEYS).fetch_all(&self.pool).await.map_err(StoreError::backend)
    }
}
