//! One WebSocket connection: a writer task that drains the socket's bounded
//! [`Outbox`] (and pings), and a reader loop that enforces size and rate
//! limits, decodes messages and hands them to the socket's room.
//!
//! The reader never waits on the writer and the room never waits on either:
//! when the writer cannot keep up, the queue fills and the room drops the
//! socket as slow. A socket that has not identified itself in time, or whose
//! peer has been silent for three ping intervals, is closed; a dead player
//! keeps its seat and may `resume`.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::protocol::{self, ClientMsg, Role, ServerMsg, MAX_CLIENT_MESSAGE};
use crate::room::ConnId;
use crate::rooms::{epoch_ms, normalize_code, RoomHandle, ToRoom};
use crate::state::{AppState, TaskGuard};
use crate::ws::limits::{
    TokenBucket, MESSAGES_PER_SEC, MESSAGE_BURST, STRIKES_PER_SEC, STRIKE_BURST,
};
use crate::ws::outbox::{
    Outbox, OutboxReceiver, PushError, CLOSE_IDENTIFY_TIMEOUT, CLOSE_NORMAL, CLOSE_POLICY,
    CLOSE_RESTART, CLOSE_ROOM_GONE, CLOSE_SLOW, CLOSE_TOO_BIG,
};

/// How long a closing socket waits for its close frame to go out and the
/// peer's close reply (a slow peer may start reading again and learn why).
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The same wait while the server shuts down, to stay within its budget.
const SHUTDOWN_CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How long the writer tries to deliver an immediate close frame.
const ABORT_SEND: Duration = Duration::from_secs(4);
/// Queued messages written before a flush.
const WRITE_BATCH: usize = 64;
/// Longest `message` text in an `error` reply.
const MAX_ERROR_TEXT: usize = 200;
/// Peer silence, in ping intervals, after which the peer is dead.
const DEAD_AFTER_PINGS: u32 = 3;

/// Runs one upgraded socket until it closes.
pub async fn serve(socket: WebSocket, state: AppState, peer: IpAddr) {
    let conn = state.next_conn_id();
    let span = tracing::info_span!(
        "ws",
        conn,
        %peer,
        room = tracing::field::Empty,
        role = tracing::field::Empty
    );
    let ping_every = Duration::from_secs(state.config().ping_secs.max(1));
    let identify_within = Duration::from_millis(state.config().identify_timeout_ms);
    let (outbox, outbox_rx) = Outbox::new(state.config().outbound_queue);
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(sink, outbox_rx, ping_every).instrument(span.clone()));
    let now = Instant::now();
    let reader = Reader {
        _guard: TaskGuard::enter(&state, AppState::connections),
        state,
        conn,
        peer,
        outbox,
        room: None,
        span: span.clone(),
        identify_by: now + identify_within,
        dead_after: ping_every * DEAD_AFTER_PINGS,
        last_seen: now,
        messages: TokenBucket::new(MESSAGE_BURST, MESSAGES_PER_SEC, std::time::Instant::now()),
        strikes: TokenBucket::new(STRIKE_BURST, STRIKES_PER_SEC, std::time::Instant::now()),
    };
    reader.run(stream, writer).instrument(span).await;
}

/// The room a socket belongs to once it has identified itself.
struct Attached {
    room: RoomHandle,
    role: Role,
}

struct Reader {
    /// Counts this socket for shutdown.
    _guard: TaskGuard,
    state: AppState,
    conn: ConnId,
    peer: IpAddr,
    outbox: Outbox,
    room: Option<Attached>,
    span: tracing::Span,
    identify_by: Instant,
    dead_after: Duration,
    last_seen: Instant,
    messages: TokenBucket,
    strikes: TokenBucket,
}

impl Reader {
    async fn run(mut self, mut stream: SplitStream<WebSocket>, mut writer: JoinHandle<()>) {
        let state = self.state.clone();
        let stopping = state.stopping();
        tokio::pin!(stopping);
        let mut writer_done = false;
        let mut closing_until: Option<Instant> = None;
        loop {
            if closing_until.is_none() && (writer_done || self.outbox.is_closing()) {
                closing_until = Some(Instant::now() + self.close_grace());
            }
            let deadline = closing_until.unwrap_or_else(|| self.deadline());
            tokio::select! {
                biased;
                _ = &mut stopping, if closing_until.is_none() => {
                    self.outbox.close(CLOSE_RESTART, "server restarting");
                }
                _ = &mut writer, if !writer_done => writer_done = true,
                _ = tokio::time::sleep_until(deadline) => {
                    if closing_until.is_some() {
                        break;
                    }
                    if self.room.is_none() && Instant::now() >= self.identify_by {
                        tracing::info!("socket did not identify itself in time");
                        self.outbox.close(CLOSE_IDENTIFY_TIMEOUT, "identify timeout");
                        continue;
                    }
                    tracing::info!("peer silent for too long; treated as disconnected");
                    break;
                }
                frame = stream.next() => match frame {
                    None => break,
                    Some(Err(err)) => {
                        if is_too_big(err) {
                            tracing::info!("oversized frame");
                            self.outbox.close(CLOSE_TOO_BIG, "message too big");
                        }
                        break;
                    }
                    Some(Ok(msg)) => {
                        self.last_seen = Instant::now();
                        if closing_until.is_none() && !self.outbox.is_closing() {
                            // Boxed: the decode and identify path is large, and
                            // inline it would sit in every idle socket's task.
                            Box::pin(self.on_frame(msg)).await;
                        }
                    }
                },
            }
        }
        self.finish(writer, writer_done).await;
    }

