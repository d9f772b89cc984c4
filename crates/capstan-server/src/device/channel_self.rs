//! `{channelUrl}`: devices choosing their channel (protocol.md §4). Every verb takes the info
//! object as a JSON body or, when the body is empty, as a query string.
//!
//! Current plugins keep the chosen channel on the device and send it back as `defaultChannel`,
//! so for them the server only validates. Legacy plugins expect the server to remember it: only
//! for them is a device-sourced override stored (and removed on DELETE), because a stored
//! override wins over `defaultChannel` and would pin a current plugin forever.
//!
//! What legacy plugins store is bounded (settings `channel_self`): a choice that changes
//! nothing writes nothing; a device changes its channel at most once per
//! `device_change_interval_ms`; an address makes at most `writes_per_second` stored changes
//! (`writes_burst` saved up); an app keeps at most `max_overrides_per_app` device-chosen
//! channels. A stored change updates the cached app in place: nothing is reloaded.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use capstan_core::api::{DeviceOverride, OverrideSource};
use capstan_core::protocol::{DeviceInfo, MAX_CHANNEL_LEN, RefusalKind, cut, is_current_plugin};
use serde_json::{Map, Value, json};

use super::resolve::{ChannelSource, choose_channel, listable};
use super::{MAX_INFO_BODY, answer, client_ip, object_body, read_body, refusal};
use crate::AppState;
use crate::cache::AppSnapshot;
use crate::error::AppError;
use crate::ratelimit::Limited;

type QueryFields = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// The body's fields if there is a body, else the query string's.
#[allow(clippy::result_large_err, reason = "the error is the early answer itself, built at most once per request")]
fn fields(query: QueryFields, body: &[u8]) -> Result<Map<String, Value>, Response> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        return object_body(body);
    }
    let Query(pairs) = query.unwrap_or_default();
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// A request of set, get or unset, read: the fields, the device, its app and its address.
struct Opened {
    fields: Map<String, Value>,
    info: DeviceInfo<'static>,
    snapshot: Arc<AppSnapshot>,
    ip: IpAddr,
}

/// What set, get and unset all start with: the fields (body, else query string), the device
/// and its app, the per-address request limit; or the answer that ends the request.
async fn open(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: QueryFields,
    body: Body,
) -> Result<Opened, Response> {
    let bytes = read_body(state, headers, body, MAX_INFO_BODY).await?;
    let fields = fields(query, &bytes)?;
    let info = DeviceInfo::from_fields(&fields).into_owned();
    if let Err(missing) = info.check_required() {
        return Err(refusal("missing_info", RefusalKind::Failed, missing.to_string()));
    }
    let snapshot = match state.cache().get(&info.app_id).await {
        Ok(Some(snapshot)) => snapshot,
        Ok(None) => {
            return Err(refusal(
                "unknown_app",
                RefusalKind::Failed,
                format!("app `{}` is not registered", info.app_id),
            ));
        }
        Err(error) => return Err(AppError::from(error).into_response()),
    };
    let ip = client_ip(state, headers, peer);
    if let Err(limited) = state.limiter().check(ip) {
        return Err(limited.answer_held().await);
    }
    Ok(Opened { fields, info, snapshot, ip })
}

