//! Registered public keys and the "require signed bundles" rule. Every check of the rule runs
//! inside the write transaction of the change it guards (`BEGIN IMMEDIATE` serializes writers),
//! so a channel change and turning the rule on cannot both pass on stale reads.

use async_trait::async_trait;
use capstan_core::api::{AppSigning, Channel, SigningKeyRecord};

use super::{SqliteDatabase, Tx, commit, unique_or_backend};
use crate::store::rows::{ChannelRow, SigningKeyRow, convert};
use crate::store::sql::{
    BUNDLE_SIGNER, DELETE_SIGNING_KEY, GET_SIGNING_KEY, INSERT_SIGNING_KEY, KEY_ID_COUNTS, LIST_CHANNELS,
    REQUIRE_SIGNED, SET_REQUIRE_SIGNED, SIGNED_BUNDLE, SIGNING_KEYS, first_whole_hour,
};
use crate::store::{KeyIdCount, NewAudit, SigningStore, StoreError, StoreResult};

/// Whether `app_id` requires signed bundles, read inside `tx`. `NotFound` for an unknown app.
async fn requires_signed(tx: &mut Tx, app_id: &str) -> StoreResult<bool> {
    let required: Option<bool> =
        sqlx::query_scalar(REQUIRE_SIGNED).bind(app_id).fetch_optional(&mut **tx).await.map_err(StoreError::backend)?;
    required.ok_or(StoreError::NotFound)
}

/// Whether bundle `version` of `app_id` is signed with a key registered for the app now.
async fn is_signed(tx: &mut Tx, app_id: &str, version: &str) -> StoreResult<bool> {
    let signed: Option<String> = sqlx::query_scalar(SIGNED_BUNDLE)
        .bind(app_id)
        .bind(version)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::backend)?;
    Ok(signed.is_some())
}

/// Refuses (`Conflict`) pointing a channel at any of `versions` unsigned while the app requires
/// signed bundles: the last line of the rule, whatever a handler checked before.
pub(super) async fn check_signed(tx: &mut Tx, app_id: &str, versions: &[&str]) -> StoreResult<()> {
    if versions.is_empty() || !requires_signed(tx, app_id).await? {
        return Ok(());
    }
    for version in versions {
        if !is_signed(tx, app_id, version).await? {
            return Err(StoreError::Conflict(format!(
                "bundle {version} is not signed with a registered key, and app `{app_id}` requires signed bundles"
            )));
        }
    }
    Ok(())
}

async fn channels(tx: &mut Tx, app_id: &str) -> StoreResult<Vec<Channel>> {
    let rows: Vec<ChannelRow> =
        sqlx::query_as(LIST_CHANNELS).bind(app_id).fetch_all(&mut **tx).await.map_err(StoreError::backend)?;
    convert(rows)
}

async fn keys(tx: &mut Tx, app_id: &str) -> StoreResult<Vec<SigningKeyRecord>> {
    let rows: Vec<SigningKeyRow> =
        sqlx::query_as(SIGNING_KEYS).bind(app_id).fetch_all(&mut **tx).await.map_err(StoreError::backend)?;
    Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
}

#[async_trait]
impl SigningStore for SqliteDatabase {
    async fn app_signing(&self, app_id: &str) -> StoreResult<AppSigning> {
        let required: Option<bool> = sqlx::query_scalar(REQUIRE_SIGNED)
            .bind(app_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(StoreError::backend)?;
        let require_signed = required.ok_or(StoreError::NotFound)?;
        let rows: Vec<SigningKeyRow> = self.all(sqlx::query_as(SIGNING_KEYS).bind(app_id)).await?;
        Ok(AppSigning {
            app_id: app_id.to_owned(),
            require_signed,
            keys: rows.into_iter().map(SigningKeyRecord::from).collect(),
        })
    }

    async fn insert_signing_key(&self, app_id: &str, key: &SigningKeyRecord, audit: NewAudit) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(INSERT_SIGNING_KEY)
            .bind(app_id)
            .bind(&key.key_id)
            .bind(&key.public_key)
            .bind(&key.created_by)
            .bind(key.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_or_backend(e, || format!("a key with key id {} is already registered", key.key_id)))?;
        commit(tx, Some(&audit)).await
    }

    async fn delete_signing_key(&self, app_id: &str, key_id: &str, audit: NewAudit) -> StoreResult<SigningKeyRecord> {
        let mut tx = self.begin().await?;
        let row: SigningKeyRow = sqlx::query_as(GET_SIGNING_KEY)
            .bind(app_id)
            .bind(key_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .ok_or(StoreError::NotFound)?;
        if requires_signed(&mut tx, app_id).await? {
            for channel in channels(&mut tx, app_id).await? {
                for version in channel.served_bundles() {
                    let signer: Option<Option<String>> = sqlx::query_scalar(BUNDLE_SIGNER)
                        .bind(app_id)
                        .bind(version)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::backend)?;
                    if signer.flatten().as_deref() == Some(key_id) {
                        return Err(StoreError::InUse(format!(
                            "channel `{}` serves {version}, signed with key {key_id}, and the app requires signed \
                             bundles: publish a bundle signed with another registered key there first",
                            channel.name
                        )));
                    }
                }
            }
        }
        sqlx::query(DELETE_SIGNING_KEY)
            .bind(app_id)
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        commit(tx, Some(&audit)).await?;
        Ok(row.into())
    }

    async fn set_require_signed(&self, app_id: &str, require: bool, audit: NewAudit) -> StoreResult<AppSigning> {
        let mut tx = self.begin().await?;
        requires_signed(&mut tx, app_id).await?;
        if require {
            for channel in channels(&mut tx, app_id).await? {
                for version in channel.served_bundles() {
                    if !is_signed(&mut tx, app_id, version).await? {
                        return Err(StoreError::InUse(format!(
                            "channel `{}` serves {version}, which is not signed with a registered key: point it at a \
                             signed bundle (or the store build) first",
                            channel.name
                        )));
                    }
                }
            }
        }
        sqlx::query(SET_REQUIRE_SIGNED)
            .bind(require)
            .bind(app_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        let keys = keys(&mut tx, app_id).await?;
        commit(tx, Some(&audit)).await?;
        Ok(AppSigning { app_id: app_id.to_owned(), require_signed: require, keys })
    }

    async fn key_id_counts(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<KeyIdCount>> {
        let rows: Vec<(String, Option<String>, i64)> = self
            .all(sqlx::query_as(KEY_ID_COUNTS).bind(app_id).bind(since_ms).bind(first_whole_hour(since_ms)))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(native_version, key_id, devices)| KeyIdCount { native_version, key_id, devices })
            .collect())
    }
}
