//! Unit tests of the room state machine: no sockets, an injected clock.

use std::sync::Arc;

use crate::bank::catalog::{Catalog, CatalogQuestion};
use crate::bank::{AnswerOption, Kind, Question};
use crate::protocol::{ClientMsg, Millis, Mode, PlayerId, ServerMsg};

use super::question::AskParams;
use super::*;

pub(super) fn question(id: &str, kind: Kind, options: &[(&str, bool)]) -> Arc<CatalogQuestion> {
    Arc::new(CatalogQuestion {
        question: Question {
            id: id.to_string(),
            prompt: format!("prompt of {id}"),
            kind,
            options: options
                .iter()
                .map(|(t, c)| AnswerOption {
                    text: t.to_string(),
                    correct: *c,
                    weight: None,
                })
                .collect(),
            answer: format!("SECRET-ANSWER-{id}"),
            followups: vec![format!("SECRET-FOLLOWUP-{id}")],
            notes: vec![format!("SECRET-NOTE-{id}")],
            line: 1,
            points: Default::default(),
            mode: None,
            time_limit_ms: None,
        },
        topic_path: vec!["Topic".into(), id.to_string()],
        topic_id: format!("topic-{id}"),
        topic_ids: vec![format!("topic-{id}")],
        sources: Vec::new(),
        edited: false,
    })
}

pub(super) fn choice_q(id: &str) -> Arc<CatalogQuestion> {
    question(
        id,
        Kind::Choice,
        &[("alpha", false), ("beta", true), ("gamma", false)],
    )
}

pub(super) fn multi_q(id: &str) -> Arc<CatalogQuestion> {
    question(id, Kind::Multi, &[("a", true), ("b", false), ("c", true)])
}

pub(super) fn open_q(id: &str) -> Arc<CatalogQuestion> {
    question(id, Kind::Open, &[])
}

/// A room with an injected clock and helpers that speak the protocol.
pub(super) struct Harness {
    pub room: Room,
    pub now: Millis,
    next_conn: ConnId,
    pub host: ConnId,
}

pub(super) const TOKEN: &str = "0123456789abcdef0123456789abcdef";

impl Harness {
    pub fn new(options: RoomOptions) -> Harness {
        let room = Room::new(
            "ABCDEF".into(),
            TOKEN.into(),
            options,
            Arc::new(Catalog::from_banks(Vec::new())),
            7,
        );
        let mut h = Harness {
            room,
            now: 1_000_000,
            next_conn: 1,
            host: 0,
        };
        let host = h.conn();
        let fx = h.hello(
            host,
            ClientMsg::Host {
                room: "abcdef".into(),
                token: TOKEN.into(),
            },
        );
        assert!(matches!(welcome(&fx), Some((Role::Host, _, _))), "{fx:?}");
        h.host = host;
        h
    }

    pub fn public() -> Harness {
        Harness::new(RoomOptions::default())
    }

    /// A public room that keeps the bank's option order, for rules that
    /// name option indices (counts, records, keys) rather than ordering.
    pub fn bank_order() -> Harness {
        Harness::new(RoomOptions {
            shuffle_options: Shuffle::Off,
            ..RoomOptions::default()
        })
    }

    pub fn conn(&mut self) -> ConnId {
        self.next_conn += 1;
        self.next_conn
    }

    pub fn hello(&mut self, conn: ConnId, msg: ClientMsg) -> Vec<Effect> {
        self.room.apply(Command::Hello { conn, msg }, self.now)
    }

    pub fn send(&mut self, conn: ConnId, msg: ClientMsg) -> Vec<Effect> {
        self.room.apply(Command::Message { conn, msg }, self.now)
    }

    pub fn host_cmd(&mut self, msg: ClientMsg) -> Vec<Effect> {
        let host = self.host;
        self.send(host, msg)
    }

    pub fn tick(&mut self) -> Vec<Effect> {
        self.room.apply(Command::Tick, self.now)
    }

    pub fn advance(&mut self, ms: u64) -> Vec<Effect> {
        self.now += ms;
        self.tick()
    }

    /// Joins a player; returns its socket, id and resume token.
    pub fn join(&mut self, name: &str) -> (ConnId, PlayerId, String) {
        let conn = self.conn();
        let fx = self.hello(conn, join_msg(name));
        let Some((Role::Player, Some(id), Some(token))) = welcome(&fx) else {
            panic!("join {name} failed: {fx:?}");
        };
        (conn, id, token)
    }

    pub fn screen(&mut self) -> ConnId {
        let conn = self.conn();
        let fx = self.hello(
            conn,
            ClientMsg::Screen {
                room: "ABCDEF".into(),
            },
        );
        assert!(matches!(welcome(&fx), Some((Role::Screen, _, _))));
        conn
    }

    pub fn ask(&mut self, q: Arc<CatalogQuestion>, mode: Mode, limit: Option<u64>) -> Vec<Effect> {
        let params = AskParams {
            mode,
            topics: Vec::new(),
            time_limit_ms: limit,
            kinds: None,
            penalty: None,
        };
        let mut out = Out::default();
        self.room.settle_restore(self.now);
        let r = self.room.open_question(q, &params, self.now, &mut out);
        assert_eq!(r, Ok(()), "ask failed");
        out.0
    }

    pub fn ask_with(
        &mut self,
        q: Arc<CatalogQuestion>,
        params: AskParams,
    ) -> Result<Vec<Effect>, RoomError> {
        let mut out = Out::default();
        self.room.open_question(q, &params, self.now, &mut out)?;
        Ok(out.0)
    }

    pub fn qid(&self) -> u32 {
        self.room.d.current().map(|q| q.qid).unwrap_or(0)
    }

    /// Votes for the option at `bank` in the bank (as a person picks an
    /// option by its text): sends the position it is shown at to `conn`.
    pub fn vote(&mut self, conn: ConnId, bank: usize) -> Vec<Effect> {
        let qid = self.qid();
        let choice = self.shown_at(conn, bank);
        self.send(
            conn,
            ClientMsg::Vote {
                qid,
                choice: Some(choice),
                choices: None,
            },
        )
    }

    /// Where `conn` is shown the bank's option `bank` of the current question.
    pub fn shown_at(&self, conn: ConnId, bank: usize) -> usize {
        let Some(q) = self.room.d.current() else {
            return bank;
        };
        if q.peer.is_some() || !matches!(q.mode, Mode::Vote | Mode::Poll) {
            return bank;
        }
        let room = q.order.iter().position(|&b| b == bank).unwrap_or(bank);
        let view = self
            .room
            .player_of(conn)
            .and_then(|id| order::player_view(q, id));
        match view {
            Some(view) => view.iter().position(|&r| r == room).unwrap_or(room),
            None => room,
        }
    }

    pub fn buzz(&mut self, conn: ConnId) -> Vec<Effect> {
        let qid = self.qid();
        self.send(
            conn,
            ClientMsg::Buzz {
                qid,
                pressed_ms: None,
                timing: None,
            },
        )
    }

    pub fn answer(&mut self, conn: ConnId, text: &str) -> Vec<Effect> {
        let qid = self.qid();
        self.send(
            conn,
            ClientMsg::Answer {
                qid,
                text: text.into(),
            },
        )
    }

    pub fn score(&self, id: PlayerId) -> i64 {
        self.room.d.player(id).map(|p| p.score).unwrap_or(i64::MIN)
    }
}

pub(super) fn join_msg(name: &str) -> ClientMsg {
    ClientMsg::Join {
        room: "ABCDEF".into(),
        name: name.into(),
        resume_token: None,
        sync: false,
    }
}

pub(super) fn resume_msg(token: &str) -> ClientMsg {
    ClientMsg::Resume {
        room: "ABCDEF".into(),
        resume_token: token.into(),
        sync: false,
    }
}

/// The welcome in `fx`, if any: role, player id, resume token.
pub(super) fn welcome(fx: &[Effect]) -> Option<(Role, Option<PlayerId>, Option<String>)> {
    fx.iter().find_map(|e| match e {
        Effect::Send { msg, .. } => match &**msg {
            ServerMsg::Welcome {
                role,
                player_id,
                resume_token,
                ..
            } => Some((*role, *player_id, resume_token.clone())),
            _ => None,
        },
        _ => None,
    })
}

pub(super) fn welcome_state(fx: &[Effect]) -> serde_json::Value {
    fx.iter()
        .find_map(|e| match e {
            Effect::Send { msg, .. } => match &**msg {
                ServerMsg::Welcome { state, .. } => Some(state.clone()),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or(serde_json::Value::Null)
}

/// Error codes in `fx`.
pub(super) fn errors(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } => match &**msg {
                ServerMsg::Error { code, .. } => Some(code.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Messages sent to exactly `to`.
pub(super) fn sent_to(fx: &[Effect], to: &Audience) -> Vec<ServerMsg> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { to: t, msg } if t == to => Some((**msg).clone()),
            _ => None,
        })
        .collect()
}

/// Every message `conn` receives from `fx`, resolving audiences now.
pub(super) fn received(room: &Room, fx: &[Effect], conn: ConnId) -> Vec<ServerMsg> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } if room.recipients(to).contains(&conn) => {
                Some((**msg).clone())
            }
            _ => None,
        })
        .collect()
}

pub(super) fn has_ack(fx: &[Effect], conn: ConnId) -> bool {
    sent_to(fx, &Audience::Conn(conn))
        .iter()
        .any(|m| matches!(m, ServerMsg::Ack { .. }))
}

fn reveal_of(fx: &[Effect], to: &Audience) -> Option<ServerMsg> {
    sent_to(fx, to)
        .into_iter()
        .find(|m| matches!(m, ServerMsg::Reveal { .. }))
}

// --- identification ----------------------------------------------------------

#[test]
fn host_needs_the_right_token() {
    let mut h = Harness::public();
    let c = h.conn();
    let fx = h.hello(
        c,
        ClientMsg::Host {
            room: "ABCDEF".into(),
            token: "nope".into(),
        },
    );
    assert_eq!(errors(&fx), ["bad_token"]);
    assert_eq!(h.room.role_of(c), None);
    let fx = h.hello(
        c,
        ClientMsg::Host {
            room: "ABCDEF".into(),
            token: TOKEN.into(),
        },
    );
    assert!(matches!(welcome(&fx), Some((Role::Host, None, None))));
    assert_eq!(h.room.role_of(c), Some(Role::Host));
    assert!(h.room.host_connected());
    let fx = h.hello(
        c,
        ClientMsg::Screen {
            room: "ABCDEF".into(),
        },
    );
    assert_eq!(errors(&fx), ["already_identified"]);
}

#[test]
fn wrong_room_code_and_unidentified_messages_are_refused() {
    let mut h = Harness::public();
    let c = h.conn();
    let fx = h.hello(
        c,
        ClientMsg::Screen {
            room: "ZZZZZZ".into(),
        },
    );
    assert_eq!(errors(&fx), ["no_room"]);
    let fx = h.send(c, ClientMsg::Close);
    assert_eq!(errors(&fx), ["not_identified"]);
}

