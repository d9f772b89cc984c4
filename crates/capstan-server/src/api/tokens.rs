//! API tokens over HTTP (admins), and `whoami`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiJson, audit};
use crate::AppState;
use crate::auth::{Admin, Authorized, Role, Viewer, generate_token, hash_token};
use crate::error::AppError;
use crate::store::{StoreError, TokenRecord};

/// `POST /api/v1/tokens` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Human name (who or what uses it).
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// `GET /api/v1/me` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Me {
    /// Token name.
    pub name: String,
    /// Token role.
    pub role: Role,
    /// Token id.
    pub token_id: i64,
}

/// `POST /api/v1/tokens` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedToken {
    /// The stored token (without its secret).
    pub record: TokenRecord,
    /// The secret, shown in this answer only.
    pub token: String,
}

/// The caller's identity.
pub async fn me(Authorized(caller, _): Authorized<Viewer>) -> Json<Me> {
    Json(Me { name: caller.name, role: caller.role, token_id: caller.token_id })
}

/// List tokens (never their secrets).
pub async fn list(_: Authorized<Admin>, State(state): State<AppState>) -> Result<Json<Vec<TokenRecord>>, AppError> {
    Ok(Json(state.db().list_tokens().await?))
}

/// Create a token; the secret is in this answer only.
pub async fn create(
    Authorized(caller, _): Authorized<Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(AppError::bad_request("invalid_name", "name must be 1–200 characters"));
    }
    let token = generate_token();
    let now = state.now_ms();
    let entry = audit(
        &state,
        caller.actor(),
        None,
        "token.create",
        &body.name,
        None,
        Some(json!({ "name": body.name, "role": body.role })),
    );
    let record = state.db().insert_token(&body.name, body.role, &hash_token(&token), now, Some(entry)).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { record, token })))
}

/// Revoke a token.
pub async fn revoke(
    Authorized(caller, _): Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<TokenRecord>, AppError> {
    let now = state.now_ms();
    let entry = audit(&state, caller.actor(), None, "token.revoke", &id.to_string(), None, None);
    match state.db().revoke_token(id, now, Some(entry)).await {
        Ok(record) => Ok(Json(record)),
        Err(StoreError::NotFound) => Err(AppError::NotFound(format!("live token {id}"))),
        Err(other) => Err(other.into()),
    }
}
