//! A worker process: opens its share of host and player sockets, plays
//! them as browsers would, records latencies, and reports on stdout.
//!
//! The coordinator re-executes the generator binary as `quizroom-bench
//! worker` so the client sockets are spread over several processes (each
//! may hold at most as many sockets as its open-file limit allows).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, msg, peek, Ws};
use crate::ctl::{
    line, Answering, Kind, Order, Report, RoomPart, Script, Setup, TallySeen, Totals, VoteTimes,
};
use crate::hist::Latency;
use crate::stamped::{self, Stamp};
use crate::sys::{epoch_us, Rng};

/// Longest wait for a `welcome` after sending the first message.
const WELCOME_LIMIT: Duration = Duration::from_secs(30);
/// Longest a socket may take to open and upgrade.
const CONNECT_LIMIT: Duration = Duration::from_secs(20);
/// How long the end-of-run check waits for more data from a stalled socket.
const STALL_PROBE: Duration = Duration::from_millis(500);
/// Most frames a stalled socket drains during the end-of-run check.
const STALL_DRAIN_FRAMES: usize = 1_000_000;

/// What every player is told to do next; players watch it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Directive {
    None,
    Vote { start_us: u64, spread_ms: u64 },
    Ping,
    Stop,
}

/// What players and hosts tell the recorder.
#[derive(Debug)]
enum Ev {
    Joined {
        room: u32,
        us: u64,
        stalled: bool,
    },
    JoinFailed {
        reason: String,
    },
    Closed {
        room: u32,
    },
    Recv {
        room: u32,
        kind: Kind,
        qid: u32,
        t_us: u64,
        arrival_us: Option<u64>,
    },
    Sent {
        room: u32,
        kind: Kind,
        qid: u32,
        t_us: u64,
        share: bool,
    },
    /// A request answered: sent, answer read, answer arrived (stamp).
    Rtt {
        name: &'static str,
        sent_us: u64,
        read_us: u64,
        arrival_us: Option<u64>,
    },
    VoteOrdered,
    VoteDone {
        times: Option<VoteTimes>,
    },
    PingOrdered,
    PingDone {
        alive: bool,
    },
    Tally(TallySeen),
    Error {
        code: String,
    },
    Stalled {
        evicted: bool,
    },
    Round,
    Finish(oneshot::Sender<Totals>),
}

/// State every task of the worker shares.
struct Shared {
    setup: Setup,
    rec: mpsc::UnboundedSender<Ev>,
    directive: watch::Receiver<Directive>,
    messages: AtomicU64,
    bytes: AtomicU64,
    deadline: Instant,
    /// Players in this worker, for spreading a vote storm evenly.
    total_players: u32,
}

/// Commands for a host task.
#[derive(Debug)]
enum HostCmd {
    Ask { mode: String },
    Reveal,
    Play { script: Script, until_us: u64 },
}

