//! Group commit: how a room learns that what it queued is committed, and
//! when the writer thread commits the batch it is gathering.
//!
//! A room numbers the marks it queues behind its answers ([`CommitSignal`]);
//! the writer, after each commit, raises every room's signal to the last
//! mark of that room in the batch, once per room and batch. Whatever a room
//! queues while a commit is in flight joins the next batch, which the
//! writer starts the moment the previous commit returns, so an `ack` waits
//! for at most the commit in flight and its own, never a chain of them.
//!
//! How long a batch waits for company is [`Pace::step`], a pure function
//! of what the batch holds, how the previous one went and the time, so it
//! is tested without a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a room hears how far the store has committed what it queued: the
/// highest mark committed so far, and a wake-up when it rises. The room
/// owns one and queues marks numbered 1, 2, 3, … behind its writes; the
/// writer raises it after the commit that holds a mark.
#[derive(Debug, Default)]
pub struct CommitSignal {
    committed: AtomicU64,
    notify: tokio::sync::Notify,
}

impl CommitSignal {
    /// A signal with nothing committed yet (mark 0).
    pub fn new() -> Arc<CommitSignal> {
        Arc::new(CommitSignal::default())
    }

    /// The highest mark committed so far: everything the room queued
    /// before that mark is in the database.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Raises the signal to `mark` (a lower one changes nothing) and wakes
    /// the room if it rose. The writer calls it once a batch is committed.
    pub(crate) fn reach(&self, mark: u64) {
        if self.committed.fetch_max(mark, Ordering::AcqRel) < mark {
            self.notify.notify_one();
        }
    }

    /// Resolves after the signal rose (at once if it rose since the last
    /// wait ended); the room then reads [`CommitSignal::committed`].
    pub async fn advanced(&self) {
        self.notify.notified().await;
    }
}

/// Writes in a batch that make it worth committing without lingering.
pub(crate) const FILL: usize = 64;

/// Longest a batch lingers for company while writes arrive in a burst.
pub(crate) const LINGER: Duration = Duration::from_millis(1);

/// A batch of at least this many writes, committed right before the next
/// began, says writes arrive in a burst.
pub(crate) const BURST: usize = 16;

/// How long writes nobody waits on yet (their room's mark is microseconds
/// behind them) wait for a waiter before they are committed anyway.
pub(crate) const UNWAITED: Duration = Duration::from_millis(5);

/// How long one lingering sleep lasts at most: the writer looks at the
/// queue between sleeps instead of being woken by every write.
pub(crate) const LINGER_SLICE: Duration = Duration::from_micros(250);

/// What a batch being gathered holds, as far as its timing goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Gathered {
    /// Rows to write (answers, room rows).
    pub writes: usize,
    /// Room marks: acks wait on this batch.
    pub marks: usize,
    /// Someone is blocked on this batch, or it is a boundary, a flush or a
    /// stop: it never waits for company.
    pub urgent: bool,
}

/// What the writer does next with the batch it is gathering, once the
/// queue is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Commit what is there.
    Commit,
    /// Wait on the queue for the next op, until then at the latest (the
    /// op that comes is most likely the mark that makes the batch worth
    /// committing).
    Await(Instant),
    /// Sleep until then at the latest, without being woken by each write,
    /// then look at the queue again.
    Linger(Instant),
}

/// The writer's memory of the previous commit, which tells a burst from a
/// trickle.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pace {
    /// Writes in the previous batch.
    last_writes: usize,
    /// When the previous commit returned.
    last_end: Option<Instant>,
}

impl Pace {
    /// The batch of `writes` writes was committed (or given up) at `now`.
    pub(crate) fn committed(&mut self, writes: usize, now: Instant) {
        self.last_writes = writes;
        self.last_end = Some(now);
    }

    /// Whether the batch whose first op came at `started` is part of a
    /// burst: the previous batch was big and this one began right after it.
    pub(crate) fn in_burst(&self, started: Instant) -> bool {
        self.last_writes >= BURST
            && self
                .last_end
                .is_some_and(|end| started.saturating_duration_since(end) <= LINGER)
    }

