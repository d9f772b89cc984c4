//! Encrypted bundles' own files (delta updates of encrypted bundles).

use async_trait::async_trait;

use super::{PostgresDatabase, commit};
use crate::store::rows::encoding_text;
use crate::store::sql::{COUNT_ENCRYPTED_FILES, INSERT_ENCRYPTED_FILE};
use crate::store::{EncryptedFile, EncryptedFileStore, StoreError, StoreResult};

#[async_trait]
impl EncryptedFileStore for PostgresDatabase {
    async fn insert_encrypted_files(
        &self,
        app_id: &str,
        bundle_blob_key: &str,
        files: &[EncryptedFile],
    ) -> StoreResult<()> {
        // The row lock keeps the bundle from being deleted before the commit.
        let mut tx = self.begin().await?;
        let bundle: Option<String> =
            sqlx::query_scalar("SELECT version FROM bundles WHERE app_id = $1 AND blob_key = $2 FOR SHARE")
                .bind(app_id)
                .bind(bundle_blob_key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
        if bundle.is_none() {
            return Err(StoreError::NotFound);
        }
        let existing: i64 = sqlx::query_scalar(COUNT_ENCRYPTED_FILES)
            .bind(bundle_blob_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        if existing > 0 {
            return Err(StoreError::Conflict("the bundle has its files already".into()));
        }
        for (position, file) in files.iter().enumerate() {
            sqlx::query(INSERT_ENCRYPTED_FILE)
                .bind(app_id)
                .bind(bundle_blob_key)
                .bind(position as i64)
                .bind(&file.path)
                .bind(&file.file_hash)
                .bind(&file.sha256)
                .bind(encoding_text(file.encoding))
                .bind(file.size)
                .bind(file.stored_size)
                .bind(&file.blob_key)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
        }
        commit(tx, None).await
    }

    async fn collect_encrypted_files(&self, app_id: Option<&str>) -> StoreResult<Vec<String>> {
        let mut tx = self.begin().await?;
        let keys: Vec<String> = sqlx::query_scalar(
            "DELETE FROM encrypted_files WHERE ($1::text IS NULL OR app_id = $1) AND NOT EXISTS \
             (SELECT 1 FROM bundles b WHERE b.app_id = encrypted_files.app_id \
             AND b.blob_key = encrypted_files.bundle_blob_key) RETURNING blob_key",
        )
        .bind(app_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
        commit(tx, None).await?;
        Ok(keys)
    }
}
