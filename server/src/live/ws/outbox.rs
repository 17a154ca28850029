//! The bounded outbound queue of one socket, shared by the room owner task
//! (broadcasts) and the socket's own task (errors, pongs, pings).
//!
//! Nobody ever waits on it: a push that finds the queue full fails at once,
//! and the caller drops the socket as slow. Closing comes in two flavours: an
//! orderly close that is queued behind what is already waiting (a kick after
//! its explanation, `ended` before close), and an immediate one that jumps
//! the queue (slow client, whose queue is full by definition).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::task::AtomicWaker;

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
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    capacity: usize,
    state: Mutex<State>,
    /// Wakes the socket's task: a message, a close of either kind. A waker
    /// slot rather than a `Notify`, so the task needs no stored future to
    /// wait on it.
    wake: AtomicWaker,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Message>,
    closing: bool,
    abort: Option<CloseFrame>,
    receiver_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every
        // update is a single assignment or push.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The receiving side, owned by the socket's task. Messages stay at the
/// front of the queue until written completely, so a partial write resumes
/// from the shared bytes and nothing is copied.
#[derive(Debug)]
pub struct OutboxReceiver {
    shared: Arc<Shared>,
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.queue = VecDeque::new();
    }
}

impl OutboxReceiver {
    /// Wakes `waker` on the next push or close.
    pub fn register(&self, waker: &Waker) {
        self.shared.wake.register(waker);
    }

    /// Copies (cheaply: the payloads are shared) up to `max` messages from
    /// the front of the queue into `out`, oldest first.
    pub fn peek(&self, max: usize, out: &mut Vec<Message>) {
        let state = self.shared.lock();
        out.extend(state.queue.iter().take(max).cloned());
    }

    /// Takes the first message off the queue, if any. For code that stands
    /// in for the socket (tests, the broadcast benchmark); the socket itself
    /// peeks and consumes, so a half-written message stays queued.
    pub fn try_recv(&self) -> Option<Message> {
        let mut state = self.shared.lock();
        let msg = state.queue.pop_front();
        shrink_if_drained(&mut state);
        msg
    }

    /// Removes the first `n` messages: they have been written.
    pub fn consume(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = self.shared.lock();
        let n = n.min(state.queue.len());
        state.queue.drain(..n);
        shrink_if_drained(&mut state);
    }

    /// [`consume`](Self::consume) then [`peek`](Self::peek), under one lock:
    /// the socket's write loop does both for every write.
    pub fn consume_and_peek(&self, n: usize, max: usize, out: &mut Vec<Message>) {
        let mut state = self.shared.lock();
        if n > 0 {
            let n = n.min(state.queue.len());
            state.queue.drain(..n);
            shrink_if_drained(&mut state);
        }
        out.extend(state.queue.iter().take(max).cloned());
    }

    /// Whether a close was requested, and whether it is immediate (see
    /// [`abort_frame`](Self::abort_frame)), under one lock: the socket asks
    /// on every wake-up.
    pub fn close_state(&self) -> (bool, bool) {
        let state = self.shared.lock();
        (state.closing, state.abort.is_some())
    }

    /// The close frame of an immediate close, if one was requested.
    pub fn abort_frame(&self) -> Option<CloseFrame> {
        self.shared.lock().abort.clone()
    }

    /// Turns a requested immediate close into the queue's content: the
    /// frame being written (if `keep_front`, so the stream stays valid),
    /// then the close frame; everything else queued is dropped.
    pub fn start_abort(&self, keep_front: bool) {
        let mut state = self.shared.lock();
        let Some(frame) = state.abort.clone() else {
            return;
        };
        state.queue.truncate(usize::from(keep_front));
        state.queue.push_back(Message::Close(Some(frame)));
    }

    /// Queues a frame the socket itself sends (a ping, a pong) unless the
    /// socket is closing or its queue is full: a peer that does not read
    /// is about to be dropped anyway, and only the latest pong matters.
    pub fn push_control(&self, msg: Message) {
        let mut state = self.shared.lock();
        if !state.closing && state.queue.len() < self.shared.capacity {
            state.queue.push_back(msg);
        }
    }

    /// Whether a close (orderly or immediate) was requested.
    pub fn is_closing(&self) -> bool {
        self.shared.lock().closing
    }
}

impl Outbox {
    /// A queue holding at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        let shared = Arc::new(Shared {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            wake: AtomicWaker::new(),
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
        self.shared.wake.wake();
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
        {
            let mut state = self.shared.lock();
            if state.closing {
                return;
            }
            state.closing = true;
            if state.queue.len() < self.shared.capacity && !state.receiver_gone {
                state.queue.push_back(Message::Close(Some(frame)));
            } else {
                state.abort = Some(frame);
            }
        }
        self.shared.wake.wake();
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
        self.shared.wake.wake();
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        self.shared.lock().closing
    }
}

