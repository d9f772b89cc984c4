//! What every remote command shares: the global options, connecting, choosing the app.

use anyhow::Context as _;
use capstan_client::connect::{ConnectOptions, Connection, connect};
use clap::Args;

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print one JSON document (object or array) instead of text, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Server URL; with --token, no profile or keychain is needed (CI).
    #[arg(long, global = true, env = "CAPSTAN_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token; overrides the profile's token from the keychain.
    #[arg(long, global = true, env = "CAPSTAN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Saved profile to use instead of the active one.
    #[arg(long, global = true, env = "CAPSTAN_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// App id; defaults to the profile's default app.
    #[arg(long, global = true, env = "CAPSTAN_APP", value_name = "APP_ID")]
    pub app: Option<String>,
}

impl GlobalArgs {
    /// Connects with flags, environment, or profile + keychain.
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let options =
            ConnectOptions { server: self.server.clone(), token: self.token.clone(), profile: self.profile.clone() };
        Ok(connect(options).await?)
    }

    /// The app a command works on.
    pub fn app(&self, connection: &Connection) -> anyhow::Result<String> {
        self.app
            .clone()
            .or_else(|| connection.default_app.clone())
            .context("no app: pass --app APP_ID, set CAPSTAN_APP, or save a default with `capstan login --app`")
    }
}