#[test]
fn host_disconnect_tracks_last_seen() {
    let mut h = Harness::public();
    h.now += 5000;
    let host = h.host;
    h.room.apply(Command::Disconnected { conn: host }, h.now);
    assert!(!h.room.host_connected());
    assert_eq!(h.room.last_host_seen(), h.now);
}

#[test]
fn nicknames_are_cleaned_and_unique_case_insensitively() {
    let mut h = Harness::public();
    let (_, _, _) = h.join("  Ann\u{200B} ");
    let c = h.conn();
    assert_eq!(errors(&h.hello(c, join_msg("ANN"))), ["name_taken"]);
    assert_eq!(
        errors(&h.hello(c, join_msg("\u{200B} \u{FEFF}"))),
        ["bad_name"]
    );
    assert_eq!(errors(&h.hello(c, join_msg(&"x".repeat(25)))), ["bad_name"]);
    let fx = h.hello(c, join_msg("Bob"));
    assert!(welcome(&fx).is_some());
    let roster = h.room.roster();
    assert_eq!(roster[0].name, "Ann");
    assert_eq!(roster.len(), 2);
}

#[test]
fn locked_and_full_rooms_refuse_joins_but_allow_resume() {
    let mut h = Harness::new(RoomOptions {
        capacity: 2,
        ..RoomOptions::default()
    });
    let (c1, id1, t1) = h.join("a");
    h.join("b");
    let c = h.conn();
    assert_eq!(errors(&h.hello(c, join_msg("c"))), ["room_full"]);
    let fx = h.host_cmd(ClientMsg::Lock { locked: true });
    assert_eq!(
        sent_to(&fx, &Audience::Host),
        [ServerMsg::Locked { locked: true }]
    );
    assert_eq!(errors(&h.hello(c, join_msg("c"))), ["room_locked"]);
    h.room.apply(Command::Disconnected { conn: c1 }, h.now);
    let fx = h.hello(c, resume_msg(&t1));
    assert_eq!(welcome(&fx).and_then(|w| w.1), Some(id1));
    h.host_cmd(ClientMsg::Lock { locked: false });
    let c = h.conn();
    assert_eq!(errors(&h.hello(c, join_msg("c"))), ["room_full"]);
}

#[test]
fn expired_seats_free_capacity() {
    let mut h = Harness::new(RoomOptions {
        capacity: 1,
        resume_window_ms: 120_000,
        ..RoomOptions::default()
    });
    let (c1, _, _) = h.join("a");
    h.room.apply(Command::Disconnected { conn: c1 }, h.now);
    let c = h.conn();
    assert_eq!(errors(&h.hello(c, join_msg("b"))), ["room_full"]);
    h.now += 120_001;
    assert!(welcome(&h.hello(c, join_msg("b"))).is_some());
}

#[test]
fn resume_restores_seat_score_and_pending_vote() {
    let mut h = Harness::bank_order();
    let (c1, id, token) = h.join("ann");
    h.ask(choice_q("q1"), Mode::Vote, None);
    h.vote(c1, 1);
    h.host_cmd(ClientMsg::Reveal);
    let score = h.score(id);
    assert_eq!(score, 1000);
    h.ask(choice_q("q2"), Mode::Vote, Some(20_000));
    h.vote(c1, 2);
    h.room.apply(Command::Disconnected { conn: c1 }, h.now);
    h.now += 119_000;
    let c2 = h.conn();
    let fx = h.hello(c2, resume_msg(&token));
    let Some((Role::Player, Some(again), Some(t2))) = welcome(&fx) else {
        panic!("{fx:?}")
    };
    assert_eq!(again, id);
    assert_eq!(t2, token);
    let state = welcome_state(&fx);
    assert_eq!(state["you"]["score"], 1000);
    assert_eq!(state["you"]["name"], "ann");
    assert_eq!(state["question"]["qid"], 2);
    assert_eq!(state["pending"]["choices"], serde_json::json!([2]));
    assert_eq!(h.room.player_count(), 1);
    // The resumed socket still counts only once.
    let fx = h.vote(c2, 1);
    assert!(has_ack(&fx, c2));
    assert_eq!(h.room.d.current().map(|q| q.answered), Some(1));
}

#[test]
fn resume_on_a_new_socket_replaces_the_old_one() {
    let mut h = Harness::public();
    let (c1, id, token) = h.join("ann");
    let c2 = h.conn();
    let fx = h.hello(c2, resume_msg(&token));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Close { conn, code: CLOSE_REPLACED, .. } if *conn == c1)));
    assert_eq!(h.room.role_of(c1), None);
    assert_eq!(h.room.recipients(&Audience::Player(id)), vec![c2]);
    assert_eq!(h.room.connected_count(), 1);
}

#[test]
fn stale_or_foreign_tokens_get_seat_expired() {
    let mut h = Harness::new(RoomOptions {
        resume_window_ms: 120_000,
        ..RoomOptions::default()
    });
    let (c1, _, token) = h.join("ann");
    h.room.apply(Command::Disconnected { conn: c1 }, h.now);
    h.now += 120_001;
    let c = h.conn();
    assert_eq!(errors(&h.hello(c, resume_msg(&token))), ["seat_expired"]);
    assert_eq!(
        errors(&h.hello(c, resume_msg("ffffffffffffffffffffffffffffffff"))),
        ["seat_expired"]
    );
    assert_eq!(h.room.player_count(), 1);
    assert_eq!(h.room.role_of(c), None);
}

fn restored_resume(mut room: Room, token: &str) -> Vec<Effect> {
    room.apply(
        Command::Hello {
            conn: 1000,
            msg: resume_msg(token),
        },
        5_000_000,
    )
}

#[test]
fn kicked_player_is_closed_and_cannot_come_back() {
    let mut h = Harness::public();
    let (c1, id, token) = h.join("ann");
    let fx = h.host_cmd(ClientMsg::Kick { player_id: id });
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Close { conn, code: CLOSE_KICKED, .. } if *conn == c1)));
    assert_eq!(h.room.player_count(), 0);
    assert!(fx.iter().any(|e| matches!(e, Effect::Checkpoint)));
    let restored = Room::restore(h.room.snapshot(), Arc::new(Catalog::default())).expect("restore");
    let fx = restored_resume(restored, &token);
    assert_eq!(errors(&fx), ["kicked"]);
    let c = h.conn();
    let fx = h.hello(c, resume_msg(&token));
    assert_eq!(errors(&fx), ["kicked"]);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Close {
            code: CLOSE_KICKED,
            ..
        }
    )));
    let c = h.conn();
    let fx = h.hello(
        c,
        ClientMsg::Join {
            room: "ABCDEF".into(),
            name: "totally new".into(),
            resume_token: Some(token),
            sync: false,
        },
    );
    assert_eq!(errors(&fx), ["kicked"]);
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Kick { player_id: id })),
        ["unknown_player"]
    );
    assert!(h.room.roster().is_empty());
}

#[test]
fn players_and_screens_cannot_send_host_commands() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("ann");
    let s = h.screen();
    for cmd in [
        ClientMsg::Close,
        ClientMsg::Reveal,
        ClientMsg::End,
        ClientMsg::Lock { locked: true },
        ClientMsg::Kick {
            player_id: PlayerId(1),
        },
    ] {
        assert_eq!(errors(&h.send(c1, cmd.clone())), ["forbidden"]);
        assert_eq!(errors(&h.send(s, cmd)), ["forbidden"]);
    }
    assert_eq!(
        errors(&h.send(
            s,
            ClientMsg::Buzz {
                qid: 1,
                pressed_ms: None,
                timing: None
            }
        )),
        ["forbidden"]
    );
    let host = h.host;
    assert_eq!(
        errors(&h.send(
            host,
            ClientMsg::Buzz {
                qid: 1,
                pressed_ms: None,
                timing: None
            }
        )),
        ["forbidden"]
    );
    assert!(!h.room.d.locked);
}

#[test]
fn ping_gets_pong_with_server_time() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("ann");
    let fx = h.send(c1, ClientMsg::Ping { t: Some(5) });
    assert_eq!(
        sent_to(&fx, &Audience::Conn(c1)),
        [ServerMsg::Pong {
            t: Some(5),
            server_ms: h.now
        }]
    );
}

// --- vote ----------------------------------------------------------------------

#[test]
fn vote_counts_one_answer_per_player_and_acks_resends() {
    let mut h = Harness::bank_order();
    let (c1, _, _) = h.join("a");
    let (c2, _, _) = h.join("b");
    h.ask(choice_q("q"), Mode::Vote, None);
    assert!(has_ack(&h.vote(c1, 1), c1));
    let fx = h.vote(c1, 2);
    assert!(has_ack(&fx, c1));
    assert!(errors(&fx).is_empty());
    assert!(!fx.iter().any(|e| matches!(e, Effect::Record(_))));
    h.vote(c2, 0);
    let q = h.room.d.current().cloned().expect("question");
    assert_eq!(q.counts, vec![1, 1, 0]);
    assert_eq!(q.answered, 2);
}

#[test]
fn vote_errors_change_nothing() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("a");
    assert_eq!(
        errors(&h.send(
            c1,
            ClientMsg::Vote {
                qid: 1,
                choice: Some(0),
                choices: None
            }
        )),
        ["no_question"]
    );
    h.ask(choice_q("q"), Mode::Vote, None);
    assert_eq!(
        errors(&h.send(
            c1,
            ClientMsg::Vote {
                qid: 9,
                choice: Some(0),
                choices: None
            }
        )),
        ["wrong_question"]
    );
    assert_eq!(errors(&h.vote(c1, 3)), ["bad_choice"]);
    let qid = h.qid();
    assert_eq!(
        errors(&h.send(
            c1,
            ClientMsg::Vote {
                qid,
                choice: None,
                choices: Some(vec![0, 1])
            }
        )),
        ["bad_choice"]
    );
    assert_eq!(errors(&h.buzz(c1)), ["wrong_mode"]);
    assert_eq!(errors(&h.answer(c1, "x")), ["wrong_mode"]);
    let q = h.room.d.current().cloned().expect("question");
    assert_eq!(q.answered, 0);
    assert_eq!(q.counts, vec![0, 0, 0]);
    h.host_cmd(ClientMsg::Close);
    assert_eq!(errors(&h.vote(c1, 1)), ["question_closed"]);
}

