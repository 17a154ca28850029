//! Text mode: typed answers the host sees live and may mark correct, then
//! optionally a peer vote on the anonymized, merged, shuffled answers.

use std::collections::HashMap;

use crate::protocol::{Millis, Mode, PlayerId, Qid, ServerMsg, MAX_ANSWER_CHARS};

use super::model::Peer;
use super::question::check_time_limit;
use super::voting::{ack, parse_choices};
use super::{Audience, ConnId, Effect, Out, RecordKind, Room, RoomError};

/// Most options a peer vote offers; more distinct answers are sampled.
pub(crate) const MAX_PEER_OPTIONS: usize = 30;

/// Control and invisible characters removed (line breaks kept), then trimmed.
pub(crate) fn clean_answer(raw: &str) -> Result<String, RoomError> {
    let cleaned: String = raw
        .chars()
        .filter(|c| *c == '\n' || (!c.is_control() && !super::players::is_invisible(*c)))
        .collect();
    let text = cleaned.trim();
    if text.is_empty() {
        return Err(RoomError::EmptyAnswer);
    }
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(RoomError::AnswerTooLong(MAX_ANSWER_CHARS));
    }
    Ok(text.to_string())
}

/// Identical answers are merged by this key: case, punctuation at the ends
/// and runs of whitespace do not matter.
fn merge_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c.is_ascii_punctuation())
        .to_lowercase()
}

impl Room {
    /// Player: `answer` (text mode, typing phase). The first answer counts.
    pub(super) fn answer(
        &mut self,
        conn: ConnId,
        player: PlayerId,
        qid: Qid,
        raw: &str,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        if q.qid != qid {
            return Err(RoomError::WrongQuestion);
        }
        if q.mode != Mode::Text || q.in_peer_vote() {
            return Err(RoomError::WrongMode(
                "this question does not take typed answers now",
            ));
        }
        if !q.open {
            return Err(RoomError::QuestionClosed);
        }
        let text = clean_answer(raw)?;
        if q.entries.get(&player).is_some_and(|e| e.text.is_some()) {
            ack(out, conn, "answer", qid);
            return Ok(());
        }
        let elapsed = q.elapsed(now);
        let Some(q) = self.d.current_mut() else {
            return Err(RoomError::NoQuestion);
        };
        q.answered += 1;
        let entry = q.entries.entry(player).or_default();
        entry.text = Some(text.clone());
        entry.response_ms = Some(elapsed);
        let entry = entry.clone();
        let name = self
            .d
            .player(player)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        out.send(
            Audience::Host,
            ServerMsg::TextAnswer {
                qid,
                player_id: player,
                name: name.to_string(),
                text,
            },
        );
        if let Some(rec) = self.record(player, RecordKind::Answer, &entry, now) {
            out.push(rec);
        }
        ack(out, conn, "answer", qid);
        self.tally_changed(now, out);
        Ok(())
    }

    /// Host: `mark` a typed answer right or wrong (until reveal).
    pub(super) fn mark(
        &mut self,
        conn: ConnId,
        player: PlayerId,
        correct: bool,
        by: u32,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        if self.d.player(player).is_none() {
            return Err(RoomError::UnknownPlayer);
        }
        let q = self.d.current_mut().ok_or(RoomError::NoQuestion)?;
        if q.mode != Mode::Text {
            return Err(RoomError::WrongMode("mark is for text questions"));
        }
        if q.revealed || q.finalized {
            return Err(RoomError::AlreadyRevealed);
        }
        let qid = q.qid;
        let entry = q
            .entries
            .get_mut(&player)
            .filter(|e| e.text.is_some())
            .ok_or(RoomError::NoAnswer)?;
        entry.mark = Some(correct);
        entry.correct = Some(correct);
        entry.judged_by = Some(by);
        let entry = entry.clone();
        if let Some(rec) = self.record(player, RecordKind::Mark, &entry, now) {
            out.push(rec);
        }
        ack(out, conn, "mark", qid);
        self.attribute("mark", player, correct, by, out);
        Ok(())
    }

