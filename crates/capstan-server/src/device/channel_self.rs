//! `{channelUrl}`: devices choosing their channel (protocol.md §4). Every verb takes the info
//! object as a JSON body or, when the body is empty, as a query string.
//!
//! Current plugins keep the chosen channel on the device and send it back as `defaultChannel`,
//! so for them the server only validates. Legacy plugins expect the server to remember it: only
//! for them is a device-sourced override stored (and removed on DELETE), because a stored
//! override wins over `defaultChannel` and would pin a current plugin forever.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use capstan_core::protocol::{DeviceInfo, MAX_CHANNEL_LEN, RefusalKind, cut, is_current_plugin};
use serde_json::{Map, Value, json};

use super::resolve::{ChannelSource, choose_channel, listable};
use super::{answer, client_ip, object_body, refusal};
use crate::AppState;
use crate::cache::AppSnapshot;
use crate::error::AppError;
use capstan_core::api::{DeviceOverride, OverrideSource};

type QueryFields = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// Body if there is one, else the query string.
#[allow(clippy::result_large_err, reason = "the error is the early answer itself, built at most once per request")]
fn fields(query: QueryFields, body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, Response> {
    let empty_body = matches!(&body, Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace));
    if !empty_body {
        return object_body(body);
    }
    let Query(pairs) = query.unwrap_or_default();
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// Reads the request and finds the app, or the answer that ends the request.
async fn device_and_app(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    fields: &Map<String, Value>,
) -> Result<(DeviceInfo, Arc<AppSnapshot>), Response> {
    let info = DeviceInfo::from_fields(fields);
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
    state.limiter().check(client_ip(state, headers, peer)).map_err(IntoResponse::into_response)?;
    Ok((info, snapshot))
}

/// What set, get and unset all start with: the fields (body, else query string), the device
/// and its app; or the answer that ends the request.
async fn open(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: QueryFields,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Map<String, Value>, DeviceInfo, Arc<AppSnapshot>), Response> {
    let fields = fields(query, body)?;
    let (info, snapshot) = device_and_app(state, peer, headers, &fields).await?;
    Ok((fields, info, snapshot))
}

/// POST: `setChannel`.
pub async fn set(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: QueryFields,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (fields, info, snapshot) = match open(&state, peer, &headers, query, body).await {
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
    if !is_current_plugin(&info.plugin_version) {
        let entry = DeviceOverride {
            app_id: info.app_id.clone(),
            device_id: info.device_id.clone(),
            channel_id: channel.id,
            source: OverrideSource::Device,
            set_at_ms: state.now_ms(),
        };
        if let Err(error) = state.db().set_override(&entry, None).await {
            return AppError::from(error).into_response();
        }
        state.cache().invalidate(&info.app_id);
    }
    Json(json!({ "status": "ok", "allowSet": true })).into_response()
}

/// PUT: `getChannel`. Answers the channel the device really resolves to, since recent plugins
/// save whatever this returns.
pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: QueryFields,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (_, info, snapshot) = match open(&state, peer, &headers, query, body).await {
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
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let fields = match fields(query, body) {
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
        return limited.into_response();
    }
    let channels: Vec<Value> = snapshot
        .channels
        .iter()
        .filter(|c| listable(c, &info))
        .map(|c| json!({ "id": c.id, "name": c.name, "public": c.settings.public, "allow_self_set": c.settings.allow_self_set }))
        .collect();
    Json(Value::Array(channels)).into_response()
}

/// DELETE: legacy `unsetChannel`.
pub async fn unset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: QueryFields,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (_, info, _) = match open(&state, peer, &headers, query, body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    match state.db().clear_override(&info.app_id, &info.device_id, Some(OverrideSource::Device), None).await {
        Ok(removed) => {
            if removed {
                state.cache().invalidate(&info.app_id);
            }
            Json(json!({ "status": "ok" })).into_response()
        }
        Err(error) => AppError::from(error).into_response(),
    }
}
