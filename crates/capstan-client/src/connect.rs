//! Which server and token a command uses, and logging in and out of profiles.
//!
//! Order: an explicit server and token (`--server`/`--token` or `CAPSTAN_SERVER`/
//! `CAPSTAN_TOKEN`, what CI uses) need neither a profile nor a keychain; otherwise the named
//! profile (`--profile`), else the active one, with its token from the OS keychain.

use serde::Serialize;

use crate::api::Api;
use crate::error::{ClientError, ClientResult};
use crate::keychain::Keychain;
use crate::profiles::{Profile, ProfileFile, Profiles, check_name, normalize_url};
use capstan_core::api::Me;

/// What the caller was told on the command line or by the environment.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Server URL (`--server`, `CAPSTAN_SERVER`).
    pub server: Option<String>,
    /// API token (`--token`, `CAPSTAN_TOKEN`).
    pub token: Option<String>,
    /// Profile name (`--profile`, `CAPSTAN_PROFILE`).
    pub profile: Option<String>,
}

/// A ready connection.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The API client.
    pub api: Api,
    /// The profile used, if any.
    pub profile: Option<String>,
    /// The profile's default app.
    pub default_app: Option<String>,
}

/// Resolves a connection. Blocks on the keychain: async callers use [`connect`].
pub fn resolve(options: &ConnectOptions, file: &ProfileFile, keychain: &Keychain) -> ClientResult<Connection> {
    let server = options.server.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let token = options.token.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let (Some(server), Some(token)) = (server, token) {
        // CI: nothing to read from disk or keychain, except a named profile's default app.
        let default_app = match options.profile.as_deref() {
            Some(name) => file.load()?.get(name)?.app.clone(),
            None => None,
        };
        return Ok(Connection { api: Api::new(server, token)?, profile: options.profile.clone(), default_app });
    }
    let profiles = file.load()?;
    let (name, profile) = pick_profile(&profiles, options.profile.as_deref(), server)?;
    let token = match token {
        Some(token) => token.to_owned(),
        None => keychain.require(name)?,
    };
    Ok(Connection {
        api: Api::new(&profile.url, &token)?,
        profile: Some(name.to_owned()),
        default_app: profile.app.clone(),
    })
}

fn pick_profile<'a>(
    profiles: &'a Profiles,
    named: Option<&str>,
    server: Option<&str>,
) -> ClientResult<(&'a str, &'a Profile)> {
    if let Some(name) = named {
        let profile = profiles.get(name)?;
        return Ok((profiles.profiles.get_key_value(name).expect("just found").0.as_str(), profile));
    }
    if let Some(server) = server {
        // A server without a token: use the profile for that server, whose token is in the keychain.
        let wanted = normalize_url(server)?;
        return profiles.profiles.iter().find(|(_, p)| p.url == wanted).map(|(n, p)| (n.as_str(), p)).ok_or_else(
            || {
                ClientError::NotConnected(format!(
                    "no token for {wanted}: set CAPSTAN_TOKEN (or --token), or run `capstan login {wanted}` once"
                ))
            },
        );
    }
    profiles.active().ok_or_else(|| {
        ClientError::NotConnected(
            "no server configured: run `capstan login URL` (or choose a profile with `capstan profile use NAME`), \
             or set CAPSTAN_SERVER and CAPSTAN_TOKEN"
                .into(),
        )
    })
}

/// [`resolve`] with the real profile file and keychain, off the async threads.
pub async fn connect(options: ConnectOptions) -> ClientResult<Connection> {
    tokio::task::spawn_blocking(move || resolve(&options, &ProfileFile::locate()?, &Keychain::new()))
        .await
        .expect("connection resolution does not panic")
}

/// What `login` did.
#[derive(Debug, Clone, Serialize)]
pub struct LoginOutcome {
    /// Profile name.
    pub profile: String,
    /// Server URL.
    pub url: String,
    /// Default app of the profile.
    pub app: Option<String>,
    /// Who the token is on the server.
    pub me: Me,
}

/// Checks `token` against the server, stores it in the keychain and saves `profile` as the
/// active profile. Nothing is saved unless the server accepted the token.
pub async fn login(
    profile: &str,
    url: &str,
    token: &str,
    app: Option<String>,
    file: ProfileFile,
    keychain: Keychain,
) -> ClientResult<LoginOutcome> {
    check_name(profile)?;
    let url = normalize_url(url)?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(ClientError::Invalid("the token is empty".into()));
    }
    let me = Api::new(&url, &token)?.me().await?;
    let (name, saved_url, saved_app) = (profile.to_owned(), url.clone(), app.clone());
    tokio::task::spawn_blocking(move || -> ClientResult<()> {
        // Keychain first: if it is locked or missing, the profile file is left unchanged.
        keychain.set(&name, &token)?;
        file.update(|p| p.upsert(&name, Profile { url: saved_url, app: saved_app }))?;
        Ok(())
    })
    .await
    .expect("saving a profile does not panic")?;
    Ok(LoginOutcome { profile: profile.to_owned(), url, app, me })
}

/// Removes a profile and its token. The token goes first: if the keychain cannot be reached,
/// nothing changes (removing only the profile would orphan a secret).
pub fn remove_profile(name: &str, file: &ProfileFile, keychain: &Keychain) -> ClientResult<Profile> {
    file.load()?.get(name)?;
    keychain.delete(name)?;
    Ok(file.update(|p| p.remove(name))?)
}
