//! Progress of long operations, sent to the UI as `operation-progress` events.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use capstan_core::progress::Progress;
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;

/// The event name the UI listens to.
pub const PROGRESS_EVENT: &str = "operation-progress";

/// How often at most an operation emits, so a 20,000-file pack does not flood the IPC bridge.
const EMIT_INTERVAL: Duration = Duration::from_millis(50);

/// One progress update.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ProgressEvent {
    /// The id the UI gave the operation.
    pub operation_id: String,
    /// What is happening: `packing`, `encrypting`, `uploading`, `verifying`.
    pub stage: String,
    /// Bytes done.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

/// Emits throttled progress events for one operation stage.
pub struct EventProgress {
    app: AppHandle,
    operation_id: String,
    stage: &'static str,
    done: AtomicU64,
    total: AtomicU64,
    last_emit: Mutex<Option<Instant>>,
}

impl EventProgress {
    /// Progress of `stage` of operation `operation_id`.
    pub fn new(app: AppHandle, operation_id: &str, stage: &'static str) -> Self {
        EventProgress {
            app,
            operation_id: operation_id.to_owned(),
            stage,
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            last_emit: Mutex::new(None),
        }
    }

    fn emit(&self, force: bool) {
        let mut last = self.last_emit.lock().expect("progress lock");
        if !force && last.is_some_and(|at| at.elapsed() < EMIT_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        let event = ProgressEvent {
            operation_id: self.operation_id.clone(),
            stage: self.stage.to_owned(),
            done: self.done.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
        };
        // A closed window cannot receive progress; the operation itself goes on regardless.
        let _ = self.app.emit(PROGRESS_EVENT, event);
    }
}

impl Progress for EventProgress {
    fn start(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::Relaxed);
        self.emit(true);
    }

    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.emit(done >= self.total.load(Ordering::Relaxed));
    }
}
