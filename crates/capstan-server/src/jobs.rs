//! Periodic background work, done by exactly one replica at a time.
//!
//! Several `capstan-server` replicas may share one database. Work such as advancing rollout
//! plans or applying a retention period must happen once, not once per replica, so each
//! [`Job`] runs under a lease in the database ([`crate::store::LeaseStore`]): a replica runs a
//! job only while it holds the job's lease, renews it each time it runs, and another replica
//! takes over once a lease has expired (its holder stopped or hung). Leases are released at a
//! graceful stop.
//!
//! Jobs read time from the server's clock ([`crate::AppState::now_ms`]); tests drive a
//! [`JobRunner`] with [`JobRunner::run_due`] instead of waiting for its timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::config::Config;
use crate::store::StoreError;

/// Why a job's run failed (logged; the job runs again at its next interval).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

/// A piece of periodic work.
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// A stable name: the lease's name, and what logs call it.
    fn name(&self) -> &'static str;
    /// How often it runs (by the server's clock).
    fn every_ms(&self) -> i64;
    /// One run. It must be safe to repeat: a lease can expire during a very slow run.
    async fn run(&self, state: &AppState) -> Result<(), JobError>;
}

/// Every periodic job of the server, at the intervals `config` sets.
pub fn server_jobs(config: &Config) -> Vec<Arc<dyn Job>> {
    let release_safety_every_ms = i64::try_from(config.release_safety_every_ms).unwrap_or(i64::MAX);
    vec![
        Arc::new(EventRetention),
        Arc::new(crate::delta::CollectArtifacts),
        Arc::new(crate::webhooks::DeliverWebhooks::default()),
        Arc::new(crate::rollouts::ReleaseSafety { every_ms: release_safety_every_ms }),
    ]
}

/// Deletes raw stats events older than `stats_retention_days` (when set), keeping the hourly
/// counters, so a server's event table stops growing with time.
pub struct EventRetention;

/// Events deleted per transaction, so the writer is never held long.
const RETENTION_BATCH: u32 = 10_000;
/// Most batches per run; the rest waits for the next run.
const RETENTION_BATCHES_PER_RUN: u32 = 100;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[async_trait]
impl Job for EventRetention {
    fn name(&self) -> &'static str {
        "event_retention"
    }

    fn every_ms(&self) -> i64 {
        3600 * 1000
    }

    async fn run(&self, state: &AppState) -> Result<(), JobError> {
        let days = state.config().stats_retention_days;
        if days == 0 {
            return Ok(());
        }
        let before = state.now_ms() - i64::from(days) * DAY_MS;
        let mut deleted = 0;
        for _ in 0..RETENTION_BATCHES_PER_RUN {
            let batch = state.db().delete_events_before(before, RETENTION_BATCH).await?;
            deleted += batch;
            if batch < u64::from(RETENTION_BATCH) {
                break;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, days, "deleted stats events past the retention period");
        }
        Ok(())
    }
}

/// What one pass of the runner did with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not due yet on this replica.
    NotDue,
    /// Another replica holds the lease.
    HeldElsewhere,
    /// Ran and succeeded.
    Ran,
    /// Ran and failed (logged).
    Failed,
}

/// Runs registered jobs when due, each under its lease.
pub struct JobRunner {
    jobs: Vec<Arc<dyn Job>>,
    /// This replica's identity in leases.
    holder: String,
    /// When each job last ran here (server clock, ms).
    last_run: Mutex<HashMap<&'static str, i64>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// How long a lease lasts past each run, in multiples of the job's interval: long enough that a
/// healthy holder always renews it first, short enough that a dead one is replaced soon.
const LEASE_INTERVALS: i64 = 3;
/// The timer's resolution: jobs are checked this often (each runs at its own interval).
const TICK: Duration = Duration::from_millis(500);

impl JobRunner {
    /// A runner for `jobs`, holding leases as `holder` (unique per replica).
    pub fn new(jobs: Vec<Arc<dyn Job>>, holder: String) -> JobRunner {
        let (stop, _) = tokio::sync::watch::channel(false);
        JobRunner { jobs, holder, last_run: Mutex::new(HashMap::new()), stop, task: Mutex::new(None) }
    }

    /// This replica's lease holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// One pass: every job that is due runs, if this replica holds (or takes) its lease.
    pub async fn run_due(&self, state: &AppState) -> Vec<(&'static str, Outcome)> {
        let mut outcomes = Vec::with_capacity(self.jobs.len());
        for job in &self.jobs {
            outcomes.push((job.name(), self.run_if_due(job.as_ref(), state).await));
        }
        outcomes
    }

    async fn run_if_due(&self, job: &dyn Job, state: &AppState) -> Outcome {
        let now = state.now_ms();
        let every = job.every_ms().max(1);
        let last = self.last_run.lock().expect("job times lock").get(job.name()).copied();
        if last.is_some_and(|last| now - last < every) {
            return Outcome::NotDue;
        }
        match state.db().acquire_lease(job.name(), &self.holder, now, every * LEASE_INTERVALS).await {
            Ok(true) => {}
            Ok(false) => return Outcome::HeldElsewhere,
            Err(error) => {
                tracing::warn!(job = job.name(), %error, "cannot take the job's lease");
                return Outcome::Failed;
            }
        }
        self.last_run.lock().expect("job times lock").insert(job.name(), now);
        match job.run(state).await {
            Ok(()) => Outcome::Ran,
            Err(error) => {
                tracing::warn!(job = job.name(), %error, "job failed; it runs again at its next interval");
                Outcome::Failed
            }
        }
    }

    /// Starts the timer that calls [`JobRunner::run_due`] in the background.
    pub fn start(state: &AppState) {
        let runner = state.jobs();
        let mut stopped = runner.stop.subscribe();
        let task_state = state.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => { task_state.jobs().run_due(&task_state).await; }
                    _ = stopped.changed() => return,
                }
            }
        });
        *runner.task.lock().expect("job task lock") = Some(task);
    }

    /// Stops the timer, waits for a run in progress, and releases this replica's leases.
    pub async fn shutdown(&self, state: &AppState) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("job task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
        for job in &self.jobs {
            if let Err(error) = state.db().release_lease(job.name(), &self.holder).await {
                tracing::warn!(job = job.name(), %error, "cannot release the job's lease");
            }
        }
    }
}
