//! Uploaded banks on PostgreSQL (`--database-url`): the database every
//! node of a cluster shares, so a bank uploaded through one node is listed
//! and asked on every other, and a room taken over from a dead node still
//! finds the bank it asks from.
//!
//! Each upload is its file's bytes as sent, keyed by file name (a second
//! upload of a name replaces the first), in `uploaded_banks`; every upload
//! also bumps `uploaded_banks_revision`, one counter in the same
//! transaction. Nodes learn of each other's uploads by reading that counter
//! every [`POLL`] (a one-row primary-key read, negligible next to the rest
//! of the traffic) and, when it moved, reading the files again. Polling the
//! database the library already polls keeps the database the only thing a
//! node must reach to see an upload: it needs no LISTEN connection kept
//! open beside the pooled ones, and a message missed while Redis was away
//! cannot leave a node with an old catalog.
//!
//! The connection runs a runtime of its own, which must not start on a
//! thread of the server's, so one thread owns the connection and runs each
//! call in turn; a caller waits for its answer off the runtime, at most
//! [`CALL_WAIT`], and every round trip has a deadline
//! ([`super::pg_client`]), so a database that stops answering fails the
//! poll and the upload instead of hanging them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::pg_client::{self, Job as PgJob, PgClient as Client, SLOW_TIMEOUT};
use super::store::{now_ms, StoreError};
use crate::bank::catalog::Catalog;
use crate::bank::{Bank, BankError};

/// How often a node looks whether another node took an upload.
pub const POLL: Duration = Duration::from_secs(1);

/// Key of the advisory lock that serializes creating the tables when the
/// nodes of a cluster start together.
const SCHEMA_LOCK: i64 = 0x7172_7570_6c6f_6164; // "qrupload"

/// TCP connect part of opening a connection (the whole of it is bounded
/// by [`pg_client::CONNECT_TIMEOUT`]).
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a caller waits for a call, its turn included: a revision poll
/// or an upload fails after this rather than waiting on a database that
/// stopped answering. Longer than the results' reads: a call here may
/// carry every uploaded file.
pub const CALL_WAIT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS uploaded_banks (
    name        TEXT PRIMARY KEY,
    body        BYTEA NOT NULL,
    uploaded_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploaded_banks_revision (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev BIGINT NOT NULL
);
INSERT INTO uploaded_banks_revision (id, rev) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
";

/// One stored upload: its file name and bytes.
pub type StoredFile = (String, Vec<u8>);

/// A call run on the connection's thread.
type Job = PgJob<Conn>;

/// A connection that opens itself again after it broke.
struct Conn {
    config: tokio_postgres::Config,
    client: Option<Client>,
}

impl Conn {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.client = Some(Client::connect(&self.config)?);
        }
        self.client.as_mut().ok_or(StoreError::Closed)
    }
}

/// The uploaded bank files on a PostgreSQL database.
pub struct PgUploads {
    jobs: Mutex<Option<SyncSender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl PgUploads {
    /// Connects to `url`, creates the tables if needed and starts the
    /// connection's thread.
    pub fn open(url: &str) -> Result<PgUploads, StoreError> {
        let mut config: tokio_postgres::Config = url.parse()?;
        config.connect_timeout(TCP_CONNECT_TIMEOUT);
        config.application_name("quizroom-uploads");
        let (jobs, queue) = mpsc::sync_channel::<Job>(64);
        let mut conn = Conn {
            config,
            client: None,
        };
        let worker = std::thread::Builder::new()
            .name("quizroom-pg-uploads".into())
            .spawn(move || {
                for job in queue {
                    job(&mut conn);
                }
            })
            .map_err(|_| StoreError::Closed)?;
        let uploads = PgUploads {
            jobs: Mutex::new(Some(jobs)),
            worker: Mutex::new(Some(worker)),
        };
        uploads.run_within(SLOW_TIMEOUT, |client| {
            client.with_timeout(SLOW_TIMEOUT, |client| {
                let mut tx = client.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
                tx.batch_execute(SCHEMA)?;
                tx.commit()?;
                Ok(())
            })
        })?;
        Ok(uploads)
    }

    /// Runs `f` on the connection's thread and waits for its answer off the
    /// async runtime, at most [`CALL_WAIT`]. A connection found broken (the
    /// database restarted since the last call) is opened again and `f`
    /// runs once more: every call here is a read or a write that gives the
    /// same rows when repeated. A call that timed out is not run again (it
    /// would only wait as long once more); its connection is gone, so the
    /// next call opens a fresh one.
    fn run<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run_within(CALL_WAIT, f)
    }

