//! The failover scenario: a cluster of `--server-bin` nodes started by the
//! generator (with its own Redis and PostgreSQL unless given), one room
//! owned by node 1, players spread over every node, and the owner killed
//! with SIGKILL while a question is open and votes are arriving. Measures
//! what a user of a surviving node sees: time from the kill until each
//! socket on another node holds the restored open question (its fresh
//! `welcome`), time until each player of the dead node is seated again on
//! a surviving node with its resume token (seat and score kept), and, once
//! the game is ended on a survivor, whether every acknowledged vote is in
//! the stored results exactly once. Several rounds are several kills: the
//! killed node comes back as a fresh process between rounds.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, msg, Ws};
use crate::hist::Latency;
use crate::http::get_authorized;
use crate::nodes::{ClusterSpec, NodeProc};
use crate::report::{loadavg, Outcome};
use crate::services::{Postgres, Redis};
use crate::sys::source_addrs;
use crate::target::Target;

/// The target: every surviving socket has the restored question
/// within this long after the kill.
const RESTORE_TARGET: Duration = Duration::from_secs(10);
/// How long a round waits for survivors and resumed players at most.
const RESTORE_LIMIT: Duration = Duration::from_secs(60);
/// Waits for joins, acks, reveals and the end.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// How long one resume attempt waits for its answer (the proxy of a dead
/// owner answers `cluster_unavailable` after 5 s).
const RESUME_ANSWER: Duration = Duration::from_secs(7);
/// Pause between resume attempts of one player.
const RESUME_PAUSE: Duration = Duration::from_millis(250);
const HTTP_LIMIT: Duration = Duration::from_secs(20);

/// What the failover run is asked to do.
#[derive(Debug, Clone)]
pub struct Params {
    /// The node binary.
    pub bin: PathBuf,
    /// Extra arguments for every node.
    pub extra: Vec<String>,
    /// Nodes in the cluster (at least 2).
    pub node_count: usize,
    /// Players in the room, spread round-robin over the nodes.
    pub players: u32,
    /// Kill cycles.
    pub rounds: u32,
    /// The second question's votes are spread over this many ms; the owner
    /// is killed halfway through.
    pub spread_ms: u64,
    /// Use this Redis instead of starting one.
    pub redis_url: Option<String>,
    /// Use this PostgreSQL database instead of starting one.
    pub database_url: Option<String>,
    /// Loopback source addresses for the players' sockets.
    pub sources: usize,
}

/// Runs every round and returns one outcome with per-round numbers, the
/// medians over the rounds and the checks.
pub async fn run(p: &Params) -> anyhow::Result<Outcome> {
    if p.node_count < 2 {
        bail!("failover needs at least 2 nodes (--node-count)");
    }
    let mut out = Outcome::new("failover");
    out.param("nodes", p.node_count);
    out.param("players", p.players);
    out.param("rounds", p.rounds);
    out.param("spread_ms", p.spread_ms);
    let (redis, database) = (p.redis_url.clone(), p.database_url.clone());
    let (redis_own, pg_own) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let r = match redis {
            Some(_) => None,
            None => Some(Redis::start()?),
        };
        let pg = match database {
            Some(_) => None,
            None => Some(Postgres::start()?),
        };
        Ok((r, pg))
    })
    .await??;
    out.param("own_redis", redis_own.is_some());
    out.param("own_postgres", pg_own.is_some());
    let scratch = std::env::temp_dir().join(format!(
        "quizroom-bench-failover-{}-{}",
        std::process::id(),
        crate::services::free_port()?
    ));
    std::fs::create_dir_all(&scratch)?;
    let spec = ClusterSpec {
        bin: p.bin.clone(),
        redis_url: p
            .redis_url
            .clone()
            .or(redis_own.as_ref().map(Redis::url))
            .unwrap_or_default(),
        database_url: p
            .database_url
            .clone()
            .or(pg_own.as_ref().map(Postgres::url))
            .unwrap_or_default(),
        extra: p.extra.clone(),
        scratch: scratch.clone(),
    };
    let result = rounds(p, &spec, &mut out).await;
    drop(pg_own);
    drop(redis_own);
    match result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        Err(e) => {
            return Err(e.context(format!("node logs kept in {}", scratch.display())));
        }
    }
    out.machine.loadavg_after = loadavg();
    Ok(out)
}

/// Starts the nodes, plays every round (restarting the killed owner as a
/// fresh node between rounds), and fills `out`.
async fn rounds(p: &Params, spec: &ClusterSpec, out: &mut Outcome) -> anyhow::Result<()> {
    let mut nodes = Vec::new();
    for i in 0..p.node_count {
        nodes.push(NodeProc::start(spec, &format!("n{}", i + 1)).await?);
    }
    let mut all = Vec::new();
    let mut restored = Latency::new();
    let mut resumed = Latency::new();
    for r in 0..p.rounds {
        if r > 0 {
            // The killed owner comes back as a fresh node (a new id: the
            // old process's leases are another node's now).
            nodes[0] = NodeProc::start(spec, &format!("n1-r{}", r + 1)).await?;
        }
        let got = round(p, spec, &mut nodes, r)
            .await
            .with_context(|| format!("round {}", r + 1))?;
        for d in &got.restored {
            restored.record(d.as_micros() as u64);
        }
        for d in &got.resumed {
            resumed.record(d.as_micros() as u64);
        }
        got.record(out, r + 1);
        all.push(got);
    }
    for n in &mut nodes {
        n.kill9().await;
    }
    out.latencies
        .insert("survivor_restored".into(), restored.summary());
    out.latencies
        .insert("dead_node_player_seated".into(), resumed.summary());
    summarize(out, &all);
    Ok(())
}

