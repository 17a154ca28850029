//! `quizroom-bench`: drives a real quizroom server over real WebSockets on
//! loopback, the way browsers do, and reports latencies, throughput and the
//! server's memory (see docs/benchmarks.md for the scenarios and numbers).

mod broadcast;
mod client;
mod ctl;
mod failover;
mod fleet;
mod floor;
mod hist;
mod http;
mod memory;
mod nodes;
mod placement;
mod report;
mod scenario;
mod services;
mod stamped;
mod sys;
mod target;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::ctl::Script;
use crate::placement::{cpus_text, parse_cpus, CpuList, Placement};
use crate::report::Outcome;
use crate::scenario::Common;
use crate::target::Target;

#[derive(Parser, Debug)]
#[command(
    name = "quizroom-bench",
    version,
    about = "Load generator for quizroom"
)]
struct Cli {
    /// Start this server binary on a free loopback port (killed at the end).
    #[arg(long, conflicts_with = "addr")]
    server_bin: Option<PathBuf>,
    /// Extra argument for the started server (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Drive an already running server at this address instead.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Drive a cluster: these nodes' addresses, comma-separated. Rooms are
    /// created on the first; worker process i connects its sockets (host
    /// included) to node i mod N, so players spread evenly over the nodes.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["server_bin", "addr"])]
    nodes: Vec<SocketAddr>,
    /// PID of that server, for memory numbers.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Worker processes (default: enough for the sockets, at least 2).
    #[arg(long)]
    workers: Option<usize>,
    /// Loopback source addresses (127.0.0.2, ...) to spread sockets over.
    #[arg(long, default_value_t = 8)]
    sources: usize,
    /// Handshakes in flight at once per worker: a burst beyond the
    /// server's listen backlog costs 1 s SYN retransmits (quizroom asks
    /// for 4,096; servers listening with 128 need a value under it).
    #[arg(long, default_value_t = 50)]
    connect_parallel: usize,
    /// Hard stop for every worker, in seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
    /// Seed for think times and choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Pin the started server (every thread) to these CPUs, e.g. `0` or
    /// `0-1` (off by default).
    #[arg(long, value_parser = parse_cpus, conflicts_with = "addr")]
    server_cpus: Option<CpuList>,
    /// Pin every worker process to these CPUs (off by default).
    #[arg(long, value_parser = parse_cpus)]
    worker_cpus: Option<CpuList>,
    /// Nice value for the worker processes, e.g. 10 to let the server run
    /// first (off by default).
    #[arg(long, allow_hyphen_values = true)]
    worker_nice: Option<i32>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// 1. N idle players: server memory per connection, connections held.
    Idle {
        #[arg(long, default_value_t = 19_000)]
        players: u32,
        /// Players per room.
        #[arg(long, default_value_t = 40)]
        room_size: u32,
        /// Seconds to hold the connections before measuring.
        #[arg(long, default_value_t = 10)]
        hold_secs: u64,
        /// Upgrade the sockets but never identify them: measures the
        /// socket layer alone (give the server a long identify timeout).
        #[arg(long)]
        no_join: bool,
    },
    /// 2. One room of N players: host asks, time until every player has it.
    Fanout {
        #[arg(long, default_value_t = 10_000)]
        players: u32,
        #[arg(long, default_value_t = 5)]
        rounds: u32,
    },
    /// 3. N players vote within one second: accepted votes/s, vote → tally.
    Votes {
        #[arg(long, default_value_t = 10_000)]
        players: u32,
        /// Spread the votes evenly over this many ms (0: all at once).
        #[arg(long, default_value_t = 0)]
        spread_ms: u64,
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// 4. Many classrooms playing at once, some clients not reading.
    Classroom {
        #[arg(long, default_value_t = 475)]
        rooms: u32,
        #[arg(long, default_value_t = 40)]
        room_size: u32,
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Percent of players that stop reading after joining.
        #[arg(long, default_value_t = 1.0)]
        stall_pct: f64,
        /// Longest think time before a player answers, ms.
        #[arg(long, default_value_t = 5000)]
        think_ms: u64,
        /// How long each question stays open, ms.
        #[arg(long, default_value_t = 8000)]
        question_ms: u64,
        /// Pause between reveal and the next question, ms.
        #[arg(long, default_value_t = 2000)]
        pause_ms: u64,
    },
    /// Cost of one broadcast: serialize once, share the bytes.
    Broadcast {
        /// Audience sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "40,1000,10000")]
        recipients: Vec<usize>,
    },
    /// The floor: the same fan-out and vote storm with no server, only a
    /// process writing to and reading from loopback sockets.
    Floor {
        /// Sockets (players).
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        /// Fan-out rounds.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        /// Client processes.
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// Threads writing on the accepting side.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Internal: a client process of `floor`.
    #[command(hide = true)]
    FloorClient {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        source: std::net::Ipv4Addr,
    },
    /// Cluster failover: starts its own cluster of `--server-bin` nodes
    /// (and Redis and PostgreSQL unless given), kills the room's owner
    /// with SIGKILL mid-question, and measures how long until every
    /// surviving socket has the restored question, how long the dead
    /// node's players take to be seated again elsewhere, and whether any
    /// acknowledged vote was lost.
    Failover {
        /// Nodes in the cluster; node 1 owns the room and is killed.
        #[arg(long, default_value_t = 3)]
        node_count: usize,
        /// Players, spread round-robin over the nodes.
        #[arg(long, default_value_t = 300)]
        players: u32,
        /// Kill cycles (the killed node restarts fresh between them).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Spread the open question's votes over this many ms; the owner
        /// dies halfway through.
        #[arg(long, default_value_t = 1000)]
        spread_ms: u64,
        /// Use this Redis instead of starting one.
        #[arg(long)]
        redis_url: Option<String>,
        /// Use this PostgreSQL database instead of starting one.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// A few seconds of every scenario with small N (used by the tests).
    Smoke,
    /// Internal: a client worker process (started by the coordinator).
    #[command(hide = true)]
    Worker,
}

fn main() -> anyhow::Result<()> {
    sys::raise_nofile();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Cmd::Worker = cli.cmd {
        return runtime.block_on(worker::run());
    }
    if let Cmd::FloorClient {
        addr,
        count,
        source,
    } = cli.cmd
    {
        return runtime.block_on(floor::client(addr, count, source));
    }
    if let Cmd::Floor {
        sockets,
        rounds,
        clients,
        threads,
    } = cli.cmd
    {
        let measured = floor::run(sockets, rounds, clients, threads)?;
        print!("{}", floor::table(&measured));
        return write_json(&cli.json, &measured);
    }
    if let Cmd::Broadcast { recipients } = &cli.cmd {
        let rows: Vec<_> = recipients
            .iter()
            .map(|&n| broadcast::measure(n, Duration::from_secs(2), 100_000))
            .collect();
        print!("{}", broadcast::table(&rows));
        return write_json(&cli.json, &rows);
    }
    if let Cmd::Failover {
        node_count,
        players,
        rounds,
        spread_ms,
        redis_url,
        database_url,
    } = &cli.cmd
    {
        let Some(bin) = cli.server_bin.clone() else {
            anyhow::bail!("failover starts its own nodes: give --server-bin PATH");
        };
        let params = failover::Params {
            bin,
            extra: cli.server_args.clone(),
            node_count: *node_count,
            players: *players,
            rounds: *rounds,
            spread_ms: *spread_ms,
            redis_url: redis_url.clone(),
            database_url: database_url.clone(),
            sources: cli.sources,
        };
        let outcomes = vec![runtime.block_on(failover::run(&params))?];
        for o in &outcomes {
            println!("{}", o.table());
        }
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
        return write_json(&cli.json, &outcomes);
    }
    runtime.block_on(coordinate(cli))
}

async fn coordinate(cli: Cli) -> anyhow::Result<()> {
    let target = match (&cli.server_bin, cli.addr) {
        (Some(bin), _) => {
            let placement = Placement {
                cpus: cli.server_cpus.clone().map(|c| c.0),
                nice: None,
            };
            Target::spawn(bin, &cli.server_args, &placement).await?
        }
        (None, Some(addr)) => Target::attach(addr, cli.server_pid),
        (None, None) => match cli.nodes.first() {
            Some(first) => Target::attach(*first, cli.server_pid),
            None => anyhow::bail!("give --server-bin PATH, --addr HOST:PORT or --nodes A,B,.."),
        },
    };
    let common = Common {
        nodes: cli.nodes.clone(),
        workers: cli.workers,
        sources: cli.sources,
        connect_parallel: cli.connect_parallel,
        max_secs: cli.max_secs,
        seed: cli.seed,
        worker_placement: Placement {
            cpus: cli.worker_cpus.clone().map(|c| c.0),
            nice: cli.worker_nice,
        },
    };
    let result = run_scenario(&cli.cmd, &target, &common).await;
    let log = target.log_path();
    target.stop().await;
    let mut outcomes = result.with_context(|| format!("server log: {log}"))?;
    // Say in every result where the processes ran (absent: wherever the
    // kernel put them).
    for o in &mut outcomes {
        if let Some(c) = &cli.server_cpus {
            o.param("server_cpus", cpus_text(&c.0));
        }
        if let Some(c) = &cli.worker_cpus {
            o.param("worker_cpus", cpus_text(&c.0));
        }
        if let Some(n) = cli.worker_nice {
            o.param("worker_nice", n);
        }
        if !cli.nodes.is_empty() {
            o.param("nodes", cli.nodes.len());
        }
    }
    for o in &outcomes {
        println!("{}", o.table());
    }
    println!("{}", serde_json::to_string_pretty(&outcomes)?);
    write_json(&cli.json, &outcomes)
}

async fn run_scenario(cmd: &Cmd, target: &Target, common: &Common) -> anyhow::Result<Vec<Outcome>> {
    Ok(match *cmd {
        Cmd::Idle {
            players,
            room_size,
            hold_secs,
            no_join,
        } => vec![
            scenario::idle(
                target,
                common,
                players,
                room_size,
                Duration::from_secs(hold_secs),
                !no_join,
            )
            .await?,
        ],
        Cmd::Fanout { players, rounds } => {
            vec![scenario::fanout(target, common, players, rounds).await?]
        }
        Cmd::Votes {
            players,
            spread_ms,
            rounds,
        } => vec![scenario::votes(target, common, players, spread_ms, rounds).await?],
        Cmd::Classroom {
            rooms,
            room_size,
            secs,
            stall_pct,
            think_ms,
            question_ms,
            pause_ms,
        } => {
            let script = Script {
                question_ms,
                pause_ms,
            };
            vec![
                scenario::classroom(
                    target, common, rooms, room_size, secs, stall_pct, think_ms, script,
                )
                .await?,
            ]
        }
        Cmd::Smoke => {
            let script = Script {
                question_ms: 600,
                pause_ms: 200,
            };
            vec![
                scenario::idle(target, common, 30, 10, Duration::from_secs(1), true).await?,
                scenario::fanout(target, common, 40, 2).await?,
                scenario::votes(target, common, 40, 0, 1).await?,
                scenario::classroom(target, common, 3, 10, 3, 10.0, 300, script).await?,
            ]
        }
        Cmd::Broadcast { .. }
        | Cmd::Worker
        | Cmd::Floor { .. }
        | Cmd::FloorClient { .. }
        | Cmd::Failover { .. } => Vec::new(),
    })
}

fn write_json<T: serde::Serialize>(path: &Option<PathBuf>, v: &T) -> anyhow::Result<()> {
    if let Some(p) = path {
        std::fs::write(p, serde_json::to_string_pretty(v)?)
            .with_context(|| format!("write {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_scenario_with_defaults() {
        let cli = Cli::try_parse_from([
            "quizroom-bench",
            "--addr",
            "127.0.0.1:9",
            "fanout",
            "--players",
            "1000",
        ])
        .unwrap();
        assert_eq!(cli.addr, Some("127.0.0.1:9".parse().unwrap()));
        assert!(matches!(
            cli.cmd,
            Cmd::Fanout {
                players: 1000,
                rounds: 5
            }
        ));
        let cli = Cli::try_parse_from([
            "quizroom-bench",
            "--server-bin",
            "/x",
            "--server-arg=--ping-secs",
            "--server-arg",
            "5",
            "classroom",
        ])
        .unwrap();
        assert_eq!(cli.server_args, vec!["--ping-secs", "5"]);
        assert!(matches!(
            cli.cmd,
            Cmd::Classroom {
                rooms: 475,
                room_size: 40,
                ..
            }
        ));
    }

    #[test]
    fn placement_flags_are_optional_and_checked() {
        let cli = Cli::try_parse_from([
            "quizroom-bench",
            "--server-bin",
            "/x",
            "--server-cpus",
            "0",
            "--worker-cpus",
            "1",
            "--worker-nice",
            "-5",
            "smoke",
        ])
        .unwrap();
        assert_eq!(cli.server_cpus, Some(CpuList(vec![0])));
        assert_eq!(cli.worker_cpus, Some(CpuList(vec![1])));
        assert_eq!(cli.worker_nice, Some(-5));
        let plain = Cli::try_parse_from(["quizroom-bench", "--server-bin", "/x", "smoke"]).unwrap();
        assert!(plain.server_cpus.is_none() && plain.worker_cpus.is_none());
        assert!(plain.worker_nice.is_none());
        // A running server is not ours to move.
        assert!(Cli::try_parse_from([
            "quizroom-bench",
            "--addr",
            "127.0.0.1:9",
            "--server-cpus",
            "0",
            "smoke"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["quizroom-bench", "--worker-cpus", "1-0", "smoke"]).is_err());
    }

    #[test]
    fn nodes_name_a_cluster() {
        let cli = Cli::try_parse_from([
            "quizroom-bench",
            "--nodes",
            "127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083",
            "fanout",
        ])
        .unwrap();
        assert_eq!(cli.nodes.len(), 3);
        assert!(Cli::try_parse_from([
            "quizroom-bench",
            "--nodes",
            "127.0.0.1:8081",
            "--addr",
            "127.0.0.1:9",
            "fanout"
        ])
        .is_err());
    }

    #[test]
    fn refuses_both_server_sources() {
        assert!(Cli::try_parse_from([
            "quizroom-bench",
            "--server-bin",
            "/x",
            "--addr",
            "127.0.0.1:9",
            "smoke"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["quizroom-bench", "idle", "--players", "x"]).is_err());
    }
}
