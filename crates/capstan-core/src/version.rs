//! Version rules shared by the server (which answers devices) and the clients (which refuse a
//! bad publish before it leaves the machine).
//!
//! Devices report their native shell version (`version_build`) in whatever shape the app's
//! store listing uses: `1`, `1.2`, `1.2.3`, `v1.2.3`. The plugin and the hosted backend coerce
//! those to semver, so we do too; everything after that is strict semver comparison.

use semver::Version;
use serde::{Deserialize, Serialize};

/// A version string that could not be read as semver, even leniently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a version: expected semver such as 1.4.2 (1 and 1.4 are accepted)")]
pub struct VersionError {
    /// The rejected text, cut to a readable length.
    pub input: String,
}

/// Longest version text we try to parse; anything longer is hostile or a mistake.
const MAX_VERSION_LEN: usize = 128;

/// Parses a version the way the device plugin writes them: strict semver, or `1` / `1.2`
/// (filled with zeros), with an optional leading `v` and surrounding whitespace.
pub fn parse_lenient(input: &str) -> Result<Version, VersionError> {
    let error = || VersionError { input: input.chars().take(64).collect() };
    let text = input.trim();
    if text.is_empty() || text.len() > MAX_VERSION_LEN {
        return Err(error());
    }
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    if let Ok(version) = Version::parse(text) {
        return Ok(version);
    }
    // `1` or `1.2`, possibly followed by a pre-release or build suffix (`1.2-beta.1`).
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, suffix) = text.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() >= 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(error());
    }
    let filled = match parts.as_slice() {
        [major] => format!("{major}.0.0{suffix}"),
        [major, minor] => format!("{major}.{minor}.0{suffix}"),
        _ => return Err(error()),
    };
    Version::parse(&filled).map_err(|_| error())
}

/// How far a channel lets a bundle's version move away from the device's native version.
///
/// `None` leaves compatibility to each bundle's MIN_NATIVE_VERSION (Capstan's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// No semver restriction.
    #[default]
    None,
    /// Never update to a bundle whose major is above the native major.
    Major,
    /// Never update to a bundle whose major.minor is above the native major.minor.
    Minor,
    /// Only bundles in the native major.minor line (patch updates).
    Patch,
}

/// Why a channel's rules keep a bundle from a device. Each maps to a protocol error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionBlock {
    /// The bundle needs a newer native shell (its MIN_NATIVE_VERSION is above the device's).
    NeedsNewerNative,
    /// The channel's strategy forbids crossing a major boundary.
    Major,
    /// The channel's strategy forbids crossing a minor boundary.
    Minor,
    /// The channel's strategy allows patch updates only.
    Patch,
    /// The bundle is older than the native shell and the channel forbids that.
    UnderNative,
}

impl VersionBlock {
    /// The `error` code the device plugin expects for this block (protocol.md §2).
    pub fn code(self) -> &'static str {
        match self {
            VersionBlock::NeedsNewerNative => "disable_auto_update_to_metadata",
            VersionBlock::Major => "disable_auto_update_to_major",
            VersionBlock::Minor => "disable_auto_update_to_minor",
            VersionBlock::Patch => "disable_auto_update_to_patch",
            VersionBlock::UnderNative => "disable_auto_update_under_native",
        }
    }
}

/// The compatibility rules a channel applies between a bundle and a device's native shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompatibilityRules {
    /// The channel's semver strategy.
    pub strategy: Strategy,
    /// Refuse bundles older than the device's native version.
    pub block_under_native: bool,
}

impl Default for CompatibilityRules {
    fn default() -> Self {
        CompatibilityRules { strategy: Strategy::None, block_under_native: true }
    }
}

/// Decides whether a bundle may go to a device, checking in the order the protocol lists:
/// MIN_NATIVE_VERSION first (the only block that a store update can lift), then the channel's
/// strategy, then the under-native rule.
pub fn check_compatibility(
    rules: CompatibilityRules,
    native: &Version,
    bundle: &Version,
    bundle_min_native: Option<&Version>,
) -> Result<(), VersionBlock> {
    if let Some(min_native) = bundle_min_native
        && native < min_native
    {
        return Err(VersionBlock::NeedsNewerNative);
    }
    let above = |a: (u64, u64), b: (u64, u64)| a > b;
    match rules.strategy {
        Strategy::None => {}
        Strategy::Major if bundle.major > native.major => return Err(VersionBlock::Major),
        Strategy::Minor if above((bundle.major, bundle.minor), (native.major, native.minor)) => {
            return Err(VersionBlock::Minor);
        }
        Strategy::Patch if (bundle.major, bundle.minor) != (native.major, native.minor) => {
            return Err(VersionBlock::Patch);
        }
        Strategy::Major | Strategy::Minor | Strategy::Patch => {}
    }
    if rules.block_under_native && bundle < native {
        return Err(VersionBlock::UnderNative);
    }
    Ok(())
}

