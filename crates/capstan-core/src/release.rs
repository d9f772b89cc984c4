//! Release rules: what publishing, rollouts, promotion and rollback do to a channel, as pure
//! functions over the channel and its history.
//!
//! A channel serves each native line its own bundle ([`Lane`], keyed by the bundles'
//! MIN_NATIVE_VERSION), so older shells keep getting web-only fixes after a release that needs a
//! newer shell. Publishing or rolling out a bundle acts on the bundle's own line; rolling back
//! acts on one line (by default the one changed last); going back to the store build acts on
//! every line.
//!
//! The server loads a channel, calls [`apply`], and saves the result (or answers the
//! [`Refusal`]); the CLI and the console call the same functions to refuse early, before
//! uploading anything, but the server never relies on them having done so. Nothing here reads
//! a clock, a database or the network, so every rule is tested on plain values.

use semver::Version;

use crate::api::{Channel, HistoryAction, HistoryEntry, Lane, RollbackTo, Rollout, Target, describe_line};
use crate::version::RolloutShare;

/// Which native line a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineChoice {
    /// The line keyed by this MIN_NATIVE_VERSION (`None`: bundles for any native version).
    Named(Option<String>),
    /// Whichever line the command can only mean (the one rolling out; the one changed last).
    Implied,
}

/// A change a release manager asks of one channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseCommand {
    /// Serve bundle `version` to everyone on its native line; ends that line's rollout.
    Publish {
        /// The bundle.
        version: String,
        /// Its MIN_NATIVE_VERSION: the line it goes to.
        min_native: Option<String>,
        /// Allow a bundle that is not newer than what the line serves.
        force: bool,
    },
    /// Send every line back to the store build; ends every rollout.
    PublishBuiltin,
    /// Serve `version` to `share` of the devices of its native line, on top of the line's target.
    StartRollout {
        /// The bundle to roll out.
        version: String,
        /// Its MIN_NATIVE_VERSION: the line it goes to.
        min_native: Option<String>,
        /// Share of devices.
        share: RolloutShare,
        /// Allow a bundle that is not newer than what the line serves.
        force: bool,
    },
    /// Widen or narrow a running rollout (raising the share only adds devices).
    ChangeRollout {
        /// Which line's rollout.
        line: LineChoice,
        /// The new share.
        share: RolloutShare,
    },
    /// A rollout's bundle becomes its line's target for everyone.
    FinishRollout {
        /// Which line's rollout.
        line: LineChoice,
    },
    /// Everyone on the line gets the line's target again.
    AbortRollout {
        /// Which line's rollout.
        line: LineChoice,
    },
    /// Take what another channel serves (staging → production), line by line; ends the
    /// rollouts of the lines it replaces. Lines the source does not serve stay.
    Promote {
        /// The channel promoted from (for messages).
        from: String,
        /// What that channel serves.
        lanes: Vec<Lane>,
    },
    /// Go back to a line's previous target, or send every line to the store build.
    Rollback {
        /// Where to.
        to: RollbackTo,
        /// For [`RollbackTo::Previous`]: which line.
        line: LineChoice,
    },
}

/// Why a release command was refused. [`Refusal::code`] is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A rollout is already running on the line.
    #[error(
        "channel `{channel}` is already rolling out {version} on {line}: change, finish or abort that rollout first"
    )]
    RolloutRunning {
        /// Channel name.
        channel: String,
        /// The line, in words.
        line: String,
        /// The bundle being rolled out.
        version: String,
    },
    /// There is no rollout to change, finish or abort.
    #[error("channel `{channel}` has no rollout{on}")]
    NoRollout {
        /// Channel name.
        channel: String,
        /// ` on <line>` when a line was named, else empty.
        on: String,
    },
    /// Several lines roll out and the command did not say which.
    #[error("channel `{channel}` rolls out on several native lines ({lines}): name one (min_native)")]
    WhichLine {
        /// Channel name.
        channel: String,
        /// The lines, in words.
        lines: String,
    },
    /// A rollout of what the line already serves to everyone.
    #[error("channel `{channel}` already serves {version} on {line}")]
    AlreadyTarget {
        /// Channel name.
        channel: String,
        /// The line, in words.
        line: String,
        /// The version.
        version: String,
    },
    /// The version is not newer than what its line serves (devices would go backwards).
    #[error(
        "channel `{channel}` already serves {serving}{on}; {version} is not newer: bump the version, or force it (audited)"
    )]
    NotNewer {
        /// Channel name.
        channel: String,
        /// ` on native X+` for a line that needs a native version, else empty.
        on: String,
        /// The version asked for.
        version: String,
        /// The newest version the line serves.
        serving: String,
    },
    /// A bundle version that is not semver.
    #[error("`{version}` is not a semver version such as 1.4.2")]
    InvalidVersion {
        /// The text.
        version: String,
    },
    /// Promoting from a channel that serves nothing.
    #[error("channel `{from}` serves nothing yet")]
    NothingToPromote {
        /// The source channel.
        from: String,
    },
    /// Promoting a channel to itself.
    #[error("promote to another channel")]
    SameChannel,
    /// Rolling back with no earlier target in the line's history.
    #[error("channel `{channel}` has no previous target on {line} to roll back to")]
    NoPreviousTarget {
        /// Channel name.
        channel: String,
        /// The line, in words.
        line: String,
    },
}

