//! Release rules: what publishing, rollouts, promotion and rollback do to a channel, as pure
//! functions over the channel and its history.
//!
//! The server loads a channel, calls [`apply`], and saves the result (or answers the
//! [`Refusal`]); the CLI and the console call the same functions to refuse early, before
//! uploading anything, but the server never relies on them having done so. Nothing here reads
//! a clock, a database or the network, so every rule is tested on plain values.

use semver::Version;

use crate::api::{Channel, HistoryAction, HistoryEntry, RollbackTo, Rollout, Target};
use crate::version::RolloutShare;

/// A change a release manager asks of one channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseCommand {
    /// Serve `target` to everyone; ends any rollout.
    Publish {
        /// A bundle or the store build.
        target: Target,
        /// Allow a bundle that is not newer than what the channel serves.
        force: bool,
    },
    /// Serve `version` to `share` of the devices on top of the current target.
    StartRollout {
        /// The bundle to roll out.
        version: String,
        /// Share of devices.
        share: RolloutShare,
        /// Allow a bundle that is not newer than what the channel serves.
        force: bool,
    },
    /// Widen or narrow the running rollout (raising the share only adds devices).
    ChangeRollout {
        /// The new share.
        share: RolloutShare,
    },
    /// The rollout's bundle becomes the target for everyone.
    FinishRollout,
    /// Everyone gets the target again.
    AbortRollout,
    /// Take another channel's target (staging → production); ends any rollout here.
    Promote {
        /// The channel promoted from (for messages).
        from: String,
        /// What that channel serves.
        target: Option<Target>,
    },
    /// Go back to the previous target, or to the store build; ends any rollout.
    Rollback {
        /// Where to.
        to: RollbackTo,
    },
}

/// Why a release command was refused. [`Refusal::code`] is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A rollout is already running.
    #[error("channel `{channel}` is already rolling out {version}: change, finish or abort that rollout first")]
    RolloutRunning {
        /// Channel name.
        channel: String,
        /// The bundle being rolled out.
        version: String,
    },
    /// There is no rollout to change, finish or abort.
    #[error("channel `{channel}` has no rollout")]
    NoRollout {
        /// Channel name.
        channel: String,
    },
    /// A rollout of what the channel already serves to everyone.
    #[error("channel `{channel}` already serves {version}")]
    AlreadyTarget {
        /// Channel name.
        channel: String,
        /// The version.
        version: String,
    },
    /// The version is not newer than what the channel serves (devices would go backwards).
    #[error(
        "channel `{channel}` already serves {serving}; {version} is not newer: bump the version, or force it (audited)"
    )]
    NotNewer {
        /// Channel name.
        channel: String,
        /// The version asked for.
        version: String,
        /// The newest version the channel serves.
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
    /// Rolling back with no earlier target in the history.
    #[error("channel `{channel}` has no previous target to roll back to")]
    NoPreviousTarget {
        /// Channel name.
        channel: String,
    },
}

impl Refusal {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RolloutRunning { .. } | Refusal::NoRollout { .. } | Refusal::NoPreviousTarget { .. } => "conflict",
            Refusal::NothingToPromote { .. } => "conflict",
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

/// A command's outcome: the channel as it must be saved, and how the history names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The channel after the command (same id and revision as read: the store bumps it).
    pub channel: Channel,
    /// The history line.
    pub action: HistoryAction,
    /// Whether `force` let through a version that is not newer (the audit log says so).
    pub forced: bool,
}

