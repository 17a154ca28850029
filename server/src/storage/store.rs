//! The embedded results database, and the rows every store reads and
//! writes: one SQLite file under the data dir, so results survive a restart
//! or a crash without any outside service (the default; see
//! [`crate::storage::postgres`] for a cluster's shared database).
//!
//! Writes go through one writer thread ([`crate::storage::queue`]) that owns the write connection and
//! commits whatever is queued as one transaction; a room task never waits on
//! the disk for an answer, only at a question boundary (a checkpoint), where
//! it waits until everything it queued before is committed. The database is
//! in WAL mode with `synchronous=NORMAL`: a commit survives the process being
//! killed at any moment (the WAL is written before the commit returns).
//!
//! Answers are keyed by (room, qid, player, kind), so writing an answer again
//! after a restart replaces it instead of counting it twice.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

use crate::protocol::Millis;
use crate::storage::queue::{off_the_runtime, Backend, Op, WriteQueue};
use crate::storage::Store;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "quizroom.sqlite3";

/// How often the checkpointer thread copies the WAL back into the database
/// file. A checkpoint syncs the file to disk, which can take tens of
/// milliseconds; done by the writer, every room waiting for a question
/// boundary's commit waits for it too.
const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL length (in pages) at which the writer itself checkpoints after a
/// commit. Only a checkpoint that copies the whole WAL lets it start over,
/// and under a steady stream of commits only the writer can do that (the
/// background passes always lag a commit or two behind). By the time the
/// writer gets to it, the background passes have copied almost every page,
/// so what the writer does is mostly the sync, a few times less often than
/// with SQLite's default of 1,000 pages. 4,000 pages is 16 MiB.
const WAL_WRITER_CHECKPOINT_PAGES: i64 = 4_000;

/// Schema version stored in `PRAGMA user_version`.
/// Version 2 keeps finished questions of a snapshot in `snapshot_questions`
/// (written once each) instead of inside `rooms.snapshot`; a version-1
/// server would restore such a room without them, so it must refuse.
/// Version 3 stores answers in arrival order (see [`SCHEMA`]); an older
/// server would read a changed poll answer twice.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rooms (
    code         TEXT PRIMARY KEY,
    host_token   TEXT NOT NULL,
    title        TEXT NOT NULL DEFAULT '',
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    ended_ms     INTEGER,
    snapshot     TEXT,
    boundary_qid INTEGER NOT NULL DEFAULT 0,
    results_json TEXT,
    results_csv  TEXT
);
CREATE INDEX IF NOT EXISTS rooms_by_host ON rooms(host_token, created_ms);
CREATE TABLE IF NOT EXISTS answers (
    room    TEXT NOT NULL,
    qid     INTEGER NOT NULL,
    player  INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL,
    at_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_question ON answers(room, qid);
CREATE TABLE IF NOT EXISTS snapshot_questions (
    room  TEXT NOT NULL,
    idx   INTEGER NOT NULL,
    json  TEXT NOT NULL,
    PRIMARY KEY (room, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS question_results (
    room    TEXT NOT NULL,
    qid     INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (room, qid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS expired_rooms (
    code      TEXT PRIMARY KEY,
    ended_ms  INTEGER NOT NULL,
    purged_ms INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Why the results database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("results database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused an operation or could not be reached.
    #[error("results database (PostgreSQL): {}", pg_detail(.0))]
    Postgres(#[from] postgres::Error),
    /// The data dir could not be created.
    #[error("data dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Stored JSON could not be read back.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// PostgreSQL did not answer in time (packets dropped, a frozen
    /// server): the connection was dropped, the next use opens a new one.
    #[error("results database (PostgreSQL) did not answer within {} ms", .0.as_millis())]
    TimedOut(std::time::Duration),
    /// A queued write failed; the writer thread logged the details.
    #[error("results database write failed: {0}")]
    Write(String),
    /// The writer thread has stopped; nothing more can be written.
    #[error("results database writer has stopped")]
    Closed,
    /// Another node took the room over (its fencing epoch in the
    /// database is newer than this node's): this node's write is refused.
    #[error("room {code} is run by another node now; write refused")]
    Fenced { code: String },
    /// The database was written by a newer server.
    #[error("results database schema {found} is newer than this server's {SCHEMA_VERSION}")]
    NewerSchema { found: i64 },
}

impl From<crate::storage::pg_client::PgError> for StoreError {
    fn from(e: crate::storage::pg_client::PgError) -> StoreError {
        use crate::storage::pg_client::PgError;
        match e {
            PgError::Db(e) => StoreError::Postgres(e),
            PgError::TimedOut(after) => StoreError::TimedOut(after),
            PgError::Runtime(e) => StoreError::Write(e.to_string()),
        }
    }
}

impl crate::storage::pg_client::CallError for StoreError {
    fn timed_out(after: std::time::Duration) -> StoreError {
        StoreError::TimedOut(after)
    }

    fn closed() -> StoreError {
        StoreError::Closed
    }
}

/// A PostgreSQL error with the server's own message (its `Display` alone
/// says only "db error").
fn pg_detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// A room as created: who owns it and what it is called.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomRow {
    pub code: String,
    pub host_token: String,
    pub title: String,
    pub created_ms: Millis,
}

/// One answer as it arrived. `kind` tells apart records a player can make
/// for the same question (e.g. `vote` and `peer_vote`), `payload` is the
/// answer itself as the room describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerRow {
    pub room: String,
    pub qid: u32,
    pub player: u32,
    pub kind: String,
    pub payload: serde_json::Value,
    pub at_ms: Millis,
}

/// An answer whose JSON is written by the writer thread, so the room task
/// that counted it pays for neither a JSON tree nor the text: it only moves
/// the answer into the queue.
pub trait AnswerPayload: Send {
    /// The answer as the JSON text stored in `answers.payload`.
    fn to_json(&self) -> Result<String, serde_json::Error>;
}

/// One answer as the room counted it, keyed like [`AnswerRow`]; its payload
/// is serialized on the writer thread.
pub struct QueuedAnswer {
    pub room: std::sync::Arc<str>,
    pub qid: u32,
    pub player: u32,
    pub kind: &'static str,
    pub at_ms: Millis,
    pub payload: Box<dyn AnswerPayload>,
}

/// One finished question of a room's snapshot, stored once in
/// `snapshot_questions` so later checkpoints need not write it again.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenQuestion {
    /// Position in the room's list of asked questions (0-based).
    pub index: u32,
    /// The question as JSON text.
    pub json: String,
}

/// Name of the snapshot field that says how many finished questions live
/// in `snapshot_questions` rather than in the snapshot itself.
pub const FROZEN_FIELD: &str = "frozen_asked";

/// A room at a question boundary: enough to bring it back. Results are not
/// part of it: a running room serves them live (also after a restore), so
/// they are computed and stored once, when the room ends.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRow {
    pub room: RoomRow,
    /// The room's own snapshot as JSON text. When it holds a
    /// [`FROZEN_FIELD`] of n, its `asked` list lacks the first n questions:
    /// they are in `snapshot_questions` (from this or earlier checkpoints)
    /// and are put back in front on restore.
    pub snapshot: String,
    /// Finished questions not stored by an earlier checkpoint.
    pub frozen: Vec<FrozenQuestion>,
    /// The last qid whose question is finished at this boundary; answers to
    /// later qids belong to a question that a restore will not bring back.
    pub boundary_qid: u32,
}

/// A room's results when it ends, as the results endpoint serves them.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalResults {
    pub json: serde_json::Value,
    pub csv: String,
    /// Results of each finished question by qid.
    pub questions: Vec<(u32, serde_json::Value)>,
}

/// Results of a room read back from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResults {
    pub json: serde_json::Value,
    pub csv: String,
    pub ended_ms: Option<Millis>,
}

/// One line of a host's room history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomSummary {
    pub code: String,
    pub title: String,
    pub created_ms: Millis,
    pub ended_ms: Option<Millis>,
    /// Finished questions stored for the room.
    pub questions: u32,
}

