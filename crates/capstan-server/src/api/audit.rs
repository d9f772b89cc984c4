//! The audit log: every management change, who, what, before, after, when.

use axum::Json;
use axum::extract::State;
use capstan_core::api::{AuditEntry, AuditQuery};

use crate::AppState;
use crate::error::AppError;

/// List audit entries, newest first.
pub async fn list(
    State(state): State<AppState>,
    super::ApiQuery(query): super::ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.db().list_audit(query.app.as_deref(), limit).await?))
}
