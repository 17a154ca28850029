//! The hosts' libraries on PostgreSQL (`--database-url`): the database
//! every node of a cluster shares, so a quiz saved through one node is
//! listed, exported and asked on every other.
//!
//! The same rows as the SQLite library, in tables of their own beside the
//! results tables (`library_hosts`, `library_quizzes`, `library_edits`),
//! plus `library_revision`, one counter every write bumps in its own
//! transaction: nodes poll it to learn that a library changed elsewhere.
//!
//! The connection runs a runtime of its own, which must not start on a
//! thread of the server's, so one thread owns the connection and runs each
//! call in turn; a caller waits for its answer off the runtime, at most
//! [`CALL_WAIT`], and every round trip has a deadline
//! ([`super::pg_client`]), so a database that stops answering fails a call
//! within seconds instead of hanging it. A connection that broke or timed
//! out is opened again on the next call. Commits are
//! synchronous (`synchronous_commit` as the server has it, on by default),
//! so a save that returned survives a kill -9 of the node.

use std::sync::mpsc::{self, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use super::library::{now_ms, LibraryError, LibraryStore};
use super::pg_client::{self, Job as PgJob, PgClient as Client, PgTransaction, SLOW_TIMEOUT};
use crate::library::model::{LibQuestion, Quiz};

/// Key of the advisory lock that serializes creating the library tables
/// when the nodes of a cluster start together.
const SCHEMA_LOCK: i64 = 0x7172_6c69_6272_6172; // "qrlibrar"

/// TCP connect part of opening a connection (the whole of it is bounded
/// by [`pg_client::CONNECT_TIMEOUT`]).
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a caller waits for a call, its turn included; past it the call
/// fails (HTTP answers `503`) rather than waiting on a database that
/// stopped answering.
pub const CALL_WAIT: Duration = Duration::from_millis(2_500);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS library_hosts (
    token      TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS library_quizzes (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    doc        TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    deleted_ms BIGINT
);
CREATE INDEX IF NOT EXISTS library_quizzes_by_owner ON library_quizzes(owner, created_ms);
CREATE TABLE IF NOT EXISTS library_edits (
    owner       TEXT NOT NULL,
    question_id TEXT NOT NULL,
    doc         TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (owner, question_id)
);
CREATE TABLE IF NOT EXISTS library_revision (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev BIGINT NOT NULL
);
INSERT INTO library_revision (id, rev) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
";

/// Bumps the change counter inside a write's transaction.
const BUMP: &str = "UPDATE library_revision SET rev = rev + 1 WHERE id = 1";

/// A call run on the connection's thread.
type Job = PgJob<Conn>;

/// A connection that opens itself again after it broke.
struct Conn {
    config: tokio_postgres::Config,
    client: Option<Client>,
}

impl Conn {
    fn client(&mut self) -> Result<&mut Client, LibraryError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.client = Some(Client::connect(&self.config)?);
        }
        self.client.as_mut().ok_or(LibraryError::Closed)
    }
}

/// The library on a PostgreSQL database. Share it behind an `Arc`.
pub struct PgLibrary {
    jobs: Mutex<Option<SyncSender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    describe: String,
}

impl PgLibrary {
    /// Connects to `url`, creates the library tables if needed and starts
    /// the connection's thread.
    pub fn open(url: &str) -> Result<PgLibrary, LibraryError> {
        let mut config: tokio_postgres::Config = url.parse()?;
        config.connect_timeout(TCP_CONNECT_TIMEOUT);
        config.application_name("quizroom-library");
        let describe = format!("{} (library)", super::postgres::describe(&config));
        let (jobs, queue) = mpsc::sync_channel::<Job>(256);
        let mut conn = Conn {
            config,
            client: None,
        };
        let worker = std::thread::Builder::new()
            .name("quizroom-pg-library".into())
            .spawn(move || {
                for job in queue {
                    job(&mut conn);
                }
            })
            .map_err(|_| LibraryError::Closed)?;
        let library = PgLibrary {
            jobs: Mutex::new(Some(jobs)),
            worker: Mutex::new(Some(worker)),
            describe,
        };
        library.run_within(SLOW_TIMEOUT, |client| {
            client.with_timeout(SLOW_TIMEOUT, |client| {
                let mut tx = client.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
                tx.batch_execute(SCHEMA)?;
                tx.commit()?;
                Ok(())
            })
        })?;
        Ok(library)
    }

