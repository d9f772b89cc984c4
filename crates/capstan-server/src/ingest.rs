//! Writes that devices cause, taken off the request path.
//!
//! - Device state (last seen, native version, bundle, channel) is last-writer-wins and only
//!   informative, so `/updates` just records it in memory; a background task writes the latest
//!   state per device every `device_flush_ms` (in transactions of at most
//!   `DEVICES_PER_TRANSACTION`), and once more at shutdown. A SIGKILL can lose the
//!   last-seen times of that interval, or of as long as the writer is behind (under
//!   `bench/updates`, flushes at the peak held up to 45,000 new devices, written 25,000 to a
//!   transaction in 0.4–1.1 s, and the writer had caught up a second after the load stopped),
//!   never a stats event.
//! - Stats events are what the plugin deletes once it gets a 2xx, so they use group commit:
//!   the handler queues its events and waits; one writer task commits everything queued in one
//!   transaction and then answers every waiting request. A 2xx is only sent for committed
//!   events, so even a SIGKILL loses nothing acknowledged, and batching keeps the fsync count
//!   per second small however many devices post at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashbrown::{DefaultHashBuilder, HashTable};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use capstan_core::api::{DeviceEvent, DeviceRecord};

use crate::store::Database;

/// Most devices buffered before a flush is forced early.
const DEVICE_BUFFER_SOFT_MAX: usize = 50_000;
/// Written records kept for their text buffers, so the next devices reuse them instead of
/// allocating (the buffer allocates nothing in steady state).
const SPARE_RECORDS_MAX: usize = DEVICE_BUFFER_SOFT_MAX;
/// Entries of the table of what was last handed to the writer (8 bytes each: 8 MiB), in
/// buckets of [`WRITTEN_WAYS`].
const WRITTEN_ENTRIES: usize = 1 << 20;
/// Entries per bucket (32 bytes, side by side). A device can take any entry of its bucket, so
/// devices only evict each other when more than four share a bucket: with one entry per device
/// (direct-mapped, before), 200,000 devices already shared entries often enough that one write
/// in ten in `bench/updates` was a device rewritten only because another had taken its entry.
/// An evicted device costs one write that could have been skipped, nothing else.
const WRITTEN_WAYS: usize = 4;
/// Low bits of an entry: the sighting's fingerprint. The high bits are a tag of the device's
/// key, so a device finds its own entry to replace when its state or period changes.
const FINGERPRINT_BITS: u32 = 40;
/// Most events committed in one transaction.
const MAX_EVENTS_PER_COMMIT: usize = 20_000;
/// Most devices written in one transaction: a trade between two costs.
/// - Each transaction rewrites every index page its devices touch, and device ids are random,
///   so a batch of new devices dirties pages all over the primary key: fewer, larger
///   transactions write each page fewer times (2,073 bytes per device at 10 000, 1,563 at
///   25 000, 1,318 at 50 000). Since the SQLite flush lost its statement journal the CPU hardly
///   differs: 8.05–8.95, 7.75–8.85 and 7.10–7.90 µs per new device
///   (`examples/device_flush_cost.rs`, two runs each).
/// - Device flushes share the single SQLite writer with the stats group commits, which wait
///   for them: one transaction of 50 000+ devices held the writer for a second or more and
///   stalled every `/stats` answer behind it. 25 000 held it 0.4–1.1 s under `bench/updates`
///   on a busy machine.
const DEVICES_PER_TRANSACTION: usize = 25_000;

