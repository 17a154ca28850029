//! Who is in the room: identification (host, join, resume, screen),
//! nicknames, seats that survive a drop, kicks, and the throttled roster.

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use crate::protocol::{ClientMsg, Millis, PlayerId, PlayerInfo, Role, ServerMsg};

use super::model::Player;
use super::throttle::ROSTER_INTERVAL_MS;
use super::{Audience, ConnId, Effect, Out, Room, RoomError, Who, CLOSE_KICKED, CLOSE_REPLACED};

/// Longest nickname in grapheme clusters, after cleaning.
pub(crate) const MAX_NAME_CHARS: usize = 24;

/// Rooms with more seated players than this stop sending per-player lists
/// (roster, reveal points, full leaderboard) to players and screens, so a
/// join or a reveal never costs O(N²).
pub(crate) const PUBLIC_LIST_MAX: usize = 100;

/// Compares secrets without an early exit, so timing does not leak a prefix.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh 128-bit token from the operating system, as 32 hex digits.
pub(crate) fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Characters that render as nothing (or reorder text) and so could make
/// two names look alike or a name look empty.
pub(crate) fn is_invisible(c: char) -> bool {
    (c.is_control() && !c.is_whitespace())
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// Longest nickname in bytes: 24 clusters of a few code points each (an
/// emoji with skin tone, a letter with accents) fit; a cluster stacked with
/// hundreds of combining marks does not.
pub(crate) const MAX_NAME_BYTES: usize = 256;

/// Cleans a nickname: NFKC-normalized (fullwidth and other compatibility
/// forms become their plain letters), invisible characters removed,
/// whitespace runs collapsed to one space, trimmed; `None` unless 1–24
/// grapheme clusters (what a reader counts as characters) remain.
pub(crate) fn clean_name(raw: &str) -> Option<String> {
    let mut name = String::new();
    let mut pending_space = false;
    for c in raw.nfkc() {
        if c.is_whitespace() {
            pending_space = true;
        } else if !is_invisible(c) {
            if pending_space && !name.is_empty() {
                name.push(' ');
            }
            pending_space = false;
            name.push(c);
        }
    }
    let len = name.graphemes(true).count();
    ((1..=MAX_NAME_CHARS).contains(&len) && name.len() <= MAX_NAME_BYTES).then_some(name)
}

/// The key nicknames are compared by: two names with one key look alike,
/// so the second is `name_taken`. NFKC, mapped to its UTS #39 confusable
/// skeleton (so `B0b`, `Ｂob` and Cyrillic `Воb` read as `BOb`, `Bob`,
/// `Bob`), lowercased; then skeleton and lowercase once more, so the
/// lowercase forms the first pass produced meet their own look-alikes.
pub(crate) fn name_key(name: &str) -> String {
    let nfkc: String = name.nfkc().collect();
    let once = unicode_security::skeleton(&nfkc)
        .collect::<String>()
        .to_lowercase();
    unicode_security::skeleton(&once)
        .collect::<String>()
        .to_lowercase()
}

impl Room {
    /// A socket's first message.
    pub(super) fn hello(
        &mut self,
        conn: ConnId,
        msg: ClientMsg,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        if self.live.conns.contains_key(&conn) {
            return Err(RoomError::AlreadyIdentified);
        }
        let room = match &msg {
            ClientMsg::Host { room, .. }
            | ClientMsg::Join { room, .. }
            | ClientMsg::Resume { room, .. }
            | ClientMsg::Screen { room }
            | ClientMsg::Interviewer { room, .. } => room,
            _ => return Err(RoomError::NotIdentified),
        };
        if !room.trim().eq_ignore_ascii_case(&self.d.code) {
            return Err(RoomError::NoRoom);
        }
        let sync = matches!(
            msg,
            ClientMsg::Join { sync: true, .. } | ClientMsg::Resume { sync: true, .. }
        );
        let joined = self.identify(conn, msg, now, out);
        if sync && joined.is_ok() {
            self.live.syncing.insert(conn);
        }
        joined
    }

    /// Seats the socket by its first message.
    fn identify(
        &mut self,
        conn: ConnId,
        msg: ClientMsg,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        match msg {
            ClientMsg::Host { token, .. } => {
                if !self.is_host_token(&token) {
                    return Err(RoomError::BadToken);
                }
                self.live.conns.insert(conn, Who::Host);
                self.live.hosts.insert(conn);
                self.d.last_host_seen = now;
                self.welcome_staff(conn, Who::Host, now, out);
                Ok(())
            }
            ClientMsg::Interviewer { token, .. } => {
                if self.d.ended {
                    return Err(RoomError::RoomEnded);
                }
                self.interviewer_hello(conn, &token, now, out)
            }
            ClientMsg::Screen { .. } => {
                self.live.conns.insert(conn, Who::Screen);
                self.live.screens.insert(conn);
                self.welcome(conn, Who::Screen, None, now, out);
                Ok(())
            }
            ClientMsg::Join {
                name, resume_token, ..
            } => self.join(conn, &name, resume_token.as_deref(), now, out),
            ClientMsg::Resume { resume_token, .. } => self.resume(conn, &resume_token, now, out),
            _ => Err(RoomError::NotIdentified),
        }
    }

    fn join(
        &mut self,
        conn: ConnId,
        raw_name: &str,
        old_token: Option<&str>,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        if self.d.ended {
            // A browser that held a seat learns where it finished.
            let standing = old_token
                .and_then(|t| self.live.tokens.get(t))
                .and_then(|id| self.you_msg(*id, None, &self.live.ranking))
                .filter(|_| !self.kicked_token(old_token));
            return Err(match standing {
                Some(you) => RoomError::RoomEndedFor(Box::new(you)),
                None => RoomError::RoomEnded,
            });
        }
        let kicked_before = old_token
            .and_then(|t| self.live.tokens.get(t))
            .and_then(|id| self.d.player(*id))
            .is_some_and(|p| p.kicked);
        if kicked_before {
            return Err(RoomError::Kicked);
        }
        if self.d.locked {
            return Err(RoomError::RoomLocked);
        }
        let name = clean_name(raw_name).ok_or(RoomError::BadName)?;
        let key = name_key(&name);
        if self.live.names.contains_key(&key) {
            return Err(RoomError::NameTaken);
        }
        let capacity = self.d.options.capacity;
        if self.live.seated >= capacity && self.active_seats(now) >= capacity {
            return Err(RoomError::RoomFull);
        }
        let Ok(n) = u32::try_from(self.d.players.len() + 1) else {
            return Err(RoomError::RoomFull);
        };
        let id = PlayerId(n);
        let token = new_token();
        self.d.players.push(Player {
            id,
            name: name.into(),
            token: token.clone(),
            score: 0,
            streak: 0,
            kicked: false,
            connected: true,
            disconnected_at: None,
        });
        self.live.names.insert(key, id);
        self.live.tokens.insert(token, id);
        self.live.seated += 1;
        self.live.ranking.insert_new(id);
        // Stored before the welcome goes out (the owner holds sends behind
        // a record until it is committed), so a crash keeps the seat.
        if let Some(rec) = self.seat_record(id, now) {
            out.push(rec);
        }
        self.attach(conn, id);
        self.welcome(conn, Who::Player(id), Some(id), now, out);
        self.roster_changed(now, out);
        Ok(())
    }

    /// Seats that still count against capacity: not kicked, and connected or
    /// within their resume window. Only computed when the room looks full.
    fn active_seats(&self, now: Millis) -> usize {
        let window = self.d.options.resume_window_ms;
        self.d
            .players
            .iter()
            .filter(|p| !p.kicked)
            .filter(|p| {
                p.connected
                    || p.disconnected_at
                        .is_none_or(|t| now <= t.saturating_add(window))
            })
            .count()
    }

    fn resume(
        &mut self,
        conn: ConnId,
        token: &str,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let Some(&id) = self.live.tokens.get(token) else {
            return Err(if self.d.ended {
                RoomError::RoomEnded
            } else {
                RoomError::SeatExpired
            });
        };
        let window = self.d.options.resume_window_ms;
        let p = self.d.player(id).ok_or(RoomError::SeatExpired)?;
        if p.kicked {
            return Err(RoomError::Kicked);
        }
        // After the end a seat takes nothing new, so it may be looked at
        // (final place and score) however long ago it dropped.
        let expired = !self.d.ended
            && !p.connected
            && p.disconnected_at
                .is_some_and(|t| now > t.saturating_add(window));
        if expired {
            return Err(RoomError::SeatExpired);
        }
        if let Some(old) = self.live.player_conn.remove(&id) {
            self.live.conns.remove(&old);
            self.live.syncing.remove(&old);
            self.live.connected -= 1;
            out.close(old, CLOSE_REPLACED, "resumed on another connection");
        }
        if let Some(p) = self.d.player_mut(id) {
            p.connected = true;
            p.disconnected_at = None;
        }
        self.attach(conn, id);
        self.welcome(conn, Who::Player(id), Some(id), now, out);
        self.roster_changed(now, out);
        Ok(())
    }

    /// Whether `token` belongs to a kicked seat.
    fn kicked_token(&self, token: Option<&str>) -> bool {
        token
            .and_then(|t| self.live.tokens.get(t))
            .and_then(|id| self.d.player(*id))
            .is_some_and(|p| p.kicked)
    }

    fn attach(&mut self, conn: ConnId, id: PlayerId) {
        self.live.conns.insert(conn, Who::Player(id));
        self.live.player_conn.insert(id, conn);
        self.live.connected += 1;
    }

    fn welcome(
        &self,
        conn: ConnId,
        who: Who,
        player_id: Option<PlayerId>,
        now: Millis,
        out: &mut Out,
    ) {
        let role = match who {
            Who::Host => Role::Host,
            Who::Interviewer(_) => Role::Interviewer,
            Who::Screen => Role::Screen,
            Who::Player(_) => Role::Player,
        };
        let resume_token = player_id
            .and_then(|id| self.d.player(id))
            .map(|p| p.token.clone());
        out.send(
            Audience::Conn(conn),
            ServerMsg::Welcome {
                role,
                player_id,
                resume_token,
                state: self.state_for(who, now),
            },
        );
    }

    /// A socket went away; a player's seat is kept for the resume window.
    pub(super) fn disconnected(&mut self, conn: ConnId, now: Millis, out: &mut Out) {
        self.live.syncing.remove(&conn);
        match self.live.conns.remove(&conn) {
            Some(Who::Host) => {
                self.live.hosts.remove(&conn);
                self.d.last_host_seen = now;
            }
            Some(Who::Interviewer(_)) => {
                self.live.hosts.remove(&conn);
                self.send_interviewers(out);
            }
            Some(Who::Player(id)) if self.live.player_conn.get(&id) == Some(&conn) => {
                self.live.player_conn.remove(&id);
                self.live.connected = self.live.connected.saturating_sub(1);
                if let Some(p) = self.d.player_mut(id) {
                    p.connected = false;
                    p.disconnected_at = Some(now);
                }
                self.roster_changed(now, out);
            }
            Some(Who::Player(_)) => {}
            Some(Who::Screen) => {
                self.live.screens.remove(&conn);
            }
            None => {}
        }
    }

    /// Host: removes a player for good.
    pub(super) fn kick(
        &mut self,
        id: PlayerId,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let p = self
            .d
            .player_mut(id)
            .filter(|p| !p.kicked)
            .ok_or(RoomError::UnknownPlayer)?;
        p.kicked = true;
        p.connected = false;
        self.live.seated = self.live.seated.saturating_sub(1);
        if let Some(conn) = self.live.player_conn.remove(&id) {
            self.live.conns.remove(&conn);
            self.live.syncing.remove(&conn);
            self.live.connected = self.live.connected.saturating_sub(1);
            out.error(conn, &RoomError::Kicked);
            out.close(conn, CLOSE_KICKED, "kicked");
        }
        self.floor_lost(id, now, out);
        self.rerank();
        self.roster_changed(now, out);
        // A kick must survive a restart, or the seat could be resumed.
        out.push(Effect::Checkpoint);
        Ok(())
    }

    /// Seats in join order, kicked ones left out.
    pub(super) fn roster(&self) -> Vec<PlayerInfo> {
        self.d
            .players
            .iter()
            .filter(|p| !p.kicked)
            .map(|p| PlayerInfo {
                player_id: p.id,
                name: p.name.to_string(),
                score: p.score,
                connected: p.connected,
            })
            .collect()
    }

    /// Whether players and screens may get per-player lists right now.
    pub(super) fn lists_public(&self) -> bool {
        !self.d.options.private && self.live.seated <= PUBLIC_LIST_MAX
    }

    fn player_count_msg(&self) -> ServerMsg {
        ServerMsg::PlayerCount {
            count: u32::try_from(self.live.seated).unwrap_or(u32::MAX),
            connected: u32::try_from(self.live.connected).unwrap_or(u32::MAX),
        }
    }

    /// The roster changed: send now or at the next roster slot.
    pub(super) fn roster_changed(&mut self, now: Millis, out: &mut Out) {
        if self.live.roster.touch(now, ROSTER_INTERVAL_MS) {
            self.send_roster(out);
        }
    }

    /// Sends the roster under the roster policy (docs/protocol.md).
    pub(super) fn send_roster(&self, out: &mut Out) {
        let roster = std::sync::Arc::new(ServerMsg::Roster {
            players: self.roster(),
        });
        let count = std::sync::Arc::new(self.player_count_msg());
        out.send_arc(Audience::Host, &roster);
        if self.d.options.private {
            out.send_arc(Audience::Screens, &count);
        } else {
            out.send_arc(Audience::Screens, &roster);
        }
        if self.lists_public() {
            out.send_arc(Audience::Players, &roster);
        } else {
            out.send_arc(Audience::Players, &count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_bounded() {
        assert_eq!(clean_name("  Ann  ").as_deref(), Some("Ann"));
        assert_eq!(clean_name("A\u{200B}n\u{202E}n").as_deref(), Some("Ann"));
        assert_eq!(clean_name("Mary \t\n Ann").as_deref(), Some("Mary Ann"));
        assert_eq!(clean_name("a\u{0007}b").as_deref(), Some("ab"));
        assert_eq!(clean_name("\u{200B}\u{FEFF} "), None);
        assert_eq!(clean_name(""), None);
        assert!(clean_name(&"x".repeat(24)).is_some());
        assert!(clean_name(&"x".repeat(25)).is_none());
        assert_eq!(
            clean_name("ÉlodieÉlodieÉlodieÉlodie").map(|n| n.chars().count()),
            Some(24)
        );
    }

    #[test]
    fn names_count_grapheme_clusters_not_code_points() {
        // "é" as e + combining acute: 2 code points, 1 cluster.
        let decomposed = "e\u{0301}".repeat(24);
        assert!(clean_name(&decomposed).is_some());
        assert!(clean_name(&"e\u{0301}".repeat(25)).is_none());
        // Flags are two code points each.
        assert!(clean_name(&"\u{1F1FA}\u{1F1F8}".repeat(24)).is_some());
        // One cluster stacked with hundreds of marks is refused.
        assert!(clean_name(&format!("a{}", "\u{0301}".repeat(300))).is_none());
        // Fullwidth letters become plain ones.
        assert_eq!(clean_name("\u{FF22}ob").as_deref(), Some("Bob"));
    }

    #[test]
    fn look_alike_names_share_a_key() {
        let bob = name_key("Bob");
        for alike in [
            "bob",
            "BOB",
            "\u{FF22}ob",
            "B0b",
            "\u{0412}ob",
            "\u{1D401}ob",
        ] {
            assert_eq!(name_key(alike), bob, "{alike:?}");
        }
        for other in ["Rob", "Bobby", "Bo"] {
            assert_ne!(name_key(other), bob, "{other:?}");
        }
        assert_eq!(name_key("rn"), name_key("m"));
    }

    #[test]
    fn constant_time_eq_compares_whole_secrets() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn tokens_are_128_bits_of_hex() {
        let a = new_token();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_token());
    }
}