#[test]
fn timed_vote_scores_by_speed_and_streak() {
    let mut h = Harness::bank_order();
    let (c1, a, _) = h.join("a");
    let (c2, b, _) = h.join("b");
    let (c3, c, _) = h.join("c");
    h.ask(choice_q("q1"), Mode::Vote, Some(20_000));
    h.vote(c1, 1);
    h.now += 10_000;
    h.vote(c2, 1);
    h.vote(c3, 0);
    let fx = h.host_cmd(ClientMsg::Reveal);
    let Some(ServerMsg::Reveal {
        correct,
        counts,
        points,
        answer,
        ..
    }) = reveal_of(&fx, &Audience::Players)
    else {
        panic!("{fx:?}")
    };
    assert_eq!(correct, vec![1]);
    assert_eq!(counts, vec![1, 2, 0]);
    assert_eq!(points.get(&a), Some(&1000));
    assert_eq!(points.get(&b), Some(&750));
    assert_eq!(points.get(&c), None);
    assert_eq!(answer.as_deref(), Some("SECRET-ANSWER-q1"));
    // Second correct answer in a row: +100 streak bonus; c's streak was reset.
    h.ask(choice_q("q2"), Mode::Vote, Some(20_000));
    h.vote(c1, 1);
    h.vote(c3, 1);
    let fx = h.host_cmd(ClientMsg::Reveal);
    assert_eq!(h.score(a), 1000 + 1100);
    assert_eq!(h.score(b), 750);
    assert_eq!(h.score(c), 1000);
    let you: Vec<_> = sent_to(&fx, &Audience::Player(a));
    assert!(you.iter().any(|m| matches!(m, ServerMsg::You(y) if y.points == 1100 && y.score == 2100 && y.place == 1 && y.streak == 2 && y.correct == Some(true))));
}

#[test]
fn untimed_vote_scores_flat_and_multi_select_is_all_or_nothing() {
    let mut h = Harness::bank_order();
    let (c1, a, _) = h.join("a");
    let (c2, b, _) = h.join("b");
    h.ask(multi_q("m"), Mode::Vote, None);
    let qid = h.qid();
    h.now += 30_000;
    h.send(
        c1,
        ClientMsg::Vote {
            qid,
            choice: None,
            choices: Some(vec![2, 0]),
        },
    );
    h.send(
        c2,
        ClientMsg::Vote {
            qid,
            choice: None,
            choices: Some(vec![0]),
        },
    );
    h.host_cmd(ClientMsg::Reveal);
    assert_eq!(h.score(a), 1000);
    assert_eq!(h.score(b), 0);
}

#[test]
fn truefalse_without_options_gets_keyed_true_false() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    let mut q = (*question("tf", Kind::Truefalse, &[])).clone();
    q.question.answer = "False.".into();
    h.ask(Arc::new(q), Mode::Vote, None);
    assert_eq!(
        h.room.d.current().map(|q| q.options.clone()),
        Some(vec!["True".to_string(), "False".to_string()])
    );
    h.vote(c1, 1);
    h.host_cmd(ClientMsg::Reveal);
    assert_eq!(h.score(a), 1000);
}

#[test]
fn unsuitable_questions_are_refused_without_changes() {
    let mut h = Harness::public();
    let params = |mode| AskParams {
        mode,
        topics: vec![],
        time_limit_ms: None,
        kinds: None,
        penalty: None,
    };
    assert_eq!(
        h.ask_with(open_q("o"), params(Mode::Vote))
            .err()
            .map(|e| e.code()),
        Some("unsuitable_question")
    );
    assert_eq!(
        h.ask_with(open_q("o"), params(Mode::Poll))
            .err()
            .map(|e| e.code()),
        Some("unsuitable_question")
    );
    let mut p = params(Mode::Vote);
    p.time_limit_ms = Some(10);
    assert_eq!(
        h.ask_with(choice_q("c"), p).err().map(|e| e.code()),
        Some("bad_message")
    );
    assert!(h.room.d.asked.is_empty());
}

#[test]
fn ask_with_an_empty_catalog_reports_no_questions_or_unknown_question() {
    let mut h = Harness::public();
    let fx = h.host_cmd(ClientMsg::Ask {
        mode: Some(Mode::SelfAssess),
        topics: vec![],
        question_id: None,
        time_limit_ms: None,
        kinds: None,
        penalty: None,
    });
    assert_eq!(errors(&fx), ["no_questions"]);
    let fx = h.host_cmd(ClientMsg::Ask {
        mode: Some(Mode::SelfAssess),
        topics: vec![],
        question_id: Some("nope".into()),
        time_limit_ms: None,
        kinds: None,
        penalty: None,
    });
    assert_eq!(errors(&fx), ["unknown_question"]);
}

#[test]
fn deadline_closes_the_question_via_tick() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("a");
    h.ask(choice_q("q"), Mode::Vote, Some(5_000));
    assert_eq!(h.room.next_wakeup(), Some(h.now + 5_000));
    let fx = h.advance(4_999);
    assert!(sent_to(&fx, &Audience::All).is_empty());
    let fx = h.advance(1);
    assert!(sent_to(&fx, &Audience::All)
        .iter()
        .any(|m| matches!(m, ServerMsg::Closed { .. })));
    assert!(fx.iter().any(|e| matches!(e, Effect::Checkpoint)));
    assert_eq!(errors(&h.vote(c1, 1)), ["question_closed"]);
    assert_eq!(h.room.next_wakeup(), None);
}

#[test]
fn pause_extends_the_deadline_by_the_paused_time() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    h.ask(choice_q("q"), Mode::Vote, Some(10_000));
    h.now += 4_000;
    let fx = h.host_cmd(ClientMsg::Pause { paused: true });
    assert!(sent_to(&fx, &Audience::All).iter().any(|m| matches!(
        m,
        ServerMsg::Timer {
            paused: true,
            deadline_ms: Some(6_000),
            ..
        }
    )));
    assert_eq!(h.room.next_wakeup(), None);
    h.advance(60_000);
    assert!(h.room.d.current().is_some_and(|q| q.open));
    let fx = h.host_cmd(ClientMsg::Pause { paused: false });
    assert!(sent_to(&fx, &Audience::All).iter().any(|m| matches!(
        m,
        ServerMsg::Timer {
            paused: false,
            deadline_ms: Some(6_000),
            ..
        }
    )));
    assert_eq!(h.room.next_wakeup(), Some(h.now + 6_000));
    // Paused time does not count against the player: 5 s of 10 s → 750.
    h.now += 1_000;
    h.vote(c1, 1);
    h.host_cmd(ClientMsg::Reveal);
    assert_eq!(h.score(a), 750);
}

#[test]
fn pause_without_a_timer_is_an_error() {
    let mut h = Harness::public();
    h.ask(choice_q("q"), Mode::Vote, None);
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Pause { paused: true })),
        ["no_timer"]
    );
}

#[test]
fn the_host_s_tally_is_throttled_to_forty_per_second() {
    let mut h = Harness::public();
    let conns: Vec<_> = (0..30).map(|i| h.join(&format!("p{i}")).0).collect();
    h.advance(1_000);
    h.ask(choice_q("q"), Mode::Vote, None);
    let mut tallies = 0;
    let mut last = None;
    for c in &conns {
        h.now += 10;
        let mut fx = h.vote(*c, 0);
        fx.extend(h.tick());
        for m in sent_to(&fx, &Audience::Host) {
            if let ServerMsg::Tally { answered, .. } = m {
                tallies += 1;
                last = Some(answered);
            }
        }
    }
    // 300 ms of votes: the ask's own tally slot, then at most one per 25 ms
    // (only the host sees a vote's tally), so fewer than one per vote.
    assert!((5..=13).contains(&tallies), "{tallies} tallies");
    let fx = h.advance(200);
    for m in sent_to(&fx, &Audience::Host) {
        if let ServerMsg::Tally { answered, of, .. } = m {
            last = Some(answered);
            assert_eq!(of, 30);
        }
    }
    assert_eq!(last, Some(30));
}

// --- poll and self -----------------------------------------------------------

/// An open poll's tally goes to every player: in a room of hundreds it is
/// throttled to one a second, so a poll does not flood every socket.
#[test]
fn a_big_open_poll_tallies_once_a_second() {
    let mut h = Harness::bank_order();
    let conns: Vec<_> = (0..400).map(|i| h.join(&format!("p{i}")).0).collect();
    h.advance(1_000);
    h.ask(choice_q("p"), Mode::Poll, None);
    let mut tallies = 0;
    let mut last = None;
    let mut seen = |fx: &[Effect], tallies: &mut usize| {
        for m in sent_to(fx, &Audience::Players) {
            if let ServerMsg::Tally { answered, .. } = m {
                *tallies += 1;
                last = Some(answered);
            }
        }
    };
    for c in &conns {
        h.now += 5;
        let mut fx = h.vote(*c, 1);
        fx.extend(h.tick());
        seen(&fx, &mut tallies);
    }
    // 2 s of votes after the ask's own slot: one a second (10 a second to
    // 400 sockets would be 8,000 frames).
    assert!((1..=2).contains(&tallies), "{tallies} tallies");
    let fx = h.advance(1_000);
    seen(&fx, &mut tallies);
    assert_eq!(last, Some(400));
}

#[test]
fn poll_votes_may_change_until_close_and_players_see_the_tally() {
    let mut h = Harness::bank_order();
    let (c1, a, _) = h.join("a");
    h.ask(choice_q("p"), Mode::Poll, None);
    let q = h.room.d.current().cloned().expect("q");
    assert!(q.key.is_empty());
    h.vote(c1, 0);
    h.now += 200;
    let mut fx = h.vote(c1, 2);
    fx.extend(h.tick());
    assert!(sent_to(&fx, &Audience::Players)
        .iter()
        .any(|m| matches!(m, ServerMsg::Tally { .. })));
    let q = h.room.d.current().cloned().expect("q");
    assert_eq!(q.counts, vec![0, 0, 1]);
    assert_eq!(q.answered, 1);
    let fx = h.host_cmd(ClientMsg::Reveal);
    let Some(ServerMsg::Reveal {
        correct, points, ..
    }) = reveal_of(&fx, &Audience::Players)
    else {
        panic!()
    };
    assert!(correct.is_empty());
    assert!(points.is_empty());
    assert_eq!(h.score(a), 0);
}

#[test]
fn self_assessment_builds_a_knowledge_map() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("a");
    let (c2, _, _) = h.join("b");
    let (c3, _, _) = h.join("c");
    h.ask(open_q("s"), Mode::SelfAssess, None);
    let q = h.room.d.current().cloned().expect("q");
    assert_eq!(q.options, ["Know it", "Partly", "Don't know"]);
    h.vote(c1, 0);
    h.vote(c2, 1);
    h.vote(c3, 2);
    h.vote(c3, 0);
    let fx = h.host_cmd(ClientMsg::Reveal);
    assert!(sent_to(&fx, &Audience::Host)
        .iter()
        .any(|m| matches!(m, ServerMsg::Knowledge { topics } if topics.len() == 1)));
    let r = h.room.results();
    let t = &r.topics[0];
    assert_eq!((t.know, t.partly, t.dont_know), (2, 1, 0));
    assert_eq!(t.knowledge, Some(2.5 / 3.0));
    assert_eq!(r.questions[0].answers[2].self_assessment, Some("know"));
    let map = h.room.knowledge();
    assert_eq!((map[0].know, map[0].partly, map[0].dont_know), (2, 1, 0));
    assert_eq!(map[0].topic, ["Topic", "s"]);
}

// --- buzz ------------------------------------------------------------------------

