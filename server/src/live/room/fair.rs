//! Latency-compensated buzzer ordering: the instant a press is believed to
//! have been made, from the client's claim and what the socket measured.
//!
//! A claim `pressed_ms` is on the client's clock; the socket's estimate of
//! the client's offset `θ` turns it into server time `pressed_ms − θ`. The
//! claim is trusted only inside `[arrival − bound, arrival]`, where `bound`
//! is the socket's measured one-way delay bound: a press cannot have been
//! made after it arrived, nor longer before than the trip can take. A
//! forged early claim is clamped to `arrival − bound`, so it gains at most
//! `bound` over a press ordered by arrival. Without a claim or without
//! clock samples the press is placed at its arrival.

use crate::protocol::{Millis, PressTiming};

/// Where a press goes: its estimated instant in server time and how it was
/// obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    /// Estimated press instant, server ms.
    pub at: Millis,
    /// The bound the claim was held to; `None` when placed at arrival.
    pub bound_ms: Option<u64>,
    /// The claim lay outside the trusted interval (by more than rounding).
    pub clamped: bool,
}

/// Places a press that arrived at `arrival` (server ms). `compensate` is
/// the room's switch (window > 0).
pub(crate) fn place(
    arrival: Millis,
    pressed_ms: Option<f64>,
    timing: Option<&PressTiming>,
    compensate: bool,
) -> Placed {
    let at_arrival = Placed {
        at: arrival,
        bound_ms: None,
        clamped: false,
    };
    if !compensate {
        return at_arrival;
    }
    let (Some(pressed), Some(timing)) = (pressed_ms, timing) else {
        return at_arrival;
    };
    let Some(offset) = timing.offset_ms else {
        return at_arrival;
    };
    let estimate = pressed - offset;
    if !estimate.is_finite() {
        return at_arrival;
    }
    let earliest = arrival.saturating_sub(timing.bound_ms);
    let (lo, hi) = (earliest as f64, arrival as f64);
    let clamped = estimate < lo - 1.0 || estimate > hi + 1.0;
    let at = estimate.round().clamp(lo, hi) as Millis;
    Placed {
        at,
        bound_ms: Some(timing.bound_ms),
        clamped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(offset: f64, bound: u64) -> PressTiming {
        PressTiming {
            arrival: 0,
            offset_ms: Some(offset),
            bound_ms: bound,
        }
    }

    #[test]
    fn an_honest_claim_inside_the_bound_is_taken_on_the_server_clock() {
        let t = timing(-5_000.0, 300);
        let p = place(10_000, Some(4_800.0), Some(&t), true);
        // Client clock 4_800 − offset (−5_000) = 9_800 server ms.
        assert_eq!(p.at, 9_800);
        assert_eq!(p.bound_ms, Some(300));
        assert!(!p.clamped);
    }

    #[test]
    fn claims_outside_the_interval_are_clamped_to_its_ends() {
        let t = timing(0.0, 300);
        let early = place(10_000, Some(9_000.0), Some(&t), true);
        assert_eq!((early.at, early.clamped), (9_700, true));
        let late = place(10_000, Some(10_500.0), Some(&t), true);
        assert_eq!((late.at, late.clamped), (10_000, true));
        let junk = place(10_000, Some(f64::INFINITY), Some(&t), true);
        assert_eq!((junk.at, junk.bound_ms), (10_000, None));
    }

    #[test]
    fn no_samples_no_claim_or_compensation_off_means_arrival() {
        let none = PressTiming {
            arrival: 0,
            offset_ms: None,
            bound_ms: 0,
        };
        let t = timing(0.0, 300);
        for p in [
            place(500, Some(100.0), Some(&none), true),
            place(500, None, Some(&t), true),
            place(500, Some(400.0), None, true),
            place(500, Some(400.0), Some(&t), false),
        ] {
            assert_eq!(
                p,
                Placed {
                    at: 500,
                    bound_ms: None,
                    clamped: false
                }
            );
        }
        // A bound longer than the clock is old stays at zero.
        assert_eq!(place(100, Some(-1e6), Some(&t), true).at, 0);
    }
}
