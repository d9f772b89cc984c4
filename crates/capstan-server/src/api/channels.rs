//! Channels: policy settings, and what they serve (publish, rollouts, promote, rollback).
//!
//! Each release operation loads the channel, lets `capstan_core::release::apply` decide the
//! new state (or refuse), and saves it with the revision it read: two publishers racing cannot
//! silently overwrite each other (the loser gets 409). A forced change is audited as such.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use capstan_core::api::{
    ChangeRollout, Channel, ChannelSettings, CreateChannel, HistoryAction, HistoryEntry, Promote, Publish, Rollback,
    RollbackTo, SettingsPatch, StartRollout, Target,
};
use capstan_core::release::{self, ReleaseCommand};
use capstan_core::version::RolloutShare;

use super::{ApiJson, audit, check_name, require_app, snapshot_of};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::{NewChannel, NewHistory};

/// History lines a rollback reads to find the previous target.
const ROLLBACK_HISTORY: u32 = 1000;

async fn load(state: &AppState, app_id: &str, name: &str) -> Result<Channel, AppError> {
    state.db().get_channel(app_id, name).await?.ok_or_else(|| AppError::NotFound(format!("channel `{name}`")))
}

/// Saves `after` (read as `before`), with history and audit, and refreshes the device cache.
async fn save(
    state: &AppState,
    caller: &Caller,
    before: &Channel,
    after: Channel,
    audit_action: &str,
    history: Option<HistoryAction>,
) -> Result<Json<Channel>, AppError> {
    let entry = audit(
        state,
        caller.actor(),
        Some(&before.app_id),
        audit_action,
        &before.name,
        snapshot_of(before),
        snapshot_of(&after),
    );
    let history = history.map(|action| NewHistory { action, actor: caller.actor() });
    let saved = state.db().save_channel(before, &after, history, entry).await?;
    state.cache().invalidate(&before.app_id);
    Ok(Json(saved))
}

/// Loads the channel, applies a release command and saves the outcome.
async fn release(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    name: &str,
    command: ReleaseCommand,
) -> Result<Json<Channel>, AppError> {
    let before = load(state, app_id, name).await?;
    if let Some(version) = bundle_named(&command) {
        require_bundle(state, app_id, version).await?;
    }
    let history = match &command {
        ReleaseCommand::Rollback { to: RollbackTo::Previous } => {
            state.db().channel_history(before.id, ROLLBACK_HISTORY).await?
        }
        _ => Vec::new(),
    };
    let change = release::apply(&before, command, &history, state.now_ms())?;
    require_signed_bundles(state, app_id, &change.channel.newly_served(&before)).await?;
    // A forced change is named as such in the audit log, so a review finds every override.
    let audit_action = format!("channel.{}{}", change.action.as_str(), if change.forced { ".forced" } else { "" });
    save(state, caller, &before, change.channel, &audit_action, Some(change.action)).await
}

/// The bundle a command points the channel at, which must exist.
fn bundle_named(command: &ReleaseCommand) -> Option<&str> {
    match command {
        ReleaseCommand::Publish { target, .. } => target.bundle(),
        ReleaseCommand::StartRollout { version, .. } => Some(version),
        _ => None,
    }
}

async fn require_bundle(state: &AppState, app_id: &str, version: &str) -> Result<(), AppError> {
    match state.db().get_bundle(app_id, version).await? {
        Some(_) => Ok(()),
        None => Err(AppError::bad_request("unknown_bundle", format!("no bundle {version} in this app"))),
    }
}

/// While the app requires signed bundles, refuses pointing a channel at a bundle that is not
/// signed with a registered key (the store checks it again inside its transaction).
async fn require_signed_bundles(state: &AppState, app_id: &str, versions: &[&str]) -> Result<(), AppError> {
    if versions.is_empty() {
        return Ok(());
    }
    let signing = state.db().app_signing(app_id).await?;
    if !signing.require_signed {
        return Ok(());
    }
    for version in versions {
        // A missing bundle is refused by the store with its own message.
        let Some(stored) = state.db().get_bundle(app_id, version).await? else { continue };
        let bundle = &stored.bundle;
        let signed_by = bundle.key_id.as_deref().filter(|_| !bundle.session_key.is_empty());
        let message = match signed_by {
            None => format!("bundle {version} is not signed"),
            Some(key_id) if signing.key(key_id).is_none() => {
                format!("bundle {version} is signed with key {key_id}, which is no longer registered")
            }
            Some(_) => continue,
        };
        return Err(AppError::bad_request(
            "signature_required",
            format!(
                "app `{app_id}` requires signed bundles and {message}: publish a bundle signed with a registered key"
            ),
        ));
    }
    Ok(())
}

