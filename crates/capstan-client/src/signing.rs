//! Bundle signing keys on the release manager's machine: making, showing, exporting, importing
//! and registering them.
//!
//! One private key per **app**, in the OS keychain (service `capstan-signing`, account = the app
//! id), never in a file: the key belongs to the app, whose installed copies trust its public half
//! (`publicKey` in the app's Capacitor config), whatever server or profile publishes it. Keyed by
//! profile instead, removing a profile would delete the only copy of a key every installed app
//! depends on, and a staging and a production server would hold two keys for one app.
//!
//! CI passes the private key in `CAPSTAN_SIGNING_KEY` (PEM) instead; it wins over the keychain.
//! The server only ever receives public keys ([`register`]); registering is an admin action.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use capstan_core::api::{AppSigning, Role, SigningKeyRecord};
use capstan_core::signing::{KeyError, SigningKey, VerifyingKey};
use serde::Serialize;

use crate::api::Api;
use crate::error::{ClientError, ClientResult};
use crate::keychain::Keychain;

/// The environment variable CI passes a private key in (PEM), instead of a keychain.
pub const SIGNING_KEY_ENV: &str = "CAPSTAN_SIGNING_KEY";

/// Where a private key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// `CAPSTAN_SIGNING_KEY`.
    Environment,
    /// The OS keychain.
    Keychain,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeySource::Environment => SIGNING_KEY_ENV,
            KeySource::Keychain => "the OS keychain",
        })
    }
}

/// A private key this machine holds for an app.
#[derive(Debug, Clone)]
pub struct LocalKey {
    /// The key (shared: encrypting runs on a blocking thread).
    pub key: Arc<SigningKey>,
    /// Where it came from.
    pub source: KeySource,
}

/// Signing keys in the OS keychain, one per app. Calls block (see [`crate::keychain`]).
#[derive(Debug, Clone)]
pub struct KeyStore {
    keychain: Keychain,
}

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore { keychain: Keychain::signing_keys() }
    }
}

impl KeyStore {
    /// The OS keychain's signing keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key stored for `app`, if any. A stored key that no longer parses is an error.
    pub fn get(&self, app: &str) -> ClientResult<Option<SigningKey>> {
        match self.keychain.get(app)? {
            None => Ok(None),
            Some(pem) => SigningKey::from_pem(&pem).map(Some).map_err(|source| ClientError::Key {
                context: format!("the key stored for `{app}` in the OS keychain"),
                source,
            }),
        }
    }

    /// Stores (or replaces) the key for `app`.
    pub fn set(&self, app: &str, key: &SigningKey) -> ClientResult<()> {
        let pem = key.to_pem().map_err(|source| ClientError::Key { context: "the new key".into(), source })?;
        Ok(self.keychain.set(app, &pem)?)
    }

    /// Deletes the key for `app`; `false` when there was none.
    pub fn delete(&self, app: &str) -> ClientResult<bool> {
        Ok(self.keychain.delete(app)?)
    }
}

/// Runs keychain work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> ClientResult<T> + Send + 'static) -> ClientResult<T> {
    tokio::task::spawn_blocking(work).await.expect("keychain calls do not panic")
}

/// Parses `CAPSTAN_SIGNING_KEY`'s value; `None` when unset or empty.
pub fn key_from_env(value: Option<String>) -> ClientResult<Option<SigningKey>> {
    let Some(pem) = value.filter(|v| !v.trim().is_empty()) else { return Ok(None) };
    SigningKey::from_pem(&pem).map(Some).map_err(|source| ClientError::Key { context: SIGNING_KEY_ENV.into(), source })
}

/// The private key publishing `app` signs with: `CAPSTAN_SIGNING_KEY`, else the keychain's.
pub async fn local_key(app: &str, store: &KeyStore) -> ClientResult<Option<LocalKey>> {
    if let Some(key) = key_from_env(std::env::var(SIGNING_KEY_ENV).ok())? {
        return Ok(Some(LocalKey { key: Arc::new(key), source: KeySource::Environment }));
    }
    let (app, store) = (app.to_owned(), store.clone());
    let key = blocking(move || store.get(&app)).await?;
    Ok(key.map(|key| LocalKey { key: Arc::new(key), source: KeySource::Keychain }))
}

