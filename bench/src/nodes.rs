//! Cluster nodes started by the generator: each a `--server-bin` process
//! of its own (so it can die by SIGKILL as a crashed machine would) on a
//! free loopback port, sharing one Redis and one PostgreSQL database, with
//! an empty seeds folder and a data folder of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use crate::http::request;
use crate::services::free_port;

/// What every node of one cluster shares.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub bin: PathBuf,
    pub redis_url: String,
    pub database_url: String,
    /// Extra arguments for every node.
    pub extra: Vec<String>,
    /// Folder for the nodes' logs and data.
    pub scratch: PathBuf,
}

/// One running node.
pub struct NodeProc {
    pub id: String,
    pub addr: SocketAddr,
    pub log: PathBuf,
    child: Option<Child>,
}

impl NodeProc {
    /// Starts node `id` and waits until `/healthz` answers.
    pub async fn start(spec: &ClusterSpec, id: &str) -> anyhow::Result<NodeProc> {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let seeds = spec.scratch.join("seeds");
        let data = spec.scratch.join(format!("data-{id}"));
        std::fs::create_dir_all(&seeds)?;
        std::fs::create_dir_all(&data)?;
        let log_path = spec.scratch.join(format!("{id}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(&spec.bin)
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--seeds")
            .arg(&seeds)
            .arg("--data-dir")
            .arg(&data)
            .args(["--log-format", "text"])
            .args(["--room-capacity", "25000"])
            .args(["--redis-url", &spec.redis_url])
            .args(["--database-url", &spec.database_url])
            .args(["--node-id", id])
            .args(&spec.extra)
            .env(
                "QUIZROOM_LOG",
                std::env::var("QUIZROOM_LOG").unwrap_or("info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", spec.bin.display()))?;
        let mut node = NodeProc {
            id: id.to_string(),
            addr,
            log: log_path,
            child: Some(child),
        };
        node.wait_healthy(Duration::from_secs(30)).await?;
        Ok(node)
    }

    async fn wait_healthy(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "node {} exited at start: {status}; see {}",
                        self.id,
                        self.log.display()
                    );
                }
            }
            let limit = Duration::from_secs(2);
            if let Ok(r) = request(self.addr, "GET", "/healthz", b"", "text/plain", limit).await {
                if r.status == 200 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "node {} at {} not healthy within {limit:?}",
            self.id,
            self.addr
        )
    }

    /// The node's PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// SIGKILL: no shutdown, no last checkpoint, no lease released.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
    }
}
