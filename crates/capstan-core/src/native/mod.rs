//! The native fingerprint of a Capacitor project: what a web bundle's compatibility depends on.
//!
//! A live update replaces only the web layer. When a release also changes the native shell (a
//! new plugin, a bumped `@capacitor/*` package, an edited `capacitor.config`, changes under
//! `android/` or `ios/`), devices on older shells must not get the bundle: MIN_NATIVE_VERSION
//! has to rise. A [`NativeFingerprint`] captures the native surface at publish time so that the
//! next publish can be compared with it ([`compare`]) and the difference said in words.
//!
//! What it covers, for the project found by [`find_project`]:
//! - the Capacitor config file the CLI reads;
//! - the native project files under `android/` and `ios/`: the ones git tracks, or every file
//!   without git, minus build outputs, tool state and what `cap sync` copies or generates
//!   ([`is_excluded`] has the list and the reasons);
//! - the native dependencies with the versions the lockfile resolves.
//!
//! Files are hashed, never stored; the file list is summarised by folder beyond
//! [`MAX_FILE_ENTRIES`], so a stored fingerprint stays small. Computing one may run `git`; it
//! never touches the network.

mod check;
mod compare;
mod declared;
mod dependencies;
mod files;
mod hash;
mod lockfile;
mod project;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use check::{NativeCheck, Reference, check_native, reference_version};
pub use compare::{NativeChange, NativeDiff, NotComparable, compare};
pub use declared::{DeclaredVersion, declared_native_version};
pub use dependencies::{MAX_DEPENDENCIES, native_by_name};
pub use files::{MAX_FILES, NATIVE_DIRS, is_excluded};
pub use lockfile::LOCKFILE_NAMES;
pub use project::{CONFIG_FILE_NAMES, CapacitorProject, find_project};

use hash::{RecordHasher, file_sha256};

/// The rules a fingerprint is made with. Bumped whenever they change (what is excluded, how
/// files are hashed), because fingerprints made under different rules cannot be compared.
pub const FORMAT: u32 = 1;

/// Most entries in a fingerprint's file list; beyond it files are summarised by folder.
pub const MAX_FILE_ENTRIES: usize = 400;

/// Longest path accepted in a stored fingerprint.
const MAX_PATH_LEN: usize = 1024;

/// The native surface of a Capacitor project at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NativeFingerprint {
    /// The rules it was made with ([`FORMAT`]).
    pub format: u32,
    /// SHA-256 (hex) over the format, the config, every native file and every native
    /// dependency: equal digests mean an unchanged native surface.
    pub digest: String,
    /// The Capacitor config file.
    pub config: NativeFile,
    /// Native files under `android/` and `ios/`, by path.
    pub files: Vec<NativeFile>,
    /// How many native files were hashed (more than `files` holds when it summarises folders).
    pub file_count: u32,
    /// Native dependencies, by name.
    pub dependencies: Vec<NativeDependency>,
    /// How the native files were chosen.
    pub file_source: FileSource,
    /// Whether `node_modules` was installed, so that third-party packages shipping native code
    /// could be recognised.
    pub node_modules: bool,
    /// The lockfile versions were read from, relative to the project root
    /// (`package-lock.json`, `../../pnpm-lock.yaml`). Left out when there is none, so the
    /// field is optional both ways (as a request body, a missing `Option` reads as `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lockfile: Option<String>,
}

/// A file's hash, or a folder's in a very large project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NativeFile {
    /// Path relative to the project root, `/`-separated; a folder's ends with `/`.
    pub path: String,
    /// SHA-256 (hex) of the content (text with CRLF read as LF); for a folder, of its files'
    /// paths and hashes.
    pub sha256: String,
    /// For a folder: how many files it summarises. (No `#[serde(default)]`: a missing `Option`
    /// reads as `None` anyway, and the attribute would make the request schema differ.)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub files: Option<u32>,
}

/// A native dependency and the version the project resolves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NativeDependency {
    /// Package name, e.g. `@capacitor/camera`.
    pub name: String,
    /// Resolved version from the lockfile; else the installed package's; else the range
    /// `package.json` declares.
    pub version: String,
}

