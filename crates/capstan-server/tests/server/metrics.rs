//! `GET /metrics`: scraped before and after real device and management traffic; every metric
//! the server README lists must be exposed and move by exactly what the traffic caused.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use capstan_server::auth::Role;
use reqwest::header::{CONTENT_TYPE, RANGE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection;

use crate::support::*;

/// One scrape, parsed strictly: every sample belongs to a family declared before it.
struct Scrape {
    /// Sample values by series, written as the server prints them: `name{label="value",...}`.
    samples: HashMap<String, f64>,
    /// Family names with their types, in order.
    families: Vec<(String, String)>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut samples = HashMap::new();
        let mut families: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                families.push((name.to_owned(), kind.to_owned()));
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
            let name = series.split('{').next().unwrap();
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "metric name {name}");
            if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
                let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).expect("{labels}");
                for pair in split_labels(inner) {
                    let (label, quoted) = pair.split_once('=').expect("label=value");
                    assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "label {label}");
                    assert!(quoted.starts_with('"') && quoted.ends_with('"') && quoted.len() >= 2, "{pair}");
                }
            }
            let (family, kind) = families.last().expect("a sample before any TYPE line");
            let declared = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"].iter().any(|s| name == format!("{family}{s}")),
                _ => name == family,
            };
            assert!(declared, "sample {name} outside its family {family}");
            assert!(samples.insert(series.to_owned(), value).is_none(), "duplicate series {series}");
        }
        Scrape { samples, families }
    }

    /// A series' value; absent series are 0 (counters appear on first use).
    fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    fn names(&self) -> BTreeSet<String> {
        self.families.iter().map(|(name, _)| name.clone()).collect()
    }
}

/// Splits `a="x",b="y"` at the commas between labels (values may hold commas).
fn split_labels(inner: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
}

