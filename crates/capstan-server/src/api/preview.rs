//! The fleet preview route: what devices would get after a change (`crate::preview`).

use axum::Json;
use axum::extract::{Path, State};
use capstan_core::api::{Preview, PreviewRequest};

use super::{ApiJson, require_app};
use crate::AppState;
use crate::error::AppError;

/// Preview a change; nothing is changed.
pub async fn preview(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> Result<Json<Preview>, AppError> {
    require_app(&state, &app_id).await?;
    // The devices `/updates` heard but has not written yet count too.
    state.ingest().devices.flush(state.db()).await;
    Ok(Json(crate::preview::preview(&state, &app_id, &request).await?))
}
