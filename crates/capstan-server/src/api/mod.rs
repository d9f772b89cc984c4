//! The management API under `/api/v1`: JSON, bearer tokens, roles (see [`crate::auth`]).
//!
//! Every write reads fresh state from the database (not the device cache), saves it in one
//! transaction with its audit entry, then invalidates the app's cached configuration.

pub mod apps;
pub mod audit;
pub mod bundles;
pub mod channels;
pub mod devices;
pub mod openapi;
pub mod stats;
pub mod tokens;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::Role;
use crate::error::AppError;
use crate::store::NewAudit;

/// One documented route: the OpenAPI document and the role-matrix test both read this table.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// HTTP method.
    pub method: &'static str,
    /// Path with `{params}`.
    pub path: &'static str,
    /// Weakest role allowed; `None` for public routes.
    pub role: Option<Role>,
    /// What it does.
    pub summary: &'static str,
}

const fn route(method: &'static str, path: &'static str, role: Role, summary: &'static str) -> RouteDoc {
    RouteDoc { method, path, role: Some(role), summary }
}

/// Every management route.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc { method: "GET", path: "/api/v1/openapi.json", role: None, summary: "This OpenAPI document" },
    route("GET", "/api/v1/me", Role::Viewer, "The calling token's name and role"),
    route("GET", "/api/v1/apps", Role::Viewer, "List apps"),
    route("POST", "/api/v1/apps", Role::Admin, "Create an app with its public default channel `production`"),
    route("GET", "/api/v1/apps/{app}", Role::Viewer, "Show an app"),
    route("PATCH", "/api/v1/apps/{app}", Role::Admin, "Change an app's settings"),
    route("GET", "/api/v1/apps/{app}/bundles", Role::Viewer, "List bundles"),
    route("POST", "/api/v1/apps/{app}/bundles", Role::Publisher, "Upload a bundle (raw zip body, streaming)"),
    route("GET", "/api/v1/apps/{app}/bundles/{version}", Role::Viewer, "Show a bundle"),
    route("DELETE", "/api/v1/apps/{app}/bundles/{version}", Role::Publisher, "Delete a bundle no channel uses"),
    route("GET", "/api/v1/apps/{app}/channels", Role::Viewer, "List channels"),
    route("POST", "/api/v1/apps/{app}/channels", Role::Publisher, "Create a channel"),
    route("GET", "/api/v1/apps/{app}/channels/{channel}", Role::Viewer, "Show a channel"),
    route("PATCH", "/api/v1/apps/{app}/channels/{channel}", Role::Publisher, "Change a channel's settings"),
    route(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/publish",
        Role::Publisher,
        "Point a channel at a bundle or the store build",
    ),
    route("POST", "/api/v1/apps/{app}/channels/{channel}/rollout", Role::Publisher, "Start a percentage rollout"),
    route("PATCH", "/api/v1/apps/{app}/channels/{channel}/rollout", Role::Publisher, "Change a rollout's percentage"),
    route("DELETE", "/api/v1/apps/{app}/channels/{channel}/rollout", Role::Publisher, "Abort a rollout"),
    route(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/rollout/finish",
        Role::Publisher,
        "Finish a rollout: its bundle becomes the target",
    ),
    route(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/promote",
        Role::Publisher,
        "Copy this channel's target to another channel",
    ),
    route(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/rollback",
        Role::Publisher,
        "Roll back to the previous target or the store build",
    ),
    route("GET", "/api/v1/apps/{app}/channels/{channel}/history", Role::Viewer, "A channel's change history"),
    route("GET", "/api/v1/apps/{app}/devices", Role::Viewer, "Search devices"),
    route("GET", "/api/v1/apps/{app}/devices/{device}", Role::Viewer, "A device with its override and event timeline"),
    route("PUT", "/api/v1/apps/{app}/devices/{device}/override", Role::Qa, "Pin a device to a channel"),
    route("DELETE", "/api/v1/apps/{app}/devices/{device}/override", Role::Qa, "Remove a device's channel override"),
    route(
        "GET",
        "/api/v1/apps/{app}/stats/bundles",
        Role::Viewer,
        "Installs, failures, rollbacks and active devices per bundle",
    ),
    route("GET", "/api/v1/apps/{app}/stats/channels", Role::Viewer, "Adoption per channel"),
    route("GET", "/api/v1/apps/{app}/stats/timeline", Role::Viewer, "Events per time bucket and action"),
    route("GET", "/api/v1/audit", Role::Viewer, "The audit log"),
    route("GET", "/api/v1/tokens", Role::Admin, "List tokens"),
    route("POST", "/api/v1/tokens", Role::Admin, "Create a token (shown once)"),
    route("DELETE", "/api/v1/tokens/{id}", Role::Admin, "Revoke a token"),
];

