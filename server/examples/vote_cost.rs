//! The pure part of a vote, timed without sockets: decoding the frame and
//! the room counting it (effects included: the ack message, the answer
//! record, the throttled tally). The vote storm benchmark measures the
//! whole server in 10 ms CPU ticks; this shows the share of the code that
//! is not the kernel's, per vote, in nanoseconds.
//!
//! ```text
//! cargo run --release -p quizroom --example vote_cost -- 10000 5
//! ```

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use quizroom::live::room::{Command, Room, RoomOptions};
use quizroom::protocol::{decode, ClientMsg, Mode};

fn main() {
    let mut args = std::env::args().skip(1);
    let players: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let (catalog, _) = quizroom::bank::catalog::load_dir(&seeds);
    let options = RoomOptions {
        capacity: usize::try_from(players).unwrap_or(usize::MAX) + 1,
        ..RoomOptions::default()
    };
    let code = "BENCH3".to_string();
    let mut room = Room::new(code.clone(), "t".repeat(32), options, Arc::new(catalog), 7);
    let mut now = 1_700_000_000_000;
    let host = ClientMsg::Host {
        room: code.clone(),
        token: "t".repeat(32),
    };
    room.apply(Command::Hello { conn: 0, msg: host }, now);
    for conn in 1..=players {
        let join = ClientMsg::Join {
            room: code.clone(),
            name: format!("player {conn}"),
            resume_token: None,
            sync: false,
        };
        room.apply(Command::Hello { conn, msg: join }, now);
    }
    println!("players {players}, rounds {rounds}");
    println!("round  decode ns/vote  tree+typed decode ns/vote  room ns/vote  effects/vote");
    for round in 0..rounds {
        now += 10_000;
        let ask = ClientMsg::Ask {
            mode: Some(Mode::Vote),
            topics: Vec::new(),
            question_id: None,
            time_limit_ms: None,
            kinds: None,
            penalty: None,
        };
        room.apply(Command::Message { conn: 0, msg: ask }, now);
        let Some(qid) = room.current_qid() else {
            println!("no question to ask");
            return;
        };
        let frames: Vec<String> = (1..=players)
            .map(|p| format!(r#"{{"type":"vote","qid":{qid},"choice":{}}}"#, p % 2))
            .collect();
        let started = Instant::now();
        let msgs: Vec<ClientMsg> = frames.iter().filter_map(|f| decode(f).ok()).collect();
        let decode_ns = started.elapsed().as_nanos() as f64 / players as f64;
        // What decoding cost when every frame went through a JSON tree first.
        let started = Instant::now();
        for f in &frames {
            let tree: serde_json::Value = serde_json::from_str(f).unwrap_or_default();
            black_box(serde_json::from_value::<ClientMsg>(tree).ok());
        }
        let tree_ns = started.elapsed().as_nanos() as f64 / players as f64;
        let mut effects = 0usize;
        let started = Instant::now();
        for (conn, msg) in (1..=players).zip(msgs) {
            now += u64::from(conn % 50 == 0);
            effects += room.apply(Command::Message { conn, msg }, now).len();
        }
        let room_ns = started.elapsed().as_nanos() as f64 / players as f64;
        println!(
            "{:>5}  {decode_ns:>14.0}  {tree_ns:>25.0}  {room_ns:>12.0}  {:>12.2}",
            round + 1,
            effects as f64 / players as f64
        );
        room.apply(
            Command::Message {
                conn: 0,
                msg: ClientMsg::Reveal,
            },
            now,
        );
    }
}
