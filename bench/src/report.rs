//! A scenario's outcome: one structure printed as a table for people and
//! as JSON for tools and for docs/benchmarks.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::ctl::Totals;
use crate::hist::{Latency, Summary};

/// A target from the issue and whether this run met it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub value: f64,
    /// Human-readable target, e.g. `≤ 50 ms`.
    pub target: String,
    pub pass: bool,
}

/// The load on the machine around the run (it is shared, so say so).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub loadavg_before: String,
    pub loadavg_after: String,
}

impl Machine {
    /// Reads the core count and the current load average.
    pub fn now() -> Machine {
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            loadavg_before: loadavg(),
            loadavg_after: String::new(),
        }
    }
}

/// The first three fields of /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Everything a scenario measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub scenario: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub machine: Machine,
    /// Latencies by name, over every sample of the run, each ending when a
    /// generator task read the frame ("read": what the generator itself
    /// adds is included). The definition of every earlier run.
    pub latencies: BTreeMap<String, Summary>,
    /// The same latencies ending when the frame's bytes reached the
    /// client's socket (the kernel receive stamp of the read that completed
    /// the frame: "the player has it"). Frames without a stamp are left out
    /// and counted in the `frames_without_stamp` metrics.
    #[serde(default)]
    pub arrival_latencies: BTreeMap<String, Summary>,
    /// Named numbers (rates, memory, counts).
    pub metrics: BTreeMap<String, f64>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl Outcome {
    /// An empty outcome for `scenario`.
    pub fn new(scenario: &str) -> Outcome {
        Outcome {
            scenario: scenario.to_string(),
            machine: Machine::now(),
            ..Default::default()
        }
    }

    /// Records a parameter of the run.
    pub fn param(&mut self, name: &str, v: impl Serialize) {
        self.params.insert(
            name.to_string(),
            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
        );
    }

    /// Records a named number.
    pub fn metric(&mut self, name: &str, v: f64) {
        self.metrics.insert(name.to_string(), v);
    }

    /// Records a target: `pass` says whether `value` meets it.
    pub fn check(&mut self, name: &str, value: f64, target: &str, pass: bool) {
        self.checks.push(Check {
            name: name.to_string(),
            value,
            target: target.to_string(),
            pass,
        });
    }

    /// Adds the workers' counters and merged histograms (read and arrival).
    pub fn absorb(&mut self, totals: &[Totals]) -> Merged {
        let mut hists: BTreeMap<String, Latency> = BTreeMap::new();
        let mut arrival: BTreeMap<String, Latency> = BTreeMap::new();
        let mut counts: BTreeMap<String, f64> = BTreeMap::new();
        let mut sum = |name: &str, v: f64| *counts.entry(name.to_string()).or_default() += v;
        for t in totals {
            sum("clients_connected", t.connected.into());
            sum("clients_failed", t.failed.into());
            sum("clients_dropped", t.dropped.into());
            sum("stalled_evicted", t.stalled_evicted.into());
            sum("stalled_still_open", t.stalled_open.into());
            sum("messages_received", t.messages as f64);
            sum("bytes_received", t.bytes as f64);
            sum("receives_unmatched", t.unmatched as f64);
            sum("host_rounds", t.rounds as f64);
            sum("frames_stamp_after_read", t.stamp_after_read as f64);
            sum("frames_without_stamp", 0.0);
            for (name, n) in &t.unstamped {
                sum("frames_without_stamp", *n as f64);
                sum(&format!("frames_without_stamp:{name}"), *n as f64);
            }
            for (name, wire) in &t.hists {
                hists
                    .entry(name.clone())
                    .or_default()
                    .merge(&Latency::from_wire(wire));
            }
            for (name, wire) in &t.arrival_hists {
                arrival
                    .entry(name.clone())
                    .or_default()
                    .merge(&Latency::from_wire(wire));
            }
            for (code, n) in &t.errors {
                sum(&format!("error:{code}"), *n as f64);
            }
        }
        for (name, v) in counts {
            *self.metrics.entry(name).or_default() += v;
        }
        for (name, h) in &hists {
            self.latencies.insert(name.clone(), h.summary());
        }
        for (name, h) in &arrival {
            self.arrival_latencies.insert(name.clone(), h.summary());
        }
        Merged {
            read: hists,
            arrival,
        }
    }

    /// Records one latency measured both ways.
    pub fn both(&mut self, name: &str, read: Summary, arrival: Summary) {
        self.latencies.insert(name.to_string(), read);
        self.arrival_latencies.insert(name.to_string(), arrival);
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "== scenario {} ==", self.scenario);
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "params: {}", params.join(" "));
        let _ = writeln!(
            s,
            "machine: {} cpus, load {} -> {}",
            self.machine.nproc, self.machine.loadavg_before, self.machine.loadavg_after
        );
        if !self.latencies.is_empty() {
            let _ = writeln!(
                s,
                "latency ends at: arrival = kernel receive stamp (the player has it); \
                 read = the generator task read it (+ generator delay)"
            );
            let _ = writeln!(
                s,
                "{:<22} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency (ms)", "ends at", "count", "p50", "p90", "p99", "p99.9", "max"
            );
            for (name, read) in &self.latencies {
                let rows = [
                    ("arrival", self.arrival_latencies.get(name)),
                    ("read", Some(read)),
                ];
                for (clock, l) in rows {
                    let Some(l) = l else { continue };
                    let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
                    let _ = writeln!(
                        s,
                        "{:<22} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                        name,
                        clock,
                        l.count,
                        ms(l.p50_us),
                        ms(l.p90_us),
                        ms(l.p99_us),
                        ms(l.p999_us),
                        ms(l.max_us)
                    );
                }
            }
        }
        for (name, v) in &self.metrics {
            let _ = writeln!(s, "{name:<34} {}", fmt_num(*v));
        }
        for c in &self.checks {
            let _ = writeln!(
                s,
                "[{}] {:<30} {:>12}  target {}",
                if c.pass { "PASS" } else { "FAIL" },
                c.name,
                fmt_num(c.value),
                c.target
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }
}

