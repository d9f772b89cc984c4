//! Writes that devices cause, taken off the request path.
//!
//! - Device state (last seen, native version, bundle, channel) is last-writer-wins and only
//!   informative, so `/updates` just records it in memory; a background task writes the latest
//!   state per device in one transaction every `device_flush_ms`, and once more at shutdown.
//!   A SIGKILL can lose at most that interval of last-seen times, never a stats event.
//! - Stats events are what the plugin deletes once it gets a 2xx, so they use group commit:
//!   the handler queues its events and waits; one writer task commits everything queued in one
//!   transaction and then answers every waiting request. A 2xx is only sent for committed
//!   events, so even a SIGKILL loses nothing acknowledged, and batching keeps the fsync count
//!   per second small however many devices post at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use capstan_core::api::{DeviceEvent, DeviceRecord};

use crate::store::Database;

/// Most devices buffered before a flush is forced early.
const DEVICE_BUFFER_SOFT_MAX: usize = 50_000;
/// Most events committed in one transaction.
const MAX_EVENTS_PER_COMMIT: usize = 20_000;
/// Most devices written in one transaction. Device flushes share the single SQLite writer with
/// the stats group commits, which wait for them: one transaction of 50 000+ devices (a busy
/// second of `/updates`) held the writer for seconds and stalled every `/stats` answer behind it.
/// Bounded transactions let a waiting stats commit in between.
const DEVICES_PER_TRANSACTION: usize = 10_000;

/// Latest device state per (app, device), waiting to be written.
pub struct DeviceBuffer {
    pending: Mutex<HashMap<(String, String), DeviceRecord>>,
    wake: tokio::sync::Notify,
}

impl DeviceBuffer {
    fn new() -> Self {
        DeviceBuffer { pending: Mutex::new(HashMap::new()), wake: tokio::sync::Notify::new() }
    }

    /// Records what a device just told us; keeps the first-seen time of an earlier record.
    pub fn record(&self, mut device: DeviceRecord) {
        let mut pending = self.pending.lock().expect("device buffer lock");
        let key = (device.app_id.clone(), device.device_id.clone());
        if let Some(previous) = pending.get(&key) {
            device.first_seen_ms = device.first_seen_ms.min(previous.first_seen_ms);
            if device.channel.is_none() {
                device.channel = previous.channel.clone();
            }
        }
        pending.insert(key, device);
        if pending.len() >= DEVICE_BUFFER_SOFT_MAX {
            self.wake.notify_one();
        }
    }

    /// Devices waiting for the next write.
    pub fn pending(&self) -> usize {
        self.pending.lock().expect("device buffer lock").len()
    }

    fn take(&self) -> Vec<DeviceRecord> {
        std::mem::take(&mut *self.pending.lock().expect("device buffer lock")).into_values().collect()
    }

    /// Puts back records whose write failed, unless a newer record arrived meanwhile.
    fn restore(&self, records: Vec<DeviceRecord>) {
        let mut pending = self.pending.lock().expect("device buffer lock");
        for record in records {
            pending.entry((record.app_id.clone(), record.device_id.clone())).or_insert(record);
        }
    }

    /// Writes everything buffered now, in transactions of at most [`DEVICES_PER_TRANSACTION`].
    /// Device state is last-writer-wins per device, so nothing needs the whole batch atomic.
    pub async fn flush(&self, db: &dyn Database) {
        let batch = self.take();
        for (index, chunk) in batch.chunks(DEVICES_PER_TRANSACTION).enumerate() {
            if let Err(error) = db.upsert_devices(chunk).await {
                let unwritten = batch[index * DEVICES_PER_TRANSACTION..].to_vec();
                tracing::warn!(%error, devices = unwritten.len(), "device state flush failed; will retry");
                self.restore(unwritten);
                return;
            }
        }
    }
}

struct StatsBatch {
    events: Vec<DeviceEvent>,
    done: oneshot::Sender<bool>,
}

/// The queue in front of the stats writer.
pub struct StatsQueue {
    sender: mpsc::UnboundedSender<StatsBatch>,
    queued_events: Arc<AtomicUsize>,
    max_events: usize,
}

/// Why events were not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatsRejected {
    /// Too many events waiting already: the device keeps them and retries.
    #[error("stats queue is full")]
    Full,
    /// The write failed (or the server is stopping): the device keeps them and retries.
    #[error("stats could not be stored")]
    NotStored,
}

impl StatsQueue {
    /// Events queued and not yet committed.
    pub fn queued_events(&self) -> usize {
        self.queued_events.load(Ordering::SeqCst)
    }

