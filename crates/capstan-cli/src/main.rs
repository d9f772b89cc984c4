//! `capstan`: Capstan's use-cases for terminals and CI pipelines.
//!
//! Every command prints readable text by default and one JSON document with `--json`.
//! Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error (from clap).

mod commands;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Self-hosted live updates for Capacitor apps.
#[derive(Debug, Parser)]
#[command(name = "capstan", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pack and inspect bundles (the zip of a web build that devices download).
    #[command(subcommand)]
    Bundle(commands::bundle::BundleCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bundle(command) => commands::bundle::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the error and its causes, as a reason a person or a CI log can read.
            let reason = error.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ");
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}
