//! The four scenarios of docs/benchmarks.md and the smoke run: each lays
//! out rooms and workers, drives the phases, and turns what the workers
//! measured into an [`Outcome`] with the targets checked.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::ctl::{
    Answering, Kind, Order, Report, RoomPart, Script, Setup, TallySeen, Totals, VoteTimes,
};
use crate::fleet::Fleet;
use crate::hist::Latency;
use crate::memory;
use crate::placement::Placement;
use crate::report::{loadavg, Merged, Outcome};
use crate::sys::{epoch_us, source_addrs};
use crate::target::{NewRoom, Target};

/// Sockets one worker holds at most by default: under the 20,000 open
/// files one process may have, with room for the runtime's own.
const SOCKETS_PER_WORKER: usize = 15_000;

/// Settings shared by every scenario.
#[derive(Debug, Clone)]
pub struct Common {
    /// Cluster nodes to spread sockets over (empty: the target alone).
    pub nodes: Vec<std::net::SocketAddr>,
    /// Worker processes (None: enough for the socket count, at least 2).
    pub workers: Option<usize>,
    /// Loopback source addresses to spread client sockets over.
    pub sources: usize,
    /// Handshakes in flight at once per worker.
    pub connect_parallel: usize,
    /// Hard stop for every worker, in seconds.
    pub max_secs: u64,
    /// Seed for think times and choices.
    pub seed: u64,
    /// Where the worker processes run (default: anywhere).
    pub worker_placement: Placement,
}

/// How players behave in a run.
struct Behaviour {
    answering: Answering,
    stall_every: u32,
    keep_votes: bool,
    join: bool,
}

/// Rooms and workers of a run.
struct Run {
    fleet: Fleet,
    /// Workers holding players of room 0 (single-room scenarios).
    room0_workers: usize,
    /// Worker hosting room 0.
    room0_host: usize,
    sockets: usize,
}

/// Number of workers for `sockets` client sockets.
pub fn worker_count(sockets: usize, asked: Option<usize>) -> usize {
    asked
        .unwrap_or(if sockets <= 200 {
            1
        } else {
            sockets.div_ceil(SOCKETS_PER_WORKER).max(2)
        })
        .max(1)
}

/// Splits rooms over workers. Small rooms go whole to one worker (host and
/// players share a clock and no send instant crosses processes); a room
/// bigger than the rest is split over every worker.
fn layout(
    common: &Common,
    rooms: &[NewRoom],
    players_per_room: u32,
    topics: &[String],
    b: &Behaviour,
) -> Vec<Setup> {
    let sockets = rooms.len() * (players_per_room as usize + 1);
    // At least one worker per node, so every node gets sockets.
    let w = worker_count(sockets, common.workers).max(common.nodes.len());
    let whole = rooms.len() >= w;
    let mut setups: Vec<Setup> = (0..w)
        .map(|i| Setup {
            worker: i as u32,
            server: "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!()),
            sources: source_addrs(common.sources),
            rooms: Vec::new(),
            answering: b.answering,
            stall_every: b.stall_every,
            connect_parallel: common.connect_parallel,
            max_secs: common.max_secs,
            keep_votes: b.keep_votes,
            join: b.join,
            seed: common.seed ^ (i as u64) << 32,
        })
        .collect();
    let mut first = 0u32;
    for (r, room) in rooms.iter().enumerate() {
        let host_w = r % w;
        if whole {
            setups[host_w].rooms.push(RoomPart {
                room: r as u32,
                code: room.code.clone(),
                host_token: Some(room.host_token.clone()),
                shared: false,
                first_player: first,
                players: players_per_room,
                topics: topics.to_vec(),
            });
            first += players_per_room;
            continue;
        }
        for (i, s) in setups.iter_mut().enumerate() {
            let share =
                players_per_room / w as u32 + u32::from((i as u32) < players_per_room % w as u32);
            s.rooms.push(RoomPart {
                room: r as u32,
                code: room.code.clone(),
                host_token: (i == host_w).then(|| room.host_token.clone()),
                shared: true,
                first_player: first,
                players: share,
                topics: topics.to_vec(),
            });
            first += share;
        }
    }
    setups
}

