//! The app's configuration after a proposed change, built in memory (the one place that does).
//!
//! Release changes go through the same code as the real routes: the handler's helpers turn the
//! request into a `ReleaseCommand`, and `capstan_core::release::apply` computes the channel the
//! route would save. Settings go through the same `SettingsPatch::apply`, overrides replace the
//! device's entry as the store would. The publish-time checks that refuse a change without
//! changing what devices would get (the native-surface check, "require signed bundles") are not
//! run: the preview says what devices would get if the change were made.

use capstan_core::api::{
    BUILTIN, Bundle, DeviceOverride, OverrideSource, PlannedBundle, ProposedChange, RollbackTo, SettingsPatch,
};
use capstan_core::release::{self, ReleaseCommand};
use capstan_core::rollout::plan_steps;

use crate::AppState;
use crate::api::channels::{ROLLBACK_HISTORY, line_choice, share};
use crate::api::rollouts::first_step;
use crate::error::AppError;
use crate::store::{AppConfig, StoredBundle};

/// `config` with `change` made.
pub async fn after(state: &AppState, config: &AppConfig, change: &ProposedChange) -> Result<AppConfig, AppError> {
    let mut after = config.clone();
    let command = match change {
        ProposedChange::Nothing => return Ok(after),
        ProposedChange::Publish { channel, version, force, bundle } => {
            let version = version.trim();
            let command = if version == BUILTIN {
                ReleaseCommand::PublishBuiltin
            } else {
                let min_native = line_of(&mut after, version, bundle.as_ref())?;
                ReleaseCommand::Publish { version: version.to_owned(), min_native, force: *force }
            };
            (channel, command)
        }
        ProposedChange::RolloutStart { channel, version, percent, force, bundle } => {
            let share = share(*percent)?;
            let min_native = line_of(&mut after, version, bundle.as_ref())?;
            (channel, ReleaseCommand::StartRollout { version: version.clone(), min_native, share, force: *force })
        }
        ProposedChange::PlanStart { channel, version, steps, force } => {
            let steps_bp = plan_steps(steps).map_err(|e| AppError::bad_request("invalid_plan", e))?;
            let min_native = line_of(&mut after, version, None)?;
            let index = channel_index(&after, channel)?;
            match first_step(&after.channels[index], &steps_bp, version, min_native, *force).1 {
                Some(command) => (channel, command),
                None => return Ok(after),
            }
        }
        ProposedChange::RolloutChange { channel, percent, min_native } => {
            let share = share(*percent)?;
            let line = line_choice(min_native.as_deref())?;
            (channel, ReleaseCommand::ChangeRollout { line, share })
        }
        ProposedChange::RolloutFinish { channel, min_native } => {
            (channel, ReleaseCommand::FinishRollout { line: line_choice(min_native.as_deref())? })
        }
        ProposedChange::RolloutAbort { channel, min_native } => {
            (channel, ReleaseCommand::AbortRollout { line: line_choice(min_native.as_deref())? })
        }
        ProposedChange::Promote { from, to } => {
            let source = channel_index(&after, from)?;
            let source = &after.channels[source];
            (to, ReleaseCommand::Promote { from: source.name.clone(), lanes: source.lanes.clone() })
        }
        ProposedChange::Rollback { channel, to, min_native } => {
            let line = line_choice(min_native.as_deref())?;
            (channel, ReleaseCommand::Rollback { to: *to, line })
        }
        ProposedChange::Settings { channel, settings } => {
            settings_change(&mut after, channel, settings)?;
            return Ok(after);
        }
        ProposedChange::SetOverride { device_id, channel } => {
            let device_id = device_id.to_lowercase();
            check_device_id(&device_id)?;
            let index = channel_index(&after, channel)
                .map_err(|_| AppError::bad_request("unknown_channel", format!("no channel named `{channel}`")))?;
            let entry = DeviceOverride {
                app_id: after.app.id.clone(),
                device_id: device_id.clone(),
                channel_id: after.channels[index].id,
                source: OverrideSource::Operator,
                set_at_ms: state.now_ms(),
            };
            after.overrides.retain(|o| o.device_id != device_id);
            after.overrides.push(entry);
            return Ok(after);
        }
        ProposedChange::ClearOverride { device_id } => {
            let device_id = device_id.to_lowercase();
            check_device_id(&device_id)?;
            after.overrides.retain(|o| o.device_id != device_id);
            return Ok(after);
        }
    };
    let (name, command) = command;
    let index = channel_index(&after, name)?;
    let before = &after.channels[index];
    let history = match &command {
        ReleaseCommand::Rollback { to: RollbackTo::Previous, .. } => {
            state.db().channel_history(before.id, ROLLBACK_HISTORY).await?
        }
        _ => Vec::new(),
    };
    let changed = release::apply(before, command, &history, state.now_ms())?;
    after.channels[index] = changed.channel;
    Ok(after)
}

fn channel_index(config: &AppConfig, name: &str) -> Result<usize, AppError> {
    config.channels.iter().position(|c| c.name == name).ok_or_else(|| AppError::NotFound(format!("channel `{name}`")))
}

fn settings_change(config: &mut AppConfig, channel: &str, patch: &SettingsPatch) -> Result<(), AppError> {
    let index = channel_index(config, channel)?;
    patch.apply(&mut config.channels[index].settings);
    Ok(())
}

fn check_device_id(device_id: &str) -> Result<(), AppError> {
    if device_id.is_empty() || device_id.len() > capstan_core::protocol::MAX_DEVICE_ID_LEN {
        return Err(AppError::bad_request("invalid_device_id", "device id must be 1–64 characters"));
    }
    Ok(())
}

/// The MIN_NATIVE_VERSION of `version` (its native line), as the publish route reads it; a
/// bundle not uploaded yet is added to `config` as `planned` describes it.
fn line_of(config: &mut AppConfig, version: &str, planned: Option<&PlannedBundle>) -> Result<Option<String>, AppError> {
    if let Some(stored) = config.bundles.iter().find(|b| b.bundle.version == version) {
        return Ok(stored.bundle.min_native_version.clone());
    }
    let Some(planned) = planned else {
        return Err(AppError::bad_request("unknown_bundle", format!("no bundle {version} in this app")));
    };
    capstan_core::version::parse_lenient(version)
        .map_err(|e| AppError::bad_request("invalid_version", format!("{version}: {e}")))?;
    let min_native = match planned.min_native_version.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(text) => Some(
            capstan_core::version::parse_lenient(text)
                .map_err(|e| AppError::bad_request("invalid_version", format!("MIN_NATIVE_VERSION {text}: {e}")))?
                .to_string(),
        ),
        None => None,
    };
    let bundle = Bundle {
        app_id: config.app.id.clone(),
        version: version.to_owned(),
        min_native_version: min_native.clone(),
        key_id: planned.key_id.clone(),
        ..Bundle::default()
    };
    config.bundles.push(StoredBundle { bundle, blob_key: String::new() });
    Ok(min_native)
}
