//! A live room as a pure state machine: `Room::apply(command, now) -> effects`.
//!
//! No I/O and no clock in here: the owner task feeds commands with the
//! current time and carries out the effects, so every rule is unit-tested
//! with an injected clock. The rules themselves live in one module per
//! concern; `docs/protocol.md` is their user-facing description.

mod buzz;
mod errors;
mod fair;
mod model;
mod order;
mod panel;
mod players;
mod question;
mod recovery;
mod rejoin;
mod results;
mod scoring;
mod snapshot;
mod text;
mod throttle;
mod voting;
mod welcome;

#[cfg(test)]
mod fair_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bank::catalog::Catalog;
use crate::protocol::{ClientMsg, Millis, PlayerId, Qid, Role, ServerMsg};

pub use errors::RoomError;
pub use order::Shuffle;
pub use recovery::Replayed;
pub use results::{PlayerResult, QuestionResult, ResultAnswer, Results, ResultsError, TopicResult};
pub use snapshot::SnapshotParts;

use model::Durable;
use throttle::Throttle;

/// Identifies one socket for the lifetime of the server process.
pub type ConnId = u64;

/// Close code for a kicked player: do not resume.
pub const CLOSE_KICKED: u16 = 4001;
/// Close code for a socket whose seat was resumed on another socket.
pub const CLOSE_REPLACED: u16 = 4002;

/// Room settings chosen at creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomOptions {
    /// Shown on the big screen and in results.
    pub title: String,
    /// Most players that may join.
    pub capacity: usize,
    /// Screening mode: players see only their own answers and score.
    pub private: bool,
    /// How long a dropped player's seat is kept for `resume`, in ms.
    pub resume_window_ms: u64,
    /// Buzz: how long after the first press the room collects presses
    /// before it gives the floor to the earliest estimated press; 0 turns
    /// latency compensation off (arrival order).
    #[serde(default = "default_buzz_window_ms")]
    pub buzz_window_ms: u64,
    /// Interview panel: the top of the scale answers are scored on (0 to this).
    #[serde(default = "default_score_scale")]
    pub score_scale: u32,
    /// How vote and poll options are ordered: shuffled per question from
    /// the room's seeded generator by default (the same for every player),
    /// so a bank that lists the key first does not give it away; the host
    /// may keep the bank's order or give every player its own order.
    #[serde(default, deserialize_with = "order::deserialize_shuffle")]
    pub shuffle_options: Shuffle,
}

/// The score scale of a room created without one (0–3).
pub const DEFAULT_SCORE_SCALE: u32 = 3;
/// The largest score scale a room may have.
pub const MAX_SCORE_SCALE: u32 = 10;

fn default_score_scale() -> u32 {
    DEFAULT_SCORE_SCALE
}

/// The buzz collection window of a room created without one.
pub const DEFAULT_BUZZ_WINDOW_MS: u64 = 150;
/// The longest buzz collection window a room may have.
pub const MAX_BUZZ_WINDOW_MS: u64 = 2_000;

fn default_buzz_window_ms() -> u64 {
    DEFAULT_BUZZ_WINDOW_MS
}

impl Default for RoomOptions {
    fn default() -> Self {
        RoomOptions {
            title: String::new(),
            capacity: 2000,
            private: false,
            resume_window_ms: 300_000,
            buzz_window_ms: DEFAULT_BUZZ_WINDOW_MS,
            score_scale: DEFAULT_SCORE_SCALE,
            shuffle_options: Shuffle::Room,
        }
    }
}

/// What the owner task hands the room.
#[derive(Debug, Clone)]
pub enum Command {
    /// A socket's first message (`host`, `join`, `resume`, `screen`) named this room.
    Hello { conn: ConnId, msg: ClientMsg },
    /// A later message from an identified socket.
    Message { conn: ConnId, msg: ClientMsg },
    /// A socket went away (closed, dead peer, or evicted as slow); the seat is kept.
    Disconnected { conn: ConnId },
    /// Time passed: close questions at their deadline, flush throttled tallies.
    Tick,
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// One socket (replies, errors, welcome).
    Conn(ConnId),
    /// Every host-side socket: the owner's and the interviewers'.
    Host,
    /// The owner's sockets only (panel tokens).
    Owner,
    /// Every big screen.
    Screens,
    /// Every player socket.
    Players,
    /// Every socket of one player.
    Player(PlayerId),
    /// Host and screens.
    HostAndScreens,
    /// Everyone in the room.
    All,
}

