//! `capstan bundle pack|inspect|list`: make a bundle from a build folder, check an existing
//! zip, or list the server's bundles.

use std::path::{Path, PathBuf};

use anyhow::Context;
use capstan_core::bundle::{self, BundleReport, InspectLimits, PackOptions, human_bytes};
use capstan_core::progress::CancelFlag;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::context::GlobalArgs;
use crate::output::{ByteProgress, or_dash, print_json, print_table, time};

/// Bundle commands.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Zip and checksum a web build folder in the format the device plugin expects.
    ///
    /// The folder must hold index.html, or a single folder that does. OS junk (.DS_Store,
    /// __MACOSX, .git, Thumbs.db) is left out. The same folder always gives the same bytes.
    Pack(PackArgs),
    /// Check an existing bundle zip with the rules devices need (paths, methods, zip bombs, CRCs).
    Inspect(InspectArgs),
    /// List the app's bundles on the server, newest first.
    List,
}

/// Arguments of `capstan bundle pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The web build folder (e.g. dist/ or www/).
    pub dir: PathBuf,
    /// Where to write the zip [default: <folder name>.zip in the current directory].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Keep .DS_Store, __MACOSX, .git and Thumbs.db instead of leaving them out.
    #[arg(long)]
    pub include_junk: bool,
    /// Compress on this many threads [default: one per core, at most 16]. Fewer threads use
    /// less memory: each holds the compressed file it is working on.
    #[arg(long, value_name = "N")]
    pub threads: Option<std::num::NonZeroUsize>,
}

/// Arguments of `capstan bundle inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle zip.
    pub zip: PathBuf,
}

/// Runs a bundle command.
pub fn run(command: BundleCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match command {
        BundleCommand::Pack(args) => pack(args, global.json),
        BundleCommand::Inspect(args) => inspect(args, global.json),
        BundleCommand::List => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(list(global))
        }
    }
}

async fn list(global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let app = global.app(&connection)?;
    let mut bundles = connection.api.bundles(&app).await?;
    bundles.sort_by_key(|b| std::cmp::Reverse(b.created_at_ms));
    if global.json {
        return print_json(&bundles);
    }
    let rows: Vec<Vec<String>> = bundles
        .iter()
        .map(|b| {
            vec![
                b.version.clone(),
                human_bytes(b.size.max(0) as u64),
                or_dash(b.min_native_version.as_deref()),
                delta_text(b),
                b.sha256.chars().take(12).collect(),
                b.created_by.clone(),
                time(b.created_at_ms),
            ]
        })
        .collect();
    print_table(
        &["VERSION", "SIZE", "MIN NATIVE", "DELTA UPDATE", "SHA256", "BY", "CREATED"],
        &rows,
        "no bundles yet: `capstan publish`",
    );
    Ok(())
}

/// What a device on the previous bundle downloads with a delta update, against the zip:
/// "83 KB instead of 2.1 MB from 1.4.1", or a dash when there is no delta.
fn delta_text(bundle: &capstan_core::api::Bundle) -> String {
    match &bundle.delta {
        Some(delta) => format!(
            "{} instead of {} from {}",
            human_bytes(delta.download_bytes.max(0) as u64),
            human_bytes(bundle.size.max(0) as u64),
            delta.from_version
        ),
        None => "-".to_owned(),
    }
}

fn pack(args: PackArgs, json: bool) -> anyhow::Result<()> {
    let out = match args.out {
        Some(out) => out,
        None => default_output(&args.dir)?,
    };
    let cancel = cancel_on_ctrl_c()?;
    let progress = ByteProgress::new("packing", !json);
    let options = PackOptions { include_junk: args.include_junk, threads: args.threads };
    let report = bundle::pack_folder(&args.dir, &out, &options, &progress, &cancel);
    progress.finish();
    let report = report.with_context(|| format!("cannot pack {}", args.dir.display()))?;
    if json {
        print_json(&ReportJson::new(&out, &report))
    } else {
        println!("Packed {} → {}", args.dir.display(), out.display());
        print_report(&report);
        Ok(())
    }
}

fn inspect(args: InspectArgs, json: bool) -> anyhow::Result<()> {
    let cancel = cancel_on_ctrl_c()?;
    let progress = ByteProgress::new("checking", !json);
    let report = bundle::inspect_zip(&args.zip, &InspectLimits::default(), &progress, &cancel);
    progress.finish();
    let report = report.with_context(|| format!("{} is not a usable bundle", args.zip.display()))?;
    if json {
        print_json(&ReportJson::new(&args.zip, &report))
    } else {
        println!("{} is a valid bundle", args.zip.display());
        if !report.index_root.is_empty() {
            println!("  index.html is inside {} (the plugin unwraps a single top-level folder)", report.index_root);
        }
        print_report(&report);
        Ok(())
    }
}

/// `<folder name>.zip` in the current directory, or `bundle.zip` for `.`.
fn default_output(dir: &Path) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(dir).context("cannot resolve the folder path")?;
    let name = absolute.file_name().and_then(|n| n.to_str()).filter(|n| *n != "." && *n != "..").unwrap_or("bundle");
    Ok(PathBuf::from(format!("{name}.zip")))
}

/// Ctrl-C cancels the running operation, which then removes its partial output.
pub fn cancel_on_ctrl_c() -> anyhow::Result<CancelFlag> {
    let cancel = CancelFlag::new();
    let flag = cancel.clone();
    ctrlc::set_handler(move || flag.cancel()).context("cannot install the Ctrl-C handler")?;
    Ok(cancel)
}

fn print_report(report: &BundleReport) {
    println!(
        "  files      {} ({} → {})",
        report.files.len(),
        human_bytes(report.total_size),
        human_bytes(report.zip_size)
    );
    println!("  sha256     {}", report.sha256);
    let largest = report.largest_files(3);
    if !largest.is_empty() {
        let list: Vec<String> = largest.iter().map(|f| format!("{} ({})", f.path, human_bytes(f.size))).collect();
        println!("  largest    {}", list.join(", "));
    }
    if !report.excluded.is_empty() {
        println!("  excluded   {}", report.excluded.join(", "));
    }
    for warning in &report.warnings {
        println!("  warning    {warning}");
    }
}

/// The JSON shape of `pack` and `inspect`, stable for scripts.
#[derive(Debug, Serialize)]
struct ReportJson<'a> {
    file: &'a Path,
    size: u64,
    sha256: &'a str,
    files: usize,
    total_size: u64,
    index_root: &'a str,
    largest_files: Vec<&'a bundle::BundleFile>,
    warnings: Vec<WarningJson<'a>>,
    excluded: &'a [String],
}

#[derive(Debug, Serialize)]
struct WarningJson<'a> {
    #[serde(flatten)]
    warning: &'a bundle::Warning,
    message: String,
}

impl<'a> ReportJson<'a> {
    fn new(file: &'a Path, report: &'a BundleReport) -> Self {
        ReportJson {
            file,
            size: report.zip_size,
            sha256: &report.sha256,
            files: report.files.len(),
            total_size: report.total_size,
            index_root: &report.index_root,
            largest_files: report.largest_files(10),
            warnings: report.warnings.iter().map(|w| WarningJson { warning: w, message: w.to_string() }).collect(),
            excluded: &report.excluded,
        }
    }
}