/// A room that was running when the server stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningRoom {
    pub code: String,
    pub host_token: String,
    pub snapshot: serde_json::Value,
    pub boundary_qid: u32,
}

/// The embedded results database: one SQLite file under the data dir, the
/// default store, needing no outside service. Share it behind an `Arc`;
/// every method is synchronous and short (reads use their own connection,
/// writes are queued).
pub struct SqliteStore {
    queue: WriteQueue,
    reader: Mutex<Connection>,
    /// Dropped to stop the WAL checkpointer thread.
    wal_stop: Mutex<Option<SyncSender<()>>>,
    wal: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

/// Milliseconds since the UNIX epoch now.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn to_sql(ms: Millis) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

pub(crate) fn from_sql(v: i64) -> Millis {
    u64::try_from(v).unwrap_or(0)
}

/// Whether the database holds the answers table of schema 2 and before,
/// keyed by (room, qid, player, kind), which opening moves to arrival order.
fn keyed_answers_table(tx: &Transaction) -> Result<bool, rusqlite::Error> {
    let sql: Option<String> = tx
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'answers'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(sql.is_some_and(|sql| sql.to_ascii_uppercase().contains("WITHOUT ROWID")))
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `dir`, purges rooms that
    /// ended more than `retention` ago, and starts the writer thread.
    pub fn open(dir: &Path, retention: Duration) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let mut conn = open_connection(&path)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { found: version });
        }
        let tx = conn.transaction()?;
        let keyed = keyed_answers_table(&tx)?;
        if keyed {
            tx.execute_batch("ALTER TABLE answers RENAME TO answers_keyed;")?;
        }
        tx.execute_batch(SCHEMA)?;
        if keyed {
            // Arrival order is what the old key lost; by question and time
            // is as close as it gets.
            tx.execute_batch(
                "INSERT INTO answers (room, qid, player, kind, payload, at_ms)
                 SELECT room, qid, player, kind, payload, at_ms FROM answers_keyed
                 ORDER BY room, qid, at_ms;
                 DROP TABLE answers_keyed;",
            )?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        let purged = purge(&mut conn, now_ms().saturating_sub(retention_ms))?;
        if purged > 0 {
            tracing::info!(purged, "purged rooms past retention");
        }
        let reader = open_connection(&path)?;
        // The checkpointer thread copies WAL pages into the file as they
        // come; the writer only finishes the job now and then.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_WRITER_CHECKPOINT_PAGES)?;
        let checkpointer = open_connection(&path)?;
        let (wal_stop, wal_stopped) = mpsc::sync_channel(1);
        let wal = std::thread::Builder::new()
            .name("quizroom-wal".into())
            .spawn(move || wal_loop(checkpointer, wal_stopped))
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        let queue = WriteQueue::start("quizroom-store", conn, retention_ms).map_err(|source| {
            StoreError::Io {
                path: path.clone(),
                source,
            }
        })?;
        Ok(SqliteStore {
            queue,
            reader: Mutex::new(reader),
            wal_stop: Mutex::new(Some(wal_stop)),
            wal: Mutex::new(Some(wal)),
            path,
        })
    }

    /// Path of the database file (for logs and docs).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("SQLite {}", self.path.display())
    }

    fn room_created(&self, room: RoomRow) -> Result<(), StoreError> {
        self.queue.room_created(room)
    }

    fn record_answer(&self, answer: AnswerRow) -> Result<(), StoreError> {
        self.queue.record_answer(answer)
    }

    fn queue_answer(&self, answer: QueuedAnswer) -> Result<(), StoreError> {
        self.queue.queue_answer(answer)
    }

    fn checkpoint(&self, checkpoint: CheckpointRow) -> Result<(), StoreError> {
        self.queue.checkpoint(checkpoint)
    }

    fn checkpoint_queued(
        &self,
        checkpoint: CheckpointRow,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, StoreError> {
        self.queue.checkpoint_queued(checkpoint)
    }

    fn health(&self) -> tokio::sync::watch::Receiver<bool> {
        self.queue.health()
    }

    fn end_room(
        &self,
        code: &str,
        ended_ms: Millis,
        results: Option<FinalResults>,
    ) -> Result<(), StoreError> {
        self.queue.end_room(code, ended_ms, results)
    }

    fn discard_answers_after(&self, code: &str, qid: u32) -> Result<(), StoreError> {
        self.queue.discard_answers_after(code, qid)
    }

    fn end_rooms_without_checkpoint(&self, ended_ms: Millis) -> Result<(), StoreError> {
        self.queue.end_rooms_without_checkpoint(ended_ms)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.queue.flush()
    }

    fn closing(&self) {
        self.queue.closing();
    }

    fn committed(&self) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, StoreError> {
        self.queue.committed()
    }

    fn mark(
        &self,
        signal: &std::sync::Arc<crate::storage::commit::CommitSignal>,
        mark: u64,
    ) -> Result<(), StoreError> {
        self.queue.mark(signal, mark)
    }

    fn purge_before(&self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        self.queue.purge_before(cutoff_ms)
    }

    /// Final results of ended room `code` if `host_token` owns it.
    fn results(&self, code: &str, host_token: &str) -> Result<Option<StoredResults>, StoreError> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT results_json, results_csv, ended_ms FROM rooms
                     WHERE code = ?1 AND host_token = ?2",
                    params![code, host_token],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                        ))
                    },
                )
                .optional()?;
            // Only an ended room has stored results; a running one serves
            // them live.
            let Some((Some(json), csv, ended)) = row else {
                return Ok(None);
            };
            Ok(Some(StoredResults {
                json: serde_json::from_str(&json)?,
                csv: csv.unwrap_or_default(),
                ended_ms: ended.map(from_sql),
            }))
        })
    }

    /// Whether room `code` is in the database, whoever owns it.
    fn finished_questions(&self, code: &str, n: usize) -> Result<Vec<String>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let n = n as u64;
        off_the_runtime(|| self.read(|c| checked_rows(code, n, frozen_rows(c, code, n)?)))
    }

    fn expired(&self, code: &str) -> Result<Option<Millis>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT ended_ms FROM expired_rooms WHERE code = ?1",
                [code],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(from_sql))
        })
    }

    fn room_exists(&self, code: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT 1 FROM rooms WHERE code = ?1", [code], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
    }

    /// Whether any room was created with `host_token`, so a host may reuse
    /// it for a new room.
    fn host_token_known(&self, host_token: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM rooms WHERE host_token = ?1 LIMIT 1",
                [host_token],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    /// Rooms created with `host_token`, newest first.
    fn rooms_of_host(&self, host_token: &str) -> Result<Vec<RoomSummary>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.code, r.title, r.created_ms, r.ended_ms,
                        CASE WHEN r.results_json IS NULL THEN r.boundary_qid
                             ELSE (SELECT COUNT(*) FROM question_results q WHERE q.room = r.code)
                        END
                 FROM rooms r WHERE r.host_token = ?1
                 ORDER BY r.created_ms DESC, r.code LIMIT 1000",
            )?;
            let rows = stmt.query_map([host_token], |r| {
                Ok(RoomSummary {
                    code: r.get(0)?,
                    title: r.get(1)?,
                    created_ms: from_sql(r.get(2)?),
                    ended_ms: r.get::<_, Option<i64>>(3)?.map(from_sql),
                    questions: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Rooms that have a checkpoint and have not ended: the ones to restore.
    fn running_codes(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT code FROM rooms WHERE ended_ms IS NULL AND snapshot IS NOT NULL",
            )?;
            let codes = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(codes)
        })
    }

    /// Only a cluster takes rooms over one by one, and a cluster runs on
    /// PostgreSQL: here it is the full list, filtered.
    fn running_room(&self, code: &str) -> Result<Option<RunningRoom>, StoreError> {
        Ok(self.running_rooms()?.into_iter().find(|r| r.code == code))
    }

    fn running_rooms(&self) -> Result<Vec<RunningRoom>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT code, host_token, snapshot, boundary_qid FROM rooms
                 WHERE ended_ms IS NULL AND snapshot IS NOT NULL ORDER BY created_ms",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (code, host_token, snapshot, qid) = row?;
                match serde_json::from_str(&snapshot)
                    .map_err(StoreError::from)
                    .and_then(|snapshot| with_frozen_questions(c, &code, snapshot))
                {
                    Ok(snapshot) => out.push(RunningRoom {
                        code,
                        host_token,
                        snapshot,
                        boundary_qid: u32::try_from(qid).unwrap_or(0),
                    }),
                    Err(e) => {
                        crate::metrics::store_error();
                        tracing::error!(room = %code, error = %e, "unreadable snapshot, not restored");
                    }
                }
            }
            Ok(out)
        })
    }

    /// The last snapshot of ended room `code`, finished questions spliced
    /// back in: what its final screens are rebuilt from after the room left
    /// memory. `None` when the room is unknown, still running or purged.
    fn ended_snapshot(&self, code: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(|c| {
            let snapshot: Option<String> = c
                .prepare_cached(
                    "SELECT snapshot FROM rooms
                     WHERE code = ?1 AND ended_ms IS NOT NULL AND snapshot IS NOT NULL",
                )?
                .query_row([code], |r| r.get(0))
                .optional()?;
            let Some(snapshot) = snapshot else {
                return Ok(None);
            };
            let snapshot = serde_json::from_str(&snapshot)?;
            Ok(Some(with_frozen_questions(c, code, snapshot)?))
        })
    }

    /// Every stored answer of `code`, in (qid, player, kind) order: the
    /// latest row of each, as rows are only ever added.
    fn answers(&self, code: &str) -> Result<Vec<AnswerRow>, StoreError> {
        self.read(|c| {
            // With MAX(rowid), SQLite takes the other columns from the
            // row holding the maximum: the answer written last.
            let mut stmt = c.prepare_cached(
                "SELECT qid, player, kind, payload, at_ms, MAX(rowid) FROM answers
                 WHERE room = ?1 GROUP BY qid, player, kind ORDER BY qid, player, kind",
            )?;
            let rows = stmt.query_map([code], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (qid, player, kind, payload, at) = row?;
                out.push(AnswerRow {
                    room: code.to_string(),
                    qid: u32::try_from(qid).unwrap_or(0),
                    player: u32::try_from(player).unwrap_or(0),
                    kind,
                    payload: serde_json::from_str(&payload)?,
                    at_ms: from_sql(at),
                });
            }
            Ok(out)
        })
    }

    /// Results of finished questions of `code`, by qid.
    fn question_results(&self, code: &str) -> Result<Vec<(u32, serde_json::Value)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT qid, payload FROM question_results WHERE room = ?1 ORDER BY qid",
            )?;
            let rows = stmt.query_map([code], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (qid, payload) = row?;
                out.push((
                    u32::try_from(qid).unwrap_or(0),
                    serde_json::from_str(&payload)?,
                ));
            }
            Ok(out)
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.queue.stop();
        // After the writer: the checkpointer's last pass takes its final
        // commits into the database file.
        drop(
            self.wal_stop
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let handle = self.wal.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// One passive WAL checkpoint; returns the WAL's length and how much of it
/// is now in the database file, in pages. A failure is logged and counted,
/// and the next pass tries again.
fn checkpoint_wal(conn: &Connection) -> Option<(i64, i64)> {
    let started = Instant::now();
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok(pages) => {
            crate::metrics::store_wal_checkpoint(started.elapsed().as_secs_f64());
            Some(pages)
        }
        Err(e) => {
            crate::metrics::store_error();
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying later");
            None
        }
    }
}

