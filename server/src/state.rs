//! Shared server state handed to every HTTP handler, socket and room task.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::{watch, Notify};

use crate::bank::catalog::Catalog;
use crate::config::Config;
use crate::library::Library;
use crate::live::cluster::Cluster;
use crate::live::room::ConnId;
use crate::live::rooms::Rooms;
use crate::live::ws::limits::FailedJoins;
use crate::storage::uploads_pg::SharedBanks;
use crate::storage::{Persistence, Store};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    catalog: RwLock<Arc<Catalog>>,
    store: Option<Arc<dyn Store>>,
    library: OnceLock<Arc<Library>>,
    rooms: Rooms,
    failed_joins: FailedJoins,
    next_conn: AtomicU64,
    players_online: AtomicUsize,
    shutdown: watch::Sender<bool>,
    connections: TaskCount,
    room_tasks: TaskCount,
    cluster: OnceLock<Arc<Cluster>>,
    shared_banks: OnceLock<Arc<SharedBanks>>,
}

impl AppState {
    /// Builds the state from a config and the catalog loaded at start.
    pub fn new(config: Config, catalog: Catalog) -> AppState {
        AppState::with_store(config, catalog, None)
    }

    /// Builds the state with the results database (`None` keeps results in
    /// memory only, as unit tests of other parts do).
    pub fn with_store(config: Config, catalog: Catalog, store: Option<Arc<dyn Store>>) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                config,
                catalog: RwLock::new(Arc::new(catalog)),
                store,
                library: OnceLock::new(),
                rooms: Rooms::default(),
                failed_joins: FailedJoins::default(),
                next_conn: AtomicU64::new(1),
                players_online: AtomicUsize::new(0),
                shutdown: watch::channel(false).0,
                connections: TaskCount::default(),
                room_tasks: TaskCount::default(),
                cluster: OnceLock::new(),
                shared_banks: OnceLock::new(),
            }),
        }
    }

    /// The results database, if the server runs with one.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.inner.store.as_ref()
    }

    /// Attaches the hosts' libraries (once, at start); without one the
    /// library endpoints answer 503 and every host sees the shared catalog.
    pub fn set_library(&self, library: Arc<Library>) {
        let _ = self.inner.library.set(library);
    }

    /// The hosts' libraries, if the server runs with them.
    pub fn library(&self) -> Option<&Arc<Library>> {
        self.inner.library.get()
    }

    /// Changes whenever any host's library changes (0 without libraries).
    pub fn library_generation(&self) -> u64 {
        self.library().map_or(0, |l| l.generation())
    }

    /// The catalog as the host with `token` sees it: the shared catalog
    /// (`base`) with that host's library merged in.
    pub fn catalog_for(&self, base: &Arc<Catalog>, token: &str) -> Arc<Catalog> {
        match self.library() {
            Some(library) => library.catalog_for(base, token),
            None => base.clone(),
        }
    }

    /// This node's part of the cluster, in cluster mode.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.inner.cluster.get()
    }

    /// Puts the node in cluster mode (once, at start). Socket ids then start
    /// from a random base, so ids of sockets on different nodes of one room
    /// do not collide.
    pub fn set_cluster(&self, cluster: Arc<Cluster>) {
        let base: u64 = rand::random::<u64>() & 0xf_ffff;
        self.inner
            .next_conn
            .store((base << 32) | 1, Ordering::Relaxed);
        let _ = self.inner.cluster.set(cluster);
    }

    /// Keeps uploaded banks in the shared database (once, at start, with
    /// `--database-url`) instead of the data folder.
    pub fn set_shared_banks(&self, banks: Arc<SharedBanks>) {
        let _ = self.inner.shared_banks.set(banks);
    }

    /// The shared database's uploaded banks, when uploads live there.
    pub fn shared_banks(&self) -> Option<&Arc<SharedBanks>> {
        self.inner.shared_banks.get()
    }

    /// Takes in the banks other nodes uploaded since the last look (a
    /// one-row read when nothing changed); a no-op without shared banks.
    /// A database that cannot be read leaves the catalog as it is.
    pub fn refresh_shared_banks(&self) {
        let Some(banks) = self.shared_banks() else {
            return;
        };
        match banks.refresh(|catalog| self.set_catalog(catalog)) {
            Ok(bad) => {
                if banks.note_failing(false) {
                    tracing::info!("the uploaded banks can be read again");
                }
                for e in bad {
                    crate::metrics::bank_import_error();
                    tracing::warn!(error = %e, "a stored upload no longer reads; skipped");
                }
            }
            Err(e) => {
                if banks.note_failing(true) {
                    tracing::warn!(error = %e, "reading the uploaded banks failed; the catalog stays as it is");
                }
            }
        }
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The current catalog snapshot; uploads swap in a new one.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner
            .catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the catalog (after a bank upload). Live rooms pick it up
    /// before their next command.
    pub fn set_catalog(&self, catalog: Catalog) {
        *self
            .inner
            .catalog
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
    }

    /// The registry of live rooms.
    pub fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }

    /// Failed-join throttle shared by every socket, keyed by client address.
    pub fn failed_joins(&self) -> &FailedJoins {
        &self.inner.failed_joins
    }

    /// A fresh id for a new socket; never reused while the process runs, so
    /// a late message from an old socket cannot act for a new one.
    pub fn next_conn_id(&self) -> ConnId {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a socket identified as a player (`+1`) or gone (`-1`), and
    /// refreshes the gauges.
    pub fn player_online(&self, online: bool) {
        if online {
            self.inner.players_online.fetch_add(1, Ordering::Relaxed);
        } else {
            self.inner.players_online.fetch_sub(1, Ordering::Relaxed);
        }
        self.refresh_gauges();
    }

    /// Pushes the live room and player counts to the metrics gauges.
    pub fn refresh_gauges(&self) {
        crate::metrics::set_rooms_and_players(
            self.inner.rooms.len(),
            self.inner.players_online.load(Ordering::Relaxed),
        );
    }

    /// Starts the graceful shutdown: sockets close with 1012, rooms persist.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Whether the server is shutting down.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// A receiver that turns `true` when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Resolves once shutdown has begun (at once if it already has).
    pub async fn stopping(&self) {
        let mut signal = self.shutdown_signal();
        let _ = signal.wait_for(|stopping| *stopping).await;
    }

    /// Live socket tasks, so shutdown can wait for their close frames.
    pub fn connections(&self) -> &TaskCount {
        &self.inner.connections
    }

    /// Live room owner tasks, so shutdown can wait for them to persist.
    pub fn room_tasks(&self) -> &TaskCount {
        &self.inner.room_tasks
    }
}

