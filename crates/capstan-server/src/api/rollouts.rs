//! Release safety routes: a channel's health, its rollout plan (create, show, pause, resume,
//! cancel) and scheduled publishes. The plan's steps are taken by the release safety job
//! (`crate::rollouts`); these routes only start, stop and show it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use capstan_core::api::{
    BUILTIN, Channel, CreatePlan, HistoryAction, PlanStatus, PlanView, ReleaseHealth, RolloutPlan, SchedulePublish,
    ScheduleStatus, ScheduledPublish,
};
use capstan_core::release::{LineChoice, ReleaseCommand};
use capstan_core::rollout::{percent_text, plan_steps, threshold_bp};
use capstan_core::version::RolloutShare;

use super::ApiJson;
use super::channels::{line_of, load, prepare};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::rollouts::{announce, app_health, audit_only_write, change_write, note_write, plan_health, updated};
use crate::store::NewAudit;
use crate::store::rollouts::{NewSchedule, PlanWrite, ReleaseWrite, ScheduleWrite, StoredPlan};

fn audit_entry(
    state: &AppState,
    caller: &Caller,
    channel: &Channel,
    action: &str,
    after: serde_json::Value,
) -> NewAudit {
    NewAudit {
        actor: caller.actor(),
        app_id: Some(channel.app_id.clone()),
        action: action.to_owned(),
        subject: channel.name.clone(),
        before: None,
        after: Some(after),
        at_ms: state.now_ms(),
    }
}

async fn view(state: &AppState, channel: &Channel, stored: StoredPlan) -> Result<PlanView, AppError> {
    let counts = state.db().health_counts(&channel.app_id).await?;
    let health = plan_health(channel, &stored.plan, &counts);
    Ok(PlanView { next_step_at_ms: stored.plan.next_step_at_ms(), plan: stored.plan, health })
}

async fn load_plan(state: &AppState, channel: &Channel) -> Result<StoredPlan, AppError> {
    state
        .db()
        .get_plan(channel.id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("rollout plan of channel `{}`", channel.name)))
}

/// Records a plan change made by hand (pause, resume, cancel) and answers the plan as saved.
async fn saved_plan(state: &AppState, channel: &Channel, write: ReleaseWrite) -> Result<Json<PlanView>, AppError> {
    announce(state, write).await?;
    Ok(Json(view(state, channel, load_plan(state, channel).await?).await?))
}

/// The health of what a channel serves.
pub async fn health(
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<Vec<ReleaseHealth>>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    Ok(Json(app_health(&state, &app_id, std::slice::from_ref(&channel)).await?))
}

/// A channel's rollout plan (the latest, whatever its status).
pub async fn show_plan(
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<PlanView>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    let stored = load_plan(&state, &channel).await?;
    Ok(Json(view(&state, &channel, stored).await?))
}

fn plan_summary(plan: &RolloutPlan) -> String {
    let steps: Vec<String> = plan.steps_bp.iter().map(|&bp| percent_text(f64::from(bp) / 10_000.0)).collect();
    format!(
        "rollout plan for {}: {} every {} min, at least {} attempts per step, failing over {} → {}",
        plan.version,
        steps.join(", "),
        plan.every_ms / 60_000,
        plan.min_devices,
        percent_text(f64::from(plan.max_failure_bp) / 10_000.0),
        plan.on_failure.as_str()
    )
}

