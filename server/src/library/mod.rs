//! The host's library: quizzes written in the browser or imported from
//! spreadsheets, and the host's own versions of imported bank questions.
//!
//! A library belongs to one host token. Each host sees the shared catalog
//! with its library merged in ([`Library::catalog_for`]); rooms of that host
//! ask from that view, so library questions run in every mode and an
//! edited seed question is asked in the host's version while the seed file
//! stays as it is.

pub mod export;
pub mod import;
pub mod model;
pub mod validate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::Rng;

use crate::bank::catalog::Catalog;
use crate::storage::library::{LibraryError, LibraryStore, SqliteLibrary};
use model::{LibQuestion, Quiz};
use validate::FieldError;

/// Why a library request failed; each maps to one HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum LibError {
    /// The quiz or question has field errors; nothing was saved.
    #[error("the quiz has {} problem(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// No such quiz or question for this host.
    #[error("not found")]
    NotFound,
    /// The database failed (details logged).
    #[error(transparent)]
    Store(#[from] LibraryError),
}

/// A host's merged catalog, kept until the base catalog or the host's
/// library changes.
struct View {
    base: Arc<Catalog>,
    version: u64,
    catalog: Arc<Catalog>,
}

/// How often a node sharing its library database with others looks for
/// their changes (so a room there asks a quiz saved through another node).
pub const SHARED_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The library service: the store plus each host's merged catalog.
pub struct Library {
    store: Box<dyn LibraryStore>,
    /// The shared store's revision last seen ([`Library::poll_shared`]).
    seen_revision: AtomicI64,
    /// Bumped on every change of any host's library, so a room can tell
    /// with one atomic load whether it must look again.
    generation: AtomicU64,
    /// Per host: version of its library (bumped on its changes).
    versions: Mutex<HashMap<String, u64>>,
    views: Mutex<HashMap<String, View>>,
}

/// A fresh random id with a prefix (`lz` quizzes, `lq` questions).
pub fn new_id(prefix: &str) -> String {
    let bits: u64 = rand::rng().random();
    format!("{prefix}{bits:016x}")
}

impl Library {
    /// Opens the library where the results are: the PostgreSQL database
    /// at `config.database_url` when one is given (shared by a cluster),
    /// else a SQLite file in `config.data_dir`.
    pub fn open(config: &crate::config::Config) -> Result<Library, LibraryError> {
        let store: Box<dyn LibraryStore> = match &config.database_url {
            Some(url) => Box::new(crate::storage::library_pg::PgLibrary::open(url)?),
            None => Box::new(SqliteLibrary::open(&config.data_dir)?),
        };
        Ok(Library::with_store(store))
    }

    /// The service over an opened store.
    pub fn with_store(store: Box<dyn LibraryStore>) -> Library {
        Library {
            store,
            seen_revision: AtomicI64::new(i64::MIN),
            generation: AtomicU64::new(1),
            versions: Mutex::default(),
            views: Mutex::default(),
        }
    }

    /// The underlying store (host tokens, raw reads).
    pub fn store(&self) -> &dyn LibraryStore {
        self.store.as_ref()
    }

