//! Latency histograms in microseconds, mergeable across worker processes.
//!
//! Workers record into their own histograms and ship them to the
//! coordinator as `(value, count)` pairs, so percentiles are computed over
//! every sample of the run, not averaged per process.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency kept exactly (60 s); anything slower is clamped to it,
/// which still fails every target by a wide margin.
const MAX_US: u64 = 60_000_000;

/// A latency histogram (µs, 3 significant digits).
#[derive(Debug, Clone)]
pub struct Latency {
    h: Histogram<u64>,
}

/// A histogram as it travels between processes: bucket values and counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyWire(pub Vec<(u64, u64)>);

/// The numbers a report prints for one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// An empty histogram covering 1 µs to 60 s.
    pub fn new() -> Latency {
        // The bounds are constants that hdrhistogram accepts (low ≥ 1,
        // high ≥ 2 × low, 3 significant figures), so this cannot fail.
        let h = Histogram::new_with_bounds(1, MAX_US, 3)
            .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"));
        Latency { h }
    }

    /// Records one sample; zero and negative-free values below 1 µs count
    /// as 1 µs, values above the range as the maximum.
    pub fn record(&mut self, us: u64) {
        self.h.saturating_record(us.clamp(1, MAX_US));
    }

    /// Records `n` samples of the same value.
    pub fn record_n(&mut self, us: u64, n: u64) {
        let _ = self.h.record_n(us.clamp(1, MAX_US), n);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        let _ = self.h.add(&other.h);
    }

    /// Number of samples.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// The compact form sent from a worker to the coordinator.
    pub fn to_wire(&self) -> LatencyWire {
        LatencyWire(
            self.h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// Rebuilds a histogram from its wire form.
    pub fn from_wire(wire: &LatencyWire) -> Latency {
        let mut l = Latency::new();
        for &(v, n) in &wire.0 {
            l.record_n(v, n);
        }
        l
    }

    /// Percentiles for the report; all zero when empty.
    pub fn summary(&self) -> Summary {
        if self.h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.h.len(),
            min_us: self.h.min(),
            p50_us: self.h.value_at_quantile(0.50),
            p90_us: self.h.value_at_quantile(0.90),
            p99_us: self.h.value_at_quantile(0.99),
            p999_us: self.h.value_at_quantile(0.999),
            max_us: self.h.max(),
            mean_us: self.h.mean().round() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_samples() {
        let mut l = Latency::new();
        for us in 1..=1000 {
            l.record(us);
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min_us, 1);
        assert!((499..=501).contains(&s.p50_us), "{s:?}");
        assert!((989..=991).contains(&s.p99_us), "{s:?}");
        assert_eq!(s.max_us, 1000);
    }

    #[test]
    fn wire_round_trip_keeps_every_sample() {
        let mut a = Latency::new();
        for us in [3, 3, 70, 5_000, 123_456] {
            a.record(us);
        }
        let b = Latency::from_wire(&a.to_wire());
        assert_eq!(a.summary(), b.summary());
        let json = serde_json::to_string(&a.to_wire()).unwrap();
        let back: LatencyWire = serde_json::from_str(&json).unwrap();
        assert_eq!(Latency::from_wire(&back).count(), 5);
    }

    #[test]
    fn merge_adds_counts_and_extremes() {
        let mut a = Latency::new();
        a.record(10);
        let mut b = Latency::new();
        b.record(20_000);
        b.record(0);
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.count, 3);
        assert_eq!(s.min_us, 1);
        assert!((19_990..=20_030).contains(&s.max_us), "{s:?}");
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut l = Latency::new();
        l.record(u64::MAX);
        assert_eq!(l.count(), 1);
        assert!(l.summary().max_us >= MAX_US - MAX_US / 1000);
    }

    #[test]
    fn empty_summary_is_zero() {
        assert_eq!(Latency::new().summary(), Summary::default());
    }
}
