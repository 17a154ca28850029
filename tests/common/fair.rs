//! Slow links for fair-buzz tests: a delaying TCP proxy (each chunk held
//! its link's one-way delay ± jitter, bytes never reordered) and a player
//! behind it whose socket answers the server's clock probes with a skewed
//! clock of its own and stamps each press with the instant it was made.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::NewRoom;

/// Jitter of each chunk's delay, as a fraction of the link's delay.
pub const JITTER: f64 = 0.2;

/// Wall clock in ms: the time base the test shares with the server (same
/// machine), so a press's real one-way delay is `arrival_ms − pressed`.
pub fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// A TCP proxy to `target` that holds every chunk for `one_way` ms ± jitter
/// in each direction, never reordering bytes.
pub async fn delaying_proxy(target: SocketAddr, one_way: u64) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else {
                continue;
            };
            inbound.set_nodelay(true).ok();
            outbound.set_nodelay(true).ok();
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::spawn(pump(in_read, out_write, one_way));
            tokio::spawn(pump(out_read, in_write, one_way));
        }
    });
    addr
}

/// Copies `from` to `to`, each chunk delivered `delay` ± jitter after it
/// was read, and never before the chunk read ahead of it.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: u64,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut last = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let factor = rand::rng().random_range((1.0 - JITTER)..=(1.0 + JITTER));
        let at =
            (Instant::now() + Duration::from_secs_f64(delay as f64 * factor / 1000.0)).max(last);
        last = at;
        if tx.send((at, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A player behind a proxy whose socket answers clock probes by itself.
pub struct SyncPlayer {
    pub id: u64,
    out: mpsc::UnboundedSender<Message>,
    /// Client clock minus wall clock.
    skew: f64,
    /// The link's one-way delay, ms.
    pub link: u64,
    /// Clock probes answered so far.
    replies: watch::Receiver<usize>,
}

impl SyncPlayer {
    /// Joins `room` through the proxy at `proxy` (a `link` ms link), with
    /// `sync: true` and a clock up to an hour off.
    pub async fn join(proxy: SocketAddr, room: &NewRoom, name: &str, link: u64) -> SyncPlayer {
        let url = format!("ws://{proxy}/ws");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let (mut sink, mut stream) = ws.split();
        let join = json!({"type": "join", "room": room.code, "name": name, "sync": true});
        sink.send(Message::text(join.to_string())).await.unwrap();
        let id = loop {
            let Some(Ok(Message::Text(text))) = stream.next().await else {
                panic!("{name}: socket closed before welcome");
            };
            let msg: Value = serde_json::from_str(text.as_str()).unwrap();
            if msg["type"] == "welcome" {
                break msg["player_id"].as_u64().expect("player_id");
            }
        };
        let skew = rand::rng().random_range(-3.6e6..3.6e6);
        let (out, mut rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                if sink.send(msg).await.is_err() {
                    return;
                }
            }
        });
        let replies = out.clone();
        let (count, counted) = watch::channel(0usize);
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(msg) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if msg["type"] == "sync" {
                    let reply = json!({"type": "sync_reply", "id": msg["id"], "client_ms": wall_ms() + skew});
                    let _ = replies.send(Message::text(reply.to_string()));
                    count.send_modify(|n| *n += 1);
                }
            }
        });
        SyncPlayer {
            id,
            out,
            skew,
            link,
            replies: counted,
        }
    }

    /// Waits (without polling) until this player answered `n` clock probes
    /// and the last answer had time to reach the server.
    pub async fn synced(&mut self, n: usize) {
        self.replies
            .wait_for(|count| *count >= n)
            .await
            .expect("the socket reader stopped before syncing");
        tokio::time::sleep(Duration::from_secs_f64(self.max_one_way_ms() / 1000.0)).await;
    }

    /// The longest one-way delay the link itself may add, ms.
    pub fn max_one_way_ms(&self) -> f64 {
        self.link as f64 * (1.0 + JITTER)
    }

    /// Presses at `at`, claiming a press `forge_ms` earlier than the real
    /// one; resolves to the real press instant (wall ms).
    pub fn press(&self, qid: u64, at: Instant, forge_ms: f64) -> oneshot::Receiver<f64> {
        let (done, stamped) = oneshot::channel();
        let out = self.out.clone();
        let skew = self.skew;
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let pressed = wall_ms();
            let buzz = json!({"type": "buzz", "qid": qid, "pressed_ms": pressed + skew - forge_ms});
            let _ = out.send(Message::text(buzz.to_string()));
            let _ = done.send(pressed);
        });
        stamped
    }
}
