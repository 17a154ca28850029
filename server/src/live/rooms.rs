//! Live rooms: a registry from room code to a handle, and one owner task per
//! room that drives its [`Room`] state machine.
//!
//! The owner task is the only place a room is touched. Sockets send it
//! commands over a bounded channel; it applies them with the current time,
//! sleeps until the room's next deadline to send `Tick`, and carries out the
//! effects: a message is serialized once and every recipient's queue gets a
//! cheap clone; a recipient whose queue is full is dropped as slow (it may
//! resume) and nobody waits for it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, Utf8Bytes};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use crate::bank::catalog::Catalog;
use crate::live::room::{Audience, Command, ConnId, Effect, Room, RoomOptions};
use crate::live::ws::fanout;
use crate::live::ws::outbox::{Outbox, CLOSE_NORMAL, CLOSE_RESTART, CLOSE_ROOM_GONE, CLOSE_SLOW};
use crate::protocol::{ClientMsg, Millis, Role, ServerMsg};
use crate::state::{AppState, TaskGuard};

/// Characters of a room code: upper-case letters and digits without the
/// look-alikes 0/O and 1/I/L, so a code read aloud or off a projector is
/// typed right the first time.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Length of a room code.
pub const CODE_LEN: usize = 6;
/// Commands waiting for one room before senders wait their turn.
const ROOM_QUEUE: usize = 1024;
/// Most commands a room handles per wake-up before it looks at its timers,
/// the commits it waits for and shutdown again.
const COMMANDS_PER_WAKE: usize = 64;
/// Two ticks are never closer than this, so a room whose deadline is in
/// the past cannot spin its task.
const MIN_TICK_GAP: Duration = Duration::from_millis(5);

/// The current time as the rooms see it.
pub fn epoch_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fresh room code (not checked for uniqueness).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// A fresh host token: 128 random bits as 32 hex digits.
pub fn new_host_token() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// Whether a host token offered by a client looks like one this server
/// issues (or a similarly strong one): 32 to 128 characters of hex or
/// base64url. Anything else is replaced by a fresh token.
pub fn is_valid_host_token(token: &str) -> bool {
    (32..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Upper-cases and trims a code typed by a person; `None` if it cannot be a
/// code at all.
pub fn normalize_code(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// What a socket or HTTP handler sends to a room's owner task.
pub enum ToRoom {
    /// A socket's first message named this room. `reply` gets the role the
    /// socket now has, or `None` if the room refused it (the room already
    /// sent the socket an `error`).
    Hello {
        conn: ConnId,
        msg: ClientMsg,
        outbox: Outbox,
        reply: oneshot::Sender<Option<Role>>,
    },
    /// A later message from an identified socket.
    Message { conn: ConnId, msg: ClientMsg },
    /// The socket went away; its seat is kept.
    Disconnected { conn: ConnId },
    /// Runs a read-only query against the room (results, exports).
    Inspect(Box<dyn FnOnce(&Room) + Send>),
    /// A socket on another cluster node sent its first message; what it
    /// should see goes back to `node`.
    RemoteHello {
        node: Arc<str>,
        conn: ConnId,
        msg: ClientMsg,
    },
    /// A later message of a socket on another node.
    RemoteMessage { conn: ConnId, msg: ClientMsg },
    /// A socket on another node went away; its seat is kept.
    RemoteBye { conn: ConnId },
    /// Another node holds the room's lease (this node lost Redis long
    /// enough for it to take the room over): stop running it here, write
    /// nothing, and send the sockets to reconnect there.
    Yield,
}

/// How to reach one live room. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    code: Arc<str>,
    host_token: Arc<str>,
    tx: mpsc::Sender<ToRoom>,
}

/// The room's owner task has stopped (the room ended or was cleaned up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the room is no longer live")]
pub struct RoomGone;

impl RoomHandle {
    /// A handle for a room run by another cluster node: commands go to a
    /// local proxy task. It knows no host token (the owner checks it).
    pub fn remote(code: &str, tx: mpsc::Sender<ToRoom>) -> RoomHandle {
        RoomHandle {
            code: Arc::from(code),
            host_token: Arc::from(""),
            tx,
        }
    }

    /// Whether the task behind this handle has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Whether both handles reach the same task.
    pub fn same_room(&self, other: &RoomHandle) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// The room code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The room's host token, for the creator's answer.
    pub fn host_token(&self) -> &str {
        &self.host_token
    }

    /// Whether `token` is this room's host token.
    pub fn is_host_token(&self, token: &str) -> bool {
        constant_time_eq(self.host_token.as_bytes(), token.as_bytes())
    }

    /// Hands a command to the owner task, waiting if its queue is full.
    pub async fn send(&self, cmd: ToRoom) -> Result<(), RoomGone> {
        self.tx.send(cmd).await.map_err(|_| RoomGone)
    }

    /// Hands a command to the owner task if its queue has room, without
    /// waiting: a socket's usual path, which needs no future. A full queue
    /// gives the command back (`Ok(Some)`), for [`RoomHandle::send`].
    pub fn try_send(&self, cmd: ToRoom) -> Result<Option<ToRoom>, RoomGone> {
        match self.tx.try_send(cmd) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(cmd)) => Ok(Some(cmd)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(RoomGone),
        }
    }

    /// Runs `query` on the room inside its owner task and returns the answer.
    pub async fn inspect<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Room) -> T + Send + 'static,
    ) -> Result<T, RoomGone> {
        let (tx, rx) = oneshot::channel();
        self.send(ToRoom::Inspect(Box::new(move |room| {
            let _ = tx.send(query(room));
        })))
        .await?;
        rx.await.map_err(|_| RoomGone)
    }
}

/// Compares two secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The registry of live rooms, by code.
#[derive(Debug, Default)]
pub struct Rooms {
    map: DashMap<String, RoomHandle>,
}

/// Why a room could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// The server already runs `max_rooms` rooms.
    #[error("the server is running as many rooms as it may")]
    TooManyRooms,
    /// No free code was found (practically impossible below `max_rooms`).
    #[error("no free room code")]
    NoFreeCode,
    /// The host token sent to be reused could not be checked (a database
    /// is down): a fresh token would cut the host off its library and rooms.
    #[error(transparent)]
    StoreUnavailable(#[from] StoreUnavailable),
}

/// Settings for a new room from `POST /api/rooms`.
#[derive(Debug, Clone, Default)]
pub struct NewRoom {
    /// Shown on the big screen and in results.
    pub title: String,
    /// Screening mode.
    pub private: bool,
    /// Reuse this host token if it already owns a room, else mint a fresh one.
    pub host_token: Option<String>,
    /// The caller already found `host_token` known ([`host_token_exists`]),
    /// so it is not looked up again.
    pub host_token_checked: bool,
    /// Buzz collection window in ms (0: arrival order).
    pub buzz_window_ms: u64,
    /// Interview panel score scale (0 to this).
    pub score_scale: u32,
    /// How vote and poll options are ordered.
    pub shuffle_options: crate::live::room::Shuffle,
    /// A code already claimed cluster-wide (its lease taken) for this room;
    /// `None` picks a fresh one here.
    pub code: Option<String>,
}