/// Runs the worker: reads orders from stdin until `Finish` or the hard
/// stop, writes reports to stdout.
pub async fn run() -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let first = lines.next_line().await?.context("no setup line")?;
    let setup = match serde_json::from_str::<Order>(&first)? {
        Order::Setup(s) => s,
        other => bail!("first order must be setup, got {other:?}"),
    };
    // Keep the kernel's receive timestamping switched on for the whole run
    // (it flips asynchronously, so before the first client socket).
    let _stamps_on = stamped::warm_up()
        .map_err(|e| eprintln!("worker {}: no receive timestamps: {e}", setup.worker))
        .ok();
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Report>();
    let writer = tokio::spawn(write_reports(out_rx));
    let (rec_tx, rec_rx) = mpsc::unbounded_channel::<Ev>();
    let (dir_tx, dir_rx) = watch::channel(Directive::None);
    let deadline = Instant::now() + Duration::from_secs(setup.max_secs);
    let total_players: u32 = setup.rooms.iter().map(|r| r.players).sum();
    let shared = Arc::new(Shared {
        setup: setup.clone(),
        rec: rec_tx.clone(),
        directive: dir_rx,
        messages: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        deadline,
        total_players,
    });
    let recorder = tokio::spawn(record(setup.clone(), rec_rx, out_tx.clone()));

    // Hosts first, so players join rooms that have their host.
    let mut hosts: HashMap<u32, mpsc::Sender<HostCmd>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let hosted = setup
        .rooms
        .iter()
        .filter(|r| setup.join && r.host_token.is_some());
    for part in hosted {
        let source = setup.sources[part.room as usize % setup.sources.len().max(1)];
        let (ws, stamp) = open_host(setup.server, source, part).await?;
        let (tx, rx) = mpsc::channel(16);
        hosts.insert(part.room, tx);
        tasks.spawn(host(
            shared.clone(),
            part.clone(),
            (ws, stamp),
            rx,
            out_tx.clone(),
        ));
    }
    let gate = Arc::new(Semaphore::new(setup.connect_parallel.max(1)));
    let mut index = 0u32;
    for part in &setup.rooms {
        for i in 0..part.players {
            let n = part.first_player + i;
            let stalled = setup.stall_every > 0 && n % setup.stall_every == setup.stall_every - 1;
            let source = setup.sources[n as usize % setup.sources.len().max(1)];
            tasks.spawn(player(
                shared.clone(),
                gate.clone(),
                PlayerSpec {
                    room: part.room,
                    code: part.code.clone(),
                    name: format!("p{n}"),
                    source,
                    stalled,
                    index,
                    seed: setup.seed ^ u64::from(n).wrapping_mul(0x5851_F42D),
                },
            ));
            index += 1;
        }
    }

    // Orders until Finish, the hard stop, or the coordinator going away.
    loop {
        let next = tokio::select! {
            l = lines.next_line() => l,
            _ = tokio::time::sleep_until(deadline) => Ok(None),
        };
        let order = match next {
            Ok(Some(l)) => match serde_json::from_str::<Order>(&l) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("worker {}: bad order {l:?}: {e}", setup.worker);
                    continue;
                }
            },
            _ => Order::Finish,
        };
        match order {
            Order::Setup(_) => {}
            Order::Ask { room, mode } => send_host(&hosts, room, HostCmd::Ask { mode }).await,
            Order::Reveal { room } => send_host(&hosts, room, HostCmd::Reveal).await,
            Order::Sent {
                room,
                kind,
                qid,
                t_us,
            } => {
                let _ = rec_tx.send(Ev::Sent {
                    room,
                    kind,
                    qid,
                    t_us,
                    share: false,
                });
            }
            Order::Vote {
                start_us,
                spread_ms,
            } => {
                let _ = rec_tx.send(Ev::VoteOrdered);
                let _ = dir_tx.send(Directive::Vote {
                    start_us,
                    spread_ms,
                });
            }
            Order::Ping => {
                let _ = rec_tx.send(Ev::PingOrdered);
                let _ = dir_tx.send(Directive::Ping);
            }
            Order::Play { script, until_us } => {
                for tx in hosts.values() {
                    let _ = tx.send(HostCmd::Play { script, until_us }).await;
                }
            }
            Order::Finish => break,
        }
    }

    // Stop everyone, wait (bounded) for them to finish, then report.
    let _ = dir_tx.send(Directive::Stop);
    drop(hosts);
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    let (tx, rx) = oneshot::channel();
    let _ = rec_tx.send(Ev::Finish(tx));
    let mut totals = rx.await.unwrap_or_default();
    totals.messages = shared.messages.load(Ordering::Relaxed);
    totals.bytes = shared.bytes.load(Ordering::Relaxed);
    let _ = out_tx.send(Report::Done(Box::new(totals)));
    drop(out_tx);
    drop(rec_tx);
    drop(shared);
    let _ = recorder.await;
    let _ = writer.await;
    Ok(())
}

async fn send_host(hosts: &HashMap<u32, mpsc::Sender<HostCmd>>, room: u32, cmd: HostCmd) {
    if let Some(tx) = hosts.get(&room) {
        let _ = tx.send(cmd).await;
    }
}

/// Writes reports to stdout, one JSON line each, flushing every line so
/// the coordinator sees them at once.
async fn write_reports(mut rx: mpsc::UnboundedReceiver<Report>) {
    let mut stdout = tokio::io::stdout();
    while let Some(r) = rx.recv().await {
        let mut l = line(&r);
        l.push('\n');
        if stdout.write_all(l.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
            break;
        }
    }
}

async fn open_host(
    server: std::net::SocketAddr,
    source: std::net::Ipv4Addr,
    part: &RoomPart,
) -> anyhow::Result<(Ws, Stamp)> {
    let token = part.host_token.clone().unwrap_or_default();
    let (mut ws, stamp) = client::connect(server, source, CONNECT_LIMIT).await?;
    ws.send(Message::text(msg::host(&part.code, &token)))
        .await?;
    wait_welcome(&mut ws)
        .await
        .with_context(|| format!("host of room {}", part.code))?;
    Ok((ws, stamp))
}

