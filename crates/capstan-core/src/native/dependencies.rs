//! The project's native dependencies and the versions it resolves.
//!
//! Capacitor links into the shell the plugins the app's `package.json` depends on directly, so
//! only direct dependencies (`dependencies`, `devDependencies`, `optionalDependencies`) are
//! candidates. One counts when its name says so (`@capacitor/*`, `@capgo/*`, but not their
//! command-line tools) or, when `node_modules` is installed, when its package ships native code.
//! Versions come from the lockfile, else from the installed package, else the declared range.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::lockfile::{self, Lockfile};
use super::{NativeDependency, NativeError};

/// Most native dependencies in one fingerprint; real apps have a few dozen.
pub const MAX_DEPENDENCIES: usize = 1000;

/// Longest version text kept (a range can be a long git URL).
const MAX_VERSION_TEXT: usize = 256;

/// `@capacitor/*` and `@capgo/*` packages that are tools for the developer's machine, not code in
/// the shell: a new CLI does not make a bundle incompatible with installed apps.
const TOOLS: &[&str] =
    &["@capacitor/cli", "@capacitor/assets", "@capacitor/docgen", "@capacitor/create-app", "@capgo/cli"];

/// Whether a package counts as native by its name alone, whatever is installed.
pub fn native_by_name(name: &str) -> bool {
    (name.starts_with("@capacitor/") || name.starts_with("@capgo/")) && !TOOLS.contains(&name)
}

/// What was found about the project's native dependencies.
#[derive(Debug)]
pub struct Found {
    /// Sorted by name.
    pub dependencies: Vec<NativeDependency>,
    /// The lockfile the versions came from, relative to the project root.
    pub lockfile: Option<String>,
    /// Whether installed packages could be looked at.
    pub node_modules: bool,
}

/// The native dependencies of the project at `root`.
pub fn native_dependencies(root: &Path) -> Result<Found, NativeError> {
    let declared = declared_dependencies(root)?;
    let lock = lockfile::find(root)?;
    let (project, lockfile) = match &lock {
        Some(lock) => {
            let project = relative_slash(&lock.dir, root).unwrap_or_default();
            (project, Some(lockfile_path(root, lock)))
        }
        None => (String::new(), None),
    };
    // Node looks for packages in the project's node_modules, then in each parent's; a
    // workspace's lockfile folder is as far up as they can have been installed from.
    let search: Vec<PathBuf> = match &lock {
        Some(lock) => {
            root.ancestors().take_while(|d| d.starts_with(&lock.dir)).map(|d| d.join("node_modules")).collect()
        }
        None => vec![root.join("node_modules")],
    };
    let node_modules = search.iter().any(|dir| dir.is_dir());

    let mut dependencies = Vec::new();
    for (name, range) in declared.into_iter().filter(|(name, _)| is_package_name(name)) {
        let installed = if node_modules { installed_package(&search, &name)? } else { None };
        let native = native_by_name(&name) || installed.as_ref().is_some_and(|p| p.ships_native_code);
        if !native {
            continue;
        }
        let version = lock
            .as_ref()
            .and_then(|lock| lock.resolve(&project, &name, &range))
            .or_else(|| installed.and_then(|p| p.version))
            .unwrap_or(range);
        let version = crate::protocol::cut(&version, MAX_VERSION_TEXT);
        dependencies.push(NativeDependency { name, version });
        if dependencies.len() > MAX_DEPENDENCIES {
            return Err(NativeError::TooManyDependencies { limit: MAX_DEPENDENCIES });
        }
    }
    Ok(Found { dependencies, lockfile, node_modules })
}

/// Direct dependencies from `package.json`: name → declared range. A project without a
/// `package.json` has none.
fn declared_dependencies(root: &Path) -> Result<BTreeMap<String, String>, NativeError> {
    let path = root.join("package.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(NativeError::Read { path, source }),
    };
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| NativeError::PackageJson { path: path.clone(), message: e.to_string() })?;
    let mut declared = BTreeMap::new();
    for section in ["dependencies", "devDependencies", "optionalDependencies"] {
        let Some(entries) = json.get(section) else {
            continue;
        };
        let Some(entries) = entries.as_object() else {
            return Err(NativeError::PackageJson { path, message: format!("\"{section}\" is not an object") });
        };
        for (name, range) in entries {
            // `dependencies` wins over `devDependencies` for a package listed in both, as in npm.
            declared.entry(name.clone()).or_insert_with(|| range.as_str().unwrap_or_default().to_owned());
        }
    }
    Ok(declared)
}

/// Whether `name` can be an npm package name: it is joined to `node_modules/` to find the
/// package, so it must not be able to point anywhere else.
fn is_package_name(name: &str) -> bool {
    let plain = |part: &str| !part.is_empty() && !part.starts_with('.') && !part.contains(['/', '\\']) && part != "..";
    if name.len() > 214 {
        return false;
    }
    match name.strip_prefix('@').map(|scoped| scoped.split_once('/')) {
        Some(Some((scope, package))) => plain(scope) && plain(package),
        Some(None) => false,
        None => plain(name),
    }
}

/// An installed package, as far as a fingerprint cares.
struct Installed {
    version: Option<String>,
    ships_native_code: bool,
}

/// The package Node would load for `name`, if installed.
fn installed_package(search: &[PathBuf], name: &str) -> Result<Option<Installed>, NativeError> {
    let Some(dir) = search.iter().map(|modules| modules.join(name)).find(|dir| dir.join("package.json").is_file())
    else {
        return Ok(None);
    };
    let path = dir.join("package.json");
    let text = std::fs::read_to_string(&path).map_err(|source| NativeError::Read { path: path.clone(), source })?;
    // A broken installed package.json says nothing about the version; its folders still say
    // whether it ships native code.
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let version = json.get("version").and_then(Value::as_str).map(str::to_owned);
    Ok(Some(Installed { version, ships_native_code: json.get("capacitor").is_some() || has_native_code(&dir) }))
}

/// An `android/` or `ios/` folder, a podspec, or a Cordova `plugin.xml` at the package root.
fn has_native_code(dir: &Path) -> bool {
    if dir.join("android").is_dir() || dir.join("ios").is_dir() || dir.join("plugin.xml").is_file() {
        return true;
    }
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| entry.file_name().to_str().is_some_and(|name| name.ends_with(".podspec")))
    })
}

/// `path` relative to `base` with `/` separators, if it is inside it.
fn relative_slash(base: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// The lockfile's path as seen from the project root: `package-lock.json`, `../../yarn.lock`.
fn lockfile_path(root: &Path, lock: &Lockfile) -> String {
    let ups = root.strip_prefix(&lock.dir).map(|rel| rel.components().count()).unwrap_or(0);
    format!("{}{}", "../".repeat(ups), lock.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(native_by_name("@capacitor/camera") && native_by_name("@capgo/capacitor-updater"));
        assert!(!native_by_name("@capacitor/cli") && !native_by_name("@capgo/cli") && !native_by_name("capacitor-x"));
        for good in ["@capacitor/core", "lodash", "capacitor-plugin-x", "@a/b.c"] {
            assert!(is_package_name(good), "{good}");
        }
        for bad in ["", "@capacitor", "@capacitor/", "@capacitor/../../x", "../x", "a/b", ".hidden", "@/x", "a\\b"] {
            assert!(!is_package_name(bad), "{bad}");
        }
    }
}
