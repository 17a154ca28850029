//! The hosts' libraries in the store: quizzes and the hosts' own versions
//! of imported questions, each row owned by one host token.
//!
//! One trait, [`LibraryStore`], with the store's two homes: an embedded
//! SQLite file ([`SqliteLibrary`], the default) and the PostgreSQL
//! database a cluster shares ([`super::library_pg::PgLibrary`], with
//! `--database-url`), so every node of a cluster sees the same libraries.
//!
//! On SQLite the library is a separate file beside the results database,
//! so library saves (rare, small, whole documents) never queue behind a
//! vote storm, and the results database's writer and WAL policy stay as
//! they are. WAL mode with `synchronous=FULL`: a save that returned
//! survives a kill -9 and a power loss. Each save is one transaction, so it
//! is all or nothing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::library::model::{LibQuestion, Quiz};

/// File name of the library database inside the data dir.
pub const LIBRARY_FILE: &str = "library.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hosts (
    token      TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quizzes (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    doc        TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    deleted_ms INTEGER
);
CREATE INDEX IF NOT EXISTS quizzes_by_owner ON quizzes(owner, created_ms);
CREATE TABLE IF NOT EXISTS edits (
    owner       TEXT NOT NULL,
    question_id TEXT NOT NULL,
    doc         TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (owner, question_id)
) WITHOUT ROWID;
";