/// Reads until `welcome`; returns the player id if one was given.
async fn wait_welcome(ws: &mut Ws) -> anyhow::Result<Option<u32>> {
    tokio::time::timeout(WELCOME_LIMIT, async {
        while let Some(frame) = ws.next().await {
            if let Message::Text(t) = frame? {
                match peek(&t) {
                    Some(p) if p.kind == "welcome" => return Ok(p.player_id),
                    Some(p) if p.kind == "error" => {
                        bail!("refused: {}", p.code.as_deref().unwrap_or("?"))
                    }
                    _ => {}
                }
            }
        }
        bail!("closed before welcome")
    })
    .await
    .context("no welcome in time")?
}

/// Resolves once the worker is told to stop.
async fn stopped(dir: &mut watch::Receiver<Directive>) {
    let _ = dir.wait_for(|d| *d == Directive::Stop).await.is_ok();
}

/// The server messages a player acts on; everything else is skipped
/// unparsed.
const PLAYER_KINDS: &[&str] = &["question", "reveal", "ack", "error", "pong"];

/// Who one player is.
struct PlayerSpec {
    room: u32,
    code: String,
    name: String,
    source: std::net::Ipv4Addr,
    stalled: bool,
    index: u32,
    seed: u64,
}

/// Something a player will send at a chosen instant.
#[derive(Debug, Clone, Copy)]
enum Action {
    Vote {
        qid: u32,
        choice: u64,
        ordered: bool,
    },
    Buzz {
        qid: u32,
    },
}

async fn player(shared: Arc<Shared>, gate: Arc<Semaphore>, spec: PlayerSpec) {
    let permit = gate.acquire_owned().await;
    let t0 = epoch_us();
    let opened = async {
        let (mut ws, stamp) =
            client::connect(shared.setup.server, spec.source, CONNECT_LIMIT).await?;
        if shared.setup.join {
            ws.send(Message::text(msg::join(&spec.code, &spec.name)))
                .await?;
            wait_welcome(&mut ws).await?;
        }
        anyhow::Ok((ws, stamp))
    }
    .await;
    drop(permit);
    let (ws, stamp) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            let _ = shared.rec.send(Ev::JoinFailed {
                reason: format!("{e:#}"),
            });
            return;
        }
    };
    let _ = shared.rec.send(Ev::Joined {
        room: spec.room,
        us: epoch_us().saturating_sub(t0),
        stalled: spec.stalled,
    });
    if spec.stalled {
        stall(shared, ws).await;
    } else {
        play(shared, ws, stamp, spec).await;
    }
}

