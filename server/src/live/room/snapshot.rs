//! Checkpoints that cost the room task what changed, not what the room
//! has accumulated.
//!
//! A snapshot of a room that asked many questions of many players is mostly
//! finished questions, and those never change again: only the last asked
//! question is ever mutated (every rule goes through `current_mut`). So a
//! checkpoint serializes the seats and the last question straight to JSON
//! text (no `serde_json::Value` tree), plus each finished question once; the
//! store keeps finished questions in their own rows and puts them back in
//! front of `asked` on restore (`store::splice_frozen`).

use serde::Serialize;

use crate::protocol::Millis;

use super::model::{Asked, Durable, Player, Rng};
use super::{Room, RoomOptions};

/// What one checkpoint writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotParts {
    /// The room's durable state as JSON text, its `asked` list without the
    /// first `frozen_upto` questions, which it names in a `frozen_asked` field.
    pub json: String,
    /// Finished questions not yet confirmed stored: (index in `asked`, JSON).
    pub frozen: Vec<(usize, String)>,
    /// How many leading questions the snapshot leaves to the stored rows;
    /// hand it to [`Room::frozen_stored`] once the checkpoint is committed.
    pub frozen_upto: usize,
}

/// The durable state with a cut `asked` list, field for field as
/// [`Durable`] serializes.
#[derive(Serialize)]
struct Head<'a> {
    code: &'a str,
    host_token: &'a str,
    options: &'a RoomOptions,
    rng: &'a Rng,
    players: &'a [Player],
    locked: bool,
    ended: bool,
    asked: &'a [Asked],
    last_host_seen: Millis,
    frozen_asked: usize,
    panel: &'a super::panel::Panel,
}

impl Room {
    /// The room's snapshot split for a checkpoint: O(seats + the last
    /// question + questions finished since the last stored checkpoint).
    pub fn snapshot_parts(&self) -> Result<SnapshotParts, serde_json::Error> {
        // Destructured without `..`: a new durable field fails to compile
        // here until the snapshot carries it.
        let Durable {
            code,
            host_token,
            options,
            rng,
            players,
            locked,
            ended,
            asked,
            last_host_seen,
            panel,
            released,
        } = &self.d;
        // Indices count released questions too: `asked[i]` is question
        // `base + i` of the room.
        let base = released.count;
        let frozen_upto = (base + asked.len()).saturating_sub(1);
        let from = self.live.frozen_stored.clamp(base, frozen_upto.max(base));
        let frozen = asked
            .get(from - base..frozen_upto.saturating_sub(base))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, q)| Ok((from + i, serde_json::to_string(q)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        let head = Head {
            code,
            host_token,
            options,
            rng,
            players,
            locked: *locked,
            ended: *ended,
            asked: asked
                .get(frozen_upto.saturating_sub(base)..)
                .unwrap_or_default(),
            last_host_seen: *last_host_seen,
            frozen_asked: frozen_upto,
            panel,
        };
        Ok(SnapshotParts {
            json: serde_json::to_string(&head)?,
            frozen,
            frozen_upto,
        })
    }

    /// The store committed a checkpoint made by [`Room::snapshot_parts`]:
    /// the first `upto` questions need not be written again.
    pub fn frozen_stored(&mut self, upto: usize) {
        self.live.frozen_stored = upto.min(self.d.asked_count());
    }

    /// Drops from memory the finished questions the store holds (see
    /// [`Room::frozen_stored`]), keeping only their ids and knowledge
    /// counts: a room asking all day then holds its seats and its last
    /// question, not every answer. Results read them back from the store
    /// ([`Room::results_with`]); a restore puts them back in `asked`.
    pub fn release_stored(&mut self) {
        let stored = self
            .live
            .frozen_stored
            .saturating_sub(self.d.released.count);
        // The current question stays, finished or not: rules act on it.
        let n = stored.min(self.d.asked.len().saturating_sub(1));
        for q in self.d.asked.drain(..n) {
            self.d.released.note(&q);
        }
    }

    /// Questions held in memory (the rest are released).
    pub fn questions_in_memory(&self) -> usize {
        self.d.asked.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::{ClientMsg, Mode};
    use crate::storage::store::{splice_frozen, FROZEN_FIELD};

    use super::super::tests::{choice_q, Harness};

    /// Reads parts back as the store does, given every frozen row so far.
    fn read_back(json: &str, rows: &[String]) -> serde_json::Value {
        let mut snap: serde_json::Value = serde_json::from_str(json).unwrap();
        let n = snap[FROZEN_FIELD].as_u64().unwrap() as usize;
        let frozen = rows[..n]
            .iter()
            .map(|j| serde_json::from_str(j).unwrap())
            .collect();
        splice_frozen(&mut snap, frozen).unwrap();
        snap
    }

    #[test]
    fn each_finished_question_is_written_once_and_reads_back_whole() {
        let mut h = Harness::public();
        let players: Vec<_> = (0..4).map(|i| h.join(&format!("p{i}"))).collect();
        let mut rows: Vec<String> = Vec::new();
        for round in 0..3 {
            h.ask(choice_q(&format!("q{round}")), Mode::Vote, None);
            for (conn, _, _) in &players {
                h.vote(*conn, round % 2);
            }
            h.host_cmd(ClientMsg::Close);
            h.host_cmd(ClientMsg::Reveal);
            let parts = h.room.snapshot_parts().unwrap();
            // Only the question that finished since the last checkpoint.
            assert_eq!(parts.frozen_upto, round);
            let written: Vec<usize> = parts.frozen.iter().map(|(i, _)| *i).collect();
            assert_eq!(
                written,
                (round.saturating_sub(1)..round).collect::<Vec<_>>()
            );
            rows.extend(parts.frozen.into_iter().map(|(_, j)| j));
            h.room.frozen_stored(parts.frozen_upto);
            assert_eq!(read_back(&parts.json, &rows), h.room.snapshot());
        }
        // Unconfirmed writes are offered again.
        h.ask(choice_q("q3"), Mode::Vote, None);
        let first = h.room.snapshot_parts().unwrap();
        let again = h.room.snapshot_parts().unwrap();
        assert_eq!(first, again);
        assert_eq!(first.frozen.len(), 1);
    }

    #[test]
    fn head_field_matches_the_store() {
        assert_eq!(FROZEN_FIELD, "frozen_asked");
    }
}