/// What kind of input an [`AnswerRecord`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A buzzer press joined the queue.
    Buzz,
    /// A vote, poll or self-assessment answer (the latest replaces earlier ones).
    Vote,
    /// A typed answer.
    Answer,
    /// A vote in a text question's peer vote.
    PeerVote,
    /// The host ruled on the floor holder.
    Judge,
    /// The host marked a typed answer.
    Mark,
    /// A player took a seat (qid 0): its welcome is a promise too, so a
    /// seat taken after the last checkpoint comes back after a crash.
    Seat,
}

/// One counted input, emitted as it is counted so storage can keep every
/// answer even if the process dies before the next checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerRecord {
    /// Room code (shared with the room: a record copies no text).
    pub room: Arc<str>,
    /// The question within the room.
    pub qid: Qid,
    /// The catalog question id (shared by the question's records).
    pub question_id: Arc<str>,
    /// Who answered.
    pub player_id: PlayerId,
    /// The player's nickname, so records read on their own (shared with
    /// the seat).
    pub name: Arc<str>,
    /// What was counted.
    pub kind: RecordKind,
    /// Chosen option indices (vote, peer vote).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<usize>,
    /// The typed answer (text mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Right or wrong where known (key, judgement, mark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// Milliseconds after the question opened (paused time excluded).
    pub response_ms: u64,
    /// Server time the input was counted.
    pub at: Millis,
    /// Who judged or marked it (0: the owner, else an interviewer id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<u32>,
    /// A seat record: the seat's resume token, so the player can resume
    /// the seat it was welcomed to after a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// What the owner task must do after a command.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Send `msg` to `to`; the owner serializes it once for all recipients.
    Send { to: Audience, msg: Arc<ServerMsg> },
    /// Close one socket with a WebSocket close code (kick: 4001, ...).
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// A buzz, vote, answer, judgement or mark was counted: store it.
    Record(AnswerRecord),
    /// The room reached a question boundary: persist its snapshot and results.
    Checkpoint,
    /// The room is over; persist and remove it.
    Ended,
}

/// Why a snapshot could not be turned back into a room.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The stored JSON does not have the room's shape.
    #[error("room snapshot does not parse: {0}")]
    Shape(#[from] serde_json::Error),
}

/// What an identified socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Host,
    /// A panel member, by interviewer id.
    Interviewer(u32),
    Screen,
    Player(PlayerId),
}

/// Live sockets and indexes: rebuilt on restore, never persisted.
#[derive(Debug, Default)]
struct Live {
    conns: HashMap<ConnId, Who>,
    player_conn: HashMap<PlayerId, ConnId>,
    /// Lowercased nickname → seat.
    names: HashMap<String, PlayerId>,
    tokens: HashMap<String, PlayerId>,
    /// Seats not kicked.
    seated: usize,
    /// Seats with a socket.
    connected: usize,
    /// Host and screen sockets, kept apart so a host-only message does not
    /// scan every player socket.
    hosts: BTreeSet<ConnId>,
    screens: BTreeSet<ConnId>,
    /// Player sockets that answer clock probes: while there is one, buzz
    /// presses are collected for the room's window before the floor goes.
    syncing: BTreeSet<ConnId>,
    tally: Throttle,
    roster: Throttle,
    buzz: Throttle,
    /// Seated players by score; see [`Room::rerank`].
    ranking: scoring::Ranking,
    /// Set by `restore`: the first command stamps the drop time of every seat.
    restored: bool,
    /// Leading asked questions the store holds from an earlier checkpoint
    /// (see [`Room::snapshot_parts`]); 0 after a restore, so the first
    /// checkpoint writes them all again.
    frozen_stored: usize,
    /// The open question's timer was frozen by `restore` (not by the host),
    /// so a replay may move the freeze to the latest replayed input.
    paused_by_restore: bool,
    /// Shared texts the answer records point at, so a record copies none.
    record_ids: RecordIds,
    /// The last `ack` message built (see [`Out`]).
    last_ack: Option<Arc<ServerMsg>>,
}

/// The room code and the current question's catalog id as shared strings,
/// made once per room and once per question rather than once per answer.
#[derive(Debug, Default)]
struct RecordIds {
    code: Option<Arc<str>>,
    question: Option<(Qid, Arc<str>)>,
}

/// Collects effects while a command runs, and the last `ack` built (a
/// vote storm sends every voter the same message: one `Arc` shared).
#[derive(Debug, Default)]
struct Out(Vec<Effect>, Option<Arc<ServerMsg>>);

