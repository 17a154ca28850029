//! The results store on PostgreSQL: the database every node of a cluster
//! shares, so results, history and checkpoints are the same on each node
//! and a room can be restored by a node other than the one that ran it.
//!
//! It keeps the embedded store's threading: one writer thread owns a
//! connection and commits queued writes in batches ([`WriteQueue`]), and a
//! reader thread owns another connection for queries. A blocking
//! connection fits that model exactly (a connection per thread, no pool, no
//! tasks on the server's runtime competing with sockets): each is a
//! [`PgClient`](crate::storage::pg_client::PgClient), `tokio-postgres` on a
//! small runtime of its own with a deadline on every round trip.
//!
//! A connection that breaks, or does not answer in time, is opened again on
//! the next use, so the store comes back by itself after the database
//! restarts or a network partition heals; a read never waits longer than
//! [`READ_WAIT`].

use std::collections::HashMap;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_postgres::Statement;

use crate::protocol::Millis;
use crate::storage::pg_client::{
    self, PgClient as Client, PgTransaction as Transaction, SLOW_TIMEOUT,
};
use crate::storage::queue::{off_the_runtime, Backend, Op, WriteQueue};
use crate::storage::store::{
    checked_rows, from_sql, now_ms, to_sql, with_frozen_rows, AnswerRow, CheckpointRow,
    FinalResults, QueuedAnswer, RoomRow, RoomSummary, RunningRoom, StoreError, StoredResults,
};
use crate::storage::Store;

/// Version of the tables below, kept in `quizroom_schema`. It moves with
/// the SQLite schema's version: both stores hold the same rows.
pub const SCHEMA_VERSION: i64 = 2;

/// Key of the advisory lock that serializes schema creation, so nodes of a
/// cluster starting together do not race on `CREATE TABLE`.
const SCHEMA_LOCK: i64 = 0x7175_697a_726f_6f6d; // "quizroom"

/// Longest a caller waits for a read (results, history, a room to
/// restore), its turn on the reader thread included: past it the caller
/// gets [`StoreError::TimedOut`] (HTTP answers `503 store_unavailable`)
/// rather than waiting on a database that stopped answering. Each round
/// trip on the reader's connection is bounded too
/// ([`crate::storage::pg_client::QUERY_TIMEOUT`]), so a hung connection is
/// dropped and the next read opens a fresh one.
pub const READ_WAIT: Duration = Duration::from_millis(2_500);

