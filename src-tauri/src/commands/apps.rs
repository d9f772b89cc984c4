//! Apps on the server: a first-time admin registers one from the console.

use capstan_client::api::types::{App, CreateApp};

use super::connected_api;
use crate::error::UiError;

/// Registers an app (reverse-DNS id, as devices send it) with its public `production` channel.
#[tauri::command]
pub async fn create_app(id: String, name: Option<String>) -> Result<App, UiError> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    Ok(connected_api().await?.create_app(&CreateApp { id: id.trim().to_owned(), name }).await?)
}