/// The registered public key `key` pairs with, or why none does (a one-line reason).
pub fn registered_pair(key: &SigningKey, signing: &AppSigning) -> ClientResult<VerifyingKey> {
    let context = || format!("the signing key for `{}`", signing.app_id);
    if signing.keys.is_empty() {
        return Err(ClientError::Invalid(format!(
            "the signing key for `{app}` (key id {id}) is not registered on the server: an admin runs \
             `capstan keys register --app {app}`",
            app = signing.app_id,
            id = key.key_id()
        )));
    }
    let registered: Vec<&str> = signing.keys.iter().map(|k| k.key_id.as_str()).collect();
    let record = signing.key(key.key_id()).ok_or_else(|| ClientError::Key {
        context: context(),
        source: KeyError::Mismatch { key_id: key.key_id().to_owned(), registered: registered.join(", ") },
    })?;
    let public = VerifyingKey::from_pem(&record.public_key)
        .map_err(|source| ClientError::Key { context: format!("registered key {}", record.key_id), source })?;
    // Same key id is 8 characters of modulus: check the whole key.
    key.check_pairs_with(&public).map_err(|source| ClientError::Key { context: context(), source })?;
    Ok(public)
}

/// A public key as the app's config holds it, and the snippet to paste.
#[derive(Debug, Clone, Serialize)]
pub struct PublicKeyInfo {
    /// App id.
    pub app: String,
    /// The key id devices will report.
    pub key_id: String,
    /// The public key (PKCS#1 PEM), exactly as the plugin's `publicKey` wants it.
    pub public_key: String,
    /// The Capacitor config snippet with it.
    pub config_snippet: String,
}

impl PublicKeyInfo {
    /// The public half of `key`, printed and parsed back the way the plugin parses it (a key
    /// the plugin cannot parse crashes the app at launch).
    pub fn of(app: &str, key: &SigningKey) -> ClientResult<PublicKeyInfo> {
        let public = key.verifying_key();
        let config_snippet = config_snippet(public.pem());
        let reread = serde_json::from_str::<serde_json::Value>(&config_snippet)
            .ok()
            .and_then(|config| config["plugins"]["CapacitorUpdater"]["publicKey"].as_str().map(str::to_owned))
            .map(|pem| VerifyingKey::from_pem(&pem));
        match reread {
            Some(Ok(parsed)) if parsed == *public => {}
            other => {
                return Err(ClientError::Invalid(format!(
                    "the printed public key does not parse back to the same key ({other:?}): not printing it"
                )));
            }
        }
        Ok(PublicKeyInfo {
            app: app.to_owned(),
            key_id: public.key_id().to_owned(),
            public_key: public.pem().to_owned(),
            config_snippet,
        })
    }
}

/// The `plugins` section of a `capacitor.config.json` with `publicKey` set (the same text is a
/// valid object in `capacitor.config.ts`).
pub fn config_snippet(public_pem: &str) -> String {
    let config = serde_json::json!({ "plugins": { "CapacitorUpdater": { "publicKey": public_pem } } });
    serde_json::to_string_pretty(&config).expect("JSON values serialize")
}

/// What to do with a new or imported key on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Register its public half (needs an admin token).
    Register,
    /// Keep it on this machine only; an admin registers it later.
    Skip,
}

/// What `keys create` or `keys import` did.
#[derive(Debug, Clone, Serialize)]
pub struct KeyOutcome {
    /// The public half and config snippet.
    #[serde(flatten)]
    pub public: PublicKeyInfo,
    /// Whether its public half is registered on the server now.
    pub registered: bool,
    /// Whether a key that was in the keychain for this app was replaced.
    pub replaced: bool,
}

/// Refuses before any change when registering needs a role the token lacks.
async fn check_can_register(api: &Api, registration: Registration, app: &str) -> ClientResult<()> {
    if registration == Registration::Skip {
        return Ok(());
    }
    let me = api.me().await?;
    if me.role < Role::Admin {
        return Err(ClientError::Invalid(format!(
            "registering a public key needs an admin token (this one is {}): ask an admin, or pass --no-register \
             and have an admin run `capstan keys register --app {app} --public-key FILE`",
            me.role.as_str()
        )));
    }
    Ok(())
}

