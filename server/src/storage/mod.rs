//! Durable storage: the results store ([`Store`], embedded SQLite in
//! [`store`] by default, PostgreSQL in [`postgres`] for a cluster), the
//! queue both write through ([`queue`]), how a room hears that its writes
//! are committed ([`commit`]), the glue that turns a room's
//! effects into store writes and restores rooms after a restart
//! ([`persist`]), the hosts' libraries ([`library`], on SQLite or, with
//! the results, on PostgreSQL in [`library_pg`]), and uploaded bank files
//! (kept on disk by [`uploads`], or in the shared PostgreSQL database by
//! [`uploads_pg`] when there is one).
//!
//! Nothing here depends on the server's shared state: what the glue needs
//! from it is the [`Persistence`] trait, so `live` uses `storage` and never
//! the other way round.

pub mod commit;
pub mod library;
pub mod library_pg;
pub mod persist;
pub mod pg_client;
pub mod postgres;
pub mod queue;
pub mod store;
pub mod uploads;
pub mod uploads_pg;

use std::sync::Arc;

use crate::bank::catalog::Catalog;
use crate::protocol::Millis;
use store::{
    AnswerRow, CheckpointRow, FinalResults, QueuedAnswer, RoomRow, RoomSummary, RunningRoom,
    StoreError, StoredResults,
};

/// How long a purged room's tombstone is kept after the purge (90 days), so
/// an old report link answers `expired` rather than `not_found` meanwhile.
pub const TOMBSTONE_MS: Millis = 90 * 24 * 3600 * 1000;

/// Where results, checkpoints and room history live. One trait so the same
/// rooms, restore path and HTTP handlers run on the embedded SQLite file
/// of a single node and on the PostgreSQL database a cluster shares.
///
/// Every method is synchronous and may be called from a room's task:
/// writes are queued to a writer thread (waiting only where a method says
/// it returns once committed), reads wait off the async runtime. A new kind
/// of stored data adds methods here with an implementation in each store
/// (a write is one more [`queue::Op`] variant).
pub trait Store: Send + Sync {
    /// Where the data is, for logs (a file path, or a database address
    /// without its password).
    fn describe(&self) -> String;

    /// Records a new room so its host can find it later. Queued.
    fn room_created(&self, room: RoomRow) -> Result<(), StoreError>;

    /// Records one answer as it arrives. Queued; committed within
    /// milliseconds, and at the latest by the next [`Store::checkpoint`].
    fn record_answer(&self, answer: AnswerRow) -> Result<(), StoreError>;

    /// Records one answer whose payload the writer thread serializes.
    /// Queued like [`Store::record_answer`].
    fn queue_answer(&self, answer: QueuedAnswer) -> Result<(), StoreError>;

    /// Writes a question-boundary checkpoint and returns once it and every
    /// write queued before it are committed.
    fn checkpoint(&self, checkpoint: CheckpointRow) -> Result<(), StoreError>;