impl Out {
    /// Queues `ack` of `reference` on `qid` to `conn`, reusing the last
    /// ack's message when it is the same.
    fn ack(&mut self, conn: ConnId, reference: &str, qid: Qid) {
        let same = matches!(
            self.1.as_deref(),
            Some(ServerMsg::Ack { reference: r, qid: q }) if r == reference && *q == qid
        );
        let msg = match (&self.1, same) {
            (Some(msg), true) => Arc::clone(msg),
            _ => {
                let msg = Arc::new(ServerMsg::Ack {
                    reference: reference.to_string(),
                    qid,
                });
                self.1 = Some(Arc::clone(&msg));
                msg
            }
        };
        self.0.push(Effect::Send {
            to: Audience::Conn(conn),
            msg,
        });
    }

    fn send(&mut self, to: Audience, msg: ServerMsg) {
        self.0.push(Effect::Send {
            to,
            msg: Arc::new(msg),
        });
    }

    fn send_arc(&mut self, to: Audience, msg: &Arc<ServerMsg>) {
        self.0.push(Effect::Send {
            to,
            msg: Arc::clone(msg),
        });
    }

    fn error(&mut self, conn: ConnId, err: &RoomError) {
        self.send(
            Audience::Conn(conn),
            ServerMsg::Error {
                code: err.code().to_string(),
                message: err.to_string(),
                you: err.standing(),
            },
        );
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        self.0.push(Effect::Close {
            conn,
            code,
            reason: reason.to_string(),
        });
    }

    fn push(&mut self, effect: Effect) {
        self.0.push(effect);
    }
}

/// One live room.
#[derive(Debug)]
pub struct Room {
    d: Durable,
    live: Live,
    catalog: Arc<Catalog>,
}

impl Room {
    /// Creates an empty room in the lobby. `seed` feeds the room's random
    /// draws and shuffles (from the OS in production, fixed in tests).
    pub fn new(
        code: String,
        host_token: String,
        options: RoomOptions,
        catalog: Arc<Catalog>,
        seed: u64,
    ) -> Room {
        Room {
            d: Durable {
                code,
                host_token,
                options,
                rng: model::Rng(seed),
                players: Vec::new(),
                locked: false,
                ended: false,
                asked: Vec::new(),
                last_host_seen: 0,
                panel: panel::Panel::default(),
                released: model::Released::default(),
            },
            live: Live::default(),
            catalog,
        }
    }

    /// The room code.
    pub fn code(&self) -> &str {
        &self.d.code
    }

    /// The host token, so HTTP can authorize results downloads.
    pub fn host_token(&self) -> &str {
        &self.d.host_token
    }

    /// Checks a host token in constant time (HTTP results, host hello).
    pub fn is_host_token(&self, token: &str) -> bool {
        players::constant_time_eq(token.as_bytes(), self.d.host_token.as_bytes())
    }

    /// The options the room was created with.
    pub fn options(&self) -> &RoomOptions {
        &self.d.options
    }

    /// Whether the game was ended; the owner removes ended rooms once stored.
    pub fn is_ended(&self) -> bool {
        self.d.ended
    }

    /// Whether a host socket is open; with none, the grace period runs.
    pub fn host_connected(&self) -> bool {
        self.live
            .hosts
            .iter()
            .any(|c| self.live.conns.get(c) == Some(&Who::Host))
    }

    /// Last time a host socket was seen (identified or dropped); the
    /// grace-period cleanup counts from here.
    pub fn last_host_seen(&self) -> Millis {
        self.d.last_host_seen
    }

    /// Seats not kicked (connected or resumable or expired).
    pub fn player_count(&self) -> usize {
        self.live.seated
    }

    /// Seats with an open socket.
    pub fn connected_count(&self) -> usize {
        self.live.connected
    }

    /// The current question's id, open or not.
    pub fn current_qid(&self) -> Option<Qid> {
        self.d.current().map(|q| q.qid)
    }

    /// Whether the current question still takes answers.
    pub fn question_open(&self) -> bool {
        self.d.current().is_some_and(|q| q.open)
    }

    /// The last question that no longer takes answers: what a snapshot
    /// taken now restores up to (answers recorded for later qids are lost).
    pub fn boundary_qid(&self) -> Option<Qid> {
        let in_memory = self.d.asked.iter().rev().find(|q| !q.open).map(|q| q.qid);
        // Released questions are finished; the last one's qid is its count.
        in_memory.or_else(|| u32::try_from(self.d.released.count).ok().filter(|n| *n > 0))
    }

