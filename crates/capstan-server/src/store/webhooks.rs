//! Webhooks as stored: registered URLs with their signing secrets, one delivery row per event
//! and webhook, and one row per attempt (the delivery log). The trait, its SQL (the same text
//! on SQLite and PostgreSQL) and its row types; the backends are `sqlite/webhooks.rs` and
//! `postgres/webhooks.rs`.
//!
//! A removed webhook keeps its row (its deliveries stay in the log) but loses its secret, and
//! its pending deliveries are cancelled in the same transaction, so nothing is sent to it again.

use async_trait::async_trait;
use capstan_core::api::{DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery, WebhookEventKind};

use super::{NewAudit, StoreError, StoreResult};

/// A webhook to register.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// The app.
    pub app_id: String,
    /// Where events go (checked by the caller).
    pub url: String,
    /// The events it receives (not empty).
    pub events: Vec<WebhookEventKind>,
    /// The HMAC key, kept to sign every delivery.
    pub secret: String,
    /// Who registers it.
    pub created_by: String,
    /// When.
    pub at_ms: i64,
}

/// A delivery that is due, with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// Delivery id.
    pub id: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// The event kind (the `Capstan-Event` header).
    pub kind: String,
    /// The exact body to POST.
    pub payload: String,
    /// Where to.
    pub url: String,
    /// The webhook's signing secret.
    pub secret: String,
}

/// What one attempt did, and what follows from it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery_id: i64,
    /// This attempt's number (1 for the first): the delivery must have made one fewer.
    pub attempt: u32,
    /// When it started.
    pub at_ms: i64,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
    /// The delivery afterwards: delivered, failed for good, or pending again.
    pub status: DeliveryStatus,
    /// When to try again, while pending.
    pub next_attempt_ms: Option<i64>,
}

/// Webhooks, their deliveries and the delivery log.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers a webhook (audited).
    async fn insert_webhook(&self, webhook: &NewWebhook, audit: NewAudit) -> StoreResult<Webhook>;
    /// The app's webhooks (not removed ones), oldest first.
    async fn list_webhooks(&self, app_id: &str) -> StoreResult<Vec<Webhook>>;
    /// Removes a webhook: drops its secret and cancels its pending deliveries (audited).
    /// `NotFound` if the app has no such webhook (or it is removed already).
    async fn remove_webhook(&self, app_id: &str, id: i64, at_ms: i64, audit: NewAudit) -> StoreResult<Webhook>;
    /// Pending deliveries due at `now_ms`, the longest-waiting first.
    async fn due_webhook_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueDelivery>>;
    /// Records an attempt and the delivery's new state in one transaction, unless the delivery
    /// is no longer pending with `attempt - 1` attempts (another run recorded it, or it was
    /// cancelled): then nothing changes and the answer is false.
    async fn record_webhook_attempt(&self, record: &AttemptRecord) -> StoreResult<bool>;
    /// The app's deliveries (optionally of one webhook), newest first, with their attempts.
    async fn webhook_deliveries(
        &self,
        app_id: &str,
        webhook_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>>;
}

// The SQL, the same on both databases.
pub(crate) const INSERT_WEBHOOK: &str = "INSERT INTO webhooks (app_id, url, events, secret, created_by, \
     created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, app_id, url, events, created_by, created_at_ms";
pub(crate) const LIST_WEBHOOKS: &str = "SELECT id, app_id, url, events, created_by, created_at_ms FROM webhooks \
     WHERE app_id = $1 AND removed_at_ms IS NULL ORDER BY id";
pub(crate) const REMOVE_WEBHOOK: &str = "UPDATE webhooks SET removed_at_ms = $3, secret = '' \
     WHERE app_id = $1 AND id = $2 AND removed_at_ms IS NULL \
     RETURNING id, app_id, url, events, created_by, created_at_ms";
pub(crate) const CANCEL_DELIVERIES: &str = "UPDATE webhook_deliveries SET status = 'cancelled', \
     next_attempt_ms = NULL, finished_at_ms = $2 WHERE webhook_id = $1 AND status = 'pending'";
/// The webhooks an event may go to (each is then checked with [`takes`]).
pub(crate) const EVENT_WEBHOOKS: &str =
    "SELECT id, events FROM webhooks WHERE app_id = $1 AND removed_at_ms IS NULL ORDER BY id";
pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (webhook_id, event_id, kind, payload, \
     status, attempts, next_attempt_ms, created_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)";
pub(crate) const DUE_DELIVERIES: &str = "SELECT d.id, d.attempts, d.kind, d.payload, w.url, w.secret \
     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
     WHERE d.status = 'pending' AND d.next_attempt_ms <= $1 AND w.removed_at_ms IS NULL \
     ORDER BY d.next_attempt_ms, d.id LIMIT $2";
pub(crate) const UPDATE_DELIVERY: &str = "UPDATE webhook_deliveries SET attempts = $2, status = $3, \
     next_attempt_ms = $4, finished_at_ms = $5 WHERE id = $1 AND status = 'pending' AND attempts = $6";
pub(crate) const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, status_code, \
     error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const LIST_DELIVERIES: &str = "SELECT d.id, d.webhook_id, w.url, d.payload, d.status, \
     d.next_attempt_ms, d.created_at_ms, d.finished_at_ms \
     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
     WHERE w.app_id = $1 AND ($2 IS NULL OR d.webhook_id = $2) ORDER BY d.id DESC LIMIT $3";
pub(crate) const LIST_ATTEMPTS: &str = "SELECT a.delivery_id, a.attempt, a.at_ms, a.status_code, a.error, \
     a.duration_ms FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
     JOIN webhooks w ON w.id = d.webhook_id \
     WHERE w.app_id = $1 AND ($2 IS NULL OR d.webhook_id = $2) AND d.id >= $3 ORDER BY a.delivery_id, a.attempt";

/// A `webhooks` row as listed.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebhookRow {
    id: i64,
    app_id: String,
    url: String,
    events: String,
    created_by: String,
    created_at_ms: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;

    fn try_from(row: WebhookRow) -> StoreResult<Webhook> {
        Ok(Webhook {
            id: row.id,
            app_id: row.app_id,
            url: row.url,
            events: serde_json::from_str(&row.events).map_err(StoreError::backend)?,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
        })
    }
}

/// The events column: a JSON array of kinds.
pub(crate) fn events_text(events: &[WebhookEventKind]) -> String {
    serde_json::to_string(events).expect("kinds serialize")
}

/// Queues each of `$events` (`&[WebhookEvent]`) for every webhook of its app that takes its
/// kind, due at `$at_ms`, inside the open transaction `$tx`, so an event is stored exactly when
/// the change it announces is. Evaluates to `StoreResult<()>`. One body for both backends
/// (their transaction types differ).
macro_rules! enqueue_events_in {
    ($tx:expr, $events:expr, $at_ms:expr) => {
        async {
            use $crate::store::StoreError;
            use $crate::store::webhooks::{EVENT_WEBHOOKS, INSERT_DELIVERY, takes};
            // Each app's webhooks are read once, however many events it has here.
            let mut hooks: std::collections::HashMap<&str, Vec<(i64, String)>> = Default::default();
            for event in $events {
                let event: &capstan_core::api::WebhookEvent = event;
                let app_hooks = match hooks.entry(event.app_id.as_str()) {
                    std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => slot.insert(
                        sqlx::query_as(EVENT_WEBHOOKS)
                            .bind(&event.app_id)
                            .fetch_all(&mut **$tx)
                            .await
                            .map_err(StoreError::backend)?,
                    ),
                };
                let payload = $crate::store::rows::to_json(event);
                for (id, kinds) in app_hooks.iter() {
                    if !takes(kinds, event.kind)? {
                        continue;
                    }
                    sqlx::query(INSERT_DELIVERY)
                        .bind(*id)
                        .bind(&event.id)
                        .bind(event.kind.as_str())
                        .bind(&payload)
                        .bind($at_ms)
                        .execute(&mut **$tx)
                        .await
                        .map_err(StoreError::backend)?;
                }
            }
            Ok::<(), StoreError>(())
        }
    };
}
pub(crate) use enqueue_events_in;

/// Whether a webhook row's events column takes `kind`.
pub(crate) fn takes(events: &str, kind: WebhookEventKind) -> StoreResult<bool> {
    let events: Vec<WebhookEventKind> = serde_json::from_str(events).map_err(StoreError::backend)?;
    Ok(events.contains(&kind))
}

