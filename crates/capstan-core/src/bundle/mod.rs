//! Live-update bundles: the zip of a web build that the device plugin downloads.
//!
//! [`pack_folder`] turns a build folder into a bundle; [`inspect_zip`] checks a zip made by
//! anyone (a user, an old script, an upload to the server) against the same rules. Both return
//! a [`BundleReport`], so the console shows the same facts whichever way a bundle arrived.
//! [`artifacts`] splits a bundle into per-file artifacts for delta updates.

pub mod artifacts;
mod inspect;
mod pack;
pub mod rules;

pub use inspect::{InspectError, InspectLimits, inspect_zip};
pub use pack::{PackError, PackOptions, pack_folder};

use serde::{Deserialize, Serialize};

/// What a bundle holds and what a release manager should know before shipping it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    /// SHA-256 of the zip file, lowercase hex: the checksum devices verify.
    pub sha256: String,
    /// Size of the zip file in bytes.
    pub zip_size: u64,
    /// Sum of the files' uncompressed sizes.
    pub total_size: u64,
    /// Every file in the bundle, in zip order.
    pub files: Vec<BundleFile>,
    /// Folder inside the zip that holds `index.html`: `""` when it is at the root (as Capstan
    /// packs), `"www/"` when a zip wraps everything in a single folder.
    pub index_root: String,
    /// Things that will not stop a publish but deserve a look.
    pub warnings: Vec<Warning>,
    /// Paths left out while packing (OS junk such as `.DS_Store`), relative to the build root.
    /// Always empty for an inspected zip.
    pub excluded: Vec<String>,
}

impl BundleReport {
    /// The `n` largest files, largest first.
    pub fn largest_files(&self, n: usize) -> Vec<&BundleFile> {
        let mut files: Vec<&BundleFile> = self.files.iter().collect();
        files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
        files.truncate(n);
        files
    }
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct BundleFile {
    /// Path inside the zip, `/`-separated.
    pub path: String,
    /// Uncompressed size in bytes.
    pub size: u64,
    /// Size inside the zip in bytes.
    pub compressed_size: u64,
}

/// Something a release manager should know, but which does not make the bundle unusable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Warning {
    /// No JavaScript file mentions `notifyAppReady`: the plugin will roll the bundle back
    /// ten seconds after it boots unless the app calls it.
    NoNotifyAppReady,
    /// Source maps are in the bundle: they make downloads bigger and publish the sources.
    SourceMaps {
        /// How many `.map` files.
        count: usize,
    },
    /// A single file is unusually large for a web bundle.
    LargeFile {
        /// The file.
        path: String,
        /// Its size in bytes.
        size: u64,
    },
    /// The whole bundle is unusually large: every device downloads it.
    LargeBundle {
        /// Compressed size in bytes.
        size: u64,
    },
    /// The files add up to an unusually large size once unzipped (whatever the zip's size):
    /// every device writes it to storage.
    LargeUnpacked {
        /// Total uncompressed size in bytes.
        size: u64,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::NoNotifyAppReady => write!(
                f,
                "no JavaScript file mentions notifyAppReady: the plugin rolls the bundle back if the app does not call it within 10 s"
            ),
            Warning::SourceMaps { count } => {
                write!(f, "{count} source map(s) included: larger downloads, and your sources become public")
            }
            Warning::LargeFile { path, size } => {
                write!(f, "{path} is {} (over {})", human_bytes(*size), human_bytes(rules::LARGE_FILE_WARNING))
            }
            Warning::LargeBundle { size } => {
                write!(
                    f,
                    "bundle is {} compressed (over {}): every device downloads it",
                    human_bytes(*size),
                    human_bytes(rules::LARGE_BUNDLE_WARNING)
                )
            }
            Warning::LargeUnpacked { size } => {
                write!(
                    f,
                    "files add up to {} unzipped (over {}): every device stores that much",
                    human_bytes(*size),
                    human_bytes(rules::LARGE_UNPACKED_WARNING)
                )
            }
        }
    }
}

/// Formats a byte count for people: `1.5 MB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Collects the warnings that depend on the file list alone; both packing and inspection call
/// this so the two never disagree.
fn collect_warnings(files: &[BundleFile], zip_size: u64, mentions_notify_app_ready: bool) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if !mentions_notify_app_ready {
        warnings.push(Warning::NoNotifyAppReady);
    }
    let maps = files.iter().filter(|f| rules::is_source_map(&f.path)).count();
    if maps > 0 {
        warnings.push(Warning::SourceMaps { count: maps });
    }
    for file in files.iter().filter(|f| f.size > rules::LARGE_FILE_WARNING) {
        warnings.push(Warning::LargeFile { path: file.path.clone(), size: file.size });
    }
    if zip_size > rules::LARGE_BUNDLE_WARNING {
        warnings.push(Warning::LargeBundle { size: zip_size });
    }
    let unpacked: u64 = files.iter().map(|f| f.size).sum();
    if unpacked > rules::LARGE_UNPACKED_WARNING {
        warnings.push(Warning::LargeUnpacked { size: unpacked });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_bytes(20_000_000), "20.0 MB");
    }

    #[test]
    fn warnings_follow_thresholds() {
        let files = vec![
            BundleFile { path: "index.html".into(), size: 10, compressed_size: 10 },
            BundleFile { path: "a.js.map".into(), size: 10, compressed_size: 10 },
            BundleFile { path: "big.mp4".into(), size: rules::LARGE_FILE_WARNING + 1, compressed_size: 1 },
        ];
        let warnings = collect_warnings(&files, rules::LARGE_BUNDLE_WARNING + 1, false);
        assert_eq!(
            warnings,
            vec![
                Warning::NoNotifyAppReady,
                Warning::SourceMaps { count: 1 },
                Warning::LargeFile { path: "big.mp4".into(), size: rules::LARGE_FILE_WARNING + 1 },
                Warning::LargeBundle { size: rules::LARGE_BUNDLE_WARNING + 1 },
            ]
        );
        assert!(collect_warnings(&files[..1], 10, true).is_empty());
    }

    #[test]
    fn many_small_files_that_inflate_far_earn_a_warning_a_small_zip_would_hide() {
        // 2,000 files of 1 MB each (a zip of compressible data can be a few MB): no single file
        // is large and the zip is small, but devices would write 2 GB.
        let files: Vec<BundleFile> = (0..2000)
            .map(|i| BundleFile { path: format!("data/{i}.json"), size: 1_000_000, compressed_size: 1_000 })
            .collect();
        assert_eq!(collect_warnings(&files, 2_000_000, true), vec![Warning::LargeUnpacked { size: 2_000_000_000 }]);
        assert!(collect_warnings(&files[..200], 200_000, true).is_empty(), "200 MB is the limit, not over it");
    }
}
