//! Channels: policy settings, and what they serve (publish, rollouts, promote, rollback).
//!
//! Each operation reads the channel, computes its new state, and saves it with the revision it
//! read: two publishers racing cannot silently overwrite each other (the loser gets 409).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use capstan_core::version::{RolloutShare, Strategy};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ApiJson, audit, check_name, require_app, snapshot_of};
use crate::AppState;
use crate::auth::{Authorized, Caller, Publisher, Viewer};
use crate::error::AppError;
use crate::store::{Channel, ChannelSettings, HistoryEntry, NewChannel, NewHistory, Rollout, Target};

/// Settings to change; absent fields stay as they are (or take the defaults on create).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// See [`ChannelSettings`].
    pub public: Option<bool>,
    /// See [`ChannelSettings`].
    pub allow_self_set: Option<bool>,
    /// See [`ChannelSettings`].
    pub ios: Option<bool>,
    /// See [`ChannelSettings`].
    pub android: Option<bool>,
    /// See [`ChannelSettings`].
    pub electron: Option<bool>,
    /// See [`ChannelSettings`].
    pub allow_prod: Option<bool>,
    /// See [`ChannelSettings`].
    pub allow_dev: Option<bool>,
    /// See [`ChannelSettings`].
    pub allow_device: Option<bool>,
    /// See [`ChannelSettings`].
    pub allow_emulator: Option<bool>,
    /// See [`ChannelSettings`].
    #[schemars(with = "Option<super::openapi::StrategySchema>")]
    pub strategy: Option<Strategy>,
    /// See [`ChannelSettings`].
    pub block_under_native: Option<bool>,
}

impl SettingsPatch {
    fn apply(self, s: &mut ChannelSettings) {
        let set = |field: &mut bool, value: Option<bool>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut s.public, self.public);
        set(&mut s.allow_self_set, self.allow_self_set);
        set(&mut s.ios, self.ios);
        set(&mut s.android, self.android);
        set(&mut s.electron, self.electron);
        set(&mut s.allow_prod, self.allow_prod);
        set(&mut s.allow_dev, self.allow_dev);
        set(&mut s.allow_device, self.allow_device);
        set(&mut s.allow_emulator, self.allow_emulator);
        set(&mut s.block_under_native, self.block_under_native);
        if let Some(strategy) = self.strategy {
            s.strategy = strategy;
        }
    }
}

/// `POST .../channels` body.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateChannel {
    /// Channel name.
    pub name: String,
    /// Settings beyond the defaults.
    #[serde(flatten)]
    pub settings: SettingsPatch,
}

/// `POST .../publish` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// A bundle version, or `builtin` for the store build.
    pub version: String,
}

/// `POST .../rollout` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRollout {
    /// The bundle to roll out.
    pub version: String,
    /// Share of devices, 0–100 (decimals allowed).
    pub percent: f64,
}

/// `PATCH .../rollout` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRollout {
    /// New share of devices, 0–100.
    pub percent: f64,
}

/// `POST .../promote` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    /// The channel that receives this channel's target.
    pub to: String,
}

/// `POST .../rollback` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// `previous` (default) or `builtin`.
    pub to: Option<String>,
}

async fn load(state: &AppState, app_id: &str, name: &str) -> Result<Channel, AppError> {
    state.db().get_channel(app_id, name).await?.ok_or_else(|| AppError::NotFound(format!("channel `{name}`")))
}

/// Saves `after` (read as `before`), with history and audit, and refreshes the device cache.
async fn save(
    state: &AppState,
    caller: &Caller,
    before: &Channel,
    after: Channel,
    action: &'static str,
    history: bool,
) -> Result<Json<Channel>, AppError> {
    let entry = audit(
        state,
        caller.actor(),
        Some(&before.app_id),
        &format!("channel.{action}"),
        &before.name,
        snapshot_of(before),
        snapshot_of(&after),
    );
    let history = history.then(|| NewHistory { action, actor: caller.actor() });
    let saved = state.db().save_channel(&after, history, entry).await?;
    state.cache().invalidate(&before.app_id);
    Ok(Json(saved))
}

async fn require_bundle(state: &AppState, app_id: &str, version: &str) -> Result<(), AppError> {
    match state.db().get_bundle(app_id, version).await? {
        Some(_) => Ok(()),
        None => Err(AppError::bad_request("unknown_bundle", format!("no bundle {version} in this app"))),
    }
}

fn share(percent: f64) -> Result<u32, AppError> {
    RolloutShare::from_percent(percent)
        .map(RolloutShare::basis_points)
        .map_err(|e| AppError::bad_request("invalid_percent", e.to_string()))
}

