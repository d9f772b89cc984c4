//! Named server profiles (staging, production, …) in `profiles.toml` under the user's config
//! directory.
//!
//! The file holds what is safe to read over a shoulder: a name, a base URL, a default app.
//! Tokens live in the OS keychain ([`crate::keychain`]), never here. The file is rewritten
//! atomically (temporary file in the same folder, then rename) so a crash or a second process
//! never leaves half a file behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable that moves the config directory (tests, portable setups).
pub const CONFIG_DIR_ENV: &str = "CAPSTAN_CONFIG_DIR";
/// Name of the profile file inside the config directory.
pub const PROFILE_FILE: &str = "profiles.toml";

/// One server the user works with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Base URL of the server, e.g. `https://updates.example.com`.
    pub url: String,
    /// App used when a command names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// The whole profile file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profiles {
    /// The profile commands use when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Why the profile file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No config directory: no `CAPSTAN_CONFIG_DIR` and the OS reports none (no `HOME`).
    #[error("cannot find a config directory: set CAPSTAN_CONFIG_DIR or HOME")]
    NoConfigDir,
    /// Reading or writing the file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{} is not a valid profile file: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// A command named a profile that is not in the file.
    #[error("no profile named `{0}`: `capstan profile list` shows them, `capstan login` adds one")]
    NoSuchProfile(String),
    /// A profile name that would be awkward in a file, a keychain or a shell.
    #[error("profile name `{0}` must be 1–64 characters of letters, digits, `.`, `_`, `-`")]
    InvalidName(String),
    /// A URL that is not http(s).
    #[error("`{0}` is not a server URL: expected http:// or https://")]
    InvalidUrl(String),
}

/// Where profiles are kept: `$CAPSTAN_CONFIG_DIR`, else the OS config dir + `capstan`.
pub fn config_dir() -> Result<PathBuf, ProfileError> {
    match std::env::var_os(CONFIG_DIR_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => dirs::config_dir().map(|d| d.join("capstan")).ok_or(ProfileError::NoConfigDir),
    }
}

/// Checks a profile name: it becomes a keychain account and a TOML key.
pub fn check_name(name: &str) -> Result<(), ProfileError> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok { Ok(()) } else { Err(ProfileError::InvalidName(name.to_owned())) }
}

/// Normalises a server URL: trims it, requires http(s), drops a trailing `/`.
pub fn normalize_url(url: &str) -> Result<String, ProfileError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(ProfileError::InvalidUrl(url.to_owned())),
    }
}

/// The profile file at a known path.
#[derive(Debug, Clone)]
pub struct ProfileFile {
    path: PathBuf,
}

impl ProfileFile {
    /// The file in [`config_dir`].
    pub fn locate() -> Result<Self, ProfileError> {
        Ok(ProfileFile { path: config_dir()?.join(PROFILE_FILE) })
    }

    /// The file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        ProfileFile { path: path.into() }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file; a missing file is an empty set of profiles.
    pub fn load(&self) -> Result<Profiles, ProfileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Profiles::default()),
            Err(source) => return Err(ProfileError::Io { action: "read", path: self.path.clone(), source }),
        };
        toml::from_str(&text).map_err(|source| ProfileError::Parse { path: self.path.clone(), source })
    }

    /// Writes the file atomically: temp file in the same folder, fsync, rename.
    pub fn save(&self, profiles: &Profiles) -> Result<(), ProfileError> {
        let io = |source| ProfileError::Io { action: "write", path: self.path.clone(), source };
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = toml::to_string_pretty(profiles).expect("profiles serialize to TOML");
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        temp.write_all(b"# Capstan server profiles. Tokens are in the OS keychain, not here.\n").map_err(io)?;
        temp.write_all(text.as_bytes()).map_err(io)?;
        temp.as_file().sync_all().map_err(io)?;
        temp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Loads, lets `change` edit, and saves.
    pub fn update<T>(&self, change: impl FnOnce(&mut Profiles) -> Result<T, ProfileError>) -> Result<T, ProfileError> {
        let mut profiles = self.load()?;
        let value = change(&mut profiles)?;
        self.save(&profiles)?;
        Ok(value)
    }
}