/// What one kill cycle measured.
#[derive(Debug, Default)]
struct RoundResult {
    /// Kill → fresh welcome with the open question, per surviving socket
    /// (host included).
    restored: Vec<Duration>,
    /// Surviving sockets expected.
    survivors: usize,
    /// Surviving sockets whose welcome had a wrong seat or question, or
    /// lacked their acknowledged vote.
    restored_wrong: usize,
    /// Kill → seated on a surviving node, per player of the dead node.
    resumed: Vec<Duration>,
    /// Players on the dead node.
    dead_players: usize,
    /// Of those, seated with the same seat, score and open question.
    resumed_kept: usize,
    /// Surviving sockets closed by their node.
    survivor_drops: usize,
    /// Acknowledged votes: before the kill, after it.
    acked_before: usize,
    acked_after: usize,
    /// Acknowledged votes missing from the results (or with another choice).
    lost: usize,
    /// Extra rows or counts beyond one per acknowledged player answer.
    duplicates: usize,
    /// Answers in the results that were never acknowledged (sent before
    /// the kill, committed, ack lost with the node).
    unacked_present: usize,
    /// The host's restored tally (`answered`), and the acks before the kill
    /// on that question.
    restored_tally: Option<u64>,
    acked_before_q2: usize,
    /// Error codes the players were sent.
    errors: BTreeMap<String, u64>,
    /// Resume attempts the dead node's players needed in all.
    resume_attempts: u64,
    /// Players whose vote on the open question was never acked.
    unacked_at_end: usize,
    /// What went wrong, if something did without ending the round.
    note: Option<String>,
    /// The room's lease time left at the kill (Redis `PTTL`), if read.
    lease_left: Option<Duration>,
}

impl RoundResult {
    /// The last survivor's restore time beyond the lease's run-out: the
    /// take-over's own cost (its look interval, the restore, the welcomes).
    fn after_lease(&self) -> Option<f64> {
        let lease = self.lease_left?.as_secs_f64();
        Some(summary_s(&self.restored).2 - lease)
    }
}

impl RoundResult {
    fn record(&self, out: &mut Outcome, r: u32) {
        let s = |v: &[Duration]| summary_s(v);
        let (p50, p99, last) = s(&self.restored);
        out.metric(&format!("r{r}_restored_p50_s"), p50);
        out.metric(&format!("r{r}_restored_p99_s"), p99);
        out.metric(&format!("r{r}_restored_last_s"), last);
        out.metric(&format!("r{r}_restored_count"), self.restored.len() as f64);
        out.metric(&format!("r{r}_survivors"), self.survivors as f64);
        out.metric(&format!("r{r}_restored_wrong"), self.restored_wrong as f64);
        out.metric(&format!("r{r}_survivor_drops"), self.survivor_drops as f64);
        let (p50, p99, last) = s(&self.resumed);
        out.metric(&format!("r{r}_seated_p50_s"), p50);
        out.metric(&format!("r{r}_seated_p99_s"), p99);
        out.metric(&format!("r{r}_seated_last_s"), last);
        out.metric(&format!("r{r}_dead_node_players"), self.dead_players as f64);
        out.metric(
            &format!("r{r}_seated_with_seat_and_score"),
            self.resumed_kept as f64,
        );
        out.metric(
            &format!("r{r}_resume_attempts"),
            self.resume_attempts as f64,
        );
        out.metric(&format!("r{r}_acked_before_kill"), self.acked_before as f64);
        out.metric(&format!("r{r}_acked_after_kill"), self.acked_after as f64);
        out.metric(&format!("r{r}_answers_lost"), self.lost as f64);
        out.metric(&format!("r{r}_answers_duplicated"), self.duplicates as f64);
        out.metric(
            &format!("r{r}_unacked_answers_kept"),
            self.unacked_present as f64,
        );
        out.metric(
            &format!("r{r}_open_question_acks_before_kill"),
            self.acked_before_q2 as f64,
        );
        if let (Some(l), Some(a)) = (self.lease_left, self.after_lease()) {
            out.metric(&format!("r{r}_lease_left_at_kill_s"), l.as_secs_f64());
            out.metric(&format!("r{r}_restored_last_after_lease_s"), a);
        }
        if let Some(t) = self.restored_tally {
            out.metric(&format!("r{r}_restored_tally_answered"), t as f64);
        }
        out.metric(
            &format!("r{r}_votes_never_acked"),
            self.unacked_at_end as f64,
        );
        for (code, n) in &self.errors {
            out.metric(&format!("r{r}_error:{code}"), *n as f64);
        }
        if let Some(n) = &self.note {
            out.notes.push(format!("round {r}: {n}"));
        }
    }
}

