//! The cost of one broadcast as the server does it: serialize the message
//! once, then hand every recipient's bounded queue a cheap clone of the
//! same bytes (`try_send`, never waiting). Compared with serializing per
//! recipient, which is what "serialize once" saves.

use std::time::{Duration, Instant};

use bytes::Bytes;
use quizroom::protocol::{Mode, QuestionMsg, ServerMsg};
use serde::Serialize;
use tokio::sync::mpsc;

/// Timings for one audience size, in nanoseconds.
#[derive(Debug, Clone, Serialize)]
pub struct BroadcastCost {
    pub recipients: usize,
    pub message_bytes: usize,
    /// One `serde_json` serialization of the message.
    pub serialize_ns: f64,
    /// Serialize once + one clone and `try_send` per recipient.
    pub shared_total_ns: f64,
    pub shared_per_recipient_ns: f64,
    /// Serialize per recipient + `try_send` (what sharing avoids).
    pub per_copy_total_ns: f64,
}

/// A question like the ones rooms send (prompt, topic path, four options).
pub fn sample_question() -> ServerMsg {
    ServerMsg::Question(QuestionMsg {
        qid: 17,
        seq: 17,
        mode: Mode::Vote,
        prompt: "Which of these data structures gives O(1) average lookup by key?".into(),
        topic: vec!["Python".into(), "Data structures".into()],
        options: vec![
            "list".into(),
            "dict".into(),
            "tuple".into(),
            "collections.deque".into(),
        ],
        multi: false,
        deadline_ms: Some(20_000),
        time_limit_ms: Some(20_000),
        paused: false,
        open: true,
        phase: None,
        question_id: None,
        correct: None,
        answer: None,
        followups: None,
        notes: None,
    })
}

/// Measures broadcasts to `recipients` queues, repeating until `budget`
/// is used or `max_iters` broadcasts were made, whichever comes first.
pub fn measure(recipients: usize, budget: Duration, max_iters: u32) -> BroadcastCost {
    let msg = sample_question();
    let (txs, mut rxs): (Vec<_>, Vec<_>) =
        (0..recipients).map(|_| mpsc::channel::<Bytes>(256)).unzip();
    let drain = |rxs: &mut Vec<mpsc::Receiver<Bytes>>| {
        for rx in rxs.iter_mut() {
            while rx.try_recv().is_ok() {}
        }
    };
    let message_bytes = serde_json::to_vec(&msg).map_or(0, |v| v.len());

    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        let mut n = 0u32;
        while n < max_iters.max(1) && (n == 0 || start.elapsed() < budget) {
            f();
            n += 1;
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    };

    let serialize_ns = time(&mut || {
        std::hint::black_box(serde_json::to_vec(&msg).unwrap_or_default());
    });
    let mut rxs_ref = std::mem::take(&mut rxs);
    let shared_total_ns = time(&mut || {
        let bytes = Bytes::from(serde_json::to_vec(&msg).unwrap_or_default());
        for tx in &txs {
            let _ = tx.try_send(bytes.clone());
        }
        drain(&mut rxs_ref);
    });
    let per_copy_total_ns = time(&mut || {
        for tx in &txs {
            let bytes = Bytes::from(serde_json::to_vec(&msg).unwrap_or_default());
            let _ = tx.try_send(bytes);
        }
        drain(&mut rxs_ref);
    });
    // Draining is part of both loops equally; it stands in for the writer
    // tasks taking the message off the queue.
    BroadcastCost {
        recipients,
        message_bytes,
        serialize_ns,
        shared_total_ns,
        shared_per_recipient_ns: shared_total_ns / recipients.max(1) as f64,
        per_copy_total_ns,
    }
}

/// A printable table of several measurements.
pub fn table(rows: &[BroadcastCost]) -> String {
    let mut s = String::from(
        "recipients  msg bytes  serialize µs  shared total µs  shared ns/recipient  per-copy total µs\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{:>10}  {:>9}  {:>12.2}  {:>15.1}  {:>19.1}  {:>17.1}\n",
            r.recipients,
            r.message_bytes,
            r.serialize_ns / 1000.0,
            r.shared_total_ns / 1000.0,
            r.shared_per_recipient_ns,
            r.per_copy_total_ns / 1000.0
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_a_public_question() {
        let text = serde_json::to_string(&sample_question()).unwrap();
        assert!(text.starts_with(r#"{"type":"question""#), "{text}");
        assert!(!text.contains("correct"), "{text}");
    }

    #[test]
    fn measures_something_and_stops() {
        let started = Instant::now();
        let c = measure(10, Duration::from_millis(20), 1_000);
        assert_eq!(c.recipients, 10);
        assert!(c.message_bytes > 100);
        assert!(c.serialize_ns > 0.0 && c.shared_total_ns > 0.0 && c.per_copy_total_ns > 0.0);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(table(&[c]).contains("recipients"));
    }
}
