//! The console at fleet scale (migration 0015): active devices come from counters the device
//! writes maintain, device search from index ranges. After a mixed load through the device
//! endpoints (devices moving between hours, bundles and channels, duplicate event batches, then
//! event retention deleting the raw events), every figure the console reads must equal what
//! counting the raw rows answers, on SQLite and on PostgreSQL.

use std::sync::Arc;

use capstan_server::clock::{Clock, ManualClock};
use capstan_server::jobs::{EventRetention, JobRunner, Outcome};
use capstan_server::store::sql::like_prefix;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::services::services;
use crate::support::*;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const DEVICES: usize = 48;
const BUNDLES: [&str; 3] = ["builtin", "1.0.1", "1.0.2"];
const ACTIONS: [&str; 6] = ["set", "update_fail", "download_fail", "reset", "download_complete", "set"];

/// The database behind a test server, read directly: the reference the console's answers are
/// checked against.
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// The previous definition of device search (one scan of every device), with a tie-break.
const REFERENCE_SEARCH: &str = "SELECT device_id FROM devices WHERE app_id = $1 \
     AND ($2 IS NULL OR lower(device_id) LIKE $3 ESCAPE '\\' OR (custom_id = $2 AND custom_id <> '')) \
     AND ($4 IS NULL OR channel = $4) AND ($5 IS NULL OR bundle_version = $5) \
     ORDER BY last_seen_ms DESC, device_id DESC LIMIT $6";
/// The previous definition of active devices: every device counted.
const REFERENCE_ACTIVE: &str = "SELECT channel, bundle_version, COUNT(*) FROM devices \
     WHERE app_id = $1 AND last_seen_ms >= $2 GROUP BY channel, bundle_version ORDER BY channel, bundle_version";
/// The counters as they should be: the devices grouped by hour of last sight.
const REFERENCE_COUNTERS: &str = "SELECT (last_seen_ms / 3600000) * 3600000, COALESCE(channel, ''), bundle_version, \
     COUNT(*) FROM devices WHERE app_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
const COUNTERS: &str = "SELECT hour_ms, channel, bundle_version, devices FROM device_activity \
     WHERE app_id = $1 AND devices <> 0 ORDER BY 1, 2, 3";
/// The same per native version and signing key id (signing coverage).
const REFERENCE_KEY_COUNTERS: &str = "SELECT (last_seen_ms / 3600000) * 3600000, native_version, \
     COALESCE(key_id, ''), COUNT(*) FROM devices WHERE app_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
const KEY_COUNTERS: &str = "SELECT hour_ms, native_version, key_id, devices FROM device_key_activity \
     WHERE app_id = $1 AND devices <> 0 ORDER BY 1, 2, 3";
/// The previous definition of signing coverage's device counts.
const REFERENCE_KEYS: &str = "SELECT native_version, key_id, COUNT(*) FROM devices \
     WHERE app_id = $1 AND last_seen_ms >= $2 GROUP BY native_version, key_id";
const RAW_ACTIONS: &str = "SELECT action, COUNT(*) FROM events WHERE app_id = $1 GROUP BY action ORDER BY action";

type Active = Vec<(Option<String>, String, i64)>;
type Counters = Vec<(i64, String, String, i64)>;

impl Raw {
    async fn search(
        &mut self,
        q: Option<&str>,
        channel: Option<&str>,
        bundle: Option<&str>,
        limit: i64,
    ) -> Vec<String> {
        let prefix = q.map(|q| like_prefix(&q.to_lowercase()));
        macro_rules! run {
            ($conn:expr) => {
                sqlx::query_scalar(REFERENCE_SEARCH)
                    .bind(APP)
                    .bind(q)
                    .bind(prefix)
                    .bind(channel)
                    .bind(bundle)
                    .bind(limit)
                    .fetch_all($conn)
                    .await
                    .unwrap()
            };
        }
        match self {
            Raw::Sqlite(c) => run!(&mut *c),
            Raw::Postgres(c) => run!(&mut *c),
        }
    }
}

/// Runs one query of the references on either backend.
macro_rules! raw_all {
    ($raw:expr, $ty:ty, $sql:expr $(, $bind:expr)*) => {
        match $raw {
            Raw::Sqlite(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($bind))*.fetch_all(&mut *c).await.unwrap(),
            Raw::Postgres(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($bind))*.fetch_all(&mut *c).await.unwrap(),
        }
    };
}

fn device_id(i: usize) -> String {
    format!("dev-{i:03}")
}

