//! `capstan stats` and `capstan audit`.

use clap::Args;
use serde_json::json;

use crate::context::GlobalArgs;
use crate::output::{or_dash, print_json, print_table, time};

/// Arguments of `capstan stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this bundle version.
    #[arg(long, value_name = "V")]
    pub bundle: Option<String>,
    /// Only this channel.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
}

/// Arguments of `capstan audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// At most this many entries (newest first, up to 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Every app and token change, not only the app's.
    #[arg(long)]
    pub all_apps: bool,
}

/// Runs `capstan stats`.
pub async fn stats(args: StatsArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let app = global.app(&connection)?;
    let mut bundles = connection.api.bundle_stats(&app).await?;
    let mut channels = connection.api.channel_stats(&app).await?;
    if let Some(version) = &args.bundle {
        bundles.retain(|b| &b.version == version);
        anyhow::ensure!(!bundles.is_empty(), "no bundle {version} in {app}");
    }
    if let Some(name) = &args.channel {
        channels.retain(|c| &c.channel == name);
        anyhow::ensure!(!channels.is_empty(), "no channel `{name}` in {app}");
    }
    if global.json {
        return print_json(&json!({ "app": app, "bundles": bundles, "channels": channels }));
    }
    let rows: Vec<Vec<String>> = bundles
        .iter()
        .map(|b| {
            let failures: Vec<String> = b.failures.iter().map(|(action, n)| format!("{action} {n}")).collect();
            vec![
                b.version.clone(),
                b.active_devices.to_string(),
                b.installs.to_string(),
                b.failures_total.to_string(),
                b.rollbacks.to_string(),
                or_dash(Some(&failures.join(", "))),
            ]
        })
        .collect();
    print_table(&["BUNDLE", "ACTIVE", "INSTALLS", "FAILURES", "ROLLBACKS", "BY KIND"], &rows, "no bundles");
    println!();
    let rows: Vec<Vec<String>> = channels
        .iter()
        .map(|c| {
            vec![
                c.channel.clone(),
                capstan_core::api::describe_lanes(&c.lanes),
                c.active_devices.to_string(),
                format!("{:.0} %", c.adoption * 100.0),
            ]
        })
        .collect();
    print_table(&["CHANNEL", "SERVES", "ACTIVE", "ON TARGET"], &rows, "no channels");
    Ok(())
}

/// Runs `capstan audit`.
pub async fn audit(args: AuditArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let app = if args.all_apps { None } else { Some(global.app(&connection)?) };
    let entries = connection.api.audit(app.as_deref(), args.limit).await?;
    if global.json {
        return print_json(&entries);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![time(e.at_ms), e.actor.clone(), or_dash(e.app_id.as_deref()), e.action.clone(), e.subject.clone()]
        })
        .collect();
    print_table(&["WHEN", "WHO", "APP", "ACTION", "SUBJECT"], &rows, "no audit entries");
    Ok(())
}
