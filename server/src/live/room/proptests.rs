//! Property tests of the room's invariants over random command sequences:
//! one counted answer per player per question, exactly one floor holder,
//! scores equal to the sum of credited points, and nothing secret reaching
//! a player or a screen before the reveal.

use proptest::prelude::*;

use crate::bank::Kind;
use crate::protocol::{ClientMsg, Mode, PlayerId, ServerMsg};

use super::tests::{choice_q, join_msg, multi_q, open_q, question, resume_msg, Harness};
use super::*;

#[derive(Debug, Clone)]
enum Op {
    Join,
    Drop(usize),
    Resume(usize),
    Ask(u8, Option<u64>),
    Vote(usize, Vec<usize>),
    Buzz(usize),
    Answer(usize, u8),
    Judge(bool),
    Mark(usize, bool),
    PeerVote,
    Close,
    Reveal,
    Scores,
    Pause(bool),
    Kick(usize),
    Advance(u64),
    Restart,
    /// Ends the game only when the value is 0, so most games run long.
    End(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Join),
        1 => (0..8usize).prop_map(Op::Drop),
        1 => (0..8usize).prop_map(Op::Resume),
        2 => (0..5u8, prop::option::of(1_000..30_000u64)).prop_map(|(m, t)| Op::Ask(m, t)),
        6 => (0..8usize, prop::collection::vec(0..4usize, 0..3)).prop_map(|(p, c)| Op::Vote(p, c)),
        3 => (0..8usize).prop_map(Op::Buzz),
        3 => (0..8usize, 0..3u8).prop_map(|(p, t)| Op::Answer(p, t)),
        2 => any::<bool>().prop_map(Op::Judge),
        1 => (0..8usize, any::<bool>()).prop_map(|(p, c)| Op::Mark(p, c)),
        1 => Just(Op::PeerVote),
        1 => Just(Op::Close),
        2 => Just(Op::Reveal),
        1 => Just(Op::Scores),
        1 => any::<bool>().prop_map(Op::Pause),
        1 => (0..8usize).prop_map(Op::Kick),
        2 => (0..15_000u64).prop_map(Op::Advance),
        1 => Just(Op::Restart),
        1 => (0..8u8).prop_map(Op::End),
    ]
}

struct Sim {
    h: Harness,
    players: Vec<(ConnId, PlayerId, String)>,
    /// Finished questions a store would hold, by index (see `snapshot.rs`).
    stored: Vec<String>,
}

/// Takes a checkpoint the way the store writes it (finished questions once
/// each, upserted by index) and reads it back the way a restore does.
fn checkpoint_roundtrip(room: &mut Room, stored: &mut Vec<String>) -> serde_json::Value {
    let parts = room.snapshot_parts().expect("snapshot serializes");
    for (i, json) in parts.frozen {
        if stored.len() <= i {
            stored.resize(i + 1, String::new());
        }
        stored[i] = json;
    }
    room.frozen_stored(parts.frozen_upto);
    let mut snap: serde_json::Value = serde_json::from_str(&parts.json).expect("head parses");
    let n = snap[crate::storage::store::FROZEN_FIELD]
        .as_u64()
        .expect("frozen count") as usize;
    let frozen = stored[..n]
        .iter()
        .map(|j| serde_json::from_str(j).expect("question parses"))
        .collect();
    crate::storage::store::splice_frozen(&mut snap, frozen).expect("splices");
    snap
}

