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
/// `$1`-`$11` are the plan's own columns, as in [`UPDATE_PLAN`] (bound by one function).
pub const INSERT_PLAN: &str = "INSERT INTO rollout_plans (min_native, version, steps, every_ms, min_devices, \
     max_failure_bp, on_failure, step, step_started_at_ms, status, reason, channel_id, app_id, created_by, revision, \
     created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $15)";
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

/// `RolloutStore` for a backend, written once: `$backend` the store type, `$database` its sqlx
/// database, `$health_rows` the health counter rows per statement (6 parameters each, under
/// the database's limit). Expanded in each backend's `rollouts` module, whose `super` has the
/// backend's `Tx`, `commit`, `unique_or_backend` and `channels::{insert_history, save_in}`. A
/// macro because sqlx's query types differ per database (as `store::device_search`).
macro_rules! rollout_store {
    ($backend:ty, $database:ty, $health_rows:expr) => {
        use async_trait::async_trait;
        use capstan_core::api::{Channel, DeviceEvent, ScheduledPublish, WebhookEvent};
        use sqlx::QueryBuilder;

        use super::channels::{insert_history, save_in};
        use super::{Tx, commit, unique_or_backend};
        use $crate::store::rollouts::*;
        use $crate::store::rows::convert;
        use $crate::store::webhooks::enqueue_events_in;
        use $crate::store::{StoreError, StoreResult};

        /// Rows per statement: 6 parameters each, under the database's limit.
        const HEALTH_ROWS_PER_STATEMENT: usize = $health_rows;

        /// Adds the batch to the health counters (inside the events' transaction).
        pub(super) async fn add_health_counts(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
            let sums = summed_health(events);
            for chunk in sums.chunks(HEALTH_ROWS_PER_STATEMENT) {
                let mut query: QueryBuilder<$database> = QueryBuilder::new(ADD_HEALTH_COUNTS_HEAD);
                query.push_values(chunk, |mut row, ((app, device, version, native), (attempts, failures))| {
                    row.push_bind(*app)
                        .push_bind(*device)
                        .push_bind(*version)
                        .push_bind(*native)
                        .push_bind(*attempts)
                        .push_bind(*failures);
                });
                query.push(ADD_HEALTH_COUNTS_TAIL);
                query.build().execute(&mut **tx).await.map_err(StoreError::backend)?;
            }
            Ok(())
        }

        /// `sql` ([`INSERT_PLAN`] or [`UPDATE_PLAN`]) with the plan's own columns bound as `$1`-`$11`.
        fn plan_query<'q>(
            sql: &'static str,
            p: &'q capstan_core::api::RolloutPlan,
        ) -> sqlx::query::Query<'q, $database, <$database as sqlx::Database>::Arguments> {
            sqlx::query(sql)
                .bind(&p.min_native)
                .bind(&p.version)
                .bind(steps_json(p))
                .bind(p.every_ms)
                .bind(p.min_devices)
                .bind(i64::from(p.max_failure_bp))
                .bind(p.on_failure.as_str())
                .bind(i64::from(p.step))
                .bind(p.step_started_at_ms)
                .bind(p.status.as_str())
                .bind(&p.reason)
        }

        async fn write_plan(tx: &mut Tx, plan: &PlanWrite, at_ms: i64) -> StoreResult<()> {
            match plan {
                PlanWrite::Create(stored) => {
                    let p = &stored.plan;
                    sqlx::query(DELETE_FINISHED_PLAN)
                        .bind(stored.channel_id)
                        .execute(&mut **tx)
                        .await
                        .map_err(StoreError::backend)?;
                    plan_query(INSERT_PLAN, p)
                        .bind(stored.channel_id)
                        .bind(&stored.app_id)
                        .bind(&p.created_by)
                        .bind(at_ms)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| {
                            unique_or_backend(e, || format!("channel `{}` has an active rollout plan", p.channel))
                        })?;
                }
                PlanWrite::Update(stored) => {
                    let p = &stored.plan;
                    let updated = plan_query(UPDATE_PLAN, p)
                        .bind(at_ms)
                        .bind(stored.channel_id)
                        .bind(p.revision)
                        .execute(&mut **tx)
                        .await
                        .map_err(StoreError::backend)?
                        .rows_affected();
                    if updated == 0 {
                        return Err(StoreError::Conflict(format!(
                            "the rollout plan of channel `{}` changed meanwhile; reload and retry",
                            p.channel
                        )));
                    }
                }
            }
            Ok(())
        }

        #[async_trait]
        impl RolloutStore for $backend {
            async fn health_counts(&self, app_id: &str) -> StoreResult<Vec<ChannelHealthCount>> {
                Ok(health_rows(self.all(sqlx::query_as(HEALTH_COUNTS).bind(app_id)).await?))
            }

            async fn get_plan(&self, channel_id: i64) -> StoreResult<Option<StoredPlan>> {
                let row: Option<PlanRow> = self.one(sqlx::query_as(GET_PLAN).bind(channel_id)).await?;
                row.map(StoredPlan::try_from).transpose()
            }

            async fn active_plans(&self) -> StoreResult<Vec<StoredPlan>> {
                let rows: Vec<PlanRow> = self.all(sqlx::query_as(ACTIVE_PLANS)).await?;
                convert(rows)
            }

            async fn guard_trips(&self, app_id: &str) -> StoreResult<Vec<(i64, String)>> {
                self.all(sqlx::query_as(GUARD_TRIPS).bind(app_id)).await
            }

            async fn insert_schedule(
                &self,
                schedule: &NewSchedule,
                audit: $crate::store::NewAudit,
            ) -> StoreResult<ScheduledPublish> {
                let mut tx = self.begin().await?;
                let id: i64 = sqlx::query_scalar(INSERT_SCHEDULE)
                    .bind(&schedule.app_id)
                    .bind(schedule.channel_id)
                    .bind(&schedule.version)
                    .bind(schedule.at_ms)
                    .bind(&schedule.created_by)
                    .bind(schedule.created_at_ms)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::backend)?;
                let row: ScheduleRow =
                    sqlx::query_as(SCHEDULE_BY_ID).bind(id).fetch_one(&mut *tx).await.map_err(StoreError::backend)?;
                commit(tx, Some(&audit)).await?;
                Ok(StoredSchedule::try_from(row)?.schedule)
            }

            async fn list_schedules(&self, app_id: &str) -> StoreResult<Vec<StoredSchedule>> {
                let rows: Vec<ScheduleRow> = self.all(sqlx::query_as(LIST_SCHEDULES).bind(app_id)).await?;
                convert(rows)
            }

            async fn due_schedules(&self, now_ms: i64) -> StoreResult<Vec<StoredSchedule>> {
                let rows: Vec<ScheduleRow> = self.all(sqlx::query_as(DUE_SCHEDULES).bind(now_ms)).await?;
                convert(rows)
            }

            async fn record_release(&self, write: &ReleaseWrite, events: &[WebhookEvent]) -> StoreResult<Channel> {
                let at_ms = write.audit.at_ms;
                let mut tx = self.begin().await?;
                let channel = match &write.after {
                    Some(after) => save_in(&mut tx, &write.before, after, &write.history, at_ms).await?,
                    None => {
                        for line in &write.history {
                            insert_history(&mut tx, &write.before, &write.before, line, at_ms).await?;
                        }
                        write.before.clone()
                    }
                };
                if let Some(plan) = &write.plan {
                    write_plan(&mut tx, plan, at_ms).await?;
                }
                if let Some(trip) = &write.guard_trip {
                    sqlx::query(INSERT_GUARD_TRIP)
                        .bind(write.before.id)
                        .bind(&trip.version)
                        .bind(&trip.min_native)
                        .bind(trip.action.as_str())
                        .bind(&trip.reason)
                        .bind(at_ms)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| unique_or_backend(e, || format!("the guard already acted on {}", trip.version)))?;
                }
                if let Some(schedule) = &write.schedule {
                    let updated = sqlx::query(FINISH_SCHEDULE)
                        .bind(schedule.status.as_str())
                        .bind(&schedule.outcome)
                        .bind(schedule.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::backend)?
                        .rows_affected();
                    if updated == 0 {
                        return Err(StoreError::Conflict(format!(
                            "scheduled publish {} is no longer pending",
                            schedule.id
                        )));
                    }
                }
                enqueue_events_in!(&mut tx, events, at_ms).await?;
                commit(tx, Some(&write.audit)).await?;
                Ok(channel)
            }
        }
    };
}
pub(crate) use rollout_store;