/// TCP connect part of opening a connection (the whole of it, startup
/// included, is bounded by [`crate::storage::pg_client::CONNECT_TIMEOUT`]).
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS quizroom_schema (version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
    code         TEXT PRIMARY KEY,
    host_token   TEXT NOT NULL,
    title        TEXT NOT NULL DEFAULT '',
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    ended_ms     BIGINT,
    snapshot     TEXT,
    boundary_qid BIGINT NOT NULL DEFAULT 0,
    results_json TEXT,
    results_csv  TEXT,
    epoch        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rooms_by_host ON rooms(host_token, created_ms);
CREATE INDEX IF NOT EXISTS rooms_running ON rooms(code)
    WHERE ended_ms IS NULL AND snapshot IS NOT NULL;
CREATE TABLE IF NOT EXISTS answers (
    room    TEXT NOT NULL,
    qid     BIGINT NOT NULL,
    player  BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (room, qid, player, kind)
);
CREATE TABLE IF NOT EXISTS snapshot_questions (
    room  TEXT NOT NULL,
    idx   BIGINT NOT NULL,
    json  TEXT NOT NULL,
    PRIMARY KEY (room, idx)
);
CREATE TABLE IF NOT EXISTS question_results (
    room    TEXT NOT NULL,
    qid     BIGINT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (room, qid)
);
CREATE TABLE IF NOT EXISTS expired_rooms (
    code      TEXT PRIMARY KEY,
    ended_ms  BIGINT NOT NULL,
    purged_ms BIGINT NOT NULL
);
";

const UPSERT_ANSWER: &str = "INSERT INTO answers (room, qid, player, kind, payload, at_ms)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (room, qid, player, kind)
     DO UPDATE SET payload = excluded.payload, at_ms = excluded.at_ms";

const UPSERT_ROOM: &str = "INSERT INTO rooms (code, host_token, title, created_ms, updated_ms)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (code) DO UPDATE SET title = excluded.title, updated_ms = excluded.updated_ms";

/// Fencing of a cluster's rooms: each room row holds an `epoch`, raised
/// by every node that takes the room over ([`Store::take_epoch`]). A node
/// writes a room's checkpoints and results with the epoch it took it
/// with (0 for a room it created), and the database refuses a write whose
/// epoch is older than the stored one (`UPDATE ... WHERE epoch <= $n`), so
/// an owner that lost its room without knowing it (cut off from Redis,
/// paused past its lease) can never overwrite the new owner's state.
#[derive(Default)]
struct Fences {
    /// The epoch this node took each room over with.
    epochs: Mutex<HashMap<String, i64>>,
    /// Rooms a write was refused for, not yet reported.
    refused: Mutex<Vec<String>>,
}

impl Fences {
    fn epoch(&self, code: &str) -> i64 {
        let epochs = self.epochs.lock().unwrap_or_else(|e| e.into_inner());
        epochs.get(code).copied().unwrap_or(0)
    }

    fn set(&self, code: &str, epoch: i64) {
        let mut epochs = self.epochs.lock().unwrap_or_else(|e| e.into_inner());
        epochs.insert(code.to_string(), epoch);
    }

    fn refuse(&self, code: &str) {
        crate::metrics::fenced_write();
        tracing::warn!(room = %code, "another node runs this room now; its write from here refused");
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if !refused.iter().any(|c| c == code) {
            refused.push(code.to_string());
        }
    }
}

/// `Err(Fenced)` when an update guarded by the room's epoch touched no row.
fn fenced(updated: u64, code: &str) -> Result<(), StoreError> {
    if updated == 0 {
        return Err(StoreError::Fenced {
            code: code.to_string(),
        });
    }
    Ok(())
}

/// A connection that opens itself again after it broke.
struct Conn {
    config: tokio_postgres::Config,
    client: Option<Client>,
    /// Statements of the hot write paths, prepared once per connection.
    prepared: Option<Prepared>,
}

struct Prepared {
    upsert_answer: Statement,
    upsert_room: Statement,
}

impl Conn {
    fn new(config: tokio_postgres::Config) -> Conn {
        Conn {
            config,
            client: None,
            prepared: None,
        }
    }

    /// The open connection, connecting first if there is none (or it broke).
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.prepared = None;
            self.client = Some(Client::connect(&self.config)?);
        }
        self.client.as_mut().ok_or(StoreError::Closed)
    }

    /// The open connection with the write statements prepared (the tables
    /// exist by the time anything is written).
    fn writer(&mut self) -> Result<(&mut Client, &Prepared), StoreError> {
        self.client()?;
        if self.prepared.is_none() {
            let client = self.client.as_mut().ok_or(StoreError::Closed)?;
            self.prepared = Some(Prepared {
                upsert_answer: client.prepare(UPSERT_ANSWER)?,
                upsert_room: client.prepare(UPSERT_ROOM)?,
            });
        }
        match (self.client.as_mut(), self.prepared.as_ref()) {
            (Some(client), Some(prepared)) => Ok((client, prepared)),
            _ => Err(StoreError::Closed),
        }
    }

    /// Drops a connection that failed so the next use opens a fresh one;
    /// `true` if it was dropped.
    fn forget_if_broken(&mut self) -> bool {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
            self.prepared = None;
            return true;
        }
        false
    }
}

/// A query run on the reader thread.
type ReadJob = pg_client::Job<Conn>;

/// The results store on a PostgreSQL database. Share it behind an `Arc`.
pub struct PgStore {
    queue: WriteQueue,
    fences: Arc<Fences>,
    reads: Mutex<Option<SyncSender<ReadJob>>>,
    reader: Mutex<Option<JoinHandle<()>>>,
    describe: String,
}