fn requests(method: &str, route: &str, outcome: &str) -> String {
    format!(r#"capstan_requests_total{{method="{method}",route="{route}",outcome="{outcome}"}}"#)
}

fn duration(part: &str, method: &str, route: &str, le: Option<&str>) -> String {
    match le {
        Some(le) => {
            format!(r#"capstan_request_duration_seconds_{part}{{method="{method}",route="{route}",le="{le}"}}"#)
        }
        None => format!(r#"capstan_request_duration_seconds_{part}{{method="{method}",route="{route}"}}"#),
    }
}

async fn scrape_at(client: &reqwest::Client, base: &str, token: &str) -> Scrape {
    let response = client.get(format!("{base}/metrics")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
    Scrape::parse(&response.text().await.unwrap())
}

/// The metric names the server README's "Metrics" section lists (backquoted `capstan_...`).
fn readme_metrics() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("\n## Metrics\n").nth(1).expect("a `## Metrics` section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| word.starts_with("capstan_"))
        .map(|word| word.split('{').next().unwrap().to_owned())
        .collect()
}

/// Waits until a scrape satisfies `ready` (work queued by a request still in flight).
async fn scrape_until(server: &TestServer, token: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let scrape = scrape_at(&server.client, &server.base, token).await;
        if ready(&scrape) || Instant::now() > deadline {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_metric_in_the_readme_moves_with_real_traffic() {
    let server = TestServer::start().await;
    let viewer = server.token(Role::Viewer).await;
    let updates = "/updates";
    let uploads = "/api/v1/apps/{app}/bundles";
    let downloads = "/dl/{*key}";
    let before = scrape_at(&server.client, &server.base, &viewer).await;

    // Management: an app, a bundle (and one with the wrong checksum), a release.
    server.create_app(APP).await;
    let zip = zip_of(&[("index.html", b"<html></html>".as_slice()), ("noise.bin", &noise(200_000))]);
    let (status, body) = server.upload(APP, "1.0.1", zip.clone(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let wrong = format!("{}/api/v1/apps/{APP}/bundles?version=1.0.2&sha256={}", server.base, "0".repeat(64));
    let refused = server.client.post(wrong).bearer_auth(&server.admin).body(zip.clone()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    server.publish(APP, "production", "1.0.1").await;
    let (status, _) = server.send(Method::GET, "/api/v1/apps", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Devices: an update, up to date, each kind of refusal, a body that is not JSON.
    let offer = server.updates(&device(APP, "device-secret-1")).await;
    let url = offer["url"].as_str().unwrap().to_owned();
    let current = server.updates(&device_with(APP, "device-secret-2", json!({ "version_name": "1.0.1" }))).await;
    assert_eq!(current["error"], "no_new_version_available");
    assert_eq!(server.updates(&device("com.not.registered", "device-secret-3")).await["error"], "unknown_app");
    assert_eq!(server.updates(&device_with(APP, "", json!({}))).await["error"], "missing_info");
    let (status, _) = server.post_raw(updates, "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Downloads: whole, resumed from an offset, and past the end.
    let whole = server.client.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(whole.len(), zip.len());
    let from = 150_000;
    let part = server.client.get(&url).header(RANGE, format!("bytes={from}-")).send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().len(), zip.len() - from);
    let past = server.client.get(&url).header(RANGE, format!("bytes={}-", zip.len())).send().await.unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Stats: three events stored, two for an app nobody registered acknowledged and dropped.
    let event = |app: &str, n: usize| {
        let mut event = device(app, &format!("device-secret-{n}"));
        event["action"] = json!("set");
        event["version_name"] = json!("1.0.1");
        event
    };
    let batch = json!([event(APP, 1), event(APP, 2), event(APP, 4), event("com.nobody", 5), event("com.nobody", 6)]);
    let (status, _) = server.send(Method::POST, "/stats", None, Some(batch)).await;
    assert_eq!(status, StatusCode::OK);

    let after = scrape_at(&server.client, &server.base, &viewer).await;
    let moved = |series: &str| after.value(series) - before.value(series);
    let mut checked: BTreeSet<&str> = BTreeSet::new();

    checked.insert("capstan_requests_total");
    assert_eq!(moved(&requests("POST", updates, "update")), 1.0);
    assert_eq!(moved(&requests("POST", updates, "no_new_version_available")), 1.0);
    assert_eq!(moved(&requests("POST", updates, "unknown_app")), 1.0);
    assert_eq!(moved(&requests("POST", updates, "missing_info")), 1.0);
    assert_eq!(moved(&requests("POST", updates, "invalid_json_body")), 1.0);
    assert_eq!(moved(&requests("POST", "/api/v1/apps", "ok")), 1.0);
    assert_eq!(moved(&requests("GET", "/api/v1/apps", "unauthorized")), 1.0);
    assert_eq!(moved(&requests("POST", uploads, "ok")), 1.0);
    assert_eq!(moved(&requests("POST", uploads, "checksum_mismatch")), 1.0);
    assert_eq!(moved(&requests("POST", "/api/v1/apps/{app}/channels/{channel}/publish", "ok")), 1.0);
    assert_eq!(moved(&requests("GET", downloads, "whole")), 1.0);
    assert_eq!(moved(&requests("GET", downloads, "partial")), 1.0);
    assert_eq!(moved(&requests("GET", downloads, "range_not_satisfiable")), 1.0);
    assert_eq!(moved(&requests("POST", "/stats", "ok")), 1.0);
    assert_eq!(moved(&requests("GET", "/metrics", "ok")), 1.0, "the first scrape");

    checked.insert("capstan_request_duration_seconds");
    let count = after.value(&duration("count", "POST", updates, None));
    assert_eq!(count - before.value(&duration("count", "POST", updates, None)), 5.0, "five /updates requests");
    assert_eq!(after.value(&duration("bucket", "POST", updates, Some("+Inf"))), count);
    let buckets: Vec<f64> = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.1", "1", "10", "+Inf"]
        .iter()
        .map(|le| after.value(&duration("bucket", "POST", updates, Some(le))))
        .collect();
    assert!(buckets.windows(2).all(|pair| pair[0] <= pair[1]), "cumulative buckets: {buckets:?}");
    assert!(after.value(&duration("sum", "POST", updates, None)) > 0.0);

    checked.insert("capstan_upload_bytes_total");
    assert_eq!(moved("capstan_upload_bytes_total"), 2.0 * zip.len() as f64, "both uploads were received whole");
    checked.insert("capstan_download_bytes_total");
    assert_eq!(moved("capstan_download_bytes_total"), (2 * zip.len() - from) as f64);
    checked.insert("capstan_stats_events_accepted_total");
    assert_eq!(moved("capstan_stats_events_accepted_total"), 3.0);
    checked.insert("capstan_stats_events_ignored_total");
    assert_eq!(moved("capstan_stats_events_ignored_total"), 2.0);
    checked.insert("capstan_snapshot_loads_total");
    // Each app id looked up after the last change: ours after the publish, and the unknown
    // ones (`com.not.registered` by /updates, `com.nobody` by /stats) once each.
    assert_eq!(moved("capstan_snapshot_loads_total"), 3.0);
    checked.insert("capstan_snapshot_invalidations_total");
    assert_eq!(moved("capstan_snapshot_invalidations_total"), 3.0, "app created, bundle uploaded, channel published");
    checked.insert("capstan_device_records_pending");
    assert_eq!(moved("capstan_device_records_pending"), 2.0, "two devices of a known app wait for the next write");
    checked.insert("capstan_stats_queue_capacity_events");
    assert_eq!(after.value("capstan_stats_queue_capacity_events"), server.config().stats_queue_events as f64);
    checked.insert("capstan_build_info");
    assert_eq!(after.value(&format!(r#"capstan_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"))), 1.0);

    // The queue gauge: hold SQLite's write lock from outside so a /stats commit waits, and watch
    // its events counted while they wait, then gone once committed.
    checked.insert("capstan_stats_queue_events");
    assert_eq!(after.value("capstan_stats_queue_events"), 0.0);
    let db_url = format!("sqlite://{}", server.dir.path().join("data/capstan.db").display());
    let mut blocker = sqlx::SqliteConnection::connect(&db_url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut blocker).await.unwrap();
    let stats = {
        let (client, base) = (server.client.clone(), server.base.clone());
        let batch = json!([event(APP, 7), event(APP, 8)]);
        tokio::spawn(async move { client.post(format!("{base}/stats")).json(&batch).send().await.unwrap().status() })
    };
    let waiting = scrape_until(&server, &viewer, |s| s.value("capstan_stats_queue_events") == 2.0).await;
    assert_eq!(waiting.value("capstan_stats_queue_events"), 2.0, "two events wait for the write lock");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(stats.await.unwrap(), StatusCode::OK);
    let drained = scrape_at(&server.client, &server.base, &viewer).await;
    assert_eq!(drained.value("capstan_stats_queue_events"), 0.0);
    assert_eq!(
        drained.value("capstan_stats_events_accepted_total") - after.value("capstan_stats_events_accepted_total"),
        2.0
    );

    // A management read writes the buffered devices first: nothing stays pending.
    let (status, _) = server.api(Method::GET, &format!("/apps/{APP}/devices"), None).await;
    assert_eq!(status, StatusCode::OK);
    let flushed = scrape_at(&server.client, &server.base, &viewer).await;
    assert_eq!(flushed.value("capstan_device_records_pending"), 0.0);

    let checked: BTreeSet<String> = checked.into_iter().map(str::to_owned).collect();
    assert_eq!(readme_metrics(), checked, "the README lists exactly the metrics this test checks");
    assert_eq!(after.names(), checked, "the server exposes exactly the metrics the README lists");

    let text = server.client.get(format!("{}/metrics", server.base)).bearer_auth(&viewer).send().await.unwrap();
    let text = text.text().await.unwrap();
    for secret in ["device-secret", "com.not.registered", "com.nobody", APP, viewer.as_str(), server.admin.as_str()] {
        assert!(!text.contains(secret), "{secret} must not appear in /metrics");
    }
    server.stop().await;
}

#[tokio::test]
async fn metrics_need_a_token_and_unknown_paths_share_one_label() {
    let server = TestServer::start().await;
    let (status, _) = server.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.send(Method::GET, "/metrics", Some("capstan_not-a-real-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for path in ["/wp-login.php", "/dl", "/some/long/path/of/a/scanner?x=1"] {
        let (status, _) = server.send(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let viewer = server.token(Role::Viewer).await;
    let scrape = scrape_at(&server.client, &server.base, &viewer).await;
    assert_eq!(scrape.value(&requests("GET", "/metrics", "unauthorized")), 2.0);
    assert_eq!(scrape.value(&requests("GET", "unmatched", "not_found")), 3.0);
    assert!(!scrape.samples.keys().any(|series| series.contains("wp-login") || series.contains("scanner")));
    server.stop().await;
}

#[tokio::test]
async fn with_a_management_listener_metrics_are_served_there_only() {
    use capstan_server::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let management = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (public_addr, management_addr) = (public.local_addr().unwrap(), management.local_addr().unwrap());
    let config = Config {
        data_dir: dir.path().join("data"),
        listen: public_addr,
        management_listen: Some(management_addr),
        durable_writes: false,
        ..Config::default()
    };
    let state = capstan_server::AppState::open(config).await.unwrap();
    let token = capstan_server::auth::generate_token();
    state
        .db()
        .insert_token("prometheus", Role::Viewer, &capstan_server::auth::hash_token(&token), 0, None)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(capstan_server::serve_split(public, management, state, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let on_public = client.get(format!("http://{public_addr}/metrics")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(on_public.status(), StatusCode::NOT_FOUND);
    let (_, answer) = post_json(format!("http://{public_addr}/updates"), &device("com.nobody", "d1")).await;
    assert_eq!(answer["error"], "unknown_app");
    let scrape = scrape_at(&client, &format!("http://{management_addr}"), &token).await;
    assert_eq!(scrape.value(&requests("POST", "/updates", "unknown_app")), 1.0, "device traffic counted too");
    assert_eq!(scrape.value(&requests("GET", "unmatched", "not_found")), 1.0, "the public listener's 404");
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
