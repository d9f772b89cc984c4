//! Apps: created by admins with their public default channel `production`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use capstan_core::api::{App, AppDetail, ChannelSettings, CreateApp, UpdateApp};

use super::{ApiJson, audit, check_name, require_app, snapshot_of};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::NewChannel;

/// Name of the channel every new app starts with.
pub const DEFAULT_CHANNEL: &str = "production";

fn check_display_name(name: &str) -> Result<(), AppError> {
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::bad_request("invalid_name", "name must be 1–200 characters"));
    }
    Ok(())
}

/// List apps.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<App>>, AppError> {
    Ok(Json(state.db().list_apps().await?))
}

/// Create an app.
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<(StatusCode, Json<App>), AppError> {
    check_name("app id", &body.id, 128)?;
    let name = body.name.unwrap_or_else(|| body.id.clone());
    check_display_name(&name)?;
    let now = state.now_ms();
    let app = App { id: body.id.clone(), name, default_channel: DEFAULT_CHANNEL.into(), created_at_ms: now };
    let channel = NewChannel {
        app_id: app.id.clone(),
        name: DEFAULT_CHANNEL.into(),
        settings: ChannelSettings { public: true, ..ChannelSettings::default() },
        at_ms: now,
    };
    let entry = audit(&state, caller.actor(), Some(&app.id), "app.create", &app.id, None, snapshot_of(&app));
    let created = state.db().create_app(&app, &channel, entry).await?;
    state.cache().invalidate(&created.id);
    Ok((StatusCode::CREATED, Json(created)))
}

/// Show an app with its channels.
pub async fn show(State(state): State<AppState>, Path(app_id): Path<String>) -> Result<Json<AppDetail>, AppError> {
    let app = require_app(&state, &app_id).await?;
    let channels = state.db().list_channels(&app_id).await?;
    Ok(Json(AppDetail { app, channels }))
}

/// Change an app's settings.
pub async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<UpdateApp>,
) -> Result<Json<App>, AppError> {
    let before = require_app(&state, &app_id).await?;
    let mut app = before.clone();
    if let Some(name) = body.name {
        check_display_name(&name)?;
        app.name = name;
    }
    if let Some(channel) = body.default_channel {
        if state.db().get_channel(&app_id, &channel).await?.is_none() {
            return Err(AppError::bad_request("unknown_channel", format!("no channel named `{channel}`")));
        }
        app.default_channel = channel;
    }
    let entry =
        audit(&state, caller.actor(), Some(&app_id), "app.update", &app_id, snapshot_of(&before), snapshot_of(&app));
    let saved = state.db().update_app(&app, entry).await?;
    state.cache().invalidate(&app_id);
    Ok(Json(saved))
}
