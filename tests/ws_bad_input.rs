//! Bad input over real sockets: every refusal is a typed `error` and the
//! socket stays usable, or a documented close code.

mod common;

use std::time::Duration;

use common::{Client, Server};
use serde_json::json;

#[tokio::test]
async fn unidentified_socket_is_closed_after_the_timeout() {
    let server = Server::start_with(|c| c.identify_timeout_ms = 300).await;
    let mut client = Client::connect(&server.ws_url()).await;
    let started = std::time::Instant::now();
    // A ping is answered but does not count as identifying.
    client.ping().await;
    assert_eq!(client.expect_close().await, Some(4003));
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn oversized_message_closes_with_1009() {
    let server = Server::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    client.ping().await;
    let big = json!({"type": "join", "room": "ABCDEF", "name": "x".repeat(5000)}).to_string();
    client.send_text(&big).await;
    assert_eq!(client.expect_close().await, Some(1009));
}

#[tokio::test]
async fn message_at_the_limit_is_read() {
    let server = Server::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let mut text = json!({"type": "ping", "t": 7, "pad": ""}).to_string();
    let pad = quizroom::protocol::MAX_CLIENT_MESSAGE - text.len();
    text = text.replace("\"pad\":\"\"", &format!("\"pad\":\"{}\"", "p".repeat(pad)));
    assert_eq!(text.len(), quizroom::protocol::MAX_CLIENT_MESSAGE);
    client.send_text(&text).await;
    // Within the limit: decoded (and refused for its unknown field), not closed.
    client.expect_error("bad_message").await;
    client.ping().await;
}

#[tokio::test]
async fn huge_message_closes_the_socket() {
    let server = Server::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    client.ping().await;
    let huge = "x".repeat(200 * 1024);
    let _ = client.try_send_text(&huge).await;
    let code = client.expect_close().await;
    assert!(matches!(code, Some(1009) | None), "closed with {code:?}");
}

#[tokio::test]
async fn malformed_messages_get_typed_errors_and_the_socket_stays_usable() {
    let server = Server::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let cases = [
        ("not json at all", "bad_json"),
        ("[1,2,3]", "bad_json"),
        ("{\"no_type\":1}", "missing_type"),
        ("{\"type\":\"teleport\"}", "unknown_type"),
        (
            "{\"type\":\"join\",\"room\":5,\"name\":\"Ann\"}",
            "bad_message",
        ),
        (
            "{\"type\":\"vote\",\"qid\":\"one\",\"choice\":0}",
            "bad_message",
        ),
        ("{\"type\":\"buzz\",\"qid\":1}", "not_identified"),
    ];
    for (text, code) in cases {
        client.send_text(text).await;
        let error = client.expect_error(code).await;
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {error}"
        );
        client.ping().await;
    }
}

#[tokio::test]
async fn binary_frames_are_refused_with_an_error() {
    let server = Server::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    client.send_binary(b"{\"type\":\"ping\"}").await;
    client.expect_error("bad_json").await;
    client.ping().await;
}

#[tokio::test]
async fn unknown_room_codes_are_refused_then_throttled() {
    let server = Server::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let burst = quizroom::live::ws::limits::FAILED_JOIN_BURST;
    for _ in 0..burst {
        client
            .send_json(json!({"type": "join", "room": "ZZZZZZ", "name": "Ann"}))
            .await;
        client.expect_error("no_room").await;
    }
    // Over the burst, even a fresh socket from the same address is throttled.
    let mut other = Client::connect(&server.ws_url()).await;
    other
        .send_json(json!({"type": "screen", "room": "ZZZZZZ"}))
        .await;
    other.expect_error("rate_limited").await;
    other.ping().await;
}