/// Why the library database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// SQLite refused an operation.
    #[error("library database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused an operation or could not be reached.
    #[error("library database: {0}")]
    Postgres(#[from] postgres::Error),
    /// PostgreSQL did not answer in time: the connection was dropped, the
    /// next call opens a new one.
    #[error("library database did not answer within {} ms", .0.as_millis())]
    TimedOut(std::time::Duration),
    /// The PostgreSQL library's connection thread is gone.
    #[error("library database: closed")]
    Closed,
    /// A stored document could not be read back.
    #[error("library document: {0}")]
    Json(#[from] serde_json::Error),
    /// The data dir could not be created.
    #[error("data dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<crate::storage::pg_client::PgError> for LibraryError {
    fn from(e: crate::storage::pg_client::PgError) -> LibraryError {
        use crate::storage::pg_client::PgError;
        match e {
            PgError::Db(e) => LibraryError::Postgres(e),
            PgError::TimedOut(after) => LibraryError::TimedOut(after),
            PgError::Runtime(source) => LibraryError::Io {
                path: "PostgreSQL connection runtime".into(),
                source,
            },
        }
    }
}

impl LibraryError {
    /// Whether the database could not be reached or did not answer in
    /// time (worth trying again later), rather than refusing the call.
    pub fn is_unavailable(&self) -> bool {
        match self {
            LibraryError::TimedOut(_) | LibraryError::Closed => true,
            LibraryError::Postgres(e) => e.as_db_error().is_none(),
            _ => false,
        }
    }
}

impl crate::storage::pg_client::CallError for LibraryError {
    fn timed_out(after: std::time::Duration) -> LibraryError {
        LibraryError::TimedOut(after)
    }

    fn closed() -> LibraryError {
        LibraryError::Closed
    }
}

/// Where libraries are kept. Every call is short and synchronous (a
/// document or a host's list) and may be made from an HTTP handler or a
/// room's task: a store that waits on a network does it off the runtime.
/// Every write is one transaction: all or nothing.
pub trait LibraryStore: Send + Sync {
    /// Where the data is, for logs (a file path, or a database address
    /// without its password).
    fn describe(&self) -> String;

    /// Records a host token issued by `POST /api/hosts`.
    fn add_host(&self, token: &str) -> Result<(), LibraryError>;

    /// Whether `token` was issued as a host token or owns library rows.
    fn host_known(&self, token: &str) -> Result<bool, LibraryError>;

    /// Every live quiz of `owner`, oldest first.
    fn quizzes(&self, owner: &str) -> Result<Vec<Quiz>, LibraryError>;

    /// One quiz of `owner` (`None` for another owner's or a deleted one).
    fn quiz(&self, owner: &str, id: &str) -> Result<Option<Quiz>, LibraryError>;

    /// Saves `quiz` (already checked) for `owner`, stamping `updated_ms`.
    /// Refuses (`Ok(false)`) to overwrite a quiz id owned by someone else.
    fn save_quiz(&self, owner: &str, quiz: &mut Quiz) -> Result<bool, LibraryError>;

    /// Marks a quiz deleted (kept, so [`LibraryStore::restore_quiz`] can
    /// undo it). `Ok(false)` when `owner` has no such live quiz.
    fn delete_quiz(&self, owner: &str, id: &str) -> Result<bool, LibraryError>;

    /// Brings a deleted quiz back. `Ok(false)` when `owner` has no such
    /// deleted quiz.
    fn restore_quiz(&self, owner: &str, id: &str) -> Result<bool, LibraryError>;

    /// The host's versions of imported questions: (catalog id, question).
    fn edits(&self, owner: &str) -> Result<Vec<(String, LibQuestion)>, LibraryError>;

    /// Saves the host's version of imported question `question_id`.
    fn save_edit(
        &self,
        owner: &str,
        question_id: &str,
        question: &LibQuestion,
    ) -> Result<(), LibraryError>;

    /// Drops the host's version, so the imported question shows again.
    fn delete_edit(&self, owner: &str, question_id: &str) -> Result<bool, LibraryError>;

    /// For a store other servers write too: a number that changes with
    /// every library write by any of them, so a node can tell its cached
    /// views are stale. `None` for a store only this server writes.
    fn revision(&self) -> Result<Option<i64>, LibraryError> {
        Ok(None)
    }
}

/// The library in an embedded SQLite file. One connection behind a std
/// mutex, never held across an `.await`.
pub struct SqliteLibrary {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// Unix milliseconds now, as both stores stamp rows.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl SqliteLibrary {
    /// Opens (or creates) the library database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteLibrary, LibraryError> {
        std::fs::create_dir_all(data_dir).map_err(|source| LibraryError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(LIBRARY_FILE);
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteLibrary {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LibraryStore for SqliteLibrary {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn add_host(&self, token: &str) -> Result<(), LibraryError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO hosts (token, created_ms) VALUES (?1, ?2)",
            params![token, now_ms()],
        )?;
        Ok(())
    }

    fn host_known(&self, token: &str) -> Result<bool, LibraryError> {
        let conn = self.conn();
        let found: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM hosts WHERE token = ?1
                 UNION ALL SELECT 1 FROM quizzes WHERE owner = ?1
                 LIMIT 1",
                [token],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn quizzes(&self, owner: &str) -> Result<Vec<Quiz>, LibraryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT doc FROM quizzes WHERE owner = ?1 AND deleted_ms IS NULL
             ORDER BY created_ms, id",
        )?;
        let docs = stmt
            .query_map([owner], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(LibraryError::from))
            .collect()
    }

    fn quiz(&self, owner: &str, id: &str) -> Result<Option<Quiz>, LibraryError> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc FROM quizzes WHERE id = ?1 AND owner = ?2 AND deleted_ms IS NULL",
                [id, owner],
                |r| r.get(0),
            )
            .optional()?;
        doc.map(|d| serde_json::from_str(&d).map_err(LibraryError::from))
            .transpose()
    }

    fn save_quiz(&self, owner: &str, quiz: &mut Quiz) -> Result<bool, LibraryError> {
        let now = now_ms();
        quiz.updated_ms = now;
        let doc = serde_json::to_string(quiz)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<String> = tx
            .query_row("SELECT owner FROM quizzes WHERE id = ?1", [&quiz.id], |r| {
                r.get(0)
            })
            .optional()?;
        if current.as_deref().is_some_and(|o| o != owner) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO quizzes (id, owner, doc, created_ms, updated_ms, deleted_ms)
             VALUES (?1, ?2, ?3, ?4, ?4, NULL)
             ON CONFLICT(id) DO UPDATE SET doc = excluded.doc,
                 updated_ms = excluded.updated_ms, deleted_ms = NULL",
            params![quiz.id, owner, doc, now],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn delete_quiz(&self, owner: &str, id: &str) -> Result<bool, LibraryError> {
        let n = self.conn().execute(
            "UPDATE quizzes SET deleted_ms = ?3
             WHERE id = ?1 AND owner = ?2 AND deleted_ms IS NULL",
            params![id, owner, now_ms()],
        )?;
        Ok(n > 0)
    }

    fn restore_quiz(&self, owner: &str, id: &str) -> Result<bool, LibraryError> {
        let n = self.conn().execute(
            "UPDATE quizzes SET deleted_ms = NULL
             WHERE id = ?1 AND owner = ?2 AND deleted_ms IS NOT NULL",
            params![id, owner],
        )?;
        Ok(n > 0)
    }

    fn edits(&self, owner: &str) -> Result<Vec<(String, LibQuestion)>, LibraryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT question_id, doc FROM edits WHERE owner = ?1 ORDER BY question_id",
        )?;
        let rows = stmt
            .query_map([owner], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, doc)| Ok((id, serde_json::from_str(&doc)?)))
            .collect()
    }

    fn save_edit(
        &self,
        owner: &str,
        question_id: &str,
        question: &LibQuestion,
    ) -> Result<(), LibraryError> {
        let doc = serde_json::to_string(question)?;
        self.conn().execute(
            "INSERT INTO edits (owner, question_id, doc, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(owner, question_id) DO UPDATE SET doc = excluded.doc,
                 updated_ms = excluded.updated_ms",
            params![owner, question_id, doc, now_ms()],
        )?;
        Ok(())
    }

    fn delete_edit(&self, owner: &str, question_id: &str) -> Result<bool, LibraryError> {
        let n = self.conn().execute(
            "DELETE FROM edits WHERE owner = ?1 AND question_id = ?2",
            [owner, question_id],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quizzes_belong_to_their_owner_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteLibrary::open(dir.path()).unwrap();
        let mut quiz = Quiz {
            id: "lz1".into(),
            title: "Mine".into(),
            ..Default::default()
        };
        assert!(store.save_quiz("alice", &mut quiz).unwrap());
        assert!(
            !store.save_quiz("bob", &mut quiz).unwrap(),
            "bob cannot take it"
        );
        assert_eq!(store.quiz("bob", "lz1").unwrap(), None);
        assert!(store.delete_quiz("alice", "lz1").unwrap());
        assert!(store.quizzes("alice").unwrap().is_empty());
        assert!(store.restore_quiz("alice", "lz1").unwrap());
        drop(store);
        let store = SqliteLibrary::open(dir.path()).unwrap();
        assert_eq!(store.quiz("alice", "lz1").unwrap().unwrap().title, "Mine");
        assert!(store.host_known("alice").unwrap());
        assert!(!store.host_known("bob").unwrap());
    }
}
