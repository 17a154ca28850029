//! `GET /metrics` against a real server on port 0.

mod common;

async fn metrics_text(server: &common::Server) -> (String, String) {
    let resp = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (content_type, resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_served_in_openmetrics_text() {
    let server = common::Server::start().await;
    let (content_type, text) = metrics_text(&server).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for family in [
        "# TYPE quizroom_connections gauge",
        "# TYPE quizroom_rooms gauge",
        "# TYPE quizroom_players gauge",
        "# TYPE quizroom_broadcast_latency_seconds histogram",
        "# TYPE quizroom_slow_client_evictions counter",
        "# TYPE quizroom_rate_limited counter",
        "# TYPE quizroom_bank_import_errors counter",
        "# TYPE quizroom_store_commits counter",
    ] {
        assert!(text.contains(family), "missing {family:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

/// The value of one sample line (`name{labels} value`) in `/metrics`, 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Counters are process-wide and other tests in this binary run alongside,
/// so a game is checked by how much counters grew, not by their values.
#[tokio::test]
async fn a_game_moves_the_counters() {
    use common::game;
    use serde_json::json;

    let server = common::Server::start().await;
    let (_, before) = metrics_text(&server).await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut players = game::join_many(&server, &room, "m", 2).await;
    let question = {
        let mut others: Vec<&mut common::Client> =
            players.iter_mut().map(|p| &mut p.client).collect();
        game::ask(&mut host, "self", json!({}), &mut others).await
    };
    for p in &mut players {
        p.client
            .send_json(json!({"type": "vote", "qid": question["qid"], "choice": 0}))
            .await;
        p.client.recv_until("ack").await;
    }
    // A burst over the per-connection limit is refused and counted.
    for _ in 0..40 {
        host.send_json(json!({"type": "ping"})).await;
    }
    host.expect_error("rate_limited").await;
    // A bank upload that does not parse.
    let refused = reqwest::Client::new()
        .post(server.url("/api/banks?name=empty.md"))
        .body("# Only a title\n")
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());

    let (_, after) = metrics_text(&server).await;
    let grew = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(
        grew("quizroom_messages_in_total{type=\"join\"}") >= 2.0,
        "{after}"
    );
    assert!(
        grew("quizroom_messages_in_total{type=\"vote\"}") >= 2.0,
        "{after}"
    );
    assert!(grew("quizroom_messages_out_total{type=\"question\"}") >= 3.0);
    assert!(grew("quizroom_messages_out_total{type=\"ack\"}") >= 2.0);
    assert!(grew("quizroom_connections_opened_total{role=\"player\"}") >= 2.0);
    assert!(grew("quizroom_broadcast_latency_seconds_count") >= 1.0);
    assert!(grew("quizroom_rate_limited_total") >= 1.0);
    assert!(grew("quizroom_bank_import_errors_total") >= 1.0);
    assert!(grew("quizroom_store_commits_total") >= 1.0);
    assert!(sample(&after, "quizroom_connections{role=\"player\"}") >= 2.0);
    assert!(sample(&after, "quizroom_rooms") >= 1.0);
    assert!(sample(&after, "quizroom_players") >= 2.0);
}
