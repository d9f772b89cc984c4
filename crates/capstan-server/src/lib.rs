//! Capstan's update server as a library: [`router`] builds the HTTP application over an
//! [`AppState`], [`serve`] runs it on a listener until a shutdown signal and then flushes every
//! buffered write. The `capstan-server` binary is a thin wrapper; tests bind port 0 and call
//! [`serve`] directly, so readiness is implicit and no test sleeps.
//!
//! Devices (`@capgo/capacitor-updater`) talk to the unauthenticated endpoints in [`device`]; the
//! console and CLI use the bearer-token management API in [`api`]. Storage sits behind the
//! traits in [`store`].

pub mod api;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod connections;
pub mod delta;
pub mod delta_encrypted;
pub mod device;
pub mod error;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod migrate;
pub mod overrides;
pub mod preview;
pub mod ratelimit;
pub mod rollouts;
pub mod store;
pub mod uploads;
pub mod webhooks;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::cache::ConfigCache;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::device::download::DownloadLinks;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::{BlobStore, Database, OpenError, Storage, StoreError};

/// Shared state of a running server. Cloning is cheap.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    base_url: String,
    db: Arc<dyn Database>,
    blobs: Arc<dyn BlobStore>,
    cache: Arc<ConfigCache>,
    /// Stops the cache's revision watcher.
    cache_watch: tokio::sync::watch::Sender<bool>,
    links: DownloadLinks,
    ingest: Ingest,
    limiter: RateLimiter,
    client_address: client_addr::ClientAddress,
    stats_budget: device::stats::StatsBudget,
    channel_writes: RateLimiter,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    upload_dir: PathBuf,
    /// Holds the upload directory's lock while the server runs (see `uploads`).
    _uploads: Option<uploads::UploadDir>,
    jobs: jobs::JobRunner,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Settings that cannot work together.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The storage could not be opened.
    #[error(transparent)]
    Storage(#[from] OpenError),
    /// The data directory could not be prepared.
    #[error("cannot prepare directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The start-up clean-up failed.
    #[error("cannot clean up storage: {0}")]
    Cleanup(#[from] StoreError),
}

use crate::store::blob::ORPHAN_GRACE_MS;

impl AppState {
    /// The configured storage (the embedded SQLite file and blob directory by default). Cleans
    /// what a crash may have left: partial uploads of servers that stopped, and blobs that no
    /// bundle row references once they are older than [`ORPHAN_GRACE_MS`].
    pub async fn open(config: Config) -> Result<AppState, StartError> {
        config.check()?;
        let storage = store::open(&config).await?;
        let root = config.data_dir.join("uploads");
        let holder = format!("server-{}", auth::random_hex(6));
        let uploads = uploads::UploadDir::claim(&root, &holder)
            .map_err(|source| StartError::Dir { path: root.clone(), source })?;
        let clock = Arc::new(SystemClock);
        remove_orphan_blobs(&*storage.db, &*storage.blobs, clock.now_ms()).await?;
        let upload_dir = uploads.path().to_path_buf();
        Ok(AppState::build(config, storage, clock, upload_dir, Some(uploads)))
    }

    /// A state over any storage backends and clock. Starts the background writers, so it must
    /// be called inside a Tokio runtime.
    pub fn new(config: Config, storage: Storage, clock: Arc<dyn Clock>, upload_dir: PathBuf) -> AppState {
        AppState::build(config, storage, clock, upload_dir, None)
    }

    fn build(
        config: Config,
        storage: Storage,
        clock: Arc<dyn Clock>,
        upload_dir: PathBuf,
        uploads: Option<uploads::UploadDir>,
    ) -> AppState {
        let Storage { db, blobs } = storage;
        let ingest = Ingest::start(
            db.clone(),
            Duration::from_millis(config.device_flush_ms),
            i64::try_from(config.device_seen_precision_ms).unwrap_or(i64::MAX),
            config.stats_queue_events,
        );
        let background_jobs = config.background_jobs;
        let jobs = jobs::JobRunner::new(jobs::server_jobs(&config), format!("replica-{}", auth::random_hex(6)));
        let cache = Arc::new(ConfigCache::new(db.clone(), Duration::from_millis(config.cache_ttl_ms)));
        let (cache_watch, stop_watching) = tokio::sync::watch::channel(false);
        ConfigCache::watch(&cache, Duration::from_millis(config.cache_check_ms), stop_watching);
        let state = AppState(Arc::new(Inner {
            base_url: config.public_base_url(),
            cache,
            cache_watch,
            links: DownloadLinks::new(&config),
            limiter: RateLimiter::new(&config.rate_limit),
            client_address: client_addr::ClientAddress::new(
                config.rate_limit.client_ip_header.as_deref(),
                &config.rate_limit.trusted_proxies,
            ),
            stats_budget: device::stats::StatsBudget::new(&config.stats_limit),
            channel_writes: RateLimiter::with_rate(
                u64::from(config.channel_self.writes_per_second),
                u64::from(config.channel_self.writes_burst),
            ),
            metrics: Arc::new(Metrics::default()),
            config,
            db,
            blobs,
            ingest,
            clock,
            upload_dir,
            _uploads: uploads,
            jobs,
        }));
        if background_jobs {
            jobs::JobRunner::start(&state);
        }
        state
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.0.config
    }
    /// The database.
    pub fn db(&self) -> &dyn Database {
        &*self.0.db
    }
    /// The blob store.
    pub fn blobs(&self) -> &dyn BlobStore {
        &*self.0.blobs
    }
    /// App configuration cache.
    pub fn cache(&self) -> &ConfigCache {
        &self.0.cache
    }
    /// Where offered bundles are downloaded from.
    pub fn links(&self) -> &DownloadLinks {
        &self.0.links
    }
    /// Periodic work under database leases.
    pub fn jobs(&self) -> &jobs::JobRunner {
        &self.0.jobs
    }
    /// Buffered device writes and the stats queue.
    pub fn ingest(&self) -> &Ingest {
        &self.0.ingest
    }
    /// Device endpoint rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }
    /// How a request's client address is found (trusted proxies).
    pub fn client_address(&self) -> &client_addr::ClientAddress {
        &self.0.client_address
    }
    /// Per-address `/stats` budgets.
    pub fn stats_budget(&self) -> &device::stats::StatsBudget {
        &self.0.stats_budget
    }
    /// Per-address limit on channels stored by legacy `setChannel`.
    pub fn channel_writes(&self) -> &RateLimiter {
        &self.0.channel_writes
    }
    /// Request counters and timings for `GET /metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
    /// The metrics, shared with what outlives a request's handler (a download's body stream).
    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.0.metrics.clone()
    }
    /// Now, epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.0.clock.now_ms()
    }
    /// Base URL for download links.
    pub fn base_url(&self) -> &str {
        &self.0.base_url
    }
    /// Where uploads are received before they are checked.
    pub fn upload_dir(&self) -> &Path {
        &self.0.upload_dir
    }

    /// Writes everything buffered (device state, queued stats) and stops the writers.
    pub async fn shutdown(&self) {
        let _ = self.0.cache_watch.send(true);
        self.0.jobs.shutdown(self).await;
        self.0.ingest.shutdown().await;
    }
}

