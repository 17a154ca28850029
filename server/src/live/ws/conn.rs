//! One WebSocket connection, run by one task: it reads and parses client
//! frames, enforces size and rate limits, hands messages to the socket's
//! room, writes the socket's bounded [`Outbox`] straight from the shared
//! message bytes, pings the peer and closes the socket.
//!
//! The task waits on four things at once without storing a future for
//! each: the socket becoming readable or writable (tokio's readiness
//! registration), the outbox (a waker slot), one timer (ping, identify
//! deadline, peer silence, close grace) and the server's shutdown. An idle
//! socket owns no read or write buffer; the rarely used paths (reading and
//! handling a message, leaving the room) are boxed so they do not enlarge
//! every idle socket's task.
//!
//! The room never waits on a socket: when the socket cannot keep up, its
//! queue fills and the room drops it as slow. A socket that has not
//! identified itself in time, or whose peer has been silent for three ping
//! intervals, is closed; a dead player keeps its seat and may `resume`.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tracing::Instrument;

use crate::live::room::ConnId;
use crate::live::rooms::{answer_from_ended, epoch_ms, normalize_code, RoomHandle, ToRoom};
use crate::live::ws::clock_sync::{self, ClockSync};
use crate::live::ws::frame::{self, FrameReader, Incoming, Violation, WRITE_BATCH};
use crate::live::ws::limits::{
    TokenBucket, MESSAGES_PER_SEC, MESSAGE_BURST, STRIKES_PER_SEC, STRIKE_BURST,
};
use crate::live::ws::outbox::{
    Outbox, OutboxReceiver, PushError, CLOSE_IDENTIFY_TIMEOUT, CLOSE_NORMAL, CLOSE_POLICY,
    CLOSE_RESTART, CLOSE_ROOM_GONE, CLOSE_SLOW,
};
use crate::protocol::{self, ClientMsg, Role, ServerMsg, MAX_CLIENT_MESSAGE};
use crate::state::{AppState, TaskGuard};

