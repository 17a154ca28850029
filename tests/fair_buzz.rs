//! Fair buzzing over real slow links: every player reaches the real server
//! through a delaying TCP proxy inside the test (20, 100 or 300 ms each
//! way, each chunk jittered by ±20 %, order kept as TCP keeps it). Players
//! answer the server's clock probes with a skewed clock of their own and
//! send the instant they pressed; the room must give the floor to whoever
//! pressed first.
//!
//! The trials run concurrently in many rooms (real time, nothing scaled),
//! so a thousand of them take seconds, not a quarter of an hour.
//!
//! On a loaded machine the links are not the only delay: a press can sit
//! in a starved task before it reaches the proxy, or the proxy can wake
//! late. Each trial therefore measures every press's real one-way delay
//! (when the server read it, from the host's queue, minus the instant the
//! press was made, both on this machine's clock; an upper bound, as the
//! opening is taken when the host read the question) and the real gap
//! between the presses (their
//! stamps, taken when they were made, not when they were scheduled). A
//! trial where a press took longer than its link can (delay + jitter +
//! slack) is not the link the test describes: it is excluded and counted,
//! and too many exclusions fail the test rather than pass it vacuously.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use rand::Rng;
use serde_json::{json, Value};
use tokio::time::Instant;

use common::fair::{delaying_proxy, wall_ms, SyncPlayer};
use common::{Client, Server};

/// One-way delays of the three links, ms.
const LINKS: [u64; 3] = [20, 100, 300];
/// What a loaded machine may add to a link's longest delay before the
/// trial no longer runs on the link it describes, ms.
const SCHEDULING_SLACK_MS: f64 = 15.0;
/// Clock probes every player answers before the trials start (the
/// server's first burst).
const SYNC_REPLIES: usize = 5;
/// The collection window of the compensated rooms: it must cover the
/// largest difference of one-way delays (300 · 1.2 − 20 · 0.8 = 344 ms).
const WINDOW_MS: u64 = 400;

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

/// One press of a trial, as made and as the server saw it.
#[derive(Debug, Clone)]
struct Press {
    player: usize,
    /// Wall ms the press was made.
    pressed: f64,
    /// The link's longest one-way delay, ms.
    link_max: f64,
    /// Wall ms the server read it (the host's queue counts from the
    /// question's opening, taken as the instant the host read it).
    arrival: Option<f64>,
}

impl Press {
    /// Whether the press took longer to reach the server than its link
    /// can: the machine, not the link, delayed it.
    fn disturbed(&self) -> bool {
        self.arrival
            .is_none_or(|a| a - self.pressed > self.link_max + SCHEDULING_SLACK_MS)
    }
}

/// One finished trial: who pressed when (wall ms), and who got the floor.
#[derive(Debug, Clone)]
struct Trial {
    presses: Vec<Press>,
    floor: usize,
    /// The host's queue, for the forger's bound.
    queue: Value,
}

impl Trial {
    /// (player, press instant), sorted by the instant they were made.
    fn sorted(&self) -> Vec<(usize, f64)> {
        let mut p: Vec<(usize, f64)> = self.presses.iter().map(|p| (p.player, p.pressed)).collect();
        p.sort_by(|a, b| a.1.total_cmp(&b.1));
        p
    }

    /// How far the first press was really ahead of the second, ms.
    fn lead(&self) -> f64 {
        let p = self.sorted();
        p[1].1 - p[0].1
    }

    /// Whether any press was held up beyond its link by the machine.
    fn disturbed(&self) -> bool {
        self.presses.iter().any(Press::disturbed)
    }

    /// Each press's real one-way delay, ms, for the log.
    fn delays(&self) -> Vec<(usize, f64)> {
        self.presses
            .iter()
            .map(|p| (p.player, p.arrival.map_or(f64::NAN, |a| a - p.pressed)))
            .collect()
    }
}

/// How a batch of trials went: counted separately so a loaded machine
/// shows up as exclusions, never as a silent pass.
struct Tally {
    total: usize,
    /// Real gap under 30 ms: not judged.
    close: usize,
    /// A press slower than its link: excluded.
    disturbed: usize,
    judged: Vec<Trial>,
}