/// A client that stops reading: holds its socket until the run ends, then
/// checks whether the server dropped it.
async fn stall(shared: Arc<Shared>, mut ws: Ws) {
    let mut dir = shared.directive.clone();
    let _ = tokio::time::timeout_at(shared.deadline, stopped(&mut dir)).await;
    let mut evicted = false;
    for _ in 0..STALL_DRAIN_FRAMES {
        match tokio::time::timeout(STALL_PROBE, ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                evicted = true;
                break;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    let _ = shared.rec.send(Ev::Stalled { evicted });
}

/// A reading player: records receive instants, answers as told.
async fn play(shared: Arc<Shared>, ws: Ws, stamp: Stamp, spec: PlayerSpec) {
    let (mut sink, mut stream) = ws.split();
    let mut dir = shared.directive.clone();
    dir.mark_unchanged();
    let mut rng = Rng::new(spec.seed);
    let mut current: Option<(u32, u64)> = None; // (qid, options)
    let mut action: Option<(Instant, Action)> = None;
    let mut vote_sent: Option<(u64, bool)> = None; // (send µs, ordered)
    let mut buzz_sent: Option<u64> = None;
    let rec = &shared.rec;
    let deadline = tokio::time::sleep_until(shared.deadline);
    tokio::pin!(deadline);
    loop {
        let wake = action.map(|(at, _)| at);
        tokio::select! {
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        let _ = rec.send(Ev::Closed { room: spec.room });
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let now = epoch_us();
                // The kernel stamp of the read that completed this frame.
                let arrival = stamp.last_us();
                shared.messages.fetch_add(1, Ordering::Relaxed);
                shared.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                // Most traffic (tallies, `you`, `closed`, scores) needs no
                // parse at all; the generator's own cost is part of every
                // latency it reports.
                if !client::kind_is(&text, PLAYER_KINDS) {
                    continue;
                }
                let Some(p) = peek(&text) else { continue };
                match p.kind.as_ref() {
                    "question" => {
                        let Some(qid) = p.qid else { continue };
                        let _ = rec.send(Ev::Recv { room: spec.room, kind: Kind::Question, qid, t_us: now, arrival_us: arrival });
                        let options = p.options.as_ref().map_or(0, |o| o.len() as u64);
                        current = Some((qid, options));
                        if let Answering::Auto { think_ms, buzz_pct } = shared.setup.answering {
                            let at = Instant::now() + Duration::from_millis(rng.below(think_ms.max(1)));
                            match p.mode.as_deref() {
                                Some("buzz") if rng.below(100) < buzz_pct => {
                                    action = Some((at, Action::Buzz { qid }));
                                }
                                Some("vote" | "poll" | "self") if options > 0 => {
                                    let choice = rng.below(options);
                                    action = Some((at, Action::Vote { qid, choice, ordered: false }));
                                }
                                _ => action = None,
                            }
                        }
                    }
                    "reveal" => {
                        if let Some(qid) = p.qid {
                            let _ = rec.send(Ev::Recv { room: spec.room, kind: Kind::Reveal, qid, t_us: now, arrival_us: arrival });
                        }
                    }
                    "ack" => match p.reference.as_deref() {
                        Some("vote") => {
                            if let Some((sent, ordered)) = vote_sent.take() {
                                let _ = rec.send(Ev::Rtt { name: "vote_ack", sent_us: sent, read_us: now, arrival_us: arrival });
                                if ordered {
                                    let times = VoteTimes { sent_us: sent, ack_read_us: now, ack_arrival_us: arrival };
                                    let _ = rec.send(Ev::VoteDone { times: Some(times) });
                                }
                            }
                        }
                        Some("buzz") => {
                            if let Some(sent) = buzz_sent.take() {
                                let _ = rec.send(Ev::Rtt { name: "buzz_ack", sent_us: sent, read_us: now, arrival_us: arrival });
                            }
                        }
                        _ => {}
                    },
                    "error" => {
                        let code = p.code.as_deref().unwrap_or("?").to_string();
                        let _ = rec.send(Ev::Error { code });
                        if let Some((_, true)) = vote_sent.take() {
                            let _ = rec.send(Ev::VoteDone { times: None });
                        }
                        buzz_sent = None;
                    }
                    "pong" => {
                        let _ = rec.send(Ev::PingDone { alive: true });
                    }
                    _ => {}
                }
            }
            changed = dir.changed() => {
                if changed.is_err() {
                    break;
                }
                let d = *dir.borrow_and_update();
                match d {
                    Directive::Vote { start_us, spread_ms } => {
                        match current {
                            Some((qid, options)) if options > 0 => {
                                let offset = spread_ms * 1000 * u64::from(spec.index)
                                    / u64::from(shared.total_players.max(1));
                                let wait = (start_us + offset).saturating_sub(epoch_us());
                                let choice = rng.below(options);
                                action = Some((Instant::now() + Duration::from_micros(wait), Action::Vote { qid, choice, ordered: true }));
                            }
                            _ => {
                                let _ = rec.send(Ev::VoteDone { times: None });
                            }
                        }
                    }
                    Directive::Ping => {
                        if sink.send(Message::text(msg::ping(epoch_us()))).await.is_err() {
                            let _ = rec.send(Ev::PingDone { alive: false });
                        }
                    }
                    Directive::Stop => {
                        let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(None))).await;
                        // Read on until the server's close (or a short limit).
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = stream.next().await {}
                        }).await;
                        break;
                    }
                    Directive::None => {}
                }
            }
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                let Some((_, a)) = action.take() else { continue };
                let (text, ordered) = match a {
                    Action::Vote { qid, choice, ordered } => (msg::vote(qid, choice), Some(ordered)),
                    Action::Buzz { qid } => (msg::buzz(qid), None),
                };
                let t = epoch_us();
                match ordered {
                    Some(o) => vote_sent = Some((t, o)),
                    None => buzz_sent = Some(t),
                }
                if sink.send(Message::text(text)).await.is_err() && ordered == Some(true) {
                    let _ = rec.send(Ev::VoteDone { times: None });
                    vote_sent = None;
                }
            }
            _ = &mut deadline => break,
        }
    }
}

