//! The management API under `/api/v1`: JSON, bearer tokens, roles (see [`crate::auth`]).
//!
//! Every route is declared once, in [`table`]: method, path, role, summary, the types its
//! handler reads and answers, and the handler. The router, the role checks and the OpenAPI
//! document all come from that declaration, so a route cannot be served without being
//! documented, or documented with another role than it enforces.
//!
//! Every write reads fresh state from the database (not the device cache), saves it in one
//! transaction with its audit entry, then invalidates the app's cached configuration.

pub mod apps;
pub mod audit;
pub mod bundles;
pub mod channels;
pub mod devices;
pub mod encrypted_files;
pub mod openapi;
pub mod preview;
pub mod rollouts;
pub mod signing;
pub mod stats;
pub mod tokens;
pub mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};
use capstan_core::api::{
    ActiveQuery, App, AppDetail, AppSigning, AuditEntry, AuditQuery, Bundle, BundleDownload, BundleHealth,
    ChangeRollout, Channel, ChannelAdoption, CreateApp, CreateChannel, CreatePlan, CreateToken, CreatedToken,
    DeviceDetail, DeviceFilter, DeviceOverride, DeviceRecord, EncryptedFiles, HistoryEntry, KeyCoverage, LaneQuery, Me,
    PlanView, Preview, PreviewRequest, Promote, Publish, RegisterKey, ReleaseHealth, Removed, Rollback,
    SchedulePublish, ScheduledPublish, SetOverride, SettingsPatch, SigningKeyRecord, StartRollout, Timeline,
    TimelineQuery, TokenRecord, UpdateApp, UpdateSigning, UploadParams,
};
use capstan_core::api::{CreateWebhook, CreatedWebhook, DeliveryQuery, Webhook, WebhookDelivery};
use capstan_core::native::NativeFingerprint;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::Role;
use crate::error::AppError;
use crate::store::NewAudit;

/// Largest JSON body a management route reads.
const MAX_JSON_BODY: usize = 256 * 1024;

/// Writes a type's schema into the generator and returns a reference to it: how a route names
/// the Rust types its handler reads and writes without building schemas up front.
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
    /// A raw zip, streamed (the bundle upload; no body limit but the server's bundle size).
    Zip,
}

/// What the route table knows of one route, besides its handler.
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
fn route<R: JsonSchema>(method: &'static str, path: &'static str, role: Role, summary: &'static str) -> RouteDoc {
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
    fn json<B: JsonSchema>(mut self) -> Self {
        self.body = RequestBody::Json(schema_of::<B>);
        self
    }

    /// The handler reads the raw body as a zip.
    fn zip(mut self) -> Self {
        self.body = RequestBody::Zip;
        self
    }

    /// The handler reads query parameters of type `Q` (a flat struct).
    fn query<Q: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<Q>);
        self
    }

    /// The handler answers 201 Created.
    fn created(mut self) -> Self {
        self.status = 201;
        self
    }

    fn method_filter(&self) -> MethodFilter {
        match self.method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("route table: unsupported method {other}"),
        }
    }
}

/// The management routes: their documentation and the router serving them, built together.
pub struct RouteTable {
    docs: Vec<RouteDoc>,
    router: Router<AppState>,
}

impl RouteTable {
    fn new() -> Self {
        RouteTable { docs: Vec::new(), router: Router::new() }
    }

    /// Declares a route: `doc` says what it is, `handler` serves it behind the role check.
    fn add<H, T>(mut self, doc: RouteDoc, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let mut method_router = on(doc.method_filter(), handler);
        if matches!(doc.body, RequestBody::Zip) {
            method_router = method_router.layer(DefaultBodyLimit::disable());
        }
        if let Some(role) = doc.role {
            method_router = method_router
                .route_layer(axum::middleware::from_fn(move |request, next| crate::auth::require(role, request, next)));
        }
        self.router = self.router.route(doc.path, method_router);
        self.docs.push(doc);
        self
    }

    /// Every route's documentation, in declaration order.
    pub fn docs(&self) -> &[RouteDoc] {
        &self.docs
    }
}

