//! Finding the Capacitor project a build folder belongs to.

use std::path::{Path, PathBuf};

/// Capacitor config file names, in the order the Capacitor CLI looks for them: when a folder
/// holds several, the CLI reads the first, so that is the one that shapes the native shell.
pub const CONFIG_FILE_NAMES: [&str; 3] = ["capacitor.config.ts", "capacitor.config.js", "capacitor.config.json"];

/// A Capacitor project: the folder holding `capacitor.config.*`, with `android/` and `ios/`
/// beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacitorProject {
    /// The project folder (absolute).
    pub root: PathBuf,
    /// The config file the Capacitor CLI reads, e.g. `capacitor.config.ts`.
    pub config_name: &'static str,
}

impl CapacitorProject {
    /// The config file's full path.
    pub fn config_path(&self) -> PathBuf {
        self.root.join(self.config_name)
    }
}

/// The Capacitor project `start` (a build folder, or a bundle zip) belongs to: the nearest folder
/// at or above it that holds a `capacitor.config.{ts,js,json}`. `None` is a normal answer (a web
/// build that is not part of a Capacitor project, or a zip packed elsewhere).
pub fn find_project(start: &Path) -> Option<CapacitorProject> {
    let absolute = std::path::absolute(start).ok()?;
    let first = if absolute.is_dir() { absolute.as_path() } else { absolute.parent()? };
    first.ancestors().find_map(|dir| {
        let config_name = CONFIG_FILE_NAMES.into_iter().find(|name| dir.join(name).is_file())?;
        Some(CapacitorProject { root: dir.to_path_buf(), config_name })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_config_wins_and_ts_comes_first() {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("apps/mobile");
        let dist = app.join("dist/assets");
        std::fs::create_dir_all(&dist).unwrap();
        assert_eq!(find_project(&dist).filter(|p| p.root.starts_with(root.path())), None);

        std::fs::write(root.path().join("capacitor.config.json"), "{}").unwrap();
        assert_eq!(find_project(&dist).unwrap().root, root.path());

        std::fs::write(app.join("capacitor.config.json"), "{}").unwrap();
        std::fs::write(app.join("capacitor.config.ts"), "export default {}").unwrap();
        let found = find_project(&dist).unwrap();
        assert_eq!((found.root.as_path(), found.config_name), (app.as_path(), "capacitor.config.ts"));

        let zip = app.join("dist/bundle.zip");
        std::fs::write(&zip, b"zip").unwrap();
        assert_eq!(find_project(&zip).unwrap().root, app, "a zip searches from its folder");
    }
}
