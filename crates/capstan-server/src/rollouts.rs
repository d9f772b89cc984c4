//! Release safety on the server: the health of what channels serve, the job that advances
//! rollout plans, runs the channel guard and makes scheduled publishes, and [`announce`], the
//! one place where the server records a release event (history with its reason, audit log).
//!
//! The decisions are `capstan_core::rollout`'s pure functions; changes to channels are
//! computed by the same `release::apply` (through [`crate::api::channels::prepare`]) and saved
//! through the same store path as people's changes, so replicas reload them alike. The job runs
//! under a database lease (one replica acts), and every write names the revisions it read
//! (channel and plan), so even a replica whose lease expired mid-run cannot act twice.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use capstan_core::api::{
    Channel, FailureAction, HistoryAction, PlanStatus, ReleaseHealth, RolloutPlan, ScheduleStatus, Verdict,
    WebhookEvent, WebhookEventKind,
};
use capstan_core::release::{self, LineChoice, ReleaseCommand};
use capstan_core::rollout::{HealthCount, PlanDecision, Served, evaluate_plan, release_health};
use capstan_core::version::RolloutShare;

use crate::AppState;
use crate::api::channels::{Prepared, prepare};
use crate::error::AppError;
use crate::jobs::{Job, JobError};
use crate::store::rollouts::{
    ChannelHealthCount, GuardTrip, PlanWrite, ReleaseWrite, ScheduleWrite, StoredPlan, StoredSchedule,
};
use crate::store::{NewAudit, NewHistory, StoreError};

/// History lines read to find a target's previous bundle (its baseline).
const HISTORY_FOR_BASELINE: u32 = 200;

/// Who the server is in history and audit entries when a plan acts.
pub const PLAN_ACTOR: &str = "capstan (rollout plan)";
/// Who the server is when the guard acts.
pub const GUARD_ACTOR: &str = "capstan (guard)";

/// Records a release event: the channel change (if any), its history lines with their reason,
/// the plan, guard and schedule state and the audit entry, in one transaction; then refreshes
/// this replica's device cache (other replicas see the new configuration revision). Every
/// "something happened to a rollout" goes through here, and so do its webhook events.
pub async fn announce(state: &AppState, write: ReleaseWrite) -> Result<Channel, StoreError> {
    let app_id = write.before.app_id.clone();
    let event = write.audit.action.clone();
    let reason = write.history.iter().find_map(|h| h.reason.clone());
    let events = webhook_events(state, &write, reason.clone());
    let saved = state.db().record_release(&write, &events).await?;
    state.cache().invalidate(&app_id);
    tracing::info!(app = %app_id, channel = %saved.name, %event, reason = reason.as_deref().unwrap_or(""), "release event");
    Ok(saved)
}

/// The webhook events of a release event, queued in its transaction: the channel change's own
/// (publish, rollout step, rollback), then `guard` when the guard acted, or `rollout.paused`
/// when a plan paused.
fn webhook_events(state: &AppState, write: &ReleaseWrite, reason: Option<String>) -> Vec<WebhookEvent> {
    let actor = crate::webhooks::SERVER_ACTOR;
    let steps: Vec<release::Step> =
        write.history.iter().map(|h| release::Step { action: h.action, min_native: h.min_native.clone() }).collect();
    let mut events = match &write.after {
        Some(after) => crate::webhooks::channel_events(state, &write.before, after, &steps, actor),
        None => Vec::new(),
    };
    let channel = &write.before;
    let extra = |kind, min_native: Option<String>, version: &str, reason: String| {
        let mut event = crate::webhooks::event(state, kind, &channel.app_id, actor);
        event.channel = Some(channel.name.clone());
        event.min_native = min_native;
        event.version = Some(version.to_owned());
        event.reason = Some(reason);
        event
    };
    if let Some(trip) = &write.guard_trip {
        events.push(extra(WebhookEventKind::Guard, trip.min_native.clone(), &trip.version, trip.reason.clone()));
    } else if let Some(PlanWrite::Update(stored) | PlanWrite::Create(stored)) = &write.plan
        && stored.plan.status == PlanStatus::Paused
    {
        let why = stored.plan.reason.clone().or(reason).unwrap_or_default();
        events.push(extra(WebhookEventKind::RolloutPaused, stored.plan.min_native.clone(), &stored.plan.version, why));
    }
    events
}

