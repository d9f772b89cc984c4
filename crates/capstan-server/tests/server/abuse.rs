//! Hostile traffic on the public endpoints (issue 16), bounded and on loopback: sockets that
//! never finish a request, more idle sockets than the server may hold, spoofed forwarded
//! addresses, `/stats` floods, made-up bundle versions and legacy `setChannel` floods.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Waits until the server closes `socket` (end of stream or reset), at most `limit`; answers
/// how long it took, or None if it was still open. Sends one more header byte every 100 ms
/// when `trickle`, as a slow-loris client does.
async fn time_until_closed(socket: &mut TcpStream, trickle: bool, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    while started.elapsed() < limit {
        if trickle && socket.write_all(b"x").await.is_err() {
            return Some(started.elapsed());
        }
        // Whatever the server answers first (408, 400), it must then close.
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_or_stay_idle_are_closed_within_the_timeout() {
    let server = TestServer::start_with(|c| c.connections.header_timeout_ms = 500).await;
    let addr = server.config().listen;

    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /updates HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let closed = time_until_closed(&mut slow, true, Duration::from_secs(5)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_millis(2000)), "slow headers closed after {closed:?}");

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let closed = time_until_closed(&mut silent, false, Duration::from_secs(5)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_millis(2000)), "silent socket closed after {closed:?}");

    // Keep-alive: after an answer, an idle connection is closed by the same timeout.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let closed = time_until_closed(&mut kept, false, Duration::from_secs(5)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_millis(2000)), "idle keep-alive closed after {closed:?}");
    server.stop().await;
}

