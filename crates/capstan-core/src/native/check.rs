//! The rule at publish: a bundle whose native surface differs from what its shells have must
//! raise MIN_NATIVE_VERSION. One pure function, called by the publishing client before it
//! uploads anything and by the server before it points a channel at the bundle.

use semver::Version;
use serde::Serialize;

use super::{NativeDiff, NativeFingerprint, compare};
use crate::api::{Channel, Lane};

/// The bundle a new one is compared with: what its shells run now.
#[derive(Debug, Clone, Copy)]
pub struct Reference<'a> {
    /// Its version.
    pub version: &'a str,
    /// Its MIN_NATIVE_VERSION.
    pub min_native: Option<&'a Version>,
    /// Its fingerprint, if it was published with one.
    pub fingerprint: Option<&'a NativeFingerprint>,
}

/// What the rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum NativeCheck {
    /// The channel serves nothing to compare with (its first publish): recorded, no check.
    FirstPublish,
    /// The bundle to compare with was published without a fingerprint: recorded, no check.
    ReferenceWithoutFingerprint {
        /// That bundle.
        version: String,
    },
    /// Same native surface as the bundle its shells run: a web-only change.
    Unchanged {
        /// The bundle compared with.
        version: String,
    },
    /// The native surface changed, and MIN_NATIVE_VERSION was raised above the compared
    /// bundle's: older shells will not get it.
    Raised {
        /// The bundle compared with.
        version: String,
        /// What changed.
        diff: NativeDiff,
    },
    /// The native surface changed and MIN_NATIVE_VERSION was not raised: shells that lack the
    /// change would get the bundle. Publishing stops unless forced.
    Changed {
        /// The bundle compared with.
        version: String,
        /// Its MIN_NATIVE_VERSION, which the new one must exceed.
        min_native: Option<String>,
        /// What changed.
        diff: NativeDiff,
    },
    /// The fingerprints were made under different rules (different Capstan versions).
    NotComparable {
        /// The bundle compared with.
        version: String,
        /// Why, in words.
        reason: String,
    },
}

impl NativeCheck {
    /// Whether publishing must stop (unless forced).
    pub fn stops(&self) -> bool {
        matches!(self, NativeCheck::Changed { .. })
    }

    /// The check in words, for a person.
    pub fn sentence(&self) -> String {
        match self {
            NativeCheck::FirstPublish => "nothing published on this line yet: the native surface is recorded".into(),
            NativeCheck::ReferenceWithoutFingerprint { version } => {
                format!("{version} was published without a native fingerprint: nothing to compare with")
            }
            NativeCheck::Unchanged { version } => format!("native surface unchanged since {version}"),
            NativeCheck::Raised { version, diff } => {
                format!("native surface changed since {version} ({diff}); MIN_NATIVE_VERSION was raised above it")
            }
            NativeCheck::Changed { version, min_native, diff } => format!(
                "native surface changed since {version}: {diff}; devices on native shells without the change would get it: raise MIN_NATIVE_VERSION above {}",
                min_native.as_deref().unwrap_or("0.0.0")
            ),
            NativeCheck::NotComparable { version, reason } => format!("not compared with {version}: {reason}"),
        }
    }
}

/// Checks a bundle of native surface `new`, for shells from `new_min_native`, against the
/// bundle its shells run now.
pub fn check_native(
    new: &NativeFingerprint,
    new_min_native: Option<&Version>,
    reference: Option<Reference<'_>>,
) -> NativeCheck {
    let Some(reference) = reference else { return NativeCheck::FirstPublish };
    let version = reference.version.to_owned();
    let Some(old) = reference.fingerprint else { return NativeCheck::ReferenceWithoutFingerprint { version } };
    let diff = match compare(old, new) {
        Ok(diff) => diff,
        Err(not_comparable) => return NativeCheck::NotComparable { version, reason: not_comparable.to_string() },
    };
    if diff.is_empty() {
        return NativeCheck::Unchanged { version };
    }
    let zero = Version::new(0, 0, 0);
    if new_min_native.unwrap_or(&zero) > reference.min_native.unwrap_or(&zero) {
        NativeCheck::Raised { version, diff }
    } else {
        NativeCheck::Changed { version, min_native: reference.min_native.map(Version::to_string), diff }
    }
}

/// The bundle a new bundle for shells from `min_native` is compared with on `channel`: the
/// newest bundle of its own native line when that line serves one (a fix for older shells is
/// compared with what those shells run), else the newest bundle the channel serves to anyone.
pub fn reference_version(channel: &Channel, min_native: Option<&str>) -> Option<String> {
    channel.lane(min_native).and_then(Lane::newest_bundle).or_else(|| channel.newest_bundle()).map(|v| v.to_string())
}