impl PgStore {
    /// Connects to `url`, creates the tables if needed (refusing a schema
    /// newer than this server's), purges rooms that ended more than
    /// `retention` ago, and starts the writer and reader threads.
    pub fn open(url: &str, retention: Duration) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url.parse()?;
        config.connect_timeout(TCP_CONNECT_TIMEOUT);
        config.application_name("quizroom");
        let describe = describe(&config);
        let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        // The blocking client runs a runtime of its own, which must not
        // start on a thread of the server's: set up on a thread of its own.
        let setup = config.clone();
        let conn = off_the_runtime(move || {
            std::thread::spawn(move || -> Result<Conn, StoreError> {
                let mut conn = Conn::new(setup);
                let found = conn.client()?.with_timeout(SLOW_TIMEOUT, create_schema)?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { found });
                }
                let purged = purge(&mut conn, now_ms().saturating_sub(retention_ms))?;
                if purged > 0 {
                    tracing::info!(purged, "purged rooms past retention");
                }
                Ok(conn)
            })
            .join()
        })
        .map_err(|_| StoreError::Closed)??;
        let io = |source| StoreError::Io {
            path: describe.clone().into(),
            source,
        };
        let fences = Arc::new(Fences::default());
        let writer = PgWriter {
            conn,
            fences: fences.clone(),
        };
        let queue = WriteQueue::start("quizroom-pg-store", writer, retention_ms).map_err(io)?;
        let (reads, jobs) = mpsc::sync_channel::<ReadJob>(1024);
        let mut reader_conn = Conn::new(config);
        let reader = std::thread::Builder::new()
            .name("quizroom-pg-read".into())
            .spawn(move || {
                for job in jobs {
                    job(&mut reader_conn);
                }
            })
            .map_err(io)?;
        Ok(PgStore {
            queue,
            fences,
            reads: Mutex::new(Some(reads)),
            reader: Mutex::new(Some(reader)),
            describe,
        })
    }

    /// Runs `f` on the reader thread's connection and waits for its answer
    /// off the async runtime, at most [`READ_WAIT`] (its turn included).
    ///
    /// A connection opened before an outage is found broken only by the
    /// first query after it (the database restarted meanwhile): that query
    /// is run once more on a fresh connection, so the first read after an
    /// outage (an end's released questions, say) does not fail for it. A
    /// query that timed out is not run again: it would only wait as long
    /// once more, past the caller's wait.
    fn read<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reads = self
            .reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)?;
        pg_client::call(&reads, READ_WAIT, move |conn: &mut Conn| {
            let had_client = conn.client.is_some();
            let mut result = conn.client().and_then(&f);
            let timed_out = matches!(result, Err(StoreError::TimedOut(_)));
            if result.is_err() && conn.forget_if_broken() && had_client && !timed_out {
                result = conn.client().and_then(&f);
                if result.is_err() {
                    conn.forget_if_broken();
                }
            }
            result
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.queue.stop();
        drop(self.reads.lock().unwrap_or_else(|e| e.into_inner()).take());
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
    }
}

/// `postgres://user@host:port/db` without the password, for logs.
pub(crate) fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "PostgreSQL {}@{}:{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        port,
        config.get_dbname().unwrap_or("")
    )
}

