//! `GET /metrics`: what the server did, in the Prometheus text format, for operators'
//! dashboards and alerts.
//!
//! Every request is counted by route template and outcome and timed ([`MetricsLayer`]); a
//! handler states its outcome with one call to [`outcome`] (the `error` code of its answer, or
//! `update`/`builtin` for `/updates`), else the status decides. A few counters are bumped
//! where the work happens (stats events, upload and download bytes), and gauges are read from
//! the parts that own them when Prometheus scrapes (stats queue, device buffer, snapshot cache).
//!
//! Recording is atomic adds into tables sized once ([`table`]): no lock and no allocation on
//! the request path. Labels hold only bounded values: methods, route templates and the
//! `&'static str` answer codes of this program. No device id, token, app id or path a client
//! chose ever becomes a label (see the server README for the app id decision).
//!
//! Each [`crate::AppState`] has its own [`Metrics`], so servers in one process (tests, replicas)
//! never mix their counts.

mod layer;
pub mod table;

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use layer::MetricsLayer;
use table::{BUCKET_BOUNDS_NS, Histogram, Slots};

use crate::AppState;
use crate::auth::Role;

/// Most distinct (method, route) pairs counted; the server declares about fifty. Further ones
/// (never expected) are counted under the route `other`.
const MAX_ROUTES: usize = 128;
/// Most distinct outcomes counted per route; further ones are counted as `other`.
const MAX_OUTCOMES_PER_ROUTE: usize = 48;
/// The route label of requests no route matched (unknown paths).
const UNMATCHED: &str = "unmatched";

tokio::task_local! {
    /// The outcome the running handler stated, for [`MetricsLayer`]; `""` until it states one.
    static OUTCOME: Cell<&'static str>;
}

/// States how the request being handled ends, as the label `outcome` of
/// `capstan_requests_total`: the `error` code of the answer (`no_new_version_available`,
/// `unknown_app`, `unauthorized`, ...), or another fixed word. Outside a measured request it
/// does nothing. The last call wins.
pub fn outcome(code: &'static str) {
    let _ = OUTCOME.try_with(|cell| cell.set(code));
}

/// A (method, route) a request was counted under: an index into the route table, or `None`
/// for the overflow entry.
#[derive(Debug, Clone, Copy)]
pub struct RouteId(Option<usize>);

struct RouteKey {
    method: &'static str,
    route: Box<str>,
}

struct RouteCounters {
    outcomes: Slots<&'static str, AtomicU64>,
    other_outcomes: AtomicU64,
    duration: Histogram,
}

impl Default for RouteCounters {
    fn default() -> Self {
        RouteCounters {
            outcomes: Slots::new(MAX_OUTCOMES_PER_ROUTE),
            other_outcomes: AtomicU64::new(0),
            duration: Histogram::default(),
        }
    }
}

/// One server's counters.
pub struct Metrics {
    routes: Slots<RouteKey, RouteCounters>,
    overflow: RouteCounters,
    stats_events_accepted: AtomicU64,
    stats_events_ignored: AtomicU64,
    upload_bytes: AtomicU64,
    download_bytes: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: Slots::new(MAX_ROUTES),
            overflow: RouteCounters::default(),
            stats_events_accepted: AtomicU64::new(0),
            stats_events_ignored: AtomicU64::new(0),
            upload_bytes: AtomicU64::new(0),
            download_bytes: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// The middleware that counts and times requests into these metrics.
    pub fn layer(self: &Arc<Self>) -> MetricsLayer {
        MetricsLayer(self.clone())
    }

    /// The entry of a request's method and matched route template.
    fn route(&self, method: &Method, matched: Option<&str>) -> RouteId {
        let method = method_label(method);
        let route = matched.unwrap_or(UNMATCHED);
        RouteId(
            self.routes
                .index(|key| key.method == method && *key.route == *route, || RouteKey { method, route: route.into() }),
        )
    }

    /// Counts a finished request.
    fn finish(&self, route: RouteId, outcome: &'static str, elapsed: Duration) {
        let counters = match route.0 {
            Some(index) => self.routes.at(index),
            None => &self.overflow,
        };
        match counters.outcomes.get(|code| *code == outcome, || outcome) {
            Some(count) => count.fetch_add(1, Ordering::Relaxed),
            None => counters.other_outcomes.fetch_add(1, Ordering::Relaxed),
        };
        counters.duration.observe(elapsed);
    }

    /// A `/stats` body acknowledged to a device: `stored` events committed, `ignored` ones
    /// dropped (for apps this server does not know, or without a device id).
    pub fn stats_acknowledged(&self, stored: usize, ignored: usize) {
        self.stats_events_accepted.fetch_add(stored as u64, Ordering::Relaxed);
        self.stats_events_ignored.fetch_add(ignored as u64, Ordering::Relaxed);
    }

