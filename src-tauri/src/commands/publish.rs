//! Publishing from the console: what the form is prefilled with, and the publish itself.

use std::path::PathBuf;

use capstan_client::discovery;
use capstan_client::native;
use capstan_client::publish::{self, PublishProgress, PublishRequest};
use capstan_core::api::Lane;
use capstan_core::native::NativeCheck;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, State};
use ts_rs::TS;

use super::connected_api;
use crate::error::{UiError, UiErrorCode};
use crate::operations::Operations;
use crate::progress_events::EventProgress;

/// What the publish form starts with, and where each value came from.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PublishDefaults {
    /// Version from the nearest `package.json`.
    pub version: Option<String>,
    /// Where the version came from, in words.
    pub version_source: String,
    /// MIN_NATIVE_VERSION from the nearest `MIN_NATIVE_VERSION` file.
    pub min_native: Option<String>,
    /// Where it came from; without a file the channel's current value is kept at publish.
    pub min_native_source: String,
}

/// An app and its channels, for the publish form's pickers.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppChannels {
    /// App id.
    pub app: String,
    /// Display name.
    pub name: String,
    /// Channels with what they serve now.
    pub channels: Vec<ChannelSummary>,
}

/// A channel and what it serves, per native line.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ChannelSummary {
    /// Name.
    pub name: String,
    /// What it serves per native line, newest line first.
    pub lanes: Vec<Lane>,
}

/// The publish form.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct PublishForm {
    /// Build folder.
    pub folder: String,
    /// The zip the preview packed from the folder, shipped as it was previewed.
    pub previewed_zip: String,
    /// Its SHA-256 as the preview showed it; publishing refuses any other bundle.
    pub previewed_sha256: String,
    /// App id.
    pub app: String,
    /// Channel.
    pub channel: String,
    /// Version (semver).
    pub version: String,
    /// MIN_NATIVE_VERSION; empty keeps the channel's current value.
    pub min_native: String,
    /// Share of devices in percent (100 = everyone).
    pub rollout_percent: f64,
    /// Release notes.
    pub notes: String,
}

/// What was published: the checksum the server verified and where it went.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PublishResult {
    /// App id.
    pub app: String,
    /// Channel.
    pub channel: String,
    /// Version.
    pub version: String,
    /// SHA-256, computed locally and verified equal on the server.
    pub sha256: String,
    /// Zip size in bytes.
    pub size: u64,
    /// Files in the bundle.
    pub files: usize,
    /// MIN_NATIVE_VERSION of the bundle.
    pub min_native_version: Option<String>,
    /// Where it came from, in words.
    pub min_native_source: String,
    /// Rollout share in percent, when not everyone gets it.
    pub rollout_percent: Option<f64>,
    /// The key id it was signed with (then it was also downloaded and opened as a device
    /// does); `null` when the app does not sign its bundles.
    pub signed_with: Option<String>,
    /// What a device on the previous bundle downloads with a delta update, against `size`.
    pub delta: Option<capstan_core::api::DeltaSize>,
}

/// Reads the version and MIN_NATIVE_VERSION a build folder's project declares.
#[tauri::command]
pub async fn publish_defaults(folder: String) -> Result<PublishDefaults, UiError> {
    let folder = PathBuf::from(folder);
    let version = discovery::package_version(&folder)?;
    let min_native = discovery::min_native_file(&folder)?;
    Ok(PublishDefaults {
        version_source: version.as_ref().map_or("no package.json found".into(), |f| f.source.to_string()),
        version: version.map(|f| f.value.to_string()),
        min_native_source: min_native
            .as_ref()
            .map_or("no MIN_NATIVE_VERSION file: the channel's current value is kept".into(), |f| f.source.to_string()),
        min_native: min_native.map(|f| f.value.to_string()),
    })
}

/// What the native check says about a release, for the Publish screen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct NativeView {
    /// The Capacitor project found above the build folder; `null`: none, nothing checked.
    pub project: Option<String>,
    /// Whether publishing must stop: the native surface changed and MIN_NATIVE_VERSION was
    /// not raised.
    pub stops: bool,
    /// The verdict in words.
    pub sentence: String,
    /// What changed, one item each (`@capacitor/camera 6.0.1 → 6.1.0`).
    pub changes: Vec<String>,
    /// The MIN_NATIVE_VERSION to raise to, when the check stops the publish.
    pub suggested_min_native: Option<String>,
    /// Where the suggestion comes from, in words.
    pub suggested_source: Option<String>,
}

