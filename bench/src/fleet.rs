//! The coordinator's side of the workers: start them (the generator binary
//! re-executed as `worker`), send orders, collect reports, and pass a
//! host's send instants on to the other workers of a shared room.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use crate::ctl::{line, Order, Report, Setup, Totals};
use crate::placement::Placement;

/// Running workers.
pub struct Fleet {
    stdins: Arc<Vec<Mutex<ChildStdin>>>,
    children: Vec<Child>,
    rx: mpsc::UnboundedReceiver<(usize, Report)>,
}

impl Fleet {
    /// Starts one worker per setup, placed on CPUs as asked, and hands each
    /// its setup.
    pub async fn start(setups: Vec<Setup>, placement: &Placement) -> anyhow::Result<Fleet> {
        let exe = std::env::current_exe().context("own executable")?;
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        let mut stdouts = Vec::new();
        for _ in &setups {
            let mut cmd = Command::new(&exe);
            placement.apply(&mut cmd);
            let mut child = cmd
                .arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("start worker")?;
            stdins.push(Mutex::new(child.stdin.take().context("worker stdin")?));
            stdouts.push(child.stdout.take().context("worker stdout")?);
            children.push(child);
        }
        let stdins = Arc::new(stdins);
        let (tx, rx) = mpsc::unbounded_channel();
        for (w, stdout) in stdouts.into_iter().enumerate() {
            let tx = tx.clone();
            let stdins = stdins.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let report: Report = match serde_json::from_str(&l) {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("worker {w}: unreadable report ({e}): {l:.200}");
                            continue;
                        }
                    };
                    if let Report::Sent {
                        room,
                        kind,
                        qid,
                        t_us,
                    } = report
                    {
                        let order = Order::Sent {
                            room,
                            kind,
                            qid,
                            t_us,
                        };
                        for (other, stdin) in stdins.iter().enumerate() {
                            if other != w {
                                let _ = write_line(stdin, &order).await;
                            }
                        }
                    }
                    if tx.send((w, report)).is_err() {
                        break;
                    }
                }
            });
        }
        let fleet = Fleet {
            stdins,
            children,
            rx,
        };
        for (w, s) in setups.into_iter().enumerate() {
            fleet.send(w, &Order::Setup(s)).await?;
        }
        Ok(fleet)
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Sends one order to worker `w`.
    pub async fn send(&self, w: usize, order: &Order) -> anyhow::Result<()> {
        let stdin = self.stdins.get(w).context("no such worker")?;
        write_line(stdin, order).await
    }

    /// Sends one order to every worker.
    pub async fn broadcast(&self, order: &Order) -> anyhow::Result<()> {
        for w in 0..self.len() {
            self.send(w, order).await?;
        }
        Ok(())
    }

    /// Feeds reports to `f` until it returns `Some` or `limit` passes.
    /// Host errors are printed on the way.
    pub async fn until<T>(
        &mut self,
        limit: Duration,
        mut f: impl FnMut(usize, &Report) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            match next {
                Err(_) => bail!("no answer from the workers within {limit:?}"),
                Ok(None) => bail!("every worker has exited"),
                Ok(Some((w, r))) => {
                    if let Report::HostError { room, message } = &r {
                        eprintln!("worker {w}: room {room}: {message}");
                    }
                    if let Some(v) = f(w, &r) {
                        return Ok(v);
                    }
                }
            }
        }
    }

    /// Tells every worker to finish and collects their totals (bounded).
    pub async fn finish(mut self, limit: Duration) -> anyhow::Result<Vec<Totals>> {
        self.broadcast(&Order::Finish).await?;
        let n = self.len();
        let mut done: Vec<Option<Totals>> = vec![None; n];
        let collected = self
            .until(limit, |w, r| {
                if let Report::Done(t) = r {
                    if let Some(slot) = done.get_mut(w) {
                        *slot = Some((**t).clone());
                    }
                }
                done.iter().all(Option::is_some).then_some(())
            })
            .await;
        for child in &mut self.children {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let _ = child.start_kill();
        }
        collected?;
        Ok(done.into_iter().flatten().collect())
    }
}

async fn write_line(stdin: &Mutex<ChildStdin>, order: &Order) -> anyhow::Result<()> {
    let mut l = line(order);
    l.push('\n');
    let mut s = stdin.lock().await;
    s.write_all(l.as_bytes()).await?;
    s.flush().await?;
    Ok(())
}
