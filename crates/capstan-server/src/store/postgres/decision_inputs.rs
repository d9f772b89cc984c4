//! The devices' decision inputs (`store::decision_inputs`), for the fleet preview.

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder};

use super::PostgresDatabase;
use crate::store::decision_inputs::{
    DecisionGroup, DecisionInputStore, DecisionInputs, Visit, group_binds, group_devices_sql, read_inputs,
};
use crate::store::sql::{DECISION_GROUPS, DECISION_INPUTS, DECISION_INPUTS_SINCE};
use crate::store::{StoreError, StoreResult};

/// Values in one `IN (…)` list: well under either database's parameter limit.
const IN_LIST: usize = 1000;

/// Device ids per round trip when reading a group: one array per page instead of one row per
/// device, whose protocol messages and decoding were most of a preview's time at a million
/// devices on PostgreSQL.
const GROUP_PAGE: i64 = 65_536;

/// [`DECISION_INPUTS`] for one app and window, with `column IN (values)`.
fn inputs_query(app_id: &str, since_ms: i64, column: &str, values: &[String]) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(DECISION_INPUTS);
    query.push_bind(app_id).push(DECISION_INPUTS_SINCE).push_bind(since_ms);
    query.push(format_args!(" AND {column} IN ("));
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
    query
}

#[async_trait]
impl DecisionInputStore for PostgresDatabase {
    async fn decision_groups(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<DecisionGroup>> {
        let rows = sqlx::query(DECISION_GROUPS)
            .bind(app_id)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter()
            .map(|row| {
                use sqlx::Row;
                let inputs = read_inputs(row, 0)?.owned();
                Ok(DecisionGroup { inputs, devices: row.try_get(8)? })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::backend)
    }

    async fn decision_inputs_of(
        &self,
        app_id: &str,
        since_ms: i64,
        device_ids: &[String],
    ) -> StoreResult<Vec<(String, DecisionInputs)>> {
        let mut found = Vec::new();
        for chunk in device_ids.chunks(IN_LIST) {
            let rows = inputs_query(app_id, since_ms, "device_id", chunk)
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::backend)?;
            for row in &rows {
                use sqlx::Row;
                let device_id: &str = row.try_get(0).map_err(StoreError::backend)?;
                found.push((device_id.to_owned(), read_inputs(row, 1).map_err(StoreError::backend)?.owned()));
            }
        }
        Ok(found)
    }

    async fn visit_group_devices(
        &self,
        app_id: &str,
        since_ms: i64,
        inputs: &DecisionInputs,
        visit: &mut Visit<'_>,
    ) -> StoreResult<()> {
        // Built from fixed text only (which inputs are NULL); every value is bound.
        let n = group_binds(inputs);
        let sql = format!(
            "SELECT array_agg(device_id ORDER BY last_seen_ms, device_id), max(last_seen_ms) FROM ({} \
             AND (last_seen_ms, device_id) > (${}, ${}) ORDER BY last_seen_ms, device_id LIMIT {GROUP_PAGE}) AS page",
            group_devices_sql("device_id, last_seen_ms", inputs),
            n + 1,
            n + 2,
        );
        // Pages in the index's order: after the last (time, id) of the page before.
        let mut after: (i64, String) = (i64::MIN, String::new());
        loop {
            let mut query = sqlx::query_as::<_, (Option<Vec<String>>, Option<i64>)>(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(app_id)
                .bind(since_ms)
                .bind(&inputs.platform)
                .bind(&inputs.native_version)
                .bind(&inputs.bundle_version)
                .bind(inputs.is_prod)
                .bind(inputs.is_emulator)
                .bind(inputs.on_builtin);
            for value in [&inputs.requested_channel, &inputs.key_id].into_iter().flatten() {
                query = query.bind(value);
            }
            let (ids, last_seen) =
                query.bind(after.0).bind(&after.1).fetch_one(&self.pool).await.map_err(StoreError::backend)?;
            let (Some(mut ids), Some(last_seen)) = (ids, last_seen) else { return Ok(()) };
            ids.iter().for_each(|id| visit(id));
            let full = ids.len() as i64 == GROUP_PAGE;
            after = (last_seen, ids.pop().unwrap_or_default());
            if !full {
                return Ok(());
            }
        }
    }
}
