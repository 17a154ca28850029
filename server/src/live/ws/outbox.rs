//! The bounded outbound queue of one socket, shared by the room owner task
//! (broadcasts) and the socket's own task (errors, pongs, pings).
//!
//! Nobody ever waits on it: a push that finds the queue full fails at once,
//! and the caller drops the socket as slow. Closing comes in two flavours: an
//! orderly close that is queued behind what is already waiting (a kick after
//! its explanation, `ended` before close), and an immediate one that jumps
//! the queue (slow client, whose queue is full by definition).
//!
//! Direct writes: an outbox made [`with_socket`](Outbox::with_socket)
//! writes a pushed message to the socket at once, on the pushing thread,
//! when nothing is queued (so nothing is half-written or waiting either):
//! a broadcast or an ack then costs one non-blocking `sendmsg` and no wake-up
//! of the socket's task. Only what the kernel does not take (the whole
//! message, or the rest of a partly written one) is queued, and the task
//! woken to write it when the socket can take more. The write happens under
//! the queue's lock, so nothing written directly can overtake queued bytes,
//! and the socket's task stops direct writes
//! ([`detach`](OutboxReceiver::detach)) before it closes the descriptor.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::task::AtomicWaker;

use crate::live::ws::frame;

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

#[derive(Debug)]
struct State {
    queue: VecDeque<Message>,
    /// Bytes of the queue's first message already written (by the socket's
    /// task, or by a direct write the kernel took only part of).
    front_written: usize,
    /// The socket written to directly when the queue is empty; `NO_SOCKET`
    /// for an outbox without one, or once its task detached it.
    fd: RawFd,
    closing: bool,
    abort: Option<CloseFrame>,
    receiver_gone: bool,
}

/// [`State::fd`] when there is no socket to write to directly.
const NO_SOCKET: RawFd = -1;

impl State {
    fn new(fd: RawFd) -> State {
        State {
            queue: VecDeque::new(),
            front_written: 0,
            fd,
            closing: false,
            abort: None,
            receiver_gone: false,
        }
    }

    /// Removes the first `n` messages (written completely); `offset` bytes
    /// of the next one are written.
    fn consume(&mut self, n: usize, offset: usize) {
        let n = n.min(self.queue.len());
        self.queue.drain(..n);
        shrink_if_drained(self);
        self.front_written = if self.queue.is_empty() { 0 } else { offset };
    }
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
        state.fd = NO_SOCKET;
        state.queue = VecDeque::new();
    }
}

impl OutboxReceiver {
    /// Stops direct writes to the socket: called before its descriptor is
    /// closed (and by the drop), so no push can write to a closed or reused
    /// descriptor. Once it returns, no direct write is in progress either
    /// (they happen under the lock taken here).
    pub fn detach(&self) {
        self.shared.lock().fd = NO_SOCKET;
    }

