//! Stats events: appended in group commits, indexed per device within id buckets, and summed
//! into hourly counters in the same transaction.

use async_trait::async_trait;
use capstan_core::api::{BucketCount, DeviceEvent};
use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteDatabase, Tx, commit};
use crate::store::rows::EventRow;
use crate::store::sql::{
    ACTION_COUNTS, ADD_EVENT_COUNTS_HEAD, ADD_EVENT_COUNTS_MIDDLE, ADD_EVENT_COUNTS_TAIL, COUNT_EVENTS,
    DELETE_EVENTS_BEFORE, EVENT_BUCKETS, HOUR_MS, summed_event_counts, whole_hours,
};
use crate::store::{ActionCount, EventStore, StoreError, StoreResult, UNKNOWN_VERSION, device_key};

/// Rows per multi-row INSERT: 14 columns × 800 stays under SQLite's 32 766 parameters.
const EVENT_ROWS_PER_STATEMENT: usize = 800;
/// 5 columns × 2000.
const COUNT_ROWS_PER_STATEMENT: usize = 2000;
/// Events are indexed per device within buckets of 2^16 consecutive ids, so a commit only
/// touches the newest bucket's index pages (migration 0002 uses the same width).
pub(crate) const EVENT_ID_BUCKET_BITS: i64 = 16;

/// Appends events with explicit ids, so each row's `id_bucket` is known as it is written.
/// The single writer connection and `BEGIN IMMEDIATE` make `MAX(id) + 1` safe to take.
async fn insert_event_rows(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
    let first_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM events")
        .fetch_one(&mut **tx)
        .await
        .map_err(StoreError::backend)?;
    let rows: Vec<(i64, &DeviceEvent)> = (first_id..).zip(events).collect();
    for chunk in rows.chunks(EVENT_ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO events (id, id_bucket, app_id, device_id, device_key, action, version_name, old_version_name, \
             platform, native_version, plugin_version, metadata, device_ts_ms, received_ms) ",
        );
        query.push_values(chunk, |mut row, (id, e)| {
            row.push_bind(*id)
                .push_bind(*id >> EVENT_ID_BUCKET_BITS)
                .push_bind(&e.app_id)
                .push_bind(&e.device_id)
                .push_bind(device_key(&e.app_id, &e.device_id))
                .push_bind(&e.action)
                .push_bind(&e.version_name)
                .push_bind(&e.old_version_name)
                .push_bind(&e.platform)
                .push_bind(&e.native_version)
                .push_bind(&e.plugin_version)
                .push_bind(&e.metadata)
                .push_bind(e.device_ts_ms)
                .push_bind(e.received_ms);
        });
        query.build().execute(&mut **tx).await.map_err(StoreError::backend)?;
    }
    Ok(())
}

/// Adds a batch to the hourly counters: summed per (app, hour, bundle, action) in memory
/// first, so a batch of thousands of events upserts a handful of rows (see
/// [`ADD_EVENT_COUNTS_HEAD`] for versions that are not bundles).
async fn add_event_counts(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
    let counts = summed_event_counts(events);
    for chunk in counts.chunks(COUNT_ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(ADD_EVENT_COUNTS_HEAD);
        query.push_bind(UNKNOWN_VERSION);
        query.push(ADD_EVENT_COUNTS_MIDDLE);
        query.push_values(chunk, |mut row, ((app, hour, version, action), n)| {
            row.push_bind(*app).push_bind(*hour).push_bind(*version).push_bind(*action).push_bind(*n);
        });
        query.push(ADD_EVENT_COUNTS_TAIL);
        query.build().execute(&mut **tx).await.map_err(StoreError::backend)?;
    }
    Ok(())
}

