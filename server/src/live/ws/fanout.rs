//! One message pushed to many sockets' outboxes (a room's broadcast), on
//! two threads when the audience is big.
//!
//! With direct writes (see [`outbox`](super::outbox)) a push is mostly the
//! socket's `sendmsg`, about 5 µs on loopback, so one room of 10,000 spends
//! some 50 ms writing a question on one thread while the machine's other
//! core may sit idle. An audience of [`SPLIT_AT`] or more is cut in two:
//! a scoped thread pushes the second half while the calling thread pushes
//! the first, and the call returns once both are done, so the room's next
//! message to any socket still comes after this one.

use std::collections::HashMap;

use axum::extract::ws::Message;

use crate::live::room::ConnId;
use crate::live::ws::outbox::{Outbox, PushError};

/// Smallest audience written on two threads: below it, starting a thread
/// (some 20-50 µs) costs more than half the writes save.
pub const SPLIT_AT: usize = 1024;
/// Stack of the helper thread: it only loops over pushes.
const HELPER_STACK: usize = 64 * 1024;

/// What a fan-out did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Sockets that took the message (written or queued).
    pub delivered: usize,
    /// Sockets whose queue was full: slow, to be dropped by the caller.
    pub full: Vec<ConnId>,
}

/// Pushes `frame` to the outbox of every one of `recipients` found in
/// `conns`, without waiting on any socket.
pub fn push_all(conns: &HashMap<ConnId, Outbox>, recipients: &[ConnId], frame: &Message) -> Pushed {
    if recipients.len() < SPLIT_AT {
        return push_part(conns, recipients, frame);
    }
    let (mine, theirs) = recipients.split_at(recipients.len() / 2);
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("quizroom-fanout".into())
            .stack_size(HELPER_STACK)
            .spawn_scoped(scope, || push_part(conns, theirs, frame));
        let mut pushed = push_part(conns, mine, frame);
        let other = match helper.map(|h| h.join()) {
            Ok(Ok(other)) => other,
            // A helper that panicked part-way is not repeated (its pushes
            // so far stand); no thread to be had: this one does the rest.
            Ok(Err(_)) => Pushed::default(),
            Err(_) => push_part(conns, theirs, frame),
        };
        pushed.delivered += other.delivered;
        pushed.full.extend(other.full);
        pushed
    })
}

fn push_part(conns: &HashMap<ConnId, Outbox>, recipients: &[ConnId], frame: &Message) -> Pushed {
    let mut pushed = Pushed::default();
    for conn in recipients {
        let Some(outbox) = conns.get(conn) else {
            continue;
        };
        match outbox.try_push_ref(frame) {
            Ok(()) => pushed.delivered += 1,
            Err(PushError::Closed) => {}
            Err(PushError::Full) => pushed.full.push(*conn),
        }
    }
    pushed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::ws::outbox::OutboxReceiver;

    fn audience(n: usize, capacity: usize) -> (HashMap<ConnId, Outbox>, Vec<OutboxReceiver>) {
        let mut conns = HashMap::new();
        let mut receivers = Vec::new();
        for conn in 0..n {
            let (outbox, rx) = Outbox::new(capacity);
            conns.insert(conn as ConnId, outbox);
            receivers.push(rx);
        }
        (conns, receivers)
    }

    #[test]
    fn a_big_audience_gets_every_message_once_and_in_order() {
        let n = SPLIT_AT * 3 + 1;
        let (conns, receivers) = audience(n, 4);
        let recipients: Vec<ConnId> = (0..n as ConnId).collect();
        for text in ["first", "second"] {
            let pushed = push_all(&conns, &recipients, &Message::text(text));
            assert_eq!(
                pushed,
                Pushed {
                    delivered: n,
                    full: vec![]
                }
            );
        }
        for rx in &receivers {
            assert_eq!(rx.try_recv(), Some(Message::text("first")));
            assert_eq!(rx.try_recv(), Some(Message::text("second")));
            assert_eq!(rx.try_recv(), None);
        }
    }

    #[test]
    fn full_queues_in_either_half_are_reported_and_gone_sockets_skipped() {
        let n = SPLIT_AT * 2;
        let (conns, mut receivers) = audience(n, 1);
        let recipients: Vec<ConnId> = (0..n as ConnId).chain([n as ConnId + 7]).collect();
        let stuck = [3 as ConnId, n as ConnId - 2];
        for conn in stuck {
            conns[&conn].try_push(Message::text("stuck")).unwrap();
        }
        drop(receivers.remove(5));
        let mut pushed = push_all(&conns, &recipients, &Message::text("q"));
        pushed.full.sort_unstable();
        assert_eq!(pushed.full, stuck);
        assert_eq!(pushed.delivered, n - 3, "two full, one closed");
    }
}
