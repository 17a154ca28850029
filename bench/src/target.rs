//! The server under test: started by the generator or already running,
//! plus the HTTP setup calls every scenario makes (bench bank, rooms).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio::process::{Child, Command};

use crate::http::request;
use crate::placement::Placement;
use crate::sys::{cpu_ms_of, mem_of, Mem};

/// Questions in the generated bank: more than any room asks in a short
/// run, so "no repeats in a room" never runs dry. A long classroom run asks
/// for more ([`Target::upload_bank_of`]).
pub const BANK_QUESTIONS: usize = 400;
/// The uploaded bank's name (its file name without extension), which is
/// also the title of its top topic in the catalog.
const BANK_TITLE: &str = "quizroom-bench";
const HTTP_LIMIT: Duration = Duration::from_secs(20);

/// A server to drive.
pub struct Target {
    pub addr: SocketAddr,
    /// Process whose memory is reported (the server, or whatever hosts it).
    pub pid: Option<u32>,
    child: Option<Child>,
    scratch: Option<PathBuf>,
}

/// A room created for the run.
#[derive(Debug, Clone, Deserialize)]
pub struct NewRoom {
    pub code: String,
    pub host_token: String,
}

impl Target {
    /// A server that is already running at `addr` (memory read from `pid`).
    pub fn attach(addr: SocketAddr, pid: Option<u32>) -> Target {
        Target {
            addr,
            pid,
            child: None,
            scratch: None,
        }
    }

    /// Starts `bin` on a free loopback port with room limits high enough
    /// for every scenario, an empty seeds folder (the run uploads its own
    /// bank) and a scratch data folder, placed on CPUs as asked; waits
    /// until `/healthz` answers.
    pub async fn spawn(
        bin: &Path,
        extra: &[String],
        placement: &Placement,
    ) -> anyhow::Result<Target> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let scratch = std::env::temp_dir().join(format!("quizroom-bench-{}", std::process::id()));
        let seeds = scratch.join("seeds");
        std::fs::create_dir_all(&seeds)?;
        let log = std::fs::File::create(scratch.join("server.log"))?;
        let mut cmd = Command::new(bin);
        placement.apply(&mut cmd);
        let child = cmd
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--seeds")
            .arg(&seeds)
            .arg("--data-dir")
            .arg(scratch.join("data"))
            .arg("--room-capacity")
            .arg("25000")
            .arg("--max-rooms")
            .arg("5000")
            .args(extra)
            .env(
                "QUIZROOM_LOG",
                std::env::var("QUIZROOM_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let pid = child.id();
        let mut target = Target {
            addr,
            pid,
            child: Some(child),
            scratch: Some(scratch),
        };
        target.wait_healthy(Duration::from_secs(20)).await?;
        Ok(target)
    }

    /// Polls `/healthz` until it answers 200 (bounded).
    async fn wait_healthy(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    bail!("server exited at start: {status}; see {}", self.log_path());
                }
            }
            if let Ok(r) =
                request(self.addr, "GET", "/healthz", b"", "text/plain", HTTP_LIMIT).await
            {
                if r.status == 200 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("server at {} not healthy within {limit:?}", self.addr)
    }

    /// Where a spawned server's log goes.
    pub fn log_path(&self) -> String {
        self.scratch
            .as_ref()
            .map(|s| s.join("server.log").display().to_string())
            .unwrap_or_else(|| "(not spawned)".into())
    }

    /// The server's memory now, if its PID is known.
    pub fn mem(&self) -> Option<Mem> {
        self.pid.and_then(|p| mem_of(p).ok())
    }

    /// CPU time the server has used so far, in ms, if its PID is known.
    pub fn cpu_ms(&self) -> Option<u64> {
        self.pid.and_then(|p| cpu_ms_of(p).ok())
    }

    /// Player inputs that can become a held answer (`vote`, `buzz`,
    /// `answer`, `peer_vote`) the server has received since it started,
    /// from its own `/metrics` counters; None if they cannot be read. Refused
    /// inputs (e.g. a vote after the close) are included, so this bounds
    /// the answers the server holds from above.
    pub async fn answer_inputs(&self) -> Option<u64> {
        let r = request(self.addr, "GET", "/metrics", b"", "text/plain", HTTP_LIMIT)
            .await
            .ok()?;
        (r.status == 200).then(|| answer_inputs_of(&r.body))?
    }

    /// Uploads the generated multiple-choice bank and returns its topic ids.
    pub async fn upload_bank(&self) -> anyhow::Result<Vec<String>> {
        self.upload_bank_of(BANK_QUESTIONS).await
    }