/// The host console of one room: asks, reveals, judges, and records send
/// instants.
async fn host(
    shared: Arc<Shared>,
    part: RoomPart,
    (ws, stamp): (Ws, Stamp),
    mut cmds: mpsc::Receiver<HostCmd>,
    out: mpsc::UnboundedSender<Report>,
) {
    const MODES: [&str; 3] = ["vote", "buzz", "poll"];
    let (mut sink, mut stream) = ws.split();
    let rec = &shared.rec;
    let mut dir = shared.directive.clone();
    let mut rng = Rng::new(shared.setup.seed ^ u64::from(part.room));
    let mut asked: Option<u64> = None;
    let mut revealed: Option<u64> = None;
    let mut judged = false;
    // Game loop state: the script, its end, the next step and its time.
    let mut play: Option<(Script, u64)> = None;
    let mut step: Option<Instant> = None;
    let mut open = false;
    let mut round = 0usize;
    let mut failures = 0u32;
    let report_error = |message: String| {
        let _ = out.send(Report::HostError {
            room: part.room,
            message,
        });
    };
    loop {
        tokio::select! {
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                    _ => { report_error("host socket closed".into()); break; }
                };
                let now = epoch_us();
                let arrival = stamp.last_us();
                let Some(p) = peek(&text) else { continue };
                match p.kind.as_ref() {
                    "question" => {
                        if let (Some(t), Some(qid)) = (asked.take(), p.qid) {
                            let _ = rec.send(Ev::Sent { room: part.room, kind: Kind::Question, qid, t_us: t, share: part.shared });
                            judged = false;
                            open = true;
                            if let Some((script, _)) = play {
                                step = Some(Instant::now() + Duration::from_millis(script.question_ms));
                            }
                        }
                    }
                    "reveal" => {
                        if let (Some(t), Some(qid)) = (revealed.take(), p.qid) {
                            let _ = rec.send(Ev::Sent { room: part.room, kind: Kind::Reveal, qid, t_us: t, share: part.shared });
                            let _ = rec.send(Ev::Round);
                            if let Some((script, _)) = play {
                                step = Some(Instant::now() + Duration::from_millis(script.pause_ms));
                            }
                        }
                    }
                    "tally" => {
                        if let Some(answered) = p.answered {
                            let _ = rec.send(Ev::Tally(TallySeen { read_us: now, arrival_us: arrival, answered }));
                        }
                    }
                    "buzz_queue" => {
                        if let (Some(floor), false, true) = (p.floor, judged, play.is_some()) {
                            judged = true;
                            let _ = sink.send(Message::text(msg::judge(floor, rng.below(2) == 0))).await;
                        }
                    }
                    "error" => {
                        let code = p.code.as_deref().unwrap_or("?").to_string();
                        report_error(format!("server error {code}"));
                        let _ = rec.send(Ev::Error { code });
                        failures += 1;
                        if asked.take().is_some() || revealed.take().is_some() {
                            if let Some((script, _)) = play {
                                step = Some(Instant::now() + Duration::from_millis(script.pause_ms.max(100)));
                                open = false;
                            }
                        }
                        if failures > 20 {
                            play = None;
                            step = None;
                        }
                    }
                    _ => {}
                }
            }
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else { break };
                match cmd {
                    HostCmd::Ask { mode } => {
                        asked = Some(epoch_us());
                        let _ = sink.send(Message::text(msg::ask(&mode, &part.topics, None))).await;
                    }
                    HostCmd::Reveal => {
                        let _ = sink.send(Message::text(msg::close())).await;
                        revealed = Some(epoch_us());
                        let _ = sink.send(Message::text(msg::reveal())).await;
                    }
                    HostCmd::Play { script, until_us } => {
                        play = Some((script, until_us));
                        // Stagger room starts over the first question period.
                        step = Some(Instant::now() + Duration::from_millis(rng.below(script.question_ms.max(1))));
                    }
                }
            }
            _ = tokio::time::sleep_until(step.unwrap_or_else(Instant::now)), if step.is_some() => {
                step = None;
                let Some((_, until_us)) = play else { continue };
                if open {
                    open = false;
                    let _ = sink.send(Message::text(msg::close())).await;
                    revealed = Some(epoch_us());
                    let _ = sink.send(Message::text(msg::reveal())).await;
                } else if epoch_us() < until_us {
                    let mode = MODES[round % MODES.len()];
                    round += 1;
                    asked = Some(epoch_us());
                    let _ = sink.send(Message::text(msg::ask(mode, &part.topics, None))).await;
                } else {
                    play = None;
                }
            }
            _ = stopped(&mut dir) => break,
            _ = tokio::time::sleep_until(shared.deadline) => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(None))).await;
}