/// The persistence glue reaches the store and catalog through this, so
/// `storage` needs nothing of the live rooms this state also holds.
impl Persistence for AppState {
    fn store(&self) -> Option<&Arc<dyn Store>> {
        self.inner.store.as_ref()
    }

    fn catalog(&self) -> Arc<Catalog> {
        AppState::catalog(self)
    }

    fn fresh_catalog(&self) -> Arc<Catalog> {
        self.refresh_shared_banks();
        AppState::catalog(self)
    }
}

/// Counts running tasks of one kind and lets shutdown wait until none is
/// left. Each task holds a [`TaskGuard`]; dropping it (normally or by a
/// panic) counts the task out.
#[derive(Debug, Default)]
pub struct TaskCount {
    running: AtomicUsize,
    idle: Notify,
}

/// Held by a running task; see [`TaskCount`].
pub struct TaskGuard {
    state: AppState,
    which: fn(&AppState) -> &TaskCount,
}

impl TaskCount {
    /// How many tasks are running.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Resolves once no task is running.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn leave(&self) {
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

impl TaskGuard {
    /// Counts a task in on the counter `which` picks from `state`, until
    /// the guard is dropped.
    pub fn enter(state: &AppState, which: fn(&AppState) -> &TaskCount) -> TaskGuard {
        which(state).running.fetch_add(1, Ordering::SeqCst);
        TaskGuard {
            state: state.clone(),
            which,
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        (self.which)(&self.state).leave();
    }
}
