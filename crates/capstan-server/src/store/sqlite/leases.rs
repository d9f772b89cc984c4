//! Leases for periodic work: one holder at a time, taken over once expired.

use async_trait::async_trait;

use super::{SqliteDatabase, commit};
use crate::store::{LeaseStore, StoreError, StoreResult};

#[async_trait]
impl LeaseStore for SqliteDatabase {
    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // The WHERE clause is the rule: renew our own lease, or take one that has expired.
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4 RETURNING holder",
        )
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
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        commit(tx, None).await
    }
}