/// Merged histograms of a run, by latency name.
#[derive(Debug, Default)]
pub struct Merged {
    /// Ending at the generator's read.
    pub read: BTreeMap<String, Latency>,
    /// Ending at the kernel's receive stamp.
    pub arrival: BTreeMap<String, Latency>,
}

/// Whole numbers without decimals, others with two.
fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::LatencyWire;

    #[test]
    fn absorb_sums_counters_and_merges_histograms() {
        let mut a = Totals {
            connected: 3,
            messages: 10,
            ..Default::default()
        };
        a.hists
            .insert("question".into(), LatencyWire(vec![(1000, 2)]));
        a.errors.insert("rate_limited".into(), 1);
        let mut b = Totals {
            connected: 2,
            failed: 1,
            ..Default::default()
        };
        b.hists
            .insert("question".into(), LatencyWire(vec![(3000, 1)]));
        b.arrival_hists
            .insert("question".into(), LatencyWire(vec![(2000, 1)]));
        b.unstamped.insert("question".into(), 2);
        let mut o = Outcome::new("t");
        let hists = o.absorb(&[a, b]);
        assert_eq!(o.metrics["clients_connected"], 5.0);
        assert_eq!(o.metrics["clients_failed"], 1.0);
        assert_eq!(o.metrics["error:rate_limited"], 1.0);
        assert_eq!(o.metrics["frames_without_stamp"], 2.0);
        assert_eq!(o.metrics["frames_without_stamp:question"], 2.0);
        assert_eq!(o.metrics["frames_stamp_after_read"], 0.0);
        assert_eq!(hists.read["question"].count(), 3);
        assert_eq!(hists.arrival["question"].count(), 1);
        assert_eq!(o.latencies["question"].count, 3);
        assert!(o.latencies["question"].max_us >= 2990);
        assert_eq!(o.arrival_latencies["question"].count, 1);
    }

    #[test]
    fn table_shows_latencies_metrics_and_verdicts() {
        let mut o = Outcome::new("fanout");
        o.param("players", 10);
        let mut l = Latency::new();
        l.record(1500);
        let mut a = Latency::new();
        a.record(700);
        o.both("question", l.summary(), a.summary());
        o.latencies.insert("join".into(), l.summary());
        o.metric("rss_per_conn_kib", 3.25);
        o.check("question p99 ms", 1.5, "≤ 50 ms", true);
        o.check("last ms", 150.0, "≤ 100 ms", false);
        let t = o.table();
        assert!(t.contains("== scenario fanout =="), "{t}");
        assert!(t.contains("players=10"), "{t}");
        assert!(t.contains("question") && t.contains("1.50"), "{t}");
        let row = |name: &str, clock: &str| {
            t.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 2 && f[0] == name && f[1] == clock
            })
        };
        assert!(row("question", "arrival") && row("question", "read"), "{t}");
        assert!(t.contains("0.70"), "{t}");
        assert!(row("join", "read") && !row("join", "arrival"), "{t}");
        assert!(t.contains("rss_per_conn_kib") && t.contains("3.25"), "{t}");
        assert!(t.contains("[PASS] question p99 ms"), "{t}");
        assert!(t.contains("[FAIL] last ms"), "{t}");
        assert!(o.checks.iter().any(|c| !c.pass));
        let json = serde_json::to_string(&o).unwrap();
        let back: Outcome = serde_json::from_str(&json).unwrap();
        assert_eq!(back.checks, o.checks);
    }

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(fmt_num(19000.0), "19000");
        assert_eq!(fmt_num(2.5), "2.50");
    }
}