/// What `/updates` heard from a device, borrowed from the request. It becomes a stored
/// [`DeviceRecord`] only when it tells the database something new: another state, or a sighting
/// in a later period of `device_seen_precision_ms` (see [`DeviceBuffer`]).
///
/// A new column of the devices table is a field here, in [`DeviceRecord`] and in the upsert;
/// the two functions below destructure this struct, so the compiler points at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting<'a> {
    /// App.
    pub app_id: &'a str,
    /// Device (lowercase).
    pub device_id: &'a str,
    /// App-set user id.
    pub custom_id: &'a str,
    /// Platform.
    pub platform: &'a str,
    /// Native version.
    pub native_version: &'a str,
    /// Bundle running.
    pub bundle_version: &'a str,
    /// Plugin release.
    pub plugin_version: &'a str,
    /// OS version.
    pub os_version: &'a str,
    /// Key id the app trusts (None: the device sent none).
    pub key_id: Option<&'a str>,
    /// The channel the device asked for (`defaultChannel`; None: none).
    pub requested_channel: Option<&'a str>,
    /// Whether it runs the store-shipped bundle.
    pub on_builtin: bool,
    /// Production build.
    pub is_prod: bool,
    /// Emulator.
    pub is_emulator: bool,
    /// Channel resolved now (`None`: none was; the stored one is kept).
    pub channel: Option<&'a str>,
    /// When, epoch ms.
    pub seen_ms: i64,
}

impl Sighting<'_> {
    /// A hash of everything stored about the device except the time, and of the period of
    /// `precision_ms` the time falls in (each device's periods start at its own offset, so
    /// devices do not all cross into a new period at the same instant).
    fn fingerprint(&self, hasher: &DefaultHashBuilder, key: u64, precision_ms: i64) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let Sighting {
            app_id,
            device_id,
            custom_id,
            platform,
            native_version,
            bundle_version,
            plugin_version,
            os_version,
            key_id,
            requested_channel,
            on_builtin,
            is_prod,
            is_emulator,
            channel,
            seen_ms,
        } = *self;
        let period = match u64::try_from(precision_ms) {
            Ok(precision) if precision > 0 => (seen_ms.max(0) as u64 + key % precision) / precision,
            _ => seen_ms as u64,
        };
        let mut state = hasher.build_hasher();
        (key, app_id, device_id, custom_id, platform, native_version, bundle_version).hash(&mut state);
        (plugin_version, os_version, key_id, is_prod, is_emulator, channel, period).hash(&mut state);
        (requested_channel, on_builtin).hash(&mut state);
        state.finish()
    }

    /// Writes this sighting into `record` (a new one, or the device's pending one), reusing
    /// the record's text buffers. Keeps the earlier first-seen time and, when no channel was
    /// resolved now, the channel recorded before.
    fn write_into(&self, record: &mut DeviceRecord, is_new: bool) {
        let Sighting {
            app_id,
            device_id,
            custom_id,
            platform,
            native_version,
            bundle_version,
            plugin_version,
            os_version,
            key_id,
            requested_channel,
            on_builtin,
            is_prod,
            is_emulator,
            channel,
            seen_ms,
        } = *self;
        let set = |field: &mut String, value: &str| {
            field.clear();
            field.push_str(value);
        };
        set(&mut record.app_id, app_id);
        set(&mut record.device_id, device_id);
        set(&mut record.custom_id, custom_id);
        set(&mut record.platform, platform);
        set(&mut record.native_version, native_version);
        set(&mut record.bundle_version, bundle_version);
        set(&mut record.plugin_version, plugin_version);
        set(&mut record.os_version, os_version);
        match (key_id, &mut record.key_id) {
            (Some(now), Some(stored)) => set(stored, now),
            (Some(now), stored) => *stored = Some(now.to_owned()),
            (None, stored) => *stored = None,
        }
        match (requested_channel, &mut record.requested_channel) {
            (Some(now), Some(stored)) => set(stored, now),
            (Some(now), stored) => *stored = Some(now.to_owned()),
            (None, stored) => *stored = None,
        }
        record.on_builtin = on_builtin;
        record.is_prod = is_prod;
        record.is_emulator = is_emulator;
        match (channel, &mut record.channel) {
            (Some(now), Some(stored)) => set(stored, now),
            (Some(now), stored) => *stored = Some(now.to_owned()),
            (None, stored) if is_new => *stored = None,
            (None, _) => {}
        }
        record.first_seen_ms = if is_new { seen_ms } else { record.first_seen_ms.min(seen_ms) };
        record.last_seen_ms = seen_ms;
    }
}

/// Device records waiting for the writer, and the memory they recycle.
#[derive(Default)]
struct Pending {
    /// The latest record per (app, device).
    table: HashTable<DeviceRecord>,
    /// Records already written, reused for new devices.
    spare: Vec<DeviceRecord>,
    /// An empty vector with room, for the next flush's batch.
    batch: Vec<DeviceRecord>,
}

