//! Reading the audit log (entries are written by `commit`, with the change they describe).

use async_trait::async_trait;
use capstan_core::api::AuditEntry;

use super::SqliteDatabase;
use crate::store::rows::{AuditRow, convert};
use crate::store::sql::LIST_AUDIT;
use crate::store::{AuditStore, StoreResult};

#[async_trait]
impl AuditStore for SqliteDatabase {
    async fn list_audit(&self, app_id: Option<&str>, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = self.all(sqlx::query_as(LIST_AUDIT).bind(app_id).bind(i64::from(limit))).await?;
        convert(rows)
    }
}