/// p50, p99 and the last of `v`, in seconds (0 when empty).
fn summary_s(v: &[Duration]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    let at = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    (at(0.50), at(0.99), s[s.len() - 1])
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians over the rounds, totals, and the targets.
fn summarize(out: &mut Outcome, all: &[RoundResult]) {
    let per = |f: &dyn Fn(&RoundResult) -> f64| median(all.iter().map(f).collect());
    let restored_last = per(&|r| summary_s(&r.restored).2);
    out.metric("restored_p50_s_median", per(&|r| summary_s(&r.restored).0));
    out.metric("restored_p99_s_median", per(&|r| summary_s(&r.restored).1));
    out.metric("restored_last_s_median", restored_last);
    out.metric("seated_p50_s_median", per(&|r| summary_s(&r.resumed).0));
    out.metric("seated_p99_s_median", per(&|r| summary_s(&r.resumed).1));
    out.metric("seated_last_s_median", per(&|r| summary_s(&r.resumed).2));
    let leases: Vec<f64> = all
        .iter()
        .filter_map(|r| Some(r.lease_left?.as_secs_f64()))
        .collect();
    let beyond: Vec<f64> = all.iter().filter_map(RoundResult::after_lease).collect();
    if !beyond.is_empty() {
        out.metric("lease_left_at_kill_s_median", median(leases));
        out.metric("restored_last_after_lease_s_median", median(beyond));
    }
    let sum = |f: &dyn Fn(&RoundResult) -> usize| all.iter().map(f).sum::<usize>();
    let survivors = sum(&|r| r.survivors);
    let within = all
        .iter()
        .flat_map(|r| &r.restored)
        .filter(|d| **d <= RESTORE_TARGET)
        .count();
    let acked = sum(&|r| r.acked_before + r.acked_after);
    let lost = sum(&|r| r.lost);
    let dups = sum(&|r| r.duplicates);
    let dead = sum(&|r| r.dead_players);
    let kept = sum(&|r| r.resumed_kept);
    let wrong = sum(&|r| r.restored_wrong);
    let drops = sum(&|r| r.survivor_drops);
    out.metric("survivors_total", survivors as f64);
    out.metric("survivors_restored_within_10s", within as f64);
    out.metric("acked_votes_total", acked as f64);
    out.metric("answers_lost_total", lost as f64);
    out.metric("answers_duplicated_total", dups as f64);
    out.metric("dead_node_players_total", dead as f64);
    out.metric("dead_node_players_seated_kept", kept as f64);
    out.check(
        "restored last s (median)",
        restored_last,
        "≤ 10 s",
        restored_last <= RESTORE_TARGET.as_secs_f64() && restored_last > 0.0,
    );
    out.check(
        "survivors restored ≤ 10 s",
        within as f64,
        &format!("= {survivors}"),
        within == survivors && survivors > 0,
    );
    out.check(
        "survivors with wrong welcome",
        wrong as f64,
        "= 0",
        wrong == 0,
    );
    out.check("survivor sockets dropped", drops as f64, "= 0", drops == 0);
    out.check(
        "dead node's players seated, seat+score",
        kept as f64,
        &format!("= {dead}"),
        kept == dead,
    );
    out.check(
        "answers lost (acked − present)",
        lost as f64,
        "= 0",
        lost == 0 && acked > 0,
    );
    out.check("answers duplicated", dups as f64, "= 0", dups == 0);
    let never = sum(&|r| r.unacked_at_end);
    out.check("votes never acked", never as f64, "= 0", never == 0);
    out.notes.push(
        "restored: kill -9 of the owner → fresh welcome with the open question on a socket of \
         another node (host included); seated: kill → welcome to a resume on a surviving node"
            .into(),
    );
}

/// One player's report to the round.
#[derive(Debug)]
enum Ev {
    Joined {
        p: usize,
        player_id: u64,
    },
    Acked {
        p: usize,
        qid: u64,
        choice: u64,
        after_kill: bool,
    },
    Score {
        p: usize,
        score: i64,
    },
    Restored {
        after: Duration,
        ok: bool,
    },
    Resumed {
        after: Duration,
        attempts: u64,
        kept: bool,
    },
    Error {
        code: String,
    },
    /// A surviving socket was closed by its node (why: the close frame).
    Dropped {
        why: String,
    },
    Failed {
        p: usize,
        why: String,
    },
}

/// Shared by the players of one round.
struct Shared {
    code: String,
    /// When the owner was killed.
    kill: OnceLock<Instant>,
    /// Nodes that stay up.
    survivors: Vec<SocketAddr>,
    /// When the second question's votes start, and their spread.
    spread: Duration,
    players: usize,
}

/// One kill cycle on `nodes` (node 0 owns the room and dies).
async fn round(
    p: &Params,
    spec: &ClusterSpec,
    nodes: &mut [NodeProc],
    r: u32,
) -> anyhow::Result<RoundResult> {
    let n = nodes.len();
    let owner = Target::attach(nodes[0].addr, nodes[0].pid());
    let topics = owner.upload_bank().await?;
    let room = owner
        .create_rooms(1)
        .await?
        .pop()
        .context("no room created")?;
    let shared = Arc::new(Shared {
        code: room.code.clone(),
        kill: OnceLock::new(),
        survivors: nodes[1..].iter().map(|n| n.addr).collect(),
        spread: Duration::from_millis(p.spread_ms),
        players: p.players as usize,
    });
    let sources = source_addrs(p.sources);
    // The host sits on node 2: a survivor that drives the game on.
    let mut host = Host::connect(nodes[1].addr, sources[0], &room.code, &room.host_token).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..p.players as usize {
        let node = i % n;
        let spec = PlayerSpec {
            p: i,
            node: nodes[node].addr,
            on_owner: node == 0,
            source: sources[(i + 1) % sources.len()],
            seed: u64::from(r),
        };
        tasks.push(tokio::spawn(player(spec, shared.clone(), tx.clone())));
    }
    drop(tx);
    let mut res = RoundResult {
        dead_players: (0..p.players as usize).filter(|i| i % n == 0).count(),
        ..Default::default()
    };
    res.survivors = p.players as usize - res.dead_players + 1;
    let mut ids: HashMap<usize, u64> = HashMap::new();
    let mut acked: HashMap<(usize, u64), (u64, bool)> = HashMap::new();
    let mut scores: HashMap<usize, i64> = HashMap::new();
    let players = p.players as usize;
    let mut events = Events {
        rx: &mut rx,
        res: &mut res,
        ids: &mut ids,
        acked: &mut acked,
        scores: &mut scores,
    };
    events
        .until("every player joined", STEP_LIMIT, |e| {
            e.ids.len() == players
        })
        .await?;

    // Question 1, played to its reveal, gives the players scores.
    host.send(&msg::ask("vote", &topics, None)).await?;
    let q1 = host
        .until("question 1", |m| m["type"] == "question")
        .await?;
    let q1 = q1["qid"].as_u64().context("question without qid")?;
    events
        .until("every vote on question 1 acked", STEP_LIMIT, |e| {
            e.acked.keys().filter(|(_, q)| *q == q1).count() == players
        })
        .await?;
    host.send(&msg::reveal()).await?;
    host.until("reveal 1", |m| m["type"] == "reveal").await?;
    events
        .until("every player's score", STEP_LIMIT, |e| {
            e.scores.len() == players
        })
        .await?;

    // Question 2 is open and votes are arriving when the owner dies.
    host.send(&msg::ask("vote", &topics, None)).await?;
    let asked = Instant::now();
    let q2 = host
        .until("question 2", |m| m["type"] == "question")
        .await?;
    let q2 = q2["qid"].as_u64().context("question without qid")?;
    let kill_at = asked + shared.spread / 2;
    events.drain_until(kill_at).await?;
    // What is left of the owner's lease: the wait no take-over can beat.
    events.res.lease_left = lease_left(&spec.redis_url, &room.code).await;
    let killed = Instant::now();
    let _ = shared.kill.set(killed);
    nodes[0].kill9().await;
    events.res.acked_before_q2 = events.acked.keys().filter(|(_, q)| *q == q2).count();

    // Survivors get the restored question; the dead node's players resume.
    let dead = events.res.dead_players;
    let mut host_restored = false;
    let deadline = killed + RESTORE_LIMIT;
    loop {
        // Every player seated again (a dropped survivor by resuming).
        let done = host_restored && events.res.restored.len() + events.res.resumed.len() > players;
        if done {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "after {RESTORE_LIMIT:?}: {} of {} surviving sockets restored (host: {host_restored}), {} of {dead} dead node's players seated",
                events.res.restored.len() + usize::from(host_restored),
                events.res.survivors,
                events.res.resumed.len()
            );
        }
        tokio::select! {
            m = host.rx.recv() => {
                let Some((mut at, mut m)) = m else { bail!("the host's reader ended") };
                if m["type"] == CLOSED {
                    // Its node closed it: a browser would reconnect with
                    // the host token, so the host does (counted as dropped).
                    let why = m["why"].as_str().unwrap_or("?").to_string();
                    events.res.survivor_drops += 1;
                    *events.res.errors.entry(format!("host_closed:{why}")).or_default() += 1;
                    let new = loop {
                        if Instant::now() >= deadline {
                            bail!("the host could not connect again after {why}");
                        }
                        match Host::connect(nodes[1].addr, sources[0], &room.code, &room.host_token).await {
                            Ok(h) => break h,
                            Err(e) => {
                                *events.res.errors.entry(format!("host_reconnect:{e:#}")).or_default() += 1;
                                tokio::time::sleep(RESUME_PAUSE).await;
                            }
                        }
                    };
                    host = new;
                    (at, m) = host.welcome.take().unwrap_or((Instant::now(), Value::Null));
                }
                if m["type"] == "welcome" {
                    host_restored = true;
                    let ok = m["state"]["question"]["qid"].as_u64() == Some(q2);
                    if !ok { events.res.restored_wrong += 1; }
                    events.res.restored.push(at.saturating_duration_since(killed));
                    events.res.restored_tally = m["state"]["tally"]["answered"].as_u64();
                }
            }
            e = events.rx.recv() => match e {
                Some(e) => events.absorb(e)?,
                None => bail!("every player task ended"),
            },
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
    // Votes not acked before the kill are sent again (players do that on
    // their new welcome); wait for each player's ack on question 2. A vote
    // never acked is counted, not fatal: the results still show the rest.
    let all_acked = events
        .until("every vote on question 2 acked", STEP_LIMIT, |e| {
            e.acked.keys().filter(|(_, q)| *q == q2).count() == players
        })
        .await;
    if let Err(e) = all_acked {
        events.res.unacked_at_end = players - events.acked.keys().filter(|(_, q)| *q == q2).count();
        events.res.note = Some(format!("{e:#}"));
    }
    host.send(&msg::close()).await?;
    host.until("question 2 closed", |m| m["type"] == "closed")
        .await?;
    host.send(&serde_json::json!({"type": "end"}).to_string())
        .await?;
    host.until("the end", |m| m["type"] == "ended").await?;

    // Every acknowledged vote, once, in the stored results.
    let results = stored_results(nodes[1].addr, &room.code, &room.host_token).await?;
    let (lost, dups, unacked) = compare(&results, events.ids, events.acked)?;
    events.res.lost = lost;
    events.res.duplicates = dups;
    events.res.unacked_present = unacked;
    events.res.acked_before = events.acked.values().filter(|v| !v.1).count();
    events.res.acked_after = events.acked.values().filter(|v| v.1).count();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    Ok(res)
}

/// The round's view of the players' reports.
struct Events<'a> {
    rx: &'a mut mpsc::UnboundedReceiver<Ev>,
    res: &'a mut RoundResult,
    ids: &'a mut HashMap<usize, u64>,
    /// (player, qid) → (choice, acked after the kill).
    acked: &'a mut HashMap<(usize, u64), (u64, bool)>,
    scores: &'a mut HashMap<usize, i64>,
}

impl Events<'_> {
    /// Takes one report; a player that gave up fails the round.
    fn absorb(&mut self, e: Ev) -> anyhow::Result<()> {
        match e {
            Ev::Joined { p, player_id } => {
                self.ids.insert(p, player_id);
            }
            Ev::Acked {
                p,
                qid,
                choice,
                after_kill,
            } => {
                self.acked.entry((p, qid)).or_insert((choice, after_kill));
            }
            Ev::Score { p, score } => {
                self.scores.insert(p, score);
            }
            Ev::Restored { after, ok, .. } => {
                self.res.restored.push(after);
                if !ok {
                    self.res.restored_wrong += 1;
                }
            }
            Ev::Resumed {
                after,
                attempts,
                kept,
                ..
            } => {
                self.res.resumed.push(after);
                self.res.resume_attempts += attempts;
                if kept {
                    self.res.resumed_kept += 1;
                }
            }
            Ev::Error { code } => *self.res.errors.entry(code).or_default() += 1,
            Ev::Dropped { why } => {
                self.res.survivor_drops += 1;
                *self
                    .res
                    .errors
                    .entry(format!("survivor_closed:{why}"))
                    .or_default() += 1;
            }
            Ev::Failed { p, why } => bail!("player {p} failed: {why}"),
        }
        Ok(())
    }

    /// Takes reports until `done` holds, for at most `limit`.
    async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => self.absorb(e)?,
                Ok(None) => bail!("{what}: every player task ended"),
                Err(_) => bail!(
                    "{what}: not within {limit:?} (errors: {:?})",
                    self.res.errors
                ),
            }
        }
        Ok(())
    }

    /// Takes reports until `at`.
    async fn drain_until(&mut self, at: Instant) -> anyhow::Result<()> {
        while let Ok(Some(e)) = tokio::time::timeout_at(at, self.rx.recv()).await {
            self.absorb(e)?;
        }
        Ok(())
    }
}

