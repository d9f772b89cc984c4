//! Channels: policy settings, and what they serve (publish, rollouts, promote, rollback).
//!
//! Each release operation loads the channel, lets `capstan_core::release::apply` decide the
//! new state (or refuse), and saves it with the revision it read: two publishers racing cannot
//! silently overwrite each other (the loser gets 409). A forced change is audited as such.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use capstan_core::api::{
    BUILTIN, ChangeRollout, Channel, ChannelSettings, CreateChannel, HistoryEntry, LaneQuery, Promote, Publish,
    Rollback, RollbackTo, SettingsPatch, StartRollout, WebhookEvent,
};
use capstan_core::native::{NativeCheck, NativeFingerprint, Reference, check_native, reference_version};
use capstan_core::release::{self, LineChoice, ReleaseCommand};
use capstan_core::version::RolloutShare;

use super::{ApiJson, ApiQuery, audit, check_name, require_app, snapshot_of};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::{NewChannel, NewHistory};

/// History lines a rollback reads to find the previous target.
pub(crate) const ROLLBACK_HISTORY: u32 = 1000;

pub(crate) async fn load(state: &AppState, app_id: &str, name: &str) -> Result<Channel, AppError> {
    state.db().get_channel(app_id, name).await?.ok_or_else(|| AppError::NotFound(format!("channel `{name}`")))
}

/// Saves `after` (read as `before`), with history and audit, and refreshes the device cache.
async fn save(
    state: &AppState,
    caller: &Caller,
    before: &Channel,
    after: Channel,
    audit_action: &str,
    history: Vec<NewHistory>,
    events: &[WebhookEvent],
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
    let saved = state.db().save_channel(before, &after, &history, events, entry).await?;
    state.cache().invalidate(&before.app_id);
    Ok(Json(saved))
}

/// A release command's outcome, checked and ready to save.
pub struct Prepared {
    /// The channel's new state and its history steps.
    pub change: release::Change,
    /// The audit action (`channel.publish`, with `.forced` / `.forced_native` when forced).
    pub audit_action: String,
}

/// Applies a release command to `before` with every check people's changes get (the native
/// rule, signed bundles): the one decision path of the API, rollout plans, the guard and
/// scheduled publishes. `force_native` lets through a bundle whose native surface changed
/// without a raised MIN_NATIVE_VERSION.
pub async fn prepare(
    state: &AppState,
    before: &Channel,
    command: ReleaseCommand,
    force_native: bool,
) -> Result<Prepared, AppError> {
    let app_id = &before.app_id;
    let mut forced_native = false;
    if let ReleaseCommand::Publish { version, min_native, .. }
    | ReleaseCommand::StartRollout { version, min_native, .. } = &command
    {
        let check = native_check(state, before, version, min_native.as_deref()).await?;
        if let Some(check) = check.filter(NativeCheck::stops) {
            if !force_native {
                return Err(AppError::bad_request(
                    "native_changed",
                    format!("bundle {version}: {}; or force it (audited)", check.sentence()),
                ));
            }
            forced_native = true;
        }
    }
    let history = match &command {
        ReleaseCommand::Rollback { to: RollbackTo::Previous, .. } => {
            state.db().channel_history(before.id, ROLLBACK_HISTORY).await?
        }
        _ => Vec::new(),
    };
    let change = release::apply(before, command, &history, state.now_ms())?;
    require_signed_bundles(state, app_id, &change.channel.newly_served(before)).await?;
    // A forced change is named as such in the audit log, so a review finds every override.
    let audit_action = format!(
        "channel.{}{}{}",
        change.action().as_str(),
        if change.forced { ".forced" } else { "" },
        if forced_native { ".forced_native" } else { "" }
    );
    Ok(Prepared { change, audit_action })
}

/// Loads the channel, applies a release command and saves the outcome.
async fn release(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    name: &str,
    command: ReleaseCommand,
    force_native: bool,
) -> Result<Json<Channel>, AppError> {
    let before = load(state, app_id, name).await?;
    let Prepared { change, audit_action } = prepare(state, &before, command, force_native).await?;
    let history = change
        .steps
        .iter()
        .map(|step| NewHistory {
            action: step.action,
            min_native: step.min_native.clone(),
            actor: caller.actor(),
            reason: None,
        })
        .collect();
    // Queued with the change, in its transaction.
    let events = crate::webhooks::channel_events(state, &before, &change.channel, &change.steps, &caller.actor());
    save(state, caller, &before, change.channel, &audit_action, history, &events).await
}

