//! Bringing an open question back after a crash: the snapshot holds the
//! question as it was at its last checkpoint (asking it is one), and the
//! answers acknowledged since are replayed from their stored records, so
//! every `ack` a player got still counts and its choice shows as selected
//! when it resumes.
//!
//! Replaying is idempotent: a record whose effect the snapshot already
//! holds changes nothing, so it does not matter how the last checkpoint
//! and the records overlap.

use crate::protocol::{Millis, Mode};

use super::model::Asked;
use super::{AnswerRecord, RecordKind, Room};

/// What a replay did, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Records that changed the question.
    pub applied: usize,
    /// Records already in the snapshot.
    pub already: usize,
    /// Records that could not apply (a seat the snapshot does not know, an
    /// option out of range, another question).
    pub skipped: usize,
}

/// The moment a restored, still-running timer is frozen at: the latest
/// input the question is known to have seen (it ran at least that long),
/// never past its deadline.
fn pause_point(q: &Asked, latest_input: Option<Millis>) -> Option<Millis> {
    let deadline = q.deadline?;
    let from_entries = q
        .entries
        .values()
        .filter_map(|e| e.response_ms)
        .max()
        .map(|ms| q.opened_at + q.paused_total + ms);
    let latest = [Some(q.opened_at), from_entries, latest_input]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(q.opened_at);
    Some(latest.min(deadline))
}

impl Room {
    /// After a restore: freezes the open question's running timer, so the
    /// time players lost to the restart is not counted against them; the
    /// host resumes it with `pause`.
    pub(super) fn pause_restored_timer(&mut self) {
        let Some(q) = self.d.current_mut() else {
            return;
        };
        if !q.open || q.paused_at.is_some() || q.deadline.is_none() {
            return;
        }
        q.paused_at = pause_point(q, None);
        self.live.paused_by_restore = true;
    }

    /// Replays stored answer records of the current question (the others
    /// are skipped) onto a restored room.
    pub fn replay(&mut self, records: &[AnswerRecord]) -> Replayed {
        let mut done = Replayed::default();
        // Seats first, in seat order: the answers may be theirs.
        let (seats, answers): (Vec<&AnswerRecord>, Vec<&AnswerRecord>) =
            records.iter().partition(|r| r.kind == RecordKind::Seat);
        let mut seats = seats;
        seats.sort_by_key(|r| r.player_id);
        for rec in seats {
            match self.replay_seat(rec) {
                Some(true) => done.applied += 1,
                Some(false) => done.already += 1,
                None => done.skipped += 1,
            }
        }
        if done.applied > 0 {
            self.rerank();
        }
        let mut ordered: Vec<&AnswerRecord> = answers;
        // Arrival order: the buzz queue is rebuilt in it.
        ordered.sort_by_key(|r| (r.at, r.response_ms));
        let mut latest = None;
        for rec in ordered {
            match self.replay_one(rec) {
                Some(true) => {
                    done.applied += 1;
                    latest = latest.max(Some(rec.at));
                }
                Some(false) => done.already += 1,
                None => done.skipped += 1,
            }
        }
        let paused_by_restore = self.live.paused_by_restore;
        if let Some(q) = self.d.current_mut() {
            if q.mode == Mode::Buzz && q.open && q.floor.is_none() {
                // A collection window cut by the restart ends here.
                q.window_until = None;
                q.floor = super::buzz::next_floor(q, None);
            }
            if paused_by_restore && q.open {
                q.paused_at = pause_point(q, latest).max(q.paused_at);
            }
        }
        done
    }

