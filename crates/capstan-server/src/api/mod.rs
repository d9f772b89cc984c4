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
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use self::apps::{AppDetail, CreateApp, UpdateApp};
use self::audit::AuditQuery;
use self::bundles::UploadParams;
use self::channels::{ChangeRollout, CreateChannel, Promote, Publish, Rollback, SettingsPatch, StartRollout};
use self::devices::{DeviceDetail, Removed, SetOverride};
use self::stats::{ActiveQuery, BundleHealth, ChannelAdoption, Timeline, TimelineQuery};
use self::tokens::{CreateToken, CreatedToken, Me};

use crate::AppState;
use crate::auth::Role;
use crate::error::AppError;
use crate::store::{
    App, AuditEntry, Bundle, Channel, DeviceFilter, DeviceOverride, DeviceRecord, HistoryEntry, NewAudit, TokenRecord,
};

/// Writes a type's schema into the generator and returns a reference to it: how the route
/// table names the Rust types a handler reads and writes without building schemas at compile time.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What a route reads from the request body.
#[derive(Debug, Clone, Copy)]
pub enum RequestBody {
    /// Nothing.
    None,
    /// JSON of this type.
    Json(SchemaFn),
    /// A raw zip, streamed (the bundle upload).
    Zip,
}

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
    /// The query string's type, if the handler reads one.
    pub query: Option<SchemaFn>,
    /// What the handler reads from the body.
    pub body: RequestBody,
    /// Success status: 200, or 201 for handlers that create.
    pub status: u16,
    /// The success answer's type (every route answers JSON).
    pub response: SchemaFn,
}

/// A route answering 200 with JSON of type `R`; chain [`RouteDoc::json`], [`RouteDoc::query`],
/// [`RouteDoc::created`] for the rest.
const fn route<R: JsonSchema>(method: &'static str, path: &'static str, role: Role, summary: &'static str) -> RouteDoc {
    RouteDoc {
        method,
        path,
        role: Some(role),
        summary,
        query: None,
        body: RequestBody::None,
        status: 200,
        response: schema_of::<R>,
    }
}

impl RouteDoc {
    /// The handler reads a JSON body of type `B`.
    const fn json<B: JsonSchema>(mut self) -> Self {
        self.body = RequestBody::Json(schema_of::<B>);
        self
    }

    /// The handler reads the raw body as a zip.
    const fn zip(mut self) -> Self {
        self.body = RequestBody::Zip;
        self
    }

    /// The handler reads query parameters of type `Q` (a flat struct).
    const fn query<Q: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<Q>);
        self
    }

    /// The handler answers 201 Created.
    const fn created(mut self) -> Self {
        self.status = 201;
        self
    }
}

