//! `capstan login` and `capstan profile list|use|remove`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use capstan_client::connect::{login as login_use_case, remove_profile};
use capstan_client::keychain::Keychain;
use capstan_client::profiles::ProfileFile;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::context::GlobalArgs;
use crate::output::{or_dash, print_json, print_table};

/// Arguments of `capstan login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server URL, e.g. https://updates.example.com [default: --server / CAPSTAN_SERVER].
    pub url: Option<String>,
    /// Name of the profile to save (e.g. staging, production).
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub name: String,
    /// Default app for commands run with this profile.
    #[arg(long = "default-app", value_name = "APP_ID")]
    pub default_app: Option<String>,
    /// Read the token from standard input instead of --token / CAPSTAN_TOKEN or a prompt.
    #[arg(long)]
    pub token_stdin: bool,
}

/// Profile commands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List saved profiles; the active one is marked with *.
    List,
    /// Make a profile the active one.
    Use {
        /// Profile name.
        name: String,
    },
    /// Remove a profile and delete its token from the keychain.
    Remove {
        /// Profile name.
        name: String,
    },
}

/// Runs `capstan login`.
pub async fn login(args: LoginArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let url =
        args.url.or_else(|| global.server.clone()).context("which server? pass its URL: capstan login https://…")?;
    let token = match (&global.token, args.token_stdin) {
        (Some(token), false) => token.clone(),
        _ => read_token()?,
    };
    let app = args.default_app.or_else(|| global.app.clone());
    let outcome = login_use_case(&args.name, &url, &token, app, ProfileFile::locate()?, Keychain::new()).await?;
    if global.json {
        return print_json(&outcome);
    }
    println!(
        "Logged in to {} as {} ({}); profile `{}` is now active, token stored in the OS keychain",
        outcome.url,
        outcome.me.name,
        outcome.me.role.as_str(),
        outcome.profile
    );
    Ok(())
}

/// A token from a hidden prompt on a terminal, else the first line of standard input.
fn read_token() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("API token: ").context("cannot read the token");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the token from standard input")?;
    let token = line.trim().to_owned();
    anyhow::ensure!(!token.is_empty(), "no token on standard input (or pass --token / CAPSTAN_TOKEN)");
    Ok(token)
}

/// Runs a profile command. Profiles are local: no server is contacted.
pub fn run(command: ProfileCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let file = ProfileFile::locate()?;
    match command {
        ProfileCommand::List => {
            let profiles = file.load()?;
            let active = profiles.active.as_deref();
            if global.json {
                let list: Vec<_> = profiles
                    .profiles
                    .iter()
                    .map(|(name, p)| json!({ "name": name, "url": p.url, "app": p.app, "active": Some(name.as_str()) == active }))
                    .collect();
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = profiles
                .profiles
                .iter()
                .map(|(name, p)| {
                    let mark = if Some(name.as_str()) == active { "*" } else { "" };
                    vec![mark.into(), name.clone(), p.url.clone(), or_dash(p.app.as_deref())]
                })
                .collect();
            print_table(
                &["", "PROFILE", "SERVER", "DEFAULT APP"],
                &rows,
                "no profiles: add one with `capstan login URL`",
            );
            Ok(())
        }
        ProfileCommand::Use { name } => {
            let profile = file.update(|p| {
                p.set_active(&name)?;
                p.get(&name).cloned()
            })?;
            if global.json {
                return print_json(&json!({ "active": name, "url": profile.url, "app": profile.app }));
            }
            println!("Profile `{name}` ({}) is now active", profile.url);
            Ok(())
        }
        ProfileCommand::Remove { name } => {
            let removed = remove_profile(&name, &file, &Keychain::new())?;
            if global.json {
                return print_json(&json!({ "removed": name, "url": removed.url }));
            }
            println!("Removed profile `{name}` ({}) and its token", removed.url);
            Ok(())
        }
    }
}
