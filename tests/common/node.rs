//! A quizroom node as its own process (the built binary), so a test can
//! kill it with SIGKILL as a crashed machine would die; and [`Endpoint`],
//! what game helpers need from a server, in-process or not.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{NewRoom, Server};

/// Where a server answers: HTTP and WebSocket URLs.
pub trait Endpoint {
    /// `http://ADDR{path}`.
    fn url(&self, path: &str) -> String;

    /// `ws://ADDR/ws`.
    fn ws_url(&self) -> String;
}

impl Endpoint for Server {
    fn url(&self, path: &str) -> String {
        Server::url(self, path)
    }

    fn ws_url(&self) -> String {
        Server::ws_url(self)
    }
}

/// A `quizroom` process; SIGKILLed when dropped if still running.
pub struct Node {
    child: Option<Child>,
    pub addr: String,
    _data: tempfile::TempDir,
}

impl Node {
    /// Starts the binary on a free loopback port with `args` added, and
    /// waits for its `listening addr=` line.
    pub fn start(args: &[String]) -> Node {
        let data = tempfile::tempdir().expect("a temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_quizroom"))
            .args([
                "--addr",
                "127.0.0.1:0",
                "--log-format",
                "text",
                "--data-dir",
            ])
            .arg(data.path())
            .arg("--seeds")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../seeds"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the quizroom binary");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let verbose = std::env::var_os("QUIZROOM_TEST_NODE_LOG").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if verbose {
                    eprintln!("node: {line}");
                }
                if let Some((_, rest)) = line.split_once("listening addr=") {
                    let addr = rest.split_whitespace().next().unwrap_or("");
                    let _ = tx.send(addr.trim_matches('"').to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Node {
                child: Some(child),
                addr,
                _data: data,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the node did not log `listening addr=...`");
            }
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the process: `STOP` freezes
    /// it as a stalled machine would be, sockets open and timers still.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running node").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Kills the process with SIGKILL: no shutdown, no last checkpoint.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Endpoint for Node {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Creates a room on `node` with `body` as the JSON request.
pub async fn create_room(node: &impl Endpoint, body: serde_json::Value) -> NewRoom {
    let response = reqwest::Client::new()
        .post(node.url("/api/rooms"))
        .json(&body)
        .send()
        .await
        .expect("POST /api/rooms");
    assert_eq!(response.status(), 201, "room creation failed");
    let body: serde_json::Value = response.json().await.expect("JSON");
    NewRoom {
        code: body["code"].as_str().expect("code").to_string(),
        host_token: body["host_token"].as_str().expect("token").to_string(),
        join_url: body["join_url"].as_str().unwrap_or("").to_string(),
    }
}

/// In-process cluster nodes named `node-{name}` on one database and one
/// Redis: how every cluster test builds the part of its cluster that it
/// does not need to kill.
pub async fn in_process_nodes(db: &str, redis_url: &str, names: &[&str]) -> Vec<Server> {
    let mut nodes = Vec::new();
    for name in names {
        let (db, redis_url, id) = (
            db.to_string(),
            redis_url.to_string(),
            format!("node-{name}"),
        );
        nodes.push(
            Server::start_with(move |c| {
                c.database_url = Some(db);
                c.redis_url = Some(redis_url);
                c.node_id = Some(id);
            })
            .await,
        );
    }
    nodes
}
