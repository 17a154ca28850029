//! Server memory over a classroom run, judged against what the server is
//! meant to keep. A room holds the answers of its current question (the
//! finished ones leave memory once the store holds them) and SQLite's page
//! cache fills once, so a playing server's RSS may rise a little; "flat"
//! means nothing rises beyond that, and the rate over the last half stays
//! within a school day's budget.

use std::time::Duration;

use crate::report::Outcome;
use crate::target::Target;

/// Heap a held answer may cost, in bytes: its entry in the question's
/// answer map, its choices, its points, and its share of the question's
/// record. Measured with heaptrack on 50 rooms × 40 players (6,248
/// answers, 200 questions): 1.29 MB retained, about 210 bytes an answer;
/// the budget leaves about 1.8× for allocator rounding and fragmentation,
/// and is tight enough that a leak of one small allocation per answer, or
/// of a few bytes per message sent, breaks it.
pub const ANSWER_BUDGET_BYTES: f64 = 384.0;

/// Growth allowed once for SQLite's page cache, in KiB: its default cache
/// is 2,000 KiB per connection (the results store has one) and it fills
/// as answers are written; measured 2.4 MB at the end of a short run.
pub const SQLITE_CACHE_ALLOWANCE_KIB: f64 = 4096.0;

/// Growth a school day may cost, MB (10^6 bytes) per hour: 475 rooms asking
/// every 10 s must run all day without their finished questions piling up
/// in memory (they are in the store).
pub const DAY_GROWTH_MB_PER_H: f64 = 64.0;

/// Fewest answers in the last half for the per-answer slope to mean
/// anything (a smoke run has a few dozen).
const SLOPE_MIN_ANSWERS: u64 = 1000;

/// Runs at least this long print a progress line to stderr every
/// [`PROGRESS_EVERY`], so a long day that is stopped early still leaves
/// its growth so far in the log.
const PROGRESS_FROM: Duration = Duration::from_secs(600);
/// How often a long run prints its progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(300);

/// One reading of the server during play.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since play started.
    pub t_ms: u64,
    pub rss_kib: u64,
    /// Anonymous resident memory (heap, stacks).
    pub anon_kib: u64,
    /// Answer inputs the server had received (its `/metrics`), if read.
    pub inputs: Option<u64>,
}

/// Reads RSS and the server's answer-input counter every `every` for
/// `total`, the first reading at once (the start of play).
pub async fn sample(target: &Target, total: Duration, every: Duration) -> Vec<Sample> {
    let start = tokio::time::Instant::now();
    let end = start + total;
    let mut v = Vec::new();
    // Bounded: one reading per `every` until `end` (at least 1 ms apart).
    let every = every.max(Duration::from_millis(1));
    let mut next = start;
    let mut printed_s = 0;
    while next < end {
        tokio::time::sleep_until(next).await;
        let t_ms = start.elapsed().as_millis() as u64;
        if let Some(m) = target.mem() {
            let inputs = target.answer_inputs().await;
            v.push(Sample {
                t_ms,
                rss_kib: m.rss_kib,
                anon_kib: m.anon_kib,
                inputs,
            });
            if total >= PROGRESS_FROM && t_ms / 1000 >= printed_s + PROGRESS_EVERY.as_secs() {
                printed_s = t_ms / 1000;
                eprintln!("{}", progress_line(&v));
            }
        }
        next += every;
    }
    v
}

/// What the samples say, in KiB unless named otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub start_kib: u64,
    /// RSS at the end of each quarter of the samples.
    pub quarters_kib: [u64; 4],
    pub growth_kib: f64,
    pub anon_growth_kib: f64,
    /// Growth minus what held answers and the SQLite cache may take
    /// (negative: under budget).
    pub unexplained_kib: f64,
    pub growth_per_answer_bytes: Option<f64>,
    /// Least-squares RSS slope over the last half, KiB/s.
    pub last_half_slope_kib_s: Option<f64>,
    /// Answer inputs received over the last half (server counter).
    pub last_half_inputs: Option<u64>,
    /// RSS growth over the last half per answer input received in it.
    pub last_half_bytes_per_input: Option<f64>,
    /// The old measure: mean of the last quarter over the second, %.
    pub old_q2_vs_q4_pct: Option<f64>,
}