fn share(percent: f64) -> Result<RolloutShare, AppError> {
    RolloutShare::from_percent(percent).map_err(|e| AppError::bad_request("invalid_percent", e.to_string()))
}

/// List channels.
pub async fn list(State(state): State<AppState>, Path(app_id): Path<String>) -> Result<Json<Vec<Channel>>, AppError> {
    require_app(&state, &app_id).await?;
    Ok(Json(state.db().list_channels(&app_id).await?))
}

/// Show a channel.
pub async fn show(
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Channel>, AppError> {
    Ok(Json(load(&state, &app_id, &name).await?))
}

/// Create a channel.
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<CreateChannel>,
) -> Result<(StatusCode, Json<Channel>), AppError> {
    require_app(&state, &app_id).await?;
    check_name("channel name", &body.name, 64)?;
    let mut settings = ChannelSettings::default();
    body.settings.apply(&mut settings);
    let channel = NewChannel { app_id: app_id.clone(), name: body.name.clone(), settings, at_ms: state.now_ms() };
    let entry = audit(
        &state,
        caller.actor(),
        Some(&app_id),
        "channel.create",
        &body.name,
        None,
        snapshot_of(&channel.settings),
    );
    let created = state.db().create_channel(&channel, entry).await?;
    state.cache().invalidate(&app_id);
    Ok((StatusCode::CREATED, Json(created)))
}

/// Change settings.
pub async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    let mut after = before.clone();
    patch.apply(&mut after.settings);
    save(&state, &caller, &before, after, "channel.update", None).await
}

/// Point the channel at a bundle or the store build; ends any rollout.
pub async fn publish(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Publish>,
) -> Result<Json<Channel>, AppError> {
    let command = ReleaseCommand::Publish { target: Target::from_text(body.version.trim()), force: body.force };
    release(&state, &caller, &app_id, &name, command).await
}

/// Start a rollout on top of the current target.
pub async fn rollout_start(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<StartRollout>,
) -> Result<Json<Channel>, AppError> {
    let share = share(body.percent)?;
    let command = ReleaseCommand::StartRollout { version: body.version, share, force: body.force };
    release(&state, &caller, &app_id, &name, command).await
}

/// Change a rollout's share (raising it only adds devices; see `rollout_bucket`).
pub async fn rollout_change(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRollout>,
) -> Result<Json<Channel>, AppError> {
    let share = share(body.percent)?;
    release(&state, &caller, &app_id, &name, ReleaseCommand::ChangeRollout { share }).await
}

/// Finish a rollout: its bundle becomes the target for everyone.
pub async fn rollout_finish(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Channel>, AppError> {
    release(&state, &caller, &app_id, &name, ReleaseCommand::FinishRollout).await
}

/// Abort a rollout: everyone gets the target again.
pub async fn rollout_abort(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Channel>, AppError> {
    release(&state, &caller, &app_id, &name, ReleaseCommand::AbortRollout).await
}

/// Copy this channel's target (staging) to another channel (production).
pub async fn promote(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Promote>,
) -> Result<Json<Channel>, AppError> {
    let from = load(&state, &app_id, &name).await?;
    let command = ReleaseCommand::Promote { from: from.name, target: from.target };
    release(&state, &caller, &app_id, &body.to, command).await
}

/// Roll back to the previous target, or to the store build.
pub async fn rollback(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Rollback>,
) -> Result<Json<Channel>, AppError> {
    release(&state, &caller, &app_id, &name, ReleaseCommand::Rollback { to: body.to }).await
}

/// A channel's history, newest first.
pub async fn history(
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Vec<HistoryEntry>>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    Ok(Json(state.db().channel_history(channel.id, 1000).await?))
}
