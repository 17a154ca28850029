//! A host's room history (`GET /api/rooms` with its host token) against a
//! real server on port 0: several rooms under one token, live and ended,
//! with working links to their results, on the embedded SQLite store and on
//! PostgreSQL.

mod common;

use serde_json::{json, Value};

async fn history(server: &common::Server, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(server.url("/api/rooms"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn history_needs_a_bearer_token() {
    let server = common::Server::start().await;
    let resp = reqwest::Client::new()
        .get(server.url("/api/rooms"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let (status, body) = history(&server, "no-such-token").await;
    assert_eq!(status, 200);
    assert_eq!(body["rooms"], json!([]));
}

#[tokio::test]
async fn a_host_finds_every_room_it_ran_with_its_results() {
    let server = common::Server::start().await;
    a_host_finds_every_room(&server).await;
}

#[tokio::test]
async fn a_host_finds_every_room_it_ran_with_its_results_on_postgres() {
    let pg = tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap();
    let url = pg.new_database();
    let server = common::Server::start_with(|c| c.database_url = Some(url)).await;
    a_host_finds_every_room(&server).await;
}

async fn a_host_finds_every_room(server: &common::Server) {
    let first = server
        .create_room_with(json!({"title": "Monday screening"}))
        .await;
    let second = server
        .create_room_with(json!({"title": "Tuesday screening", "host_token": first.host_token}))
        .await;
    assert_eq!(
        second.host_token, first.host_token,
        "one token for both rooms"
    );
    let other = server
        .create_room_with(json!({"title": "Someone else"}))
        .await;

    // Play one question in the first room and end it.
    let mut host = common::game::host(server, &first).await;
    let mut player = common::game::join(server, &first, "ann").await;
    let q = common::game::ask(&mut host, "self", json!({}), &mut [&mut player.client]).await;
    player
        .client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": 1}))
        .await;
    player.client.recv_until("ack").await;
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;

    let (status, body) = history(server, &first.host_token).await;
    assert_eq!(status, 200);
    let rooms = body["rooms"].as_array().unwrap();
    let codes: Vec<&str> = rooms.iter().filter_map(|r| r["code"].as_str()).collect();
    assert_eq!(codes.len(), 2, "{body}");
    assert!(codes.contains(&first.code.as_str()) && codes.contains(&second.code.as_str()));
    assert!(
        !codes.contains(&other.code.as_str()),
        "another host's room listed"
    );

    let ended = rooms
        .iter()
        .find(|r| r["code"] == json!(first.code))
        .unwrap();
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["title"], "Monday screening");
    assert_eq!(ended["questions"], 1);
    assert!(ended["ended_ms"].as_u64().is_some());
    let running = rooms
        .iter()
        .find(|r| r["code"] == json!(second.code))
        .unwrap();
    assert_eq!(running["status"], "running");
    assert!(running.get("ended_ms").is_none());

    // The links serve the ended room's results, JSON and CSV.
    let client = reqwest::Client::new();
    let url = server.url(ended["results_url"].as_str().unwrap());
    let results: Value = client
        .get(&url)
        .bearer_auth(&first.host_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(results["ended"], true);
    assert_eq!(results["questions"][0]["counts"], json!([0, 1, 0]));
    let csv = client
        .get(server.url(ended["results_csv_url"].as_str().unwrap()))
        .bearer_auth(&first.host_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("\u{feff}qid,"), "{csv}");
    assert!(csv.contains("ann"), "{csv}");
    // Another host's token gets nothing.
    let refused = client
        .get(&url)
        .bearer_auth(&other.host_token)
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error());
}