/// List channels.
pub async fn list(
    _: Authorized<Viewer>,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<Json<Vec<Channel>>, AppError> {
    require_app(&state, &app_id).await?;
    Ok(Json(state.db().list_channels(&app_id).await?))
}

/// Show a channel.
pub async fn show(
    _: Authorized<Viewer>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Channel>, AppError> {
    Ok(Json(load(&state, &app_id, &name).await?))
}

/// Create a channel.
pub async fn create(
    Authorized(caller, _): Authorized<Publisher>,
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
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    let mut after = before.clone();
    patch.apply(&mut after.settings);
    save(&state, &caller, &before, after, "update", false).await
}

/// Point the channel at a bundle or the store build; ends any rollout.
pub async fn publish(
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Publish>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    let target = Target::from_text(body.version.trim());
    if let Target::Bundle(version) = &target {
        require_bundle(&state, &app_id, version).await?;
    }
    let mut after = before.clone();
    after.target = Some(target);
    after.rollout = None;
    save(&state, &caller, &before, after, "publish", true).await
}

/// Start a rollout on top of the current target.
pub async fn rollout_start(
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<StartRollout>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    let share_bp = share(body.percent)?;
    if before.rollout.is_some() {
        return Err(AppError::Conflict(format!("channel `{name}` already has a rollout; change, finish or abort it")));
    }
    if before.target.as_ref().and_then(Target::bundle) == Some(body.version.as_str()) {
        return Err(AppError::bad_request(
            "already_target",
            format!("channel `{name}` already serves {}", body.version),
        ));
    }
    require_bundle(&state, &app_id, &body.version).await?;
    let mut after = before.clone();
    after.rollout = Some(Rollout { version: body.version, share_bp, started_at_ms: state.now_ms() });
    save(&state, &caller, &before, after, "rollout_start", true).await
}

/// Change a rollout's share (raising it only adds devices; see `rollout_bucket`).
pub async fn rollout_change(
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRollout>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    let share_bp = share(body.percent)?;
    let mut after = before.clone();
    let Some(rollout) = after.rollout.as_mut() else {
        return Err(AppError::Conflict(format!("channel `{name}` has no rollout")));
    };
    rollout.share_bp = share_bp;
    save(&state, &caller, &before, after, "rollout_change", true).await
}

/// Finish a rollout: its bundle becomes the target for everyone.
pub async fn rollout_finish(
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    let mut after = before.clone();
    let Some(rollout) = after.rollout.take() else {
        return Err(AppError::Conflict(format!("channel `{name}` has no rollout")));
    };
    after.target = Some(Target::Bundle(rollout.version));
    save(&state, &caller, &before, after, "rollout_finish", true).await
}

/// Abort a rollout: everyone gets the target again.
pub async fn rollout_abort(
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    if before.rollout.is_none() {
        return Err(AppError::Conflict(format!("channel `{name}` has no rollout")));
    }
    let mut after = before.clone();
    after.rollout = None;
    save(&state, &caller, &before, after, "rollout_abort", true).await
}

/// Copy this channel's target (staging) to another channel (production).
pub async fn promote(
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Promote>,
) -> Result<Json<Channel>, AppError> {
    let from = load(&state, &app_id, &name).await?;
    let Some(target) = from.target.clone() else {
        return Err(AppError::Conflict(format!("channel `{name}` serves nothing yet")));
    };
    if body.to == name {
        return Err(AppError::bad_request("same_channel", "promote to another channel"));
    }
    let before = load(&state, &app_id, &body.to).await?;
    let mut after = before.clone();
    after.target = Some(target);
    after.rollout = None;
    save(&state, &caller, &before, after, "promote", true).await
}

/// The target before the current one, skipping earlier rollbacks, so rolling back twice goes
/// two releases back instead of returning to the bad one.
pub fn previous_target(current: Option<&Target>, history: &[HistoryEntry]) -> Option<Target> {
    let current = current.map(Target::as_text);
    history
        .iter()
        .filter(|h| h.action != "rollback")
        .find(|h| {
            h.target_after.as_deref() == current && h.target_before.is_some() && h.target_before.as_deref() != current
        })
        .and_then(|h| h.target_before.as_deref().map(Target::from_text))
}

/// Roll back to the previous target, or to the store build.
pub async fn rollback(
    Authorized(caller, _): Authorized<Publisher>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Rollback>,
) -> Result<Json<Channel>, AppError> {
    let before = load(&state, &app_id, &name).await?;
    let target = match body.to.as_deref().unwrap_or("previous") {
        "builtin" => Target::Builtin,
        "previous" => {
            let history = state.db().channel_history(before.id, 1000).await?;
            previous_target(before.target.as_ref(), &history)
                .ok_or_else(|| AppError::Conflict(format!("channel `{name}` has no previous target to roll back to")))?
        }
        other => {
            return Err(AppError::bad_request(
                "invalid_rollback",
                format!("roll back to `previous` or `builtin`, not `{other}`"),
            ));
        }
    };
    let mut after = before.clone();
    after.target = Some(target);
    after.rollout = None;
    save(&state, &caller, &before, after, "rollback", true).await
}

/// A channel's history, newest first.
pub async fn history(
    _: Authorized<Viewer>,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Vec<HistoryEntry>>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    Ok(Json(state.db().channel_history(channel.id, 1000).await?))
}
