//! What changed between two fingerprints, in words a release manager can act on.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::dependencies::native_by_name;
use super::files::folder_sha256;
use super::{NativeFile, NativeFingerprint};

/// One difference between two native fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NativeChange {
    /// A native dependency resolves to another version.
    DependencyChanged {
        /// Package name.
        name: String,
        /// Version before.
        from: String,
        /// Version now.
        to: String,
    },
    /// A native dependency (a plugin, usually) was added.
    DependencyAdded {
        /// Package name.
        name: String,
        /// Its version.
        version: String,
    },
    /// A native dependency was removed.
    DependencyRemoved {
        /// Package name.
        name: String,
        /// The version it had.
        version: String,
    },
    /// The Capacitor config file's content changed.
    ConfigChanged {
        /// The file, e.g. `capacitor.config.ts`.
        file: String,
    },
    /// The project now uses another Capacitor config file (`.json` → `.ts`).
    ConfigReplaced {
        /// The file before.
        from: String,
        /// The file now.
        to: String,
    },
    /// A native file changed; a path ending in `/` is a folder of a very large project, whose
    /// files are summarised together.
    FileChanged {
        /// Path relative to the project root.
        path: String,
    },
    /// A native file (or folder) was added.
    FileAdded {
        /// Path relative to the project root.
        path: String,
    },
    /// A native file (or folder) was removed.
    FileRemoved {
        /// Path relative to the project root.
        path: String,
    },
}

impl std::fmt::Display for NativeChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let platform = |name: &str| matches!(name, "@capacitor/android" | "@capacitor/ios" | "@capacitor/core");
        match self {
            NativeChange::DependencyChanged { name, from, to } => write!(f, "{name} {from} → {to}"),
            NativeChange::DependencyAdded { name, .. } if platform(name) => write!(f, "{name} added"),
            NativeChange::DependencyAdded { name, .. } => write!(f, "plugin {name} added"),
            NativeChange::DependencyRemoved { name, .. } if platform(name) => write!(f, "{name} removed"),
            NativeChange::DependencyRemoved { name, .. } => write!(f, "plugin {name} removed"),
            NativeChange::ConfigChanged { file } => write!(f, "{file} changed"),
            NativeChange::ConfigReplaced { from, to } => write!(f, "{from} replaced by {to}"),
            NativeChange::FileChanged { path } if path.ends_with('/') => write!(f, "files under {path} changed"),
            NativeChange::FileChanged { path } => write!(f, "{path} changed"),
            NativeChange::FileAdded { path } => write!(f, "{path} added"),
            NativeChange::FileRemoved { path } => write!(f, "{path} removed"),
        }
    }
}

/// Everything that differs between two fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct NativeDiff {
    /// The differences: dependencies first, then the config, then files by path.
    pub changes: Vec<NativeChange>,
    /// What could not be compared, in words; empty normally.
    pub not_compared: Vec<String>,
}

impl NativeDiff {
    /// Whether the native surface is unchanged.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes as one line, at most `max` of them named: `@capacitor/camera 6.0.1 → 6.1.0;
    /// android/app/build.gradle changed; and 3 more`.
    pub fn summary(&self, max: usize) -> String {
        let mut parts: Vec<String> = self.changes.iter().take(max).map(ToString::to_string).collect();
        if self.changes.len() > max {
            parts.push(format!("and {} more", self.changes.len() - max));
        }
        parts.join("; ")
    }
}

impl std::fmt::Display for NativeDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary(8))
    }
}

/// Two fingerprints made under different rules: a difference between them would say nothing
/// about the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the native fingerprints were made by different Capstan versions (format {old} and {new}) and cannot be compared"
)]
pub struct NotComparable {
    /// Format of the older fingerprint.
    pub old: u32,
    /// Format of the newer one.
    pub new: u32,
}