    fn close_grace(&self) -> Duration {
        if self.state.is_shutting_down() {
            SHUTDOWN_CLOSE_GRACE
        } else {
            CLOSE_GRACE
        }
    }

    /// When the reader must act if nothing arrives: the identify deadline,
    /// or the moment the peer counts as dead.
    fn deadline(&self) -> Instant {
        let dead_at = self.last_seen + self.dead_after;
        if self.room.is_none() {
            dead_at.min(self.identify_by)
        } else {
            dead_at
        }
    }

    async fn finish(mut self, mut writer: JoinHandle<()>, writer_done: bool) {
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
        if !writer_done {
            // Lets an orderly close (1009, 1012...) go out, then stops the writer.
            self.outbox.close(CLOSE_NORMAL, "");
            if tokio::time::timeout(CLOSE_GRACE, &mut writer)
                .await
                .is_err()
            {
                writer.abort();
            }
        }
        tracing::debug!("socket closed");
    }

    async fn on_frame(&mut self, msg: Message) {
        match msg {
            Message::Text(text) => {
                if text.len() > MAX_CLIENT_MESSAGE {
                    tracing::info!(bytes = text.len(), "message too big");
                    self.outbox.close(CLOSE_TOO_BIG, "message too big");
                    return;
                }
                if !self.admit() {
                    return;
                }
                match protocol::decode(&text) {
                    Ok(msg) => self.dispatch(msg).await,
                    Err(err) => self.send_error(err.code(), &err.to_string()),
                }
            }
            Message::Binary(bytes) => {
                if bytes.len() > MAX_CLIENT_MESSAGE {
                    self.outbox.close(CLOSE_TOO_BIG, "message too big");
                    return;
                }
                if self.admit() {
                    self.send_error("bad_json", "binary frames are not accepted; send JSON text");
                }
            }
            // Pings are answered by the WebSocket layer; pongs only prove life.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
        }
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
            tracing::info!("rate limit exceeded for too long; closing");
            self.outbox.close(CLOSE_POLICY, "rate limit");
        }
        false
    }

    async fn dispatch(&mut self, msg: ClientMsg) {
        crate::metrics::message_in(client_msg_kind(&msg));
        let identity_room = match &msg {
            ClientMsg::Host { room, .. }
            | ClientMsg::Join { room, .. }
            | ClientMsg::Resume { room, .. }
            | ClientMsg::Screen { room } => Some(room.clone()),
            _ => None,
        };
        if let ClientMsg::Ping { t } = msg {
            self.send(&ServerMsg::Pong {
                t,
                server_ms: epoch_ms(),
            });
            return;
        }
        match (&self.room, identity_room) {
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
            (None, None) => self.send_error(
                "not_identified",
                "the first message must be host, join, resume or screen",
            ),
        }
    }

    /// Finds the room named by a first message and hands it the socket.
    async fn identify(&mut self, code: &str, msg: ClientMsg) {
        let now = std::time::Instant::now();
        let joins = self.state.failed_joins();
        if !joins.allowed(self.peer, now) {
            crate::metrics::rate_limited();
            self.send_error(
                "rate_limited",
                "too many attempts with unknown room codes; wait a minute",
            );
            return;
        }
        let room = normalize_code(code).and_then(|code| self.state.rooms().get(&code));
        let Some(room) = room else {
            joins.record_failure(self.peer, now);
            self.send_error("no_room", "no live room has this code");
            return;
        };
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
            self.span.record("room", room.code());
            self.span.record("role", role_name(role));
            tracing::info!("socket identified");
            crate::metrics::connection_opened(role_name(role));
            if role == Role::Player {
                self.state.player_online(true);
            }
            self.room = Some(Attached { room, role });
        }
    }

    fn send_error(&self, code: &str, message: &str) {
        self.send(&ServerMsg::Error {
            code: code.to_string(),
            message: message.chars().take(MAX_ERROR_TEXT).collect(),
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

/// Writes queued messages in order (batched, one flush per batch), pings
/// the peer every `ping_every`, and stops after a close frame. An immediate
/// close interrupts even a write stuck on a peer that stopped reading.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: OutboxReceiver,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            biased;
            _ = outbox.aborted() => break,
            msg = outbox.recv() => match msg {
                Some(msg) => msg,
                None => return,
            },
            _ = ping.tick() => Message::Ping(Default::default()),
        };
        let write = async {
            let mut closing = matches!(first, Message::Close(_));
            sink.feed(first).await?;
            let mut batched = 1;
            while !closing && batched < WRITE_BATCH {
                let Some(msg) = outbox.try_recv() else {
                    break;
                };
                closing = matches!(msg, Message::Close(_));
                sink.feed(msg).await?;
                batched += 1;
            }
            sink.flush().await?;
            Ok::<bool, axum::Error>(closing)
        };
        tokio::select! {
            biased;
            _ = outbox.aborted() => break,
            written = write => match written {
                Ok(false) => {}
                Ok(true) | Err(_) => return,
            },
        }
    }
    if let Some(frame) = outbox.abort_frame() {
        let _ = tokio::time::timeout(ABORT_SEND, sink.send(Message::Close(Some(frame)))).await;
    }
}

/// Whether a read error means the peer sent more than the read limit.
fn is_too_big(err: axum::Error) -> bool {
    err.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Host => "host",
        Role::Player => "player",
        Role::Screen => "screen",
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
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}
