//! Resolved dependency versions from the project's lockfile: npm (`package-lock.json` v1–v3,
//! `npm-shrinkwrap.json`), pnpm (`pnpm-lock.yaml` v5–v9) and yarn (`yarn.lock`, classic and
//! berry).
//!
//! Only what a fingerprint needs is read: the version the project itself resolves for one of
//! its direct dependencies. The YAML-ish formats are read line by line rather than with a full
//! YAML parser: both are machine-written with a fixed layout, and this keeps a dependency out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::NativeError;

/// Lockfile names, in the order they are preferred when a folder holds several (npm reads a
/// shrinkwrap before a package-lock).
pub const LOCKFILE_NAMES: [&str; 4] = ["npm-shrinkwrap.json", "package-lock.json", "pnpm-lock.yaml", "yarn.lock"];

/// A lockfile, read.
#[derive(Debug)]
pub struct Lockfile {
    /// The folder holding it (the project, or a workspace root above it).
    pub dir: PathBuf,
    /// Its file name.
    pub name: &'static str,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Npm(Value),
    /// importer path (`.` for the workspace root) → package name → version.
    Pnpm(BTreeMap<String, BTreeMap<String, String>>),
    Yarn(Vec<YarnEntry>),
}

/// One block of a yarn lockfile: the descriptors it answers (`name@range`) and the version.
#[derive(Debug)]
struct YarnEntry {
    descriptors: Vec<String>,
    version: String,
}

/// The lockfile that governs the project at `root`: in the project folder, else in the nearest
/// parent that is a package (has a `package.json`: a workspace root), not above the repository
/// root.
pub fn find(root: &Path) -> Result<Option<Lockfile>, NativeError> {
    for dir in root.ancestors() {
        let is_package = dir == root || dir.join("package.json").is_file();
        if let Some(name) = LOCKFILE_NAMES.into_iter().find(|name| is_package && dir.join(name).is_file()) {
            return read(dir, name).map(Some);
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    Ok(None)
}

fn read(dir: &Path, name: &'static str) -> Result<Lockfile, NativeError> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| NativeError::Read { path: path.clone(), source })?;
    let kind = match name {
        "pnpm-lock.yaml" => Kind::Pnpm(pnpm_importers(&text)),
        "yarn.lock" => Kind::Yarn(yarn_entries(&text)),
        _ => {
            Kind::Npm(serde_json::from_str(&text).map_err(|e| NativeError::Lockfile { path, message: e.to_string() })?)
        }
    };
    Ok(Lockfile { dir: dir.to_path_buf(), name, kind })
}

impl Lockfile {
    /// The version the lockfile resolves for `name`, a direct dependency declared as `declared`
    /// by the package at `project` (relative to the lockfile's folder, `/`-separated, `""` for
    /// the same folder).
    pub fn resolve(&self, project: &str, name: &str, declared: &str) -> Option<String> {
        match &self.kind {
            Kind::Npm(lock) => npm_resolve(lock, project, name),
            Kind::Pnpm(importers) => {
                let importer = if project.is_empty() { "." } else { project };
                importers.get(importer)?.get(name).cloned()
            }
            Kind::Yarn(entries) => yarn_resolve(entries, name, declared),
        }
    }
}

/// npm v2/v3: the `packages` entry Node's resolution reaches from the project folder (its own
/// `node_modules`, then each parent's). v1: the top-level `dependencies`.
fn npm_resolve(lock: &Value, project: &str, name: &str) -> Option<String> {
    let version = |entry: &Value| entry.get("version").and_then(Value::as_str).map(str::to_owned);
    if let Some(packages) = lock.get("packages").and_then(Value::as_object) {
        let mut prefix = Some(project.trim_matches('/'));
        while let Some(dir) = prefix {
            let key =
                if dir.is_empty() { format!("node_modules/{name}") } else { format!("{dir}/node_modules/{name}") };
            if let Some(entry) = packages.get(&key) {
                // A workspace package or `file:` dependency is a link to the folder's entry.
                if entry.get("link").and_then(Value::as_bool) == Some(true) {
                    let target = entry.get("resolved").and_then(Value::as_str)?;
                    return packages.get(target).and_then(version).or_else(|| Some(format!("link:{target}")));
                }
                return version(entry);
            }
            prefix = if dir.is_empty() { None } else { Some(dir.rsplit_once('/').map_or("", |(parent, _)| parent)) };
        }
        return None;
    }
    lock.get("dependencies")?.get(name).and_then(version)
}

fn yarn_resolve(entries: &[YarnEntry], name: &str, declared: &str) -> Option<String> {
    let exact = [format!("{name}@{declared}"), format!("{name}@npm:{declared}")];
    if let Some(entry) = entries.iter().find(|e| e.descriptors.iter().any(|d| exact.contains(d))) {
        return Some(entry.version.clone());
    }
    // The range in package.json changed since the lockfile was written (or a workspace spells
    // it differently): take the package's version if the lockfile has only one.
    let named = |d: &String| d.rsplit_once('@').is_some_and(|(n, _)| n == name);
    let mut versions = entries.iter().filter(|e| e.descriptors.iter().any(named)).map(|e| &e.version);
    let first = versions.next()?;
    versions.all(|v| v == first).then(|| first.clone())
}

/// `"@scope/a@^1.0.0", "@scope/a@^1.1.0":` then an indented `version "1.1.2"` (classic) or
/// `version: 1.1.2` (berry).
fn yarn_entries(text: &str) -> Vec<YarnEntry> {
    let mut entries = Vec::new();
    let mut descriptors: Option<Vec<String>> = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            descriptors = line.strip_suffix(':').map(|header| {
                header.split(", ").map(|d| d.trim().trim_matches('"').to_owned()).filter(|d| !d.is_empty()).collect()
            });
            continue;
        }
        let Some(rest) = line.strip_prefix("  ").filter(|r| !r.starts_with(' ')) else {
            continue;
        };
        let Some(value) = rest.strip_prefix("version").filter(|v| v.starts_with([' ', ':'])) else {
            continue;
        };
        if let Some(descriptors) = descriptors.take() {
            let version = value.trim_start_matches(':').trim().trim_matches('"').to_owned();
            entries.push(YarnEntry { descriptors, version });
        }
    }
    entries
}

