//! Latency-compensated buzzing in the room state machine, with an injected
//! clock: the collection window, the trusted interval, arrival order where
//! nothing is compensated, and property tests of the ordering.

use proptest::prelude::*;

use crate::protocol::{ClientMsg, Mode, PlayerId, PressTiming, ServerMsg};

use super::tests::{errors, open_q, sent_to, Harness};
use super::*;

/// Joins a player whose socket answers clock probes.
fn join_synced(h: &mut Harness, name: &str) -> (ConnId, PlayerId) {
    let conn = h.conn();
    let fx = h.hello(
        conn,
        ClientMsg::Join {
            room: "ABCDEF".into(),
            name: name.into(),
            resume_token: None,
            sync: true,
        },
    );
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send { msg, .. } => match &**msg {
                ServerMsg::Welcome { player_id, .. } => *player_id,
                _ => None,
            },
            _ => None,
        })
        .expect("welcome");
    (conn, id)
}

/// A press made at server time `pressed` by a client whose clock runs
/// `offset` ahead, arriving at `h.now`, measured with delay bound `bound`.
fn press(h: &mut Harness, conn: ConnId, pressed: f64, offset: f64, bound: u64) -> Vec<Effect> {
    let qid = h.room.current_qid().expect("question");
    let timing = PressTiming {
        arrival: h.now,
        offset_ms: Some(offset),
        bound_ms: bound,
    };
    h.send(
        conn,
        ClientMsg::Buzz {
            qid,
            pressed_ms: Some(pressed + offset),
            timing: Some(timing),
        },
    )
}

fn floor(h: &Harness) -> Option<PlayerId> {
    h.room.d.current().and_then(|q| q.floor)
}

fn host_queue(fx: &[Effect]) -> Option<Vec<crate::protocol::BuzzEntry>> {
    sent_to(fx, &Audience::Host)
        .into_iter()
        .rev()
        .find_map(|m| match m {
            ServerMsg::BuzzQueue { queue, .. } => Some(queue),
            _ => None,
        })
}

#[test]
fn the_earlier_press_wins_the_window_though_it_arrived_later() {
    let mut h = Harness::public();
    let (fast, f) = join_synced(&mut h, "fast");
    let (slow, s) = join_synced(&mut h, "slow");
    h.ask(open_q("b"), Mode::Buzz, None);
    let t0 = h.now as f64;
    // Slow pressed at t0+10 over a 300 ms link; fast at t0+50 over 20 ms.
    h.now += 70;
    press(&mut h, fast, t0 + 50.0, 1234.0, 40);
    assert_eq!(floor(&h), None, "nobody has the floor while collecting");
    let until = h.now + 150;
    assert_eq!(h.room.d.current().and_then(|q| q.window_until), Some(until));
    assert!(h.room.next_wakeup().is_some_and(|t| t <= until));
    h.now += 100;
    press(&mut h, slow, t0 + 10.0, -99_000.0, 330);
    h.now += 49;
    h.tick();
    assert_eq!(floor(&h), None, "the window is still open");
    h.now += 1;
    let fx = h.tick();
    assert_eq!(floor(&h), Some(s));
    let q = h.room.d.current().expect("q");
    assert_eq!(q.queue, vec![(s, 10), (f, 50)]);
    // The host sees arrival and compensated instant; players only the instant.
    let queue = host_queue(&fx).expect("host queue");
    assert_eq!(queue[0].arrival_ms, Some(170));
    assert_eq!(queue[0].at_ms, 10);
    assert_eq!(queue[0].bound_ms, Some(330));
    for to in [Audience::Players, Audience::Screens] {
        for m in sent_to(&fx, &to) {
            if let ServerMsg::BuzzQueue { queue, floor, .. } = m {
                assert_eq!(floor, Some(s));
                assert!(queue
                    .iter()
                    .all(|e| e.arrival_ms.is_none() && e.bound_ms.is_none()));
            }
        }
    }
    // The response time stored is the compensated one.
    assert_eq!(q.entries.get(&s).and_then(|e| e.response_ms), Some(10));
}