/// Uses up the failed-join allowance of whoever `client` counts as.
async fn exhaust_failed_joins(client: &mut Client) {
    for _ in 0..quizroom::live::ws::limits::FAILED_JOIN_BURST {
        client
            .send_json(json!({"type": "join", "room": "ZZZZZZ", "name": "Ann"}))
            .await;
        client.expect_error("no_room").await;
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_throttle_counts_each_forwarded_client() {
    let server = Server::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let xff = |ip: &'static str| [("x-forwarded-for", ip)];
    let mut typo = Client::connect_with_headers(&server.ws_url(), &xff("203.0.113.1")).await;
    exhaust_failed_joins(&mut typo).await;
    let mut same = Client::connect_with_headers(&server.ws_url(), &xff("203.0.113.1")).await;
    same.send_json(json!({"type": "screen", "room": "ZZZZZZ"}))
        .await;
    same.expect_error("rate_limited").await;
    // Another player behind the same proxy is not punished for it.
    let mut other = Client::connect_with_headers(&server.ws_url(), &xff("203.0.113.2")).await;
    other
        .send_json(json!({"type": "screen", "room": "ZZZZZZ"}))
        .await;
    other.expect_error("no_room").await;
}

#[tokio::test]
async fn a_forwarded_header_from_an_untrusted_peer_does_not_dodge_the_throttle() {
    let server = Server::start().await;
    let mut typo = Client::connect(&server.ws_url()).await;
    exhaust_failed_joins(&mut typo).await;
    let mut forged =
        Client::connect_with_headers(&server.ws_url(), &[("x-forwarded-for", "203.0.113.2")]).await;
    forged
        .send_json(json!({"type": "screen", "room": "ZZZZZZ"}))
        .await;
    forged.expect_error("rate_limited").await;
}

#[tokio::test]
async fn flooding_gets_rate_limited_then_closed_with_1008() {
    let server = Server::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    let mut sent = 0;
    for t in 0..200 {
        if !client
            .try_send_text(&json!({"type": "ping", "t": t}).to_string())
            .await
        {
            break;
        }
        sent += 1;
    }
    assert!(sent > 50, "only {sent} messages went out");
    assert_eq!(client.expect_close().await, Some(1008));
    let pongs = client.log.iter().filter(|m| m["type"] == "pong").count();
    let limited = client
        .log
        .iter()
        .filter(|m| m["type"] == "error" && m["code"] == "rate_limited")
        .count();
    let burst = quizroom::live::ws::limits::MESSAGE_BURST as usize;
    // The burst goes through; a slow test machine may refill a few more.
    assert!(
        (burst..=burst + 40).contains(&pongs),
        "{pongs} pongs for a burst of {burst}"
    );
    assert!(limited >= 1, "no rate_limited error before the close");
}

#[tokio::test]
async fn foreign_origin_is_rejected_and_own_origin_accepted() {
    let server =
        Server::start_with(|c| c.allowed_origins = vec!["https://slides.example".into()]).await;
    let refused = Client::connect_with_origin(&server.ws_url(), Some("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("foreign origin was not refused: {:?}", other.map(|_| ())),
    }
    let own = format!("http://{}", server.addr);
    let mut same = Client::connect_with_origin(&server.ws_url(), Some(&own))
        .await
        .expect("same origin allowed");
    same.ping().await;
    let mut listed = Client::connect_with_origin(&server.ws_url(), Some("https://slides.example"))
        .await
        .expect("configured origin allowed");
    listed.ping().await;
}

#[tokio::test]
async fn graceful_shutdown_closes_sockets_with_1012_and_returns() {
    let mut server = Server::start().await;
    let room = server.create_room().await;
    let mut idle = Client::connect(&server.ws_url()).await;
    idle.ping().await;
    let mut watcher = Client::connect(&server.ws_url()).await;
    watcher
        .send_json(json!({"type": "screen", "room": room.code}))
        .await;
    watcher.ping().await;
    let took = server.shutdown_within(Duration::from_secs(10)).await;
    assert_eq!(idle.expect_close().await, Some(1012));
    assert_eq!(watcher.expect_close().await, Some(1012));
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    // Nothing listens any more.
    assert!(reqwest::get(server.url("/healthz")).await.is_err());
}
