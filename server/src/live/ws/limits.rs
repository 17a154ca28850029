//! Rate limits for sockets: a token bucket per connection (messages) and a
//! keyed bucket per client address (failed joins, so room codes cannot be
//! guessed by brute force).
//!
//! Time is passed in, so the rules are tested without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Messages a connection may send in a burst before it is throttled.
pub const MESSAGE_BURST: u32 = 20;
/// Sustained messages per second per connection.
pub const MESSAGES_PER_SEC: f64 = 10.0;
/// Refused messages tolerated in a burst before the socket is closed (1008).
pub const STRIKE_BURST: u32 = 30;
/// Refused messages forgiven per second.
pub const STRIKES_PER_SEC: f64 = 2.0;
/// Failed joins (unknown room code) an address may make in a burst.
pub const FAILED_JOIN_BURST: u32 = 10;
/// Failed joins forgiven per second per address.
pub const FAILED_JOINS_PER_SEC: f64 = 0.2;
/// Addresses tracked before fully refilled entries are forgotten.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// A classic token bucket: `capacity` tokens, refilled at `per_sec`.
/// Kept as plain data so a connection owns its own without locking.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, per_sec: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            capacity: f64::from(capacity),
            per_sec,
            tokens: f64::from(capacity),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Takes one token if there is one; `false` means "over the limit".
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether a token is available, without taking it.
    pub fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// Throttles failed joins per client address. Shared by every socket, so it
/// sits behind a std mutex held only for a map lookup (never across `.await`).
#[derive(Debug, Default)]
pub struct FailedJoins {
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl FailedJoins {
    /// Whether `ip` may try another join right now.
    pub fn allowed(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .get_mut(&ip)
            .is_none_or(|bucket| bucket.has_token(now))
    }

    /// Counts one failed join (unknown room code) against `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED_ADDRESSES {
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(FAILED_JOIN_BURST, FAILED_JOINS_PER_SEC, now))
            .try_take(now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(20, 10.0, t0);
        for _ in 0..20 {
            assert!(bucket.try_take(t0));
        }
        assert!(!bucket.try_take(t0));
        // 100 ms later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(100);
        assert!(bucket.try_take(t1));
        assert!(!bucket.try_take(t1));
        // After a long pause the bucket is full again, never fuller.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..20 {
            assert!(bucket.try_take(t2));
        }
        assert!(!bucket.try_take(t2));
    }

    #[test]
    fn failed_joins_are_throttled_per_address() {
        let t0 = Instant::now();
        let limiter = FailedJoins::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..FAILED_JOIN_BURST {
            assert!(limiter.allowed(a, t0));
            limiter.record_failure(a, t0);
        }
        assert!(!limiter.allowed(a, t0));
        assert!(limiter.allowed(b, t0), "another address is not affected");
        let later = t0 + Duration::from_secs_f64(1.0 / FAILED_JOINS_PER_SEC);
        assert!(limiter.allowed(a, later), "the limit refills with time");
    }
}
