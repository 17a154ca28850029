//! Live-room behaviour over real sockets: simultaneous buzzes, duplicate
//! votes, refresh mid-question, refusals inside a room, slow and dead
//! peers, and rooms that lose their host.

mod common;

use std::collections::HashSet;

use common::game::{self, Player};
use common::{Client, Server};
use futures_util::future::join_all;
use serde_json::{json, Value};

fn player_clients(players: &mut [Player]) -> Vec<&mut Client> {
    players.iter_mut().map(|p| &mut p.client).collect()
}

#[tokio::test]
async fn fifty_simultaneous_buzzes_give_one_floor_and_a_queue_of_fifty() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut players = game::join_many(&server, &room, "fast", 50).await;
    let question = game::ask(
        &mut host,
        "buzz",
        json!({}),
        &mut player_clients(&mut players),
    )
    .await;
    let qid = question["qid"].clone();

    let press = json!({"type": "buzz", "qid": qid}).to_string();
    join_all(players.iter_mut().map(|p| p.client.send_text(&press))).await;
    for player in players.iter_mut() {
        let ack = player.client.recv_until("ack").await;
        assert_eq!(ack["ref"], "buzz");
    }
    let full = host
        .recv_matching("queue of 50", |m| {
            m["type"] == "buzz_queue" && m["queue"].as_array().map(Vec::len) == Some(50)
        })
        .await;
    let queue = full["queue"].as_array().unwrap();
    let ids: Vec<u64> = queue
        .iter()
        .map(|e| e["player_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        50,
        "each player once"
    );
    let times: Vec<u64> = queue.iter().map(|e| e["at_ms"].as_u64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "queue in press order: {times:?}"
    );
    assert_eq!(full["floor"], ids[0], "the first press holds the floor");
    // Every queue the host ever saw had that same single floor holder.
    for update in host.log.iter().filter(|m| m["type"] == "buzz_queue") {
        assert_eq!(update["floor"], ids[0], "floor changed hands: {update}");
    }
    // Players see the same floor.
    let floor = players[49]
        .client
        .recv_matching("floor", |m| {
            m["type"] == "buzz_queue" && m["floor"] == ids[0]
        })
        .await;
    assert_eq!(floor["qid"], qid);
}

#[tokio::test]
async fn duplicate_votes_get_the_same_ack_and_count_once() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut players = game::join_many(&server, &room, "twice", 2).await;
    let question = game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut player_clients(&mut players),
    )
    .await;
    let qid = question["qid"].clone();
    let first = json!({"type": "vote", "qid": qid, "choice": 0});
    let mut acks = Vec::new();
    for msg in [
        &first,
        &first,
        &json!({"type": "vote", "qid": qid, "choice": 1}),
    ] {
        players[0].client.send_json(msg.clone()).await;
        acks.push(players[0].client.recv_until("ack").await);
    }
    assert!(acks.iter().all(|a| a == &acks[0]), "acks differ: {acks:?}");
    players[1].client.send_json(first.clone()).await;
    players[1].client.recv_until("ack").await;
    let tally = host
        .recv_matching("tally of 2", |m| m["type"] == "tally" && m["answered"] == 2)
        .await;
    assert_eq!(
        tally["counts"][0], 2,
        "the first vote counts, once: {tally}"
    );
    assert_eq!(tally["counts"][1], 0);
}

#[tokio::test]
async fn refresh_mid_question_keeps_seat_score_and_pending_vote() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut players = game::join_many(&server, &room, "reload", 2).await;

    // Earn a score first.
    let q1 = game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut player_clients(&mut players),
    )
    .await;
    // The full key (a multi-select question needs every correct option).
    let right: Vec<u64> = q1["correct"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    players[0]
        .client
        .send_json(json!({"type": "vote", "qid": q1["qid"], "choices": right}))
        .await;
    players[0].client.recv_until("ack").await;
    host.send_json(json!({"type": "reveal"})).await;
    let reveal = players[0].client.recv_until("reveal").await;
    let score: i64 = reveal["points"][players[0].id.to_string()]
        .as_i64()
        .unwrap();
    assert!(score > 0);

    let q2 = game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut player_clients(&mut players),
    )
    .await;
    let qid = q2["qid"].clone();
    players[0]
        .client
        .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
        .await;
    let ack = players[0].client.recv_until("ack").await;

    let gone = players.remove(0);
    let (id, token) = (gone.id, gone.resume_token.clone());
    gone.client.drop_connection().await;
    host.recv_matching("seat shown disconnected", |m| {
        m["type"] == "roster"
            && m["players"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["player_id"] == id && p["connected"] == false)
            })
    })
    .await;

    let mut back = Client::connect(&server.ws_url()).await;
    back.send_json(json!({"type": "resume", "room": room.code, "resume_token": token}))
        .await;
    let welcome = back.recv_until("welcome").await;
    assert_eq!(welcome["player_id"], id);
    let state = &welcome["state"];
    assert_eq!(state["question"]["qid"], qid);
    assert_eq!(state["pending"]["choices"], json!([0]), "{welcome}");
    assert_eq!(state["you"]["score"], score, "{welcome}");
    // Voting again changes nothing: same ack.
    back.send_json(json!({"type": "vote", "qid": qid, "choice": 1}))
        .await;
    assert_eq!(back.recv_until("ack").await, ack);
    // A token the room never issued gets seat_expired, not a new player.
    let mut stranger = Client::connect(&server.ws_url()).await;
    stranger
        .send_json(json!({"type": "resume", "room": room.code, "resume_token": "f".repeat(32)}))
        .await;
    stranger.expect_error("seat_expired").await;
    stranger.ping().await;
}

