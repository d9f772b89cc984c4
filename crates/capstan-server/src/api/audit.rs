//! The audit log: every management change, who, what, before, after, when.

use axum::Json;
use axum::extract::{Query, State};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Authorized, Viewer};
use crate::error::AppError;
use crate::store::AuditEntry;

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AuditQuery {
    /// Only this app's entries.
    pub app: Option<String>,
    /// Most entries (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// List audit entries, newest first.
pub async fn list(
    _: Authorized<Viewer>,
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.db().list_audit(query.app.as_deref(), limit).await?))
}
