//! Devices: the last state each one reported, and per-device channel overrides.

use async_trait::async_trait;
use capstan_core::api::{DeviceFilter, DeviceOverride, DeviceRecord, OverrideSource};

use super::{PostgresDatabase, commit};
use crate::store::rows::{DeviceRow, OverrideRow, convert};
use crate::store::sql::{
    CLEAR_OVERRIDE, DEVICE_COUNTS, GET_DEVICE, GET_OVERRIDE, LIST_OVERRIDES, UPSERT_DEVICES_HEAD, UPSERT_DEVICES_TAIL,
    UPSERT_OVERRIDE, devices_sorted_by, first_whole_hour,
};
use crate::store::{DeviceCount, DeviceStore, NewAudit, StoreError, StoreResult};

/// The shared upsert (its conflict rule: the newer report wins) over arrays instead of VALUES.
static UPSERT_DEVICES_UNNEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{UPSERT_DEVICES_HEAD} SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::bool[], $10::bool[], $11::text[], $12::text[], $13::text[], $14::bool[], \
         $15::bigint[], $16::bigint[]) \
         {UPSERT_DEVICES_TAIL}"
    )
});

/// Devices in key order, so that replicas flushing at once lock rows in the same order. (SQLite
/// has one writer and orders by last sighting instead, which suits its indexes:
/// `sqlite::devices`.)
fn devices_in_key_order(devices: &[DeviceRecord]) -> Vec<&DeviceRecord> {
    devices_sorted_by(devices, |d| (&d.app_id, &d.device_id))
}

/// Serialises override changes of one device across replicas until the transaction ends, so
/// "may this source replace the override in force" is decided on what is really in force (the
/// row may not exist yet, so a row lock cannot do it).
async fn lock_device(tx: &mut super::Tx, app_id: &str, device_id: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(crate::store::device_key(app_id, device_id))
        .execute(&mut **tx)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

/// The advisory lock every device flush holds until it commits (two 32-bit keys: a space apart
/// from `lock_device`'s 64-bit ones; 0x63617073 is `caps` in ASCII, 15 the migration that needs
/// it). The triggers of migration 0015 add each flush's moves to shared counter rows: flushes of
/// two replicas, each taking those rows in key order but in two passes (inserted devices, then
/// updated ones), could otherwise wait on each other in a cycle.
async fn lock_device_activity(tx: &mut super::Tx) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(1667330163, 15)")
        .execute(&mut **tx)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

#[async_trait]
impl DeviceStore for PostgresDatabase {
    async fn set_override(&self, entry: &DeviceOverride, audit: Option<NewAudit>) -> StoreResult<DeviceOverride> {
        let mut tx = self.begin().await?;
        lock_device(&mut tx, &entry.app_id, &entry.device_id).await?;
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
        lock_device(&mut tx, app_id, device_id).await?;
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
        // One statement per batch, one array per column (see `events::insert_event_rows`); the
        // rows in key order, so replicas flushing the same devices lock them in the same order.
        let devices = devices_in_key_order(devices);
        let column = |f: fn(&DeviceRecord) -> &String| devices.iter().map(|d| f(d).as_str()).collect::<Vec<&str>>();
        let mut tx = self.begin().await?;
        lock_device_activity(&mut tx).await?;
        sqlx::query(sqlx::AssertSqlSafe(UPSERT_DEVICES_UNNEST.as_str()))
            .bind(column(|d| &d.app_id))
            .bind(column(|d| &d.device_id))
            .bind(column(|d| &d.custom_id))
            .bind(column(|d| &d.platform))
            .bind(column(|d| &d.native_version))
            .bind(column(|d| &d.bundle_version))
            .bind(column(|d| &d.plugin_version))
            .bind(column(|d| &d.os_version))
            .bind(devices.iter().map(|d| d.is_prod).collect::<Vec<bool>>())
            .bind(devices.iter().map(|d| d.is_emulator).collect::<Vec<bool>>())
            .bind(devices.iter().map(|d| d.channel.as_deref()).collect::<Vec<Option<&str>>>())
            .bind(devices.iter().map(|d| d.key_id.as_deref()).collect::<Vec<Option<&str>>>())
            .bind(devices.iter().map(|d| d.requested_channel.as_deref()).collect::<Vec<Option<&str>>>())
            .bind(devices.iter().map(|d| d.on_builtin).collect::<Vec<bool>>())
            .bind(devices.iter().map(|d| d.first_seen_ms).collect::<Vec<i64>>())
            .bind(devices.iter().map(|d| d.last_seen_ms).collect::<Vec<i64>>())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
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
