//! Progress reporting and cancellation for long operations (pack, inspect, upload).
//!
//! Callers decide how progress is shown (a terminal bar, a Tauri event, nothing); the
//! operations only report bytes done against a total and poll a cancel flag between chunks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Receives progress of a long operation. Called from worker threads, so it must be `Sync`.
pub trait Progress: Sync {
    /// The operation knows how much work there is (bytes).
    fn start(&self, total_bytes: u64);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
}

/// Discards progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
}

/// A flag another thread (a Cancel button, Ctrl-C) sets to stop an operation early.
/// Cloning shares the flag.
#[derive(Debug, Default, Clone)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the operation to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
