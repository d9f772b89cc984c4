//! Connecting to a server: profiles, the token in the OS keychain, who the token is.

use capstan_client::connect::{self, ConnectOptions};
use capstan_client::keychain::Keychain;
use capstan_client::profiles::ProfileFile;
use capstan_core::api::Me;
use serde::Serialize;
use ts_rs::TS;

use crate::error::UiError;

/// The server the console talks to, always visible so nobody publishes to the wrong one.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Session {
    /// Profile name (e.g. `staging`, `production`).
    pub profile: String,
    /// Server URL.
    pub url: String,
    /// The profile's default app.
    pub app: Option<String>,
    /// The token's id on the server.
    pub token_id: i64,
    /// The token's name on the server.
    pub token_name: String,
    /// The token's role: `viewer`, `qa`, `publisher` or `admin`.
    pub role: String,
}

/// A saved profile.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ProfileSummary {
    /// Name.
    pub name: String,
    /// Server URL.
    pub url: String,
    /// Default app.
    pub app: Option<String>,
    /// Whether it is the active profile.
    pub active: bool,
}

impl Session {
    /// A profile's server and app, with who the server says the token is.
    fn new(profile: String, url: String, app: Option<String>, me: Me) -> Session {
        Session { profile, url, app, token_id: me.token_id, token_name: me.name, role: me.role.as_str().to_owned() }
    }
}

/// The active profile and who its token is; `not_connected` when there is none.
#[tauri::command]
pub async fn current_session() -> Result<Session, UiError> {
    let connection = connect::connect(ConnectOptions::default()).await?;
    let me = connection.api.me().await?;
    Ok(Session::new(
        connection.profile.unwrap_or_default(),
        connection.api.base_url().to_owned(),
        connection.default_app,
        me,
    ))
}

/// Checks the token against the server, stores it in the keychain, saves and activates the
/// profile. Nothing is saved when the server refuses the token.
#[tauri::command]
pub async fn connect_server(
    profile: String,
    url: String,
    token: String,
    app: Option<String>,
) -> Result<Session, UiError> {
    let file = ProfileFile::locate().map_err(capstan_client::ClientError::from)?;
    let app = app.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    let outcome = connect::login(profile.trim(), &url, &token, app, file, Keychain::new()).await?;
    Ok(Session::new(outcome.profile, outcome.url, outcome.app, outcome.me))
}

/// Every saved profile.
#[tauri::command]
pub async fn list_profiles() -> Result<Vec<ProfileSummary>, UiError> {
    tauri::async_runtime::spawn_blocking(|| -> Result<Vec<ProfileSummary>, UiError> {
        let profiles = ProfileFile::locate().and_then(|f| f.load()).map_err(capstan_client::ClientError::from)?;
        Ok(profiles
            .profiles
            .iter()
            .map(|(name, p)| ProfileSummary {
                name: name.clone(),
                url: p.url.clone(),
                app: p.app.clone(),
                active: profiles.active.as_deref() == Some(name.as_str()),
            })
            .collect())
    })
    .await?
}

/// Makes `name` the active profile.
#[tauri::command]
pub async fn switch_profile(name: String) -> Result<(), UiError> {
    tauri::async_runtime::spawn_blocking(move || -> Result<(), UiError> {
        let file = ProfileFile::locate().map_err(capstan_client::ClientError::from)?;
        file.update(|p| p.set_active(&name)).map_err(capstan_client::ClientError::from)?;
        Ok(())
    })
    .await?
}
