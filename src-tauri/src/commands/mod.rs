//! Tauri commands, one module per area. Each command takes state, calls a use-case, maps the
//! error: no logic lives here.

pub mod apps;
pub mod bundle;
pub mod channels;
pub mod insight;
pub mod keys;
pub mod operations;
pub mod publish;
pub mod session;
pub mod webhooks;

use capstan_client::api::Api;
use capstan_client::connect::{self, ConnectOptions};

use crate::error::UiError;

/// The API of the active profile (server URL from the profile file, token from the keychain).
async fn connected_api() -> Result<Api, UiError> {
    Ok(connect::connect(ConnectOptions::default()).await?.api)
}
