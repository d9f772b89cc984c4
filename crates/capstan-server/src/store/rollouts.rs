//! Release safety in the database: health counters per channel, rollout plans, the guard's
//! memory and scheduled publishes; and [`ReleaseWrite`], the one transaction in which the
//! server changes a channel by itself (with its plan, its history line and its audit entry).
//!
//! The SQL here runs unchanged on SQLite and PostgreSQL; each backend's `rollouts.rs` runs it.

use async_trait::async_trait;
use capstan_core::api::{
    Channel, FailureAction, PlanStatus, RolloutPlan, ScheduleStatus, ScheduledPublish, WebhookEvent,
};
use capstan_core::rollout::{HealthCount, health_delta};

use super::rows::bad;
use super::{NewAudit, NewHistory, StoreError, StoreResult};

/// A plan as stored: the plan, and the keys the API does not show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    /// The channel's id.
    pub channel_id: i64,
    /// The app.
    pub app_id: String,
    /// The plan.
    pub plan: RolloutPlan,
}

/// A scheduled publish as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchedule {
    /// The app.
    pub app_id: String,
    /// The channel's id.
    pub channel_id: i64,
    /// The schedule.
    pub schedule: ScheduledPublish,
}

/// A new scheduled publish.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// The app.
    pub app_id: String,
    /// The channel's id.
    pub channel_id: i64,
    /// Bundle version or `builtin`.
    pub version: String,
    /// When.
    pub at_ms: i64,
    /// Who.
    pub created_by: String,
    /// Now.
    pub created_at_ms: i64,
}

/// One channel's counter row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelHealthCount {
    /// Channel name ('' when the device's channel was unknown).
    pub channel: String,
    /// The counts.
    pub count: HealthCount,
}

/// What to do with a channel's plan in a [`ReleaseWrite`].
#[derive(Debug, Clone)]
pub enum PlanWrite {
    /// A new plan (replaces a finished, paused or cancelled one; `Conflict` over an active one).
    Create(StoredPlan),
    /// Saves the plan if it is still at `plan.revision` (else `Conflict`: someone else acted).
    Update(StoredPlan),
}

/// Marks a scheduled publish as done, failed or cancelled (only while pending: `Conflict`
/// otherwise, so it happens once).
#[derive(Debug, Clone)]
pub struct ScheduleWrite {
    /// Its id.
    pub id: i64,
    /// The new status.
    pub status: ScheduleStatus,
    /// What happened, in words.
    pub outcome: Option<String>,
}

/// The guard acted on `version` of a channel (once per bundle and channel: `Conflict` if it
/// already has).
#[derive(Debug, Clone)]
pub struct GuardTrip {
    /// The bundle.
    pub version: String,
    /// Its line.
    pub min_native: Option<String>,
    /// What the guard did.
    pub action: FailureAction,
    /// Why.
    pub reason: String,
}

/// Everything one release event writes, in one transaction: the channel change (through the
/// same save as people's changes, so it bumps the app's configuration revision), its history
/// lines with their reason, the plan, the guard's memory, the schedule and the audit entry.
#[derive(Debug, Clone)]
pub struct ReleaseWrite {
    /// The channel as read.
    pub before: Channel,
    /// The channel to save (`None`: what it serves does not change).
    pub after: Option<Channel>,
    /// History lines.
    pub history: Vec<NewHistory>,
    /// The plan.
    pub plan: Option<PlanWrite>,
    /// The guard's memory.
    pub guard_trip: Option<GuardTrip>,
    /// A schedule.
    pub schedule: Option<ScheduleWrite>,
    /// The audit entry.
    pub audit: NewAudit,
}

/// Release safety's storage.
#[async_trait]
pub trait RolloutStore: Send + Sync {
    /// Every health counter row of the app.
    async fn health_counts(&self, app_id: &str) -> StoreResult<Vec<ChannelHealthCount>>;
    /// The channel's plan (the latest), if it has one.
    async fn get_plan(&self, channel_id: i64) -> StoreResult<Option<StoredPlan>>;
    /// Every active plan of every app.
    async fn active_plans(&self) -> StoreResult<Vec<StoredPlan>>;
    /// The (channel id, version) pairs the guard has acted on, for the app.
    async fn guard_trips(&self, app_id: &str) -> StoreResult<Vec<(i64, String)>>;
    /// Schedules a publish.
    async fn insert_schedule(&self, schedule: &NewSchedule, audit: NewAudit) -> StoreResult<ScheduledPublish>;
    /// The app's scheduled publishes (every status), soonest first.
    async fn list_schedules(&self, app_id: &str) -> StoreResult<Vec<StoredSchedule>>;
    /// Pending publishes due at `now_ms`, every app, oldest first.
    async fn due_schedules(&self, now_ms: i64) -> StoreResult<Vec<StoredSchedule>>;
    /// Writes a release event in one transaction, with `events` queued for the app's webhooks;
    /// answers the channel as saved (or as read).
    async fn record_release(&self, write: &ReleaseWrite, events: &[WebhookEvent]) -> StoreResult<Channel>;
}