    /// Bytes of a bundle upload received.
    pub fn upload_bytes(&self, bytes: usize) {
        self.upload_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes of a bundle sent to a device.
    pub fn download_bytes(&self, bytes: usize) {
        self.download_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Standard methods by their names; anything else (a client may send any token) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`, for any valid token (a viewer's is enough): see the server README for why
/// it needs one.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/metrics",
        get(scrape)
            .route_layer(axum::middleware::from_fn(|request, next| crate::auth::require(Role::Viewer, request, next))),
    )
}

async fn scrape(State(state): State<AppState>) -> Response {
    let mut response = render(&state).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The Prometheus text exposition of a server's metrics.
pub fn render(state: &AppState) -> String {
    let metrics = state.metrics();
    let mut out = Exposition(String::with_capacity(16 * 1024));
    let routes: Vec<(&str, &str, &RouteCounters)> = metrics
        .routes
        .iter()
        .map(|(key, counters)| (key.method, &*key.route, counters))
        .chain(std::iter::once(("other", "other", &metrics.overflow)))
        .collect();

    out.family("capstan_requests_total", "counter", "Requests answered, by method, route template and outcome.");
    for &(method, route, counters) in &routes {
        let outcomes = counters.outcomes.iter().map(|(code, count)| (*code, count.load(Ordering::Relaxed)));
        let other = counters.other_outcomes.load(Ordering::Relaxed);
        for (outcome, count) in outcomes.chain((other > 0).then_some(("other", other))) {
            out.sample("capstan_requests_total", &[("method", method), ("route", route), ("outcome", outcome)], count);
        }
    }

    out.family("capstan_request_duration_seconds", "histogram", "Time to answer a request, by method and route.");
    for &(method, route, counters) in &routes {
        let snapshot = counters.duration.snapshot();
        let Some(&total) = snapshot.cumulative.last() else { continue };
        if total == 0 {
            continue;
        }
        let name = "capstan_request_duration_seconds";
        for (bound, count) in BUCKET_BOUNDS_NS.iter().zip(&snapshot.cumulative) {
            let le = seconds(*bound).to_string();
            out.sample(&format!("{name}_bucket"), &[("method", method), ("route", route), ("le", &le)], count);
        }
        out.sample(&format!("{name}_bucket"), &[("method", method), ("route", route), ("le", "+Inf")], total);
        out.sample(&format!("{name}_sum"), &[("method", method), ("route", route)], seconds(snapshot.sum_ns));
        out.sample(&format!("{name}_count"), &[("method", method), ("route", route)], total);
    }

    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let counters: [(&str, &str, u64); 6] = [
        (
            "capstan_stats_events_accepted_total",
            "Stats events committed and acknowledged to devices.",
            load(&metrics.stats_events_accepted),
        ),
        (
            "capstan_stats_events_ignored_total",
            "Stats events acknowledged but not stored: unknown app or no device id.",
            load(&metrics.stats_events_ignored),
        ),
        (
            "capstan_snapshot_loads_total",
            "App configuration snapshots read from the database (first use, expiry, after a change).",
            state.cache().loads(),
        ),
        (
            "capstan_snapshot_invalidations_total",
            "App configuration snapshots dropped because a change was made on this server.",
            state.cache().invalidations(),
        ),
        ("capstan_upload_bytes_total", "Bytes of bundle uploads received.", load(&metrics.upload_bytes)),
        ("capstan_download_bytes_total", "Bytes of bundles sent to devices.", load(&metrics.download_bytes)),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        out.sample(name, &[], value);
    }

    let gauges: [(&str, &str, u64); 3] = [
        (
            "capstan_stats_queue_events",
            "Stats events waiting to be committed; devices get 503 beyond capstan_stats_queue_capacity_events.",
            state.ingest().stats.queued_events() as u64,
        ),
        (
            "capstan_stats_queue_capacity_events",
            "Most stats events that may wait to be committed (stats_queue_events).",
            state.config().stats_queue_events as u64,
        ),
        (
            "capstan_device_records_pending",
            "Devices whose latest state waits in memory for the next write (every device_flush_ms).",
            state.ingest().devices.pending() as u64,
        ),
    ];
    for (name, help, value) in gauges {
        out.family(name, "gauge", help);
        out.sample(name, &[], value);
    }

    out.family("capstan_build_info", "gauge", "Always 1; the version of the running server.");
    out.sample("capstan_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1);
    out.0
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The text format: `# HELP`/`# TYPE` lines, then `name{label="value"} number` lines.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (index, (label, text)) in labels.iter().enumerate() {
                if index > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"");
                for c in text.chars() {
                    match c {
                        '\\' => self.0.push_str("\\\\"),
                        '"' => self.0.push_str("\\\""),
                        '\n' => self.0.push_str("\\n"),
                        c => self.0.push(c),
                    }
                }
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition(String::new());
        out.sample("m", &[("a", "x\"y\\z\nw"), ("b", "/dl/{*key}")], 3);
        assert_eq!(out.0, "m{a=\"x\\\"y\\\\z\\nw\",b=\"/dl/{*key}\"} 3\n");
    }

    #[tokio::test]
    async fn outcomes_are_stated_inside_a_measured_request_only() {
        outcome("ignored outside a request");
        let metrics = Arc::new(Metrics::default());
        let route = metrics.route(&Method::POST, Some("/updates"));
        let stated = OUTCOME
            .scope(Cell::new(""), async {
                outcome("unknown_app");
                OUTCOME.with(Cell::get)
            })
            .await;
        metrics.finish(route, stated, Duration::from_millis(2));
        metrics.finish(metrics.route(&Method::POST, Some("/updates")), "update", Duration::from_micros(100));
        let counters = metrics.routes.at(route.0.unwrap());
        let counts: Vec<(&str, u64)> =
            counters.outcomes.iter().map(|(code, count)| (*code, count.load(Ordering::Relaxed))).collect();
        assert_eq!(counts, [("unknown_app", 1), ("update", 1)]);
        assert_eq!(counters.duration.snapshot().cumulative.last(), Some(&2));
        assert_eq!(metrics.routes.iter().count(), 1, "one route entry for both requests");
    }
}