    /// Bytes of the first queued message already written.
    pub fn front_written(&self) -> usize {
        self.shared.lock().front_written
    }

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
        state.consume(0, 0);
        msg
    }

    /// Removes the first `n` messages: they have been written, and
    /// `offset` bytes of the next one.
    pub fn consume(&self, n: usize, offset: usize) {
        self.shared.lock().consume(n, offset);
    }

    /// [`consume`](Self::consume) (if `written` says how far a write got)
    /// then [`peek`](Self::peek), under one lock: the socket's write loop
    /// does both for every write. Returns the bytes of the first peeked
    /// message already written (where to resume).
    pub fn consume_and_peek(
        &self,
        written: Option<(usize, usize)>,
        max: usize,
        out: &mut Vec<Message>,
    ) -> usize {
        let mut state = self.shared.lock();
        if let Some((n, offset)) = written {
            state.consume(n, offset);
        }
        out.extend(state.queue.iter().take(max).cloned());
        state.front_written
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
    /// frame being written (if it is partly written, so the stream stays
    /// valid), then the close frame; everything else queued is dropped.
    pub fn start_abort(&self) {
        let mut state = self.shared.lock();
        let Some(frame) = state.abort.clone() else {
            return;
        };
        let keep_front = state.front_written > 0;
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
    /// A queue holding at most `capacity` messages (at least one), written
    /// only by whoever holds the receiver.
    pub fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        Outbox::with_fd(capacity, NO_SOCKET)
    }

    /// A queue for `socket` that writes a message pushed while nothing is
    /// queued to the socket at once (see the module's doc). The receiver's
    /// holder must own `socket` and [`detach`](OutboxReceiver::detach)
    /// before closing it.
    pub fn with_socket(capacity: usize, socket: &impl AsRawFd) -> (Outbox, OutboxReceiver) {
        Outbox::with_fd(capacity, socket.as_raw_fd())
    }

    fn with_fd(capacity: usize, fd: RawFd) -> (Outbox, OutboxReceiver) {
        let shared = Arc::new(Shared {
            capacity: capacity.max(1),
            state: Mutex::new(State::new(fd)),
            wake: AtomicWaker::new(),
        });
        (
            Outbox {
                shared: shared.clone(),
            },
            OutboxReceiver { shared },
        )
    }

    /// Sends one message without waiting: written at once if nothing is
    /// queued and the socket takes it, otherwise queued (what is left of
    /// it) for the socket's task.
    pub fn try_push(&self, msg: Message) -> Result<(), PushError> {
        self.push_with(msg, |msg| msg)
    }

    /// [`try_push`](Self::try_push) of a message shared by many recipients
    /// (a broadcast): copied (a reference count) only if it must be queued.
    pub fn try_push_ref(&self, msg: &Message) -> Result<(), PushError> {
        self.push_with(msg, Message::clone)
    }

    fn push_with<M: Borrow<Message>>(
        &self,
        msg: M,
        owned: impl FnOnce(M) -> Message,
    ) -> Result<(), PushError> {
        {
            let mut state = self.shared.lock();
            if state.closing || state.receiver_gone {
                return Err(PushError::Closed);
            }
            if state.queue.len() >= self.shared.capacity {
                return Err(PushError::Full);
            }
            if state.queue.is_empty() && state.fd != NO_SOCKET {
                match write_now(state.fd, msg.borrow()) {
                    Ok(Written::All) => return Ok(()),
                    Ok(Written::Part(n)) => state.front_written = n,
                    // Nothing written: the socket's task writes it, and
                    // meets any error itself.
                    Ok(Written::None) | Err(_) => {}
                }
            }
            state.queue.push_back(owned(msg));
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

/// How much of a message a direct write got into the socket.
enum Written {
    All,
    /// This many bytes of the frame; the rest is queued.
    Part(usize),
    /// The socket's buffer is full.
    None,
}

/// One non-blocking `sendmsg` of `msg`'s frame to `fd` (no `SIGPIPE`).
fn write_now(fd: RawFd, msg: &Message) -> io::Result<Written> {
    // SAFETY: `fd` is open: it is the socket of this outbox's receiver,
    // which clears it under the lock held by the caller before the socket
    // is closed (`detach`, and the receiver's drop).
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    let socket = socket2::SockRef::from(&socket);
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    loop {
        let result = frame::write_one(msg, |slices| socket.send_vectored_with_flags(slices, flags));
        return match result {
            Ok((written, total)) if written >= total => Ok(Written::All),
            Ok((written, _)) if written > 0 => Ok(Written::Part(written)),
            Ok(_) => Ok(Written::None),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(Written::None),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => Err(err),
        };
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
        rx.consume(1, 0);
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
        assert_eq!(rx.consume_and_peek(None, 2, &mut out), 0);
        assert_eq!(out, vec![Message::text("a"), Message::text("b")]);
        out.clear();
        assert_eq!(rx.consume_and_peek(Some((3, 1)), 8, &mut out), 1);
        assert_eq!(out, vec![Message::text("d")]);
        out.clear();
        assert_eq!(rx.consume_and_peek(Some((5, 0)), 8, &mut out), 0);
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
        rx.consume(0, 4);
        rx.start_abort();
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
        rx.consume(100, 0);
        assert_eq!(outbox.shared.lock().queue.capacity(), 0);
        outbox.try_push(Message::text("one")).unwrap();
        assert_eq!(rx.try_recv(), Some(Message::text("one")));
        assert_eq!(outbox.shared.lock().queue.capacity(), 0);
    }

    /// A connected loopback pair, the writer non-blocking with small
    /// kernel buffers on both sides (so a few KiB fill them).
    fn small_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        use socket2::{Domain, Socket, Type};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let reader = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        reader.set_recv_buffer_size(4096).unwrap();
        reader
            .connect(&listener.local_addr().unwrap().into())
            .unwrap();
        let (writer, _) = listener.accept().unwrap();
        socket2::SockRef::from(&writer)
            .set_send_buffer_size(4096)
            .unwrap();
        writer.set_nonblocking(true).unwrap();
        (writer, reader.into())
    }

    /// What the socket's task does: writes the queue until it is empty.
    fn drain(rx: &OutboxReceiver, writer: &std::net::TcpStream) {
        use std::io::Write;
        let mut batch = Vec::new();
        let mut written = None;
        loop {
            batch.clear();
            let offset = rx.consume_and_peek(written.take(), frame::WRITE_BATCH, &mut batch);
            if batch.is_empty() {
                return;
            }
            match frame::write_batch(&batch, offset, |slices| (&*writer).write_vectored(slices)) {
                Ok(progress) => written = Some((progress.frames, progress.offset)),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(err) => panic!("write failed: {err}"),
            }
        }
    }

    /// Every server frame in `wire`: (opcode, payload).
    fn frames(wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let opcode = wire[at] & 0x0f;
            assert_eq!(wire[at] & 0x80, 0x80, "final bit");
            let (len, header) = match wire[at + 1] {
                126 => (u16::from_be_bytes([wire[at + 2], wire[at + 3]]) as usize, 4),
                127 => {
                    let mut len = [0u8; 8];
                    len.copy_from_slice(&wire[at + 2..at + 10]);
                    (u64::from_be_bytes(len) as usize, 10)
                }
                n => (n as usize, 2),
            };
            let start = at + header;
            out.push((opcode, wire[start..start + len].to_vec()));
            at = start + len;
        }
        out
    }

    /// Reads everything the peer sends until it closes its side.
    fn read_all(reader: std::net::TcpStream) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut wire = Vec::new();
            (&reader).read_to_end(&mut wire).unwrap();
            wire
        })
    }

    fn texts(frames: &[(u8, Vec<u8>)]) -> Vec<String> {
        frames
            .iter()
            .map(|(op, payload)| match op {
                1 => String::from_utf8(payload.clone()).unwrap(),
                8 => format!("close {}", u16::from_be_bytes([payload[0], payload[1]])),
                other => format!("opcode {other}"),
            })
            .collect()
    }

    #[test]
    fn a_push_to_an_empty_queue_is_written_at_once_without_a_wake_up() {
        let (writer, reader) = small_pair();
        let (outbox, rx) = Outbox::with_socket(4, &writer);
        let count = Arc::new(CountWakes(AtomicUsize::new(0)));
        rx.register(&Waker::from(count.clone()));
        outbox.try_push(Message::text("hello")).unwrap();
        outbox.try_push_ref(&Message::text("again")).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "the task was not woken");
        assert!(rx.try_recv().is_none(), "nothing queued");
        drop(writer);
        let wire = read_all(reader).join().unwrap();
        assert_eq!(texts(&frames(&wire)), ["hello", "again"]);
    }

    #[test]
    fn nothing_written_directly_overtakes_queued_bytes() {
        let (writer, reader) = small_pair();
        let (outbox, rx) = Outbox::with_socket(10_000, &writer);
        // Fill the kernel's buffers until messages queue.
        let mut sent = Vec::new();
        while rx.front_written() == 0 && outbox.shared.lock().queue.is_empty() {
            let text = format!("{:04}{}", sent.len(), "x".repeat(996));
            outbox.try_push(Message::text(text.clone())).unwrap();
            sent.push(text);
            assert!(sent.len() < 10_000, "the socket never filled");
        }
        // The peer empties its buffer: the socket could take a message
        // now, but the queue is not empty, so these must wait their turn.
        let reading = read_all(reader);
        for tail in ["tail 1", "tail 2"] {
            outbox.try_push(Message::text(tail)).unwrap();
            sent.push(tail.to_string());
        }
        drain(&rx, &writer);
        // Drained: written directly again (or queued if the peer is behind).
        outbox.try_push(Message::text("after the drain")).unwrap();
        sent.push("after the drain".to_string());
        drain(&rx, &writer);
        drop(writer);
        assert_eq!(texts(&frames(&reading.join().unwrap())), sent);
    }

    #[test]
    fn a_close_after_a_partial_direct_write_finishes_the_frame_first() {
        for abort in [false, true] {
            let (writer, reader) = small_pair();
            let (outbox, rx) = Outbox::with_socket(8, &writer);
            let big = "b".repeat(1 << 20);
            outbox.try_push(Message::text(big.clone())).unwrap();
            assert!(rx.front_written() > 0, "partly written");
            outbox.try_push(Message::text("queued")).unwrap();
            if abort {
                outbox.abort(CLOSE_SLOW, "slow");
                rx.start_abort();
            } else {
                outbox.close(CLOSE_NORMAL, "done");
            }
            let reading = read_all(reader);
            drain(&rx, &writer);
            drop(writer);
            let got = texts(&frames(&reading.join().unwrap()));
            let expected = if abort {
                vec![big.clone(), "close 4008".to_string()]
            } else {
                vec![big.clone(), "queued".to_string(), "close 1000".to_string()]
            };
            assert_eq!(got, expected, "abort: {abort}");
        }
    }

    #[test]
    fn a_stalled_reader_fills_the_queue_and_is_refused() {
        let (writer, _reader) = small_pair();
        let (outbox, _rx) = Outbox::with_socket(4, &writer);
        let message = Message::text("s".repeat(1000));
        let mut pushed = 0;
        let refusal = loop {
            match outbox.try_push_ref(&message) {
                Ok(()) => pushed += 1,
                Err(err) => break err,
            }
            assert!(pushed < 10_000, "never refused");
        };
        assert_eq!(refusal, PushError::Full);
        assert_eq!(outbox.shared.lock().queue.len(), 4);
    }

    #[test]
    fn a_detached_socket_is_never_written_directly() {
        let (writer, reader) = small_pair();
        let (outbox, rx) = Outbox::with_socket(4, &writer);
        rx.detach();
        outbox.try_push(Message::text("queued")).unwrap();
        assert_eq!(rx.try_recv(), Some(Message::text("queued")));
        drop(rx);
        assert_eq!(outbox.try_push(Message::text("x")), Err(PushError::Closed));
        drop(writer);
        assert!(read_all(reader).join().unwrap().is_empty());
    }
}
