//! A real quizroom server on port 0 for black-box tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

/// A running server; shuts down when dropped.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub data_dir: PathBuf,
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
        tokio::spawn(async move {
            quizroom::run(listener, config, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Server {
            addr,
            shutdown: Some(tx),
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
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