    /// [`PgUploads::run`] with a wait of `wait`.
    fn run_within<T: Send + 'static>(
        &self,
        wait: Duration,
        f: impl Fn(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)?;
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

    /// Stores `bytes` as the upload named `name` (replacing an earlier one)
    /// and returns once committed.
    pub fn save(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let (name, bytes) = (name.to_string(), bytes.to_vec());
        self.run(move |client| {
            let mut tx = client.transaction()?;
            tx.execute(
                "INSERT INTO uploaded_banks (name, body, uploaded_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET body = excluded.body,
                     uploaded_ms = excluded.uploaded_ms",
                &[&name, &bytes, &super::store::to_sql(now_ms())],
            )?;
            tx.execute(
                "UPDATE uploaded_banks_revision SET rev = rev + 1 WHERE id = 1",
                &[],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Stores `bytes` as the upload named `name` unless one of that name is
    /// stored already; returns whether it was added.
    pub fn add_missing(&self, name: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        let (name, bytes) = (name.to_string(), bytes.to_vec());
        self.run(move |client| {
            let mut tx = client.transaction()?;
            let added = tx.execute(
                "INSERT INTO uploaded_banks (name, body, uploaded_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &bytes, &super::store::to_sql(now_ms())],
            )?;
            if added > 0 {
                tx.execute(
                    "UPDATE uploaded_banks_revision SET rev = rev + 1 WHERE id = 1",
                    &[],
                )?;
            }
            tx.commit()?;
            Ok(added > 0)
        })
    }

    /// The change counter: moves on every upload through any node.
    pub fn revision(&self) -> Result<i64, StoreError> {
        self.run(|client| {
            let row =
                client.query_one("SELECT rev FROM uploaded_banks_revision WHERE id = 1", &[])?;
            Ok(row.try_get(0)?)
        })
    }

    /// Every upload with the revision it belongs to, in file name order
    /// (the order a node loads them in, as from the upload folder).
    pub fn all(&self) -> Result<(i64, Vec<StoredFile>), StoreError> {
        self.run(|client| {
            let mut tx = client.read_only_transaction()?;
            let rev: i64 = tx
                .query_one("SELECT rev FROM uploaded_banks_revision WHERE id = 1", &[])?
                .try_get(0)?;
            let rows = tx.query(
                "SELECT name, body FROM uploaded_banks ORDER BY name COLLATE \"C\"",
                &[],
            )?;
            let mut files = Vec::with_capacity(rows.len());
            for row in rows {
                files.push((row.try_get(0)?, row.try_get(1)?));
            }
            tx.commit()?;
            Ok((rev, files))
        })
    }
}

impl Drop for PgUploads {
    fn drop(&mut self) {
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        let worker = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(worker) = worker {
            let _ = worker.join();
        }
    }
}

/// Whether a call failed for the connection (not for what it asked).
fn broken<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Postgres(e)) if e.as_db_error().is_none())
}

/// The catalog of a node whose uploads live in the shared database: the
/// seed banks it started with, with the database's uploads on top, kept up
/// to date by [`SharedBanks::refresh`].
pub struct SharedBanks {
    seeds: Vec<Bank>,
    store: PgUploads,
    /// Revision of the uploads the current catalog was built from (-1:
    /// none yet).
    seen: AtomicI64,
    /// One rebuild at a time, so an older read never replaces a newer one.
    rebuild: Mutex<()>,
    /// The last look failed (the database is away): logged once, not at
    /// every look.
    failing: std::sync::atomic::AtomicBool,
}

/// Why an upload could not be kept in the shared database.
#[derive(Debug, thiserror::Error)]
#[error("the shared database did not take the upload: {0}")]
pub struct NotSaved(#[from] StoreError);

impl SharedBanks {
    /// Connects to the shared database at `url`; `seeds` are this node's
    /// seed banks (every node of a cluster runs with the same seeds).
    pub fn open(url: &str, seeds: &Catalog) -> Result<Arc<SharedBanks>, StoreError> {
        Ok(Arc::new(SharedBanks {
            seeds: seeds.banks().to_vec(),
            store: PgUploads::open(url)?,
            seen: AtomicI64::new(-1),
            rebuild: Mutex::new(()),
            failing: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Stores an upload already parsed (so only a bank that reads is
    /// stored) and returns once committed, after handing `apply` the
    /// catalog that includes it and every other node's uploads so far.
    pub fn save(
        &self,
        name: &str,
        bytes: &[u8],
        apply: impl FnOnce(Catalog),
    ) -> Result<(), NotSaved> {
        self.store.save(name, bytes)?;
        self.refresh(apply)?;
        Ok(())
    }

    /// Records whether the last look failed; returns whether that changed
    /// (so an outage is logged when it starts and when it ends).
    pub fn note_failing(&self, failing: bool) -> bool {
        self.failing.swap(failing, Ordering::AcqRel) != failing
    }

    /// Moves the banks uploaded to this node's folder before it used the
    /// shared database (`DATA_DIR/banks/`, see [`super::uploads`]) into
    /// it, so they stay listed: each file that parses and whose name the
    /// database does not hold yet is added (an upload made since through
    /// any node wins). The files are left where they are. Returns how many
    /// were added.
    pub fn import_dir(&self, dir: &std::path::Path) -> Result<usize, StoreError> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(0);
        };
        let mut names: Vec<(String, std::path::PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .filter(|(name, _)| !name.starts_with('.'))
            .collect();
        names.sort();
        let mut added = 0;
        for (name, path) in names {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if crate::bank::parse(&name, &bytes).is_err() {
                continue;
            }
            if self.store.add_missing(&name, &bytes)? {
                tracing::info!(file = %name, "uploaded bank moved into the shared database");
                added += 1;
            }
        }
        Ok(added)
    }

    /// When the uploads changed since the last look (or there was no look
    /// yet), hands `apply` the catalog rebuilt from the seeds and the
    /// database's uploads (under a lock, so an older rebuild never lands
    /// after a newer one). Returns the stored files that no longer parse
    /// (reported and skipped, like a bad seed).
    pub fn refresh(&self, apply: impl FnOnce(Catalog)) -> Result<Vec<BankError>, StoreError> {
        let _one = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let revision = self.store.revision()?;
        if revision == self.seen.load(Ordering::Acquire) {
            return Ok(Vec::new());
        }
        let (revision, files) = self.store.all()?;
        let mut errors = Vec::new();
        let uploads = files
            .iter()
            .filter_map(|(name, body)| match crate::bank::parse(name, body) {
                Ok(bank) => Some(bank),
                Err(e) => {
                    errors.push(e);
                    None
                }
            })
            .collect();
        apply(merge(&self.seeds, uploads));
        self.seen.store(revision, Ordering::Release);
        Ok(errors)
    }
}

/// `seeds` with `uploads` added in order, each replacing a bank of the same
/// file name or id, as [`Catalog::with_bank`] does for one upload.
fn merge(seeds: &[Bank], uploads: Vec<Bank>) -> Catalog {
    let mut banks = seeds.to_vec();
    for upload in uploads {
        banks.retain(|b| b.file != upload.file && b.id != upload.id);
        banks.push(upload);
    }
    Catalog::from_banks(banks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_replace_seeds_and_each_other_by_file_name() {
        let bank = |file: &str, text: &str| crate::bank::parse(file, text.as_bytes()).unwrap();
        let seeds = vec![bank("astro.gift", "$CATEGORY: Old\n\n::q:: Old? {T}\n")];
        let catalog = merge(
            &seeds,
            vec![
                bank("astro.gift", "$CATEGORY: Astronomy\n\n::q:: New? {T}\n"),
                bank("extra.gift", "$CATEGORY: Extra\n\n::q:: Extra? {T}\n"),
            ],
        );
        let paths: Vec<_> = catalog
            .banks()
            .iter()
            .map(|b| b.topics[0].path.clone())
            .collect();
        assert_eq!(
            paths,
            vec![vec!["Astronomy".to_string()], vec!["Extra".to_string()]]
        );
    }
}