/// The counters of one channel.
fn rows_of(counts: &[ChannelHealthCount], channel: &str) -> Vec<HealthCount> {
    counts.iter().filter(|c| c.channel == channel).map(|c| c.count.clone()).collect()
}

/// The health of every bundle `channel` serves, line by line: a rollout against the line's
/// target, a target against the line's previous target. `threshold` gives the basis points to
/// judge (line, version) against.
pub async fn channel_health(
    state: &AppState,
    channel: &Channel,
    counts: &[ChannelHealthCount],
    threshold: impl Fn(Option<&str>, &str) -> u32,
) -> Result<Vec<ReleaseHealth>, StoreError> {
    let rows = rows_of(counts, &channel.name);
    let mut history = None;
    let mut out = Vec::new();
    for lane in &channel.lanes {
        let min_native = lane.min_native.as_deref();
        if let Some(rollout) = &lane.rollout {
            let served = Served {
                channel: &channel.name,
                min_native,
                version: &rollout.version,
                rollout: true,
                baseline: lane.target_bundle(),
            };
            out.push(release_health(served, &rows, threshold(min_native, &rollout.version)));
        }
        if let Some(target) = lane.target_bundle() {
            if history.is_none() {
                history = Some(state.db().channel_history(channel.id, HISTORY_FOR_BASELINE).await?);
            }
            let previous =
                release::previous_target(min_native, lane.target.as_ref(), history.as_deref().unwrap_or(&[]));
            let baseline = previous.as_ref().and_then(|t| t.bundle());
            let served = Served { channel: &channel.name, min_native, version: target, rollout: false, baseline };
            out.push(release_health(served, &rows, threshold(min_native, target)));
        }
    }
    Ok(out)
}

/// The health of everything the app's channels serve, judged against each channel's plan (for
/// its rollout) or guard threshold: what the Stats and Bundles screens show.
pub async fn app_health(
    state: &AppState,
    app_id: &str,
    channels: &[Channel],
) -> Result<Vec<ReleaseHealth>, StoreError> {
    let counts = state.db().health_counts(app_id).await?;
    let mut out = Vec::new();
    for channel in channels {
        let plan = state.db().get_plan(channel.id).await?.filter(|p| p.plan.status == PlanStatus::Active);
        let guard = channel.settings.guard_threshold_bp;
        let threshold = |min_native: Option<&str>, version: &str| match &plan {
            Some(p) if p.plan.version == version && p.plan.min_native.as_deref() == min_native => p.plan.max_failure_bp,
            _ => guard,
        };
        out.extend(channel_health(state, channel, &counts, threshold).await?);
    }
    Ok(out)
}

/// The health of a plan's rollout, against the plan's threshold (None when the channel no
/// longer rolls the plan's bundle out).
pub fn plan_health(channel: &Channel, plan: &RolloutPlan, counts: &[ChannelHealthCount]) -> Option<ReleaseHealth> {
    let lane = channel.lane(plan.min_native.as_deref())?;
    let rollout = lane.rollout.as_ref().filter(|r| r.version == plan.version)?;
    let served = Served {
        channel: &channel.name,
        min_native: plan.min_native.as_deref(),
        version: &rollout.version,
        rollout: true,
        baseline: lane.target_bundle(),
    };
    Some(release_health(served, &rows_of(counts, &channel.name), plan.max_failure_bp))
}

pub(crate) fn history_lines(change: &release::Change, actor: &str, reason: &str) -> Vec<NewHistory> {
    change
        .steps
        .iter()
        .map(|step| NewHistory {
            action: step.action,
            min_native: step.min_native.clone(),
            actor: actor.to_owned(),
            reason: Some(reason.to_owned()),
        })
        .collect()
}

fn audit(state: &AppState, actor: &str, channel: &Channel, action: &str, after: Option<serde_json::Value>) -> NewAudit {
    NewAudit {
        actor: actor.to_owned(),
        app_id: Some(channel.app_id.clone()),
        action: action.to_owned(),
        subject: channel.name.clone(),
        before: serde_json::to_value(&channel.lanes).ok(),
        after,
        at_ms: state.now_ms(),
    }
}