/// Copies committed pages from the WAL into the database file every
/// [`WAL_CHECKPOINT_EVERY`], on its own connection and thread, until its
/// stop channel closes; then once more. `PASSIVE` never blocks the writer
/// or readers; the writer's own checkpoint at
/// [`WAL_WRITER_CHECKPOINT_PAGES`] then finds little left to copy.
fn wal_loop(conn: Connection, stop: Receiver<()>) {
    loop {
        let last = !matches!(
            stop.recv_timeout(WAL_CHECKPOINT_EVERY),
            Err(RecvTimeoutError::Timeout)
        );
        let _ = checkpoint_wal(&conn);
        if last {
            return;
        }
    }
}

/// Puts a snapshot's finished questions back in front of its `asked` list
/// (see [`CheckpointRow::snapshot`]). A snapshot without [`FROZEN_FIELD`]
/// (older checkpoints) is complete as it is.
fn with_frozen_questions(
    c: &Connection,
    code: &str,
    snapshot: serde_json::Value,
) -> Result<serde_json::Value, StoreError> {
    with_frozen_rows(code, snapshot, |n| frozen_rows(c, code, n))
}

/// The stored (index, JSON) rows of `code`'s finished questions below `n`.
fn frozen_rows(c: &Connection, code: &str, n: u64) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT idx, json FROM snapshot_questions WHERE room = ?1 AND idx < ?2 ORDER BY idx",
    )?;
    let rows = stmt.query_map(params![code, to_sql(n)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The store-independent half of [`with_frozen_questions`]: `fetch(n)`
/// returns the stored (index, JSON) rows below `n` in index order; they must
/// be exactly `0..n`, or the room is not restored.
pub(crate) fn with_frozen_rows(
    code: &str,
    mut snapshot: serde_json::Value,
    fetch: impl FnOnce(u64) -> Result<Vec<(i64, String)>, StoreError>,
) -> Result<serde_json::Value, StoreError> {
    let Some(frozen) = snapshot.get(FROZEN_FIELD) else {
        return Ok(snapshot);
    };
    let missing = |what: String| StoreError::Write(format!("snapshot of {code}: {what}"));
    let n = frozen
        .as_u64()
        .ok_or_else(|| missing(format!("{FROZEN_FIELD} is not a count")))?;
    let frozen = checked_rows(code, n, fetch(n)?)?
        .iter()
        .map(|json| serde_json::from_str::<serde_json::Value>(json))
        .collect::<Result<Vec<_>, _>>()?;
    splice_frozen(&mut snapshot, frozen).map_err(missing)?;
    Ok(snapshot)
}

/// The JSON of stored (index, JSON) rows of `code`'s finished questions,
/// which must be exactly `0..n` in order.
pub(crate) fn checked_rows(
    code: &str,
    n: u64,
    rows: Vec<(i64, String)>,
) -> Result<Vec<String>, StoreError> {
    let missing = |what: String| StoreError::Write(format!("snapshot of {code}: {what}"));
    let mut frozen = Vec::new();
    for (idx, json) in rows {
        if u64::try_from(idx).ok() != Some(frozen.len() as u64) {
            return Err(missing(format!(
                "finished question {} is missing",
                frozen.len()
            )));
        }
        frozen.push(json);
    }
    if frozen.len() as u64 != n {
        return Err(missing(format!(
            "{} of {n} finished questions stored",
            frozen.len()
        )));
    }
    Ok(frozen)
}

/// Puts `frozen` (the first questions, in order) in front of the snapshot's
/// `asked` list and drops [`FROZEN_FIELD`]: the inverse of how a room splits
/// its snapshot for a checkpoint.
pub fn splice_frozen(
    snapshot: &mut serde_json::Value,
    mut frozen: Vec<serde_json::Value>,
) -> Result<(), String> {
    let obj = snapshot
        .as_object_mut()
        .ok_or_else(|| "snapshot is not an object".to_string())?;
    obj.remove(FROZEN_FIELD);
    let rest = obj
        .get_mut("asked")
        .and_then(|a| a.as_array_mut())
        .ok_or_else(|| "snapshot has no asked list".to_string())?;
    frozen.append(rest);
    *rest = frozen;
    Ok(())
}

fn upsert_room(tx: &Transaction<'_>, room: &RoomRow, now: Millis) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO rooms (code, host_token, title, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(code) DO UPDATE SET title = excluded.title, updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        room.code,
        room.host_token,
        room.title,
        to_sql(room.created_ms),
        to_sql(now)
    ])?;
    Ok(())
}

