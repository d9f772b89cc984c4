//! Per-address token buckets for the device endpoints, answering protocol.md §7's 429.
//!
//! Hand-rolled rather than a middleware so the handler decides *when* to count: an unknown app
//! must get `unknown_app`, never 429 (legacy plugins stop talking after a 429).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::RateLimitConfig;

const SHARDS: usize = 16;
/// Buckets kept per shard before idle full ones are dropped.
const MAX_PER_SHARD: usize = 50_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

/// Over the limit: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until a request is allowed again (at least 1).
    pub retry_after_secs: u64,
}

impl RateLimiter {
    /// A limiter with these settings (`per_second == 0` allows everything).
    pub fn new(config: &RateLimitConfig) -> Self {
        RateLimiter {
            per_second: f64::from(config.per_second),
            burst: f64::from(config.burst.max(1)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token for `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Limited> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let shard = match ip {
            IpAddr::V4(v4) => v4.octets()[3] as usize,
            IpAddr::V6(v6) => v6.octets()[15] as usize,
        } % SHARDS;
        let now = Instant::now();
        let mut buckets = self.shards[shard].lock().expect("limiter lock");
        if buckets.len() > MAX_PER_SHARD {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket { tokens: self.burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(Limited { retry_after_secs: wait.ceil().max(1.0) as u64 })
        }
    }
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        crate::metrics::outcome("too_many_requests");
        let body = json!({
            "error": "too_many_requests",
            "message": "Too many requests",
            "moreInfo": { "retryAfterSeconds": self.retry_after_secs },
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after_secs));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_limits_per_address() {
        let limiter = RateLimiter::new(&RateLimitConfig { per_second: 1, burst: 3, client_ip_header: None });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        assert_eq!(limiter.check(a), Err(Limited { retry_after_secs: 1 }));
        assert_eq!(limiter.check(b), Ok(()));
        let off = RateLimiter::new(&RateLimitConfig { per_second: 0, burst: 0, client_ip_header: None });
        assert!((0..1000).all(|_| off.check(a).is_ok()));
    }
}
