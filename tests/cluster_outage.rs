//! Creating and ending rooms while the shared PostgreSQL database is away:
//! an end answers at once (the podium shows, the results are written once
//! the database is back, exactly once), a room without a token to reuse is
//! created at once, and a host token that cannot be checked fails fast with
//! `store_unavailable`. Real redis-server, real PostgreSQL stopped and
//! started by the test, two nodes.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::node::in_process_nodes;
use common::services::{Postgres, Redis};
use common::Server;

/// How long an end or a create may take while the database is away.
const PROMPT: Duration = Duration::from_secs(2);

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

/// The stored final results of `code`, once there (at most 20 s).
async fn ended_results(node: &Server, code: &str, token: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = results(node, code, token).await;
        if status == 200 && body["ended"] == json!(true) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ended in the store: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn history(node: &Server, token: &str) -> Value {
    reqwest::Client::new()
        .get(node.url("/api/rooms"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn post_room(node: &Server, body: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(node.url("/api/rooms"))
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap(), started.elapsed())
}

/// The host ends its room; returns the time until its `ended` arrived.
async fn end(host: &mut common::Client) -> Duration {
    let started = Instant::now();
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rooms_are_created_and_ended_promptly_while_postgres_is_away() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let nodes = in_process_nodes(&db, &redis.url(), &["a", "b"]).await;
    let [a, b] = [&nodes[0], &nodes[1]];

    // A room plays one question to its reveal with the database up.
    let played = a.create_room_with(json!({"title": "Played"})).await;
    let mut host = common::game::host(a, &played).await;
    let mut player = common::game::join(a, &played, "p").await;
    let q = common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;
    player
        .client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": 1}))
        .await;
    player.client.recv_until("ack").await;
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    // A second question is open when the database goes.
    let q2 = common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;

    // PostgreSQL goes away. The player's answer is counted, not acked.
    tokio::task::block_in_place(|| pg.stop());
    player
        .client
        .send_json(json!({"type": "vote", "qid": q2["qid"], "choice": 0}))
        .await;
    // Its pong means the vote is in the room's queue, ahead of the end.
    player.client.ping().await;

    // Ending answers at once: the host and the player get the end; the
    // ack still waits for the database (it promises the answer is stored).
    let took = end(&mut host).await;
    assert!(
        took <= PROMPT,
        "ending took {took:?} with the database away"
    );
    player.client.recv_until("ended").await;
    assert!(
        !player
            .client
            .log
            .iter()
            .any(|m| m["type"] == "ack" && m["qid"] == q2["qid"]),
        "acknowledged before it was stored: {:?}",
        player.client.log
    );

    // A new room (no token to reuse) opens at once and runs; it ends at once.
    let (status, body, took) = post_room(a, json!({"title": "During the outage"})).await;
    assert_eq!(status, 201, "{body}");
    assert!(took <= PROMPT, "creating took {took:?}");
    let fresh = common::NewRoom {
        code: body["code"].as_str().unwrap().to_string(),
        host_token: body["host_token"].as_str().unwrap().to_string(),
        join_url: String::new(),
    };
    let mut fresh_host = common::game::host(a, &fresh).await;
    let mut screen = common::game::screen(b, &fresh).await;
    let took = end(&mut fresh_host).await;
    screen.recv_until("ended").await;
    assert!(took <= PROMPT, "ending the new room took {took:?}");

    // A token to reuse that no room on that node holds cannot be checked:
    // refused fast with the typed error, no room made.
    let (status, body, took) = post_room(
        b,
        json!({"title": "Reuse", "host_token": played.host_token}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert!(took <= PROMPT, "refusing took {took:?}");

    // PostgreSQL comes back: the held ack goes out, both ends are written,
    // once each.
    tokio::task::block_in_place(|| pg.restart());
    let ack = player.client.recv_until("ack").await;
    assert_eq!(ack["qid"], q2["qid"]);
    for (room, token) in [
        (&played.code, &played.host_token),
        (&fresh.code, &fresh.host_token),
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let rooms = history(b, token).await;
            let listed: Vec<&Value> = rooms["rooms"]
                .as_array()
                .map(|r| r.iter().filter(|r| r["code"] == json!(room)).collect())
                .unwrap_or_default();
            assert!(listed.len() <= 1, "{rooms}");
            if listed.first().is_some_and(|r| r["status"] == "ended") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never stored as ended: {rooms}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let stored = ended_results(b, &played.code, &played.host_token).await;
    let questions = stored["questions"].as_array().expect("questions");
    let qids: Vec<&Value> = questions.iter().map(|q| &q["qid"]).collect();
    assert_eq!(qids, vec![&q["qid"], &q2["qid"]], "{stored}");
    for question in questions {
        let counted: u64 = question["counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(counted, 1, "one vote each, stored once: {stored}");
    }
    let stored = ended_results(b, &fresh.code, &fresh.host_token).await;
    assert_eq!(stored["questions"], json!([]), "{stored}");
    // The refused request made no room for that token.
    let rooms = history(b, &played.host_token).await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1, "{rooms}");
}