fn apply(tx: &Transaction<'_>, op: &Op, now: Millis) -> rusqlite::Result<()> {
    match op {
        Op::Created(room) => {
            // A code reused after its old room ended: the old room's rows go,
            // so a new owner never sees (or inherits) them.
            for table in ["answers", "question_results", "snapshot_questions"] {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE room = ?1 AND EXISTS
                         (SELECT 1 FROM rooms WHERE code = ?1 AND host_token != ?2)"
                    ),
                    params![room.code, room.host_token],
                )?;
            }
            tx.execute(
                "DELETE FROM rooms WHERE code = ?1 AND host_token != ?2",
                params![room.code, room.host_token],
            )?;
            // The code is someone's again: its old links are no longer "expired".
            tx.execute("DELETE FROM expired_rooms WHERE code = ?1", [&room.code])?;
            upsert_room(tx, room, now)
        }
        Op::Answer(a) => upsert_answer(
            tx,
            AnswerKey {
                room: &a.room,
                qid: a.qid,
                player: a.player,
                kind: &a.kind,
                at_ms: a.at_ms,
            },
            &a.payload.to_string(),
        ),
        Op::Queued(a) => {
            let payload = a
                .payload
                .to_json()
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let key = AnswerKey {
                room: &a.room,
                qid: a.qid,
                player: a.player,
                kind: a.kind,
                at_ms: a.at_ms,
            };
            upsert_answer(tx, key, &payload)
        }
        Op::Checkpoint(cp, _) => {
            upsert_room(tx, &cp.room, now)?;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO snapshot_questions (room, idx, json) VALUES (?1, ?2, ?3)
                 ON CONFLICT(room, idx) DO UPDATE SET json = excluded.json",
            )?;
            for q in &cp.frozen {
                stmt.execute(params![cp.room.code, q.index, q.json])?;
            }
            tx.prepare_cached(
                "UPDATE rooms SET snapshot = ?2, boundary_qid = ?3, updated_ms = ?4
                 WHERE code = ?1",
            )?
            .execute(params![
                cp.room.code,
                cp.snapshot,
                cp.boundary_qid,
                to_sql(now)
            ])?;
            Ok(())
        }
        Op::Ended {
            code,
            ended_ms,
            results,
        } => {
            tx.prepare_cached("UPDATE rooms SET ended_ms = ?2, updated_ms = ?3 WHERE code = ?1")?
                .execute(params![code, to_sql(*ended_ms), to_sql(now)])?;
            if let Some(results) = results {
                tx.prepare_cached(
                    "UPDATE rooms SET results_json = ?2, results_csv = ?3 WHERE code = ?1",
                )?
                .execute(params![code, results.json.to_string(), results.csv])?;
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO question_results (room, qid, payload) VALUES (?1, ?2, ?3)
                     ON CONFLICT(room, qid) DO UPDATE SET payload = excluded.payload",
                )?;
                for (qid, payload) in &results.questions {
                    stmt.execute(params![code, qid, payload.to_string()])?;
                }
            }
            Ok(())
        }
        Op::DiscardAfter { code, qid } => {
            tx.prepare_cached("DELETE FROM answers WHERE room = ?1 AND qid > ?2")?
                .execute(params![code, qid])?;
            Ok(())
        }
        Op::EndUnrestorable { ended_ms } => {
            tx.prepare_cached(
                "UPDATE rooms SET ended_ms = ?1 WHERE ended_ms IS NULL AND snapshot IS NULL",
            )?
            .execute([to_sql(*ended_ms)])?;
            Ok(())
        }
        Op::Flush(_) | Op::Committed(_) | Op::Mark(..) | Op::Purge { .. } | Op::Stop => Ok(()),
    }
}

