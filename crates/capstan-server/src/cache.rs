//! Each app's channel and bundle configuration, served from memory on the hot path.
//!
//! `/updates` is called by every device many times a day, while configuration changes a few
//! times a week: reading it from the database per request would make the database the
//! bottleneck. Management writes on this server invalidate an app's entry at once; the TTL
//! bounds staleness when several servers share one database. Unknown apps are cached too, so a
//! flood of requests for a made-up app id does not reach the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use capstan_core::api::{App, Channel, DeviceOverride};

use crate::store::{BundleFile, Database, StoreResult, StoredBundle};

/// Everything needed to answer a device of one app, read together.
#[derive(Debug)]
pub struct AppSnapshot {
    /// The app.
    pub app: App,
    /// Its channels, by id.
    pub channels: Vec<Channel>,
    /// Its bundles, by version.
    pub bundles: HashMap<String, StoredBundle>,
    /// Per-device overrides, by device id.
    pub overrides: HashMap<String, DeviceOverride>,
    /// Files of the served bundles that have per-file artifacts (delta updates), by version.
    pub files: HashMap<String, Vec<BundleFile>>,
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

/// Every bundle version a channel serves to some device: targets and rollouts of every line.
fn served_versions(channels: &[Channel]) -> std::collections::BTreeSet<String> {
    channels
        .iter()
        .flat_map(|channel| &channel.lanes)
        .flat_map(|lane| lane.target_bundle().into_iter().chain(lane.rollout.as_ref().map(|r| r.version.as_str())))
        .map(str::to_owned)
        .collect()
}

enum Entry {
    /// The snapshot, when it was loaded, and whether a request is already reloading it.
    Known(Arc<AppSnapshot>, Instant, Arc<AtomicBool>),
    Unknown(Instant),
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
        }
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
        let loaded = self.load(app_id).await?;
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
    }

    async fn load(&self, app_id: &str) -> StoreResult<Option<Arc<AppSnapshot>>> {
        let Some(app) = self.db.get_app(app_id).await? else {
            return Ok(None);
        };
        let channels = self.db.list_channels(app_id).await?;
        let bundles = self.db.list_bundles(app_id).await?.into_iter().map(|b| (b.bundle.version.clone(), b)).collect();
        let overrides = self.db.list_overrides(app_id).await?.into_iter().map(|o| (o.device_id.clone(), o)).collect();
        // Only what channels serve: an app keeps many bundles of hundreds of files each.
        let mut files = HashMap::new();
        for version in served_versions(&channels) {
            let listed = self.db.bundle_files(app_id, &version).await?;
            if !listed.is_empty() {
                files.insert(version, listed);
            }
        }
        Ok(Some(Arc::new(AppSnapshot { app, channels, bundles, overrides, files })))
    }
}
