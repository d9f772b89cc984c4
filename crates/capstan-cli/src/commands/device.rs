//! `capstan device find|show|set-channel|clear-channel`.

use capstan_core::api::{DeviceFilter, ProposedChange};
use clap::Subcommand;
use serde_json::json;

use crate::commands::dry_run::{self, DryRun};
use crate::context::GlobalArgs;
use crate::output::{or_dash, print_json, print_table, time};

/// Device commands.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Find devices by device id (or its start) or custom id, filtered by channel, native
    /// version or bundle.
    Find {
        /// Device id, a prefix of one, or a custom id.
        query: Option<String>,
        /// Only devices on this channel.
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
        /// Only devices with this native app version.
        #[arg(long, value_name = "V")]
        native_version: Option<String>,
        /// Only devices running this bundle.
        #[arg(long, value_name = "V")]
        bundle: Option<String>,
        /// At most this many devices.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show a device: platform, versions, channel (and whether it is an override), and its
    /// timeline of downloads, installs, failures and rollbacks.
    Show {
        /// Device id.
        device: String,
    },
    /// Pin a device to a channel (QA); wins over anything the device asks for.
    SetChannel {
        /// Device id.
        device: String,
        /// Channel name.
        channel: String,
        #[command(flatten)]
        dry: DryRun,
    },
    /// Remove a device's channel override.
    ClearChannel {
        /// Device id.
        device: String,
        #[command(flatten)]
        dry: DryRun,
    },
}

/// Runs a device command.
pub async fn run(command: DeviceCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let app = global.app(&connection)?;
    let api = &connection.api;
    match command {
        DeviceCommand::Find { query, channel, native_version, bundle, limit } => {
            let filter = DeviceFilter { q: query, channel, native_version, bundle, limit: Some(limit) };
            let devices = api.devices(&app, &filter).await?;
            if global.json {
                return print_json(&devices);
            }
            let rows: Vec<Vec<String>> = devices
                .iter()
                .map(|d| {
                    vec![
                        d.device_id.clone(),
                        or_dash(Some(&d.custom_id)),
                        d.platform.clone(),
                        d.native_version.clone(),
                        d.bundle_version.clone(),
                        or_dash(d.channel.as_deref()),
                        time(d.last_seen_ms),
                    ]
                })
                .collect();
            print_table(
                &["DEVICE", "CUSTOM ID", "PLATFORM", "NATIVE", "BUNDLE", "CHANNEL", "LAST SEEN"],
                &rows,
                "no devices match",
            );
        }
        DeviceCommand::Show { device } => {
            let detail = api.device(&app, &device).await?;
            if global.json {
                return print_json(&detail);
            }
            println!("Device {device}");
            if let Some(d) = &detail.device {
                println!("  custom id   {}", or_dash(Some(&d.custom_id)));
                println!("  platform    {} (OS {})", d.platform, or_dash(Some(&d.os_version)));
                println!("  native      {}", d.native_version);
                println!("  bundle      {}", d.bundle_version);
                println!("  plugin      {}", or_dash(Some(&d.plugin_version)));
                println!(
                    "  build       {}{}",
                    if d.is_prod { "production" } else { "development" },
                    if d.is_emulator { ", emulator" } else { "" }
                );
                println!("  last seen   {} (first {})", time(d.last_seen_ms), time(d.first_seen_ms));
            }
            let channel = detail.device.as_ref().and_then(|d| d.channel.clone());
            match &detail.channel_override {
                Some(o) => println!(
                    "  channel     {} (override set by {} on {})",
                    or_dash(o.channel.as_deref()),
                    o.source,
                    time(o.set_at_ms)
                ),
                None => println!("  channel     {}", or_dash(channel.as_deref())),
            }
            let rows: Vec<Vec<String>> = detail
                .events
                .iter()
                .map(|e| {
                    vec![
                        time(e.device_ts_ms.unwrap_or(e.received_ms)),
                        e.action.clone(),
                        or_dash(Some(&e.version_name)),
                        or_dash(Some(&e.old_version_name)),
                    ]
                })
                .collect();
            println!();
            print_table(&["WHEN", "EVENT", "BUNDLE", "PREVIOUS"], &rows, "no events yet");
        }
        DeviceCommand::SetChannel { device, channel, dry } => {
            if dry.dry_run {
                let change = ProposedChange::SetOverride { device_id: device, channel };
                return dry_run::show(api, &app, change, dry, global.json).await;
            }
            let saved = api.set_override(&app, &device, &channel).await?;
            if global.json {
                return print_json(
                    &json!({ "device_id": saved.device_id, "channel": channel, "set_at_ms": saved.set_at_ms }),
                );
            }
            println!("Device {} is pinned to channel `{channel}`", saved.device_id);
        }
        DeviceCommand::ClearChannel { device, dry } => {
            if dry.dry_run {
                return dry_run::show(api, &app, ProposedChange::ClearOverride { device_id: device }, dry, global.json)
                    .await;
            }
            let removed = api.clear_override(&app, &device).await?;
            if global.json {
                return print_json(&json!({ "device_id": device, "removed": removed }));
            }
            if removed {
                println!("Device {device} follows its own channel again");
            } else {
                println!("Device {device} had no channel override");
            }
        }
    }
    Ok(())
}