fn purge(conn: &mut Connection, cutoff_ms: Millis) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let cutoff = to_sql(cutoff_ms);
    tx.execute(
        "CREATE TEMP TABLE IF NOT EXISTS purge_codes (code TEXT PRIMARY KEY)",
        [],
    )?;
    tx.execute("DELETE FROM purge_codes", [])?;
    let n = tx.execute(
        "INSERT INTO purge_codes SELECT code FROM rooms
         WHERE COALESCE(ended_ms, updated_ms) < ?1",
        [cutoff],
    )?;
    // A tombstone per purged room, so its links answer `expired` rather
    // than `not_found`; tombstones go after `TOMBSTONE_MS` more.
    tx.execute(
        "INSERT OR REPLACE INTO expired_rooms (code, ended_ms, purged_ms)
         SELECT code, COALESCE(ended_ms, updated_ms), ?1 FROM rooms
         WHERE code IN (SELECT code FROM purge_codes)",
        [to_sql(now_ms())],
    )?;
    tx.execute(
        "DELETE FROM expired_rooms WHERE purged_ms < ?1",
        [to_sql(cutoff_ms.saturating_sub(super::TOMBSTONE_MS))],
    )?;
    tx.execute(
        "DELETE FROM answers WHERE room IN (SELECT code FROM purge_codes)",
        [],
    )?;
    tx.execute(
        "DELETE FROM question_results WHERE room IN (SELECT code FROM purge_codes)",
        [],
    )?;
    tx.execute(
        "DELETE FROM snapshot_questions WHERE room IN (SELECT code FROM purge_codes)",
        [],
    )?;
    tx.execute(
        "DELETE FROM rooms WHERE code IN (SELECT code FROM purge_codes)",
        [],
    )?;
    tx.commit()?;
    Ok(n)
}

