//! `POST /updates`: the hot path. One cached snapshot read, one pure resolution, one in-memory
//! record of the device; no database access in the usual case.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use capstan_core::protocol::{DeviceInfo, RefusalKind};

use super::{answer, client_ip, invalid_body, refusal, resolve};
use crate::AppState;
use crate::error::AppError;
use capstan_core::api::DeviceRecord;

/// The handler.
pub async fn updates(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body {
        Ok(bytes) => bytes,
        Err(rejection) => {
            let too_large = rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
            return invalid_body(too_large, "cannot read request body");
        }
    };
    // Read flat from the bytes (no JSON tree): this runs for every device, many times a day.
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
    if let Err(limited) = state.limiter().check(client_ip(&state, &headers, peer)) {
        return limited.into_response();
    }
    let resolution = resolve::resolve(&snapshot, &info, state.base_url());
    state.ingest().devices.record(device_record(&info, resolution.channel, state.now_ms()));
    answer(resolution.answer)
}

/// What the device told us, as stored.
pub fn device_record(info: &DeviceInfo, channel: Option<String>, now_ms: i64) -> DeviceRecord {
    DeviceRecord {
        app_id: info.app_id.clone(),
        device_id: info.device_id.clone(),
        custom_id: info.custom_id.clone(),
        platform: info.platform.clone(),
        native_version: info.version_build.clone(),
        bundle_version: info.version_name.clone(),
        plugin_version: info.plugin_version.clone(),
        os_version: info.version_os.clone(),
        is_prod: info.is_prod,
        is_emulator: info.is_emulator,
        channel,
        key_id: info.key_id.clone(),
        first_seen_ms: now_ms,
        last_seen_ms: now_ms,
    }
}
