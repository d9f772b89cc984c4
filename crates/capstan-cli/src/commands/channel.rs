//! `capstan channel list|create|update|show|history|rollout|plan|health|schedule|schedules|
//! unschedule|promote|rollback`.

use capstan_client::channels::{RolloutChange, change_rollout, promote, rollout_change_preview};
use capstan_core::api::{
    Channel, CreateChannel, FailureAction, ProposedChange, RollbackTo, SettingsPatch, Target, describe_line,
};
use clap::{ArgGroup, Args, Subcommand};

use super::safety;
use crate::commands::dry_run::{self, DryRun};
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
        settings: SettingsPatch,
    },
    /// Change a channel's settings.
    Update {
        /// Channel name.
        name: String,
        #[command(flatten)]
        settings: SettingsPatch,
        #[command(flatten)]
        dry: DryRun,
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
    /// Widen, narrow, finish or abort a channel's rollout (or start one with --version), or
    /// hand it to a plan that widens it step by step while it is healthy (--plan).
    Rollout(RolloutArgs),
    /// Show a channel's rollout plan (progress, next step, why it paused), or pause, resume or
    /// cancel it.
    Plan {
        /// Channel name.
        name: String,
        /// Stop taking steps (the share is held).
        #[arg(long, conflicts_with_all = ["resume", "cancel"])]
        pause: bool,
        /// Take steps again (the wait starts again now).
        #[arg(long, conflicts_with = "cancel")]
        resume: bool,
        /// End the plan (the rollout stays at its share, under manual control).
        #[arg(long)]
        cancel: bool,
    },
    /// The health of what a channel serves: install attempts, failures, the 95 % interval of the
    /// failure rate, and the bundle it replaces.
    Health {
        /// Channel name.
        name: String,
    },
    /// Publish a bundle (or `builtin`) to a channel at a given time.
    Schedule {
        /// Channel name.
        name: String,
        /// Bundle version, or `builtin`.
        version: String,
        /// When: a UTC time such as 2026-12-02T09:00Z, or +2h from now.
        #[arg(long, value_name = "TIME")]
        at: String,
    },
    /// The app's scheduled publishes.
    Schedules,
    /// Cancel a pending scheduled publish.
    Unschedule {
        /// Its id (see `capstan channel schedules`).
        id: i64,
    },
    /// Give another channel what this one serves (e.g. beta → production); ends the target
    /// channel's rollout.
    Promote {
        /// The channel to copy from (e.g. beta).
        from: String,
        /// The channel that receives it (e.g. production).
        #[arg(long, value_name = "CHANNEL")]
        to: String,
        #[command(flatten)]
        dry: DryRun,
    },
    /// Roll a channel back to its previous bundle, or to the store build (devices drop their
    /// live update); ends any rollout.
    Rollback {
        /// Channel name.
        name: String,
        /// Where to go back to.
        #[arg(long, value_enum, default_value_t = RollbackTo::Previous)]
        to: RollbackTo,
        /// With `--to previous`: the native line to roll back (its MIN_NATIVE_VERSION, or `any`);
        /// by default the line changed last.
        #[arg(long, value_name = "VERSION")]
        native: Option<String>,
        #[command(flatten)]
        dry: DryRun,
    },
}

