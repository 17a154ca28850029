//! The bounded outbound queue of one socket, shared by the room owner task
//! (broadcasts) and the socket's reader (errors, pongs).
//!
//! Nobody ever waits on it: a push that finds the queue full fails at once,
//! and the caller drops the socket as slow. Closing comes in two flavours: an
//! orderly close that is queued behind what is already waiting (a kick after
//! its explanation, `ended` before close), and an immediate one that jumps
//! the queue (slow client, whose queue is full by definition).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use tokio::sync::{mpsc, watch};

/// Close code for a socket dropped because it did not read fast enough; it
/// may `resume` its seat.
pub const CLOSE_SLOW: u16 = 4008;
/// Close code when a message is larger than the protocol allows.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for policy violations (rate limit, never identified).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code when the server restarts or stops.
pub const CLOSE_RESTART: u16 = 1012;
/// Close code for an ordinary end (the room is over).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code when a socket did not identify itself in time.
pub const CLOSE_IDENTIFY_TIMEOUT: u16 = 4003;
/// Close code when the socket's room is gone (cleaned up, or shut down).
pub const CLOSE_ROOM_GONE: u16 = 4004;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue is full: the peer is too slow.
    Full,
    /// The socket is already closing; the message is dropped.
    Closed,
}

/// The sending side of a socket's queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    queue: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    closing: AtomicBool,
    abort: watch::Sender<Option<CloseFrame>>,
}

/// The receiving side, owned by the socket's writer task.
pub struct OutboxReceiver {
    /// Messages in order, ending with an orderly close frame if any.
    pub queue: mpsc::Receiver<Message>,
    /// Set when the socket must close now, skipping the queue.
    pub abort: watch::Receiver<Option<CloseFrame>>,
}

impl Outbox {
    /// A queue holding at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        let (queue, queue_rx) = mpsc::channel(capacity.max(1));
        let (abort, abort_rx) = watch::channel(None);
        let outbox = Outbox {
            queue,
            shared: Arc::new(Shared {
                closing: AtomicBool::new(false),
                abort,
            }),
        };
        (
            outbox,
            OutboxReceiver {
                queue: queue_rx,
                abort: abort_rx,
            },
        )
    }

    /// Queues one message without waiting.
    pub fn try_push(&self, msg: Message) -> Result<(), PushError> {
        if self.is_closing() {
            return Err(PushError::Closed);
        }
        self.queue.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => PushError::Full,
            mpsc::error::TrySendError::Closed(_) => PushError::Closed,
        })
    }

    /// Queues a text frame holding already-serialized JSON.
    pub fn try_push_text(&self, text: Utf8Bytes) -> Result<(), PushError> {
        self.try_push(Message::Text(text))
    }

    /// Closes after everything already queued has been sent; if the queue is
    /// full, closes at once. Only the first close counts.
    pub fn close(&self, code: u16, reason: &str) {
        if self.shared.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        let frame = close_frame(code, reason);
        if self
            .queue
            .try_send(Message::Close(Some(frame.clone())))
            .is_err()
        {
            self.shared.abort.send_replace(Some(frame));
        }
    }

    /// Closes now, dropping whatever is still queued. Only the first close counts.
    pub fn abort(&self, code: u16, reason: &str) {
        if self.shared.closing.swap(true, Ordering::SeqCst) {
            // An orderly close may be stuck behind a full queue: make it immediate.
            if self.shared.abort.borrow().is_none() {
                self.shared
                    .abort
                    .send_replace(Some(close_frame(code, reason)));
            }
            return;
        }
        self.shared
            .abort
            .send_replace(Some(close_frame(code, reason)));
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        self.shared.closing.load(Ordering::SeqCst)
    }
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_without_waiting() {
        let (outbox, mut rx) = Outbox::new(2);
        assert_eq!(outbox.try_push(Message::text("a")), Ok(()));
        assert_eq!(outbox.try_push(Message::text("b")), Ok(()));
        assert_eq!(outbox.try_push(Message::text("c")), Err(PushError::Full));
        assert_eq!(rx.queue.try_recv().ok(), Some(Message::text("a")));
    }

    #[test]
    fn orderly_close_is_queued_behind_messages() {
        let (outbox, mut rx) = Outbox::new(4);
        outbox.try_push(Message::text("bye")).unwrap();
        outbox.close(CLOSE_NORMAL, "done");
        assert_eq!(
            outbox.try_push(Message::text("late")),
            Err(PushError::Closed)
        );
        assert_eq!(rx.queue.try_recv().ok(), Some(Message::text("bye")));
        assert!(
            matches!(rx.queue.try_recv(), Ok(Message::Close(Some(f))) if f.code == CLOSE_NORMAL)
        );
        assert!(rx.abort.borrow().is_none());
    }

    #[test]
    fn close_on_a_full_queue_becomes_immediate() {
        let (outbox, rx) = Outbox::new(1);
        outbox.try_push(Message::text("stuck")).unwrap();
        outbox.close(CLOSE_RESTART, "restart");
        assert_eq!(
            rx.abort.borrow().as_ref().map(|f| f.code),
            Some(CLOSE_RESTART)
        );
    }

    #[test]
    fn abort_overrides_a_pending_orderly_close() {
        let (outbox, rx) = Outbox::new(4);
        outbox.close(CLOSE_NORMAL, "done");
        outbox.abort(CLOSE_SLOW, "slow");
        assert_eq!(rx.abort.borrow().as_ref().map(|f| f.code), Some(CLOSE_SLOW));
    }
}
