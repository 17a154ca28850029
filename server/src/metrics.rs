//! Process-wide counters for `GET /metrics` (Prometheus/OpenMetrics text).
//! Call sites stay one-liners so instrumentation never clutters logic.
//!
//! Label values are drawn from fixed lists (roles, message types) so a
//! client can never grow the number of series by sending made-up names.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::protocol::CLIENT_TYPES;

/// Content type of [`render`]'s output, for the HTTP answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Server message `type`s, so outbound counts use a bounded label set.
const SERVER_TYPES: &[&str] = &[
    "welcome",
    "error",
    "roster",
    "question",
    "buzz_queue",
    "tally",
    "reveal",
    "scores",
    "ack",
    "ended",
    "pong",
    "player_count",
    "closed",
    "timer",
    "text_answer",
    "you",
];

const ROLES: &[&str] = &["host", "interviewer", "player", "screen"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

struct Metrics {
    registry: Registry,
    connections: Family<RoleLabel, Gauge>,
    connections_opened: Family<RoleLabel, Counter>,
    rooms: Gauge,
    players: Gauge,
    messages_in: Family<TypeLabel, Counter>,
    messages_out: Family<TypeLabel, Counter>,
    broadcast_latency: Histogram,
    slow_evictions: Counter,
    rate_limited: Counter,
    bank_import_errors: Counter,
    store_commits: Counter,
    store_commit_seconds: Histogram,
    store_wal_checkpoint_seconds: Histogram,
    heap_trim_seconds: Histogram,
    store_errors: Counter,
    relay_dropped: Counter,
    relay_failed: Counter,
    fenced_writes: Counter,
    /// Handles of `messages_in` / `messages_out` by position in
    /// [`CLIENT_TYPES`] / [`SERVER_TYPES`] (then "other"), made once: a
    /// per-message `get_or_create` would hash the label and take the
    /// family's lock on every vote and every ack.
    messages_in_by_type: Vec<Counter>,
    messages_out_by_type: Vec<Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("quizroom");
        let m = Metrics {
            connections: Family::default(),
            connections_opened: Family::default(),
            rooms: Gauge::default(),
            players: Gauge::default(),
            messages_in: Family::default(),
            messages_out: Family::default(),
            // 10 µs .. ~80 ms: fan-out is expected to be sub-millisecond.
            broadcast_latency: Histogram::new(exponential_buckets(0.000_01, 2.0, 14)),
            slow_evictions: Counter::default(),
            rate_limited: Counter::default(),
            bank_import_errors: Counter::default(),
            store_commits: Counter::default(),
            // 50 µs .. ~1.6 s.
            store_commit_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            store_wal_checkpoint_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            // 10 µs .. ~160 ms.
            heap_trim_seconds: Histogram::new(exponential_buckets(0.000_01, 2.0, 15)),
            store_errors: Counter::default(),
            relay_dropped: Counter::default(),
            relay_failed: Counter::default(),
            fenced_writes: Counter::default(),
            messages_in_by_type: Vec::new(),
            messages_out_by_type: Vec::new(),
            registry: Registry::default(),
        };
        registry.register(
            "connections",
            "Identified WebSocket connections open now",
            m.connections.clone(),
        );
        registry.register(
            "connections_opened",
            "Identified WebSocket connections since start",
            m.connections_opened.clone(),
        );
        registry.register("rooms", "Live rooms", m.rooms.clone());
        registry.register("players", "Players seated in live rooms", m.players.clone());
        registry.register(
            "messages_in",
            "Client messages received, by type",
            m.messages_in.clone(),
        );
        registry.register(
            "messages_out",
            "Server messages queued to sockets, by type (one per recipient)",
            m.messages_out.clone(),
        );
        registry.register(
            "broadcast_latency_seconds",
            "Time from a room effect to the last recipient's queue",
            m.broadcast_latency.clone(),
        );
        registry.register(
            "slow_client_evictions",
            "Sockets dropped because their outbound queue was full",
            m.slow_evictions.clone(),
        );
        registry.register(
            "rate_limited",
            "Client messages refused by a rate limit",
            m.rate_limited.clone(),
        );
        registry.register(
            "bank_import_errors",
            "Bank files that failed to import",
            m.bank_import_errors.clone(),
        );
        registry.register(
            "store_commits",
            "Results-database transactions committed",
            m.store_commits.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Time to write and commit one results-database batch",
            m.store_commit_seconds.clone(),
        );
        registry.register(
            "store_wal_checkpoint_seconds",
            "Time to copy the results database's WAL into its file (off the commit path)",
            m.store_wal_checkpoint_seconds.clone(),
        );
        registry.register(
            "heap_trim_seconds",
            "Time to give freed heap pages back to the operating system (its own thread)",
            m.heap_trim_seconds.clone(),
        );
        registry.register(
            "store_errors",
            "Results-database operations that failed",
            m.store_errors.clone(),
        );
        registry.register(
            "cluster_relay_dropped",
            "Messages from other cluster nodes that did not decode (or of another version), dropped",
            m.relay_dropped.clone(),
        );
        registry.register(
            "cluster_relay_failed",
            "Messages to other cluster nodes that Redis did not take",
            m.relay_failed.clone(),
        );
        registry.register(
            "cluster_fenced_writes",
            "Checkpoints and results of rooms another node took over, refused by the database",
            m.fenced_writes.clone(),
        );
        // Every role shows up from the start, at zero.
        for role in ROLES {
            let _ = m.connections.get_or_create(&RoleLabel { role });
            let _ = m.connections_opened.get_or_create(&RoleLabel { role });
        }
        let handles = |family: &Family<TypeLabel, Counter>, known: &'static [&'static str]| {
            known
                .iter()
                .chain(std::iter::once(&"other"))
                .map(|r#type| family.get_or_create(&TypeLabel { r#type }).clone())
                .collect::<Vec<_>>()
        };
        let messages_in_by_type = handles(&m.messages_in, CLIENT_TYPES);
        let messages_out_by_type = handles(&m.messages_out, SERVER_TYPES);
        Metrics {
            registry,
            messages_in_by_type,
            messages_out_by_type,
            ..m
        }
    }
}