/// The host's socket: its messages are read all along by a task of their
/// own and queued here with their arrival instant.
struct Host {
    sink: futures_util::stream::SplitSink<Ws, Message>,
    rx: mpsc::UnboundedReceiver<(Instant, Value)>,
    /// The welcome this socket got, and when.
    welcome: Option<(Instant, Value)>,
}

/// The `type` of the marker the host's reader queues when its socket ends.
const CLOSED: &str = "_closed";

impl Host {
    async fn connect(
        node: SocketAddr,
        source: Ipv4Addr,
        code: &str,
        token: &str,
    ) -> anyhow::Result<Host> {
        let (mut ws, _) = client::connect(node, source, Duration::from_secs(10)).await?;
        ws.send(Message::Text(msg::host(code, token).into()))
            .await?;
        let (sink, mut stream) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // How the socket ended is queued last, as a `_closed` message.
            let why = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(t))) => {
                        if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                            if tx.send((Instant::now(), v)).is_err() {
                                return;
                            }
                        }
                    }
                    Some(Ok(Message::Close(f))) => break close_text(f),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("error {e}"),
                    None => break "eof".into(),
                }
            };
            let _ = tx.send((
                Instant::now(),
                serde_json::json!({"type": CLOSED, "why": why}),
            ));
        });
        let mut host = Host {
            sink,
            rx,
            welcome: None,
        };
        let welcome = host
            .until_at("the host's welcome", |m| m["type"] == "welcome")
            .await?;
        host.welcome = Some(welcome);
        Ok(host)
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.sink
            .send(Message::Text(text.to_string().into()))
            .await
            .context("host send")
    }

    /// The first message matching `pred` (others are skipped); an error
    /// to the host fails the run.
    async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        Ok(self.until_at(what, pred).await?.1)
    }

    /// [`Host::until`] with the message's arrival instant.
    async fn until_at(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<(Instant, Value)> {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((at, m))) if pred(&m) => return Ok((at, m)),
                Ok(Some((_, m))) if m["type"] == "error" || m["type"] == CLOSED => {
                    bail!("{what}: the host got {m}")
                }
                Ok(Some(_)) => {}
                Ok(None) => bail!("{what}: the host's socket closed"),
                Err(_) => bail!("{what}: not within {STEP_LIMIT:?}"),
            }
        }
    }
}