impl Refusal {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RolloutRunning { .. }
            | Refusal::NoRollout { .. }
            | Refusal::NoPreviousTarget { .. }
            | Refusal::NothingToPromote { .. } => "conflict",
            Refusal::WhichLine { .. } => "which_line",
            Refusal::AlreadyTarget { .. } => "already_target",
            Refusal::NotNewer { .. } => "not_newer",
            Refusal::InvalidVersion { .. } => "invalid_version",
            Refusal::SameChannel => "same_channel",
        }
    }

    /// Whether the refusal is about the channel's current state (HTTP 409) rather than the
    /// request itself (HTTP 400).
    pub fn is_conflict(&self) -> bool {
        self.code() == "conflict"
    }
}

/// One line's step of a change, for the channel's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What happened.
    pub action: HistoryAction,
    /// The line it happened on.
    pub min_native: Option<String>,
}

/// A command's outcome: the channel as it must be saved, and its history lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The channel after the command (same id and revision as read: the store bumps it).
    pub channel: Channel,
    /// What happened, line by line (at least one).
    pub steps: Vec<Step>,
    /// Whether `force` let through a version that is not newer (the audit log says so).
    pub forced: bool,
}

impl Change {
    /// The action, for the audit log (the first step's: every step of a command has it).
    pub fn action(&self) -> HistoryAction {
        self.steps[0].action
    }
}

