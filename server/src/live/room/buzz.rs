//! Buzz mode: presses queue in server receive order (the order commands
//! reach the room), the first holds the floor, the host judges. Exactly one
//! floor holder at any time.

use crate::protocol::{BuzzEntry, Millis, Mode, PlayerId, Qid, ServerMsg};

use super::model::Asked;
use super::scoring::BUZZ_POINTS;
use super::throttle::TALLY_INTERVAL_MS;
use super::voting::ack;
use super::{Audience, ConnId, Effect, Out, RecordKind, Room, RoomError};

/// The next player in the queue who has not been ruled on.
pub(super) fn next_floor(q: &Asked, skip: Option<PlayerId>) -> Option<PlayerId> {
    q.queue
        .iter()
        .map(|(id, _)| *id)
        .find(|id| Some(*id) != skip && q.entries.get(id).is_some_and(|e| e.ruled.is_none()))
}

/// Private mode: the floor holder's view of the queue, its own entry only.
pub(crate) fn own_queue(full: &ServerMsg, player: PlayerId) -> Option<ServerMsg> {
    let ServerMsg::BuzzQueue { qid, queue, floor } = full else {
        return None;
    };
    (*floor == Some(player)).then(|| ServerMsg::BuzzQueue {
        qid: *qid,
        queue: queue
            .iter()
            .filter(|e| e.player_id == player)
            .cloned()
            .collect(),
        floor: Some(player),
    })
}

impl Room {
    /// Player: `buzz`.
    pub(super) fn buzz(
        &mut self,
        conn: ConnId,
        player: PlayerId,
        qid: Qid,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        if q.qid != qid {
            return Err(RoomError::WrongQuestion);
        }
        if q.mode != Mode::Buzz {
            return Err(RoomError::WrongMode("this question takes votes or answers"));
        }
        if !q.open {
            return Err(RoomError::QuestionClosed);
        }
        if let Some(e) = q.entries.get(&player).filter(|e| e.buzzed) {
            if e.ruled == Some(false) {
                return Err(RoomError::NotYourTurn(
                    "you were ruled out on this question",
                ));
            }
            ack(out, conn, "buzz", qid);
            return Ok(());
        }
        let at = q.elapsed(now);
        let Some(q) = self.d.current_mut() else {
            return Err(RoomError::NoQuestion);
        };
        q.queue.push((player, at));
        q.answered += 1;
        let entry = q.entries.entry(player).or_default();
        entry.buzzed = true;
        entry.response_ms = Some(at);
        let entry = entry.clone();
        let took_floor = q.floor.is_none();
        if took_floor {
            q.floor = Some(player);
        }
        if let Some(rec) = self.record(player, RecordKind::Buzz, &entry, now) {
            out.push(rec);
        }
        ack(out, conn, "buzz", qid);
        self.buzz_queue_changed(took_floor, now, out);
        self.tally_changed(now, out);
        Ok(())
    }

    /// Host: `judge` the floor holder.
    pub(super) fn judge(
        &mut self,
        player: PlayerId,
        correct: bool,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        if self.d.player(player).is_none() {
            return Err(RoomError::UnknownPlayer);
        }
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        if q.mode != Mode::Buzz {
            return Err(RoomError::WrongMode("judge is for buzz questions"));
        }
        if q.revealed {
            return Err(RoomError::AlreadyRevealed);
        }
        if q.floor != Some(player) {
            return Err(RoomError::NotYourTurn(
                "that player does not have the floor",
            ));
        }
        let Some(q) = self.d.current_mut() else {
            return Err(RoomError::NoQuestion);
        };
        let points = if correct { BUZZ_POINTS } else { -q.penalty };
        q.credit(player, points);
        let entry = q.entries.entry(player).or_default();
        entry.ruled = Some(correct);
        entry.correct = Some(correct);
        let entry = entry.clone();
        let close = correct;
        q.floor = if correct { None } else { next_floor(q, None) };
        if let Some(p) = self.d.player_mut(player) {
            p.score += points;
        }
        self.rerank();
        if let Some(rec) = self.record(player, RecordKind::Judge, &entry, now) {
            out.push(rec);
        }
        self.buzz_queue_changed(true, now, out);
        self.roster_changed(now, out);
        if close {
            self.close_current(now, out);
        }
        // Every ruling is a checkpoint: it moves points, and a restored
        // open question must come back with them.
        out.push(Effect::Checkpoint);
        Ok(())
    }

    /// A kicked player loses its place in the queue and the floor.
    pub(super) fn floor_lost(&mut self, player: PlayerId, now: Millis, out: &mut Out) {
        let Some(q) = self.d.current_mut() else {
            return;
        };
        if q.mode != Mode::Buzz {
            return;
        }
        let had_floor = q.floor == Some(player);
        q.queue.retain(|(id, _)| *id != player);
        if had_floor {
            q.floor = next_floor(q, Some(player));
        }
        self.buzz_queue_changed(had_floor, now, out);
    }

    /// The queue changed: a floor change goes out at once, the rest throttled.
    fn buzz_queue_changed(&mut self, floor_changed: bool, now: Millis, out: &mut Out) {
        if floor_changed {
            self.live.buzz.sent(now);
            self.send_buzz_queue(out);
        } else if self.live.buzz.touch(now, TALLY_INTERVAL_MS) {
            self.send_buzz_queue(out);
        }
    }

    /// The queue for each audience (players see only themselves in private mode).
    pub(super) fn buzz_queue_msgs(&self) -> Option<(ServerMsg, ServerMsg)> {
        let q = self.d.current().filter(|q| q.mode == Mode::Buzz)?;
        let entry = |(id, at): &(PlayerId, u64)| {
            self.d.player(*id).map(|p| BuzzEntry {
                player_id: *id,
                name: p.name.clone(),
                at_ms: *at,
            })
        };
        let full = ServerMsg::BuzzQueue {
            qid: q.qid,
            queue: q.queue.iter().filter_map(entry).collect(),
            floor: q.floor,
        };
        let hidden = ServerMsg::BuzzQueue {
            qid: q.qid,
            queue: Vec::new(),
            floor: None,
        };
        Some((full, hidden))
    }

    /// Sends the queue under the privacy rules.
    pub(super) fn send_buzz_queue(&self, out: &mut Out) {
        let Some((full, hidden)) = self.buzz_queue_msgs() else {
            return;
        };
        if !self.d.options.private {
            out.send(Audience::All, full);
            return;
        }
        out.send(Audience::Host, full.clone());
        let hidden = std::sync::Arc::new(hidden);
        out.send_arc(Audience::Players, &hidden);
        out.send_arc(Audience::Screens, &hidden);
        if let ServerMsg::BuzzQueue { floor: Some(f), .. } = &full {
            if let Some(own) = own_queue(&full, *f) {
                out.send(Audience::Player(*f), own);
            }
        }
    }
}