/// The recorder: matches receive instants with send instants, keeps the
/// histograms and counters, and tells the coordinator when a broadcast
/// has reached every reading player here.
async fn record(
    setup: Setup,
    mut rx: mpsc::UnboundedReceiver<Ev>,
    out: mpsc::UnboundedSender<Report>,
) {
    type Key = (u32, Kind, u32);
    let expected: u32 = setup.rooms.iter().map(|r| r.players).sum();
    let mut t = Totals::default();
    let mut hists = Timings::default();
    let mut sent: HashMap<Key, u64> = HashMap::new();
    let mut pending: HashMap<Key, Vec<(u64, Option<u64>)>> = HashMap::new();
    let mut reached: HashMap<Key, u32> = HashMap::new();
    let mut live: HashMap<u32, u32> = HashMap::new();
    let mut live_total = 0u32;
    let mut ready_sent = false;
    let (mut votes_expected, mut votes_done, mut votes_acked) = (0u32, 0u32, 0u32);
    let (mut pings_expected, mut pings_done, mut pings_alive) = (0u32, 0u32, 0u32);
    let kind_name = |k: Kind| match k {
        Kind::Question => "question",
        Kind::Reveal => "reveal",
    };
    if expected == 0 {
        ready_sent = true;
        let _ = out.send(Report::Ready {
            connected: 0,
            failed: 0,
        });
    }
    while let Some(ev) = rx.recv().await {
        match ev {
            Ev::Joined { room, us, stalled } => {
                t.connected += 1;
                hists.read.entry("join").or_default().record(us);
                if !stalled {
                    *live.entry(room).or_default() += 1;
                    live_total += 1;
                }
            }
            Ev::JoinFailed { reason } => {
                t.failed += 1;
                if t.failed <= 5 {
                    eprintln!("worker {}: join failed: {reason}", setup.worker);
                }
                *t.errors.entry(short_reason(&reason)).or_default() += 1;
            }
            Ev::Closed { room } => {
                t.dropped += 1;
                if let Some(n) = live.get_mut(&room) {
                    *n = n.saturating_sub(1);
                }
                live_total = live_total.saturating_sub(1);
            }
            Ev::Recv {
                room,
                kind,
                qid,
                t_us,
                arrival_us,
            } => {
                let key = (room, kind, qid);
                match sent.get(&key) {
                    Some(&s) => hists.record(kind_name(kind), s, t_us, arrival_us),
                    None => pending.entry(key).or_default().push((t_us, arrival_us)),
                }
                let n = reached.entry(key).or_default();
                *n += 1;
                if *n == live.get(&room).copied().unwrap_or(0) {
                    let _ = out.send(Report::Reached { room, kind, qid });
                }
            }
            Ev::Sent {
                room,
                kind,
                qid,
                t_us,
                share,
            } => {
                let key = (room, kind, qid);
                sent.insert(key, t_us);
                if let Some(waiting) = pending.remove(&key) {
                    for (read, arrival) in waiting {
                        hists.record(kind_name(kind), t_us, read, arrival);
                    }
                }
                if share {
                    let _ = out.send(Report::Sent {
                        room,
                        kind,
                        qid,
                        t_us,
                    });
                }
            }
            Ev::Rtt {
                name,
                sent_us,
                read_us,
                arrival_us,
            } => hists.record(name, sent_us, read_us, arrival_us),
            Ev::VoteOrdered => {
                votes_expected = live_total;
                votes_done = 0;
                votes_acked = 0;
            }
            Ev::VoteDone { times } => {
                votes_done += 1;
                if let Some(v) = times {
                    votes_acked += 1;
                    if setup.keep_votes {
                        t.votes.push(v);
                    }
                }
                if votes_done == votes_expected {
                    let _ = out.send(Report::Voted {
                        acked: votes_acked,
                        failed: votes_done - votes_acked,
                    });
                }
            }
            Ev::PingOrdered => {
                pings_expected = live_total;
                pings_done = 0;
                pings_alive = 0;
            }
            Ev::PingDone { alive } => {
                pings_done += 1;
                pings_alive += u32::from(alive);
                if pings_done == pings_expected {
                    let _ = out.send(Report::Pongs {
                        alive: pings_alive,
                        of: pings_expected,
                    });
                }
            }
            Ev::Tally(tally) => {
                hists.check_stamp("tally", tally.read_us, tally.arrival_us);
                if setup.keep_votes {
                    t.tallies.push(tally);
                }
            }
            Ev::Error { code } => *t.errors.entry(code).or_default() += 1,
            Ev::Stalled { evicted } => {
                if evicted {
                    t.stalled_evicted += 1;
                } else {
                    t.stalled_open += 1;
                }
            }
            Ev::Round => t.rounds += 1,
            Ev::Finish(reply) => {
                t.unmatched = pending.values().map(|v| v.len() as u64).sum();
                hists.fill(&mut t);
                let _ = reply.send(std::mem::take(&mut t));
                continue;
            }
        }
        if !ready_sent && t.connected + t.failed == expected {
            ready_sent = true;
            let _ = out.send(Report::Ready {
                connected: t.connected,
                failed: t.failed,
            });
        }
    }
}

