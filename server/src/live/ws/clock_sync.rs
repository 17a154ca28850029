//! Clock sync with one player's client, NTP style, so a buzzer press can be
//! placed at the instant it was made rather than the instant it arrived.
//!
//! The socket sends `sync` probes stamped with server time `t1`; the client
//! answers with its own clock `c` at once; the reply arrives at `t4`. One
//! sample is then
//!
//! - round trip `rtt = t4 − t1` (measured by the server alone, so a client
//!   cannot make it look shorter than it is), and
//! - offset `θ = c − (t1 + t4) / 2` (the client's clock minus the server's,
//!   exact when both legs take equally long; off by half the difference
//!   of the legs otherwise).
//!
//! The estimate is robust over the last [`SAMPLES`] samples: the offset is
//! the median offset of the third of them with the shortest round trips
//! (a delayed leg makes a long round trip and a skewed offset, so the
//! shortest trips carry the truest offsets), and the one-way delay bound is
//! `rtt_max / 2 + (rtt_max − rtt_min) + 5 ms`, capped at [`MAX_BOUND_MS`]:
//! half the longest recent round trip, plus the observed jitter, plus a
//! scheduling slack. docs/protocol.md explains how the room uses both.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::{Millis, PressTiming, ServerMsg};

/// Samples the estimate is taken over.
pub const SAMPLES: usize = 12;
/// Probes in flight at once; an older unanswered probe is forgotten.
const IN_FLIGHT: usize = 4;
/// Probes sent right after the socket identifies, `BURST_GAP_MS` apart, so
/// a player has an estimate within about a second of joining.
const BURST: u32 = 5;
/// Gap between the first probes.
const BURST_GAP_MS: u64 = 250;
/// Gap between later probes: enough to follow a network that changes
/// (Wi-Fi to mobile) without costing a busy room much.
const STEADY_GAP_MS: u64 = 2_000;
/// A reply slower than this is not a sample (the probe was lost in a stall).
const MAX_RTT_MS: f64 = 2_000.0;
/// The largest one-way delay bound ever granted: the most a client can
/// gain by claiming an early press, whatever it does to its replies.
pub const MAX_BOUND_MS: u64 = 1_000;
/// Added to the bound for timer and scheduling granularity on both ends.
const SLACK_MS: f64 = 5.0;
/// Client clock readings further from zero than this are refused as junk.
const MAX_CLOCK_MS: f64 = 1e15;

/// The server's clock in milliseconds with sub-millisecond precision.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// One round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    rtt_ms: f64,
    offset_ms: f64,
}

/// What the samples say about one client's clock and link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Client clock minus server clock, in ms.
    pub offset_ms: f64,
    /// Longest plausible one-way trip of a message from the client, in ms.
    pub bound_ms: u64,
    /// Shortest recent round trip, in ms.
    pub rtt_min_ms: f64,
}

/// The sync state of one socket: probes in flight and recent samples.
#[derive(Debug, Default)]
pub struct ClockSync {
    samples: VecDeque<Sample>,
    in_flight: VecDeque<(u32, f64)>,
    next_id: u32,
    sent: u32,
}

impl ClockSync {
    /// A socket that has not been probed yet.
    pub fn new() -> ClockSync {
        ClockSync::default()
    }

    /// A new probe stamped `now` (server ms), remembered until answered.
    pub fn probe(&mut self, now: f64) -> ServerMsg {
        self.next_id = self.next_id.wrapping_add(1);
        self.sent = self.sent.saturating_add(1);
        if self.in_flight.len() == IN_FLIGHT {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back((self.next_id, now));
        ServerMsg::Sync {
            id: self.next_id,
            server_ms: now.max(0.0) as Millis,
        }
    }

    /// How long to wait before the next probe.
    pub fn next_gap_ms(&self) -> u64 {
        if self.sent < BURST {
            BURST_GAP_MS
        } else {
            STEADY_GAP_MS
        }
    }

    /// A `sync_reply` arrived at `now`. Only an answer to a probe in flight
    /// counts, once; anything else (unknown id, junk clock, a stall) is
    /// ignored. Returns whether it became a sample.
    pub fn reply(&mut self, id: u32, client_ms: f64, now: f64) -> bool {
        let Some(pos) = self.in_flight.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        let Some((_, sent)) = self.in_flight.remove(pos) else {
            return false;
        };
        let rtt = now - sent;
        if !client_ms.is_finite()
            || client_ms.abs() > MAX_CLOCK_MS
            || !(0.0..=MAX_RTT_MS).contains(&rtt)
        {
            return false;
        }
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            rtt_ms: rtt,
            offset_ms: client_ms - (sent + now) / 2.0,
        });
        true
    }

    /// The current estimate; `None` until the first sample.
    pub fn estimate(&self) -> Option<Estimate> {
        if self.samples.is_empty() {
            return None;
        }
        let mut by_rtt: Vec<Sample> = self.samples.iter().copied().collect();
        by_rtt.sort_by(|a, b| a.rtt_ms.total_cmp(&b.rtt_ms));
        let best = by_rtt.len().div_ceil(3);
        let mut offsets: Vec<f64> = by_rtt.iter().take(best).map(|s| s.offset_ms).collect();
        offsets.sort_by(f64::total_cmp);
        let offset_ms = median(&offsets)?;
        let rtt_min = by_rtt.first()?.rtt_ms;
        let rtt_max = by_rtt.last()?.rtt_ms;
        let bound = rtt_max / 2.0 + (rtt_max - rtt_min) + SLACK_MS;
        Some(Estimate {
            offset_ms,
            bound_ms: (bound.ceil().max(0.0) as u64).min(MAX_BOUND_MS),
            rtt_min_ms: rtt_min,
        })
    }

    /// What the room needs to place a press that arrived at `arrival`.
    pub fn timing(&self, arrival: Millis) -> PressTiming {
        let estimate = self.estimate();
        PressTiming {
            arrival,
            offset_ms: estimate.map(|e| e.offset_ms),
            bound_ms: estimate.map_or(0, |e| e.bound_ms),
        }
    }
}