async fn start(
    target: &Target,
    common: &Common,
    rooms: &[NewRoom],
    players_per_room: u32,
    topics: &[String],
    b: Behaviour,
    out: &mut Outcome,
) -> anyhow::Result<Run> {
    let mut setups = layout(common, rooms, players_per_room, topics, &b);
    for (i, s) in setups.iter_mut().enumerate() {
        s.server = match common.nodes.len() {
            0 => target.addr,
            n => common.nodes[i % n],
        };
    }
    let room0_workers = setups
        .iter()
        .filter(|s| s.rooms.iter().any(|r| r.room == 0 && r.players > 0))
        .count();
    let room0_host = setups
        .iter()
        .position(|s| {
            s.rooms
                .iter()
                .any(|r| r.room == 0 && r.host_token.is_some())
        })
        .unwrap_or(0);
    let sockets = rooms.len() * (players_per_room as usize + 1);
    out.param("workers", setups.len());
    out.param("sources", common.sources);
    let mut fleet = Fleet::start(setups, &common.worker_placement).await?;
    // Joins: allow 1 ms per socket plus a minute, bounded by the hard stop.
    let limit = Duration::from_secs((60 + sockets as u64 / 1000).min(common.max_secs));
    let t0 = epoch_us();
    let mut ready = 0usize;
    let (mut connected, mut failed) = (0u64, 0u64);
    let n = fleet.len();
    fleet
        .until(limit, |_, r| {
            if let Report::Ready {
                connected: c,
                failed: f,
            } = r
            {
                ready += 1;
                connected += u64::from(*c);
                failed += u64::from(*f);
            }
            (ready == n).then_some(())
        })
        .await
        .context("waiting for every client to join")?;
    let secs = (epoch_us() - t0) as f64 / 1e6;
    out.metric("join_wall_s", secs);
    out.metric("joins_per_s", connected as f64 / secs.max(1e-6));
    if failed > 0 {
        out.notes.push(format!("{failed} clients failed to join"));
    }
    Ok(Run {
        fleet,
        room0_workers,
        room0_host,
        sockets,
    })
}

/// Sends `order` to the hosting worker and waits until every worker with
/// players in room 0 reports that `kind` reached them.
async fn broadcast_round(run: &mut Run, order: Order, kind: Kind) -> anyhow::Result<()> {
    run.fleet.send(run.room0_host, &order).await?;
    let need = run.room0_workers;
    let mut seen: HashSet<usize> = HashSet::new();
    let mut failed = false;
    run.fleet
        .until(Duration::from_secs(30), |w, r| {
            match r {
                Report::Reached {
                    room: 0, kind: k, ..
                } if *k == kind => {
                    seen.insert(w);
                }
                Report::HostError { room: 0, .. } => failed = true,
                _ => {}
            }
            (seen.len() >= need || failed).then_some(())
        })
        .await
        .with_context(|| format!("waiting for {kind:?} to reach every player"))?;
    if failed {
        bail!("the host's {kind:?} failed (see above)");
    }
    Ok(())
}

/// Samples the server's RSS every `every` for `total`; returns KiB samples.
async fn sample_rss(target: &Target, total: Duration, every: Duration) -> Vec<u64> {
    let mut v = Vec::new();
    let end = tokio::time::Instant::now() + total;
    while tokio::time::Instant::now() < end {
        if let Some(m) = target.mem() {
            v.push(m.rss_kib);
        }
        tokio::time::sleep(every).await;
    }
    v
}

fn mem_metrics(out: &mut Outcome, target: &Target, name: &str) -> Option<u64> {
    let m = target.mem()?;
    out.metric(&format!("server_rss_{name}_kib"), m.rss_kib as f64);
    out.metric("server_hwm_kib", m.hwm_kib as f64);
    Some(m.rss_kib)
}

async fn finish(run: Run, out: &mut Outcome) -> anyhow::Result<(Vec<Totals>, Merged)> {
    let totals = run.fleet.finish(Duration::from_secs(60)).await?;
    let hists = out.absorb(&totals);
    out.machine.loadavg_after = loadavg();
    Ok((totals, hists))
}