/// Latest device state per (app, device), waiting to be written.
///
/// `/updates` only tells the database what it does not know: a table of fixed size remembers,
/// per device, a fingerprint of the state last handed to the writer and of the period of
/// `device_seen_precision_ms` it was seen in. A device that reports the same state within the
/// same period costs two hash computations and one atomic read, nothing else. So a device's
/// `last_seen_ms` is the first time it was heard in its latest period: at most
/// `device_seen_precision_ms` earlier than the last time (5 minutes by default), while any
/// change of state is written at the next flush. After a restart the table is empty and each
/// device is written once again.
pub struct DeviceBuffer {
    pending: Mutex<Pending>,
    /// Per device: its key's tag and the fingerprint of the last state handed to the writer
    /// (0: an empty entry), in buckets of [`WRITTEN_WAYS`].
    written: Box<[AtomicU64]>,
    hasher: DefaultHashBuilder,
    precision_ms: i64,
    wake: tokio::sync::Notify,
}

impl DeviceBuffer {
    fn new(precision_ms: i64) -> Self {
        DeviceBuffer {
            pending: Mutex::new(Pending::default()),
            written: (0..WRITTEN_ENTRIES).map(|_| AtomicU64::new(0)).collect(),
            hasher: DefaultHashBuilder::default(),
            precision_ms,
            wake: tokio::sync::Notify::new(),
        }
    }

    fn key(&self, app_id: &str, device_id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((app_id, device_id))
    }

    /// The entries a device may use.
    fn bucket(&self, key: u64) -> &[AtomicU64] {
        let start = (key as usize % (WRITTEN_ENTRIES / WRITTEN_WAYS)) * WRITTEN_WAYS;
        &self.written[start..start + WRITTEN_WAYS]
    }

    /// What a device's entry holds after this sighting: the key's high bits (the bucket is
    /// chosen by its low bits) above the fingerprint's low bits. Never 0 (an empty entry).
    fn entry(key: u64, fingerprint: u64) -> u64 {
        let low = (1u64 << FINGERPRINT_BITS) - 1;
        (key & !low) | (fingerprint & low).max(1)
    }

    /// Remembers `entry` in the device's own entry of `bucket` if it has one, else in an empty
    /// one, else in place of one the entry's bits pick (that device's next sighting is then
    /// written again). Called with the pending table locked, so a device never holds two
    /// entries: an old one left behind could match a later return to that old state and skip
    /// a write the database needs. Readers load without the lock; each entry is one atomic.
    fn remember(bucket: &[AtomicU64], entry: u64) {
        let tag = entry >> FINGERPRINT_BITS;
        let entries = || bucket.iter().map(|slot| (slot, slot.load(Ordering::Relaxed)));
        let slot = entries()
            .find(|&(_, held)| held != 0 && held >> FINGERPRINT_BITS == tag)
            .or_else(|| entries().find(|&(_, held)| held == 0))
            .map_or(&bucket[entry as usize % WRITTEN_WAYS], |(slot, _)| slot);
        slot.store(entry, Ordering::Relaxed);
    }

    /// Records what a device just told us, unless the database already has it (same state,
    /// same period).
    pub fn record(&self, seen: &Sighting<'_>) {
        let key = self.key(seen.app_id, seen.device_id);
        let entry = Self::entry(key, seen.fingerprint(&self.hasher, key, self.precision_ms));
        let bucket = self.bucket(key);
        // Relaxed: a stale read only costs one redundant write of the same state.
        if bucket.iter().any(|slot| slot.load(Ordering::Relaxed) == entry) {
            return;
        }
        let mut pending = self.pending.lock().expect("device buffer lock");
        let Pending { table, spare, .. } = &mut *pending;
        match table.find_mut(key, |r| r.app_id == seen.app_id && r.device_id == seen.device_id) {
            Some(record) => seen.write_into(record, false),
            None => {
                let mut record = spare.pop().unwrap_or_default();
                seen.write_into(&mut record, true);
                table.insert_unique(key, record, |r| self.key(&r.app_id, &r.device_id));
            }
        }
        Self::remember(bucket, entry);
        if table.len() >= DEVICE_BUFFER_SOFT_MAX {
            self.wake.notify_one();
        }
    }