/// Creates the tables under the schema lock; returns the version the
/// database holds (this server's own after a fresh create).
fn create_schema(client: &mut Client) -> Result<i64, StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute(SCHEMA)?;
    // A database made before rooms had a fencing epoch gets the column.
    // Only then: `ALTER TABLE` locks the whole table, and nodes starting
    // together while others already write would deadlock on it.
    let has_epoch = tx
        .query_opt(
            "SELECT 1 FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'rooms'
               AND column_name = 'epoch'",
            &[],
        )?
        .is_some();
    if !has_epoch {
        tx.batch_execute("ALTER TABLE rooms ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0")?;
    }
    let found: Option<i64> = match tx.query_opt("SELECT max(version) FROM quizroom_schema", &[])? {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    match found {
        Some(v) if v >= SCHEMA_VERSION => {
            tx.commit()?;
            Ok(v)
        }
        Some(_) => {
            tx.execute(
                "UPDATE quizroom_schema SET version = $1",
                &[&SCHEMA_VERSION],
            )?;
            tx.commit()?;
            Ok(SCHEMA_VERSION)
        }
        None => {
            tx.execute(
                "INSERT INTO quizroom_schema (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )?;
            tx.commit()?;
            Ok(SCHEMA_VERSION)
        }
    }
}

/// Owns the writer thread's connection.
struct PgWriter {
    conn: Conn,
    fences: Arc<Fences>,
}

impl Backend for PgWriter {
    fn write_batch(&mut self, batch: &[Op]) -> Result<Vec<bool>, StoreError> {
        let result = write_batch(&mut self.conn, &self.fences, batch);
        if result.is_err() {
            self.conn.forget_if_broken();
        }
        result
    }

    fn purge(&mut self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        let result = purge(&mut self.conn, cutoff_ms);
        if result.is_err() {
            self.conn.forget_if_broken();
        }
        result
    }

    /// A batch fails as a whole only when the server cannot be reached or
    /// dropped the connection (a refused row fails alone, see
    /// [`write_batch`]): worth writing again once it is back.
    fn retries(&self) -> bool {
        true
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        let result = self
            .conn
            .client()
            .and_then(|c| c.simple_query("SELECT 1").map_err(StoreError::from));
        if result.is_err() {
            self.conn.forget_if_broken();
        }
        result.map(|_| ())
    }
}

/// Applies a batch in one transaction. In PostgreSQL one failed statement
/// aborts its transaction, so when a row is refused the batch is written
/// again with each op in a savepoint of its own: the refused row is
/// reported, the rest is committed.
fn write_batch(conn: &mut Conn, fences: &Fences, batch: &[Op]) -> Result<Vec<bool>, StoreError> {
    let now = now_ms();
    let (client, prepared) = conn.writer()?;
    let all = (|| -> Result<(), StoreError> {
        let mut tx = client.transaction()?;
        for op in batch {
            apply(&mut tx, prepared, fences, op, now)?;
        }
        tx.commit()?;
        Ok(())
    })();
    match all {
        Ok(()) => return Ok(vec![true; batch.len()]),
        Err(e) if client.is_closed() => return Err(e),
        Err(_) => {}
    }
    let mut tx = client.transaction()?;
    let mut applied = Vec::with_capacity(batch.len());
    for op in batch {
        let mut savepoint = tx.transaction()?;
        match apply(&mut savepoint, prepared, fences, op, now) {
            Ok(()) => {
                savepoint.commit()?;
                applied.push(true);
            }
            Err(StoreError::Fenced { code }) => {
                drop(savepoint);
                fences.refuse(&code);
                applied.push(false);
            }
            Err(e) => {
                drop(savepoint);
                crate::metrics::store_error();
                tracing::error!(error = %e, "results database row refused");
                applied.push(false);
            }
        }
    }
    tx.commit()?;
    Ok(applied)
}

fn qid_sql(qid: u32) -> i64 {
    i64::from(qid)
}

fn upsert_room(
    tx: &mut Transaction<'_>,
    prepared: &Prepared,
    room: &RoomRow,
    now: Millis,
) -> Result<(), StoreError> {
    tx.execute(
        &prepared.upsert_room,
        &[
            &room.code,
            &room.host_token,
            &room.title,
            &to_sql(room.created_ms),
            &to_sql(now),
        ],
    )?;
    Ok(())
}

fn upsert_answer(
    tx: &mut Transaction<'_>,
    prepared: &Prepared,
    key: (&str, u32, u32, &str, Millis),
    payload: &str,
) -> Result<(), StoreError> {
    let (room, qid, player, kind, at_ms) = key;
    tx.execute(
        &prepared.upsert_answer,
        &[
            &room,
            &qid_sql(qid),
            &i64::from(player),
            &kind,
            &payload,
            &to_sql(at_ms),
        ],
    )?;
    Ok(())
}

/// The same rows as the SQLite store's `apply`, in PostgreSQL's dialect.
fn apply(
    tx: &mut Transaction<'_>,
    prepared: &Prepared,
    fences: &Fences,
    op: &Op,
    now: Millis,
) -> Result<(), StoreError> {
    match op {
        Op::Created(room) => {
            // A code reused after its old room ended: the old room's rows go,
            // so a new owner never sees (or inherits) them.
            for table in ["answers", "question_results", "snapshot_questions"] {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE room = $1 AND EXISTS
                         (SELECT 1 FROM rooms WHERE code = $1 AND host_token != $2)"
                    ),
                    &[&room.code, &room.host_token],
                )?;
            }
            tx.execute(
                "DELETE FROM rooms WHERE code = $1 AND host_token != $2",
                &[&room.code, &room.host_token],
            )?;
            // The code is someone's again: its old links are no longer "expired".
            tx.execute("DELETE FROM expired_rooms WHERE code = $1", &[&room.code])?;
            upsert_room(tx, prepared, room, now)
        }
        Op::Answer(a) => upsert_answer(
            tx,
            prepared,
            (&a.room, a.qid, a.player, &a.kind, a.at_ms),
            &a.payload.to_string(),
        ),
        Op::Queued(a) => {
            let payload = a.payload.to_json()?;
            upsert_answer(
                tx,
                prepared,
                (&a.room, a.qid, a.player, a.kind, a.at_ms),
                &payload,
            )
        }
        Op::Checkpoint(cp, _) => {
            upsert_room(tx, prepared, &cp.room, now)?;
            let updated = tx.execute(
                "UPDATE rooms SET snapshot = $2, boundary_qid = $3, updated_ms = $4
                 WHERE code = $1 AND epoch <= $5",
                &[
                    &cp.room.code,
                    &cp.snapshot,
                    &qid_sql(cp.boundary_qid),
                    &to_sql(now),
                    &fences.epoch(&cp.room.code),
                ],
            )?;
            fenced(updated, &cp.room.code)?;
            for q in &cp.frozen {
                tx.execute(
                    "INSERT INTO snapshot_questions (room, idx, json) VALUES ($1, $2, $3)
                     ON CONFLICT (room, idx) DO UPDATE SET json = excluded.json",
                    &[&cp.room.code, &i64::from(q.index), &q.json],
                )?;
            }
            Ok(())
        }
        Op::Ended {
            code,
            ended_ms,
            results,
        } => {
            let updated = tx.execute(
                "UPDATE rooms SET ended_ms = $2, updated_ms = $3 WHERE code = $1 AND epoch <= $4",
                &[code, &to_sql(*ended_ms), &to_sql(now), &fences.epoch(code)],
            )?;
            fenced(updated, code)?;
            if let Some(results) = results {
                tx.execute(
                    "UPDATE rooms SET results_json = $2, results_csv = $3 WHERE code = $1",
                    &[code, &results.json.to_string(), &results.csv],
                )?;
                for (qid, payload) in &results.questions {
                    tx.execute(
                        "INSERT INTO question_results (room, qid, payload) VALUES ($1, $2, $3)
                         ON CONFLICT (room, qid) DO UPDATE SET payload = excluded.payload",
                        &[code, &qid_sql(*qid), &payload.to_string()],
                    )?;
                }
            }
            Ok(())
        }
        Op::DiscardAfter { code, qid } => {
            tx.execute(
                "DELETE FROM answers WHERE room = $1 AND qid > $2",
                &[code, &qid_sql(*qid)],
            )?;
            Ok(())
        }
        Op::EndUnrestorable { ended_ms } => {
            tx.execute(
                "UPDATE rooms SET ended_ms = $1 WHERE ended_ms IS NULL AND snapshot IS NULL",
                &[&to_sql(*ended_ms)],
            )?;
            Ok(())
        }
        Op::Flush(_) | Op::Committed(_) | Op::Mark(..) | Op::Purge { .. } | Op::Stop => Ok(()),
    }
}