impl Rooms {
    /// The live room with this code.
    pub fn get(&self, code: &str) -> Option<RoomHandle> {
        self.map.get(code).map(|entry| entry.value().clone())
    }

    /// How many rooms are live.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no room is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Handles of every live room.
    pub fn handles(&self) -> Vec<RoomHandle> {
        self.map.iter().map(|entry| entry.value().clone()).collect()
    }

    /// Registers `handle` unless its code is taken.
    fn insert_new(&self, handle: RoomHandle) -> bool {
        match self.map.entry(handle.code.to_string()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(handle);
                true
            }
        }
    }

    /// Forgets the room `code`, if `handle` is still the one registered.
    fn remove(&self, handle: &RoomHandle) {
        self.map.remove_if(handle.code(), |_, current| {
            current.tx.same_channel(&handle.tx)
        });
    }
}

/// Creates a room with a fresh unique code, starts its owner task and
/// returns its handle (which carries the host token).
pub fn create_room(state: &AppState, new: NewRoom) -> Result<RoomHandle, CreateError> {
    if state.rooms().len() >= state.config().max_rooms {
        return Err(CreateError::TooManyRooms);
    }
    let host_token = match new.host_token.filter(|token| is_valid_host_token(token)) {
        Some(token) if new.host_token_checked || host_token_exists(state, &token)? => token,
        _ => new_host_token(),
    };
    let options = RoomOptions {
        title: new.title,
        capacity: state.config().room_capacity,
        private: new.private,
        resume_window_ms: state.config().resume_window_secs.saturating_mul(1000),
        buzz_window_ms: new.buzz_window_ms,
        score_scale: new.score_scale,
        shuffle_options: new.shuffle_options,
    };
    let claimed = new.code;
    for _ in 0..100 {
        let code = claimed.clone().unwrap_or_else(new_code);
        if claimed.is_none() && crate::storage::persist::code_taken(state, &code) {
            continue;
        }
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let handle = RoomHandle {
            code: Arc::from(code.as_str()),
            host_token: Arc::from(host_token.as_str()),
            tx,
        };
        if !state.rooms().insert_new(handle.clone()) {
            if claimed.is_some() {
                return Err(CreateError::NoFreeCode);
            }
            continue;
        }
        let room = Room::new(
            code,
            host_token.clone(),
            options.clone(),
            state.catalog(),
            rand::rng().random(),
        );
        crate::storage::persist::room_created(state, handle.code(), &host_token, &options.title);
        // A first checkpoint, so even a room still in its lobby comes back.
        // Queued, not waited for: a lobby holds nothing acknowledged, so
        // the room opens while the database is away and is written once it
        // is back (the HTTP answer waits briefly for it, see
        // [`CREATE_COMMIT_WAIT`]).
        let first = crate::storage::persist::checkpoint_queued(state, &room);
        spawn_owner(state, room, handle.clone(), rx, first);
        tracing::info!(room = %handle.code, "room created");
        return Ok(handle);
    }
    Err(CreateError::NoFreeCode)
}

/// Why a host token could not be checked: a store that holds tokens (the
/// results database or the library) cannot be read, so the server does not
/// know whether the token is one of its own; callers answer
/// [`StoreUnavailable::api_error`] rather than calling the host a stranger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database cannot be reached to check the host token")]
pub struct StoreUnavailable;

impl StoreUnavailable {
    /// `503 store_unavailable`: the host tries again once the database is back.
    pub fn api_error(self) -> crate::http::error::ApiError {
        crate::http::error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database cannot be reached to check the host token; try again",
        )
    }
}

/// Whether a live or stored room already belongs to `token`: only such a
/// token is reused for a new room, so a client cannot pick its own; and only
/// such a token sees a bank's answer key over HTTP. `Err` when no source
/// knows the token and a store that might could not be read.
pub fn host_token_exists(state: &AppState, token: &str) -> Result<bool, StoreUnavailable> {
    if state
        .rooms()
        .handles()
        .iter()
        .any(|room| room.is_host_token(token))
    {
        return Ok(true);
    }
    // While the results database is known to be away, a lookup would only
    // wait for a connection to fail: answer at once.
    if state.store().is_some_and(|store| !*store.health().borrow()) {
        crate::metrics::store_error();
        return Err(StoreUnavailable);
    }
    let mut failed = false;
    let mut failure = |what: &str, error: &dyn std::fmt::Display| {
        crate::metrics::store_error();
        tracing::error!(error = %error, "looking up a host token in the {what} failed");
        failed = true;
    };
    if let Some(store) = state.store() {
        match store.host_token_known(token) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => failure("results database", &e),
        }
    }
    if let Some(library) = state.library() {
        match library.store().host_known(token) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => failure("library", &e),
        }
    }
    if failed {
        Err(StoreUnavailable)
    } else {
        Ok(false)
    }
}

/// Registers a room brought back from storage and starts its owner task.
/// A room whose code is somehow live already is skipped.
pub fn adopt_room(state: &AppState, room: Room) -> Option<RoomHandle> {
    let (tx, rx) = mpsc::channel(ROOM_QUEUE);
    let handle = RoomHandle {
        code: Arc::from(room.code()),
        host_token: Arc::from(room.host_token()),
        tx,
    };
    if !state.rooms().insert_new(handle.clone()) {
        tracing::warn!(room = %handle.code, "restored room code already live; skipped");
        return None;
    }
    spawn_owner(state, room, handle.clone(), rx, None);
    tracing::info!(room = %handle.code, "room restored");
    Some(handle)
}

/// Answers a first message for a room no longer in memory from its stored
/// final state: a room that ended within the retention period still gives
/// the host its summary, a screen its podium and a known seat its final
/// place (`welcome` with `ended: true`), and refuses a new join with
/// `room_ended`, never `no_room`. A welcomed socket is then closed, as the
/// live room's sockets were at the end. `false` when no such room is stored.
pub fn answer_from_ended(
    state: &AppState,
    code: &str,
    conn: ConnId,
    msg: ClientMsg,
    outbox: &Outbox,
) -> bool {
    let Some(mut room) = crate::storage::persist::ended_room(state, code) else {
        return false;
    };
    final_answer(&mut room, conn, msg).deliver(outbox);
    true
}

/// What an ended room answers one socket's first message: the texts for
/// that socket only, then the close it gets (`None`: no seat, the socket
/// stays open, as after `room_ended`).
struct FinalAnswer {
    texts: Vec<String>,
    close: Option<(u16, String)>,
}

impl FinalAnswer {
    fn deliver(self, outbox: &Outbox) {
        for text in self.texts {
            let _ = outbox.try_push_text(Utf8Bytes::from(text));
        }
        if let Some((code, reason)) = self.close {
            outbox.close(code, &reason);
        }
    }
}

