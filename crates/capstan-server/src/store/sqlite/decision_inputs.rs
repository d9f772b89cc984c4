//! The devices' decision inputs (`store::decision_inputs`), for the fleet preview.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteDatabase;
use crate::store::decision_inputs::{
    DecisionGroup, DecisionInputStore, DecisionInputs, Visit, group_devices_sql, read_inputs,
};
use crate::store::sql::{DECISION_GROUPS, DECISION_INPUTS, DECISION_INPUTS_SINCE};
use crate::store::{StoreError, StoreResult};

/// Values in one `IN (…)` list: well under either database's parameter limit.
const IN_LIST: usize = 1000;

/// [`DECISION_INPUTS`] for one app and window, with `column IN (values)`.
fn inputs_query(app_id: &str, since_ms: i64, column: &str, values: &[String]) -> QueryBuilder<Sqlite> {
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
impl DecisionInputStore for SqliteDatabase {
    async fn decision_groups(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<DecisionGroup>> {
        let rows = sqlx::query(DECISION_GROUPS)
            .bind(app_id)
            .bind(since_ms)
            .fetch_all(&self.reader)
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
                .fetch_all(&self.reader)
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
        let sql = sqlx::AssertSqlSafe(group_devices_sql(inputs));
        let mut query = sqlx::query_scalar::<_, String>(sql)
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
        let mut rows = query.fetch(&self.reader);
        while let Some(device_id) = rows.try_next().await.map_err(StoreError::backend)? {
            visit(&device_id);
        }
        Ok(())
    }
}
