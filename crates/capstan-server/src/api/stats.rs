//! Release health: installs, failures and rollbacks per bundle, adoption per channel, and
//! time buckets for charts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::require_app;
use crate::AppState;
use crate::auth::{Authorized, Viewer};
use crate::error::AppError;
use crate::store::{BucketCount, Rollout};

/// Actions that mean a bundle failed on a device (protocol.md §3).
pub fn is_failure(action: &str) -> bool {
    matches!(action, "update_fail" | "set_fail" | "download_fail" | "checksum_fail" | "unzip_fail" | "decrypt_fail")
        || action.ends_with("_path_fail")
}

/// Actions that mean the device went back from a bundle.
pub fn is_rollback(action: &str) -> bool {
    matches!(action, "update_fail" | "reset")
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Window for "active" devices.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ActiveQuery {
    /// Devices seen in the last N days count as active (default 30).
    pub active_days: Option<u32>,
}

/// Health of one bundle version.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct BundleHealth {
    /// Bundle version.
    pub version: String,
    /// `set` events.
    pub installs: i64,
    /// Failure events by action.
    pub failures: BTreeMap<String, i64>,
    /// Sum of failures.
    pub failures_total: i64,
    /// `update_fail` + `reset`.
    pub rollbacks: i64,
    /// Devices running it that were seen in the window.
    pub active_devices: i64,
}

/// Per-bundle health.
pub async fn bundles(
    _: Authorized<Viewer>,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Query(q): Query<ActiveQuery>,
) -> Result<Json<Vec<BundleHealth>>, AppError> {
    require_app(&state, &app_id).await?;
    state.ingest().devices.flush(state.db()).await;
    let since = state.now_ms() - i64::from(q.active_days.unwrap_or(30)) * DAY_MS;
    let mut health: BTreeMap<String, BundleHealth> = BTreeMap::new();
    fn entry<'a>(health: &'a mut BTreeMap<String, BundleHealth>, version: &str) -> &'a mut BundleHealth {
        health
            .entry(version.to_owned())
            .or_insert_with(|| BundleHealth { version: version.to_owned(), ..BundleHealth::default() })
    }
    for bundle in state.db().list_bundles(&app_id).await? {
        entry(&mut health, &bundle.version);
    }
    for count in state.db().action_counts(&app_id).await? {
        let h = entry(&mut health, &count.version);
        if count.action == "set" {
            h.installs += count.count;
        }
        if is_failure(&count.action) {
            *h.failures.entry(count.action.clone()).or_default() += count.count;
            h.failures_total += count.count;
        }
        if is_rollback(&count.action) {
            h.rollbacks += count.count;
        }
    }
    for count in state.db().device_counts(&app_id, since).await? {
        entry(&mut health, &count.bundle_version).active_devices += count.devices;
    }
    Ok(Json(health.into_values().collect()))
}

// Fields in the (sorted) order the `json!` this replaced wrote them.
/// Adoption of one channel.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChannelAdoption {
    /// Devices on this channel seen in the window.
    pub active_devices: i64,
    /// `on_target / active_devices` (0 without devices).
    pub adoption: f64,
    /// Active devices per bundle version running.
    pub by_bundle: BTreeMap<String, i64>,
    /// Channel name.
    pub channel: String,
    /// Active devices running the target.
    pub on_target: i64,
    /// A rollout in progress.
    pub rollout: Option<Rollout>,
    /// What the channel serves: a version, `builtin`, or `null`.
    pub target: Option<String>,
}

/// `GET .../stats/timeline` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Timeline {
    /// Bucket width, ms.
    pub bucket_ms: i64,
    /// Event counts per bucket start and action.
    pub buckets: Vec<BucketCount>,
}

/// Adoption per channel: active devices per bundle, and the share on the channel's target.
pub async fn channels(
    _: Authorized<Viewer>,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Query(q): Query<ActiveQuery>,
) -> Result<Json<Vec<ChannelAdoption>>, AppError> {
    require_app(&state, &app_id).await?;
    state.ingest().devices.flush(state.db()).await;
    let since = state.now_ms() - i64::from(q.active_days.unwrap_or(30)) * DAY_MS;
    let counts = state.db().device_counts(&app_id, since).await?;
    let mut out = Vec::new();
    for channel in state.db().list_channels(&app_id).await? {
        let rows: Vec<_> = counts.iter().filter(|c| c.channel.as_deref() == Some(channel.name.as_str())).collect();
        let total: i64 = rows.iter().map(|c| c.devices).sum();
        let target = channel.target.as_ref().map(|t| t.as_text().to_owned());
        let on_target: i64 =
            rows.iter().filter(|c| target.as_deref() == Some(c.bundle_version.as_str())).map(|c| c.devices).sum();
        let by_bundle = rows.iter().map(|c| (c.bundle_version.clone(), c.devices)).collect();
        out.push(ChannelAdoption {
            active_devices: total,
            adoption: if total > 0 { on_target as f64 / total as f64 } else { 0.0 },
            by_bundle,
            channel: channel.name,
            on_target,
            rollout: channel.rollout,
            target,
        });
    }
    Ok(Json(out))
}

/// Query of the timeline.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TimelineQuery {
    /// `hour` (default) or `day`.
    pub bucket: Option<String>,
    /// How many days back (default 7, at most 366).
    pub days: Option<u32>,
    /// Only events about this bundle.
    pub version: Option<String>,
}

/// Events per bucket and action.
pub async fn timeline(
    _: Authorized<Viewer>,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<Timeline>, AppError> {
    require_app(&state, &app_id).await?;
    let bucket_ms = match q.bucket.as_deref().unwrap_or("hour") {
        "hour" => 3600 * 1000,
        "day" => DAY_MS,
        other => {
            return Err(AppError::bad_request("invalid_bucket", format!("bucket is `hour` or `day`, not `{other}`")));
        }
    };
    let since = state.now_ms() - i64::from(q.days.unwrap_or(7).min(366)) * DAY_MS;
    let buckets: Vec<BucketCount> = state.db().event_buckets(&app_id, bucket_ms, since, q.version.as_deref()).await?;
    Ok(Json(Timeline { bucket_ms, buckets }))
}
