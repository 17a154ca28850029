//! What a question boundary costs the room task: one room of N players
//! plays Q vote questions (everyone votes); at each `close` it times the
//! whole-snapshot path (a `serde_json::Value` tree, then its text) against
//! the split snapshot a checkpoint now writes (seats and the last question
//! as text, each finished question once).
//!
//! ```text
//! cargo run --release -p quizroom --example checkpoint_cost -- 2000 30
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use quizroom::live::room::{Command, Room, RoomOptions};
use quizroom::protocol::{ClientMsg, Mode};

fn main() {
    let mut args = std::env::args().skip(1);
    let players: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let questions: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let (catalog, _) = quizroom::bank::catalog::load_dir(&seeds);
    let options = RoomOptions {
        capacity: usize::try_from(players).unwrap_or(usize::MAX) + 1,
        ..RoomOptions::default()
    };
    let code = "BENCH2".to_string();
    let mut room = Room::new(code.clone(), "t".repeat(32), options, Arc::new(catalog), 7);
    let mut now = 1_700_000_000_000;
    let mut apply = |room: &mut Room, cmd: Command| {
        now += 1;
        room.apply(cmd, now)
    };
    let host = ClientMsg::Host {
        room: code.clone(),
        token: "t".repeat(32),
    };
    apply(&mut room, Command::Hello { conn: 0, msg: host });
    for conn in 1..=players {
        let join = ClientMsg::Join {
            room: code.clone(),
            name: format!("player {conn}"),
            resume_token: None,
            sync: false,
        };
        apply(&mut room, Command::Hello { conn, msg: join });
    }
    println!("players {players}, questions {questions}");
    println!("question  whole snapshot ms  split snapshot ms  split bytes written");
    let (mut whole_total, mut split_total) = (0.0, 0.0);
    for i in 0..questions {
        let ask = ClientMsg::Ask {
            mode: Some(Mode::Vote),
            topics: Vec::new(),
            question_id: None,
            time_limit_ms: None,
            kinds: None,
            penalty: None,
        };
        apply(&mut room, Command::Message { conn: 0, msg: ask });
        let Some(qid) = room.current_qid() else {
            println!("the seed banks ran out of vote questions after {i}");
            break;
        };
        for conn in 1..=players {
            let vote = ClientMsg::Vote {
                qid,
                choice: Some(usize::try_from(conn % 2).unwrap_or(0)),
                choices: None,
            };
            apply(&mut room, Command::Message { conn, msg: vote });
        }
        apply(
            &mut room,
            Command::Message {
                conn: 0,
                msg: ClientMsg::Close,
            },
        );
        let started = Instant::now();
        let whole = room.snapshot().to_string();
        let whole_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let Ok(parts) = room.snapshot_parts() else {
            println!("snapshot failed");
            return;
        };
        let split_ms = started.elapsed().as_secs_f64() * 1000.0;
        let written = parts.json.len() + parts.frozen.iter().map(|(_, j)| j.len()).sum::<usize>();
        room.frozen_stored(parts.frozen_upto);
        whole_total += whole_ms;
        split_total += split_ms;
        if i == 0 || (i + 1) % 5 == 0 {
            println!(
                "{:>8}  {whole_ms:>17.2}  {split_ms:>17.2}  {written:>10} of {}",
                i + 1,
                whole.len()
            );
        }
        apply(
            &mut room,
            Command::Message {
                conn: 0,
                msg: ClientMsg::Reveal,
            },
        );
    }
    println!("total     {whole_total:>17.1}  {split_total:>17.1}");
}
