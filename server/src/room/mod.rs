//! A live room as a pure state machine: `Room::apply(command, now) -> effects`.
//!
//! No I/O and no clock in here: the owner task (see `crate::rooms`) feeds
//! commands with the current time and carries out the effects, so every rule
//! is unit-tested with an injected clock.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::protocol::{ClientMsg, Millis, PlayerId, Role, ServerMsg};

/// Identifies one socket for the lifetime of the server process.
pub type ConnId = u64;

/// Room settings chosen at creation.
#[derive(Debug, Clone)]
pub struct RoomOptions {
    /// Shown on the big screen and in results.
    pub title: String,
    /// Most players that may join.
    pub capacity: usize,
    /// Screening mode: players see only their own answers and score.
    pub private: bool,
    /// How long a dropped player's seat is kept for `resume`, in ms.
    pub resume_window_ms: u64,
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
    /// Every socket of the host.
    Host,
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
    /// The room reached a question boundary: persist its snapshot and results.
    Checkpoint,
    /// The room is over; persist and remove it.
    Ended,
}

/// One live room.
#[derive(Debug)]
pub struct Room {
    code: String,
    options: RoomOptions,
    catalog: Arc<Catalog>,
}

impl Room {
    /// Creates an empty room in the lobby. `seed` feeds the room's random
    /// draws and tokens (from the OS in production, fixed in tests).
    pub fn new(
        code: String,
        host_token: String,
        options: RoomOptions,
        catalog: Arc<Catalog>,
        seed: u64,
    ) -> Room {
        let _ = (host_token, seed);
        Room {
            code,
            options,
            catalog,
        }
    }

    /// The room code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Swaps in a newer catalog (after a bank upload).
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        self.catalog = catalog;
    }

    /// Applies one command at time `now` and returns what must happen.
    pub fn apply(&mut self, cmd: Command, now: Millis) -> Vec<Effect> {
        let _ = (cmd, now, &self.options);
        Vec::new()
    }

    /// When the owner task must send the next `Tick` (deadline or throttled flush).
    pub fn next_wakeup(&self) -> Option<Millis> {
        None
    }

    /// Sockets an audience resolves to right now.
    pub fn recipients(&self, to: &Audience) -> Vec<ConnId> {
        let _ = to;
        Vec::new()
    }

    /// The role a socket was identified as, if any.
    pub fn role_of(&self, conn: ConnId) -> Option<Role> {
        let _ = conn;
        None
    }
}