/// How long a closing socket has to write what is left, its close frame,
/// and receive the peer's close reply (a slow peer may start reading again
/// and learn why it was closed).
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The same wait while the server shuts down, to stay within its budget.
const SHUTDOWN_CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Bytes read from the socket per system call. Lives only while a read is
/// handled (in the boxed read path), never in an idle socket.
const READ_CHUNK: usize = 2048;
/// Reads per wake-up, so one chatty socket cannot hold the thread.
const READS_PER_WAKE: usize = 8;
/// Vectored writes per wake-up, for the same reason.
const WRITES_PER_WAKE: usize = 16;
thread_local! {
    /// The frames one write hands to `writev`, reused by every socket the
    /// thread runs (emptied after each use).
    static WRITE_SCRATCH: std::cell::Cell<Vec<Message>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Longest `message` text in an `error` reply.
const MAX_ERROR_TEXT: usize = 200;
/// Peer silence, in ping intervals, after which the peer is dead.
const DEAD_AFTER_PINGS: u32 = 3;

/// The task of one upgraded socket; it ends when the socket closes.
/// `buffered` holds bytes the client sent right after its handshake, if any.
/// Not an `async fn`, so the task holds only the socket's running state.
pub fn serve(
    stream: TcpStream,
    buffered: Bytes,
    state: AppState,
    peer: IpAddr,
) -> impl Future<Output = ()> + Send {
    let conn = state.next_conn_id();
    // A debug span: built only when debug logging is on, so it costs idle
    // sockets nothing otherwise; info events carry `conn` themselves.
    let span = tracing::debug_span!("ws", conn, %peer);
    let ping_every = Duration::from_secs(state.config().ping_secs.max(1));
    let identify_within = Duration::from_millis(state.config().identify_timeout_ms);
    let (outbox, rx) = Outbox::with_socket(state.config().outbound_queue, &stream);
    let now = Instant::now();
    let mut socket = Socket {
        _guard: TaskGuard::enter(&state, AppState::connections),
        state,
        stream,
        outbox,
        rx,
        reader: FrameReader::new(MAX_CLIENT_MESSAGE),
        conn,
        peer,
        room: None,
        clock: None,
        identify_by: now + identify_within,
        ping_every,
        next_ping: now + ping_every,
        last_seen: now,
        closing_until: None,
        abort_started: false,
        sent_close: false,
        got_close: false,
        failed: false,
        stop_seen: false,
        messages: TokenBucket::new(MESSAGE_BURST, MESSAGES_PER_SEC, std::time::Instant::now()),
        strikes: TokenBucket::new(STRIKE_BURST, STRIKES_PER_SEC, std::time::Instant::now()),
    };
    socket.reader.push(&buffered);
    socket.run().instrument(span)
}

/// The room a socket belongs to once it has identified itself.
struct Attached {
    room: RoomHandle,
    role: Role,
}

/// A synced player's clock state and when to probe it next.
struct Clock {
    sync: ClockSync,
    next_probe: Instant,
}

/// What woke the socket's task.
enum Wake {
    /// The server began shutting down.
    Stopping,
    /// Bytes (or the end of the stream) can be read.
    Readable,
    /// The timer fired.
    Timer,
    /// The socket is done: close handshake complete, or a write failed.
    Done,
}

/// Whether the socket goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}

struct Socket {
    /// Counts this socket for shutdown.
    _guard: TaskGuard,
    state: AppState,
    stream: TcpStream,
    outbox: Outbox,
    rx: OutboxReceiver,
    reader: FrameReader,
    conn: ConnId,
    peer: IpAddr,
    room: Option<Attached>,
    /// Clock sync with a player that asked for it (boxed: most sockets
    /// never sync, and an idle socket's task must stay small).
    clock: Option<Box<Clock>>,
    identify_by: Instant,
    ping_every: Duration,
    next_ping: Instant,
    last_seen: Instant,
    /// Set once a close was requested: the socket ends by then at the latest.
    closing_until: Option<Instant>,
    abort_started: bool,
    sent_close: bool,
    got_close: bool,
    /// The peer broke the protocol: once the close frame is out, the socket
    /// ends without waiting for the peer's reply.
    failed: bool,
    stop_seen: bool,
    messages: TokenBucket,
    strikes: TokenBucket,
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Before the stream's descriptor closes (the fields drop after
        // this): no push may write to it once it is closed or reused.
        self.rx.detach();
    }
}

impl Socket {
    /// The socket's whole life. A plain function returning an `async move`
    /// block, not an `async fn`: an `async fn` would keep a second copy of
    /// `self` in the task (its argument and the body's binding).
    fn run(self) -> impl Future<Output = ()> + Send {
        let mut this = self;
        async move {
            if this.reader.has_pending() && Box::pin(this.handle_frames()).await == Flow::End {
                return Box::pin(this.finish()).await;
            }
            let state = this.state.clone();
            let stopping = state.stopping();
            tokio::pin!(stopping);
            let timer = tokio::time::sleep_until(this.deadline());
            tokio::pin!(timer);
            loop {
                let wake = std::future::poll_fn(|cx| {
                    this.poll_wake(cx, stopping.as_mut(), timer.as_mut())
                })
                .await;
                let flow = match wake {
                    Wake::Stopping => {
                        this.stop_seen = true;
                        this.outbox.close(CLOSE_RESTART, "server restarting");
                        let soon = Instant::now() + SHUTDOWN_CLOSE_GRACE;
                        this.closing_until = Some(this.closing_until.map_or(soon, |t| t.min(soon)));
                        Flow::Continue
                    }
                    // Reading and handling what was read needs no future
                    // unless a message must wait (a full room queue, or an
                    // identification); that path is boxed, since inline it
                    // would sit in every idle socket's task.
                    Wake::Readable => match this.on_readable() {
                        Ok(flow) => flow,
                        Err(msg) => Box::pin(this.finish_reading(msg)).await,
                    },
                    Wake::Timer => this.on_timer(),
                    Wake::Done => Flow::End,
                };
                if flow == Flow::End {
                    break;
                }
                let deadline = this.deadline();
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
            }
            Box::pin(this.finish()).await;
        }
    }

