//! The unauthenticated endpoints the device plugin calls (docs/device-protocol.md).
//!
//! Business outcomes are HTTP 200 with a `kind`; HTTP errors are kept for bodies that are not
//! requests at all (400), rate limits (429) and overload (503, which the plugin retries).

pub mod answers;
pub mod channel_self;
pub mod download;
pub mod resolve;
pub mod stats;
pub mod updates;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use capstan_core::protocol::{RefusalKind, UpdateAnswer};
use futures_util::FutureExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value, json};

use crate::AppState;

/// Largest `/updates` and `/channel_self` body: an info object is well under 2 KiB.
pub const MAX_INFO_BODY: usize = 64 * 1024;
/// Largest `/stats` body: 200 events of a few hundred bytes each, with room to spare.
pub const MAX_STATS_BODY: usize = 2 * 1024 * 1024;

/// Device routes. Each handler reads its body itself ([`read_body`]): with a size limit, a
/// deadline, and only after the checks that can refuse the request without it.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/updates", post(updates::updates))
        .route("/stats", post(stats::stats))
        .route(
            "/channel_self",
            post(channel_self::set).put(channel_self::get).get(channel_self::list).delete(channel_self::unset),
        )
        .route("/dl/{*key}", get(download::download))
}

/// The address a request counts against for rate limits and budgets.
pub fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    state.client_address().of(headers, peer)
}

/// The body's declared size, when the request has a readable `Content-Length`.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Reads a device request's body: at most `limit` bytes, all of it within the body deadline
/// (`connections.body_timeout_ms`). The error is the answer: 413 over the limit (known from
/// `Content-Length` before reading), 408 too slow (the plugin retries), 400 unreadable.
pub async fn read_body(state: &AppState, headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Response> {
    if declared_length(headers).is_some_and(|length| length > limit as u64) {
        return Err(invalid_body(true, "request body too large"));
    }
    let mut collect = std::pin::pin!(Limited::new(body, limit).collect());
    // A small body usually arrived with the head: then no timer is armed at all.
    let collected = match collect.as_mut().now_or_never() {
        Some(collected) => collected,
        None => {
            let deadline = Duration::from_millis(state.config().connections.body_timeout_ms.max(1));
            match tokio::time::timeout(deadline, collect).await {
                Ok(collected) => collected,
                Err(_) => return Err(body_timeout()),
            }
        }
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(invalid_body(true, "request body too large")),
        Err(_) => Err(invalid_body(false, "cannot read request body")),
    }
}

/// 408 for a body that did not arrive in time; the connection is closed after it.
fn body_timeout() -> Response {
    let body = json!({ "error": "request_timeout", "message": "the request body did not arrive in time" });
    let mut response = (StatusCode::REQUEST_TIMEOUT, Json(body)).into_response();
    response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    response
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
pub fn object_body(bytes: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(bytes) {
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
    answer_kept(answer, None)
}

/// [`answer`], with the bytes of an equal answer already written when the caller has them
/// ([`answers`]).
pub fn answer_kept(answer: UpdateAnswer, kept: Option<Bytes>) -> Response {
    crate::metrics::outcome(match &answer {
        UpdateAnswer::Offer(_) => "update",
        UpdateAnswer::Builtin { .. } => "builtin",
        UpdateAnswer::Refusal(refusal) => refusal.error,
    });
    let json = kept.or_else(|| answers::fixed(&answer)).unwrap_or_else(|| answers::to_json(&answer));
    answers::json_response(json)
}
