//! `capstan channel list|create|update|show|history|rollout|promote|rollback`.

use capstan_client::api::types::{Channel, CreateChannel, SettingsPatch};
use capstan_client::channels::{RollbackTo, RolloutChange, change_rollout, promote, rollback};
use capstan_core::version::Strategy;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};

use crate::context::GlobalArgs;
use crate::output::{or_dash, print_json, print_table, time};

/// Channel commands.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// List the app's channels with what they serve.
    List,
    /// Create a channel (defaults: every platform and build allowed, not public, not
    /// self-assignable, bundles older than the native app refused).
    Create {
        /// Channel name (letters, digits, `.`, `_`, `-`).
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change a channel's settings.
    Update {
        /// Channel name.
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Show a channel: what it serves, its rollout and its settings.
    Show {
        /// Channel name.
        name: String,
    },
    /// A channel's history of publishes, rollouts, promotions and rollbacks, newest first.
    History {
        /// Channel name.
        name: String,
    },
    /// Widen, narrow, finish or abort a channel's rollout (or start one with --version).
    Rollout(RolloutArgs),
    /// Give another channel what this one serves (e.g. beta → production); ends the target
    /// channel's rollout.
    Promote {
        /// The channel to copy from (e.g. beta).
        from: String,
        /// The channel that receives it (e.g. production).
        #[arg(long, value_name = "CHANNEL")]
        to: String,
    },
    /// Roll a channel back to its previous bundle, or to the store build (devices drop their
    /// live update); ends any rollout.
    Rollback {
        /// Channel name.
        name: String,
        /// Where to go back to.
        #[arg(long, value_enum, default_value_t = RollbackArg::Previous)]
        to: RollbackArg,
    },
}

/// Rollback destinations.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RollbackArg {
    /// The bundle the channel served before (earlier rollbacks are skipped).
    Previous,
    /// The build shipped in the app store.
    Builtin,
}

/// Arguments of `capstan channel rollout`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).args(["percent", "finish", "abort"])))]
pub struct RolloutArgs {
    /// Channel name.
    pub name: String,
    /// New share of devices, 0–100 (100 finishes the rollout).
    #[arg(long, value_name = "PCT")]
    pub percent: Option<f64>,
    /// Start a rollout of this bundle version (with --percent) instead of changing one.
    #[arg(long, value_name = "V", requires = "percent")]
    pub version: Option<String>,
    /// Give the rollout's bundle to every device: it becomes the channel's bundle.
    #[arg(long)]
    pub finish: bool,
    /// Stop the rollout: every device gets the channel's bundle again.
    #[arg(long)]
    pub abort: bool,
}

/// Channel settings as flags; unset flags leave a setting unchanged.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Devices that ask for no channel may get this one.
    #[arg(long, value_name = "BOOL")]
    pub public: Option<bool>,
    /// Devices may switch themselves to this channel (setChannel).
    #[arg(long, value_name = "BOOL")]
    pub self_assign: Option<bool>,
    /// Serve iOS devices.
    #[arg(long, value_name = "BOOL")]
    pub ios: Option<bool>,
    /// Serve Android devices.
    #[arg(long, value_name = "BOOL")]
    pub android: Option<bool>,
    /// Serve Electron apps.
    #[arg(long, value_name = "BOOL")]
    pub electron: Option<bool>,
    /// Serve production builds.
    #[arg(long, value_name = "BOOL")]
    pub prod_builds: Option<bool>,
    /// Serve development builds.
    #[arg(long, value_name = "BOOL")]
    pub dev_builds: Option<bool>,
    /// Serve physical devices.
    #[arg(long, value_name = "BOOL")]
    pub devices: Option<bool>,
    /// Serve emulators and simulators.
    #[arg(long, value_name = "BOOL")]
    pub emulators: Option<bool>,
    /// Semver boundary a bundle may not cross relative to the native version.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Refuse bundles older than the device's native version.
    #[arg(long, value_name = "BOOL")]
    pub block_under_native: Option<bool>,
}

/// Semver strategies.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// No boundary: MIN_NATIVE_VERSION is the only compatibility gate.
    None,
    /// Never a higher major than the native app.
    Major,
    /// Never a higher major.minor than the native app.
    Minor,
    /// Only the native app's major.minor line.
    Patch,
}

impl From<SettingsArgs> for SettingsPatch {
    fn from(a: SettingsArgs) -> Self {
        SettingsPatch {
            public: a.public,
            allow_self_set: a.self_assign,
            ios: a.ios,
            android: a.android,
            electron: a.electron,
            allow_prod: a.prod_builds,
            allow_dev: a.dev_builds,
            allow_device: a.devices,
            allow_emulator: a.emulators,
            strategy: a.strategy.map(|s| match s {
                StrategyArg::None => Strategy::None,
                StrategyArg::Major => Strategy::Major,
                StrategyArg::Minor => Strategy::Minor,
                StrategyArg::Patch => Strategy::Patch,
            }),
            block_under_native: a.block_under_native,
        }
    }
}

