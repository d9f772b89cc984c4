//! Webhooks from the console (admin): register a URL (its signing secret shown once), remove
//! one, and read the delivery log.

use capstan_core::api::{CreateWebhook, CreatedWebhook, DeliveryQuery, Webhook, WebhookDelivery, WebhookEventKind};

use super::connected_api;
use crate::error::UiError;

/// The app's webhooks (never their secrets).
#[tauri::command]
pub async fn list_webhooks(app: String) -> Result<Vec<Webhook>, UiError> {
    Ok(connected_api().await?.webhooks(&app).await?)
}

/// Registers a webhook for `events` (all when null); the secret is in this answer only.
#[tauri::command]
pub async fn create_webhook(
    app: String,
    url: String,
    events: Option<Vec<WebhookEventKind>>,
) -> Result<CreatedWebhook, UiError> {
    let body = CreateWebhook { url: url.trim().to_owned(), events };
    Ok(connected_api().await?.create_webhook(&app, &body).await?)
}

/// Removes a webhook: nothing more is sent to it.
#[tauri::command]
pub async fn remove_webhook(app: String, id: i64) -> Result<Webhook, UiError> {
    Ok(connected_api().await?.remove_webhook(&app, id).await?)
}

/// The delivery log, newest first (of one webhook when given).
#[tauri::command]
pub async fn webhook_deliveries(
    app: String,
    webhook: Option<i64>,
    limit: u32,
) -> Result<Vec<WebhookDelivery>, UiError> {
    Ok(connected_api().await?.webhook_deliveries(&app, &DeliveryQuery { webhook, limit: Some(limit) }).await?)
}