// Health counters.

/// Adds a batch of devices' (attempts, failures) to the counters of the channel each device
/// was last answered from: [`ADD_HEALTH_COUNTS_HEAD`], the rows (`push_values`: app, device,
/// version, native version, attempts, failures), [`ADD_HEALTH_COUNTS_TAIL`]. Rows are summed per
/// key (PostgreSQL refuses a key twice in one upsert) and written in key order (replicas lock
/// rows in the same order); versions that are not bundles of the app are not counted.
pub const ADD_HEALTH_COUNTS_HEAD: &str = "INSERT INTO health_counts (app_id, channel, version_name, native_version, \
     attempts, failures) SELECT b.app_id, COALESCE(d.channel, ''), b.version_name, b.native_version, SUM(b.attempts), \
     SUM(b.failures) FROM (SELECT column1 AS app_id, column2 AS device_id, column3 AS version_name, \
     column4 AS native_version, column5 AS attempts, column6 AS failures FROM (";
/// See [`ADD_HEALTH_COUNTS_HEAD`].
pub const ADD_HEALTH_COUNTS_TAIL: &str = ") AS v) AS b LEFT JOIN devices d ON d.app_id = b.app_id AND d.device_id = b.device_id \
     WHERE EXISTS (SELECT 1 FROM bundles WHERE bundles.app_id = b.app_id AND bundles.version = b.version_name) \
     GROUP BY b.app_id, COALESCE(d.channel, ''), b.version_name, b.native_version ORDER BY 1, 2, 3, 4 \
     ON CONFLICT (app_id, channel, version_name, native_version) DO UPDATE SET \
     attempts = health_counts.attempts + excluded.attempts, failures = health_counts.failures + excluded.failures";
pub const HEALTH_COUNTS: &str = "SELECT channel, version_name, native_version, attempts, failures FROM health_counts \
     WHERE app_id = $1 ORDER BY channel, version_name, native_version";

/// A health counter key per device: (app, device, version, native version).
pub type HealthKey<'a> = (&'a str, &'a str, &'a str, &'a str);

/// The batch's install attempts and failures per device and bundle, in key order (events that
/// are not about installing are left out).
pub fn summed_health(events: &[capstan_core::api::DeviceEvent]) -> Vec<(HealthKey<'_>, (i64, i64))> {
    let mut sums: std::collections::BTreeMap<HealthKey<'_>, (i64, i64)> = std::collections::BTreeMap::new();
    for e in events {
        if let Some((attempts, failures)) = health_delta(&e.action) {
            let sum = sums.entry((&e.app_id, &e.device_id, &e.version_name, &e.native_version)).or_default();
            sum.0 += attempts;
            sum.1 += failures;
        }
    }
    sums.into_iter().collect()
}

// Plans.

pub const PLAN_SELECT: &str =
    "SELECT p.*, c.name AS channel FROM rollout_plans p JOIN channels c ON c.id = p.channel_id";
pub const GET_PLAN: &str = "SELECT p.*, c.name AS channel FROM rollout_plans p JOIN channels c ON c.id = p.channel_id \
     WHERE p.channel_id = $1";
pub const ACTIVE_PLANS: &str = "SELECT p.*, c.name AS channel FROM rollout_plans p JOIN channels c ON c.id = p.channel_id \
     WHERE p.status = 'active' ORDER BY p.app_id, p.channel_id";
pub const DELETE_FINISHED_PLAN: &str = "DELETE FROM rollout_plans WHERE channel_id = $1 AND status <> 'active'";
pub const INSERT_PLAN: &str = "INSERT INTO rollout_plans (channel_id, app_id, min_native, version, steps, every_ms, \
     min_devices, max_failure_bp, on_failure, step, step_started_at_ms, status, reason, revision, created_by, \
     created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $15, $15)";
/// The revision in the WHERE clause: no row means another replica or person changed the plan.
pub const UPDATE_PLAN: &str = "UPDATE rollout_plans SET min_native = $1, version = $2, steps = $3, every_ms = $4, \
     min_devices = $5, max_failure_bp = $6, on_failure = $7, step = $8, step_started_at_ms = $9, status = $10, \
     reason = $11, revision = revision + 1, updated_at_ms = $12 WHERE channel_id = $13 AND revision = $14";

// The guard.

pub const GUARD_TRIPS: &str = "SELECT g.channel_id, g.version FROM guard_trips g JOIN channels c ON c.id = g.channel_id \
     WHERE c.app_id = $1";
pub const INSERT_GUARD_TRIP: &str =
    "INSERT INTO guard_trips (channel_id, version, min_native, action, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6)";

// Schedules.