/// One player's place in the run.
struct PlayerSpec {
    p: usize,
    node: SocketAddr,
    /// Whether its socket is on the node that dies.
    on_owner: bool,
    source: Ipv4Addr,
    seed: u64,
}

/// A player's memory across sockets.
#[derive(Default)]
struct Seat {
    player_id: u64,
    resume_token: String,
    score: Option<i64>,
    /// Distinct questions seen, in order, with their option counts.
    questions: Vec<(u64, usize)>,
    /// Votes acknowledged, by qid.
    acked: HashMap<u64, u64>,
    /// The second question's scheduled vote.
    due: Option<Instant>,
}

impl Seat {
    fn choice(&self, p: usize, seed: u64, qid: u64) -> u64 {
        let options = self
            .questions
            .iter()
            .find(|(q, _)| *q == qid)
            .map_or(2, |(_, n)| (*n).max(1));
        (p as u64 + seed + qid) % options as u64
    }

    /// The open (latest) question, if its vote is still owed.
    fn owed(&self) -> Option<u64> {
        let (q, _) = self.questions.last()?;
        (!self.acked.contains_key(q)).then_some(*q)
    }
}

/// A player: joins, votes on each question (the second one at its slot in
/// the spread), and after the kill is seated again: a survivor by its
/// fresh welcome, a player of the dead node by resuming on a surviving
/// node. A vote still owed after that is sent again.
async fn player(spec: PlayerSpec, shared: Arc<Shared>, tx: mpsc::UnboundedSender<Ev>) {
    let fail = |why: String| {
        let _ = tx.send(Ev::Failed { p: spec.p, why });
    };
    let mut seat = Seat::default();
    let ws = match client::connect(spec.node, spec.source, Duration::from_secs(10)).await {
        Ok((ws, _)) => ws,
        Err(e) => return fail(format!("connect: {e:#}")),
    };
    let mut ws = ws;
    let name = format!("p{}", spec.p);
    if ws
        .send(Message::Text(msg::join(&shared.code, &name).into()))
        .await
        .is_err()
    {
        return fail("join send".into());
    }
    let mut seated_once = false;
    loop {
        let closed = play(&spec, &shared, &tx, &mut ws, &mut seat, &mut seated_once).await;
        let Some(why) = closed else {
            return;
        };
        let Some(killed) = shared.kill.get().copied() else {
            return fail(format!("socket closed before the kill ({why})"));
        };
        if !spec.on_owner {
            let _ = tx.send(Ev::Dropped { why });
        }
        match resume(&spec, &shared, &tx, &mut seat, killed).await {
            Some(new) => ws = new,
            None => return fail("no surviving node seated it again".into()),
        }
        if let Some(q) = seat.owed() {
            let choice = seat.choice(spec.p, spec.seed, q);
            if ws
                .send(Message::Text(msg::vote(q as u32, choice).into()))
                .await
                .is_err()
            {
                continue;
            }
        }
    }
}