    /// Uploads a generated bank of `questions` questions and returns its
    /// topic ids.
    pub async fn upload_bank_of(&self, questions: usize) -> anyhow::Result<Vec<String>> {
        let text = bench_bank(questions);
        let r = request(
            self.addr,
            "POST",
            &format!("/api/banks?name={BANK_TITLE}.txt"),
            text.as_bytes(),
            "text/plain; charset=utf-8",
            HTTP_LIMIT,
        )
        .await?;
        if r.status != 201 && r.status != 200 {
            bail!("bank upload refused: {} {}", r.status, r.body);
        }
        // Rooms ask by the merged catalog's topic ids, which are not the
        // bank's own: look the bench bank's topics up in the catalog.
        let r = request(
            self.addr,
            "GET",
            "/api/banks",
            b"",
            "text/plain",
            HTTP_LIMIT,
        )
        .await?;
        let v: serde_json::Value = serde_json::from_str(&r.body).context("catalog answer")?;
        let topics = catalog_topics(&v, BANK_TITLE);
        if topics.is_empty() {
            bail!(
                "the catalog has no {BANK_TITLE:?} topic after the upload: {}",
                r.body.chars().take(300).collect::<String>()
            );
        }
        Ok(topics)
    }

    /// Creates `n` rooms.
    pub async fn create_rooms(&self, n: usize) -> anyhow::Result<Vec<NewRoom>> {
        let mut rooms = Vec::with_capacity(n);
        for i in 0..n {
            let body = serde_json::json!({ "title": format!("bench {i}") }).to_string();
            let r = request(
                self.addr,
                "POST",
                "/api/rooms",
                body.as_bytes(),
                "application/json",
                HTTP_LIMIT,
            )
            .await?;
            if r.status != 201 && r.status != 200 {
                bail!("room {i} refused: {} {}", r.status, r.body);
            }
            rooms.push(serde_json::from_str(&r.body).context("room answer")?);
        }
        Ok(rooms)
    }

    /// Stops a spawned server (SIGKILL; its state is scratch).
    pub async fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
        if let Some(s) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(s);
        }
    }
}

/// A bank of `n` multiple-choice questions in the Aiken layout (question
/// line, lettered options, `ANSWER:` line).
pub fn bench_bank(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let a = i % 50;
        let b = (i * 7) % 50;
        let sum = a + b;
        s.push_str(&format!(
            "Question {i}: what is {a} + {b}?\nA. {}\nB. {}\nC. {}\nD. {}\nANSWER: {}\n\n",
            sum,
            sum + 1,
            sum + 2,
            sum + 3,
            "A"
        ));
    }
    s
}

/// Message types a player sends that the room keeps as an answer.
const ANSWER_INPUTS: [&str; 4] = ["vote", "buzz", "answer", "peer_vote"];

/// Sums `quizroom_messages_in_total{type="…"}` over [`ANSWER_INPUTS`] in
/// an OpenMetrics text; None if none of them is there.
fn answer_inputs_of(text: &str) -> Option<u64> {
    let mut found = false;
    let mut sum = 0u64;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("quizroom_messages_in_total{type=\"") else {
            continue;
        };
        let Some((kind, value)) = rest.split_once("\"} ") else {
            continue;
        };
        if !ANSWER_INPUTS.contains(&kind) {
            continue;
        }
        if let Ok(v) = value.trim().parse::<f64>() {
            found = true;
            sum += v as u64;
        }
    }
    found.then_some(sum)
}

/// Ids of the catalog topic nodes under the top topic titled `title`
/// (the node itself and every descendant).
fn catalog_topics(v: &serde_json::Value, title: &str) -> Vec<String> {
    fn collect(node: &serde_json::Value, ids: &mut Vec<String>) {
        if let Some(id) = node.get("id").and_then(|i| i.as_str()) {
            ids.push(id.to_string());
        }
        for child in node
            .get("children")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            collect(child, ids);
        }
    }
    let mut ids = Vec::new();
    let tops = v
        .get("topics")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten();
    for top in tops.filter(|t| t.get("title").and_then(|x| x.as_str()) == Some(title)) {
        collect(top, &mut ids);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_is_aiken_with_the_asked_count() {
        let b = bench_bank(3);
        assert_eq!(b.matches("ANSWER: ").count(), 3);
        assert!(b.starts_with("Question 0: what is 0 + 0?\nA. 0\nB. 1\n"));
    }

    #[test]
    fn answer_inputs_sum_the_answer_types_only() {
        let text = "# TYPE quizroom_messages_in counter\n\
            quizroom_messages_in_total{type=\"vote\"} 120\n\
            quizroom_messages_in_total{type=\"ask\"} 7\n\
            quizroom_messages_in_total{type=\"buzz\"} 30\n\
            quizroom_messages_in_total{type=\"peer_vote\"} 0\n\
            quizroom_messages_out_total{type=\"vote\"} 999\n";
        assert_eq!(answer_inputs_of(text), Some(150));
        assert_eq!(answer_inputs_of("# EOF\n"), None);
    }

    #[test]
    fn finds_the_bench_topics_in_the_catalog() {
        let v = serde_json::json!({"banks":[], "topics":[
            {"id":"a","title":"Python","children":[{"id":"a1","title":"x","children":[]}]},
            {"id":"b","title":"quizroom-bench","children":[{"id":"b1","title":"y","children":[]}]}]});
        assert_eq!(catalog_topics(&v, "quizroom-bench"), vec!["b", "b1"]);
        assert!(catalog_topics(&v, "nope").is_empty());
    }
}