/// Applies a first message to an ended room (stored, or closing in
/// memory) and keeps what concerns that socket alone, so a room that ended
/// answers the same whether it is still closing or already gone.
fn final_answer(room: &mut Room, conn: ConnId, msg: ClientMsg) -> FinalAnswer {
    let mut answer = FinalAnswer {
        texts: Vec::new(),
        close: None,
    };
    let effects = room.apply(Command::Hello { conn, msg }, epoch_ms());
    for effect in effects {
        match effect {
            Effect::Send { to, msg }
                if room.recipients(&to).contains(&conn) || to == Audience::Conn(conn) =>
            {
                match serde_json::to_string(msg.as_ref()) {
                    Ok(text) => answer.texts.push(text),
                    Err(err) => tracing::error!(%err, "could not serialize a server message"),
                }
            }
            Effect::Close {
                conn: c,
                code,
                reason,
            } if c == conn => answer.close = Some((code, reason.to_string())),
            _ => {}
        }
    }
    if answer.close.is_none() && room.role_of(conn).is_some() {
        answer.close = Some((CLOSE_NORMAL, "room ended".to_string()));
    }
    answer
}

fn spawn_owner(
    state: &AppState,
    room: Room,
    handle: RoomHandle,
    rx: mpsc::Receiver<ToRoom>,
    first: Option<crate::storage::persist::QueuedCheckpoint>,
) {
    let span = tracing::info_span!("room", room = %handle.code);
    let owner = Owner {
        _guard: TaskGuard::enter(state, AppState::room_tasks),
        state: state.clone(),
        catalog: state.catalog(),
        library_generation: 0,
        room,
        handle,
        conns: HashMap::new(),
        remote: HashMap::new(),
        host_away_since: Some(Instant::now()),
        last_tick: None,
        ended: false,
        yielded: false,
        ack: AckCache::default(),
        durable: Durability {
            checkpoints: first.into_iter().collect(),
            ..Durability::default()
        },
        ending: None,
        abandoned: false,
        store_health: state.store().map(|s| s.health()),
        effects: Vec::new(),
        rest: Vec::new(),
    };
    state.refresh_gauges();
    tokio::spawn(owner.run(rx).instrument(span));
}

/// The task that owns one room.
struct Owner {
    /// Counts this task for shutdown.
    _guard: TaskGuard,
    state: AppState,
    /// The shared catalog the room's view was built from.
    catalog: Arc<Catalog>,
    /// The library generation the room's view was built at (0: not yet).
    library_generation: u64,
    room: Room,
    handle: RoomHandle,
    /// Outbound queues of the sockets the room knows.
    conns: HashMap<ConnId, Outbox>,
    /// Sockets of the room held by other cluster nodes, with their node.
    remote: HashMap<ConnId, Arc<str>>,
    /// Since when no host socket is connected.
    host_away_since: Option<Instant>,
    last_tick: Option<Instant>,
    ended: bool,
    /// Another node runs this room now.
    yielded: bool,
    /// The last ack sent: in a vote storm every voter gets the same bytes.
    ack: AckCache,
    /// Sends held until the answers queued before them are committed.
    durable: Durability,
    /// The room ended and its final state is not stored yet.
    ending: Option<Ending>,
    /// No host came back within the grace period: the sockets are closed
    /// and the room stays only until its end is stored.
    abandoned: bool,
    /// Whether the results database can be written, as it changes.
    store_health: Option<tokio::sync::watch::Receiver<bool>>,
    /// The room's effects for the command being carried out (kept between
    /// commands, so a vote allocates no list).
    effects: Vec<Effect>,
    /// Sends and closes of that command, waiting for its stores.
    rest: Vec<Effect>,
}

/// An `ack` is a promise that the answer survives a crash, so the sends of
/// a command that queued an answer record (its ack among them), and every
/// send after them (order is kept), wait until the store reports the
/// record committed. After each pass over its commands a room that queued
/// records queues a numbered mark behind them (group commit, see
/// [`crate::storage::commit`]); a held send waits for the mark after the
/// last record before it. The store raises the room's signal once per
/// commit, and marks queued while a commit is in flight are in the next
/// batch, so an ack waits for at most the commit in flight and its own, a
/// vote storm costs a handful of commits, and the room never blocks.
///
/// A `tally` promises nothing: it shows what the room counted, so one held
/// behind acks alone goes out at once (the acks keep waiting); one held
/// behind anything else (a boundary, a `question`) keeps its place.
///
/// Nothing but an ack waits long, though: the room keeps running for its
/// sockets while the database is away. The held sends other than acks (a
/// `welcome`, the next `question`, a `reveal`, the podium) go out, in
/// their order, once they waited [`SHOW_HELD_AFTER`] (at once while the
/// store is known to be away); the acks stay held until their answers are
/// committed.
struct Durability {
    /// Sends and closes waiting, in order, each with the mark it waits for.
    held: VecDeque<(u64, Effect)>,
    /// How many of `held` are not acks (a tally may pass only acks).
    held_other: usize,
    /// When the held sends other than acks go out even if not committed
    /// (`None` while only acks are held).
    show_at: Option<Instant>,
    /// The last mark queued to the store.
    marked: u64,
    /// Records were queued since `marked`: the next mark covers them.
    dirty: bool,
    /// Where the store says how far the room's marks are committed.
    signal: Arc<crate::storage::commit::CommitSignal>,
    /// How far the room has acted on `signal` (released what it covers).
    seen: u64,
    /// Boundaries queued and not yet confirmed, oldest first.
    checkpoints: VecDeque<crate::storage::persist::QueuedCheckpoint>,
}

impl Default for Durability {
    fn default() -> Durability {
        Durability {
            held: VecDeque::new(),
            held_other: 0,
            show_at: None,
            marked: 0,
            dirty: false,
            signal: crate::storage::commit::CommitSignal::new(),
            seen: 0,
            checkpoints: VecDeque::new(),
        }
    }
}

impl Durability {
    /// The mark that covers every record queued so far.
    fn covering(&self) -> u64 {
        self.marked + u64::from(self.dirty)
    }

    /// Holds `effect` behind those already held, until the mark covering
    /// what is queued now is committed; the first send other than an ack
    /// held arms [`Durability::show_at`] from `now`.
    fn hold(&mut self, effect: Effect, now: impl FnOnce() -> Instant) {
        if !is_ack(&effect) {
            self.held_other += 1;
            if self.show_at.is_none() {
                self.show_at = Some(now() + SHOW_HELD_AFTER);
            }
        }
        self.held.push_back((self.covering(), effect));
    }

    /// Takes the held effects whose mark is at most `mark`, in order (a
    /// later one never passes an earlier one).
    fn take_upto(&mut self, mark: u64) -> Vec<Effect> {
        let n = self.held.iter().take_while(|(m, _)| *m <= mark).count();
        self.take(n)
    }

    /// Takes the first `n` held effects (all of them if fewer), in order.
    fn take(&mut self, n: usize) -> Vec<Effect> {
        let n = n.min(self.held.len());
        let taken: Vec<Effect> = self.held.drain(..n).map(|(_, e)| e).collect();
        let others = taken.iter().filter(|e| !is_ack(e)).count();
        self.held_other = self.held_other.saturating_sub(others);
        if self.held_other == 0 {
            self.show_at = None;
        }
        taken
    }