/// Reads one socket until the room ended (None) or the socket closed
/// (Some: how).
async fn play(
    spec: &PlayerSpec,
    shared: &Shared,
    tx: &mpsc::UnboundedSender<Ev>,
    ws: &mut Ws,
    seat: &mut Seat,
    seated_once: &mut bool,
) -> Option<String> {
    loop {
        let due = seat.due;
        let frame = tokio::select! {
            f = ws.next() => f,
            _ = sleep_until_opt(due) => {
                seat.due = None;
                if let Some(q) = seat.owed() {
                    let choice = seat.choice(spec.p, spec.seed, q);
                    if ws.send(Message::Text(msg::vote(q as u32, choice).into())).await.is_err() {
                        return Some("send failed".into());
                    }
                }
                continue;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(f))) => return Some(close_text(f)),
            Some(Err(e)) => return Some(format!("error {e}")),
            None => return Some("eof".into()),
            Some(Ok(_)) => continue,
        };
        let Ok(m) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let kind = m["type"].as_str().unwrap_or("");
        match kind {
            "welcome" if !*seated_once => {
                *seated_once = true;
                seat.player_id = m["player_id"].as_u64().unwrap_or(0);
                seat.resume_token = m["resume_token"].as_str().unwrap_or("").to_string();
                let _ = tx.send(Ev::Joined {
                    p: spec.p,
                    player_id: seat.player_id,
                });
            }
            "welcome" => {
                // A fresh welcome on a surviving socket: the room restored.
                let Some(killed) = shared.kill.get() else {
                    continue;
                };
                let ok = welcome_keeps(&m, seat);
                let _ = tx.send(Ev::Restored {
                    after: killed.elapsed(),
                    ok,
                });
                if let Some(q) = seat.owed() {
                    let choice = seat.choice(spec.p, spec.seed, q);
                    if ws
                        .send(Message::Text(msg::vote(q as u32, choice).into()))
                        .await
                        .is_err()
                    {
                        return Some("send failed".into());
                    }
                }
            }
            "question" => {
                let Some(qid) = m["qid"].as_u64() else {
                    continue;
                };
                if seat.questions.iter().any(|(q, _)| *q == qid) {
                    continue;
                }
                let options = m["options"].as_array().map_or(2, Vec::len);
                seat.questions.push((qid, options));
                if seat.questions.len() == 1 {
                    let choice = seat.choice(spec.p, spec.seed, qid);
                    if ws
                        .send(Message::Text(msg::vote(qid as u32, choice).into()))
                        .await
                        .is_err()
                    {
                        return Some("send failed".into());
                    }
                } else {
                    // Spread over the window, players of all nodes mixed.
                    let slot = shared.spread.mul_f64(spec.p as f64 / shared.players as f64);
                    seat.due = Some(Instant::now() + slot);
                }
            }
            "ack" if m["ref"] == "vote" => {
                let Some(qid) = m["qid"].as_u64() else {
                    continue;
                };
                let choice = seat.choice(spec.p, spec.seed, qid);
                seat.acked.insert(qid, choice);
                let _ = tx.send(Ev::Acked {
                    p: spec.p,
                    qid,
                    choice,
                    after_kill: shared.kill.get().is_some(),
                });
            }
            "you" => {
                if let Some(score) = m["score"].as_i64() {
                    seat.score = Some(score);
                    let _ = tx.send(Ev::Score { p: spec.p, score });
                }
            }
            "error" => {
                let code = m["code"].as_str().unwrap_or("?").to_string();
                let _ = tx.send(Ev::Error { code });
            }
            "ended" => return None,
            _ => {}
        }
    }
}

