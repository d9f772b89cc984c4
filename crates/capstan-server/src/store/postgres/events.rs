//! Stats events: appended in group commits (ids from the table's identity sequence, so
//! replicas commit side by side), and summed into hourly counters in the same transaction.

use async_trait::async_trait;
use capstan_core::api::{BucketCount, DeviceEvent};
use sqlx::{Postgres, QueryBuilder};

use super::{PostgresDatabase, Tx, commit};
use crate::store::rows::EventRow;
use crate::store::sql::{
    ACTION_COUNTS, ADD_EVENT_COUNTS_HEAD, ADD_EVENT_COUNTS_MIDDLE, ADD_EVENT_COUNTS_TAIL, COUNT_EVENTS,
    DELETE_EVENTS_BEFORE, EVENT_BUCKETS, HOUR_MS, summed_event_counts, whole_hours,
};
use crate::store::{ActionCount, EventStore, StoreError, StoreResult, UNKNOWN_VERSION, device_key};

/// 5 columns × 5000 stays under PostgreSQL's 65 535 parameters.
const COUNT_ROWS_PER_STATEMENT: usize = 5000;

/// Appends a batch as one statement whatever its size: one array per column, unnested into
/// rows. Cheaper for PostgreSQL to parse and plan than thousands of `VALUES` rows (and the
/// same statement every time, so it is prepared once per connection).
async fn insert_event_rows(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
    let column = |f: fn(&DeviceEvent) -> &String| events.iter().map(|e| f(e).as_str()).collect::<Vec<&str>>();
    sqlx::query(
        "INSERT INTO events (app_id, device_id, device_key, action, version_name, old_version_name, platform, \
         native_version, plugin_version, metadata, device_ts_ms, received_ms) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[])",
    )
    .bind(column(|e| &e.app_id))
    .bind(column(|e| &e.device_id))
    .bind(events.iter().map(|e| device_key(&e.app_id, &e.device_id)).collect::<Vec<i64>>())
    .bind(column(|e| &e.action))
    .bind(column(|e| &e.version_name))
    .bind(column(|e| &e.old_version_name))
    .bind(column(|e| &e.platform))
    .bind(column(|e| &e.native_version))
    .bind(column(|e| &e.plugin_version))
    .bind(events.iter().map(|e| e.metadata.as_deref()).collect::<Vec<Option<&str>>>())
    .bind(events.iter().map(|e| e.device_ts_ms).collect::<Vec<Option<i64>>>())
    .bind(events.iter().map(|e| e.received_ms).collect::<Vec<i64>>())
    .execute(&mut **tx)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

/// Adds a batch to the hourly counters, in key order (see `summed_event_counts`; versions that
/// are not bundles are counted under `UNKNOWN_VERSION`, see `ADD_EVENT_COUNTS_HEAD`).
async fn add_event_counts(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
    let counts = summed_event_counts(events);
    for chunk in counts.chunks(COUNT_ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Postgres> = QueryBuilder::new(ADD_EVENT_COUNTS_HEAD);
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
impl EventStore for PostgresDatabase {
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
