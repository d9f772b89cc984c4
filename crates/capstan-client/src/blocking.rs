//! Runs CPU- and disk-bound work (packing, inspecting) on a blocking thread while the caller's
//! borrowed [`Progress`] keeps receiving updates on the async side.
//!
//! The blocking thread needs `'static` data, but a console passes a progress sink it only
//! lends; a shared counter bridges the two without making every caller allocate an `Arc`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use capstan_core::progress::Progress;

/// Progress recorded into atomics by the worker, read by the async side.
#[derive(Debug, Default)]
struct Counter {
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for Counter {
    fn start(&self, total_bytes: u64) {
        self.total.store(total_bytes.saturating_add(1), Ordering::Relaxed);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Runs `work` on a blocking thread and relays its progress to `progress`.
pub async fn run_with_progress<T: Send + 'static>(
    progress: &dyn Progress,
    work: impl FnOnce(&dyn Progress) -> T + Send + 'static,
) -> T {
    let counter = Arc::new(Counter::default());
    let worker_counter = counter.clone();
    let mut handle = tokio::task::spawn_blocking(move || work(worker_counter.as_ref()));
    let (mut started, mut reported) = (false, 0u64);
    let mut relay = |counter: &Counter| {
        let total = counter.total.load(Ordering::Relaxed);
        if !started && total > 0 {
            progress.start(total - 1);
            started = true;
        }
        if started {
            let done = counter.done.load(Ordering::Relaxed);
            progress.advance(done - reported);
            reported = done;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            result = &mut handle => {
                relay(&counter);
                return result.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            }
            _ = tick.tick() => relay(&counter),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorded(Mutex<(Option<u64>, u64)>);

    impl Progress for Recorded {
        fn start(&self, total_bytes: u64) {
            self.0.lock().unwrap().0 = Some(total_bytes);
        }
        fn advance(&self, bytes: u64) {
            self.0.lock().unwrap().1 += bytes;
        }
    }

    #[tokio::test]
    async fn progress_from_the_worker_reaches_the_borrowed_sink() {
        let recorded = Recorded::default();
        let value = run_with_progress(&recorded, |p| {
            p.start(0);
            p.start(1_000);
            for _ in 0..10 {
                p.advance(100);
                std::thread::sleep(Duration::from_millis(15));
            }
            42
        })
        .await;
        assert_eq!(value, 42);
        assert_eq!(*recorded.0.lock().unwrap(), (Some(1_000), 1_000), "a zero total still counts as started");
    }
}
