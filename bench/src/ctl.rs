//! The line protocol between the coordinator and its worker processes: one
//! JSON object per line on the worker's stdin (orders) and stdout (reports).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::hist::LatencyWire;

/// What a broadcast latency is measured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Host sends `ask` → a player receives `question`.
    Question,
    /// Host sends `reveal` → a player receives `reveal`.
    Reveal,
}

/// How players behave once a question arrives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answering {
    /// Only read (fan-out, idle density).
    Never,
    /// Vote when the coordinator says so (vote storm).
    OnOrder,
    /// Answer by themselves after a random think time (classroom).
    Auto {
        /// Longest think time in ms.
        think_ms: u64,
        /// Percent of players who buzz in buzz mode.
        buzz_pct: u64,
    },
}

/// The host's autonomous game loop (classroom mix).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// How long a question stays open before close and reveal, in ms.
    pub question_ms: u64,
    /// Pause after a reveal before the next question, in ms.
    pub pause_ms: u64,
}

/// One room's part in a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomPart {
    /// Index of the room in the run.
    pub room: u32,
    /// Room code.
    pub code: String,
    /// Present when this worker hosts the room.
    pub host_token: Option<String>,
    /// Whether other workers also have players in this room (send
    /// instants must then be shared through the coordinator).
    pub shared: bool,
    /// Number of the first player here (for names `p{n}`).
    pub first_player: u32,
    /// How many players of the room this worker opens.
    pub players: u32,
    /// Topic ids the host asks from.
    pub topics: Vec<String>,
}

/// Everything a worker needs to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub worker: u32,
    pub server: SocketAddr,
    pub sources: Vec<Ipv4Addr>,
    pub rooms: Vec<RoomPart>,
    pub answering: Answering,
    /// Every n-th player stops reading after joining (0: none).
    pub stall_every: u32,
    /// Most handshakes in flight at once.
    pub connect_parallel: usize,
    /// Hard stop for the whole worker, in seconds from setup.
    pub max_secs: u64,
    /// Keep every vote's send and ack instant (vote storm).
    pub keep_votes: bool,
    /// Players send `join`; without it sockets only upgrade and idle
    /// unidentified (measures the socket layer alone).
    pub join: bool,
    /// Seed for think times and choices.
    pub seed: u64,
}

/// Orders from the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Order {
    /// Open every host and player socket.
    Setup(Setup),
    /// The hosting worker: ask the next question in `room`.
    Ask { room: u32, mode: String },
    /// The hosting worker: close and reveal the current question.
    Reveal { room: u32 },
    /// A send instant from another worker's host.
    Sent {
        room: u32,
        kind: Kind,
        qid: u32,
        t_us: u64,
    },
    /// Every player votes on its current question, starting at `start_us`
    /// and spread evenly over `spread_ms`.
    Vote { start_us: u64, spread_ms: u64 },
    /// Hosts run their game loop until `until_us`.
    Play { script: Script, until_us: u64 },
    /// Every player sends an application ping; count pongs.
    Ping,
    /// Report and exit.
    Finish,
}

/// Reports from a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Report {
    /// All sockets opened (or failed).
    Ready { connected: u32, failed: u32 },
    /// A host here sent something at `t_us` (shared rooms only).
    Sent {
        room: u32,
        kind: Kind,
        qid: u32,
        t_us: u64,
    },
    /// Every reading player here has received `kind` for `qid`.
    Reached { room: u32, kind: Kind, qid: u32 },
    /// A host's order failed (error from the server or timeout).
    HostError { room: u32, message: String },
    /// Every vote ordered here got its ack or failed.
    Voted { acked: u32, failed: u32 },
    /// Pongs counted after a `Ping` order.
    Pongs { alive: u32, of: u32 },
    /// Final numbers.
    Done(Box<Totals>),
}

/// A worker's final numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub connected: u32,
    pub failed: u32,
    /// Reading players whose socket closed before the end.
    pub dropped: u32,
    /// Stalled players found closed by the server at the end.
    pub stalled_evicted: u32,
    /// Stalled players still open at the end.
    pub stalled_open: u32,
    pub messages: u64,
    pub bytes: u64,
    /// Receives whose send instant never arrived.
    pub unmatched: u64,
    /// Latency histograms by name (join, question, reveal, vote_ack,
    /// buzz_ack), ending when a worker task read the frame.
    pub hists: BTreeMap<String, LatencyWire>,
    /// The same latencies ending at the kernel's receive stamp of the read
    /// that completed the frame (frames without a stamp are left out and
    /// counted in `unstamped`).
    pub arrival_hists: BTreeMap<String, LatencyWire>,
    /// Timed frames that carried no kernel stamp, by latency name.
    pub unstamped: BTreeMap<String, u64>,
    /// Timed frames whose kernel stamp was later than their read instant
    /// (impossible if the stamps are right; counted to prove it).
    pub stamp_after_read: u64,
    /// Server `error` codes seen, with counts.
    pub errors: BTreeMap<String, u64>,
    /// Vote storm: send and ack instants per vote.
    pub votes: Vec<VoteTimes>,
    /// Tallies the hosts here received.
    pub tallies: Vec<TallySeen>,
    /// Questions and reveals the hosts here completed.
    pub rounds: u64,
}

/// One vote of a storm, in µs since the epoch. Short field names: a
/// worker ships tens of thousands of these in one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct VoteTimes {
    /// When the player wrote the vote.
    #[serde(rename = "s")]
    pub sent_us: u64,
    /// When the player's worker read the ack.
    #[serde(rename = "r")]
    pub ack_read_us: u64,
    /// When the ack reached the player's socket (kernel stamp), if stamped.
    #[serde(rename = "a")]
    pub ack_arrival_us: Option<u64>,
}

impl VoteTimes {
    /// The ack's arrival, or its read instant when it has no stamp (never
    /// earlier than the real arrival).
    pub fn ack_arrival_or_read(&self) -> u64 {
        self.ack_arrival_us.unwrap_or(self.ack_read_us)
    }
}

/// A `tally` a host received, in µs since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TallySeen {
    /// When the host's worker read it.
    #[serde(rename = "r")]
    pub read_us: u64,
    /// When it reached the host's socket (kernel stamp), if stamped.
    #[serde(rename = "a")]
    pub arrival_us: Option<u64>,
    /// Votes it counts.
    #[serde(rename = "n")]
    pub answered: u32,
}

/// One line of JSON (no trailing newline).
pub fn line<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|e| format!("{{\"ev\":\"encode_error\",\"e\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_and_reports_round_trip() {
        let orders = [
            Order::Ask {
                room: 1,
                mode: "vote".into(),
            },
            Order::Vote {
                start_us: 5,
                spread_ms: 0,
            },
            Order::Play {
                script: Script {
                    question_ms: 1,
                    pause_ms: 2,
                },
                until_us: 9,
            },
            Order::Finish,
        ];
        for o in orders {
            let back: Order = serde_json::from_str(&line(&o)).unwrap();
            assert_eq!(back, o);
        }
        let mut t = Totals::default();
        t.hists.insert("join".into(), LatencyWire(vec![(5, 2)]));
        t.votes.push(VoteTimes {
            sent_us: 1,
            ack_read_us: 3,
            ack_arrival_us: Some(2),
        });
        t.tallies.push(TallySeen {
            read_us: 4,
            arrival_us: None,
            answered: 1,
        });
        let r = Report::Done(Box::new(t));
        let back: Report = serde_json::from_str(&line(&r)).unwrap();
        assert_eq!(back, r);
    }
}