/// Scenario 1: N idle players; server memory per connection and the
/// number of connections held.
pub async fn idle(
    target: &Target,
    common: &Common,
    players: u32,
    room_size: u32,
    hold: Duration,
    join: bool,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new(if join { "idle" } else { "idle_unidentified" });
    out.param("players", players);
    out.param("room_size", room_size);
    out.param("hold_s", hold.as_secs());
    let room_size = room_size.clamp(1, players.max(1));
    let rooms = target
        .create_rooms(players.div_ceil(room_size) as usize)
        .await?;
    // Let the server settle, then take the baseline with rooms but no sockets.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = mem_metrics(&mut out, target, "before");
    let b = Behaviour {
        answering: Answering::Never,
        stall_every: 0,
        keep_votes: false,
        join,
    };
    let mut run = start(target, common, &rooms, room_size, &[], b, &mut out).await?;
    let samples = sample_rss(target, hold, Duration::from_millis(500)).await;
    let after = mem_metrics(&mut out, target, "after");
    let hosts = if join { rooms.len() as f64 } else { 0.0 };
    let sockets = run.sockets as f64 - rooms.len() as f64 + hosts;
    let held = if join {
        // Every player must answer an application ping after the hold.
        run.fleet.broadcast(&Order::Ping).await?;
        let n = run.fleet.len();
        let (mut got, mut alive) = (0usize, 0u64);
        let pongs = run
            .fleet
            .until(Duration::from_secs(60), |_, r| {
                if let Report::Pongs { alive: a, .. } = r {
                    got += 1;
                    alive += u64::from(*a);
                }
                (got == n).then_some(())
            })
            .await;
        if let Err(e) = pongs {
            out.notes.push(format!("ping round incomplete: {e:#}"));
        }
        alive as f64 + hosts
    } else {
        out.notes.push(
            "players upgraded but never identified: socket layer only (start the server with a long --identify-timeout-ms)".into(),
        );
        0.0
    };
    let _ = finish(run, &mut out).await?;
    let held = if join {
        held
    } else {
        out.metrics.get("clients_connected").copied().unwrap_or(0.0)
            - out.metrics.get("clients_dropped").copied().unwrap_or(0.0)
            + hosts
    };
    out.metric("connections_held", held);
    if let Some(peak) = samples.iter().max() {
        out.metric("server_rss_peak_during_hold_kib", *peak as f64);
    }
    if let (Some(b), Some(a)) = (before, after) {
        let per = (a.saturating_sub(b)) as f64 / sockets.max(1.0);
        out.metric("server_rss_per_conn_kib", per);
        out.check("RSS per idle connection KiB", per, "≤ 4 KiB", per <= 4.0);
    } else {
        out.notes
            .push("server PID unknown: no memory numbers".into());
    }
    if players >= 19_000 {
        out.check("connections held", held, "≥ 19000", held >= 19_000.0);
    }
    Ok(out)
}

