//! Read-mostly views for release managers, QA and support: bundles and their health, devices
//! (with QA's channel overrides), stats over time and the audit log.

use capstan_core::api::{
    AuditEntry, Bundle, BundleHealth, ChannelAdoption, DeviceDetail, DeviceFilter, DeviceOverride, DeviceRecord,
    Timeline,
};

use super::connected_api;
use crate::error::UiError;

/// Every bundle of `app`, newest first.
#[tauri::command]
pub async fn list_bundles(app: String) -> Result<Vec<Bundle>, UiError> {
    Ok(connected_api().await?.bundles(&app).await?)
}

/// Installs, failures, rollbacks and active devices per bundle.
#[tauri::command]
pub async fn bundle_health(app: String) -> Result<Vec<BundleHealth>, UiError> {
    Ok(connected_api().await?.bundle_stats(&app).await?)
}

/// Adoption per channel.
#[tauri::command]
pub async fn channel_adoption(app: String) -> Result<Vec<ChannelAdoption>, UiError> {
    Ok(connected_api().await?.channel_stats(&app).await?)
}

/// Events per time bucket (`hour` or `day`) and action over the last `days` days, of one
/// bundle `version` or of all.
#[tauri::command]
pub async fn stats_timeline(
    app: String,
    bucket: String,
    days: u32,
    version: Option<String>,
) -> Result<Timeline, UiError> {
    Ok(connected_api().await?.timeline(&app, &bucket, days, version.as_deref()).await?)
}

/// Devices matching `filter`.
#[tauri::command]
pub async fn search_devices(app: String, filter: DeviceFilter) -> Result<Vec<DeviceRecord>, UiError> {
    Ok(connected_api().await?.devices(&app, &filter).await?)
}

/// A device, its channel override and its event timeline.
#[tauri::command]
pub async fn device_detail(app: String, device: String) -> Result<DeviceDetail, UiError> {
    Ok(connected_api().await?.device(&app, &device).await?)
}

/// Pins a device to a channel (QA).
#[tauri::command]
pub async fn set_device_override(app: String, device: String, channel: String) -> Result<DeviceOverride, UiError> {
    Ok(connected_api().await?.set_override(&app, &device, &channel).await?)
}

/// Removes a device's channel override; false when it had none.
#[tauri::command]
pub async fn clear_device_override(app: String, device: String) -> Result<bool, UiError> {
    Ok(connected_api().await?.clear_override(&app, &device).await?)
}

/// Management changes, newest first, of one app or of all.
#[tauri::command]
pub async fn audit_log(app: Option<String>, limit: u32) -> Result<Vec<AuditEntry>, UiError> {
    Ok(connected_api().await?.audit(app.as_deref(), limit).await?)
}
