//! What `/updates` decides from, as stored per device: the fleet preview reads it to replay the
//! decision for every device seen lately (see `crate::preview`).
//!
//! Devices are read grouped by these inputs (a million devices make a few hundred groups), and
//! one by one only when the decision also depends on the device id (a rollout share or an
//! override), so the decision runs once per group.

use async_trait::async_trait;

use super::StoreResult;

/// Everything the decision reads of a device besides its id, borrowed (`S = &str`) or owned.
/// Fields in the order of [`sql::DECISION_GROUPS`](super::sql::DECISION_GROUPS)'s columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DecisionInputs<S = String> {
    /// `platform`.
    pub platform: S,
    /// `version_build`.
    pub native_version: S,
    /// `version_name` (the native version when it runs the store build).
    pub bundle_version: S,
    /// `defaultChannel`.
    pub requested_channel: Option<S>,
    /// `key_id`.
    pub key_id: Option<S>,
    /// `is_prod`.
    pub is_prod: bool,
    /// `is_emulator`.
    pub is_emulator: bool,
    /// Runs the store-shipped bundle.
    pub on_builtin: bool,
}

impl DecisionInputs<String> {
    /// The same inputs, borrowed.
    pub fn borrowed(&self) -> DecisionInputs<&str> {
        DecisionInputs {
            platform: &self.platform,
            native_version: &self.native_version,
            bundle_version: &self.bundle_version,
            requested_channel: self.requested_channel.as_deref(),
            key_id: self.key_id.as_deref(),
            is_prod: self.is_prod,
            is_emulator: self.is_emulator,
            on_builtin: self.on_builtin,
        }
    }
}

impl DecisionInputs<&str> {
    /// The same inputs, owned.
    pub fn owned(&self) -> DecisionInputs<String> {
        DecisionInputs {
            platform: self.platform.to_owned(),
            native_version: self.native_version.to_owned(),
            bundle_version: self.bundle_version.to_owned(),
            requested_channel: self.requested_channel.map(str::to_owned),
            key_id: self.key_id.map(str::to_owned),
            is_prod: self.is_prod,
            is_emulator: self.is_emulator,
            on_builtin: self.on_builtin,
        }
    }
}

/// Devices with the same inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionGroup {
    /// The inputs.
    pub inputs: DecisionInputs,
    /// How many devices.
    pub devices: i64,
}

/// Called with each device id of a group by [`DecisionInputStore::visit_group_devices`].
pub type Visit<'v> = dyn FnMut(&str) + Send + 'v;

/// The devices' decision inputs.
#[async_trait]
pub trait DecisionInputStore: Send + Sync {
    /// Devices of `app_id` seen since `since_ms`, grouped by their inputs.
    async fn decision_groups(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<DecisionGroup>>;
    /// The inputs of these devices, if seen since `since_ms` (others are left out).
    async fn decision_inputs_of(
        &self,
        app_id: &str,
        since_ms: i64,
        device_ids: &[String],
    ) -> StoreResult<Vec<(String, DecisionInputs)>>;
    /// Calls `visit` with the id of each device of `app_id` seen since `since_ms` whose inputs
    /// are `inputs`, streaming (a range of the decision-inputs index, nothing collected).
    async fn visit_group_devices(
        &self,
        app_id: &str,
        since_ms: i64,
        inputs: &DecisionInputs,
        visit: &mut Visit<'_>,
    ) -> StoreResult<()>;
}

/// The query [`DecisionInputStore::visit_group_devices`] runs for `inputs`: equality on every
/// input (`IS NULL` for an absent one, so both databases can seek the index), binds `$1` app,
/// `$2` time, then the present inputs in column order.
pub(crate) fn group_devices_sql(inputs: &DecisionInputs) -> String {
    let mut sql = String::from(
        "SELECT device_id FROM devices WHERE app_id = $1 AND last_seen_ms >= $2 AND platform = $3 \
         AND native_version = $4 AND bundle_version = $5 AND is_prod = $6 AND is_emulator = $7 AND on_builtin = $8",
    );
    let mut next = 9;
    for (column, present) in
        [("requested_channel", inputs.requested_channel.is_some()), ("key_id", inputs.key_id.is_some())]
    {
        if present {
            sql.push_str(&format!(" AND {column} = ${next}"));
            next += 1;
        } else {
            sql.push_str(&format!(" AND {column} IS NULL"));
        }
    }
    sql
}

/// Reads one row of [`sql::DECISION_GROUPS`](super::sql::DECISION_GROUPS) or
/// [`sql::DECISION_INPUTS`](super::sql::DECISION_INPUTS) starting at column `at`.
pub(crate) fn read_inputs<'r, R>(row: &'r R, at: usize) -> Result<DecisionInputs<&'r str>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DecisionInputs {
        platform: row.try_get(at)?,
        native_version: row.try_get(at + 1)?,
        bundle_version: row.try_get(at + 2)?,
        requested_channel: row.try_get(at + 3)?,
        key_id: row.try_get(at + 4)?,
        is_prod: row.try_get(at + 5)?,
        is_emulator: row.try_get(at + 6)?,
        on_builtin: row.try_get(at + 7)?,
    })
}

/// `DecisionInputStore` for a backend, written once: `$backend` the store type, `$database` its
/// sqlx database, `$pool` the pool its reads use. A macro because sqlx's query types differ per
/// database (as `store::device_search`).
macro_rules! decision_input_store {
    ($backend:ty, $database:ty, $pool:ident) => {
        use futures_util::TryStreamExt;
        use sqlx::QueryBuilder;

        use $crate::store::decision_inputs::{
            DecisionGroup, DecisionInputStore, DecisionInputs, Visit, group_devices_sql, read_inputs,
        };
        use $crate::store::sql::{DECISION_GROUPS, DECISION_INPUTS, DECISION_INPUTS_SINCE};
        use $crate::store::{StoreError, StoreResult};

        /// Values in one `IN (…)` list: well under either database's parameter limit.
        const IN_LIST: usize = 1000;

        /// [`DECISION_INPUTS`] for one app and window, with `column IN (values)`.
        fn inputs_query(app_id: &str, since_ms: i64, column: &str, values: &[String]) -> QueryBuilder<$database> {
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

        #[async_trait::async_trait]
        impl DecisionInputStore for $backend {
            async fn decision_groups(&self, app_id: &str, since_ms: i64) -> StoreResult<Vec<DecisionGroup>> {
                let rows = sqlx::query(DECISION_GROUPS)
                    .bind(app_id)
                    .bind(since_ms)
                    .fetch_all(&self.$pool)
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
                        .fetch_all(&self.$pool)
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
                let mut rows = query.fetch(&self.$pool);
                while let Some(device_id) = rows.try_next().await.map_err(StoreError::backend)? {
                    visit(&device_id);
                }
                Ok(())
            }
        }
    };
}

pub(crate) use decision_input_store;