    /// Host: `peer_vote` turns the typed answers into options.
    pub(super) fn peer_vote(
        &mut self,
        time_limit_ms: Option<u64>,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        check_time_limit(time_limit_ms)?;
        if self.d.options.private {
            // Options would show players each other's answers.
            return Err(RoomError::WrongMode("no peer vote in a private room"));
        }
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        if q.mode != Mode::Text || q.in_peer_vote() {
            return Err(RoomError::WrongMode(
                "peer vote needs a text question in its typing phase",
            ));
        }
        if q.revealed {
            return Err(RoomError::AlreadyRevealed);
        }
        let mut groups: Vec<(String, Vec<PlayerId>)> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (id, e) in &q.entries {
            let Some(text) = &e.text else { continue };
            let key = merge_key(text);
            match by_key.get(&key) {
                Some(&i) => {
                    if let Some(g) = groups.get_mut(i) {
                        g.1.push(*id);
                    }
                }
                None => {
                    by_key.insert(key, groups.len());
                    groups.push((text.clone(), vec![*id]));
                }
            }
        }
        if groups.len() < 2 {
            return Err(RoomError::NoAnswers);
        }
        self.d.rng.shuffle(&mut groups);
        groups.truncate(MAX_PEER_OPTIONS);
        let Some(q) = self.d.current_mut() else {
            return Err(RoomError::NoQuestion);
        };
        if let Some(p) = q.paused_at.take() {
            q.paused_total += now.saturating_sub(p);
        }
        q.of = q.of.max(q.answered);
        q.open = true;
        q.time_limit_ms = time_limit_ms;
        q.deadline = time_limit_ms.map(|t| now.saturating_add(t));
        q.peer = Some(Peer {
            counts: vec![0; groups.len()],
            options: groups.iter().map(|g| g.0.clone()).collect(),
            authors: groups.into_iter().map(|g| g.1).collect(),
            voted: 0,
        });
        out.push(Effect::Checkpoint);
        self.send_question(now, out);
        self.send_tally(out);
        self.live.tally.sent(now);
        Ok(())
    }

    /// Player: `vote` during a peer vote. The first vote counts; nobody
    /// votes for its own answer.
    pub(super) fn peer_choice(
        &mut self,
        conn: ConnId,
        player: PlayerId,
        choice: Option<usize>,
        choices: Option<Vec<usize>>,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        let Some(peer) = &q.peer else {
            return Err(RoomError::WrongMode(
                "typed answers go in an answer message",
            ));
        };
        if !q.open {
            return Err(RoomError::QuestionClosed);
        }
        let picked = parse_choices(choice, choices, peer.options.len(), false)?;
        let pick = picked
            .first()
            .copied()
            .ok_or(RoomError::BadChoice("pick an option"))?;
        if peer.authors.get(pick).is_some_and(|a| a.contains(&player)) {
            return Err(RoomError::OwnAnswer);
        }
        let qid = q.qid;
        if q.entries
            .get(&player)
            .is_some_and(|e| e.peer_choice.is_some())
        {
            ack(out, conn, "vote", qid);
            return Ok(());
        }
        let Some(q) = self.d.current_mut() else {
            return Err(RoomError::NoQuestion);
        };
        if let Some(peer) = q.peer.as_mut() {
            peer.voted += 1;
            if let Some(c) = peer.counts.get_mut(pick) {
                *c += 1;
            }
        }
        let entry = q.entries.entry(player).or_default();
        entry.peer_choice = Some(pick);
        let entry = entry.clone();
        if let Some(rec) = self.record(player, RecordKind::PeerVote, &entry, now) {
            out.push(rec);
        }
        ack(out, conn, "vote", qid);
        self.tally_changed(now, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_cleaned_and_bounded() {
        assert_eq!(clean_answer("  a\u{0000}b \n").as_deref(), Ok("ab"));
        assert_eq!(
            clean_answer(" \t ").map_err(|e| e.code()),
            Err("empty_answer")
        );
        assert!(clean_answer(&"é".repeat(MAX_ANSWER_CHARS)).is_ok());
        assert_eq!(
            clean_answer(&"é".repeat(MAX_ANSWER_CHARS + 1)).map_err(|e| e.code()),
            Err("answer_too_long")
        );
    }

    #[test]
    fn merge_key_ignores_case_spacing_and_end_punctuation() {
        assert_eq!(merge_key("  Hello   World! "), merge_key("hello world"));
        assert_ne!(merge_key("hello"), merge_key("help"));
    }
}