/// Applies `command` to `channel`. `history` is the channel's history, newest first (only
/// rollbacks read it); `now_ms` dates a new rollout.
pub fn apply(
    channel: &Channel,
    command: ReleaseCommand,
    history: &[HistoryEntry],
    now_ms: i64,
) -> Result<Change, Refusal> {
    let mut after = channel.clone();
    let mut forced = false;
    let step = |action, min_native: &Option<String>| Step { action, min_native: min_native.clone() };
    let steps = match command {
        ReleaseCommand::Publish { version, min_native, force } => {
            forced = check_newer(channel, min_native.as_deref(), &version, force)?;
            let lane = after.lane_mut(min_native.as_deref());
            lane.target = Some(Target::Bundle(version));
            lane.rollout = None;
            vec![step(HistoryAction::Publish, &min_native)]
        }
        ReleaseCommand::PublishBuiltin => everything_to_builtin(&mut after, HistoryAction::Publish),
        ReleaseCommand::StartRollout { version, min_native, share, force } => {
            if let Some(lane) = channel.lane(min_native.as_deref()) {
                if let Some(running) = &lane.rollout {
                    return Err(Refusal::RolloutRunning {
                        channel: channel.name.clone(),
                        line: describe_line(min_native.as_deref()),
                        version: running.version.clone(),
                    });
                }
                if lane.target_bundle() == Some(version.as_str()) {
                    let line = describe_line(min_native.as_deref());
                    return Err(Refusal::AlreadyTarget { channel: channel.name.clone(), line, version });
                }
            }
            forced = check_newer(channel, min_native.as_deref(), &version, force)?;
            after.lane_mut(min_native.as_deref()).rollout =
                Some(Rollout { version, share_bp: share.basis_points(), started_at_ms: now_ms });
            vec![step(HistoryAction::RolloutStart, &min_native)]
        }
        ReleaseCommand::ChangeRollout { line, share } => {
            let key = rolling_line(channel, line)?;
            let lane = after.lane_mut(key.as_deref());
            lane.rollout.as_mut().expect("rolling_line found a rollout").share_bp = share.basis_points();
            vec![step(HistoryAction::RolloutChange, &key)]
        }
        ReleaseCommand::FinishRollout { line } => {
            let key = rolling_line(channel, line)?;
            let lane = after.lane_mut(key.as_deref());
            let rollout = lane.rollout.take().expect("rolling_line found a rollout");
            lane.target = Some(Target::Bundle(rollout.version));
            vec![step(HistoryAction::RolloutFinish, &key)]
        }
        ReleaseCommand::AbortRollout { line } => {
            let key = rolling_line(channel, line)?;
            after.lane_mut(key.as_deref()).rollout = None;
            vec![step(HistoryAction::RolloutAbort, &key)]
        }
        ReleaseCommand::Promote { from, lanes } => {
            if from == channel.name {
                return Err(Refusal::SameChannel);
            }
            let served: Vec<&Lane> = lanes.iter().filter(|l| l.target.is_some()).collect();
            if served.is_empty() {
                return Err(Refusal::NothingToPromote { from });
            }
            let mut steps = Vec::new();
            for source in served {
                let lane = after.lane_mut(source.min_native.as_deref());
                lane.target = source.target.clone();
                lane.rollout = None;
                steps.push(step(HistoryAction::Promote, &source.min_native));
            }
            steps
        }
        ReleaseCommand::Rollback { to: RollbackTo::Builtin, .. } => {
            everything_to_builtin(&mut after, HistoryAction::Rollback)
        }
        ReleaseCommand::Rollback { to: RollbackTo::Previous, line } => {
            let key = match line {
                LineChoice::Named(key) => key,
                // Undo where the last change happened: a fix for older shells is rolled back
                // on their line, not on the newest one.
                LineChoice::Implied => history
                    .first()
                    .map(|h| h.min_native.clone())
                    .unwrap_or_else(|| channel.main_lane().and_then(|l| l.min_native.clone())),
            };
            let current = channel.lane(key.as_deref()).and_then(|l| l.target.as_ref());
            let target = previous_target(key.as_deref(), current, history).ok_or_else(|| {
                Refusal::NoPreviousTarget { channel: channel.name.clone(), line: describe_line(key.as_deref()) }
            })?;
            let lane = after.lane_mut(key.as_deref());
            lane.target = Some(target);
            lane.rollout = None;
            vec![step(HistoryAction::Rollback, &key)]
        }
    };
    after.tidy_lanes();
    Ok(Change { channel: after, steps, forced })
}

/// Every line to the store build, each line a history step (one line when nothing was served).
fn everything_to_builtin(channel: &mut Channel, action: HistoryAction) -> Vec<Step> {
    if channel.lanes.is_empty() {
        channel.lane_mut(None).target = Some(Target::Builtin);
        return vec![Step { action, min_native: None }];
    }
    channel
        .lanes
        .iter_mut()
        .map(|lane| {
            lane.target = Some(Target::Builtin);
            lane.rollout = None;
            Step { action, min_native: lane.min_native.clone() }
        })
        .collect()
}