    /// Queues events and waits until they are committed.
    pub async fn submit(&self, events: Vec<DeviceEvent>) -> Result<(), StatsRejected> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len();
        if self.queued_events.fetch_add(n, Ordering::SeqCst) + n > self.max_events {
            self.queued_events.fetch_sub(n, Ordering::SeqCst);
            return Err(StatsRejected::Full);
        }
        let (done, answer) = oneshot::channel();
        if self.sender.send(StatsBatch { events, done }).is_err() {
            self.queued_events.fetch_sub(n, Ordering::SeqCst);
            return Err(StatsRejected::NotStored);
        }
        match answer.await {
            Ok(true) => Ok(()),
            _ => Err(StatsRejected::NotStored),
        }
    }
}

/// The background writers and the handles to stop them.
pub struct Ingest {
    /// Device state buffer.
    pub devices: Arc<DeviceBuffer>,
    /// Stats queue.
    pub stats: StatsQueue,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Ingest {
    /// Starts the writer tasks on the current runtime.
    pub fn start(db: Arc<dyn Database>, device_flush: Duration, max_queued_events: usize) -> Ingest {
        let devices = Arc::new(DeviceBuffer::new());
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (sender, receiver) = mpsc::unbounded_channel();
        let queued_events = Arc::new(AtomicUsize::new(0));
        let device_task = tokio::spawn(device_flusher(db.clone(), devices.clone(), device_flush, stop_rx));
        let stats_task = tokio::spawn(stats_writer(db, receiver, queued_events.clone(), stop.subscribe()));
        Ingest {
            devices,
            stats: StatsQueue { sender, queued_events, max_events: max_queued_events.max(1) },
            stop,
            tasks: Mutex::new(vec![device_task, stats_task]),
        }
    }

    /// Flushes the device buffer and waits for the stats writer to commit everything queued.
    /// Call after the HTTP server has stopped taking requests.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "ingest task failed");
            }
        }
    }
}

async fn device_flusher(
    db: Arc<dyn Database>,
    devices: Arc<DeviceBuffer>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = devices.wake.notified() => {}
            _ = stop.changed() => {
                devices.flush(&*db).await;
                return;
            }
        }
        devices.flush(&*db).await;
    }
}

async fn stats_writer(
    db: Arc<dyn Database>,
    mut receiver: mpsc::UnboundedReceiver<StatsBatch>,
    queued: Arc<AtomicUsize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // On shutdown the channel is closed (new submissions fail, the device retries later) and
    // the writer keeps going until every batch already queued is committed and answered.
    let mut stopping = false;
    loop {
        let next = if stopping {
            receiver.recv().await
        } else {
            tokio::select! {
                batch = receiver.recv() => batch,
                _ = stop.changed() => {
                    stopping = true;
                    receiver.close();
                    continue;
                }
            }
        };
        let Some(first) = next else { return };
        let mut batches = vec![first];
        let mut count = batches[0].events.len();
        while count < MAX_EVENTS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(batch) => {
                    count += batch.events.len();
                    batches.push(batch);
                }
                Err(_) => break,
            }
        }
        let events: Vec<DeviceEvent> = batches.iter_mut().flat_map(|b| std::mem::take(&mut b.events)).collect();
        let stored = match db.insert_events(&events).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, events = events.len(), "stats commit failed; devices will retry");
                false
            }
        };
        queued.fetch_sub(count, Ordering::SeqCst);
        for batch in batches {
            let _ = batch.done.send(stored);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeviceStore;
    use crate::store::sqlite::SqliteDatabase;

    fn device(i: usize) -> DeviceRecord {
        DeviceRecord {
            app_id: "com.flush".into(),
            device_id: format!("dev-{i}"),
            custom_id: String::new(),
            platform: "android".into(),
            native_version: "1.0.0".into(),
            bundle_version: "1.0.1".into(),
            plugin_version: "8.0.0".into(),
            os_version: "14".into(),
            key_id: None,
            is_prod: true,
            is_emulator: false,
            channel: None,
            first_seen_ms: 1,
            last_seen_ms: 1,
        }
    }

    #[tokio::test]
    async fn a_flush_larger_than_one_transaction_writes_every_device() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("flush.db"), false).await.unwrap();
        let buffer = DeviceBuffer::new();
        let total = DEVICES_PER_TRANSACTION * 2 + 7;
        (0..total).for_each(|i| buffer.record(device(i)));
        buffer.flush(&db).await;
        let counts = db.device_counts("com.flush", 0).await.unwrap();
        assert_eq!(counts.iter().map(|c| c.devices).sum::<i64>(), total as i64);
        assert!(buffer.take().is_empty(), "nothing left behind");
    }
}