    /// Takes every held send other than an ack, in order, for sending
    /// before its commit; the acks stay held, each for its own mark.
    fn take_shown(&mut self) -> Vec<Effect> {
        self.show_at = None;
        if self.held_other == 0 {
            return Vec::new();
        }
        let mut acks = VecDeque::with_capacity(self.held.len().saturating_sub(self.held_other));
        let mut shown = Vec::with_capacity(self.held_other);
        for (mark, effect) in self.held.drain(..) {
            if is_ack(&effect) {
                acks.push_back((mark, effect));
            } else {
                shown.push(effect);
            }
        }
        self.held = acks;
        self.held_other = 0;
        shown
    }

    /// Whether a mark is queued that the store has not committed yet.
    fn waiting(&self) -> bool {
        self.marked > self.signal.committed()
    }

    /// Resolves once the store committed a mark the room has not acted on
    /// (at once if that happened while the room was busy); never if no
    /// mark is outstanding.
    async fn advanced(&self) {
        if self.marked <= self.seen {
            return std::future::pending().await;
        }
        while self.signal.committed() <= self.seen {
            self.signal.advanced().await;
        }
    }

    /// Forgets everything held (the room's sockets are closing).
    fn drop_held(&mut self) {
        self.held.clear();
        self.held_other = 0;
        self.show_at = None;
    }
}

/// Whether `effect` is an `ack` to one socket.
fn is_ack(effect: &Effect) -> bool {
    matches!(effect, Effect::Send { to: Audience::Conn(_), msg } if matches!(**msg, ServerMsg::Ack { .. }))
}

/// Whether `effect` sends a `tally`.
fn is_tally(effect: &Effect) -> bool {
    matches!(effect, Effect::Send { msg, .. } if matches!(**msg, ServerMsg::Tally { .. }))
}

/// How long held sends other than acks (a `welcome`, a `question`, a
/// `reveal`, the podium at the end) wait for their commit before they go
/// out anyway: with the database up it commits in milliseconds and a
/// boundary is stored before anyone sees it; with the database away the
/// room still runs for its sockets (a new player is welcomed, the host's
/// next question reaches everyone), and what they saw is written once the
/// database is back. Acks never go out early: an ack promises the answer
/// is stored.
const SHOW_HELD_AFTER: Duration = Duration::from_secs(1);

/// How long `POST /api/rooms` waits for the new room's first checkpoint:
/// long enough that with the database up a room survives a crash right
/// after it was created, short enough that an outage does not hold the
/// host up (the room runs meanwhile; it is written once the database is
/// back). Not waited at all while the database is known to be away.
pub const CREATE_COMMIT_WAIT: Duration = Duration::from_secs(1);

/// An ended room whose final checkpoint and results are on their way to
/// the store. Its task stays (the room answers late hellos with its final
/// view and keeps its cluster lease, so no other node restores it) until
/// they are committed; it never blocks a thread meanwhile.
struct Ending {
    /// The final checkpoint, queued.
    checkpoint: Option<crate::storage::persist::QueuedCheckpoint>,
    /// The final results are committed.
    written: bool,
}