    /// How many device records wait for the writer.
    pub fn pending(&self) -> usize {
        self.pending.lock().expect("device buffer lock").table.len()
    }

    fn take(&self) -> Vec<DeviceRecord> {
        let mut pending = self.pending.lock().expect("device buffer lock");
        let mut batch = std::mem::take(&mut pending.batch);
        batch.extend(pending.table.drain());
        batch
    }

    /// Keeps written records for reuse (up to a bound) and the batch vector for the next flush.
    fn recycle(&self, mut batch: Vec<DeviceRecord>) {
        let mut pending = self.pending.lock().expect("device buffer lock");
        let room = SPARE_RECORDS_MAX.saturating_sub(pending.spare.len());
        pending.spare.extend(batch.drain(..).take(room));
        batch.clear();
        if batch.capacity() > pending.batch.capacity() {
            pending.batch = batch;
        }
    }

    /// Puts back records whose write failed, unless a newer record arrived meanwhile.
    fn restore(&self, records: Vec<DeviceRecord>) {
        let mut pending = self.pending.lock().expect("device buffer lock");
        for record in records {
            let key = self.key(&record.app_id, &record.device_id);
            if pending.table.find(key, |r| r.app_id == record.app_id && r.device_id == record.device_id).is_none() {
                pending.table.insert_unique(key, record, |r| self.key(&r.app_id, &r.device_id));
            }
        }
    }

    /// Writes everything buffered now, in transactions of at most [`DEVICES_PER_TRANSACTION`].
    /// Device state is last-writer-wins per device, so nothing needs the whole batch atomic.
    pub async fn flush(&self, db: &dyn Database) {
        let mut batch = self.take();
        for index in (0..batch.len()).step_by(DEVICES_PER_TRANSACTION) {
            let chunk = &batch[index..(index + DEVICES_PER_TRANSACTION).min(batch.len())];
            let started = std::time::Instant::now();
            if let Err(error) = db.upsert_devices(chunk).await {
                let unwritten = batch.split_off(index);
                tracing::warn!(%error, devices = unwritten.len(), "device state flush failed; will retry");
                self.restore(unwritten);
                break;
            }
            // How far behind the writer runs under load (CAPSTAN_LOG=warn,capstan_server::ingest=debug).
            tracing::debug!(devices = chunk.len(), ms = started.elapsed().as_millis() as u64, "device state written");
        }
        self.recycle(batch);
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
    pub fn start(
        db: Arc<dyn Database>,
        device_flush: Duration,
        device_seen_precision_ms: i64,
        max_queued_events: usize,
    ) -> Ingest {
        let devices = Arc::new(DeviceBuffer::new(device_seen_precision_ms));
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

    const MINUTE: i64 = 60_000;

    fn seen<'a>(device_id: &'a str, bundle: &'static str, channel: Option<&'static str>, at: i64) -> Sighting<'a> {
        Sighting {
            app_id: "com.flush",
            device_id,
            custom_id: "",
            platform: "android",
            native_version: "1.0.0",
            bundle_version: bundle,
            plugin_version: "8.0.0",
            os_version: "14",
            key_id: None,
            requested_channel: None,
            on_builtin: false,
            is_prod: true,
            is_emulator: false,
            channel,
            seen_ms: at,
        }
    }