/// A due delivery's row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DueRow {
    id: i64,
    attempts: i64,
    kind: String,
    payload: String,
    url: String,
    secret: String,
}

impl From<DueRow> for DueDelivery {
    fn from(row: DueRow) -> DueDelivery {
        DueDelivery {
            id: row.id,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            kind: row.kind,
            payload: row.payload,
            url: row.url,
            secret: row.secret,
        }
    }
}

/// A delivery's row, as listed.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub(crate) id: i64,
    webhook_id: i64,
    url: String,
    payload: String,
    status: String,
    next_attempt_ms: Option<i64>,
    created_at_ms: i64,
    finished_at_ms: Option<i64>,
}

/// An attempt's row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRow {
    delivery_id: i64,
    attempt: i64,
    at_ms: i64,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

/// Deliveries with their attempts.
pub(crate) fn deliveries(rows: Vec<DeliveryRow>, attempts: Vec<AttemptRow>) -> StoreResult<Vec<WebhookDelivery>> {
    let mut by_delivery: std::collections::HashMap<i64, Vec<WebhookAttempt>> = std::collections::HashMap::new();
    for a in attempts {
        by_delivery.entry(a.delivery_id).or_default().push(WebhookAttempt {
            attempt: u32::try_from(a.attempt).map_err(StoreError::backend)?,
            at_ms: a.at_ms,
            status_code: a.status_code.map(u16::try_from).transpose().map_err(StoreError::backend)?,
            error: a.error,
            duration_ms: a.duration_ms,
        });
    }
    rows.into_iter()
        .map(|row| {
            let status = DeliveryStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Backend(format!("unknown delivery status `{}`", row.status).into()))?;
            Ok(WebhookDelivery {
                id: row.id,
                webhook_id: row.webhook_id,
                url: row.url,
                event: serde_json::from_str(&row.payload).map_err(StoreError::backend)?,
                status,
                next_attempt_at_ms: row.next_attempt_ms,
                created_at_ms: row.created_at_ms,
                finished_at_ms: row.finished_at_ms,
                attempts: by_delivery.remove(&row.id).unwrap_or_default(),
            })
        })
        .collect()
}

/// The finished time of a delivery in `status` recorded at `at_ms`.
pub(crate) fn finished_at(status: DeliveryStatus, at_ms: i64) -> Option<i64> {
    (status != DeliveryStatus::Pending).then_some(at_ms)
}

/// `WebhookStore` for a backend, written once: `$backend` the store type. Expanded in each
/// backend's `webhooks` module, whose `super` has the backend's `commit`. Replicas may run these
/// side by side: an attempt is recorded only if the delivery still has the attempt count it was
/// read with (`UPDATE … WHERE attempts = n`), so two replicas never both record one. A macro
/// because sqlx's query types differ per database (as `store::device_search`).
macro_rules! webhook_store {
    ($backend:ty) => {
        use async_trait::async_trait;
        use capstan_core::api::{Webhook, WebhookDelivery};

        use super::commit;
        use $crate::store::rows::convert;
        use $crate::store::webhooks::{
            AttemptRecord, AttemptRow, CANCEL_DELIVERIES, DUE_DELIVERIES, DeliveryRow, DueDelivery, DueRow,
            INSERT_ATTEMPT, INSERT_WEBHOOK, LIST_ATTEMPTS, LIST_DELIVERIES, LIST_WEBHOOKS, NewWebhook, REMOVE_WEBHOOK,
            UPDATE_DELIVERY, WebhookRow, WebhookStore, deliveries, events_text, finished_at,
        };
        use $crate::store::{NewAudit, StoreError, StoreResult};

        #[async_trait]
        impl WebhookStore for $backend {
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
                sqlx::query(CANCEL_DELIVERIES)
                    .bind(id)
                    .bind(at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::backend)?;
                commit(tx, Some(&audit)).await?;
                row.try_into()
            }

            async fn due_webhook_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueDelivery>> {
                let rows: Vec<DueRow> =
                    self.all(sqlx::query_as(DUE_DELIVERIES).bind(now_ms).bind(i64::from(limit))).await?;
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
    };
}
pub(crate) use webhook_store;