/// A rollout share in basis points: 0 (nobody) to 10 000 (every device), so 12.5 % is 1 250.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct RolloutShare(u32);

/// A rollout share outside 0–100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rollout share must be between 0 and 100 %")]
pub struct RolloutShareError;

impl RolloutShare {
    /// Every device.
    pub const ALL: RolloutShare = RolloutShare(BUCKETS);

    /// From basis points (0–10 000).
    pub fn from_basis_points(bp: u32) -> Result<Self, RolloutShareError> {
        if bp <= BUCKETS { Ok(RolloutShare(bp)) } else { Err(RolloutShareError) }
    }

    /// From a percentage such as `12.5`, rounded to the nearest basis point.
    pub fn from_percent(percent: f64) -> Result<Self, RolloutShareError> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(RolloutShareError);
        }
        Self::from_basis_points((percent * 100.0).round() as u32)
    }

    /// The share in basis points.
    pub fn basis_points(self) -> u32 {
        self.0
    }

    /// The share as a percentage.
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// Whether a device in `bucket` (from [`rollout_bucket`]) is inside this share.
    pub fn includes(self, bucket: u32) -> bool {
        bucket < self.0
    }
}

impl TryFrom<u32> for RolloutShare {
    type Error = RolloutShareError;
    fn try_from(bp: u32) -> Result<Self, Self::Error> {
        Self::from_basis_points(bp)
    }
}

impl From<RolloutShare> for u32 {
    fn from(share: RolloutShare) -> u32 {
        share.0
    }
}

const BUCKETS: u32 = 10_000;

/// The stable bucket (0–9 999) of a device for one rollout.
///
/// The same device and rollout key always land in the same bucket, so a device never flips in
/// and out of a rollout, and raising the share only adds devices. The key (for example
/// `app/channel/bundle-version`) re-shuffles devices between rollouts, so the first 10 % of one
/// release are not always the same unlucky devices. The device id is lowercased first because
/// plugins have sent it in both cases.
pub fn rollout_bucket(rollout_key: &str, device_id: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(rollout_key.as_bytes());
    hasher.update([0u8]);
    hasher.update(device_id.to_ascii_lowercase().as_bytes());
    let digest = hasher.finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"));
    (head % u64::from(BUCKETS)) as u32
}

#[cfg(test)]
mod tests {
    // Both globs export a `Strategy` (ours and proptest's trait): name ours explicitly.
    use super::Strategy;
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn lenient_parse_fills_missing_parts() {
        assert_eq!(parse_lenient("1").unwrap(), v("1.0.0"));
        assert_eq!(parse_lenient("1.2").unwrap(), v("1.2.0"));
        assert_eq!(parse_lenient(" v1.2.3 ").unwrap(), v("1.2.3"));
        assert_eq!(parse_lenient("1.2-beta.1").unwrap(), v("1.2.0-beta.1"));
        assert_eq!(parse_lenient("2.0.0-rc.1+build.5").unwrap(), v("2.0.0-rc.1+build.5"));
    }