/// How the native files were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FileSource {
    /// The files git tracks (the working tree's content of each).
    Git,
    /// Every file: the project is not in a git repository, git is not installed, or the
    /// Capacitor config is not tracked.
    Walk,
}

/// Why a project could not be fingerprinted.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// git is installed and the project is in a repository, but listing its files failed
    /// (a repository owned by another user, a corrupt index).
    #[error("git cannot list the native project's files: {0}")]
    Git(String),
    /// The project's `package.json` is not valid.
    #[error("{path} is not a valid package.json: {message}")]
    PackageJson {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The lockfile is not valid.
    #[error("{path} is not a valid lockfile: {message}")]
    Lockfile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A native file's name is not UTF-8, so it cannot be recorded.
    #[error("{0}: file name is not valid UTF-8")]
    NonUtf8Path(String),
    /// Far more files than a native project has: a build output folder the exclusions do not
    /// know is probably inside `android/` or `ios/`.
    #[error(
        "more than {limit} files under android/ and ios/ (build outputs not counted): is another build output folder inside them?"
    )]
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
    /// Far more native dependencies than an app has.
    #[error("more than {limit} native dependencies")]
    TooManyDependencies {
        /// The limit.
        limit: usize,
    },
}

/// A stored or received fingerprint that is not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid native fingerprint: {0}")]
pub struct InvalidFingerprint(pub String);

/// Fingerprints the native surface of `project`.
pub fn fingerprint(project: &CapacitorProject) -> Result<NativeFingerprint, NativeError> {
    let config_path = project.config_path();
    let config_sha = file_sha256(&config_path).map_err(|source| NativeError::Read { path: config_path, source })?;
    let config = NativeFile { path: project.config_name.to_owned(), sha256: config_sha, files: None };
    let (files, file_source) = files::native_files(&project.root, project.config_name)?;
    let found = dependencies::native_dependencies(&project.root)?;

    let mut hasher = RecordHasher::default();
    hasher.record(&["format", &FORMAT.to_string()]);
    hasher.record(&["config", &config.path, &config.sha256]);
    for file in &files {
        hasher.record(&["file", &file.path, &file.sha256]);
    }
    for dependency in &found.dependencies {
        hasher.record(&["dependency", &dependency.name, &dependency.version]);
    }
    Ok(NativeFingerprint {
        format: FORMAT,
        digest: hasher.finish(),
        config,
        file_count: u32::try_from(files.len()).unwrap_or(u32::MAX),
        files: files::collapse(files, MAX_FILE_ENTRIES),
        dependencies: found.dependencies,
        file_source,
        node_modules: found.node_modules,
        lockfile: found.lockfile,
    })
}

impl NativeFingerprint {
    /// Checks the shape and bounds of a fingerprint that arrived from elsewhere (an upload, the
    /// database), so that no oversized or malformed one is stored or compared.
    pub fn validate(&self) -> Result<(), InvalidFingerprint> {
        let fail = |what: String| Err(InvalidFingerprint(what));
        let is_sha = |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !is_sha(&self.digest) {
            return fail("digest is not a SHA-256".into());
        }
        if self.files.len() > MAX_FILE_ENTRIES {
            return fail(format!("more than {MAX_FILE_ENTRIES} file entries"));
        }
        if self.dependencies.len() > MAX_DEPENDENCIES {
            return fail(format!("more than {MAX_DEPENDENCIES} dependencies"));
        }
        if !CONFIG_FILE_NAMES.contains(&self.config.path.as_str()) || !is_sha(&self.config.sha256) {
            return fail("config is not a Capacitor config file with a SHA-256".into());
        }
        for file in &self.files {
            if file.path.is_empty() || file.path.len() > MAX_PATH_LEN || !is_sha(&file.sha256) {
                return fail(format!("file entry `{}` is malformed", crate::protocol::cut(&file.path, 80)));
            }
        }
        for dependency in &self.dependencies {
            if dependency.name.is_empty() || dependency.name.len() > 214 || dependency.version.len() > 256 {
                return fail(format!("dependency `{}` is malformed", crate::protocol::cut(&dependency.name, 80)));
            }
        }
        if let Some(lockfile) = &self.lockfile
            && lockfile.len() > MAX_PATH_LEN
        {
            return fail("lockfile path is too long".into());
        }
        Ok(())
    }
}