/// Arguments of `capstan channel rollout`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).args(["percent", "finish", "abort", "plan"])))]
#[command(group(ArgGroup::new("starting").args(["percent", "plan"])))]
pub struct RolloutArgs {
    /// Channel name.
    pub name: String,
    /// New share of devices, 0–100 (100 finishes the rollout).
    #[arg(long, value_name = "PCT")]
    pub percent: Option<f64>,
    /// Start a rollout of this bundle version (with --percent or --plan) instead of changing one.
    #[arg(long, value_name = "V", requires = "starting")]
    pub version: Option<String>,
    /// Give the rollout's bundle to every device: it becomes the channel's bundle.
    #[arg(long)]
    pub finish: bool,
    /// Stop the rollout: every device gets the channel's bundle again.
    #[arg(long)]
    pub abort: bool,
    /// With --version: roll out even a version that is not newer than what its native line
    /// serves (recorded as forced in the audit log).
    #[arg(long, requires = "version")]
    pub force: bool,
    /// The native line whose rollout to change, finish or abort (its MIN_NATIVE_VERSION, or
    /// `any`), when several lines roll out. A new rollout goes to its bundle's line.
    #[arg(long, value_name = "VERSION", conflicts_with = "version")]
    pub native: Option<String>,
    /// Roll out step by step: shares in percent, ending at 100 (e.g. 1,10,50,100). The server
    /// takes each step when due and healthy (with --version, or the channel's running rollout).
    #[arg(long, value_name = "STEPS", value_parser = safety::parse_steps)]
    pub plan: Option<safety::Steps>,
    /// With --plan: least time on each step (e.g. 30m, 6h, 1d).
    #[arg(long, value_name = "DURATION", requires = "plan", default_value = "6h", value_parser = safety::parse_duration)]
    pub every: i64,
    /// With --plan: least install attempts on the channel before each next step.
    #[arg(long, value_name = "N", requires = "plan", default_value_t = 100)]
    pub min_devices: i64,
    /// With --plan: the failure rate (of install attempts) a step may not cross with confidence.
    #[arg(long, value_name = "PCT", requires = "plan", default_value = "2%", value_parser = safety::parse_percent)]
    pub max_failure_rate: f64,
    /// With --plan: what a failing bundle gets.
    #[arg(long, value_enum, requires = "plan", default_value_t = FailureAction::Pause)]
    pub on_failure: FailureAction,
    #[command(flatten)]
    pub dry: DryRun,
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
            let rows: Vec<Vec<String>> =
                channels.iter().map(|c| vec![c.name.clone(), c.describe(), flags(c), time(c.updated_at_ms)]).collect();
            print_table(&["CHANNEL", "SERVES", "FLAGS", "CHANGED"], &rows, "no channels");
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
                        h.action.as_str().to_owned(),
                        format!(
                            "{} → {}",
                            or_dash(h.target_before.as_ref().map(Target::as_text)),
                            or_dash(h.target_after.as_ref().map(Target::as_text))
                        ),
                        rollout.unwrap_or_else(|| "-".into()),
                        h.actor.clone(),
                        or_dash(h.reason.as_deref()),
                    ]
                })
                .collect();
            print_table(&["WHEN", "ACTION", "SERVES", "ROLLOUT", "BY", "WHY"], &rows, "no history yet");
            return Ok(());
        }
        ChannelCommand::Show { name } => (api.channel(&app, &name).await?, None),
        ChannelCommand::Create { name, settings } => {
            let body = CreateChannel { name, settings };
            (api.create_channel(&app, &body).await?, Some("Created".to_owned()))
        }
        ChannelCommand::Update { name, settings, dry } => {
            anyhow::ensure!(!settings.is_empty(), "nothing to change: pass at least one setting (see --help)");
            if dry.dry_run {
                let change = ProposedChange::Settings { channel: name, settings };
                return dry_run::show(api, &app, change, dry, global.json).await;
            }
            (api.update_channel(&app, &name, &settings).await?, Some("Updated".to_owned()))
        }
        ChannelCommand::Rollout(args) if args.plan.is_some() && args.dry.dry_run => {
            // What the plan's first step would do to the fleet; the plan itself is not created.
            let version = safety::plan_version(api, &app, &args.name, args.version).await?;
            let steps = args.plan.map(|s| s.0).unwrap_or_default();
            let change = ProposedChange::PlanStart { channel: args.name, version, steps, force: args.force };
            return dry_run::show(api, &app, change, args.dry, global.json).await;
        }
        ChannelCommand::Rollout(args) if args.plan.is_some() => {
            let options = safety::PlanOptions {
                steps: args.plan.map(|s| s.0).unwrap_or_default(),
                version: args.version,
                every_ms: args.every,
                min_devices: args.min_devices,
                max_failure_rate: args.max_failure_rate,
                on_failure: args.on_failure,
                force: args.force,
            };
            return safety::start_plan(api, &app, &args.name, options, global).await;
        }
        ChannelCommand::Plan { name, pause, resume, cancel } => {
            let verb = match (pause, resume, cancel) {
                (true, _, _) => safety::PlanVerb::Pause,
                (_, true, _) => safety::PlanVerb::Resume,
                (_, _, true) => safety::PlanVerb::Cancel,
                _ => safety::PlanVerb::Show,
            };
            return safety::plan(api, &app, &name, verb, global).await;
        }
        ChannelCommand::Health { name } => return safety::health(api, &app, &name, global).await,
        ChannelCommand::Schedule { name, version, at } => {
            return safety::schedule(api, &app, &name, version, &at, global).await;
        }
        ChannelCommand::Schedules => return safety::schedules(api, &app, global).await,
        ChannelCommand::Unschedule { id } => return safety::unschedule(api, &app, id, global).await,
        ChannelCommand::Rollout(args) => {
            let change = match (args.finish, args.abort, args.percent, args.version) {
                (true, _, _, _) => RolloutChange::Finish,
                (_, true, _, _) => RolloutChange::Abort,
                (_, _, Some(percent), Some(version)) => RolloutChange::Start { version, percent, force: args.force },
                (_, _, Some(percent), None) => RolloutChange::Percent(percent),
                (_, _, None, _) => unreachable!("clap requires one of --percent, --finish, --abort, --plan"),
            };
            let line = args.native.as_deref();
            if args.dry.dry_run {
                let change = rollout_change_preview(&args.name, &change, line);
                return dry_run::show(api, &app, change, args.dry, global.json).await;
            }
            (change_rollout(api, &app, &args.name, &change, line).await?, Some("Rollout changed:".to_owned()))
        }
        ChannelCommand::Promote { from, to, dry } => {
            if dry.dry_run {
                anyhow::ensure!(from != to, "cannot promote `{from}` to itself: name another channel");
                return dry_run::show(api, &app, ProposedChange::Promote { from, to }, dry, global.json).await;
            }
            let after = promote(api, &app, &from, &to).await?;
            (after, Some(format!("Promoted `{from}` →")))
        }
        ChannelCommand::Rollback { name, to, native, dry } => {
            if dry.dry_run {
                let change = ProposedChange::Rollback { channel: name, to, min_native: native };
                return dry_run::show(api, &app, change, dry, global.json).await;
            }
            (api.rollback(&app, &name, to, native.as_deref()).await?, Some("Rolled back".to_owned()))
        }
    };
    if global.json {
        return print_json(&channel);
    }
    if let Some(done) = done {
        println!("{done} channel `{}`: serves {}", channel.name, channel.describe());
        return Ok(());
    }
    print_channel(&channel);
    Ok(())
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
    if c.lanes.len() > 1 || c.lanes.iter().any(|l| l.min_native.is_some()) {
        for lane in &c.lanes {
            println!("  {:<20}{}", describe_line(lane.min_native.as_deref()), lane.describe());
        }
    } else {
        println!("  serves              {}", c.describe());
    }
    println!("  public              {}", yes(s.public));
    println!("  self-assignable     {}", yes(s.allow_self_set));
    println!("  platforms           ios {}, android {}, electron {}", yes(s.ios), yes(s.android), yes(s.electron));
    println!("  builds              production {}, development {}", yes(s.allow_prod), yes(s.allow_dev));
    println!("  devices             physical {}, emulators {}", yes(s.allow_device), yes(s.allow_emulator));
    println!("  strategy            {}", format!("{:?}", s.strategy).to_lowercase());
    println!("  block under native  {}", yes(s.block_under_native));
    let delivery = match s.delivery {
        capstan_core::api::Delivery::Delta => "delta updates where the plugin supports them, else the zip",
        capstan_core::api::Delivery::Zip => "the zip to every device",
    };
    println!("  delivery            {delivery}");
    let guard = if s.guard {
        format!(
            "on: {} a bundle failing over {} of install attempts",
            s.guard_action.as_str(),
            capstan_core::rollout::percent_text(f64::from(s.guard_threshold_bp) / 10_000.0)
        )
    } else {
        "off".to_owned()
    };
    println!("  guard               {guard}");
    println!("  changed             {}", time(c.updated_at_ms));
}
