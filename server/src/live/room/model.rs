//! The room's durable data: everything but live sockets, so a room can be
//! snapshotted at a question boundary and restored after a restart.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bank::Question;
use crate::protocol::{Millis, Mode, PlayerId, Qid, TopicKnowledge};

use super::RoomOptions;

/// One seat. The seat outlives its socket so a dropped player can resume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Player {
    pub id: PlayerId,
    /// Shared, so every answer record of the seat points at one copy.
    pub name: Arc<str>,
    pub token: String,
    pub score: i64,
    /// Keyed vote questions answered correctly in a row.
    pub streak: u32,
    pub kicked: bool,
    pub connected: bool,
    /// When the seat lost its socket; `None` while connected (and right
    /// after a restore, until the first command gives the room a clock).
    pub disconnected_at: Option<Millis>,
}

/// Text mode after `peer_vote`: the anonymized answers as options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Peer {
    pub options: Vec<String>,
    /// Who wrote each option (identical answers are merged).
    pub authors: Vec<Vec<PlayerId>>,
    pub counts: Vec<u32>,
    pub voted: u32,
}

/// One player's input on one question. Snapshots leave out fields that are
/// unset: a big room's checkpoint is mostly these entries, and an absent
/// field reads back as its default (as do older snapshots' explicit nulls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Counted vote (vote, poll, self).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<usize>>,
    /// Milliseconds after the question opened (paused time excluded) when
    /// the counted input arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<u64>,
    /// Typed answer (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Host's mark of the typed answer (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<bool>,
    /// Peer-vote option picked (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_choice: Option<usize>,
    /// Pressed the buzzer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub buzzed: bool,
    /// Host's ruling when the player had the floor (buzz).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ruled: Option<bool>,
    /// Whether the answer was right, where anything judged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// The grader who judged or marked it (0: the owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged_by: Option<u32>,
}

/// How one buzzer press was placed in the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Press {
    /// Ms after the opening when the press reached the server.
    pub arrival_ms: u64,
    /// The one-way delay bound the claim was held to; `None`: no clock
    /// samples or no claim, ordered by arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_ms: Option<u64>,
    /// The claim fell outside [arrival − bound, arrival].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clamped: bool,
}

/// A question asked in this room, with everything counted on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Asked {
    pub qid: Qid,
    pub mode: Mode,
    pub question: Question,
    pub topic_path: Vec<String>,
    pub topic_id: String,
    /// Option texts as shown to players in this mode.
    pub options: Vec<String>,
    /// Correct option indices (vote only; empty otherwise).
    pub key: Vec<usize>,
    pub multi: bool,
    pub penalty: i64,
    pub opened_at: Millis,
    pub time_limit_ms: Option<u64>,
    pub deadline: Option<Millis>,
    pub paused_at: Option<Millis>,
    pub paused_total: u64,
    pub open: bool,
    pub revealed: bool,
    /// Points were credited (reveal, or a later ask/end).
    pub finalized: bool,
    pub entries: BTreeMap<PlayerId, Entry>,
    pub counts: Vec<u32>,
    pub answered: u32,
    /// Seated players when the question closed (the `of` of the results).
    pub of: u32,
    /// Buzz presses by estimated press instant (`at_ms`, ms after the
    /// opening), ties in arrival order.
    pub queue: Vec<(PlayerId, u64)>,
    pub floor: Option<PlayerId>,
    /// How each queued press was placed (arrival, bound), for the host.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub presses: BTreeMap<PlayerId, Press>,
    /// Buzz: while set, presses are being collected and nobody has the
    /// floor; at this time the earliest estimated press gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_until: Option<Millis>,
    pub peer: Option<Peer>,
    /// Points credited on this question; the only source of scores.
    pub points: BTreeMap<PlayerId, i64>,
    /// The bank's own option index of each shown option (shown position →
    /// bank index); empty when shown in bank order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<usize>,
    /// Per-player shuffling: the seed each player's own order of this
    /// question is derived from (see `order::player_view`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player_seed: Option<u64>,
}

impl Asked {
    /// Milliseconds the question has been running at `now`, paused time excluded.
    pub fn elapsed(&self, now: Millis) -> u64 {
        let paused_now = self.paused_at.map_or(0, |p| now.saturating_sub(p));
        now.saturating_sub(self.opened_at)
            .saturating_sub(self.paused_total)
            .saturating_sub(paused_now)
    }

    /// Milliseconds left before the deadline while the question is open
    /// with a timer; frozen at the pause while paused.
    pub fn remaining(&self, now: Millis) -> Option<u64> {
        if !self.open {
            return None;
        }
        let at = self.paused_at.unwrap_or(now);
        self.deadline.map(|d| d.saturating_sub(at))
    }

    /// Whether the question is in its text peer-vote phase.
    pub fn in_peer_vote(&self) -> bool {
        self.peer.is_some()
    }