/// Applies `command` to `channel`. `history` is the channel's history, newest first (only
/// [`ReleaseCommand::Rollback`] reads it); `now_ms` dates a new rollout.
pub fn apply(
    channel: &Channel,
    command: ReleaseCommand,
    history: &[HistoryEntry],
    now_ms: i64,
) -> Result<Change, Refusal> {
    let mut after = channel.clone();
    let mut forced = false;
    let action = match command {
        ReleaseCommand::Publish { target, force } => {
            if let Target::Bundle(version) = &target {
                forced = check_newer(channel, version, force)?;
            }
            after.target = Some(target);
            after.rollout = None;
            HistoryAction::Publish
        }
        ReleaseCommand::StartRollout { version, share, force } => {
            if let Some(running) = &channel.rollout {
                return Err(Refusal::RolloutRunning {
                    channel: channel.name.clone(),
                    version: running.version.clone(),
                });
            }
            if channel.target_bundle() == Some(version.as_str()) {
                return Err(Refusal::AlreadyTarget { channel: channel.name.clone(), version });
            }
            forced = check_newer(channel, &version, force)?;
            after.rollout = Some(Rollout { version, share_bp: share.basis_points(), started_at_ms: now_ms });
            HistoryAction::RolloutStart
        }
        ReleaseCommand::ChangeRollout { share } => {
            let rollout = after.rollout.as_mut().ok_or_else(|| no_rollout(channel))?;
            rollout.share_bp = share.basis_points();
            HistoryAction::RolloutChange
        }
        ReleaseCommand::FinishRollout => {
            let rollout = after.rollout.take().ok_or_else(|| no_rollout(channel))?;
            after.target = Some(Target::Bundle(rollout.version));
            HistoryAction::RolloutFinish
        }
        ReleaseCommand::AbortRollout => {
            after.rollout.take().ok_or_else(|| no_rollout(channel))?;
            HistoryAction::RolloutAbort
        }
        ReleaseCommand::Promote { from, target } => {
            if from == channel.name {
                return Err(Refusal::SameChannel);
            }
            after.target = Some(target.ok_or(Refusal::NothingToPromote { from })?);
            after.rollout = None;
            HistoryAction::Promote
        }
        ReleaseCommand::Rollback { to } => {
            let target = match to {
                RollbackTo::Builtin => Target::Builtin,
                RollbackTo::Previous => previous_target(channel.target.as_ref(), history)
                    .ok_or_else(|| Refusal::NoPreviousTarget { channel: channel.name.clone() })?,
            };
            after.target = Some(target);
            after.rollout = None;
            HistoryAction::Rollback
        }
    };
    Ok(Change { channel: after, action, forced })
}

fn no_rollout(channel: &Channel) -> Refusal {
    Refusal::NoRollout { channel: channel.name.clone() }
}

/// The rule that keeps devices from going backwards by accident: a bundle published or rolled
/// out on a channel must be newer than the newest bundle the channel serves (target or
/// rollout). `force` lets it through; the answer says whether it had to.
pub fn check_newer(channel: &Channel, version: &str, force: bool) -> Result<bool, Refusal> {
    let asked = Version::parse(version).map_err(|_| Refusal::InvalidVersion { version: version.to_owned() })?;
    match channel.newest_bundle() {
        Some(serving) if serving >= asked => {
            if force {
                Ok(true)
            } else {
                Err(Refusal::NotNewer {
                    channel: channel.name.clone(),
                    version: version.to_owned(),
                    serving: serving.to_string(),
                })
            }
        }
        _ => Ok(false),
    }
}