    /// Queues a question-boundary checkpoint and returns at once; the
    /// receiver hears whether it (and everything queued before it) was
    /// committed. A room task goes on meanwhile, holding what it sends
    /// after the boundary until then; while the database is away the store
    /// keeps retrying and the room keeps running.
    fn checkpoint_queued(
        &self,
        checkpoint: CheckpointRow,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, StoreError>;

    /// Whether writes reach the database now (`false` while the store
    /// retries a write the database refused to take, or an idle check
    /// found it away); every change is announced to the receivers, so
    /// hosts are warned and `/healthz` says degraded.
    fn health(&self) -> tokio::sync::watch::Receiver<bool>;

    /// Marks a room ended (with its final results, if given) and returns
    /// once committed. An ended room is never restored.
    fn end_room(
        &self,
        code: &str,
        ended_ms: Millis,
        results: Option<FinalResults>,
    ) -> Result<(), StoreError>;

    /// Drops answers to questions after `qid` in `code`: they belong to a
    /// question that was open when the server stopped and is not restored.
    fn discard_answers_after(&self, code: &str, qid: u32) -> Result<(), StoreError>;

    /// Marks ended every room that has no checkpoint yet (it was still in
    /// its lobby when the server stopped and cannot be brought back), so a
    /// host's history does not show it running forever.
    fn end_rooms_without_checkpoint(&self, ended_ms: Millis) -> Result<(), StoreError>;

    /// Returns once everything queued so far is committed.
    fn flush(&self) -> Result<(), StoreError>;

    /// The server is shutting down: a write being retried while the
    /// database is away gives up after a few seconds, so shutdown ends.
    fn closing(&self);

    /// Resolves once everything queued so far is committed, without blocking
    /// the caller: a room holds the acks of answers it queued until then, so
    /// an acknowledged answer survives a crash.
    fn committed(&self) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, StoreError>;

    /// Queues `mark` for a room: once everything queued before it is
    /// committed, `signal` reaches it. A room queues one behind the
    /// answers of each pass over its commands and holds their acks until
    /// then; the writer raises each room's signal once per commit, and
    /// what a room queues while a commit is in flight rides on the next.
    fn mark(&self, signal: &Arc<commit::CommitSignal>, mark: u64) -> Result<(), StoreError>;

    /// Deletes rooms (with their answers and results) that ended, or were
    /// last written, before `cutoff_ms`. Returns how many rooms went.
    fn purge_before(&self, cutoff_ms: Millis) -> Result<usize, StoreError>;

    /// Final results of ended room `code` if `host_token` owns it.
    fn results(&self, code: &str, host_token: &str) -> Result<Option<StoredResults>, StoreError>;

    /// The first `n` finished questions of live room `code`, as its
    /// checkpoints stored them (JSON, in order): the ones the room dropped
    /// from memory, for its results. An error unless all `n` are there.
    fn finished_questions(&self, code: &str, n: usize) -> Result<Vec<String>, StoreError>;

    /// When room `code` ended, if it was purged past retention: its links
    /// then answer `expired` instead of `not_found`.
    fn expired(&self, code: &str) -> Result<Option<Millis>, StoreError>;

    /// Whether room `code` is in the database, whoever owns it.
    fn room_exists(&self, code: &str) -> Result<bool, StoreError>;

    /// Whether any room was created with `host_token`, so a host may reuse
    /// it for a new room.
    fn host_token_known(&self, host_token: &str) -> Result<bool, StoreError>;

    /// Rooms created with `host_token`, newest first.
    fn rooms_of_host(&self, host_token: &str) -> Result<Vec<RoomSummary>, StoreError>;

    /// Rooms that have a checkpoint and have not ended: the ones to restore.
    fn running_rooms(&self) -> Result<Vec<RunningRoom>, StoreError>;

    /// Codes of the rooms [`Store::running_rooms`] would return, without
    /// their snapshots: what a cluster node looks at every second to find
    /// rooms nobody runs (an index-only scan of a partial index).
    fn running_codes(&self) -> Result<Vec<String>, StoreError>;

    /// Running room `code` with its snapshot, if it is one.
    fn running_room(&self, code: &str) -> Result<Option<RunningRoom>, StoreError>;

    /// The last snapshot of ended room `code`, finished questions spliced
    /// back in: what its final screens are rebuilt from after the room left
    /// memory. `None` when the room is unknown, still running or purged.
    fn ended_snapshot(&self, code: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Every stored answer of `code`, in (qid, player, kind) order.
    fn answers(&self, code: &str) -> Result<Vec<AnswerRow>, StoreError>;

    /// Results of finished questions of `code`, by qid.
    fn question_results(&self, code: &str) -> Result<Vec<(u32, serde_json::Value)>, StoreError>;

    /// Cluster take-over: raises running room `code`'s fencing epoch in
    /// the database (at once, not queued) and makes this store write the
    /// room's checkpoints and results with it, so the node that ran the
    /// room before, with its older epoch, can no longer overwrite them.
    /// `None` when the room is not running in the database; stores that
    /// only one node writes have no fencing and answer `Some(0)`.
    fn take_epoch(&self, _code: &str) -> Result<Option<u64>, StoreError> {
        Ok(Some(0))
    }

    /// Rooms whose checkpoint or results the database refused since the
    /// last call because a newer owner holds them (see
    /// [`Store::take_epoch`]): they must stop running on this node.
    fn fenced_rooms(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What the persistence glue ([`persist`]) needs from the running server:
/// its store, if any, and the catalog restored rooms pick questions from.
/// The server's shared state implements it; tests may use anything else.
pub trait Persistence {
    /// The results store, or `None` when results stay in memory.
    fn store(&self) -> Option<&Arc<dyn Store>>;

    /// The current catalog snapshot.
    fn catalog(&self) -> Arc<Catalog>;

    /// The catalog with every bank uploaded anywhere so far: what a room
    /// restored from storage asks from, since the node it ran on may have
    /// taken an upload this node has not looked at yet.
    fn fresh_catalog(&self) -> Arc<Catalog> {
        self.catalog()
    }
}
