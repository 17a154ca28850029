//! A real quizroom server on port 0 and a small WebSocket test client.
#![allow(dead_code)]

pub mod client;
pub mod fair;
pub mod game;
pub mod node;
pub mod services;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[allow(unused_imports)]
pub use client::Client;

/// A running server; shuts down when dropped.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub data_dir: PathBuf,
}

/// A room made by `POST /api/rooms`.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub code: String,
    pub host_token: String,
    pub join_url: String,
}

impl Server {
    /// Starts a server with the repository's seeds and a fresh data dir.
    pub async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// Starts a server after letting the caller adjust the config.
    pub async fn start_with(adjust: impl FnOnce(&mut quizroom::Config)) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data_dir = std::env::temp_dir().join(format!(
            "quizroom-test-{}-{}",
            std::process::id(),
            addr.port()
        ));
        let mut config = quizroom::Config {
            addr,
            seeds: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds"),
            data_dir: data_dir.clone(),
            ..Default::default()
        };
        adjust(&mut config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            quizroom::run(listener, config, async {
                let _ = rx.await;
            })
            .await
        });
        Server {
            addr,
            shutdown: Some(tx),
            task: Some(task),
            data_dir,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `ws://127.0.0.1:PORT/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Creates a room with `body` as the JSON request.
    pub async fn create_room_with(&self, body: serde_json::Value) -> NewRoom {
        let response = reqwest::Client::new()
            .post(self.url("/api/rooms"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "room creation failed");
        let body: serde_json::Value = response.json().await.unwrap();
        NewRoom {
            code: body["code"].as_str().unwrap().to_string(),
            host_token: body["host_token"].as_str().unwrap().to_string(),
            join_url: body["join_url"].as_str().unwrap().to_string(),
        }
    }

    /// Creates a plain room.
    pub async fn create_room(&self) -> NewRoom {
        self.create_room_with(serde_json::json!({"title": "Test room"}))
            .await
    }

    /// Triggers a graceful shutdown and waits (at most `within`) for
    /// `run` to return; returns how long it took.
    pub async fn shutdown_within(&mut self, within: Duration) -> Duration {
        let started = std::time::Instant::now();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("server already stopped");
        tokio::time::timeout(within, task)
            .await
            .expect("server did not stop in time")
            .expect("server task panicked")
            .expect("server returned an error");
        started.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