/// Makes an RSA-2048 key pair for `app`, keeps the private key in the keychain and (unless told
/// not to) registers the public key. Refuses to replace an existing key unless `replace`. If
/// registering fails, the keychain is put back as it was.
pub async fn create(
    api: &Api,
    app: &str,
    store: &KeyStore,
    registration: Registration,
    replace: bool,
) -> ClientResult<KeyOutcome> {
    api.signing(app).await?;
    check_can_register(api, registration, app).await?;
    let (owned_app, owned_store) = (app.to_owned(), store.clone());
    let previous = blocking(move || owned_store.get(&owned_app)).await?;
    if let Some(existing) = &previous
        && !replace
    {
        return Err(ClientError::Conflict(format!(
            "the OS keychain already holds a signing key for `{app}` (key id {}): `capstan keys show --app {app}` \
             prints it. To make a new one, export the old one first (installed apps trust it until a store update \
             ships the new public key), then pass --replace",
            existing.key_id()
        )));
    }
    let key = tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .expect("key generation does not panic")
        .map_err(|source| ClientError::Key { context: "a new key".into(), source })?;
    let public = PublicKeyInfo::of(app, &key)?;
    let replaced = previous.is_some();
    store_key(store, app, Arc::new(key)).await?;
    let registered = register_or_restore(api, app, &public.public_key, registration, store, previous).await?;
    Ok(KeyOutcome { public, registered, replaced })
}

async fn store_key(store: &KeyStore, app: &str, key: Arc<SigningKey>) -> ClientResult<()> {
    let (app, store) = (app.to_owned(), store.clone());
    blocking(move || store.set(&app, &key)).await
}

/// Registers `public_key` when asked; on failure puts `previous` back in the keychain (or
/// removes the new key), so a failed command changes nothing.
async fn register_or_restore(
    api: &Api,
    app: &str,
    public_key: &str,
    registration: Registration,
    store: &KeyStore,
    previous: Option<SigningKey>,
) -> ClientResult<bool> {
    if registration == Registration::Skip {
        return Ok(false);
    }
    match api.register_key(app, public_key).await {
        Ok(_) => Ok(true),
        Err(error) => {
            let (owned_app, owned_store) = (app.to_owned(), store.clone());
            blocking(move || match previous {
                Some(old) => owned_store.set(&owned_app, &old),
                None => owned_store.delete(&owned_app).map(drop),
            })
            .await?;
            Err(error)
        }
    }
}

/// Reads a private key file for `keys import`: refuses, with a one-line reason, a corrupted
/// file, a key of another size or algorithm, a public key, a passphrase-protected key.
pub fn read_key_file(path: &Path) -> ClientResult<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|source| ClientError::Io { path: path.to_path_buf(), source })?;
    SigningKey::from_pem(&text).map_err(|source| ClientError::Key { context: path.display().to_string(), source })
}

/// Imports the private key in `file` for `app` into the keychain (a backup, or a second release
/// manager's machine). A key matching a registered public key is stored as it is; another key
/// is registered as an additional key when `registration` says so (admin), and refused
/// otherwise while the app has registered keys: it would sign bundles the server refuses.
pub async fn import(
    api: &Api,
    app: &str,
    file: &Path,
    store: &KeyStore,
    registration: Registration,
    replace: bool,
) -> ClientResult<KeyOutcome> {
    let key = read_key_file(file)?;
    let signing = api.signing(app).await?;
    let public = PublicKeyInfo::of(app, &key)?;
    let matches = match registered_pair(&key, &signing) {
        Ok(_) => true,
        Err(error) if signing.keys.iter().any(|k| k.key_id == key.key_id()) => return Err(error),
        Err(error) if registration == Registration::Skip && !signing.keys.is_empty() => {
            return Err(ClientError::Invalid(format!(
                "{error}; to register it as an additional key (rotation), import it without --no-register (admin)"
            )));
        }
        Err(_) => false,
    };
    let registration = if matches { Registration::Skip } else { registration };
    check_can_register(api, registration, app).await?;
    let (owned_app, owned_store) = (app.to_owned(), store.clone());
    let previous = blocking(move || owned_store.get(&owned_app)).await?;
    if let Some(existing) = &previous
        && existing.key_id() != key.key_id()
        && !replace
    {
        return Err(ClientError::Conflict(format!(
            "the OS keychain already holds another signing key for `{app}` (key id {}): export it first, then pass \
             --replace",
            existing.key_id()
        )));
    }
    let replaced = previous.as_ref().is_some_and(|p| p.key_id() != key.key_id());
    store_key(store, app, Arc::new(key)).await?;
    let registered =
        matches || register_or_restore(api, app, &public.public_key, registration, store, previous).await?;
    Ok(KeyOutcome { public, registered, replaced })
}

