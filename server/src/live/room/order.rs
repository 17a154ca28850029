//! The order options are shown in. A bank that lists its key first would
//! give the answer away, so vote and poll options are shuffled per question
//! by default: once for the room (host, screens and every player see the
//! same order, the "room order" every count and key is kept in), or, when
//! the host chooses per-player shuffling, once more for each player on top
//! of the room order. A player's view is derived from a per-question seed
//! and the seat, so nothing per player is stored and a restore shows the
//! same order again; the server maps each player's indices back to the
//! room order when it counts them.

use serde::{Deserialize, Serialize};

use crate::protocol::PlayerId;

use super::model::{Asked, Rng};

/// How a room orders vote and poll options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shuffle {
    /// The bank's own order.
    Off,
    /// One shuffled order per question, the same for everyone.
    #[default]
    Room,
    /// Each player sees its own order of each question.
    Player,
}

impl Shuffle {
    /// Reads the room option: `true`/`false` (older rooms and clients) or
    /// `"off"`, `"room"`, `"player"`.
    pub fn from_option(value: &serde_json::Value) -> Option<Shuffle> {
        match value {
            serde_json::Value::Bool(true) => Some(Shuffle::Room),
            serde_json::Value::Bool(false) => Some(Shuffle::Off),
            other => serde_json::from_value(other.clone()).ok(),
        }
    }
}

/// Reads `shuffle_options` from a stored snapshot: a boolean (rooms stored
/// before the per-player choice) or the enum; absent means the default.
pub(crate) fn deserialize_shuffle<'de, D>(de: D) -> Result<Shuffle, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let v = serde_json::Value::deserialize(de)?;
    Shuffle::from_option(&v).ok_or_else(|| serde::de::Error::custom("bad shuffle_options"))
}

/// A player's view of `q`: entry `i` is the room-order index of the option
/// the player sees at position `i`. `None` when the player sees the room
/// order (no per-player shuffling, no options, or a text peer vote).
pub(crate) fn player_view(q: &Asked, player: PlayerId) -> Option<Vec<usize>> {
    let seed = q.player_seed?;
    if q.peer.is_some() || q.options.len() < 2 {
        return None;
    }
    let mut view: Vec<usize> = (0..q.options.len()).collect();
    let mut rng = Rng(seed ^ u64::from(player.0).wrapping_mul(0xA24B_AED4_963E_E407));
    // A few draws first, so neighbouring seats do not start alike.
    rng.next_u64();
    rng.shuffle(&mut view);
    Some(view)
}

/// Room-order items as the view shows them.
pub(crate) fn permute<T: Clone>(view: &[usize], items: &[T]) -> Vec<T> {
    view.iter().filter_map(|&r| items.get(r).cloned()).collect()
}

/// Room-order indices as positions in the view, ascending.
pub(crate) fn to_view(view: &[usize], room: &[usize]) -> Vec<usize> {
    (0..view.len())
        .filter(|&shown| view.get(shown).is_some_and(|r| room.contains(r)))
        .collect()
}

/// Positions in the view as room-order indices, ascending; `None` when a
/// position is outside the view.
pub(crate) fn from_view(view: &[usize], shown: &[usize]) -> Option<Vec<usize>> {
    let mut room: Vec<usize> = shown
        .iter()
        .map(|&s| view.get(s).copied())
        .collect::<Option<_>>()?;
    room.sort_unstable();
    Some(room)
}

/// The bank's own option index of each room-order option (the identity
/// when the room kept the bank's order); empty for questions without
/// bank options (buzz, text, self-assessment).
pub(crate) fn bank_ids(q: &Asked) -> Vec<usize> {
    if q.peer.is_some()
        || !matches!(
            q.mode,
            crate::protocol::Mode::Vote | crate::protocol::Mode::Poll
        )
    {
        return Vec::new();
    }
    if q.order.is_empty() {
        (0..q.options.len()).collect()
    } else {
        q.order.clone()
    }
}

/// The bank ids in a view's order (the room order when `view` is `None`).
pub(crate) fn bank_ids_in(q: &Asked, view: Option<&[usize]>) -> Vec<usize> {
    let ids = bank_ids(q);
    match view {
        Some(view) if !ids.is_empty() => permute(view, &ids),
        _ => ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_map_both_ways() {
        let view = vec![2, 0, 3, 1];
        assert_eq!(
            permute(&view, &["a", "b", "c", "d"]),
            vec!["c", "a", "d", "b"]
        );
        assert_eq!(to_view(&view, &[0, 3]), vec![1, 2]);
        assert_eq!(from_view(&view, &[2, 1]), Some(vec![0, 3]));
        assert_eq!(from_view(&view, &[4]), None);
    }

    #[test]
    fn the_option_reads_booleans_and_names() {
        use serde_json::json;
        assert_eq!(Shuffle::from_option(&json!(true)), Some(Shuffle::Room));
        assert_eq!(Shuffle::from_option(&json!(false)), Some(Shuffle::Off));
        assert_eq!(
            Shuffle::from_option(&json!("player")),
            Some(Shuffle::Player)
        );
        assert_eq!(Shuffle::from_option(&json!("sideways")), None);
    }
}
