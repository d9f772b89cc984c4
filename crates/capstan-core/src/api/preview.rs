//! The fleet preview: what the devices seen lately would get if a change were made, grouped.
//!
//! The server answers it with the same decision function as `/updates`, from the state each
//! device last reported; nothing is changed. The CLI's `--dry-run` and the console's
//! confirmation dialogs show it before a change.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::channels::{RollbackTo, SettingsPatch};

/// Devices seen within this many days count, unless the request says otherwise.
pub const DEFAULT_PREVIEW_DAYS: u32 = 30;
/// Largest window a preview may ask for.
pub const MAX_PREVIEW_DAYS: u32 = 3650;

/// A bundle not uploaded yet (the CLI previews a publish before uploading): what the decision
/// reads of it. Ignored when the app already has a bundle of that version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct PlannedBundle {
    /// Its MIN_NATIVE_VERSION.
    #[serde(default)]
    pub min_native_version: Option<String>,
    /// The key id it is signed with (first 20 characters of the public key's body).
    #[serde(default)]
    pub key_id: Option<String>,
}

/// A change to preview: the body of the route that would make it, plus what names its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Not `deny_unknown_fields`: ts-rs cannot read it on an internally tagged enum (the request
// around it is strict).
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposedChange {
    /// No change: what devices get now.
    Nothing,
    /// `POST .../channels/{channel}/publish`.
    Publish {
        /// Channel.
        channel: String,
        /// A bundle version, or `builtin`.
        version: String,
        /// As the publish body's `force`.
        #[serde(default)]
        force: bool,
        /// The bundle, when it is not uploaded yet.
        #[serde(default)]
        bundle: Option<PlannedBundle>,
    },
    /// `POST .../channels/{channel}/rollout`.
    RolloutStart {
        /// Channel.
        channel: String,
        /// The bundle to roll out.
        version: String,
        /// Share of devices, 0–100.
        percent: f64,
        /// As the rollout body's `force`.
        #[serde(default)]
        force: bool,
        /// The bundle, when it is not uploaded yet.
        #[serde(default)]
        bundle: Option<PlannedBundle>,
    },
    /// `PUT .../channels/{channel}/plan`: the share the plan's first step sets (or the step a
    /// running rollout of the bundle has reached, which the plan takes over).
    PlanStart {
        /// Channel.
        channel: String,
        /// The bundle the plan rolls out.
        version: String,
        /// The plan's steps, percent.
        steps: Vec<f64>,
        /// As the plan body's `force`.
        #[serde(default)]
        force: bool,
    },
    /// `PATCH .../channels/{channel}/rollout`.
    RolloutChange {
        /// Channel.
        channel: String,
        /// New share, 0–100.
        percent: f64,
        /// The native line, when several roll out.
        #[serde(default)]
        min_native: Option<String>,
    },
    /// `POST .../channels/{channel}/rollout/finish`.
    RolloutFinish {
        /// Channel.
        channel: String,
        /// The native line, when several roll out.
        #[serde(default)]
        min_native: Option<String>,
    },
    /// `DELETE .../channels/{channel}/rollout`.
    RolloutAbort {
        /// Channel.
        channel: String,
        /// The native line, when several roll out.
        #[serde(default)]
        min_native: Option<String>,
    },
    /// `POST .../channels/{from}/promote` to `to`.
    Promote {
        /// The channel promoted from.
        from: String,
        /// The channel that takes what `from` serves.
        to: String,
    },
    /// `POST .../channels/{channel}/rollback`.
    Rollback {
        /// Channel.
        channel: String,
        /// `previous` or `builtin`.
        #[serde(default)]
        to: RollbackTo,
        /// For `previous`: the native line.
        #[serde(default)]
        min_native: Option<String>,
    },
    /// `PATCH .../channels/{channel}` (switches and settings).
    Settings {
        /// Channel.
        channel: String,
        /// The settings that change.
        settings: SettingsPatch,
    },
    /// `PUT .../devices/{device_id}/override`.
    SetOverride {
        /// Device.
        device_id: String,
        /// Channel it is pinned to.
        channel: String,
    },
    /// `DELETE .../devices/{device_id}/override`.
    ClearOverride {
        /// Device.
        device_id: String,
    },
}

/// `POST /api/v1/apps/{app}/preview` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct PreviewRequest {
    /// The change.
    pub change: ProposedChange,
    /// Devices seen within this many days (default 30).
    #[serde(default)]
    pub days: Option<u32>,
}

/// What `/updates` answers a device, as the preview groups it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreviewOutcome {
    /// Downloads this bundle.
    Receives {
        /// The bundle.
        version: String,
    },
    /// Goes back to the store build.
    StoreBuild,
    /// Keeps what it runs (nothing newer for it).
    Stays,
    /// Keeps what it runs because a rule blocks the bundle it would get.
    Blocked {
        /// The protocol's code (`disable_auto_update_under_native`, `key_id_mismatch`, …).
        code: String,
        /// The bundle it would have got ("" when none).
        would_get: String,
    },
    /// Refused for another reason (`no_channel`, `cannot_update_via_private_channel`, …).
    Refused {
        /// The protocol's code.
        code: String,
    },
}

