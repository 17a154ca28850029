//! A blocking PostgreSQL connection whose every round trip has a deadline.
//!
//! A database that stops answering without refusing (packets dropped by a
//! network partition, a frozen server) leaves a query on an established
//! connection waiting for ever: TCP keepalives and `tcp_user_timeout` see
//! nothing wrong while the path to the peer still acknowledges. So each
//! call here (connecting included) runs under an application-level
//! timeout, and a call that runs out drops the connection: its socket is
//! closed, whatever the server had not committed is rolled back on its
//! side, and the owner opens a fresh connection on its next use.
//!
//! It wraps `tokio-postgres` on a current-thread runtime of its own, as the
//! blocking `postgres` client does, with the methods the stores use
//! (`execute`, `query`, transactions and savepoints). Like that client it
//! must not be used on a thread of the server's runtime: each store owns
//! its connections on threads of their own.

use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, NoTls, Row, SimpleQueryMessage, Statement, ToStatement};

/// Longest one round trip may take (a statement, a commit, a ping) before
/// the connection is taken for dead. Ample for the stores' statements,
/// which touch a few rows by key, and short enough that `/healthz` and the
/// hosts hear of a database that stopped answering within a few seconds.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest opening a connection may take, TCP connect, startup and
/// authentication together (`connect_timeout` alone bounds only the TCP
/// connect, and a peer that accepts but never answers passes it).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest the rare heavy statements may take: creating the tables (which
/// waits for other nodes starting at the same time) and the retention
/// purge (which deletes many rows at once).
pub const SLOW_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a call on a [`PgClient`] failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server refused the call, or the connection broke.
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    /// No answer within the deadline: the connection was dropped.
    #[error("PostgreSQL did not answer within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The connection's runtime could not be built.
    #[error("PostgreSQL connection runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// One connection with a deadline on every call. Once a call timed out or
/// the connection broke, [`PgClient::is_closed`] says so and the owner
/// connects again.
pub struct PgClient {
    /// `None` once the connection was dropped after a timeout: dropping
    /// the runtime drops the connection's task and closes its socket.
    runtime: Option<tokio::runtime::Runtime>,
    client: tokio_postgres::Client,
    timeout: Duration,
}

impl PgClient {
    /// Connects within [`CONNECT_TIMEOUT`]; calls then run under
    /// [`QUERY_TIMEOUT`].
    pub fn connect(config: &Config) -> Result<PgClient, PgError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (client, connection) = runtime
            .block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls)).await })
            .map_err(|_| PgError::TimedOut(CONNECT_TIMEOUT))??;
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(PgClient {
            runtime: Some(runtime),
            client,
            timeout: QUERY_TIMEOUT,
        })
    }

    /// Whether the connection is gone (it broke, or a call timed out).
    pub fn is_closed(&self) -> bool {
        self.runtime.is_none() || self.client.is_closed()
    }

    /// Runs `f` with calls allowed `timeout` each (the heavy statements,
    /// see [`SLOW_TIMEOUT`]), then goes back to the usual deadline.
    pub fn with_timeout<T>(&mut self, timeout: Duration, f: impl FnOnce(&mut Self) -> T) -> T {
        let usual = std::mem::replace(&mut self.timeout, timeout);
        let out = f(self);
        self.timeout = usual;
        out
    }

    /// Waits for `call` within the deadline; past it the connection goes.
    fn block<T>(
        runtime: &mut Option<tokio::runtime::Runtime>,
        timeout: Duration,
        call: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        let Some(rt) = runtime.as_ref() else {
            return Err(PgError::TimedOut(timeout));
        };
        // The timer is made inside the runtime: it needs its time driver.
        match rt.block_on(async { tokio::time::timeout(timeout, call).await }) {
            Ok(result) => Ok(result?),
            Err(_) => {
                crate::metrics::store_error();
                tracing::warn!(
                    after_ms = timeout.as_millis() as u64,
                    "PostgreSQL did not answer in time; connection dropped"
                );
                *runtime = None;
                Err(PgError::TimedOut(timeout))
            }
        }
    }

    /// See `tokio_postgres::Client::execute`.
    pub fn execute<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PgError> {
        Self::block(
            &mut self.runtime,
            self.timeout,
            self.client.execute(statement, params),
        )
    }

    /// See `tokio_postgres::Client::query`.
    pub fn query<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        Self::block(
            &mut self.runtime,
            self.timeout,
            self.client.query(statement, params),
        )
    }

    /// See `tokio_postgres::Client::query_opt`.
    pub fn query_opt<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError> {
        Self::block(
            &mut self.runtime,
            self.timeout,
            self.client.query_opt(statement, params),
        )
    }

    /// See `tokio_postgres::Client::query_one`.
    pub fn query_one<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, PgError> {
        Self::block(
            &mut self.runtime,
            self.timeout,
            self.client.query_one(statement, params),
        )
    }

    /// See `tokio_postgres::Client::prepare`.
    pub fn prepare(&mut self, query: &str) -> Result<Statement, PgError> {
        Self::block(&mut self.runtime, self.timeout, self.client.prepare(query))
    }

    /// See `tokio_postgres::Client::batch_execute`.
    pub fn batch_execute(&mut self, query: &str) -> Result<(), PgError> {
        Self::block(
            &mut self.runtime,
            self.timeout,
            self.client.batch_execute(query),
        )
    }

    /// See `tokio_postgres::Client::simple_query`.
    pub fn simple_query(&mut self, query: &str) -> Result<Vec<SimpleQueryMessage>, PgError> {
        Self::block(
            &mut self.runtime,
            self.timeout,
            self.client.simple_query(query),
        )
    }

    /// Begins a transaction; it rolls back unless committed.
    pub fn transaction(&mut self) -> Result<PgTransaction<'_>, PgError> {
        self.batch_execute("BEGIN")?;
        Ok(PgTransaction {
            client: self,
            depth: 0,
            done: false,
        })
    }

    /// Begins a read-only transaction (one consistent view for several
    /// reads); it rolls back unless committed.
    pub fn read_only_transaction(&mut self) -> Result<PgTransaction<'_>, PgError> {
        self.batch_execute("BEGIN READ ONLY")?;
        Ok(PgTransaction {
            client: self,
            depth: 0,
            done: false,
        })
    }
}