/// A close frame as `close CODE REASON`.
fn close_text(f: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match f {
        Some(f) => format!("close {} {}", u16::from(f.code), f.reason),
        None => "close without code".into(),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether a restored room's welcome keeps what this player had: its seat,
/// the open question, its score and its acknowledged vote on that question.
fn welcome_keeps(m: &Value, seat: &Seat) -> bool {
    let open = seat.questions.last().map(|(q, _)| *q);
    let same_seat = m["player_id"].as_u64() == Some(seat.player_id);
    let same_question = m["state"]["question"]["qid"].as_u64() == open;
    let same_score = seat.score.is_none() || m["state"]["you"]["score"].as_i64() == seat.score;
    let vote_kept = match open.and_then(|q| seat.acked.get(&q)) {
        Some(choice) => m["state"]["pending"]["choices"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x.as_u64() == Some(*choice))),
        None => true,
    };
    same_seat && same_question && same_score && vote_kept
}

/// Seats a player of the dead node (or a dropped survivor) again on a
/// surviving node with its resume token, trying the nodes in turn.
async fn resume(
    spec: &PlayerSpec,
    shared: &Shared,
    tx: &mpsc::UnboundedSender<Ev>,
    seat: &mut Seat,
    killed: Instant,
) -> Option<Ws> {
    let deadline = killed + RESTORE_LIMIT;
    let mut attempts = 0u64;
    while Instant::now() < deadline {
        let node = shared.survivors[(spec.p + attempts as usize) % shared.survivors.len()];
        attempts += 1;
        let text = serde_json::json!({
            "type": "resume", "room": shared.code, "resume_token": seat.resume_token,
        })
        .to_string();
        if let Ok((mut ws, _)) = client::connect(node, spec.source, Duration::from_secs(5)).await {
            if ws.send(Message::Text(text.into())).await.is_ok() {
                let answer = tokio::time::timeout(RESUME_ANSWER, first_json(&mut ws)).await;
                match answer {
                    Ok(Some(m)) if m["type"] == "welcome" => {
                        let kept = welcome_keeps(&m, seat);
                        let _ = tx.send(Ev::Resumed {
                            after: killed.elapsed(),
                            attempts,
                            kept,
                        });
                        return Some(ws);
                    }
                    Ok(Some(m)) if m["type"] == "error" => {
                        let code = m["code"].as_str().unwrap_or("?").to_string();
                        let _ = tx.send(Ev::Error {
                            code: format!("resume:{code}"),
                        });
                    }
                    _ => {}
                }
            }
        }
        tokio::time::sleep(RESUME_PAUSE).await;
    }
    None
}

/// The first JSON text message on `ws`.
async fn first_json(ws: &mut Ws) -> Option<Value> {
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            if let Ok(v) = serde_json::from_str(t.as_str()) {
                return Some(v);
            }
        }
    }
    None
}

/// The time left on `code`'s lease, by one `PTTL` to the Redis at `url`
/// (`redis://HOST:PORT[/DB]` without credentials; None otherwise or on
/// any failure: the number is extra, the run does not need it).
async fn lease_left(url: &str, code: &str) -> Option<Duration> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("redis://")?;
    let host = rest.split('/').next()?;
    if host.contains('@') {
        return None;
    }
    let key = format!("quizroom:lease:{code}");
    let cmd = format!("*2\r\n$4\r\nPTTL\r\n${}\r\n{key}\r\n", key.len());
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
        stream.write_all(cmd.as_bytes()).await.ok()?;
        let mut line = String::new();
        tokio::io::BufReader::new(stream)
            .read_line(&mut line)
            .await
            .ok()?;
        let ms: i64 = line.trim().strip_prefix(':')?.parse().ok()?;
        u64::try_from(ms).ok().map(Duration::from_millis)
    };
    tokio::time::timeout(Duration::from_secs(1), ask)
        .await
        .ok()
        .flatten()
}