/// Starts a plan: rolls the bundle out to the first step (or takes over the channel's rollout
/// of it, at the largest step its share has reached).
pub async fn create_plan(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreatePlan>,
) -> Result<(StatusCode, Json<PlanView>), AppError> {
    let steps_bp = plan_steps(&body.steps).map_err(|e| AppError::bad_request("invalid_plan", e))?;
    let max_failure_bp = threshold_bp(body.max_failure_rate).map_err(|e| AppError::bad_request("invalid_plan", e))?;
    if body.every_ms < 0 {
        return Err(AppError::bad_request("invalid_plan", "the wait between steps cannot be negative"));
    }
    if body.min_devices < 0 {
        return Err(AppError::bad_request("invalid_plan", "the least number of devices cannot be negative"));
    }
    let before = load(&state, &app_id, &name).await?;
    if let Some(existing) = state.db().get_plan(before.id).await?
        && existing.plan.status == PlanStatus::Active
    {
        return Err(AppError::Conflict(format!(
            "channel `{name}` already has an active rollout plan for {}; cancel it first",
            existing.plan.version
        )));
    }
    let version = body.version.trim().to_owned();
    if version == BUILTIN {
        return Err(AppError::bad_request("invalid_plan", "a plan rolls out a bundle, not the store build"));
    }
    let min_native = line_of(&state, &app_id, &version).await?;
    let now = state.now_ms();
    let (step, command) = first_step(&before, &steps_bp, &version, min_native.clone(), body.force);
    let plan = RolloutPlan {
        channel: before.name.clone(),
        min_native: min_native.clone(),
        version,
        steps_bp,
        every_ms: body.every_ms,
        min_devices: body.min_devices,
        max_failure_bp,
        on_failure: body.on_failure.unwrap_or_default(),
        step: step as u32,
        step_started_at_ms: now,
        status: PlanStatus::Active,
        reason: None,
        revision: 1,
        created_by: caller.actor(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    let reason = plan_summary(&plan);
    let mut write = match command {
        Some(command) => {
            let prepared = prepare(&state, &before, command, false).await?;
            change_write(&state, &before, prepared, &caller.actor(), &reason)
        }
        None => ReleaseWrite {
            before: before.clone(),
            after: None,
            history: Vec::new(),
            plan: None,
            guard_trip: None,
            schedule: None,
            audit: audit_entry(&state, &caller, &before, "rollout_plan.create", serde_json::json!({})),
        },
    };
    write.audit.actor = caller.actor();
    write.audit.action = "rollout_plan.create".into();
    write.audit.after = serde_json::to_value(&plan).ok();
    write.plan = Some(PlanWrite::Create(StoredPlan { channel_id: before.id, app_id: app_id.clone(), plan }));
    let saved = announce(&state, write).await?;
    let stored = load_plan(&state, &saved).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &saved, stored).await?)))
}

/// The step a new plan of `version` starts at on `channel`, and the release change that sets its
/// share: the first step, or, when the channel already rolls `version` out on its line, the
/// largest step that share has reached (no change when it is exactly a step). The fleet preview
/// of a plan calls this too.
pub(crate) fn first_step(
    channel: &Channel,
    steps_bp: &[u32],
    version: &str,
    min_native: Option<String>,
    force: bool,
) -> (usize, Option<ReleaseCommand>) {
    let current = channel.lane(min_native.as_deref()).and_then(|l| l.rollout.as_ref()).filter(|r| r.version == version);
    match current {
        Some(rollout) => {
            let step = steps_bp.iter().rposition(|&bp| bp <= rollout.share_bp).unwrap_or(0);
            let command = (steps_bp[step] != rollout.share_bp).then(|| ReleaseCommand::ChangeRollout {
                line: LineChoice::Named(min_native),
                share: RolloutShare::from_basis_points(steps_bp[step]).expect("checked steps"),
            });
            (step, command)
        }
        None => {
            let share = RolloutShare::from_basis_points(steps_bp[0]).expect("checked steps");
            (0, Some(ReleaseCommand::StartRollout { version: version.to_owned(), min_native, share, force }))
        }
    }
}

/// Pauses an active plan by hand: the share stays, no step is taken until it is resumed.
pub async fn pause_plan(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<PlanView>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    let stored = load_plan(&state, &channel).await?;
    if stored.plan.status != PlanStatus::Active {
        return Err(AppError::Conflict(format!("the plan is {}, not active", stored.plan.status.as_str())));
    }
    let reason = format!("paused by {}", caller.actor());
    let min_native = stored.plan.min_native.clone();
    let mut write = note_write(
        &state,
        &channel,
        HistoryAction::RolloutPause,
        min_native,
        &caller.actor(),
        "rollout_plan.pause",
        &reason,
    );
    write.plan = Some(updated(&stored, PlanStatus::Paused, &reason, None));
    saved_plan(&state, &channel, write).await
}