    /// What to do with a batch whose first op came at `started`, holding
    /// `batch`, the queue empty at `now`. Never waits when idle: a lone
    /// answer and its mark commit at once, as does anything urgent or a
    /// batch of [`FILL`] writes. A burst lingers up to [`LINGER`] to fill
    /// the batch, asleep in slices (a wake-up per write would cost more
    /// than the commit saves). Writes whose mark has not come yet wait up
    /// to [`UNWAITED`] for it: on the queue, woken as soon as it comes, or
    /// in a burst asleep like the rest.
    pub(crate) fn step(&self, started: Instant, batch: Gathered, now: Instant) -> Step {
        if batch.urgent || batch.writes >= FILL || batch.writes + batch.marks == 0 {
            return Step::Commit;
        }
        let burst = self.in_burst(started);
        let until = if batch.marks == 0 {
            started + UNWAITED
        } else if burst {
            started + LINGER
        } else {
            return Step::Commit;
        };
        if now >= until {
            Step::Commit
        } else if burst {
            Step::Linger(until.min(now + LINGER_SLICE))
        } else {
            Step::Await(until)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered(writes: usize, marks: usize) -> Gathered {
        Gathered {
            writes,
            marks,
            urgent: false,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_lone_answer_with_its_mark_commits_at_once() {
        // A classroom: answers trickle in, the writer was idle.
        let t0 = Instant::now();
        let idle = Pace::default();
        assert_eq!(idle.step(t0, gathered(1, 1), t0), Step::Commit);
        // The previous batch was small and long ago: still no linger.
        let mut pace = Pace::default();
        pace.committed(2, t0);
        let later = t0 + ms(40);
        assert_eq!(pace.step(later, gathered(1, 1), later), Step::Commit);
        // Small and right before: a trickle, not a burst.
        let soon = t0 + us(100);
        assert_eq!(pace.step(soon, gathered(3, 2), soon), Step::Commit);
    }

    #[test]
    fn a_burst_lingers_up_to_a_millisecond_or_until_the_batch_is_full() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        pace.committed(BURST, t0);
        let started = t0 + us(20);
        // Right after a big batch: sleep a slice, look again.
        assert_eq!(
            pace.step(started, gathered(10, 3), started),
            Step::Linger(started + LINGER_SLICE)
        );
        // The last slice ends at the linger's end, not past it.
        let late = started + us(900);
        assert_eq!(
            pace.step(started, gathered(30, 9), late),
            Step::Linger(started + LINGER)
        );
        // Out of time, or full: commit.
        assert_eq!(
            pace.step(started, gathered(30, 9), started + LINGER),
            Step::Commit
        );
        assert_eq!(pace.step(started, gathered(FILL, 9), started), Step::Commit);
    }

    #[test]
    fn a_batch_that_began_well_after_the_last_commit_is_no_burst() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        pace.committed(500, t0);
        assert!(pace.in_burst(t0 + LINGER));
        let started = t0 + LINGER + us(1);
        assert!(!pace.in_burst(started));
        assert_eq!(pace.step(started, gathered(5, 1), started), Step::Commit);
        // A small batch after a big one ends the burst for the next.
        pace.committed(5, started);
        assert!(!pace.in_burst(started + us(10)));
    }

    #[test]
    fn urgent_batches_never_wait() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        pace.committed(1000, t0);
        let urgent = Gathered {
            writes: 3,
            marks: 1,
            urgent: true,
        };
        assert_eq!(pace.step(t0, urgent, t0), Step::Commit);
        let unwaited = Gathered {
            writes: 3,
            marks: 0,
            urgent: true,
        };
        assert_eq!(pace.step(t0, unwaited, t0), Step::Commit);
    }

    #[test]
    fn writes_without_a_mark_wait_on_the_queue_for_it() {
        let t0 = Instant::now();
        let pace = Pace::default();
        assert_eq!(
            pace.step(t0, gathered(1, 0), t0 + us(3)),
            Step::Await(t0 + UNWAITED)
        );
        assert_eq!(pace.step(t0, gathered(1, 0), t0 + UNWAITED), Step::Commit);
        // Enough of them commit anyway; nothing at all has nothing to wait for.
        assert_eq!(pace.step(t0, gathered(FILL, 0), t0), Step::Commit);
        assert_eq!(pace.step(t0, gathered(0, 0), t0), Step::Commit);
        // In a burst they sleep instead of being woken by every write, past
        // the burst's linger if need be, until their mark comes.
        let mut busy = Pace::default();
        busy.committed(200, t0);
        let late = t0 + LINGER + us(100);
        assert_eq!(
            busy.step(t0, gathered(20, 0), late),
            Step::Linger(late + LINGER_SLICE)
        );
        assert_eq!(busy.step(t0, gathered(20, 1), late), Step::Commit);
        assert_eq!(busy.step(t0, gathered(20, 0), t0 + UNWAITED), Step::Commit);
    }

    #[tokio::test]
    async fn a_signal_rises_once_per_higher_mark_and_wakes_its_room() {
        let signal = CommitSignal::new();
        assert_eq!(signal.committed(), 0);
        signal.reach(3);
        // The rise was stored as a wake-up: the wait ends at once.
        signal.advanced().await;
        assert_eq!(signal.committed(), 3);
        // A lower or equal mark neither lowers it nor wakes anyone.
        signal.reach(2);
        signal.reach(3);
        assert_eq!(signal.committed(), 3);
        let waiter = {
            let signal = signal.clone();
            tokio::spawn(async move {
                signal.advanced().await;
                signal.committed()
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        signal.reach(5);
        assert_eq!(waiter.await.unwrap(), 5);
    }
}