/// The middle of sorted values (the mean of the two middle ones).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let hi = *sorted.get(n / 2)?;
    if n % 2 == 1 {
        Some(hi)
    } else {
        Some((sorted.get(n / 2 - 1)? + hi) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(msg: &ServerMsg) -> u32 {
        match msg {
            ServerMsg::Sync { id, .. } => *id,
            other => panic!("not a probe: {other:?}"),
        }
    }

    /// A client whose clock runs `offset` ahead, behind legs of `up`/`down` ms.
    fn round(sync: &mut ClockSync, t: f64, offset: f64, down: f64, up: f64) -> bool {
        let id = id_of(&sync.probe(t));
        sync.reply(id, t + down + offset, t + down + up)
    }

    #[test]
    fn symmetric_legs_give_the_exact_offset_and_a_bound_over_the_leg() {
        let mut sync = ClockSync::new();
        assert_eq!(sync.estimate(), None);
        for i in 0..8 {
            assert!(round(
                &mut sync,
                1000.0 * f64::from(i),
                -4_000.0,
                50.0,
                50.0
            ));
        }
        let e = sync.estimate().unwrap();
        assert!((e.offset_ms + 4_000.0).abs() < 1e-6, "{e:?}");
        assert_eq!(e.bound_ms, 55);
        assert!((e.rtt_min_ms - 100.0).abs() < 1e-6);
    }

    #[test]
    fn the_shortest_trips_decide_the_offset_and_jitter_widens_the_bound() {
        let mut sync = ClockSync::new();
        // Two fast symmetric trips among slow lopsided ones.
        round(&mut sync, 0.0, 300.0, 20.0, 20.0);
        for i in 1..6 {
            round(&mut sync, 100.0 * f64::from(i), 300.0, 20.0, 200.0);
        }
        round(&mut sync, 900.0, 300.0, 21.0, 21.0);
        let e = sync.estimate().unwrap();
        assert!((e.offset_ms - 300.0).abs() < 1.0, "{e:?}");
        // rtt 40..220: 110 + 180 + 5.
        assert_eq!(e.bound_ms, 295);
    }

    #[test]
    fn only_answers_to_probes_in_flight_count_once() {
        let mut sync = ClockSync::new();
        let id = id_of(&sync.probe(0.0));
        assert!(!sync.reply(id + 1, 5.0, 10.0), "unknown id");
        assert!(sync.reply(id, 5.0, 10.0));
        assert!(!sync.reply(id, 5.0, 10.0), "answered twice");
        let id = id_of(&sync.probe(20.0));
        assert!(!sync.reply(id, f64::NAN, 30.0), "junk clock");
        let id = id_of(&sync.probe(40.0));
        assert!(!sync.reply(id, 0.0, 40.0 + MAX_RTT_MS + 1.0), "stalled");
        // Only the newest probes stay in flight.
        let first = id_of(&sync.probe(50.0));
        for _ in 0..IN_FLIGHT {
            sync.probe(60.0);
        }
        assert!(!sync.reply(first, 0.0, 70.0));
    }

    #[test]
    fn the_bound_is_capped_however_slow_the_replies() {
        let mut sync = ClockSync::new();
        round(&mut sync, 0.0, 0.0, 5.0, 5.0);
        round(&mut sync, 10.0, 0.0, 5.0, 1_900.0);
        assert_eq!(sync.estimate().unwrap().bound_ms, MAX_BOUND_MS);
    }

    #[test]
    fn old_samples_fall_out_and_probes_slow_down_after_the_burst() {
        let mut sync = ClockSync::new();
        for i in 0..SAMPLES {
            assert_eq!(
                sync.next_gap_ms(),
                if i < BURST as usize {
                    BURST_GAP_MS
                } else {
                    STEADY_GAP_MS
                }
            );
            round(&mut sync, i as f64 * 10.0, 0.0, 400.0, 400.0);
        }
        for i in 0..SAMPLES {
            round(&mut sync, 1e4 + i as f64 * 10.0, 0.0, 10.0, 10.0);
        }
        assert_eq!(sync.estimate().unwrap().bound_ms, 15);
        let t = sync.timing(77);
        assert_eq!((t.arrival, t.bound_ms), (77, 15));
        assert_eq!(t.offset_ms, Some(0.0));
    }
}
