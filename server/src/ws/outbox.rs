//! The bounded outbound queue of one socket, shared by the room owner task
//! (broadcasts) and the socket's reader (errors, pongs).
//!
//! Nobody ever waits on it: a push that finds the queue full fails at once,
//! and the caller drops the socket as slow. Closing comes in two flavours: an
//! orderly close that is queued behind what is already waiting (a kick after
//! its explanation, `ended` before close), and an immediate one that jumps
//! the queue (slow client, whose queue is full by definition).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use tokio::sync::Notify;

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
///
/// One small allocation per socket: the queue grows only while messages
/// wait and shrinks back once drained, so tens of thousands of idle sockets
/// cost almost nothing here (a channel would preallocate a block of slots
/// per socket).
#[derive(Debug)]
pub struct Outbox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    capacity: usize,
    state: Mutex<State>,
    /// Wakes the writer: a message, an orderly close, the last sender gone.
    wake: Notify,
    /// Wakes the writer for an immediate close.
    abort_wake: Notify,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Message>,
    closing: bool,
    abort: Option<CloseFrame>,
    senders: usize,
    receiver_gone: bool,
}

/// Queue length above which a drained queue gives its memory back.
const KEEP_CAPACITY: usize = 8;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every
        // update is a single assignment or push.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The receiving side, owned by the socket's writer task.
#[derive(Debug)]
pub struct OutboxReceiver {
    shared: Arc<Shared>,
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Outbox {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.queue = VecDeque::new();
    }
}

impl OutboxReceiver {
    /// The next message in order, ending with an orderly close frame if
    /// any; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&self) -> Option<Message> {
        loop {
            {
                let mut state = self.shared.lock();
                if let Some(msg) = pop(&mut state) {
                    return Some(msg);
                }
                if state.senders == 0 {
                    return None;
                }
            }
            self.shared.wake.notified().await;
        }
    }

    /// The next message if one is waiting.
    pub fn try_recv(&self) -> Option<Message> {
        pop(&mut self.shared.lock())
    }

    /// Resolves once the socket must close now, skipping the queue.
    pub async fn aborted(&self) {
        while self.abort_frame().is_none() {
            self.shared.abort_wake.notified().await;
        }
    }

    /// The close frame of an immediate close, if one was requested.
    pub fn abort_frame(&self) -> Option<CloseFrame> {
        self.shared.lock().abort.clone()
    }
}

fn pop(state: &mut State) -> Option<Message> {
    let msg = state.queue.pop_front();
    if state.queue.is_empty() && state.queue.capacity() > KEEP_CAPACITY {
        state.queue = VecDeque::new();
    }
    msg
}

impl Outbox {
    /// A queue holding at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        let shared = Arc::new(Shared {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                senders: 1,
                ..State::default()
            }),
            wake: Notify::new(),
            abort_wake: Notify::new(),
        });
        (
            Outbox {
                shared: shared.clone(),
            },
            OutboxReceiver { shared },
        )
    }

    /// Queues one message without waiting.
    pub fn try_push(&self, msg: Message) -> Result<(), PushError> {
        {
            let mut state = self.shared.lock();
            if state.closing || state.receiver_gone {
                return Err(PushError::Closed);
            }
            if state.queue.len() >= self.shared.capacity {
                return Err(PushError::Full);
            }
            state.queue.push_back(msg);
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Queues a text frame holding already-serialized JSON.
    pub fn try_push_text(&self, text: Utf8Bytes) -> Result<(), PushError> {
        self.try_push(Message::Text(text))
    }

    /// Closes after everything already queued has been sent; if the queue is
    /// full, closes at once. Only the first close counts.
    pub fn close(&self, code: u16, reason: &str) {
        let frame = close_frame(code, reason);
        let immediate = {
            let mut state = self.shared.lock();
            if state.closing {
                return;
            }
            state.closing = true;
            if state.queue.len() < self.shared.capacity && !state.receiver_gone {
                state.queue.push_back(Message::Close(Some(frame)));
                false
            } else {
                state.abort = Some(frame);
                true
            }
        };
        if immediate {
            self.shared.abort_wake.notify_one();
        } else {
            self.shared.wake.notify_one();
        }
    }

    /// Closes now, dropping whatever is still queued. Only the first close
    /// counts, except that it turns a pending orderly close immediate.
    pub fn abort(&self, code: u16, reason: &str) {
        {
            let mut state = self.shared.lock();
            if state.abort.is_some() {
                return;
            }
            state.closing = true;
            state.abort = Some(close_frame(code, reason));
        }
        self.shared.abort_wake.notify_one();
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        self.shared.lock().closing
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
        let (outbox, rx) = Outbox::new(2);
        assert_eq!(outbox.try_push(Message::text("a")), Ok(()));
        assert_eq!(outbox.try_push(Message::text("b")), Ok(()));
        assert_eq!(outbox.try_push(Message::text("c")), Err(PushError::Full));
        assert_eq!(rx.try_recv(), Some(Message::text("a")));
    }

    #[test]
    fn orderly_close_is_queued_behind_messages() {
        let (outbox, rx) = Outbox::new(4);
        outbox.try_push(Message::text("bye")).unwrap();
        outbox.close(CLOSE_NORMAL, "done");
        assert_eq!(
            outbox.try_push(Message::text("late")),
            Err(PushError::Closed)
        );
        assert_eq!(rx.try_recv(), Some(Message::text("bye")));
        assert!(matches!(rx.try_recv(), Some(Message::Close(Some(f))) if f.code == CLOSE_NORMAL));
        assert!(rx.abort_frame().is_none());
    }

    #[test]
    fn close_on_a_full_queue_becomes_immediate() {
        let (outbox, rx) = Outbox::new(1);
        outbox.try_push(Message::text("stuck")).unwrap();
        outbox.close(CLOSE_RESTART, "restart");
        assert_eq!(rx.abort_frame().map(|f| f.code), Some(CLOSE_RESTART));
    }

    #[test]
    fn abort_overrides_a_pending_orderly_close() {
        let (outbox, rx) = Outbox::new(4);
        outbox.close(CLOSE_NORMAL, "done");
        outbox.abort(CLOSE_SLOW, "slow");
        assert_eq!(rx.abort_frame().map(|f| f.code), Some(CLOSE_SLOW));
    }

    #[tokio::test]
    async fn recv_waits_for_a_push_and_ends_with_the_last_sender() {
        let (outbox, rx) = Outbox::new(4);
        let other = outbox.clone();
        let pusher = tokio::spawn(async move {
            tokio::task::yield_now().await;
            other.try_push(Message::text("late")).unwrap();
        });
        assert_eq!(rx.recv().await, Some(Message::text("late")));
        pusher.await.unwrap();
        drop(outbox);
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn aborted_resolves_on_abort_and_pushes_then_fail() {
        let (outbox, rx) = Outbox::new(4);
        let waiter = tokio::spawn(async move {
            rx.aborted().await;
            rx.abort_frame().map(|f| f.code)
        });
        tokio::task::yield_now().await;
        outbox.abort(CLOSE_SLOW, "slow");
        assert_eq!(waiter.await.unwrap(), Some(CLOSE_SLOW));
        // The receiver is gone with its task: nothing can be queued any more.
        assert_eq!(outbox.try_push(Message::text("x")), Err(PushError::Closed));
    }

    #[test]
    fn a_drained_queue_gives_its_memory_back() {
        let (outbox, rx) = Outbox::new(256);
        for _ in 0..100 {
            outbox.try_push(Message::text("m")).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(outbox.shared.lock().queue.capacity() <= KEEP_CAPACITY);
    }
}
