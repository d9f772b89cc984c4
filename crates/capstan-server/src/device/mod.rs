//! The unauthenticated endpoints the device plugin calls (docs/device-protocol.md).
//!
//! Business outcomes are HTTP 200 with a `kind`; HTTP errors are kept for bodies that are not
//! requests at all (400), rate limits (429) and overload (503, which the plugin retries).

pub mod channel_self;
pub mod download;
pub mod resolve;
pub mod stats;
pub mod updates;

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use capstan_core::protocol::{RefusalKind, UpdateAnswer};
use serde_json::{Map, Value, json};

use crate::AppState;

/// Largest `/updates` and `/channel_self` body: an info object is well under 2 KiB.
pub const MAX_INFO_BODY: usize = 64 * 1024;
/// Largest `/stats` body: 200 events of a few hundred bytes each, with room to spare.
pub const MAX_STATS_BODY: usize = 2 * 1024 * 1024;

/// Device routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/updates", post(updates::updates).layer(DefaultBodyLimit::max(MAX_INFO_BODY)))
        .route("/stats", post(stats::stats).layer(DefaultBodyLimit::max(MAX_STATS_BODY)))
        .route(
            "/channel_self",
            post(channel_self::set)
                .put(channel_self::get)
                .get(channel_self::list)
                .delete(channel_self::unset)
                .layer(DefaultBodyLimit::max(MAX_INFO_BODY)),
        )
        .route("/dl/{*key}", get(download::download))
}

/// The address a request counts against for rate limiting.
pub fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    state
        .config()
        .rate_limit
        .client_ip_header
        .as_deref()
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .and_then(|first| first.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// 400 `invalid_json_body`, or 413 for a body over the limit.
pub fn invalid_body(too_large: bool, message: &str) -> Response {
    let status = if too_large { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
    let error = if too_large { "payload_too_large" } else { "invalid_json_body" };
    crate::metrics::outcome(error);
    (status, Json(json!({ "error": error, "message": message }))).into_response()
}

/// Reads a body that must be a JSON object.
#[allow(clippy::result_large_err, reason = "the error is the early answer itself, built at most once per request")]
pub fn object_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Map<String, Value>, Response> {
    let bytes = body.map_err(|rejection| {
        let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
        invalid_body(too_large, if too_large { "request body too large" } else { "cannot read request body" })
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(invalid_body(false, "expected the device info object")),
        Err(_) => Err(invalid_body(false, "body is not valid JSON")),
    }
}

/// A 200 refusal answer.
pub fn refusal(error: &'static str, kind: RefusalKind, message: impl Into<String>) -> Response {
    answer(UpdateAnswer::refusal(error, kind, message))
}

/// A 200 answer of `/updates` (or `getChannel`'s refusal), counted by what it tells the device:
/// `update` (download this bundle), `builtin` (go back to the store build), or the refusal's code
/// (`no_new_version_available` when up to date).
pub fn answer(answer: UpdateAnswer) -> Response {
    crate::metrics::outcome(match &answer {
        UpdateAnswer::Offer(_) => "update",
        UpdateAnswer::Builtin { .. } => "builtin",
        UpdateAnswer::Refusal(refusal) => refusal.error,
    });
    Json(answer).into_response()
}
