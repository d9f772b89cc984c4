//! Channels: policy switches, what they serve (a target and maybe a rollout), and their history.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::FailureAction;
use crate::version::Strategy;

/// Target text of a channel that sends devices back to the store build.
pub const BUILTIN: &str = "builtin";

/// What a channel serves: a bundle, or the store-shipped build. On the wire it is one string,
/// the version or `builtin` (no semver version can be `builtin`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// Send devices back to the native build (`{"version":"builtin"}`).
    Builtin,
    /// A bundle version of the app.
    Bundle(String),
}

impl Target {
    /// The stored and wire text: `builtin` or the version.
    pub fn as_text(&self) -> &str {
        match self {
            Target::Builtin => BUILTIN,
            Target::Bundle(v) => v,
        }
    }

    /// Reads the stored or wire text.
    pub fn from_text(text: &str) -> Target {
        if text == BUILTIN { Target::Builtin } else { Target::Bundle(text.to_owned()) }
    }

    /// The bundle version, unless this is the store build.
    pub fn bundle(&self) -> Option<&str> {
        match self {
            Target::Builtin => None,
            Target::Bundle(v) => Some(v),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_text())
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_text())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Target::from_text(&text))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Target {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A bundle version, or `builtin` for the store-shipped build.",
        })
    }
}

/// A percentage rollout of a new bundle on top of a channel's current target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rollout {
    /// The bundle being rolled out.
    pub version: String,
    /// Share of devices in basis points (0–10 000).
    pub share_bp: u32,
    /// When the rollout started, epoch ms.
    #[serde(default)]
    pub started_at_ms: i64,
}

impl Rollout {
    /// The share as a percentage.
    pub fn percent(&self) -> f64 {
        f64::from(self.share_bp) / 100.0
    }
}

/// Declares the channel switches once: the settings struct, its patch (every field optional,
/// also the CLI's flags) and the patch's `apply`, and a table of them for the console's editor,
/// so a new switch cannot be added to one and forgotten in another.
macro_rules! channel_switches {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr, flag $flag:literal $value:literal; )+) => {
        /// The policy switches of a channel (which devices it serves, and under which version
        /// rules). `Default` is a new channel's settings.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        // A setting added later takes its default in rows stored before it existed.
        #[serde(default)]
        pub struct ChannelSettings {
            $( $(#[doc = $doc])* pub $field: $ty, )+
        }

        impl Default for ChannelSettings {
            fn default() -> Self {
                ChannelSettings { $( $field: $default, )+ }
            }
        }

        /// Channel settings to change; absent fields stay as they are (or take the defaults on
        /// create). With feature `clap` these are also the CLI's flags.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[cfg_attr(feature = "clap", derive(clap::Args))]
        #[serde(default, deny_unknown_fields)]
        #[ts(optional_fields = nullable)]
        pub struct SettingsPatch {
            $(
                $(#[doc = $doc])*
                #[cfg_attr(feature = "clap", arg(long = $flag, value_name = $value))]
                pub $field: Option<$ty>,
            )+
        }

        impl SettingsPatch {
            /// Writes the fields this patch sets into `settings`.
            pub fn apply(&self, settings: &mut ChannelSettings) {
                $( if let Some(value) = &self.$field { settings.$field = value.clone(); } )+
            }
        }

        /// Every switch: its field name (as in JSON) and what it means, in declaration order.
        pub const CHANNEL_SWITCHES: &[(&str, &str)] = &[ $( (stringify!($field), concat!($($doc),+)), )+ ];
    };
}

channel_switches! {
    /// Devices that ask for no channel may get this one.
    public: bool = false, flag "public" "BOOL";
    /// Devices may switch themselves to this channel (setChannel).
    allow_self_set: bool = false, flag "self-assign" "BOOL";
    /// Serve iOS devices.
    ios: bool = true, flag "ios" "BOOL";
    /// Serve Android devices.
    android: bool = true, flag "android" "BOOL";
    /// Serve Electron apps.
    electron: bool = true, flag "electron" "BOOL";
    /// Serve production builds.
    allow_prod: bool = true, flag "prod-builds" "BOOL";
    /// Serve development builds.
    allow_dev: bool = true, flag "dev-builds" "BOOL";
    /// Serve physical devices.
    allow_device: bool = true, flag "devices" "BOOL";
    /// Serve emulators and simulators.
    allow_emulator: bool = true, flag "emulators" "BOOL";
    /// Semver boundary a bundle may not cross relative to the device's native version.
    strategy: Strategy = Strategy::None, flag "strategy" "STRATEGY";
    /// Refuse bundles older than the device's native version.
    block_under_native: bool = true, flag "block-under-native" "BOOL";
    /// How devices download bundles: per-file delta updates where the plugin supports them, or always the zip.
    delivery: Delivery = Delivery::Delta, flag "delivery" "DELIVERY";
    /// Guard: pause or roll back a served bundle whose failure rate is over the threshold with confidence (on for new channels, off for channels made before it existed).
    guard: bool = true, flag "guard" "BOOL";
    /// Guard threshold: failures per 10 000 install attempts (500 = 5 %).
    guard_threshold_bp: u32 = crate::rollout::DEFAULT_GUARD_THRESHOLD_BP, flag "guard-threshold-bp" "BP";
    /// What the guard does to a failing bundle: roll it back, or pause (hold a rollout's share and its plan).
    guard_action: FailureAction = FailureAction::Rollback, flag "guard-action" "ACTION";
}

/// How a channel's devices download a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Plugins that build a bundle file by file (6.25+, 7.0.35+, 8+) get a `manifest` and
    /// download only the files they do not already have; older plugins get the zip.
    #[default]
    Delta,
    /// Every device downloads the whole zip.
    Zip,
}

impl ChannelSettings {
    /// Whether the platform is switched on; unknown platforms are refused.
    pub fn allows_platform(&self, platform: &str) -> bool {
        match platform {
            "ios" => self.ios,
            "android" => self.android,
            "electron" => self.electron,
            _ => false,
        }
    }
}

impl SettingsPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == SettingsPatch::default()
    }
}

