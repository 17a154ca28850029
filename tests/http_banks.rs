//! HTTP tests of the bank API against a real server on port 0.

mod common;

#[tokio::test]
async fn healthz_answers_ok() {
    let server = common::Server::start().await;
    let body: serde_json::Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
}
