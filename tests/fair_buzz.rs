//! Fair buzzing over real slow links: every player reaches the real server
//! through a delaying TCP proxy inside the test (20, 100 or 300 ms each
//! way, each chunk jittered by ±20 %, order kept as TCP keeps it). Players
//! answer the server's clock probes with a skewed clock of their own and
//! send the instant they pressed; the room must give the floor to whoever
//! pressed first.
//!
//! The trials run concurrently in many rooms (real time, nothing scaled),
//! so a thousand of them take seconds, not a quarter of an hour.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use common::{Client, NewRoom, Server};

/// One-way delays of the three links, ms.
const LINKS: [u64; 3] = [20, 100, 300];
/// Jitter of each chunk's delay, as a fraction of the link's delay.
const JITTER: f64 = 0.2;
/// The collection window of the compensated rooms: it must cover the
/// largest difference of one-way delays (300 · 1.2 − 20 · 0.8 = 344 ms).
const WINDOW_MS: u64 = 400;

/// Server wall clock in ms, the time base shared with the server.
fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// A TCP proxy to `target` that holds every chunk for `one_way` ms ± jitter
/// in each direction, never reordering bytes.
async fn delaying_proxy(target: SocketAddr, one_way: u64) -> SocketAddr {
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
struct SyncPlayer {
    id: u64,
    out: mpsc::UnboundedSender<Message>,
    /// Client clock minus wall clock.
    skew: f64,
    /// The link's one-way delay, ms.
    link: u64,
}

impl SyncPlayer {
    async fn join(proxy: SocketAddr, room: &NewRoom, name: &str, link: u64) -> SyncPlayer {
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
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(msg) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if msg["type"] == "sync" {
                    let reply = json!({"type": "sync_reply", "id": msg["id"], "client_ms": wall_ms() + skew});
                    let _ = replies.send(Message::text(reply.to_string()));
                }
            }
        });
        SyncPlayer {
            id,
            out,
            skew,
            link,
        }
    }

    /// Presses at `at`, claiming a press `forge_ms` earlier than the real
    /// one; resolves to the real press instant (wall ms).
    fn press(&self, qid: u64, at: Instant, forge_ms: f64) -> oneshot::Receiver<f64> {
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

/// A room with one player on each of `links`, every link through its proxy.
struct Table {
    host: Client,
    players: Vec<SyncPlayer>,
}

async fn table(
    server: &Server,
    proxies: &[(u64, SocketAddr)],
    links: &[u64],
    window: u64,
) -> Table {
    let room = server
        .create_room_with(json!({"title": "fair", "buzz_window_ms": window}))
        .await;
    let host = common::game::host(server, &room).await;
    let players = join_all(links.iter().enumerate().map(|(i, link)| {
        let proxy = proxies.iter().find(|p| p.0 == *link).expect("proxy").1;
        let name = format!("p{i}-{link}ms");
        let room = room.clone();
        async move { SyncPlayer::join(proxy, &room, &name, *link).await }
    }))
    .await;
    Table { host, players }
}

/// One finished trial: who pressed when (wall ms), and who got the floor.
#[derive(Debug, Clone)]
struct Trial {
    presses: Vec<(usize, f64)>,
    floor: usize,
    /// The host's queue, for the forger's bound.
    queue: Value,
}

impl Trial {
    /// Presses sorted by the instant they were made.
    fn sorted(&self) -> Vec<(usize, f64)> {
        let mut p = self.presses.clone();
        p.sort_by(|a, b| a.1.total_cmp(&b.1));
        p
    }

    /// How far the first press was ahead of the second, ms.
    fn lead(&self) -> f64 {
        let p = self.sorted();
        p[1].1 - p[0].1
    }
}

impl Table {
    /// Asks a buzz question and has `presses` (player index, ms after a
    /// common start, forged ms) press; waits until the floor is given and
    /// every press is queued.
    async fn trial(&mut self, presses: &[(usize, f64, f64)]) -> Trial {
        self.host
            .send_json(json!({"type": "ask", "mode": "buzz"}))
            .await;
        let question = self.host.recv_until("question").await;
        let qid = question["qid"].as_u64().expect("qid");
        // The ask is on the host's direct link: the question is open by
        // the time the earliest press could arrive.
        let start = Instant::now() + Duration::from_millis(30);
        let stamps: Vec<_> = presses
            .iter()
            .map(|&(i, after, forge)| {
                let at = start + Duration::from_secs_f64(after / 1000.0);
                (i, self.players[i].press(qid, at, forge))
            })
            .collect();
        let mut made = Vec::new();
        for (i, stamp) in stamps {
            made.push((i, stamp.await.expect("pressed")));
        }
        let n = presses.len();
        let queue = self
            .host
            .recv_matching("floor given, every press queued", |m| {
                m["type"] == "buzz_queue"
                    && m["qid"] == qid
                    && !m["floor"].is_null()
                    && m["queue"].as_array().map(Vec::len) == Some(n)
            })
            .await;
        let floor_id = queue["floor"].as_u64().expect("floor");
        let floor = self
            .players
            .iter()
            .position(|p| p.id == floor_id)
            .expect("floor is a player");
        Trial {
            presses: made,
            floor,
            queue,
        }
    }
}

async fn proxies(server: &Server) -> Vec<(u64, SocketAddr)> {
    let mut out = Vec::new();
    for link in LINKS {
        out.push((link, delaying_proxy(server.addr, link).await));
    }
    out
}

/// Waits until every player's clock has been sampled a few times.
async fn let_clocks_settle() {
    tokio::time::sleep(Duration::from_millis(1_800)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_press_wins_across_20_100_and_300_ms_links_in_99_percent() {
    const ROOMS: usize = 50;
    const TRIALS: usize = 20;
    let server = Server::start().await;
    let proxies = proxies(&server).await;
    let started = std::time::Instant::now();
    let tables = join_all((0..ROOMS).map(|_| table(&server, &proxies, &LINKS, WINDOW_MS))).await;
    let_clocks_settle().await;
    let runs: Vec<_> = tables
        .into_iter()
        .map(|mut t| {
            tokio::spawn(async move {
                let mut trials = Vec::new();
                for _ in 0..TRIALS {
                    let presses = {
                        let mut rng = rand::rng();
                        let mut who: Vec<usize> = vec![0, 1, 2];
                        let n = rng.random_range(2..=3);
                        for i in (1..who.len()).rev() {
                            who.swap(i, rng.random_range(0..=i));
                        }
                        let mut at = rng.random_range(0.0..40.0);
                        let mut presses = Vec::new();
                        for &i in who.iter().take(n) {
                            presses.push((i, at, 0.0));
                            at += rng.random_range(5.0..200.0);
                        }
                        presses
                    };
                    trials.push(t.trial(&presses).await);
                }
                trials
            })
        })
        .collect();
    let mut trials = Vec::new();
    for run in runs {
        trials.extend(run.await.expect("room run"));
    }
    let elapsed = started.elapsed();
    assert_eq!(trials.len(), ROOMS * TRIALS);
    let apart: Vec<&Trial> = trials.iter().filter(|t| t.lead() >= 30.0).collect();
    let right = apart.iter().filter(|t| t.floor == t.sorted()[0].0).count();
    let close = trials.len() - apart.len();
    let share = right as f64 / apart.len() as f64;
    println!(
        "fair buzz: {right}/{} trials with presses >= 30 ms apart gave the floor to the first press ({:.2} %); {close} closer trials not judged; {:.1} s",
        apart.len(),
        share * 100.0,
        elapsed.as_secs_f64()
    );
    // Misses, to see what went wrong if any.
    for t in apart.iter().filter(|t| t.floor != t.sorted()[0].0).take(5) {
        let links: Vec<(u64, f64)> = t
            .sorted()
            .iter()
            .map(|(i, at)| (LINKS[*i], at - t.sorted()[0].1))
            .collect();
        println!("  miss: presses (link, ms after first) {links:?}, floor went to the {} ms link; queue {}", LINKS[t.floor], t.queue["queue"]);
    }
    assert!(
        apart.len() >= trials.len() * 7 / 10,
        "too few trials apart: {}",
        apart.len()
    );
    assert!(share >= 0.99, "only {:.2} % right", share * 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_compensation_off_the_slow_player_loses_as_before() {
    const ROOMS: usize = 10;
    const TRIALS: usize = 4;
    let server = Server::start().await;
    let proxies = proxies(&server).await;
    let tables = join_all((0..ROOMS).map(|_| table(&server, &proxies, &[300, 20], 0))).await;
    let_clocks_settle().await;
    let runs: Vec<_> = tables
        .into_iter()
        .map(|mut t| {
            tokio::spawn(async move {
                let mut trials = Vec::new();
                for _ in 0..TRIALS {
                    // The 300 ms player presses 30 to 200 ms before the 20 ms one.
                    let lead = rand::rng().random_range(30.0..200.0);
                    trials.push(t.trial(&[(0, 0.0, 0.0), (1, lead, 0.0)]).await);
                }
                trials
            })
        })
        .collect();
    let mut trials = Vec::new();
    for run in runs {
        trials.extend(run.await.expect("room run"));
    }
    for t in &trials {
        assert_eq!(t.sorted()[0].0, 0, "the slow player pressed first");
        assert_eq!(t.floor, 1, "arrival order: the fast player wins: {t:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timestamp_forged_a_second_early_never_beats_a_press_more_than_its_bound_earlier() {
    const TRIALS: usize = 8;
    let server = Server::start().await;
    let proxies = proxies(&server).await;
    // One room per pair of links: player 0 is honest, player 1 forges.
    let pairs: Vec<[u64; 2]> = LINKS
        .iter()
        .flat_map(|h| LINKS.iter().map(move |f| [*h, *f]))
        .collect();
    let tables = join_all(
        pairs
            .iter()
            .map(|links| table(&server, &proxies, links, WINDOW_MS)),
    )
    .await;
    let_clocks_settle().await;
    let runs: Vec<_> = tables
        .into_iter()
        .map(|mut t| {
            tokio::spawn(async move {
                let mut trials = Vec::new();
                // The bound the server held the forger to, learned from the
                // host's queue; until then the largest a link here can have.
                let mut bound = 700.0;
                for _ in 0..TRIALS {
                    let gap = bound + rand::rng().random_range(30.0..80.0);
                    let trial = t.trial(&[(0, 0.0, 0.0), (1, gap, 1_000.0)]).await;
                    let forger_id = t.players[1].id;
                    let held = trial.queue["queue"]
                        .as_array()
                        .and_then(|q| q.iter().find(|e| e["player_id"] == forger_id))
                        .and_then(|e| e["bound_ms"].as_f64())
                        .expect("the host sees the forger's bound");
                    bound = held;
                    trials.push((t.players[0].link, t.players[1].link, held, trial));
                }
                trials
            })
        })
        .collect();
    let mut judged = 0;
    let mut total = 0;
    for run in runs {
        for (honest, forger, held, trial) in run.await.expect("room run") {
            total += 1;
            let lead = trial.presses[1].1 - trial.presses[0].1;
            let clamped = trial.queue["queue"]
                .as_array()
                .is_some_and(|q| q.iter().any(|e| e["clamped"] == true));
            assert!(
                clamped,
                "the forged claim is flagged to the host: {}",
                trial.queue
            );
            if lead > held {
                judged += 1;
                assert_eq!(
                    trial.floor, 0,
                    "honest on {honest} ms pressed {lead:.0} ms before a forger on {forger} ms (bound {held}); queue {}",
                    trial.queue
                );
            }
        }
    }
    println!("forged claims: {judged}/{total} trials had the honest press more than the forger's bound earlier; the honest press won all of them");
    assert!(
        judged >= total * 3 / 4,
        "too few judged trials: {judged}/{total}"
    );
}
