//! Release safety: the health of what a channel serves, rollout plans that advance on it, the
//! channel guard, and scheduled publishes.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Install attempts and failures of one bundle, with a 95 % Wilson interval on the failure rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FailureRate {
    /// Install attempts: `set` events plus the failures that end an attempt before it (failed
    /// download, checksum, decrypt, unzip, set).
    pub attempts: i64,
    /// Those failures plus the plugin's rollbacks to the previous bundle (`update_fail`).
    pub failures: i64,
    /// `failures / attempts` (0 without attempts).
    pub rate: f64,
    /// Lower end of the 95 % Wilson interval: the rate is above it with 97.5 % confidence.
    pub lower: f64,
    /// Upper end of the 95 % Wilson interval.
    pub upper: f64,
}

/// What the figures say about a bundle against a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Too few attempts to say anything.
    NoData,
    /// The failure rate is at or under the threshold.
    Healthy,
    /// Over the threshold, but not yet with confidence: wait for more devices.
    Watching,
    /// Failing with confidence: the interval's lower end is over the threshold and over what
    /// the replaced bundle does on the same native versions.
    Failing,
}

/// The health of one bundle a channel serves (a target or a rollout), against the bundle it
/// replaces on the same native versions. The Channels, Bundles and Stats screens all show this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReleaseHealth {
    /// Channel name.
    pub channel: String,
    /// The native line (MIN_NATIVE_VERSION; `null`: any native version).
    pub min_native: Option<String>,
    /// The bundle.
    pub version: String,
    /// True for a rollout, false for the line's target.
    pub rollout: bool,
    /// Its attempts and failures on this channel.
    pub current: FailureRate,
    /// The bundle it replaces (the line's target under a rollout, else the previous target).
    pub baseline_version: Option<String>,
    /// The baseline's figures on this channel, counting only native versions the bundle was
    /// attempted on.
    pub baseline: Option<FailureRate>,
    /// The threshold judged against: the plan's, else the guard's (basis points).
    pub threshold_bp: u32,
    /// What the figures say.
    pub verdict: Verdict,
    /// The verdict in words, with the figures.
    pub summary: String,
}

/// What a plan or the guard does when a bundle is failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// Hold the share and stop advancing; devices that have the bundle keep it.
    #[default]
    Pause,
    /// Take the bundle away: a rollout is aborted, a target goes back to the previous bundle.
    Rollback,
}

impl FailureAction {
    /// The stored text, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Pause => "pause",
            FailureAction::Rollback => "rollback",
        }
    }

    /// Reads the stored text.
    pub fn from_text(text: &str) -> Option<FailureAction> {
        match text {
            "pause" => Some(FailureAction::Pause),
            "rollback" => Some(FailureAction::Rollback),
            _ => None,
        }
    }
}

/// Where a rollout plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Advancing when due and healthy.
    Active,
    /// Stopped on a breach (or by hand); the share is held until resumed.
    Paused,
    /// Reached every device: the bundle is the line's target.
    Done,
    /// Rolled back on a breach.
    RolledBack,
    /// Cancelled by hand (the share stays as it was).
    Cancelled,
}

