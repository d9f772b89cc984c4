//! The rules a bundle must follow for the device plugin to install it (protocol.md §5).
//!
//! Shared by the packer (which never produces a bad entry) and the inspector (which refuses
//! zips that break them), so both apply exactly the same rules.

/// A single file above this size earns a warning (20 MB).
pub const LARGE_FILE_WARNING: u64 = 20_000_000;
/// A bundle whose zip is above this size earns a warning (50 MB).
pub const LARGE_BUNDLE_WARNING: u64 = 50_000_000;
/// A bundle whose files add up to more than this once unzipped earns a warning (200 MB): every
/// device writes that much, and a small zip of many compressible files can hide it.
pub const LARGE_UNPACKED_WARNING: u64 = 200_000_000;
/// Longest entry name accepted (bytes). Real web builds stay far below it.
pub const MAX_NAME_LEN: usize = 1024;

/// Files and folders that operating systems and tools leave behind; left out of bundles
/// unless asked for. `__MACOSX` matters most: iOS does not skip it when unzipping.
pub const JUNK_NAMES: [&str; 4] = [".DS_Store", "__MACOSX", ".git", "Thumbs.db"];

/// Whether a path component is OS or VCS junk.
pub fn is_junk(component: &str) -> bool {
    JUNK_NAMES.contains(&component)
}

/// Why an entry name would hurt a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    /// Empty name, or an empty path segment (`a//b`).
    #[error("empty path segment")]
    Empty,
    /// Longer than [`MAX_NAME_LEN`].
    #[error("name longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    /// Contains a backslash: the plugin reports `windows_path_fail`.
    #[error("contains a backslash")]
    Backslash,
    /// Contains a NUL byte or another control character.
    #[error("contains a control character")]
    ControlCharacter,
    /// Absolute path (`/etc/passwd`, `C:foo`).
    #[error("absolute path")]
    Absolute,
    /// A `..` or `.` segment: `..` escapes the bundle folder (zip-slip,
    /// `canonical_path_fail` on the device).
    #[error("`.` or `..` path segment")]
    DotSegment,
}

/// Checks a `/`-separated entry name. A trailing `/` (a directory entry) is allowed.
pub fn check_entry_name(name: &str) -> Result<(), NameProblem> {
    if name.len() > MAX_NAME_LEN {
        return Err(NameProblem::TooLong);
    }
    if name.contains('\\') {
        return Err(NameProblem::Backslash);
    }
    if name.chars().any(char::is_control) {
        return Err(NameProblem::ControlCharacter);
    }
    let bytes = name.as_bytes();
    if name.starts_with('/') || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic()) {
        return Err(NameProblem::Absolute);
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for segment in trimmed.split('/') {
        match segment {
            "" => return Err(NameProblem::Empty),
            "." | ".." => return Err(NameProblem::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// File endings whose contents are already compressed: deflating them again costs time and
/// gains nothing, so they are stored.
const PRECOMPRESSED_EXTENSIONS: [&str; 25] = [
    "png", "jpg", "jpeg", "gif", "webp", "avif", "heic", "ico", "woff", "woff2", "mp3", "mp4", "m4a", "aac", "ogg",
    "opus", "webm", "mov", "zip", "gz", "br", "zst", "xz", "7z", "pdf",
];

/// Whether a file's contents are already compressed, judged by its extension.
pub fn is_precompressed(path: &str) -> bool {
    extension(path).is_some_and(|ext| PRECOMPRESSED_EXTENSIONS.iter().any(|known| known.eq_ignore_ascii_case(ext)))
}

/// Whether a file is JavaScript the app may run (where `notifyAppReady` would be called).
pub fn is_javascript(path: &str) -> bool {
    extension(path).is_some_and(|ext| ["js", "mjs", "cjs"].iter().any(|known| known.eq_ignore_ascii_case(ext)))
}

/// Whether a file is a source map.
pub fn is_source_map(path: &str) -> bool {
    extension(path).is_some_and(|ext| ext.eq_ignore_ascii_case("map"))
}

/// Whether `contents` mention the plugin call that confirms a bundle booted.
pub fn mentions_notify_app_ready(contents: &[u8]) -> bool {
    memchr::memmem::find(contents, b"notifyAppReady").is_some()
}

fn extension(path: &str) -> Option<&str> {
    let file_name = path.rsplit('/').next()?;
    file_name.rsplit_once('.').map(|(_, ext)| ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_pass() {
        for good in ["index.html", "assets/app.js", "a b/ü.css", "dir/", ".well-known/x"] {
            assert_eq!(check_entry_name(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn hostile_names_fail_with_their_reason() {
        assert_eq!(check_entry_name("../evil.js"), Err(NameProblem::DotSegment));
        assert_eq!(check_entry_name("a/../../evil.js"), Err(NameProblem::DotSegment));
        assert_eq!(check_entry_name("./a.js"), Err(NameProblem::DotSegment));
        assert_eq!(check_entry_name("/etc/passwd"), Err(NameProblem::Absolute));
        assert_eq!(check_entry_name("C:evil"), Err(NameProblem::Absolute));
        assert_eq!(check_entry_name("a\\b.js"), Err(NameProblem::Backslash));
        assert_eq!(check_entry_name("a\0b"), Err(NameProblem::ControlCharacter));
        assert_eq!(check_entry_name("a//b"), Err(NameProblem::Empty));
        assert_eq!(check_entry_name(""), Err(NameProblem::Empty));
        assert_eq!(check_entry_name(&"a".repeat(MAX_NAME_LEN + 1)), Err(NameProblem::TooLong));
    }

    #[test]
    fn classifies_files() {
        assert!(is_precompressed("img/logo.PNG"));
        assert!(!is_precompressed("app.js"));
        assert!(!is_precompressed("png"));
        assert!(is_javascript("chunk.MJS"));
        assert!(is_source_map("app.js.map"));
        assert!(is_junk(".DS_Store") && !is_junk("assets"));
        assert!(mentions_notify_app_ready(b"x.notifyAppReady()"));
        assert!(!mentions_notify_app_ready(b"notifyApp"));
    }
}
