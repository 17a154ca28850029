//! The write queue both result stores share: callers queue writes and a
//! writer thread that owns the database connection commits whatever is
//! queued as one transaction. A room task never waits on the database for
//! an answer, only at a question boundary, where it waits until everything
//! it queued before is committed.
//!
//! What differs between databases (how a batch is written, how old rooms
//! are purged) is a [`Backend`]; the queue, its batching and its waits are
//! written once here.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::protocol::Millis;
use crate::storage::commit::{CommitSignal, Gathered, Pace, Step};
use crate::storage::store::{
    now_ms, AnswerRow, CheckpointRow, FinalResults, QueuedAnswer, RoomRow, StoreError,
};

/// Queued writes the writer thread may lag behind before senders wait; a
/// bound so a stuck disk shows up as back-pressure, not as unbounded memory.
const QUEUE: usize = 65_536;

/// Most operations committed in one transaction.
const BATCH: usize = 1024;

/// How often the writer thread purges rooms past retention.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// How long an idle writer waits before asking the database whether it is
/// still there, so `/healthz` and the hosts learn of an outage (and of its
/// end) without waiting for a write.
const IDLE_PING: Duration = Duration::from_secs(2);

/// First pause before a failed batch is written again; it doubles up to
/// [`RETRY_MAX`] while the database stays away.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How long the writer keeps retrying once shutdown has begun, over all the
/// batches still queued together (not each): shutdown must end in its budget.
const STOP_RETRY_BUDGET: Duration = Duration::from_secs(5);

/// Where a waiting caller hears how its write went.
pub(crate) type Done<T> = SyncSender<Result<T, String>>;

/// Where a checkpoint's caller hears how it went: blocked on it, or
/// (a room task that goes on meanwhile) told later.
pub(crate) enum Reply {
    Blocking(Done<()>),
    Async(tokio::sync::oneshot::Sender<Result<(), String>>),
}

impl Reply {
    fn send(self, result: Result<(), String>) {
        match self {
            Reply::Blocking(done) => {
                let _ = done.send(result);
            }
            Reply::Async(done) => {
                let _ = done.send(result);
            }
        }
    }
}

/// One queued write. A new kind of write is a new variant here and one
/// arm in each backend's batch writer.
pub(crate) enum Op {
    Created(RoomRow),
    Answer(AnswerRow),
    Queued(QueuedAnswer),
    /// Answered once committed, with whether this checkpoint's own rows were
    /// accepted (a refused row does not fail the rest of its batch).
    Checkpoint(Box<CheckpointRow>, Reply),
    Ended {
        code: String,
        ended_ms: Millis,
        results: Option<Box<FinalResults>>,
    },
    DiscardAfter {
        code: String,
        qid: u32,
    },
    EndUnrestorable {
        ended_ms: Millis,
    },
    Flush(Done<()>),
    /// Like `Flush`, answered to an async waiter that does not block.
    Committed(tokio::sync::oneshot::Sender<Result<(), String>>),
    /// A room's mark: once committed, the room's signal reaches it (see
    /// [`crate::storage::commit`]).
    Mark(std::sync::Arc<CommitSignal>, u64),
    Purge {
        cutoff_ms: Millis,
        done: Option<Done<usize>>,
    },
    Stop,
}

impl Op {
    /// Adds this op to what decides a batch's timing: a row, a room's
    /// mark, or anything else (a caller blocked on it, a boundary, a stop),
    /// which makes the batch commit without waiting for company.
    fn count_in(&self, batch: &mut Gathered) {
        match self {
            Op::Created(_) | Op::Answer(_) | Op::Queued(_) => batch.writes += 1,
            Op::Mark(..) => batch.marks += 1,
            _ => batch.urgent = true,
        }
    }
}

