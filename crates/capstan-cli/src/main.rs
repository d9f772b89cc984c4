//! `capstan`: Capstan's use-cases for terminals and CI pipelines.
//!
//! Every command prints readable text by default and one JSON document with `--json`.
//! Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error (from clap).

mod commands;
mod context;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::GlobalArgs;

/// Self-hosted live updates for Capacitor apps.
///
/// Talk to a Capstan server with a profile saved by `capstan login` (its token is kept in the
/// OS keychain), or, in CI, with CAPSTAN_SERVER and CAPSTAN_TOKEN in the environment:
///
///   export CAPSTAN_SERVER=https://updates.example.com CAPSTAN_TOKEN=capstan_…
///   capstan publish ./dist --app com.example.app --channel production
#[derive(Debug, Parser)]
// `version` is not propagated: `publish --version` and `channel rollout --version` are bundle
// versions.
#[command(name = "capstan", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a token against a server, keep the token in the OS keychain and save the server
    /// as a profile (made active).
    Login(commands::profile::LoginArgs),
    /// List, choose and remove saved server profiles.
    #[command(subcommand)]
    Profile(commands::profile::ProfileCommand),
    /// Create and list apps.
    #[command(subcommand)]
    App(commands::app::AppCommand),
    /// Pack a web build (or take a zip), upload it, verify its checksum and assign it to a
    /// channel, optionally to a percentage of devices.
    Publish(commands::publish::PublishArgs),
    /// Pack and inspect bundles locally, list the server's bundles.
    #[command(subcommand)]
    Bundle(commands::bundle::BundleCommand),
    /// Channels: create, change, show, history, rollouts, promote, roll back.
    #[command(subcommand)]
    Channel(commands::channel::ChannelCommand),
    /// Devices for QA and support: find, show the timeline, pin to a channel.
    #[command(subcommand)]
    Device(commands::device::DeviceCommand),
    /// The app's bundle signing key (in the OS keychain): create, show, back up, register,
    /// require signed bundles, and which keys installed apps trust.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Webhooks: URLs that receive the app's release events (publish, rollout steps, pauses,
    /// rollbacks, guard actions) as signed JSON, and their delivery log (admin).
    #[command(subcommand)]
    Webhook(commands::webhook::WebhookCommand),
    /// Release health: installs, failures and rollbacks per bundle, adoption per channel.
    Stats(commands::report::StatsArgs),
    /// The audit log: who changed what, when.
    Audit(commands::report::AuditArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = cli.global;
    let result = match cli.command {
        Command::Bundle(command) => commands::bundle::run(command, &global),
        other => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(run_remote(other, &global))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run_remote(command: Command, global: &GlobalArgs) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => commands::profile::login(args, global).await,
        Command::Profile(command) => commands::profile::run(command, global),
        Command::App(command) => commands::app::run(command, global).await,
        Command::Publish(args) => commands::publish::run(args, global).await,
        Command::Channel(command) => commands::channel::run(command, global).await,
        Command::Device(command) => commands::device::run(command, global).await,
        Command::Keys(command) => commands::keys::run(command, global).await,
        Command::Webhook(command) => commands::webhook::run(command, global).await,
        Command::Stats(args) => commands::report::stats(args, global).await,
        Command::Audit(args) => commands::report::audit(args, global).await,
        Command::Bundle(_) => unreachable!("bundle commands run without a runtime"),
    }
}

/// The error and its causes as one line a person or a CI log can read. Causes already quoted
/// by the message before them are not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
