//! Release health: installs, failures and rollbacks per bundle, adoption per channel, and time
//! buckets for charts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Lane, ReleaseHealth};

query_params! {
    /// Window for "active" devices (query of the stats routes).
    ActiveQuery {
        /// Devices seen in the last N days count as active (default 30).
        active_days: u32,
    }
}

/// Health of one bundle version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BundleHealth {
    /// Bundle version.
    pub version: String,
    /// `set` events.
    pub installs: i64,
    /// Failure events by action.
    #[serde(default)]
    pub failures: BTreeMap<String, i64>,
    /// Sum of failures.
    pub failures_total: i64,
    /// `update_fail` + `reset`.
    pub rollbacks: i64,
    /// Devices running it that were seen in the window.
    pub active_devices: i64,
    /// Its health on each channel serving it (attempts, failures and their interval, against
    /// the bundle it replaces): the figures rollout plans and the guard act on.
    #[serde(default)]
    pub on_channels: Vec<ReleaseHealth>,
}

/// Adoption of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChannelAdoption {
    /// Channel name.
    pub channel: String,
    /// What the channel serves, per native line (newest line first).
    pub lanes: Vec<Lane>,
    /// Devices on this channel seen in the window.
    pub active_devices: i64,
    /// Active devices running a target of the channel (the bundle their line serves to all).
    pub on_target: i64,
    /// `on_target / active_devices` (0 without devices).
    pub adoption: f64,
    /// Active devices per bundle version running.
    #[serde(default)]
    pub by_bundle: BTreeMap<String, i64>,
    /// The health of every bundle the channel serves (see [`BundleHealth::on_channels`]).
    #[serde(default)]
    pub health: Vec<ReleaseHealth>,
}

/// Events of one action in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BucketCount {
    /// Bucket start, epoch ms.
    pub start_ms: i64,
    /// Action as devices sent it (`set`, `download_fail`, …).
    pub action: String,
    /// Events.
    pub count: i64,
}

/// `GET .../stats/timeline` answer: events per time bucket and action, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Timeline {
    /// Bucket width, ms.
    pub bucket_ms: i64,
    /// Non-empty buckets.
    pub buckets: Vec<BucketCount>,
}

query_params! {
    /// Query of the timeline.
    TimelineQuery {
        /// `hour` (default) or `day`.
        bucket: String,
        /// How many days back (default 7, at most 366).
        days: u32,
        /// Only events about this bundle.
        version: String,
    }
}