/// Gives a drained queue's memory back. An idle socket then holds no queue
/// at all (a kept 4-slot queue cost 190 bytes per socket); the price is one
/// allocation per burst of messages, small next to the write it feeds.
fn shrink_if_drained(state: &mut State) {
    if state.queue.is_empty() && state.queue.capacity() > 0 {
        state.queue = VecDeque::new();
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    fn front(rx: &OutboxReceiver) -> Option<Message> {
        rx.try_recv()
    }

    #[test]
    fn a_full_queue_refuses_without_waiting() {
        let (outbox, rx) = Outbox::new(2);
        assert_eq!(outbox.try_push(Message::text("a")), Ok(()));
        assert_eq!(outbox.try_push(Message::text("b")), Ok(()));
        assert_eq!(outbox.try_push(Message::text("c")), Err(PushError::Full));
        assert_eq!(front(&rx), Some(Message::text("a")));
    }

    #[test]
    fn peeked_messages_stay_queued_until_consumed() {
        let (outbox, rx) = Outbox::new(4);
        outbox.try_push(Message::text("a")).unwrap();
        outbox.try_push(Message::text("b")).unwrap();
        let mut out = Vec::new();
        rx.peek(8, &mut out);
        assert_eq!(out, vec![Message::text("a"), Message::text("b")]);
        rx.consume(1);
        out.clear();
        rx.peek(8, &mut out);
        assert_eq!(out, vec![Message::text("b")]);
    }

    #[test]
    fn consume_and_peek_is_consume_then_peek() {
        let (outbox, rx) = Outbox::new(8);
        for text in ["a", "b", "c", "d"] {
            outbox.try_push(Message::text(text)).unwrap();
        }
        let mut out = Vec::new();
        rx.consume_and_peek(0, 2, &mut out);
        assert_eq!(out, vec![Message::text("a"), Message::text("b")]);
        out.clear();
        rx.consume_and_peek(3, 8, &mut out);
        assert_eq!(out, vec![Message::text("d")]);
        out.clear();
        rx.consume_and_peek(5, 8, &mut out);
        assert!(out.is_empty());
        assert_eq!(
            outbox.shared.lock().queue.capacity(),
            0,
            "drained, so freed"
        );
        assert_eq!(rx.close_state(), (false, false));
        outbox.close(CLOSE_NORMAL, "");
        assert_eq!(rx.close_state(), (true, false));
        outbox.abort(CLOSE_SLOW, "slow");
        assert_eq!(rx.close_state(), (true, true));
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
        assert!(rx.is_closing());
        assert_eq!(front(&rx), Some(Message::text("bye")));
        assert!(matches!(front(&rx), Some(Message::Close(Some(f))) if f.code == CLOSE_NORMAL));
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
    fn abort_keeps_only_the_frame_being_written_then_closes() {
        let (outbox, rx) = Outbox::new(4);
        for text in ["half-written", "dropped", "dropped too"] {
            outbox.try_push(Message::text(text)).unwrap();
        }
        outbox.close(CLOSE_NORMAL, "done");
        outbox.abort(CLOSE_SLOW, "slow");
        assert_eq!(rx.abort_frame().map(|f| f.code), Some(CLOSE_SLOW));
        rx.start_abort(true);
        assert_eq!(front(&rx), Some(Message::text("half-written")));
        assert!(matches!(front(&rx), Some(Message::Close(Some(f))) if f.code == CLOSE_SLOW));
        assert_eq!(front(&rx), None);
    }

    #[test]
    fn control_frames_never_overfill_the_queue() {
        let (outbox, rx) = Outbox::new(1);
        rx.push_control(Message::Ping(Default::default()));
        rx.push_control(Message::Pong(Default::default()));
        assert!(matches!(front(&rx), Some(Message::Ping(_))));
        assert_eq!(front(&rx), None);
        outbox.close(CLOSE_NORMAL, "");
        front(&rx);
        rx.push_control(Message::Pong(Default::default()));
        assert_eq!(front(&rx), None, "nothing follows a close");
    }

    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn pushes_and_closes_wake_the_registered_task() {
        let (outbox, rx) = Outbox::new(4);
        let count = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        rx.register(&waker);
        outbox.try_push(Message::text("a")).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        rx.register(&waker);
        outbox.abort(CLOSE_SLOW, "slow");
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        drop(rx);
        // The receiver is gone with its task: nothing can be queued any more.
        assert_eq!(outbox.try_push(Message::text("x")), Err(PushError::Closed));
    }

    #[test]
    fn a_drained_queue_gives_its_memory_back() {
        let (outbox, rx) = Outbox::new(256);
        for _ in 0..100 {
            outbox.try_push(Message::text("m")).unwrap();
        }
        rx.consume(100);
        assert_eq!(outbox.shared.lock().queue.capacity(), 0);
        outbox.try_push(Message::text("one")).unwrap();
        assert_eq!(rx.try_recv(), Some(Message::text("one")));
        assert_eq!(outbox.shared.lock().queue.capacity(), 0);
    }
}
