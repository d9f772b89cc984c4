//! Channels: policy switches, what they serve (a target and maybe a rollout), and their history.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

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

/// A channel: policy plus what it serves.
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
    /// What it serves: a bundle version, `builtin` (the store build), or `null` until something
    /// is published.
    #[ts(as = "Option<String>")]
    pub target: Option<Target>,
    /// A rollout in progress.
    pub rollout: Option<Rollout>,
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
    /// The bundle version the channel serves to everyone, if it serves a bundle.
    pub fn target_bundle(&self) -> Option<&str> {
        self.target.as_ref().and_then(Target::bundle)
    }

    /// The bundles the channel serves to anyone: its target and its rollout's.
    pub fn served_bundles(&self) -> impl Iterator<Item = &str> {
        self.target_bundle().into_iter().chain(self.rollout.as_ref().map(|r| r.version.as_str()))
    }

    /// The bundles this channel serves that `before` (the same channel, earlier) did not: what
    /// a change points devices at anew, which the "require signed bundles" rule checks.
    pub fn newly_served<'a>(&'a self, before: &Channel) -> Vec<&'a str> {
        self.served_bundles().filter(|version| !before.serves(version)).collect()
    }

    /// Whether the channel serves `version` to anyone (as its target or in its rollout).
    pub fn serves(&self, version: &str) -> bool {
        self.target_bundle() == Some(version) || self.rollout.as_ref().is_some_and(|r| r.version == version)
    }

    /// The newest bundle any device of this channel may get now (rollout or target).
    pub fn newest_bundle(&self) -> Option<semver::Version> {
        let rollout = self.rollout.as_ref().map(|r| r.version.as_str());
        [self.target_bundle(), rollout].into_iter().flatten().filter_map(|v| semver::Version::parse(v).ok()).max()
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
}

/// `PATCH .../rollout` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeRollout {
    /// New share of devices, 0–100.
    pub percent: f64,
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
pub struct Rollback {
    /// `previous` (default) or `builtin`.
    #[serde(default)]
    pub to: RollbackTo,
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
            target: target.map(Target::from_text),
            rollout: rollout.map(|v| Rollout { version: v.into(), share_bp: 1000, started_at_ms: 0 }),
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
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
    }
}
