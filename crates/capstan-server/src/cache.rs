//! Each app's channel and bundle configuration, served from memory on the hot path.
//!
//! `/updates` is called by every device many times a day, while configuration changes a few
//! times a week: reading it from the database per request would make the database the
//! bottleneck. Management writes on this server invalidate an app's entry at once; the TTL
//! bounds staleness when several servers share one database. Unknown apps are cached too, so a
//! flood of requests for a made-up app id does not reach the database.
//!
//! Device overrides are the exception to "reload after a write": devices write them themselves
//! (legacy `setChannel`), so their writes change the shared [`DeviceOverrides`] table in place
//! ([`ConfigCache::device_override_set`]) and reload nothing. TTL reloads keep the table and
//! re-read it from the database only every [`OVERRIDES_REFRESH`] (what another replica's
//! devices set shows up within that); a management write reloads everything at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use capstan_core::api::{App, Channel, DeviceOverride};

use crate::overrides::DeviceOverrides;
use crate::store::{Database, StoreResult, StoredBundle};

/// How old the override table of a cached app may get before a reload reads it again.
pub const OVERRIDES_REFRESH: Duration = Duration::from_secs(60);

/// Everything needed to answer a device of one app, read together.
#[derive(Debug)]
pub struct AppSnapshot {
    /// The app.
    pub app: App,
    /// Its channels, by id.
    pub channels: Vec<Channel>,
    /// Its bundles, by version.
    pub bundles: HashMap<String, StoredBundle>,
    /// Per-device overrides, shared by the app's snapshots and changed in place.
    pub overrides: Arc<DeviceOverrides>,
}

impl AppSnapshot {
    /// A channel by name.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// A channel by id.
    pub fn channel_by_id(&self, id: i64) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }
}

enum Entry {
    /// The snapshot, when it was loaded, and whether a request is already reloading it.
    Known(Arc<AppSnapshot>, Instant, Arc<AtomicBool>),
    Unknown(Instant),
}

/// When an app's override table was read from the database.
struct OverridesRead {
    table: Arc<DeviceOverrides>,
    at: Instant,
}

/// Most unknown app ids remembered; past this the negative entries are dropped wholesale.
const MAX_UNKNOWN: usize = 10_000;

/// The cache.
pub struct ConfigCache {
    db: Arc<dyn Database>,
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry>>,
    /// Bumped by every invalidation: a load that started before one must not install its
    /// (possibly stale) result.
    generation: AtomicU64,
    /// Cold loads run one at a time, so a burst of requests after an invalidation makes one
    /// set of queries, not one per request.
    cold_load: tokio::sync::Mutex<()>,
    /// Each cached app's override table and when it was read (kept across TTL reloads).
    overrides: RwLock<HashMap<String, OverridesRead>>,
    /// Snapshots read from the database (known apps and unknown ones).
    loads: AtomicU64,
}

impl ConfigCache {
    /// An empty cache over `db`.
    pub fn new(db: Arc<dyn Database>, ttl: Duration) -> Self {
        ConfigCache {
            db,
            ttl,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            cold_load: tokio::sync::Mutex::new(()),
            overrides: RwLock::new(HashMap::new()),
            loads: AtomicU64::new(0),
        }
    }

    /// How many times an app's configuration was read from the database.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// `Ok(answer)` when fresh, `Err(refreshing flag)` when expired, `None` when absent.
    fn cached(&self, app_id: &str) -> Option<Result<Option<Arc<AppSnapshot>>, Arc<AtomicBool>>> {
        let entries = self.entries.read().expect("cache lock");
        match entries.get(app_id)? {
            Entry::Known(snapshot, at, _) if at.elapsed() < self.ttl => Some(Ok(Some(snapshot.clone()))),
            Entry::Known(_, _, refreshing) => Some(Err(refreshing.clone())),
            Entry::Unknown(at) if at.elapsed() < self.ttl => Some(Ok(None)),
            Entry::Unknown(_) => None,
        }
    }

    fn stale(&self, app_id: &str) -> Option<Arc<AppSnapshot>> {
        match self.entries.read().expect("cache lock").get(app_id) {
            Some(Entry::Known(snapshot, ..)) => Some(snapshot.clone()),
            _ => None,
        }
    }