/// Judges `samples` given the answers the server holds at the end.
pub fn judge(samples: &[Sample], answers_held: u64) -> Option<Verdict> {
    let first = samples.first()?;
    let last = samples.last()?;
    let n = samples.len();
    let at = |f: usize| samples[(n * f / 4).saturating_sub(1).min(n - 1)].rss_kib;
    let growth_kib = last.rss_kib as f64 - first.rss_kib as f64;
    let budget_kib =
        answers_held as f64 * ANSWER_BUDGET_BYTES / 1024.0 + SQLITE_CACHE_ALLOWANCE_KIB;
    let half = &samples[n / 2..];
    let (mid, end) = (half.first()?, half.last()?);
    let last_half_inputs = match (mid.inputs, end.inputs) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let last_half_bytes_per_input = last_half_inputs
        .filter(|&i| i >= SLOPE_MIN_ANSWERS)
        .map(|i| (end.rss_kib as f64 - mid.rss_kib as f64) * 1024.0 / i as f64);
    Some(Verdict {
        start_kib: first.rss_kib,
        quarters_kib: [at(1), at(2), at(3), at(4)],
        growth_kib,
        anon_growth_kib: last.anon_kib as f64 - first.anon_kib as f64,
        unexplained_kib: growth_kib - budget_kib,
        growth_per_answer_bytes: (answers_held > 0)
            .then(|| growth_kib * 1024.0 / answers_held as f64),
        last_half_slope_kib_s: slope(half),
        last_half_inputs,
        last_half_bytes_per_input,
        old_q2_vs_q4_pct: q2_vs_q4(samples),
    })
}

/// What the samples so far say: elapsed play, RSS now, growth since play
/// started and the last half's RSS slope in MB/h.
pub fn progress_line(samples: &[Sample]) -> String {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return "memory: no samples yet".into();
    };
    let half_slope = slope(&samples[samples.len() / 2..]).map_or("-".to_string(), |s| {
        format!("{:.1}", s * 1024.0 * 3600.0 / 1e6)
    });
    format!(
        "memory at {} s of play: RSS {:.1} MB (anon {:.1} MB), {:+.1} MB since play started, last half {} MB/h, answer inputs {}",
        last.t_ms / 1000,
        last.rss_kib as f64 * 1.024 / 1000.0,
        last.anon_kib as f64 * 1.024 / 1000.0,
        (last.rss_kib as f64 - first.rss_kib as f64) * 1.024 / 1000.0,
        half_slope,
        match (first.inputs, last.inputs) {
            (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
            _ => "-".into(),
        }
    )
}

