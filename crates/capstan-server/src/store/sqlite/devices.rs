//! Devices: the last state each one reported, and per-device channel overrides.

use async_trait::async_trait;
use capstan_core::api::{DeviceFilter, DeviceOverride, DeviceRecord, OverrideSource};
use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteDatabase, commit};
use crate::store::rows::{DeviceRow, OverrideRow, convert};
use crate::store::sql::{
    CLEAR_OVERRIDE, DEVICE_COUNTS, GET_DEVICE, GET_OVERRIDE, LIST_OVERRIDES, UPSERT_DEVICES_HEAD, UPSERT_DEVICES_TAIL,
    UPSERT_OVERRIDE, devices_in_key_order, first_whole_hour,
};
use crate::store::{DeviceCount, DeviceStore, NewAudit, StoreError, StoreResult};

/// 16 columns × 500 rows stays under SQLite's 32 766 parameters.
const DEVICE_ROWS_PER_STATEMENT: usize = 500;

#[async_trait]
impl DeviceStore for SqliteDatabase {
    async fn set_override(&self, entry: &DeviceOverride, audit: Option<NewAudit>) -> StoreResult<DeviceOverride> {
        let mut tx = self.begin().await?;
        let existing: Option<OverrideRow> = sqlx::query_as(GET_OVERRIDE)
            .bind(&entry.app_id)
            .bind(&entry.device_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        if let Some(existing) = existing.map(DeviceOverride::try_from).transpose()?
            && !entry.source.may_replace(existing.source)
        {
            return Ok(existing);
        }
        sqlx::query(UPSERT_OVERRIDE)
            .bind(&entry.app_id)
            .bind(&entry.device_id)
            .bind(entry.channel_id)
            .bind(entry.source.as_str())
            .bind(entry.set_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        commit(tx, audit.as_ref()).await?;
        Ok(entry.clone())
    }

    async fn clear_override(
        &self,
        app_id: &str,
        device_id: &str,
        source: Option<OverrideSource>,
        audit: Option<NewAudit>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(CLEAR_OVERRIDE)
            .bind(app_id)
            .bind(device_id)
            .bind(source.map(OverrideSource::as_str))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        commit(tx, audit.as_ref()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_overrides(&self, app_id: &str) -> StoreResult<Vec<DeviceOverride>> {
        let rows: Vec<OverrideRow> = self.all(sqlx::query_as(LIST_OVERRIDES).bind(app_id)).await?;
        convert(rows)
    }

    async fn get_override(&self, app_id: &str, device_id: &str) -> StoreResult<Option<DeviceOverride>> {
        let row: Option<OverrideRow> = self.one(sqlx::query_as(GET_OVERRIDE).bind(app_id).bind(device_id)).await?;
        row.map(DeviceOverride::try_from).transpose()
    }

    async fn upsert_devices(&self, devices: &[DeviceRecord]) -> StoreResult<()> {
        if devices.is_empty() {
            return Ok(());
        }
        let devices = devices_in_key_order(devices);
        let mut tx = self.begin().await?;
        for chunk in devices.chunks(DEVICE_ROWS_PER_STATEMENT) {
            let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(UPSERT_DEVICES_HEAD);
            query.push_values(chunk, |mut row, d| {
                row.push_bind(&d.app_id)
                    .push_bind(&d.device_id)
                    .push_bind(&d.custom_id)
                    .push_bind(&d.platform)
                    .push_bind(&d.native_version)
                    .push_bind(&d.bundle_version)
                    .push_bind(&d.plugin_version)
                    .push_bind(&d.os_version)
                    .push_bind(d.is_prod)
                    .push_bind(d.is_emulator)
                    .push_bind(&d.channel)
                    .push_bind(&d.key_id)
                    .push_bind(&d.requested_channel)
                    .push_bind(d.on_builtin)
                    .push_bind(d.first_seen_ms)
                    .push_bind(d.last_seen_ms);
            });
            query.push(UPSERT_DEVICES_TAIL);
            query.build().execute(&mut *tx).await.map_err(StoreError::backend)?;
        }
        commit(tx, None).await
    }

    async fn search_devices(&self, app_id: &str, filter: &DeviceFilter) -> StoreResult<Vec<DeviceRecord>> {
        crate::store::device_search::search_devices!(self, app_id, filter)
    }

    async fn get_device(&self, app_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        let row: Option<DeviceRow> = self.one(sqlx::query_as(GET_DEVICE).bind(app_id).bind(device_id)).await?;
        Ok(row.map(DeviceRecord::from))
    }

    async fn device_counts(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<DeviceCount>> {
        let rows: Vec<(Option<String>, String, i64)> = self
            .all(sqlx::query_as(DEVICE_COUNTS).bind(app_id).bind(since_ms).bind(first_whole_hour(since_ms)))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(channel, bundle_version, devices)| DeviceCount { channel, bundle_version, devices })
            .collect())
    }
}