/// One native line of a channel: what it serves to shells at or above `min_native`.
///
/// A channel serves each native line its own bundle, keyed by the bundles' MIN_NATIVE_VERSION:
/// publishing 1.4.1 (MIN_NATIVE_VERSION 1.0.0) after 2.0.0 (MIN_NATIVE_VERSION 2.0.0) gives
/// 1.4.1 to 1.x shells and leaves 2.x shells on 2.0.0. A device gets the newest bundle among
/// the lines its native version can run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Lane {
    /// The oldest native version this line serves (its bundles' MIN_NATIVE_VERSION, semver);
    /// `null` for bundles that run on any native version.
    pub min_native: Option<String>,
    /// What the line serves to everyone: a bundle version, or `builtin` (the store build).
    #[ts(as = "Option<String>")]
    pub target: Option<Target>,
    /// A rollout in progress on this line.
    pub rollout: Option<Rollout>,
}

impl Lane {
    /// The line's key as a version (`None`: any native version).
    pub fn min_native_version(&self) -> Option<semver::Version> {
        self.min_native.as_deref().and_then(|v| semver::Version::parse(v).ok())
    }

    /// Whether a shell of this native version can run this line's bundles.
    pub fn admits(&self, native: &semver::Version) -> bool {
        self.min_native_version().is_none_or(|min| *native >= min)
    }

    /// The bundle this line serves to everyone, if it serves a bundle.
    pub fn target_bundle(&self) -> Option<&str> {
        self.target.as_ref().and_then(Target::bundle)
    }

    /// The newest bundle of this line (rollout or target).
    pub fn newest_bundle(&self) -> Option<semver::Version> {
        let rollout = self.rollout.as_ref().map(|r| r.version.as_str());
        [self.target_bundle(), rollout].into_iter().flatten().filter_map(|v| semver::Version::parse(v).ok()).max()
    }
}

