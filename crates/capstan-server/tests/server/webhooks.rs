//! Webhooks end to end: a receiver on loopback (a small axum server) gets every release event,
//! signed with the secret shown at creation, the server's own (a plan's pause, the guard's
//! action) included; a failing receiver is retried with backoff until
//! it answers; a removed webhook gets nothing; bad URLs are refused. Time is a ManualClock and
//! the delivery job runs when the test says (`JobRunner::run_due`). Each test runs on SQLite,
//! and on PostgreSQL when `scripts/test-services.sh` provides it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use capstan_core::api::{WebhookEvent, verify_signature};
use capstan_server::clock::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const START_MS: i64 = 1_700_000_000_000;

/// An event's kind, version, previous target and rollout share.
type Summary = (String, Option<String>, Option<String>, Option<f64>);

/// One request a receiver got.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// A webhook receiver on 127.0.0.1 that records every request, answering 500 to the first
/// `fail_first` ones and 200 afterwards.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hooks/capstan", listener.local_addr().unwrap()),
            got: Arc::default(),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
        };
        let app =
            axum::Router::new().route("/hooks/capstan", axum::routing::post(receive)).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Every request so far, checked: the signature verifies with `secret` at `now_ms`, and the
    /// event header names the body's kind. Answers (delivery id, signature time, event).
    fn verified(&self, secret: &str, now_ms: i64) -> Vec<(i64, i64, WebhookEvent)> {
        let got = self.got.lock().unwrap();
        let mut events: Vec<_> = got
            .iter()
            .map(|r| {
                let header = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
                assert_eq!(header("content-type"), "application/json");
                let t = verify_signature(secret, &header("capstan-signature"), &r.body, now_ms / 1000, 300)
                    .unwrap_or_else(|e| panic!("signature of {}: {e}", String::from_utf8_lossy(&r.body)));
                let event: WebhookEvent = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(header("capstan-event"), event.kind.as_str());
                (header("capstan-delivery").parse::<i64>().unwrap(), t, event)
            })
            .collect();
        events.sort_by_key(|(delivery, t, _)| (*delivery, *t));
        events
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> axum::http::StatusCode {
    receiver.got.lock().unwrap().push(Received { headers, body });
    let failing = receiver.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if failing { axum::http::StatusCode::INTERNAL_SERVER_ERROR } else { axum::http::StatusCode::OK }
}

/// A server on every backend available here, all on `clock`.
async fn servers(test: &str, clock: &Arc<ManualClock>) -> Vec<(&'static str, TestServer)> {
    let mut servers = vec![("sqlite", TestServer::start_with_clock(clock.clone()).await)];
    if let Some(services) = crate::services::services(test).await {
        let server = TestServer::start_configured_with_clock(|config| services.apply(config), clock.clone()).await;
        servers.push(("postgres", server));
    }
    for (_, server) in &servers {
        server.create_app(APP).await;
    }
    servers
}

/// Registers a webhook; answers (id, secret).
async fn add_webhook(server: &TestServer, url: &str, events: Option<Value>) -> (i64, String) {
    let mut body = json!({ "url": url });
    if let Some(events) = events {
        body["events"] = events;
    }
    let (status, created) = server.api(Method::POST, &format!("/apps/{APP}/webhooks"), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    (created["webhook"]["id"].as_i64().unwrap(), secret)
}

async fn deliveries(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, log) = server.api(Method::GET, &format!("/apps/{APP}/webhooks/deliveries{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log.as_array().unwrap().clone()
}

/// Runs the server's due jobs (the delivery job among them) once.
async fn run_jobs(server: &TestServer) {
    server.state.jobs().run_due(&server.state).await;
}

#[tokio::test]
async fn a_receiver_gets_every_release_event_signed_with_the_secret_shown_once() {
    let clock = Arc::new(ManualClock::new(START_MS));
    for (backend, server) in servers("webhook_events", &clock).await {
        eprintln!("backend: {backend}");
        let all = Receiver::start(0).await;
        let rollbacks = Receiver::start(0).await;
        let (all_id, secret) = add_webhook(&server, &all.url, None).await;
        let (_, rollback_secret) = add_webhook(&server, &rollbacks.url, Some(json!(["rollback"]))).await;

        // The secret is never shown again.
        let (_, listed) = server.api(Method::GET, &format!("/apps/{APP}/webhooks"), None).await;
        assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
        assert!(!listed.to_string().contains(&secret) && !listed.to_string().contains("secret"), "{listed}");
        assert_eq!(listed[0]["events"], json!(["publish", "rollout.step", "rollout.paused", "rollback", "guard"]));
        assert_eq!(listed[1]["events"], json!(["rollback"]));
        let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}"), None).await;
        assert!(!audit.to_string().contains(&secret), "the audit log never holds the secret");

        // Publish, a rollout in two steps, its finish, a rollback.
        server.upload_ok(APP, "1.0.0", "").await;
        server.upload_ok(APP, "1.1.0", "").await;
        server.publish(APP, "production", "1.0.0").await;
        let rollout = format!("/apps/{APP}/channels/production/rollout");
        let (status, body) =
            server.api(Method::POST, &rollout, Some(json!({ "version": "1.1.0", "percent": 10 }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = server.api(Method::PATCH, &rollout, Some(json!({ "percent": 50 }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = server.api(Method::POST, &format!("{rollout}/finish"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) =
            server.api(Method::POST, &format!("/apps/{APP}/channels/production/rollback"), Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // Queued, not sent, until the delivery job runs.
        assert_eq!(all.count(), 0);
        let queued = deliveries(&server, "").await;
        assert_eq!(queued.len(), 6, "five events for the first webhook, one for the second");
        assert!(queued.iter().all(|d| d["status"] == "pending" && d["attempts"] == json!([])));
        let sent_at = clock.now_ms();
        run_jobs(&server).await;

        let got = all.verified(&secret, clock.now_ms());
        let summary: Vec<Summary> = got
            .iter()
            .map(|(_, _, e)| (e.kind.as_str().to_owned(), e.version.clone(), e.previous.clone(), e.percent))
            .collect();
        assert_eq!(
            summary,
            [
                ("publish".to_owned(), Some("1.0.0".to_owned()), None, None),
                ("rollout.step".to_owned(), Some("1.1.0".to_owned()), Some("1.0.0".to_owned()), Some(10.0)),
                ("rollout.step".to_owned(), Some("1.1.0".to_owned()), Some("1.0.0".to_owned()), Some(50.0)),
                ("publish".to_owned(), Some("1.1.0".to_owned()), Some("1.0.0".to_owned()), None),
                ("rollback".to_owned(), Some("1.0.0".to_owned()), Some("1.1.0".to_owned()), None),
            ],
            "{backend}"
        );
        for (_, t, event) in &got {
            assert_eq!(*t, sent_at / 1000, "signed at the server's clock");
            assert_eq!((event.app_id.as_str(), event.channel.as_deref()), (APP, Some("production")));
            assert!(event.actor.starts_with("test-admin"), "{}", event.actor);
            assert!(event.id.starts_with("evt_"));
        }
        // The rollback-only webhook got the same rollback event, signed with its own secret.
        let only = rollbacks.verified(&rollback_secret, clock.now_ms());
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].2, got[4].2, "the same event, id included");
        assert!(verify_signature(&secret, "t=1,v1=00", b"{}", 1, 300).is_err());

        // The log: each delivered at its first attempt, with the receiver's status.
        let log = deliveries(&server, &format!("?webhook={all_id}")).await;
        assert_eq!(log.len(), 5);
        for delivery in &log {
            assert_eq!(delivery["status"], "delivered", "{delivery}");
            assert_eq!(delivery["url"], all.url.as_str());
            assert_eq!(delivery["attempts"].as_array().unwrap().len(), 1, "{delivery}");
            assert_eq!(delivery["attempts"][0]["status_code"], 200);
            assert!(delivery["attempts"][0]["error"].is_null());
        }
        // Nothing is sent twice.
        clock.advance(3_600_000);
        run_jobs(&server).await;
        assert_eq!(all.count(), 5);
        assert_eq!(rollbacks.count(), 1);
        server.stop().await;
    }
}

#[tokio::test]
async fn the_servers_own_pause_and_guard_action_are_sent_signed() {
    let clock = Arc::new(ManualClock::new(START_MS));
    for (backend, server) in servers("webhook_safety", &clock).await {
        eprintln!("backend: {backend}");
        let receiver = Receiver::start(0).await;
        let (_, secret) = add_webhook(&server, &receiver.url, Some(json!(["rollout.paused", "guard"]))).await;
        server.upload_ok(APP, "1.0.0", "").await;
        server.upload_ok(APP, "1.1.0", "").await;
        server.publish(APP, "production", "1.0.0").await;
        crate::safety::start_plan(&server, "pause").await;
        crate::safety::devices_report(&server, "bad", 12, "download_fail", "1.1.0").await;

        // The release safety job pauses the failing plan; the next delivery run sends it.
        for _ in 0..2 {
            clock.advance(60_000);
            run_jobs(&server).await;
        }
        let got = receiver.verified(&secret, clock.now_ms());
        assert_eq!(got.len(), 1, "{backend}: only the pause so far");
        let paused = &got[0].2;
        assert_eq!(paused.kind.as_str(), "rollout.paused");
        assert_eq!((paused.channel.as_deref(), paused.version.as_deref()), (Some("production"), Some("1.1.0")));
        assert_eq!(paused.actor, capstan_server::webhooks::SERVER_ACTOR);
        let reason = paused.reason.as_deref().unwrap_or_default();
        assert!(reason.starts_with("paused: ") && reason.contains("over the 2 % threshold"), "{reason}");

        // Without its plan, the failing rollout is the guard's: it rolls it back and says so.
        let (status, body) = server.api(Method::DELETE, &format!("/apps/{APP}/channels/production/plan"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for _ in 0..2 {
            clock.advance(60_000);
            run_jobs(&server).await;
        }
        let got = receiver.verified(&secret, clock.now_ms());
        let kinds: Vec<&str> = got.iter().map(|(_, _, e)| e.kind.as_str()).collect();
        assert_eq!(kinds, ["rollout.paused", "guard"], "{backend}");
        let guard = &got[1].2;
        assert_eq!(
            (guard.version.as_deref(), guard.actor.as_str()),
            (Some("1.1.0"), capstan_server::webhooks::SERVER_ACTOR)
        );
        let reason = guard.reason.as_deref().unwrap_or_default();
        assert!(reason.starts_with("guard rolled back: 1.1.0 on `production` is failing"), "{reason}");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_until_it_answers() {
    let clock = Arc::new(ManualClock::new(START_MS));
    for (backend, server) in servers("webhook_retries", &clock).await {
        eprintln!("backend: {backend}");
        let flaky = Receiver::start(3).await;
        let down = Receiver::start(usize::MAX).await;
        let (flaky_id, secret) = add_webhook(&server, &flaky.url, Some(json!(["publish"]))).await;
        let (down_id, _) = add_webhook(&server, &down.url, Some(json!(["publish"]))).await;
        server.upload_ok(APP, "1.0.0", "").await;
        server.publish(APP, "production", "1.0.0").await;

        // Attempt 1 fails at once; attempt n+1 is due 30 s × 2^(n-1) after attempt n, and not before.
        run_jobs(&server).await;
        assert_eq!(flaky.count(), 1);
        let mut waits = Vec::new();
        for wait in [30_000, 60_000, 120_000] {
            let before = flaky.count();
            clock.advance(wait - 10_000);
            run_jobs(&server).await;
            assert_eq!(flaky.count(), before, "{backend}: not retried before {wait} ms");
            clock.advance(10_000);
            run_jobs(&server).await;
            assert_eq!(flaky.count(), before + 1, "{backend}: retried {wait} ms after the last attempt");
            waits.push(wait);
        }
        let log = deliveries(&server, &format!("?webhook={flaky_id}")).await;
        assert_eq!(log.len(), 1);
        let delivery = &log[0];
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        let codes: Vec<i64> =
            delivery["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
        assert_eq!(codes, [500, 500, 500, 200]);
        let times: Vec<i64> =
            delivery["attempts"].as_array().unwrap().iter().map(|a| a["at_ms"].as_i64().unwrap()).collect();
        assert_eq!(times.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>(), waits);
        assert!(delivery["attempts"][0]["error"].as_str().unwrap().contains("500"), "{delivery}");
        // Every attempt carried the same body, freshly signed.
        let got = flaky.verified(&secret, clock.now_ms());
        assert!(got.windows(2).all(|w| w[0].2 == w[1].2 && w[0].0 == w[1].0));
        assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "each attempt has its own timestamp");

        // A receiver that never answers 2xx: failed for good after the last attempt.
        for _ in 0..20 {
            clock.advance(3_600_000);
            run_jobs(&server).await;
        }
        let log = deliveries(&server, &format!("?webhook={down_id}")).await;
        assert_eq!(log[0]["status"], "failed", "{}", log[0]);
        assert_eq!(log[0]["attempts"].as_array().unwrap().len(), capstan_server::webhooks::MAX_ATTEMPTS as usize);
        assert!(log[0]["next_attempt_at_ms"].is_null());
        assert_eq!(down.count(), capstan_server::webhooks::MAX_ATTEMPTS as usize);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_removed_webhook_gets_nothing() {
    let clock = Arc::new(ManualClock::new(START_MS));
    for (backend, server) in servers("webhook_removed", &clock).await {
        eprintln!("backend: {backend}");
        let receiver = Receiver::start(0).await;
        let (id, _) = add_webhook(&server, &receiver.url, None).await;
        server.upload_ok(APP, "1.0.0", "").await;
        server.upload_ok(APP, "1.1.0", "").await;
        server.publish(APP, "production", "1.0.0").await;
        // Removed before the queued event went out: it is cancelled, not sent.
        let (status, removed) = server.api(Method::DELETE, &format!("/apps/{APP}/webhooks/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{removed}");
        assert_eq!(removed["url"], receiver.url.as_str());
        server.publish(APP, "production", "1.1.0").await;
        for _ in 0..3 {
            run_jobs(&server).await;
            clock.advance(60_000);
        }
        assert_eq!(receiver.count(), 0, "{backend}");
        let log = deliveries(&server, "").await;
        assert_eq!(log.len(), 1, "nothing was queued after the removal");
        assert_eq!(log[0]["status"], "cancelled");
        let (_, listed) = server.api(Method::GET, &format!("/apps/{APP}/webhooks"), None).await;
        assert_eq!(listed, json!([]));
        let (status, again) = server.api(Method::DELETE, &format!("/apps/{APP}/webhooks/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{again}");
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_urls_and_events_are_refused_and_change_nothing() {
    let clock = Arc::new(ManualClock::new(START_MS));
    for (backend, server) in servers("webhook_bad_input", &clock).await {
        eprintln!("backend: {backend}");
        let path = format!("/apps/{APP}/webhooks");
        for (body, code) in [
            (json!({ "url": "ftp://example.com/hook" }), "invalid_url"),
            (json!({ "url": "not a url" }), "invalid_url"),
            (json!({ "url": "" }), "invalid_url"),
            (json!({ "url": "https://user:pw@example.com/hook" }), "invalid_url"),
            (json!({ "url": "file:///etc/passwd" }), "invalid_url"),
            (json!({ "url": "https://example.com/hook", "events": [] }), "invalid_events"),
            (json!({ "url": "https://example.com/hook", "events": ["deploy"] }), "invalid_json"),
            (json!({ "url": "https://example.com/hook", "secret": "mine" }), "invalid_json"),
            (json!({}), "invalid_json"),
        ] {
            let (status, answer) = server.api(Method::POST, &path, Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {body} → {answer}");
            assert_eq!(answer["error"], code, "{body} → {answer}");
            assert!(!answer["message"].as_str().unwrap().is_empty());
        }
        let (_, answer) = server.api(Method::POST, &path, Some(json!({ "url": "ftp://example.com/hook" }))).await;
        assert!(answer["message"].as_str().unwrap().contains("http"), "{answer}");
        let (status, _) = server
            .api(Method::POST, "/apps/no.such.app/webhooks", Some(json!({ "url": "https://example.com/" })))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let publisher = server.token(capstan_server::auth::Role::Publisher).await;
        let (status, _) = server
            .send(
                Method::POST,
                &format!("/api/v1{path}"),
                Some(&publisher),
                Some(json!({ "url": "https://example.com/" })),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
        let (status, answer) = server.api(Method::GET, &format!("{path}/deliveries?limit=0"), None).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_limit")));

        let (_, listed) = server.api(Method::GET, &path, None).await;
        assert_eq!(listed, json!([]), "nothing was stored");
        let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}"), None).await;
        assert!(!audit.to_string().contains("webhook."), "{audit}");
        server.stop().await;
    }
}