#[tokio::test]
async fn refusals_inside_a_room_are_typed_and_change_nothing() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut players = game::join_many(&server, &room, "careful", 2).await;
    let question = game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut player_clients(&mut players),
    )
    .await;
    let qid = question["qid"].as_u64().unwrap();
    let options = question["options"].as_array().unwrap().len();
    let p = &mut players[0].client;
    let cases = [
        (
            json!({"type": "ask", "mode": "vote", "topics": []}),
            "forbidden",
        ),
        (json!({"type": "reveal"}), "forbidden"),
        (json!({"type": "kick", "player_id": 2}), "forbidden"),
        (
            json!({"type": "vote", "qid": qid, "choice": options + 5}),
            "bad_choice",
        ),
        (
            json!({"type": "vote", "qid": qid + 7, "choice": 0}),
            "wrong_question",
        ),
        (
            json!({"type": "answer", "qid": qid, "text": "hi"}),
            "wrong_mode",
        ),
        (json!({"type": "buzz", "qid": qid}), "wrong_mode"),
        (
            json!({"type": "join", "room": room.code, "name": "again"}),
            "already_identified",
        ),
    ];
    for (msg, code) in cases {
        p.send_json(msg).await;
        p.expect_error(code).await;
        p.ping().await;
    }
    host.send_json(json!({"type": "close"})).await;
    p.recv_until("closed").await;
    p.send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
        .await;
    p.expect_error("question_closed").await;
    p.ping().await;
    // Nothing was counted.
    host.send_json(json!({"type": "reveal"})).await;
    let reveal = host.recv_until("reveal").await;
    let counted: u64 = reveal["counts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(counted, 0, "{reveal}");

    // A wrong host token and a taken name are refused on a usable socket.
    let mut impostor = Client::connect(&server.ws_url()).await;
    impostor
        .send_json(json!({"type": "host", "room": room.code, "token": "0".repeat(32)}))
        .await;
    impostor.expect_error("bad_token").await;
    impostor
        .send_json(json!({"type": "join", "room": room.code, "name": "CAREFUL1"}))
        .await;
    impostor.expect_error("name_taken").await;
    impostor
        .send_json(json!({"type": "join", "room": room.code, "name": "newcomer"}))
        .await;
    assert_eq!(impostor.recv_until("welcome").await["role"], "player");
}

#[tokio::test]
async fn a_full_room_refuses_more_players() {
    let server = Server::start_with(|c| c.room_capacity = 2).await;
    let room = server.create_room().await;
    let _host = game::host(&server, &room).await;
    let _players = game::join_many(&server, &room, "seat", 2).await;
    let mut late = Client::connect(&server.ws_url()).await;
    late.send_json(json!({"type": "join", "room": room.code, "name": "late"}))
        .await;
    late.expect_error("room_full").await;
    late.ping().await;
    // Screens do not take seats.
    game::screen(&server, &room).await;
}