#[test]
fn buzz_queue_has_one_floor_holder_and_the_host_judges() {
    let mut h = Harness::new(RoomOptions::default());
    let (c1, a, _) = h.join("a");
    let (c2, b, _) = h.join("b");
    let (c3, c, _) = h.join("c");
    let fx = h.ask(open_q("b1"), Mode::Buzz, None);
    assert!(sent_to(&fx, &Audience::Host).iter().any(
        |m| matches!(m, ServerMsg::Question(q) if q.answer.as_deref() == Some("SECRET-ANSWER-b1"))
    ));
    let fx = h.buzz(c2);
    for to in [Audience::Host, Audience::Players, Audience::Screens] {
        assert!(sent_to(&fx, &to)
            .iter()
            .any(|m| matches!(m, ServerMsg::BuzzQueue { floor: Some(f), .. } if *f == b)));
    }
    h.buzz(c1);
    let fx = h.buzz(c2);
    assert!(has_ack(&fx, c2));
    h.buzz(c3);
    let q = h.room.d.current().cloned().expect("q");
    assert_eq!(q.queue.iter().map(|e| e.0).collect::<Vec<_>>(), [b, a, c]);
    assert_eq!(q.floor, Some(b));
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Judge {
            player_id: a,
            correct: true
        })),
        ["not_your_turn"]
    );
    h.host_cmd(ClientMsg::Judge {
        player_id: b,
        correct: false,
    });
    assert_eq!(h.room.d.current().and_then(|q| q.floor), Some(a));
    assert_eq!(errors(&h.buzz(c2)), ["not_your_turn"]);
    let fx = h.host_cmd(ClientMsg::Judge {
        player_id: a,
        correct: true,
    });
    assert!(sent_to(&fx, &Audience::All)
        .iter()
        .any(|m| matches!(m, ServerMsg::Closed { .. })));
    assert_eq!(h.score(a), 1000);
    assert_eq!(h.score(b), 0);
    assert_eq!(errors(&h.buzz(c3)), ["question_closed"]);
    let fx = h.host_cmd(ClientMsg::Reveal);
    let Some(ServerMsg::Reveal { points, .. }) = reveal_of(&fx, &Audience::Players) else {
        panic!()
    };
    assert_eq!(points.get(&a), Some(&1000));
}

#[test]
fn buzz_penalty_and_kicked_floor_holder() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    let (c2, b, _) = h.join("b");
    let params = AskParams {
        mode: Mode::Buzz,
        topics: vec![],
        time_limit_ms: None,
        kinds: None,
        penalty: Some(250),
    };
    h.ask_with(open_q("b"), params).expect("ask");
    h.buzz(c1);
    h.buzz(c2);
    h.host_cmd(ClientMsg::Judge {
        player_id: a,
        correct: false,
    });
    assert_eq!(h.score(a), -250);
    h.host_cmd(ClientMsg::Kick { player_id: b });
    let q = h.room.d.current().cloned().expect("q");
    assert_eq!(q.floor, None);
    assert!(q.queue.iter().all(|e| e.0 != b));
}

#[test]
fn fifty_buzzes_in_the_same_millisecond_order_by_arrival() {
    let mut h = Harness::public();
    let players: Vec<_> = (0..50).map(|i| h.join(&format!("p{i}"))).collect();
    h.ask(open_q("b"), Mode::Buzz, None);
    for (c, _, _) in players.iter().rev() {
        h.buzz(*c);
    }
    let q = h.room.d.current().cloned().expect("q");
    assert_eq!(q.queue.len(), 50);
    assert_eq!(q.floor, Some(players[49].1));
    assert!(q.queue.iter().all(|e| e.1 == 0));
}

// --- text and peer vote ----------------------------------------------------------

#[test]
fn text_answers_go_to_the_host_only_and_marks_score() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    let (c2, b, _) = h.join("b");
    h.ask(open_q("t"), Mode::Text, None);
    let fx = h.answer(c1, "  my answer  ");
    assert!(has_ack(&fx, c1));
    assert!(sent_to(&fx, &Audience::Host)
        .iter()
        .any(|m| matches!(m, ServerMsg::TextAnswer { text, .. } if text == "my answer")));
    for e in &fx {
        if let Effect::Send { to, msg } = e {
            if *to != Audience::Host {
                assert!(!serde_json::to_string(&**msg).unwrap().contains("my answer"));
            }
        }
    }
    assert_eq!(errors(&h.answer(c2, "   ")), ["empty_answer"]);
    assert_eq!(errors(&h.answer(c2, &"x".repeat(501))), ["answer_too_long"]);
    h.answer(c2, "other");
    let fx = h.answer(c1, "changed");
    assert!(has_ack(&fx, c1));
    assert_eq!(
        h.room
            .d
            .current()
            .and_then(|q| q.entries.get(&a))
            .and_then(|e| e.text.clone())
            .as_deref(),
        Some("my answer")
    );
    h.host_cmd(ClientMsg::Mark {
        player_id: a,
        correct: true,
    });
    h.host_cmd(ClientMsg::Mark {
        player_id: b,
        correct: true,
    });
    h.host_cmd(ClientMsg::Mark {
        player_id: b,
        correct: false,
    });
    h.host_cmd(ClientMsg::Reveal);
    assert_eq!(h.score(a), 1000);
    assert_eq!(h.score(b), 0);
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Mark {
            player_id: a,
            correct: false
        })),
        ["already_revealed"]
    );
}

#[test]
fn peer_vote_merges_anonymizes_and_rewards_the_winning_authors() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    let (c2, b, _) = h.join("b");
    let (c3, c, _) = h.join("c");
    let (c4, d, _) = h.join("d");
    h.ask(open_q("t"), Mode::Text, None);
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::PeerVote {
            time_limit_ms: None
        })),
        ["no_answers"]
    );
    h.answer(c1, "Paris");
    h.answer(c2, "paris!");
    h.answer(c3, "Lyon");
    let fx = h.host_cmd(ClientMsg::PeerVote {
        time_limit_ms: Some(10_000),
    });
    let public: Vec<_> = sent_to(&fx, &Audience::Players);
    let Some(ServerMsg::Question(qm)) = public.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(qm.phase.as_deref(), Some("peer_vote"));
    assert_eq!(qm.options.len(), 2);
    assert!(qm.correct.is_none());
    let json = serde_json::to_string(&public).unwrap();
    assert!(!json.contains("player_id"));
    let paris = qm.options.iter().position(|o| o == "Paris").expect("paris");
    let lyon = 1 - paris;
    assert_eq!(errors(&h.answer(c4, "late")), ["wrong_mode"]);
    assert_eq!(errors(&h.vote(c1, paris)), ["own_answer"]);
    h.vote(c1, lyon);
    h.vote(c3, paris);
    h.vote(c4, paris);
    let fx = h.vote(c4, lyon);
    assert!(has_ack(&fx, c4));
    let fx = h.host_cmd(ClientMsg::Reveal);
    let Some(ServerMsg::Reveal {
        correct, counts, ..
    }) = reveal_of(&fx, &Audience::Players)
    else {
        panic!()
    };
    assert_eq!(correct, vec![paris]);
    assert_eq!(counts[paris], 2);
    assert_eq!(h.score(a), 500);
    assert_eq!(h.score(b), 500);
    assert_eq!(h.score(c), 0);
    assert_eq!(h.score(d), 0);
    let r = h.room.results();
    assert_eq!(r.questions[0].answers[0].peer_votes, 2);
}

#[test]
fn private_rooms_refuse_peer_votes() {
    let mut h = Harness::new(RoomOptions {
        private: true,
        ..RoomOptions::default()
    });
    let (c1, _, _) = h.join("a");
    let (c2, _, _) = h.join("b");
    h.ask(open_q("t"), Mode::Text, None);
    h.answer(c1, "x");
    h.answer(c2, "y");
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::PeerVote {
            time_limit_ms: None
        })),
        ["wrong_mode"]
    );
}

// --- privacy ---------------------------------------------------------------------

#[test]
fn players_and_screens_never_see_the_key_before_reveal() {
    let mut h = Harness::bank_order();
    let (c1, _, _) = h.join("a");
    let s = h.screen();
    let fx = h.ask(choice_q("q"), Mode::Vote, Some(10_000));
    for m in received(&h.room, &fx, c1)
        .iter()
        .chain(received(&h.room, &fx, s).iter())
    {
        let json = serde_json::to_string(m).unwrap();
        assert!(!json.contains("SECRET"), "{json}");
        assert!(!json.contains("\"correct\""), "{json}");
    }
    let host_q = received(&h.room, &fx, h.host);
    assert!(host_q.iter().any(
        |m| matches!(m, ServerMsg::Question(q) if q.correct == Some(vec![1]) && q.notes.is_some())
    ));
    // A late joiner's welcome is filtered the same way.
    let c = h.conn();
    let fx = h.hello(c, join_msg("late"));
    let json = serde_json::to_string(&welcome_state(&fx)).unwrap();
    assert!(
        !json.contains("SECRET") && !json.contains("\"correct\""),
        "{json}"
    );
}

#[test]
fn private_mode_shows_players_only_their_own_standing() {
    let mut h = Harness::new(RoomOptions {
        private: true,
        ..RoomOptions::default()
    });
    let (c1, a, _) = h.join("a");
    let (c2, b, _) = h.join("b");
    let s = h.screen();
    let mut fx = h.ask(choice_q("q"), Mode::Vote, None);
    fx.extend(h.vote(c1, 1));
    fx.extend(h.vote(c2, 0));
    fx.extend(h.advance(1_000));
    fx.extend(h.host_cmd(ClientMsg::Reveal));
    fx.extend(h.host_cmd(ClientMsg::ShowScores));
    for m in received(&h.room, &fx, c2) {
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("\"name\":\"a\""), "{json}");
        match m {
            ServerMsg::Roster { .. } | ServerMsg::Scores { .. } | ServerMsg::Tally { .. } => {
                panic!("{json}")
            }
            ServerMsg::Reveal { points, counts, .. } => {
                assert!(points.is_empty() && counts.is_empty())
            }
            ServerMsg::You(y) => assert_eq!(y.player_id, b),
            _ => {}
        }
    }
    for m in received(&h.room, &fx, s) {
        match m {
            ServerMsg::Roster { .. } | ServerMsg::Scores { .. } | ServerMsg::You(_) => {
                panic!("{m:?}")
            }
            ServerMsg::Reveal { points, .. } => assert!(points.is_empty()),
            _ => {}
        }
    }
    let host = received(&h.room, &fx, h.host);
    assert!(host
        .iter()
        .any(|m| matches!(m, ServerMsg::Reveal { points, .. } if points.get(&a) == Some(&1000))));
}

#[test]
fn large_rooms_send_players_counts_not_rosters() {
    let mut h = Harness::public();
    let mut fx = Vec::new();
    for i in 0..150 {
        let c = h.conn();
        fx.extend(h.hello(c, join_msg(&format!("p{i}"))));
        h.now += 1;
        fx.extend(h.tick());
    }
    fx.extend(h.advance(1_000));
    let to_players = sent_to(&fx, &Audience::Players);
    let rosters = to_players
        .iter()
        .filter(|m| matches!(m, ServerMsg::Roster { .. }))
        .count();
    assert!(rosters <= 2, "{rosters} player rosters during 150 joins");
    assert!(matches!(
        to_players.last(),
        Some(ServerMsg::PlayerCount { count: 150, .. })
    ));
    let host_rosters: Vec<_> = sent_to(&fx, &Audience::Host);
    assert!(host_rosters.len() <= 3);
    assert!(
        matches!(host_rosters.last(), Some(ServerMsg::Roster { players }) if players.len() == 150)
    );
}

