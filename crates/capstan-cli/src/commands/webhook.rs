//! `capstan webhook …`: URLs that receive the app's release events, signed (admin).

use capstan_core::api::{CreateWebhook, DeliveryQuery, WebhookEventKind};
use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output::{or_dash, print_json, print_table, time};

/// Webhook commands (the app comes from `--app` or the profile).
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register a URL for the app's release events. The signing secret is printed this once:
    /// give it to the receiver, which checks each request's `Capstan-Signature` with it.
    Add {
        /// Where to POST events (http:// or https://).
        url: String,
        /// Only these events (comma-separated): publish, rollout.step, rollout.paused,
        /// rollback, guard. All of them by default.
        #[arg(long, value_delimiter = ',', value_name = "EVENTS")]
        events: Vec<WebhookEventKind>,
    },
    /// The app's webhooks.
    List,
    /// Remove a webhook: nothing more is sent to it, and its queued deliveries are cancelled.
    Remove {
        /// The webhook's id (`capstan webhook list`).
        id: i64,
    },
    /// The delivery log: each event sent, its status and every attempt.
    Deliveries {
        /// Only this webhook's deliveries.
        #[arg(long)]
        webhook: Option<i64>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// Runs a webhook command.
pub async fn run(command: WebhookCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let connection = global.connect().await?;
    let (api, app) = (&connection.api, global.app(&connection)?);
    match command {
        WebhookCommand::Add { url, events } => {
            let events = (!events.is_empty()).then_some(events);
            let created = api.create_webhook(&app, &CreateWebhook { url, events }).await?;
            if global.json {
                return print_json(&created);
            }
            let hook = &created.webhook;
            println!("Webhook {} registered for {app}: {} ({}).", hook.id, hook.url, kinds(&hook.events));
            println!("Signing secret (shown once; the server will not show it again):");
            println!("  {}", created.secret);
        }
        WebhookCommand::List => {
            let hooks = api.webhooks(&app).await?;
            if global.json {
                return print_json(&hooks);
            }
            let rows: Vec<Vec<String>> = hooks
                .iter()
                .map(|h| {
                    vec![h.id.to_string(), h.url.clone(), kinds(&h.events), h.created_by.clone(), time(h.created_at_ms)]
                })
                .collect();
            print_table(&["ID", "URL", "EVENTS", "BY", "CREATED"], &rows, &format!("{app} has no webhooks."));
        }
        WebhookCommand::Remove { id } => {
            let removed = api.remove_webhook(&app, id).await?;
            if global.json {
                return print_json(&removed);
            }
            println!("Removed webhook {id} ({}): nothing more is sent to it.", removed.url);
        }
        WebhookCommand::Deliveries { webhook, limit } => {
            let log = api.webhook_deliveries(&app, &DeliveryQuery { webhook, limit: Some(limit) }).await?;
            if global.json {
                return print_json(&log);
            }
            let rows: Vec<Vec<String>> = log
                .iter()
                .map(|d| {
                    let last = d.attempts.last();
                    let answer = last.map(|a| match (a.status_code, &a.error) {
                        (_, Some(error)) => error.clone(),
                        (Some(code), None) => code.to_string(),
                        (None, None) => String::new(),
                    });
                    let next = d.next_attempt_at_ms.map(time);
                    vec![
                        d.id.to_string(),
                        d.webhook_id.to_string(),
                        d.event.kind.to_string(),
                        or_dash(d.event.channel.as_deref()),
                        or_dash(d.event.version.as_deref()),
                        d.status.as_str().to_owned(),
                        d.attempts.len().to_string(),
                        or_dash(answer.as_deref()),
                        or_dash(next.as_deref()),
                        time(d.created_at_ms),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "WEBHOOK",
                    "EVENT",
                    "CHANNEL",
                    "VERSION",
                    "STATUS",
                    "ATTEMPTS",
                    "LAST ANSWER",
                    "NEXT",
                    "QUEUED",
                ],
                &rows,
                "No deliveries yet.",
            );
        }
    }
    Ok(())
}

fn kinds(events: &[WebhookEventKind]) -> String {
    events.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
}