    /// For a store other nodes write too: looks at its revision and, when
    /// another node changed a library since the last look, drops every
    /// cached view and bumps the generation, so rooms rebuild their view
    /// on their next command. Returns whether anything changed. Cheap (one
    /// one-row query); [`crate::run`] calls it every [`SHARED_POLL`].
    pub fn poll_shared(&self) -> bool {
        let revision = match self.store.revision() {
            Ok(Some(rev)) => rev,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "reading the library revision failed");
                return false;
            }
        };
        let before = self.seen_revision.swap(revision, Ordering::AcqRel);
        if before == revision {
            return false;
        }
        self.views.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
            .for_each(|v| *v += 1);
        self.generation.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Changes whenever any host's library changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self, owner: &str) {
        *self
            .versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(owner.to_string())
            .or_insert(0) += 1;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn version(&self, owner: &str) -> u64 {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(owner)
            .copied()
            .unwrap_or(0)
    }

    /// The catalog as `owner` sees it: `base` plus its quizzes and edits.
    /// A host with an empty library gets `base` itself.
    pub fn catalog_for(&self, base: &Arc<Catalog>, owner: &str) -> Arc<Catalog> {
        let version = self.version(owner);
        if let Some(view) = self
            .views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(owner)
        {
            if view.version == version && Arc::ptr_eq(&view.base, base) {
                return view.catalog.clone();
            }
        }
        let loaded = self
            .store
            .quizzes(owner)
            .and_then(|q| Ok((q, self.store.edits(owner)?)));
        let (quizzes, edits) = match loaded {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "reading a library failed; showing the shared catalog");
                return base.clone();
            }
        };
        // A host with an empty library (almost every room's host) is not
        // remembered: the shared catalog is its view, and a server that
        // opens thousands of rooms keeps no entry per token.
        if quizzes.is_empty() && edits.is_empty() {
            self.views
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(owner);
            return base.clone();
        }
        let catalog = {
            let banks = quizzes.iter().map(Quiz::to_bank).collect();
            let edits = edits
                .iter()
                .map(|(id, q)| (id.clone(), q.to_question(0)))
                .collect();
            Arc::new(base.for_host(banks, &edits))
        };
        self.views.lock().unwrap_or_else(|e| e.into_inner()).insert(
            owner.to_string(),
            View {
                base: base.clone(),
                version,
                catalog: catalog.clone(),
            },
        );
        catalog
    }

    /// Checks, completes (ids) and saves a quiz for `owner`; `id` names the
    /// quiz being replaced (`None` creates one). All or nothing.
    pub fn save_quiz(
        &self,
        owner: &str,
        id: Option<&str>,
        mut quiz: Quiz,
    ) -> Result<Quiz, LibError> {
        match id {
            Some(id) => {
                if self.store.quiz(owner, id)?.is_none() {
                    return Err(LibError::NotFound);
                }
                quiz.id = id.to_string();
            }
            None => quiz.id = new_id("lz"),
        }
        let errors = validate::check_quiz(&quiz);
        if !errors.is_empty() {
            return Err(LibError::Invalid(errors));
        }
        quiz.title = quiz.title.trim().to_string();
        let mut seen = std::collections::HashSet::new();
        for q in &mut quiz.questions {
            let fresh = q.id.is_empty()
                || q.id.len() > 64
                || !q.id.bytes().all(|b| b.is_ascii_alphanumeric())
                || !seen.insert(q.id.clone());
            if fresh {
                q.id = new_id("lq");
                seen.insert(q.id.clone());
            }
        }
        if !self.store.save_quiz(owner, &mut quiz)? {
            return Err(LibError::NotFound);
        }
        self.changed(owner);
        Ok(quiz)
    }

    /// Deletes (`restore: false`) or brings back a quiz.
    pub fn delete_quiz(&self, owner: &str, id: &str, restore: bool) -> Result<(), LibError> {
        let done = if restore {
            self.store.restore_quiz(owner, id)?
        } else {
            self.store.delete_quiz(owner, id)?
        };
        if !done {
            return Err(LibError::NotFound);
        }
        self.changed(owner);
        Ok(())
    }

    /// Saves the host's version of imported question `catalog_id`.
    pub fn save_edit(
        &self,
        owner: &str,
        catalog_id: &str,
        mut question: LibQuestion,
    ) -> Result<LibQuestion, LibError> {
        let mut errors = Vec::new();
        validate::check_question(&question, "", &mut errors);
        if !errors.is_empty() {
            return Err(LibError::Invalid(errors));
        }
        question.id = catalog_id.to_string();
        question.topic = None;
        self.store.save_edit(owner, catalog_id, &question)?;
        self.changed(owner);
        Ok(question)
    }

    /// Drops the host's version of an imported question.
    pub fn delete_edit(&self, owner: &str, catalog_id: &str) -> Result<(), LibError> {
        if !self.store.delete_edit(owner, catalog_id)? {
            return Err(LibError::NotFound);
        }
        self.changed(owner);
        Ok(())
    }
}