fn purge(conn: &mut Conn, cutoff_ms: Millis) -> Result<usize, StoreError> {
    conn.client()?
        .with_timeout(SLOW_TIMEOUT, |c| purge_on(c, cutoff_ms))
}

fn purge_on(client: &mut Client, cutoff_ms: Millis) -> Result<usize, StoreError> {
    let mut tx = client.transaction()?;
    let cutoff = to_sql(cutoff_ms);
    let old = "SELECT code FROM rooms WHERE COALESCE(ended_ms, updated_ms) < $1";
    // A tombstone per purged room, so its links answer `expired` rather
    // than `not_found`; tombstones go after `TOMBSTONE_MS` more.
    tx.execute(
        "INSERT INTO expired_rooms (code, ended_ms, purged_ms)
         SELECT code, COALESCE(ended_ms, updated_ms), $2 FROM rooms
         WHERE COALESCE(ended_ms, updated_ms) < $1
         ON CONFLICT (code) DO UPDATE SET ended_ms = EXCLUDED.ended_ms, purged_ms = EXCLUDED.purged_ms",
        &[&cutoff, &to_sql(now_ms())],
    )?;
    tx.execute(
        "DELETE FROM expired_rooms WHERE purged_ms < $1",
        &[&to_sql(cutoff_ms.saturating_sub(super::TOMBSTONE_MS))],
    )?;
    for table in ["answers", "question_results", "snapshot_questions"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE room IN ({old})"),
            &[&cutoff],
        )?;
    }
    let n = tx.execute(
        "DELETE FROM rooms WHERE COALESCE(ended_ms, updated_ms) < $1",
        &[&cutoff],
    )?;
    tx.commit()?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The stored finished questions of `code` below index `n`, in order.
