//! What a publish can learn from the project on disk, so CI needs no extra flags: the bundle
//! version from the nearest `package.json`, and MIN_NATIVE_VERSION from a `MIN_NATIVE_VERSION`
//! file beside the build or in a parent (the convention of teams that keep it next to
//! `VERSION`). Each value says where it came from, because a release manager must be able to
//! tell why a bundle got the version it got.

use std::path::{Path, PathBuf};

use semver::Version;
use serde::Serialize;

use crate::error::{ClientError, ClientResult};

/// Name of the file that holds the oldest native version a bundle runs on.
pub const MIN_NATIVE_FILE: &str = "MIN_NATIVE_VERSION";

/// Where a publish's version or MIN_NATIVE_VERSION came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Given on the command line (or typed in the console).
    Flag,
    /// Read from a file.
    File {
        /// The file.
        path: PathBuf,
    },
    /// Kept from the bundle the channel serves now.
    Channel {
        /// That bundle's version.
        bundle: String,
    },
    /// Nothing said anything: the bundle has no MIN_NATIVE_VERSION.
    None,
    /// The bundle's own version, as a release script takes it when the project declares no
    /// native version.
    BundleVersion,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => write!(f, "given explicitly"),
            Source::File { path } => write!(f, "file {}", path.display()),
            Source::Channel { bundle } => write!(f, "channel's current value (bundle {bundle})"),
            Source::None => write!(f, "not set"),
            Source::BundleVersion => write!(f, "the bundle's version"),
        }
    }
}

/// A value with the place it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

/// The folder a search starts in: the build folder itself, or the folder holding a zip.
fn start_dir(input: &Path) -> PathBuf {
    let absolute = std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf());
    if absolute.is_dir() { absolute } else { absolute.parent().map(Path::to_path_buf).unwrap_or(absolute) }
}

/// The first `name` in `start` or one of its parents.
fn nearest(start: &Path, name: &str) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join(name)).find(|path| path.is_file())
}

fn read(path: &Path) -> ClientResult<String> {
    std::fs::read_to_string(path).map_err(|source| ClientError::Io { path: path.to_path_buf(), source })
}

/// The `version` of the nearest `package.json` above `input` (a build folder or a zip).
pub fn package_version(input: &Path) -> ClientResult<Option<Found<Version>>> {
    let Some(path) = nearest(&start_dir(input), "package.json") else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&read(&path)?)
        .map_err(|e| ClientError::Invalid(format!("{} is not valid JSON: {e}", path.display())))?;
    let Some(text) = json.get("version").and_then(|v| v.as_str()) else {
        return Err(ClientError::Invalid(format!("{} has no \"version\": pass --version", path.display())));
    };
    let value = parse_version(text).map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(Some(Found { value, source: Source::File { path } }))
}

/// The content of the nearest `MIN_NATIVE_VERSION` file above `input`.
pub fn min_native_file(input: &Path) -> ClientResult<Option<Found<Version>>> {
    let Some(path) = nearest(&start_dir(input), MIN_NATIVE_FILE) else {
        return Ok(None);
    };
    let text = read(&path)?;
    // The file may carry comments or a trailing newline: the version is the first real line.
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    let value = capstan_core::version::parse_lenient(line)
        .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(Some(Found { value, source: Source::File { path } }))
}

/// Reads a bundle version: lenient (`1.2` → `1.2.0`, `v1.2.3`), as the plugin reads them.
pub fn parse_version(text: &str) -> Result<Version, capstan_core::version::VersionError> {
    capstan_core::version::parse_lenient(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comes_from_the_nearest_package_json() {
        let root = tempfile::tempdir().unwrap();
        let dist = root.path().join("app/dist");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(root.path().join("package.json"), r#"{"version": "9.9.9"}"#).unwrap();
        std::fs::write(root.path().join("app/package.json"), r#"{"name": "x", "version": "1.4.2"}"#).unwrap();
        let found = package_version(&dist).unwrap().unwrap();
        assert_eq!(found.value, Version::new(1, 4, 2));
        assert_eq!(found.source, Source::File { path: root.path().join("app/package.json") });

        std::fs::write(dist.join("bundle.zip"), b"zip").unwrap();
        let from_zip = package_version(&dist.join("bundle.zip")).unwrap().unwrap();
        assert_eq!(from_zip.value, Version::new(1, 4, 2), "a zip searches from its folder");
    }

    #[test]
    fn broken_package_json_is_an_error_not_a_guess() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("package.json"), r#"{"name": "x"}"#).unwrap();
        let error = package_version(root.path()).unwrap_err();
        assert!(error.to_string().contains("has no \"version\""), "{error}");
        std::fs::write(root.path().join("package.json"), r#"{"version": "next"}"#).unwrap();
        assert!(package_version(root.path()).is_err());
    }

    #[test]
    fn min_native_file_in_build_folder_or_parent() {
        let root = tempfile::tempdir().unwrap();
        let dist = root.path().join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        assert_eq!(min_native_file(&dist).unwrap(), None);
        std::fs::write(root.path().join(MIN_NATIVE_FILE), "# oldest shell\n2.1\n").unwrap();
        let found = min_native_file(&dist).unwrap().unwrap();
        assert_eq!(found.value, Version::new(2, 1, 0));
        assert_eq!(found.source.to_string(), format!("file {}", root.path().join(MIN_NATIVE_FILE).display()));
        std::fs::write(dist.join(MIN_NATIVE_FILE), "3.0.0").unwrap();
        assert_eq!(min_native_file(&dist).unwrap().unwrap().value, Version::new(3, 0, 0), "the nearest wins");
        std::fs::write(dist.join(MIN_NATIVE_FILE), "soon").unwrap();
        assert!(min_native_file(&dist).is_err());
    }
}
