//! Channels: what each serves, rollouts, promotion, rollback, flags and history.

use capstan_client::channels::{self, RolloutChange};
use capstan_core::api::{
    Channel, CreatePlan, HistoryEntry, PlanView, Preview, ProposedChange, RollbackTo, SettingsPatch,
};
use serde::Deserialize;
use ts_rs::TS;

use super::connected_api;
use crate::error::UiError;

/// A change to a channel's rollout, as the Channels screen asks for it.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RolloutAction {
    /// Roll `version` out to `percent` % of the channel's devices.
    Start {
        /// Bundle version.
        version: String,
        /// Share, 0–100.
        percent: f64,
    },
    /// Widen or narrow the running rollout.
    Percent {
        /// Share, 0–100 (100 finishes it).
        percent: f64,
    },
    /// Everyone gets the rollout's bundle.
    Finish,
    /// Nobody gets it any more.
    Abort,
}

impl From<RolloutAction> for RolloutChange {
    fn from(action: RolloutAction) -> Self {
        match action {
            // The console publishes newer versions only: an older one is refused by the server.
            RolloutAction::Start { version, percent } => RolloutChange::Start { version, percent, force: false },
            RolloutAction::Percent { percent } => RolloutChange::Percent(percent),
            RolloutAction::Finish => RolloutChange::Finish,
            RolloutAction::Abort => RolloutChange::Abort,
        }
    }
}

/// Every channel of `app`.
#[tauri::command]
pub async fn list_channels(app: String) -> Result<Vec<Channel>, UiError> {
    Ok(connected_api().await?.channels(&app).await?)
}

/// Every change of a channel's target or rollout, newest first.
#[tauri::command]
pub async fn channel_history(app: String, channel: String) -> Result<Vec<HistoryEntry>, UiError> {
    Ok(connected_api().await?.history(&app, &channel).await?)
}

/// Starts, widens, finishes or aborts a rollout (`min_native`: which native line's rollout,
/// when several lines roll out).
#[tauri::command]
pub async fn change_rollout(
    app: String,
    channel: String,
    action: RolloutAction,
    min_native: Option<String>,
) -> Result<Channel, UiError> {
    let api = connected_api().await?;
    Ok(channels::change_rollout(&api, &app, &channel, &action.into(), min_native.as_deref()).await?)
}

/// Gives channel `to` the bundle channel `from` serves.
#[tauri::command]
pub async fn promote_channel(app: String, from: String, to: String) -> Result<Channel, UiError> {
    Ok(channels::promote(&connected_api().await?, &app, &from, &to).await?)
}

/// Rolls a native line back to its previous bundle (by default the line changed last), or
/// every line to the store build.
#[tauri::command]
pub async fn rollback_channel(
    app: String,
    channel: String,
    to: RollbackTo,
    min_native: Option<String>,
) -> Result<Channel, UiError> {
    Ok(connected_api().await?.rollback(&app, &channel, to, min_native.as_deref()).await?)
}

/// What the devices seen in the last `days` (default 30) would get after `change`; changes
/// nothing (the confirmation dialogs show it).
#[tauri::command]
pub async fn preview_change(app: String, change: ProposedChange, days: Option<u32>) -> Result<Preview, UiError> {
    Ok(connected_api().await?.preview(&app, change, days).await?)
}

/// Changes a channel's flags.
#[tauri::command]
pub async fn update_channel(app: String, channel: String, patch: SettingsPatch) -> Result<Channel, UiError> {
    Ok(connected_api().await?.update_channel(&app, &channel, &patch).await?)
}

/// A channel's rollout plan, or `None` when it never had one.
#[tauri::command]
pub async fn channel_plan(app: String, channel: String) -> Result<Option<PlanView>, UiError> {
    match connected_api().await?.plan(&app, &channel).await {
        Ok(view) => Ok(Some(view)),
        Err(error) if error.code() == capstan_client::ErrorCode::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Starts a rollout plan on a channel.
#[tauri::command]
pub async fn create_plan(app: String, channel: String, plan: CreatePlan) -> Result<PlanView, UiError> {
    Ok(connected_api().await?.create_plan(&app, &channel, &plan).await?)
}

/// What the console does to a plan.
#[derive(Debug, Clone, Copy, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Stop taking steps (the share is held).
    Pause,
    /// Take steps again.
    Resume,
    /// End the plan (the rollout stays at its share).
    Cancel,
}

/// Pauses, resumes or cancels a channel's plan.
#[tauri::command]
pub async fn change_plan(app: String, channel: String, action: PlanAction) -> Result<PlanView, UiError> {
    let api = connected_api().await?;
    Ok(match action {
        PlanAction::Pause => api.pause_plan(&app, &channel).await?,
        PlanAction::Resume => api.resume_plan(&app, &channel).await?,
        PlanAction::Cancel => api.cancel_plan(&app, &channel).await?,
    })
}
