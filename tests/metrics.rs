//! `GET /metrics` and the host's room history against a real server on port 0.

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

#[tokio::test]
async fn room_history_needs_a_bearer_token() {
    let server = common::Server::start().await;
    let client = reqwest::Client::new();
    let resp = client.get(server.url("/api/rooms")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let resp = client
        .get(server.url("/api/rooms"))
        .bearer_auth("no-such-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["rooms"], serde_json::json!([]));
}