/// Scenario 2: one room of N players; the host asks; time until each
/// player has the question (and the reveal).
pub async fn fanout(
    target: &Target,
    common: &Common,
    players: u32,
    rounds: u32,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("fanout");
    out.param("players", players);
    out.param("rounds", rounds);
    let topics = target.upload_bank().await?;
    let rooms = target.create_rooms(1).await?;
    let before = mem_metrics(&mut out, target, "before");
    let b = Behaviour {
        answering: Answering::Never,
        stall_every: 0,
        keep_votes: false,
        join: true,
    };
    let mut run = start(target, common, &rooms, players, &topics, b, &mut out).await?;
    mem_metrics(&mut out, target, "joined");
    // Let the throttled roster flush settle before timing.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cpu_before = target.cpu_ms();
    for _ in 0..rounds {
        let ask = Order::Ask {
            room: 0,
            mode: "vote".into(),
        };
        broadcast_round(&mut run, ask, Kind::Question).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        broadcast_round(&mut run, Order::Reveal { room: 0 }, Kind::Reveal).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if let (Some(a), Some(b)) = (cpu_before, target.cpu_ms()) {
        // Each round is one question and one reveal (with a `you` per player).
        out.metric(
            "server_cpu_ms_per_round",
            (b - a) as f64 / f64::from(rounds.max(1)),
        );
    }
    let after = mem_metrics(&mut out, target, "after");
    let sockets = run.sockets as f64;
    let _ = finish(run, &mut out).await?;
    if let (Some(b), Some(a)) = (before, after) {
        out.metric(
            "server_rss_per_conn_kib",
            a.saturating_sub(b) as f64 / sockets.max(1.0),
        );
    }
    if let Some(q) = out.latencies.get("question").copied() {
        let p99 = q.p99_us as f64 / 1000.0;
        let last = q.max_us as f64 / 1000.0;
        // Read: the definition of earlier runs (includes the generator's
        // own delay); arrival: when the question reached the player.
        out.metric("question_p99_ms", p99);
        out.metric("question_last_ms", last);
        let a = out
            .arrival_latencies
            .get("question")
            .copied()
            .unwrap_or_default();
        let (a_p99, a_last) = (a.p99_us as f64 / 1000.0, a.max_us as f64 / 1000.0);
        out.metric("question_arrival_p99_ms", a_p99);
        out.metric("question_arrival_last_ms", a_last);
        if players >= 10_000 {
            let stamped = a.count > 0;
            out.check(
                "question p99 ms (arrival)",
                a_p99,
                "≤ 50 ms",
                stamped && a_p99 <= 50.0,
            );
            out.check(
                "question last ms (arrival)",
                a_last,
                "≤ 100 ms",
                stamped && a_last <= 100.0,
            );
            out.check("question p99 ms (read)", p99, "≤ 50 ms", p99 <= 50.0);
            out.check("question last ms (read)", last, "≤ 100 ms", last <= 100.0);
        }
        let expected = u64::from(players) * u64::from(rounds);
        if q.count < expected {
            out.notes
                .push(format!("{} of {expected} question receipts", q.count));
        }
    } else {
        bail!("no question latencies were recorded");
    }
    Ok(out)
}

/// Scenario 3: N players all vote within one second; accepted votes per
/// second (acks) and vote → visible tally at the host.
pub async fn votes(
    target: &Target,
    common: &Common,
    players: u32,
    spread_ms: u64,
    rounds: u32,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("votes");
    out.param("players", players);
    out.param("spread_ms", spread_ms);
    out.param("rounds", rounds);
    let topics = target.upload_bank().await?;
    let rooms = target.create_rooms(1).await?;
    let b = Behaviour {
        answering: Answering::OnOrder,
        stall_every: 0,
        keep_votes: true,
        join: true,
    };
    let mut run = start(target, common, &rooms, players, &topics, b, &mut out).await?;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut windows = Vec::new();
    let mut vote_cpu_ms = Vec::new();
    for _ in 0..rounds {
        let ask = Order::Ask {
            room: 0,
            mode: "vote".into(),
        };
        broadcast_round(&mut run, ask, Kind::Question).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let cpu_before = target.cpu_ms();
        let start_us = epoch_us() + 300_000;
        run.fleet
            .broadcast(&Order::Vote {
                start_us,
                spread_ms,
            })
            .await?;
        let n = run.room0_workers;
        let mut done = 0usize;
        run.fleet
            .until(Duration::from_secs(60), |_, r| {
                if let Report::Voted { .. } = r {
                    done += 1;
                }
                (done >= n).then_some(())
            })
            .await
            .context("waiting for every vote's ack")?;
        // The last throttled tally follows within one throttle period.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let (Some(a), Some(b)) = (cpu_before, target.cpu_ms()) {
            vote_cpu_ms.push((b - a) as f64);
        }
        let end_us = epoch_us();
        // For profiles recorded on CLOCK_REALTIME (`perf record -k
        // CLOCK_REALTIME`): which samples belong to the storm.
        eprintln!("vote round window (CLOCK_REALTIME µs): {start_us} {end_us}");
        windows.push((start_us, end_us));
        broadcast_round(&mut run, Order::Reveal { room: 0 }, Kind::Reveal).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (totals, _) = finish(run, &mut out).await?;
    let all_votes: Vec<VoteTimes> = totals
        .iter()
        .flat_map(|t| t.votes.iter().copied())
        .collect();
    let tallies: Vec<TallySeen> = totals
        .iter()
        .flat_map(|t| t.tallies.iter().copied())
        .collect();
    let mut visible = Visible::default();
    let mut stats = Vec::new();
    for (start, end) in windows {
        let mut round: Vec<VoteTimes> = all_votes
            .iter()
            .copied()
            .filter(|v| v.sent_us + 1_000 >= start && v.sent_us <= end)
            .collect();
        let tl: Vec<TallySeen> = tallies
            .iter()
            .copied()
            .filter(|t| t.read_us >= start && t.read_us <= end + 1_000_000)
            .collect();
        stats.extend(vote_round(&mut round, &tl, &mut visible));
    }
    let s = visible.read.summary();
    out.both("vote_visible_in_tally", s, visible.arrival.summary());
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (
            v.get(v.len() / 2).copied().unwrap_or(0.0),
            v.last().copied().unwrap_or(0.0),
        )
    };
    let (rate, best) = median(stats.iter().map(|r| r.accepted_per_s).collect());
    out.metric("votes_accepted_per_s_median", rate);
    out.metric("votes_accepted_per_s_best", best);
    let (acks_out, acks_out_best) = median(stats.iter().filter_map(|r| r.acks_out_per_s).collect());
    out.metric("vote_acks_out_per_s_arrival_median", acks_out);
    out.metric("vote_acks_out_per_s_arrival_best", acks_out_best);
    out.metric(
        "vote_send_span_ms_median",
        median(stats.iter().map(|r| r.send_span_ms).collect()).0,
    );
    out.metric(
        "vote_ack_arrival_span_ms_median",
        median(stats.iter().filter_map(|r| r.ack_arrival_span_ms).collect()).0,
    );
    let cpu = median(vote_cpu_ms).0;
    if cpu > 0.0 {
        // Server CPU per vote round (votes, acks, tallies), and what that
        // would sustain on one core: the server's own ceiling, whatever
        // the generator sharing the machine could send.
        out.metric("server_cpu_ms_per_vote_round_median", cpu);
        out.metric(
            "server_cpu_us_per_vote",
            cpu * 1000.0 / f64::from(players.max(1)),
        );
        out.metric(
            "votes_per_server_cpu_second",
            f64::from(players) / (cpu / 1000.0),
        );
    }
    out.check(
        "votes accepted per s (send → ack read)",
        rate,
        "≥ 150000/s",
        rate >= 150_000.0,
    );
    out.check(
        "vote acks out per s (arrival span)",
        acks_out,
        "≥ 150000/s",
        acks_out >= 150_000.0,
    );
    let a = out
        .arrival_latencies
        .get("vote_visible_in_tally")
        .copied()
        .unwrap_or_default();
    let a_p99 = a.p99_us as f64 / 1000.0;
    out.check(
        "vote → tally p99 ms (arrival)",
        a_p99,
        "≤ 150 ms",
        a_p99 <= 150.0 && a.count > 0,
    );
    let p99 = s.p99_us as f64 / 1000.0;
    out.check(
        "vote → tally p99 ms (read)",
        p99,
        "≤ 150 ms",
        p99 <= 150.0 && s.count > 0,
    );
    Ok(out)
}