const DEPENDENCY_SECTIONS: [&str; 3] = ["dependencies", "devDependencies", "optionalDependencies"];

/// Each importer's direct dependencies and their versions. Layouts read:
/// - v6–v9: `importers: <path>: <section>: <name>: {specifier, version}`;
/// - v5 workspaces: `importers: <path>: <section>: <name>: <version>`;
/// - single projects (v5, v6): the same without `importers: <path>:`.
fn pnpm_importers(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut importers: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    // The open mappings above the current line: (indent, key).
    let mut stack: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with('-') {
            continue;
        }
        let indent = line.len() - content.len();
        let Some((key, value)) = yaml_key_value(content) else {
            continue;
        };
        while stack.last().is_some_and(|(open, _)| *open >= indent) {
            stack.pop();
        }
        let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).chain([key.as_str()]).collect();
        let found = match path.as_slice() {
            ["importers", importer, section, name] if DEPENDENCY_SECTIONS.contains(section) => Some((*importer, *name)),
            ["importers", importer, section, name, "version"] if DEPENDENCY_SECTIONS.contains(section) => {
                Some((*importer, *name))
            }
            [section, name] if DEPENDENCY_SECTIONS.contains(section) => Some((".", *name)),
            [section, name, "version"] if DEPENDENCY_SECTIONS.contains(section) => Some((".", *name)),
            _ => None,
        };
        match (found, value) {
            (Some((importer, name)), Some(value)) => {
                importers.entry(importer.to_owned()).or_default().insert(name.to_owned(), pnpm_version(&value));
            }
            (_, None) => stack.push((indent, key)),
            (None, Some(_)) => {}
        }
    }
    importers
}

/// `key: value` or `key:` with the key and value unquoted; `None` for other lines.
fn yaml_key_value(content: &str) -> Option<(String, Option<String>)> {
    let (key, rest) = match content.chars().next()? {
        quote @ ('\'' | '"') => {
            let end = content[1..].find(quote)? + 1;
            (content[1..end].to_owned(), &content[end + 1..])
        }
        _ => {
            let end = content.find(": ").or_else(|| content.strip_suffix(':').map(str::len))?;
            (content[..end].to_owned(), &content[end..])
        }
    };
    let rest = rest.strip_prefix(':')?.trim();
    let value = (!rest.is_empty()).then(|| rest.trim_matches(|c| c == '\'' || c == '"').to_owned());
    Some((key, value))
}

