//! `PUT /api/v1/apps/{app}/bundles/{version}/encrypted-files`: the publishing client's signed
//! per-file hashes of an encrypted bundle, so devices can get it file by file
//! ([`crate::delta_encrypted`]).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use capstan_core::api::{Bundle, EncryptedFiles};
use futures_util::StreamExt;

use super::bundles::registered_key;
use super::require_app;
use crate::AppState;
use crate::delta_encrypted::{self, BODY_PER_FILE, BODY_SLACK};
use crate::error::AppError;

/// Most bytes of a request body: about 50,000 files' worth.
const MAX_BODY: u64 = 64 << 20;

/// Attach the signed per-file hashes of an encrypted bundle (once).
pub async fn attach(
    State(state): State<AppState>,
    Path((app_id, version)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Bundle>, AppError> {
    // JSON is read before anything is looked up (as every JSON route does), bounded first by
    // the largest bundle's worth, then by the bundle it describes.
    let bytes = read_bounded(body, MAX_BODY).await?;
    let request: EncryptedFiles = serde_json::from_slice(&bytes)
        .map_err(|e| AppError::bad_request("invalid_json", format!("not a list of signed files: {e}")))?;
    require_app(&state, &app_id).await?;
    let stored = state
        .db()
        .get_bundle(&app_id, &version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("bundle {version}")))?;
    let limit = BODY_SLACK + BODY_PER_FILE * stored.bundle.file_count.max(0) as u64;
    if bytes.len() as u64 > limit {
        return Err(AppError::TooLarge { limit });
    }
    let Some(key_id) = stored.bundle.key_id.as_deref().filter(|_| !stored.bundle.session_key.is_empty()) else {
        return Err(AppError::bad_request(
            "not_encrypted",
            format!("bundle {version} is not encrypted: its files are made at upload"),
        ));
    };
    let key = registered_key(&state.db().app_signing(&app_id).await?, key_id)?;
    Ok(Json(delta_encrypted::attach(&state, &stored, key, request).await?))
}

/// The whole body, refused beyond `limit` bytes.
async fn read_bounded(body: Body, limit: u64) -> Result<Vec<u8>, AppError> {
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::bad_request("upload_interrupted", format!("body interrupted: {e}")))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(AppError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
