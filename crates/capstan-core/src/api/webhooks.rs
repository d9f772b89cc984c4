//! Webhooks: URLs an admin registers per app, to which the server POSTs release events
//! (publish, rollout steps, pauses, rollbacks, automatic guard actions) as signed JSON.
//!
//! Each webhook has a secret the server generates and shows once, at creation. Every delivery
//! carries `Capstan-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is the lowercase hex
//! HMAC-SHA256, keyed with the secret, of `"<t>.<body>"` (the exact bytes of the body). A
//! receiver recomputes it over the raw body, compares in constant time, and refuses a `t` far
//! from its own clock (replays). [`signature`] and [`verify_signature`] are that rule, once.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::channels::HistoryAction;

/// The header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "Capstan-Signature";
/// The header that names a delivery's event kind.
pub const EVENT_HEADER: &str = "Capstan-Event";
/// The header that carries the delivery's id (the same on every retry of one delivery).
pub const DELIVERY_HEADER: &str = "Capstan-Delivery";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum WebhookEventKind {
    /// A bundle (or the store build) became a channel's target: publish, promote, a rollout
    /// finished.
    #[serde(rename = "publish")]
    Publish,
    /// A rollout's share changed: started, widened, narrowed, or aborted (share 0).
    #[serde(rename = "rollout.step")]
    RolloutStep,
    /// A rollout plan stopped advancing and holds its share.
    #[serde(rename = "rollout.paused")]
    RolloutPaused,
    /// A channel went back to an earlier target or the store build.
    #[serde(rename = "rollback")]
    Rollback,
    /// The server paused or rolled back a release by itself, on measured health.
    #[serde(rename = "guard")]
    Guard,
}

/// A name that is not an event kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event `{0}`: expected publish, rollout.step, rollout.paused, rollback or guard")]
pub struct UnknownEventKind(pub String);

impl WebhookEventKind {
    /// Every kind.
    pub const ALL: [WebhookEventKind; 5] = [
        WebhookEventKind::Publish,
        WebhookEventKind::RolloutStep,
        WebhookEventKind::RolloutPaused,
        WebhookEventKind::Rollback,
        WebhookEventKind::Guard,
    ];

    /// The name on the wire, in the `Capstan-Event` header and in stored rows.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventKind::Publish => "publish",
            WebhookEventKind::RolloutStep => "rollout.step",
            WebhookEventKind::RolloutPaused => "rollout.paused",
            WebhookEventKind::Rollback => "rollback",
            WebhookEventKind::Guard => "guard",
        }
    }

    /// The event a channel history action is announced as (`None`: not announced).
    pub fn of_history(action: HistoryAction) -> Option<WebhookEventKind> {
        match action {
            HistoryAction::Publish | HistoryAction::Promote | HistoryAction::RolloutFinish => {
                Some(WebhookEventKind::Publish)
            }
            HistoryAction::RolloutStart | HistoryAction::RolloutChange | HistoryAction::RolloutAbort => {
                Some(WebhookEventKind::RolloutStep)
            }
            HistoryAction::Rollback => Some(WebhookEventKind::Rollback),
            // A plan's pause is announced from the plan itself (with its reason, as
            // `rollout.paused`); resuming is not an event receivers subscribe to.
            HistoryAction::RolloutPause | HistoryAction::RolloutResume => None,
        }
    }
}

impl std::fmt::Display for WebhookEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for WebhookEventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        WebhookEventKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

/// The JSON body POSTed to a webhook: one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebhookEvent {
    /// Unique per event (`evt_…`); every webhook and every retry of it sees the same id, so a
    /// receiver can drop duplicates.
    pub id: String,
    /// What happened.
    pub kind: WebhookEventKind,
    /// The app.
    pub app_id: String,
    /// The channel it happened on.
    pub channel: Option<String>,
    /// The native line (MIN_NATIVE_VERSION) it happened on; `null`: any native version.
    pub min_native: Option<String>,
    /// The channel history action behind it, when it came from one.
    pub action: Option<HistoryAction>,
    /// The bundle concerned (`builtin`: the store build): the new target, or the rollout's.
    pub version: Option<String>,
    /// What it replaced: the previous target.
    pub previous: Option<String>,
    /// The rollout's share afterwards, percent (rollout events).
    pub percent: Option<f64>,
    /// Why, in words (pauses and guard actions).
    pub reason: Option<String>,
    /// Who: as the audit log names them (`name (token id)`), or `capstan` for the server itself.
    pub actor: String,
    /// When, epoch ms.
    pub at_ms: i64,
}

impl WebhookEvent {
    /// An event with only the required fields set; fill the rest as it applies.
    pub fn new(id: String, kind: WebhookEventKind, app_id: &str, actor: &str, at_ms: i64) -> WebhookEvent {
        WebhookEvent {
            id,
            kind,
            app_id: app_id.to_owned(),
            channel: None,
            min_native: None,
            action: None,
            version: None,
            previous: None,
            percent: None,
            reason: None,
            actor: actor.to_owned(),
            at_ms,
        }
    }
}