impl Profiles {
    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Result<&Profile, ProfileError> {
        self.profiles.get(name).ok_or_else(|| ProfileError::NoSuchProfile(name.to_owned()))
    }

    /// The active profile and its name, if one is set and exists.
    pub fn active(&self) -> Option<(&str, &Profile)> {
        let name = self.active.as_deref()?;
        self.profiles.get(name).map(|p| (name, p))
    }

    /// Adds or replaces a profile and makes it active.
    pub fn upsert(&mut self, name: &str, profile: Profile) -> Result<(), ProfileError> {
        check_name(name)?;
        let profile = Profile { url: normalize_url(&profile.url)?, ..profile };
        self.profiles.insert(name.to_owned(), profile);
        self.active = Some(name.to_owned());
        Ok(())
    }

    /// Makes `name` the active profile.
    pub fn set_active(&mut self, name: &str) -> Result<(), ProfileError> {
        self.get(name)?;
        self.active = Some(name.to_owned());
        Ok(())
    }

    /// Removes a profile; if it was active, no profile is active afterwards (choosing another
    /// silently could point the next publish at the wrong server).
    pub fn remove(&mut self, name: &str) -> Result<Profile, ProfileError> {
        let removed = self.profiles.remove(name).ok_or_else(|| ProfileError::NoSuchProfile(name.to_owned()))?;
        if self.active.as_deref() == Some(name) {
            self.active = None;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(url: &str) -> Profile {
        Profile { url: url.into(), app: Some("com.example.app".into()) }
    }

    #[test]
    fn round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = ProfileFile::at(dir.path().join("nested/profiles.toml"));
        assert_eq!(file.load().unwrap(), Profiles::default(), "a missing file is no profiles");
        file.update(|p| p.upsert("staging", profile("https://staging.example.com/"))).unwrap();
        file.update(|p| p.upsert("prod", profile("https://updates.example.com"))).unwrap();
        let loaded = file.load().unwrap();
        assert_eq!(loaded.active().unwrap().0, "prod", "the last login is active");
        assert_eq!(loaded.get("staging").unwrap().url, "https://staging.example.com", "trailing / dropped");
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(!text.to_lowercase().contains("token ="), "{text}");
        let leftovers: Vec<_> = std::fs::read_dir(file.path().parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }

    #[test]
    fn removing_the_active_profile_leaves_none_active() {
        let mut profiles = Profiles::default();
        profiles.upsert("a", profile("http://a")).unwrap();
        profiles.upsert("b", profile("http://b")).unwrap();
        profiles.set_active("a").unwrap();
        profiles.remove("a").unwrap();
        assert_eq!(profiles.active, None);
        assert!(matches!(profiles.remove("a"), Err(ProfileError::NoSuchProfile(_))));
        assert!(matches!(profiles.set_active("zzz"), Err(ProfileError::NoSuchProfile(_))));
    }

    #[test]
    fn names_and_urls_are_checked() {
        let mut profiles = Profiles::default();
        assert!(matches!(profiles.upsert("my prod", profile("http://a")), Err(ProfileError::InvalidName(_))));
        assert!(matches!(profiles.upsert("", profile("http://a")), Err(ProfileError::InvalidName(_))));
        assert!(matches!(profiles.upsert("p", profile("ftp://a")), Err(ProfileError::InvalidUrl(_))));
        assert!(matches!(profiles.upsert("p", profile("https://")), Err(ProfileError::InvalidUrl(_))));
        assert!(profiles.profiles.is_empty(), "bad input changes nothing");
    }

    #[test]
    fn a_broken_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.toml");
        std::fs::write(&path, "active = [").unwrap();
        let error = ProfileFile::at(&path).load().unwrap_err();
        assert!(error.to_string().contains("is not a valid profile file"), "{error}");
    }
}
