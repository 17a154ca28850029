//! `POST /api/rooms` and the results export over real HTTP.

mod common;

use common::Server;
use serde_json::json;

const ALPHABET: &str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

#[tokio::test]
async fn creating_a_room_returns_code_token_and_join_url() {
    let server = Server::start().await;
    let room = server.create_room().await;
    assert_eq!(room.code.len(), 6);
    assert!(
        room.code.chars().all(|c| ALPHABET.contains(c)),
        "{}",
        room.code
    );
    assert!(
        room.host_token.len() >= 32,
        "token too short: {}",
        room.host_token
    );
    assert_eq!(
        room.join_url,
        format!("http://{}/join/{}", server.addr, room.code)
    );
    let other = server.create_room().await;
    assert_ne!(other.code, room.code);
    assert_ne!(other.host_token, room.host_token);
}

#[tokio::test]
async fn an_empty_body_is_enough_and_bad_json_is_refused() {
    let server = Server::start().await;
    let http = reqwest::Client::new();
    let empty = http.post(server.url("/api/rooms")).send().await.unwrap();
    assert_eq!(empty.status(), 201);
    let bad = http
        .post(server.url("/api/rooms"))
        .body("{title:")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_json");
}

#[tokio::test]
async fn a_buzz_window_out_of_range_is_refused() {
    let server = Server::start().await;
    let http = reqwest::Client::new();
    for (window, status, code) in [
        (json!(2001), 400, Some("bad_window")),
        (json!(-1), 400, Some("bad_json")),
        (json!("soon"), 400, Some("bad_json")),
        (json!(0), 201, None),
        (json!(2000), 201, None),
    ] {
        let reply = http
            .post(server.url("/api/rooms"))
            .json(&json!({"buzz_window_ms": window}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), status, "window {window}");
        let body: serde_json::Value = reply.json().await.unwrap();
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code, "window {window}");
        }
    }
}

#[tokio::test]
async fn a_host_keeps_one_token_across_rooms() {
    let server = Server::start().await;
    let first = server.create_room().await;
    let second = server
        .create_room_with(json!({"title": "Round 2", "host_token": first.host_token}))
        .await;
    assert_eq!(second.host_token, first.host_token);
    assert_ne!(second.code, first.code);
    // A weak token is not adopted.
    let third = server.create_room_with(json!({"host_token": "1234"})).await;
    assert_ne!(third.host_token, "1234");
}

#[tokio::test]
async fn public_url_is_used_for_join_links() {
    let server =
        Server::start_with(|c| c.public_url = Some("https://quiz.example.org/".into())).await;
    let room = server.create_room().await;
    assert_eq!(
        room.join_url,
        format!("https://quiz.example.org/join/{}", room.code)
    );
}

#[tokio::test]
async fn room_limit_answers_503() {
    let server = Server::start_with(|c| c.max_rooms = 2).await;
    server.create_room().await;
    server.create_room().await;
    let response = reqwest::Client::new()
        .post(server.url("/api/rooms"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_rooms");
}