/// Every active-device figure of the console (bundle health, channel adoption) equals the
/// devices counted one by one, for windows that start inside an hour and on one.
async fn active_figures_agree(server: &TestServer, raw: &mut Raw, clock: &ManualClock) {
    let counters: Counters = raw_all!(&mut *raw, (i64, String, String, i64), COUNTERS, APP);
    let reference: Counters = raw_all!(&mut *raw, (i64, String, String, i64), REFERENCE_COUNTERS, APP);
    assert_eq!(counters, reference, "device_activity holds each device once, in the hour it was last seen");
    assert!(reference.len() > 3, "the load spreads devices over hours, bundles and channels: {reference:?}");
    let key_counters: Counters = raw_all!(&mut *raw, (i64, String, String, i64), KEY_COUNTERS, APP);
    let key_reference: Counters = raw_all!(&mut *raw, (i64, String, String, i64), REFERENCE_KEY_COUNTERS, APP);
    assert_eq!(key_counters, key_reference, "device_key_activity holds each device once");
    for days in [1u32, 2, 30] {
        let since = clock.now_ms() - i64::from(days) * DAY_MS;
        let expected: Active = raw_all!(&mut *raw, (Option<String>, String, i64), REFERENCE_ACTIVE, APP, since);
        let (status, channels) =
            server.api(Method::GET, &format!("/apps/{APP}/stats/channels?active_days={days}"), None).await;
        assert_eq!(status, StatusCode::OK, "{channels}");
        for channel in channels.as_array().unwrap() {
            let name = channel["channel"].as_str().unwrap();
            let mut by_bundle: Vec<(String, i64)> = channel["by_bundle"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(bundle, n)| (bundle.clone(), n.as_i64().unwrap()))
                .collect();
            by_bundle.sort();
            let want: Vec<(String, i64)> = expected
                .iter()
                .filter(|(c, _, _)| c.as_deref() == Some(name))
                .map(|(_, bundle, n)| (bundle.clone(), *n))
                .collect();
            assert_eq!(by_bundle, want, "channel {name}, {days} days");
            assert_eq!(channel["active_devices"].as_i64().unwrap(), want.iter().map(|(_, n)| n).sum::<i64>());
        }
        let mut keys: Vec<(String, Option<String>, i64)> =
            raw_all!(&mut *raw, (String, Option<String>, i64), REFERENCE_KEYS, APP, since);
        keys.sort();
        let mut counted: Vec<(String, Option<String>, i64)> = server
            .state
            .db()
            .key_id_counts(APP, since)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.native_version, c.key_id, c.devices))
            .collect();
        counted.sort();
        assert_eq!(counted, keys, "signing coverage, {days} days");
        let (_, health) = server.api(Method::GET, &format!("/apps/{APP}/stats/bundles?active_days={days}"), None).await;
        for bundle in health.as_array().unwrap() {
            let version = bundle["version"].as_str().unwrap();
            let want: i64 = expected.iter().filter(|(_, b, _)| b == version).map(|(_, _, n)| n).sum();
            assert_eq!(bundle["active_devices"].as_i64().unwrap(), want, "bundle {version}, {days} days");
        }
    }
}

/// Device search answers what the previous full scan answered, for id prefixes, custom ids and
/// filters (the rows in the same order).
async fn search_agrees(server: &TestServer, raw: &mut Raw) {
    let queries = [None, Some("dev-01"), Some("DEV-0"), Some("dev-017"), Some("user-8"), Some("user-"), Some("nobody")];
    for q in queries {
        for (channel, bundle) in
            [(None, None), (Some("beta"), None), (None, Some("1.0.2")), (Some("production"), Some("1.0.1"))]
        {
            for limit in [5i64, 100] {
                let want = raw.search(q, channel, bundle, limit).await;
                let mut url = format!("/apps/{APP}/devices?limit={limit}");
                for (name, value) in [("q", q), ("channel", channel), ("bundle", bundle)] {
                    if let Some(value) = value {
                        url.push_str(&format!("&{name}={value}"));
                    }
                }
                let (status, found) = server.api(Method::GET, &url, None).await;
                assert_eq!(status, StatusCode::OK, "{found}");
                let got: Vec<String> =
                    found.as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap().to_owned()).collect();
                assert_eq!(got, want, "{url}");
            }
        }
    }
    let (_, some) = server.api(Method::GET, &format!("/apps/{APP}/devices?q=dev-0"), None).await;
    assert!(some.as_array().unwrap().len() > 5, "the prefix finds devices: {some}");
    let (_, custom) = server.api(Method::GET, &format!("/apps/{APP}/devices?q=user-8"), None).await;
    assert_eq!(custom.as_array().unwrap().len(), 1, "the custom id finds its device: {custom}");
}

/// Events per action as the timeline counts them.
async fn timeline_actions(server: &TestServer) -> Vec<(String, i64)> {
    let (_, timeline) = server.api(Method::GET, &format!("/apps/{APP}/stats/timeline?bucket=day&days=30"), None).await;
    let mut per_action = std::collections::BTreeMap::<String, i64>::new();
    for bucket in timeline["buckets"].as_array().unwrap() {
        *per_action.entry(bucket["action"].as_str().unwrap().to_owned()).or_default() +=
            bucket["count"].as_i64().unwrap();
    }
    per_action.into_iter().collect()
}

