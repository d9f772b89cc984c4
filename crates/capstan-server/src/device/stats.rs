//! `POST /stats`: events from devices, accepted as an array (current plugins) or one object
//! (legacy), any action. The plugin deletes a batch on 2xx and drops it for good on other 4xx,
//! so only bodies that are not events at all get a 4xx, and 2xx waits for the commit.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use capstan_core::protocol::{StatsBodyError, StatsEvent};
use serde::Serialize;

use super::{MAX_STATS_BODY, client_ip, declared_length, invalid_body, read_body};
use crate::AppState;
use crate::config::StatsLimitConfig;
use crate::error::AppError;
use crate::ingest::StatsRejected;
use crate::ratelimit::{Limited, RateLimiter};
use capstan_core::api::DeviceEvent;

/// Most events in one body (the plugin sends at most 200).
pub const MAX_EVENTS_PER_BODY: usize = 1000;

/// What one address may send to `/stats` (settings `stats_limit`): body bytes and events per
/// second. Checked before a body is read, so a flood costs a table lookup per request, not a
/// read and a parse.
pub struct StatsBudget {
    bytes: RateLimiter,
    events: RateLimiter,
}

impl StatsBudget {
    /// Budgets with these settings.
    pub fn new(config: &StatsLimitConfig) -> StatsBudget {
        StatsBudget {
            bytes: RateLimiter::with_rate(config.bytes_per_second, config.bytes_burst),
            events: RateLimiter::with_rate(u64::from(config.events_per_second), u64::from(config.events_burst)),
        }
    }

    /// Before reading the body: the address must have bytes and events left; a declared body
    /// size is charged now.
    fn admit(&self, ip: IpAddr, declared: Option<u64>) -> Result<(), Limited> {
        self.events.has_budget(ip)?;
        match declared {
            Some(length) => self.bytes.charge(ip, length as f64),
            None => self.bytes.has_budget(ip),
        }
    }
}

/// The answer to a body that was read: `dropped` counts what was not stored (elements that are
/// not events, events without an app or device id, events of apps this server does not have);
/// the plugin reads only the status code.
#[derive(Debug, Serialize)]
struct Acknowledged {
    status: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    dropped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The handler.
pub async fn stats(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    // Taken apart rather than extracted as `HeaderMap` (which clones every header).
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let ip = client_ip(&state, headers, peer);
    let declared = declared_length(headers);
    if let Err(limited) = state.limiter().check(ip).and_then(|()| state.stats_budget().admit(ip, declared)) {
        return limited.answer_held().await;
    }
    let bytes = match read_body(&state, headers, body, MAX_STATS_BODY).await {
        Ok(bytes) => bytes,
        Err(answer) => return answer,
    };
    if declared.is_none()
        && let Err(limited) = state.stats_budget().bytes.charge(ip, bytes.len() as f64)
    {
        return limited.answer_held().await;
    }
    // Typed and borrowed from the bytes (no JSON tree): a batch holds up to 200 events.
    let batch = match StatsEvent::parse_json_slice(&bytes, MAX_EVENTS_PER_BODY) {
        Ok(batch) => batch,
        Err(too_many @ StatsBodyError::TooManyEvents(_)) => return invalid_body(true, &too_many.to_string()),
        Err(not_events) => return invalid_body(false, &not_events.to_string()),
    };
    // An array with nothing but non-objects in it (`[1, 2]`) is not a batch of events at all;
    // one good event among bad ones is stored, and the rest counted as dropped.
    if batch.events.is_empty() && batch.dropped > 0 {
        return invalid_body(false, &StatsBodyError::NotEvents.to_string());
    }
    if let Err(limited) = state.stats_budget().events.charge(ip, (batch.events.len() + batch.dropped) as f64) {
        return limited.answer_held().await;
    }
    let now = state.now_ms();
    let mut dropped = batch.dropped;
    let mut records = Vec::with_capacity(batch.events.len());
    // Looked up once per app id in the body, not per event: a body holds up to
    // MAX_EVENTS_PER_BODY events, usually of one app.
    let mut known: Vec<(&str, bool)> = Vec::new();
    for event in &batch.events {
        if event.info.device_id.is_empty() || event.info.app_id.is_empty() {
            dropped += 1;
            continue;
        }
        // Events for apps this server does not know are acknowledged and dropped: storing them
        // would let anyone fill the disk, refusing them would make devices retry forever.
        let app_id: &str = &event.info.app_id;
        let app_known = match known.iter().find(|(id, _)| *id == app_id) {
            Some(&(_, answer)) => answer,
            None => match state.cache().get(app_id).await {
                Ok(found) => {
                    known.push((app_id, found.is_some()));
                    found.is_some()
                }
                Err(error) => return AppError::from(error).into_response(),
            },
        };
        if app_known {
            records.push(record(event, now));
        } else {
            dropped += 1;
        }
    }
    if records.is_empty() {
        state.metrics().stats_acknowledged(0, dropped);
        return acknowledged(dropped);
    }
    let stored = records.len();
    match state.ingest().stats.submit(records).await {
        Ok(()) => {
            state.metrics().stats_acknowledged(stored, dropped);
            acknowledged(dropped)
        }
        Err(StatsRejected::Full) => AppError::Unavailable("stats queue is full; retry later".into()).into_response(),
        Err(StatsRejected::NotStored) => {
            AppError::Unavailable("stats could not be stored; retry later".into()).into_response()
        }
    }
}

fn acknowledged(dropped: usize) -> Response {
    Json(Acknowledged { status: "ok", dropped }).into_response()
}

fn record(event: &StatsEvent<'_>, now_ms: i64) -> DeviceEvent {
    DeviceEvent {
        metadata: (!event.metadata.is_empty())
            .then(|| serde_json::to_string(&event.metadata).expect("string map serializes")),
        app_id: event.info.app_id.to_string(),
        device_id: event.info.device_id.to_string(),
        action: event.action.to_string(),
        version_name: event.version_name.to_string(),
        old_version_name: event.old_version_name.to_string(),
        platform: event.info.platform.to_string(),
        native_version: event.info.version_build.to_string(),
        plugin_version: event.info.plugin_version.to_string(),
        device_ts_ms: event.timestamp_ms,
        received_ms: now_ms,
    }
}
