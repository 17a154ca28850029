//! Uploaded banks in cluster mode: kept in the shared PostgreSQL database,
//! so every node serves an upload taken by any node, a room taken over from
//! a node killed with SIGKILL still asks from a bank only that node took,
//! and a re-upload replaces the bank everywhere. Real redis-server, real
//! PostgreSQL, the owner node a process of its own.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::node::{create_room, in_process_nodes, Endpoint, Node};
use common::services::{Postgres, Redis};

const RELAY: &str = "$CATEGORY: Relay Upload\n\n\
::r1:: Relay question one? {=Alpha ~Beta ~Gamma}\n\n\
::r2:: Relay question two? {=Delta ~Epsilon ~Zeta}\n\n\
::r3:: Relay question three? {=Eta ~Theta ~Iota}\n";

const REPLACED: &str = "$CATEGORY: Relay Upload\n\n\
::n1:: Replaced question? {=Kappa ~Lambda}\n";

async fn upload(node: &dyn Endpoint, name: &str, body: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(node.url(&format!("/api/banks?name={name}")))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn index(node: &dyn Endpoint) -> Value {
    reqwest::get(node.url("/api/banks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn bank_of<'a>(index: &'a Value, file: &str) -> Option<&'a Value> {
    index["banks"]
        .as_array()?
        .iter()
        .find(|b| b["file"] == file)
}

fn find_topic<'a>(nodes: &'a Value, title: &str) -> Option<&'a Value> {
    for node in nodes.as_array()? {
        if node["title"].as_str() == Some(title) {
            return Some(node);
        }
        if let Some(found) = find_topic(&node["children"], title) {
            return Some(found);
        }
    }
    None
}

/// Polls `node`'s bank index until `pred` holds (at most 10 s); returns the
/// index and how long it took.
async fn index_until(node: &dyn Endpoint, pred: impl Fn(&Value) -> bool) -> (Value, Duration) {
    let started = tokio::time::Instant::now();
    loop {
        let index = index(node).await;
        if pred(&index) {
            return (index, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the bank index never got there: {index}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The prompts of the bank uploaded as `file`, as `node` serves it.
async fn prompts(node: &dyn Endpoint, index: &Value, file: &str) -> Vec<String> {
    let id = bank_of(index, file).expect("the bank")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bank: Value = reqwest::get(node.url(&format!("/api/banks/{id}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    bank["banks"][0]["topics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["questions"].as_array().unwrap().iter())
        .map(|q| q["prompt"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_reaches_every_node_and_outlives_the_node_that_took_it() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let a_args = vec![
        "--redis-url".to_string(),
        redis.url(),
        "--database-url".to_string(),
        db.clone(),
        "--node-id".to_string(),
        "node-a".to_string(),
    ];
    let mut a = tokio::task::spawn_blocking(move || Node::start(&a_args))
        .await
        .unwrap();
    let survivors = in_process_nodes(&db, &redis.url(), &["b", "c"]).await;
    let [b, c] = [&survivors[0], &survivors[1]];

    // Uploaded on a: b and c list it (they look once a second).
    let (status, body) = upload(&a, "relay.gift", RELAY).await;
    assert_eq!(status, 201, "{body}");
    for node in [b as &dyn Endpoint, c] {
        let (index, took) = index_until(node, |i| bank_of(i, "relay.gift").is_some()).await;
        assert!(took <= Duration::from_secs(3), "seen after {took:?}");
        assert_eq!(bank_of(&index, "relay.gift").unwrap()["questions"], 3);
        assert!(find_topic(&index["topics"], "Relay Upload").is_some());
    }

    // A file that does not parse is refused with its typed error and
    // stores nothing: once b's next good upload is on a, the bad one is not.
    let (status, body) = upload(b, "broken.md", "").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bank_empty", "{body}");
    let (status, _) = upload(b, "marker.gift", "::m:: Marker? {T}\n").await;
    assert_eq!(status, 201);
    let (index, _) = index_until(&a, |i| bank_of(i, "marker.gift").is_some()).await;
    assert!(bank_of(&index, "broken.md").is_none(), "{index}");

    // A room on a asks from the uploaded bank; its host and player are on b.
    let relay_prompts = prompts(&a, &index, "relay.gift").await;
    let topic = find_topic(&index["topics"], "Relay Upload").unwrap()["id"].clone();
    let room = create_room(&a, json!({"title": "Uploaded"})).await;
    let mut host = common::game::host(b, &room).await;
    let mut player = common::game::join(b, &room, "p").await;
    let q1 = common::game::ask(
        &mut host,
        "vote",
        json!({"topics": [topic]}),
        &mut [&mut player.client],
    )
    .await;
    let p1 = q1["prompt"].as_str().unwrap().to_string();
    assert!(relay_prompts.contains(&p1), "{q1}");
    player
        .client
        .send_json(json!({"type": "vote", "qid": q1["qid"], "choice": 0}))
        .await;
    player.client.recv_until("ack").await;
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;

    // The owner dies; the room comes back elsewhere and its next questions
    // still come from the bank only a ever took.
    a.kill9();
    host.recv_matching("the restored room's welcome", |m| {
        m["type"] == "welcome" && m["role"] == "host"
    })
    .await;
    let mut asked = vec![p1];
    for _ in 0..2 {
        host.send_json(json!({"type": "ask", "mode": "vote", "topics": [topic]}))
            .await;
        let answer = host
            .recv_matching("a question or an error", |m| {
                m["type"] == "question" || m["type"] == "error"
            })
            .await;
        assert_eq!(answer["type"], "question", "{answer}");
        let prompt = answer["prompt"].as_str().unwrap().to_string();
        assert!(relay_prompts.contains(&prompt), "{answer}");
        assert!(!asked.contains(&prompt), "asked twice: {prompt}");
        asked.push(prompt);
        host.send_json(json!({"type": "close"})).await;
        host.recv_until("closed").await;
    }

    // Re-uploading the file name on b replaces the bank on every node.
    let (status, body) = upload(b, "relay.gift", REPLACED).await;
    assert_eq!(status, 201, "{body}");
    for node in [b as &dyn Endpoint, c] {
        let (index, took) = index_until(node, |i| {
            bank_of(i, "relay.gift").is_some_and(|bank| bank["questions"] == 1)
        })
        .await;
        assert!(took <= Duration::from_secs(3), "replaced after {took:?}");
        let relay: Vec<_> = index["banks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["file"] == "relay.gift")
            .collect();
        assert_eq!(relay.len(), 1, "{index}");
        assert_eq!(
            prompts(node, &index, "relay.gift").await,
            vec!["Replaced question?".to_string()]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banks_uploaded_to_a_node_before_it_used_the_database_move_into_it() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let db = pg.new_database();
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("banks");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("old.gift"), RELAY).unwrap();
    std::fs::write(folder.join("broken.md"), "").unwrap();
    let (first_db, first_dir) = (db.clone(), data.path().to_path_buf());
    let first = common::Server::start_with(move |c| {
        c.database_url = Some(first_db);
        c.data_dir = first_dir;
    })
    .await;
    let (index, _) = index_until(&first, |i| bank_of(i, "old.gift").is_some()).await;
    assert_eq!(bank_of(&index, "old.gift").unwrap()["questions"], 3);
    // Another node with nothing on its disk lists it from the database;
    // the file that does not parse stayed out.
    let second = common::Server::start_with(move |c| c.database_url = Some(db)).await;
    let (index, _) = index_until(&second, |i| bank_of(i, "old.gift").is_some()).await;
    assert!(bank_of(&index, "broken.md").is_none(), "{index}");
}