/// Position of `value` in `known`, or `known.len()` (the "other" slot).
fn slot(value: &str, known: &[&str]) -> usize {
    known
        .iter()
        .position(|k| *k == value)
        .unwrap_or(known.len())
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Maps `value` onto its entry in `known`, or `"other"`, so label values
/// always come from a fixed list.
fn bounded(value: &str, known: &'static [&'static str]) -> &'static str {
    known
        .iter()
        .copied()
        .find(|k| *k == value)
        .unwrap_or("other")
}

/// A socket identified itself with `role` ("host", "player", "screen").
pub fn connection_opened(role: &str) {
    let role = bounded(role, ROLES);
    METRICS.connections.get_or_create(&RoleLabel { role }).inc();
    METRICS
        .connections_opened
        .get_or_create(&RoleLabel { role })
        .inc();
}

/// A socket of `role` closed.
pub fn connection_closed(role: &str) {
    let role = bounded(role, ROLES);
    METRICS.connections.get_or_create(&RoleLabel { role }).dec();
}

/// A client message of type `kind` was received.
pub fn message_in(kind: &str) {
    if let Some(counter) = METRICS.messages_in_by_type.get(slot(kind, CLIENT_TYPES)) {
        counter.inc();
    }
}

/// A server message of type `kind` was queued for `recipients` sockets.
pub fn message_out(kind: &str, recipients: usize) {
    if let Some(counter) = METRICS.messages_out_by_type.get(slot(kind, SERVER_TYPES)) {
        counter.inc_by(recipients as u64);
    }
}

/// Time from a room effect to the last recipient's queue, in seconds.
pub fn broadcast_latency(seconds: f64) {
    METRICS.broadcast_latency.observe(seconds);
}