/// Writes the keychain's private key for `app` to `out` (PKCS#1 PEM, mode 0600 on Unix), for a
/// backup. Refuses to overwrite a file. Whoever holds the file can publish as the app.
pub async fn export(app: &str, out: &Path, store: &KeyStore) -> ClientResult<PublicKeyInfo> {
    let (owned_app, owned_store) = (app.to_owned(), store.clone());
    let key = blocking(move || owned_store.get(&owned_app)).await?.ok_or_else(|| no_key(app))?;
    let pem = key.to_pem().map_err(|source| ClientError::Key { context: "the stored key".into(), source })?;
    write_private(out, pem.as_bytes())?;
    PublicKeyInfo::of(app, &key)
}

/// Creates `path` readable by its owner only (0600 on Unix), failing if it exists.
fn write_private(path: &Path, bytes: &[u8]) -> ClientResult<()> {
    use std::io::Write;
    let io = |source| ClientError::Io { path: path.to_path_buf(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io)
}

fn no_key(app: &str) -> ClientError {
    ClientError::Invalid(format!(
        "no signing key for `{app}` on this machine: `capstan keys create --app {app}` makes one, \
         `capstan keys import FILE --app {app}` imports a backup, CI sets {SIGNING_KEY_ENV}"
    ))
}

/// What `keys show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ShownKey {
    /// The public half and config snippet.
    #[serde(flatten)]
    pub public: PublicKeyInfo,
    /// Where the private key is.
    pub source: KeySource,
    /// Whether the server has its public half registered.
    pub registered: bool,
    /// The app's rule and registered keys.
    pub signing: AppSigning,
}

/// The public half of the key this machine would sign `app` with, and where the key is.
pub async fn show(api: &Api, app: &str, store: &KeyStore) -> ClientResult<ShownKey> {
    let signing = api.signing(app).await?;
    let local = local_key(app, store).await?.ok_or_else(|| no_key(app))?;
    let public = PublicKeyInfo::of(app, &local.key)?;
    let registered = registered_pair(&local.key, &signing).is_ok();
    Ok(ShownKey { public, source: local.source, registered, signing })
}

/// Registers a public key for `app` (admin): the given PKCS#1 PEM file, else the public half of
/// this machine's key.
pub async fn register(
    api: &Api,
    app: &str,
    public_key_file: Option<&PathBuf>,
    store: &KeyStore,
) -> ClientResult<SigningKeyRecord> {
    let pem = match public_key_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| ClientError::Io { path: path.clone(), source })?;
            let key = VerifyingKey::from_pem(&text)
                .map_err(|source| ClientError::Key { context: path.display().to_string(), source })?;
            key.pem().to_owned()
        }
        None => {
            let local = local_key(app, store).await?.ok_or_else(|| no_key(app))?;
            local.key.verifying_key().pem().to_owned()
        }
    };
    api.register_key(app, &pem).await
}

/// Which key signs which app: the server's rule and registered keys, and the key this machine
/// would sign with.
#[derive(Debug, Clone, Serialize)]
pub struct AppKeys {
    /// App id.
    pub app: String,
    /// Display name.
    pub name: String,
    /// The app's rule and registered keys.
    pub signing: AppSigning,
    /// Key id of this machine's private key for the app, if it holds one.
    pub local_key_id: Option<String>,
    /// Where that key is.
    pub local_source: Option<KeySource>,
    /// Whether this machine's key pairs with a registered key (publishing signs with it).
    pub signs: bool,
}