    /// A seat welcomed after the last checkpoint: put back, disconnected
    /// and resumable with its token. `Some(false)`: the snapshot has it;
    /// `None`: not the next seat (a gap) or no token.
    fn replay_seat(&mut self, rec: &AnswerRecord) -> Option<bool> {
        let n = self.d.players.len();
        let id = rec.player_id.0 as usize;
        if id >= 1 && id <= n {
            return Some(false);
        }
        if id != n + 1 {
            return None;
        }
        let token = rec.token.clone().filter(|t| !t.is_empty())?;
        let name = super::players::clean_name(&rec.name)?;
        let key = super::players::name_key(&name);
        if self.live.names.contains_key(&key) || self.live.tokens.contains_key(&token) {
            return None;
        }
        self.d.players.push(super::model::Player {
            id: rec.player_id,
            name: name.into(),
            token: token.clone(),
            score: 0,
            streak: 0,
            kicked: false,
            connected: false,
            // Stamped by the first command, as every restored seat is.
            disconnected_at: None,
        });
        self.live.names.insert(key, rec.player_id);
        self.live.tokens.insert(token, rec.player_id);
        self.live.seated += 1;
        Some(true)
    }

    /// `Some(true)`: applied; `Some(false)`: already there; `None`: skipped.
    fn replay_one(&mut self, rec: &AnswerRecord) -> Option<bool> {
        let player = self.d.player(rec.player_id)?.id;
        let q = self.d.current_mut().filter(|q| q.qid == rec.qid)?;
        let entry_of = |q: &Asked| q.entries.get(&player).cloned().unwrap_or_default();
        match rec.kind {
            RecordKind::Vote => {
                if q.mode == Mode::Buzz || q.mode == Mode::Text {
                    return None;
                }
                let picked = rec.choices.clone();
                if picked.is_empty() || picked.iter().any(|&i| i >= q.options.len()) {
                    return None;
                }
                let before = entry_of(q).choices;
                if before.as_ref() == Some(&picked) {
                    return Some(false);
                }
                match &before {
                    Some(old) => {
                        for &i in old {
                            if let Some(c) = q.counts.get_mut(i) {
                                *c = c.saturating_sub(1);
                            }
                        }
                    }
                    None => q.answered += 1,
                }
                for &i in &picked {
                    if let Some(c) = q.counts.get_mut(i) {
                        *c += 1;
                    }
                }
                let correct = (q.mode == Mode::Vote).then(|| picked == q.key);
                let entry = q.entries.entry(player).or_default();
                entry.choices = Some(picked);
                entry.response_ms = Some(rec.response_ms);
                entry.correct = correct;
            }
            RecordKind::Buzz => {
                if q.mode != Mode::Buzz {
                    return None;
                }
                if entry_of(q).buzzed {
                    return Some(false);
                }
                // By the stored (compensated) press instant, ties in arrival order.
                let mut pos = q.queue.partition_point(|(_, t)| *t <= rec.response_ms);
                if let Some(i) = q
                    .floor
                    .and_then(|f| q.queue.iter().position(|(id, _)| *id == f))
                {
                    pos = pos.max(i + 1);
                }
                q.queue.insert(pos, (player, rec.response_ms));
                q.answered += 1;
                let entry = q.entries.entry(player).or_default();
                entry.buzzed = true;
                entry.response_ms = Some(rec.response_ms);
            }
            RecordKind::Answer => {
                if q.mode != Mode::Text {
                    return None;
                }
                let text = rec.text.clone()?;
                if entry_of(q).text.is_some() {
                    return Some(false);
                }
                q.answered += 1;
                let entry = q.entries.entry(player).or_default();
                entry.text = Some(text);
                entry.response_ms = Some(rec.response_ms);
            }
            RecordKind::Mark => {
                let entry = q.entries.get_mut(&player).filter(|e| e.text.is_some())?;
                if entry.mark == rec.correct {
                    return Some(false);
                }
                entry.mark = rec.correct;
                entry.correct = rec.correct;
                entry.judged_by = rec.by;
            }
            RecordKind::PeerVote => {
                let pick = *rec.choices.first()?;
                let already = entry_of(q).peer_choice.is_some();
                let peer = q.peer.as_mut()?;
                if already {
                    return Some(false);
                }
                let count = peer.counts.get_mut(pick)?;
                *count += 1;
                peer.voted += 1;
                q.entries.entry(player).or_default().peer_choice = Some(pick);
            }
            // Every ruling is a checkpoint: the snapshot has it.
            RecordKind::Judge => return Some(false),
            // Seats are put back by `replay_seat`.
            RecordKind::Seat => return None,
        }
        Some(true)
    }
}