/// Waits for the store's health to change: `false` once it never will.
async fn health_change(rx: &mut Option<tokio::sync::watch::Receiver<bool>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// The hosts' banner about the results database.
fn store_warning(active: bool) -> ServerMsg {
    ServerMsg::Warning {
        code: "store_unavailable".into(),
        message: if active {
            "the results database cannot be written; answers are kept and \
             acknowledged once it is back"
        } else {
            "the results database is back"
        }
        .into(),
        active,
    }
}

/// The serialized form of the latest `ack`, reused while its `ref` and
/// `qid` stay the same, so a storm of votes costs one serialization.
#[derive(Default)]
struct AckCache(Option<(String, crate::protocol::Qid, Utf8Bytes)>);

impl AckCache {
    /// The frame text for `msg`: the cached one for a repeated ack, else
    /// freshly serialized (and remembered if it is an ack).
    fn text(&mut self, msg: &ServerMsg) -> Result<Utf8Bytes, serde_json::Error> {
        if let ServerMsg::Ack { reference, qid } = msg {
            if let Some((r, q, text)) = &self.0 {
                if r == reference && q == qid {
                    return Ok(text.clone());
                }
            }
            let text = Utf8Bytes::from(serde_json::to_string(msg)?);
            self.0 = Some((reference.clone(), *qid, text.clone()));
            return Ok(text);
        }
        Ok(Utf8Bytes::from(serde_json::to_string(msg)?))
    }
}

/// Why the owner loop stopped.
enum Stop {
    Ended,
    Abandoned,
    Shutdown,
    Orphaned,
    Yielded,
}

impl Owner {
    async fn run(mut self, mut rx: mpsc::Receiver<ToRoom>) {
        let state = self.state.clone();
        let stopping = state.stopping();
        tokio::pin!(stopping);
        let grace = Duration::from_secs(self.state.config().host_grace_secs);
        let stop = loop {
            // Whatever the last pass queued gets its mark, one per pass.
            self.mark_queued();
            if self.ended && self.ending.as_ref().is_none_or(|e| e.written) {
                break if self.abandoned {
                    Stop::Abandoned
                } else {
                    Stop::Ended
                };
            }
            if self.yielded {
                break Stop::Yielded;
            }
            let wakeup = self.next_tick();
            // A storm keeps the queue full, and the queue comes before the
            // timer below: a due tick (the throttled tally) runs here so
            // it never waits for the storm to end.
            if wakeup.is_some_and(|at| at <= Instant::now()) {
                self.last_tick = Some(Instant::now());
                self.apply(Command::Tick);
                continue;
            }
            let abandon_at = self
                .host_away_since
                .filter(|_| !self.ended)
                .map(|since| since + grace);
            let show_at = self.durable.show_at;
            tokio::select! {
                biased;
                _ = &mut stopping => break Stop::Shutdown,
                _ = self.durable.advanced() => self.committed(),
                _ = sleep_until_opt(show_at) => self.show_held(),
                changed = health_change(&mut self.store_health) => match changed {
                    true => self.store_health_changed(),
                    false => self.store_health = None,
                },
                cmd = rx.recv() => match cmd {
                    Some(cmd) => {
                        self.handle(cmd);
                        self.handle_waiting(&mut rx);
                    }
                    None => break Stop::Orphaned,
                },
                _ = sleep_until_opt(wakeup) => {
                    self.last_tick = Some(Instant::now());
                    self.apply(Command::Tick);
                }
                _ = sleep_until_opt(abandon_at) => {
                    if !self.abandon_deferred() {
                        break Stop::Abandoned;
                    }
                }
            }
        };
        self.finish(stop);
    }

    /// Handles the commands already queued behind the one just handled, up
    /// to [`COMMANDS_PER_WAKE`], before waiting again. In a vote storm the
    /// queue holds hundreds of votes; taking them in one go spares each the
    /// wait's set-up (its timers are armed and disarmed on every pass).
    fn handle_waiting(&mut self, rx: &mut mpsc::Receiver<ToRoom>) {
        for _ in 1..COMMANDS_PER_WAKE {
            if self.ended {
                return;
            }
            match rx.try_recv() {
                Ok(cmd) => self.handle(cmd),
                Err(_) => return,
            }
        }
    }

    /// When the room wants its next `Tick`, as a tokio instant.
    fn next_tick(&self) -> Option<Instant> {
        let at_ms = self.room.next_wakeup()?;
        let now = Instant::now();
        let due = now + Duration::from_millis(at_ms.saturating_sub(epoch_ms()));
        Some(match self.last_tick {
            Some(last) => due.max(last + MIN_TICK_GAP),
            None => due,
        })
    }

    fn handle(&mut self, cmd: ToRoom) {
        match cmd {
            ToRoom::Hello {
                conn,
                msg,
                outbox,
                reply,
            } => {
                if self.abandoned {
                    // Answered from its final state, as once it is stored.
                    final_answer(&mut self.room, conn, msg).deliver(&outbox);
                    let _ = reply.send(None);
                    return;
                }
                self.conns.insert(conn, outbox);
                self.apply(Command::Hello { conn, msg });
                let role = self.room.role_of(conn);
                if role.is_none() {
                    self.conns.remove(&conn);
                }
                self.warn_new_host(conn, role);
                let _ = reply.send(role);
            }
            ToRoom::Message { conn, msg } => {
                if self.conns.contains_key(&conn) {
                    self.apply(Command::Message { conn, msg });
                }
            }
            ToRoom::Disconnected { conn } => {
                if self.conns.remove(&conn).is_some() {
                    self.apply(Command::Disconnected { conn });
                }
            }
            ToRoom::Inspect(query) => query(&self.room),
            ToRoom::RemoteHello { node, conn, msg } => {
                if self.abandoned {
                    let answer = final_answer(&mut self.room, conn, msg);
                    self.answer_remote(&node, conn, answer);
                    return;
                }
                self.remote.insert(conn, node.clone());
                self.apply(Command::Hello { conn, msg });
                let role = self.room.role_of(conn);
                if role.is_none() {
                    self.remote.remove(&conn);
                }
                self.warn_new_host(conn, role);
                if let Some(cluster) = self.state.cluster() {
                    cluster.send_to(
                        &node,
                        &crate::live::cluster::Relay::Role {
                            room: self.handle.code().to_string(),
                            conn,
                            role,
                            again: self.room.rejoin_msg(conn),
                        },
                    );
                }
            }
            ToRoom::RemoteMessage { conn, msg } => {
                if self.remote.contains_key(&conn) {
                    self.apply(Command::Message { conn, msg });
                }
            }
            ToRoom::RemoteBye { conn } => {
                if self.remote.remove(&conn).is_some() {
                    self.apply(Command::Disconnected { conn });
                }
            }
            ToRoom::Yield => self.yielded = true,
        }
    }

    /// Applies one command and carries out its effects, including the
    /// disconnects of sockets found too slow along the way.
    fn apply(&mut self, cmd: Command) {
        // One pointer compare and one atomic load per command; the host's
        // merged view is rebuilt only after an upload or a library change.
        let latest = self.state.catalog();
        let generation = self.state.library_generation();
        if !Arc::ptr_eq(&latest, &self.catalog) || generation != self.library_generation {
            self.library_generation = generation;
            let view = self.state.catalog_for(&latest, self.handle.host_token());
            self.catalog = latest;
            self.room.set_catalog(view);
        }
        // Finding the host scans every socket, so only what can change host
        // presence pays for it: a host socket coming or going, an eviction,
        // a tick. A vote or a player's join stays O(1) here.
        let hello_or_bye = match &cmd {
            Command::Hello { conn, .. } | Command::Disconnected { conn } => Some(*conn),
            _ => None,
        };
        let is_host = |room: &Room, conn: Option<ConnId>| {
            conn.is_some_and(|c| room.role_of(c) == Some(Role::Host))
        };
        let was_host = is_host(&self.room, hello_or_bye);
        let tick = matches!(cmd, Command::Tick);
        let conns_before = self.conns.len() + self.remote.len();
        // The effects buffer is the owner's, reused by every command.
        let mut effects = std::mem::take(&mut self.effects);
        self.room.apply_into(cmd, epoch_ms(), &mut effects);
        let mut pending = self.carry_out(&mut effects);
        let mut rounds = 0;
        while let Some(slow) = pending.pop() {
            self.room.apply_into(
                Command::Disconnected { conn: slow },
                epoch_ms(),
                &mut effects,
            );
            pending.extend(self.carry_out(&mut effects));
            rounds += 1;
            if rounds > 10_000 {
                tracing::error!("effect cascade did not settle; stopping it");
                break;
            }
        }
        effects.clear();
        self.effects = effects;
        if tick
            || was_host
            || is_host(&self.room, hello_or_bye)
            || self.conns.len() + self.remote.len() != conns_before
        {
            self.track_host();
        }
    }

    /// Does what the room asked; returns sockets evicted as slow.
    fn carry_out(&mut self, effects: &mut Vec<Effect>) -> Vec<ConnId> {
        let mut slow = Vec::new();
        // Storage first: a client that saw a boundary (closed, reveal,
        // ended) can count on it surviving a crash right after. Sends and
        // closes wait in `rest` (in order) until everything is stored; an
        // answer record moves into the store's queue as it is.
        let mut rest = std::mem::take(&mut self.rest);
        let mut recorded = false;
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { .. } | Effect::Close { .. } => rest.push(effect),
                Effect::Record(record) => {
                    recorded = true;
                    crate::storage::persist::record(&self.state, record);
                }
                // A boundary is queued like an answer: the room goes on (a
                // database that is away is retried, not waited for) and
                // what it sends after the boundary waits for the commit.
                Effect::Checkpoint if self.state.store().is_some() => {
                    if let Some(queued) =
                        crate::storage::persist::checkpoint_queued(&self.state, &self.room)
                    {
                        self.durable.checkpoints.push_back(queued);
                        recorded = true;
                    }
                }
                // The end too: its final checkpoint is queued, what it sends
                // waits for the commit (at most [`SHOW_HELD_AFTER`]), and
                // the final results follow once it is in.
                Effect::Ended if self.state.store().is_some() && self.ending.is_none() => {
                    self.ended = true;
                    self.ending = Some(Ending {
                        checkpoint: crate::storage::persist::checkpoint_queued(
                            &self.state,
                            &self.room,
                        ),
                        written: false,
                    });
                    recorded = true;
                }
                other => {
                    if matches!(other, Effect::Ended) {
                        self.ended = true;
                    }
                    crate::storage::persist::on_effect(&self.state, &mut self.room, &other);
                }
            }
        }
        let durable = recorded && self.state.store().is_some();
        self.durable.dirty |= durable;
        if !durable && self.durable.held.is_empty() {
            self.deliver(rest.drain(..), &mut slow);
            self.rest = rest;
            return slow;
        }
        for effect in rest.drain(..) {
            // A tally held behind nothing but acks goes now: it shows the
            // counts, the acks still wait for the answers' commit.
            if self.durable.held_other == 0 && is_tally(&effect) {
                self.deliver(std::iter::once(effect), &mut slow);
            } else {
                self.durable.hold(effect, Instant::now);
            }
        }
        self.rest = rest;
        // While the database is known to be away no commit is coming soon:
        // what is not an ack goes now rather than in a second.
        if self.durable.held_other > 0 && self.store_down() {
            let shown = self.durable.take_shown();
            self.deliver(shown, &mut slow);
        }
        slow
    }

    /// Whether the results database is known to be away right now.
    fn store_down(&self) -> bool {
        self.store_health.as_ref().is_some_and(|rx| !*rx.borrow())
    }

    /// Queues a mark behind the records queued since the last one; the
    /// sends held behind them go out once it is committed. Without a store
    /// to take it (none, or stopped), everything held goes now. Returns
    /// whether a mark is outstanding.
    fn mark_queued(&mut self) -> bool {
        if !self.durable.dirty {
            return self.durable.waiting();
        }
        self.durable.dirty = false;
        let mark = self.durable.marked + 1;
        let queued = self
            .state
            .store()
            .map(|store| store.mark(&self.durable.signal, mark));
        if let Some(Ok(())) = queued {
            self.durable.marked = mark;
            return true;
        }
        let held = self.durable.take(usize::MAX);
        let mut slow = Vec::new();
        self.deliver(held, &mut slow);
        for conn in slow {
            self.apply(Command::Disconnected { conn });
        }
        false
    }

    /// The store committed more of the room's marks: the held sends they
    /// cover go out; sends held behind later marks wait for theirs.
    fn committed(&mut self) {
        // Read first: whatever that mark covers (boundaries included) has
        // been answered before the signal rose.
        self.durable.seen = self.durable.signal.committed();
        self.confirm_checkpoints();
        if let Some(ending) = self.ending.as_mut().filter(|e| !e.written) {
            // Once the final checkpoint is in, the database is there: the
            // final results go now (a later commit, requested for the sends
            // still held, comes back here if it is not in yet).
            let in_now = match ending.checkpoint.as_mut().map(|q| q.done.try_recv()) {
                Some(Err(oneshot::error::TryRecvError::Empty)) => false,
                Some(Ok(Err(e))) => {
                    crate::metrics::store_error();
                    tracing::error!(error = %e, "final checkpoint failed");
                    true
                }
                _ => true,
            };
            if in_now {
                ending.written = true;
                crate::storage::persist::write_end(&self.state, &self.room);
            }
        }
        let mut slow = Vec::new();
        let ready = self.durable.take_upto(self.durable.seen);
        self.deliver(ready, &mut slow);
        // An end not written yet waits for a later commit: its final
        // checkpoint is covered by a mark still outstanding (or, should
        // none be, by one more).
        let ending = self.ending.as_ref().is_some_and(|e| !e.written);
        if ending && !self.durable.waiting() {
            self.durable.dirty = true;
        }
        for conn in slow {
            self.apply(Command::Disconnected { conn });
        }
    }

    /// Queued boundaries the store has answered: committed ones let the
    /// room drop the finished questions they stored.
    fn confirm_checkpoints(&mut self) {
        while let Some(queued) = self.durable.checkpoints.front_mut() {
            match queued.done.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => break,
                Ok(Ok(())) => {
                    if let Some(queued) = self.durable.checkpoints.pop_front() {
                        crate::storage::persist::checkpoint_committed(&mut self.room, &queued);
                    }
                }
                Ok(Err(e)) => {
                    crate::metrics::store_error();
                    tracing::error!(error = %e, "checkpoint failed");
                    self.durable.checkpoints.pop_front();
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.durable.checkpoints.pop_front();
                }
            }
        }
    }

    /// Tells the hosts whether the results database can be written (a
    /// banner while it cannot), at once: not held behind the answers and
    /// boundaries that wait for it.
    fn store_health_changed(&mut self) {
        let Some(up) = self.store_health.as_mut().map(|rx| *rx.borrow_and_update()) else {
            return;
        };
        let mut slow = Vec::new();
        self.send(&Audience::Host, &store_warning(!up), &mut slow);
        if !up {
            // Held sends other than acks need not wait out their second.
            let shown = self.durable.take_shown();
            self.deliver(shown, &mut slow);
        }
        for conn in slow {
            self.apply(Command::Disconnected { conn });
        }
    }

    /// No host came back within the grace period and the room has a store:
    /// the room closes its sockets at once and, as an ended room does,
    /// queues its final checkpoint and stays (with its cluster lease, so no
    /// other node restores it) until that and its final results are
    /// written, without blocking a thread while the database is away.
    /// Returns `false` without a store (the room simply stops).
    fn abandon_deferred(&mut self) -> bool {
        if self.state.store().is_none() {
            return false;
        }
        tracing::info!("no host for the grace period; room closed");
        // The room ends as the host's `end` would (an open question closed
        // and scored), so its answers are part of the final results and
        // those read as an ended room's.
        let mut effects = self.room.abandon(epoch_ms());
        self.carry_out(&mut effects);
        self.abandoned = true;
        self.ended = true;
        self.ending = Some(Ending {
            checkpoint: crate::storage::persist::checkpoint_queued(&self.state, &self.room),
            written: false,
        });
        // Nothing held goes out any more: the sockets close now. Their
        // answers are in the store's queue and are written all the same.
        self.durable.drop_held();
        self.durable.dirty = true;
        for (_, outbox) in self.conns.drain() {
            outbox.close(CLOSE_ROOM_GONE, "room closed");
        }
        for (conn, node) in std::mem::take(&mut self.remote) {
            self.relay_close(&node, conn, CLOSE_ROOM_GONE, "room closed");
        }
        self.state.refresh_gauges();
        // A store that cannot be asked any more (it stopped) never answers.
        if !self.mark_queued() {
            if let Some(ending) = self.ending.as_mut() {
                ending.written = true;
            }
        }
        true
    }

    /// Held sends other than acks waited [`SHOW_HELD_AFTER`] for their
    /// commit (the database is away, or slow): they go out now, in order;
    /// acks stay held until their answers are committed, since an ack
    /// promises that.
    fn show_held(&mut self) {
        let shown = self.durable.take_shown();
        if shown.is_empty() {
            return;
        }
        if self.ending.is_some() {
            tracing::warn!(
                "the results database is away; the room's end is shown and written once it is back"
            );
        } else {
            tracing::debug!(
                sends = shown.len(),
                "sent before their commit; the database is slow or away"
            );
        }
        let mut slow = Vec::new();
        self.deliver(shown, &mut slow);
        for conn in slow {
            self.apply(Command::Disconnected { conn });
        }
    }

    /// Sends everything still held once the store has committed it all
    /// (the room is stopping).
    fn release_all(&mut self) {
        self.confirm_checkpoints();
        if self.durable.held.is_empty() && self.durable.checkpoints.is_empty() {
            return;
        }
        crate::storage::persist::flush_all(&self.state);
        self.confirm_checkpoints();
        let held = self.durable.take(usize::MAX);
        let mut slow = Vec::new();
        self.deliver(held, &mut slow);
    }

    /// Carries out sends and closes, in order.
    fn deliver(&mut self, effects: impl IntoIterator<Item = Effect>, slow: &mut Vec<ConnId>) {
        for effect in effects {
            match effect {
                Effect::Send { to, msg } => self.send(&to, &msg, slow),
                Effect::Close { conn, code, reason } => {
                    if let Some(outbox) = self.conns.remove(&conn) {
                        outbox.close(code, &reason);
                    } else if let Some(node) = self.remote.remove(&conn) {
                        self.relay_close(&node, conn, code, &reason);
                    }
                }
                _ => {}
            }
        }
    }

    /// Serializes `msg` once and queues it for every recipient.
    fn send(&mut self, to: &Audience, msg: &ServerMsg, slow: &mut Vec<ConnId>) {
        let started = (!matches!(to, Audience::Conn(_))).then(std::time::Instant::now);
        // A reply (ack, error, pong) goes to one socket: no recipient list.
        let one;
        let many;
        let recipients: &[ConnId] = match to {
            Audience::Conn(conn) => {
                one = [*conn];
                &one
            }
            other => {
                many = self.room.recipients(other);
                &many
            }
        };
        if recipients.is_empty() {
            return;
        }
        let text = match self.ack.text(msg) {
            Ok(text) => text,
            Err(err) => {
                tracing::error!(%err, "could not serialize a server message");
                return;
            }
        };
        if !self.remote.is_empty() {
            self.relay_out(to, recipients, &text);
        }
        let frame = Message::Text(text);
        let pushed = fanout::push_all(&self.conns, recipients, &frame);
        let delivered = pushed.delivered;
        for conn in pushed.full {
            if let Some(outbox) = self.conns.remove(&conn) {
                outbox.abort(CLOSE_SLOW, "slow");
                crate::metrics::slow_client_evicted();
                tracing::info!(conn, "socket dropped as slow");
                slow.push(conn);
            }
        }
        crate::metrics::message_out(server_msg_kind(msg), delivered);
        // The fan-out histogram is about broadcasts; a reply to one socket
        // (every ack) skips the clock reads and the histogram's lock.
        if let Some(started) = started {
            crate::metrics::broadcast_latency(started.elapsed().as_secs_f64());
        }
    }

    /// Publishes `text` once to each other node holding any of
    /// `recipients` (already serialized: every node queues the same bytes).
    fn relay_out(&self, to: &Audience, recipients: &[ConnId], text: &Utf8Bytes) {
        let Some(cluster) = self.state.cluster() else {
            return;
        };
        let mut by_node: HashMap<&Arc<str>, Vec<ConnId>> = HashMap::new();
        for conn in recipients {
            if let Some(node) = self.remote.get(conn) {
                by_node.entry(node).or_default().push(*conn);
            }
        }
        for (node, conns) in by_node {
            cluster.send_to(
                node,
                &crate::live::cluster::Relay::Out {
                    room: self.handle.code().to_string(),
                    to: crate::live::cluster::target_for(to, conns),
                    text: text.as_str().to_string(),
                },
            );
        }
    }

    /// Relays an ended room's answer to a socket another node holds, closes
    /// it there if the answer says so, and ends that node's wait for a seat.
    fn answer_remote(&self, node: &Arc<str>, conn: ConnId, answer: FinalAnswer) {
        let Some(cluster) = self.state.cluster() else {
            return;
        };
        let room = self.handle.code().to_string();
        for text in answer.texts {
            cluster.send_to(
                node,
                &crate::live::cluster::Relay::Out {
                    room: room.clone(),
                    to: crate::live::cluster::Target::Conns(vec![conn]),
                    text,
                },
            );
        }
        if let Some((code, reason)) = answer.close {
            self.relay_close(node, conn, code, &reason);
        }
        // The node's wait for a seat ends either way (after the close, so
        // the close still finds the socket).
        cluster.send_to(
            node,
            &crate::live::cluster::Relay::Role {
                room,
                conn,
                role: None,
                again: None,
            },
        );
    }

    /// Closes a socket held by another node.
    fn relay_close(&self, node: &Arc<str>, conn: ConnId, code: u16, reason: &str) {
        if let Some(cluster) = self.state.cluster() {
            cluster.send_to(
                node,
                &crate::live::cluster::Relay::Close {
                    room: self.handle.code().to_string(),
                    conn,
                    code,
                    reason: reason.to_string(),
                },
            );
        }
    }

    /// A host or interviewer arriving while the results database is away
    /// gets the banner too.
    fn warn_new_host(&mut self, conn: ConnId, role: Option<Role>) {
        if self.store_down() && matches!(role, Some(Role::Host | Role::Interviewer)) {
            let mut slow = Vec::new();
            self.send(&Audience::Conn(conn), &store_warning(true), &mut slow);
        }
    }

    fn track_host(&mut self) {
        let host_here = self.room.host_connected();
        match (host_here, self.host_away_since) {
            (true, Some(_)) => self.host_away_since = None,
            (false, None) => self.host_away_since = Some(Instant::now()),
            _ => {}
        }
    }

    fn finish(mut self, stop: Stop) {
        self.release_all();
        let (code, reason) = match stop {
            Stop::Ended => (CLOSE_NORMAL, "room ended"),
            // Stored already (see `abandon_deferred`).
            Stop::Abandoned if self.abandoned => (CLOSE_ROOM_GONE, "room closed"),
            Stop::Abandoned => {
                tracing::info!("no host for the grace period; room closed");
                crate::storage::persist::on_effect(&self.state, &mut self.room, &Effect::Ended);
                (CLOSE_ROOM_GONE, "room closed")
            }
            Stop::Shutdown if self.ending.as_ref().is_some_and(|e| !e.written) => {
                // Ended while the database was away: one more try (within
                // the shutdown budget) to store the end.
                crate::storage::persist::on_effect(&self.state, &mut self.room, &Effect::Ended);
                self.state.rooms().remove(&self.handle);
                if let Some(cluster) = self.state.cluster() {
                    cluster.release(self.handle.code());
                }
                return;
            }
            Stop::Shutdown => {
                // Close an open question so its answers are kept, then save.
                let mut effects = self.room.close_for_shutdown(epoch_ms());
                self.carry_out(&mut effects);
                crate::storage::persist::on_effect(
                    &self.state,
                    &mut self.room,
                    &Effect::Checkpoint,
                );
                // Sockets close themselves with 1012 when shutdown begins;
                // those on other nodes are told to, and come back to
                // whichever node takes the room over.
                for (conn, node) in std::mem::take(&mut self.remote) {
                    self.relay_close(&node, conn, CLOSE_RESTART, "server restarting");
                }
                self.state.rooms().remove(&self.handle);
                if let Some(cluster) = self.state.cluster() {
                    cluster.release(self.handle.code());
                }
                return;
            }
            Stop::Orphaned => (CLOSE_ROOM_GONE, "room closed"),
            Stop::Yielded => {
                tracing::warn!("another node runs this room now; stopped here");
                self.state.rooms().remove(&self.handle);
                for (_, outbox) in self.conns.drain() {
                    outbox.close(CLOSE_RESTART, "room moved to another node");
                }
                for (conn, node) in std::mem::take(&mut self.remote) {
                    self.relay_close(&node, conn, CLOSE_RESTART, "room moved to another node");
                }
                self.state.refresh_gauges();
                return;
            }
        };
        self.state.rooms().remove(&self.handle);
        for (_, outbox) in self.conns.drain() {
            outbox.close(code, reason);
        }
        for (conn, node) in std::mem::take(&mut self.remote) {
            self.relay_close(&node, conn, code, reason);
        }
        if let Some(cluster) = self.state.cluster() {
            cluster.release(self.handle.code());
        }
        self.state.refresh_gauges();
        tracing::info!("room removed");
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The `type` of a server message, for metrics.
pub fn server_msg_kind(msg: &ServerMsg) -> &'static str {
    match msg {
        ServerMsg::Welcome { .. } => "welcome",
        ServerMsg::Error { .. } => "error",
        ServerMsg::Roster { .. } => "roster",
        ServerMsg::Question(_) => "question",
        ServerMsg::BuzzQueue { .. } => "buzz_queue",
        ServerMsg::Tally { .. } => "tally",
        ServerMsg::Reveal { .. } => "reveal",
        ServerMsg::Scores { .. } => "scores",
        ServerMsg::Ack { .. } => "ack",
        ServerMsg::Ended => "ended",
        ServerMsg::Pong { .. } => "pong",
        ServerMsg::Warning { .. } => "warning",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_avoid_look_alikes() {
        for _ in 0..1000 {
            let code = new_code();
            assert_eq!(code.len(), CODE_LEN);
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
            assert_eq!(normalize_code(&code.to_lowercase()), Some(code));
        }
        assert_eq!(normalize_code("ABC0EF"), None);
        assert_eq!(normalize_code("ABCDE"), None);
    }

    #[test]
    fn host_tokens_carry_128_bits_and_are_accepted_back() {
        let a = new_host_token();
        let b = new_host_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(is_valid_host_token(&a));
        assert!(!is_valid_host_token("short"));
        assert!(!is_valid_host_token(&"x".repeat(32).replace('x', " ")));
    }

    #[test]
    fn a_repeated_ack_reuses_its_bytes_and_a_new_one_is_fresh() {
        let ack = |reference: &str, qid| ServerMsg::Ack {
            reference: reference.into(),
            qid,
        };
        let parse = |t: &Utf8Bytes| serde_json::from_str::<ServerMsg>(t.as_str()).unwrap();
        let mut cache = AckCache::default();
        let first = cache.text(&ack("vote", 3)).unwrap();
        let again = cache.text(&ack("vote", 3)).unwrap();
        assert_eq!(first.as_str().as_ptr(), again.as_str().as_ptr());
        for msg in [ack("vote", 4), ack("buzz", 4), ack("vote", 3)] {
            assert_eq!(parse(&cache.text(&msg).unwrap()), msg);
        }
        let pong = ServerMsg::Pong {
            t: Some(1),
            server_ms: 2,
        };
        assert_eq!(parse(&cache.text(&pong).unwrap()), pong);
        assert_eq!(parse(&cache.text(&ack("vote", 3)).unwrap()), ack("vote", 3));
    }

    fn ack_to(conn: ConnId) -> Effect {
        Effect::Send {
            to: Audience::Conn(conn),
            msg: Arc::new(ServerMsg::Ack {
                reference: "vote".into(),
                qid: 1,
            }),
        }
    }

    fn closed(qid: crate::protocol::Qid) -> Effect {
        Effect::Send {
            to: Audience::All,
            msg: Arc::new(ServerMsg::Closed { qid }),
        }
    }

    fn kinds(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .map(|e| match e {
                Effect::Send { msg, .. } => match &**msg {
                    ServerMsg::Closed { qid } => format!("closed {qid}"),
                    other => server_msg_kind(other).to_string(),
                },
                Effect::Close { conn, .. } => format!("close {conn}"),
                _ => "other".to_string(),
            })
            .collect()
    }

    #[test]
    fn only_acks_held_arm_no_deadline() {
        let now = Instant::now();
        let mut durable = Durability::default();
        durable.hold(ack_to(1), || now);
        durable.hold(ack_to(2), || now);
        assert_eq!(durable.show_at, None);
        assert!(durable.take_shown().is_empty());
        assert_eq!(durable.held.len(), 2, "acks wait for their commit");
    }

    #[test]
    fn the_first_send_held_that_is_no_ack_arms_the_deadline_once() {
        let now = Instant::now();
        let mut durable = Durability::default();
        durable.hold(ack_to(1), || now);
        durable.hold(closed(1), || now);
        let later = now + Duration::from_millis(700);
        durable.hold(closed(2), || later);
        assert_eq!(durable.show_at, Some(now + SHOW_HELD_AFTER));
        // The commit releases them all: nothing is left to show.
        assert_eq!(
            kinds(&durable.take(usize::MAX)),
            ["ack", "closed 1", "closed 2"]
        );
        assert_eq!(durable.show_at, None);
    }

    #[test]
    fn shown_sends_keep_their_order_and_acks_wait_for_their_commit() {
        let now = Instant::now();
        // Records queued: the first three wait for mark 1.
        let mut durable = Durability {
            dirty: true,
            ..Durability::default()
        };
        durable.hold(ack_to(1), || now);
        durable.hold(closed(1), || now);
        durable.hold(ack_to(2), || now);
        // Mark 1 is queued; more records follow, covered by mark 2.
        durable.marked = 1;
        durable.hold(
            Effect::Close {
                conn: 7,
                code: 4001,
                reason: "kicked".into(),
            },
            || now,
        );
        durable.hold(ack_to(3), || now);
        durable.hold(closed(2), || now);
        let shown = durable.take_shown();
        assert_eq!(kinds(&shown), ["closed 1", "close 7", "closed 2"]);
        assert_eq!(durable.show_at, None);
        assert_eq!(durable.held_other, 0);
        let marks: Vec<u64> = durable.held.iter().map(|(m, _)| *m).collect();
        assert_eq!(marks, [1, 1, 2], "each ack keeps its own mark");
        // Mark 1 committed: the two acks it covers go, not the third.
        assert_eq!(kinds(&durable.take_upto(1)), ["ack", "ack"]);
        assert_eq!(durable.held.len(), 1);
        assert!(durable.take_upto(1).is_empty());
        // A send held after the show arms a fresh deadline.
        let later = now + Duration::from_secs(5);
        durable.hold(closed(3), || later);
        assert_eq!(durable.show_at, Some(later + SHOW_HELD_AFTER));
        // It waits behind the ack for mark 2, though nothing of its own.
        durable.dirty = false;
        durable.marked = 2;
        durable.hold(closed(4), || later);
        assert_eq!(
            kinds(&durable.take_upto(2)),
            ["ack", "closed 3", "closed 4"]
        );
        durable.hold(closed(5), || later);
        durable.drop_held();
        assert!(durable.held.is_empty());
        assert_eq!((durable.held_other, durable.show_at), (0, None));
    }

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