#[async_trait]
impl EventStore for SqliteDatabase {
    async fn insert_events(&self, events: &[DeviceEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        insert_event_rows(&mut tx, events).await?;
        add_event_counts(&mut tx, events).await?;
        super::rollouts::add_health_counts(&mut tx, events).await?;
        commit(tx, None).await
    }

    async fn device_events(&self, app_id: &str, device_id: &str, limit: u32) -> StoreResult<Vec<DeviceEvent>> {
        // One index seek per id bucket, newest bucket first (see migration 0002). CROSS JOIN
        // keeps the bucket list as the outer loop, so each step is a seek on (id_bucket, device_key).
        let rows: Vec<EventRow> = self
            .all(
                sqlx::query_as(
                    "WITH RECURSIVE buckets(b) AS ( \
                     SELECT COALESCE(MAX(id), 0) >> $5 FROM events \
                     UNION ALL SELECT b - 1 FROM buckets WHERE b > 0) \
                     SELECT events.* FROM buckets CROSS JOIN events \
                     WHERE events.id_bucket = buckets.b AND events.device_key = $1 AND events.app_id = $2 \
                     AND events.device_id = $3 ORDER BY events.id DESC LIMIT $4",
                )
                .bind(device_key(app_id, device_id))
                .bind(app_id)
                .bind(device_id)
                .bind(i64::from(limit))
                .bind(EVENT_ID_BUCKET_BITS),
            )
            .await?;
        Ok(rows.into_iter().map(DeviceEvent::from).collect())
    }

    async fn delete_events_before(&self, before_ms: i64, limit: u32) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query(DELETE_EVENTS_BEFORE)
            .bind(before_ms)
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .rows_affected();
        commit(tx, None).await?;
        Ok(deleted)
    }

    async fn count_events(&self, app_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar(COUNT_EVENTS).bind(app_id).fetch_one(&self.reader).await.map_err(StoreError::backend)
    }

    async fn action_counts(&self, app_id: &str) -> StoreResult<Vec<ActionCount>> {
        let rows: Vec<(String, String, i64)> = self.all(sqlx::query_as(ACTION_COUNTS).bind(app_id)).await?;
        Ok(rows.into_iter().map(|(version, action, count)| ActionCount { version, action, count }).collect())
    }

    async fn event_buckets(
        &self,
        app_id: &str,
        bucket_ms: i64,
        since_ms: i64,
        version: Option<&str>,
    ) -> StoreResult<Vec<BucketCount>> {
        let rows: Vec<(i64, String, i64)> = self
            .all(
                sqlx::query_as(EVENT_BUCKETS)
                    .bind(whole_hours(bucket_ms))
                    .bind(app_id)
                    .bind(since_ms.div_euclid(HOUR_MS) * HOUR_MS)
                    .bind(version),
            )
            .await?;
        Ok(rows.into_iter().map(|(start_ms, action, count)| BucketCount { start_ms, action, count }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(device_id: &str, ts: i64) -> DeviceEvent {
        DeviceEvent {
            app_id: "com.buckets".into(),
            device_id: device_id.into(),
            action: "set".into(),
            version_name: "1.0.0".into(),
            old_version_name: String::new(),
            platform: "android".into(),
            native_version: "1.0.0".into(),
            plugin_version: "8.0.0".into(),
            metadata: None,
            device_ts_ms: Some(ts),
            received_ms: ts,
        }
    }

    /// A device's timeline spans id buckets, including empty ones between its events, without
    /// inserting 2^16 events per bucket: a row with a large id moves the next ids forward.
    #[tokio::test]
    async fn device_timeline_reads_every_id_bucket_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("buckets.db"), false).await.unwrap();
        db.insert_events(&[event("d1", 1), event("d2", 2)]).await.unwrap();
        let far_id = 3i64 << EVENT_ID_BUCKET_BITS;
        sqlx::query(
            "INSERT INTO events (id, id_bucket, app_id, device_id, device_key, action, version_name, old_version_name, \
             platform, native_version, plugin_version, received_ms) VALUES ($1, $2, 'x', 'x', 0, 'x', '', '', '', '', '', 0)",
        )
        .bind(far_id)
        .bind(far_id >> EVENT_ID_BUCKET_BITS)
        .execute(&db.writer)
        .await
        .unwrap();
        db.insert_events(&[event("d1", 3), event("d2", 4), event("d1", 5)]).await.unwrap();

        let buckets: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT id_bucket FROM events ORDER BY 1").fetch_all(&db.reader).await.unwrap();
        assert_eq!(buckets, [0, 3]);
        let timeline = db.device_events("com.buckets", "d1", 10).await.unwrap();
        let stamps: Vec<Option<i64>> = timeline.iter().map(|e| e.device_ts_ms).collect();
        assert_eq!(stamps, [Some(5), Some(3), Some(1)]);
        let limited = db.device_events("com.buckets", "d1", 2).await.unwrap();
        assert_eq!(limited.iter().map(|e| e.device_ts_ms).collect::<Vec<_>>(), [Some(5), Some(3)]);
        assert!(db.device_events("com.buckets", "nobody", 10).await.unwrap().is_empty());
    }
}