impl Lane {
    /// What the line serves, in words: `2.0.0`, `the store build`, `nothing yet`, with its
    /// rollout: `1.0.0, and 1.1.0 to 10 % of devices`.
    pub fn describe(&self) -> String {
        let serves = match &self.target {
            None => "nothing yet".to_owned(),
            Some(Target::Builtin) => "the store build".to_owned(),
            Some(Target::Bundle(version)) => version.clone(),
        };
        match &self.rollout {
            Some(r) => format!("{serves}, and {} to {} % of devices", r.version, r.percent()),
            None => serves,
        }
    }
}

/// What native lines serve, in words, line by line (`native 2.0.0+: 2.0.0; any native
/// version: 1.4.1`); one line for any native version is just that line.
pub fn describe_lanes(lanes: &[Lane]) -> String {
    match lanes {
        [] => "nothing yet".to_owned(),
        [only] if only.min_native.is_none() => only.describe(),
        lanes => lanes
            .iter()
            .map(|l| format!("{}: {}", describe_line(l.min_native.as_deref()), l.describe()))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Says a native line as people do: `native 2.0.0+`, or `any native version`.
pub fn describe_line(min_native: Option<&str>) -> String {
    match min_native {
        Some(min) => format!("native {min}+"),
        None => "any native version".to_owned(),
    }
}

/// A channel: policy plus what it serves, per native line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Channel {
    /// Numeric id (sent to devices in `listChannels`).
    pub id: i64,
    /// Owning app.
    pub app_id: String,
    /// Name devices and operators use.
    pub name: String,
    /// Policy.
    #[serde(flatten)]
    pub settings: ChannelSettings,
    /// What it serves, per native line, newest line first (empty until something is published).
    #[serde(default)]
    pub lanes: Vec<Lane>,
    /// Bumped by every write: saves name the revision they read (optimistic concurrency).
    #[serde(default)]
    pub revision: i64,
    /// Creation time, epoch ms.
    #[serde(default)]
    pub created_at_ms: i64,
    /// Last change, epoch ms.
    #[serde(default)]
    pub updated_at_ms: i64,
}

impl Channel {
    /// The line keyed by `min_native`.
    pub fn lane(&self, min_native: Option<&str>) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.min_native.as_deref() == min_native)
    }

    /// The line keyed by `min_native`, created empty when missing (lines stay newest first).
    pub fn lane_mut(&mut self, min_native: Option<&str>) -> &mut Lane {
        if let Some(index) = self.lanes.iter().position(|l| l.min_native.as_deref() == min_native) {
            return &mut self.lanes[index];
        }
        let lane = Lane { min_native: min_native.map(str::to_owned), target: None, rollout: None };
        let key = lane.min_native_version();
        // Newest line first.
        let index = self.lanes.iter().position(|l| l.min_native_version() < key).unwrap_or(self.lanes.len());
        self.lanes.insert(index, lane);
        &mut self.lanes[index]
    }

    /// Newest line first, and lines with nothing left to serve dropped.
    pub fn tidy_lanes(&mut self) {
        self.lanes.retain(|l| l.target.is_some() || l.rollout.is_some());
        self.lanes.sort_by_key(|lane| std::cmp::Reverse(lane.min_native_version()));
    }

    /// The newest line: what the newest shells are served.
    pub fn main_lane(&self) -> Option<&Lane> {
        self.lanes.first()
    }

    /// The bundles the channel serves to anyone: every line's target and rollout.
    pub fn served_bundles(&self) -> impl Iterator<Item = &str> {
        self.lanes
            .iter()
            .flat_map(|l| l.target_bundle().into_iter().chain(l.rollout.as_ref().map(|r| r.version.as_str())))
    }

    /// The bundles this channel serves that `before` (the same channel, earlier) did not: what
    /// a change points devices at anew, which the "require signed bundles" rule checks.
    pub fn newly_served<'a>(&'a self, before: &Channel) -> Vec<&'a str> {
        self.served_bundles().filter(|version| !before.serves(version)).collect()
    }

    /// Whether the channel serves `version` to anyone (as a target or in a rollout).
    pub fn serves(&self, version: &str) -> bool {
        self.served_bundles().any(|served| served == version)
    }

    /// What the channel serves, in words (see [`describe_lanes`]).
    pub fn describe(&self) -> String {
        describe_lanes(&self.lanes)
    }

    /// The newest bundle any device of this channel may get now (any line, rollouts included).
    pub fn newest_bundle(&self) -> Option<semver::Version> {
        self.lanes.iter().filter_map(Lane::newest_bundle).max()
    }
}

