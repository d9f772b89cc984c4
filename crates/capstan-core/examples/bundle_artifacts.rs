//! Generates the delta-update artifacts of a bundle zip into a folder, for `bench/delta`.
//!
//! Usage: `bundle_artifacts ZIP STORE [--previous MANIFEST_JSON]`, where STORE is a folder, or
//! `-` to read every artifact and discard it (the generation's own cost, without a file
//! system's cost of one file per artifact).
//!
//! Prints JSON: the manifest files, how many artifacts were new to STORE, and with `--previous`
//! (this program's output for the bundle a device holds) the bytes that device downloads.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use capstan_core::bundle::InspectLimits;
use std::io::Read;

use capstan_core::bundle::artifacts::{
    Artifact, ArtifactReport, ArtifactSink, DirectorySink, ManifestFile, SinkError, StoredForm, delta_download_size,
    generate_artifacts,
};
use capstan_core::progress::{CancelFlag, NoProgress};
use serde_json::{Value, json};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (zip, store, previous) = match args.as_slice() {
        [zip, store] => (zip, store, None),
        [zip, store, flag, previous] if flag == "--previous" => (zip, store, Some(previous)),
        _ => {
            eprintln!("usage: bundle_artifacts ZIP STORE [--previous MANIFEST_JSON]");
            return ExitCode::from(2);
        }
    };
    match run(zip.into(), store.into(), previous.map(PathBuf::from)) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bundle_artifacts: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Holds nothing; reads every artifact to the end.
struct Discard;

impl ArtifactSink for Discard {
    fn find(&mut self, _key: &str) -> Result<Option<StoredForm>, SinkError> {
        Ok(None)
    }

    fn put(&mut self, _artifact: Artifact<'_>, bytes: &mut dyn Read) -> Result<(), SinkError> {
        std::io::copy(bytes, &mut std::io::sink())?;
        Ok(())
    }
}

fn generate(
    zip: &std::path::Path,
    sink: &mut (impl ArtifactSink + Send),
) -> Result<ArtifactReport, Box<dyn std::error::Error>> {
    Ok(generate_artifacts(zip, &InspectLimits::default(), sink, &NoProgress, &CancelFlag::new())?)
}

fn run(zip: PathBuf, store: PathBuf, previous: Option<PathBuf>) -> Result<Value, Box<dyn std::error::Error>> {
    let held: Option<Vec<ManifestFile>> = match previous {
        Some(path) => {
            let output: Value = serde_json::from_slice(&std::fs::read(path)?)?;
            Some(serde_json::from_value(output["files"].clone())?)
        }
        None => None,
    };
    let started = Instant::now();
    let report = if store.as_os_str() == "-" {
        generate(&zip, &mut Discard)?
    } else {
        generate(&zip, &mut DirectorySink::new(store)?)?
    };
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({
        "seconds": seconds,
        "files": report.files,
        "new_artifacts": report.new_artifacts,
        "new_bytes": report.new_bytes,
        "delta_bytes": held.map(|held| delta_download_size(&held, &report.files)),
        "delta_bytes_without_cache": delta_download_size(&[], &report.files),
    }))
}