    /// Credits `points` to `player` on this question.
    pub fn credit(&mut self, player: PlayerId, points: i64) {
        if points != 0 {
            *self.points.entry(player).or_insert(0) += points;
        }
    }
}

/// Small deterministic generator for draws and shuffles, kept in the
/// snapshot so a restored room keeps drawing reproducibly (SplitMix64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Everything a snapshot holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Durable {
    pub code: String,
    pub host_token: String,
    pub options: RoomOptions,
    pub rng: Rng,
    pub players: Vec<Player>,
    pub locked: bool,
    pub ended: bool,
    /// Every question asked, the current one last, except the leading ones
    /// in `released`.
    pub asked: Vec<Asked>,
    pub last_host_seen: Millis,
    /// Interviewers, scores and notes (see `panel`).
    #[serde(default)]
    pub panel: super::panel::Panel,
    /// Finished questions the store holds and memory no longer does. Not
    /// part of a snapshot: a checkpoint names them by count, and a restore
    /// reads them back from the store into `asked`.
    #[serde(skip)]
    pub released: Released,
}

/// What a room keeps of the finished questions it dropped from memory once
/// the store held them: a day of questions would otherwise keep every
/// answer in memory until the room ends (about 270 bytes each).
#[derive(Debug, Clone, Default)]
pub(crate) struct Released {
    /// Leading questions no longer in `asked` (indices and qids count them).
    pub count: usize,
    /// Their catalog ids, packed to 64-bit hashes ([`id_hash`]), so a draw
    /// does not ask them again: a day of questions costs a few bytes each
    /// instead of a string and its set slot (about 95 bytes).
    pub question_ids: HashSet<u64>,
    /// Their self-assessment counts per topic, for the knowledge map.
    pub knowledge: BTreeMap<String, TopicKnowledge>,
}

impl Released {
    /// Takes note of `q` as it leaves memory.
    pub fn note(&mut self, q: &Asked) {
        self.count += 1;
        self.question_ids.insert(id_hash(&q.question.id));
        add_knowledge(&mut self.knowledge, q);
    }

    /// Whether a released question had the catalog id `id`. Two ids of
    /// one room sharing a 64-bit hash (odds about 10^-14 for a thousand
    /// questions) would only keep the second out of the draws.
    pub fn holds(&self, id: &str) -> bool {
        self.question_ids.contains(&id_hash(id))
    }
}

/// The packed form of a catalog question id kept by [`Released`].
pub(crate) fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// Adds a closed self-assessment question's counts to its topic's entry.
pub(crate) fn add_knowledge(topics: &mut BTreeMap<String, TopicKnowledge>, q: &Asked) {
    if q.mode != Mode::SelfAssess || q.open {
        return;
    }
    let t = topics
        .entry(q.topic_id.clone())
        .or_insert_with(|| TopicKnowledge {
            topic_id: q.topic_id.clone(),
            topic: q.topic_path.clone(),
            know: 0,
            partly: 0,
            dont_know: 0,
            knowledge: 0.0,
        });
    for (i, c) in q.counts.iter().enumerate() {
        match i {
            0 => t.know += c,
            1 => t.partly += c,
            _ => t.dont_know += c,
        }
    }
}

impl Durable {
    /// The seat with `id` (ids are 1-based positions).
    pub fn player(&self, id: PlayerId) -> Option<&Player> {
        self.players.get((id.0 as usize).checked_sub(1)?)
    }

    /// The seat with `id`, mutably.
    pub fn player_mut(&mut self, id: PlayerId) -> Option<&mut Player> {
        self.players.get_mut((id.0 as usize).checked_sub(1)?)
    }

    /// Questions asked so far, released ones included.
    pub fn asked_count(&self) -> usize {
        self.released.count + self.asked.len()
    }

    /// The current (last asked) question.
    pub fn current(&self) -> Option<&Asked> {
        self.asked.last()
    }

    /// The current question, mutably.
    pub fn current_mut(&mut self) -> Option<&mut Asked> {
        self.asked.last_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_store_only_what_is_set_and_read_old_nulls() {
        let entry = Entry {
            choices: Some(vec![1]),
            response_ms: Some(5),
            correct: Some(false),
            ..Entry::default()
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(json, r#"{"choices":[1],"response_ms":5,"correct":false}"#);
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), entry);
        let old = r#"{"choices":[1],"response_ms":5,"text":null,"mark":null,
            "peer_choice":null,"buzzed":false,"ruled":null,"correct":false}"#;
        assert_eq!(serde_json::from_str::<Entry>(old).unwrap(), entry);
        let buzzed = Entry {
            buzzed: true,
            ..Entry::default()
        };
        let back: Entry = serde_json::from_str(&serde_json::to_string(&buzzed).unwrap()).unwrap();
        assert_eq!(back, buzzed);
    }
}