/// How one database writes what the queue hands it. Runs on the writer
/// thread only, so it may block and owns its connection.
pub(crate) trait Backend: Send + 'static {
    /// Applies `batch` in one transaction; returns, per op, whether it was
    /// applied (one refused row must not lose the rest of the batch). An
    /// error means nothing of the batch was committed.
    fn write_batch(&mut self, batch: &[Op]) -> Result<Vec<bool>, StoreError>;

    /// Deletes rooms (with their answers and results) that ended, or were
    /// last written, before `cutoff_ms`; returns how many rooms went.
    fn purge(&mut self, cutoff_ms: Millis) -> Result<usize, StoreError>;

    /// Whether a batch that failed as a whole may succeed later (the
    /// database server is away), so it is kept and written again with
    /// back-off instead of being dropped.
    fn retries(&self) -> bool {
        false
    }

    /// Asks the database whether it answers (an idle writer does, every
    /// [`IDLE_PING`]).
    fn ping(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The sending side of a store's writer thread: every write method of a
/// store is one of these. Stopping (or dropping) it lets the writer commit
/// what is queued and waits for it to finish.
pub(crate) struct WriteQueue {
    tx: SyncSender<Op>,
    writer: Mutex<Option<JoinHandle<()>>>,
    health: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// Set when the store closes: a batch being retried gives up after
    /// [`STOP_RETRY_BUDGET`] more.
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl WriteQueue {
    /// Starts the writer thread `name` over `backend`.
    pub(crate) fn start(
        name: &str,
        backend: impl Backend,
        retention_ms: u64,
    ) -> std::io::Result<WriteQueue> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let health = std::sync::Arc::new(tokio::sync::watch::Sender::new(true));
        let up = health.clone();
        let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = stopping.clone();
        let writer = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || write_loop(backend, rx, retention_ms, &up, &stop))?;
        Ok(WriteQueue {
            tx,
            writer: Mutex::new(Some(writer)),
            health,
            stopping,
        })
    }

    /// See [`crate::storage::Store::health`].
    pub(crate) fn health(&self) -> tokio::sync::watch::Receiver<bool> {
        self.health.subscribe()
    }

    /// See [`crate::storage::Store::checkpoint_queued`].
    pub(crate) fn checkpoint_queued(
        &self,
        checkpoint: CheckpointRow,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, StoreError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.send(Op::Checkpoint(Box::new(checkpoint), Reply::Async(done)))?;
        Ok(rx)
    }

    fn send(&self, op: Op) -> Result<(), StoreError> {
        match self.tx.try_send(op) {
            Ok(()) => Ok(()),
            // A full queue means the database is behind: wait for room,
            // without holding up the other tasks of this thread.
            Err(TrySendError::Full(op)) => {
                off_the_runtime(|| self.tx.send(op)).map_err(|_| StoreError::Closed)
            }
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }

    fn wait<T>(rx: Receiver<Result<T, String>>) -> Result<T, StoreError> {
        match off_the_runtime(|| rx.recv()) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(StoreError::Write(message)),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// See [`crate::storage::Store::room_created`].
    pub(crate) fn room_created(&self, room: RoomRow) -> Result<(), StoreError> {
        self.send(Op::Created(room))
    }

    /// See [`crate::storage::Store::record_answer`].
    pub(crate) fn record_answer(&self, answer: AnswerRow) -> Result<(), StoreError> {
        self.send(Op::Answer(answer))
    }

    /// See [`crate::storage::Store::queue_answer`].
    pub(crate) fn queue_answer(&self, answer: QueuedAnswer) -> Result<(), StoreError> {
        self.send(Op::Queued(answer))
    }

    /// See [`crate::storage::Store::checkpoint`].
    pub(crate) fn checkpoint(&self, checkpoint: CheckpointRow) -> Result<(), StoreError> {
        let (done, rx) = mpsc::sync_channel(1);
        self.send(Op::Checkpoint(Box::new(checkpoint), Reply::Blocking(done)))?;
        WriteQueue::wait(rx)
    }

    /// See [`crate::storage::Store::end_room`].
    pub(crate) fn end_room(
        &self,
        code: &str,
        ended_ms: Millis,
        results: Option<FinalResults>,
    ) -> Result<(), StoreError> {
        self.send(Op::Ended {
            code: code.to_string(),
            ended_ms,
            results: results.map(Box::new),
        })?;
        self.flush()
    }

    /// See [`crate::storage::Store::discard_answers_after`].
    pub(crate) fn discard_answers_after(&self, code: &str, qid: u32) -> Result<(), StoreError> {
        self.send(Op::DiscardAfter {
            code: code.to_string(),
            qid,
        })?;
        self.flush()
    }

    /// See [`crate::storage::Store::end_rooms_without_checkpoint`].
    pub(crate) fn end_rooms_without_checkpoint(&self, ended_ms: Millis) -> Result<(), StoreError> {
        self.send(Op::EndUnrestorable { ended_ms })?;
        self.flush()
    }

    /// See [`crate::storage::Store::flush`].
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let (done, rx) = mpsc::sync_channel(1);
        self.send(Op::Flush(done))?;
        WriteQueue::wait(rx)
    }

    /// See [`crate::storage::Store::committed`].
    pub(crate) fn committed(
        &self,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, StoreError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.send(Op::Committed(done))?;
        Ok(rx)
    }

    /// See [`crate::storage::Store::mark`].
    pub(crate) fn mark(
        &self,
        signal: &std::sync::Arc<CommitSignal>,
        mark: u64,
    ) -> Result<(), StoreError> {
        self.send(Op::Mark(signal.clone(), mark))
    }

    /// See [`crate::storage::Store::purge_before`].
    pub(crate) fn purge_before(&self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        let (done, rx) = mpsc::sync_channel(1);
        self.send(Op::Purge {
            cutoff_ms,
            done: Some(done),
        })?;
        WriteQueue::wait(rx)
    }

    /// See [`crate::storage::Store::closing`].
    pub(crate) fn closing(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Lets the writer commit what is queued, then waits for it to end.
    pub(crate) fn stop(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.tx.send(Op::Stop);
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for WriteQueue {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Owns the write connection: takes one op, then whatever else is queued
/// (up to [`BATCH`]), waits for company as [`Pace::step`] says, commits
/// them as one transaction, then answers waiters and raises each room's
/// signal once. What arrives during a commit is the next batch, taken the
/// moment the commit returns (group commit).
fn write_loop(
    mut backend: impl Backend,
    rx: Receiver<Op>,
    retention_ms: u64,
    health: &tokio::sync::watch::Sender<bool>,
    stopping: &std::sync::atomic::AtomicBool,
) {
    let mut last_purge = Instant::now();
    let mut closing_since: Option<Instant> = None;
    let set_health = |up: bool| {
        health.send_if_modified(|now| std::mem::replace(now, up) != up);
    };
    let mut pace = Pace::default();
    let mut batch: Vec<Op> = Vec::with_capacity(BATCH);
    let mut marks: Vec<(std::sync::Arc<CommitSignal>, u64)> = Vec::new();
    loop {
        let first = match rx.recv_timeout(IDLE_PING) {
            Ok(op) => op,
            Err(RecvTimeoutError::Timeout) => {
                let up = backend.ping().is_ok();
                if !up {
                    crate::metrics::store_error();
                }
                set_health(up);
                if !up || last_purge.elapsed() < PURGE_EVERY {
                    continue;
                }
                Op::Purge {
                    cutoff_ms: now_ms().saturating_sub(retention_ms),
                    done: None,
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let started = Instant::now();
        let mut gathered = Gathered::default();
        first.count_in(&mut gathered);
        batch.push(first);
        gather(&rx, &mut batch, &mut gathered, &pace, started);
        let stop = batch.iter().any(|op| matches!(op, Op::Stop));
        let started = Instant::now();
        let mut applied = backend.write_batch(&batch);
        // The database is away: keep the batch (acks wait on it) and write
        // it again with back-off; what is queued meanwhile waits its turn.
        let mut delay = RETRY_MIN;
        let mut waited = Duration::ZERO;
        while let Err(e) = &applied {
            if stop || stopping.load(std::sync::atomic::Ordering::Relaxed) {
                closing_since.get_or_insert_with(Instant::now);
            }
            let out_of_time = closing_since.is_some_and(|t| t.elapsed() >= STOP_RETRY_BUDGET);
            if !backend.retries() || out_of_time {
                break;
            }
            if waited.is_zero() {
                tracing::warn!(error = %e, ops = batch.len(), "results database unavailable; retrying");
            }
            crate::metrics::store_error();
            set_health(false);
            std::thread::sleep(delay);
            waited += delay;
            delay = (delay * 2).min(RETRY_MAX);
            applied = backend.write_batch(&batch);
        }
        if !waited.is_zero() && applied.is_ok() {
            tracing::info!(
                after_ms = waited.as_millis() as u64,
                "results database back; batch written"
            );
        }
        set_health(applied.is_ok());
        match &applied {
            Ok(_) => crate::metrics::store_commit(started.elapsed().as_secs_f64()),
            Err(e) => {
                crate::metrics::store_error();
                tracing::error!(error = %e, ops = batch.len(), "results database write failed");
            }
        }
        pace.committed(gathered.writes, Instant::now());
        let result = applied.as_ref().map(|_| ());
        for (i, op) in batch.drain(..).enumerate() {
            match op {
                Op::Checkpoint(_, done) => {
                    let own = match &applied {
                        Ok(ok) if ok.get(i).copied().unwrap_or(false) => Ok(()),
                        Ok(_) => Err("the checkpoint row was refused".to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    done.send(own);
                }
                Op::Flush(done) => {
                    let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                }
                Op::Committed(done) => {
                    let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                }
                Op::Mark(signal, mark) => marks.push((signal, mark)),
                Op::Purge { cutoff_ms, done } => {
                    let purged = backend.purge(cutoff_ms).map_err(|e| e.to_string());
                    if let Err(e) = &purged {
                        crate::metrics::store_error();
                        tracing::error!(error = %e, "purge failed");
                    }
                    last_purge = Instant::now();
                    if let Some(done) = done {
                        let _ = done.send(purged);
                    }
                }
                _ => {}
            }
        }
        // Last to first: a room's last mark in the batch is its highest, so
        // it raises the signal and wakes the room; its earlier ones change
        // nothing. One wake-up per room and batch. A batch that failed
        // (logged above) releases its acks all the same, as it always did.
        for (signal, mark) in marks.drain(..).rev() {
            signal.reach(mark);
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = Instant::now();
            if let Err(e) = backend.purge(now_ms().saturating_sub(retention_ms)) {
                crate::metrics::store_error();
                tracing::error!(error = %e, "purge failed");
            }
        }
        if stop {
            return;
        }
    }
}

/// Takes what is queued behind the batch's first op, up to [`BATCH`], and
/// waits for more as [`Pace::step`] says: never when idle, on the queue
/// for a mark that is about to come, asleep in slices during a burst.
fn gather(
    rx: &Receiver<Op>,
    batch: &mut Vec<Op>,
    gathered: &mut Gathered,
    pace: &Pace,
    started: Instant,
) {
    while batch.len() < BATCH {
        let op = match rx.try_recv() {
            Ok(op) => op,
            Err(mpsc::TryRecvError::Disconnected) => return,
            Err(mpsc::TryRecvError::Empty) => {
                let now = Instant::now();
                match pace.step(started, *gathered, now) {
                    Step::Commit => return,
                    Step::Await(until) => {
                        match rx.recv_timeout(until.saturating_duration_since(now)) {
                            Ok(op) => op,
                            Err(_) => return,
                        }
                    }
                    Step::Linger(until) => {
                        std::thread::sleep(until.saturating_duration_since(now));
                        continue;
                    }
                }
            }
        };
        op.count_in(gathered);
        batch.push(op);
    }
}

/// Runs a wait on the writer thread from a room's task. The rooms run on
/// the async runtime's worker threads; on a multi-threaded runtime the
/// worker first hands its queued tasks (other rooms, sockets) to another
/// thread, so a checkpoint's commit delays only the room that waits for it.
/// Elsewhere (a single-threaded runtime, or no runtime) it simply waits.
pub(crate) fn off_the_runtime<R>(wait: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend that reports each batch it is handed and commits it only
    /// when the test says so, so a test can queue writes while a commit is
    /// in flight.
    struct Gate {
        batches: mpsc::Sender<Vec<String>>,
        go: Receiver<()>,
    }

    impl Backend for Gate {
        fn write_batch(&mut self, batch: &[Op]) -> Result<Vec<bool>, StoreError> {
            let names = batch
                .iter()
                .map(|op| match op {
                    Op::Created(room) => room.code.clone(),
                    Op::Mark(_, mark) => format!("mark {mark}"),
                    Op::Flush(_) => "flush".into(),
                    Op::Stop => "stop".into(),
                    _ => "other".into(),
                })
                .collect();
            let _ = self.batches.send(names);
            let _ = self.go.recv();
            Ok(vec![true; batch.len()])
        }

        fn purge(&mut self, _cutoff_ms: Millis) -> Result<usize, StoreError> {
            Ok(0)
        }
    }

    fn room(code: &str) -> RoomRow {
        RoomRow {
            code: code.into(),
            host_token: "t".into(),
            title: String::new(),
            created_ms: 0,
        }
    }

    #[test]
    fn what_is_queued_during_a_commit_is_the_next_batch_not_a_chain() {
        let (batches_tx, batches) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let gate = Gate {
            batches: batches_tx,
            go: go_rx,
        };
        let queue = WriteQueue::start("qr-store-test", gate, u64::MAX).unwrap();
        let a = CommitSignal::new();
        let b = CommitSignal::new();
        // A lone mark commits at once, and the writer holds it in flight.
        queue.mark(&a, 1).unwrap();
        assert_eq!(batches.recv().unwrap(), ["mark 1"]);
        // Two rooms queue answers and marks while that commit runs.
        for op in [("A1", &a, 2), ("B1", &b, 1), ("A2", &a, 3)] {
            queue.room_created(room(op.0)).unwrap();
            queue.mark(op.1, op.2).unwrap();
        }
        go.send(()).unwrap();
        // All of it is the very next batch, taken as the first commit
        // returned: each ack waits for the commit in flight and one more.
        assert_eq!(
            batches.recv().unwrap(),
            ["A1", "mark 2", "B1", "mark 1", "A2", "mark 3"]
        );
        assert_eq!((a.committed(), b.committed()), (1, 0));
        go.send(()).unwrap();
        go.send(()).unwrap();
        queue.flush().unwrap();
        assert_eq!(batches.recv().unwrap(), ["flush"]);
        // Each room's signal is at its last mark of that batch.
        assert_eq!((a.committed(), b.committed()), (3, 1));
        drop(go);
        drop(queue);
    }

    #[test]
    fn waits_run_on_every_kind_of_runtime() {
        // Outside a runtime, on a current-thread runtime (tests), and on the
        // server's multi-threaded runtime, where the worker steps aside.
        assert_eq!(off_the_runtime(|| 1), 1);
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(current.block_on(async { off_the_runtime(|| 2) }), 2);
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let on_worker =
            multi.block_on(async { tokio::spawn(async { off_the_runtime(|| 3) }).await.unwrap() });
        assert_eq!(on_worker, 3);
    }
}
