//! Devices for support and QA: search, detail with the event timeline, channel overrides.

use axum::Json;
use axum::extract::{Path, State};
use capstan_core::api::{
    DeviceDetail, DeviceFilter, DeviceOverride, DeviceRecord, OverrideInfo, OverrideSource, Removed, SetOverride,
};
use serde_json::json;

use super::{ApiJson, ApiQuery, audit, require_app, snapshot_of};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;

/// Events a device page shows.
const TIMELINE_EVENTS: u32 = 200;

/// Operators read their own writes: buffered device state is written before a device query.
async fn flushed(state: &AppState) {
    state.ingest().devices.flush(state.db()).await;
}

/// Search devices by id or custom id, filtered by channel, native version or bundle.
pub async fn search(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiQuery(filter): ApiQuery<DeviceFilter>,
) -> Result<Json<Vec<DeviceRecord>>, AppError> {
    require_app(&state, &app_id).await?;
    flushed(&state).await;
    Ok(Json(state.db().search_devices(&app_id, &filter).await?))
}

/// A device, its override and its latest events.
pub async fn show(
    State(state): State<AppState>,
    Path((app_id, device_id)): Path<(String, String)>,
) -> Result<Json<DeviceDetail>, AppError> {
    require_app(&state, &app_id).await?;
    flushed(&state).await;
    let device_id = device_id.to_lowercase();
    let device = state.db().get_device(&app_id, &device_id).await?;
    let events = state.db().device_events(&app_id, &device_id, TIMELINE_EVENTS).await?;
    let channel_override = match state.db().get_override(&app_id, &device_id).await? {
        Some(o) => {
            let channels = state.db().list_channels(&app_id).await?;
            let channel = channels.into_iter().find(|c| c.id == o.channel_id).map(|c| c.name);
            Some(OverrideInfo { channel, set_at_ms: o.set_at_ms, source: o.source })
        }
        None => None,
    };
    if device.is_none() && events.is_empty() && channel_override.is_none() {
        return Err(AppError::NotFound(format!("device `{device_id}`")));
    }
    Ok(Json(DeviceDetail { device, events, channel_override }))
}

/// Pin a device to a channel (wins over anything the device asks for).
pub async fn set_override(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, device_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetOverride>,
) -> Result<Json<DeviceOverride>, AppError> {
    require_app(&state, &app_id).await?;
    let device_id = device_id.to_lowercase();
    if device_id.is_empty() || device_id.len() > capstan_core::protocol::MAX_DEVICE_ID_LEN {
        return Err(AppError::bad_request("invalid_device_id", "device id must be 1–64 characters"));
    }
    let channel = state
        .db()
        .get_channel(&app_id, &body.channel)
        .await?
        .ok_or_else(|| AppError::bad_request("unknown_channel", format!("no channel named `{}`", body.channel)))?;
    let entry = DeviceOverride {
        app_id: app_id.clone(),
        device_id: device_id.clone(),
        channel_id: channel.id,
        source: OverrideSource::Operator,
        set_at_ms: state.now_ms(),
    };
    let record = audit(
        &state,
        caller.actor(),
        Some(&app_id),
        "device.override_set",
        &device_id,
        None,
        Some(json!({ "channel": channel.name })),
    );
    let saved = state.db().set_override(&entry, Some(record)).await?;
    state.cache().invalidate(&app_id);
    Ok(Json(saved))
}

/// Remove a device's override (whoever set it).
pub async fn clear_override(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, device_id)): Path<(String, String)>,
) -> Result<Json<Removed>, AppError> {
    require_app(&state, &app_id).await?;
    let device_id = device_id.to_lowercase();
    let before = state.db().get_override(&app_id, &device_id).await?;
    let record = audit(
        &state,
        caller.actor(),
        Some(&app_id),
        "device.override_clear",
        &device_id,
        before.as_ref().and_then(snapshot_of),
        None,
    );
    let removed = state.db().clear_override(&app_id, &device_id, None, Some(record)).await?;
    state.cache().invalidate(&app_id);
    Ok(Json(Removed { removed }))
}