#[test]
fn a_claim_is_trusted_only_within_its_delay_bound() {
    let mut h = Harness::public();
    let (a, pa) = join_synced(&mut h, "a");
    let (b, pb) = join_synced(&mut h, "b");
    h.ask(open_q("b"), Mode::Buzz, None);
    let t0 = h.now;
    h.now += 100;
    // An honest press 60 ms ago over a link of bound 80.
    press(&mut h, a, (t0 + 40) as f64, 0.0, 80);
    h.now += 10;
    // A forged claim a second early, bound 50: placed 50 ms before arrival.
    let fx = press(&mut h, b, (t0 + 110 - 1000) as f64, 500.0, 50);
    assert!(errors(&fx).is_empty());
    let q = h.room.d.current().expect("q");
    assert_eq!(q.queue, vec![(pa, 40), (pb, 60)]);
    assert!(q.presses.get(&pb).is_some_and(|p| p.clamped));
    assert!(q.presses.get(&pa).is_some_and(|p| !p.clamped));
    h.advance(500);
    assert_eq!(floor(&h), Some(pa));
}

#[test]
fn window_zero_or_no_synced_player_means_arrival_order_at_once() {
    for window in [0, 150] {
        let mut h = Harness::new(RoomOptions {
            buzz_window_ms: window,
            ..RoomOptions::default()
        });
        let (late, _) = if window == 0 {
            join_synced(&mut h, "late")
        } else {
            let (c, id, _) = h.join("late");
            (c, id)
        };
        let (early, pe) = if window == 0 {
            join_synced(&mut h, "early")
        } else {
            let (c, id, _) = h.join("early");
            (c, id)
        };
        h.ask(open_q("b"), Mode::Buzz, None);
        let t0 = h.now as f64;
        h.now += 300;
        press(&mut h, early, t0 + 200.0, 0.0, 100);
        assert_eq!(floor(&h), Some(pe), "window {window}: floor at once");
        h.now += 10;
        press(&mut h, late, t0 + 10.0, 0.0, 400);
        let q = h.room.d.current().expect("q");
        assert_eq!(q.queue.first().map(|e| e.0), Some(pe), "window {window}");
        assert_eq!(floor(&h), Some(pe));
    }
}

#[test]
fn closing_during_the_window_gives_the_floor_and_judge_waits_for_it() {
    let mut h = Harness::public();
    let (a, pa) = join_synced(&mut h, "a");
    h.ask(open_q("b"), Mode::Buzz, None);
    h.now += 30;
    let pressed = h.now as f64 - 10.0;
    press(&mut h, a, pressed, 0.0, 50);
    let judge = ClientMsg::Judge {
        player_id: pa,
        correct: true,
    };
    assert_eq!(errors(&h.host_cmd(judge.clone())), ["not_your_turn"]);
    h.host_cmd(ClientMsg::Close);
    assert_eq!(floor(&h), Some(pa));
    assert_eq!(h.room.d.current().and_then(|q| q.window_until), None);
    assert!(errors(&h.host_cmd(judge)).is_empty());
}

#[test]
fn a_late_press_never_jumps_the_floor_holder() {
    let mut h = Harness::public();
    let (a, pa) = join_synced(&mut h, "a");
    let (b, pb) = join_synced(&mut h, "b");
    h.ask(open_q("b"), Mode::Buzz, None);
    let t0 = h.now as f64;
    h.now += 100;
    press(&mut h, a, t0 + 90.0, 0.0, 20);
    h.advance(200);
    assert_eq!(floor(&h), Some(pa));
    // After the window: b claims an instant before a's, within its bound.
    press(&mut h, b, t0 + 50.0, 0.0, 600);
    let q = h.room.d.current().expect("q");
    assert_eq!(q.queue.iter().map(|e| e.0).collect::<Vec<_>>(), [pa, pb]);
    assert_eq!(floor(&h), Some(pa));
}

/// One simulated player: its link and clock, and when it pressed.
#[derive(Debug, Clone)]
struct Sim {
    press_at: u64,
    delay: u64,
    bound: u64,
    offset: f64,
    forged_early: Option<u64>,
}

fn sim() -> impl Strategy<Value = Sim> {
    (
        0u64..400,
        1u64..350,
        0u64..100,
        -1e9f64..1e9,
        prop::option::weighted(0.2, 1u64..2000),
    )
        .prop_map(|(press_at, delay, extra, offset, forged_early)| Sim {
            press_at,
            delay,
            bound: delay + extra,
            offset,
            forged_early,
        })
}

