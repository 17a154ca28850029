//! The floor under the socket numbers: the fan-out and the vote storm with
//! no server at all. One process accepts N loopback sockets and, on two
//! threads with blocking calls, writes a question-sized message to each
//! (fan-out), then reads a vote-sized message from each and answers with an
//! ack-sized one (storm). Client processes read exactly as the scenario
//! workers do (tokio, one task per socket, kernel receive stamps).
//!
//! No WebSocket, JSON, room, storage or scheduler cost is in these numbers,
//! only the kernel's loopback TCP path and the clients. Whatever this
//! measures on a machine, no server on that machine can beat, which is
//! what the targets are judged against in docs/benchmarks.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::hist::{Latency, Summary};
use crate::stamped::{self, StampedTcp};
use crate::sys::{epoch_us, source_addrs};

/// Bytes of one fan-out message: the size of a 4-option `question` frame.
const QUESTION_BYTES: usize = 300;
/// Bytes of one vote: a masked `vote` frame.
const VOTE_BYTES: usize = 60;
/// Bytes of one ack frame.
const ACK_BYTES: usize = 40;
/// Pause between fan-out rounds, so rounds do not overlap.
const ROUND_GAP: Duration = Duration::from_millis(500);
/// How far ahead the agreed vote instant is set.
const VOTE_LEAD_US: u64 = 300_000;
/// Hard stop for every wait on the clients.
const LIMIT: Duration = Duration::from_secs(120);

/// What `floor` measured.
#[derive(Debug, Serialize)]
pub struct Floor {
    /// Sockets written to.
    pub sockets: usize,
    /// Threads writing on the accepting side.
    pub threads: usize,
    /// Fan-out: host-side write start → kernel arrival at each socket.
    pub fanout_arrival: Summary,
    /// Fan-out: the same, to the client task's read.
    pub fanout_read: Summary,
    /// Votes acked per second: sockets ÷ (last ack arrival − first vote send).
    pub votes_per_s: f64,
    /// Vote send → ack arrival.
    pub vote_ack_arrival: Summary,
    /// CPU the accepting process used for the storm, per vote (µs).
    pub storm_cpu_us_per_vote: f64,
}

