//! Prints the native fingerprint of the Capacitor project a folder belongs to, and the native
//! version it declares; given an earlier fingerprint (JSON), prints what changed since.
//!
//! ```sh
//! cargo run -p capstan-core --example native_fingerprint -- dist/ > before.json
//! cargo run -p capstan-core --example native_fingerprint -- dist/ before.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use capstan_core::native::{self, NativeFingerprint};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let Some(start) = args.next() else {
        eprintln!("usage: native_fingerprint BUILD_DIR [EARLIER_FINGERPRINT.json]");
        return ExitCode::from(2);
    };
    let Some(project) = native::find_project(&start) else {
        eprintln!("no Capacitor project (capacitor.config.ts/js/json) at or above {}", start.display());
        return ExitCode::FAILURE;
    };
    let fingerprint = match native::fingerprint(&project) {
        Ok(fingerprint) => fingerprint,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    match native::declared_native_version(&project) {
        Ok(Some(declared)) => eprintln!("declared native version: {} ({})", declared.version, declared.file),
        Ok(None) => eprintln!("declared native version: none"),
        Err(error) => eprintln!("declared native version: {error}"),
    }
    let Some(earlier) = args.next() else {
        println!("{}", serde_json::to_string_pretty(&fingerprint).expect("serializable"));
        return ExitCode::SUCCESS;
    };
    let earlier: NativeFingerprint = match std::fs::read(&earlier).map(|bytes| serde_json::from_slice(&bytes)) {
        Ok(Ok(earlier)) => earlier,
        Ok(Err(error)) => {
            eprintln!("{}: {error}", earlier.display());
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("{}: {error}", earlier.display());
            return ExitCode::FAILURE;
        }
    };
    match native::compare(&earlier, &fingerprint) {
        Ok(diff) if diff.is_empty() => println!("native surface unchanged"),
        Ok(diff) => println!("native surface changed: {}", diff.summary(usize::MAX)),
        Err(error) => println!("{error}"),
    }
    ExitCode::SUCCESS
}
