//! Per-address token buckets for the device endpoints, answering protocol.md §7's 429.
//!
//! Hand-rolled rather than a middleware so the handler decides *when* to count: an unknown app
//! must get `unknown_app`, never 429 (legacy plugins stop talking after a 429). The same
//! buckets meter costs other than one request: the `/stats` byte and event budgets charge a
//! body's size and its event count.
//!
//! IPv6 clients are counted per /64 (one subscriber's usual allocation), so rotating through
//! the addresses of one network does not multiply the budget. The table is bounded: past
//! [`MAX_PER_SHARD`] addresses in a shard, buckets that refilled completely are dropped (they
//! hold no information), and if that frees too little the shard starts over empty.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hashbrown::{DefaultHashBuilder, HashMap};
use serde_json::json;

use crate::config::RateLimitConfig;

const SHARDS: usize = 64;
/// Buckets kept per shard before full ones are dropped.
const MAX_PER_SHARD: usize = 16_384;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    hasher: DefaultHashBuilder,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket, DefaultHashBuilder>>>,
    max_per_shard: usize,
}

/// Over the limit: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until a request is allowed again (at least 1).
    pub retry_after_secs: u64,
}

/// The address a bucket is kept for: IPv4 as is, IPv6 by its /64 network (IPv4-mapped IPv6
/// addresses count as the IPv4 address).
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(octets.into())
        }
        v4 => v4,
    }
}

impl RateLimiter {
    /// One request per token (`per_second == 0` allows everything).
    pub fn new(config: &RateLimitConfig) -> Self {
        RateLimiter::with_rate(u64::from(config.per_second), u64::from(config.burst))
    }

    /// `per_second` tokens a second, at most `burst` saved up (`per_second == 0` allows all).
    pub fn with_rate(per_second: u64, burst: u64) -> Self {
        let hasher = DefaultHashBuilder::default();
        RateLimiter {
            per_second: per_second as f64,
            burst: burst.max(1) as f64,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::with_hasher(hasher.clone()))).collect(),
            hasher,
            max_per_shard: MAX_PER_SHARD,
        }
    }

    /// Whether this limiter limits at all.
    pub fn is_on(&self) -> bool {
        self.per_second > 0.0
    }

    /// Takes one token for `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Limited> {
        self.charge(ip, 1.0)
    }

    /// Charges `cost` tokens to `ip` if it has at least one left; the charge may leave it in
    /// debt (down to minus one burst), so a large request is let through whole and the ones
    /// after it wait. Over any period `T` an address gets at most `burst + T × per_second`
    /// plus one request's cost.
    pub fn charge(&self, ip: IpAddr, cost: f64) -> Result<(), Limited> {
        if !self.is_on() {
            return Ok(());
        }
        self.with_bucket(ip, |bucket, per_second, burst| {
            if bucket.tokens >= 1.0 {
                bucket.tokens = (bucket.tokens - cost).max(-burst);
                Ok(())
            } else {
                let wait = (1.0 - bucket.tokens) / per_second;
                Err(Limited { retry_after_secs: wait.ceil().max(1.0) as u64 })
            }
        })
    }

    /// Whether `ip` has a token left, without taking one.
    pub fn has_budget(&self, ip: IpAddr) -> Result<(), Limited> {
        self.charge(ip, 0.0)
    }

    fn with_bucket<T>(&self, ip: IpAddr, f: impl FnOnce(&mut Bucket, f64, f64) -> T) -> T {
        use std::hash::BuildHasher;
        let key = bucket_key(ip);
        let shard = self.hasher.hash_one(key) as usize % SHARDS;
        let now = Instant::now();
        let (per_second, burst) = (self.per_second, self.burst);
        let mut buckets = self.shards[shard].lock().expect("limiter lock");
        if buckets.len() >= self.max_per_shard && !buckets.contains_key(&key) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst);
            if buckets.len() >= self.max_per_shard * 3 / 4 {
                // Mostly busy addresses (a flood from many of them): start this shard over
                // rather than scan it on every new address.
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_second).min(burst);
        bucket.at = now;
        f(bucket, per_second, burst)
    }
}

/// How long a request over its limit is held before its 429. A client that sends again as soon
/// as it is answered (a flood) then costs the server one timer a second per connection instead
/// of a request per round trip, and a flood's own CPU use stops competing with real devices
/// (measured in bench/abuse). Devices over their budget lose nothing: they retry later anyway.
pub const HOLD: Duration = Duration::from_secs(1);
/// Most requests held at once, over every address; past it a 429 is answered at once. Held
/// connections are quiet, so the connection cap (`connections.max`) closes them first when
/// it needs room: holding never keeps a real device out.
pub const MAX_HELD: usize = 4096;

static HELD: AtomicUsize = AtomicUsize::new(0);

/// A place among the [`MAX_HELD`] requests held, given back when dropped.
struct HeldSlot;

impl HeldSlot {
    fn take() -> Option<HeldSlot> {
        HELD.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| (held < MAX_HELD).then_some(held + 1))
            .ok()
            .map(|_| HeldSlot)
    }
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limited {
    /// The 429, answered after [`HOLD`] (or the retry time, if shorter) while fewer than
    /// [`MAX_HELD`] requests are held, at once otherwise. For the device endpoints, whose
    /// callers retry on their own schedule; a client that gives up early just closes.
    pub async fn answer_held(self) -> Response {
        if let Some(_slot) = HeldSlot::take() {
            tokio::time::sleep(HOLD.min(Duration::from_secs(self.retry_after_secs))).await;
        }
        self.into_response()
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

    fn config(per_second: u32, burst: u32) -> RateLimitConfig {
        RateLimitConfig { per_second, burst, ..RateLimitConfig::default() }
    }

    #[test]
    fn bursts_then_limits_per_address() {
        let limiter = RateLimiter::new(&config(1, 3));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        assert_eq!(limiter.check(a), Err(Limited { retry_after_secs: 1 }));
        assert_eq!(limiter.check(b), Ok(()));
        let off = RateLimiter::new(&config(0, 0));
        assert!((0..1000).all(|_| off.check(a).is_ok()));
    }

    #[test]
    fn a_large_cost_is_let_through_whole_and_then_waited_for() {
        let limiter = RateLimiter::with_rate(100, 1000);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(limiter.charge(ip, 1500.0), Ok(()));
        assert_eq!(limiter.has_budget(ip), Err(Limited { retry_after_secs: 6 }));
        assert_eq!(limiter.charge(ip, 1.0), Err(Limited { retry_after_secs: 6 }));
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_a_bucket() {
        let limiter = RateLimiter::new(&config(1, 2));
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check(first).is_ok() && limiter.check(same_net).is_ok());
        assert!(limiter.check(first).is_err());
        assert!(limiter.check(other_net).is_ok());
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limiter.check(v4).is_ok() && limiter.check(mapped).is_ok());
        assert!(limiter.check(v4).is_err(), "an IPv4-mapped address is the IPv4 address");
    }

    #[test]
    fn the_table_stays_bounded_under_many_addresses() {
        let limiter = RateLimiter { max_per_shard: 100, ..RateLimiter::new(&config(1, 5)) };
        for i in 0..(SHARDS * 100 * 5) as u32 {
            let _ = limiter.check(IpAddr::from(i.to_be_bytes()));
        }
        let sizes: Vec<usize> = limiter.shards.iter().map(|s| s.lock().unwrap().len()).collect();
        assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    }
}
