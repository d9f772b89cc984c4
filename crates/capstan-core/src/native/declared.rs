//! The native version a project declares: the value a release script raises
//! MIN_NATIVE_VERSION to when the native shell changes, because the store build that ships the
//! change will report it as its `version_build`.

use std::path::Path;

use semver::Version;
use serde::Serialize;

use super::NativeError;
use super::project::CapacitorProject;
use crate::version::parse_lenient;

/// Where a declared native version is read, in order: Android's `versionName`, then iOS's
/// `MARKETING_VERSION` (what `CFBundleShortVersionString` is set from in Capacitor's template).
const SOURCES: [(&str, Reader); 3] = [
    ("android/app/build.gradle", gradle_version_name),
    ("android/app/build.gradle.kts", gradle_version_name),
    ("ios/App/App.xcodeproj/project.pbxproj", marketing_version),
];

type Reader = fn(&str) -> Option<Version>;

/// A native version found in the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct DeclaredVersion {
    /// The version, normalised (`1.2` → `1.2.0`).
    #[ts(type = "string")]
    pub version: Version,
    /// The file it was read from, relative to the project root.
    pub file: String,
}

/// The native version the project declares, or `None` when no file states one as a literal
/// the plugin would read as a version (the caller then falls back to the bundle version).
pub fn declared_native_version(project: &CapacitorProject) -> Result<Option<DeclaredVersion>, NativeError> {
    for (file, reader) in SOURCES {
        let Some(text) = read_optional(&project.root.join(file))? else {
            continue;
        };
        if let Some(version) = reader(&text) {
            return Ok(Some(DeclaredVersion { version, file: file.to_owned() }));
        }
    }
    Ok(None)
}

fn read_optional(path: &Path) -> Result<Option<String>, NativeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(NativeError::Read { path: path.to_path_buf(), source }),
    }
}

/// The first literal `versionName` outside comments: `versionName "1.2"` or
/// `versionName = '1.2'` (Groovy), `versionName = "1.2"` (Kotlin). A computed value
/// (`versionName rootProject.ext.appVersion`, `"${major}.${minor}"`) is not a literal.
fn gradle_version_name(text: &str) -> Option<Version> {
    let mut in_block_comment = false;
    for line in text.lines() {
        let mut line = line.trim();
        if in_block_comment {
            match line.find("*/") {
                Some(end) => {
                    in_block_comment = false;
                    line = line[end + 2..].trim();
                }
                None => continue,
            }
        }
        if line.starts_with("/*") {
            in_block_comment = !line.contains("*/");
            continue;
        }
        let Some(rest) = line.strip_prefix("versionName") else {
            continue;
        };
        if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // versionNameSuffix and the like
        }
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '=' || c == '(');
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(value) = rest[1..].split(quote).next().filter(|v| !v.contains('$')) else {
            continue;
        };
        if let Ok(version) = parse_lenient(value) {
            return Some(version);
        }
    }
    None
}

/// The highest literal `MARKETING_VERSION = 1.2;` among the build configurations (Debug and
/// Release normally agree; when they do not, the store build is the higher one).
fn marketing_version(text: &str) -> Option<Version> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("MARKETING_VERSION")?.trim_start().strip_prefix('='))
        .filter_map(|value| parse_lenient(value.trim().trim_end_matches(';').trim().trim_matches('"')).ok())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradle_forms() {
        let read = |text: &str| gradle_version_name(text).map(|v| v.to_string());
        assert_eq!(read("defaultConfig {\n    versionCode 7\n    versionName \"1.4\"\n}").as_deref(), Some("1.4.0"));
        assert_eq!(read("defaultConfig {\n    versionName = '2.0.1'\n}").as_deref(), Some("2.0.1"));
        assert_eq!(read("defaultConfig {\n    versionName = \"3.1.0\" // kts\n}").as_deref(), Some("3.1.0"));
        assert_eq!(
            read("// versionName \"9.9\"\n/* versionName \"8.8\"\n versionName \"7.7\" */\nversionName \"1.0\"")
                .as_deref(),
            Some("1.0.0")
        );
        assert_eq!(read("versionNameSuffix \"-dev\"\nversionName \"1.2.3\"").as_deref(), Some("1.2.3"));
        assert_eq!(read("versionName rootProject.ext.appVersion"), None);
        assert_eq!(read("versionName \"${major}.${minor}\""), None);
        assert_eq!(read("versionName \"1.2.3.4\""), None);
    }

    #[test]
    fn pbxproj_forms() {
        let read = |text: &str| marketing_version(text).map(|v| v.to_string());
        let pbx = "\t\t\t\tMARKETING_VERSION = 1.0;\n\t\t\t\tPRODUCT_BUNDLE_IDENTIFIER = com.example;\n\t\t\t\tMARKETING_VERSION = \"1.2\";\n";
        assert_eq!(read(pbx).as_deref(), Some("1.2.0"));
        assert_eq!(read("MARKETING_VERSION = \"$(APP_VERSION)\";"), None);
        assert_eq!(read("CURRENT_PROJECT_VERSION = 1;"), None);
    }
}