/// A write that changes what the channel serves by `prepared`, with a reason.
pub(crate) fn change_write(
    state: &AppState,
    before: &Channel,
    prepared: Prepared,
    actor: &str,
    reason: &str,
) -> ReleaseWrite {
    let Prepared { change, audit_action } = prepared;
    let mut entry = audit(state, actor, before, &audit_action, serde_json::to_value(&change.channel.lanes).ok());
    entry.after = Some(serde_json::json!({ "lanes": change.channel.lanes, "reason": reason }));
    ReleaseWrite {
        before: before.clone(),
        history: history_lines(&change, actor, reason),
        after: Some(change.channel),
        plan: None,
        guard_trip: None,
        schedule: None,
        audit: entry,
    }
}

/// A write that changes nothing the channel serves: one history line saying what happened.
pub(crate) fn note_write(
    state: &AppState,
    channel: &Channel,
    action: HistoryAction,
    min_native: Option<String>,
    actor: &str,
    audit_action: &str,
    reason: &str,
) -> ReleaseWrite {
    let mut write = audit_only_write(state, channel, actor, audit_action, reason);
    write.history.push(NewHistory { action, min_native, actor: actor.to_owned(), reason: Some(reason.to_owned()) });
    write
}

/// A write that changes nothing the channel serves nor its history: the audit entry only (the
/// caller adds the plan, guard or schedule change it is about).
pub(crate) fn audit_only_write(
    state: &AppState,
    channel: &Channel,
    actor: &str,
    audit_action: &str,
    reason: &str,
) -> ReleaseWrite {
    let entry = audit(state, actor, channel, audit_action, Some(serde_json::json!({ "reason": reason })));
    ReleaseWrite {
        before: channel.clone(),
        after: None,
        history: Vec::new(),
        plan: None,
        guard_trip: None,
        schedule: None,
        audit: entry,
    }
}

fn line(min_native: &Option<String>) -> LineChoice {
    LineChoice::Named(min_native.clone())
}

/// The plan after a decision.
pub(crate) fn updated(stored: &StoredPlan, status: PlanStatus, reason: &str, step: Option<(u32, i64)>) -> PlanWrite {
    let mut next = stored.clone();
    next.plan.status = status;
    next.plan.reason = Some(reason.to_owned());
    if let Some((step, at)) = step {
        next.plan.step = step;
        next.plan.step_started_at_ms = at;
    }
    PlanWrite::Update(next)
}

/// Evaluates one active plan and acts on its decision. Answers whether it acted.
async fn run_plan(state: &AppState, stored: &StoredPlan, counts: &[ChannelHealthCount]) -> Result<bool, JobError> {
    let plan = &stored.plan;
    let Some(channel) = state.db().get_channel(&stored.app_id, &plan.channel).await? else { return Ok(false) };
    let Some(health) = plan_health(&channel, plan, counts) else {
        // Someone finished, aborted or replaced the rollout by hand: the plan is over.
        let served = channel.lane(plan.min_native.as_deref()).and_then(|l| l.target_bundle()) == Some(&plan.version);
        let (status, reason) = if served {
            (PlanStatus::Done, format!("{} was given to every device by hand", plan.version))
        } else {
            (PlanStatus::Cancelled, format!("the rollout of {} was ended by hand", plan.version))
        };
        let mut write = audit_only_write(state, &channel, PLAN_ACTOR, "rollout_plan.end", &reason);
        write.plan = Some(updated(stored, status, &reason, None));
        announce(state, write).await?;
        return Ok(true);
    };
    let now = state.now_ms();
    let write = match evaluate_plan(plan, &health, now) {
        PlanDecision::Wait(_) => return Ok(false),
        PlanDecision::Advance { step, reason } => {
            let share = RolloutShare::from_basis_points(plan.steps_bp[step as usize])
                .map_err(|e| JobError::Other(e.to_string()))?;
            let command = ReleaseCommand::ChangeRollout { line: line(&plan.min_native), share };
            let mut write =
                change_write(state, &channel, prepared(state, &channel, command).await?, PLAN_ACTOR, &reason);
            write.audit.action = "rollout_plan.step".into();
            write.plan = Some(updated(stored, PlanStatus::Active, &reason, Some((step, now))));
            write
        }
        PlanDecision::Finish(reason) => {
            let command = ReleaseCommand::FinishRollout { line: line(&plan.min_native) };
            let mut write =
                change_write(state, &channel, prepared(state, &channel, command).await?, PLAN_ACTOR, &reason);
            write.audit.action = "rollout_plan.finish".into();
            let last = (plan.steps_bp.len() - 1) as u32;
            write.plan = Some(updated(stored, PlanStatus::Done, &reason, Some((last, now))));
            write
        }
        PlanDecision::Breach { action: FailureAction::Pause, reason } => {
            let reason = format!("paused: {reason}");
            let mut write = note_write(
                state,
                &channel,
                HistoryAction::RolloutPause,
                plan.min_native.clone(),
                PLAN_ACTOR,
                "rollout_plan.pause",
                &reason,
            );
            write.plan = Some(updated(stored, PlanStatus::Paused, &reason, None));
            write
        }
        PlanDecision::Breach { action: FailureAction::Rollback, reason } => {
            let reason = format!("rolled back: {reason}");
            let command = ReleaseCommand::AbortRollout { line: line(&plan.min_native) };
            let mut write =
                change_write(state, &channel, prepared(state, &channel, command).await?, PLAN_ACTOR, &reason);
            write.audit.action = "rollout_plan.rollback".into();
            write.plan = Some(updated(stored, PlanStatus::RolledBack, &reason, None));
            write
        }
    };
    announce(state, write).await?;
    Ok(true)
}