/// The SQLite writer: the write connection, owned by the writer thread.
impl Backend for Connection {
    fn write_batch(&mut self, batch: &[Op]) -> Result<Vec<bool>, StoreError> {
        Ok(write_batch(self, batch)?)
    }

    fn purge(&mut self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        Ok(purge(self, cutoff_ms)?)
    }
}

/// Which answer a row is, and when it arrived.
struct AnswerKey<'a> {
    room: &'a str,
    qid: u32,
    player: u32,
    kind: &'a str,
    at_ms: Millis,
}

/// Stores one answer as a new row at the end of the table. Writing the
/// same (room, question, player, kind) again adds a row that replaces the
/// earlier one for every reader ([`SqliteStore::answers`] keeps the last),
/// so an answer is never counted twice. A vote storm lands its answers in
/// random player order: keyed by player, every commit rewrote pages all
/// over the table's B-tree; in arrival order it appends to the last pages
/// of the table and of its (room, qid) index.
fn upsert_answer(tx: &Transaction, key: AnswerKey, payload: &str) -> Result<(), rusqlite::Error> {
    let AnswerKey {
        room,
        qid,
        player,
        kind,
        at_ms,
    } = key;
    tx.prepare_cached(
        "INSERT INTO answers (room, qid, player, kind, payload, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![room, qid, player, kind, payload, to_sql(at_ms)])?;
    Ok(())
}

/// Applies a batch in one transaction; returns, per op, whether it was
/// applied (one bad row must not lose the rest of the batch).
fn write_batch(conn: &mut Connection, batch: &[Op]) -> Result<Vec<bool>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let now = now_ms();
    let mut applied = Vec::with_capacity(batch.len());
    for op in batch {
        match apply(&tx, op, now) {
            Ok(()) => applied.push(true),
            Err(e) => {
                crate::metrics::store_error();
                tracing::error!(error = %e, "results database row refused");
                applied.push(false);
            }
        }
    }
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpointer_copies_the_wal_without_the_writer() {
        let dir = std::env::temp_dir().join(format!("quizroom-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(DB_FILE);
        let writer = open_connection(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES (zeroblob(20000));")
            .unwrap();
        let checkpointer = open_connection(&path).unwrap();
        let (log, copied) = checkpoint_wal(&checkpointer).unwrap();
        assert!(log > 0, "the writer's commits are in the WAL");
        assert_eq!(
            copied, log,
            "an idle writer lets a passive pass copy everything"
        );
        drop((writer, checkpointer));
        let _ = std::fs::remove_dir_all(&dir);
    }
    use serde_json::json;

    fn open(dir: &Path) -> SqliteStore {
        SqliteStore::open(dir, Duration::from_secs(24 * 3600)).unwrap()
    }

    fn room(code: &str, token: &str, created_ms: Millis) -> RoomRow {
        RoomRow {
            code: code.into(),
            host_token: token.into(),
            title: format!("Room {code}"),
            created_ms,
        }
    }

    fn answer(code: &str, qid: u32, player: u32, choice: u32) -> AnswerRow {
        AnswerRow {
            room: code.into(),
            qid,
            player,
            kind: "vote".into(),
            payload: json!({ "choice": choice }),
            at_ms: 1000 + u64::from(choice),
        }
    }

    fn checkpoint(code: &str, token: &str, qid: u32) -> CheckpointRow {
        CheckpointRow {
            room: room(code, token, now_ms()),
            snapshot: json!({ "code": code, "asked": qid }).to_string(),
            frozen: Vec::new(),
            boundary_qid: qid,
        }
    }

    fn final_results(questions: u32) -> FinalResults {
        FinalResults {
            json: json!({ "ended": true, "questions": questions }),
            csv: format!("qid\n{questions}\n"),
            questions: (1..=questions).map(|q| (q, json!({ "qid": q }))).collect(),
        }
    }

    #[test]
    fn answers_are_never_counted_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.room_created(room("ABCDEF", "tok", now_ms())).unwrap();
        store.record_answer(answer("ABCDEF", 1, 7, 0)).unwrap();
        // The same answer again (as after a restart) and a changed poll vote.
        store.record_answer(answer("ABCDEF", 1, 7, 0)).unwrap();
        store.record_answer(answer("ABCDEF", 1, 8, 1)).unwrap();
        store.record_answer(answer("ABCDEF", 1, 8, 2)).unwrap();
        store.flush().unwrap();
        let rows = store.answers("ABCDEF").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].player, 7);
        assert_eq!(rows[1].payload, json!({ "choice": 2 }));
    }

    #[test]
    fn checkpoint_survives_reopen_and_restores_running_rooms() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.checkpoint(checkpoint("ROOM22", "tok", 1)).unwrap();
            store.checkpoint(checkpoint("ROOM22", "tok", 2)).unwrap();
            store.checkpoint(checkpoint("ENDED2", "tok", 1)).unwrap();
            store
                .end_room("ENDED2", now_ms(), Some(final_results(1)))
                .unwrap();
        }
        let store = open(dir.path());
        let running = store.running_rooms().unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].code, "ROOM22");
        assert_eq!(running[0].boundary_qid, 2);
        assert_eq!(running[0].snapshot, json!({ "code": "ROOM22", "asked": 2 }));
        // A running room serves its results live; nothing stored yet.
        assert!(store.results("ROOM22", "tok").unwrap().is_none());
        let ended = store.results("ENDED2", "tok").unwrap().unwrap();
        assert_eq!(ended.json, json!({ "ended": true, "questions": 1 }));
        assert_eq!(ended.csv, "qid\n1\n");
        assert!(ended.ended_ms.is_some());
        assert_eq!(store.question_results("ENDED2").unwrap().len(), 1);
    }

    #[test]
    fn finished_questions_are_written_once_and_put_back_on_restore() {
        let dir = tempfile::tempdir().unwrap();
        let frozen = |index: u32| FrozenQuestion {
            index,
            json: json!({ "qid": index + 1 }).to_string(),
        };
        {
            let store = open(dir.path());
            let mut cp = checkpoint("ROOM44", "tok", 2);
            cp.snapshot =
                json!({ "code": "ROOM44", "asked": [{ "qid": 3 }], FROZEN_FIELD: 2 }).to_string();
            cp.frozen = vec![frozen(0), frozen(1)];
            store.checkpoint(cp).unwrap();
            // The next boundary writes only what changed.
            let mut cp = checkpoint("ROOM44", "tok", 3);
            cp.snapshot =
                json!({ "code": "ROOM44", "asked": [{ "qid": 4 }], FROZEN_FIELD: 3 }).to_string();
            cp.frozen = vec![FrozenQuestion {
                index: 2,
                json: json!({ "qid": 3, "final": true }).to_string(),
            }];
            store.checkpoint(cp).unwrap();
        }
        let store = open(dir.path());
        let running = store.running_rooms().unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(
            running[0].snapshot,
            json!({ "code": "ROOM44", "asked": [
                { "qid": 1 }, { "qid": 2 }, { "qid": 3, "final": true }, { "qid": 4 }
            ] })
        );
    }

    #[test]
    fn a_snapshot_missing_its_finished_questions_is_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut cp = checkpoint("ROOM55", "tok", 2);
        cp.snapshot = json!({ "code": "ROOM55", "asked": [], FROZEN_FIELD: 2 }).to_string();
        cp.frozen = vec![FrozenQuestion {
            index: 1,
            json: "{}".into(),
        }];
        store.checkpoint(cp).unwrap();
        assert!(store.running_rooms().unwrap().is_empty());
    }

    #[test]
    fn a_refused_checkpoint_is_reported_to_its_caller() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .read(|c| {
                c.execute_batch(
                    "CREATE TRIGGER IF NOT EXISTS refuse BEFORE UPDATE OF snapshot ON rooms
                     BEGIN SELECT RAISE(ABORT, 'refused'); END;",
                )?;
                Ok(())
            })
            .unwrap();
        assert!(store.checkpoint(checkpoint("ROOM66", "tok", 1)).is_err());
        // The queue keeps working for everything else.
        store.record_answer(answer("ROOM66", 1, 1, 0)).unwrap();
        store.flush().unwrap();
        assert_eq!(store.answers("ROOM66").unwrap().len(), 1);
    }

    #[test]
    fn a_queued_answer_is_committed_without_anyone_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.record_answer(answer("ROOM77", 1, 1, 0)).unwrap();
        let started = Instant::now();
        let mut seen = 0;
        for _ in 0..2000 {
            seen = store.answers("ROOM77").unwrap().len();
            if seen == 1 || started.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(seen, 1, "the lingering batch was never committed");
    }

    #[test]
    fn results_need_the_owning_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.checkpoint(checkpoint("ROOM33", "right", 1)).unwrap();
        store
            .end_room("ROOM33", now_ms(), Some(final_results(1)))
            .unwrap();
        assert!(store.results("ROOM33", "wrong").unwrap().is_none());
        assert!(store.results("NOROOM", "right").unwrap().is_none());
        let r = store.results("ROOM33", "right").unwrap().unwrap();
        assert_eq!(r.json, json!({ "ended": true, "questions": 1 }));
        assert!(r.ended_ms.is_some());
        assert!(store.host_token_known("right").unwrap());
        assert!(!store.host_token_known("wrong").unwrap());
    }

    #[test]
    fn a_host_lists_its_own_rooms_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.room_created(room("AAAAAA", "mine", 10)).unwrap();
        store.room_created(room("BBBBBB", "mine", 20)).unwrap();
        store.room_created(room("CCCCCC", "other", 30)).unwrap();
        let mut cp = checkpoint("AAAAAA", "mine", 3);
        cp.room.created_ms = 10;
        store.checkpoint(cp).unwrap();
        let rooms = store.rooms_of_host("mine").unwrap();
        let codes: Vec<_> = rooms.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["BBBBBB", "AAAAAA"]);
        assert_eq!(rooms[1].questions, 3);
        assert_eq!(rooms[1].ended_ms, None);
        assert_eq!(rooms[0].questions, 0);
        // Once ended, the count comes from the stored results.
        store
            .end_room("AAAAAA", 99, Some(final_results(2)))
            .unwrap();
        let rooms = store.rooms_of_host("mine").unwrap();
        assert_eq!(rooms[1].questions, 2);
        assert_eq!(rooms[1].ended_ms, Some(99));
    }

    #[test]
    fn a_reused_code_does_not_inherit_the_old_room() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.checkpoint(checkpoint("AAAAAA", "first", 2)).unwrap();
        store.record_answer(answer("AAAAAA", 1, 1, 0)).unwrap();
        store
            .end_room("AAAAAA", now_ms(), Some(final_results(2)))
            .unwrap();
        store.room_created(room("AAAAAA", "second", 20)).unwrap();
        store.flush().unwrap();
        assert!(store.results("AAAAAA", "first").unwrap().is_none());
        assert!(store.rooms_of_host("first").unwrap().is_empty());
        let fresh = store.rooms_of_host("second").unwrap();
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].ended_ms, None);
        assert!(store.answers("AAAAAA").unwrap().is_empty());
        assert!(store.question_results("AAAAAA").unwrap().is_empty());
        // Creating it again with the same token keeps what it has.
        store.record_answer(answer("AAAAAA", 1, 1, 0)).unwrap();
        store.room_created(room("AAAAAA", "second", 20)).unwrap();
        store.flush().unwrap();
        assert_eq!(store.answers("AAAAAA").unwrap().len(), 1);
    }

    #[test]
    fn unfinished_answers_are_discarded_on_restore() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.checkpoint(checkpoint("ROOM44", "tok", 1)).unwrap();
        store.record_answer(answer("ROOM44", 1, 1, 0)).unwrap();
        store.record_answer(answer("ROOM44", 2, 1, 0)).unwrap();
        store.discard_answers_after("ROOM44", 1).unwrap();
        let rows = store.answers("ROOM44").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].qid, 1);
    }

    #[test]
    fn lobby_rooms_without_a_checkpoint_are_ended_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.room_created(room("LOBBY1", "tok", 10)).unwrap();
        store.checkpoint(checkpoint("GAME11", "tok", 1)).unwrap();
        store.end_rooms_without_checkpoint(99).unwrap();
        let running = store.running_rooms().unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].code, "GAME11");
        let history = store.rooms_of_host("tok").unwrap();
        let lobby = history.iter().find(|r| r.code == "LOBBY1").unwrap();
        assert_eq!(lobby.ended_ms, Some(99));
    }

    #[test]
    fn purge_removes_only_rooms_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.checkpoint(checkpoint("OLD111", "tok", 1)).unwrap();
        store.record_answer(answer("OLD111", 1, 1, 0)).unwrap();
        store
            .end_room("OLD111", 1_000, Some(final_results(1)))
            .unwrap();
        store.checkpoint(checkpoint("NEW111", "tok", 1)).unwrap();
        store.end_room("NEW111", now_ms(), None).unwrap();
        store.checkpoint(checkpoint("LIVE11", "tok", 1)).unwrap();
        let purged = store.purge_before(now_ms() - 60_000).unwrap();
        assert_eq!(purged, 1);
        assert!(!store.room_exists("OLD111").unwrap());
        assert!(store.answers("OLD111").unwrap().is_empty());
        assert!(store.question_results("OLD111").unwrap().is_empty());
        assert!(store.room_exists("NEW111").unwrap());
        assert!(store.room_exists("LIVE11").unwrap());
        // The purged room leaves a tombstone with its end; the kept ones none.
        assert_eq!(store.expired("OLD111").unwrap(), Some(1_000));
        assert_eq!(store.expired("NEW111").unwrap(), None);
        // A new room taking the code clears it: its links are no longer gone.
        store
            .room_created(room("OLD111", "other", now_ms()))
            .unwrap();
        store.flush().unwrap();
        assert_eq!(store.expired("OLD111").unwrap(), None);
    }

    #[test]
    fn reopening_purges_expired_rooms() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.checkpoint(checkpoint("OLD222", "tok", 1)).unwrap();
            store.end_room("OLD222", 5, None).unwrap();
        }
        let store = open(dir.path());
        assert!(!store.room_exists("OLD222").unwrap());
    }

    #[test]
    fn answers_of_a_version_2_database_are_kept_in_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE answers (
                    room TEXT NOT NULL, qid INTEGER NOT NULL, player INTEGER NOT NULL,
                    kind TEXT NOT NULL, payload TEXT NOT NULL, at_ms INTEGER NOT NULL,
                    PRIMARY KEY (room, qid, player, kind)
                 ) WITHOUT ROWID;
                 INSERT INTO answers VALUES ('ROOM55', 1, 8, 'vote', '{\"choice\":1}', 20);
                 INSERT INTO answers VALUES ('ROOM55', 1, 7, 'vote', '{\"choice\":0}', 10);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let store = open(dir.path());
        let rows = store.answers("ROOM55").unwrap();
        let got: Vec<(u32, serde_json::Value)> =
            rows.iter().map(|r| (r.player, r.payload.clone())).collect();
        assert_eq!(got, [(7, json!({"choice": 0})), (8, json!({"choice": 1}))]);
        // A later answer of the same key replaces the migrated one.
        store.record_answer(answer("ROOM55", 1, 7, 2)).unwrap();
        store.flush().unwrap();
        let rows = store.answers("ROOM55").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].payload, json!({ "choice": 2 }));
        drop(store);
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let (version, sql): (i64, String) = conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), sql
                 FROM sqlite_master WHERE type = 'table' AND name = 'answers'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert!(!sql.to_ascii_uppercase().contains("WITHOUT ROWID"), "{sql}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = SqliteStore::open(dir.path(), Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::NewerSchema { found: 99 }));
    }
}
