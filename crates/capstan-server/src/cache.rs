//! Each app's channel and bundle configuration, served from memory on the hot path.
//!
//! `/updates` is called by every device many times a day, while configuration changes a few
//! times a week: reading it from the database per request would make the database the
//! bottleneck. Unknown apps are cached too, so a flood of requests for a made-up app id does
//! not reach the database.
//!
//! How long a replica can serve a configuration that a change removed (a rolled-back bundle,
//! an aborted or narrowed rollout, a new minimum native version):
//! - a change made through this replica: not at all (its handler invalidates the app);
//! - a change made through another replica sharing the database: at most `cache_check_ms`
//!   (default 1 s) plus one revision query and one reload. Every change bumps the app's
//!   `config_revision` in its own transaction (triggers, see `store::sql`); a watcher on each
//!   replica reads every app's revision in one query each `cache_check_ms` and reloads the apps
//!   whose revision moved, swapping the new snapshot in when it is complete;
//! - when the database does not answer: a snapshot that was not confirmed current for
//!   `cache_ttl_ms` (default 5 s) is not served; requests then load it themselves, and fail
//!   while the database is unreachable.
//!
//! Device overrides written by devices themselves (legacy `setChannel`) change the cached app's
//! shared [`DeviceOverrides`] table in place ([`ConfigCache::device_override_set`]) instead of
//! invalidating it, so a flood of `setChannel` does not turn into one reload per request; other
//! replicas see them at their next revision check (override writes bump the revision too).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use capstan_core::api::{App, Channel, DeviceOverride};
use capstan_core::protocol::ManifestEntry;

use crate::device::answers::OfferJson;
use crate::overrides::DeviceOverrides;
use crate::store::{AppConfig, BundleFile, Database, StoreResult, StoredBundle};

/// Everything needed to answer a device of one app, read together.
#[derive(Debug)]
pub struct AppSnapshot {
    /// The app.
    pub app: App,
    /// Its channels, by id.
    pub channels: Vec<Channel>,
    /// Its bundles, by version.
    pub bundles: HashMap<String, StoredBundle>,
    /// Per-device overrides, changed in place by devices' own writes.
    pub overrides: Arc<DeviceOverrides>,
    /// Files of the served bundles that have per-file artifacts (delta updates), by version.
    pub files: HashMap<String, DeltaFiles>,
    /// The JSON of this snapshot's offers, written once per bundle.
    pub offers: OfferJson,
}

/// A served bundle's files that have per-file artifacts, and its delta manifest once the first
/// answer that needs it has built it (see [`AppSnapshot::manifest`]).
#[derive(Debug, Default)]
pub struct DeltaFiles {
    files: Vec<BundleFile>,
    /// The manifest, with the base URL its download URLs start with.
    manifest: OnceLock<(String, Arc<[ManifestEntry]>)>,
}

impl From<Vec<BundleFile>> for DeltaFiles {
    fn from(files: Vec<BundleFile>) -> DeltaFiles {
        DeltaFiles { files, manifest: OnceLock::new() }
    }
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

    /// The delta manifest of `version` (`None`: it has no per-file artifacts) for download URLs
    /// under `base_url`: built by `build` from the files once, then shared. A base URL other
    /// than the first one's gets a manifest built for it, not kept.
    pub fn manifest(
        &self,
        version: &str,
        base_url: &str,
        build: impl Fn(&[BundleFile], &str) -> Arc<[ManifestEntry]>,
    ) -> Option<Arc<[ManifestEntry]>> {
        let delta = self.files.get(version)?;
        let (built_for, manifest) = delta.manifest.get_or_init(|| (base_url.to_owned(), build(&delta.files, base_url)));
        Some(if built_for == base_url { Arc::clone(manifest) } else { build(&delta.files, base_url) })
    }

    /// A snapshot of `config`, and the revision it was read at.
    pub fn from_config(config: AppConfig) -> (AppSnapshot, i64) {
        let bundles: HashMap<String, StoredBundle> =
            config.bundles.into_iter().map(|b| (b.bundle.version.clone(), b)).collect();
        let snapshot = AppSnapshot {
            app: config.app,
            channels: config.channels,
            offers: OfferJson::for_versions(bundles.keys()),
            bundles,
            overrides: Arc::new(DeviceOverrides::from_list(config.overrides)),
            files: config.files.into_iter().map(|(version, files)| (version, files.into())).collect(),
        };
        (snapshot, config.revision)
    }
}