// --- end, scores, results, snapshot ------------------------------------------

#[test]
fn end_finalizes_and_refuses_further_commands() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    h.ask(choice_q("q"), Mode::Vote, None);
    h.vote(c1, 1);
    let fx = h.host_cmd(ClientMsg::End);
    assert!(fx.iter().any(|e| matches!(e, Effect::Ended)));
    assert!(sent_to(&fx, &Audience::All).contains(&ServerMsg::Ended));
    assert!(h.room.is_ended());
    assert_eq!(h.score(a), 1000);
    assert_eq!(errors(&h.host_cmd(ClientMsg::Close)), ["room_ended"]);
    assert_eq!(errors(&h.vote(c1, 1)), ["room_ended"]);
    let c = h.conn();
    assert_eq!(errors(&h.hello(c, join_msg("new"))), ["room_ended"]);
}

#[test]
fn an_abandoned_room_ends_as_the_host_s_end_would_without_sending() {
    let mut h = Harness::public();
    let (c1, a, t1) = h.join("a");
    h.ask(choice_q("q"), Mode::Vote, None);
    h.vote(c1, 1);
    let host = h.host;
    h.room.apply(Command::Disconnected { conn: host }, h.now);
    let fx = h.room.abandon(h.now);
    assert!(
        fx.iter().all(|e| !matches!(e, Effect::Send { .. })),
        "{fx:?}"
    );
    assert!(h.room.is_ended());
    assert_eq!(h.score(a), 1000, "the open question is closed and scored");
    let results = serde_json::to_value(h.room.results()).unwrap();
    assert_eq!(results["ended"], true, "{results}");
    assert_eq!(results["questions"].as_array().unwrap().len(), 1);
    // Its final snapshot reads as an ended room's: a known seat gets its
    // final place, a new join `room_ended`.
    let mut restored =
        Room::restore(h.room.snapshot(), Arc::new(Catalog::default())).expect("restore");
    assert!(restored.is_ended());
    let fx = restored.apply(
        Command::Hello {
            conn: 99,
            msg: resume_msg(&t1),
        },
        h.now,
    );
    assert_eq!(welcome_state(&fx)["ended"], true);
    let fx = restored.apply(
        Command::Hello {
            conn: 100,
            msg: join_msg("late"),
        },
        h.now,
    );
    assert!(matches!(
        sent_to(&fx, &Audience::Conn(100)).first(),
        Some(ServerMsg::Error { code, .. }) if code == "room_ended"
    ));
    // Nothing is open any more: a second call changes nothing.
    assert!(h.room.abandon(h.now).is_empty());
}

#[test]
fn after_the_end_a_known_seat_learns_its_final_place_however_late() {
    let mut h = Harness::public();
    let (c1, _, t1) = h.join("ann");
    let (c2, _, t2) = h.join("bob");
    h.ask(choice_q("q"), Mode::Vote, None);
    h.vote(c1, 1);
    h.vote(c2, 0);
    h.host_cmd(ClientMsg::End);
    h.room.apply(Command::Disconnected { conn: c2 }, h.now);
    // Long past the resume window.
    h.advance(10 * 3_600_000);
    let c = h.conn();
    let fx = h.hello(c, resume_msg(&t2));
    assert_eq!(welcome(&fx).map(|w| w.0), Some(Role::Player));
    let state = welcome_state(&fx);
    assert_eq!(state["ended"], true);
    assert_eq!(state["you"]["place"], 2, "{state}");
    // A join from the browser that held ann's seat: refused with her standing.
    let join = ClientMsg::Join {
        room: "ABCDEF".into(),
        name: "ann again".into(),
        resume_token: Some(t1),
        sync: false,
    };
    let c = h.conn();
    let fx = h.hello(c, join);
    let refusal = sent_to(&fx, &Audience::Conn(c));
    let Some(ServerMsg::Error { code, you, .. }) = refusal.first() else {
        panic!("no error: {refusal:?}");
    };
    assert_eq!(code, "room_ended");
    let you = you.as_ref().expect("standing");
    assert_eq!(
        (you.name.as_str(), you.place, you.of, you.score),
        ("ann", 1, 2, 1000)
    );
    // Unknown tokens and new names: room_ended without a standing.
    let c = h.conn();
    assert_eq!(errors(&h.hello(c, resume_msg("nope"))), ["room_ended"]);
    let c = h.conn();
    let fx = h.hello(c, join_msg("carl"));
    assert!(matches!(
        sent_to(&fx, &Audience::Conn(c)).first(),
        Some(ServerMsg::Error { code, you: None, .. }) if code == "room_ended"
    ));
}

#[test]
fn asking_again_finalizes_the_unrevealed_question() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    h.ask(choice_q("q1"), Mode::Vote, None);
    h.vote(c1, 1);
    h.ask(choice_q("q2"), Mode::Vote, None);
    assert_eq!(h.score(a), 1000);
    assert_eq!(h.room.d.asked.len(), 2);
    assert!(h.room.d.asked[0].finalized && !h.room.d.asked[0].open);
}

#[test]
fn records_are_emitted_for_counted_inputs() {
    let mut h = Harness::bank_order();
    let (c1, a, _) = h.join("a");
    h.ask(choice_q("q1"), Mode::Vote, None);
    h.now += 1234;
    let fx = h.vote(c1, 1);
    let rec = fx.iter().find_map(|e| match e {
        Effect::Record(r) => Some(r.clone()),
        _ => None,
    });
    let rec = rec.expect("record");
    assert_eq!(
        (
            rec.player_id,
            rec.kind,
            rec.choices.clone(),
            rec.response_ms,
            rec.correct
        ),
        (a, RecordKind::Vote, vec![1], 1234, Some(true))
    );
    assert_eq!(&*rec.question_id, "q1");
}

#[test]
fn results_cover_closed_questions_and_export_csv() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("=cmd");
    let (_c2, _, _) = h.join("bob");
    h.ask(choice_q("q1"), Mode::Vote, None);
    h.vote(c1, 1);
    assert!(h.room.results().questions.is_empty());
    h.host_cmd(ClientMsg::Reveal);
    h.ask(open_q("q2"), Mode::Text, None);
    h.answer(c1, "a, \"quoted\"\nanswer");
    h.host_cmd(ClientMsg::Close);
    let r = h.room.results();
    assert_eq!(r.questions.len(), 2);
    assert_eq!(r.questions[0].avg_response_ms, Some(0));
    assert_eq!(r.topics.iter().map(|t| t.points).sum::<i64>(), 1000);
    assert_eq!(r.players[0].answered, 2);
    assert_eq!(r.players[0].correct, 1);
    assert_eq!(r.players[0].judged, 1);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["questions"][0]["answers"][0]["correct"], true);
    let csv = r.to_csv();
    let body = csv
        .strip_prefix(super::results::CSV_BOM)
        .expect("CSV starts with a BOM");
    let lines: Vec<&str> = body.split("\r\n").collect();
    assert_eq!(lines[0], super::results::CSV_HEADER);
    // 2 questions x 2 players, header, trailing empty piece.
    assert_eq!(lines.len(), 6);
    assert!(csv.contains("\"'=cmd\""));
    assert!(csv.contains("\"a, \"\"quoted\"\"\nanswer\""));
    assert!(lines[1].starts_with("1,1,\"q1\",\"Topic / q1\",vote,"));
}

#[test]
fn snapshot_restore_keeps_seats_tokens_and_scores() {
    let mut h = Harness::public();
    let (c1, a, token) = h.join("a");
    h.ask(choice_q("q1"), Mode::Vote, None);
    h.vote(c1, 1);
    h.host_cmd(ClientMsg::Reveal);
    h.ask(choice_q("q2"), Mode::Vote, Some(10_000));
    let snap = h.room.snapshot();
    let mut room = Room::restore(snap, Arc::new(Catalog::from_banks(Vec::new()))).expect("restore");
    assert_eq!(room.host_token(), TOKEN);
    assert_eq!(room.player_count(), 1);
    assert_eq!(room.connected_count(), 0);
    assert!(!room.host_connected());
    let later = h.now + 3_600_000;
    let fx = room.apply(
        Command::Hello {
            conn: 99,
            msg: resume_msg(&token),
        },
        later,
    );
    let Some((Role::Player, Some(id), _)) = welcome(&fx) else {
        panic!("{fx:?}")
    };
    assert_eq!(id, a);
    let state = welcome_state(&fx);
    assert_eq!(state["you"]["score"], 1000);
    // The open question came back open, its timer frozen at full length
    // (it saw no input) until the host resumes it.
    assert_eq!(state["question"]["qid"], 2);
    assert_eq!(state["question"]["open"], true);
    assert_eq!(state["question"]["paused"], true);
    assert_eq!(state["question"]["deadline_ms"], 10_000);
    assert_eq!(room.current_qid(), Some(2));
    assert_eq!(room.boundary_qid(), Some(1));
    let fx = room.apply(
        Command::Hello {
            conn: 100,
            msg: ClientMsg::Host {
                room: "ABCDEF".into(),
                token: TOKEN.into(),
            },
        },
        later,
    );
    assert!(welcome(&fx).is_some());
    let fx = room.apply(
        Command::Hello {
            conn: 101,
            msg: join_msg("A"),
        },
        later,
    );
    assert_eq!(errors(&fx), ["name_taken"]);
    assert_eq!(room.snapshot()["players"][0]["score"], 1000);
}

#[test]
fn restored_snapshot_of_garbage_is_an_error() {
    let r = Room::restore(serde_json::json!({"code": 5}), Arc::new(Catalog::default()));
    assert!(r.is_err());
}

// --- asking from a real catalog -------------------------------------------------

fn bank_question(id: &str, kind: Kind, options: &[(&str, bool)]) -> Question {
    let q = question(id, kind, options);
    q.question.clone()
}

fn catalog() -> Arc<Catalog> {
    use crate::bank::{Bank, Topic};
    let topic = |id: &str, path: &[&str], questions: Vec<Question>| Topic {
        id: id.into(),
        path: path.iter().map(|s| s.to_string()).collect(),
        questions,
    };
    let bank = Bank {
        id: "bank".into(),
        title: "Bank".into(),
        file: "bank.md".into(),
        description: String::new(),
        format: String::new(),
        topics: vec![
            topic(
                "t1",
                &["Python", "Basics"],
                vec![
                    bank_question("py-open-1", Kind::Open, &[]),
                    bank_question("py-open-2", Kind::Open, &[]),
                    bank_question("py-choice", Kind::Choice, &[("x", false), ("y", true)]),
                ],
            ),
            topic(
                "t2",
                &["Go"],
                vec![bank_question("go-open", Kind::Open, &[])],
            ),
        ],
        warnings: Vec::new(),
    };
    Arc::new(Catalog::from_banks(vec![bank]))
}