/// `POST .../channels` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateChannel {
    /// Channel name.
    pub name: String,
    /// Settings beyond the defaults.
    #[serde(flatten)]
    pub settings: SettingsPatch,
}

/// `POST .../publish` body: point the channel at a bundle (or the store build) for everyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// A bundle version, or `builtin` for the store build.
    pub version: String,
    /// Publish even when the version is not newer than what the channel serves (audited).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Publish even when the bundle's native surface changed and MIN_NATIVE_VERSION was not
    /// raised (audited).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_native: bool,
}

/// `POST .../rollout` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StartRollout {
    /// The bundle to roll out.
    pub version: String,
    /// Share of devices, 0–100 (decimals allowed).
    pub percent: f64,
    /// Roll out even when the version is not newer than what the channel serves (audited).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Roll out even when the bundle's native surface changed and MIN_NATIVE_VERSION was not
    /// raised (audited).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_native: bool,
}

/// `PATCH .../rollout` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct ChangeRollout {
    /// New share of devices, 0–100.
    pub percent: f64,
    /// The native line whose rollout changes; needed only when several lines roll out.
    pub min_native: Option<String>,
}

query_params! {
    /// Which native line a rollout finish or abort is about (`?min_native=`); needed only
    /// when several lines roll out.
    LaneQuery {
        /// The line's MIN_NATIVE_VERSION.
        min_native: String,
    }
}

/// `POST .../promote` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Promote {
    /// The channel that receives this channel's target.
    pub to: String,
}

/// Where a rollback goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum RollbackTo {
    /// The bundle the channel served before (earlier rollbacks are skipped).
    #[default]
    Previous,
    /// The build shipped in the app store: devices drop their live-update bundle.
    Builtin,
}

/// `POST .../rollback` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct Rollback {
    /// `previous` (default) or `builtin` (every line goes back to the store build).
    #[serde(default)]
    pub to: RollbackTo,
    /// For `previous`: the native line to roll back; by default the line changed last.
    pub min_native: Option<String>,
}

/// What changed a channel's target or rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    /// Pointed at a bundle or the store build for everyone.
    Publish,
    /// A rollout started.
    RolloutStart,
    /// A rollout's share changed.
    RolloutChange,
    /// A rollout's bundle became the target.
    RolloutFinish,
    /// A rollout was cancelled.
    RolloutAbort,
    /// Another channel's target was copied here.
    Promote,
    /// Went back to an earlier target or the store build.
    Rollback,
    /// A rollout plan or the guard stopped a rollout (its share is held), or the guard flagged
    /// a failing bundle it could not hold.
    RolloutPause,
    /// A paused rollout plan was resumed.
    RolloutResume,
}

impl HistoryAction {
    /// The stored text, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryAction::Publish => "publish",
            HistoryAction::RolloutStart => "rollout_start",
            HistoryAction::RolloutChange => "rollout_change",
            HistoryAction::RolloutFinish => "rollout_finish",
            HistoryAction::RolloutAbort => "rollout_abort",
            HistoryAction::Promote => "promote",
            HistoryAction::Rollback => "rollback",
            HistoryAction::RolloutPause => "rollout_pause",
            HistoryAction::RolloutResume => "rollout_resume",
        }
    }
}