impl Sim {
    fn run(&mut self, op: &Op) -> Vec<Effect> {
        let seats = self.players.clone();
        let player = |i: usize| seats.get(i.checked_rem(seats.len())?).cloned();
        let h = &mut self.h;
        let qid = h.qid();
        match op.clone() {
            Op::Join => {
                let conn = h.conn();
                let name = format!("p{}", self.players.len());
                let fx = h.hello(conn, join_msg(&name));
                if let Some((_, Some(id), Some(token))) = super::tests::welcome(&fx) {
                    self.players.push((conn, id, token));
                }
                fx
            }
            Op::Drop(i) => match player(i) {
                Some((conn, _, _)) => h.room.apply(Command::Disconnected { conn }, h.now),
                None => Vec::new(),
            },
            Op::Resume(i) => match player(i) {
                Some((_, id, token)) => {
                    let conn = h.conn();
                    let fx = h.hello(conn, resume_msg(&token));
                    if super::tests::welcome(&fx).is_some() {
                        if let Some(p) = self.players.iter_mut().find(|p| p.1 == id) {
                            p.0 = conn;
                        }
                    }
                    fx
                }
                None => Vec::new(),
            },
            Op::Ask(m, limit) => {
                let n = h.room.d.asked.len();
                let id = format!("q{n}");
                let (q, mode) = match m {
                    0 => (choice_q(&id), Mode::Vote),
                    1 => (multi_q(&id), Mode::Vote),
                    2 => (
                        question(&id, Kind::Choice, &[("x", false), ("y", false)]),
                        Mode::Poll,
                    ),
                    3 => (open_q(&id), Mode::Buzz),
                    4 => (open_q(&id), Mode::Text),
                    _ => (open_q(&id), Mode::SelfAssess),
                };
                h.ask(q, mode, limit)
            }
            Op::Vote(i, choices) => match player(i) {
                Some((conn, _, _)) => {
                    let msg = if choices.len() == 1 {
                        ClientMsg::Vote {
                            qid,
                            choice: choices.first().copied(),
                            choices: None,
                        }
                    } else {
                        ClientMsg::Vote {
                            qid,
                            choice: None,
                            choices: Some(choices),
                        }
                    };
                    h.send(conn, msg)
                }
                None => Vec::new(),
            },
            Op::Buzz(i) => match player(i) {
                Some((conn, _, _)) => h.buzz(conn),
                None => Vec::new(),
            },
            Op::Answer(i, t) => match player(i) {
                Some((conn, id, _)) => h.answer(conn, &format!("TYPED-{}-{t}", id.0 * 7)),
                None => Vec::new(),
            },
            Op::Judge(correct) => {
                let floor = h
                    .room
                    .d
                    .current()
                    .and_then(|q| q.floor)
                    .unwrap_or(PlayerId(1));
                h.host_cmd(ClientMsg::Judge {
                    player_id: floor,
                    correct,
                })
            }
            Op::Mark(i, correct) => match player(i) {
                Some((_, id, _)) => h.host_cmd(ClientMsg::Mark {
                    player_id: id,
                    correct,
                }),
                None => Vec::new(),
            },
            Op::PeerVote => h.host_cmd(ClientMsg::PeerVote {
                time_limit_ms: None,
            }),
            Op::Close => h.host_cmd(ClientMsg::Close),
            Op::Reveal => h.host_cmd(ClientMsg::Reveal),
            Op::Scores => h.host_cmd(ClientMsg::ShowScores),
            Op::Pause(p) => h.host_cmd(ClientMsg::Pause { paused: p }),
            Op::Kick(i) => match player(i) {
                Some((_, id, _)) => h.host_cmd(ClientMsg::Kick { player_id: id }),
                None => Vec::new(),
            },
            Op::Advance(ms) => h.advance(ms),
            Op::Restart => {
                let snap = checkpoint_roundtrip(&mut h.room, &mut self.stored);
                let catalog = std::sync::Arc::new(crate::bank::catalog::Catalog::default());
                let Ok(room) = Room::restore(snap, catalog) else {
                    return Vec::new();
                };
                h.room = room;
                let host = h.host;
                h.hello(
                    host,
                    ClientMsg::Host {
                        room: "ABCDEF".into(),
                        token: super::tests::TOKEN.into(),
                    },
                )
            }
            Op::End(0) => h.host_cmd(ClientMsg::End),
            Op::End(_) => Vec::new(),
        }
    }
}