/// A transaction (depth 0) or a savepoint inside one (depth 1 and more)
/// on a [`PgClient`], whose calls it offers through `Deref`. Dropped
/// without [`PgTransaction::commit`], it rolls back (unless the
/// connection is gone, which rolls it back on the server's side anyway).
pub struct PgTransaction<'a> {
    client: &'a mut PgClient,
    depth: u32,
    done: bool,
}

impl PgTransaction<'_> {
    /// A savepoint inside this transaction: rolled back alone unless
    /// committed.
    pub fn transaction(&mut self) -> Result<PgTransaction<'_>, PgError> {
        let depth = self.depth + 1;
        self.client.batch_execute(&format!("SAVEPOINT sp{depth}"))?;
        Ok(PgTransaction {
            client: self.client,
            depth,
            done: false,
        })
    }

    /// Commits the transaction (or releases the savepoint).
    pub fn commit(mut self) -> Result<(), PgError> {
        self.done = true;
        match self.depth {
            0 => self.client.batch_execute("COMMIT"),
            depth => self
                .client
                .batch_execute(&format!("RELEASE SAVEPOINT sp{depth}")),
        }
    }
}

impl std::ops::Deref for PgTransaction<'_> {
    type Target = PgClient;

    fn deref(&self) -> &PgClient {
        self.client
    }
}

impl std::ops::DerefMut for PgTransaction<'_> {
    fn deref_mut(&mut self) -> &mut PgClient {
        self.client
    }
}

impl Drop for PgTransaction<'_> {
    fn drop(&mut self) {
        if self.done || self.client.is_closed() {
            return;
        }
        let _ = match self.depth {
            0 => self.client.batch_execute("ROLLBACK"),
            depth => self
                .client
                .batch_execute(&format!("ROLLBACK TO SAVEPOINT sp{depth}")),
        };
    }
}

/// A call queued for the thread that owns a connection `C`.
pub type Job<C> = Box<dyn FnOnce(&mut C) + Send>;

/// How a store tells its callers that a call ran out of time or that the
/// connection's thread is gone, in its own error type.
pub trait CallError {
    /// The call was not answered within `after`.
    fn timed_out(after: Duration) -> Self;
    /// The connection's thread has stopped.
    fn closed() -> Self;
}

/// Queues `f` for the connection's thread behind `jobs` and waits for its
/// answer off the async runtime, at most `wait` in all (its turn
/// included), so a caller never waits on a database that stopped
/// answering longer than that; a call whose caller gave up meanwhile is
/// not run at all. The connection's own deadlines drop a hung connection,
/// so the calls after it run on a fresh one.
pub fn call<C: 'static, T: Send + 'static, E: CallError + Send + 'static>(
    jobs: &std::sync::mpsc::SyncSender<Job<C>>,
    wait: Duration,
    f: impl FnOnce(&mut C) -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    use std::sync::mpsc::{RecvTimeoutError, TrySendError};
    let deadline = std::time::Instant::now() + wait;
    let (done, answer) = std::sync::mpsc::sync_channel(1);
    let job: Job<C> = Box::new(move |conn: &mut C| {
        let result = if std::time::Instant::now() >= deadline {
            Err(E::timed_out(wait))
        } else {
            f(conn)
        };
        let _ = done.send(result);
    });
    match jobs.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return Err(E::timed_out(wait)),
        Err(TrySendError::Disconnected(_)) => return Err(E::closed()),
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match super::queue::off_the_runtime(|| answer.recv_timeout(left)) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            crate::metrics::store_error();
            Err(E::timed_out(wait))
        }
        Err(RecvTimeoutError::Disconnected) => Err(E::closed()),
    }
}
