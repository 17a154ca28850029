//! The cost of one broadcast as the server does it: serialize the message
//! once, then push a cheap clone of the same bytes into every recipient's
//! bounded outbox (the server's own `Outbox`, never waiting). Compared with
//! serializing per recipient, which is what "serialize once" saves. The
//! socket writes that follow are measured by the fan-out scenario.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes};
use quizroom::live::ws::outbox::{Outbox, OutboxReceiver};
use quizroom::protocol::{Mode, QuestionMsg, ServerMsg};
use serde::Serialize;

/// Timings for one audience size, in nanoseconds.
#[derive(Debug, Clone, Serialize)]
pub struct BroadcastCost {
    pub recipients: usize,
    pub message_bytes: usize,
    /// One `serde_json` serialization of the message.
    pub serialize_ns: f64,
    /// Serialize once + one clone and outbox push per recipient.
    pub shared_total_ns: f64,
    pub shared_per_recipient_ns: f64,
    /// Serialize per recipient + outbox push (what sharing avoids).
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
        option_ids: None,
    })
}

/// Measures broadcasts to `recipients` queues, repeating until `budget`
/// is used or `max_iters` broadcasts were made, whichever comes first.
pub fn measure(recipients: usize, budget: Duration, max_iters: u32) -> BroadcastCost {
    let msg = sample_question();
    let (txs, rxs): (Vec<Outbox>, Vec<OutboxReceiver>) =
        (0..recipients).map(|_| Outbox::new(256)).unzip();
    // Taking the message off stands in for each socket's writer task.
    let drain = || {
        for rx in &rxs {
            while rx.try_recv().is_some() {}
        }
    };
    let message_bytes = serde_json::to_vec(&msg).map_or(0, |v| v.len());
    let encode = || Utf8Bytes::from(serde_json::to_string(&msg).unwrap_or_default());

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
        std::hint::black_box(encode());
    });
    let shared_total_ns = time(&mut || {
        let frame = Message::Text(encode());
        for tx in &txs {
            let _ = tx.try_push(frame.clone());
        }
        drain();
    });
    let per_copy_total_ns = time(&mut || {
        for tx in &txs {
            let _ = tx.try_push(Message::Text(encode()));
        }
        drain();
    });
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
