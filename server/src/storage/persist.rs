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
use crate::live::room::AnswerRecord;
use crate::live::room::{Effect, RecordKind, Results, Room};
use crate::protocol::Millis;
use crate::storage::store::{
    now_ms, AnswerPayload, CheckpointRow, FinalResults, FrozenQuestion, QueuedAnswer, RoomRow,
    RunningRoom, SqliteStore,
};
use crate::storage::{Persistence, Store};

/// Opens the results store: the PostgreSQL database at
/// `config.database_url` when one is given (a cluster's shared store),
/// else the SQLite file under `config.data_dir`; purges rooms past
/// `config.retention_hours`. Called once by [`crate::run`].
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let retention = Duration::from_secs(config.retention_hours.saturating_mul(3600));
    let store: Arc<dyn Store> = match &config.database_url {
        Some(url) => Arc::new(
            crate::storage::postgres::PgStore::open(url, retention)
                .context("opening the PostgreSQL results database")?,
        ),
        None => Arc::new(
            SqliteStore::open(&config.data_dir, retention).with_context(|| {
                format!(
                    "opening the results database in {}",
                    config.data_dir.display()
                )
            })?,
        ),
    };
    tracing::info!(store = %store.describe(), retention_hours = config.retention_hours, "results database open");
    Ok(store)
}