/// Checks whether the project the build folder belongs to changed natively since the bundle
/// its shells run on `channel`, for a bundle `version` with MIN_NATIVE_VERSION `min_native`
/// (empty: the channel's current value).
#[tauri::command]
pub async fn check_native(
    app: String,
    channel: String,
    folder: String,
    version: String,
    min_native: String,
) -> Result<NativeView, UiError> {
    let api = connected_api().await?;
    let channel = api.channel(&app, &channel).await?;
    let invalid = |e: capstan_core::version::VersionError| UiError::new(UiErrorCode::InvalidInput, e.to_string());
    let version = capstan_core::version::parse_lenient(&version).map_err(invalid)?;
    let min_native = match min_native.trim() {
        "" => None,
        text => Some(capstan_core::version::parse_lenient(text).map_err(invalid)?),
    };
    let review = native::review(&api, &app, &channel, &PathBuf::from(folder), &version, min_native.as_ref()).await?;
    let changes = match &review.check {
        Some(NativeCheck::Changed { diff, .. } | NativeCheck::Raised { diff, .. }) => {
            diff.changes.iter().map(ToString::to_string).collect()
        }
        _ => Vec::new(),
    };
    let stops = review.stops();
    Ok(NativeView {
        project: review.project.as_ref().map(|p| p.display().to_string()),
        stops,
        sentence: review.check.as_ref().map_or_else(|| review.sentence(), NativeCheck::sentence),
        changes,
        suggested_min_native: review.suggested_min_native.as_ref().filter(|_| stops).map(|s| s.value.to_string()),
        suggested_source: review.suggested_min_native.as_ref().filter(|_| stops).map(|s| s.source.to_string()),
    })
}

/// Every app with its channels.
#[tauri::command]
pub async fn list_app_channels() -> Result<Vec<AppChannels>, UiError> {
    let api = connected_api().await?;
    let mut result = Vec::new();
    for app in api.apps().await? {
        let channels = api.channels(&app.id).await?;
        result.push(AppChannels {
            channels: channels.into_iter().map(|c| ChannelSummary { name: c.name, lanes: c.lanes }).collect(),
            app: app.id,
            name: app.name,
        });
    }
    Ok(result)
}

/// Packs, encrypts when the app signs its bundles, uploads, verifies and assigns the bundle to
/// the channel; progress as `operation-progress` events: `packing`, `encrypting`, `uploading`,
/// `verifying` (the last downloads what the server stores and opens it as a device does).
#[tauri::command]
pub async fn publish_bundle(
    app: AppHandle,
    operations: State<'_, Operations>,
    operation_id: String,
    form: PublishForm,
) -> Result<PublishResult, UiError> {
    let api = connected_api().await?;
    let operation = operations.start(&operation_id);
    let prepare = EventProgress::new(app.clone(), &operation_id, "packing");
    let sign = EventProgress::new(app.clone(), &operation_id, "encrypting");
    let upload = EventProgress::new(app.clone(), &operation_id, "uploading");
    let verify = EventProgress::new(app, &operation_id, "verifying");
    // Ship the zip the user previewed, not a fresh pack: files edited since then must not slip
    // in unseen. The checksum guards against the preview file being replaced meanwhile.
    let request = PublishRequest {
        input: PathBuf::from(form.previewed_zip),
        app: form.app,
        channel: form.channel,
        version: Some(form.version),
        min_native: Some(form.min_native).filter(|m| !m.trim().is_empty()),
        rollout_percent: Some(form.rollout_percent),
        notes: Some(form.notes).filter(|n| !n.trim().is_empty()),
        force: false,
        project_dir: Some(PathBuf::from(form.folder)),
        expected_sha256: Some(form.previewed_sha256),
        // The form shows the native check first and raises MIN_NATIVE_VERSION in one click;
        // what it sends is what the user saw.
        raise_min_native: false,
        force_native: false,
    };
    let progress = PublishProgress { prepare: &prepare, sign: &sign, upload: &upload, verify: &verify };
    let outcome = publish::publish(&api, &request, progress, &operation.flag).await?;
    Ok(PublishResult {
        app: outcome.app,
        channel: outcome.channel,
        version: outcome.version,
        sha256: outcome.sha256,
        size: outcome.size,
        files: outcome.files,
        min_native_version: outcome.min_native_version,
        min_native_source: outcome.min_native_source.to_string(),
        rollout_percent: outcome.rollout_percent,
        signed_with: outcome.signature.map(|s| s.key_id),
        delta: outcome.delta,
    })
}