/// Vote → visible tally, ending at the host's read of the tally and at its
/// arrival.
#[derive(Default)]
struct Visible {
    read: Latency,
    arrival: Latency,
}

/// What one vote round measured.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RoundStats {
    /// Acked votes ÷ (last ack read − first send): the rate as the
    /// generator saw it, the definition of earlier runs.
    accepted_per_s: f64,
    /// First to last vote send, in ms.
    send_span_ms: f64,
    /// (Stamped acks − 1) ÷ (last ack arrival − first ack arrival): the
    /// rate at which acks left the server, seen at the players' sockets;
    /// None with fewer than two stamped acks.
    acks_out_per_s: Option<f64>,
    /// First to last ack arrival, in ms.
    ack_arrival_span_ms: Option<f64>,
}

/// One vote round: the rates, the send span, and each vote's delay until a
/// host tally counts it. Votes are ranked by ack instant: the k-th acked
/// vote is visible in the first tally whose `answered` is at least k. That
/// is done twice: with read instants (ack read, tally read) and with
/// arrival instants (ack and tally kernel stamps; a frame without a stamp
/// uses its read instant, which is never earlier).
fn vote_round(
    votes: &mut [VoteTimes],
    tallies: &[TallySeen],
    visible: &mut Visible,
) -> Option<RoundStats> {
    if votes.is_empty() {
        return None;
    }
    let first_send = votes.iter().map(|v| v.sent_us).min()?;
    let last_send = votes.iter().map(|v| v.sent_us).max()?;
    let last_ack = votes.iter().map(|v| v.ack_read_us).max()?;
    let secs = (last_ack.saturating_sub(first_send)) as f64 / 1e6;
    let accepted_per_s = votes.len() as f64 / secs.max(1e-6);
    let stamped: Vec<u64> = votes.iter().filter_map(|v| v.ack_arrival_us).collect();
    let (acks_out_per_s, ack_arrival_span_ms) = match (stamped.iter().min(), stamped.iter().max()) {
        (Some(&first), Some(&last)) if stamped.len() >= 2 => {
            let span = last.saturating_sub(first);
            (
                Some((stamped.len() - 1) as f64 / (span as f64 / 1e6).max(1e-6)),
                Some(span as f64 / 1000.0),
            )
        }
        _ => (None, None),
    };

    votes.sort_unstable_by_key(|v| v.ack_read_us);
    let mut by_read: Vec<(u64, u32)> = tallies.iter().map(|t| (t.read_us, t.answered)).collect();
    by_read.sort_unstable();
    rank_visible(votes.iter().map(|v| v.sent_us), &by_read, &mut visible.read);

    votes.sort_unstable_by_key(VoteTimes::ack_arrival_or_read);
    let mut by_arrival: Vec<(u64, u32)> = tallies
        .iter()
        .map(|t| (t.arrival_us.unwrap_or(t.read_us), t.answered))
        .collect();
    by_arrival.sort_unstable();
    rank_visible(
        votes.iter().map(|v| v.sent_us),
        &by_arrival,
        &mut visible.arrival,
    );

    Some(RoundStats {
        accepted_per_s,
        send_span_ms: (last_send - first_send) as f64 / 1000.0,
        acks_out_per_s,
        ack_arrival_span_ms,
    })
}