/// `prepare`, with its refusal as a job error.
async fn prepared(state: &AppState, channel: &Channel, command: ReleaseCommand) -> Result<Prepared, JobError> {
    prepare(state, channel, command, false).await.map_err(|e| JobError::Other(app_error_text(&e)))
}

fn app_error_text(error: &AppError) -> String {
    error.to_string()
}

/// Runs the guard over one app: each channel with the guard on, each bundle it serves that the
/// guard has not acted on yet.
async fn run_guard(state: &AppState, app_id: &str) -> Result<(), JobError> {
    let channels = state.db().list_channels(app_id).await?;
    if !channels.iter().any(|c| c.settings.guard && !c.lanes.is_empty()) {
        return Ok(());
    }
    let counts = state.db().health_counts(app_id).await?;
    let tripped: HashSet<(i64, String)> = state.db().guard_trips(app_id).await?.into_iter().collect();
    for channel in channels.iter().filter(|c| c.settings.guard) {
        let threshold = channel.settings.guard_threshold_bp;
        let health = channel_health(state, channel, &counts, |_, _| threshold).await?;
        // A rollout under a plan (active or paused) follows the plan's threshold and action.
        let planned = state
            .db()
            .get_plan(channel.id)
            .await?
            .filter(|p| matches!(p.plan.status, PlanStatus::Active | PlanStatus::Paused))
            .map(|p| (p.plan.min_native, p.plan.version));
        let Some(failing) = health.into_iter().find(|h| {
            h.verdict == Verdict::Failing
                && !tripped.contains(&(channel.id, h.version.clone()))
                && !(h.rollout && planned.as_ref() == Some(&(h.min_native.clone(), h.version.clone())))
        }) else {
            continue;
        };
        if let Err(error) = guard_act(state, channel, &failing).await {
            tracing::warn!(app = app_id, channel = %channel.name, %error, "the guard could not act");
        }
    }
    Ok(())
}

/// Pauses or rolls back a failing bundle, as the channel's guard says.
async fn guard_act(state: &AppState, channel: &Channel, failing: &ReleaseHealth) -> Result<(), JobError> {
    let action = channel.settings.guard_action;
    let plan = state
        .db()
        .get_plan(channel.id)
        .await?
        .filter(|p| p.plan.status == PlanStatus::Active && p.plan.version == failing.version);
    let rollback = match (action, failing.rollout) {
        (FailureAction::Pause, _) => None,
        (FailureAction::Rollback, true) => Some(ReleaseCommand::AbortRollout { line: line(&failing.min_native) }),
        (FailureAction::Rollback, false) => Some(ReleaseCommand::Rollback {
            to: capstan_core::api::RollbackTo::Previous,
            line: line(&failing.min_native),
        }),
    };
    let trip = |action: FailureAction, reason: &str| GuardTrip {
        version: failing.version.clone(),
        min_native: failing.min_native.clone(),
        action,
        reason: reason.to_owned(),
    };
    // A rollback the release rules refuse (a first bundle has no previous one) becomes a pause.
    let rolled_back = match rollback {
        Some(command) => match prepare(state, channel, command, false).await {
            Ok(prepared) => Some(prepared),
            Err(error) => {
                tracing::warn!(channel = %channel.name, error = %error, "the guard cannot roll back; it pauses instead");
                None
            }
        },
        None => None,
    };
    let write = match rolled_back {
        Some(prepared) => {
            let reason = format!("guard rolled back: {}", failing.summary);
            let mut write = change_write(state, channel, prepared, GUARD_ACTOR, &reason);
            write.audit.action = "guard.rollback".into();
            write.guard_trip = Some(trip(FailureAction::Rollback, &reason));
            write.plan = plan.map(|p| updated(&p, PlanStatus::RolledBack, &reason, None));
            write
        }
        None => {
            let reason = if failing.rollout {
                format!("guard paused: {}", failing.summary)
            } else {
                format!("guard: {}; every device of the line has it, roll back by hand", failing.summary)
            };
            let mut write = note_write(
                state,
                channel,
                HistoryAction::RolloutPause,
                failing.min_native.clone(),
                GUARD_ACTOR,
                "guard.pause",
                &reason,
            );
            write.guard_trip = Some(trip(FailureAction::Pause, &reason));
            write.plan = plan.map(|p| updated(&p, PlanStatus::Paused, &reason, None));
            write
        }
    };
    announce(state, write).await?;
    Ok(())
}

