//! Process-wide counters for `GET /metrics` (Prometheus text format).
//! Call sites stay one-liners so instrumentation never clutters logic.

/// A socket identified itself with `role` ("host", "player", "screen").
pub fn connection_opened(role: &str) {
    let _ = role;
}

/// A socket of `role` closed.
pub fn connection_closed(role: &str) {
    let _ = role;
}

/// A client message of type `kind` was received.
pub fn message_in(kind: &str) {
    let _ = kind;
}

/// A server message of type `kind` was queued for `recipients` sockets.
pub fn message_out(kind: &str, recipients: usize) {
    let _ = (kind, recipients);
}

/// Time from a room effect to the last recipient's queue, in seconds.
pub fn broadcast_latency(seconds: f64) {
    let _ = seconds;
}

/// A socket was dropped because its outbound queue was full.
pub fn slow_client_evicted() {}

/// A message was refused by a rate limit.
pub fn rate_limited() {}

/// A bank file failed to import.
pub fn bank_import_error() {}

/// Number of live rooms and players right now.
pub fn set_rooms_and_players(rooms: usize, players: usize) {
    let _ = (rooms, players);
}