/// The target before the current one, skipping earlier rollbacks, so rolling back twice goes
/// two releases back instead of returning to the bad one. `history` is newest first.
pub fn previous_target(current: Option<&Target>, history: &[HistoryEntry]) -> Option<Target> {
    history
        .iter()
        .filter(|h| h.action != HistoryAction::Rollback)
        .find(|h| {
            h.target_after.as_ref() == current && h.target_before.is_some() && h.target_before.as_ref() != current
        })
        .and_then(|h| h.target_before.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelSettings;

    fn channel(target: Option<&str>, rollout: Option<(&str, u32)>) -> Channel {
        Channel {
            id: 1,
            app_id: "app".into(),
            name: "production".into(),
            settings: ChannelSettings::default(),
            target: target.map(Target::from_text),
            rollout: rollout.map(|(version, share_bp)| Rollout { version: version.into(), share_bp, started_at_ms: 1 }),
            revision: 3,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    fn share(percent: f64) -> RolloutShare {
        RolloutShare::from_percent(percent).unwrap()
    }

    fn step(action: HistoryAction, before: Option<&str>, after: Option<&str>) -> HistoryEntry {
        HistoryEntry {
            id: 0,
            channel: "production".into(),
            action,
            target_before: before.map(Target::from_text),
            target_after: after.map(Target::from_text),
            rollout_before: None,
            rollout_after: None,
            actor: "t".into(),
            at_ms: 0,
        }
    }

    fn publish(version: &str, force: bool) -> ReleaseCommand {
        ReleaseCommand::Publish { target: Target::from_text(version), force }
    }

    #[test]
    fn publishing_sets_the_target_and_ends_a_rollout() {
        let change = apply(&channel(Some("1.0.0"), Some(("1.1.0", 1000))), publish("1.2.0", false), &[], 5).unwrap();
        assert_eq!(change.channel.target, Some(Target::Bundle("1.2.0".into())));
        assert_eq!(change.channel.rollout, None);
        assert_eq!((change.action, change.forced), (HistoryAction::Publish, false));
        assert_eq!(change.channel.revision, 3, "the store bumps the revision, not the rule");
    }

    #[test]
    fn a_version_not_newer_than_the_target_or_rollout_needs_force() {
        let serving = channel(Some("1.0.0"), Some(("1.1.0", 1000)));
        for older in ["1.0.0", "1.1.0", "0.9.0"] {
            let refused = apply(&serving, publish(older, false), &[], 5).unwrap_err();
            assert_eq!(refused.code(), "not_newer", "{older}");
            assert!(refused.to_string().contains("already serves 1.1.0"), "{refused}");
            let forced = apply(&serving, publish(older, true), &[], 5).unwrap();
            assert!(forced.forced, "{older} goes through with force, and says so");
        }
        assert!(!apply(&serving, publish("1.1.1", true), &[], 5).unwrap().forced, "force unused on a newer one");
        assert!(apply(&serving, publish("builtin", false), &[], 5).is_ok(), "the store build is always allowed");
        assert_eq!(apply(&serving, publish("latest", false), &[], 5).unwrap_err().code(), "invalid_version");
    }

    #[test]
    fn rollouts_start_change_finish_and_abort() {
        let idle = channel(Some("1.0.0"), None);
        let started = apply(
            &idle,
            ReleaseCommand::StartRollout { version: "1.1.0".into(), share: share(10.0), force: false },
            &[],
            42,
        )
        .unwrap();
        assert_eq!(
            started.channel.rollout,
            Some(Rollout { version: "1.1.0".into(), share_bp: 1000, started_at_ms: 42 })
        );
        assert_eq!(started.channel.target, idle.target, "the target stays for everyone else");

        let running = started.channel;
        let again = ReleaseCommand::StartRollout { version: "1.2.0".into(), share: share(5.0), force: false };
        assert_eq!(apply(&running, again, &[], 0).unwrap_err().code(), "conflict");
        let widened = apply(&running, ReleaseCommand::ChangeRollout { share: share(50.0) }, &[], 0).unwrap();
        assert_eq!(widened.channel.rollout.as_ref().map(|r| r.share_bp), Some(5000));
        let finished = apply(&widened.channel, ReleaseCommand::FinishRollout, &[], 0).unwrap();
        assert_eq!(
            (finished.channel.target.clone(), finished.channel.rollout.clone()),
            (Some(Target::Bundle("1.1.0".into())), None)
        );
        let aborted = apply(&running, ReleaseCommand::AbortRollout, &[], 0).unwrap();
        assert_eq!((aborted.channel.target, aborted.channel.rollout), (idle.target.clone(), None));

        for command in [
            ReleaseCommand::FinishRollout,
            ReleaseCommand::AbortRollout,
            ReleaseCommand::ChangeRollout { share: share(1.0) },
        ] {
            assert_eq!(apply(&idle, command, &[], 0).unwrap_err(), Refusal::NoRollout { channel: "production".into() });
        }
        let same = ReleaseCommand::StartRollout { version: "1.0.0".into(), share: share(5.0), force: true };
        assert_eq!(apply(&idle, same, &[], 0).unwrap_err().code(), "already_target");
    }

    #[test]
    fn promote_copies_a_target_and_ends_the_rollout() {
        let production = channel(Some("1.0.0"), Some(("1.0.5", 100)));
        let promote = |from: &str, target: Option<&str>| ReleaseCommand::Promote {
            from: from.into(),
            target: target.map(Target::from_text),
        };
        let done = apply(&production, promote("beta", Some("1.1.0")), &[], 0).unwrap();
        assert_eq!((done.channel.target, done.channel.rollout), (Some(Target::Bundle("1.1.0".into())), None));
        assert_eq!(apply(&production, promote("beta", None), &[], 0).unwrap_err().code(), "conflict");
        assert_eq!(apply(&production, promote("production", Some("1.1.0")), &[], 0).unwrap_err(), Refusal::SameChannel);
    }

    #[test]
    fn rollback_skips_earlier_rollbacks() {
        use HistoryAction::*;
        // 1.0 → 1.1 → 1.2, then a rollback to 1.1: rolling back again goes to 1.0, not 1.2.
        let history = [
            step(Rollback, Some("1.2.0"), Some("1.1.0")),
            step(Publish, Some("1.1.0"), Some("1.2.0")),
            step(Publish, Some("1.0.0"), Some("1.1.0")),
            step(Publish, None, Some("1.0.0")),
        ];
        let now = channel(Some("1.1.0"), None);
        let back = apply(&now, ReleaseCommand::Rollback { to: RollbackTo::Previous }, &history, 0).unwrap();
        assert_eq!(back.channel.target, Some(Target::Bundle("1.0.0".into())));
        let builtin = apply(&now, ReleaseCommand::Rollback { to: RollbackTo::Builtin }, &history, 0).unwrap();
        assert_eq!(builtin.channel.target, Some(Target::Builtin));
        let first = channel(Some("1.0.0"), None);
        let refused = apply(&first, ReleaseCommand::Rollback { to: RollbackTo::Previous }, &history[3..], 0);
        assert_eq!(refused.unwrap_err().code(), "conflict", "nothing before the first publish");
    }
}
