//! Channel use-cases beyond single API calls: rollout changes and rollbacks with their inputs
//! checked on this side, so a typo never reaches the server as a half-understood request.

use capstan_core::api::{Channel, ProposedChange, StartRollout};
use capstan_core::version::RolloutShare;

use crate::api::Api;
use crate::error::{ClientError, ClientResult};

/// What to do with a channel's rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutChange {
    /// Start rolling `version` out to `percent` % of devices.
    Start {
        /// Bundle version.
        version: String,
        /// Share, 0–100.
        percent: f64,
        /// Even if the version is not newer than what the channel serves (audited).
        force: bool,
    },
    /// Widen (or narrow) the running rollout to `percent` %.
    Percent(f64),
    /// Everyone gets the rollout's bundle: it becomes the channel's target.
    Finish,
    /// Nobody gets the rollout's bundle any more.
    Abort,
}

/// Applies a rollout change. `line` names the native line (a MIN_NATIVE_VERSION, or `any`) when
/// several lines roll out; a new rollout always goes to its bundle's line.
pub async fn change_rollout(
    api: &Api,
    app: &str,
    channel: &str,
    change: &RolloutChange,
    line: Option<&str>,
) -> ClientResult<Channel> {
    let checked = |percent: f64| {
        RolloutShare::from_percent(percent).map(RolloutShare::percent).map_err(|e| ClientError::Invalid(e.to_string()))
    };
    match change {
        RolloutChange::Start { version, percent, force } => {
            let body = StartRollout {
                version: version.clone(),
                percent: checked(*percent)?,
                force: *force,
                force_native: false,
            };
            api.start_rollout(app, channel, &body).await
        }
        RolloutChange::Percent(percent) => {
            let percent = checked(*percent)?;
            // 100 % is the same as finishing, and leaves no rollout behind to remember.
            if percent >= 100.0 {
                api.finish_rollout(app, channel, line).await
            } else {
                api.change_rollout(app, channel, percent, line).await
            }
        }
        RolloutChange::Finish => api.finish_rollout(app, channel, line).await,
        RolloutChange::Abort => api.abort_rollout(app, channel, line).await,
    }
}

/// The change [`change_rollout`] would make, for a preview (`Api::preview`).
pub fn rollout_change_preview(channel: &str, change: &RolloutChange, line: Option<&str>) -> ProposedChange {
    let channel = channel.to_owned();
    let min_native = line.map(str::to_owned);
    match change {
        RolloutChange::Start { version, percent, force } => ProposedChange::RolloutStart {
            channel,
            version: version.clone(),
            percent: *percent,
            force: *force,
            bundle: None,
        },
        RolloutChange::Percent(percent) if *percent >= 100.0 => ProposedChange::RolloutFinish { channel, min_native },
        RolloutChange::Percent(percent) => ProposedChange::RolloutChange { channel, percent: *percent, min_native },
        RolloutChange::Finish => ProposedChange::RolloutFinish { channel, min_native },
        RolloutChange::Abort => ProposedChange::RolloutAbort { channel, min_native },
    }
}

/// Copies `from`'s target to `to` (e.g. beta → production).
pub async fn promote(api: &Api, app: &str, from: &str, to: &str) -> ClientResult<Channel> {
    if from == to {
        return Err(ClientError::Invalid(format!("cannot promote `{from}` to itself: name another channel")));
    }
    api.promote(app, from, to).await
}