/// The line whose rollout a command means: the named one (which must roll out), or the only
/// one that rolls out.
fn rolling_line(channel: &Channel, line: LineChoice) -> Result<Option<String>, Refusal> {
    match line {
        LineChoice::Named(key) => match channel.lane(key.as_deref()) {
            Some(lane) if lane.rollout.is_some() => Ok(key),
            _ => Err(Refusal::NoRollout {
                channel: channel.name.clone(),
                on: format!(" on {}", describe_line(key.as_deref())),
            }),
        },
        LineChoice::Implied => {
            let rolling: Vec<&Lane> = channel.lanes.iter().filter(|l| l.rollout.is_some()).collect();
            match rolling.as_slice() {
                [] => Err(Refusal::NoRollout { channel: channel.name.clone(), on: String::new() }),
                [only] => Ok(only.min_native.clone()),
                several => Err(Refusal::WhichLine {
                    channel: channel.name.clone(),
                    lines: several
                        .iter()
                        .map(|l| describe_line(l.min_native.as_deref()))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
    }
}

/// The rule that keeps devices from going backwards by accident: a bundle published or rolled
/// out must be newer than the newest bundle its native line serves (target or rollout). Other
/// lines do not count: 1.4.1 for 1.x shells may follow 2.0.0 for 2.x shells. `force` lets it
/// through; the answer says whether it had to.
pub fn check_newer(channel: &Channel, min_native: Option<&str>, version: &str, force: bool) -> Result<bool, Refusal> {
    let asked = Version::parse(version).map_err(|_| Refusal::InvalidVersion { version: version.to_owned() })?;
    match channel.lane(min_native).and_then(Lane::newest_bundle) {
        Some(serving) if serving >= asked => {
            if force {
                Ok(true)
            } else {
                Err(Refusal::NotNewer {
                    channel: channel.name.clone(),
                    on: min_native.map(|min| format!(" on native {min}+")).unwrap_or_default(),
                    version: version.to_owned(),
                    serving: serving.to_string(),
                })
            }
        }
        _ => Ok(false),
    }
}

/// The target a line had before its current one, skipping earlier rollbacks, so rolling back
/// twice goes two releases back instead of returning to the bad one. `history` is newest first.
pub fn previous_target(min_native: Option<&str>, current: Option<&Target>, history: &[HistoryEntry]) -> Option<Target> {
    history
        .iter()
        .filter(|h| h.min_native.as_deref() == min_native && h.action != HistoryAction::Rollback)
        .find(|h| {
            h.target_after.as_ref() == current && h.target_before.is_some() && h.target_before.as_ref() != current
        })
        .and_then(|h| h.target_before.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelSettings;

    const TWO: Option<&str> = Some("2.0.0");

    fn lane(min_native: Option<&str>, target: Option<&str>, rollout: Option<(&str, u32)>) -> Lane {
        Lane {
            min_native: min_native.map(str::to_owned),
            target: target.map(Target::from_text),
            rollout: rollout.map(|(version, share_bp)| Rollout { version: version.into(), share_bp, started_at_ms: 1 }),
        }
    }

    fn channel(lanes: Vec<Lane>) -> Channel {
        let mut channel = Channel {
            id: 1,
            app_id: "app".into(),
            name: "production".into(),
            settings: ChannelSettings::default(),
            lanes,
            revision: 3,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        channel.tidy_lanes();
        channel
    }

    /// A channel serving one line of bundles for any native version.
    fn simple(target: Option<&str>, rollout: Option<(&str, u32)>) -> Channel {
        channel(vec![lane(None, target, rollout)])
    }

    fn share(percent: f64) -> RolloutShare {
        RolloutShare::from_percent(percent).unwrap()
    }

    fn step(
        action: HistoryAction,
        min_native: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
    ) -> HistoryEntry {
        HistoryEntry {
            id: 0,
            channel: "production".into(),
            min_native: min_native.map(str::to_owned),
            action,
            target_before: before.map(Target::from_text),
            target_after: after.map(Target::from_text),
            rollout_before: None,
            rollout_after: None,
            actor: "t".into(),
            at_ms: 0,
            reason: None,
        }
    }

    fn publish(version: &str, min_native: Option<&str>, force: bool) -> ReleaseCommand {
        ReleaseCommand::Publish { version: version.into(), min_native: min_native.map(str::to_owned), force }
    }

    fn rollout(version: &str, min_native: Option<&str>, percent: f64) -> ReleaseCommand {
        let min_native = min_native.map(str::to_owned);
        ReleaseCommand::StartRollout { version: version.into(), min_native, share: share(percent), force: false }
    }

    fn target_of(channel: &Channel, min_native: Option<&str>) -> Option<String> {
        channel.lane(min_native).and_then(|l| l.target.as_ref()).map(|t| t.as_text().to_owned())
    }

    #[test]
    fn publishing_sets_the_line_target_and_ends_its_rollout() {
        let change =
            apply(&simple(Some("1.0.0"), Some(("1.1.0", 1000))), publish("1.2.0", None, false), &[], 5).unwrap();
        assert_eq!(change.channel.lanes, [lane(None, Some("1.2.0"), None)]);
        assert_eq!((change.action(), change.forced), (HistoryAction::Publish, false));
        assert_eq!(change.steps, [Step { action: HistoryAction::Publish, min_native: None }]);
        assert_eq!(change.channel.revision, 3, "the store bumps the revision, not the rule");
    }

    #[test]
    fn older_shells_keep_their_line_when_a_release_needs_a_newer_shell() {
        // 1.4.0 for every shell, then 2.0.0 for 2.x shells, then a fix 1.4.1 for 1.x shells.
        let one = apply(&channel(vec![]), publish("1.4.0", Some("1.0.0"), false), &[], 0).unwrap().channel;
        let two = apply(&one, publish("2.0.0", TWO, false), &[], 0).unwrap().channel;
        assert_eq!(two.lanes.iter().map(|l| l.min_native.as_deref()).collect::<Vec<_>>(), [TWO, Some("1.0.0")]);
        let fixed = apply(&two, publish("1.4.1", Some("1.0.0"), false), &[], 0).unwrap();
        assert!(!fixed.forced, "1.4.1 is newer than its own line's 1.4.0; 2.0.0 on the 2.x line does not count");
        assert_eq!(target_of(&fixed.channel, Some("1.0.0")).as_deref(), Some("1.4.1"));
        assert_eq!(target_of(&fixed.channel, TWO).as_deref(), Some("2.0.0"), "2.x shells stay on 2.0.0");
        let refused = apply(&fixed.channel, publish("1.4.1", Some("1.0.0"), false), &[], 0).unwrap_err();
        assert_eq!(refused.code(), "not_newer");
        assert!(refused.to_string().contains("on native 1.0.0+"), "{refused}");
    }

    #[test]
    fn a_version_not_newer_than_its_line_needs_force() {
        let serving = simple(Some("1.0.0"), Some(("1.1.0", 1000)));
        for older in ["1.0.0", "1.1.0", "0.9.0"] {
            let refused = apply(&serving, publish(older, None, false), &[], 5).unwrap_err();
            assert_eq!(refused.code(), "not_newer", "{older}");
            assert!(refused.to_string().contains("already serves 1.1.0"), "{refused}");
            assert!(apply(&serving, publish(older, None, true), &[], 5).unwrap().forced, "{older} goes with force");
        }
        assert!(!apply(&serving, publish("1.1.1", None, true), &[], 5).unwrap().forced, "force unused on a newer one");
        assert_eq!(apply(&serving, publish("latest", None, false), &[], 5).unwrap_err().code(), "invalid_version");
    }

    #[test]
    fn the_store_build_goes_to_every_line() {
        let two_lines = channel(vec![lane(TWO, Some("2.0.0"), Some(("2.1.0", 10))), lane(None, Some("1.4.0"), None)]);
        for command in [
            ReleaseCommand::PublishBuiltin,
            ReleaseCommand::Rollback { to: RollbackTo::Builtin, line: LineChoice::Implied },
        ] {
            let change = apply(&two_lines, command, &[], 0).unwrap();
            assert!(change.channel.lanes.iter().all(|l| l.target == Some(Target::Builtin) && l.rollout.is_none()));
            assert_eq!(change.steps.len(), 2, "one history line per native line");
        }
        let empty = apply(&channel(vec![]), ReleaseCommand::PublishBuiltin, &[], 0).unwrap().channel;
        assert_eq!(empty.lanes, [lane(None, Some("builtin"), None)]);
    }

    #[test]
    fn rollouts_start_change_finish_and_abort_on_their_line() {
        let idle = channel(vec![lane(TWO, Some("2.0.0"), None), lane(None, Some("1.0.0"), None)]);
        let started = apply(&idle, rollout("1.1.0", None, 10.0), &[], 42).unwrap();
        assert_eq!(
            started.channel.lane(None).unwrap().rollout,
            Some(Rollout { version: "1.1.0".into(), share_bp: 1000, started_at_ms: 42 })
        );
        assert_eq!(started.channel.lane(TWO), idle.lane(TWO), "the other line is untouched");

        let running = started.channel;
        assert_eq!(apply(&running, rollout("1.2.0", None, 5.0), &[], 0).unwrap_err().code(), "conflict");
        let implied = LineChoice::Implied;
        let widened =
            apply(&running, ReleaseCommand::ChangeRollout { line: implied.clone(), share: share(50.0) }, &[], 0)
                .unwrap();
        assert_eq!(widened.channel.lane(None).unwrap().rollout.as_ref().map(|r| r.share_bp), Some(5000));
        let finished =
            apply(&widened.channel, ReleaseCommand::FinishRollout { line: implied.clone() }, &[], 0).unwrap();
        assert_eq!(finished.channel.lane(None), Some(&lane(None, Some("1.1.0"), None)));
        let aborted = apply(&running, ReleaseCommand::AbortRollout { line: implied.clone() }, &[], 0).unwrap();
        assert_eq!(aborted.channel.lane(None), idle.lane(None));

        // With rollouts on two lines, a command must name its line.
        let both = apply(&running, rollout("2.1.0", TWO, 5.0), &[], 0).unwrap().channel;
        let refused = apply(&both, ReleaseCommand::AbortRollout { line: implied.clone() }, &[], 0).unwrap_err();
        assert_eq!(refused.code(), "which_line", "{refused}");
        let named = ReleaseCommand::AbortRollout { line: LineChoice::Named(Some("2.0.0".into())) };
        let aborted = apply(&both, named, &[], 0).unwrap();
        assert!(
            aborted.channel.lane(TWO).unwrap().rollout.is_none()
                && aborted.channel.lane(None).unwrap().rollout.is_some()
        );
        for command in [
            ReleaseCommand::FinishRollout { line: implied.clone() },
            ReleaseCommand::AbortRollout { line: LineChoice::Named(None) },
            ReleaseCommand::ChangeRollout { line: implied, share: share(1.0) },
        ] {
            assert_eq!(apply(&idle, command, &[], 0).unwrap_err().code(), "conflict");
        }
        let same =
            ReleaseCommand::StartRollout { version: "1.0.0".into(), min_native: None, share: share(5.0), force: true };
        assert_eq!(apply(&idle, same, &[], 0).unwrap_err().code(), "already_target");
    }

    #[test]
    fn promote_copies_lines_and_ends_their_rollouts() {
        let production = channel(vec![lane(TWO, Some("2.0.0"), Some(("2.0.5", 100))), lane(None, Some("1.0.0"), None)]);
        let beta_lanes = vec![lane(TWO, Some("2.1.0"), None)];
        let promote = |from: &str, lanes: Vec<Lane>| ReleaseCommand::Promote { from: from.into(), lanes };
        let done = apply(&production, promote("beta", beta_lanes.clone()), &[], 0).unwrap();
        assert_eq!(done.channel.lane(TWO), Some(&lane(TWO, Some("2.1.0"), None)));
        assert_eq!(done.channel.lane(None), production.lane(None), "a line beta does not serve stays");
        assert_eq!(apply(&production, promote("beta", vec![]), &[], 0).unwrap_err().code(), "conflict");
        assert_eq!(apply(&production, promote("production", beta_lanes), &[], 0).unwrap_err(), Refusal::SameChannel);
    }

    #[test]
    fn rollback_goes_back_on_one_line_skipping_earlier_rollbacks() {
        use HistoryAction::*;
        // Line any: 1.0 → 1.1 → 1.2, then a rollback to 1.1. Line 2.x: 2.0.0 published in between.
        let history = [
            step(Rollback, None, Some("1.2.0"), Some("1.1.0")),
            step(Publish, None, Some("1.1.0"), Some("1.2.0")),
            step(Publish, TWO, None, Some("2.0.0")),
            step(Publish, None, Some("1.0.0"), Some("1.1.0")),
            step(Publish, None, None, Some("1.0.0")),
        ];
        let now = channel(vec![lane(TWO, Some("2.0.0"), None), lane(None, Some("1.1.0"), None)]);
        let back =
            apply(&now, ReleaseCommand::Rollback { to: RollbackTo::Previous, line: LineChoice::Implied }, &history, 0)
                .unwrap();
        assert_eq!(
            target_of(&back.channel, None).as_deref(),
            Some("1.0.0"),
            "the line changed last, two releases back"
        );
        assert_eq!(target_of(&back.channel, TWO).as_deref(), Some("2.0.0"));
        let on_two =
            ReleaseCommand::Rollback { to: RollbackTo::Previous, line: LineChoice::Named(Some("2.0.0".into())) };
        assert_eq!(apply(&now, on_two, &history, 0).unwrap_err().code(), "conflict", "2.x has nothing before 2.0.0");
    }
}