fn ask_msg(mode: Mode, topics: Vec<String>, question_id: Option<&str>) -> ClientMsg {
    ClientMsg::Ask {
        mode: Some(mode),
        topics,
        question_id: question_id.map(str::to_string),
        time_limit_ms: None,
        kinds: None,
        penalty: None,
    }
}

fn asked_prompt(fx: &[Effect]) -> Option<String> {
    sent_to(fx, &Audience::Players)
        .into_iter()
        .find_map(|m| match m {
            ServerMsg::Question(q) => Some(q.prompt),
            _ => None,
        })
}

#[test]
fn ask_draws_from_the_chosen_topics_without_repeats() {
    let mut h = Harness::public();
    let catalog = catalog();
    h.room.set_catalog(Arc::clone(&catalog));
    let python = catalog
        .topics()
        .iter()
        .find(|t| t.title == "Python")
        .map(|t| t.id.clone())
        .expect("python topic");
    let mut prompts = Vec::new();
    for _ in 0..3 {
        let fx = h.host_cmd(ask_msg(Mode::SelfAssess, vec![python.clone()], None));
        prompts.push(asked_prompt(&fx).expect("a question"));
    }
    prompts.sort();
    assert_eq!(
        prompts,
        [
            "prompt of py-choice",
            "prompt of py-open-1",
            "prompt of py-open-2"
        ]
    );
    let fx = h.host_cmd(ask_msg(Mode::SelfAssess, vec![python], None));
    assert_eq!(errors(&fx), ["no_questions"]);
    let fx = h.host_cmd(ask_msg(Mode::Buzz, Vec::new(), None));
    assert_eq!(asked_prompt(&fx).as_deref(), Some("prompt of go-open"));
}

#[test]
fn vote_mode_draws_only_keyed_questions_and_question_id_picks_one() {
    let mut h = Harness::public();
    h.room.set_catalog(catalog());
    let fx = h.host_cmd(ask_msg(Mode::Vote, Vec::new(), None));
    assert_eq!(asked_prompt(&fx).as_deref(), Some("prompt of py-choice"));
    let fx = h.host_cmd(ask_msg(Mode::Vote, Vec::new(), None));
    assert_eq!(errors(&fx), ["no_questions"]);
    let fx = h.host_cmd(ask_msg(Mode::Text, Vec::new(), Some("py-open-2")));
    assert_eq!(asked_prompt(&fx).as_deref(), Some("prompt of py-open-2"));
    let fx = h.host_cmd(ask_msg(Mode::Vote, Vec::new(), Some("go-open")));
    assert_eq!(errors(&fx), ["unsuitable_question"]);
    assert_eq!(h.qid(), 2);
}

#[test]
fn a_picked_question_without_a_named_mode_is_asked_in_its_default_mode() {
    use crate::bank::{Bank, Topic};
    let mut poll_q = bank_question("lib-poll", Kind::Choice, &[("a", true), ("b", false)]);
    poll_q.mode = Some(Mode::Poll);
    let plain = bank_question("lib-plain", Kind::Choice, &[("a", true), ("b", false)]);
    let bank = Bank {
        id: "lib".into(),
        title: "Library".into(),
        file: "library/lz1".into(),
        description: String::new(),
        format: "library".into(),
        topics: vec![Topic {
            id: "lz1:".into(),
            path: vec!["Library".into()],
            questions: vec![poll_q, plain],
        }],
        warnings: Vec::new(),
    };
    let mut h = Harness::public();
    h.room
        .set_catalog(Arc::new(Catalog::from_banks(vec![bank])));
    let without_mode = |id: &str| ClientMsg::Ask {
        mode: None,
        topics: Vec::new(),
        question_id: Some(id.to_string()),
        time_limit_ms: None,
        kinds: None,
        penalty: None,
    };
    let fx = h.host_cmd(without_mode("lib-poll"));
    assert!(errors(&fx).is_empty(), "{fx:?}");
    assert_eq!(h.room.d.current().map(|q| q.mode), Some(Mode::Poll));
    // A mode the host names wins over the default.
    let fx = h.host_cmd(ask_msg(Mode::Vote, Vec::new(), Some("lib-poll")));
    assert!(errors(&fx).is_empty(), "{fx:?}");
    assert_eq!(h.room.d.current().map(|q| q.mode), Some(Mode::Vote));
    // Without a default, or without a picked question, the mode is needed.
    let fx = h.host_cmd(without_mode("lib-plain"));
    assert_eq!(errors(&fx), ["bad_message"]);
    let fx = h.host_cmd(ClientMsg::Ask {
        mode: None,
        topics: Vec::new(),
        question_id: None,
        time_limit_ms: None,
        kinds: None,
        penalty: None,
    });
    assert_eq!(errors(&fx), ["bad_message"]);
    assert_eq!(h.qid(), 2);
}

/// Names in a reveal's `right` list, in order.
fn right_names(msg: Option<ServerMsg>) -> Vec<String> {
    match msg {
        Some(ServerMsg::Reveal { right, .. }) => right.into_iter().map(|r| r.name).collect(),
        other => panic!("no reveal: {other:?}"),
    }
}

#[test]
fn a_vote_reveal_names_who_was_right_to_the_host_and_the_fastest_to_screens() {
    for private in [false, true] {
        let mut h = Harness::new(RoomOptions {
            private,
            ..RoomOptions::default()
        });
        let screen = h.screen();
        let voters: Vec<_> = (0..8).map(|i| h.join(&format!("p{i}"))).collect();
        h.ask(choice_q("q"), Mode::Vote, Some(60_000));
        // p7 answers right first, then p0..p5 right, p6 wrong.
        h.now += 10;
        h.vote(voters[7].0, 1);
        for (i, (conn, _, _)) in voters.iter().enumerate().take(7) {
            h.now += 100;
            h.vote(*conn, if i == 6 { 0 } else { 1 });
        }
        let fx = h.host_cmd(ClientMsg::Reveal);
        let host = right_names(reveal_of(&fx, &Audience::Host));
        assert_eq!(
            host,
            ["p7", "p0", "p1", "p2", "p3", "p4", "p5"],
            "private={private}"
        );
        let screens = right_names(reveal_of(&fx, &Audience::Screens));
        if private {
            assert!(screens.is_empty());
        } else {
            assert_eq!(screens, ["p7", "p0", "p1", "p2", "p3"]);
        }
        assert!(right_names(reveal_of(&fx, &Audience::Players)).is_empty());
        let _ = screen;
    }
}

#[test]
fn text_mode_never_draws_a_choice_or_true_false_question() {
    let mut h = Harness::public();
    h.room.set_catalog(catalog());
    let mut drawn = Vec::new();
    for _ in 0..3 {
        let fx = h.host_cmd(ask_msg(Mode::Text, Vec::new(), None));
        match asked_prompt(&fx) {
            Some(p) => drawn.push(p),
            None => {
                assert_eq!(errors(&fx), ["no_questions"]);
                break;
            }
        }
    }
    drawn.sort();
    // The three open questions; the keyed choice question stays for a vote.
    assert_eq!(
        drawn,
        [
            "prompt of go-open",
            "prompt of py-open-1",
            "prompt of py-open-2"
        ]
    );
    let fx = h.host_cmd(ask_msg(Mode::Text, Vec::new(), None));
    assert_eq!(errors(&fx), ["no_questions"]);
    let fx = h.host_cmd(ask_msg(Mode::Vote, Vec::new(), None));
    assert_eq!(asked_prompt(&fx).as_deref(), Some("prompt of py-choice"));
}

#[test]
fn the_catalog_counts_what_each_mode_can_draw_per_topic() {
    let catalog = catalog();
    let python = &catalog.topics()[0];
    assert_eq!(python.title, "Python");
    assert_eq!(
        (python.modes.vote, python.modes.poll, python.modes.text),
        (1, 1, 2)
    );
    let go = &catalog.topics()[1];
    assert_eq!((go.modes.vote, go.modes.poll, go.modes.text), (0, 0, 1));
}

#[test]
fn ten_thousand_joins_cost_linear_work() {
    let mut h = Harness::new(RoomOptions {
        capacity: 20_000,
        ..RoomOptions::default()
    });
    let started = std::time::Instant::now();
    let mut roster_rows = 0usize;
    let mut effects = 0usize;
    for i in 0..10_000 {
        let c = h.conn();
        let mut fx = h.hello(c, join_msg(&format!("player {i}")));
        h.now += 1;
        fx.extend(h.tick());
        effects += fx.len();
        for e in &fx {
            if let Effect::Send { to, msg } = e {
                if let ServerMsg::Roster { players } = &**msg {
                    if i >= 100 {
                        assert_ne!(
                            *to,
                            Audience::Players,
                            "a roster to every player at join {i}"
                        );
                    }
                    roster_rows += players.len();
                }
            }
        }
    }
    // Welcome plus at most a throttled roster per join; full rosters only
    // every 500 ms (10 s of joins: at most ~21 flushes to host and screens).
    assert!(effects <= 10_000 * 2 + 21 * 3, "{effects} effects");
    assert!(roster_rows <= 2 * 21 * 10_000, "{roster_rows} roster rows");
    assert_eq!(h.room.player_count(), 10_000);
    // A vote round and a reveal stay linear too.
    h.ask(choice_q("q"), Mode::Vote, Some(20_000));
    let conns: Vec<ConnId> = h.room.recipients(&Audience::Players);
    for c in &conns {
        h.vote(*c, 1);
    }
    let fx = h.host_cmd(ClientMsg::Reveal);
    let you = fx
        .iter()
        .filter(|e| matches!(e, Effect::Send { msg, .. } if matches!(&**msg, ServerMsg::You(_))))
        .count();
    assert_eq!(you, 10_000);
    let Some(ServerMsg::Reveal { points, .. }) = reveal_of(&fx, &Audience::Players) else {
        panic!()
    };
    assert!(points.is_empty());
    eprintln!("10k joins + vote + reveal: {:?}", started.elapsed());
}

#[test]
fn host_reconnect_gets_the_host_view_with_typed_answers() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    h.ask(open_q("t"), Mode::Text, Some(60_000));
    h.answer(c1, "forty two");
    h.host_cmd(ClientMsg::Mark {
        player_id: a,
        correct: true,
    });
    let host = h.host;
    h.room.apply(Command::Disconnected { conn: host }, h.now);
    let c = h.conn();
    let fx = h.hello(
        c,
        ClientMsg::Host {
            room: "ABCDEF".into(),
            token: TOKEN.into(),
        },
    );
    let state = welcome_state(&fx);
    assert_eq!(state["question"]["answer"], "SECRET-ANSWER-t");
    assert_eq!(state["question"]["notes"][0], "SECRET-NOTE-t");
    assert_eq!(state["answers"][0]["text"], "forty two");
    assert_eq!(state["answers"][0]["correct"], true);
    assert_eq!(state["roster"][0]["name"], "a");
    // The player's own view of the same moment has none of it.
    let (_, _, token) = (c1, a, h.room.d.players[0].token.clone());
    h.room.apply(Command::Disconnected { conn: c1 }, h.now);
    let c = h.conn();
    let fx = h.hello(c, resume_msg(&token));
    let state = welcome_state(&fx);
    assert_eq!(state["pending"]["text"], "forty two");
    assert!(state["question"].get("answer").is_none());
    assert!(state.get("answers").is_none());
    assert!(!state.to_string().contains("SECRET"));
}