fn logged<T>(
    what: &str,
    room: &str,
    result: Result<T, crate::storage::store::StoreError>,
) -> Option<T> {
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
pub fn room_created(state: &impl Persistence, code: &str, host_token: &str, title: &str) {
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
pub fn host_token_known(state: &impl Persistence, host_token: &str) -> bool {
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
pub fn code_taken(state: &impl Persistence, code: &str) -> bool {
    let Some(store) = state.store() else {
        return false;
    };
    logged("looking up a room code", code, store.room_exists(code)).unwrap_or(false)
}

/// The answer as stored: the record's own JSON, written by the store's
/// writer thread.
impl AnswerPayload for AnswerRecord {
    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Queues one counted answer. Takes the record by value: it moves into the
/// store's queue and is serialized there, so the room task pays neither a
/// copy nor the JSON.
pub fn record(state: &impl Persistence, record: AnswerRecord) {
    let Some(store) = state.store() else { return };
    let row = QueuedAnswer {
        room: record.room.clone(),
        qid: record.qid,
        player: record.player_id.0,
        kind: record_kind(record.kind),
        at_ms: record.at,
        payload: Box::new(record),
    };
    // The owner task's span names the room; the only error is a stopped writer.
    logged("recording an answer", "-", store.queue_answer(row));
}

/// Called by a room's owner task for every effect after `Send`/`Close`
/// are handled; persists checkpoints, answers and ended rooms.
///
/// A `Checkpoint` or `Ended` returns only once it (and every answer queued
/// before it) is committed, so what the room shows after a boundary is on
/// disk; a `Record` is queued and costs the room no disk wait.
pub fn on_effect(state: &impl Persistence, room: &mut Room, effect: &Effect) {
    let Some(store) = state.store() else { return };
    match effect {
        Effect::Record(r) => record(state, r.clone()),
        Effect::Checkpoint => checkpoint(store.as_ref(), room, "checkpoint"),
        Effect::Ended => {
            // The last snapshot (so an ended room is never restored as
            // running), then the final results, computed once.
            checkpoint(store.as_ref(), room, "final checkpoint");
            logged(
                "ending a room",
                room.code(),
                store.end_room(
                    room.code(),
                    now_ms(),
                    Some(final_results(store.as_ref(), room)),
                ),
            );
        }
        Effect::Send { .. } | Effect::Close { .. } => {}
    }
}

/// Marks an ended room ended in the store with its final results and
/// returns once committed: the second half of [`Effect::Ended`], for an
/// owner task that queued the final checkpoint itself (see
/// [`checkpoint_queued`]) and waited for it without blocking.
pub fn write_end(state: &impl Persistence, room: &Room) {
    let Some(store) = state.store() else { return };
    logged(
        "ending a room",
        room.code(),
        store.end_room(
            room.code(),
            now_ms(),
            Some(final_results(store.as_ref(), room)),
        ),
    );
}

/// The stable storage name of a record kind (part of the answers key).
fn record_kind(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Buzz => "buzz",
        RecordKind::Vote => "vote",
        RecordKind::Answer => "answer",
        RecordKind::PeerVote => "peer_vote",
        RecordKind::Judge => "judge",
        RecordKind::Mark => "mark",
        RecordKind::Seat => "seat",
    }
}

/// Writes a boundary and waits for it; on success the room learns which
/// finished questions need not be written again.
fn checkpoint(store: &dyn Store, room: &mut Room, what: &str) {
    let Some(row) = checkpoint_of(room) else {
        return;
    };
    let upto = row.frozen_upto;
    if logged(what, room.code(), store.checkpoint(row.row)).is_some() {
        room.frozen_stored(upto);
        room.release_stored();
    }
}

/// A checkpoint queued by a room that goes on meanwhile: hears whether it
/// was committed, and how many finished questions it stored.
pub struct QueuedCheckpoint {
    /// Resolves once the checkpoint is committed (or refused).
    pub done: tokio::sync::oneshot::Receiver<Result<(), String>>,
    frozen_upto: usize,
}

/// Queues a boundary without waiting for it (a room's owner task holds
/// what it sends after the boundary until the store confirms it, see
/// [`checkpoint_committed`]). `None` when there is no store, or the
/// snapshot or the queue failed (logged).
pub fn checkpoint_queued(state: &impl Persistence, room: &Room) -> Option<QueuedCheckpoint> {
    let store = state.store()?;
    let row = checkpoint_of(room)?;
    let done = logged(
        "queueing a checkpoint",
        room.code(),
        store.checkpoint_queued(row.row),
    )?;
    Some(QueuedCheckpoint {
        done,
        frozen_upto: row.frozen_upto,
    })
}

/// A queued checkpoint was committed: the room learns which finished
/// questions need not be written again (and may leave memory).
pub fn checkpoint_committed(room: &mut Room, queued: &QueuedCheckpoint) {
    room.frozen_stored(queued.frozen_upto);
    room.release_stored();
}

/// A checkpoint row and how many leading questions it leaves to stored rows.
struct Boundary {
    row: CheckpointRow,
    frozen_upto: usize,
}

/// What a boundary stores: the snapshot only, as JSON text, with finished
/// questions written once each. Results are served live while the room runs
/// and stored once at the end, so a boundary in a big room costs the seats
/// and the last question, not the whole game.
fn checkpoint_of(room: &Room) -> Option<Boundary> {
    let parts = match room.snapshot_parts() {
        Ok(parts) => parts,
        Err(e) => {
            crate::metrics::store_error();
            tracing::error!(room = %room.code(), error = %e, "snapshot failed");
            return None;
        }
    };
    Some(Boundary {
        row: CheckpointRow {
            room: RoomRow {
                code: room.code().to_string(),
                host_token: room.host_token().to_string(),
                title: room.options().title.clone(),
                created_ms: now_ms(),
            },
            snapshot: parts.json,
            frozen: parts
                .frozen
                .into_iter()
                .map(|(index, json)| FrozenQuestion {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    json,
                })
                .collect(),
            // A restore drops a question that is still open, so its answers
            // (and any later qid's) are not part of what comes back.
            boundary_qid: room.boundary_qid().unwrap_or(0),
        },
        frozen_upto: parts.frozen_upto,
    })
}

/// The results of a live room, the questions it released from memory read
/// back from the store. `None` (logged) if the store cannot give them back.
pub fn room_results(store: Option<&dyn Store>, room: &Room) -> Option<Results> {
    let released = match (room.released_count(), store) {
        (0, _) | (_, None) => Vec::new(),
        (n, Some(store)) => logged(
            "reading released questions",
            room.code(),
            store.finished_questions(room.code(), n),
        )?,
    };
    match room.results_with(&released) {
        Ok(results) => Some(results),
        Err(e) => {
            crate::metrics::store_error();
            tracing::error!(room = %room.code(), error = %e, "results unavailable");
            None
        }
    }
}

/// The results of an ended room as the results endpoint serves them.
fn final_results(store: &dyn Store, room: &Room) -> FinalResults {
    // Stored questions unreadable: keep what memory holds, not nothing.
    let results = room_results(Some(store), room).unwrap_or_else(|| room.results_in_memory());
    let csv = results.to_csv();
    let json = serde_json::to_value(&results).unwrap_or(serde_json::Value::Null);
    let questions = json
        .get("questions")
        .and_then(|q| q.as_array())
        .into_iter()
        .flatten()
        .filter_map(|q| {
            let qid = u32::try_from(q.get("qid")?.as_u64()?).ok()?;
            Some((qid, q.clone()))
        })
        .collect();
    FinalResults {
        json,
        csv,
        questions,
    }
}

/// Rooms that were running when the server stopped, restored at their last
/// question boundary. Called once at start, before accepting sockets.
pub fn restore_rooms(state: &impl Persistence) -> Vec<Room> {
    let Some(store) = state.store() else {
        return Vec::new();
    };
    let Some(running) = logged("listing rooms to restore", "-", store.running_rooms()) else {
        return Vec::new();
    };
    logged(
        "ending rooms that never reached a checkpoint",
        "-",
        store.end_rooms_without_checkpoint(now_ms()),
    );
    running
        .into_iter()
        .filter_map(|stored| restore_room(state, stored))
        .collect()
}

/// Brings back one stored running room (at start, or when a cluster node
/// takes over a room whose owner died). `None` when its snapshot cannot be
/// restored; its stored results stay available.
pub fn restore_room(state: &impl Persistence, stored: RunningRoom) -> Option<Room> {
    let store = state.store()?;
    match Room::restore(stored.snapshot, state.fresh_catalog()) {
        Ok(mut room) => {
            let replayed = replay_open_question(store.as_ref(), &mut room);
            tracing::info!(
                room = %stored.code,
                boundary_qid = stored.boundary_qid,
                open_qid = room.current_qid().filter(|_| room.question_open()),
                replayed = replayed.applied,
                already_stored = replayed.already,
                skipped = replayed.skipped,
                "room restored"
            );
            Some(room)
        }
        Err(e) => {
            // Answers to a question no snapshot holds cannot be counted
            // again; drop them so a later question with that qid starts
            // clean.
            logged(
                "dropping answers of an unfinished question",
                &stored.code,
                store.discard_answers_after(&stored.code, stored.boundary_qid),
            );
            crate::metrics::store_error();
            tracing::error!(room = %stored.code, error = %e, "room not restored; its stored results stay available");
            None
        }
    }
}

/// Rooms the store holds as running (with their snapshots), for a cluster
/// node to pick the ones nobody runs.
pub fn running_rooms(state: &impl Persistence) -> Vec<RunningRoom> {
    let Some(store) = state.store() else {
        return Vec::new();
    };
    logged("listing running rooms", "-", store.running_rooms()).unwrap_or_default()
}

/// Codes of the rooms the store holds as running (no snapshots): the
/// cheap list a cluster node checks every second.
pub fn running_codes(state: &impl Persistence) -> Vec<String> {
    let Some(store) = state.store() else {
        return Vec::new();
    };
    logged("listing running rooms", "-", store.running_codes()).unwrap_or_default()
}

/// Running room `code` with its snapshot, for the node that took its lease.
pub fn running_room(state: &impl Persistence, code: &str) -> Option<RunningRoom> {
    let store = state.store()?;
    logged("reading a running room", code, store.running_room(code)).flatten()
}

/// Puts the answers recorded on a restored room's last question back on it
/// (the snapshot has that question as of its last checkpoint), and drops
/// stored answers of later qids, which no snapshot holds.
fn replay_open_question(store: &dyn Store, room: &mut Room) -> crate::live::room::Replayed {
    let code = room.code().to_string();
    let last = room.current_qid().unwrap_or(0);
    logged(
        "dropping answers of a question no snapshot holds",
        &code,
        store.discard_answers_after(&code, last),
    );
    let Some(answers) = logged("reading answers to replay", &code, store.answers(&code)) else {
        return Default::default();
    };
    // Seats taken since the checkpoint (qid 0), and the answers of the
    // last question.
    let records: Vec<AnswerRecord> = answers
        .into_iter()
        .filter(|a| a.qid == 0 || (a.qid == last && last > 0))
        .filter_map(|a| serde_json::from_value(a.payload).ok())
        .collect();
    room.replay(&records)
}

/// An ended room rebuilt from its final snapshot, so a host, a screen or a
/// player reloading after the room left memory gets the final view (or a
/// `room_ended` refusal) instead of `no_room`, for the retention period.
pub fn ended_room(state: &impl Persistence, code: &str) -> Option<Room> {
    let store = state.store()?;
    let snapshot = logged("reading an ended room", code, store.ended_snapshot(code)).flatten()?;
    match Room::restore(snapshot, state.catalog()) {
        Ok(room) if room.is_ended() => Some(room),
        Ok(_) => None,
        Err(e) => {
            crate::metrics::store_error();
            tracing::error!(room = %code, error = %e, "ended room unreadable");
            None
        }
    }
}

/// Results JSON of a room that is no longer live, if `host_token` owns it.
pub fn stored_results(
    state: &impl Persistence,
    code: &str,
    host_token: &str,
) -> Option<serde_json::Value> {
    let store = state.store()?;
    logged(
        "reading stored results",
        code,
        store.results(code, host_token),
    )
    .flatten()
    .map(|r| r.json)
}

/// The stored results of a room that is no longer live, if `host_token`
/// owns it; `Err` when the store cannot be read, so the results API
/// answers `503 store_unavailable` rather than `404`.
pub fn stored_room_results(
    state: &impl Persistence,
    code: &str,
    host_token: &str,
) -> Result<Option<crate::storage::store::StoredResults>, crate::storage::store::StoreError> {
    match state.store() {
        Some(store) => store.results(code, host_token),
        None => Ok(None),
    }
}

/// Results JSON of a room that is no longer live and when it ended, if
/// `token` is its host token or the token of one of its interviewers who
/// was not revoked (the panel is read from the room's final snapshot).
/// `Err` when the store cannot be read (the API answers `503`).
pub fn stored_results_for_panel(
    state: &impl Persistence,
    code: &str,
    token: &str,
) -> Result<Option<(serde_json::Value, Option<Millis>)>, crate::storage::store::StoreError> {
    let Some(store) = state.store() else {
        return Ok(None);
    };
    let stored = match store.results(code, token)? {
        Some(stored) => stored,
        None => {
            let Some(room) = ended_room(state, code) else {
                return Ok(None);
            };
            if !room.is_interviewer_token(token) {
                return Ok(None);
            }
            let Some(stored) = store.results(code, room.host_token())? else {
                return Ok(None);
            };
            stored
        }
    };
    Ok(Some((stored.json, stored.ended_ms)))
}

/// When room `code` ended, if it was purged past retention (its tombstone).
pub fn expired_room(state: &impl Persistence, code: &str) -> Option<Millis> {
    let store = state.store()?;
    logged("reading tombstones", code, store.expired(code)).flatten()
}

/// Results CSV of a room that is no longer live, if `host_token` owns it.
pub fn stored_results_csv(
    state: &impl Persistence,
    code: &str,
    host_token: &str,
) -> Option<String> {
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
pub fn flush_all(state: &impl Persistence) {
    if let Some(store) = state.store() {
        logged("flushing the results database", "-", store.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::room::{Command, RoomOptions};
    use crate::protocol::{ClientMsg, Mode};
    use crate::state::AppState;

    const NOW: u64 = 1_700_000_000_000;

    fn state(dir: &std::path::Path) -> AppState {
        let config = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
        let (catalog, _) = crate::bank::catalog::load_dir(&seeds);
        let store = open_store(&config).unwrap();
        AppState::with_store(config, catalog, Some(store))
    }

    /// Applies a command and stores what it asks for, as the owner task does.
    fn apply(state: &impl Persistence, room: &mut Room, cmd: Command, now: u64) -> Vec<Effect> {
        let effects = room.apply(cmd, now);
        for e in &effects {
            on_effect(state, room, e);
        }
        effects
    }

    fn ask(state: &impl Persistence, room: &mut Room, now: u64) -> u32 {
        let msg = ClientMsg::Ask {
            mode: Some(Mode::SelfAssess),
            topics: Vec::new(),
            question_id: None,
            time_limit_ms: None,
            kinds: None,
            penalty: None,
        };
        apply(state, room, Command::Message { conn: 1, msg }, now);
        room.current_qid().unwrap()
    }

    fn vote(
        state: &impl Persistence,
        room: &mut Room,
        conn: u64,
        qid: u32,
        choice: usize,
        now: u64,
    ) {
        let msg = ClientMsg::Vote {
            qid,
            choice: Some(choice),
            choices: None,
        };
        apply(state, room, Command::Message { conn, msg }, now);
    }

    #[test]
    fn a_room_comes_back_with_its_open_question_and_every_answer() {
        let dir = tempfile::tempdir().unwrap();
        let code = "K7XQ2M".to_string();
        {
            let state = state(dir.path());
            let options = RoomOptions {
                title: "Screening".into(),
                ..RoomOptions::default()
            };
            let mut room = Room::new(code.clone(), "tok".into(), options, state.catalog(), 7);
            on_effect(&state, &mut room, &Effect::Checkpoint);
            let host = ClientMsg::Host {
                room: code.clone(),
                token: "tok".into(),
            };
            apply(
                &state,
                &mut room,
                Command::Hello { conn: 1, msg: host },
                NOW,
            );
            for conn in [2, 3] {
                let join = ClientMsg::Join {
                    room: code.clone(),
                    name: format!("p{conn}"),
                    resume_token: None,
                    sync: false,
                };
                apply(&state, &mut room, Command::Hello { conn, msg: join }, NOW);
            }
            let q1 = ask(&state, &mut room, NOW + 10);
            vote(&state, &mut room, 2, q1, 0, NOW + 20);
            vote(&state, &mut room, 3, q1, 2, NOW + 30);
            let close = Command::Message {
                conn: 1,
                msg: ClientMsg::Close,
            };
            apply(&state, &mut room, close, NOW + 40);
            // A second question is open, with one answer, when the server dies.
            let q2 = ask(&state, &mut room, NOW + 50);
            vote(&state, &mut room, 2, q2, 1, NOW + 60);
            // A player joins after that checkpoint, and votes.
            let join = ClientMsg::Join {
                room: code.clone(),
                name: "late".into(),
                resume_token: None,
                sync: false,
            };
            apply(
                &state,
                &mut room,
                Command::Hello { conn: 4, msg: join },
                NOW + 65,
            );
            vote(&state, &mut room, 4, q2, 1, NOW + 70);
            flush_all(&state);
            let stored = state.store().unwrap().answers(&code).unwrap();
            assert_eq!(stored.iter().filter(|a| a.kind == "vote").count(), 4);
            assert_eq!(stored.iter().filter(|a| a.kind == "seat").count(), 3);
        }

        let state = state(dir.path());
        let rooms = restore_rooms(&state);
        assert_eq!(rooms.len(), 1);
        let room = &rooms[0];
        assert_eq!(room.code(), code);
        assert!(room.is_host_token("tok"));
        assert_eq!(room.boundary_qid(), Some(1));
        let results = room.results();
        assert_eq!(results.questions.len(), 1);
        assert_eq!(results.questions[0].counts, vec![1, 0, 1]);
        // The open question is back, open, with the answer acknowledged on
        // it after its last checkpoint; every stored answer stays.
        assert_eq!(room.current_qid(), Some(2));
        assert!(room.question_open());
        let snap = room.snapshot();
        assert_eq!(snap["asked"][1]["counts"], serde_json::json!([0, 2, 0]));
        assert_eq!(snap["asked"][1]["answered"], 2);
        // The late seat is back, with its token, name and vote.
        assert_eq!(snap["players"].as_array().map(Vec::len), Some(3));
        assert_eq!(snap["players"][2]["name"], "late");
        assert!(snap["asked"][1]["entries"]["3"].is_object(), "{snap}");
        let answers = state.store().unwrap().answers(&code).unwrap();
        assert_eq!(answers.iter().filter(|a| a.kind == "vote").count(), 4);
        // Not live, not ended: no stored results yet.
        assert!(stored_results(&state, &code, "tok").is_none());
    }

    #[test]
    fn an_ended_room_keeps_its_results_and_is_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let code = "ENDED7".to_string();
        {
            let state = state(dir.path());
            let mut room = Room::new(
                code.clone(),
                "tok".into(),
                RoomOptions::default(),
                state.catalog(),
                7,
            );
            let host = ClientMsg::Host {
                room: code.clone(),
                token: "tok".into(),
            };
            apply(
                &state,
                &mut room,
                Command::Hello { conn: 1, msg: host },
                NOW,
            );
            let join = ClientMsg::Join {
                room: code.clone(),
                name: "ann".into(),
                resume_token: None,
                sync: false,
            };
            apply(
                &state,
                &mut room,
                Command::Hello { conn: 2, msg: join },
                NOW,
            );
            let q1 = ask(&state, &mut room, NOW + 10);
            vote(&state, &mut room, 2, q1, 1, NOW + 20);
            let end = Command::Message {
                conn: 1,
                msg: ClientMsg::End,
            };
            let effects = apply(&state, &mut room, end, NOW + 30);
            assert!(effects.iter().any(|e| matches!(e, Effect::Ended)));
        }
        let state = state(dir.path());
        assert!(restore_rooms(&state).is_empty());
        let json = stored_results(&state, &code, "tok").unwrap();
        assert_eq!(json["ended"], true);
        assert_eq!(json["questions"][0]["counts"], serde_json::json!([0, 1, 0]));
        let csv = stored_results_csv(&state, &code, "tok").unwrap();
        assert!(csv.contains("ann"));
        assert!(stored_results(&state, &code, "other").is_none());
        assert!(host_token_known(&state, "tok"));
        assert!(code_taken(&state, &code));
    }

    /// A school day in miniature: finished questions leave memory once
    /// stored, and every view of the room still counts all of them.
    #[test]
    fn finished_questions_leave_memory_and_results_still_count_them() {
        let dir = tempfile::tempdir().unwrap();
        let code = "LONG42".to_string();
        let state = state(dir.path());
        let mut room = Room::new(
            code.clone(),
            "tok".into(),
            RoomOptions::default(),
            state.catalog(),
            7,
        );
        let host = ClientMsg::Host {
            room: code.clone(),
            token: "tok".into(),
        };
        apply(
            &state,
            &mut room,
            Command::Hello { conn: 1, msg: host },
            NOW,
        );
        for conn in [2, 3, 4] {
            let join = ClientMsg::Join {
                room: code.clone(),
                name: format!("p{conn}"),
                resume_token: None,
                sync: false,
            };
            apply(&state, &mut room, Command::Hello { conn, msg: join }, NOW);
        }
        const ROUNDS: u64 = 30;
        for round in 0..ROUNDS {
            let t = NOW + 1_000 * (round + 1);
            let qid = ask(&state, &mut room, t);
            for conn in [2, 3, 4] {
                vote(&state, &mut room, conn, qid, (conn as usize) % 3, t + 10);
            }
            let close = Command::Message {
                conn: 1,
                msg: ClientMsg::Close,
            };
            apply(&state, &mut room, close, t + 20);
            assert!(room.questions_in_memory() <= 2, "round {round}");
        }
        assert!(room.released_count() >= ROUNDS as usize - 1);
        let results = room_results(state.store().map(|s| s.as_ref()), &room).unwrap();
        assert_eq!(results.questions.len(), ROUNDS as usize);
        let qids: Vec<u32> = results.questions.iter().map(|q| q.qid).collect();
        assert_eq!(qids, (1..=ROUNDS as u32).collect::<Vec<_>>());
        for q in &results.questions {
            assert_eq!(q.counts, vec![1, 1, 1], "question {}", q.qid);
        }
        // A draw never repeats a released question.
        let mut ids: Vec<&str> = results
            .questions
            .iter()
            .map(|q| q.question_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ROUNDS as usize);
        let knowledge: u32 = room
            .knowledge()
            .iter()
            .map(|t| t.know + t.partly + t.dont_know)
            .sum();
        assert_eq!(knowledge, 3 * ROUNDS as u32);
        for p in &results.players {
            assert_eq!(p.answered, ROUNDS as u32, "{}", p.name);
        }
        // A restore reads every question back from the checkpoints.
        flush_all(&state);
        let restored = restore_rooms(&state);
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].released_count(), 0);
        assert_eq!(restored[0].questions_in_memory(), ROUNDS as usize);
        let again = restored[0].results();
        assert_eq!(
            serde_json::to_value(&again.questions).unwrap(),
            serde_json::to_value(&results.questions).unwrap()
        );
        // The final results stored at the end hold every question too.
        let end = Command::Message {
            conn: 1,
            msg: ClientMsg::End,
        };
        apply(&state, &mut room, end, NOW + 1_000 * (ROUNDS + 2));
        flush_all(&state);
        let json = stored_results(&state, &code, "tok").unwrap();
        assert_eq!(
            json["questions"].as_array().map(Vec::len),
            Some(ROUNDS as usize)
        );
    }
}