/// What changed from `old` (the bundle a channel serves) to `new` (the one being published).
pub fn compare(old: &NativeFingerprint, new: &NativeFingerprint) -> Result<NativeDiff, NotComparable> {
    if old.format != new.format {
        return Err(NotComparable { old: old.format, new: new.format });
    }
    let mut diff = NativeDiff { changes: Vec::new(), not_compared: Vec::new() };
    if old.digest == new.digest {
        return Ok(diff);
    }
    compare_dependencies(old, new, &mut diff);
    if old.config.path != new.config.path {
        diff.changes.push(NativeChange::ConfigReplaced { from: old.config.path.clone(), to: new.config.path.clone() });
    } else if old.config.sha256 != new.config.sha256 {
        diff.changes.push(NativeChange::ConfigChanged { file: new.config.path.clone() });
    }
    diff.changes.extend(compare_files(&old.files, &new.files));
    Ok(diff)
}

fn compare_dependencies(old: &NativeFingerprint, new: &NativeFingerprint, diff: &mut NativeDiff) {
    let before: BTreeMap<&str, &str> = old.dependencies.iter().map(|d| (d.name.as_str(), d.version.as_str())).collect();
    let after: BTreeMap<&str, &str> = new.dependencies.iter().map(|d| (d.name.as_str(), d.version.as_str())).collect();
    // Packages found only by looking inside node_modules cannot be said to have appeared or
    // disappeared when one side had no node_modules to look into.
    let both_looked = old.node_modules == new.node_modules;
    if !both_looked {
        diff.not_compared.push(
            "third-party plugins: node_modules was installed for only one of the two publishes, so plugins outside @capacitor/ and @capgo/ were compared only where both saw them"
                .to_owned(),
        );
    }
    let names: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    for name in names {
        let change = match (before.get(name), after.get(name)) {
            (Some(from), Some(to)) if from != to => {
                NativeChange::DependencyChanged { name: name.into(), from: (*from).into(), to: (*to).into() }
            }
            (None, Some(version)) if both_looked || native_by_name(name) => {
                NativeChange::DependencyAdded { name: name.into(), version: (*version).into() }
            }
            (Some(version), None) if both_looked || native_by_name(name) => {
                NativeChange::DependencyRemoved { name: name.into(), version: (*version).into() }
            }
            _ => continue,
        };
        diff.changes.push(change);
    }
}

/// Compares file lists, either of which may summarise folders (very large projects). A folder
/// on one side is compared with the other side's files under it when those are plain files,
/// since its hash can be computed from them.
fn compare_files(old: &[NativeFile], new: &[NativeFile]) -> Vec<NativeChange> {
    let before: BTreeMap<&str, &NativeFile> = old.iter().map(|f| (f.path.as_str(), f)).collect();
    let after: BTreeMap<&str, &NativeFile> = new.iter().map(|f| (f.path.as_str(), f)).collect();
    let paths: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    let mut changes = Vec::new();
    for path in paths {
        let change = match (before.get(path), after.get(path)) {
            (Some(a), Some(b)) if a.sha256 != b.sha256 => Some(NativeChange::FileChanged { path: path.into() }),
            (Some(_), Some(_)) => None,
            (None, Some(added)) => one_sided(added, old, true),
            (Some(removed), None) => one_sided(removed, new, false),
            (None, None) => None,
        };
        changes.extend(change);
    }
    changes
}

/// A path present on one side only. `others` is the other side's list.
fn one_sided(entry: &NativeFile, others: &[NativeFile], added: bool) -> Option<NativeChange> {
    let path = entry.path.clone();
    // Inside a folder the other side summarises: that folder's comparison speaks for it.
    if others.iter().any(|o| o.path.ends_with('/') && entry.path.starts_with(&o.path)) {
        return None;
    }
    if entry.files.is_some() {
        let inside: Vec<&NativeFile> = others.iter().filter(|o| o.path.starts_with(&entry.path)).collect();
        if !inside.is_empty() {
            let comparable = inside.iter().all(|o| o.files.is_none());
            if comparable && folder_sha256(&entry.path, inside.iter().copied()) == entry.sha256 {
                return None;
            }
            return Some(NativeChange::FileChanged { path });
        }
    }
    Some(if added { NativeChange::FileAdded { path } } else { NativeChange::FileRemoved { path } })
}