#[test]
fn resume_restores_a_pending_buzz() {
    let mut h = Harness::public();
    let (c1, a, token) = h.join("a");
    h.ask(open_q("b"), Mode::Buzz, None);
    h.buzz(c1);
    h.room.apply(Command::Disconnected { conn: c1 }, h.now);
    let c = h.conn();
    let fx = h.hello(c, resume_msg(&token));
    let state = welcome_state(&fx);
    assert_eq!(state["pending"]["buzzed"], true);
    assert_eq!(state["buzz_queue"]["floor"], a.0);
    // Pressing again after the resume changes nothing.
    let fx = h.buzz(c);
    assert!(has_ack(&fx, c));
    assert_eq!(h.room.d.current().map(|q| q.queue.len()), Some(1));
}

#[test]
fn judge_without_a_floor_or_outside_buzz_is_refused() {
    let mut h = Harness::public();
    let (_, a, _) = h.join("a");
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Judge {
            player_id: a,
            correct: true
        })),
        ["no_question"]
    );
    h.ask(open_q("b"), Mode::Buzz, None);
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Judge {
            player_id: a,
            correct: true
        })),
        ["not_your_turn"]
    );
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Judge {
            player_id: PlayerId(99),
            correct: true
        })),
        ["unknown_player"]
    );
    h.ask(choice_q("v"), Mode::Vote, None);
    assert_eq!(
        errors(&h.host_cmd(ClientMsg::Judge {
            player_id: a,
            correct: true
        })),
        ["wrong_mode"]
    );
    assert_eq!(h.score(a), 0);
}

#[test]
fn a_missed_question_resets_the_streak() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    for (i, vote) in [true, true, false, true].into_iter().enumerate() {
        h.ask(choice_q(&format!("q{i}")), Mode::Vote, None);
        if vote {
            h.vote(c1, 1);
        }
        h.host_cmd(ClientMsg::Reveal);
    }
    // 1000, 1000+100, missed (streak 0), 1000.
    assert_eq!(h.score(a), 3100);
    assert_eq!(h.room.d.player(a).map(|p| p.streak), Some(1));
}

#[test]
fn scores_show_places_and_big_rooms_get_the_top_ten() {
    let mut h = Harness::new(RoomOptions {
        capacity: 500,
        ..RoomOptions::default()
    });
    let conns: Vec<_> = (0..120).map(|i| h.join(&format!("p{i}"))).collect();
    h.ask(choice_q("q"), Mode::Vote, Some(10_000));
    for (i, (c, _, _)) in conns.iter().enumerate().take(30) {
        h.now += i as u64;
        h.vote(*c, 1);
    }
    h.host_cmd(ClientMsg::Reveal);
    let fx = h.host_cmd(ClientMsg::ShowScores);
    let Some(ServerMsg::Scores { leaderboard }) =
        sent_to(&fx, &Audience::Players).into_iter().next()
    else {
        panic!()
    };
    assert_eq!(leaderboard.len(), 10);
    assert_eq!(leaderboard[0].player_id, conns[0].1);
    assert_eq!(leaderboard[0].place, 1);
    let Some(ServerMsg::Scores { leaderboard }) = sent_to(&fx, &Audience::Host).into_iter().next()
    else {
        panic!()
    };
    assert_eq!(leaderboard.len(), 120);
    assert!(leaderboard[30..]
        .iter()
        .all(|r| r.place == 31 && r.score == 0));
    let you = sent_to(&fx, &Audience::Player(conns[119].1));
    assert!(matches!(you.first(), Some(ServerMsg::You(y)) if y.place == 31 && y.of == 120));
    assert!(fx.iter().any(|e| matches!(e, Effect::Checkpoint)));
}

#[test]
fn peer_vote_deadline_closes_via_tick() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("a");
    let (c2, _, _) = h.join("b");
    h.ask(open_q("t"), Mode::Text, None);
    h.answer(c1, "one");
    h.answer(c2, "two");
    h.host_cmd(ClientMsg::PeerVote {
        time_limit_ms: Some(5_000),
    });
    let deadline = h.now + 5_000;
    // Pending roster and tally flushes come first.
    h.advance(1_000);
    assert_eq!(h.room.next_wakeup(), Some(deadline));
    let fx = h.advance(4_000);
    assert!(sent_to(&fx, &Audience::All)
        .iter()
        .any(|m| matches!(m, ServerMsg::Closed { .. })));
    assert_eq!(errors(&h.vote(c1, 0)), ["question_closed"]);
}