/// The publish-time native rule for `version` on `channel`: `None` when the bundle was uploaded
/// without a fingerprint (nothing to check, e.g. a hand-made upload).
async fn native_check(
    state: &AppState,
    channel: &Channel,
    version: &str,
    min_native: Option<&str>,
) -> Result<Option<NativeCheck>, AppError> {
    let app_id = &channel.app_id;
    let Some(new) = fingerprint_of(state, app_id, version).await? else { return Ok(None) };
    let new_min = min_native.and_then(|v| semver::Version::parse(v).ok());
    let Some(reference) = reference_version(channel, min_native) else {
        return Ok(Some(check_native(&new, new_min.as_ref(), None)));
    };
    let old = fingerprint_of(state, app_id, &reference).await?;
    let old_min = line_of(state, app_id, &reference).await?.and_then(|v| semver::Version::parse(&v).ok());
    let reference = Reference { version: &reference, min_native: old_min.as_ref(), fingerprint: old.as_ref() };
    Ok(Some(check_native(&new, new_min.as_ref(), Some(reference))))
}

async fn fingerprint_of(state: &AppState, app_id: &str, version: &str) -> Result<Option<NativeFingerprint>, AppError> {
    match state.db().native_fingerprint(app_id, version).await? {
        Some(text) => Ok(Some(serde_json::from_str(&text).map_err(|e| AppError::Internal(Box::new(e)))?)),
        None => Ok(None),
    }
}

/// The MIN_NATIVE_VERSION of a bundle about to be served (its native line); 400 if the bundle
/// does not exist.
pub(crate) async fn line_of(state: &AppState, app_id: &str, version: &str) -> Result<Option<String>, AppError> {
    match state.db().get_bundle(app_id, version).await? {
        Some(stored) => Ok(stored.bundle.min_native_version),
        None => Err(AppError::bad_request("unknown_bundle", format!("no bundle {version} in this app"))),
    }
}

/// A native line named in a request: `any` for bundles that run on any native version, else a
/// version (normalised as MIN_NATIVE_VERSIONs are); absent means the one the command implies.
pub(crate) fn line_choice(min_native: Option<&str>) -> Result<LineChoice, AppError> {
    match min_native.map(str::trim) {
        None | Some("") => Ok(LineChoice::Implied),
        Some("any") => Ok(LineChoice::Named(None)),
        Some(text) => capstan_core::version::parse_lenient(text)
            .map(|v| LineChoice::Named(Some(v.to_string())))
            .map_err(|e| AppError::bad_request("invalid_version", e.to_string())),
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

pub(crate) fn share(percent: f64) -> Result<RolloutShare, AppError> {
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
    save(&state, &caller, &before, after, "channel.update", Vec::new(), &[]).await
}

/// Point the channel at a bundle or the store build; ends any rollout.
pub async fn publish(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Publish>,
) -> Result<Json<Channel>, AppError> {
    let version = body.version.trim();
    let command = if version == BUILTIN {
        ReleaseCommand::PublishBuiltin
    } else {
        let min_native = line_of(&state, &app_id, version).await?;
        ReleaseCommand::Publish { version: version.to_owned(), min_native, force: body.force }
    };
    release(&state, &caller, &app_id, &name, command, body.force_native).await
}

/// Start a rollout on top of the current target.
pub async fn rollout_start(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<StartRollout>,
) -> Result<Json<Channel>, AppError> {
    let share = share(body.percent)?;
    let min_native = line_of(&state, &app_id, &body.version).await?;
    let command = ReleaseCommand::StartRollout { version: body.version, min_native, share, force: body.force };
    release(&state, &caller, &app_id, &name, command, body.force_native).await
}

/// Change a rollout's share (raising it only adds devices; see `rollout_bucket`).
pub async fn rollout_change(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRollout>,
) -> Result<Json<Channel>, AppError> {
    let share = share(body.percent)?;
    let line = line_choice(body.min_native.as_deref())?;
    release(&state, &caller, &app_id, &name, ReleaseCommand::ChangeRollout { line, share }, false).await
}

/// Finish a rollout: its bundle becomes the target for everyone.
pub async fn rollout_finish(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<LaneQuery>,
) -> Result<Json<Channel>, AppError> {
    let line = line_choice(query.min_native.as_deref())?;
    release(&state, &caller, &app_id, &name, ReleaseCommand::FinishRollout { line }, false).await
}

/// Abort a rollout: everyone gets the target again.
pub async fn rollout_abort(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<LaneQuery>,
) -> Result<Json<Channel>, AppError> {
    let line = line_choice(query.min_native.as_deref())?;
    release(&state, &caller, &app_id, &name, ReleaseCommand::AbortRollout { line }, false).await
}

/// Copy this channel's target (staging) to another channel (production).
pub async fn promote(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Promote>,
) -> Result<Json<Channel>, AppError> {
    let from = load(&state, &app_id, &name).await?;
    let command = ReleaseCommand::Promote { from: from.name, lanes: from.lanes };
    release(&state, &caller, &app_id, &body.to, command, false).await
}

/// Roll back to the previous target, or to the store build.
pub async fn rollback(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Rollback>,
) -> Result<Json<Channel>, AppError> {
    let line = line_choice(body.min_native.as_deref())?;
    release(&state, &caller, &app_id, &name, ReleaseCommand::Rollback { to: body.to, line }, false).await
}

/// A channel's history, newest first.
pub async fn history(
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Vec<HistoryEntry>>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    Ok(Json(state.db().channel_history(channel.id, 1000).await?))
}
