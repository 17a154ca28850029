//! Buzz mode: presses queue by estimated press instant (see [`super::fair`];
//! arrival order where nothing is compensated), the first holds the floor,
//! the host judges. At most one floor holder at any time.
//!
//! While a player socket in the room keeps its clock in sync and the
//! room's window is above zero, the first press that finds nobody holding
//! the floor opens a collection window: presses arriving within it are
//! placed by their estimated instant, and when it ends the earliest one
//! gets the floor. Without synced players (older clients, load tests) the
//! first arrival takes the floor at once, as before.

use crate::protocol::{BuzzEntry, Millis, Mode, PlayerId, PressTiming, Qid, ServerMsg};

use super::fair;
use super::model::{Asked, Press};
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
    #[allow(clippy::too_many_arguments)]
    pub(super) fn buzz(
        &mut self,
        conn: ConnId,
        player: PlayerId,
        qid: Qid,
        pressed_ms: Option<f64>,
        timing: Option<PressTiming>,
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
        let window = self.d.options.buzz_window_ms;
        let arrival = timing.map_or(now, |t| t.arrival.max(q.opened_at).min(now));
        let placed = fair::place(arrival, pressed_ms, timing.as_ref(), window > 0);
        let arrival_ms = q.elapsed(now).saturating_sub(now.saturating_sub(arrival));
        let at = arrival_ms.saturating_sub(arrival.saturating_sub(placed.at));
        let collect = window > 0 && !self.live.syncing.is_empty();
        let Some(q) = self.d.current_mut() else {
            return Err(RoomError::NoQuestion);
        };
        // By estimated instant, but never ahead of a floor already given:
        // the floor holder stays the first press not ruled on.
        let mut pos = q.queue.partition_point(|(_, t)| *t <= at);
        if let Some(f) = q.floor {
            if let Some(i) = q.queue.iter().position(|(id, _)| *id == f) {
                pos = pos.max(i + 1);
            }
        }
        q.queue.insert(pos, (player, at));
        q.presses.insert(
            player,
            Press {
                arrival_ms,
                bound_ms: placed.bound_ms,
                clamped: placed.clamped,
            },
        );
        q.answered += 1;
        let entry = q.entries.entry(player).or_default();
        entry.buzzed = true;
        entry.response_ms = Some(at);
        let entry = entry.clone();
        let mut took_floor = false;
        if q.floor.is_none() {
            if collect {
                q.window_until.get_or_insert(arrival.saturating_add(window));
            } else {
                q.floor = Some(player);
                took_floor = true;
            }
        }
        if let Some(rec) = self.record(player, RecordKind::Buzz, &entry, now) {
            out.push(rec);
        }
        ack(out, conn, "buzz", qid);
        self.buzz_queue_changed(took_floor, now, out);
        self.tally_changed(now, out);
        // A room behind its clock may find the window already over.
        self.settle_window(now, false, out);
        Ok(())
    }

    /// Ends the collection window when it is due (or at once with `force`,
    /// when the question closes): the earliest press not ruled on gets the
    /// floor.
    pub(super) fn settle_window(&mut self, now: Millis, force: bool, out: &mut Out) {
        let Some(q) = self.d.current_mut() else {
            return;
        };
        let Some(until) = q.window_until else {
            return;
        };
        if !force && until > now {
            return;
        }
        q.window_until = None;
        if q.floor.is_none() {
            q.floor = next_floor(q, None);
        }
        self.buzz_queue_changed(true, now, out);
    }

    /// Host: `judge` the floor holder.
    pub(super) fn judge(
        &mut self,
        player: PlayerId,
        correct: bool,
        by: u32,
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
        let points = q
            .question
            .points
            .apply(if correct { BUZZ_POINTS } else { -q.penalty });
        q.credit(player, points);
        let entry = q.entries.entry(player).or_default();
        entry.ruled = Some(correct);
        entry.correct = Some(correct);
        entry.judged_by = Some(by);
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
        self.attribute("judge", player, correct, by, out);
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
        q.presses.remove(&player);
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

    /// The queue for each audience: the host's copy (with how each press
    /// was placed), the public one, and the empty one private rooms show.
    pub(super) fn buzz_queue_msgs(&self) -> Option<(ServerMsg, ServerMsg, ServerMsg)> {
        let q = self.d.current().filter(|q| q.mode == Mode::Buzz)?;
        let entry = |(id, at): &(PlayerId, u64), host: bool| {
            self.d.player(*id).map(|p| {
                let press = q.presses.get(id).filter(|_| host);
                BuzzEntry {
                    player_id: *id,
                    name: p.name.to_string(),
                    at_ms: *at,
                    arrival_ms: press.map(|x| x.arrival_ms),
                    bound_ms: press.and_then(|x| x.bound_ms),
                    clamped: press.is_some_and(|x| x.clamped),
                }
            })
        };
        let msg = |host: bool| ServerMsg::BuzzQueue {
            qid: q.qid,
            queue: q.queue.iter().filter_map(|e| entry(e, host)).collect(),
            floor: q.floor,
        };
        let hidden = ServerMsg::BuzzQueue {
            qid: q.qid,
            queue: Vec::new(),
            floor: None,
        };
        Some((msg(true), msg(false), hidden))
    }

    /// Sends the queue under the privacy rules.
    pub(super) fn send_buzz_queue(&self, out: &mut Out) {
        let Some((host, public, hidden)) = self.buzz_queue_msgs() else {
            return;
        };
        out.send(Audience::Host, host);
        if !self.d.options.private {
            let public = std::sync::Arc::new(public);
            out.send_arc(Audience::Players, &public);
            out.send_arc(Audience::Screens, &public);
            return;
        }
        let hidden = std::sync::Arc::new(hidden);
        out.send_arc(Audience::Players, &hidden);
        out.send_arc(Audience::Screens, &hidden);
        if let ServerMsg::BuzzQueue { floor: Some(f), .. } = &public {
            if let Some(own) = own_queue(&public, *f) {
                out.send(Audience::Player(*f), own);
            }
        }
    }
}