#[test]
fn private_buzz_queue_shows_only_the_own_floor() {
    let mut h = Harness::new(RoomOptions {
        private: true,
        ..RoomOptions::default()
    });
    let (c1, a, t1) = h.join("a");
    let (c2, _, _) = h.join("b");
    h.ask(open_q("b"), Mode::Buzz, None);
    let fx = h.buzz(c1);
    let mine = received(&h.room, &fx, c1);
    assert!(mine.iter().any(|m| matches!(m, ServerMsg::BuzzQueue { queue, floor: Some(f), .. } if *f == a && queue.len() == 1)));
    let fx = h.buzz(c2);
    for m in received(&h.room, &fx, c2) {
        if let ServerMsg::BuzzQueue { queue, floor, .. } = m {
            assert!(queue.is_empty() && floor.is_none());
        }
    }
    h.room.apply(Command::Disconnected { conn: c1 }, h.now);
    let c = h.conn();
    let state = welcome_state(&h.hello(c, resume_msg(&t1)));
    assert_eq!(state["buzz_queue"]["floor"], a.0);
    assert_eq!(
        state["buzz_queue"]["queue"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn restore_keeps_an_open_buzz_question_with_its_ruling_and_floor() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    let (c2, _, _) = h.join("b");
    let params = AskParams {
        mode: Mode::Buzz,
        topics: vec![],
        time_limit_ms: None,
        kinds: None,
        penalty: Some(300),
    };
    h.ask_with(open_q("b"), params).expect("ask");
    h.buzz(c1);
    h.buzz(c2);
    h.host_cmd(ClientMsg::Judge {
        player_id: a,
        correct: false,
    });
    assert_eq!(h.score(a), -300);
    let floor = h.room.d.current().and_then(|q| q.floor);
    let room = Room::restore(h.room.snapshot(), Arc::new(Catalog::default())).expect("restore");
    // The ruling and its penalty stay: scores are still the credited sum.
    assert_eq!(room.snapshot()["players"][0]["score"], -300);
    assert_eq!(room.current_qid(), Some(1));
    assert!(room.question_open());
    assert_eq!(room.d.current().and_then(|q| q.floor), floor);
    assert!(floor.is_some());
}

/// The records a command emitted.
fn records(fx: &[Effect]) -> Vec<AnswerRecord> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Record(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// Restores `snapshot`, replays `recs` twice (the second time changes
/// nothing), and returns the room.
fn restored_with(snapshot: serde_json::Value, recs: &[AnswerRecord]) -> Room {
    let mut room = Room::restore(snapshot, Arc::new(Catalog::default())).expect("restore");
    let first = room.replay(recs);
    assert_eq!(first.skipped, 0, "{first:?}");
    let again = room.replay(recs);
    assert_eq!(again.applied, 0, "a replay is idempotent: {again:?}");
    room
}

#[test]
fn answers_acknowledged_after_the_ask_checkpoint_are_replayed_in_every_mode() {
    for mode in [
        Mode::Vote,
        Mode::Poll,
        Mode::SelfAssess,
        Mode::Buzz,
        Mode::Text,
    ] {
        let mut h = Harness::bank_order();
        let players: Vec<_> = (0..3).map(|i| h.join(&format!("p{i}"))).collect();
        let q = if matches!(mode, Mode::Vote | Mode::Poll) {
            choice_q("q")
        } else {
            open_q("q")
        };
        let fx = h.ask(q, mode, Some(30_000));
        assert!(
            fx.iter().any(|e| matches!(e, Effect::Checkpoint)),
            "{mode:?}: asking is a checkpoint"
        );
        let at_ask = h.room.snapshot();
        let mut recs = Vec::new();
        for (i, (conn, _, _)) in players.iter().enumerate() {
            h.now += 100;
            let fx = match mode {
                Mode::Buzz => h.buzz(*conn),
                Mode::Text => h.answer(*conn, &format!("answer {i}")),
                _ => h.vote(*conn, i % 2),
            };
            assert_eq!(records(&fx).len(), 1, "{mode:?}");
            recs.extend(records(&fx));
        }
        if mode == Mode::Poll {
            // A changed poll vote: the store keeps the latest record only.
            h.now += 100;
            let fx = h.vote(players[0].0, 1);
            recs.retain(|r| r.player_id != players[0].1);
            recs.extend(records(&fx));
        }
        let mut room = restored_with(at_ask.clone(), &recs);
        let live = h.room.d.current().cloned().expect("live question");
        let back = room.d.current().cloned().expect("restored question");
        assert!(back.open, "{mode:?}");
        assert_eq!(back.counts, live.counts, "{mode:?}");
        assert_eq!(back.answered, live.answered, "{mode:?}");
        assert_eq!(back.entries, live.entries, "{mode:?}");
        assert_eq!(back.queue, live.queue, "{mode:?}");
        assert_eq!(back.floor, live.floor, "{mode:?}");
        // Frozen at the last replayed input: 300 ms into 30 s (400 for poll).
        let ran = if mode == Mode::Poll { 400 } else { 300 };
        assert_eq!(
            back.remaining(h.now + 999_999),
            Some(30_000 - ran),
            "{mode:?}"
        );
        // The player sees its own input when it resumes.
        let fx = room.apply(
            Command::Hello {
                conn: 500,
                msg: resume_msg(&players[1].2),
            },
            h.now + 60_000,
        );
        let state = welcome_state(&fx);
        assert_eq!(state["question"]["qid"], 1, "{mode:?}");
        assert_eq!(state["question"]["paused"], true, "{mode:?}");
        match mode {
            Mode::Buzz => assert_eq!(state["pending"]["buzzed"], true),
            Mode::Text => assert_eq!(state["pending"]["text"], "answer 1"),
            _ => assert_eq!(
                state["pending"]["choices"],
                serde_json::json!([1]),
                "{mode:?}"
            ),
        }
        // Records already in a later snapshot change nothing.
        let room = restored_with(h.room.snapshot(), &recs);
        assert_eq!(
            room.d.current().map(|q| q.counts.clone()),
            Some(live.counts)
        );
    }
}

#[test]
fn peer_votes_and_marks_after_the_last_checkpoint_are_replayed() {
    let mut h = Harness::public();
    let players: Vec<_> = (0..3).map(|i| h.join(&format!("p{i}"))).collect();
    h.ask(open_q("t"), Mode::Text, None);
    for (i, (conn, _, _)) in players.iter().enumerate() {
        h.answer(*conn, &format!("answer {i}"));
    }
    let fx = h.host_cmd(ClientMsg::PeerVote {
        time_limit_ms: None,
    });
    assert!(fx.iter().any(|e| matches!(e, Effect::Checkpoint)));
    let at_peer = h.room.snapshot();
    let mut recs = Vec::new();
    let fx = h.host_cmd(ClientMsg::Mark {
        player_id: players[2].1,
        correct: true,
    });
    recs.extend(records(&fx));
    let options = h
        .room
        .d
        .current()
        .and_then(|q| q.peer.clone())
        .expect("peer");
    for (conn, id, _) in &players {
        let pick = options
            .authors
            .iter()
            .position(|a| !a.contains(id))
            .expect("another's option");
        let fx = h.send(
            *conn,
            ClientMsg::Vote {
                qid: 1,
                choice: Some(pick),
                choices: None,
            },
        );
        recs.extend(records(&fx));
    }
    assert_eq!(recs.len(), 4);
    let room = restored_with(at_peer, &recs);
    let live = h.room.d.current().cloned().expect("live");
    let back = room.d.current().cloned().expect("back");
    assert_eq!(back.entries, live.entries);
    assert_eq!(
        back.peer.map(|p| (p.counts, p.voted)),
        live.peer.map(|p| (p.counts, p.voted))
    );
}

#[test]
fn a_record_of_a_seat_or_question_the_snapshot_lacks_is_skipped() {
    let mut h = Harness::public();
    let (c1, _, _) = h.join("a");
    h.ask(choice_q("q"), Mode::Vote, None);
    let at_ask = h.room.snapshot();
    let (c2, _, _) = h.join("late");
    let mut recs = records(&h.vote(c1, 0));
    recs.extend(records(&h.vote(c2, 1)));
    let mut other = recs[0].clone();
    other.qid = 7;
    recs.push(other);
    let mut room = Room::restore(at_ask, Arc::new(Catalog::default())).expect("restore");
    let done = room.replay(&recs);
    assert_eq!((done.applied, done.skipped), (1, 2), "{done:?}");
    assert_eq!(room.d.current().map(|q| q.answered), Some(1));
}

#[test]
fn close_for_shutdown_keeps_the_open_question_through_a_restore() {
    let mut h = Harness::public();
    let (c1, a, _) = h.join("a");
    h.ask(open_q("s"), Mode::SelfAssess, None);
    h.vote(c1, 0);
    let fx = h.room.close_for_shutdown(h.now);
    assert!(fx.iter().any(|e| matches!(e, Effect::Checkpoint)));
    assert_eq!(h.room.boundary_qid(), Some(1));
    let room = Room::restore(h.room.snapshot(), Arc::new(Catalog::default())).expect("restore");
    let r = room.results();
    assert_eq!(r.questions.len(), 1);
    assert_eq!(r.questions[0].answers[0].player_id, a);
    assert_eq!(r.questions[0].answers[0].self_assessment, Some("know"));
    // Nothing open: a second call does nothing.
    assert!(h.room.close_for_shutdown(h.now).is_empty());
}

/// Each of `n` positions within 4 standard deviations of `asks / n`.
fn assert_uniform(at: &[usize], asks: usize) {
    let n = at.len() as f64;
    let expected = asks as f64 / n;
    let sd = (asks as f64 * (1.0 / n) * (1.0 - 1.0 / n)).sqrt();
    for (pos, &count) in at.iter().enumerate() {
        assert!(
            (count as f64 - expected).abs() < 4.0 * sd,
            "key at position {pos} {count} times of {asks}: {at:?}"
        );
    }
}

#[test]
fn shuffled_options_put_the_key_at_every_position_equally_often() {
    // The default room: nobody asks for shuffling.
    let mut h = Harness::new(RoomOptions::default());
    assert_eq!(h.room.d.options.shuffle_options, Shuffle::Room);
    let (c1, _, _) = h.join("a");
    let q = choice_q("shuffled");
    let bank_texts: Vec<String> = q.question.options.iter().map(|o| o.text.clone()).collect();
    let n = bank_texts.len();
    let asks = 3000;
    let mut at = vec![0usize; n];
    for _ in 0..asks {
        let fx = h.ask(q.clone(), Mode::Vote, None);
        let asked = h.room.d.current().cloned().expect("asked");
        // The shown options are the bank's, permuted, and map back.
        assert_eq!(asked.order.len(), n);
        for (shown, &bank) in asked.order.iter().enumerate() {
            assert_eq!(asked.options[shown], bank_texts[bank]);
        }
        // What players are sent is that order.
        let sent = fx.iter().find_map(|e| match e {
            Effect::Send {
                to: Audience::Players,
                msg,
            } => match msg.as_ref() {
                ServerMsg::Question(m) => Some(m.options.clone()),
                _ => None,
            },
            _ => None,
        });
        assert_eq!(sent.as_ref(), Some(&asked.options));
        let key = asked.key[0];
        assert!(q.question.options[asked.order[key]].correct);
        at[key] += 1;
    }
    // Voting the shown key scores: correctness follows the shuffle.
    let key = h.room.d.current().map(|q| q.order[q.key[0]]).expect("key");
    h.vote(c1, key);
    let entry = h
        .room
        .d
        .current()
        .and_then(|q| q.entries.values().next().cloned());
    assert_eq!(entry.and_then(|e| e.correct), Some(true));
    assert_uniform(&at, asks);
    // The results map shown options back to the bank's own indices.
    let results = h.room.results();
    let last = results.questions.last().expect("a result");
    assert_eq!(last.option_ids.len(), n);
}

#[test]
fn per_player_orders_are_uniform_and_votes_map_back() {
    let mut h = Harness::new(RoomOptions {
        shuffle_options: Shuffle::Player,
        ..RoomOptions::default()
    });
    let players: Vec<(ConnId, PlayerId)> = (0..4)
        .map(|i| {
            let (c, id, _) = h.join(&format!("p{i}"));
            (c, id)
        })
        .collect();
    let q = choice_q("own-order");
    let n = q.question.options.len();
    let asks = 1500;
    let mut at = vec![0usize; n];
    let mut differ = 0;
    for _ in 0..asks {
        let fx = h.ask(q.clone(), Mode::Vote, None);
        let mut seen = Vec::new();
        for &(_, id) in &players {
            let shown = fx
                .iter()
                .find_map(|e| match e {
                    Effect::Send {
                        to: Audience::Player(p),
                        msg,
                    } if *p == id => match msg.as_ref() {
                        ServerMsg::Question(m) => Some(m.options.clone()),
                        _ => None,
                    },
                    _ => None,
                })
                .expect("each player its own question");
            let key = shown.iter().position(|t| t == "beta").expect("key shown");
            at[key] += 1;
            seen.push(shown);
        }
        if seen.iter().any(|s| s != &seen[0]) {
            differ += 1;
        }
        // Nobody gets the shared copy.
        assert!(!fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: Audience::Players,
                ..
            }
        )));
    }
    assert_uniform(&at, asks * players.len());
    assert!(
        differ > asks / 2,
        "orders differ between players in {differ} of {asks}"
    );
    // Each player votes the key at its own position: all right, counted
    // on the room's key option.
    let fx = h.ask(q.clone(), Mode::Vote, None);
    for &(c, id) in &players {
        let shown = fx
            .iter()
            .find_map(|e| match e {
                Effect::Send {
                    to: Audience::Player(p),
                    msg,
                } if *p == id => match msg.as_ref() {
                    ServerMsg::Question(m) => Some(m.options.clone()),
                    _ => None,
                },
                _ => None,
            })
            .expect("question");
        let key = shown.iter().position(|t| t == "beta").expect("key shown");
        let qid = h.qid();
        h.send(
            c,
            ClientMsg::Vote {
                qid,
                choice: Some(key),
                choices: None,
            },
        );
    }
    let cur = h.room.d.current().cloned().expect("asked");
    assert!(cur.entries.values().all(|e| e.correct == Some(true)));
    assert_eq!(cur.counts[cur.key[0]], players.len() as u32);
    // The reveal gives each player the key at its own position.
    let fx = h.host_cmd(ClientMsg::Reveal);
    for &(_, id) in &players {
        let view = order::player_view(&cur, id).expect("a view");
        let (correct, ids) = fx
            .iter()
            .find_map(|e| match e {
                Effect::Send {
                    to: Audience::Player(p),
                    msg,
                } if *p == id => match msg.as_ref() {
                    ServerMsg::Reveal {
                        correct,
                        option_ids,
                        ..
                    } => Some((correct.clone(), option_ids.clone())),
                    _ => None,
                },
                _ => None,
            })
            .expect("own reveal");
        assert_eq!(correct, order::to_view(&view, &cur.key));
        // Bank id 1 is "beta", the key.
        assert_eq!(ids.get(correct[0]), Some(&1));
    }
}

#[test]
fn per_player_poll_tallies_come_in_each_players_own_order() {
    let mut h = Harness::new(RoomOptions {
        shuffle_options: Shuffle::Player,
        ..RoomOptions::default()
    });
    let players: Vec<(ConnId, PlayerId)> = (0..5)
        .map(|i| {
            let (c, id, _) = h.join(&format!("p{i}"));
            (c, id)
        })
        .collect();
    h.ask(choice_q("poll"), Mode::Poll, None);
    let q = h.room.d.current().cloned().expect("asked");
    // Everyone picks "gamma", wherever it is shown to them.
    for &(c, _) in &players {
        let gamma = q.question.options.iter().position(|o| o.text == "gamma");
        h.vote(c, gamma.expect("gamma"));
    }
    h.now += 1_000;
    let fx = h.tick();
    let room_gamma = q.options.iter().position(|o| o == "gamma").expect("shown");
    let tallies = |to: &Audience| -> Vec<ServerMsg> {
        sent_to(&fx, to)
            .into_iter()
            .filter(|m| matches!(m, ServerMsg::Tally { .. }))
            .collect()
    };
    let Some(ServerMsg::Tally {
        counts, option_ids, ..
    }) = tallies(&Audience::Host).last().cloned()
    else {
        panic!("host tally: {fx:?}")
    };
    assert_eq!(counts[room_gamma], 5);
    assert_eq!(
        option_ids.get(room_gamma),
        Some(&2),
        "gamma is bank option 2"
    );
    for &(_, id) in &players {
        let view = order::player_view(&q, id).expect("a view");
        let shown = order::permute(&view, &q.options);
        let at = shown.iter().position(|o| o == "gamma").expect("shown");
        let Some(ServerMsg::Tally {
            counts, option_ids, ..
        }) = tallies(&Audience::Player(id)).last().cloned()
        else {
            panic!("own tally for {id:?}: {fx:?}")
        };
        assert_eq!(counts[at], 5, "{id:?} sees the count on its own gamma");
        assert!(
            option_ids.is_empty(),
            "no bank ids to players before the reveal"
        );
        // Its welcome on a reload says the same.
        let state = h.room.state_for(Who::Player(id), h.now);
        assert_eq!(state["tally"]["counts"][at], 5);
        assert_eq!(state["question"]["options"][at], "gamma");
    }
    // Nobody gets the room-order tally meant for screens.
    assert!(tallies(&Audience::Players).is_empty());
}