/// A worker's latency histograms: each timed frame ends at two instants,
/// when the worker read it and when its bytes reached the socket (the
/// kernel stamp), so both are kept side by side.
#[derive(Default)]
struct Timings {
    read: HashMap<&'static str, Latency>,
    arrival: HashMap<&'static str, Latency>,
    unstamped: HashMap<&'static str, u64>,
    stamp_after_read: u64,
}

impl Timings {
    /// One timed frame: sent at `sent`, read at `read`, arrived at
    /// `arrival` (if stamped).
    fn record(&mut self, name: &'static str, sent: u64, read: u64, arrival: Option<u64>) {
        self.read
            .entry(name)
            .or_default()
            .record(read.saturating_sub(sent));
        if let Some(a) = arrival {
            self.arrival
                .entry(name)
                .or_default()
                .record(a.saturating_sub(sent));
        }
        self.check_stamp(name, read, arrival);
    }

    /// Counts a frame without a stamp, or with one later than its read.
    fn check_stamp(&mut self, name: &'static str, read: u64, arrival: Option<u64>) {
        match arrival {
            Some(a) if a > read => self.stamp_after_read += 1,
            Some(_) => {}
            None => *self.unstamped.entry(name).or_default() += 1,
        }
    }

    /// Puts the histograms and counters into the worker's totals.
    fn fill(&self, t: &mut Totals) {
        let wire = |m: &HashMap<&'static str, Latency>| {
            m.iter()
                .map(|(k, h)| (k.to_string(), h.to_wire()))
                .collect()
        };
        t.hists = wire(&self.read);
        t.arrival_hists = wire(&self.arrival);
        t.unstamped = self
            .unstamped
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
        t.stamp_after_read = self.stamp_after_read;
    }
}

/// A join failure reason short enough to count by (first clause only).
fn short_reason(reason: &str) -> String {
    let first = reason.split(':').next().unwrap_or(reason).trim();
    format!("join: {}", first.chars().take(60).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_keep_read_and_arrival_apart() {
        let mut t = Timings::default();
        t.record("question", 1_000, 5_000, Some(3_000));
        t.record("question", 1_000, 9_000, None);
        t.record("question", 1_000, 2_000, Some(2_500));
        let mut totals = Totals::default();
        t.fill(&mut totals);
        let read = Latency::from_wire(&totals.hists["question"]).summary();
        let arrival = Latency::from_wire(&totals.arrival_hists["question"]).summary();
        assert_eq!(read.count, 3);
        assert_eq!(arrival.count, 2);
        assert!((1_995..=2_005).contains(&arrival.max_us), "{arrival:?}");
        assert_eq!(totals.unstamped["question"], 1);
        assert_eq!(totals.stamp_after_read, 1);
    }

    #[test]
    fn short_reason_keeps_the_first_clause() {
        assert_eq!(
            short_reason("websocket connect timed out: deadline has elapsed"),
            "join: websocket connect timed out"
        );
    }
}
