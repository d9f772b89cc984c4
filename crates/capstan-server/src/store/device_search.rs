//! `DeviceStore::search_devices`, written once for both backends. The statements are shared
//! (`sql::device_search_sql`); sqlx's query types differ per database, so the body is a macro
//! each backend expands in its own `impl`, where `$db.all(…)` is that backend's helper.

/// The body of `search_devices(&self, app_id, filter)`: `$db` the backend, answers
/// `StoreResult<Vec<DeviceRecord>>`.
macro_rules! search_devices {
    ($db:expr, $app_id:expr, $filter:expr) => {{
        use capstan_core::api::DeviceRecord;
        use $crate::store::rows::{DeviceRow, newest_devices};
        use $crate::store::sql::{device_id_range, device_search_sql};
        let (db, app_id, filter) = ($db, $app_id, $filter);
        let limit = i64::from(filter.limit.unwrap_or(100).clamp(1, 1000));
        let q = filter.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let channel = filter.channel.as_deref().filter(|s| !s.is_empty());
        let native_version = filter.native_version.as_deref().filter(|s| !s.is_empty());
        let bundle = filter.bundle.as_deref().filter(|s| !s.is_empty());
        let sql = device_search_sql(channel.is_some(), native_version.is_some(), bundle.is_some());
        let rows: Vec<DeviceRow> = match q {
            Some(q) => {
                let (from, to) = device_id_range(&q.to_lowercase());
                let by_id = |sql: &'static str| {
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(app_id)
                        .bind(&from)
                        .bind(&to)
                        .bind(channel)
                        .bind(native_version)
                        .bind(bundle)
                        .bind(limit)
                };
                // The devices seen last first; the prefix's range when they hold less than a
                // page (see sql::SEARCH_DEVICES_RECENT_BY_ID).
                let mut found: Vec<DeviceRow> = db.all(by_id(sql.recent_by_id.as_str())).await?;
                if (found.len() as i64) < limit {
                    found = db.all(by_id(sql.by_id.as_str())).await?;
                }
                let by_custom_id: Vec<DeviceRow> = db
                    .all(
                        sqlx::query_as(sqlx::AssertSqlSafe(sql.by_custom_id.as_str()))
                            .bind(app_id)
                            .bind(q)
                            .bind(channel)
                            .bind(native_version)
                            .bind(bundle)
                            .bind(limit),
                    )
                    .await?;
                newest_devices(found, by_custom_id, limit as usize)
            }
            None => {
                db.all(
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.newest.as_str()))
                        .bind(app_id)
                        .bind(channel)
                        .bind(native_version)
                        .bind(bundle)
                        .bind(limit),
                )
                .await?
            }
        };
        Ok(rows.into_iter().map(DeviceRecord::from).collect())
    }};
}

pub(crate) use search_devices;
