//! Secrets in the OS keychain: Secret Service on Linux, Keychain on macOS, Credential Manager
//! on Windows. API tokens live under service `capstan` (account = profile name); bundle signing
//! keys under service `capstan-signing` (account = app id, see [`crate::signing`]).
//!
//! There is deliberately no fallback: when the keychain is missing or locked the caller gets
//! an error that says what to do (unlock it, or use `CAPSTAN_TOKEN` in CI), never a silent
//! plain-text file and never an in-memory store that forgets the token at exit.
//!
//! Calls block (D-Bus round trips, possibly a desktop unlock prompt): async callers run them
//! with `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error};

/// Keychain service name all Capstan tokens are stored under.
pub const SERVICE: &str = "capstan";
/// Keychain service name bundle signing keys are stored under.
pub const SIGNING_SERVICE: &str = "capstan-signing";

/// Why the keychain could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// No keychain service can be reached (no D-Bus session, no Secret Service running).
    #[error(
        "the OS keychain is not available ({detail}); on Linux it needs a desktop session with a Secret Service \
         (GNOME Keyring or KWallet). In CI or on a server, set CAPSTAN_SERVER and CAPSTAN_TOKEN (or pass --server and --token) instead, \
         and CAPSTAN_SIGNING_KEY for a signing key"
    )]
    Unavailable {
        /// What the platform said.
        detail: String,
    },
    /// The keychain is there but locked, or the user dismissed the unlock prompt.
    #[error(
        "the OS keychain is locked ({detail}): unlock it (log in to the desktop session or unlock the login keyring) and try again"
    )]
    Locked {
        /// What the platform said.
        detail: String,
    },
    /// The keychain has no token for this profile.
    #[error("no token for profile `{profile}` in the OS keychain: run `capstan login` again")]
    NoToken {
        /// The profile.
        profile: String,
    },
    /// Any other keychain failure.
    #[error("the OS keychain failed: {detail}")]
    Failed {
        /// What the platform said.
        detail: String,
    },
}

/// Secrets of one kind in the platform's credential store.
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
    /// What the desktop's keychain UI calls an entry, before the account name.
    label: &'static str,
}

impl Default for Keychain {
    fn default() -> Self {
        Keychain { service: SERVICE.to_owned(), label: "Capstan API token" }
    }
}

impl Keychain {
    /// The API tokens, under Capstan's service name.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bundle signing keys (account = app id).
    pub fn signing_keys() -> Self {
        Keychain { service: SIGNING_SERVICE.to_owned(), label: "Capstan bundle signing key" }
    }

    /// The secret stored for `profile` (or app), if any.
    pub fn get(&self, profile: &str) -> Result<Option<String>, KeychainError> {
        match self.entry(profile)?.get_password() {
            Ok(token) => Ok(Some(token)),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    /// The token for `profile`, or [`KeychainError::NoToken`].
    pub fn require(&self, profile: &str) -> Result<String, KeychainError> {
        self.get(profile)?.ok_or_else(|| KeychainError::NoToken { profile: profile.to_owned() })
    }

    /// Stores (or replaces) the token for `profile`.
    pub fn set(&self, profile: &str, token: &str) -> Result<(), KeychainError> {
        self.entry(profile)?.set_password(token).map_err(classify)
    }

    /// Deletes the token for `profile`; `false` when there was none.
    pub fn delete(&self, profile: &str) -> Result<bool, KeychainError> {
        match self.entry(profile)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }

    fn entry(&self, profile: &str) -> Result<Entry, KeychainError> {
        let store = platform_store()?;
        let label = format!("{} ({profile})", self.label);
        let modifiers = HashMap::from([("label", label.as_str())]);
        // Not every store takes a label; those that do show it in the desktop's keychain UI.
        store
            .build(&self.service, profile, Some(&modifiers))
            .or_else(|_| store.build(&self.service, profile, None))
            .map_err(classify)
    }
}

#[cfg(target_os = "linux")]
fn platform_store() -> Result<Arc<CredentialStore>, KeychainError> {
    let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| match classify(e) {
        // Connecting fails only when there is no session bus or no Secret Service on it.
        KeychainError::Failed { detail } => KeychainError::Unavailable { detail },
        other => other,
    })?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<CredentialStore>, KeychainError> {
    Ok(apple_native_keyring_store::keychain::Store::new().map_err(classify)?)
}

#[cfg(target_os = "windows")]
fn platform_store() -> Result<Arc<CredentialStore>, KeychainError> {
    Ok(windows_native_keyring_store::Store::new().map_err(classify)?)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_store() -> Result<Arc<CredentialStore>, KeychainError> {
    Err(KeychainError::Unavailable { detail: "no keychain support for this operating system".into() })
}

fn classify(error: Error) -> KeychainError {
    let detail = error_chain(&error);
    match error {
        Error::NoStorageAccess(_) => KeychainError::Locked { detail },
        Error::NoDefaultStore | Error::NotSupportedByStore(_) => KeychainError::Unavailable { detail },
        _ => KeychainError::Failed { detail },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
