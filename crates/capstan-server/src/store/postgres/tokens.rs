//! API tokens: only the SHA-256 of each secret is stored.

use async_trait::async_trait;
use capstan_core::api::{Role, TokenRecord};

use super::{PostgresDatabase, commit, unique_or_backend};
use crate::store::rows::{TokenRow, convert};
use crate::store::sql::{INSERT_TOKEN, LIST_TOKENS, REVOKE_TOKEN, TOKEN_BY_HASH};
use crate::store::{NewAudit, StoreError, StoreResult, StoredToken, TokenStore};

#[async_trait]
impl TokenStore for PostgresDatabase {
    async fn insert_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        at_ms: i64,
        audit: Option<NewAudit>,
    ) -> StoreResult<TokenRecord> {
        let mut tx = self.begin().await?;
        let row: TokenRow = sqlx::query_as(INSERT_TOKEN)
            .bind(name)
            .bind(role.as_str())
            .bind(hash)
            .bind(at_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_or_backend(e, || "token exists".into()))?;
        commit(tx, audit.as_ref()).await?;
        Ok(StoredToken::try_from(row)?.record)
    }

    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = self.all(sqlx::query_as(LIST_TOKENS)).await?;
        Ok(convert::<_, StoredToken>(rows)?.into_iter().map(|t| t.record).collect())
    }

    async fn revoke_token(&self, id: i64, at_ms: i64, audit: Option<NewAudit>) -> StoreResult<TokenRecord> {
        let mut tx = self.begin().await?;
        let row: TokenRow = sqlx::query_as(REVOKE_TOKEN)
            .bind(at_ms)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .ok_or(StoreError::NotFound)?;
        commit(tx, audit.as_ref()).await?;
        Ok(StoredToken::try_from(row)?.record)
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<StoredToken>> {
        let row: Option<TokenRow> = self.one(sqlx::query_as(TOKEN_BY_HASH).bind(hash)).await?;
        row.map(StoredToken::try_from).transpose()
    }
}
