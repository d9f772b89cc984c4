//! The Keys screen: each app's signing key (in the OS keychain), its registration on the server,
//! the "require signed bundles" switch and which keys installed apps trust. Thin adapters over
//! `capstan_client::signing`.

use std::path::PathBuf;

use capstan_client::signing::{self, KeyOutcome, KeyStore, Registration};
use capstan_core::api::{AppSigning, KeyCoverage, SigningKeyRecord};
use serde::Serialize;
use ts_rs::TS;

use super::connected_api;
use crate::error::UiError;

/// Which key signs one app: the server's rule and registered keys, and this machine's key.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppKeyStatus {
    /// App id.
    pub app: String,
    /// Display name.
    pub name: String,
    /// Whether the server refuses unsigned bundles for the app.
    pub require_signed: bool,
    /// Public keys registered on the server, oldest first.
    pub registered: Vec<SigningKeyRecord>,
    /// Key id of the private key this machine holds for the app.
    pub local_key_id: Option<String>,
    /// Where it is: `the OS keychain` or `CAPSTAN_SIGNING_KEY`.
    pub local_source: Option<String>,
    /// Whether publishing from this machine signs the app's bundles (the key is registered).
    pub signs: bool,
}

/// A key's public half as the app ships it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct KeyDetails {
    /// App id.
    pub app: String,
    /// The key id devices report.
    pub key_id: String,
    /// The public key, PKCS#1 PEM: the app's `publicKey`.
    pub public_key: String,
    /// The Capacitor config snippet with it.
    pub config_snippet: String,
    /// Whether the server has it registered.
    pub registered: bool,
    /// Whether another key this machine held for the app was replaced.
    pub replaced: bool,
}

impl From<KeyOutcome> for KeyDetails {
    fn from(outcome: KeyOutcome) -> Self {
        KeyDetails {
            app: outcome.public.app,
            key_id: outcome.public.key_id,
            public_key: outcome.public.public_key,
            config_snippet: outcome.public.config_snippet,
            registered: outcome.registered,
            replaced: outcome.replaced,
        }
    }
}

fn registration(register: bool) -> Registration {
    if register { Registration::Register } else { Registration::Skip }
}

/// Every app of the server with the key that signs it.
#[tauri::command]
pub async fn keys_overview() -> Result<Vec<AppKeyStatus>, UiError> {
    let overview = signing::overview(&connected_api().await?, None, &KeyStore::new()).await?;
    Ok(overview.into_iter().map(status).collect())
}

fn status(keys: signing::AppKeys) -> AppKeyStatus {
    AppKeyStatus {
        app: keys.app,
        name: keys.name,
        require_signed: keys.signing.require_signed,
        registered: keys.signing.keys,
        local_key_id: keys.local_key_id,
        local_source: keys.local_source.map(|s| s.to_string()),
        signs: keys.signs,
    }
}

/// Makes the app's RSA-2048 key: private key to the keychain, public key registered (admin).
#[tauri::command]
pub async fn create_signing_key(app: String, register: bool, replace: bool) -> Result<KeyDetails, UiError> {
    let api = connected_api().await?;
    Ok(signing::create(&api, &app, &KeyStore::new(), registration(register), replace).await?.into())
}

/// The public key and config snippet of the key this machine signs the app with.
#[tauri::command]
pub async fn show_signing_key(app: String) -> Result<KeyDetails, UiError> {
    let shown = signing::show(&connected_api().await?, &app, &KeyStore::new()).await?;
    Ok(KeyDetails {
        app: shown.public.app,
        key_id: shown.public.key_id,
        public_key: shown.public.public_key,
        config_snippet: shown.public.config_snippet,
        registered: shown.registered,
        replaced: false,
    })
}

/// Writes the keychain's private key to `path` (mode 0600; never overwrites) for a backup.
#[tauri::command]
pub async fn export_signing_key(app: String, path: String) -> Result<String, UiError> {
    let path = PathBuf::from(path.trim());
    let public = signing::export(&app, &path, &KeyStore::new()).await?;
    Ok(public.key_id)
}

/// Puts a private key file into the keychain; registers it when the server does not know it.
#[tauri::command]
pub async fn import_signing_key(
    app: String,
    path: String,
    register: bool,
    replace: bool,
) -> Result<KeyDetails, UiError> {
    let api = connected_api().await?;
    let path = PathBuf::from(path.trim());
    Ok(signing::import(&api, &app, &path, &KeyStore::new(), registration(register), replace).await?.into())
}

/// Registers the public half of this machine's key (admin).
#[tauri::command]
pub async fn register_signing_key(app: String) -> Result<SigningKeyRecord, UiError> {
    Ok(signing::register(&connected_api().await?, &app, None, &KeyStore::new()).await?)
}

/// Requires signed bundles for the app, or stops requiring them (admin).
#[tauri::command]
pub async fn set_require_signed(app: String, required: bool) -> Result<AppSigning, UiError> {
    Ok(connected_api().await?.update_signing(&app, required).await?)
}

/// Which keys the active devices trust, per native version.
#[tauri::command]
pub async fn key_coverage(app: String, active_days: Option<u32>) -> Result<KeyCoverage, UiError> {
    Ok(connected_api().await?.key_coverage(&app, active_days).await?)
}