/// Records, for the k-th vote send (in ack order), the delay until the
/// first tally (time-ordered `(instant, answered)`) counting at least k.
fn rank_visible(sends: impl Iterator<Item = u64>, tallies: &[(u64, u32)], h: &mut Latency) {
    let mut ti = 0usize;
    for (k, send) in sends.enumerate() {
        while tallies.get(ti).is_some_and(|t| (t.1 as usize) < k + 1) {
            ti += 1;
        }
        match tallies.get(ti) {
            Some(&(t, _)) => h.record(t.saturating_sub(send)),
            // Never shown: count it as the slowest possible.
            None => h.record(u64::MAX),
        }
    }
}

/// Questions the classroom run's bank needs: what one room can ask in
/// `secs` at the script's pace, plus a quarter, and never fewer than the
/// other scenarios' bank.
fn classroom_bank_size(secs: u64, script: Script) -> usize {
    let period_ms = (script.question_ms + script.pause_ms).max(1);
    let per_room = secs.saturating_mul(1000) / period_ms + 1;
    let wanted = per_room.saturating_mul(5) / 4 + 20;
    usize::try_from(wanted)
        .unwrap_or(usize::MAX)
        .max(crate::target::BANK_QUESTIONS)
}

/// Scenario 4: many classrooms playing at once, with some clients that
/// stop reading.
#[allow(clippy::too_many_arguments)]
pub async fn classroom(
    target: &Target,
    common: &Common,
    rooms_n: u32,
    room_size: u32,
    secs: u64,
    stall_pct: f64,
    think_ms: u64,
    script: Script,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("classroom");
    out.param("rooms", rooms_n);
    out.param("room_size", room_size);
    out.param("secs", secs);
    out.param("stall_pct", stall_pct);
    out.param("think_ms", think_ms);
    out.param("question_ms", script.question_ms);
    out.param("pause_ms", script.pause_ms);
    // A room never repeats a question, so a long day needs a bank longer
    // than the questions one room asks in it (a question every
    // question_ms + pause_ms at most), with a margin.
    let bank = classroom_bank_size(secs, script);
    out.param("bank_questions", bank);
    let topics = target.upload_bank_of(bank).await?;
    let rooms = target.create_rooms(rooms_n as usize).await?;
    let stall_every = if stall_pct > 0.0 {
        (100.0 / stall_pct).round().max(1.0) as u32
    } else {
        0
    };
    let b = Behaviour {
        answering: Answering::Auto {
            think_ms,
            buzz_pct: 30,
        },
        stall_every,
        keep_votes: false,
        join: true,
    };
    let run = start(target, common, &rooms, room_size, &topics, b, &mut out).await?;
    mem_metrics(&mut out, target, "joined");
    let cpu_before = target.cpu_ms();
    let until_us = epoch_us() + secs * 1_000_000;
    run.fleet
        .broadcast(&Order::Play { script, until_us })
        .await?;
    let total = Duration::from_secs(secs) + Duration::from_millis(script.question_ms + 1000);
    let samples = memory::sample(target, total, Duration::from_secs(1)).await;
    mem_metrics(&mut out, target, "after");
    if let (Some(a), Some(b)) = (cpu_before, target.cpu_ms()) {
        let wall_ms = total.as_millis().max(1) as f64;
        out.metric(
            "server_cpu_pct_of_one_core",
            (b - a) as f64 / wall_ms * 100.0,
        );
    }
    let (_, hists) = finish(run, &mut out).await?;
    let mut everyone = Latency::new();
    let mut everyone_arrival = Latency::new();
    for name in ["question", "reveal", "vote_ack", "buzz_ack"] {
        if let Some(h) = hists.read.get(name) {
            everyone.merge(h);
        }
        if let Some(h) = hists.arrival.get(name) {
            everyone_arrival.merge(h);
        }
    }
    let s = everyone.summary();
    let a = everyone_arrival.summary();
    out.both("all_reading_clients", s, a);
    let a_p99 = a.p99_us as f64 / 1000.0;
    out.check(
        "p99 ms, reading clients (arrival)",
        a_p99,
        "≤ 10 ms",
        a_p99 <= 10.0 && a.count > 0,
    );
    let p99 = s.p99_us as f64 / 1000.0;
    out.check(
        "p99 ms, reading clients (read)",
        p99,
        "≤ 10 ms",
        p99 <= 10.0 && s.count > 0,
    );
    let stalled = out.metrics.get("stalled_evicted").copied().unwrap_or(0.0)
        + out
            .metrics
            .get("stalled_still_open")
            .copied()
            .unwrap_or(0.0);
    let evicted = out.metrics.get("stalled_evicted").copied().unwrap_or(0.0);
    if stalled > 0.0 {
        out.check(
            "stalled clients evicted",
            evicted,
            &format!("= {stalled}"),
            evicted >= stalled,
        );
    }
    // Answers the server holds: every vote and buzz it acknowledged (a
    // player answers a question once; refused inputs get an error).
    let answers_held = ["vote_ack", "buzz_ack"]
        .iter()
        .filter_map(|n| hists.read.get(*n))
        .map(|h| h.summary().count)
        .sum::<u64>();
    let questions = out.metrics.get("host_rounds").copied().unwrap_or(0.0);
    out.metric("server_rss_samples", samples.len() as f64);
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        out.metric("server_rss_first_sample_kib", first.rss_kib as f64);
        out.metric("server_rss_last_sample_kib", last.rss_kib as f64);
        if let (Some(a), Some(b)) = (first.inputs, last.inputs) {
            out.metric("server_answer_inputs", b.saturating_sub(a) as f64);
        }
    }
    out.metric(
        "server_rss_max_sample_kib",
        samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64,
    );
    match memory::judge(&samples, answers_held) {
        Some(v) => memory::report(&mut out, &v, answers_held, questions),
        None => out
            .notes
            .push("server PID unknown: no memory over the run".into()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_school_day_gets_a_bank_longer_than_a_room_asks() {
        let every_10_s = Script {
            question_ms: 8000,
            pause_ms: 2000,
        };
        // Short runs keep the usual bank.
        assert_eq!(classroom_bank_size(60, every_10_s), 400);
        // Two hours at one question per 10 s is 720 questions per room.
        let day = classroom_bank_size(7200, every_10_s);
        assert!((900..=1000).contains(&day), "{day}");
    }

    fn common(workers: Option<usize>) -> Common {
        Common {
            nodes: Vec::new(),
            workers,
            sources: 4,
            connect_parallel: 100,
            max_secs: 60,
            seed: 1,
            worker_placement: Placement::default(),
        }
    }

    fn rooms(n: usize) -> Vec<NewRoom> {
        (0..n)
            .map(|i| NewRoom {
                code: format!("R{i}"),
                host_token: format!("T{i}"),
            })
            .collect()
    }

    fn behaviour() -> Behaviour {
        Behaviour {
            answering: Answering::Never,
            stall_every: 0,
            keep_votes: false,
            join: true,
        }
    }

    #[test]
    fn workers_scale_with_sockets() {
        assert_eq!(worker_count(100, None), 1);
        assert_eq!(worker_count(10_001, None), 2);
        assert_eq!(worker_count(19_475, None), 2);
        assert_eq!(worker_count(40_000, None), 3);
        assert_eq!(worker_count(100, Some(3)), 3);
        assert_eq!(worker_count(100, Some(0)), 1);
    }

    #[test]
    fn one_big_room_is_split_over_every_worker() {
        let s = layout(&common(Some(3)), &rooms(1), 10, &[], &behaviour());
        assert_eq!(s.len(), 3);
        let shares: Vec<u32> = s.iter().map(|w| w.rooms[0].players).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        assert_eq!(
            s.iter().filter(|w| w.rooms[0].host_token.is_some()).count(),
            1
        );
        assert!(s.iter().all(|w| w.rooms[0].shared));
        let firsts: Vec<u32> = s.iter().map(|w| w.rooms[0].first_player).collect();
        assert_eq!(firsts, vec![0, 4, 7]);
    }

    #[test]
    fn small_rooms_go_whole_to_one_worker() {
        let s = layout(&common(Some(2)), &rooms(5), 40, &["t".into()], &behaviour());
        let per: Vec<usize> = s.iter().map(|w| w.rooms.len()).collect();
        assert_eq!(per, vec![3, 2]);
        for w in &s {
            for r in &w.rooms {
                assert!(r.host_token.is_some() && !r.shared && r.players == 40);
                assert_eq!(r.topics, vec!["t".to_string()]);
            }
        }
        let mut firsts: Vec<u32> = s
            .iter()
            .flat_map(|w| w.rooms.iter().map(|r| r.first_player))
            .collect();
        firsts.sort_unstable();
        assert_eq!(firsts, vec![0, 40, 80, 120, 160]);
    }

    fn vote(sent_us: u64, ack_read_us: u64, ack_arrival_us: Option<u64>) -> VoteTimes {
        VoteTimes {
            sent_us,
            ack_read_us,
            ack_arrival_us,
        }
    }

    fn tally(read_us: u64, arrival_us: Option<u64>, answered: u32) -> TallySeen {
        TallySeen {
            read_us,
            arrival_us,
            answered,
        }
    }

    #[test]
    fn votes_become_visible_in_ack_order() {
        // Three votes sent at 0, 10 and 20 ms; acks arrive at 4, 12, 24 ms
        // and are read at 5, 15, 25 ms.
        let mut votes = vec![
            vote(20_000, 25_000, Some(24_000)),
            vote(0, 5_000, Some(4_000)),
            vote(10_000, 15_000, Some(12_000)),
        ];
        // Tallies: 2 votes (arrived 28, read 30 ms), 3 votes (arrived
        // 100, read 130 ms).
        let tallies = vec![
            tally(130_000, Some(100_000), 3),
            tally(30_000, Some(28_000), 2),
        ];
        let mut v = Visible::default();
        let r = vote_round(&mut votes, &tallies, &mut v).unwrap();
        assert!((r.accepted_per_s - 120.0).abs() < 0.01, "{r:?}");
        assert_eq!(r.send_span_ms, 20.0);
        // Three acks arrived over 20 ms: two intervals → 100 per second.
        assert_eq!(r.ack_arrival_span_ms, Some(20.0));
        assert!((r.acks_out_per_s.unwrap() - 100.0).abs() < 0.01, "{r:?}");
        let s = v.read.summary();
        assert_eq!(s.count, 3);
        assert_eq!(s.min_us, 20_000); // second vote: 10 → 30 ms
        assert!((109_900..=110_100).contains(&s.max_us)); // third: 20 → 130 ms
        let a = v.arrival.summary();
        assert_eq!(a.count, 3);
        assert_eq!(a.min_us, 18_000); // second vote: 10 → 28 ms
        assert!((79_900..=80_100).contains(&a.max_us), "{a:?}"); // third: 20 → 100 ms
    }

    #[test]
    fn unstamped_frames_fall_back_to_their_read() {
        let mut votes = vec![vote(0, 5_000, None), vote(0, 6_000, Some(5_500))];
        let tallies = vec![tally(9_000, None, 2)];
        let mut v = Visible::default();
        let r = vote_round(&mut votes, &tallies, &mut v).unwrap();
        // One stamped ack is not a span.
        assert_eq!(r.acks_out_per_s, None);
        assert!((8_990..=9_010).contains(&v.arrival.summary().max_us));
    }

    #[test]
    fn a_vote_never_tallied_counts_as_the_slowest() {
        let mut votes = vec![vote(0, 5_000, None), vote(0, 6_000, None)];
        let mut v = Visible::default();
        vote_round(&mut votes, &[tally(10_000, Some(9_000), 1)], &mut v).unwrap();
        assert!(v.read.summary().max_us >= 59_000_000);
        assert!(v.arrival.summary().max_us >= 59_000_000);
        assert!(vote_round(&mut [], &[], &mut v).is_none());
    }
}
