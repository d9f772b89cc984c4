//! Per-device channel overrides of one app, as `/updates` reads them: shared by every snapshot
//! of the app and changed in place.
//!
//! Overrides are the only part of an app's configuration that devices write themselves (legacy
//! plugins store their channel with `setChannel`). Reloading the whole app after each such
//! write made `/updates` pay for every `setChannel` call (and every reload read every
//! override), so a device's write changes this table directly and nothing is reloaded. The
//! table is sharded so concurrent readers and a writer rarely meet, and `/updates` of an app
//! without overrides reads one atomic counter.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use capstan_core::api::{DeviceOverride, OverrideSource};
use hashbrown::{DefaultHashBuilder, HashMap};

const SHARDS: usize = 16;

/// The table.
#[derive(Debug)]
pub struct DeviceOverrides {
    hasher: DefaultHashBuilder,
    shards: Vec<RwLock<HashMap<String, DeviceOverride, DefaultHashBuilder>>>,
    len: AtomicUsize,
    from_devices: AtomicUsize,
    /// Bumped by every change made in place (so a reload that read the database before a
    /// change does not replace the table with what it read).
    changes: AtomicU64,
}

impl Default for DeviceOverrides {
    fn default() -> Self {
        DeviceOverrides::from_list(Vec::new())
    }
}

impl DeviceOverrides {
    /// A table of these overrides.
    pub fn from_list(list: Vec<DeviceOverride>) -> DeviceOverrides {
        let hasher = DefaultHashBuilder::default();
        let table = DeviceOverrides {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::with_hasher(hasher.clone()))).collect(),
            hasher,
            len: AtomicUsize::new(0),
            from_devices: AtomicUsize::new(0),
            changes: AtomicU64::new(0),
        };
        for entry in list {
            table.insert(entry);
        }
        table.changes.store(0, Ordering::SeqCst);
        table
    }

    fn shard(&self, device_id: &str) -> &RwLock<HashMap<String, DeviceOverride, DefaultHashBuilder>> {
        use std::hash::BuildHasher;
        &self.shards[self.hasher.hash_one(device_id) as usize % SHARDS]
    }

    /// The channel id a device is pinned to, if any.
    pub fn channel_id(&self, device_id: &str) -> Option<i64> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.shard(device_id).read().expect("overrides lock").get(device_id).map(|o| o.channel_id)
    }

    /// A device's override.
    pub fn get(&self, device_id: &str) -> Option<DeviceOverride> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.shard(device_id).read().expect("overrides lock").get(device_id).cloned()
    }

    /// How many overrides there are.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many were set by devices themselves (the ones `channel_self.max_overrides_per_app`
    /// bounds).
    pub fn from_devices(&self) -> usize {
        self.from_devices.load(Ordering::Relaxed)
    }

    /// Changes made in place so far.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Records an override as stored (new or replacing the device's previous one).
    pub fn insert(&self, entry: DeviceOverride) {
        let device = entry.source == OverrideSource::Device;
        let previous =
            self.shard(&entry.device_id).write().expect("overrides lock").insert(entry.device_id.clone(), entry);
        self.uncount(previous.as_ref());
        self.len.fetch_add(1, Ordering::Relaxed);
        if device {
            self.from_devices.fetch_add(1, Ordering::Relaxed);
        }
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a device's override as removed.
    pub fn remove(&self, device_id: &str) -> Option<DeviceOverride> {
        let previous = self.shard(device_id).write().expect("overrides lock").remove(device_id);
        self.uncount(previous.as_ref());
        self.changes.fetch_add(1, Ordering::SeqCst);
        previous
    }

    fn uncount(&self, entry: Option<&DeviceOverride>) {
        if let Some(entry) = entry {
            self.len.fetch_sub(1, Ordering::Relaxed);
            if entry.source == OverrideSource::Device {
                self.from_devices.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(device: &str, channel: i64, source: OverrideSource) -> DeviceOverride {
        DeviceOverride { app_id: "a".into(), device_id: device.into(), channel_id: channel, source, set_at_ms: 1 }
    }

    #[test]
    fn counts_follow_inserts_replacements_and_removals() {
        let table = DeviceOverrides::from_list(vec![entry("d1", 1, OverrideSource::Device)]);
        assert_eq!((table.len(), table.from_devices(), table.changes()), (1, 1, 0));
        table.insert(entry("d1", 2, OverrideSource::Device));
        table.insert(entry("d2", 3, OverrideSource::Operator));
        assert_eq!((table.len(), table.from_devices()), (2, 1));
        assert_eq!((table.channel_id("d1"), table.channel_id("d2"), table.channel_id("d3")), (Some(2), Some(3), None));
        assert_eq!(table.remove("d1").map(|o| o.channel_id), Some(2));
        assert!(table.remove("d1").is_none());
        assert_eq!((table.len(), table.from_devices(), table.changes()), (1, 0, 4));
    }
}