/// One counted answer per player per question: counts and `answered`
/// always agree with the per-player entries.
fn check_counts(room: &Room) -> Result<(), TestCaseError> {
    for q in &room.d.asked {
        let inputs = q
            .entries
            .values()
            .filter(|e| e.choices.is_some() || e.text.is_some() || e.buzzed)
            .count();
        prop_assert_eq!(q.answered as usize, inputs, "answered of q{}", q.qid);
        let chosen: usize = q
            .entries
            .values()
            .filter_map(|e| e.choices.as_ref())
            .map(Vec::len)
            .sum();
        prop_assert_eq!(q.counts.iter().map(|c| *c as usize).sum::<usize>(), chosen);
        if !q.multi {
            prop_assert!(q
                .entries
                .values()
                .filter_map(|e| e.choices.as_ref())
                .all(|c| c.len() == 1));
        }
        prop_assert_eq!(
            q.queue
                .iter()
                .filter(|(id, _)| q.entries.get(id).is_some_and(|e| e.buzzed))
                .count(),
            q.queue.len()
        );
        let mut seen = std::collections::HashSet::new();
        prop_assert!(
            q.queue.iter().all(|(id, _)| seen.insert(*id)),
            "a player queued twice"
        );
        if let Some(peer) = &q.peer {
            let voted = q
                .entries
                .values()
                .filter(|e| e.peer_choice.is_some())
                .count();
            prop_assert_eq!(peer.voted as usize, voted);
            prop_assert_eq!(
                peer.counts.iter().map(|c| *c as usize).sum::<usize>(),
                voted
            );
        }
    }
    Ok(())
}

/// Exactly one floor holder: while buzzers are open, the floor is the first
/// queued player not yet ruled on, and nobody else (nobody while a
/// collection window is open).
fn check_floor(room: &Room) -> Result<(), TestCaseError> {
    let Some(q) = room.d.current().filter(|q| q.mode == Mode::Buzz) else {
        return Ok(());
    };
    let first_unruled = q
        .queue
        .iter()
        .map(|(id, _)| *id)
        .find(|id| q.entries.get(id).is_some_and(|e| e.ruled.is_none()));
    if let Some(f) = q.floor {
        prop_assert_eq!(Some(f), first_unruled);
        prop_assert!(room.d.player(f).is_some_and(|p| !p.kicked));
    } else if q.open && q.window_until.is_none() {
        prop_assert_eq!(first_unruled, None);
    }
    Ok(())
}

/// The socket indexes agree: every identified socket is exactly one of
/// host, screen or the one socket of a connected seat.
fn check_sockets(room: &Room) -> Result<(), TestCaseError> {
    let live = &room.live;
    let mut all: Vec<ConnId> = live.conns.keys().copied().collect();
    let mut parts: Vec<ConnId> = live
        .hosts
        .iter()
        .chain(&live.screens)
        .chain(live.player_conn.values())
        .copied()
        .collect();
    all.sort_unstable();
    parts.sort_unstable();
    prop_assert_eq!(all, parts);
    prop_assert_eq!(live.connected, live.player_conn.len());
    for (id, conn) in &live.player_conn {
        prop_assert_eq!(live.conns.get(conn), Some(&Who::Player(*id)));
        prop_assert!(room.d.player(*id).is_some_and(|p| p.connected && !p.kicked));
    }
    prop_assert_eq!(
        room.d.players.iter().filter(|p| p.connected).count(),
        live.connected
    );
    prop_assert_eq!(
        room.d.players.iter().filter(|p| !p.kicked).count(),
        live.seated
    );
    Ok(())
}

/// A score is exactly the sum of the points credited on questions.
fn check_scores(room: &Room) -> Result<(), TestCaseError> {
    for p in &room.d.players {
        let sum: i64 = room
            .d
            .asked
            .iter()
            .filter_map(|q| q.points.get(&p.id))
            .sum();
        prop_assert_eq!(p.score, sum, "score of player {}", p.id);
    }
    prop_assert_eq!(
        &room.live.ranking,
        &super::scoring::Ranking::of(&room.d.players)
    );
    Ok(())
}

