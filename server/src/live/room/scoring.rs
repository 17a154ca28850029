//! Points and places. The formulas are documented in docs/protocol.md
//! ("Scoring"); a player's score is only ever the sum of credited points.

use crate::protocol::{PlayerId, ScoreRow};

use super::model::{Asked, Peer, Player};

/// Points for a right answer before speed and streak.
pub(crate) const BASE_POINTS: i64 = 1000;
/// Points for a buzz ruled correct.
pub(crate) const BUZZ_POINTS: i64 = 1000;
/// Points for a typed answer the host marked correct.
pub(crate) const MARK_POINTS: i64 = 1000;
/// Points for each author of the winning peer-vote answer.
pub(crate) const PEER_WIN_POINTS: i64 = 500;
/// Streak bonus per correct answer in a row beyond the first.
pub(crate) const STREAK_STEP: i64 = 100;
/// Most streak steps counted.
pub(crate) const STREAK_MAX_STEPS: u32 = 5;

/// `round(1000 · (1 − (t/T)/2))` with a limit `T`, a flat 1000 without.
pub(crate) fn speed_points(response_ms: u64, time_limit_ms: Option<u64>) -> i64 {
    match time_limit_ms {
        Some(limit) if limit > 0 => {
            let t = response_ms.min(limit) as f64 / limit as f64;
            (BASE_POINTS as f64 * (1.0 - t / 2.0)).round() as i64
        }
        _ => BASE_POINTS,
    }
}

/// Bonus for a correct answer that makes the streak `streak` long.
pub(crate) fn streak_bonus(streak: u32) -> i64 {
    STREAK_STEP * i64::from(streak.saturating_sub(1).min(STREAK_MAX_STEPS))
}

/// Vote mode: speed points plus streak bonus for each right answer; every
/// seated player's streak moves on (a wrong or missing answer resets it).
pub(crate) fn vote_awards(q: &Asked, players: &mut [Player]) -> Vec<(PlayerId, i64)> {
    let mut awards = Vec::new();
    for p in players.iter_mut().filter(|p| !p.kicked) {
        let entry = q.entries.get(&p.id);
        if entry.and_then(|e| e.correct) == Some(true) {
            p.streak = p.streak.saturating_add(1);
            let t = entry.and_then(|e| e.response_ms).unwrap_or(0);
            awards.push((
                p.id,
                speed_points(t, q.time_limit_ms) + streak_bonus(p.streak),
            ));
        } else {
            p.streak = 0;
        }
    }
    awards
}

/// Options of a peer vote with the most votes (none if nobody voted).
pub(crate) fn peer_winners(peer: &Peer) -> Vec<usize> {
    let best = peer.counts.iter().copied().max().unwrap_or(0);
    if best == 0 {
        return Vec::new();
    }
    (0..peer.counts.len())
        .filter(|i| peer.counts.get(*i) == Some(&best))
        .collect()
}

/// Text mode: marked-correct answers, then the authors of the peer winners.
pub(crate) fn text_awards(q: &Asked) -> Vec<(PlayerId, i64)> {
    let mut awards: Vec<(PlayerId, i64)> = q
        .entries
        .iter()
        .filter(|(_, e)| e.mark == Some(true))
        .map(|(id, _)| (*id, MARK_POINTS))
        .collect();
    if let Some(peer) = &q.peer {
        for w in peer_winners(peer) {
            for author in peer.authors.get(w).into_iter().flatten() {
                awards.push((*author, PEER_WIN_POINTS));
            }
        }
    }
    awards
}

/// Seated players ordered by score (ties share a place: 1, 2, 2, 4).
/// Kept up to date by the room (rebuilt when scores change, a joiner
/// inserted in place) so a welcome never sorts the whole room.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Ranking {
    /// Score descending, then player id ascending.
    order: Vec<(i64, PlayerId)>,
}

impl Ranking {
    /// Ranks every player that is not kicked. O(N log N).
    pub fn of(players: &[Player]) -> Ranking {
        let mut order: Vec<(i64, PlayerId)> = players
            .iter()
            .filter(|p| !p.kicked)
            .map(|p| (p.score, p.id))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Ranking { order }
    }

    /// Adds a newly seated player with score 0 without re-sorting.
    pub fn insert_new(&mut self, id: PlayerId) {
        let at = self.order.partition_point(|(s, _)| *s >= 0);
        self.order.insert(at, (0, id));
    }

    /// The place of a player with `score`: one more than the number of
    /// players with a higher score.
    pub fn place_of(&self, score: i64) -> u32 {
        let above = self.order.partition_point(|(s, _)| *s > score);
        u32::try_from(above + 1).unwrap_or(u32::MAX)
    }

    /// How many players are ranked.
    pub fn len(&self) -> u32 {
        u32::try_from(self.order.len()).unwrap_or(u32::MAX)
    }

    /// The top `limit` leaderboard rows.
    pub fn rows(&self, players: &[Player], limit: usize) -> Vec<ScoreRow> {
        self.order
            .iter()
            .take(limit)
            .filter_map(|(score, id)| {
                let p = players.get((id.0 as usize).checked_sub(1)?)?;
                Some(ScoreRow {
                    player_id: *id,
                    name: p.name.to_string(),
                    score: *score,
                    place: self.place_of(*score),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_points_follow_the_documented_formula() {
        assert_eq!(speed_points(0, Some(20_000)), 1000);
        assert_eq!(speed_points(10_000, Some(20_000)), 750);
        assert_eq!(speed_points(20_000, Some(20_000)), 500);
        assert_eq!(speed_points(99_000, Some(20_000)), 500);
        assert_eq!(speed_points(5_000, None), 1000);
    }

    #[test]
    fn streak_bonus_grows_then_caps() {
        assert_eq!(streak_bonus(1), 0);
        assert_eq!(streak_bonus(2), 100);
        assert_eq!(streak_bonus(6), 500);
        assert_eq!(streak_bonus(60), 500);
    }

    fn player(id: u32, score: i64) -> Player {
        Player {
            id: PlayerId(id),
            name: format!("p{id}").into(),
            token: String::new(),
            score,
            streak: 0,
            kicked: false,
            connected: true,
            disconnected_at: None,
        }
    }

    #[test]
    fn equal_scores_share_a_place() {
        let players = vec![player(1, 10), player(2, 30), player(3, 10), player(4, 5)];
        let mut r = Ranking::of(&players);
        assert_eq!(r.place_of(30), 1);
        assert_eq!(r.place_of(10), 2);
        assert_eq!(r.place_of(5), 4);
        let rows = r.rows(&players, 3);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].player_id, rows[0].place), (PlayerId(2), 1));
        assert_eq!((rows[1].player_id, rows[1].place), (PlayerId(1), 2));
        assert_eq!((rows[2].player_id, rows[2].place), (PlayerId(3), 2));
        r.insert_new(PlayerId(5));
        assert_eq!(r.len(), 5);
        assert_eq!(r.place_of(0), 5);
        assert_eq!(r.place_of(5), 4);
    }
}