#[tokio::test]
async fn idle_sockets_beyond_the_connection_cap_do_not_starve_healthz_or_updates() {
    // A long header timeout: what frees room here is the cap closing the quietest connections.
    let server = TestServer::start_with(|c| {
        c.connections.max = 16;
        c.connections.header_timeout_ms = 60_000;
    })
    .await;
    server.create_app(APP).await;
    let addr = server.config().listen;
    let mut idle = Vec::new();
    for _ in 0..48 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Older than the busy window, so they count as quiet.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let health = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let answer = client.post(format!("{}/updates", server.base)).json(&device(APP, "d1")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    drop(idle);
    server.stop().await;
}

/// `/updates` from `forwarded` until the first 429; answers how many got 200 first (at most 30).
async fn answered_before_limit(server: &TestServer, forwarded: impl Fn(usize) -> String) -> usize {
    for n in 0..30 {
        let response = server
            .client
            .post(format!("{}/updates", server.base))
            .header("x-forwarded-for", forwarded(n))
            .json(&device(APP, &format!("d{n}")))
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => return n,
            other => panic!("unexpected {other}"),
        }
    }
    30
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies_and_only_their_right_most_untrusted_entry() {
    let limited = |c: &mut capstan_server::config::Config| {
        c.rate_limit.per_second = 1;
        c.rate_limit.burst = 5;
        c.rate_limit.client_ip_header = Some("x-forwarded-for".into());
    };
    // No trusted proxy: the header is ignored, so random values do not escape the limit.
    let server = TestServer::start_with(limited).await;
    server.create_app(APP).await;
    let spoofed = answered_before_limit(&server, |n| format!("10.9.{}.{}", n / 250, n % 250 + 1)).await;
    // 5 is the burst; a sixth can pass on a slow machine, refilled at 1 a second.
    assert!((5..=6).contains(&spoofed), "{spoofed} spoofed requests answered before a 429");
    server.stop().await;

    // Loopback is the trusted proxy: the client is the right-most entry it did not add, so
    // whatever the client writes on the left changes nothing...
    let server = TestServer::start_with(|c| {
        limited(c);
        c.rate_limit.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    server.create_app(APP).await;
    let behind_proxy = answered_before_limit(&server, |n| format!("10.9.0.{}, 198.51.100.7", n + 1)).await;
    assert!((5..=6).contains(&behind_proxy), "{behind_proxy}");
    // ...while another real client behind the same proxy has its own budget.
    let other = answered_before_limit(&server, |_| "198.51.100.8, 127.0.0.1".into()).await;
    assert!((5..=6).contains(&other), "{other}");
    server.stop().await;
}

fn stats_event(device_id: &str, version: &str) -> Value {
    let mut event = device(APP, device_id);
    event["action"] = json!("set");
    event["version_name"] = json!(version);
    event
}

#[tokio::test]
async fn a_stats_flood_is_refused_before_its_body_is_read_and_stores_nothing() {
    let server = TestServer::start_with(|c| {
        c.stats_limit.bytes_per_second = 1;
        c.stats_limit.bytes_burst = 1_000;
    })
    .await;
    server.create_app(APP).await;
    let batch: Vec<Value> = (0..10).map(|n| stats_event(&format!("d{n}"), "builtin")).collect();
    let (status, _) = server.send(Method::POST, "/stats", None, Some(json!(batch))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 10);

    // A body is admitted while the address has a byte left and then charged in full: the
    // budget is now spent (1 byte/s refills it in an hour). A 2 MB body is answered 429 on its
    // head alone, its body never sent.
    let mut socket = TcpStream::connect(server.config().listen).await.unwrap();
    socket
        .write_all(
            b"POST /stats HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await.unwrap().unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");

    let (status, _) = server.send(Method::POST, "/stats", None, Some(json!(batch))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 10, "nothing refused was stored");
    server.stop().await;
}

#[tokio::test]
async fn a_batch_with_bad_elements_keeps_its_good_events_and_says_how_many_were_dropped() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let batch = json!([null, stats_event("d1", "builtin"), 7, {}, stats_event("d2", "builtin")]);
    let (status, body) = server.send(Method::POST, "/stats", None, Some(batch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["dropped"], 3, "{body}");
    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 2);
    server.stop().await;
}

#[tokio::test]
async fn made_up_versions_in_stats_share_one_counter_bucket() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.upload_ok(APP, "1.0.1", "").await;
    let mut batch: Vec<Value> = (0..200).map(|n| stats_event("d1", &format!("9.9.{n}"))).collect();
    batch.push(stats_event("d1", "1.0.1"));
    let (status, _) = server.send(Method::POST, "/stats", None, Some(json!(batch))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 201, "raw events keep what was sent");
    let (_, bundles) = server.api(Method::GET, &format!("/apps/{APP}/stats/bundles"), None).await;
    let mut versions: Vec<&str> = bundles.as_array().unwrap().iter().map(|b| b["version"].as_str().unwrap()).collect();
    versions.sort_unstable();
    assert_eq!(versions, ["1.0.1", "unknown"], "{bundles}");
    server.stop().await;
}

#[tokio::test]
async fn legacy_set_channel_is_bounded_per_app_and_per_device() {
    let server = TestServer::start_with(|c| {
        c.channel_self.max_overrides_per_app = 2;
        c.channel_self.device_change_interval_ms = 60_000;
    })
    .await;
    server.create_app(APP).await;
    for name in ["beta", "alpha"] {
        server.create_channel(APP, json!({ "name": name, "allow_self_set": true })).await;
    }
    let legacy =
        |id: &str, channel: &str| device_with(APP, id, json!({ "plugin_version": "6.27.0", "channel": channel }));
    for id in ["d1", "d2"] {
        let (status, answer) = server.send(Method::POST, "/channel_self", None, Some(legacy(id, "beta"))).await;
        assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("ok")), "{answer}");
    }
    let (_, answer) = server.send(Method::POST, "/channel_self", None, Some(legacy("d3", "beta"))).await;
    assert_eq!(answer["error"], "channel_override_limit", "{answer}");
    // The stored choice is served at once (no wait for the cache), and cannot flip back and forth.
    let asks = device_with(APP, "d1", json!({ "plugin_version": "6.27.0" }));
    let (_, got) = server.send(Method::PUT, "/channel_self", None, Some(asks)).await;
    assert_eq!(got["channel"], "beta", "{got}");
    let (status, _) = server.send(Method::POST, "/channel_self", None, Some(legacy("d1", "alpha"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

#[tokio::test]
async fn small_leaks_and_lapses_of_the_probe_stay_fixed() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let zip = server.upload_ok(APP, "1.0.1", "").await;
    server.publish(APP, "production", "1.0.1").await;
    let offer = server.updates(&device_with(APP, "d1", json!({ "version_name": "builtin" }))).await;
    let url = offer["url"].as_str().expect("an offer").to_owned();
    let client = &server.client;

    // Directories under /dl/ are not blobs: nothing tells which apps and versions exist.
    let key = url.split("/dl/").nth(1).unwrap();
    let mut prefix = String::new();
    for part in key.split('/').take(key.split('/').count() - 1) {
        prefix.push_str(part);
        for method in [Method::HEAD, Method::GET] {
            let response = client.request(method.clone(), format!("{}/dl/{prefix}", server.base)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} /dl/{prefix}");
        }
        prefix.push('/');
    }

    // A suffix range longer than the file is the whole file as 206; an unknown unit is ignored.
    let whole = client.get(&url).header("range", "bytes=-999999999").send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), zip.as_slice());
    let unknown = client.get(&url).header("range", "items=0-1").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::OK);
    assert_eq!(unknown.bytes().await.unwrap().len(), zip.len());

    // The scheme of Authorization is case-insensitive.
    let upper = client
        .get(format!("{}/api/v1/apps", server.base))
        .header("authorization", format!("BEARER {}", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(upper.status(), StatusCode::OK);

    // Path and query errors answer the JSON error body, as every other error.
    for (method, path) in [(Method::DELETE, "/tokens/abc"), (Method::GET, &*format!("/apps/{APP}/devices?limit=-1"))] {
        let (status, body) = server.api(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}");
        assert!(body["error"].is_string(), "{method} {path}: {body}");
    }

    // `_` and `%` in a device search (a prefix of the id) are matched literally.
    server.updates(&device(APP, "plain-device")).await;
    server.updates(&device(APP, "with_under%score")).await;
    assert_eq!(search(&server, "_").await, Vec::<String>::new(), "`_` is not a wildcard");
    assert_eq!(search(&server, "with%25").await, Vec::<String>::new(), "`%` is not a wildcard");
    assert_eq!(search(&server, "with_under%25").await, ["with_under%score"]);
    server.stop().await;
}

/// Device ids a management search for `q` (already URL-encoded) finds.
async fn search(server: &TestServer, q: &str) -> Vec<String> {
    let (status, found) = server.api(Method::GET, &format!("/apps/{APP}/devices?q={q}"), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found.as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn raw_events_past_the_retention_period_are_deleted_and_their_counters_kept() {
    use capstan_server::clock::ManualClock;
    use capstan_server::jobs::{EventRetention, JobRunner, Outcome};
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let clock = std::sync::Arc::new(ManualClock::new(100 * DAY_MS));
    let server = TestServer::start_configured_with_clock(|c| c.stats_retention_days = 3, clock.clone()).await;
    server.create_app(APP).await;
    let old = json!([stats_event("d1", "builtin"), stats_event("d2", "builtin")]);
    assert_eq!(server.send(Method::POST, "/stats", None, Some(old)).await.0, StatusCode::OK);
    clock.advance(2 * DAY_MS);
    let recent = json!([stats_event("d3", "builtin")]);
    assert_eq!(server.send(Method::POST, "/stats", None, Some(recent)).await.0, StatusCode::OK);
    clock.advance(2 * DAY_MS);

    let runner = JobRunner::new(vec![std::sync::Arc::new(EventRetention)], "replica".into());
    assert_eq!(runner.run_due(&server.state).await, [("event_retention", Outcome::Ran)]);
    assert_eq!(server.state.db().count_events(APP).await.unwrap(), 1, "only the event younger than 3 days is kept");
    let (_, timeline) = server.api(Method::GET, &format!("/apps/{APP}/stats/timeline?bucket=day&days=30"), None).await;
    let counted: i64 = timeline["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_i64().unwrap()).sum();
    assert_eq!(counted, 3, "the hourly counters keep every event: {timeline}");
    server.stop().await;
}