/// Management routes.
pub fn routes() -> Router<AppState> {
    use axum::routing::{delete, put};
    let app = "/api/v1/apps/{app}";
    let channel = "/api/v1/apps/{app}/channels/{channel}";
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/me", get(tokens::me))
        .route("/api/v1/apps", get(apps::list).post(apps::create))
        .route(app, get(apps::show).patch(apps::update))
        .route(&format!("{app}/bundles"), get(bundles::list).post(bundles::upload).layer(DefaultBodyLimit::disable()))
        .route(&format!("{app}/bundles/{{version}}"), get(bundles::show).delete(bundles::remove))
        .route(&format!("{app}/channels"), get(channels::list).post(channels::create))
        .route(channel, get(channels::show).patch(channels::update))
        .route(&format!("{channel}/publish"), post(channels::publish))
        .route(
            &format!("{channel}/rollout"),
            post(channels::rollout_start).patch(channels::rollout_change).delete(channels::rollout_abort),
        )
        .route(&format!("{channel}/rollout/finish"), post(channels::rollout_finish))
        .route(&format!("{channel}/promote"), post(channels::promote))
        .route(&format!("{channel}/rollback"), post(channels::rollback))
        .route(&format!("{channel}/history"), get(channels::history))
        .route(&format!("{app}/devices"), get(devices::search))
        .route(&format!("{app}/devices/{{device}}"), get(devices::show))
        .route(
            &format!("{app}/devices/{{device}}/override"),
            put(devices::set_override).delete(devices::clear_override),
        )
        .route(&format!("{app}/stats/bundles"), get(stats::bundles))
        .route(&format!("{app}/stats/channels"), get(stats::channels))
        .route(&format!("{app}/stats/timeline"), get(stats::timeline))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
        .fallback(|| async { AppError::NotFound("route".into()) })
        .layer(DefaultBodyLimit::max(256 * 1024))
        .route_layer(axum::middleware::from_fn(no_store))
}

/// Management answers carry state that changes: no intermediary may cache them.
async fn no_store(request: Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

/// A JSON body whose rejection is an [`AppError`] (so malformed JSON is a 400 in our shape).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AppError::TooLarge { limit: 256 * 1024 })
            }
            Err(rejection) => Err(AppError::bad_request("invalid_json", rejection.body_text())),
        }
    }
}

/// An audit entry for a change by `actor`.
pub fn audit(
    state: &AppState,
    actor: String,
    app_id: Option<&str>,
    action: &str,
    subject: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> NewAudit {
    NewAudit {
        actor,
        app_id: app_id.map(str::to_owned),
        action: action.to_owned(),
        subject: subject.to_owned(),
        before,
        after,
        at_ms: state.now_ms(),
    }
}

/// Serializes for the audit log.
pub fn snapshot_of<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Checks a name used in URLs and keys: app ids, channel names.
pub fn check_name(kind: &'static str, name: &str, max: usize) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "invalid_name",
            format!("{kind} must be 1–{max} characters of letters, digits, `.`, `_`, `-`"),
        ))
    }
}

/// Loads an app or 404.
pub async fn require_app(state: &AppState, app_id: &str) -> Result<crate::store::App, AppError> {
    state.db().get_app(app_id).await?.ok_or_else(|| AppError::NotFound(format!("app `{app_id}`")))
}
