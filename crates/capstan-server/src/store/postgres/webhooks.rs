//! Webhooks, their deliveries and the delivery log (see `store::webhooks`). Replicas may run
//! these side by side: an attempt is recorded only if the delivery still has the attempt count
//! it was read with (`UPDATE … WHERE attempts = n`), so two replicas never both record one.

use async_trait::async_trait;
use capstan_core::api::{Webhook, WebhookDelivery, WebhookEvent};

use super::{PostgresDatabase, commit};
use crate::store::rows::convert;
use crate::store::webhooks::{
    AttemptRecord, AttemptRow, CANCEL_DELIVERIES, DUE_DELIVERIES, DeliveryRow, DueDelivery, DueRow, INSERT_ATTEMPT,
    INSERT_WEBHOOK, LIST_ATTEMPTS, LIST_DELIVERIES, LIST_WEBHOOKS, NewWebhook, REMOVE_WEBHOOK, UPDATE_DELIVERY,
    WebhookRow, WebhookStore, deliveries, enqueue_events_in, events_text, finished_at,
};
use crate::store::{NewAudit, StoreError, StoreResult};

#[async_trait]
impl WebhookStore for PostgresDatabase {
    async fn insert_webhook(&self, webhook: &NewWebhook, audit: NewAudit) -> StoreResult<Webhook> {
        let mut tx = self.begin().await?;
        let row: WebhookRow = sqlx::query_as(INSERT_WEBHOOK)
            .bind(&webhook.app_id)
            .bind(&webhook.url)
            .bind(events_text(&webhook.events))
            .bind(&webhook.secret)
            .bind(&webhook.created_by)
            .bind(webhook.at_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        commit(tx, Some(&audit)).await?;
        row.try_into()
    }

    async fn list_webhooks(&self, app_id: &str) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = self.all(sqlx::query_as(LIST_WEBHOOKS).bind(app_id)).await?;
        convert(rows)
    }

    async fn remove_webhook(&self, app_id: &str, id: i64, at_ms: i64, audit: NewAudit) -> StoreResult<Webhook> {
        let mut tx = self.begin().await?;
        let row: WebhookRow = sqlx::query_as(REMOVE_WEBHOOK)
            .bind(app_id)
            .bind(id)
            .bind(at_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .ok_or(StoreError::NotFound)?;
        sqlx::query(CANCEL_DELIVERIES).bind(id).bind(at_ms).execute(&mut *tx).await.map_err(StoreError::backend)?;
        commit(tx, Some(&audit)).await?;
        row.try_into()
    }

    async fn enqueue_webhook_event(&self, event: &WebhookEvent, at_ms: i64) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let queued = enqueue_events_in!(&mut tx, std::slice::from_ref(event), at_ms).await?;
        commit(tx, None).await?;
        Ok(queued)
    }

    async fn due_webhook_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueDelivery>> {
        let rows: Vec<DueRow> = self.all(sqlx::query_as(DUE_DELIVERIES).bind(now_ms).bind(i64::from(limit))).await?;
        Ok(rows.into_iter().map(DueDelivery::from).collect())
    }

    async fn record_webhook_attempt(&self, record: &AttemptRecord) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(UPDATE_DELIVERY)
            .bind(record.delivery_id)
            .bind(i64::from(record.attempt))
            .bind(record.status.as_str())
            .bind(record.next_attempt_ms)
            .bind(finished_at(record.status, record.at_ms + record.duration_ms))
            .bind(i64::from(record.attempt) - 1)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query(INSERT_ATTEMPT)
            .bind(record.delivery_id)
            .bind(i64::from(record.attempt))
            .bind(record.at_ms)
            .bind(record.status_code.map(i64::from))
            .bind(&record.error)
            .bind(record.duration_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        commit(tx, None).await?;
        Ok(true)
    }

    async fn webhook_deliveries(
        &self,
        app_id: &str,
        webhook_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        // One snapshot for the deliveries and their attempts.
        let mut tx = self.begin_read().await?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(LIST_DELIVERIES)
            .bind(app_id)
            .bind(webhook_id)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        let oldest = rows.iter().map(|r| r.id).min().unwrap_or(i64::MAX);
        let attempts: Vec<AttemptRow> = sqlx::query_as(LIST_ATTEMPTS)
            .bind(app_id)
            .bind(webhook_id)
            .bind(oldest)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        tx.commit().await.map_err(StoreError::backend)?;
        deliveries(rows, attempts)
    }
}