/// A socket was dropped because its outbound queue was full.
pub fn slow_client_evicted() {
    METRICS.slow_evictions.inc();
}

/// A message was refused by a rate limit.
pub fn rate_limited() {
    METRICS.rate_limited.inc();
}

/// A bank file failed to import.
pub fn bank_import_error() {
    METRICS.bank_import_errors.inc();
}

/// Number of live rooms and players right now.
pub fn set_rooms_and_players(rooms: usize, players: usize) {
    METRICS.rooms.set(i64::try_from(rooms).unwrap_or(i64::MAX));
    METRICS
        .players
        .set(i64::try_from(players).unwrap_or(i64::MAX));
}

/// The results database committed one batch of `seconds` duration.
pub fn store_commit(seconds: f64) {
    METRICS.store_commits.inc();
    METRICS.store_commit_seconds.observe(seconds);
}

/// The WAL checkpointer took `seconds` to copy the WAL into the file;
/// slow disks show here, not in the commit time rooms wait for.
pub fn store_wal_checkpoint(seconds: f64) {
    METRICS.store_wal_checkpoint_seconds.observe(seconds);
}

/// The heap was trimmed in `seconds` (see [`crate::heap_trim`]).
pub fn heap_trim(seconds: f64) {
    METRICS.heap_trim_seconds.observe(seconds);
}

/// A results-database operation failed (details are in the log).
pub fn store_error() {
    METRICS.store_errors.inc();
}

/// A message from another node did not decode and was dropped.
pub fn relay_dropped() {
    METRICS.relay_dropped.inc();
}

/// How many relayed messages were dropped so far (for tests and logs).
pub fn relay_dropped_count() -> u64 {
    METRICS.relay_dropped.get()
}

/// A message for another node could not be published.
pub fn relay_failed() {
    METRICS.relay_failed.inc();
}

/// A room's checkpoint or results was refused: another node runs it now.
pub fn fenced_write() {
    METRICS.fenced_writes.inc();
}

/// Every metric in OpenMetrics text format, which Prometheus scrapes.
pub fn render() -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_share_one_label() {
        assert_eq!(bounded("vote", CLIENT_TYPES), "vote");
        assert_eq!(bounded("made_up_by_a_client", CLIENT_TYPES), "other");
        assert_eq!(bounded("tally", SERVER_TYPES), "tally");
    }

    #[test]
    fn cached_handles_count_into_their_labelled_series() {
        let value = |family: &Family<TypeLabel, Counter>, r#type: &'static str| {
            family.get_or_create(&TypeLabel { r#type }).get()
        };
        let pong = value(&METRICS.messages_out, "pong");
        let ping = value(&METRICS.messages_in, "ping");
        let other = value(&METRICS.messages_in, "other");
        message_out("pong", 5);
        message_in("ping");
        message_in("not-a-type");
        assert!(value(&METRICS.messages_out, "pong") >= pong + 5);
        assert!(value(&METRICS.messages_in, "ping") > ping);
        assert!(value(&METRICS.messages_in, "other") > other);
        assert_eq!(CLIENT_TYPES[slot("end", CLIENT_TYPES)], "end");
        assert_eq!(slot("nope", SERVER_TYPES), SERVER_TYPES.len());
    }

    #[test]
    fn render_names_every_family() {
        message_in("vote");
        message_in("nonsense-type");
        message_out("tally", 3);
        broadcast_latency(0.0002);
        let text = render();
        for name in [
            "quizroom_connections{role=\"player\"} ",
            "quizroom_connections_opened_total{role=\"host\"} ",
            "quizroom_rooms",
            "quizroom_players",
            "quizroom_messages_in_total{type=\"vote\"}",
            "quizroom_messages_in_total{type=\"other\"}",
            "quizroom_messages_out_total{type=\"tally\"}",
            "quizroom_broadcast_latency_seconds_bucket",
            "quizroom_slow_client_evictions_total",
            "quizroom_rate_limited_total",
            "quizroom_bank_import_errors_total",
            "quizroom_store_commits_total",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