/// Every management route.
pub fn table() -> RouteTable {
    let openapi = RouteDoc {
        method: "GET",
        path: "/api/v1/openapi.json",
        role: None,
        summary: "This OpenAPI document",
        query: None,
        body: RequestBody::None,
        status: 200,
        response: openapi::document_schema,
    };
    RouteTable::new()
        .add(openapi, openapi::document)
        .add(route::<Me>("GET", "/api/v1/me", Role::Viewer, "The calling token's name and role"), tokens::me)
        .add(route::<Vec<App>>("GET", "/api/v1/apps", Role::Viewer, "List apps"), apps::list)
        .add(
            route::<App>(
                "POST",
                "/api/v1/apps",
                Role::Admin,
                "Create an app with its public default channel `production`",
            )
            .json::<CreateApp>()
            .created(),
            apps::create,
        )
        .add(route::<AppDetail>("GET", "/api/v1/apps/{app}", Role::Viewer, "Show an app"), apps::show)
        .add(
            route::<App>("PATCH", "/api/v1/apps/{app}", Role::Admin, "Change an app's settings").json::<UpdateApp>(),
            apps::update,
        )
        .add(route::<Vec<Bundle>>("GET", "/api/v1/apps/{app}/bundles", Role::Viewer, "List bundles"), bundles::list)
        .add(
            route::<Bundle>(
                "POST",
                "/api/v1/apps/{app}/bundles",
                Role::Publisher,
                "Upload a bundle (raw zip body, streaming)",
            )
            .query::<UploadParams>()
            .zip()
            .created(),
            bundles::upload,
        )
        .add(
            route::<Bundle>("GET", "/api/v1/apps/{app}/bundles/{version}", Role::Viewer, "Show a bundle"),
            bundles::show,
        )
        .add(
            route::<BundleDownload>(
                "GET",
                "/api/v1/apps/{app}/bundles/{version}/download",
                Role::Viewer,
                "The URL devices download a bundle from",
            ),
            bundles::download,
        )
        .add(
            route::<AppSigning>(
                "GET",
                "/api/v1/apps/{app}/signing",
                Role::Viewer,
                "An app's registered public keys and its \"require signed bundles\" rule",
            ),
            signing::show,
        )
        .add(
            route::<AppSigning>(
                "PATCH",
                "/api/v1/apps/{app}/signing",
                Role::Admin,
                "Require signed bundles, or stop requiring them (refused while a channel serves an unsigned bundle)",
            )
            .json::<UpdateSigning>(),
            signing::update,
        )
        .add(
            route::<SigningKeyRecord>(
                "POST",
                "/api/v1/apps/{app}/signing/keys",
                Role::Admin,
                "Register a public key (PKCS#1 PEM, RSA-2048): bundles signed with its private half are accepted",
            )
            .json::<RegisterKey>()
            .created(),
            signing::register_key,
        )
        .add(
            route::<SigningKeyRecord>(
                "DELETE",
                "/api/v1/apps/{app}/signing/keys/{key_id}",
                Role::Admin,
                "Remove a registered public key",
            ),
            signing::remove_key,
        )
        .add(
            route::<KeyCoverage>(
                "GET",
                "/api/v1/apps/{app}/signing/coverage",
                Role::Viewer,
                "Which keys the active devices trust, per native version",
            )
            .query::<ActiveQuery>(),
            signing::coverage,
        )
        .add(
            route::<Bundle>(
                "DELETE",
                "/api/v1/apps/{app}/bundles/{version}",
                Role::Publisher,
                "Delete a bundle no channel uses",
            ),
            bundles::remove,
        )
        .add(
            route::<Bundle>(
                "PUT",
                "/api/v1/apps/{app}/bundles/{version}/encrypted-files",
                Role::Publisher,
                "Attach the signed per-file hashes of an encrypted bundle (once), so devices can get it file by file",
            )
            .json::<EncryptedFiles>(),
            encrypted_files::attach,
        )
        .add(
            route::<Bundle>(
                "PUT",
                "/api/v1/apps/{app}/bundles/{version}/native",
                Role::Publisher,
                "Record the native fingerprint of a bundle's Capacitor project (once)",
            )
            .json::<NativeFingerprint>(),
            bundles::set_native,
        )
        .add(
            route::<NativeFingerprint>(
                "GET",
                "/api/v1/apps/{app}/bundles/{version}/native",
                Role::Viewer,
                "A bundle's native fingerprint",
            ),
            bundles::native,
        )
        .add(route::<Vec<Channel>>("GET", "/api/v1/apps/{app}/channels", Role::Viewer, "List channels"), channels::list)
        .add(
            route::<Channel>("POST", "/api/v1/apps/{app}/channels", Role::Publisher, "Create a channel")
                .json::<CreateChannel>()
                .created(),
            channels::create,
        )
        .add(
            route::<Channel>("GET", "/api/v1/apps/{app}/channels/{channel}", Role::Viewer, "Show a channel"),
            channels::show,
        )
        .add(
            route::<Channel>(
                "PATCH",
                "/api/v1/apps/{app}/channels/{channel}",
                Role::Publisher,
                "Change a channel's settings",
            )
            .json::<SettingsPatch>(),
            channels::update,
        )
        .add(
            route::<Channel>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/publish",
                Role::Publisher,
                "Point a channel at a bundle or the store build (refused if not newer, unless forced)",
            )
            .json::<Publish>(),
            channels::publish,
        )
        .add(
            route::<Channel>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/rollout",
                Role::Publisher,
                "Start a percentage rollout (refused if not newer, unless forced)",
            )
            .json::<StartRollout>(),
            channels::rollout_start,
        )
        .add(
            route::<Channel>(
                "PATCH",
                "/api/v1/apps/{app}/channels/{channel}/rollout",
                Role::Publisher,
                "Change a rollout's percentage",
            )
            .json::<ChangeRollout>(),
            channels::rollout_change,
        )
        .add(
            route::<Channel>(
                "DELETE",
                "/api/v1/apps/{app}/channels/{channel}/rollout",
                Role::Publisher,
                "Abort a rollout",
            )
            .query::<LaneQuery>(),
            channels::rollout_abort,
        )
        .add(
            route::<Channel>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/rollout/finish",
                Role::Publisher,
                "Finish a rollout: its bundle becomes its native line's target",
            )
            .query::<LaneQuery>(),
            channels::rollout_finish,
        )
        .add(
            route::<Channel>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/promote",
                Role::Publisher,
                "Copy this channel's target to another channel",
            )
            .json::<Promote>(),
            channels::promote,
        )
        .add(
            route::<Channel>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/rollback",
                Role::Publisher,
                "Roll back to the previous target or the store build",
            )
            .json::<Rollback>(),
            channels::rollback,
        )
        .add(
            route::<Preview>(
                "POST",
                "/api/v1/apps/{app}/preview",
                Role::Viewer,
                "What the devices seen lately would get after a change (changes nothing)",
            )
            .json::<PreviewRequest>(),
            preview::preview,
        )
        .add(
            route::<Vec<HistoryEntry>>(
                "GET",
                "/api/v1/apps/{app}/channels/{channel}/history",
                Role::Viewer,
                "A channel's change history",
            ),
            channels::history,
        )
        .add(
            route::<Vec<ReleaseHealth>>(
                "GET",
                "/api/v1/apps/{app}/channels/{channel}/health",
                Role::Viewer,
                "The health of what a channel serves (install attempts, failures, 95 % Wilson interval, baseline)",
            ),
            rollouts::health,
        )
        .add(
            route::<PlanView>(
                "GET",
                "/api/v1/apps/{app}/channels/{channel}/plan",
                Role::Viewer,
                "A channel's rollout plan, its progress and next step",
            ),
            rollouts::show_plan,
        )
        .add(
            route::<PlanView>(
                "PUT",
                "/api/v1/apps/{app}/channels/{channel}/plan",
                Role::Publisher,
                "Start a rollout plan: steps taken when due and healthy, paused or rolled back on failures",
            )
            .json::<CreatePlan>()
            .created(),
            rollouts::create_plan,
        )
        .add(
            route::<PlanView>(
                "DELETE",
                "/api/v1/apps/{app}/channels/{channel}/plan",
                Role::Publisher,
                "Cancel a rollout plan (the rollout stays at its share)",
            ),
            rollouts::cancel_plan,
        )
        .add(
            route::<PlanView>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/plan/pause",
                Role::Publisher,
                "Pause a rollout plan (the share is held)",
            ),
            rollouts::pause_plan,
        )
        .add(
            route::<PlanView>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/plan/resume",
                Role::Publisher,
                "Resume a paused rollout plan (its wait starts again)",
            ),
            rollouts::resume_plan,
        )
        .add(
            route::<ScheduledPublish>(
                "POST",
                "/api/v1/apps/{app}/channels/{channel}/schedule",
                Role::Publisher,
                "Schedule a publish to the channel at a given time",
            )
            .json::<SchedulePublish>()
            .created(),
            rollouts::schedule,
        )
        .add(
            route::<Vec<ScheduledPublish>>(
                "GET",
                "/api/v1/apps/{app}/schedules",
                Role::Viewer,
                "The app's scheduled publishes",
            ),
            rollouts::list_schedules,
        )
        .add(
            route::<ScheduledPublish>(
                "DELETE",
                "/api/v1/apps/{app}/schedules/{id}",
                Role::Publisher,
                "Cancel a pending scheduled publish",
            ),
            rollouts::cancel_schedule,
        )
        .add(
            route::<Vec<DeviceRecord>>("GET", "/api/v1/apps/{app}/devices", Role::Viewer, "Search devices")
                .query::<DeviceFilter>(),
            devices::search,
        )
        .add(
            route::<DeviceDetail>(
                "GET",
                "/api/v1/apps/{app}/devices/{device}",
                Role::Viewer,
                "A device with its override and event timeline",
            ),
            devices::show,
        )
        .add(
            route::<DeviceOverride>(
                "PUT",
                "/api/v1/apps/{app}/devices/{device}/override",
                Role::Qa,
                "Pin a device to a channel",
            )
            .json::<SetOverride>(),
            devices::set_override,
        )
        .add(
            route::<Removed>(
                "DELETE",
                "/api/v1/apps/{app}/devices/{device}/override",
                Role::Qa,
                "Remove a device's channel override",
            ),
            devices::clear_override,
        )
        .add(
            route::<Vec<BundleHealth>>(
                "GET",
                "/api/v1/apps/{app}/stats/bundles",
                Role::Viewer,
                "Installs, failures, rollbacks and active devices per bundle",
            )
            .query::<ActiveQuery>(),
            stats::bundles,
        )
        .add(
            route::<Vec<ChannelAdoption>>(
                "GET",
                "/api/v1/apps/{app}/stats/channels",
                Role::Viewer,
                "Adoption per channel",
            )
            .query::<ActiveQuery>(),
            stats::channels,
        )
        .add(
            route::<Timeline>(
                "GET",
                "/api/v1/apps/{app}/stats/timeline",
                Role::Viewer,
                "Events per time bucket and action",
            )
            .query::<TimelineQuery>(),
            stats::timeline,
        )
        .add(
            route::<Vec<Webhook>>("GET", "/api/v1/apps/{app}/webhooks", Role::Admin, "List an app's webhooks"),
            webhooks::list,
        )
        .add(
            route::<CreatedWebhook>(
                "POST",
                "/api/v1/apps/{app}/webhooks",
                Role::Admin,
                "Register a webhook URL for release events (its signing secret is shown once)",
            )
            .json::<CreateWebhook>()
            .created(),
            webhooks::create,
        )
        .add(
            route::<Webhook>(
                "DELETE",
                "/api/v1/apps/{app}/webhooks/{id}",
                Role::Admin,
                "Remove a webhook (its pending deliveries are cancelled)",
            ),
            webhooks::remove,
        )
        .add(
            route::<Vec<WebhookDelivery>>(
                "GET",
                "/api/v1/apps/{app}/webhooks/deliveries",
                Role::Admin,
                "The webhook delivery log: each event sent, with every attempt",
            )
            .query::<DeliveryQuery>(),
            webhooks::deliveries,
        )
        .add(
            route::<Vec<AuditEntry>>("GET", "/api/v1/audit", Role::Viewer, "The audit log").query::<AuditQuery>(),
            audit::list,
        )
        .add(route::<Vec<TokenRecord>>("GET", "/api/v1/tokens", Role::Admin, "List tokens"), tokens::list)
        .add(
            route::<CreatedToken>("POST", "/api/v1/tokens", Role::Admin, "Create a token (shown once)")
                .json::<CreateToken>()
                .created(),
            tokens::create,
        )
        .add(route::<TokenRecord>("DELETE", "/api/v1/tokens/{id}", Role::Admin, "Revoke a token"), tokens::revoke)
}

/// Management routes, as a router.
pub fn routes() -> Router<AppState> {
    table()
        .router
        .fallback(|| async { AppError::NotFound("route".into()) })
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
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
                Err(AppError::TooLarge { limit: MAX_JSON_BODY as u64 })
            }
            Err(rejection) => Err(AppError::bad_request("invalid_json", rejection.body_text())),
        }
    }
}

/// Query parameters whose rejection is an [`AppError`] (`?limit=-1` is a 400 in our shape).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(AppError::bad_request("invalid_query", rejection.body_text())),
        }
    }
}

/// Path parameters whose rejection is an [`AppError`] (`/tokens/abc` is a 400 in our shape).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(AppError::bad_request("invalid_path", rejection.body_text())),
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
pub async fn require_app(state: &AppState, app_id: &str) -> Result<App, AppError> {
    state.db().get_app(app_id).await?.ok_or_else(|| AppError::NotFound(format!("app `{app_id}`")))
}
