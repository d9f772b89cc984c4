//! Stats events: appended in group commits (ids from the table's identity sequence, so
//! replicas commit side by side), and summed into hourly counters in the same transaction.

use async_trait::async_trait;
use capstan_core::api::{BucketCount, DeviceEvent};
use sqlx::{Postgres, QueryBuilder};

use super::{PostgresDatabase, Tx, commit};
use crate::store::rows::EventRow;
use crate::store::sql::{
    ACTION_COUNTS, ADD_EVENT_COUNTS_HEAD, ADD_EVENT_COUNTS_TAIL, COUNT_EVENTS, EVENT_BUCKETS, HOUR_MS,
    summed_event_counts, whole_hours,
};
use crate::store::{ActionCount, EventStore, StoreError, StoreResult, device_key};

/// Rows per multi-row INSERT: 12 columns × 2000 stays under PostgreSQL's 65 535 parameters.
const EVENT_ROWS_PER_STATEMENT: usize = 2000;
/// 5 columns × 5000.
const COUNT_ROWS_PER_STATEMENT: usize = 5000;

async fn insert_event_rows(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
    for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO events (app_id, device_id, device_key, action, version_name, old_version_name, \
             platform, native_version, plugin_version, metadata, device_ts_ms, received_ms) ",
        );
        query.push_values(chunk, |mut row, e| {
            row.push_bind(&e.app_id)
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

/// Adds a batch to the hourly counters, in key order (see `summed_event_counts`).
async fn add_event_counts(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
    let counts = summed_event_counts(events);
    for chunk in counts.chunks(COUNT_ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Postgres> = QueryBuilder::new(ADD_EVENT_COUNTS_HEAD);
        query.push_values(chunk, |mut row, ((app, hour, version, action), n)| {
            row.push_bind(*app).push_bind(*hour).push_bind(*version).push_bind(*action).push_bind(*n);
        });
        query.push(ADD_EVENT_COUNTS_TAIL);
        query.build().execute(&mut **tx).await.map_err(StoreError::backend)?;
    }
    Ok(())
}

#[async_trait]
impl EventStore for PostgresDatabase {
    async fn insert_events(&self, events: &[DeviceEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        insert_event_rows(&mut tx, events).await?;
        add_event_counts(&mut tx, events).await?;
        commit(tx, None).await
    }

    async fn device_events(&self, app_id: &str, device_id: &str, limit: u32) -> StoreResult<Vec<DeviceEvent>> {
        // A backward scan of (device_key, id): the newest events first, stopping at the limit.
        let rows: Vec<EventRow> = self
            .all(
                sqlx::query_as(
                    "SELECT * FROM events WHERE device_key = $1 AND app_id = $2 AND device_id = $3 \
                     ORDER BY device_key DESC, id DESC LIMIT $4",
                )
                .bind(device_key(app_id, device_id))
                .bind(app_id)
                .bind(device_id)
                .bind(i64::from(limit)),
            )
            .await?;
        Ok(rows.into_iter().map(DeviceEvent::from).collect())
    }

    async fn count_events(&self, app_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar(COUNT_EVENTS).bind(app_id).fetch_one(&self.pool).await.map_err(StoreError::backend)
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