/// Least-squares slope of RSS over time, KiB/s; None under 2 distinct times.
fn slope(s: &[Sample]) -> Option<f64> {
    let n = s.len() as f64;
    let mt = s.iter().map(|x| x.t_ms as f64 / 1000.0).sum::<f64>() / n;
    let mr = s.iter().map(|x| x.rss_kib as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for x in s {
        let dt = x.t_ms as f64 / 1000.0 - mt;
        num += dt * (x.rss_kib as f64 - mr);
        den += dt * dt;
    }
    (den > 0.0).then(|| num / den)
}

/// How much the mean RSS of the last quarter of the samples exceeds that of
/// the second quarter (the first quarter is warm-up), in percent. Kept for
/// comparison with earlier runs; it reads the legitimate growth of held
/// answers as a percentage of a base that the socket layer keeps shrinking.
fn q2_vs_q4(samples: &[Sample]) -> Option<f64> {
    if samples.len() < 8 {
        return None;
    }
    let q = samples.len() / 4;
    let mean = |s: &[Sample]| s.iter().map(|x| x.rss_kib).sum::<u64>() as f64 / s.len() as f64;
    let early = mean(&samples[q..2 * q]);
    let late = mean(&samples[samples.len() - q..]);
    Some((late - early) / early.max(1.0) * 100.0)
}

/// Puts the verdict into `out`: metrics, and the two checks of a flat
/// server (growth within the held answers' budget over the run, and per
/// answer over the last half).
pub fn report(out: &mut Outcome, v: &Verdict, answers_held: u64, questions: f64) {
    out.metric("server_rss_play_start_kib", v.start_kib as f64);
    for (i, q) in v.quarters_kib.iter().enumerate() {
        out.metric(&format!("server_rss_q{}_kib", i + 1), *q as f64);
    }
    out.metric("server_rss_growth_kib", v.growth_kib);
    out.metric("server_rss_anon_growth_kib", v.anon_growth_kib);
    out.metric("answers_held", answers_held as f64);
    if questions > 0.0 {
        out.metric(
            "server_rss_growth_per_question_kib",
            v.growth_kib / questions,
        );
    }
    if let Some(b) = v.growth_per_answer_bytes {
        out.metric("server_rss_growth_per_answer_bytes", b);
    }
    out.metric("server_rss_unexplained_growth_kib", v.unexplained_kib);
    if let Some(s) = v.last_half_slope_kib_s {
        out.metric("server_rss_last_half_slope_kib_per_s", s);
        let mb_per_h = s * 1024.0 * 3600.0 / 1e6;
        out.metric("server_rss_last_half_mb_per_h", mb_per_h);
        out.check(
            "server RSS growth rate, last half (MB/h)",
            mb_per_h,
            &format!("≤ {DAY_GROWTH_MB_PER_H}"),
            mb_per_h <= DAY_GROWTH_MB_PER_H,
        );
    }
    if let Some(i) = v.last_half_inputs {
        out.metric("server_answer_inputs_last_half", i as f64);
    }
    if let Some(g) = v.old_q2_vs_q4_pct {
        // The old name, so earlier result files compare.
        out.metric("server_rss_growth_pct", g);
    }
    out.check(
        "server RSS growth beyond held answers KiB",
        v.unexplained_kib,
        &format!(
            "≤ 0 ({ANSWER_BUDGET_BYTES} B × {answers_held} answers + {SQLITE_CACHE_ALLOWANCE_KIB} KiB SQLite cache)"
        ),
        v.unexplained_kib <= 0.0,
    );
    if let Some(b) = v.last_half_bytes_per_input {
        out.metric("server_rss_last_half_bytes_per_answer_input", b);
        out.check(
            "server RSS growth per answer, last half (bytes)",
            b,
            &format!("≤ {ANSWER_BUDGET_BYTES}"),
            b <= ANSWER_BUDGET_BYTES,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One sample a second: `rss(i)`, and 1,000 answer inputs a second.
    fn run(n: u64, rss: impl Fn(u64) -> u64) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                t_ms: i * 1000,
                rss_kib: rss(i),
                anon_kib: rss(i).saturating_sub(8000),
                inputs: Some(i * 1000),
            })
            .collect()
    }

    #[test]
    fn a_progress_line_gives_the_growth_so_far() {
        // 1 MiB over the first half, then flat: the last half is flat.
        let s = run(601, |i| 60_000 + i.min(300) * 1024 / 300);
        let line = progress_line(&s);
        assert!(
            line.starts_with("memory at 600 s of play: RSS 62.5 MB"),
            "{line}"
        );
        assert!(line.contains("+1.0 MB since play started"), "{line}");
        assert!(line.contains("last half 0.0 MB/h"), "{line}");
        assert!(line.ends_with("answer inputs 600000"), "{line}");
        assert_eq!(progress_line(&[]), "memory: no samples yet");
    }

    #[test]
    fn held_answers_within_budget_pass() {
        // 200 bytes per answer, 1,000 answers a second, 60 s.
        let s = run(60, |i| 60_000 + i * 200 * 1000 / 1024);
        let v = judge(&s, 59_000).unwrap();
        assert!(v.unexplained_kib < 0.0, "{v:?}");
        let b = v.last_half_bytes_per_input.unwrap();
        assert!((190.0..=210.0).contains(&b), "{v:?}");
        assert!(v.last_half_slope_kib_s.unwrap() > 190.0, "{v:?}");
        let mut out = Outcome::new("classroom");
        report(&mut out, &v, 59_000, 300.0);
        // Within the per-answer budget, but 700 MB an hour: not a day.
        let day = "server RSS growth rate, last half (MB/h)";
        assert!(
            out.checks.iter().all(|c| c.pass == (c.name != day)),
            "{:?}",
            out.checks
        );
        assert!(out.metrics["server_rss_last_half_mb_per_h"] > 600.0);
        assert_eq!(out.metrics["server_rss_play_start_kib"], 60_000.0);
        assert_eq!(out.metrics["answers_held"], 59_000.0);
        assert!(out.metrics.contains_key("server_rss_growth_pct"));
    }

    #[test]
    fn growth_beyond_the_answers_fails_both_checks() {
        // 600 bytes per answer input: a leak on top of what is held.
        let s = run(60, |i| 60_000 + i * 600 * 1000 / 1024);
        let v = judge(&s, 59_000).unwrap();
        assert!(v.unexplained_kib > 0.0, "{v:?}");
        let mut out = Outcome::new("classroom");
        report(&mut out, &v, 59_000, 300.0);
        assert_eq!(out.checks.len(), 3);
        assert!(out.checks.iter().all(|c| !c.pass), "{:?}", out.checks);
    }

    #[test]
    fn a_server_that_drops_finished_questions_passes_the_day() {
        // 2 KiB a second after warm-up: 7.4 MB an hour.
        let s = run(60, |i| 60_000 + i * 2);
        let v = judge(&s, 59_000).unwrap();
        let mut out = Outcome::new("classroom");
        report(&mut out, &v, 59_000, 300.0);
        assert_eq!(out.checks.len(), 3);
        assert!(out.checks.iter().all(|c| c.pass), "{:?}", out.checks);
        let rate = out.metrics["server_rss_last_half_mb_per_h"];
        assert!((7.0..8.0).contains(&rate), "{rate}");
    }

    #[test]
    fn growth_with_no_answers_is_unexplained() {
        // 10 MiB over the run and nothing answered: not flat.
        let s = run(20, |i| 60_000 + i * 540);
        let v = judge(&s, 0).unwrap();
        assert!(v.unexplained_kib > 5000.0, "{v:?}");
        assert_eq!(v.growth_per_answer_bytes, None);
        assert_eq!(
            v.quarters_kib,
            [
                60_000 + 4 * 540,
                60_000 + 9 * 540,
                60_000 + 14 * 540,
                60_000 + 19 * 540
            ]
        );
    }

    #[test]
    fn the_old_measure_ignores_warm_up() {
        let flat = run(8, |_| 100);
        assert_eq!(q2_vs_q4(&flat), Some(0.0));
        let rising: Vec<Sample> = [50, 50, 100, 100, 110, 110, 120, 120]
            .iter()
            .enumerate()
            .map(|(i, &r)| Sample {
                t_ms: i as u64 * 1000,
                rss_kib: r,
                anon_kib: r,
                inputs: None,
            })
            .collect();
        assert_eq!(q2_vs_q4(&rising), Some(20.0));
        assert_eq!(q2_vs_q4(&rising[..3]), None);
    }

    #[test]
    fn few_answers_in_the_last_half_give_no_slope_verdict() {
        let s: Vec<Sample> = run(10, |i| 60_000 + i)
            .into_iter()
            .map(|x| Sample {
                inputs: Some(x.t_ms / 100),
                ..x
            })
            .collect();
        let v = judge(&s, 50).unwrap();
        assert_eq!(v.last_half_bytes_per_input, None);
        let mut out = Outcome::new("classroom");
        report(&mut out, &v, 50, 3.0);
        assert!(out.checks.iter().all(|c| !c.name.contains("per answer")));
    }
}