pub const INSERT_SCHEDULE: &str = "INSERT INTO scheduled_publishes (app_id, channel_id, version, at_ms, status, \
     created_by, created_at_ms) VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING id";
pub const SCHEDULE_BY_ID: &str = "SELECT s.*, c.name AS channel FROM scheduled_publishes s \
     JOIN channels c ON c.id = s.channel_id WHERE s.id = $1";
pub const LIST_SCHEDULES: &str = "SELECT s.*, c.name AS channel FROM scheduled_publishes s \
     JOIN channels c ON c.id = s.channel_id WHERE s.app_id = $1 ORDER BY s.at_ms, s.id";
pub const DUE_SCHEDULES: &str = "SELECT s.*, c.name AS channel FROM scheduled_publishes s \
     JOIN channels c ON c.id = s.channel_id WHERE s.status = 'pending' AND s.at_ms <= $1 ORDER BY s.at_ms, s.id LIMIT 100";
/// Only a pending schedule changes: no row means it already ran or was cancelled.
pub const FINISH_SCHEDULE: &str =
    "UPDATE scheduled_publishes SET status = $1, outcome = $2 WHERE id = $3 AND status = 'pending'";

/// A `rollout_plans` row joined with its channel's name.
#[derive(Debug, sqlx::FromRow)]
pub struct PlanRow {
    channel_id: i64,
    app_id: String,
    channel: String,
    min_native: Option<String>,
    version: String,
    steps: String,
    every_ms: i64,
    min_devices: i64,
    max_failure_bp: i64,
    on_failure: String,
    step: i64,
    step_started_at_ms: i64,
    status: String,
    reason: Option<String>,
    revision: i64,
    created_by: String,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl TryFrom<PlanRow> for StoredPlan {
    type Error = StoreError;
    fn try_from(row: PlanRow) -> StoreResult<StoredPlan> {
        let steps_bp: Vec<u32> = serde_json::from_str(&row.steps).map_err(|e| bad("rollout_plans", "steps", e))?;
        let on_failure = FailureAction::from_text(&row.on_failure)
            .ok_or_else(|| bad("rollout_plans", "on_failure", unknown(&row.on_failure)))?;
        let status =
            PlanStatus::from_text(&row.status).ok_or_else(|| bad("rollout_plans", "status", unknown(&row.status)))?;
        let number =
            |column: &'static str, value: i64| u32::try_from(value).map_err(|e| bad("rollout_plans", column, e));
        Ok(StoredPlan {
            channel_id: row.channel_id,
            app_id: row.app_id,
            plan: RolloutPlan {
                channel: row.channel,
                min_native: row.min_native,
                version: row.version,
                steps_bp,
                every_ms: row.every_ms,
                min_devices: row.min_devices,
                max_failure_bp: number("max_failure_bp", row.max_failure_bp)?,
                on_failure,
                step: number("step", row.step)?,
                step_started_at_ms: row.step_started_at_ms,
                status,
                reason: row.reason,
                revision: row.revision,
                created_by: row.created_by,
                created_at_ms: row.created_at_ms,
                updated_at_ms: row.updated_at_ms,
            },
        })
    }
}

/// A `scheduled_publishes` row joined with its channel's name.
#[derive(Debug, sqlx::FromRow)]
pub struct ScheduleRow {
    id: i64,
    app_id: String,
    channel_id: i64,
    channel: String,
    version: String,
    at_ms: i64,
    status: String,
    outcome: Option<String>,
    created_by: String,
    created_at_ms: i64,
}

impl TryFrom<ScheduleRow> for StoredSchedule {
    type Error = StoreError;
    fn try_from(row: ScheduleRow) -> StoreResult<StoredSchedule> {
        let status = ScheduleStatus::from_text(&row.status)
            .ok_or_else(|| bad("scheduled_publishes", "status", unknown(&row.status)))?;
        Ok(StoredSchedule {
            app_id: row.app_id,
            channel_id: row.channel_id,
            schedule: ScheduledPublish {
                id: row.id,
                channel: row.channel,
                version: row.version,
                at_ms: row.at_ms,
                status,
                outcome: row.outcome,
                created_by: row.created_by,
                created_at_ms: row.created_at_ms,
            },
        })
    }
}

fn unknown(text: &str) -> std::io::Error {
    std::io::Error::other(format!("unknown value `{text}`"))
}

/// Counter rows as the API reads them.
pub fn health_rows(rows: Vec<(String, String, String, i64, i64)>) -> Vec<ChannelHealthCount> {
    rows.into_iter()
        .map(|(channel, version, native_version, attempts, failures)| ChannelHealthCount {
            channel,
            count: HealthCount { version, native_version, attempts, failures },
        })
        .collect()
}

/// The bind values of a plan for [`INSERT_PLAN`] and [`UPDATE_PLAN`]: steps as JSON.
pub fn steps_json(plan: &RolloutPlan) -> String {
    super::rows::to_json(&plan.steps_bp)
}
