//! Server administration from the console: registering apps, and the team's API tokens.

use capstan_core::api::{App, CreateApp, CreateToken, CreatedToken, TokenRecord};

use super::connected_api;
use crate::error::UiError;

/// Registers an app (reverse-DNS id, as devices send it) with its public `production` channel.
#[tauri::command]
pub async fn create_app(id: String, name: Option<String>) -> Result<App, UiError> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    Ok(connected_api().await?.create_app(&CreateApp { id: id.trim().to_owned(), name }).await?)
}

/// Every API token of the server, revoked ones included (admin).
#[tauri::command]
pub async fn list_tokens() -> Result<Vec<TokenRecord>, UiError> {
    Ok(connected_api().await?.tokens().await?)
}

/// A new token for a teammate or a CI job; the secret is in this answer only (admin).
#[tauri::command]
pub async fn create_token(token: CreateToken) -> Result<CreatedToken, UiError> {
    let token = CreateToken { name: token.name.trim().to_owned(), role: token.role };
    Ok(connected_api().await?.create_token(&token).await?)
}

/// Revokes a token: requests with it are refused from now on (admin).
#[tauri::command]
pub async fn revoke_token(id: i64) -> Result<TokenRecord, UiError> {
    Ok(connected_api().await?.revoke_token(id).await?)
}
