//! Release health: installs, failures and rollbacks per bundle, adoption per channel, and
//! time buckets for charts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use capstan_core::api::{ActiveQuery, BucketCount, BundleHealth, ChannelAdoption, Timeline, TimelineQuery};

use super::{ApiQuery, require_app};
use crate::AppState;
use crate::error::AppError;

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

/// Per-bundle health.
pub async fn bundles(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiQuery(q): ApiQuery<ActiveQuery>,
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
        entry(&mut health, &bundle.bundle.version);
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
    let channels = state.db().list_channels(&app_id).await?;
    for served in crate::rollouts::app_health(&state, &app_id, &channels).await? {
        entry(&mut health, &served.version).on_channels.push(served);
    }
    Ok(Json(health.into_values().collect()))
}

/// Adoption per channel: active devices per bundle, and the share on the channel's target.
pub async fn channels(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiQuery(q): ApiQuery<ActiveQuery>,
) -> Result<Json<Vec<ChannelAdoption>>, AppError> {
    require_app(&state, &app_id).await?;
    state.ingest().devices.flush(state.db()).await;
    let since = state.now_ms() - i64::from(q.active_days.unwrap_or(30)) * DAY_MS;
    let counts = state.db().device_counts(&app_id, since).await?;
    let mut out = Vec::new();
    let channels = state.db().list_channels(&app_id).await?;
    let mut health = crate::rollouts::app_health(&state, &app_id, &channels).await?;
    for channel in channels {
        let rows: Vec<_> = counts.iter().filter(|c| c.channel.as_deref() == Some(channel.name.as_str())).collect();
        let total: i64 = rows.iter().map(|c| c.devices).sum();
        let targets: Vec<&str> = channel.lanes.iter().filter_map(|l| l.target.as_ref()).map(|t| t.as_text()).collect();
        let on_target: i64 =
            rows.iter().filter(|c| targets.contains(&c.bundle_version.as_str())).map(|c| c.devices).sum();
        let by_bundle = rows.iter().map(|c| (c.bundle_version.clone(), c.devices)).collect();
        let served_health = health.extract_if(.., |h| h.channel == channel.name).collect();
        out.push(ChannelAdoption {
            health: served_health,
            active_devices: total,
            adoption: if total > 0 { on_target as f64 / total as f64 } else { 0.0 },
            by_bundle,
            channel: channel.name,
            on_target,
            lanes: channel.lanes,
        });
    }
    Ok(Json(out))
}

/// Events per bucket and action.
pub async fn timeline(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
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