/// Runs presses through a room at their arrival times; returns the room's
/// queue and floor once the window is over.
fn run(sims: &[Sim], window: u64) -> (Harness, Vec<PlayerId>) {
    let mut h = Harness::new(RoomOptions {
        buzz_window_ms: window,
        ..RoomOptions::default()
    });
    let conns: Vec<(ConnId, PlayerId)> = (0..sims.len())
        .map(|i| join_synced(&mut h, &format!("p{i}")))
        .collect();
    h.ask(open_q("b"), Mode::Buzz, None);
    let t0 = h.now;
    let mut order: Vec<usize> = (0..sims.len()).collect();
    order.sort_by_key(|&i| sims[i].press_at + sims[i].delay);
    for &i in &order {
        let s = &sims[i];
        let arrival = t0 + s.press_at + s.delay;
        if arrival > h.now {
            h.now = arrival;
            h.tick();
        }
        let claim = (t0 + s.press_at) as f64 - s.forged_early.unwrap_or(0) as f64;
        press(&mut h, conns[i].0, claim, s.offset, s.bound);
    }
    let ids = conns.iter().map(|c| c.1).collect();
    (h, ids)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Honest presses that all arrive within the window are ordered by the
    /// instant they were made; the earliest gets the floor; every press is
    /// placed inside its trusted interval.
    #[test]
    fn honest_presses_in_the_window_go_in_press_order(
        sims in prop::collection::vec(sim(), 1..8),
    ) {
        let sims: Vec<Sim> = sims.into_iter().map(|s| Sim { forged_early: None, ..s }).collect();
        let window = 2_000;
        let (mut h, ids) = run(&sims, window);
        h.advance(window + 1);
        let q = h.room.d.current().cloned().expect("q");
        let mut expected: Vec<usize> = (0..sims.len()).collect();
        expected.sort_by_key(|&i| (sims[i].press_at, sims[i].press_at + sims[i].delay));
        let got: Vec<u64> = q.queue.iter().map(|e| e.1).collect();
        let want: Vec<u64> = expected.iter().map(|&i| sims[i].press_at).collect();
        prop_assert_eq!(got, want);
        let earliest = sims.iter().map(|s| s.press_at).min();
        let holder = q.floor.and_then(|f| ids.iter().position(|id| *id == f));
        prop_assert_eq!(holder.map(|i| sims[i].press_at), earliest);
        for (i, s) in sims.iter().enumerate() {
            let p = q.presses.get(&ids[i]).copied().expect("press");
            prop_assert_eq!(p.arrival_ms, s.press_at + s.delay);
            prop_assert!(!p.clamped);
        }
    }

    /// Whatever the claims, a press is never placed before arrival − bound
    /// or after its arrival; with the window at 0 the queue is arrival order.
    #[test]
    fn claims_stay_in_the_trusted_interval_and_window_zero_is_arrival_order(
        sims in prop::collection::vec(sim(), 1..8),
        window in prop_oneof![Just(0u64), 1u64..500],
    ) {
        let (mut h, ids) = run(&sims, window);
        h.advance(window + 1);
        let q = h.room.d.current().cloned().expect("q");
        prop_assert!(q.floor.is_some());
        prop_assert_eq!(q.window_until, None);
        for (i, s) in sims.iter().enumerate() {
            let at = q.queue.iter().find(|e| e.0 == ids[i]).map(|e| e.1).expect("queued");
            let arrival = s.press_at + s.delay;
            prop_assert!(at <= arrival);
            if window == 0 {
                prop_assert_eq!(at, arrival);
            } else {
                prop_assert!(at + s.bound >= arrival, "{} + {} < {}", at, s.bound, arrival);
            }
        }
        if window == 0 {
            let arrivals: Vec<u64> = q.queue.iter().map(|e| q.presses[&e.0].arrival_ms).collect();
            prop_assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    /// A claim forged up to five seconds early never beats an honest press
    /// made more than the forger's delay bound before the forger's press.
    #[test]
    fn a_forged_claim_never_beats_a_press_more_than_its_bound_earlier(
        honest in sim(),
        forger in sim(),
        early in 1u64..5_000,
        margin in 1u64..300,
    ) {
        let honest = Sim { forged_early: None, ..honest };
        // The honest press is made more than the forger's bound before the
        // forger's press.
        let honest = Sim { press_at: 0, ..honest };
        let forger = Sim { press_at: forger.bound + margin, forged_early: Some(early), ..forger };
        let (mut h, ids) = run(&[honest, forger], 3_000);
        h.advance(3_001);
        prop_assert_eq!(floor(&h), Some(ids[0]));
    }
}

#[test]
fn an_old_snapshot_without_a_window_reads_as_the_default() {
    let json = serde_json::json!({"title":"t","capacity":5,"private":false,"resume_window_ms":1});
    let options: RoomOptions = serde_json::from_value(json).expect("options");
    assert_eq!(options.buzz_window_ms, DEFAULT_BUZZ_WINDOW_MS);
}