/// Devices that get the same outcome from the same channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[ts(optional_fields = nullable)]
pub struct PreviewGroup {
    /// How many devices.
    pub devices: u64,
    /// What they would get after the change.
    pub after: PreviewOutcome,
    /// What they get now.
    pub before: PreviewOutcome,
    /// The channel they would be answered from (`null`: none).
    pub channel: Option<String>,
    /// Pinned to that channel by an override.
    pub pinned: bool,
    /// The bundle they run now, for outcomes that keep it (`stays`, `blocked`, `refused`).
    #[serde(default)]
    pub current: Option<String>,
    /// Their native versions (at most 10, sorted; `native_versions_more` says how many more).
    pub native_versions: Vec<String>,
    /// Native versions left out of `native_versions`.
    #[serde(default)]
    pub native_versions_more: u32,
}

/// `POST /api/v1/apps/{app}/preview` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Preview {
    /// The window, in days.
    pub days: u32,
    /// Devices seen in the window.
    pub devices: u64,
    /// Devices whose answer would change.
    pub changed: u64,
    /// The groups, largest first.
    pub groups: Vec<PreviewGroup>,
}

impl PreviewOutcome {
    /// The outcome in words, for a device that runs `current`.
    pub fn describe(&self, current: Option<&str>) -> String {
        let on = current.map(|c| format!(" on {c}")).unwrap_or_default();
        match self {
            PreviewOutcome::Receives { version } => format!("would receive {version}"),
            PreviewOutcome::StoreBuild => "would go back to the store build".into(),
            PreviewOutcome::Stays => format!("stay{on}"),
            PreviewOutcome::Blocked { code, would_get } if would_get.is_empty() => {
                format!("stay{on}, blocked by {}", block_reason(code))
            }
            PreviewOutcome::Blocked { code, would_get } => {
                format!("stay{on}, blocked from {would_get} by {}", block_reason(code))
            }
            PreviewOutcome::Refused { code } => format!("refused ({code})"),
        }
    }
}

/// A refusal code in words.
fn block_reason(code: &str) -> String {
    match code {
        "disable_auto_update_to_metadata" => format!("MIN_NATIVE_VERSION ({code})"),
        "disable_auto_update_under_native" => format!("the bundle being older than the native build ({code})"),
        "disable_auto_update_to_major" | "disable_auto_update_to_minor" | "disable_auto_update_to_patch" => {
            format!("the channel's update strategy ({code})")
        }
        "key_id_mismatch" => "the signing key the app trusts (key_id_mismatch)".into(),
        other => other.to_owned(),
    }
}

impl PreviewGroup {
    /// One line: "9,812 would receive 1.0.3 (production; native 2.3.0, 2.3.1)".
    pub fn line(&self) -> String {
        let mut context = Vec::new();
        match (&self.channel, self.pinned) {
            (Some(channel), true) => context.push(format!("pinned to {channel}")),
            (Some(channel), false) => context.push(channel.clone()),
            (None, _) => {}
        }
        if !self.native_versions.is_empty() {
            let more =
                if self.native_versions_more > 0 { format!(" +{}", self.native_versions_more) } else { String::new() };
            context.push(format!("native {}{more}", self.native_versions.join(", ")));
        }
        let now =
            if self.before == self.after { String::new() } else { format!("; now: {}", self.before.describe(None)) };
        format!(
            "{} {} ({}{now})",
            thousands(self.devices),
            self.after.describe(self.current.as_deref()),
            context.join("; ")
        )
    }
}

impl Preview {
    /// The whole preview as lines of text (the CLI's `--dry-run` output).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} devices seen in the last {} days; {} would get a different answer",
            thousands(self.devices),
            self.days,
            thousands(self.changed)
        )];
        lines.extend(self.groups.iter().map(|g| format!("  {}", g.line())));
        lines
    }
}

/// `9812` as `9,812`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separates_groups_of_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(9812), "9,812");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn a_change_reads_as_its_route_body() {
        let change: ProposedChange =
            serde_json::from_str(r#"{"kind":"rollout_change","channel":"production","percent":50}"#).unwrap();
        assert_eq!(
            change,
            ProposedChange::RolloutChange { channel: "production".into(), percent: 50.0, min_native: None }
        );
        assert!(serde_json::from_str::<ProposedChange>(r#"{"kind":"publish","channel":"p"}"#).is_err(), "no version");
        assert!(serde_json::from_str::<ProposedChange>(r#"{"kind":"publish_all"}"#).is_err(), "unknown kind");
    }

    #[test]
    fn a_group_reads_as_a_sentence() {
        let group = PreviewGroup {
            devices: 2400,
            after: PreviewOutcome::Blocked {
                code: "disable_auto_update_to_metadata".into(),
                would_get: "1.0.3".into(),
            },
            before: PreviewOutcome::Stays,
            channel: Some("production".into()),
            pinned: false,
            current: Some("1.0.2".into()),
            native_versions: vec!["2.3.0".into()],
            native_versions_more: 0,
        };
        let line = group.line();
        assert!(line.starts_with("2,400 stay on 1.0.2, blocked from 1.0.3 by MIN_NATIVE_VERSION"), "{line}");
        assert!(line.contains("native 2.3.0"), "{line}");
    }
}
