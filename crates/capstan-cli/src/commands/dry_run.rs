//! `--dry-run` on the commands that change what devices get: the fleet preview instead of the
//! change.

use capstan_client::api::Api;
use capstan_core::api::{Preview, ProposedChange};
use clap::Args;

use crate::output::print_json;

/// The `--dry-run` and `--days` flags.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct DryRun {
    /// Change nothing: show what the devices seen lately would get after this change,
    /// grouped (decided by the server exactly as `/updates` would).
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: count the devices seen in the last DAYS days [default: 30].
    #[arg(long, value_name = "DAYS", requires = "dry_run")]
    pub days: Option<u32>,
}

/// Asks the server for the preview of `change` and prints it.
pub async fn show(api: &Api, app: &str, change: ProposedChange, dry: DryRun, json: bool) -> anyhow::Result<()> {
    let preview = api.preview(app, change, dry.days).await?;
    print_preview(&preview, json)
}

/// Prints a preview (`--json`: as the server answered it).
pub fn print_preview(preview: &Preview, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(preview);
    }
    println!("Dry run: nothing was changed.");
    for line in preview.lines() {
        println!("{line}");
    }
    Ok(())
}
