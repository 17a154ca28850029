//! Cluster mode against real servers: three quizroom nodes sharing one
//! redis-server and one PostgreSQL database (both started by the harness
//! on loopback), one room with host, screen and players spread over all
//! three nodes.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::node::{create_room, in_process_nodes, Endpoint, Node};
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
    let nodes = in_process_nodes(&db, &redis.url(), &["a", "b", "c"]).await;
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

    // While the room runs (on a), its results answer on every node.
    for node in [a, b, c] {
        let (status, live) = results(node, &room.code, &room.host_token).await;
        assert_eq!(status, 200, "{live}");
        assert_eq!(live["ended"], json!(false), "{live}");
        assert_eq!(live["questions"][0]["counts"], tally["counts"], "{live}");
        let (status, _) = results(node, &room.code, "0123456789abcdef0123456789abcdef").await;
        assert_eq!(status, 401);
    }
    let csv = reqwest::Client::new()
        .get(c.url(&format!("/api/rooms/{}/results?format=csv", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.text().await.unwrap().contains("p5"));

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

/// Reconnects a player whose node died: tries `nodes` in turn with its
/// resume token until one seats it (the room is being taken over
/// meanwhile, so `cluster_unavailable` and closes are retried).
async fn resume_anywhere(
    nodes: &[&dyn Endpoint],
    code: &str,
    token: &str,
    within: Duration,
) -> (common::Client, Value) {
    let deadline = tokio::time::Instant::now() + within;
    let mut attempt = 0usize;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no node seated the player again within {within:?}"
        );
        let node = nodes[attempt % nodes.len()];
        attempt += 1;
        let mut client = common::Client::connect(&node.ws_url()).await;
        client
            .send_json(json!({"type": "resume", "room": code, "resume_token": token}))
            .await;
        match client.next_event(Duration::from_secs(6)).await {
            Some(common::client::Event::Json(m)) if m["type"] == "welcome" => return (client, m),
            Some(common::client::Event::Json(m)) => {
                assert!(
                    m["type"] == "error" && m["code"] == "cluster_unavailable",
                    "unexpected answer while the room moves: {m}"
                );
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_owner_killed_mid_question_the_room_goes_on_elsewhere() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    // Node a, the owner, is a process of its own, so it can die by SIGKILL.
    let args = |name: &str| {
        vec![
            "--redis-url".to_string(),
            redis.url(),
            "--database-url".to_string(),
            db.clone(),
            "--node-id".to_string(),
            format!("node-{name}"),
        ]
    };
    let a_args = args("a");
    let mut a = tokio::task::spawn_blocking(move || Node::start(&a_args))
        .await
        .unwrap();
    let survivors = in_process_nodes(&db, &redis.url(), &["b", "c"]).await;
    let [b, c] = [&survivors[0], &survivors[1]];
    let room = create_room(&a, json!({"title": "Failover"})).await;
    let mut host = common::game::host(b, &room).await;
    let mut screen = common::game::screen(c, &room).await;
    // p0 and p3 on the owner, p1 on b, p2 on c.
    let mut players = Vec::new();
    for (i, node) in [&a as &dyn Endpoint, b, c, &a].into_iter().enumerate() {
        players.push(join_on(node, &room, &format!("p{i}")).await);
    }
    host.recv_matching("a roster of four", |m| {
        m["type"] == "roster" && m["players"].as_array().is_some_and(|p| p.len() == 4)
    })
    .await;

    // Question 1 is played to its reveal: a closed question with scores.
    let mut others: Vec<&mut common::Client> = players.iter_mut().map(|p| &mut p.client).collect();
    others.push(&mut screen);
    let q1 = common::game::ask(&mut host, "vote", json!({"kinds": ["choice"]}), &mut others).await;
    // Every option is picked by someone, so someone is right.
    let options = q1["options"].as_array().map_or(2, Vec::len);
    for (i, p) in players.iter_mut().enumerate() {
        p.client
            .send_json(json!({"type": "vote", "qid": q1["qid"], "choice": i % options}))
            .await;
        p.client.recv_until("ack").await;
    }
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    let reveal = host.recv_until("reveal").await;
    // After one question a player's score is its points on it.
    let scores: Vec<i64> = players
        .iter()
        .map(|p| reveal["points"][p.id.to_string()].as_i64().unwrap_or(0))
        .collect();
    assert!(scores.iter().any(|s| *s > 0), "{reveal}");
    for p in players.iter_mut() {
        p.client.recv_until("reveal").await;
    }
    let q1_counts = screen.recv_until("reveal").await["counts"].clone();

    // Question 2 is open; p0 (on the owner) and p1 (on b) answer, acked.
    let mut others: Vec<&mut common::Client> = players.iter_mut().map(|p| &mut p.client).collect();
    others.push(&mut screen);
    let q2 = common::game::ask(&mut host, "vote", json!({}), &mut others).await;
    let qid2 = q2["qid"].clone();
    for i in [0, 1] {
        players[i]
            .client
            .send_json(json!({"type": "vote", "qid": qid2, "choice": 0}))
            .await;
        players[i].client.recv_until("ack").await;
    }
    host.recv_matching("two answers", |m| {
        m["type"] == "tally" && m["answered"] == 2
    })
    .await;

    // The owner dies.
    let killed = tokio::time::Instant::now();
    a.kill9();

    // Sockets on b and c stay connected and get the restored question.
    let fresh = |qid: Value| {
        move |m: &Value| m["type"] == "welcome" && m["state"]["question"]["qid"] == qid
    };
    let mut waits = Vec::new();
    let (left, right) = players.split_at_mut(2);
    for client in [
        &mut host,
        &mut screen,
        &mut left[1].client,
        &mut right[0].client,
    ] {
        let w = client
            .recv_matching("a fresh welcome with question 2", fresh(qid2.clone()))
            .await;
        waits.push((killed.elapsed(), w));
    }
    for (took, _) in &waits {
        assert!(*took <= Duration::from_secs(10), "restored after {took:?}");
    }
    let host_welcome = &waits[0].1;
    assert_eq!(host_welcome["role"], "host");
    assert_eq!(
        host_welcome["state"]["tally"]["answered"], 2,
        "both acknowledged answers came back: {host_welcome}"
    );
    let p1_welcome = &waits[2].1;
    assert_eq!(p1_welcome["player_id"].as_u64(), Some(players[1].id));
    assert_eq!(p1_welcome["state"]["pending"]["choices"], json!([0]));
    for client in [&host, &screen, &players[1].client, &players[2].client] {
        assert!(
            !client.log.iter().any(|m| m["type"] == "error"),
            "a surviving socket was sent an error: {:?}",
            client.log
        );
    }

    // The dead node's players come back on b and c with seat and score.
    let nodes: [&dyn Endpoint; 2] = [b, c];
    for i in [0, 3] {
        let (client, welcome) = resume_anywhere(
            &nodes[i % 2..],
            &room.code,
            &players[i].resume_token,
            Duration::from_secs(15),
        )
        .await;
        assert_eq!(welcome["player_id"].as_u64(), Some(players[i].id));
        assert_eq!(welcome["state"]["question"]["qid"], qid2);
        assert_eq!(
            welcome["state"]["you"]["score"].as_i64(),
            Some(scores[i]),
            "{welcome}"
        );
        players[i].client = client;
    }
    // p0 votes again (once is all that counts), p2 and p3 for the first time.
    for (i, choice) in [(0, 0), (2, 1), (3, 1)] {
        players[i]
            .client
            .send_json(json!({"type": "vote", "qid": qid2, "choice": choice}))
            .await;
        players[i].client.recv_until("ack").await;
    }
    host.send_json(json!({"type": "close"})).await;
    let closed = host.recv_until("closed").await;
    assert_eq!(closed["qid"], qid2);
    let tally = host
        .recv_matching("four answers", |m| {
            m["type"] == "tally" && m["answered"] == 4
        })
        .await;
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;

    // Every closed question, every acknowledged vote, once, on both nodes.
    for node in [b, c] {
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
        let qids: Vec<&Value> = questions.iter().map(|q| &q["qid"]).collect();
        assert_eq!(qids, vec![&q1["qid"], &qid2], "{stored}");
        assert_eq!(questions[0]["counts"], q1_counts, "{stored}");
        assert_eq!(questions[1]["counts"], tally["counts"], "{stored}");
        let counted: u64 = questions[1]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(counted, 4, "one vote per player: {stored}");
        assert_eq!(questions[1]["counts"][0], 2, "{stored}");
        assert_eq!(questions[1]["counts"][1], 2, "{stored}");
    }
    eprintln!(
        "failover: surviving sockets had the restored question after {:?}",
        waits.iter().map(|(t, _)| *t).collect::<Vec<_>>()
    );
}

/// Joins `name` on any node.
async fn join_on(node: &dyn Endpoint, room: &common::NewRoom, name: &str) -> common::game::Player {
    let mut client = common::Client::connect(&node.ws_url()).await;
    client
        .send_json(json!({"type": "join", "room": room.code, "name": name}))
        .await;
    let welcome = client.recv_until("welcome").await;
    assert_eq!(welcome["role"], "player", "{welcome}");
    common::game::Player {
        id: welcome["player_id"].as_u64().expect("player_id"),
        resume_token: welcome["resume_token"].as_str().unwrap().to_string(),
        name: name.to_string(),
        client,
    }
}

/// One command to redis-server in its own protocol (no client crate or
/// redis-cli needed); returns the raw reply.
fn redis_command(port: u16, args: &[&str]) -> String {
    use std::io::{Read, Write};
    let mut wire = format!("*{}\r\n", args.len());
    for a in args {
        wire.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("redis");
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(wire.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Joins on `node`, retrying while the cluster says it is unavailable.
async fn join_when_healed(
    node: &Server,
    room: &common::NewRoom,
    name: &str,
) -> common::game::Player {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut client = common::Client::connect(&node.ws_url()).await;
        client
            .send_json(json!({"type": "join", "room": room.code, "name": name}))
            .await;
        let answer = client
            .recv_matching("welcome or error", |m| {
                m["type"] == "welcome" || m["type"] == "error"
            })
            .await;
        if answer["type"] == "welcome" {
            return common::game::Player {
                id: answer["player_id"].as_u64().unwrap(),
                resume_token: answer["resume_token"].as_str().unwrap().to_string(),
                name: name.to_string(),
                client,
            };
        }
        assert_eq!(answer["code"], "cluster_unavailable", "{answer}");
        assert!(tokio::time::Instant::now() < deadline, "never healed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_stopped_and_restarted_mid_game() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let mut redis = redis;
    let db = pg.new_database();
    let nodes = in_process_nodes(&db, &redis.url(), &["a", "b"]).await;
    let [a, b] = [&nodes[0], &nodes[1]];
    let room = a.create_room_with(json!({"title": "Outage"})).await;
    let mut host = common::game::host(a, &room).await;
    let mut p0 = common::game::join(a, &room, "p0").await;
    let mut p1 = common::game::join(b, &room, "p1").await;
    let q1 = common::game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut [&mut p0.client, &mut p1.client],
    )
    .await;
    for p in [&mut p0, &mut p1] {
        p.client
            .send_json(json!({"type": "vote", "qid": q1["qid"], "choice": 0}))
            .await;
        p.client.recv_until("ack").await;
    }

    // Redis goes away (and loses everything: leases too).
    redis.stop();
    // The room goes on for the sockets on its owner's node.
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    let q2 = common::game::ask(&mut host, "vote", json!({}), &mut [&mut p0.client]).await;
    let qid2 = q2["qid"].clone();
    p0.client
        .send_json(json!({"type": "vote", "qid": qid2, "choice": 1}))
        .await;
    p0.client.recv_until("ack").await;
    // The socket on the other node stays open and is told why it hears
    // nothing; a join there gets the typed error.
    p1.client.expect_error("cluster_unavailable").await;
    let mut newcomer = common::Client::connect(&b.ws_url()).await;
    newcomer
        .send_json(json!({"type": "join", "room": room.code, "name": "late"}))
        .await;
    newcomer.expect_error("cluster_unavailable").await;

    // Redis comes back: the owner claims its lease again, the socket on b
    // gets a fresh welcome with the question it missed, and joins on b work.
    let restart = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    });
    let redis = restart.await.unwrap();
    let welcome = p1
        .client
        .recv_matching("a fresh welcome with question 2", |m| {
            m["type"] == "welcome" && m["state"]["question"]["qid"] == qid2
        })
        .await;
    assert_eq!(welcome["player_id"].as_u64(), Some(p1.id));
    p1.client
        .send_json(json!({"type": "vote", "qid": qid2, "choice": 1}))
        .await;
    p1.client.recv_until("ack").await;
    let mut p2 = join_when_healed(b, &room, "p2").await;
    p2.client
        .send_json(json!({"type": "vote", "qid": qid2, "choice": 0}))
        .await;
    p2.client.recv_until("ack").await;
    host.recv_matching("three answers", |m| {
        m["type"] == "tally" && m["answered"] == 3
    })
    .await;
    // The room never got a second owner.
    let lease = redis_command(
        redis.port,
        &["GET", &format!("quizroom:lease:{}", room.code)],
    );
    assert!(
        lease.contains("node-a"),
        "lease after the outage: {lease:?}"
    );
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;

    // Nothing acknowledged was lost, on either node.
    for node in [a, b] {
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
        assert_eq!(questions.len(), 2, "{stored}");
        assert_eq!(questions[0]["counts"][0], 2, "{stored}");
        assert_eq!(questions[1]["counts"][0], 1, "{stored}");
        assert_eq!(questions[1]["counts"][1], 2, "{stored}");
    }
}

/// `/healthz` of `node`, polled until `pred` holds (at most 15 s).
async fn health_until(node: &Server, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let body: Value = reqwest::get(node.url("/healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if pred(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz stayed {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_and_restarted_mid_game() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let nodes = in_process_nodes(&db, &redis.url(), &["a", "b"]).await;
    let [a, b] = [&nodes[0], &nodes[1]];
    let room = a.create_room_with(json!({"title": "No database"})).await;
    let mut host = common::game::host(a, &room).await;
    let mut p0 = common::game::join(a, &room, "p0").await;
    let mut p1 = common::game::join(b, &room, "p1").await;
    let q1 = common::game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut [&mut p0.client, &mut p1.client],
    )
    .await;
    let qid = q1["qid"].clone();
    p0.client
        .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
        .await;
    p0.client.recv_until("ack").await;
    health_until(a, |h| h["status"] == "ok").await;

    // PostgreSQL goes away.
    tokio::task::block_in_place(|| pg.stop());
    p1.client
        .send_json(json!({"type": "vote", "qid": qid, "choice": 1}))
        .await;
    // The host is warned; the answer is kept but not acknowledged (it is
    // not stored yet), and the boundary the host asks for waits too.
    let warning = host
        .recv_matching("the store warning", |m| {
            m["type"] == "warning" && m["active"] == true
        })
        .await;
    assert_eq!(warning["code"], "store_unavailable", "{warning}");
    let health = health_until(a, |h| h["status"] == "degraded").await;
    assert_eq!(health["store"], "unavailable", "{health}");
    host.send_json(json!({"type": "close"})).await;
    p1.client.ping().await;
    assert!(
        !p1.client.log.iter().any(|m| m["type"] == "ack"),
        "acknowledged before it was stored: {:?}",
        p1.client.log
    );
    assert!(!host.log.iter().any(|m| m["type"] == "closed"));
    // Players never see the host's banner.
    for p in [&p0.client, &p1.client] {
        assert!(!p.log.iter().any(|m| m["type"] == "warning"));
    }

    // PostgreSQL comes back: the retried writes land, the held ack and the
    // boundary go out, the banner goes, /healthz is ok again.
    tokio::task::block_in_place(|| pg.restart());
    let ack = p1.client.recv_until("ack").await;
    assert_eq!(ack["qid"], qid);
    let closed = host.recv_until("closed").await;
    assert_eq!(closed["qid"], qid);
    let cleared = |m: &Value| m["type"] == "warning" && m["active"] == false;
    if !host.log.iter().any(cleared) {
        host.recv_matching("the warning cleared", cleared).await;
    }
    health_until(a, |h| h["status"] == "ok").await;
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;

    // Both acknowledged answers are stored, once each.
    let mut stored = Value::Null;
    for _ in 0..100 {
        let (status, body) = results(b, &room.code, &room.host_token).await;
        if status == 200 && body["ended"] == json!(true) {
            stored = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let questions = stored["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 1, "{stored}");
    assert_eq!(questions[0]["counts"][0], 1, "{stored}");
    assert_eq!(questions[0]["counts"][1], 1, "{stored}");
}

/// Shutdown keeps to its budget while PostgreSQL is away: several rooms'
/// answers and boundaries wait behind the outage, and the writer's retries
/// end together once shutdown begins, not after a budget per queued batch.
/// Nothing unacknowledged is promised, so nothing promised is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_ends_in_its_budget_while_postgres_is_down() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let db = pg.new_database();
    let mut server = Server::start_with(move |c| c.database_url = Some(db)).await;
    let mut rooms = Vec::new();
    for i in 0..4 {
        let room = server
            .create_room_with(json!({"title": format!("Room {i}")}))
            .await;
        let mut host = common::game::host(&server, &room).await;
        let mut player = common::game::join(&server, &room, "p").await;
        let question =
            common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;
        rooms.push((host, player, question["qid"].clone()));
    }
    health_until(&server, |h| h["status"] == "ok").await;

    tokio::task::block_in_place(|| pg.stop());
    for (host, player, qid) in &mut rooms {
        player
            .client
            .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
            .await;
        host.send_json(json!({"type": "close"})).await;
    }
    health_until(&server, |h| h["status"] == "degraded").await;
    for (_, player, _) in &mut rooms {
        player.client.ping().await;
        assert!(
            !player.client.log.iter().any(|m| m["type"] == "ack"),
            "acknowledged without the database: {:?}",
            player.client.log
        );
    }

    let took = server.shutdown_within(Duration::from_secs(60)).await;
    assert!(
        took <= quizroom::server::SHUTDOWN_BUDGET + Duration::from_secs(3),
        "shutdown took {took:?} with the database away"
    );
}

/// A socket whose hello is relayed to an owner that never answers (it
/// died, a failover is under way) hears `cluster_unavailable` before its
/// own identify timeout would close it, and its socket is still open then:
/// the relay's wait is shorter than the identify timeout. The owner here
/// is a lease in Redis naming a node that is not running.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hello_the_owner_never_answers_gets_cluster_unavailable_before_the_identify_timeout() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let identify = Duration::from_millis(1_500);
    let redis_url = redis.url();
    let node = Server::start_with(move |c| {
        c.database_url = Some(db);
        c.redis_url = Some(redis_url);
        c.node_id = Some("node-a".into());
        c.identify_timeout_ms = identify.as_millis() as u64;
    })
    .await;
    let mut redis_conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let code = "GHQSTR";
    let _: () = redis::cmd("SET")
        .arg(format!("quizroom:lease:{code}"))
        .arg("node-gone#0000000000000000")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut redis_conn)
        .await
        .unwrap();

    let mut socket = common::Client::connect(&node.ws_url()).await;
    let connected = std::time::Instant::now();
    socket
        .send_json(json!({"type": "join", "room": code, "name": "late"}))
        .await;
    match socket.next_event(identify * 2).await {
        Some(common::client::Event::Json(error)) => {
            assert_eq!(error["type"], "error", "{error}");
            assert_eq!(error["code"], "cluster_unavailable", "{error}");
        }
        other => panic!("expected cluster_unavailable, got {other:?}"),
    }
    let took = connected.elapsed();
    assert!(
        took < identify,
        "the error came after the identify timeout: {took:?}"
    );
    // Still open: it may try again.
    socket.ping().await;
}