impl PlanStatus {
    /// The stored text, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Active => "active",
            PlanStatus::Paused => "paused",
            PlanStatus::Done => "done",
            PlanStatus::RolledBack => "rolled_back",
            PlanStatus::Cancelled => "cancelled",
        }
    }

    /// Reads the stored text.
    pub fn from_text(text: &str) -> Option<PlanStatus> {
        [PlanStatus::Active, PlanStatus::Paused, PlanStatus::Done, PlanStatus::RolledBack, PlanStatus::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A channel's rollout plan: the shares it steps through, and when it may take the next step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RolloutPlan {
    /// Channel name.
    pub channel: String,
    /// The native line the rollout is on (`null`: any native version).
    pub min_native: Option<String>,
    /// The bundle rolled out.
    pub version: String,
    /// The shares, in basis points, ascending; the last is 10 000 (every device).
    pub steps_bp: Vec<u32>,
    /// Least time on a step before the next, ms.
    pub every_ms: i64,
    /// Least install attempts on the channel before the next step.
    pub min_devices: i64,
    /// Failure threshold, basis points of attempts.
    pub max_failure_bp: u32,
    /// What a breach does.
    pub on_failure: FailureAction,
    /// The step in force (index into `steps_bp`).
    pub step: u32,
    /// When that step began, epoch ms.
    pub step_started_at_ms: i64,
    /// Where the plan is.
    pub status: PlanStatus,
    /// Why it is where it is (the last evaluation that changed something), in words.
    pub reason: Option<String>,
    /// Bumped by every write (optimistic concurrency).
    pub revision: i64,
    /// Who made it.
    pub created_by: String,
    /// When, epoch ms.
    pub created_at_ms: i64,
    /// Last change, epoch ms.
    pub updated_at_ms: i64,
}

impl RolloutPlan {
    /// When the next step is due (while active and a step remains).
    pub fn next_step_at_ms(&self) -> Option<i64> {
        (self.status == PlanStatus::Active && (self.step as usize) + 1 < self.steps_bp.len())
            .then(|| self.step_started_at_ms + self.every_ms)
    }

    /// The share in force, basis points.
    pub fn share_bp(&self) -> u32 {
        self.steps_bp.get(self.step as usize).copied().unwrap_or(0)
    }
}

/// `GET .../channels/{name}/plan` answer: the plan, with when its next step is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanView {
    /// The plan.
    pub plan: RolloutPlan,
    /// When the next step is due (`null`: no further step, or not active).
    pub next_step_at_ms: Option<i64>,
    /// The rollout's health now.
    pub health: Option<ReleaseHealth>,
}

/// `PUT .../channels/{name}/plan` body: roll `version` out step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct CreatePlan {
    /// The bundle. If the channel already rolls it out, the plan takes that rollout over.
    pub version: String,
    /// The shares in percent, ascending, ending at 100 (e.g. `[1, 10, 50, 100]`).
    pub steps: Vec<f64>,
    /// Least time on a step, ms.
    pub every_ms: i64,
    /// Least install attempts before each next step.
    #[serde(default)]
    pub min_devices: i64,
    /// Failure threshold in percent of attempts (e.g. 2).
    pub max_failure_rate: f64,
    /// What a breach does (default `pause`).
    pub on_failure: Option<FailureAction>,
    /// Start even when the version is not newer than what the channel serves (audited).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// Where a scheduled publish is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScheduleStatus {
    /// Waiting for its time.
    Pending,
    /// Published.
    Done,
    /// Refused at its time (the reason is in `outcome`).
    Failed,
    /// Cancelled by hand.
    Cancelled,
}

impl ScheduleStatus {
    /// The stored text, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleStatus::Pending => "pending",
            ScheduleStatus::Done => "done",
            ScheduleStatus::Failed => "failed",
            ScheduleStatus::Cancelled => "cancelled",
        }
    }

    /// Reads the stored text.
    pub fn from_text(text: &str) -> Option<ScheduleStatus> {
        [ScheduleStatus::Pending, ScheduleStatus::Done, ScheduleStatus::Failed, ScheduleStatus::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A publish that happens at a given time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScheduledPublish {
    /// Id.
    pub id: i64,
    /// Channel name.
    pub channel: String,
    /// The bundle (or `builtin`).
    pub version: String,
    /// When, epoch ms.
    pub at_ms: i64,
    /// Where it is.
    pub status: ScheduleStatus,
    /// What happened at its time, in words (why it failed).
    pub outcome: Option<String>,
    /// Who scheduled it.
    pub created_by: String,
    /// When, epoch ms.
    pub created_at_ms: i64,
}

/// `POST .../channels/{name}/schedule` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SchedulePublish {
    /// A bundle version, or `builtin`.
    pub version: String,
    /// When, epoch ms (in the future).
    pub at_ms: i64,
}
