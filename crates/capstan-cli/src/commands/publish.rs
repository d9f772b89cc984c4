//! `capstan publish DIR|ZIP --app ID --channel NAME`.

use std::path::PathBuf;

use capstan_client::publish::{PublishProgress, PublishRequest, preview_publish, publish};
use capstan_core::bundle::human_bytes;
use clap::Args;

use crate::commands::bundle::cancel_on_ctrl_c;
use crate::commands::dry_run::{DryRun, print_preview};
use crate::context::GlobalArgs;
use crate::output::{ByteProgress, print_json};

/// Arguments of `capstan publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Web build folder (packed here) or a bundle zip (checked here).
    pub input: PathBuf,
    /// Channel to assign the bundle to (e.g. production, beta).
    #[arg(long, value_name = "NAME")]
    pub channel: String,
    /// Bundle version [default: "version" of the nearest package.json].
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// Oldest native app version that can run this bundle [default: the nearest
    /// MIN_NATIVE_VERSION file, else the channel's current value].
    #[arg(long, value_name = "V")]
    pub min_native: Option<String>,
    /// Give the bundle to this percentage of the channel's devices only (0–100); widen later
    /// with `capstan channel rollout`.
    #[arg(long, value_name = "PCT")]
    pub rollout: Option<f64>,
    /// Release notes.
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,
    /// Publish a version not newer than the channel's, or assign an identical bundle that was
    /// already uploaded (retrying a CI job).
    #[arg(long)]
    pub force: bool,
    /// When the Capacitor project changed natively since the bundle its shells run, raise
    /// MIN_NATIVE_VERSION to the native version the project declares (Gradle `versionName`,
    /// Xcode `MARKETING_VERSION`), else to the bundle's version.
    #[arg(long, conflicts_with = "min_native")]
    pub raise_min_native: bool,
    /// Publish even though the project changed natively and MIN_NATIVE_VERSION was not raised
    /// (recorded as forced in the audit log).
    #[arg(long)]
    pub force_native: bool,
    // --dry-run: every check runs, nothing is packed, uploaded or published.
    #[command(flatten)]
    pub dry: DryRun,
}

/// Runs `capstan publish`.
pub async fn run(args: PublishArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let request = PublishRequest {
        input: args.input,
        app: global.app(&connection)?,
        channel: args.channel,
        version: args.version,
        min_native: args.min_native,
        rollout_percent: args.rollout,
        notes: args.notes,
        force: args.force,
        project_dir: None,
        expected_sha256: None,
        raise_min_native: args.raise_min_native,
        force_native: args.force_native,
    };
    if args.dry.dry_run {
        let preview = preview_publish(&connection.api, &request, args.dry.days).await?;
        return print_preview(&preview, global.json);
    }
    let cancel = cancel_on_ctrl_c()?;
    let bar = |label| ByteProgress::new(label, !global.json);
    let (prepare, sign, upload, verify) = (bar("packing"), bar("encrypting"), bar("uploading"), bar("verifying"));
    let progress = PublishProgress { prepare: &prepare, sign: &sign, upload: &upload, verify: &verify };
    let outcome = publish(&connection.api, &request, progress, &cancel).await;
    for bar in [&prepare, &sign, &upload, &verify] {
        bar.finish();
    }
    let outcome = outcome?;
    if global.json {
        return print_json(&outcome);
    }
    let audience = match outcome.rollout_percent {
        Some(percent) => format!("{percent} % of `{}`", outcome.channel),
        None => format!("every device on `{}`", outcome.channel),
    };
    let action = if outcome.reused { "Assigned the existing" } else { "Published" };
    println!("{action} {} {} to {audience}", outcome.app, outcome.version);
    println!("  version     {} ({})", outcome.version, outcome.version_source);
    let min_native = outcome.min_native_version.as_deref().unwrap_or("none");
    println!("  min native  {min_native} ({})", outcome.min_native_source);
    println!("  bundle      {} files, {}", outcome.files, human_bytes(outcome.size));
    match &outcome.signature {
        Some(signature) => {
            println!("  sha256      {} (of the zip, before encryption)", outcome.sha256);
            println!(
                "  signed      with key {} from {}; downloaded and opened as a device does",
                signature.key_id, signature.key_source
            );
        }
        None => println!("  sha256      {} (verified by the server; not signed)", outcome.sha256),
    }
    println!("  native      {}", outcome.native);
    for warning in &outcome.warnings {
        println!("  warning     {warning}");
    }
    Ok(())
}