    /// Swaps in a newer catalog (after a bank upload).
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        self.catalog = catalog;
    }

    /// Applies one command at time `now` and returns what must happen.
    pub fn apply(&mut self, cmd: Command, now: Millis) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.apply_into(cmd, now, &mut effects);
        effects
    }

    /// [`Room::apply`], appending the effects to `effects`: a caller that
    /// keeps one buffer (the owner task) allocates no list per command.
    pub fn apply_into(&mut self, cmd: Command, now: Millis, effects: &mut Vec<Effect>) {
        let mut out = Out(std::mem::take(effects), self.live.last_ack.take());
        self.settle_restore(now);
        match cmd {
            Command::Hello { conn, msg } => {
                if let Err(e) = self.hello(conn, msg, now, &mut out) {
                    out.error(conn, &e);
                    if e == RoomError::Kicked {
                        out.close(conn, CLOSE_KICKED, "kicked");
                    }
                }
            }
            Command::Message { conn, msg } => {
                self.cache_record_ids();
                if let Err(e) = self.message(conn, msg, now, &mut out) {
                    out.error(conn, &e);
                }
            }
            Command::Disconnected { conn } => self.disconnected(conn, now, &mut out),
            Command::Tick => self.tick(now, &mut out),
        }
        *effects = out.0;
        self.live.last_ack = out.1;
    }

    /// Server shutdown: closes an open question as the host's `close` would
    /// (a restore drops open questions), so its answers survive the restart.
    pub fn close_for_shutdown(&mut self, now: Millis) -> Vec<Effect> {
        let mut out = Out::default();
        if self.d.current().is_some_and(|q| q.open) {
            self.close_current(now, &mut out);
            out.push(Effect::Checkpoint);
        }
        out.0
    }

    /// No host came back within the grace period: the room ends as the
    /// host's `end` would (an open question is closed and scored, the room
    /// is marked ended), so its stored results and final view read as an
    /// ended room's. Nothing is sent (its sockets are being closed); the
    /// records of the closing are returned, and the caller stores the
    /// final checkpoint.
    pub fn abandon(&mut self, now: Millis) -> Vec<Effect> {
        let mut out = Out::default();
        self.close_current(now, &mut out);
        self.finalize_current();
        self.d.ended = true;
        out.0.retain(|e| !matches!(e, Effect::Send { .. }));
        out.0
    }

    /// When the owner task must send the next `Tick` (deadline or throttled flush).
    pub fn next_wakeup(&self) -> Option<Millis> {
        let deadline = self
            .d
            .current()
            .filter(|q| q.open && q.paused_at.is_none())
            .and_then(|q| q.deadline);
        let window = self.d.current().and_then(|q| q.window_until);
        [
            deadline,
            window,
            self.live.tally.due(),
            self.live.roster.due(),
            self.live.buzz.due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sockets an audience resolves to right now.
    pub fn recipients(&self, to: &Audience) -> Vec<ConnId> {
        let live = &self.live;
        match to {
            Audience::Conn(c) => vec![*c],
            Audience::Player(p) => live.player_conn.get(p).copied().into_iter().collect(),
            Audience::Host => live.hosts.iter().copied().collect(),
            Audience::Owner => live
                .hosts
                .iter()
                .filter(|c| live.conns.get(c) == Some(&Who::Host))
                .copied()
                .collect(),
            Audience::Screens => live.screens.iter().copied().collect(),
            Audience::Players => live.player_conn.values().copied().collect(),
            Audience::HostAndScreens => live.hosts.iter().chain(&live.screens).copied().collect(),
            Audience::All => live.conns.keys().copied().collect(),
        }
    }

    /// The role a socket was identified as, if any.
    pub fn role_of(&self, conn: ConnId) -> Option<Role> {
        self.live.conns.get(&conn).map(|w| match w {
            Who::Host => Role::Host,
            Who::Interviewer(_) => Role::Interviewer,
            Who::Screen => Role::Screen,
            Who::Player(_) => Role::Player,
        })
    }

    /// The seat a player socket holds.
    pub fn player_of(&self, conn: ConnId) -> Option<PlayerId> {
        match self.live.conns.get(&conn) {
            Some(Who::Player(p)) => Some(*p),
            _ => None,
        }
    }

    /// The durable state as JSON (no sockets), for checkpoints.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(&self.d).unwrap_or(serde_json::Value::Null)
    }

    /// Rebuilds a room from [`Room::snapshot`]: every seat disconnected and
    /// resumable for a full window, host token kept. A question that was
    /// open stays open with what the snapshot counted (replay the answers
    /// recorded since with [`Room::replay`]); its running timer is frozen
    /// until the host resumes it.
    pub fn restore(value: serde_json::Value, catalog: Arc<Catalog>) -> Result<Room, RestoreError> {
        let mut d: Durable = serde_json::from_value(value)?;
        for p in &mut d.players {
            p.connected = false;
            p.disconnected_at = None;
        }
        let mut live = Live {
            restored: true,
            ..Live::default()
        };
        for p in &d.players {
            live.names.insert(players::name_key(&p.name), p.id);
            live.tokens.insert(p.token.clone(), p.id);
            if !p.kicked {
                live.seated += 1;
            }
        }
        live.ranking = scoring::Ranking::of(&d.players);
        let mut room = Room { d, live, catalog };
        room.pause_restored_timer();
        Ok(room)
    }

    /// Re-sorts the ranking after scores changed or a player was kicked.
    fn rerank(&mut self) {
        self.live.ranking = scoring::Ranking::of(&self.d.players);
    }

    /// Gives restored seats their drop time once the room has a clock.
    fn settle_restore(&mut self, now: Millis) {
        if !self.live.restored {
            return;
        }
        self.live.restored = false;
        for p in &mut self.d.players {
            if !p.connected && p.disconnected_at.is_none() {
                p.disconnected_at = Some(now);
            }
        }
        if self.d.last_host_seen < now {
            self.d.last_host_seen = now;
        }
    }

    /// A message from an identified socket, routed by role.
    fn message(
        &mut self,
        conn: ConnId,
        msg: ClientMsg,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let who = *self.live.conns.get(&conn).ok_or(RoomError::NotIdentified)?;
        match msg {
            ClientMsg::Ping { t } => {
                out.send(Audience::Conn(conn), ServerMsg::Pong { t, server_ms: now });
                Ok(())
            }
            // Clock sync is the socket layer's; a stray reply changes nothing.
            ClientMsg::SyncReply { .. } => Ok(()),
            ClientMsg::Host { .. }
            | ClientMsg::Join { .. }
            | ClientMsg::Resume { .. }
            | ClientMsg::Screen { .. } => Err(RoomError::AlreadyIdentified),
            ClientMsg::Buzz { .. } | ClientMsg::Vote { .. } | ClientMsg::Answer { .. } => {
                let Who::Player(player) = who else {
                    return Err(RoomError::Forbidden);
                };
                if self.d.ended {
                    return Err(RoomError::RoomEnded);
                }
                self.player_message(conn, player, msg, now, out)
            }
            host_command => {
                let allowed = match who {
                    Who::Host => true,
                    Who::Interviewer(_) => panel::interviewer_may(&host_command),
                    Who::Screen | Who::Player(_) => false,
                };
                let Some(by) = self.grader_of(who).filter(|_| allowed) else {
                    return Err(RoomError::Forbidden);
                };
                if self.d.ended {
                    return Err(RoomError::RoomEnded);
                }
                self.host_command(conn, by, host_command, now, out)
            }
        }
    }

    fn player_message(
        &mut self,
        conn: ConnId,
        player: PlayerId,
        msg: ClientMsg,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        match msg {
            ClientMsg::Buzz {
                qid,
                pressed_ms,
                timing,
            } => self.buzz(conn, player, qid, pressed_ms, timing, now, out),
            ClientMsg::Vote {
                qid,
                choice,
                choices,
            } => self.vote(conn, player, qid, choice, choices, now, out),
            ClientMsg::Answer { qid, text } => self.answer(conn, player, qid, &text, now, out),
            _ => Err(RoomError::Forbidden),
        }
    }

    fn host_command(
        &mut self,
        conn: ConnId,
        by: u32,
        msg: ClientMsg,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        match msg {
            ClientMsg::Ask {
                mode,
                topics,
                question_id,
                time_limit_ms,
                kinds,
                penalty,
            } => {
                let ask = question::AskRequest {
                    mode,
                    topics,
                    question_id,
                    time_limit_ms,
                    kinds,
                    penalty,
                };
                self.ask(ask, now, out)
            }
            ClientMsg::Judge { player_id, correct } => self.judge(player_id, correct, by, now, out),
            ClientMsg::Close => self.close(now, out),
            ClientMsg::Reveal => self.reveal(now, out),
            ClientMsg::Kick { player_id } => self.kick(player_id, now, out),
            ClientMsg::Lock { locked } => {
                self.d.locked = locked;
                out.send(Audience::Host, ServerMsg::Locked { locked });
                out.push(Effect::Checkpoint);
                Ok(())
            }
            ClientMsg::Pause { paused } => self.pause(paused, now, out),
            ClientMsg::Mark { player_id, correct } => {
                self.mark(conn, player_id, correct, by, now, out)
            }
            ClientMsg::AddInterviewer { name } => self.add_interviewer(&name, out),
            ClientMsg::RevokeInterviewer { interviewer_id } => {
                self.revoke_interviewer(interviewer_id, out)
            }
            ClientMsg::Assess {
                qid,
                player_id,
                score,
                note,
            } => self.assess(conn, by, qid, player_id, score, note, now, out),
            ClientMsg::PeerVote { time_limit_ms } => self.peer_vote(time_limit_ms, now, out),
            ClientMsg::ShowScores => {
                self.show_scores(out);
                out.push(Effect::Checkpoint);
                Ok(())
            }
            ClientMsg::End => {
                self.end(now, out);
                Ok(())
            }
            _ => Err(RoomError::Forbidden),
        }
    }

    /// Time passed: close at the deadline, flush what the throttles held back.
    fn tick(&mut self, now: Millis, out: &mut Out) {
        self.settle_window(now, false, out);
        let due = self
            .d
            .current()
            .filter(|q| q.open && q.paused_at.is_none())
            .and_then(|q| q.deadline)
            .is_some_and(|d| d <= now);
        if due {
            self.close_current(now, out);
            out.push(Effect::Checkpoint);
        }
        if self.live.tally.take_due(now) {
            self.send_tally(out);
        }
        if self.live.buzz.take_due(now) {
            self.send_buzz_queue(out);
        }
        if self.live.roster.take_due(now) {
            self.send_roster(out);
        }
    }

    /// Builds an [`AnswerRecord`] for `player` on the current question.
    fn record(
        &self,
        player: PlayerId,
        kind: RecordKind,
        entry: &model::Entry,
        now: Millis,
    ) -> Option<Effect> {
        let q = self.d.current()?;
        let p = self.d.player(player)?;
        let ids = &self.live.record_ids;
        Some(Effect::Record(AnswerRecord {
            room: ids
                .code
                .clone()
                .unwrap_or_else(|| Arc::from(self.d.code.as_str())),
            qid: q.qid,
            question_id: match &ids.question {
                Some((qid, id)) if *qid == q.qid && **id == *q.question.id => Arc::clone(id),
                _ => Arc::from(q.question.id.as_str()),
            },
            player_id: player,
            name: p.name.clone(),
            kind,
            choices: match kind {
                RecordKind::PeerVote => entry.peer_choice.into_iter().collect(),
                _ => entry.choices.clone().unwrap_or_default(),
            },
            text: entry.text.clone(),
            correct: entry.correct.or(entry.ruled).or(entry.mark),
            response_ms: entry.response_ms.unwrap_or_else(|| q.elapsed(now)),
            at: now,
            by: match kind {
                RecordKind::Judge | RecordKind::Mark => entry.judged_by,
                _ => None,
            },
            token: None,
        }))
    }

    /// Makes the shared strings of [`RecordIds`] current: the code once,
    /// the question id when the current question changes.
    fn cache_record_ids(&mut self) {
        let ids = &mut self.live.record_ids;
        if ids.code.is_none() {
            ids.code = Some(Arc::from(self.d.code.as_str()));
        }
        if let Some(q) = self.d.current() {
            let stale = ids
                .question
                .as_ref()
                .is_none_or(|(qid, id)| *qid != q.qid || **id != *q.question.id);
            if stale {
                ids.question = Some((q.qid, Arc::from(q.question.id.as_str())));
            }
        }
    }

    /// The record of a seat just taken (see [`RecordKind::Seat`]).
    fn seat_record(&self, player: PlayerId, now: Millis) -> Option<Effect> {
        let p = self.d.player(player)?;
        Some(Effect::Record(AnswerRecord {
            room: self
                .live
                .record_ids
                .code
                .clone()
                .unwrap_or_else(|| Arc::from(self.d.code.as_str())),
            qid: 0,
            question_id: Arc::from(""),
            player_id: player,
            name: p.name.clone(),
            kind: RecordKind::Seat,
            choices: Vec::new(),
            text: None,
            correct: None,
            response_ms: 0,
            at: now,
            by: None,
            token: Some(p.token.clone()),
        }))
    }
}