    async fn database() -> (tempfile::TempDir, SqliteDatabase) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("flush.db"), false).await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_flush_larger_than_one_transaction_writes_every_device() {
        let (_dir, db) = database().await;
        let buffer = DeviceBuffer::new(5 * MINUTE);
        let total = DEVICES_PER_TRANSACTION * 2 + 7;
        let ids: Vec<String> = (0..total).map(|i| format!("dev-{i}")).collect();
        ids.iter().for_each(|id| buffer.record(&seen(id, "1.0.1", None, 1)));
        assert_eq!(buffer.pending(), total);
        buffer.flush(&db).await;
        let counts = db.device_counts("com.flush", 0).await.unwrap();
        assert_eq!(counts.iter().map(|c| c.devices).sum::<i64>(), total as i64);
        assert!(buffer.take().is_empty(), "nothing left behind");
    }

    #[tokio::test]
    async fn only_what_the_database_does_not_know_is_written() {
        let (_dir, db) = database().await;
        let buffer = DeviceBuffer::new(5 * MINUTE);
        let start = 1_700_000_000_000;
        buffer.record(&seen("d1", "1.0.1", Some("beta"), start));
        buffer.flush(&db).await;
        // The same state a few seconds later: nothing to write.
        buffer.record(&seen("d1", "1.0.1", Some("beta"), start + 5_000));
        assert_eq!(buffer.pending(), 0);
        // Another bundle: written at once, first-seen kept.
        buffer.record(&seen("d1", "1.0.2", Some("beta"), start + 6_000));
        assert_eq!(buffer.pending(), 1);
        // No channel resolved this time: the recorded one stays.
        buffer.record(&seen("d1", "1.0.2", None, start + 7_000));
        buffer.flush(&db).await;
        let stored = db.get_device("com.flush", "d1").await.unwrap().unwrap();
        assert_eq!(
            (stored.bundle_version.as_str(), stored.channel.as_deref(), stored.first_seen_ms, stored.last_seen_ms),
            ("1.0.2", Some("beta"), start, start + 7_000)
        );
        // Same state again: written once per period, so last seen lags by less than a period.
        for minute in 1..=30 {
            buffer.record(&seen("d1", "1.0.2", None, start + 7_000 + minute * MINUTE));
            buffer.flush(&db).await;
        }
        let stored = db.get_device("com.flush", "d1").await.unwrap().unwrap();
        let last_heard = start + 7_000 + 30 * MINUTE;
        assert!(last_heard - stored.last_seen_ms < 5 * MINUTE, "{}", last_heard - stored.last_seen_ms);
        assert!(stored.last_seen_ms > start + 7_000);
    }

    #[test]
    fn a_large_fleet_heard_twice_in_one_period_is_handed_to_the_writer_once() {
        let buffer = DeviceBuffer::new(5 * MINUTE);
        let devices = 200_000;
        let ids: Vec<String> = (0..devices).map(|i| format!("dev-{i}")).collect();
        ids.iter().for_each(|id| buffer.record(&seen(id, "1.0.1", Some("production"), 1)));
        assert_eq!(buffer.take().len(), devices);
        ids.iter().for_each(|id| buffer.record(&seen(id, "1.0.1", Some("production"), 2)));
        // Only devices evicted from a bucket holding five or more of them come back: about 0.3 %
        // of them at this load (591 and 610 in two runs). With one entry per device: 17.5 %.
        let again = buffer.take().len();
        assert!(again < devices / 100, "{again} of {devices} devices handed to the writer again");
    }

    #[tokio::test]
    async fn written_records_are_reused_for_the_next_devices() {
        let (_dir, db) = database().await;
        let buffer = DeviceBuffer::new(5 * MINUTE);
        let ids: Vec<String> = (0..100).map(|i| format!("dev-{i}")).collect();
        ids.iter().for_each(|id| buffer.record(&seen(id, "1.0.1", Some("production"), 1)));
        buffer.flush(&db).await;
        assert_eq!(buffer.pending.lock().unwrap().spare.len(), 100);
        let others: Vec<String> = (100..150).map(|i| format!("dev-{i}")).collect();
        others.iter().for_each(|id| buffer.record(&seen(id, "1.0.1", None, 2)));
        let pending = buffer.pending.lock().unwrap();
        assert_eq!((pending.spare.len(), pending.table.len()), (50, 50));
        assert!(pending.table.iter().all(|r| r.channel.is_none() && r.first_seen_ms == 2), "no state carried over");
    }

    #[test]
    fn precision_zero_writes_every_sighting() {
        let buffer = DeviceBuffer::new(0);
        buffer.record(&seen("d1", "1.0.1", None, 1));
        let first = buffer.take();
        buffer.record(&seen("d1", "1.0.1", None, 2));
        assert_eq!((first.len(), buffer.pending()), (1, 1));
    }
}
