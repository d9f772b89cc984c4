//! The middleware that counts every request by route and outcome and times it.
//!
//! It wraps each route (`Router::layer`), so axum has already matched the request and left the
//! route's template (`MatchedPath`) in it: the label is `/dl/{*key}`, never a request's own
//! path. Handlers state their outcome with [`super::outcome`] into a task-local cell that this
//! future scopes around the handler: no response extension (which would allocate), no change
//! to what the handler returns.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::Response;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::{Metrics, OUTCOME, RouteId};

/// Counts and times the requests of the routes it wraps into a [`Metrics`].
#[derive(Clone)]
pub struct MetricsLayer(pub(super) Arc<Metrics>);

impl<S> Layer<S> for MetricsLayer {
    type Service = Measured<S>;

    fn layer(&self, inner: S) -> Measured<S> {
        Measured { inner, metrics: self.0.clone() }
    }
}

/// A route's service, measured.
#[derive(Clone)]
pub struct Measured<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Measured<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = MeasuredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route =
            self.metrics.route(request.method(), request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
        MeasuredFuture {
            inner: OUTCOME.scope(Cell::new(""), self.inner.call(request)),
            metrics: self.metrics.clone(),
            route,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A route's answer on its way; counted when it is ready.
    pub struct MeasuredFuture<F> {
        #[pin]
        inner: TaskLocalFuture<Cell<&'static str>, F>,
        metrics: Arc<Metrics>,
        route: RouteId,
        started: Instant,
    }
}

impl<F, E> Future for MeasuredFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = ready!(this.inner.as_mut().poll(cx));
        let stated = this.inner.take_value().map(Cell::into_inner).filter(|code| !code.is_empty());
        if let Ok(response) = &result {
            let outcome = stated.unwrap_or_else(|| by_status(response.status()));
            this.metrics.finish(*this.route, outcome, this.started.elapsed());
        }
        Poll::Ready(result)
    }
}

/// The outcome of an answer whose handler stated none: its status in the words the API's
/// error codes use.
fn by_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        300..=399 => "redirect",
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "too_many_requests",
        503 => "unavailable",
        code if code < 500 => "client_error",
        _ => "server_error",
    }
}