/// Makes one due publish, or records why it cannot be made.
async fn run_schedule(state: &AppState, due: &StoredSchedule) -> Result<(), JobError> {
    let schedule = &due.schedule;
    let Some(channel) = state.db().get_channel(&due.app_id, &schedule.channel).await? else { return Ok(()) };
    let actor = format!("capstan (scheduled by {})", schedule.created_by);
    let reason = format!("scheduled publish of {} at {} (epoch ms)", schedule.version, schedule.at_ms);
    let command = match schedule.version.as_str() {
        capstan_core::api::BUILTIN => Ok(ReleaseCommand::PublishBuiltin),
        version => crate::api::channels::line_of(state, &due.app_id, version)
            .await
            .map(|min_native| ReleaseCommand::Publish { version: version.to_owned(), min_native, force: false }),
    };
    let prepared = match command {
        Ok(command) => prepare(state, &channel, command, false).await,
        Err(error) => Err(error),
    };
    let write = match prepared {
        Ok(prepared) => {
            let mut write = change_write(state, &channel, prepared, &actor, &reason);
            write.audit.action = "schedule.publish".into();
            write.schedule =
                Some(ScheduleWrite { id: schedule.id, status: ScheduleStatus::Done, outcome: Some(reason) });
            write
        }
        Err(error) => {
            let outcome = format!("not published: {}", app_error_text(&error));
            let mut write = audit_only_write(state, &channel, &actor, "schedule.failed", &outcome);
            write.schedule =
                Some(ScheduleWrite { id: schedule.id, status: ScheduleStatus::Failed, outcome: Some(outcome) });
            write
        }
    };
    announce(state, write).await?;
    Ok(())
}

/// The release safety job: scheduled publishes, then rollout plans, then the guard. It runs
/// every `release_safety_every_ms` (a plan's step or a schedule happens at most this late).
pub struct ReleaseSafety {
    /// How often it runs, ms.
    pub every_ms: i64,
}

impl Default for ReleaseSafety {
    /// Every minute, the default of `release_safety_every_ms`.
    fn default() -> Self {
        ReleaseSafety { every_ms: 60_000 }
    }
}

#[async_trait]
impl Job for ReleaseSafety {
    fn name(&self) -> &'static str {
        "release_safety"
    }

    fn every_ms(&self) -> i64 {
        self.every_ms
    }

    async fn run(&self, state: &AppState) -> Result<(), JobError> {
        let mut failures = Vec::new();
        for due in state.db().due_schedules(state.now_ms()).await? {
            if let Err(error) = run_schedule(state, &due).await {
                failures.push(format!("scheduled publish {}: {error}", due.schedule.id));
            }
        }
        let plans = state.db().active_plans().await?;
        let mut counts: HashMap<String, Vec<ChannelHealthCount>> = HashMap::new();
        for stored in &plans {
            if !counts.contains_key(&stored.app_id) {
                counts.insert(stored.app_id.clone(), state.db().health_counts(&stored.app_id).await?);
            }
            if let Err(error) = run_plan(state, stored, &counts[&stored.app_id]).await {
                failures.push(format!("plan of channel `{}`: {error}", stored.plan.channel));
            }
        }
        for app in state.db().list_apps().await? {
            if let Err(error) = run_guard(state, &app.id).await {
                failures.push(format!("guard of app `{}`: {error}", app.id));
            }
        }
        if failures.is_empty() { Ok(()) } else { Err(JobError::Other(failures.join("; "))) }
    }
}