fn tally(trials: Vec<Trial>, min_lead: f64) -> Tally {
    let total = trials.len();
    let (apart, close): (Vec<Trial>, Vec<Trial>) =
        trials.into_iter().partition(|t| t.lead() >= min_lead);
    let (disturbed, judged): (Vec<Trial>, Vec<Trial>) =
        apart.into_iter().partition(Trial::disturbed);
    Tally {
        total,
        close: close.len(),
        disturbed: disturbed.len(),
        judged,
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
        // The question opened before the host read it: arrivals counted
        // from here are, if anything, late, so a press's delay is never
        // taken for shorter than it was.
        let opened = wall_ms();
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
            made.push(Press {
                player: i,
                pressed: stamp.await.expect("pressed"),
                link_max: self.players[i].max_one_way_ms(),
                arrival: None,
            });
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
        for press in &mut made {
            let id = self.players[press.player].id;
            press.arrival = queue["queue"]
                .as_array()
                .and_then(|q| q.iter().find(|e| e["player_id"] == id))
                .and_then(|e| e["arrival_ms"].as_f64())
                .map(|ms| opened + ms);
        }
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

/// Waits until every player of every table answered the server's first
/// clock probes (however long a loaded machine takes), so no trial runs
/// with a player the server cannot compensate yet.
async fn let_clocks_settle(tables: &mut [Table]) {
    join_all(
        tables
            .iter_mut()
            .flat_map(|t| t.players.iter_mut())
            .map(|p| p.synced(SYNC_REPLIES)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_press_wins_across_20_100_and_300_ms_links_in_99_percent() {
    const ROOMS: usize = 50;
    const TRIALS: usize = 20;
    let server = Server::start().await;
    let proxies = proxies(&server).await;
    let started = std::time::Instant::now();
    let mut tables =
        join_all((0..ROOMS).map(|_| table(&server, &proxies, &LINKS, WINDOW_MS))).await;
    let_clocks_settle(&mut tables).await;
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
    let t = tally(trials, 30.0);
    let right = t
        .judged
        .iter()
        .filter(|t| t.floor == t.sorted()[0].0)
        .count();
    let share = right as f64 / t.judged.len().max(1) as f64;
    println!(
        "fair buzz: {right}/{} judged trials gave the floor to the first press ({:.2} %); of {} trials {} had presses under 30 ms apart (not judged) and {} a press the machine held up beyond its link (excluded); {:.1} s",
        t.judged.len(),
        share * 100.0,
        t.total,
        t.close,
        t.disturbed,
        elapsed.as_secs_f64()
    );
    // Misses, to see what went wrong if any.
    for m in t
        .judged
        .iter()
        .filter(|t| t.floor != t.sorted()[0].0)
        .take(5)
    {
        let first = m.sorted()[0].1;
        let links: Vec<(u64, f64)> = m
            .sorted()
            .iter()
            .map(|(i, at)| (LINKS[*i], at - first))
            .collect();
        println!(
            "  miss: presses (link, ms after first) {links:?}, real delays {:?}, floor went to the {} ms link; queue {}",
            m.delays(),
            LINKS[m.floor],
            m.queue["queue"]
        );
    }
    // The random gaps put about 85 % of trials 30 ms apart; a machine so
    // loaded that most of them are excluded proves nothing and fails.
    assert!(
        t.judged.len() >= t.total / 2,
        "too few trials judged: {} of {} ({} excluded as held up by the machine)",
        t.judged.len(),
        t.total,
        t.disturbed
    );
    assert!(share >= 0.99, "only {:.2} % right", share * 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_compensation_off_the_slow_player_loses_as_before() {
    const ROOMS: usize = 10;
    const TRIALS: usize = 4;
    let server = Server::start().await;
    let proxies = proxies(&server).await;
    let mut tables = join_all((0..ROOMS).map(|_| table(&server, &proxies, &[300, 20], 0))).await;
    let_clocks_settle(&mut tables).await;
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
    let t = tally(trials, 30.0);
    println!(
        "compensation off: {} judged, {} under 30 ms apart, {} held up by the machine",
        t.judged.len(),
        t.close,
        t.disturbed
    );
    assert!(t.judged.len() >= t.total / 2, "too few trials judged");
    for t in &t.judged {
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
    let mut tables = join_all(
        pairs
            .iter()
            .map(|links| table(&server, &proxies, links, WINDOW_MS)),
    )
    .await;
    let_clocks_settle(&mut tables).await;
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
    let mut disturbed = 0;
    for run in runs {
        for (honest, forger, held, trial) in run.await.expect("room run") {
            total += 1;
            let lead = trial.presses[1].pressed - trial.presses[0].pressed;
            let clamped = trial.queue["queue"]
                .as_array()
                .is_some_and(|q| q.iter().any(|e| e["clamped"] == true));
            assert!(
                clamped,
                "the forged claim is flagged to the host: {}",
                trial.queue
            );
            if trial.disturbed() {
                disturbed += 1;
            } else if lead > held {
                judged += 1;
                assert_eq!(
                    trial.floor, 0,
                    "honest on {honest} ms pressed {lead:.0} ms before a forger on {forger} ms (bound {held}); queue {}",
                    trial.queue
                );
            }
        }
    }
    println!("forged claims: {judged}/{total} trials had the honest press more than the forger's bound earlier; the honest press won all of them; {disturbed} held up by the machine (excluded)");
    assert!(
        disturbed <= total / 2 && judged >= (total - disturbed) * 3 / 4,
        "too few judged trials: {judged}/{total} ({disturbed} held up by the machine)"
    );
}
