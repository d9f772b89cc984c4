//! `POST /updates`: the hot path. One cached snapshot read, one pure resolution, one in-memory
//! record of the device; no database access in the usual case.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use capstan_core::protocol::{DeviceInfo, RefusalKind, UpdateAnswer};

use super::{MAX_INFO_BODY, answer_kept, client_ip, invalid_body, read_body, refusal, resolve};
use crate::AppState;
use crate::error::AppError;
use crate::ingest::Sighting;

/// The handler.
pub async fn updates(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    // Taken apart rather than extracted as `HeaderMap` (which clones every header).
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let bytes = match read_body(&state, headers, body, MAX_INFO_BODY).await {
        Ok(bytes) => bytes,
        Err(answer) => return answer,
    };
    // Typed and borrowed from the bytes (no JSON tree, no copies of text that is only
    // compared): this runs for every device, many times a day.
    let Ok(info) = DeviceInfo::from_json_slice(&bytes) else {
        return invalid_body(false, "expected the device info object as JSON");
    };
    if let Err(missing) = info.check_required() {
        return refusal("missing_info", RefusalKind::Failed, missing.to_string());
    }
    let snapshot = match state.cache().get(&info.app_id).await {
        Ok(Some(snapshot)) => snapshot,
        // Never 429 here: legacy plugins go quiet until restart after one.
        Ok(None) => {
            return refusal("unknown_app", RefusalKind::Failed, format!("app `{}` is not registered", info.app_id));
        }
        Err(error) => return AppError::from(error).into_response(),
    };
    if let Err(limited) = state.limiter().check(client_ip(&state, headers, peer)) {
        return limited.answer_held().await;
    }
    let mut resolution = resolve::resolve(&snapshot, &info, state.base_url());
    let presigned = state.links().presigned();
    if let UpdateAnswer::Offer(offer) = &mut resolution.answer
        && presigned
        && let Some(stored) = snapshot.bundles.get(&offer.version)
        && let Some(url) = state.links().presigned_url(state.blobs(), &stored.blob_key).await
    {
        offer.url = url;
    }
    state.ingest().devices.record(&sighting(&info, resolution.channel, state.now_ms()));
    // A presigned URL is new for each answer: such offers are not kept.
    let kept = if presigned { None } else { snapshot.offers.get(&resolution.answer) };
    answer_kept(resolution.answer, kept)
}

/// What the device told us, as it is stored.
pub fn sighting<'a>(info: &'a DeviceInfo<'_>, channel: Option<&'a str>, now_ms: i64) -> Sighting<'a> {
    Sighting {
        app_id: &info.app_id,
        device_id: &info.device_id,
        custom_id: &info.custom_id,
        platform: &info.platform,
        native_version: &info.version_build,
        bundle_version: &info.version_name,
        plugin_version: &info.plugin_version,
        os_version: &info.version_os,
        is_prod: info.is_prod,
        is_emulator: info.is_emulator,
        channel,
        key_id: info.key_id.as_deref(),
        requested_channel: info.default_channel.as_deref(),
        on_builtin: info.on_builtin,
        seen_ms: now_ms,
    }
}