#[tokio::test]
async fn kicked_player_is_closed_with_4001_and_cannot_come_back() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut players = game::join_many(&server, &room, "rowdy", 1).await;
    let victim = players.remove(0);
    let mut victim_client = victim.client;
    host.send_json(json!({"type": "kick", "player_id": victim.id}))
        .await;
    assert_eq!(victim_client.expect_close().await, Some(4001));
    let mut again = Client::connect(&server.ws_url()).await;
    again
        .send_json(
            json!({"type": "resume", "room": room.code, "resume_token": victim.resume_token}),
        )
        .await;
    let error = again.recv_until("error").await;
    assert!(
        error["code"] == "kicked" || error["code"] == "seat_expired",
        "{error}"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_others_keep_receiving() {
    let server = Server::start_with(|c| c.outbound_queue = 32).await;
    let room = server.create_room().await;
    // Three host sockets, so the bursts below stay within each one's rate limit.
    let mut hosts = [
        game::host(&server, &room).await,
        game::host(&server, &room).await,
        game::host(&server, &room).await,
    ];
    // The slow player joins over a socket with a tiny receive buffer and
    // then stops reading.
    let mut slow = Client::connect_small_buffer(server.addr, &server.ws_url()).await;
    slow.send_json(json!({"type": "join", "room": room.code, "name": "sleepy"}))
        .await;
    let welcome = slow.recv_until("welcome").await;
    let slow_id = welcome["player_id"].clone();
    // Seats with long names make every leaderboard a few kilobytes.
    for i in 0..90 {
        let filler = game::join(&server, &room, &format!("filler-{i:02}-abcdefghijklmn")).await;
        filler.client.drop_connection().await;
    }
    let mut awake = game::join_many(&server, &room, "awake", 3).await;

    // Bursts of leaderboards (each `scores` plus a `you` per player), each
    // burst well within a queue, together far more than the slow socket's
    // queue and buffers hold.
    let burst = 8;
    for round in 0..6 {
        let sender = &mut hosts[round % 3];
        for _ in 0..burst {
            sender.send_json(json!({"type": "show_scores"})).await;
        }
        // The readers, reading as they should, get every leaderboard, complete.
        join_all(awake.iter_mut().map(|player| async move {
            for _ in 0..burst {
                let scores = player.client.recv_until("scores").await;
                assert_eq!(scores["leaderboard"].as_array().map(Vec::len), Some(94));
            }
        }))
        .await;
    }
    hosts[0]
        .recv_matching("slow seat disconnected", |m| {
            m["type"] == "roster"
                && m["players"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["player_id"] == slow_id && p["connected"] == false)
                })
        })
        .await;
    // Once it reads again, the slow client finds it was closed as slow...
    assert_eq!(slow.expect_close().await, Some(4008));
    // ...and takes its seat back.
    let mut back = Client::connect(&server.ws_url()).await;
    back.send_json(json!({
        "type": "resume", "room": room.code,
        "resume_token": welcome["resume_token"],
    }))
    .await;
    assert_eq!(back.recv_until("welcome").await["player_id"], slow_id);
}

#[tokio::test]
async fn a_silent_peer_is_detected_and_keeps_its_seat() {
    let server = Server::start_with(|c| c.ping_secs = 1).await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let ghost = game::join(&server, &room, "ghost").await;
    let started = std::time::Instant::now();
    // The ghost never reads again, so it never answers the server's pings.
    let (ghost_id, token, _silent) = (ghost.id, ghost.resume_token, ghost.client);
    host.recv_matching("ghost disconnected", |m| {
        m["type"] == "roster"
            && m["players"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["player_id"] == ghost_id && p["connected"] == false)
            })
    })
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(2),
        "declared dead after only {waited:?}"
    );
    let mut back = Client::connect(&server.ws_url()).await;
    back.send_json(json!({"type": "resume", "room": room.code, "resume_token": token}))
        .await;
    assert_eq!(back.recv_until("welcome").await["player_id"], ghost_id);
}

#[tokio::test]
async fn a_room_without_its_host_is_cleaned_up_after_the_grace_period() {
    let server = Server::start_with(|c| c.host_grace_secs = 1).await;
    let room = server.create_room().await;
    let mut watcher = game::screen(&server, &room).await;
    assert_eq!(watcher.expect_close().await, Some(4004));
    let mut late = Client::connect(&server.ws_url()).await;
    late.send_json(json!({"type": "screen", "room": room.code}))
        .await;
    // The room ended as a host's `end` would: a late screen gets its final
    // view, whether the room is still closing or already stored.
    let welcome = late.recv_until("welcome").await;
    assert_eq!(welcome["state"]["ended"], json!(true), "{welcome}");
    assert_eq!(late.expect_close().await, Some(1000));
    let mut joiner = Client::connect(&server.ws_url()).await;
    joiner
        .send_json(json!({"type": "join", "room": room.code, "name": "Late"}))
        .await;
    joiner.expect_error("room_ended").await;
}

#[tokio::test]
async fn look_alike_names_are_taken_and_length_counts_what_readers_see() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let _host = game::host(&server, &room).await;
    let bob = game::join(&server, &room, "Bob").await;
    let mut impostor = Client::connect(&server.ws_url()).await;
    // Fullwidth B, digit zero, Cyrillic Ve, mathematical bold B, other case.
    for alike in ["\u{FF22}ob", "B0b", "\u{0412}ob", "\u{1D401}ob", "bOB"] {
        impostor
            .send_json(json!({"type": "join", "room": room.code, "name": alike}))
            .await;
        impostor.expect_error("name_taken").await;
    }
    // 24 clusters of two code points each (e + combining acute) fit; 25 do not.
    let long = "e\u{0301}".repeat(25);
    impostor
        .send_json(json!({"type": "join", "room": room.code, "name": long}))
        .await;
    impostor.expect_error("bad_name").await;
    let fits = "e\u{0301}".repeat(24);
    impostor
        .send_json(json!({"type": "join", "room": room.code, "name": fits}))
        .await;
    let welcome = impostor.recv_until("welcome").await;
    assert_eq!(welcome["role"], "player");
    // A fullwidth name is shown in its plain form.
    let mut wide = Client::connect(&server.ws_url()).await;
    wide.send_json(json!({"type": "join", "room": room.code, "name": "\u{FF21}nn"}))
        .await;
    let welcome = wide.recv_until("welcome").await;
    assert_eq!(welcome["state"]["you"]["name"], "Ann", "{welcome}");
    drop(bob);
}