    /// The app's snapshot, `None` for an unknown app.
    pub async fn get(&self, app_id: &str) -> StoreResult<Option<Arc<AppSnapshot>>> {
        match self.cached(app_id) {
            Some(Ok(answer)) => return Ok(answer),
            // Expired: one request reloads while the others keep answering from the old
            // snapshot, which is then at most one reload older than the TTL promises.
            Some(Err(refreshing)) => {
                if refreshing.swap(true, Ordering::SeqCst)
                    && let Some(stale) = self.stale(app_id)
                {
                    return Ok(Some(stale));
                }
                let result = self.load_and_install(app_id).await;
                refreshing.store(false, Ordering::SeqCst);
                return result;
            }
            None => {}
        }
        let _one_at_a_time = self.cold_load.lock().await;
        if let Some(Ok(answer)) = self.cached(app_id) {
            return Ok(answer);
        }
        self.load_and_install(app_id).await
    }

    async fn load_and_install(&self, app_id: &str) -> StoreResult<Option<Arc<AppSnapshot>>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = self.load(app_id, generation).await?;
        let mut entries = self.entries.write().expect("cache lock");
        if self.generation.load(Ordering::SeqCst) == generation {
            let entry = match &loaded {
                Some(snapshot) => Entry::Known(snapshot.clone(), Instant::now(), Arc::new(AtomicBool::new(false))),
                None => {
                    if entries.len() >= MAX_UNKNOWN {
                        entries.retain(|_, e| matches!(e, Entry::Known(..)));
                    }
                    Entry::Unknown(Instant::now())
                }
            };
            entries.insert(app_id.to_owned(), entry);
        }
        Ok(loaded)
    }

    /// Forgets an app's configuration after a write.
    pub fn invalidate(&self, app_id: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.write().expect("cache lock").remove(app_id);
        self.overrides.write().expect("cache lock").remove(app_id);
    }

    /// A device's own override was stored (`Some`) or removed (`None`) in the database: the
    /// cached app sees it at once, without a reload.
    pub fn device_override_set(&self, app_id: &str, device_id: &str, stored: Option<DeviceOverride>) {
        let mut tables: Vec<Arc<DeviceOverrides>> = Vec::with_capacity(2);
        if let Some(read) = self.overrides.read().expect("cache lock").get(app_id) {
            tables.push(read.table.clone());
        }
        if let Some(Entry::Known(snapshot, ..)) = self.entries.read().expect("cache lock").get(app_id)
            && !tables.iter().any(|t| Arc::ptr_eq(t, &snapshot.overrides))
        {
            tables.push(snapshot.overrides.clone());
        }
        if tables.is_empty() {
            // Not cached: a load in flight may have read the database before this write, so it
            // must not install what it read (the next request loads again).
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        for table in tables {
            match &stored {
                Some(entry) => table.insert(entry.clone()),
                None => {
                    table.remove(device_id);
                }
            }
        }
    }

    async fn load(&self, app_id: &str, generation: u64) -> StoreResult<Option<Arc<AppSnapshot>>> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let Some(app) = self.db.get_app(app_id).await? else {
            return Ok(None);
        };
        let channels = self.db.list_channels(app_id).await?;
        let bundles = self.db.list_bundles(app_id).await?.into_iter().map(|b| (b.bundle.version.clone(), b)).collect();
        let overrides = self.load_overrides(app_id, generation).await?;
        Ok(Some(Arc::new(AppSnapshot { app, channels, bundles, overrides })))
    }

    /// The app's override table: the cached one while it is younger than
    /// [`OVERRIDES_REFRESH`], else read again. What was read is kept for the next reloads only
    /// if nothing changed meanwhile: no invalidation (`generation`), no device write to the
    /// cached table (which has that write, so it is kept and read again next time).
    async fn load_overrides(&self, app_id: &str, generation: u64) -> StoreResult<Arc<DeviceOverrides>> {
        let cached = self.overrides.read().expect("cache lock").get(app_id).map(|read| (read.table.clone(), read.at));
        if let Some((table, at)) = &cached
            && at.elapsed() < OVERRIDES_REFRESH
        {
            return Ok(table.clone());
        }
        let changes_before = cached.as_ref().map(|(table, _)| table.changes());
        let read = Arc::new(DeviceOverrides::from_list(self.db.list_overrides(app_id).await?));
        let mut tables = self.overrides.write().expect("cache lock");
        if let Some((table, _)) = &cached
            && Some(table.changes()) != changes_before
        {
            return Ok(table.clone());
        }
        if self.generation.load(Ordering::SeqCst) == generation {
            tables.insert(app_id.to_owned(), OverridesRead { table: read.clone(), at: Instant::now() });
        }
        Ok(read)
    }
}
