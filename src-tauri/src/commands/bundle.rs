//! Picking a build folder and previewing the bundle it makes, before anything is sent.

use std::path::PathBuf;

use capstan_core::bundle::{self, BundleFile, BundleReport, PackOptions, Warning};
use serde::Serialize;
use tauri::{AppHandle, Manager, State};
use ts_rs::TS;

use crate::error::{UiError, UiErrorCode};
use crate::operations::Operations;
use crate::progress_events::EventProgress;

/// What will ship: the facts a release manager checks before publishing.
#[derive(Debug, Clone, Serialize, TS)]
pub struct BundlePreview {
    /// The build folder that was packed.
    pub folder: String,
    /// The packed zip, kept so publishing uploads exactly what was previewed.
    pub zip_path: String,
    /// SHA-256 of the zip.
    pub sha256: String,
    /// Zip size in bytes.
    pub zip_size: u64,
    /// Uncompressed size in bytes.
    pub total_size: u64,
    /// Number of files.
    pub file_count: usize,
    /// The ten largest files.
    pub largest_files: Vec<BundleFile>,
    /// Files left out (OS junk).
    pub excluded: Vec<String>,
    /// Warnings, each with its message.
    pub warnings: Vec<PreviewWarning>,
}

/// A warning and its message in words.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PreviewWarning {
    /// The warning.
    pub warning: Warning,
    /// What it means for the release.
    pub message: String,
}

impl BundlePreview {
    fn new(folder: String, zip_path: String, report: BundleReport) -> Self {
        BundlePreview {
            folder,
            zip_path,
            largest_files: report.largest_files(10).into_iter().cloned().collect(),
            warnings: report
                .warnings
                .iter()
                .map(|w| PreviewWarning { warning: w.clone(), message: w.to_string() })
                .collect(),
            sha256: report.sha256,
            zip_size: report.zip_size,
            total_size: report.total_size,
            file_count: report.files.len(),
            excluded: report.excluded,
        }
    }
}

/// The answer the folder dialog gives without opening, for the WebDriver suite: a native GTK
/// dialog is outside the web view, where WebDriver cannot click.
const TEST_FOLDER_ANSWER: &str = "CAPSTAN_TEST_PICK_FOLDER";

/// Opens the native folder dialog; `None` when the user closes it.
#[tauri::command]
pub async fn pick_folder() -> Result<Option<String>, UiError> {
    if let Some(answer) = std::env::var_os(TEST_FOLDER_ANSWER) {
        return Ok(Some(answer.to_string_lossy().into_owned()));
    }
    let picked = rfd::AsyncFileDialog::new().set_title("Choose the web build folder").pick_folder().await;
    Ok(picked.map(|handle| handle.path().display().to_string()))
}

/// Packs `folder` into the staging area and describes the result. Progress arrives as
/// `operation-progress` events for `operation_id`, which `cancel_operation` can stop.
#[tauri::command]
pub async fn preview_bundle(
    app: AppHandle,
    operations: State<'_, Operations>,
    operation_id: String,
    folder: String,
) -> Result<BundlePreview, UiError> {
    let staging = staging_dir(&app)?;
    let zip_path = staging.join("preview.zip");
    let operation = operations.start(&operation_id);
    let cancel = operation.flag.clone();
    let progress = EventProgress::new(app.clone(), &operation_id, "packing");
    let (folder_path, out) = (PathBuf::from(&folder), zip_path.clone());
    let report = tauri::async_runtime::spawn_blocking(move || {
        bundle::pack_folder(&folder_path, &out, &PackOptions::default(), &progress, &cancel)
    })
    .await
    .map_err(|e| UiError::new(UiErrorCode::Internal, format!("packing stopped unexpectedly: {e}")))??;
    Ok(BundlePreview::new(folder, zip_path.display().to_string(), report))
}

/// Where previews are packed: the app's cache folder, created on first use.
fn staging_dir(app: &AppHandle) -> Result<PathBuf, UiError> {
    let dir = app.path().app_cache_dir()?.join("staging");
    std::fs::create_dir_all(&dir)
        .map_err(|e| UiError::new(UiErrorCode::Internal, format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}