/// Nothing secret goes to a player or a screen: no key, answer, notes or
/// follow-ups before the reveal, no other player's typed answer except as
/// an anonymized peer-vote option.
fn check_privacy(room: &Room, fx: &[Effect], host: ConnId) -> Result<(), TestCaseError> {
    let revealed = room.d.current().is_some_and(|q| q.revealed);
    for e in fx {
        let Effect::Send { to, msg } = e else {
            continue;
        };
        let to_others = match to {
            Audience::Host => false,
            Audience::Conn(c) => *c != host && room.role_of(*c).is_some(),
            _ => true,
        };
        if !to_others {
            continue;
        }
        let json = serde_json::to_string(&**msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(
            !json.contains("SECRET-NOTE") && !json.contains("SECRET-FOLLOWUP"),
            "{}",
            json
        );
        match &**msg {
            ServerMsg::Reveal { .. } => prop_assert!(revealed),
            ServerMsg::Question(q) => {
                prop_assert!(q.correct.is_none() && q.answer.is_none() && q.notes.is_none());
                prop_assert!(!json.contains("SECRET"), "{}", json);
                if q.phase.as_deref() != Some("peer_vote") {
                    prop_assert!(!json.contains("TYPED-"), "{}", json);
                }
            }
            ServerMsg::You(y) => prop_assert!(y.correct.is_none() || revealed, "{}", json),
            ServerMsg::Welcome { state, .. } => {
                let s = state.to_string();
                prop_assert!(!s.contains("SECRET-NOTE") && !s.contains("SECRET-FOLLOWUP"));
                if !revealed {
                    prop_assert!(!s.contains("SECRET-ANSWER"), "{}", s);
                    prop_assert!(state["question"].get("correct").is_none());
                    prop_assert!(state.get("answers").is_none());
                }
            }
            _ => {
                prop_assert!(!json.contains("SECRET"), "{}", json);
                prop_assert!(!json.contains("TYPED-"), "{}", json);
                prop_assert!(!json.contains("\"correct\""), "{}", json);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_games(
        private in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut sim = Sim {
            h: Harness::new(RoomOptions { private, capacity: 6, ..RoomOptions::default() }),
            players: Vec::new(),
            stored: Vec::new(),
        };
        for op in &ops {
            let fx = sim.run(op);
            // An incremental checkpoint reads back as the full snapshot.
            if fx.iter().any(|e| matches!(e, Effect::Checkpoint | Effect::Ended)) {
                let back = checkpoint_roundtrip(&mut sim.h.room, &mut sim.stored);
                prop_assert_eq!(back, sim.h.room.snapshot());
            }
            check_counts(&sim.h.room)?;
            check_floor(&sim.h.room)?;
            check_scores(&sim.h.room)?;
            check_sockets(&sim.h.room)?;
            check_privacy(&sim.h.room, &fx, sim.h.host)?;
        }
        // The snapshot round-trips the durable state.
        let snap = sim.h.room.snapshot();
        let back = Room::restore(snap.clone(), std::sync::Arc::new(crate::bank::catalog::Catalog::default()));
        prop_assert!(back.is_ok());
        if let Ok(back) = back {
            check_scores(&back)?;
            check_counts(&back)?;
        }
    }

    #[test]
    fn buzzes_in_any_order_give_one_floor_in_arrival_order(order in Just((0..20usize).collect::<Vec<_>>()).prop_shuffle()) {
        let mut h = Harness::public();
        let players: Vec<_> = (0..20).map(|i| h.join(&format!("p{i}"))).collect();
        h.ask(open_q("b"), Mode::Buzz, None);
        for &i in &order {
            h.buzz(players[i].0);
            h.buzz(players[i].0);
        }
        let q = h.room.d.current().cloned().expect("question");
        let queued: Vec<PlayerId> = q.queue.iter().map(|e| e.0).collect();
        let expected: Vec<PlayerId> = order.iter().map(|&i| players[i].1).collect();
        prop_assert_eq!(queued, expected);
        prop_assert_eq!(q.floor, Some(players[order[0]].1));
    }
}