/// The ended room's results from `node` (retried until they say ended).
async fn stored_results(node: SocketAddr, code: &str, token: &str) -> anyhow::Result<Value> {
    let path = format!("/api/rooms/{code}/results?format=json");
    let deadline = Instant::now() + STEP_LIMIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(r) = get_authorized(node, &path, token, HTTP_LIMIT).await {
            if r.status == 200 {
                if let Ok(v) = serde_json::from_str::<Value>(&r.body) {
                    if v["ended"] == Value::Bool(true) {
                        return Ok(v);
                    }
                }
            }
            last = format!(
                "{} {}",
                r.status,
                r.body.chars().take(200).collect::<String>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("no ended results for {code} within {STEP_LIMIT:?}: {last}")
}

/// Acknowledged votes against the stored results: (lost, duplicated,
/// present but never acknowledged). A vote is present when its player's
/// row on its question is answered with exactly its choice; a duplicate is
/// a second row for one player and question, or counts summing to more
/// than the answered rows.
fn compare(
    results: &Value,
    ids: &HashMap<usize, u64>,
    acked: &HashMap<(usize, u64), (u64, bool)>,
) -> anyhow::Result<(usize, usize, usize)> {
    let questions = results["questions"]
        .as_array()
        .context("results without questions")?;
    let mut rows: HashMap<(u64, u64), Vec<&Value>> = HashMap::new();
    let mut dups = 0usize;
    for q in questions {
        let qid = q["qid"].as_u64().unwrap_or(0);
        let answers = q["answers"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let answered = answers.iter().filter(|a| a["answered"] == true).count();
        let counted: u64 = q["counts"]
            .as_array()
            .map(|c| c.iter().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        dups += (counted as usize).saturating_sub(answered);
        for a in answers {
            let pid = a["player_id"].as_u64().unwrap_or(0);
            rows.entry((qid, pid)).or_default().push(a);
        }
    }
    dups += rows
        .values()
        .map(|v| v.len().saturating_sub(1))
        .sum::<usize>();
    let mut lost = 0usize;
    for ((p, qid), (choice, _)) in acked {
        let pid = ids.get(p).copied().unwrap_or(0);
        let present = rows.get(&(*qid, pid)).is_some_and(|rs| {
            rs.iter().any(|a| {
                a["answered"] == true
                    && a["choices"]
                        .as_array()
                        .is_some_and(|c| c.len() == 1 && c[0].as_u64() == Some(*choice))
            })
        });
        if !present {
            lost += 1;
        }
    }
    let by_id: HashMap<u64, usize> = ids.iter().map(|(p, id)| (*id, *p)).collect();
    let unacked = rows
        .iter()
        .filter(|((qid, pid), rs)| {
            rs.iter().any(|a| a["answered"] == true)
                && by_id
                    .get(pid)
                    .is_some_and(|p| !acked.contains_key(&(*p, *qid)))
        })
        .count();
    Ok((lost, dups, unacked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_and_medians() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let (p50, p99, last) = summary_s(&v);
        assert!((p50 - 0.050).abs() < 1e-9 && (p99 - 0.099).abs() < 1e-9);
        assert!((last - 0.1).abs() < 1e-9);
        assert_eq!(summary_s(&[]), (0.0, 0.0, 0.0));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    fn row(pid: u64, choices: Value) -> Value {
        let answered = choices.as_array().is_some_and(|c| !c.is_empty());
        json!({"player_id": pid, "answered": answered, "choices": choices})
    }

    #[test]
    fn acked_votes_are_found_once_in_the_results() {
        let ids: HashMap<usize, u64> = [(0, 10), (1, 11), (2, 12)].into();
        let mut acked = HashMap::new();
        acked.insert((0, 5), (1, false));
        acked.insert((1, 5), (0, true));
        let results = json!({"questions": [{"qid": 5, "counts": [1, 2],
            "answers": [row(10, json!([1])), row(11, json!([0])), row(12, json!([1]))]}]});
        // Player 2's vote is stored though its ack never arrived.
        assert_eq!(compare(&results, &ids, &acked).unwrap(), (0, 0, 1));

        // A missing row, another choice, a second row, counts over rows.
        acked.insert((2, 5), (0, false));
        let results = json!({"questions": [{"qid": 5, "counts": [3, 1],
            "answers": [row(10, json!([1])), row(10, json!([1])), row(12, json!([1]))]}]});
        let (lost, dups, unacked) = compare(&results, &ids, &acked).unwrap();
        assert_eq!(lost, 2, "player 1 missing, player 2 with another choice");
        // One extra row for player 10; counts 4 over 3 answered rows.
        assert_eq!(dups, 2);
        assert_eq!(unacked, 0);
        assert!(compare(&json!({}), &ids, &acked).is_err());
    }

    #[test]
    fn a_welcome_keeps_seat_question_score_and_vote() {
        let mut seat = Seat {
            player_id: 7,
            score: Some(900),
            questions: vec![(1, 4), (2, 4)],
            ..Default::default()
        };
        seat.acked.insert(2, 3);
        let good = json!({"type": "welcome", "player_id": 7, "state": {
            "question": {"qid": 2}, "you": {"score": 900}, "pending": {"choices": [3]}}});
        assert!(welcome_keeps(&good, &seat));
        for bad in [
            json!({"player_id": 8, "state": {"question": {"qid": 2}, "you": {"score": 900}, "pending": {"choices": [3]}}}),
            json!({"player_id": 7, "state": {"question": {"qid": 1}, "you": {"score": 900}, "pending": {"choices": [3]}}}),
            json!({"player_id": 7, "state": {"question": {"qid": 2}, "you": {"score": 0}, "pending": {"choices": [3]}}}),
            json!({"player_id": 7, "state": {"question": {"qid": 2}, "you": {"score": 900}, "pending": {"choices": []}}}),
        ] {
            assert!(!welcome_keeps(&bad, &seat), "{bad}");
        }
        assert_eq!(seat.owed(), None);
        seat.acked.remove(&2);
        assert_eq!(seat.owed(), Some(2));
    }
}