/// Drops pnpm's peer-dependency suffix: `6.1.0(@capacitor/core@6.2.2)` (v6+) or
/// `6.1.0_@capacitor+core@6.2.2` (v5) is 6.1.0.
fn pnpm_version(value: &str) -> String {
    let value = value.split('(').next().unwrap_or(value);
    match value.split_once('_') {
        Some((version, _)) if version.starts_with(|c: char| c.is_ascii_digit()) => version.to_owned(),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnpm_layouts() {
        let v9 = "lockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n      '@capacitor/android':\n        specifier: 6.1.0\n        version: 6.1.0(@capacitor/core@6.2.2)\n    devDependencies:\n      typescript:\n        specifier: 5.4.5\n        version: 5.4.5\n\n  apps/mobile:\n    dependencies:\n      '@capacitor/camera':\n        specifier: ^6.0.0\n        version: 6.0.1(@capacitor/core@6.2.2)\n\npackages:\n\n  '@capacitor/android@6.1.0':\n    resolution: {integrity: sha512-x}\n    peerDependencies:\n      '@capacitor/core': ^6.1.0\n";
        let importers = pnpm_importers(v9);
        assert_eq!(importers["."]["@capacitor/android"], "6.1.0");
        assert_eq!(importers["."]["typescript"], "5.4.5");
        assert_eq!(importers["apps/mobile"]["@capacitor/camera"], "6.0.1");
        assert_eq!(importers.len(), 2, "peerDependencies of packages are not importers: {importers:?}");

        let v5 = "lockfileVersion: 5.4\n\nspecifiers:\n  '@capacitor/core': ^5.0.0\n\ndependencies:\n  '@capacitor/core': 5.7.0\n  '@capacitor/camera': 5.0.9_@capacitor+core@5.7.0\n  local-plugin: link:../plugin\n\npackages:\n\n  /@capacitor/core/5.7.0:\n    dependencies:\n      tslib: 2.6.2\n";
        let importers = pnpm_importers(v5);
        assert_eq!(importers["."]["@capacitor/core"], "5.7.0");
        assert_eq!(importers["."]["@capacitor/camera"], "5.0.9");
        assert_eq!(importers["."]["local-plugin"], "link:../plugin");
        assert_eq!(importers["."].get("tslib"), None);
    }

    #[test]
    fn yarn_classic_and_berry() {
        let classic = "# yarn lockfile v1\n\n\n\"@capacitor/core@^6.0.0\", \"@capacitor/core@^6.1.0\":\n  version \"6.2.2\"\n  dependencies:\n    tslib \"^2.1.0\"\n\ntslib@^2.1.0:\n  version \"2.9.1\"\n";
        let entries = yarn_entries(classic);
        assert_eq!(yarn_resolve(&entries, "@capacitor/core", "^6.1.0").as_deref(), Some("6.2.2"));
        assert_eq!(yarn_resolve(&entries, "tslib", "^2.1.0").as_deref(), Some("2.9.1"));
        assert_eq!(yarn_resolve(&entries, "@capacitor/core", "^7.0.0").as_deref(), Some("6.2.2"), "only one version");

        let berry = "__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"@capacitor/camera@npm:6.0.1\":\n  version: 6.0.1\n  resolution: \"@capacitor/camera@npm:6.0.1\"\n\n\"@capacitor/camera@npm:^5.0.0\":\n  version: 5.0.9\n";
        let entries = yarn_entries(berry);
        assert_eq!(yarn_resolve(&entries, "@capacitor/camera", "6.0.1").as_deref(), Some("6.0.1"));
        assert_eq!(yarn_resolve(&entries, "@capacitor/camera", "^6.1.0"), None, "two versions: no guess");
    }

    #[test]
    fn npm_resolution_walks_up_like_node() {
        let lock: Value = serde_json::json!({
            "lockfileVersion": 3,
            "packages": {
                "": {"name": "root"},
                "node_modules/@capacitor/core": {"version": "6.2.2"},
                "apps/mobile/node_modules/@capacitor/core": {"version": "5.7.0"},
                "node_modules/local-plugin": {"link": true, "resolved": "packages/local-plugin"},
                "packages/local-plugin": {"version": "0.3.0"}
            }
        });
        assert_eq!(npm_resolve(&lock, "", "@capacitor/core").as_deref(), Some("6.2.2"));
        assert_eq!(npm_resolve(&lock, "apps/mobile", "@capacitor/core").as_deref(), Some("5.7.0"));
        assert_eq!(npm_resolve(&lock, "apps/web", "@capacitor/core").as_deref(), Some("6.2.2"));
        assert_eq!(npm_resolve(&lock, "apps/mobile", "local-plugin").as_deref(), Some("0.3.0"));
        assert_eq!(npm_resolve(&lock, "", "missing"), None);
        let v1 = serde_json::json!({"lockfileVersion": 1, "dependencies": {"@capacitor/core": {"version": "3.9.0"}}});
        assert_eq!(npm_resolve(&v1, "", "@capacitor/core").as_deref(), Some("3.9.0"));
    }
}