pub(crate) async fn remove_orphan_blobs(
    db: &dyn Database,
    blobs: &dyn BlobStore,
    now_ms: i64,
) -> Result<(), StoreError> {
    let referenced: std::collections::HashSet<String> = db.blob_keys().await?.into_iter().collect();
    let stored = blobs.list().await.map_err(StoreError::backend)?;
    for blob in stored {
        // Only keys of the layouts uploads write (`app/version/file.zip`, and artifacts): anything
        // else under the store's root or prefix is not ours to remove.
        let ours =
            (blob.key.ends_with(".zip") && blob.key.split('/').count() == 3) || delta::is_artifact_key(&blob.key);
        if !ours || referenced.contains(&blob.key) || now_ms - blob.modified_ms < ORPHAN_GRACE_MS {
            continue;
        }
        tracing::info!(key = %blob.key, "removing blob left by an interrupted upload");
        blobs.delete(&blob.key).await.map_err(StoreError::backend)?;
    }
    Ok(())
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.db().ping().await;
    let blobs = state.blobs().ping().await;
    let status = if db.is_ok() && blobs.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if let Err(error) = &db {
        tracing::warn!(%error, "readiness: database unreachable");
    }
    if let Err(error) = &blobs {
        tracing::warn!(%error, "readiness: blob store unreachable");
    }
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (status, axum::Json(serde_json::json!({ "database": word(db.is_ok()), "blobs": word(blobs.is_ok()) })))
}

fn health_routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// Request logs (tower-http's trace layer, at DEBUG) only when the log filter lets them
/// through: the layer costs a span, a clock read and a wrapped body per request even when it
/// prints nothing. Failures are logged by `error::AppError` either way.
fn traced(routes: Router<AppState>) -> Router<AppState> {
    if tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG) {
        routes.layer(tower_http::trace::TraceLayer::new_for_http())
    } else {
        routes
    }
}

/// Device endpoints and health checks only (for a public listener).
pub fn device_router(state: AppState) -> Router {
    traced(device::routes().merge(health_routes()).layer(state.metrics_handle().layer())).with_state(state)
}

/// Management API, metrics and health checks (for a private listener).
pub fn management_router(state: AppState) -> Router {
    // The role checks in front of each route find the state in an extension (`auth::require`).
    let api = api::routes().merge(metrics::routes()).merge(health_routes());
    traced(api.layer(state.metrics_handle().layer()).layer(axum::Extension(state.clone()))).with_state(state)
}

/// Everything on one listener.
pub fn router(state: AppState) -> Router {
    // The state extension only where the role checks need it: not on the device hot path.
    let api = api::routes().merge(metrics::routes()).layer(axum::Extension(state.clone()));
    traced(device::routes().merge(api).merge(health_routes()).layer(state.metrics_handle().layer())).with_state(state)
}

fn connection_registry(config: &Config) -> Arc<connections::Connections> {
    connections::Connections::new(connections::ConnectionSettings {
        max_connections: config.connections.max,
        header_timeout: Duration::from_millis(config.connections.header_timeout_ms.max(1)),
    })
}

/// Serves [`router`] on `listener` until `shutdown` completes, lets requests in flight finish,
/// then flushes everything buffered.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let registry = connection_registry(state.config());
    let result = connections::serve(listener, router(state.clone()), registry, stopped).await;
    state.shutdown().await;
    result
}

/// Serves device endpoints on `public` and the management API on `management`.
pub async fn serve_split(
    public: TcpListener,
    management: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let registry = connection_registry(state.config());
    let result = tokio::try_join!(
        connections::serve(public, device_router(state.clone()), registry.clone(), stopped.clone()),
        connections::serve(management, management_router(state.clone()), registry, stopped)
    );
    state.shutdown().await;
    result.map(|_| ())
}
