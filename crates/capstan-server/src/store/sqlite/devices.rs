//! Devices: the last state each one reported, and per-device channel overrides.

use async_trait::async_trait;
use capstan_core::api::{DeviceFilter, DeviceOverride, DeviceRecord, OverrideSource};

use super::{SqliteDatabase, commit};
use crate::store::rows::{DeviceRow, OverrideRow, convert};
use crate::store::sql::{
    CLEAR_OVERRIDE, DEVICE_COUNTS, GET_DEVICE, GET_OVERRIDE, LIST_OVERRIDES, UPSERT_DEVICES_HEAD, UPSERT_DEVICES_TAIL,
    UPSERT_OVERRIDE, devices_sorted_by, first_whole_hour,
};
use crate::store::{DeviceCount, DeviceStore, NewAudit, StoreError, StoreResult};

/// The shared upsert (its conflict rule: the newer report wins) over one JSON array of rows
/// (see [`json_row`]), as one statement on its own, outside an explicit transaction.
///
/// Why one statement, and why alone: inside a transaction SQLite gives every statement that may
/// fail halfway (an upsert over several rows may) a statement journal, a copy of each page the
/// statement is the first to change, so that the statement alone can be undone. Devices arrive
/// in random id order, so each row changes a different primary-key page: with rows bound 500 to
/// a statement that journal was 8.8 KB per device, spilled to a temporary file, 85 % of the
/// bytes the flush wrote. A single statement that is its own transaction needs none (undoing it
/// is undoing the transaction), is still atomic, and takes the write lock when it starts, as
/// `BEGIN IMMEDIATE` does. `jsonb_each` hands each row to `->>` already parsed (`WHERE true`: without
/// a WHERE, SQLite would read the `ON` of `ON CONFLICT` as a join constraint). Measured in
/// bench/updates/PROFILE.md: about a fifth less CPU per device.
static UPSERT_DEVICES_JSONB: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{UPSERT_DEVICES_HEAD} SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
         value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 12, value ->> 13, \
         value ->> 14, value ->> 15 FROM jsonb_each(?1) WHERE true {UPSERT_DEVICES_TAIL}"
    )
});

/// Room for one device's JSON row (bench/updates' rows are about 170 bytes): the flush's
/// buffer is sized for a batch up front.
const JSON_BYTES_PER_DEVICE: usize = 256;

/// Devices oldest sighting first. Every index but the primary key ends with `last_seen_ms`
/// (then `device_id`), so in this order each index gets its rows appended at the right end of
/// its groups, where SQLite fills pages and finds the insertion point cheaply; only the primary
/// key takes random inserts. In primary-key order (what PostgreSQL needs, for its locks) four
/// indexes took random inserts instead: 8.85–13.0 against 10.4–18.1 µs of CPU per new device,
/// seven alternated runs of `examples/device_flush_cost.rs` (one SQLite writer: no lock order
/// to keep).
fn devices_in_seen_order(devices: &[DeviceRecord]) -> Vec<&DeviceRecord> {
    devices_sorted_by(devices, |d| (&d.app_id, d.last_seen_ms, &d.device_id))
}

/// One device as a JSON array in the column order of `UPSERT_DEVICES_HEAD` (`->>` reads JSON
/// `true`/`false` as 1/0 and `null` as NULL, as the columns store them).
type JsonRow<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    bool,
    bool,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    bool,
    i64,
    i64,
);

fn json_row(d: &DeviceRecord) -> JsonRow<'_> {
    (
        &d.app_id,
        &d.device_id,
        &d.custom_id,
        &d.platform,
        &d.native_version,
        &d.bundle_version,
        &d.plugin_version,
        &d.os_version,
        d.is_prod,
        d.is_emulator,
        d.channel.as_deref(),
        d.key_id.as_deref(),
        d.requested_channel.as_deref(),
        d.on_builtin,
        d.first_seen_ms,
        d.last_seen_ms,
    )
}

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
        let rows: Vec<_> = devices_in_seen_order(devices).into_iter().map(json_row).collect();
        // Grown by doubling, a 25,000-device batch's buffer was copied a dozen times and its
        // fresh pages faulted in twice over (1.3 % of the server's CPU samples in a profile
        // under bench/updates).
        let mut json = Vec::with_capacity(devices.len() * JSON_BYTES_PER_DEVICE);
        serde_json::to_writer(&mut json, &rows).map_err(StoreError::backend)?;
        let rows = String::from_utf8(json).map_err(StoreError::backend)?;
        // Not in `begin()`'s transaction: see UPSERT_DEVICES_JSONB.
        sqlx::query(sqlx::AssertSqlSafe(UPSERT_DEVICES_JSONB.as_str()))
            .bind(rows)
            .execute(&self.writer)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
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
