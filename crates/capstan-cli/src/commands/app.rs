//! `capstan app create|list`.

use capstan_core::api::CreateApp;
use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output::{print_json, print_table, time};

/// App commands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an app (admin); it starts with the public default channel `production`.
    Create {
        /// Reverse-DNS id, as in the app's capacitor.config (e.g. com.example.app).
        id: String,
        /// Display name [default: the id].
        #[arg(long)]
        name: Option<String>,
    },
    /// List apps.
    List,
}

/// Runs an app command.
pub async fn run(command: AppCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let api = global.connect().await?.api;
    match command {
        AppCommand::Create { id, name } => {
            let app = api.create_app(&CreateApp { id, name }).await?;
            if global.json {
                return print_json(&app);
            }
            println!("Created app {} ({}) with default channel `{}`", app.id, app.name, app.default_channel);
        }
        AppCommand::List => {
            let apps = api.apps().await?;
            if global.json {
                return print_json(&apps);
            }
            let rows: Vec<Vec<String>> = apps
                .iter()
                .map(|a| vec![a.id.clone(), a.name.clone(), a.default_channel.clone(), time(a.created_at_ms)])
                .collect();
            print_table(&["APP", "NAME", "DEFAULT CHANNEL", "CREATED"], &rows, "no apps yet: `capstan app create ID`");
        }
    }
    Ok(())
}
