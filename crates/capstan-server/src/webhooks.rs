//! Webhooks: release events POSTed to the URLs an admin registered for an app, signed, durable
//! and retried.
//!
//! - **Events** are made where things happen and queued with the change they describe: the
//!   management API's channel changes (publish, rollout share changes, rollbacks; see
//!   [`channel_events`]) and the server's own rollout and guard work (`rollout.paused`,
//!   `rollout.step`, `guard`; `rollouts::announce`). The store queues one delivery row per
//!   webhook that takes the event's kind in the transaction of the change the event describes
//!   (`save_channel`, `record_release`): an event is stored exactly when its change is, so a
//!   crash can lose neither one without the other.
//! - **Delivery** is a [`Job`] ([`DeliverWebhooks`]) under a database lease, so one replica
//!   sends: it POSTs each due delivery with its signature ([`capstan_core::api::signature`]),
//!   logs the attempt (status or error, and duration), and retries failures with exponential
//!   backoff ([`backoff_ms`]) until [`MAX_ATTEMPTS`]; then the delivery is failed for good.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use capstan_core::api::{
    Channel, DELIVERY_HEADER, DeliveryStatus, EVENT_HEADER, SIGNATURE_HEADER, WebhookEvent, WebhookEventKind,
};
use capstan_core::release::Step;
use futures_util::StreamExt;

use crate::AppState;
use crate::jobs::{Job, JobError};
use crate::store::webhooks::{AttemptRecord, DueDelivery};

/// Attempts per delivery before it is failed for good.
pub const MAX_ATTEMPTS: u32 = 8;
/// The wait after a first failed attempt; it doubles after each further one.
pub const BACKOFF_BASE_MS: i64 = 30_000;
/// The longest wait between two attempts.
pub const BACKOFF_CAP_MS: i64 = 3_600_000;
/// How long one attempt may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries read per batch, and sent at once at most.
const BATCH: u32 = 32;
const PARALLEL: usize = 16;
/// A run stops taking new batches after this long (well inside its lease of three intervals).
const RUN_BUDGET: Duration = Duration::from_secs(15);
/// How much of a receiver's error answer the log keeps.
const ERROR_BODY_CHARS: usize = 200;
/// Webhooks an app may have.
pub const MAX_WEBHOOKS_PER_APP: usize = 20;
/// The longest URL accepted.
const MAX_URL_LEN: usize = 2_000;
/// The actor of events the server causes by itself (rollout plans, the guard).
pub const SERVER_ACTOR: &str = "capstan";

/// A new event of `kind` for `app_id` by `actor`, now, with a fresh id; set the other fields as
/// they apply and hand it to the store with the change it describes.
pub fn event(state: &AppState, kind: WebhookEventKind, app_id: &str, actor: &str) -> WebhookEvent {
    WebhookEvent::new(format!("evt_{}", crate::auth::random_hex(12)), kind, app_id, actor, state.now_ms())
}

/// The events of one channel change (`before` → `after`, line by line as `steps` say): a new
/// target is `publish`, a rollout share change `rollout.step` (an abort is share 0), a rollback
/// `rollback`.
pub fn channel_events(
    state: &AppState,
    before: &Channel,
    after: &Channel,
    steps: &[Step],
    actor: &str,
) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    for step in steps {
        let Some(kind) = WebhookEventKind::of_history(step.action) else { continue };
        let line = step.min_native.as_deref();
        let (was, now) = (before.lane(line), after.lane(line));
        let target = |lane: Option<&capstan_core::api::Lane>| {
            lane.and_then(|l| l.target.as_ref()).map(|t| t.as_text().to_owned())
        };
        let mut event = event(state, kind, &after.app_id, actor);
        event.channel = Some(after.name.clone());
        event.min_native = step.min_native.clone();
        event.action = Some(step.action);
        event.previous = target(was);
        match kind {
            WebhookEventKind::RolloutStep => {
                let rollout = now.and_then(|l| l.rollout.as_ref());
                let any = rollout.or_else(|| was.and_then(|l| l.rollout.as_ref()));
                event.version = any.map(|r| r.version.clone());
                event.percent = Some(rollout.map_or(0.0, |r| r.percent()));
            }
            _ => event.version = target(now),
        }
        events.push(event);
    }
    events
}

