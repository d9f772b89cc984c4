//! Webhooks over HTTP (admins): register a URL (the signing secret is in that answer only),
//! list, remove, and read the delivery log. Delivery itself is `crate::webhooks`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use capstan_core::api::{CreateWebhook, CreatedWebhook, DeliveryQuery, Webhook, WebhookDelivery, WebhookEventKind};
use serde_json::json;

use super::{ApiJson, ApiPath, ApiQuery, audit, require_app};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::StoreError;
use crate::store::webhooks::NewWebhook;
use crate::webhooks::{MAX_WEBHOOKS_PER_APP, check_url, generate_secret};

/// Deliveries listed by default, and at most.
const DEFAULT_DELIVERIES: u32 = 50;
const MAX_DELIVERIES: u32 = 500;

/// The app's webhooks (never their secrets).
pub async fn list(
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
) -> Result<Json<Vec<Webhook>>, AppError> {
    require_app(&state, &app_id).await?;
    Ok(Json(state.db().list_webhooks(&app_id).await?))
}

/// Register a webhook; its secret is in this answer only.
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), AppError> {
    require_app(&state, &app_id).await?;
    let url = check_url(&body.url).map_err(|message| AppError::bad_request("invalid_url", message))?;
    let mut events = body.events.unwrap_or_else(|| WebhookEventKind::ALL.to_vec());
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(AppError::bad_request("invalid_events", "name at least one event, or leave `events` out for all"));
    }
    if state.db().list_webhooks(&app_id).await?.len() >= MAX_WEBHOOKS_PER_APP {
        return Err(AppError::Conflict(format!(
            "app `{app_id}` has {MAX_WEBHOOKS_PER_APP} webhooks already: remove one first"
        )));
    }
    let secret = generate_secret();
    let new = NewWebhook {
        app_id: app_id.clone(),
        url: url.clone(),
        events: events.clone(),
        secret: secret.clone(),
        created_by: caller.actor(),
        at_ms: state.now_ms(),
    };
    // The audit log names the URL and events, never the secret.
    let entry = audit(
        &state,
        caller.actor(),
        Some(&app_id),
        "webhook.create",
        &url,
        None,
        Some(json!({ "url": url, "events": events })),
    );
    let webhook = state.db().insert_webhook(&new, entry).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook, secret })))
}

/// Remove a webhook: nothing more is sent to it, and its pending deliveries are cancelled.
pub async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((app_id, id)): ApiPath<(String, i64)>,
) -> Result<Json<Webhook>, AppError> {
    require_app(&state, &app_id).await?;
    let entry = audit(&state, caller.actor(), Some(&app_id), "webhook.remove", &id.to_string(), None, None);
    match state.db().remove_webhook(&app_id, id, state.now_ms(), entry).await {
        Ok(webhook) => Ok(Json(webhook)),
        Err(StoreError::NotFound) => Err(AppError::NotFound(format!("webhook {id} of app `{app_id}`"))),
        Err(other) => Err(other.into()),
    }
}

/// The delivery log, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<Vec<WebhookDelivery>>, AppError> {
    require_app(&state, &app_id).await?;
    let limit = query.limit.unwrap_or(DEFAULT_DELIVERIES);
    if limit == 0 || limit > MAX_DELIVERIES {
        return Err(AppError::bad_request("invalid_limit", format!("limit must be 1–{MAX_DELIVERIES}")));
    }
    Ok(Json(state.db().webhook_deliveries(&app_id, query.webhook, limit).await?))
}