/// Runs a channel command.
pub async fn run(command: ChannelCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let app = global.app(&connection)?;
    let api = &connection.api;
    let (channel, done) = match command {
        ChannelCommand::List => {
            let channels = api.channels(&app).await?;
            if global.json {
                return print_json(&channels);
            }
            let rows: Vec<Vec<String>> = channels
                .iter()
                .map(|c| {
                    vec![c.name.clone(), or_dash(c.target.as_deref()), rollout_text(c), flags(c), time(c.updated_at_ms)]
                })
                .collect();
            print_table(&["CHANNEL", "SERVES", "ROLLOUT", "FLAGS", "CHANGED"], &rows, "no channels");
            return Ok(());
        }
        ChannelCommand::History { name } => {
            let history = api.history(&app, &name).await?;
            if global.json {
                return print_json(&history);
            }
            let rows: Vec<Vec<String>> = history
                .iter()
                .map(|h| {
                    let rollout = h.rollout_after.as_ref().map(|r| format!("{} at {} %", r.version, r.percent()));
                    vec![
                        time(h.at_ms),
                        h.action.clone(),
                        format!("{} → {}", or_dash(h.target_before.as_deref()), or_dash(h.target_after.as_deref())),
                        rollout.unwrap_or_else(|| "-".into()),
                        h.actor.clone(),
                    ]
                })
                .collect();
            print_table(&["WHEN", "ACTION", "SERVES", "ROLLOUT", "BY"], &rows, "no history yet");
            return Ok(());
        }
        ChannelCommand::Show { name } => (api.channel(&app, &name).await?, None),
        ChannelCommand::Create { name, settings } => {
            let body = CreateChannel { name, settings: settings.into() };
            (api.create_channel(&app, &body).await?, Some("Created".to_owned()))
        }
        ChannelCommand::Update { name, settings } => {
            let patch = SettingsPatch::from(settings);
            anyhow::ensure!(!patch.is_empty(), "nothing to change: pass at least one setting (see --help)");
            (api.update_channel(&app, &name, &patch).await?, Some("Updated".to_owned()))
        }
        ChannelCommand::Rollout(args) => {
            let change = match (args.finish, args.abort, args.percent, args.version) {
                (true, _, _, _) => RolloutChange::Finish,
                (_, true, _, _) => RolloutChange::Abort,
                (_, _, Some(percent), Some(version)) => RolloutChange::Start { version, percent },
                (_, _, Some(percent), None) => RolloutChange::Percent(percent),
                _ => unreachable!("clap requires one of --percent, --finish, --abort"),
            };
            (change_rollout(api, &app, &args.name, &change).await?, Some("Rollout changed:".to_owned()))
        }
        ChannelCommand::Promote { from, to } => {
            let after = promote(api, &app, &from, &to).await?;
            (after, Some(format!("Promoted `{from}` →")))
        }
        ChannelCommand::Rollback { name, to } => {
            let to = match to {
                RollbackArg::Previous => RollbackTo::Previous,
                RollbackArg::Builtin => RollbackTo::Builtin,
            };
            (rollback(api, &app, &name, to).await?, Some("Rolled back".to_owned()))
        }
    };
    if global.json {
        return print_json(&channel);
    }
    if let Some(done) = done {
        println!("{done} channel `{}`: serves {}, rollout {}", channel.name, serves(&channel), rollout_text(&channel));
        return Ok(());
    }
    print_channel(&channel);
    Ok(())
}

fn serves(c: &Channel) -> String {
    match c.target.as_deref() {
        None => "nothing yet".into(),
        Some("builtin") => "the store build (builtin)".into(),
        Some(version) => version.to_owned(),
    }
}

fn rollout_text(c: &Channel) -> String {
    c.rollout.as_ref().map(|r| format!("{} to {} %", r.version, r.percent())).unwrap_or_else(|| "none".into())
}

fn flags(c: &Channel) -> String {
    let s = &c.settings;
    let mut flags = Vec::new();
    for (on, name) in [(s.public, "public"), (s.allow_self_set, "self-assign")] {
        if on {
            flags.push(name);
        }
    }
    for (on, name) in [
        (s.ios, "no-ios"),
        (s.android, "no-android"),
        (s.allow_prod, "no-prod"),
        (s.allow_dev, "no-dev"),
        (s.allow_device, "no-devices"),
        (s.allow_emulator, "no-emulators"),
    ] {
        if !on {
            flags.push(name);
        }
    }
    if flags.is_empty() { "-".into() } else { flags.join(",") }
}

fn print_channel(c: &Channel) {
    let s = &c.settings;
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("Channel `{}` of {}", c.name, c.app_id);
    println!("  serves              {}", serves(c));
    println!("  rollout             {}", rollout_text(c));
    println!("  public              {}", yes(s.public));
    println!("  self-assignable     {}", yes(s.allow_self_set));
    println!("  platforms           ios {}, android {}, electron {}", yes(s.ios), yes(s.android), yes(s.electron));
    println!("  builds              production {}, development {}", yes(s.allow_prod), yes(s.allow_dev));
    println!("  devices             physical {}, emulators {}", yes(s.allow_device), yes(s.allow_emulator));
    println!("  strategy            {}", format!("{:?}", s.strategy).to_lowercase());
    println!("  block under native  {}", yes(s.block_under_native));
    println!("  changed             {}", time(c.updated_at_ms));
}
