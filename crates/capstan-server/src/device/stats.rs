//! `POST /stats`: events from devices, accepted as an array (current plugins) or one object
//! (legacy), any action. The plugin deletes a batch on 2xx and drops it for good on other 4xx,
//! so only bodies that are not events at all get a 4xx, and 2xx waits for the commit.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use capstan_core::protocol::StatsEvent;
use serde_json::json;

use super::{client_ip, invalid_body};
use crate::AppState;
use crate::error::AppError;
use crate::ingest::StatsRejected;
use capstan_core::api::DeviceEvent;

/// Most events in one body (the plugin sends at most 200).
pub const MAX_EVENTS_PER_BODY: usize = 1000;

/// The handler.
pub async fn stats(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body {
        Ok(bytes) => bytes,
        Err(rejection) => {
            return invalid_body(rejection.status() == StatusCode::PAYLOAD_TOO_LARGE, "cannot read request body");
        }
    };
    // Read flat from the bytes (no JSON tree): a batch holds up to 200 events.
    let events = match StatsEvent::parse_json_slice(&bytes) {
        Ok(events) => events,
        Err(not_events) => return invalid_body(false, &not_events.to_string()),
    };
    if events.len() > MAX_EVENTS_PER_BODY {
        return invalid_body(true, "too many events in one body");
    }
    let received = events.len();
    let now = state.now_ms();
    let mut records = Vec::with_capacity(events.len());
    // Looked up once per app id in the body, not per event: a body holds up to
    // MAX_EVENTS_PER_BODY events, usually of one app.
    let mut known: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for event in events {
        if event.info.device_id.is_empty() || event.info.app_id.is_empty() {
            continue;
        }
        // Events for apps this server does not know are acknowledged and dropped: storing them
        // would let anyone fill the disk, refusing them would make devices retry forever.
        let app_known = match known.get(&event.info.app_id) {
            Some(&answer) => answer,
            None => match state.cache().get(&event.info.app_id).await {
                Ok(found) => *known.entry(event.info.app_id.clone()).or_insert(found.is_some()),
                Err(error) => return AppError::from(error).into_response(),
            },
        };
        if app_known {
            records.push(record(event, now));
        }
    }
    if records.is_empty() {
        state.metrics().stats_acknowledged(0, received);
        return ok();
    }
    if let Err(limited) = state.limiter().check(client_ip(&state, &headers, peer)) {
        return limited.into_response();
    }
    let stored = records.len();
    match state.ingest().stats.submit(records).await {
        Ok(()) => {
            state.metrics().stats_acknowledged(stored, received - stored);
            ok()
        }
        Err(StatsRejected::Full) => AppError::Unavailable("stats queue is full; retry later".into()).into_response(),
        Err(StatsRejected::NotStored) => {
            AppError::Unavailable("stats could not be stored; retry later".into()).into_response()
        }
    }
}

fn ok() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

fn record(event: StatsEvent, now_ms: i64) -> DeviceEvent {
    DeviceEvent {
        metadata: (!event.metadata.is_empty())
            .then(|| serde_json::to_string(&event.metadata).expect("string map serializes")),
        app_id: event.info.app_id,
        device_id: event.info.device_id,
        action: event.action,
        version_name: event.version_name,
        old_version_name: event.old_version_name,
        platform: event.info.platform,
        native_version: event.info.version_build,
        plugin_version: event.info.plugin_version,
        device_ts_ms: event.timestamp_ms,
        received_ms: now_ms,
    }
}