/// Why a URL is refused, in words.
pub fn check_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_URL_LEN {
        return Err(format!("the URL must be 1–{MAX_URL_LEN} characters"));
    }
    let url = reqwest::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}`: only http:// and https:// URLs can receive webhooks"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not hold a user name or password: receivers check the signature instead".into());
    }
    if url.fragment().is_some() {
        return Err(format!("`{text}`: a URL fragment (#…) is never sent; leave it out"));
    }
    Ok(url.to_string())
}

/// A new signing secret: 256 random bits.
pub fn generate_secret() -> String {
    format!("whsec_{}", crate::auth::random_hex(32))
}

/// The wait after failed attempt number `attempt` (1 for the first): 30 s, 1 min, 2 min, …,
/// at most an hour.
pub fn backoff_ms(attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1).min(20);
    BACKOFF_BASE_MS.saturating_mul(1 << doublings).min(BACKOFF_CAP_MS)
}

/// Sends due webhook deliveries (one replica at a time, under the job's lease).
#[derive(Default)]
pub struct DeliverWebhooks {
    client: OnceLock<reqwest::Client>,
}

#[async_trait]
impl Job for DeliverWebhooks {
    fn name(&self) -> &'static str {
        "webhook_delivery"
    }

    fn every_ms(&self) -> i64 {
        10_000
    }

    async fn run(&self, state: &AppState) -> Result<(), JobError> {
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let client = reqwest::Client::builder()
                    .timeout(REQUEST_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    // A redirect is an answer to fix, not to follow: the signature is for this URL.
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("capstan-server/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
                    .build()
                    .map_err(|e| JobError::Other(format!("cannot build the HTTP client: {e}")))?;
                self.client.get_or_init(|| client)
            }
        };
        let started = Instant::now();
        while started.elapsed() < RUN_BUDGET {
            let due = state.db().due_webhook_deliveries(state.now_ms(), BATCH).await?;
            if due.is_empty() {
                break;
            }
            let records: Vec<AttemptRecord> = futures_util::stream::iter(due)
                .map(|delivery| attempt(client, state, delivery))
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            for record in &records {
                if !state.db().record_webhook_attempt(record).await? {
                    tracing::warn!(delivery = record.delivery_id, "webhook attempt already recorded elsewhere");
                }
            }
        }
        Ok(())
    }
}

/// One attempt at `delivery`, and what follows from it.
async fn attempt(client: &reqwest::Client, state: &AppState, delivery: DueDelivery) -> AttemptRecord {
    let at_ms = state.now_ms();
    let number = delivery.attempts + 1;
    let timestamp = at_ms.div_euclid(1000);
    let started = Instant::now();
    let sent = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            SIGNATURE_HEADER,
            capstan_core::api::signature(&delivery.secret, timestamp, delivery.payload.as_bytes()),
        )
        .header(EVENT_HEADER, &delivery.kind)
        .header(DELIVERY_HEADER, delivery.id.to_string())
        .body(delivery.payload.clone())
        .send()
        .await;
    let (status_code, error) = match sent {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let body = capstan_core::protocol::cut(body.trim(), ERROR_BODY_CHARS);
            let error =
                if body.is_empty() { format!("answered {status}") } else { format!("answered {status}: {body}") };
            (Some(status.as_u16()), Some(error))
        }
        Err(e) => (None, Some(describe(&e))),
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, next_attempt_ms) = match &error {
        None => (DeliveryStatus::Delivered, None),
        Some(_) if number >= MAX_ATTEMPTS => (DeliveryStatus::Failed, None),
        Some(_) => (DeliveryStatus::Pending, Some(at_ms + backoff_ms(number))),
    };
    if let Some(error) = &error {
        tracing::info!(delivery = delivery.id, attempt = number, %error, "webhook delivery failed");
    }
    AttemptRecord {
        delivery_id: delivery.id,
        attempt: number,
        at_ms,
        status_code,
        error,
        duration_ms,
        status,
        next_attempt_ms,
    }
}

/// A transport error in words (reqwest's own text names the URL but not always the cause).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() { what.to_owned() } else { format!("{what}: {cause}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let waits: Vec<i64> = (1..=9).map(backoff_ms).collect();
        assert_eq!(waits, [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]);
        assert_eq!(backoff_ms(u32::MAX), BACKOFF_CAP_MS);
    }

    #[test]
    fn only_plain_http_and_https_urls_are_taken() {
        assert_eq!(
            check_url(" https://hooks.example.com/capstan?x=1 ").unwrap(),
            "https://hooks.example.com/capstan?x=1"
        );
        assert_eq!(check_url("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080/");
        for bad in [
            "",
            "hooks.example.com/x",
            "ftp://example.com/x",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "http://",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} is refused");
        }
        assert!(check_url(&format!("https://example.com/{}", "a".repeat(2_000))).is_err());
    }

    #[test]
    fn secrets_are_random() {
        let (a, b) = (generate_secret(), generate_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(a, b);
    }
}