/// A registered webhook, as the server lists it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Webhook {
    /// Id used to remove it.
    pub id: i64,
    /// The app.
    pub app_id: String,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// The events it receives.
    pub events: Vec<WebhookEventKind>,
    /// Who registered it.
    pub created_by: String,
    /// When, epoch ms.
    pub created_at_ms: i64,
}

/// `POST /api/v1/apps/{app}/webhooks` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct CreateWebhook {
    /// Where to POST events: an `http://` or `https://` URL.
    pub url: String,
    /// The events to send; every kind when absent.
    #[serde(default)]
    pub events: Option<Vec<WebhookEventKind>>,
}

/// `POST /api/v1/apps/{app}/webhooks` answer: the webhook, and its signing secret shown this
/// once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreatedWebhook {
    /// The stored webhook.
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of its signatures (`whsec_…`). The server never shows it again.
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; another attempt is due at `next_attempt_at_ms`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
    /// The webhook was removed before it was delivered.
    Cancelled,
}

impl DeliveryStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed, DeliveryStatus::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebhookAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started, epoch ms.
    pub at_ms: i64,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// What went wrong, when it did (no answer, timeout, a non-2xx status).
    pub error: Option<String>,
    /// How long it took, ms.
    pub duration_ms: i64,
}

/// One event for one webhook, with every attempt to deliver it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebhookDelivery {
    /// Delivery id (the `Capstan-Delivery` header).
    pub id: i64,
    /// The webhook.
    pub webhook_id: i64,
    /// The webhook's URL.
    pub url: String,
    /// The event, as POSTed.
    pub event: WebhookEvent,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// The next attempt's time, epoch ms, while pending.
    pub next_attempt_at_ms: Option<i64>,
    /// When it was queued, epoch ms.
    pub created_at_ms: i64,
    /// When it was delivered, failed for good or was cancelled, epoch ms.
    pub finished_at_ms: Option<i64>,
    /// Attempts so far, first first.
    pub attempts: Vec<WebhookAttempt>,
}

query_params! {
    /// `GET .../webhooks/deliveries` filters.
    DeliveryQuery {
        /// Only this webhook's deliveries.
        webhook: i64,
        /// At most this many, newest first (default 50, at most 500).
        limit: u32,
    }
}

/// The `Capstan-Signature` value for `body` sent at `timestamp` (unix seconds), signed with
/// `secret`: `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=…,v1=…`.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is further than the tolerance from now (a replay, or a wrong clock).
    #[error("timestamp {timestamp} is more than {tolerance_s} s from now ({now})")]
    Stale {
        /// The header's timestamp.
        timestamp: i64,
        /// The receiver's now.
        now: i64,
        /// The tolerance.
        tolerance_s: i64,
    },
    /// No `v1` matches the body.
    #[error("signature does not match the body")]
    Mismatch,
}

/// A receiver's check of a `Capstan-Signature` header against the raw body: the timestamp is
/// within `tolerance_s` of `now_s` (unix seconds) and one `v1` is the body's HMAC (compared in
/// constant time). Answers the timestamp.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<i64, SignatureError> {
    use hmac::{KeyInit, Mac};
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", value)) => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_s - timestamp).abs() > tolerance_s {
        return Err(SignatureError::Stale { timestamp, now: now_s, tolerance_s });
    }
    for candidate in signatures {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&candidate).is_ok() {
            return Ok(timestamp);
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_named_and_parse_back() {
        for kind in WebhookEventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(kind.as_str().parse::<WebhookEventKind>(), Ok(kind));
        }
        assert!("deploy".parse::<WebhookEventKind>().is_err());
    }

    #[test]
    fn every_history_action_is_announced() {
        use HistoryAction::*;
        let kinds: Vec<_> = [Publish, Promote, RolloutFinish, RolloutStart, RolloutChange, RolloutAbort, Rollback]
            .into_iter()
            .map(WebhookEventKind::of_history)
            .collect();
        assert_eq!(
            kinds,
            [
                Some(WebhookEventKind::Publish),
                Some(WebhookEventKind::Publish),
                Some(WebhookEventKind::Publish),
                Some(WebhookEventKind::RolloutStep),
                Some(WebhookEventKind::RolloutStep),
                Some(WebhookEventKind::RolloutStep),
                Some(WebhookEventKind::Rollback),
            ]
        );
    }

    #[test]
    fn signatures_verify_only_for_the_same_secret_body_and_a_fresh_time() {
        let body = br#"{"kind":"publish"}"#;
        let header = signature("whsec_a", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify_signature("whsec_a", &header, body, 1_700_000_100, 300), Ok(1_700_000_000));
        assert_eq!(verify_signature("whsec_b", &header, body, 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_signature("whsec_a", &header, br#"{"kind":"rollback"}"#, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify_signature("whsec_a", &header, body, 1_700_001_000, 300),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(verify_signature("whsec_a", "v1=00", body, 0, 300), Err(SignatureError::Malformed));
        // A header re-dated by an attacker no longer matches.
        let redated = header.replace("t=1700000000", "t=1700000900");
        assert_eq!(verify_signature("whsec_a", &redated, body, 1_700_000_900, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_known_vector() {
        // echo -n '1.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature("key", 1, b"{}"),
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}