    /// Runs `f` on the connection's thread and waits for its answer off
    /// the async runtime. When the connection turns out broken (the
    /// database restarted since the last call), `f` runs once more on a
    /// fresh one: every call here is a read or an idempotent write, so a
    /// second run never applies anything twice. A connection still broken
    /// is dropped, so the next call connects again. A call that timed out
    /// is not run again (it would only wait as long once more); the caller
    /// waits at most [`CALL_WAIT`] in all.
    fn run<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Client) -> Result<T, LibraryError> + Send + 'static,
    ) -> Result<T, LibraryError> {
        self.run_within(CALL_WAIT, f)
    }

    /// [`PgLibrary::run`] with a wait of `wait`.
    fn run_within<T: Send + 'static>(
        &self,
        wait: Duration,
        f: impl Fn(&mut Client) -> Result<T, LibraryError> + Send + 'static,
    ) -> Result<T, LibraryError> {
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(LibraryError::Closed)?;
        pg_client::call(&jobs, wait, move |conn: &mut Conn| {
            let mut result = conn.client().and_then(&f);
            if broken(&result) {
                conn.client = None;
                result = conn.client().and_then(&f);
            }
            if result.is_err() && conn.client.as_ref().is_none_or(Client::is_closed) {
                conn.client = None;
            }
            result
        })
    }

    /// Runs a write in one transaction that also bumps the revision.
    fn write<T: Send + 'static>(
        &self,
        f: impl Fn(&mut PgTransaction<'_>) -> Result<T, LibraryError> + Send + 'static,
    ) -> Result<T, LibraryError> {
        self.run(move |client| {
            let mut tx = client.transaction()?;
            let out = f(&mut tx)?;
            tx.execute(BUMP, &[])?;
            tx.commit()?;
            Ok(out)
        })
    }
}

impl Drop for PgLibrary {
    fn drop(&mut self) {
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        let worker = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(worker) = worker {
            let _ = worker.join();
        }
    }
}

/// Whether a call failed for the connection (not for what it asked): the
/// database went away or restarted.
fn broken<T>(result: &Result<T, LibraryError>) -> bool {
    matches!(result, Err(LibraryError::Postgres(e)) if e.as_db_error().is_none())
        || matches!(result, Err(LibraryError::Closed))
}

fn docs<T: serde::de::DeserializeOwned>(
    rows: &[tokio_postgres::Row],
) -> Result<Vec<T>, LibraryError> {
    rows.iter()
        .map(|r| {
            let doc: String = r.try_get(0)?;
            Ok(serde_json::from_str(&doc)?)
        })
        .collect()
}

impl LibraryStore for PgLibrary {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn add_host(&self, token: &str) -> Result<(), LibraryError> {
        let token = token.to_string();
        self.run(move |c| {
            c.execute(
                "INSERT INTO library_hosts (token, created_ms) VALUES ($1, $2)
                 ON CONFLICT (token) DO NOTHING",
                &[&token, &now_ms()],
            )?;
            Ok(())
        })
    }

    fn host_known(&self, token: &str) -> Result<bool, LibraryError> {
        let token = token.to_string();
        self.run(move |c| {
            let row = c.query_opt(
                "SELECT 1 FROM library_hosts WHERE token = $1
                 UNION ALL SELECT 1 FROM library_quizzes WHERE owner = $1
                 LIMIT 1",
                &[&token],
            )?;
            Ok(row.is_some())
        })
    }