/// POST: `setChannel`.
pub async fn set(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: QueryFields,
    body: Body,
) -> Response {
    let Opened { fields, info, snapshot, ip } = match open(&state, peer, &headers, query, body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let name =
        fields.get("channel").and_then(Value::as_str).map(|s| cut(s.trim(), MAX_CHANNEL_LEN)).unwrap_or_default();
    let Some(channel) = snapshot.channel(&name) else {
        crate::metrics::outcome("channel_not_found");
        return Json(json!({ "error": "channel_not_found", "message": format!("no channel named `{name}`") }))
            .into_response();
    };
    if !channel.settings.allow_self_set {
        crate::metrics::outcome("channel_self_set_not_allowed");
        return Json(json!({ "error": "channel_self_set_not_allowed", "message": format!("channel `{name}` cannot be chosen by devices") }))
            .into_response();
    }
    if !is_current_plugin(&info.plugin_version)
        && let Err(response) = remember_choice(&state, ip, &info, &snapshot, channel.id).await
    {
        return response;
    }
    Json(json!({ "status": "ok", "allowSet": true })).into_response()
}

/// Stores a legacy device's channel choice within the `channel_self` bounds, and shows it to
/// the cached app at once.
async fn remember_choice(
    state: &AppState,
    ip: IpAddr,
    info: &DeviceInfo<'_>,
    snapshot: &AppSnapshot,
    channel_id: i64,
) -> Result<(), Response> {
    let limits = &state.config().channel_self;
    let now = state.now_ms();
    match snapshot.overrides.get(&info.device_id) {
        // Already so: nothing to write.
        Some(existing) if existing.channel_id == channel_id => return Ok(()),
        // An operator pinned this device on purpose: a device's choice does not replace it.
        Some(existing) if !OverrideSource::Device.may_replace(existing.source) => return Ok(()),
        Some(existing) => {
            let interval = i64::try_from(limits.device_change_interval_ms).unwrap_or(i64::MAX);
            let wait_ms = existing.set_at_ms.saturating_add(interval).saturating_sub(now);
            if wait_ms > 0 {
                let retry_after_secs = u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000).max(1);
                return Err(Limited { retry_after_secs }.answer_held().await);
            }
        }
        None if snapshot.overrides.from_devices() >= limits.max_overrides_per_app => {
            warn_full(&info.app_id, limits.max_overrides_per_app, now);
            return Err(Json(json!({
                "error": "channel_override_limit",
                "message": format!("this app keeps at most {} channels chosen by devices", limits.max_overrides_per_app),
            }))
            .into_response());
        }
        None => {}
    }
    if let Err(limited) = state.channel_writes().check(ip) {
        return Err(limited.answer_held().await);
    }
    let entry = DeviceOverride {
        app_id: info.app_id.to_string(),
        device_id: info.device_id.to_string(),
        channel_id,
        source: OverrideSource::Device,
        set_at_ms: now,
    };
    let stored = state.db().set_override(&entry, None).await.map_err(|e| AppError::from(e).into_response())?;
    state.cache().device_override_set(&info.app_id, &info.device_id, Some(stored));
    Ok(())
}

/// Logs that an app is full of device-chosen channels, at most once a minute.
fn warn_full(app_id: &str, max: usize, now_ms: i64) {
    static LAST_MS: AtomicI64 = AtomicI64::new(i64::MIN);
    let last = LAST_MS.load(Ordering::Relaxed);
    if now_ms.saturating_sub(last) >= 60_000
        && LAST_MS.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        tracing::warn!(
            app_id,
            max,
            "channel_self.max_overrides_per_app reached: new legacy setChannel calls are refused"
        );
    }
}

/// PUT: `getChannel`. Answers the channel the device really resolves to, since recent plugins
/// save whatever this returns.
pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: QueryFields,
    body: Body,
) -> Response {
    let Opened { info, snapshot, .. } = match open(&state, peer, &headers, query, body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    match choose_channel(&snapshot, &info) {
        Ok((channel, source)) => {
            let status = if source == ChannelSource::Default { "default" } else { "override" };
            Json(json!({ "channel": channel.name, "status": status, "allowSet": channel.settings.allow_self_set }))
                .into_response()
        }
        Err(refused) => answer(refused),
    }
}

/// GET: `listChannels`, a bare array of the channels this device may pick.
pub async fn list(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: QueryFields,
    body: Body,
) -> Response {
    let bytes = match read_body(&state, &headers, body, MAX_INFO_BODY).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let fields = match fields(query, &bytes) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let info = DeviceInfo::from_fields(&fields);
    // The plugin decodes a bare array: an unknown app or incomplete query lists nothing.
    let snapshot = match state.cache().get(&info.app_id).await {
        Ok(Some(snapshot)) => snapshot,
        Ok(None) => return Json(json!([])).into_response(),
        Err(error) => return AppError::from(error).into_response(),
    };
    if let Err(limited) = state.limiter().check(client_ip(&state, &headers, peer)) {
        return limited.answer_held().await;
    }
    let channels: Vec<Value> = snapshot
        .channels
        .iter()
        .filter(|c| listable(c, &info))
        .map(|c| json!({ "id": c.id, "name": c.name, "public": c.settings.public, "allow_self_set": c.settings.allow_self_set }))
        .collect();
    Json(Value::Array(channels)).into_response()
}

/// DELETE: legacy `unsetChannel`. Removes only what the device itself stored; each removal
/// counts against the address's stored-change limit.
pub async fn unset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: QueryFields,
    body: Body,
) -> Response {
    let Opened { info, ip, .. } = match open(&state, peer, &headers, query, body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if let Err(limited) = state.channel_writes().check(ip) {
        return limited.answer_held().await;
    }
    match state.db().clear_override(&info.app_id, &info.device_id, Some(OverrideSource::Device), None).await {
        Ok(removed) => {
            if removed {
                state.cache().device_override_set(&info.app_id, &info.device_id, None);
            }
            Json(json!({ "status": "ok" })).into_response()
        }
        Err(error) => AppError::from(error).into_response(),
    }
}
