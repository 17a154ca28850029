//! Cluster ownership when an owner is not what it seems: a node restarted
//! at once with the same `--node-id`, an owner frozen past its lease while
//! another node takes its room over, and the database refusing the
//! checkpoints and results of an owner that lost its room. Real
//! redis-server, PostgreSQL and node processes (SIGKILL, SIGSTOP/SIGCONT).

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::node::{create_room, in_process_nodes, Endpoint, Node};
use common::services::{Postgres, Redis};

/// One command to redis-server in its own protocol; returns the raw reply.
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

/// The value of room `code`'s lease (`None` when there is none).
fn lease(redis: &Redis, code: &str) -> Option<String> {
    let reply = redis_command(redis.port, &["GET", &format!("quizroom:lease:{code}")]);
    // `$N\r\nVALUE\r\n` or `$-1\r\n`.
    reply
        .strip_prefix('$')
        .and_then(|r| r.split_once("\r\n"))
        .filter(|(len, _)| !len.starts_with('-'))
        .map(|(_, rest)| rest.trim_end().to_string())
}

fn node_args(redis: &Redis, db: &str, name: &str) -> Vec<String> {
    vec![
        "--redis-url".to_string(),
        redis.url(),
        "--database-url".to_string(),
        db.to_string(),
        "--node-id".to_string(),
        format!("node-{name}"),
    ]
}

async fn start_node(args: Vec<String>) -> Node {
    tokio::task::spawn_blocking(move || Node::start(&args))
        .await
        .unwrap()
}