/// One change of a channel's target or rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HistoryEntry {
    /// Sequence id.
    pub id: i64,
    /// Channel name.
    #[serde(default)]
    pub channel: String,
    /// The native line that changed (its MIN_NATIVE_VERSION; `null`: any native version).
    #[serde(default)]
    pub min_native: Option<String>,
    /// What happened.
    pub action: HistoryAction,
    /// Target before.
    #[ts(as = "Option<String>")]
    pub target_before: Option<Target>,
    /// Target after.
    #[ts(as = "Option<String>")]
    pub target_after: Option<Target>,
    /// Rollout before.
    pub rollout_before: Option<Rollout>,
    /// Rollout after.
    pub rollout_after: Option<Rollout>,
    /// Who.
    pub actor: String,
    /// When, epoch ms.
    pub at_ms: i64,
    /// Why, when the server acted by itself (a rollout plan, the guard, a scheduled publish).
    #[serde(default)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_one_string_on_the_wire() {
        for (target, text) in [(Target::Builtin, "\"builtin\""), (Target::Bundle("1.2.3".into()), "\"1.2.3\"")] {
            assert_eq!(serde_json::to_string(&target).unwrap(), text);
            assert_eq!(serde_json::from_str::<Target>(text).unwrap(), target);
        }
    }

    #[test]
    fn a_patch_sets_only_its_fields() {
        let mut settings = ChannelSettings::default();
        let patch = SettingsPatch { ios: Some(false), strategy: Some(Strategy::Major), ..SettingsPatch::default() };
        patch.apply(&mut settings);
        assert_eq!(
            settings,
            ChannelSettings { ios: false, strategy: Strategy::Major, ..ChannelSettings::default() },
            "only ios and strategy change"
        );
        assert!(SettingsPatch::default().is_empty() && !patch.is_empty());
        let sent: SettingsPatch =
            serde_json::from_value(serde_json::json!({ "ios": false, "strategy": "major" })).unwrap();
        assert_eq!(sent, patch, "absent fields are None");
    }

    #[test]
    fn new_channels_have_the_protocol_defaults() {
        let s = ChannelSettings::default();
        assert!(!s.public && !s.allow_self_set && s.block_under_native && s.strategy == Strategy::None);
        assert!(s.ios && s.android && s.electron && s.allow_prod && s.allow_dev && s.allow_device && s.allow_emulator);
    }

    #[test]
    fn newly_served_lists_what_a_change_points_devices_at() {
        let channel = |target: Option<&str>, rollout: Option<&str>| Channel {
            id: 1,
            app_id: "a".into(),
            name: "production".into(),
            settings: ChannelSettings::default(),
            lanes: vec![Lane {
                min_native: None,
                target: target.map(Target::from_text),
                rollout: rollout.map(|v| Rollout { version: v.into(), share_bp: 1000, started_at_ms: 0 }),
            }],
            revision: 1,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let before = channel(Some("1.0.0"), None);
        assert_eq!(channel(Some("1.0.0"), Some("1.1.0")).newly_served(&before), vec!["1.1.0"]);
        assert_eq!(
            channel(Some("1.1.0"), None).newly_served(&channel(Some("1.0.0"), Some("1.1.0"))),
            Vec::<&str>::new()
        );
        assert_eq!(
            channel(Some("builtin"), None).newly_served(&before),
            Vec::<&str>::new(),
            "the store build is no bundle"
        );
        assert_eq!(channel(Some("0.9.0"), None).newly_served(&before), vec!["0.9.0"]);
    }

    #[test]
    fn history_actions_serialize_as_stored() {
        for action in [
            HistoryAction::Publish,
            HistoryAction::RolloutStart,
            HistoryAction::RolloutChange,
            HistoryAction::RolloutFinish,
            HistoryAction::RolloutAbort,
            HistoryAction::Promote,
            HistoryAction::Rollback,
            HistoryAction::RolloutPause,
            HistoryAction::RolloutResume,
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
    }
}
