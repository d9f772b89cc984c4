//! API tokens over HTTP (admins), and `whoami`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use capstan_core::api::{CreateToken, CreatedToken, Me, TokenRecord};
use serde_json::json;

use super::{ApiJson, ApiPath, audit};
use crate::AppState;
use crate::auth::{Caller, generate_token, hash_token};
use crate::error::AppError;
use crate::store::StoreError;

/// The caller's identity.
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me { name: caller.name, role: caller.role, token_id: caller.token_id })
}

/// List tokens (never their secrets).
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TokenRecord>>, AppError> {
    Ok(Json(state.db().list_tokens().await?))
}

/// Create a token; the secret is in this answer only.
pub async fn create(
    caller: Caller,
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
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TokenRecord>, AppError> {
    let now = state.now_ms();
    let entry = audit(&state, caller.actor(), None, "token.revoke", &id.to_string(), None, None);
    match state.db().revoke_token(id, now, Some(entry)).await {
        Ok(record) => Ok(Json(record)),
        Err(StoreError::NotFound) => Err(AppError::NotFound(format!("live token {id}"))),
        Err(other) => Err(other.into()),
    }
}
