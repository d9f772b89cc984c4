//! Leases for periodic work: one holder at a time, taken over once expired.

use async_trait::async_trait;

use super::{SqliteDatabase, commit};
use crate::store::sql::{ACQUIRE_LEASE, RELEASE_LEASE};
use crate::store::{LeaseStore, StoreError, StoreResult};

#[async_trait]
impl LeaseStore for SqliteDatabase {
    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let taken: Option<String> = sqlx::query_scalar(ACQUIRE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(now_ms + ttl_ms)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        commit(tx, None).await?;
        Ok(taken.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(RELEASE_LEASE).bind(name).bind(holder).execute(&mut *tx).await.map_err(StoreError::backend)?;
        commit(tx, None).await
    }
}