enum Entry {
    /// The snapshot, the revision it was read at, and when the database last confirmed that
    /// revision is current.
    Known { snapshot: Arc<AppSnapshot>, revision: i64, confirmed: Instant },
    /// No such app, as of this time.
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
    /// Snapshots read from the database, and entries dropped by local writes (for `/metrics`).
    loads: AtomicU64,
    invalidations: AtomicU64,
}

impl ConfigCache {
    /// An empty cache over `db`; entries not confirmed for `ttl` are reloaded before use.
    pub fn new(db: Arc<dyn Database>, ttl: Duration) -> Self {
        ConfigCache {
            db,
            ttl,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            cold_load: tokio::sync::Mutex::new(()),
            loads: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// `Some(answer)` when confirmed within the TTL, `None` when absent or too old.
    fn cached(&self, app_id: &str) -> Option<Option<Arc<AppSnapshot>>> {
        match self.entries.read().expect("cache lock").get(app_id)? {
            Entry::Known { snapshot, confirmed, .. } if confirmed.elapsed() < self.ttl => Some(Some(snapshot.clone())),
            Entry::Unknown(at) if at.elapsed() < self.ttl => Some(None),
            _ => None,
        }
    }

    /// The app's snapshot, `None` for an unknown app.
    pub async fn get(&self, app_id: &str) -> StoreResult<Option<Arc<AppSnapshot>>> {
        if let Some(answer) = self.cached(app_id) {
            return Ok(answer);
        }
        let _one_at_a_time = self.cold_load.lock().await;
        if let Some(answer) = self.cached(app_id) {
            return Ok(answer);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        self.loads.fetch_add(1, Ordering::Relaxed);
        let loaded = self.db.app_config(app_id).await?.map(AppSnapshot::from_config);
        Ok(self.install(app_id, generation, loaded))
    }

    /// Installs what a load read (unless an invalidation came in meanwhile); answers it.
    fn install(&self, app_id: &str, generation: u64, loaded: Option<(AppSnapshot, i64)>) -> Option<Arc<AppSnapshot>> {
        let mut entries = self.entries.write().expect("cache lock");
        let (entry, answer) = match loaded {
            Some((snapshot, revision)) => {
                let snapshot = Arc::new(snapshot);
                (Entry::Known { snapshot: snapshot.clone(), revision, confirmed: Instant::now() }, Some(snapshot))
            }
            None => {
                if entries.len() >= MAX_UNKNOWN {
                    entries.retain(|_, e| matches!(e, Entry::Known { .. }));
                }
                (Entry::Unknown(Instant::now()), None)
            }
        };
        if self.generation.load(Ordering::SeqCst) == generation {
            entries.insert(app_id.to_owned(), entry);
        }
        answer
    }

    /// Forgets an app's configuration after a write.
    pub fn invalidate(&self, app_id: &str) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.write().expect("cache lock").remove(app_id);
    }

    /// How many times an app's configuration was read from the database (known or not).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// How many times a write on this server dropped an app's cached configuration.
    pub fn invalidations(&self) -> u64 {
        self.invalidations.load(Ordering::Relaxed)
    }

    /// A device's own override was stored (`Some`) or removed (`None`) in the database: the
    /// cached app sees it at once, without a reload.
    pub fn device_override_set(&self, app_id: &str, device_id: &str, stored: Option<DeviceOverride>) {
        let table = match self.entries.read().expect("cache lock").get(app_id) {
            Some(Entry::Known { snapshot, .. }) => Some(snapshot.overrides.clone()),
            _ => None,
        };
        let Some(table) = table else {
            // Not cached: a load in flight may have read the database before this write, so it
            // must not install what it read (the next request loads again).
            self.generation.fetch_add(1, Ordering::SeqCst);
            return;
        };
        match stored {
            Some(entry) => table.insert(entry),
            None => {
                table.remove(device_id);
            }
        }
    }

    /// One check against the database: confirms the entries whose revision did not move, and
    /// reloads the others (the old snapshot is served until the new one is complete).
    pub async fn check(&self) -> StoreResult<()> {
        let asked = Instant::now();
        let revisions: HashMap<String, i64> = self.db.config_revisions().await?.into_iter().collect();
        let mut stale = Vec::new();
        {
            let mut entries = self.entries.write().expect("cache lock");
            entries.retain(|app_id, entry| match entry {
                Entry::Known { revision, confirmed, .. } => {
                    if revisions.get(app_id) == Some(&*revision) {
                        *confirmed = asked;
                    } else {
                        stale.push(app_id.clone());
                    }
                    true
                }
                // An app created through another replica is looked up again at its next request.
                Entry::Unknown(at) if !revisions.contains_key(app_id) => {
                    *at = asked;
                    true
                }
                Entry::Unknown(_) => false,
            });
        }
        let mut failed = Ok(());
        for app_id in stale {
            let generation = self.generation.load(Ordering::SeqCst);
            self.loads.fetch_add(1, Ordering::Relaxed);
            match self.db.app_config(&app_id).await {
                Ok(loaded) => {
                    self.install(&app_id, generation, loaded.map(AppSnapshot::from_config));
                }
                Err(error) => {
                    // Do not keep serving what is known to be outdated: the next request loads it.
                    self.entries.write().expect("cache lock").remove(&app_id);
                    failed = Err(error);
                }
            }
        }
        failed
    }

    /// Runs [`ConfigCache::check`] every `every` until `stop` turns true or the cache is dropped.
    pub fn watch(
        cache: &Arc<ConfigCache>,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let cache: Weak<ConfigCache> = Arc::downgrade(cache);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every.max(Duration::from_millis(10)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.changed() => return,
                }
                let Some(cache) = cache.upgrade() else { return };
                if let Err(error) = cache.check().await {
                    tracing::warn!(%error, "cannot check configuration revisions; cached apps expire unconfirmed");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredArtifact;
    use capstan_core::bundle::artifacts::Encoding;

    fn snapshot_with_files() -> AppSnapshot {
        let file = |path: &str| BundleFile {
            path: path.into(),
            artifact: StoredArtifact {
                sha256: format!("hash-of-{path}"),
                encoding: Encoding::Raw,
                size: 1,
                stored_size: 1,
                blob_key: format!("key/{path}"),
            },
        };
        let files = HashMap::from([("1.0.0".to_owned(), vec![file("index.html"), file("app.js")].into())]);
        AppSnapshot {
            app: App { id: "com.x".into(), name: "x".into(), default_channel: "production".into(), created_at_ms: 0 },
            channels: Vec::new(),
            bundles: HashMap::new(),
            overrides: Arc::default(),
            files,
            offers: OfferJson::default(),
        }
    }

    fn build(files: &[BundleFile], base_url: &str) -> Arc<[ManifestEntry]> {
        files
            .iter()
            .map(|f| ManifestEntry {
                file_name: f.path.clone(),
                file_hash: f.artifact.sha256.clone(),
                download_url: format!("{base_url}/{}", f.artifact.blob_key),
            })
            .collect()
    }

    #[test]
    fn a_manifest_is_built_once_and_shared_for_the_same_base_url() {
        let snapshot = snapshot_with_files();
        let first = snapshot.manifest("1.0.0", "http://a", build).unwrap();
        let second = snapshot.manifest("1.0.0", "http://a", build).unwrap();
        assert!(Arc::ptr_eq(&first, &second), "the second answer reuses the first one's manifest");
        assert_eq!(
            first.iter().map(|e| e.download_url.as_str()).collect::<Vec<_>>(),
            ["http://a/key/index.html", "http://a/key/app.js"]
        );
        let other = snapshot.manifest("1.0.0", "http://b", build).unwrap();
        assert_eq!(other[0].download_url, "http://b/key/index.html", "another base URL is never served a cached one");
        assert!(snapshot.manifest("2.0.0", "http://a", build).is_none(), "no files, no manifest");
    }
}