    /// Writes what it can, then reports the first thing that needs the
    /// task's attention.
    fn poll_wake(
        &mut self,
        cx: &mut Context<'_>,
        stopping: Pin<&mut impl Future<Output = ()>>,
        mut timer: Pin<&mut Sleep>,
    ) -> Poll<Wake> {
        if !self.stop_seen && stopping.poll(cx).is_ready() {
            return Poll::Ready(Wake::Stopping);
        }
        self.rx.register(cx.waker());
        let (closing, aborting) = self.rx.close_state();
        if self.closing_until.is_none() && closing {
            // Closed by the room or by this task: the grace starts now.
            let until = Instant::now() + self.close_grace();
            self.closing_until = Some(until);
            timer.as_mut().reset(until);
        }
        if !self.abort_started && aborting {
            // An immediate close: finish the frame being written (the
            // stream must stay valid), then the close frame; drop the rest.
            self.abort_started = true;
            self.rx.start_abort();
        }
        if let Poll::Ready(Err(err)) = self.poll_write(cx) {
            tracing::debug!(%err, "write failed");
            return Poll::Ready(Wake::Done);
        }
        if self.sent_close && (self.got_close || self.failed) {
            return Poll::Ready(Wake::Done);
        }
        if self.stream.poll_read_ready(cx).is_ready() {
            return Poll::Ready(Wake::Readable);
        }
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        Poll::Pending
    }

