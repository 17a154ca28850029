//! Cluster mode against real servers: three quizroom nodes sharing one
//! redis-server and one PostgreSQL database (both started by the harness
//! on loopback), one room with host, screen and players spread over all
//! three nodes.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::services::{Postgres, Redis};
use common::Server;

/// A redis-server, a PostgreSQL database and three nodes using them.
struct Cluster {
    nodes: Vec<Server>,
    _redis: Redis,
    _pg: Postgres,
}

async fn cluster() -> Cluster {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let (db, redis_url) = (db.clone(), redis.url());
        nodes.push(
            Server::start_with(move |c| {
                c.database_url = Some(db);
                c.redis_url = Some(redis_url);
                c.node_id = Some(format!("node-{name}"));
            })
            .await,
        );
    }
    // Each node is up once it answers.
    for node in &nodes {
        for _ in 0..200 {
            if reqwest::get(node.url("/healthz")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    Cluster {
        nodes,
        _redis: redis,
        _pg: pg,
    }
}

async fn results(node: &Server, code: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(node.url(&format!("/api/rooms/{code}/results?format=json")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_room_over_three_nodes_plays_like_a_local_one() {
    let cluster = cluster().await;
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    // Created on node a, which owns it; the host is on b, the screen on c.
    let room = a.create_room_with(json!({"title": "Keynote"})).await;
    let mut host = common::game::host(b, &room).await;
    let mut screen = common::game::screen(c, &room).await;
    let mut players = Vec::new();
    for (i, node) in [a, b, c, a, b, c].into_iter().enumerate() {
        players.push(common::game::join(node, &room, &format!("p{i}")).await);
    }
    let roster = host
        .recv_matching("a roster of six", |m| {
            m["type"] == "roster" && m["players"].as_array().is_some_and(|p| p.len() == 6)
        })
        .await;
    assert_eq!(roster["players"].as_array().unwrap().len(), 6);

    // A vote question: every node's sockets get it, the votes count once
    // each, also a player voting again from another node with its resume
    // token.
    let mut others: Vec<&mut common::Client> = players.iter_mut().map(|p| &mut p.client).collect();
    others.push(&mut screen);
    let q = common::game::ask(&mut host, "vote", json!({}), &mut others).await;
    let qid = q["qid"].clone();
    for (i, p) in players.iter_mut().enumerate() {
        p.client
            .send_json(json!({"type": "vote", "qid": qid, "choice": i % 2}))
            .await;
        p.client.recv_until("ack").await;
    }
    // Player 2 (on c) comes back on a and votes the same again.
    let mut again = common::Client::connect(&a.ws_url()).await;
    again
        .send_json(
            json!({"type": "resume", "room": room.code, "resume_token": players[2].resume_token}),
        )
        .await;
    let welcome = again.recv_until("welcome").await;
    assert_eq!(welcome["player_id"].as_u64(), Some(players[2].id));
    again
        .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
        .await;
    again.recv_until("ack").await;
    // Its old socket on c was replaced by this one.
    players[2].client = again;
    let tally = screen
        .recv_matching("a tally of six answers", |m| {
            m["type"] == "tally" && m["answered"] == 6
        })
        .await;
    assert_eq!(tally["counts"][0], 3, "{tally}");
    assert_eq!(tally["counts"][1], 3, "{tally}");
    let counted: u64 = tally["counts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(counted, 6, "one vote per player: {tally}");
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    for p in players.iter_mut() {
        p.client.recv_until("reveal").await;
        // Nobody on any node saw the key before the reveal.
        common::game::assert_no_keys(
            &common::game::before_reveal(&p.client, &qid),
            common::game::SECRET_KEYS,
            &p.name,
        );
    }
    common::game::assert_no_keys(
        &common::game::before_reveal(&screen, &qid),
        common::game::SECRET_KEYS,
        "screen",
    );

    // Every other mode on the same room, answered from all three nodes.
    for mode in ["poll", "self", "buzz", "text"] {
        let mut others: Vec<&mut common::Client> =
            players.iter_mut().map(|p| &mut p.client).collect();
        let q = common::game::ask(&mut host, mode, json!({}), &mut others).await;
        let qid = q["qid"].clone();
        for (i, p) in players.iter_mut().enumerate() {
            let msg = match mode {
                "buzz" => json!({"type": "buzz", "qid": qid}),
                "text" => json!({"type": "answer", "qid": qid, "text": format!("answer {i}")}),
                _ => json!({"type": "vote", "qid": qid, "choice": i % 2}),
            };
            p.client.send_json(msg).await;
            p.client.recv_until("ack").await;
        }
        if mode == "buzz" {
            let queue = host
                .recv_matching("six buzzes", |m| {
                    m["type"] == "buzz_queue" && m["queue"].as_array().is_some_and(|q| q.len() == 6)
                })
                .await;
            assert_eq!(queue["queue"].as_array().unwrap().len(), 6);
        }
        host.send_json(json!({"type": "close"})).await;
        host.recv_until("closed").await;
    }
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;

    // The results answer on every node, from the shared database.
    for node in [a, b, c] {
        let mut stored = Value::Null;
        for _ in 0..100 {
            let (status, body) = results(node, &room.code, &room.host_token).await;
            if status == 200 && body["ended"] == json!(true) {
                stored = body;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let questions = stored["questions"].as_array().expect("questions");
        assert_eq!(questions.len(), 5, "{stored}");
        assert_eq!(questions[0]["counts"], tally["counts"], "{stored}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_version_refuses_to_join() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    // The cluster already runs another relay version.
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string()])
        .args([
            "HSET",
            "quizroom:cluster:versions",
            "relay",
            "99",
            "schema",
            "2",
        ])
        .output();
    if out.map(|o| !o.status.success()).unwrap_or(true) {
        // No redis-cli: say it with the server's own protocol.
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
        s.write_all(b"HSET quizroom:cluster:versions relay 99 schema 2\r\n")
            .unwrap();
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = quizroom::Config {
        seeds: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds"),
        data_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
        database_url: Some(pg.new_database()),
        redis_url: Some(redis.url()),
        ..Default::default()
    };
    let err = quizroom::run(listener, config, std::future::pending())
        .await
        .expect_err("a node of another version must not start");
    let text = format!("{err:#}");
    assert!(text.contains("relay version"), "{text}");
    assert!(text.contains("refusing to join"), "{text}");
}
