//! Periodic jobs under database leases: with two replicas on one database, a job runs on one
//! of them at a time, and the other takes over when the first stops or hangs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use capstan_server::AppState;
use capstan_server::clock::ManualClock;
use capstan_server::jobs::{Job, JobError, JobRunner, Outcome};

use crate::support::*;

struct Counting {
    runs: AtomicUsize,
}

#[async_trait]
impl Job for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn every_ms(&self) -> i64 {
        60_000
    }
    async fn run(&self, _: &AppState) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn one_replica_at_a_time_runs_a_job_and_another_takes_over_when_it_stops() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let first = TestServer::start_with_clock(clock.clone()).await;
    // A second replica: its own state over the same data directory (database and blobs).
    let second = replica_of(&first, clock.clone()).await;
    let job = Arc::new(Counting { runs: AtomicUsize::new(0) });
    let a = JobRunner::new(vec![job.clone()], "replica-a".into());
    let b = JobRunner::new(vec![job.clone()], "replica-b".into());

    assert_eq!(a.run_due(&first.state).await, [("counting", Outcome::Ran)]);
    assert_eq!(b.run_due(&second).await, [("counting", Outcome::HeldElsewhere)]);
    assert_eq!(a.run_due(&first.state).await, [("counting", Outcome::NotDue)], "not again before its interval");
    clock.advance(60_000);
    assert_eq!(b.run_due(&second).await, [("counting", Outcome::HeldElsewhere)], "the holder renews first");
    assert_eq!(a.run_due(&first.state).await, [("counting", Outcome::Ran)]);
    assert_eq!(job.runs.load(Ordering::SeqCst), 2);

    // Replica a hangs: once its lease (three intervals) has expired, b takes over.
    clock.advance(3 * 60_000);
    assert_eq!(b.run_due(&second).await, [("counting", Outcome::Ran)]);
    clock.advance(60_000);
    assert_eq!(a.run_due(&first.state).await, [("counting", Outcome::HeldElsewhere)], "a lost the lease");

    // A graceful stop hands the lease back at once.
    b.shutdown(&second).await;
    assert_eq!(a.run_due(&first.state).await, [("counting", Outcome::Ran)]);
    assert_eq!(job.runs.load(Ordering::SeqCst), 4);
    second.shutdown().await;
    first.stop().await;
}