fn frozen_rows(c: &mut Client, code: &str, n: u64) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = c.query(
        "SELECT idx, json FROM snapshot_questions WHERE room = $1 AND idx < $2 ORDER BY idx",
        &[&code, &to_sql(n)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((r.try_get(0)?, r.try_get(1)?));
    }
    Ok(out)
}

/// Running rooms from `SELECT code, host_token, snapshot, boundary_qid`
/// rows, finished questions spliced back in; unreadable ones are logged
/// and left out.
fn running_from_rows(
    c: &mut Client,
    rows: Vec<tokio_postgres::Row>,
) -> Result<Vec<RunningRoom>, StoreError> {
    let mut out = Vec::new();
    for row in rows {
        let code: String = row.try_get(0)?;
        let snapshot: String = row.try_get(2)?;
        let restored = serde_json::from_str(&snapshot)
            .map_err(StoreError::from)
            .and_then(|snapshot| with_frozen_rows(&code, snapshot, |n| frozen_rows(c, &code, n)));
        match restored {
            Ok(snapshot) => out.push(RunningRoom {
                host_token: row.try_get(1)?,
                snapshot,
                boundary_qid: to_u32(row.try_get(3)?),
                code,
            }),
            Err(e) => {
                crate::metrics::store_error();
                tracing::error!(room = %code, error = %e, "unreadable snapshot, not restored");
            }
        }
    }
    Ok(out)
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

impl Store for PgStore {
    fn describe(&self) -> String {
        self.describe.clone()
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

    fn results(&self, code: &str, host_token: &str) -> Result<Option<StoredResults>, StoreError> {
        let (code, host_token) = (code.to_string(), host_token.to_string());
        self.read(move |c| {
            let row = c.query_opt(
                "SELECT results_json, results_csv, ended_ms FROM rooms
                 WHERE code = $1 AND host_token = $2",
                &[&code, &host_token],
            )?;
            let Some(row) = row else { return Ok(None) };
            // Only an ended room has stored results; a running one serves
            // them live.
            let Some(json) = row.get::<_, Option<String>>(0) else {
                return Ok(None);
            };
            Ok(Some(StoredResults {
                json: serde_json::from_str(&json)?,
                csv: row.get::<_, Option<String>>(1).unwrap_or_default(),
                ended_ms: row.get::<_, Option<i64>>(2).map(from_sql),
            }))
        })
    }

    fn expired(&self, code: &str) -> Result<Option<Millis>, StoreError> {
        let code = code.to_string();
        self.read(move |c| {
            Ok(c.query_opt(
                "SELECT ended_ms FROM expired_rooms WHERE code = $1",
                &[&code],
            )?
            .map(|r| from_sql(r.get::<_, i64>(0))))
        })
    }

    fn room_exists(&self, code: &str) -> Result<bool, StoreError> {
        let code = code.to_string();
        self.read(move |c| {
            Ok(
                c.query_opt("SELECT 1 FROM rooms WHERE code = $1", &[&code])?
                    .is_some(),
            )
        })
    }

    fn host_token_known(&self, host_token: &str) -> Result<bool, StoreError> {
        let token = host_token.to_string();
        self.read(move |c| {
            Ok(c.query_opt(
                "SELECT 1 FROM rooms WHERE host_token = $1 LIMIT 1",
                &[&token],
            )?
            .is_some())
        })
    }

    fn rooms_of_host(&self, host_token: &str) -> Result<Vec<RoomSummary>, StoreError> {
        let token = host_token.to_string();
        self.read(move |c| {
            let rows = c.query(
                "SELECT r.code, r.title, r.created_ms, r.ended_ms,
                        CASE WHEN r.results_json IS NULL THEN r.boundary_qid
                             ELSE (SELECT COUNT(*) FROM question_results q WHERE q.room = r.code)
                        END
                 FROM rooms r WHERE r.host_token = $1
                 ORDER BY r.created_ms DESC, r.code LIMIT 1000",
                &[&token],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(RoomSummary {
                    code: r.try_get(0)?,
                    title: r.try_get(1)?,
                    created_ms: from_sql(r.try_get(2)?),
                    ended_ms: r.try_get::<_, Option<i64>>(3)?.map(from_sql),
                    questions: to_u32(r.try_get::<_, i64>(4)?),
                });
            }
            Ok(out)
        })
    }

    fn running_codes(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let rows = c.query(
                "SELECT code FROM rooms WHERE ended_ms IS NULL AND snapshot IS NOT NULL",
                &[],
            )?;
            rows.iter()
                .map(|r| r.try_get(0).map_err(StoreError::from))
                .collect()
        })
    }

    fn running_room(&self, code: &str) -> Result<Option<RunningRoom>, StoreError> {
        let code = code.to_string();
        self.read(move |c| {
            let rows = c.query(
                "SELECT code, host_token, snapshot, boundary_qid FROM rooms
                 WHERE code = $1 AND ended_ms IS NULL AND snapshot IS NOT NULL",
                &[&code],
            )?;
            Ok(running_from_rows(c, rows)?.pop())
        })
    }

    fn running_rooms(&self) -> Result<Vec<RunningRoom>, StoreError> {
        self.read(|c| {
            let rows = c.query(
                "SELECT code, host_token, snapshot, boundary_qid FROM rooms
                 WHERE ended_ms IS NULL AND snapshot IS NOT NULL ORDER BY created_ms",
                &[],
            )?;
            running_from_rows(c, rows)
        })
    }

    fn ended_snapshot(&self, code: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let code = code.to_string();
        self.read(move |c| {
            let row = c.query_opt(
                "SELECT snapshot FROM rooms
                 WHERE code = $1 AND ended_ms IS NOT NULL AND snapshot IS NOT NULL",
                &[&code],
            )?;
            let Some(row) = row else { return Ok(None) };
            let snapshot = serde_json::from_str(row.try_get::<_, &str>(0)?)?;
            Ok(Some(with_frozen_rows(&code, snapshot, |n| {
                frozen_rows(c, &code, n)
            })?))
        })
    }

    fn finished_questions(&self, code: &str, n: usize) -> Result<Vec<String>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let code = code.to_string();
        let n = n as u64;
        off_the_runtime(|| {
            self.read(move |c| {
                let rows = c.query(
                    "SELECT idx, json FROM snapshot_questions
                     WHERE room = $1 AND idx < $2 ORDER BY idx",
                    &[&code, &to_sql(n)],
                )?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push((r.try_get(0)?, r.try_get(1)?));
                }
                checked_rows(&code, n, out)
            })
        })
    }

    fn answers(&self, code: &str) -> Result<Vec<AnswerRow>, StoreError> {
        let code = code.to_string();
        self.read(move |c| {
            let rows = c.query(
                "SELECT qid, player, kind, payload, at_ms FROM answers
                 WHERE room = $1 ORDER BY qid, player, kind",
                &[&code],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(AnswerRow {
                    room: code.clone(),
                    qid: to_u32(r.try_get(0)?),
                    player: to_u32(r.try_get(1)?),
                    kind: r.try_get(2)?,
                    payload: serde_json::from_str(r.try_get::<_, &str>(3)?)?,
                    at_ms: from_sql(r.try_get(4)?),
                });
            }
            Ok(out)
        })
    }

    fn take_epoch(&self, code: &str) -> Result<Option<u64>, StoreError> {
        let key = code.to_string();
        let epoch = self.read(move |c| {
            let row = c.query_opt(
                "UPDATE rooms SET epoch = epoch + 1
                 WHERE code = $1 AND ended_ms IS NULL AND snapshot IS NOT NULL
                 RETURNING epoch",
                &[&key],
            )?;
            Ok(match row {
                Some(row) => Some(row.try_get::<_, i64>(0)?),
                None => None,
            })
        })?;
        Ok(epoch.map(|epoch| {
            self.fences.set(code, epoch);
            u64::try_from(epoch).unwrap_or(0)
        }))
    }

    fn fenced_rooms(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .fences
                .refused
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn question_results(&self, code: &str) -> Result<Vec<(u32, serde_json::Value)>, StoreError> {
        let code = code.to_string();
        self.read(move |c| {
            let rows = c.query(
                "SELECT qid, payload FROM question_results WHERE room = $1 ORDER BY qid",
                &[&code],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((
                    to_u32(r.try_get(0)?),
                    serde_json::from_str(r.try_get::<_, &str>(1)?)?,
                ));
            }
            Ok(out)
        })
    }
}