async fn mixed_load_agrees_with_raw_rows(server: TestServer, mut raw: Raw, clock: Arc<ManualClock>) {
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    server.upload_ok(APP, "1.0.2", "").await;
    server.publish(APP, "production", "1.0.2").await;
    server.create_channel(APP, json!({ "name": "beta" })).await;
    for i in (0..DEVICES).step_by(5) {
        let (status, body) = server
            .api(
                Method::PUT,
                &format!("/apps/{APP}/devices/{}/override", device_id(i)),
                Some(json!({ "channel": "beta" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Eight rounds 37 minutes apart: devices seen in some rounds and not others, on the bundle
    // of the round, so their last sight moves between hours and bundles; each round's state is
    // written (a management read flushes it) before the next. Every third round's events are
    // posted twice: the store keeps both copies, and so must the counters.
    for round in 0..8usize {
        for i in 0..DEVICES {
            if (i + round) % 3 == 0 {
                continue;
            }
            let custom = if i % 4 == 0 { format!("user-{i}") } else { String::new() };
            let bundle = BUNDLES[(i + round) % BUNDLES.len()];
            let key_id = if (i + round) % 4 == 1 { json!("MIIBCgKCAQEAkeyone") } else { json!(null) };
            let native = if i % 2 == 0 { "1.0.0" } else { "2.0.0" };
            let info = device_with(
                APP,
                &device_id(i),
                json!({ "version_name": bundle, "custom_id": custom, "key_id": key_id, "version_build": native }),
            );
            server.updates(&info).await;
        }
        let batch: Vec<Value> = (0..DEVICES)
            .filter(|i| (i + round) % 2 == 0)
            .map(|i| {
                let mut event = device_with(APP, &device_id(i), json!({ "version_name": BUNDLES[(i + round) % 3] }));
                event["action"] = json!(ACTIONS[(i + round) % ACTIONS.len()]);
                event["old_version_name"] = json!("builtin");
                event
            })
            .collect();
        for _ in 0..if round % 3 == 0 { 2 } else { 1 } {
            let (status, _) = server.send(Method::POST, "/stats", None, Some(json!(batch))).await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, _) = server.api(Method::GET, &format!("/apps/{APP}/stats/channels"), None).await;
        assert_eq!(status, StatusCode::OK);
        clock.advance(37 * 60 * 1000);
    }

    active_figures_agree(&server, &mut raw, &clock).await;
    search_agrees(&server, &mut raw).await;
    let raw_actions: Vec<(String, i64)> = raw_all!(&mut raw, (String, i64), RAW_ACTIONS, APP);
    let counted = timeline_actions(&server).await;
    assert_eq!(counted, raw_actions, "the hourly counters count every stored event");
    let (_, health_before) = server.api(Method::GET, &format!("/apps/{APP}/stats/bundles?active_days=30"), None).await;

    // Retention deletes the raw events; the counters keep the figures, and the device counts
    // (which events do not feed) still agree with the devices as windows move on.
    clock.advance(3 * DAY_MS);
    let runner = JobRunner::new(vec![Arc::new(EventRetention)], "replica".into());
    assert_eq!(runner.run_due(&server.state).await, [("event_retention", Outcome::Ran)]);
    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 0, "retention deleted the raw events");
    assert_eq!(timeline_actions(&server).await, raw_actions, "the counters outlive the raw events");
    let (_, health_after) = server.api(Method::GET, &format!("/apps/{APP}/stats/bundles?active_days=30"), None).await;
    assert_eq!(health_after, health_before);
    let (_, recent) = server.api(Method::GET, &format!("/apps/{APP}/stats/channels?active_days=1"), None).await;
    assert!(recent.as_array().unwrap().iter().all(|c| c["active_devices"] == 0), "nobody seen for 3 days: {recent}");
    active_figures_agree(&server, &mut raw, &clock).await;

    // A device seen again after the pause moves from its old hour to now.
    server.updates(&device_with(APP, &device_id(1), json!({ "version_name": "1.0.1" }))).await;
    let (_, recent) = server.api(Method::GET, &format!("/apps/{APP}/stats/channels?active_days=1"), None).await;
    let total: i64 = recent.as_array().unwrap().iter().map(|c| c["active_devices"].as_i64().unwrap()).sum();
    assert_eq!(total, 1, "{recent}");
    active_figures_agree(&server, &mut raw, &clock).await;
    server.stop().await;
}

#[tokio::test]
async fn console_figures_agree_with_raw_rows_on_sqlite() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000 + 25 * 60 * 1000));
    let server = TestServer::start_configured_with_clock(|c| c.stats_retention_days = 1, clock.clone()).await;
    let path = server.config().data_dir.join("capstan.db");
    let raw = Raw::Sqlite(sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap());
    mixed_load_agrees_with_raw_rows(server, raw, clock).await;
}

#[tokio::test]
async fn console_figures_agree_with_raw_rows_on_postgres() {
    let Some(services) = services("console_figures_agree_with_raw_rows_on_postgres").await else { return };
    let clock = Arc::new(ManualClock::new(1_800_000_000_000 + 25 * 60 * 1000));
    let server = TestServer::start_configured_with_clock(
        |c| {
            services.apply(c);
            c.stats_retention_days = 1;
        },
        clock.clone(),
    )
    .await;
    let raw = Raw::Postgres(services.connect().await);
    mixed_load_agrees_with_raw_rows(server, raw, clock).await;
}