/// Final JSON results of ended room `code`, read on `node`.
async fn final_results(node: &(impl Endpoint + ?Sized), code: &str, token: &str) -> Value {
    for _ in 0..200 {
        let resp = reqwest::Client::new()
            .get(node.url(&format!("/api/rooms/{code}/results?format=json")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if body["ended"] == json!(true) {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no final results for {code}");
}

/// Reconnects a player with its resume token on `nodes` in turn until one
/// seats it (the room is moving meanwhile).
async fn resume_anywhere(
    nodes: &[&dyn Endpoint],
    code: &str,
    token: &str,
) -> (common::Client, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut attempt = 0usize;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no node seated the player again"
        );
        let node = nodes[attempt % nodes.len()];
        attempt += 1;
        let mut client = common::Client::connect(&node.ws_url()).await;
        client
            .send_json(json!({"type": "resume", "room": code, "resume_token": token}))
            .await;
        match client.next_event(Duration::from_secs(6)).await {
            Some(common::client::Event::Json(m)) if m["type"] == "welcome" => return (client, m),
            Some(common::client::Event::Json(m)) => assert!(
                m["type"] == "error" && m["code"] == "cluster_unavailable",
                "unexpected answer while the room moves: {m}"
            ),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A counter of `node`'s `/metrics`.
async fn metric(node: &(impl Endpoint + ?Sized), name: &str) -> f64 {
    let text = reqwest::get(node.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restarted_with_the_same_id_does_not_keep_its_rooms_leases() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    // Node b may not take leases (Redis refuses it `SET`), so the room can
    // only come back on the restarted node a: the case where a lease of
    // the same node id must still read as a new owner.
    let acl = redis_command(
        redis.port,
        &[
            "ACL", "SETUSER", "node-b", "on", ">secret", "~*", "&*", "+@all", "-set",
        ],
    );
    assert!(acl.starts_with("+OK"), "ACL SETUSER: {acl:?}");
    let b_url = format!("redis://node-b:secret@127.0.0.1:{}", redis.port);
    let mut a = start_node(node_args(&redis, &db, "a")).await;
    let others = in_process_nodes(&db, &b_url, &["b"]).await;
    let b = &others[0];
    let room = create_room(&a, json!({"title": "Restart"})).await;
    let before = lease(&redis, &room.code).expect("the owner's lease");
    assert!(before.starts_with("node-a#"), "lease value {before:?}");
    let mut host = common::game::host(b, &room).await;
    let mut p1 = common::game::join(b, &room, "p1").await;
    let q = common::game::ask(&mut host, "vote", json!({}), &mut [&mut p1.client]).await;
    let qid = q["qid"].clone();
    p1.client
        .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
        .await;
    p1.client.recv_until("ack").await;

    // The owner dies and comes straight back under the same node id.
    let killed = tokio::time::Instant::now();
    a.kill9();
    let a = start_node(node_args(&redis, &db, "a")).await;

    // The room is taken over (by whichever node claims it) and the
    // sockets on b get the restored question without reconnecting.
    let fresh = |m: &Value| m["type"] == "welcome" && m["state"]["question"]["qid"] == qid;
    let host_welcome = host
        .recv_matching("a fresh welcome with the question", fresh)
        .await;
    let p1_welcome = p1
        .client
        .recv_matching("a fresh welcome with the question", fresh)
        .await;
    let took = killed.elapsed();
    assert!(took <= Duration::from_secs(12), "restored after {took:?}");
    assert_eq!(host_welcome["role"], "host");
    assert_eq!(host_welcome["state"]["tally"]["answered"], 1);
    assert_eq!(p1_welcome["player_id"].as_u64(), Some(p1.id));
    assert_eq!(p1_welcome["state"]["pending"]["choices"], json!([0]));
    let after = lease(&redis, &room.code).expect("the new owner's lease");
    assert!(after.starts_with("node-a#"), "lease value {after:?}");
    assert_ne!(after, before, "the dead process's lease was kept alive");
    eprintln!("restart: {before} -> {after} after {took:?}");

    // The game goes on: a newcomer on the restarted node votes too.
    let mut p2 = resume_or_join(&a, &room).await;
    p2.client
        .send_json(json!({"type": "vote", "qid": qid, "choice": 1}))
        .await;
    p2.client.recv_until("ack").await;
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;
    let stored = final_results(b, &room.code, &room.host_token).await;
    let questions = stored["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 1, "{stored}");
    assert_eq!(questions[0]["counts"][0], 1, "{stored}");
    assert_eq!(questions[0]["counts"][1], 1, "{stored}");
}

/// Joins on `node`, retrying while the room is still moving.
async fn resume_or_join(node: &impl Endpoint, room: &common::NewRoom) -> common::game::Player {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut client = common::Client::connect(&node.ws_url()).await;
        client
            .send_json(json!({"type": "join", "room": room.code, "name": "p2"}))
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
                name: "p2".to_string(),
                client,
            };
        }
        assert_eq!(answer["code"], "cluster_unavailable", "{answer}");
        assert!(tokio::time::Instant::now() < deadline, "never seated");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_frozen_past_its_lease_is_fenced_and_its_sockets_follow() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let a = start_node(node_args(&redis, &db, "a")).await;
    let others = in_process_nodes(&db, &redis.url(), &["b"]).await;
    let b = &others[0];
    let room = create_room(&a, json!({"title": "Frozen"})).await;
    let mut host = common::game::host(b, &room).await;
    let mut p0 = common::game::join(&a, &room, "p0").await;
    let mut p1 = common::game::join(b, &room, "p1").await;
    // Its time runs out while the owner is frozen.
    let q = common::game::ask(
        &mut host,
        "vote",
        json!({"time_limit_ms": 3000}),
        &mut [&mut p0.client, &mut p1.client],
    )
    .await;
    let qid = q["qid"].clone();
    for (p, choice) in [(&mut p0, 0), (&mut p1, 1)] {
        p.client
            .send_json(json!({"type": "vote", "qid": qid, "choice": choice}))
            .await;
        p.client.recv_until("ack").await;
    }

    let fenced_before = metric(&a, "quizroom_cluster_fenced_writes_total").await;
    // The owner freezes (a stalled VM, a long GC pause): its lease runs
    // out and b takes the room over from the last checkpoint.
    a.signal("STOP");
    let welcome = host
        .recv_matching("a fresh welcome from the new owner", |m| {
            m["type"] == "welcome" && m["state"]["question"]["qid"] == qid
        })
        .await;
    assert_eq!(welcome["state"]["tally"]["answered"], 2, "{welcome}");
    let taken = lease(&redis, &room.code).expect("a lease");
    assert!(taken.starts_with("node-b#"), "lease value {taken:?}");
    // A restored open question comes back paused; the host closes it on
    // b, which checkpoints it.
    assert_eq!(welcome["state"]["question"]["paused"], true, "{welcome}");
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;

    // The owner wakes: its own timer closes the question there too and
    // it checkpoints; the database refuses (b's epoch is newer), and the
    // owner hands the room over: its socket closes with 1012.
    a.signal("CONT");
    let code = p0.client.expect_close().await;
    assert_eq!(code, Some(1012), "the stale owner's socket is handed over");
    let fenced = metric(&a, "quizroom_cluster_fenced_writes_total").await;
    assert!(
        fenced > fenced_before,
        "the stale owner's checkpoint was not refused ({fenced_before} -> {fenced})"
    );
    assert!(
        lease(&redis, &room.code).is_some_and(|l| l == taken),
        "the stale owner took the lease back"
    );

    // p0 resumes on the new owner's game, with its acknowledged vote.
    let nodes: [&dyn Endpoint; 2] = [&a, b];
    let (client, welcome) = resume_anywhere(&nodes, &room.code, &p0.resume_token).await;
    p0.client = client;
    assert_eq!(welcome["player_id"].as_u64(), Some(p0.id));
    assert_eq!(welcome["state"]["question"]["qid"], qid, "{welcome}");
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;

    // Each acknowledged vote exactly once, read on both nodes.
    for node in [&a as &dyn Endpoint, b] {
        let stored = final_results(node, &room.code, &room.host_token).await;
        let questions = stored["questions"].as_array().expect("questions");
        assert_eq!(questions.len(), 1, "{stored}");
        let counts = questions[0]["counts"].as_array().expect("counts");
        assert_eq!(counts[0], 1, "{stored}");
        assert_eq!(counts[1], 1, "{stored}");
        let total: u64 = counts.iter().filter_map(Value::as_u64).sum();
        assert_eq!(total, 2, "one vote per player: {stored}");
    }
}

#[test]
fn the_database_refuses_a_stale_owners_checkpoint_and_results() {
    use quizroom::storage::postgres::PgStore;
    use quizroom::storage::store::{now_ms, CheckpointRow, FinalResults, RoomRow};
    use quizroom::storage::Store;

    let pg = Postgres::start();
    let db = pg.new_database();
    let open = || PgStore::open(&db, Duration::from_secs(3600)).expect("open the store");
    let (old, new) = (open(), open());
    let room = RoomRow {
        code: "FENCED".into(),
        host_token: "host-token".into(),
        title: "Fenced".into(),
        created_ms: now_ms(),
    };
    let checkpoint = |who: &str, qid: u32| CheckpointRow {
        room: room.clone(),
        snapshot: json!({ "by": who }).to_string(),
        frozen: Vec::new(),
        boundary_qid: qid,
    };
    let results = |who: &str| FinalResults {
        json: json!({ "by": who }),
        csv: format!("by\n{who}\n"),
        questions: vec![(1, json!({ "by": who }))],
    };
    old.room_created(room.clone()).unwrap();
    old.checkpoint(checkpoint("old", 1)).unwrap();
    assert!(old.fenced_rooms().is_empty());

    // Another node takes the room over: its epoch is raised at once.
    assert_eq!(new.take_epoch("FENCED").unwrap(), Some(1));
    // The old owner, unaware, writes on: refused, and told so once.
    assert!(old.checkpoint(checkpoint("old", 2)).is_err());
    assert_eq!(old.fenced_rooms(), vec!["FENCED".to_string()]);
    assert!(old.fenced_rooms().is_empty());
    let running = new.running_room("FENCED").unwrap().expect("still running");
    assert_eq!(running.snapshot, json!({"by": "old"}));
    assert_eq!(running.boundary_qid, 1);

    // The new owner's writes go through; the old one's end is refused.
    new.checkpoint(checkpoint("new", 2)).unwrap();
    old.end_room("FENCED", now_ms(), Some(results("old")))
        .unwrap();
    assert_eq!(old.fenced_rooms(), vec!["FENCED".to_string()]);
    let running = new
        .running_room("FENCED")
        .unwrap()
        .expect("not ended by the old owner");
    assert_eq!(running.snapshot, json!({"by": "new"}));
    new.end_room("FENCED", now_ms(), Some(results("new")))
        .unwrap();
    assert!(new.fenced_rooms().is_empty());
    let stored = old
        .results("FENCED", "host-token")
        .unwrap()
        .expect("results");
    assert_eq!(stored.json, json!({"by": "new"}));
    assert_eq!(
        new.question_results("FENCED").unwrap(),
        vec![(1, json!({"by": "new"}))]
    );
    // An ended room cannot be taken over.
    assert_eq!(new.take_epoch("FENCED").unwrap(), None);
}
