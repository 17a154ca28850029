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
pub const FAILED_JOIN_BURST: u32 = 20;
/// Failed joins forgiven per second per address (720 an hour).
pub const FAILED_JOINS_PER_SEC: f64 = 0.2;
/// Failed joins a whole network (an IPv4 /24, an IPv6 /56) may make in a
/// burst: an attacker holding many addresses of one network shares this.
pub const FAILED_JOIN_NET_BURST: u32 = 100;
/// Failed joins forgiven per second per network (3,600 an hour).
pub const FAILED_JOINS_NET_PER_SEC: f64 = 1.0;
/// IPv4 prefix length of a throttled network.
pub const NET_PREFIX_V4: u8 = 24;
/// IPv6 prefix length of a throttled network (a typical customer site).
pub const NET_PREFIX_V6: u8 = 56;
/// Room codes remembered per address as known to it.
const KNOWN_CODES_PER_ADDRESS: usize = 8;
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

/// Throttles failed joins (a first message naming no live room), so room
/// codes cannot be found by brute force, without locking out a classroom
/// behind one address because some pupils mistyped the code.
///
/// Only failures are counted, per address and per network (/24, /56).
/// While either bucket is empty, a first message is refused before the
/// code is even looked up, so an attacker learns nothing from it; but a
/// code the address already knows (it created that room, or identified in
/// it before) is still let through: that tells an attacker nothing new,
/// and the rest of the class gets in. Shared by every socket, behind a std
/// mutex held only for map lookups (never across `.await`).
#[derive(Debug, Default)]
pub struct FailedJoins {
    tracked: Mutex<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    addresses: HashMap<IpAddr, Address>,
    networks: HashMap<IpAddr, TokenBucket>,
}

#[derive(Debug)]
struct Address {
    failures: TokenBucket,
    /// Room codes this address created or identified in, newest last.
    known: Vec<String>,
}

/// The network an address is throttled with: its /24 or /56.
pub fn network_of(ip: IpAddr) -> IpAddr {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let prefix = if ip.is_ipv4() {
        NET_PREFIX_V4
    } else {
        NET_PREFIX_V6
    };
    ipnet::IpNet::new(ip, prefix).map_or(ip, |net| net.network())
}

impl FailedJoins {
    /// Whether a first message from `ip` naming `code` (already
    /// normalized) may be looked up right now.
    pub fn allowed(&self, ip: IpAddr, code: Option<&str>, now: Instant) -> bool {
        let mut tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        let address = tracked.addresses.get_mut(&ip);
        if let (Some(address), Some(code)) = (&address, code) {
            if address.known.iter().any(|k| k == code) {
                return true;
            }
        }
        let address_ok = address.is_none_or(|a| a.failures.has_token(now));
        let network_ok = tracked
            .networks
            .get_mut(&network_of(ip))
            .is_none_or(|bucket| bucket.has_token(now));
        address_ok && network_ok
    }

    /// Counts one failed join (unknown room code) against `ip` and its network.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        tracked.make_room(now);
        tracked
            .addresses
            .entry(ip)
            .or_insert_with(|| Address::new(now))
            .failures
            .try_take(now);
        tracked
            .networks
            .entry(network_of(ip))
            .or_insert_with(|| {
                TokenBucket::new(FAILED_JOIN_NET_BURST, FAILED_JOINS_NET_PER_SEC, now)
            })
            .try_take(now);
    }

    /// `ip` created the room `code` or identified in it: later attempts
    /// from `ip` with that code pass even while `ip` is throttled.
    pub fn remember(&self, ip: IpAddr, code: &str, now: Instant) {
        let mut tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        tracked.make_room(now);
        let address = tracked
            .addresses
            .entry(ip)
            .or_insert_with(|| Address::new(now));
        if address.known.iter().any(|k| k == code) {
            return;
        }
        if address.known.len() >= KNOWN_CODES_PER_ADDRESS {
            address.known.remove(0);
        }
        address.known.push(code.to_string());
    }
}

impl Address {
    fn new(now: Instant) -> Address {
        Address {
            failures: TokenBucket::new(FAILED_JOIN_BURST, FAILED_JOINS_PER_SEC, now),
            known: Vec::new(),
        }
    }
}

impl Tracked {
    /// Bounds memory: past the limit, entries that hold nothing a refill
    /// would not give back are forgotten (known codes of an unthrottled
    /// address go with them: they matter only once it fails again).
    fn make_room(&mut self, now: Instant) {
        if self.addresses.len() >= MAX_TRACKED_ADDRESSES {
            self.addresses.retain(|_, a| !a.failures.is_full(now));
        }
        if self.networks.len() >= MAX_TRACKED_ADDRESSES {
            self.networks.retain(|_, bucket| !bucket.is_full(now));
        }
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
        let b: IpAddr = "127.0.1.2".parse().unwrap();
        for _ in 0..FAILED_JOIN_BURST {
            assert!(limiter.allowed(a, None, t0));
            limiter.record_failure(a, t0);
        }
        assert!(!limiter.allowed(a, Some("K7XQ2M"), t0));
        assert!(
            limiter.allowed(b, None, t0),
            "another network is not affected"
        );
        let later = t0 + Duration::from_secs_f64(1.0 / FAILED_JOINS_PER_SEC);
        assert!(
            limiter.allowed(a, None, later),
            "the limit refills with time"
        );
    }

    #[test]
    fn a_known_code_passes_while_the_address_is_throttled() {
        let t0 = Instant::now();
        let limiter = FailedJoins::default();
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        limiter.remember(a, "K7XQ2M", t0);
        for _ in 0..FAILED_JOIN_BURST * 3 {
            limiter.record_failure(a, t0);
        }
        assert!(limiter.allowed(a, Some("K7XQ2M"), t0));
        assert!(!limiter.allowed(a, Some("K7XQ2N"), t0));
        assert!(!limiter.allowed(a, None, t0));
    }

    #[test]
    fn a_network_shares_one_budget() {
        let t0 = Instant::now();
        let limiter = FailedJoins::default();
        let mut evaluated = 0;
        for host in 0..=255u8 {
            let ip = IpAddr::from([203, 0, 113, host]);
            while limiter.allowed(ip, None, t0) {
                limiter.record_failure(ip, t0);
                evaluated += 1;
            }
        }
        assert_eq!(evaluated, FAILED_JOIN_NET_BURST);
        assert!(limiter.allowed("203.0.114.1".parse().unwrap(), None, t0));
        assert_eq!(
            network_of("2001:db8:1:2ff::1".parse().unwrap()),
            "2001:db8:1:200::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            network_of("::ffff:198.51.100.7".parse().unwrap()),
            "198.51.100.0".parse::<IpAddr>().unwrap()
        );
    }
}