/// [`AppKeys`] for every app on the server (or just `only`).
pub async fn overview(api: &Api, only: Option<&str>, store: &KeyStore) -> ClientResult<Vec<AppKeys>> {
    let mut apps = api.apps().await?;
    if let Some(only) = only {
        apps.retain(|a| a.id == only);
        if apps.is_empty() {
            return Err(ClientError::Api {
                status: 404,
                code: "not_found".into(),
                message: format!("app `{only}` not found"),
            });
        }
    }
    let mut overview = Vec::with_capacity(apps.len());
    for app in apps {
        let signing = api.signing(&app.id).await?;
        let local = local_key(&app.id, store).await?;
        let signs = local.as_ref().is_some_and(|l| registered_pair(&l.key, &signing).is_ok());
        overview.push(AppKeys {
            local_key_id: local.as_ref().map(|l| l.key.key_id().to_owned()),
            local_source: local.as_ref().map(|l| l.source),
            signs,
            app: app.id,
            name: app.name,
            signing,
        });
    }
    Ok(overview)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../capstan-core/tests/signing/keys");
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    fn signing_with(keys: &[&VerifyingKey]) -> AppSigning {
        AppSigning {
            app_id: "com.example.app".into(),
            require_signed: false,
            keys: keys
                .iter()
                .map(|k| SigningKeyRecord {
                    key_id: k.key_id().into(),
                    public_key: k.pem().into(),
                    ..SigningKeyRecord::default()
                })
                .collect(),
        }
    }

    #[test]
    fn the_printed_key_and_snippet_parse_back_to_the_key() {
        let key = SigningKey::from_pem(&fixture("rsa2048.pkcs8.pem")).unwrap();
        let info = PublicKeyInfo::of("com.example.app", &key).unwrap();
        assert_eq!(info.public_key, fixture("rsa2048.public.pkcs1.pem").trim(), "as OpenSSL prints it");
        let config: serde_json::Value = serde_json::from_str(&info.config_snippet).unwrap();
        assert_eq!(config["plugins"]["CapacitorUpdater"]["publicKey"], info.public_key);
        assert_eq!(info.key_id.len(), 20);
    }

    #[test]
    fn the_environment_key_is_parsed_or_refused_in_one_line() {
        assert!(key_from_env(None).unwrap().is_none());
        assert!(key_from_env(Some("  \n".into())).unwrap().is_none(), "empty means unset");
        assert!(key_from_env(Some(fixture("rsa2048.pkcs8.pem"))).unwrap().is_some());
        let error = key_from_env(Some(fixture("rsa4096.pkcs1.pem"))).unwrap_err().to_string();
        assert_eq!(error, "CAPSTAN_SIGNING_KEY: a 4096-bit RSA key: the plugin accepts only 2048-bit keys");
    }

    #[test]
    fn a_key_signs_only_when_it_pairs_with_a_registered_key() {
        let key = SigningKey::from_pem(&fixture("rsa2048.pkcs8.pem")).unwrap();
        let other = SigningKey::generate().unwrap();
        let pair = registered_pair(&key, &signing_with(&[other.verifying_key(), key.verifying_key()])).unwrap();
        assert_eq!(pair, *key.verifying_key());
        let none = registered_pair(&key, &signing_with(&[])).unwrap_err().to_string();
        assert!(none.contains("is not registered on the server"), "{none}");
        let mismatch = registered_pair(&key, &signing_with(&[other.verifying_key()])).unwrap_err().to_string();
        assert!(mismatch.contains("does not belong to the registered public key"), "{mismatch}");
        // Same key id, another key (the first 20 characters are 8 of modulus): the whole key counts.
        let mut forged = signing_with(&[other.verifying_key()]);
        forged.keys[0].key_id = key.key_id().into();
        let error = registered_pair(&key, &forged).unwrap_err().to_string();
        assert!(error.contains("does not belong"), "{error}");
    }
}
