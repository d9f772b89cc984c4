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
pub mod cache;
pub mod clock;
pub mod config;
pub mod delta;
pub mod device;
pub mod error;
pub mod ingest;
pub mod jobs;
pub mod ratelimit;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
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
use crate::config::Config;
use crate::ingest::Ingest;
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
    cache: ConfigCache,
    ingest: Ingest,
    limiter: RateLimiter,
    clock: Arc<dyn Clock>,
    upload_dir: PathBuf,
    jobs: jobs::JobRunner,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
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

/// How old an unreferenced blob must be before start-up removes it. A blob is stored before
/// its bundle row is committed (an upload's last step, a second or two); another replica may be
/// between those two steps right now, so only what a crash left long ago is collected.
const ORPHAN_GRACE_MS: i64 = 60 * 60 * 1000;

impl AppState {
    /// The configured storage (the embedded SQLite file and blob directory by default). Cleans
    /// what a crash may have left: partial uploads, and blobs that no bundle row references.
    pub async fn open(config: Config) -> Result<AppState, StartError> {
        let storage = store::open(&config).await?;
        let upload_dir = config.data_dir.join("uploads");
        if upload_dir.exists() {
            std::fs::remove_dir_all(&upload_dir)
                .map_err(|source| StartError::Dir { path: upload_dir.clone(), source })?;
        }
        std::fs::create_dir_all(&upload_dir).map_err(|source| StartError::Dir { path: upload_dir.clone(), source })?;
        let clock = Arc::new(SystemClock);
        remove_orphan_blobs(&*storage.db, &*storage.blobs, clock.now_ms()).await?;
        Ok(AppState::new(config, storage, clock, upload_dir))
    }

    /// A state over any storage backends and clock. Starts the background writers, so it must
    /// be called inside a Tokio runtime.
    pub fn new(config: Config, storage: Storage, clock: Arc<dyn Clock>, upload_dir: PathBuf) -> AppState {
        let Storage { db, blobs } = storage;
        let ingest =
            Ingest::start(db.clone(), Duration::from_millis(config.device_flush_ms), config.stats_queue_events);
        let background_jobs = config.background_jobs;
        let state = AppState(Arc::new(Inner {
            base_url: config.public_base_url(),
            cache: ConfigCache::new(db.clone(), Duration::from_millis(config.cache_ttl_ms)),
            limiter: RateLimiter::new(&config.rate_limit),
            config,
            db,
            blobs,
            ingest,
            clock,
            upload_dir,
            jobs: jobs::JobRunner::new(jobs::server_jobs(), format!("replica-{}", auth::random_hex(6))),
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
        if referenced.contains(&blob.key) || now_ms - blob.modified_ms < ORPHAN_GRACE_MS {
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

/// Device endpoints and health checks only (for a public listener).
pub fn device_router(state: AppState) -> Router {
    device::routes().merge(health_routes()).layer(tower_http::trace::TraceLayer::new_for_http()).with_state(state)
}

/// Management API and health checks only (for a private listener).
pub fn management_router(state: AppState) -> Router {
    api::routes()
        .merge(health_routes())
        // The role checks in front of each route find the state here (see `auth::require`).
        .layer(axum::Extension(state.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Everything on one listener.
pub fn router(state: AppState) -> Router {
    device::routes()
        .merge(api::routes())
        .merge(health_routes())
        .layer(axum::Extension(state.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn run(listener: TcpListener, app: Router, mut stop: tokio::sync::watch::Receiver<bool>) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await
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
    let result = run(listener, router(state.clone()), stopped).await;
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
    let result = tokio::try_join!(
        run(public, device_router(state.clone()), stopped.clone()),
        run(management, management_router(state.clone()), stopped)
    );
    state.shutdown().await;
    result.map(|_| ())
}
