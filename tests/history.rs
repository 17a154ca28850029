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

/// Runs a one-candidate screening in a fresh room of `token`'s host (a
/// typed answer scored by the owner) and ends it; returns the room and the
/// candidate's id.
async fn screening_ended(server: &common::Server, token: Option<&str>) -> (common::NewRoom, u64) {
    let room = server
        .create_room_with(json!({"title": "Screening", "private": true, "host_token": token}))
        .await;
    let mut host = common::game::host(server, &room).await;
    let mut cand = common::game::join(server, &room, "Dana").await;
    let q = common::game::ask(&mut host, "text", json!({}), &mut [&mut cand.client]).await;
    cand.client
        .send_json(json!({"type": "answer", "qid": q["qid"], "text": "a hash map"}))
        .await;
    cand.client.recv_until("ack").await;
    host.send_json(
        json!({"type": "assess", "qid": q["qid"], "player_id": cand.id, "score": 2, "note": "ok"}),
    )
    .await;
    host.recv_until("ack").await;
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;
    (room, cand.id)
}

#[tokio::test]
async fn the_history_links_every_report_format_of_an_ended_screening_for_the_retention_period() {
    let server = common::Server::start().await;
    let (room, cand) = screening_ended(&server, None).await;
    let (status, body) = history(&server, &room.host_token).await;
    assert_eq!(status, 200);
    let entry = &body["rooms"][0];
    assert_eq!(entry["code"], json!(room.code), "{body}");
    assert_eq!(entry["status"], "ended");
    let ended = entry["ended_ms"].as_u64().expect("ended_ms");
    assert_eq!(
        entry["expires_ms"].as_u64(),
        Some(ended + 24 * 3_600_000),
        "kept for the default 24 hours"
    );
    let client = reqwest::Client::new();
    for (key, kind) in [
        ("report_url", "text/html"),
        ("report_json_url", "application/json"),
        ("report_csv_url", "text/csv"),
        ("report_xlsx_url", "application/vnd.openxmlformats"),
        ("results_xlsx_url", "application/vnd.openxmlformats"),
    ] {
        let link = entry[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {entry}"));
        let reply = client
            .get(server.url(link))
            .bearer_auth(&room.host_token)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{key}");
        let content_type = reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(content_type.starts_with(kind), "{key}: {content_type}");
        let bytes = reply.bytes().await.unwrap();
        if key == "report_json_url" {
            let report: Value = serde_json::from_slice(&bytes).unwrap();
            let q = &report["candidates"][0]["questions"][0];
            assert_eq!(report["candidates"][0]["player_id"], cand);
            assert_eq!(
                (q["answer"].clone(), q["average"].clone()),
                (json!("a hash map"), json!(2.0))
            );
        }
    }
    // A browser tab opens the printable page with the token in the query.
    let page = client
        .get(server.url(&format!(
            "{}?token={}&player_id={cand}",
            entry["report_url"].as_str().unwrap(),
            room.host_token
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("a hash map"));
}

async fn get_error(server: &common::Server, path: &str, token: &str) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn past_the_retention_period_the_links_answer_expired_also_after_the_purge() {
    past_retention(None).await;
}

#[tokio::test]
async fn past_the_retention_period_the_links_answer_expired_also_after_the_purge_on_postgres() {
    let pg = tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap();
    past_retention(Some(pg.new_database())).await;
}

async fn past_retention(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    // Retention 0: an ended room's results are past retention at once.
    let start = |data_dir: std::path::PathBuf| {
        let database_url = database_url.clone();
        common::Server::start_with(move |c| {
            c.retention_hours = 0;
            c.data_dir = data_dir;
            c.database_url = database_url;
        })
    };
    let mut server = start(data_dir.clone()).await;
    let (room, cand) = screening_ended(&server, None).await;
    let report = format!(
        "/api/rooms/{}/report?format=json&player_id={cand}",
        room.code
    );
    let results = format!("/api/rooms/{}/results", room.code);
    // Still stored, but past retention: the history says so and links nothing.
    let (_, body) = history(&server, &room.host_token).await;
    let entry = &body["rooms"][0];
    assert_eq!(entry["status"], "expired", "{body}");
    assert!(
        entry.get("report_url").is_none() && entry.get("results_url").is_none(),
        "{entry}"
    );
    let (status, err) = get_error(&server, &report, &room.host_token).await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (410, json!("expired")),
        "{err}"
    );
    let (status, err) = get_error(&server, &results, &room.host_token).await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (410, json!("expired")),
        "results: {err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("kept for 0 hours"),
        "{err}"
    );
    // A room that never existed stays a plain 404.
    let (status, err) = get_error(&server, "/api/rooms/ZZZZZZ/report", &room.host_token).await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (404, json!("not_found"))
    );

    // A restart purges it; its tombstone keeps the answer the same.
    server
        .shutdown_within(std::time::Duration::from_secs(10))
        .await;
    let server = start(data_dir).await;
    let (_, body) = history(&server, &room.host_token).await;
    assert_eq!(body["rooms"], json!([]), "purged");
    for path in [&report, &results] {
        let (status, err) = get_error(&server, path, &room.host_token).await;
        assert_eq!(
            (status, err["error"]["code"].clone()),
            (410, json!("expired")),
            "{path}: {err}"
        );
    }
}
