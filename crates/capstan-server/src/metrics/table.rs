//! The two containers behind every labelled metric: a fixed-capacity map filled on first use,
//! and a histogram. Both are updated with atomic operations only, never a lock or an
//! allocation, because they sit on the `/updates` path.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A map of at most `capacity` entries that are added on first use and never removed.
///
/// Label values come from a bounded set (route templates, `&'static str` answer codes), so a
/// small table scanned in insertion order finds the usual keys in a few comparisons. A lookup
/// is atomic loads; adding a key is a one-time `OnceLock` initialisation of a free slot (two
/// threads adding different keys at once each end up in a slot of their own).
pub struct Slots<K, V> {
    slots: Box<[(OnceLock<K>, V)]>,
}

impl<K, V: Default> Slots<K, V> {
    /// An empty table with room for `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Slots { slots: (0..capacity).map(|_| (OnceLock::new(), V::default())).collect() }
    }
}

impl<K, V> Slots<K, V> {
    /// The index of the key `is` recognises, adding it (built by `make`) if it is not there
    /// yet; `None` when the table is full.
    pub fn index(&self, is: impl Fn(&K) -> bool, make: impl FnOnce() -> K) -> Option<usize> {
        let mut make = Some(make);
        for (index, (slot, _)) in self.slots.iter().enumerate() {
            // A filled slot is a plain atomic load; an empty one is filled with our key, unless
            // another thread fills it first (then we compare with theirs and move on).
            let mut added = false;
            let key = slot.get_or_init(|| {
                added = true;
                make.take().expect("the scan ends as soon as it adds the key")()
            });
            if added || is(key) {
                return Some(index);
            }
        }
        None
    }

    /// The value at an index [`Slots::index`] returned.
    pub fn at(&self, index: usize) -> &V {
        &self.slots[index].1
    }

    /// The value of the key `is` recognises, added if needed; `None` when the table is full.
    pub fn get(&self, is: impl Fn(&K) -> bool, make: impl FnOnce() -> K) -> Option<&V> {
        self.index(is, make).map(|index| self.at(index))
    }

    /// Every key added so far, with its value, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().map_while(|(key, value)| key.get().map(|key| (key, value)))
    }
}

/// Upper bounds of the latency buckets, in nanoseconds: 0.5 ms to 10 s. A cached `/updates`
/// answer takes well under a millisecond; uploads and cold loads reach the upper ones.
pub const BUCKET_BOUNDS_NS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A latency histogram with the buckets of [`BUCKET_BOUNDS_NS`] and one for everything above.
#[derive(Default)]
pub struct Histogram {
    /// Observations per bucket, not cumulative (the last one is above every bound).
    counts: [AtomicU64; BUCKET_BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Cumulative counts: observations at or below each bound of [`BUCKET_BOUNDS_NS`], then all.
    pub cumulative: Vec<u64>,
    /// Sum of every observation, in nanoseconds.
    pub sum_ns: u64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, duration: Duration) {
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        // Prometheus buckets are inclusive: a value equal to a bound belongs to it.
        let bucket = BUCKET_BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The counts as Prometheus wants them, cumulative. The total is the last of them, so
    /// `_count` and the `+Inf` bucket always agree even while requests are recorded.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|count| {
                total += count.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot { cumulative, sum_ns: self.sum_ns.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_added_once_and_kept_in_order() {
        let table: Slots<&'static str, AtomicU64> = Slots::new(3);
        for key in ["a", "b", "a", "c", "b", "a"] {
            table.get(|k| *k == key, || key).unwrap().fetch_add(1, Ordering::Relaxed);
        }
        let counts: Vec<(&str, u64)> = table.iter().map(|(k, v)| (*k, v.load(Ordering::Relaxed))).collect();
        assert_eq!(counts, [("a", 3), ("b", 2), ("c", 1)]);
        assert!(table.get(|k| *k == "d", || "d").is_none(), "a full table adds nothing");
        assert_eq!(table.iter().count(), 3);
    }

    #[test]
    fn threads_adding_keys_at_once_each_get_their_own_slot() {
        let table: Slots<u32, AtomicU64> = Slots::new(64);
        std::thread::scope(|scope| {
            for thread in 0..8u32 {
                let table = &table;
                scope.spawn(move || {
                    for round in 0..1000u32 {
                        let key = (thread + round) % 16;
                        table.get(|k| *k == key, || key).unwrap().fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let mut keys: Vec<u32> = table.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..16).collect::<Vec<_>>(), "each key exactly once");
        assert_eq!(table.iter().map(|(_, v)| v.load(Ordering::Relaxed)).sum::<u64>(), 8000);
    }

    #[test]
    fn histogram_buckets_are_inclusive_and_cumulative() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(500)); // exactly the first bound
        histogram.observe(Duration::from_micros(501));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60)); // above every bound
        let snapshot = histogram.snapshot();
        assert_eq!(&snapshot.cumulative[..4], [1, 2, 2, 3]);
        assert_eq!(snapshot.cumulative[BUCKET_BOUNDS_NS.len() - 1], 3, "10 s bucket");
        assert_eq!(snapshot.cumulative[BUCKET_BOUNDS_NS.len()], 4, "+Inf holds everything");
        assert_eq!(snapshot.sum_ns, 500_000 + 501_000 + 3_000_000 + 60_000_000_000);
    }
}