    #[test]
    fn lenient_parse_rejects_garbage() {
        for bad in ["", "builtin", "1.2.3.4", "1..2", "a.b.c", "1.x", "-1", "01.2.3", "1.2.", &"9".repeat(200)] {
            assert!(parse_lenient(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn min_native_gate_blocks_older_shells_first() {
        let rules = CompatibilityRules { strategy: Strategy::Major, block_under_native: true };
        let blocked = check_compatibility(rules, &v("1.0.0"), &v("3.0.0"), Some(&v("2.0.0")));
        assert_eq!(blocked, Err(VersionBlock::NeedsNewerNative));
        assert_eq!(blocked.unwrap_err().code(), "disable_auto_update_to_metadata");
        let ok = check_compatibility(CompatibilityRules::default(), &v("2.0.0"), &v("2.1.0"), Some(&v("2.0.0")));
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn strategies_block_their_boundary() {
        let rules = |strategy| CompatibilityRules { strategy, block_under_native: false };
        let native = v("1.2.3");
        let check = |s, b: &str| check_compatibility(rules(s), &native, &v(b), None);
        assert_eq!(check(Strategy::Major, "2.0.0"), Err(VersionBlock::Major));
        assert_eq!(check(Strategy::Major, "1.9.0"), Ok(()));
        assert_eq!(check(Strategy::Minor, "1.3.0"), Err(VersionBlock::Minor));
        assert_eq!(check(Strategy::Minor, "2.0.0"), Err(VersionBlock::Minor));
        assert_eq!(check(Strategy::Minor, "1.2.9"), Ok(()));
        assert_eq!(check(Strategy::Patch, "1.3.0"), Err(VersionBlock::Patch));
        assert_eq!(check(Strategy::Patch, "1.2.9"), Ok(()));
        assert_eq!(check(Strategy::None, "9.0.0"), Ok(()));
    }

    #[test]
    fn under_native_rule_is_on_by_default() {
        let older = check_compatibility(CompatibilityRules::default(), &v("1.2.3"), &v("1.2.2"), None);
        assert_eq!(older, Err(VersionBlock::UnderNative));
        let allowed = CompatibilityRules { strategy: Strategy::None, block_under_native: false };
        assert_eq!(check_compatibility(allowed, &v("1.2.3"), &v("1.2.2"), None), Ok(()));
    }

    #[test]
    fn rollout_share_bounds() {
        assert_eq!(RolloutShare::from_percent(12.5).unwrap().basis_points(), 1250);
        assert!(RolloutShare::from_percent(100.01).is_err());
        assert!(RolloutShare::from_percent(-1.0).is_err());
        assert!(RolloutShare::from_percent(f64::NAN).is_err());
        assert!(RolloutShare::ALL.includes(9_999));
        assert!(!RolloutShare::from_basis_points(0).unwrap().includes(0));
    }

    #[test]
    fn rollout_share_spreads_devices_evenly() {
        let share = RolloutShare::from_percent(10.0).unwrap();
        let inside =
            (0..20_000).filter(|i| share.includes(rollout_bucket("app/prod/1.0.0", &format!("device-{i}")))).count();
        // 10 % of 20 000 is 2 000; a fair hash stays well within ±10 % of that.
        assert!((1_800..=2_200).contains(&inside), "{inside} devices in a 10 % rollout");
    }

    proptest! {
        #[test]
        fn printed_semver_parses_back(major in 0u64..10_000, minor in 0u64..10_000, patch in 0u64..10_000) {
            let version = Version::new(major, minor, patch);
            prop_assert_eq!(parse_lenient(&version.to_string()).unwrap(), version.clone());
            prop_assert_eq!(parse_lenient(&format!("{major}.{minor}")).unwrap(), Version::new(major, minor, 0));
            prop_assert_eq!(parse_lenient(&format!("{major}")).unwrap(), Version::new(major, 0, 0));
        }

        #[test]
        fn lenient_parse_never_panics(input in ".{0,40}") {
            let _ = parse_lenient(&input);
        }

        #[test]
        fn bucket_is_stable_and_case_blind(key in "[a-z./0-9]{1,30}", device in "[0-9a-f-]{36}") {
            let bucket = rollout_bucket(&key, &device);
            prop_assert!(bucket < 10_000);
            prop_assert_eq!(bucket, rollout_bucket(&key, &device.to_uppercase()));
        }

        #[test]
        fn raising_a_share_only_adds_devices(low in 0u32..=10_000, extra in 0u32..=10_000, device in "[0-9a-f-]{36}") {
            let high = (low + extra).min(10_000);
            let bucket = rollout_bucket("k", &device);
            let (low, high) = (RolloutShare::from_basis_points(low).unwrap(), RolloutShare::from_basis_points(high).unwrap());
            prop_assert!(!low.includes(bucket) || high.includes(bucket));
        }

        #[test]
        fn min_native_gate_is_exactly_native_below_min(native in (0u64..5, 0u64..5, 0u64..5), min in (0u64..5, 0u64..5, 0u64..5)) {
            let native = Version::new(native.0, native.1, native.2);
            let min = Version::new(min.0, min.1, min.2);
            let rules = CompatibilityRules { strategy: Strategy::None, block_under_native: false };
            let result = check_compatibility(rules, &native, &Version::new(9, 0, 0), Some(&min));
            prop_assert_eq!(result == Err(VersionBlock::NeedsNewerNative), native < min);
        }

        #[test]
        fn strategies_never_block_the_native_version_itself(major in 0u64..50, minor in 0u64..50, patch in 0u64..50) {
            let native = Version::new(major, minor, patch);
            for strategy in [Strategy::None, Strategy::Major, Strategy::Minor, Strategy::Patch] {
                let rules = CompatibilityRules { strategy, block_under_native: true };
                prop_assert_eq!(check_compatibility(rules, &native, &native, Some(&native)), Ok(()));
            }
        }

        #[test]
        fn stricter_strategies_block_a_superset(n in (0u64..4, 0u64..4, 0u64..4), b in (0u64..4, 0u64..4, 0u64..4)) {
            let native = Version::new(n.0, n.1, n.2);
            let bundle = Version::new(b.0, b.1, b.2);
            let blocks = |strategy| check_compatibility(CompatibilityRules { strategy, block_under_native: false }, &native, &bundle, None).is_err();
            prop_assert!(!blocks(Strategy::Major) || blocks(Strategy::Minor));
            prop_assert!(!blocks(Strategy::Minor) || blocks(Strategy::Patch));
        }
    }
}
