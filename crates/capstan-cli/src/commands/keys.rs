//! `capstan keys …`: the app's bundle signing key, kept in the OS keychain.

use std::path::PathBuf;

use capstan_client::signing::{self, KeyOutcome, KeyStore, PublicKeyInfo, Registration};
use capstan_core::api::KeyTrust;
use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output::{or_dash, print_json, print_table};

/// Key commands (the app comes from `--app` or the profile).
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make the app's RSA-2048 signing key: the private key goes to the OS keychain (never a
    /// file), the public key is registered on the server (admin) and printed with the Capacitor
    /// config snippet that ships it in the app.
    Create {
        /// Keep the key on this machine only; an admin registers it later (`keys register`).
        #[arg(long)]
        no_register: bool,
        /// Replace the key this machine holds for the app (export the old one first: installed
        /// apps trust it until a store update ships the new public key).
        #[arg(long)]
        replace: bool,
    },
    /// Print the public key of the key this machine signs the app's bundles with, and the
    /// Capacitor config snippet.
    Show,
    /// Which key signs which app: registered keys, the "require signed bundles" rule, and the
    /// key this machine holds.
    List,
    /// Write the private key to a file (mode 0600) for a backup. Whoever holds the file can
    /// publish bundles every installed copy of the app accepts.
    Export {
        /// The file to create (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Put a private key file (PEM, RSA-2048) into the OS keychain: a backup, or the key of a
    /// teammate's machine. A key that is not registered yet is registered as an additional key
    /// (admin). CI passes the key in CAPSTAN_SIGNING_KEY instead.
    Import {
        /// The private key file.
        file: PathBuf,
        /// Do not register a key the server does not know (refused while the app has keys).
        #[arg(long)]
        no_register: bool,
        /// Replace another key this machine holds for the app.
        #[arg(long)]
        replace: bool,
    },
    /// Register a public key on the server (admin): this machine's key, or a PKCS#1 PEM file.
    Register {
        /// A public key file (`-----BEGIN RSA PUBLIC KEY-----`) instead of this machine's key.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Remove a registered public key (admin): bundles signed with it are refused from now on.
    Unregister {
        /// The key id (`capstan keys list`).
        key_id: String,
    },
    /// Require signed bundles (`on`), or stop requiring them (`off`) (admin). While on, unsigned
    /// uploads are refused and no channel can serve an unsigned bundle: the line Android devices
    /// cannot hold themselves (they install unsigned bundles even when the app has a key).
    RequireSigned {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Which keys the active devices trust, per native version: when none trusts an old key any
    /// more, it can be retired.
    Coverage {
        /// Devices seen in this many days count as active.
        #[arg(long, default_value_t = 30)]
        active_days: u32,
    },
}

/// Runs a key command.
pub async fn run(command: KeysCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let (api, app) = (&connection.api, global.app(&connection)?);
    let store = KeyStore::new();
    let registration = |no_register: bool| if no_register { Registration::Skip } else { Registration::Register };
    match command {
        KeysCommand::Create { no_register, replace } => {
            let outcome = signing::create(api, &app, &store, registration(no_register), replace).await?;
            if global.json {
                return print_json(&outcome);
            }
            let verb = if outcome.replaced { "Replaced the" } else { "Created a" };
            println!("{verb} signing key for {app} (key id {}).", outcome.public.key_id);
            print_saved(&outcome);
        }
        KeysCommand::Import { file, no_register, replace } => {
            let outcome = signing::import(api, &app, &file, &store, registration(no_register), replace).await?;
            if global.json {
                return print_json(&outcome);
            }
            println!("Imported the signing key for {app} (key id {}).", outcome.public.key_id);
            print_saved(&outcome);
            eprintln!(
                "warning: {} still holds the private key: keep it offline (a password manager, a safe), or delete it",
                file.display()
            );
        }
        KeysCommand::Show => {
            let shown = signing::show(api, &app, &store).await?;
            if global.json {
                return print_json(&shown);
            }
            let registered = if shown.registered { "registered" } else { "NOT registered on the server" };
            println!("Signing key for {app}: key id {} ({registered}), from {}.", shown.public.key_id, shown.source);
            print_public(&shown.public);
        }
        KeysCommand::List => {
            let overview = signing::overview(api, global.app.as_deref(), &store).await?;
            if global.json {
                return print_json(&overview);
            }
            let rows: Vec<Vec<String>> = overview
                .iter()
                .map(|a| {
                    let keys: Vec<&str> = a.signing.keys.iter().map(|k| k.key_id.as_str()).collect();
                    let local = match (&a.local_key_id, a.signs) {
                        (Some(id), true) => format!("{id} (signs)"),
                        (Some(id), false) => format!("{id} (not registered)"),
                        (None, _) => "-".into(),
                    };
                    let required = if a.signing.require_signed { "yes" } else { "no" };
                    vec![a.app.clone(), required.into(), or_dash(Some(&keys.join(", "))), local]
                })
                .collect();
            print_table(&["APP", "SIGNED ONLY", "REGISTERED KEYS", "THIS MACHINE"], &rows, "no apps");
        }
        KeysCommand::Export { out } => {
            let public = signing::export(&app, &out, &store).await?;
            if global.json {
                return print_json(&public);
            }
            println!("Wrote the private key for {app} (key id {}) to {}.", public.key_id, out.display());
            eprintln!(
                "warning: whoever reads {} can publish bundles every installed copy of {app} accepts: keep it offline \
                 (a password manager, a safe), never in a repository or a shared drive",
                out.display()
            );
        }
        KeysCommand::Register { public_key } => {
            let record = signing::register(api, &app, public_key.as_ref(), &store).await?;
            if global.json {
                return print_json(&record);
            }
            println!("Registered key {} for {app}: bundles signed with it are accepted.", record.key_id);
        }
        KeysCommand::Unregister { key_id } => {
            let record = api.remove_key(&app, &key_id).await?;
            if global.json {
                return print_json(&record);
            }
            println!("Removed key {} from {app}: bundles signed with it are refused from now on.", record.key_id);
        }
        KeysCommand::RequireSigned { state } => {
            let signing = api.update_signing(&app, state == "on").await?;
            if global.json {
                return print_json(&signing);
            }
            if signing.require_signed {
                println!(
                    "{app} requires signed bundles: unsigned uploads are refused, channels serve signed bundles only."
                );
            } else {
                println!("{app} accepts unsigned bundles again.");
            }
        }
        KeysCommand::Coverage { active_days } => {
            let coverage = api.key_coverage(&app, Some(active_days)).await?;
            if global.json {
                return print_json(&coverage);
            }
            println!("{} active devices of {app} in the last {} days.", coverage.active_devices, coverage.active_days);
            let rows: Vec<Vec<String>> = coverage
                .totals
                .iter()
                .chain(&coverage.by_native)
                .map(|share| {
                    vec![
                        share.native_version.clone().unwrap_or_else(|| "all".into()),
                        trust_text(share.trust, share.key_id.as_deref()),
                        share.devices.to_string(),
                        format!("{:.1} %", share.percent),
                    ]
                })
                .collect();
            print_table(&["NATIVE", "TRUSTS", "DEVICES", "SHARE"], &rows, "no active devices");
        }
    }
    Ok(())
}

fn trust_text(trust: KeyTrust, key_id: Option<&str>) -> String {
    let key = key_id.unwrap_or("-");
    match trust {
        KeyTrust::Registered => format!("{key} (registered)"),
        KeyTrust::Unregistered => format!("{key} (not registered)"),
        KeyTrust::Unknown => "unknown (plugin 8.2–8.40.7 sends 4 characters)".into(),
        KeyTrust::NoKey => "no key (unsigned bundles only)".into(),
    }
}

/// Where a new or imported key went, then its public half.
fn print_saved(outcome: &KeyOutcome) {
    println!("The private key is in the OS keychain; back it up with `capstan keys export --out FILE`.");
    if outcome.registered {
        println!("Its public key is registered on the server.");
    } else {
        println!("Its public key is NOT registered yet: an admin runs `capstan keys register`.");
    }
    print_public(&outcome.public);
}

fn print_public(public: &PublicKeyInfo) {
    println!("\nPublic key (the app's publicKey):\n{}\n", public.public_key);
    println!("In capacitor.config.json (or the same object in capacitor.config.ts):\n{}", public.config_snippet);
}