/// Every management route, with the types its handler reads and answers: keep them in step with
/// the handlers' signatures (the server tests validate real answers against the document).
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "GET",
        path: "/api/v1/openapi.json",
        role: None,
        summary: "This OpenAPI document",
        query: None,
        body: RequestBody::None,
        status: 200,
        response: openapi::document_schema,
    },
    route::<Me>("GET", "/api/v1/me", Role::Viewer, "The calling token's name and role"),
    route::<Vec<App>>("GET", "/api/v1/apps", Role::Viewer, "List apps"),
    route::<App>("POST", "/api/v1/apps", Role::Admin, "Create an app with its public default channel `production`")
        .json::<CreateApp>()
        .created(),
    route::<AppDetail>("GET", "/api/v1/apps/{app}", Role::Viewer, "Show an app"),
    route::<App>("PATCH", "/api/v1/apps/{app}", Role::Admin, "Change an app's settings").json::<UpdateApp>(),
    route::<Vec<Bundle>>("GET", "/api/v1/apps/{app}/bundles", Role::Viewer, "List bundles"),
    route::<Bundle>("POST", "/api/v1/apps/{app}/bundles", Role::Publisher, "Upload a bundle (raw zip body, streaming)")
        .query::<UploadParams>()
        .zip()
        .created(),
    route::<Bundle>("GET", "/api/v1/apps/{app}/bundles/{version}", Role::Viewer, "Show a bundle"),
    route::<Bundle>(
        "DELETE",
        "/api/v1/apps/{app}/bundles/{version}",
        Role::Publisher,
        "Delete a bundle no channel uses",
    ),
    route::<Vec<Channel>>("GET", "/api/v1/apps/{app}/channels", Role::Viewer, "List channels"),
    route::<Channel>("POST", "/api/v1/apps/{app}/channels", Role::Publisher, "Create a channel")
        .json::<CreateChannel>()
        .created(),
    route::<Channel>("GET", "/api/v1/apps/{app}/channels/{channel}", Role::Viewer, "Show a channel"),
    route::<Channel>("PATCH", "/api/v1/apps/{app}/channels/{channel}", Role::Publisher, "Change a channel's settings")
        .json::<SettingsPatch>(),
    route::<Channel>(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/publish",
        Role::Publisher,
        "Point a channel at a bundle or the store build",
    )
    .json::<Publish>(),
    route::<Channel>(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/rollout",
        Role::Publisher,
        "Start a percentage rollout",
    )
    .json::<StartRollout>(),
    route::<Channel>(
        "PATCH",
        "/api/v1/apps/{app}/channels/{channel}/rollout",
        Role::Publisher,
        "Change a rollout's percentage",
    )
    .json::<ChangeRollout>(),
    route::<Channel>("DELETE", "/api/v1/apps/{app}/channels/{channel}/rollout", Role::Publisher, "Abort a rollout"),
    route::<Channel>(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/rollout/finish",
        Role::Publisher,
        "Finish a rollout: its bundle becomes the target",
    ),
    route::<Channel>(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/promote",
        Role::Publisher,
        "Copy this channel's target to another channel",
    )
    .json::<Promote>(),
    route::<Channel>(
        "POST",
        "/api/v1/apps/{app}/channels/{channel}/rollback",
        Role::Publisher,
        "Roll back to the previous target or the store build",
    )
    .json::<Rollback>(),
    route::<Vec<HistoryEntry>>(
        "GET",
        "/api/v1/apps/{app}/channels/{channel}/history",
        Role::Viewer,
        "A channel's change history",
    ),
    route::<Vec<DeviceRecord>>("GET", "/api/v1/apps/{app}/devices", Role::Viewer, "Search devices")
        .query::<DeviceFilter>(),
    route::<DeviceDetail>(
        "GET",
        "/api/v1/apps/{app}/devices/{device}",
        Role::Viewer,
        "A device with its override and event timeline",
    ),
    route::<DeviceOverride>(
        "PUT",
        "/api/v1/apps/{app}/devices/{device}/override",
        Role::Qa,
        "Pin a device to a channel",
    )
    .json::<SetOverride>(),
    route::<Removed>(
        "DELETE",
        "/api/v1/apps/{app}/devices/{device}/override",
        Role::Qa,
        "Remove a device's channel override",
    ),
    route::<Vec<BundleHealth>>(
        "GET",
        "/api/v1/apps/{app}/stats/bundles",
        Role::Viewer,
        "Installs, failures, rollbacks and active devices per bundle",
    )
    .query::<ActiveQuery>(),
    route::<Vec<ChannelAdoption>>("GET", "/api/v1/apps/{app}/stats/channels", Role::Viewer, "Adoption per channel")
        .query::<ActiveQuery>(),
    route::<Timeline>("GET", "/api/v1/apps/{app}/stats/timeline", Role::Viewer, "Events per time bucket and action")
        .query::<TimelineQuery>(),
    route::<Vec<AuditEntry>>("GET", "/api/v1/audit", Role::Viewer, "The audit log").query::<AuditQuery>(),
    route::<Vec<TokenRecord>>("GET", "/api/v1/tokens", Role::Admin, "List tokens"),
    route::<CreatedToken>("POST", "/api/v1/tokens", Role::Admin, "Create a token (shown once)")
        .json::<CreateToken>()
        .created(),
    route::<TokenRecord>("DELETE", "/api/v1/tokens/{id}", Role::Admin, "Revoke a token"),
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