    /// Writes queued frames until the queue is empty (`Ready(Ok)`), the
    /// socket cannot take more (`Pending`, woken when it can) or fails.
    /// The frames being written are listed in a buffer kept per thread, not
    /// per socket and not allocated per write.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut batch = WRITE_SCRATCH
            .try_with(std::cell::Cell::take)
            .unwrap_or_default();
        let result = self.poll_write_with(cx, &mut batch);
        // Drop the payloads' references now; keep the list's capacity.
        batch.clear();
        let _ = WRITE_SCRATCH.try_with(|scratch| scratch.set(batch));
        result
    }

    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut Vec<Message>,
    ) -> Poll<io::Result<()>> {
        // How far the last write got (frames done, bytes of the next), not
        // yet taken off the queue: taken with the next look at it, under
        // the same lock.
        let mut written = None;
        for _ in 0..WRITES_PER_WAKE {
            batch.clear();
            let max = if self.sent_close { 0 } else { WRITE_BATCH };
            let front_written = self.rx.consume_and_peek(written.take(), max, batch);
            if batch.is_empty() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.stream.poll_write_ready(cx))?;
            let stream = &self.stream;
            match frame::write_batch(batch, front_written, |slices| {
                stream.try_write_vectored(slices)
            }) {
                Ok(progress) => {
                    written = Some((progress.frames, progress.offset));
                    self.sent_close |= progress.closed;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        if let Some((frames, offset)) = written {
            self.rx.consume(frames, offset);
        }
        // More to write: let other tasks run, then come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn close_grace(&self) -> Duration {
        if self.state.is_shutting_down() {
            SHUTDOWN_CLOSE_GRACE
        } else {
            CLOSE_GRACE
        }
    }

    /// When the task must act if nothing else happens: the end of the
    /// close grace; otherwise the next ping, the identify deadline or the
    /// moment the peer counts as dead.
    fn deadline(&self) -> Instant {
        if let Some(until) = self.closing_until {
            return until;
        }
        let dead_at = self.last_seen + self.ping_every * DEAD_AFTER_PINGS;
        let mut deadline = self.next_ping.min(dead_at);
        if let Some(clock) = &self.clock {
            deadline = deadline.min(clock.next_probe);
        }
        if self.room.is_none() {
            deadline.min(self.identify_by)
        } else {
            deadline
        }
    }

    fn on_timer(&mut self) -> Flow {
        let now = Instant::now();
        if let Some(until) = self.closing_until {
            return if now >= until {
                Flow::End
            } else {
                Flow::Continue
            };
        }
        if self.room.is_none() && now >= self.identify_by {
            tracing::info!(conn = self.conn, "socket did not identify itself in time");
            self.outbox
                .close(CLOSE_IDENTIFY_TIMEOUT, "identify timeout");
            return Flow::Continue;
        }
        if now >= self.last_seen + self.ping_every * DEAD_AFTER_PINGS {
            tracing::info!(
                conn = self.conn,
                room = self.room_code(),
                "peer silent for too long; treated as disconnected"
            );
            return Flow::End;
        }
        if now >= self.next_ping {
            self.rx.push_control(Message::Ping(Bytes::new()));
            self.next_ping = now + self.ping_every;
        }
        self.probe_clock(now);
        Flow::Continue
    }

    /// Sends the next `sync` probe when it is due.
    fn probe_clock(&mut self, now: Instant) {
        let Some(clock) = self.clock.as_mut() else {
            return;
        };
        if now < clock.next_probe {
            return;
        }
        let probe = clock.sync.probe(clock_sync::now_ms());
        clock.next_probe = now + Duration::from_millis(clock.sync.next_gap_ms());
        self.send(&probe);
    }

    /// Reads what the peer sent and handles every complete frame, without
    /// a future: the read buffer lives on the thread's stack for the call
    /// only. A message that must wait for the room (or an identification)
    /// is handed back (`Err`) for [`Socket::finish_reading`], with any frames
    /// after it still in the reader.
    fn on_readable(&mut self) -> Result<Flow, ClientMsg> {
        let mut chunk = [0u8; READ_CHUNK];
        for _ in 0..READS_PER_WAKE {
            match read_draining(&self.stream, &mut chunk) {
                Ok((0, _)) => return Ok(Flow::End),
                Ok((n, drained)) => {
                    self.last_seen = Instant::now();
                    self.reader.push(&chunk[..n]);
                    if self.handle_frames_now()? == Flow::End {
                        return Ok(Flow::End);
                    }
                    if drained {
                        return Ok(Flow::Continue);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Flow::Continue),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::debug!(%err, "read failed");
                    return Ok(Flow::End);
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// The rest of a read whose message `msg` must wait: routes it, then
    /// handles the frames read after it. The socket is read again on its
    /// next readiness (what was read is all handled here).
    async fn finish_reading(&mut self, msg: ClientMsg) -> Flow {
        self.route_wait(msg).await;
        self.handle_frames().await
    }

    /// Handles every complete frame, waiting where a message must.
    async fn handle_frames(&mut self) -> Flow {
        loop {
            match self.handle_frames_now() {
                Ok(flow) => return flow,
                Err(msg) => self.route_wait(msg).await,
            }
        }
    }

    /// Handles complete frames until none is left (`Ok`) or a message must
    /// wait (`Err`, the frames after it stay in the reader).
    fn handle_frames_now(&mut self) -> Result<Flow, ClientMsg> {
        loop {
            match self.reader.next_event() {
                Ok(None) => return Ok(Flow::Continue),
                Ok(Some(incoming)) => {
                    if self.on_incoming(incoming)? == Flow::End {
                        return Ok(Flow::End);
                    }
                }
                Err(violation) => {
                    tracing::info!(
                        conn = self.conn,
                        room = self.room_code(),
                        reason = violation.reason(),
                        "websocket frame refused; closing"
                    );
                    self.outbox
                        .close(violation.close_code(), violation.reason());
                    if violation != Violation::TooBig {
                        // The stream is no longer trusted (or the message is
                        // lost): nothing more is read from it.
                        self.failed = true;
                        return Ok(Flow::Continue);
                    }
                }
            }
        }
    }

    /// Handles one frame; a message that must wait is handed back.
    fn on_incoming(&mut self, incoming: Incoming) -> Result<Flow, ClientMsg> {
        let closing = self.outbox.is_closing();
        match incoming {
            Incoming::Text(text) if !closing => {
                if self.admit() {
                    match protocol::decode(&text) {
                        Ok(msg) => {
                            if let Some(waiting) = self.dispatch(msg) {
                                return Err(waiting);
                            }
                        }
                        Err(err) => self.send_error(err.code(), &err.to_string()),
                    }
                }
            }
            Incoming::Binary(_) if !closing => {
                if self.admit() {
                    self.send_error("bad_json", "binary frames are not accepted; send JSON text");
                }
            }
            // Pings cost a pong each, so they count against the same rate
            // as messages: a flood of them cannot buy unbounded replies.
            Incoming::Ping(payload) if !closing => {
                if self.admit() {
                    self.rx.push_control(Message::Pong(Bytes::from(payload)));
                }
            }
            Incoming::Close(code) => {
                self.got_close = true;
                if self.sent_close {
                    return Ok(Flow::End);
                }
                // Echo the peer's code, as RFC 6455 asks.
                self.outbox.close(code.unwrap_or(CLOSE_NORMAL), "");
            }
            // Pongs only prove life; data after a close is dropped.
            Incoming::Text(_) | Incoming::Binary(_) | Incoming::Ping(_) | Incoming::Pong => {}
        }
        Ok(Flow::Continue)
    }

    fn room_code(&self) -> Option<&str> {
        self.room.as_ref().map(|attached| attached.room.code())
    }

    async fn finish(mut self) {
        if let Some(attached) = self.room.take() {
            let _ = attached
                .room
                .send(ToRoom::Disconnected { conn: self.conn })
                .await;
            crate::metrics::connection_closed(role_name(attached.role));
            if attached.role == Role::Player {
                self.state.player_online(false);
            }
        }
        tracing::debug!("socket closed");
    }

    /// Applies the per-connection rate limit: within it → `true`; over it →
    /// `rate_limited`; over it for too long → close 1008.
    fn admit(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self.messages.try_take(now) {
            return true;
        }
        crate::metrics::rate_limited();
        if self.strikes.try_take(now) {
            self.send_error(
                "rate_limited",
                "too many messages; slow down or the socket is closed",
            );
        } else {
            tracing::info!(
                conn = self.conn,
                room = self.room_code(),
                "rate limit exceeded for too long; closing"
            );
            self.outbox.close(CLOSE_POLICY, "rate limit");
        }
        false
    }

    /// Answers what the socket answers itself and hands the rest to the
    /// room without waiting; returns the message if it must wait (the
    /// room's queue is full, or the socket is not identified yet).
    fn dispatch(&mut self, msg: ClientMsg) -> Option<ClientMsg> {
        crate::metrics::message_in(client_msg_kind(&msg));
        let mut msg = msg;
        match &mut msg {
            ClientMsg::Ping { t } => {
                self.send(&ServerMsg::Pong {
                    t: *t,
                    server_ms: epoch_ms(),
                });
                return None;
            }
            ClientMsg::SyncReply { id, client_ms } => {
                if let Some(clock) = self.clock.as_mut() {
                    clock.sync.reply(*id, *client_ms, clock_sync::now_ms());
                }
                return None;
            }
            ClientMsg::Buzz { timing, .. } => {
                // Stamped here, before the room's queue, so a busy room
                // does not make a press look later than it arrived.
                *timing = self.clock.as_ref().map(|c| c.sync.timing(epoch_ms()));
            }
            _ => {}
        }
        let Some(attached) = &self.room else {
            if identity_room(&msg).is_none() {
                self.send_error(
                    "not_identified",
                    "the first message must be host, join, resume or screen",
                );
                return None;
            }
            return Some(msg);
        };
        let cmd = ToRoom::Message {
            conn: self.conn,
            msg,
        };
        match attached.room.try_send(cmd) {
            Ok(None) => None,
            Ok(Some(ToRoom::Message { msg, .. })) => Some(msg),
            Ok(Some(_)) => None,
            Err(_) => {
                self.outbox.close(CLOSE_ROOM_GONE, "room closed");
                None
            }
        }
    }

    /// Routes a message [`Socket::dispatch`] could not hand over at once:
    /// waits for room in the room's queue, or identifies the socket.
    async fn route_wait(&mut self, msg: ClientMsg) {
        match (&self.room, identity_room(&msg)) {
            (Some(attached), _) => {
                let room = attached.room.clone();
                let cmd = ToRoom::Message {
                    conn: self.conn,
                    msg,
                };
                if room.send(cmd).await.is_err() {
                    self.outbox.close(CLOSE_ROOM_GONE, "room closed");
                }
            }
            (None, Some(code)) => self.identify(&code, msg).await,
            // Answered by `dispatch` already.
            (None, None) => {}
        }
    }

    /// Finds the room named by a first message and hands it the socket.
    async fn identify(&mut self, code: &str, msg: ClientMsg) {
        let now = std::time::Instant::now();
        let joins = self.state.failed_joins();
        let code = normalize_code(code);
        if !joins.allowed(self.peer, code.as_deref(), now) {
            crate::metrics::rate_limited();
            self.send_error(
                "rate_limited",
                "too many attempts with unknown room codes; wait a minute",
            );
            return;
        }
        let mut room = code.as_ref().and_then(|code| self.state.rooms().get(code));
        if let (None, Some(cluster), Some(code)) = (&room, self.state.cluster(), &code) {
            match cluster.proxy_for(&self.state, code).await {
                Ok(proxy) => room = proxy,
                Err(_) => {
                    self.send_error(
                        "cluster_unavailable",
                        "the cluster cannot be reached to find this room; try again",
                    );
                    return;
                }
            }
        }
        let Some(room) = room else {
            let ended = code.as_deref().is_some_and(|code| {
                answer_from_ended(&self.state, code, self.conn, msg, &self.outbox)
            });
            if ended {
                return;
            }
            // A running room nobody holds right now: its owner died and
            // another node is about to restore it. Not a wrong code.
            let moving = self.state.cluster().is_some()
                && code
                    .as_deref()
                    .is_some_and(|code| crate::storage::persist::code_taken(&self.state, code));
            if moving {
                self.send_error(
                    "cluster_unavailable",
                    "this room is moving to another node; try again in a few seconds",
                );
                return;
            }
            joins.record_failure(self.peer, now);
            self.send_error("no_room", "no live room has this code");
            return;
        };
        let wants_sync = matches!(
            msg,
            ClientMsg::Join { sync: true, .. } | ClientMsg::Resume { sync: true, .. }
        );
        let (reply, answer) = tokio::sync::oneshot::channel();
        let hello = ToRoom::Hello {
            conn: self.conn,
            msg,
            outbox: self.outbox.clone(),
            reply,
        };
        if room.send(hello).await.is_err() {
            self.send_error("no_room", "no live room has this code");
            return;
        }
        // `None`: the room refused and already told the socket why.
        if let Ok(Some(role)) = answer.await {
            tracing::info!(
                conn = self.conn,
                room = room.code(),
                role = role_name(role),
                "socket identified"
            );
            joins.remember(self.peer, room.code(), now);
            crate::metrics::connection_opened(role_name(role));
            if role == Role::Player {
                self.state.player_online(true);
                if wants_sync {
                    self.clock = Some(Box::new(Clock {
                        sync: ClockSync::new(),
                        next_probe: Instant::now(),
                    }));
                }
            }
            self.room = Some(Attached { room, role });
        }
    }

    fn send_error(&self, code: &str, message: &str) {
        self.send(&ServerMsg::Error {
            code: code.to_string(),
            message: message.chars().take(MAX_ERROR_TEXT).collect(),
            you: None,
        });
    }

    /// Queues a reply for this socket only.
    fn send(&self, msg: &ServerMsg) {
        let Ok(text) = serde_json::to_string(msg) else {
            return;
        };
        if self.outbox.try_push_text(Utf8Bytes::from(text)) == Err(PushError::Full) {
            crate::metrics::slow_client_evicted();
            self.outbox.abort(CLOSE_SLOW, "slow");
        }
    }
}

/// Reads once into `chunk`; returns the bytes read and whether the read
/// emptied the socket (it returned fewer bytes than asked for). An emptied
/// socket's readiness is cleared at once, so the task waits for the next
/// readiness event instead of spending a second read to learn that nothing
/// is left: one read per vote instead of two. Clearing is safe: tokio
/// clears only the readiness seen before the read, never an event that
/// arrived since, and never the end of the stream.
fn read_draining(stream: &TcpStream, chunk: &mut [u8]) -> io::Result<(usize, bool)> {
    use std::io::Read;
    let mut got = 0;
    let result = stream.try_io(tokio::io::Interest::READABLE, || {
        let n = (&*socket2::SockRef::from(stream)).read(chunk)?;
        got = n;
        if n > 0 && n < chunk.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match result {
        Ok(n) => Ok((n, false)),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok((got, true)),
        Err(err) => Err(err),
    }
}

/// The room a first message names (`host`, `join`, `resume`, `screen`,
/// `interviewer`), if it is one.
fn identity_room(msg: &ClientMsg) -> Option<String> {
    match msg {
        ClientMsg::Host { room, .. }
        | ClientMsg::Join { room, .. }
        | ClientMsg::Resume { room, .. }
        | ClientMsg::Screen { room }
        | ClientMsg::Interviewer { room, .. } => Some(room.clone()),
        _ => None,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Host => "host",
        Role::Player => "player",
        Role::Screen => "screen",
        Role::Interviewer => "interviewer",
    }
}

/// The `type` of a client message, for metrics.
fn client_msg_kind(msg: &ClientMsg) -> &'static str {
    match msg {
        ClientMsg::Host { .. } => "host",
        ClientMsg::Join { .. } => "join",
        ClientMsg::Resume { .. } => "resume",
        ClientMsg::Screen { .. } => "screen",
        ClientMsg::Ask { .. } => "ask",
        ClientMsg::Judge { .. } => "judge",
        ClientMsg::Close => "close",
        ClientMsg::Reveal => "reveal",
        ClientMsg::Kick { .. } => "kick",
        ClientMsg::Lock { .. } => "lock",
        ClientMsg::Pause { .. } => "pause",
        ClientMsg::Mark { .. } => "mark",
        ClientMsg::PeerVote { .. } => "peer_vote",
        ClientMsg::ShowScores => "show_scores",
        ClientMsg::End => "end",
        ClientMsg::Buzz { .. } => "buzz",
        ClientMsg::Vote { .. } => "vote",
        ClientMsg::Answer { .. } => "answer",
        ClientMsg::Ping { .. } => "ping",
        ClientMsg::SyncReply { .. } => "sync_reply",
        ClientMsg::Interviewer { .. } => "interviewer",
        ClientMsg::AddInterviewer { .. } => "add_interviewer",
        ClientMsg::RevokeInterviewer { .. } => "revoke_interviewer",
        ClientMsg::Assess { .. } => "assess",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The socket's task is what every idle connection costs: it must stay
    /// small (the boxed paths keep reading and leaving out of it).
    #[tokio::test]
    async fn an_idle_socket_task_is_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let state = AppState::new(
            crate::config::Config::default(),
            crate::bank::catalog::Catalog::default(),
        );
        let task = serve(server, Bytes::new(), state, peer.ip());
        let size = std::mem::size_of_val(&task);
        println!("socket task: {size} bytes");
        // 776 bytes when written: the socket's state (about 390), its
        // timer (112), the shutdown signal (176) and a debug span.
        assert!(size <= 1024, "the socket task grew to {size} bytes");
        drop(client);
    }
}
