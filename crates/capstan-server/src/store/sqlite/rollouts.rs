//! Release safety on SQLite (the SQL is shared: `store::rollouts`).

use async_trait::async_trait;
use capstan_core::api::{Channel, DeviceEvent, ScheduledPublish, WebhookEvent};
use sqlx::{QueryBuilder, Sqlite};

use super::channels::{insert_history, save_in};
use super::{SqliteDatabase, Tx, commit, unique_or_backend};
use crate::store::rollouts::*;
use crate::store::rows::convert;
use crate::store::webhooks::enqueue_events_in;
use crate::store::{StoreError, StoreResult};

/// 6 columns × 4000 stays under SQLite's 32 766 parameters.
const HEALTH_ROWS_PER_STATEMENT: usize = 4000;

/// Adds the batch to the health counters (inside the events' transaction).
pub(super) async fn add_health_counts(tx: &mut Tx, events: &[DeviceEvent]) -> StoreResult<()> {
    let sums = summed_health(events);
    for chunk in sums.chunks(HEALTH_ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(ADD_HEALTH_COUNTS_HEAD);
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

async fn write_plan(tx: &mut Tx, plan: &PlanWrite, at_ms: i64) -> StoreResult<()> {
    match plan {
        PlanWrite::Create(stored) => {
            let p = &stored.plan;
            sqlx::query(DELETE_FINISHED_PLAN)
                .bind(stored.channel_id)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::backend)?;
            sqlx::query(INSERT_PLAN)
                .bind(stored.channel_id)
                .bind(&stored.app_id)
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
                .bind(&p.created_by)
                .bind(at_ms)
                .execute(&mut **tx)
                .await
                .map_err(|e| unique_or_backend(e, || format!("channel `{}` has an active rollout plan", p.channel)))?;
        }
        PlanWrite::Update(stored) => {
            let p = &stored.plan;
            let updated = sqlx::query(UPDATE_PLAN)
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
impl RolloutStore for SqliteDatabase {
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
        audit: crate::store::NewAudit,
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
                return Err(StoreError::Conflict(format!("scheduled publish {} is no longer pending", schedule.id)));
            }
        }
        enqueue_events_in!(&mut tx, events, at_ms).await?;
        commit(tx, Some(&write.audit)).await?;
        Ok(channel)
    }
}