/// Resumes a paused plan: its wait starts again from now, at the share it held.
pub async fn resume_plan(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<PlanView>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    let stored = load_plan(&state, &channel).await?;
    if stored.plan.status != PlanStatus::Paused {
        return Err(AppError::Conflict(format!("the plan is {}, not paused", stored.plan.status.as_str())));
    }
    let rolling = channel
        .lane(stored.plan.min_native.as_deref())
        .and_then(|l| l.rollout.as_ref())
        .is_some_and(|r| r.version == stored.plan.version);
    if !rolling {
        return Err(AppError::Conflict(format!(
            "channel `{name}` no longer rolls {} out; start a new plan",
            stored.plan.version
        )));
    }
    let reason = format!("resumed by {}", caller.actor());
    let min_native = stored.plan.min_native.clone();
    let mut write = note_write(
        &state,
        &channel,
        HistoryAction::RolloutResume,
        min_native,
        &caller.actor(),
        "rollout_plan.resume",
        &reason,
    );
    write.plan = Some(updated(&stored, PlanStatus::Active, &reason, Some((stored.plan.step, state.now_ms()))));
    saved_plan(&state, &channel, write).await
}

/// Cancels a plan (active or paused): the rollout stays at its share, under manual control.
pub async fn cancel_plan(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
) -> Result<Json<PlanView>, AppError> {
    let channel = load(&state, &app_id, &name).await?;
    let stored = load_plan(&state, &channel).await?;
    if !matches!(stored.plan.status, PlanStatus::Active | PlanStatus::Paused) {
        return Err(AppError::Conflict(format!("the plan is already {}", stored.plan.status.as_str())));
    }
    let reason = format!("cancelled by {}", caller.actor());
    // Cancelling leaves the rollout where it is: nothing for the channel's history.
    let mut write = audit_only_write(&state, &channel, &caller.actor(), "rollout_plan.cancel", &reason);
    write.plan = Some(updated(&stored, PlanStatus::Cancelled, &reason, None));
    saved_plan(&state, &channel, write).await
}

/// The app's scheduled publishes, soonest first.
pub async fn list_schedules(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<Json<Vec<ScheduledPublish>>, AppError> {
    super::require_app(&state, &app_id).await?;
    Ok(Json(state.db().list_schedules(&app_id).await?.into_iter().map(|s| s.schedule).collect()))
}

/// Schedules a publish of a bundle (or the store build) to a channel.
pub async fn schedule(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<SchedulePublish>,
) -> Result<(StatusCode, Json<ScheduledPublish>), AppError> {
    let channel = load(&state, &app_id, &name).await?;
    let version = body.version.trim().to_owned();
    if version != BUILTIN {
        line_of(&state, &app_id, &version).await?;
    }
    let now = state.now_ms();
    if body.at_ms <= now {
        return Err(AppError::bad_request("invalid_time", "a scheduled publish must be in the future"));
    }
    let new = NewSchedule {
        app_id: app_id.clone(),
        channel_id: channel.id,
        version,
        at_ms: body.at_ms,
        created_by: caller.actor(),
        created_at_ms: now,
    };
    let entry = audit_entry(
        &state,
        &caller,
        &channel,
        "schedule.create",
        serde_json::json!({ "version": new.version, "at_ms": new.at_ms }),
    );
    let created = state.db().insert_schedule(&new, entry).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Cancels a pending scheduled publish.
pub async fn cancel_schedule(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, id)): Path<(String, i64)>,
) -> Result<Json<ScheduledPublish>, AppError> {
    let found = state
        .db()
        .list_schedules(&app_id)
        .await?
        .into_iter()
        .find(|s| s.schedule.id == id)
        .ok_or_else(|| AppError::NotFound(format!("scheduled publish {id}")))?;
    if found.schedule.status != ScheduleStatus::Pending {
        return Err(AppError::Conflict(format!("scheduled publish {id} is {}", found.schedule.status.as_str())));
    }
    let channel = load(&state, &app_id, &found.schedule.channel).await?;
    let outcome = format!("cancelled by {}", caller.actor());
    let write = ReleaseWrite {
        before: channel.clone(),
        after: None,
        history: Vec::new(),
        plan: None,
        guard_trip: None,
        schedule: Some(ScheduleWrite { id, status: ScheduleStatus::Cancelled, outcome: Some(outcome.clone()) }),
        audit: audit_entry(
            &state,
            &caller,
            &channel,
            "schedule.cancel",
            serde_json::json!({ "id": id, "version": found.schedule.version }),
        ),
    };
    state.db().record_release(&write, &[]).await?;
    let mut schedule = found.schedule;
    schedule.status = ScheduleStatus::Cancelled;
    schedule.outcome = Some(outcome);
    Ok(Json(schedule))
}