/// Runs the measurement with `sockets` sockets over `clients` client
/// processes, `rounds` fan-outs, then one storm.
pub fn run(sockets: usize, rounds: usize, clients: usize, threads: usize) -> anyhow::Result<Floor> {
    let clients = clients.clamp(1, sockets.max(1));
    let threads = threads.max(1);
    let listener = TcpListener::bind("127.0.0.1:0").context("bind")?;
    let addr = listener.local_addr()?;
    let sources = source_addrs(8);
    let mut children = Vec::new();
    for i in 0..clients {
        let count = sockets / clients + usize::from(i < sockets % clients);
        let source = sources[i % sources.len()];
        let child = Command::new(std::env::current_exe()?)
            .args(["floor-client", "--addr", &addr.to_string()])
            .args([
                "--count",
                &count.to_string(),
                "--source",
                &source.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start a floor client")?;
        children.push(Clients::new(child)?);
    }
    let streams = accept(&listener, sockets)?;
    for c in &mut children {
        c.expect("ready")?;
    }
    let mut starts = Vec::new();
    for round in 0..rounds {
        let mut msg = [b' '; QUESTION_BYTES];
        msg[0] = b'Q';
        write_digits(&mut msg[1..12], round as u64);
        starts.push(epoch_us());
        write_all(&streams, threads, &msg)?;
        std::thread::sleep(ROUND_GAP);
    }
    let vote_at = epoch_us() + VOTE_LEAD_US;
    let mut msg = [b' '; QUESTION_BYTES];
    msg[0] = b'V';
    write_digits(&mut msg[1..21], vote_at);
    write_all(&streams, threads, &msg)?;
    let cpu_before = own_cpu_us();
    answer_votes(&streams, threads)?;
    let storm_cpu = own_cpu_us().saturating_sub(cpu_before);

    let (mut arrival, mut read) = (Latency::new(), Latency::new());
    let mut ack = Latency::new();
    let (mut first_send, mut last_ack) = (u64::MAX, 0u64);
    for c in &mut children {
        for line in c.results()? {
            let f: Vec<u64> = line
                .split(' ')
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            match (line.as_bytes().first(), f.as_slice()) {
                (Some(b'Q'), [round, at, rd]) => {
                    let Some(&t0) = starts.get(*round as usize) else {
                        continue;
                    };
                    arrival.record(at.saturating_sub(t0).max(1));
                    read.record(rd.saturating_sub(t0).max(1));
                }
                (Some(b'V'), [sent, at, _rd]) => {
                    ack.record(at.saturating_sub(*sent).max(1));
                    first_send = first_send.min(*sent);
                    last_ack = last_ack.max(*at);
                }
                _ => {}
            }
        }
    }
    let span_us = last_ack.saturating_sub(first_send).max(1);
    Ok(Floor {
        sockets,
        threads,
        fanout_arrival: arrival.summary(),
        fanout_read: read.summary(),
        votes_per_s: ack.summary().count as f64 * 1e6 / span_us as f64,
        vote_ack_arrival: ack.summary(),
        storm_cpu_us_per_vote: storm_cpu as f64 / sockets.max(1) as f64,
    })
}

/// The printed table.
pub fn table(f: &Floor) -> String {
    let ms = |us: u64| format!("{:.1} ms", us as f64 / 1000.0);
    let row = |name: &str, s: &Summary| {
        format!(
            "| {name} | {} | {} | {} | {} |\n",
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.max_us),
            s.count
        )
    };
    let mut out = format!(
        "floor: {} loopback sockets, {} writing threads, no server\n\n| latency | p50 | p99 | last | samples |\n| --- | --- | --- | --- | --- |\n",
        f.sockets, f.threads
    );
    out += &row("fan-out, arrival", &f.fanout_arrival);
    out += &row("fan-out, read", &f.fanout_read);
    out += &row("vote → ack arrival", &f.vote_ack_arrival);
    out += &format!(
        "\nvotes acked: {:.0}/s; accepting side CPU per vote: {:.1} µs\n",
        f.votes_per_s, f.storm_cpu_us_per_vote
    );
    out
}

/// One client process's stdout: a `ready` line, then result lines, `end`.
struct Clients {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Clients {
    fn new(mut child: Child) -> anyhow::Result<Clients> {
        let out = child.stdout.take().context("client stdout")?;
        Ok(Clients {
            child,
            lines: BufReader::new(out).lines(),
        })
    }

    fn expect(&mut self, word: &str) -> anyhow::Result<()> {
        match self.lines.next() {
            Some(Ok(line)) if line == word => Ok(()),
            other => bail!("floor client said {other:?}, expected {word}"),
        }
    }

    fn results(&mut self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for line in self.lines.by_ref() {
            let line = line?;
            if line == "end" {
                let _ = self.child.wait();
                return Ok(out);
            }
            out.push(line);
        }
        bail!("floor client ended without its results")
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn accept(listener: &TcpListener, n: usize) -> anyhow::Result<Vec<TcpStream>> {
    listener.set_nonblocking(true)?;
    let until = Instant::now() + LIMIT;
    let mut streams = Vec::with_capacity(n);
    while streams.len() < n {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                streams.push(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > until {
                    bail!("only {} of {n} floor clients connected", streams.len());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(streams)
}

/// Writes `msg` to every stream, the streams split over `threads`.
fn write_all(streams: &[TcpStream], threads: usize, msg: &[u8]) -> anyhow::Result<()> {
    let chunk = streams.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = streams
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> std::io::Result<()> {
                    for mut s in part {
                        s.write_all(msg)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for job in jobs {
            job.join()
                .map_err(|_| anyhow::anyhow!("writer thread failed"))??;
        }
        Ok(())
    })
}

/// Reads one vote from every stream and acks it at once.
fn answer_votes(streams: &[TcpStream], threads: usize) -> anyhow::Result<()> {
    let chunk = streams.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = streams
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> std::io::Result<()> {
                    let mut vote = [0u8; VOTE_BYTES];
                    for mut s in part {
                        s.set_read_timeout(Some(LIMIT))?;
                        s.read_exact(&mut vote)?;
                        s.write_all(&[b'A'; ACK_BYTES])?;
                    }
                    Ok(())
                })
            })
            .collect();
        for job in jobs {
            job.join()
                .map_err(|_| anyhow::anyhow!("storm thread failed"))??;
        }
        Ok(())
    })
}

fn write_digits(out: &mut [u8], value: u64) {
    let text = value.to_string();
    for (o, b) in out.iter_mut().zip(text.bytes()) {
        *o = b;
    }
}

fn parse_digits(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// This process's user + system CPU time, µs.
fn own_cpu_us() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// The client process: `count` sockets from `source`, one task each; prints
/// `ready`, then one line per message received and `end`.
pub async fn client(
    addr: SocketAddr,
    count: usize,
    source: std::net::Ipv4Addr,
) -> anyhow::Result<()> {
    let _warm = stamped::warm_up()?;
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.into(), 0))?;
        stamped::enable(std::os::fd::AsRawFd::as_raw_fd(&socket))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    println!("ready");
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|s| tokio::spawn(one_socket(StampedTcp::new(s))))
        .collect();
    let mut out = String::new();
    for task in tasks {
        let lines = tokio::time::timeout(LIMIT, task).await??;
        out += &lines;
    }
    out += "end\n";
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Reads fan-out messages until the vote message, votes at the agreed
/// instant and reads the ack. Returns its result lines.
async fn one_socket(mut s: StampedTcp) -> String {
    let stamp = s.stamp();
    let mut lines = String::new();
    let mut msg = [0u8; QUESTION_BYTES];
    loop {
        if s.read_exact(&mut msg).await.is_err() {
            return lines;
        }
        let read = epoch_us();
        let arrival = stamp.last_us().unwrap_or(read);
        match msg[0] {
            b'Q' => {
                let round = parse_digits(&msg[1..12]).unwrap_or(u64::MAX);
                lines += &format!("Q {round} {arrival} {read}\n");
            }
            b'V' => {
                let at = parse_digits(&msg[1..21]).unwrap_or(0);
                let wait = at.saturating_sub(epoch_us());
                tokio::time::sleep(Duration::from_micros(wait)).await;
                let sent = epoch_us();
                let mut ack = [0u8; ACK_BYTES];
                if s.write_all(&[b'v'; VOTE_BYTES]).await.is_err()
                    || s.read_exact(&mut ack).await.is_err()
                {
                    return lines;
                }
                let read = epoch_us();
                let arrival = stamp.last_us().unwrap_or(read);
                lines += &format!("V {sent} {arrival} {read}\n");
                return lines;
            }
            _ => return lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_round_trip_in_their_field() {
        let mut field = [b' '; 20];
        write_digits(&mut field, 1_763_780_000_123_456);
        assert_eq!(parse_digits(&field), Some(1_763_780_000_123_456));
        assert_eq!(parse_digits(b"   "), None);
    }
}
