//! `vote` messages in vote, poll and self-assessment mode: one counted
//! answer per player per question. Vote answers are final; poll and self
//! answers may change until the question closes.

use crate::protocol::{Millis, Mode, PlayerId, Qid};

use super::{ConnId, Out, RecordKind, Room, RoomError};

/// Turns `choice`/`choices` into a sorted list of distinct, in-range indices.
pub(crate) fn parse_choices(
    choice: Option<usize>,
    choices: Option<Vec<usize>>,
    n_options: usize,
    multi: bool,
) -> Result<Vec<usize>, RoomError> {
    let mut picked = match (choice, choices) {
        (Some(c), None) => vec![c],
        (None, Some(v)) => v,
        (Some(c), Some(v)) if v == [c] => v,
        (None, None) => return Err(RoomError::BadChoice("pick an option")),
        (Some(_), Some(_)) => return Err(RoomError::BadChoice("send choice or choices, not both")),
    };
    if picked.is_empty() {
        return Err(RoomError::BadChoice("pick an option"));
    }
    if picked.len() > 1 && !multi {
        return Err(RoomError::BadChoice("only one option may be chosen"));
    }
    if picked.iter().any(|&i| i >= n_options) {
        return Err(RoomError::BadChoice("no such option"));
    }
    let len = picked.len();
    picked.sort_unstable();
    picked.dedup();
    if picked.len() != len {
        return Err(RoomError::BadChoice("an option is listed twice"));
    }
    Ok(picked)
}

/// Tells the sender its input was counted (or already was).
pub(crate) fn ack(out: &mut Out, conn: ConnId, reference: &str, qid: Qid) {
    out.ack(conn, reference, qid);
}

impl Room {
    /// Player: `vote`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn vote(
        &mut self,
        conn: ConnId,
        player: PlayerId,
        qid: Qid,
        choice: Option<usize>,
        choices: Option<Vec<usize>>,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        if q.qid != qid {
            return Err(RoomError::WrongQuestion);
        }
        if q.mode == Mode::Text {
            return self.peer_choice(conn, player, choice, choices, now, out);
        }
        if q.mode == Mode::Buzz {
            return Err(RoomError::WrongMode("this question takes buzzes"));
        }
        if !q.open {
            return Err(RoomError::QuestionClosed);
        }
        let picked = parse_choices(choice, choices, q.options.len(), q.multi)?;
        // A player with its own order picked positions in its view.
        let picked = match super::order::player_view(q, player) {
            Some(view) => super::order::from_view(&view, &picked)
                .ok_or(RoomError::BadChoice("no such option"))?,
            None => picked,
        };
        let before = q.entries.get(&player).and_then(|e| e.choices.clone());
        let changeable = q.mode != Mode::Vote;
        if before.is_some() && (!changeable || before.as_ref() == Some(&picked)) {
            ack(out, conn, "vote", qid);
            return Ok(());
        }
        let elapsed = q.elapsed(now);
        let Some(q) = self.d.current_mut() else {
            return Err(RoomError::NoQuestion);
        };
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
        entry.response_ms = Some(elapsed);
        entry.correct = correct;
        // Read back in place: the record copies what it needs, once.
        let record = self
            .d
            .current()
            .and_then(|q| q.entries.get(&player))
            .and_then(|entry| self.record(player, RecordKind::Vote, entry, now));
        if let Some(rec) = record {
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
    fn choices_are_checked() {
        assert_eq!(parse_choices(Some(1), None, 3, false), Ok(vec![1]));
        assert_eq!(
            parse_choices(None, Some(vec![2, 0]), 3, true),
            Ok(vec![0, 2])
        );
        assert_eq!(parse_choices(Some(1), Some(vec![1]), 3, false), Ok(vec![1]));
        for bad in [
            parse_choices(Some(3), None, 3, false),
            parse_choices(None, None, 3, false),
            parse_choices(None, Some(vec![]), 3, true),
            parse_choices(None, Some(vec![0, 1]), 3, false),
            parse_choices(None, Some(vec![1, 1]), 3, true),
            parse_choices(Some(0), Some(vec![1]), 3, true),
            parse_choices(Some(usize::MAX), None, 3, false),
        ] {
            assert_eq!(bad.map_err(|e| e.code()), Err("bad_choice"));
        }
    }
}