    fn quizzes(&self, owner: &str) -> Result<Vec<Quiz>, LibraryError> {
        let owner = owner.to_string();
        self.run(move |c| {
            let rows = c.query(
                "SELECT doc FROM library_quizzes WHERE owner = $1 AND deleted_ms IS NULL
                 ORDER BY created_ms, id",
                &[&owner],
            )?;
            docs(&rows)
        })
    }

    fn quiz(&self, owner: &str, id: &str) -> Result<Option<Quiz>, LibraryError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.run(move |c| {
            let rows = c.query(
                "SELECT doc FROM library_quizzes
                 WHERE id = $1 AND owner = $2 AND deleted_ms IS NULL",
                &[&id, &owner],
            )?;
            Ok(docs(&rows)?.pop())
        })
    }

    fn save_quiz(&self, owner: &str, quiz: &mut Quiz) -> Result<bool, LibraryError> {
        let now = now_ms();
        quiz.updated_ms = now;
        let doc = serde_json::to_string(quiz)?;
        let (owner, id) = (owner.to_string(), quiz.id.clone());
        self.write(move |tx| {
            let current = tx.query_opt(
                "SELECT owner FROM library_quizzes WHERE id = $1 FOR UPDATE",
                &[&id],
            )?;
            if let Some(row) = current {
                let found: String = row.try_get(0)?;
                if found != owner {
                    return Ok(false);
                }
            }
            tx.execute(
                "INSERT INTO library_quizzes (id, owner, doc, created_ms, updated_ms, deleted_ms)
                 VALUES ($1, $2, $3, $4, $4, NULL)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc,
                     updated_ms = excluded.updated_ms, deleted_ms = NULL",
                &[&id, &owner, &doc, &now],
            )?;
            Ok(true)
        })
    }

    fn delete_quiz(&self, owner: &str, id: &str) -> Result<bool, LibraryError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE library_quizzes SET deleted_ms = $3
                 WHERE id = $1 AND owner = $2 AND deleted_ms IS NULL",
                &[&id, &owner, &now_ms()],
            )?;
            Ok(n > 0)
        })
    }

    fn restore_quiz(&self, owner: &str, id: &str) -> Result<bool, LibraryError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE library_quizzes SET deleted_ms = NULL
                 WHERE id = $1 AND owner = $2 AND deleted_ms IS NOT NULL",
                &[&id, &owner],
            )?;
            Ok(n > 0)
        })
    }

    fn edits(&self, owner: &str) -> Result<Vec<(String, LibQuestion)>, LibraryError> {
        let owner = owner.to_string();
        self.run(move |c| {
            let rows = c.query(
                "SELECT question_id, doc FROM library_edits WHERE owner = $1
                 ORDER BY question_id",
                &[&owner],
            )?;
            rows.iter()
                .map(|r| {
                    let id: String = r.try_get(0)?;
                    let doc: String = r.try_get(1)?;
                    Ok((id, serde_json::from_str(&doc)?))
                })
                .collect()
        })
    }

    fn save_edit(
        &self,
        owner: &str,
        question_id: &str,
        question: &LibQuestion,
    ) -> Result<(), LibraryError> {
        let doc = serde_json::to_string(question)?;
        let (owner, question_id) = (owner.to_string(), question_id.to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO library_edits (owner, question_id, doc, updated_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (owner, question_id) DO UPDATE SET doc = excluded.doc,
                     updated_ms = excluded.updated_ms",
                &[&owner, &question_id, &doc, &now_ms()],
            )?;
            Ok(())
        })
    }

    fn delete_edit(&self, owner: &str, question_id: &str) -> Result<bool, LibraryError> {
        let (owner, question_id) = (owner.to_string(), question_id.to_string());
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM library_edits WHERE owner = $1 AND question_id = $2",
                &[&owner, &question_id],
            )?;
            Ok(n > 0)
        })
    }

    fn revision(&self) -> Result<Option<i64>, LibraryError> {
        self.run(|c| {
            let row = c.query_one("SELECT rev FROM library_revision WHERE id = 1", &[])?;
            Ok(Some(row.try_get(0)?))
        })
    }
}
