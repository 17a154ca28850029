//! The `state` of a `welcome`: a full snapshot for a newcomer, filtered by
//! role exactly as the live messages are (see docs/protocol.md).

use serde_json::{json, Value};

use crate::protocol::{Millis, ServerMsg};

use super::question::question_msg;
use super::{Room, Who};

impl Room {
    /// The room as `who` may see it at `now`.
    pub(super) fn state_for(&self, who: Who, now: Millis) -> Value {
        let host = matches!(who, Who::Host | Who::Interviewer(_));
        let private = self.d.options.private;
        let q = self.d.current();
        // A player in a per-player shuffled room sees its own order.
        let view = match who {
            Who::Player(id) => q.and_then(|q| super::order::player_view(q, id)),
            _ => None,
        };
        let view = view.as_deref();
        let mut state = json!({
            "code": self.d.code,
            "title": self.d.options.title,
            "private": private,
            "locked": self.d.locked,
            "ended": self.d.ended,
            "player_count": self.live.seated,
            "connected": self.live.connected,
            "question": q.map(|q| question_msg(q, host, view, now)),
        });
        let Some(obj) = state.as_object_mut() else {
            return state;
        };
        let to_value = |m: &ServerMsg| serde_json::to_value(m).unwrap_or(Value::Null);

        let reveal = q.filter(|q| q.revealed).map(|q| {
            let (correct, counts) = match &q.peer {
                Some(peer) => (super::scoring::peer_winners(peer), peer.counts.clone()),
                None => (q.key.clone(), q.counts.clone()),
            };
            let show_points = host || self.lists_public();
            let show_counts = host || !private || who == Who::Screen;
            let (correct, counts) = match view {
                Some(view) => (
                    super::order::to_view(view, &correct),
                    super::order::permute(view, &counts),
                ),
                None => (correct, counts),
            };
            // Who was right, as the live reveal named them: all to the
            // host, the fastest few to a screen, none to players or in a
            // private room's screens.
            let right = self.right_answers(q);
            let right = match who {
                Who::Host | Who::Interviewer(_) => right,
                Who::Screen if !private => right
                    .into_iter()
                    .take(super::question::SCREEN_RIGHT_NAMES)
                    .collect(),
                _ => Vec::new(),
            };
            let mut reveal = json!({
                "type": "reveal",
                "qid": q.qid,
                "correct": correct,
                "counts": if show_counts { counts } else { Vec::new() },
                "points": if show_points { json!(q.points) } else { json!({}) },
                "answer": (!q.question.answer.is_empty()).then(|| q.question.answer.clone()),
            });
            if let Some(obj) = reveal.as_object_mut() {
                if !right.is_empty() {
                    obj.insert("right".into(), json!(right));
                }
                let ids = super::order::bank_ids_in(q, view);
                if !ids.is_empty() {
                    obj.insert("option_ids".into(), json!(ids));
                }
            }
            reveal
        });
        obj.insert("reveal".into(), reveal.unwrap_or(Value::Null));

        let tally_visible = match who {
            Who::Host | Who::Interviewer(_) | Who::Screen => true,
            Who::Player(_) => {
                !private
                    && q.is_some_and(|q| q.mode == crate::protocol::Mode::Poll && q.peer.is_none())
            }
        };
        let tally = self.tally_msg(host, view).filter(|_| tally_visible);
        obj.insert(
            "tally".into(),
            tally.as_ref().map(to_value).unwrap_or(Value::Null),
        );

        let buzz = self.buzz_queue_msgs().map(|(host_copy, full, hidden)| {
            if host {
                return to_value(&host_copy);
            }
            if !private {
                return to_value(&full);
            }
            match who {
                Who::Player(id) => super::buzz::own_queue(&full, id)
                    .map_or_else(|| to_value(&hidden), |own| to_value(&own)),
                _ => to_value(&hidden),
            }
        });
        obj.insert("buzz_queue".into(), buzz.unwrap_or(Value::Null));

        let lists = host || (who == Who::Screen && !private) || self.lists_public();
        if lists {
            obj.insert("roster".into(), json!(self.roster()));
        }
        let ranking = &self.live.ranking;
        if host || !private {
            let limit = if host || self.lists_public() {
                usize::MAX
            } else {
                10
            };
            obj.insert(
                "leaderboard".into(),
                json!(ranking.rows(&self.d.players, limit)),
            );
        }

        if host {
            let answers: Vec<Value> = q
                .map(|q| {
                    q.entries
                        .iter()
                        .filter_map(|(id, e)| {
                            let text = e.text.as_ref()?;
                            let name = self.d.player(*id).map(|p| p.name.clone());
                            Some(json!({"player_id": id, "name": name, "text": text, "correct": e.mark}))
                        })
                        .collect()
                })
                .unwrap_or_default();
            obj.insert("answers".into(), Value::Array(answers));
            obj.insert("knowledge".into(), json!(self.knowledge()));
        }

        if let Who::Player(id) = who {
            let revealed = q.filter(|q| q.revealed);
            let you = self.you_msg(id, revealed, ranking);
            obj.insert("you".into(), json!(you));
            let entry = q.and_then(|q| q.entries.get(&id));
            obj.insert(
                "pending".into(),
                json!({
                    "buzzed": entry.is_some_and(|e| e.buzzed),
                    "choices": entry.and_then(|e| e.choices.clone()).map(|c| match view {
                        Some(view) => super::order::to_view(view, &c),
                        None => c,
                    }),
                    "text": entry.and_then(|e| e.text.clone()),
                    "peer_choice": entry.and_then(|e| e.peer_choice),
                }),
            );
        }
        state
    }
}
