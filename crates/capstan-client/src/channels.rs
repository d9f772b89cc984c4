//! Channel use-cases beyond single API calls: rollout changes and rollbacks with their inputs
//! checked on this side, so a typo never reaches the server as a half-understood request.

use capstan_core::version::RolloutShare;
use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::api::types::Channel;
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
    },
    /// Widen (or narrow) the running rollout to `percent` %.
    Percent(f64),
    /// Everyone gets the rollout's bundle: it becomes the channel's target.
    Finish,
    /// Nobody gets the rollout's bundle any more.
    Abort,
}

/// Applies a rollout change.
pub async fn change_rollout(api: &Api, app: &str, channel: &str, change: &RolloutChange) -> ClientResult<Channel> {
    let checked = |percent: f64| {
        RolloutShare::from_percent(percent).map(RolloutShare::percent).map_err(|e| ClientError::Invalid(e.to_string()))
    };
    match change {
        RolloutChange::Start { version, percent } => api.start_rollout(app, channel, version, checked(*percent)?).await,
        RolloutChange::Percent(percent) => {
            let percent = checked(*percent)?;
            // 100 % is the same as finishing, and leaves no rollout behind to remember.
            if percent >= 100.0 {
                api.finish_rollout(app, channel).await
            } else {
                api.change_rollout(app, channel, percent).await
            }
        }
        RolloutChange::Finish => api.finish_rollout(app, channel).await,
        RolloutChange::Abort => api.abort_rollout(app, channel).await,
    }
}

/// Where a rollback goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum RollbackTo {
    /// The channel's previous bundle (earlier rollbacks skipped).
    Previous,
    /// The store build: devices drop their live-update bundle.
    Builtin,
}

/// Rolls a channel back; any rollout ends.
pub async fn rollback(api: &Api, app: &str, channel: &str, to: RollbackTo) -> ClientResult<Channel> {
    let to = match to {
        RollbackTo::Previous => "previous",
        RollbackTo::Builtin => "builtin",
    };
    api.rollback(app, channel, to).await
}

/// Copies `from`'s target to `to` (e.g. beta → production).
pub async fn promote(api: &Api, app: &str, from: &str, to: &str) -> ClientResult<Channel> {
    if from == to {
        return Err(ClientError::Invalid(format!("cannot promote `{from}` to itself: name another channel")));
    }
    api.promote(app, from, to).await
}
