//! Shared server state handed to every HTTP handler and socket task.

use std::sync::{Arc, RwLock};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::store::Store;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    catalog: RwLock<Arc<Catalog>>,
    store: Option<Arc<Store>>,
}

impl AppState {
    /// Builds the state from a config and the catalog loaded at start.
    pub fn new(config: Config, catalog: Catalog) -> AppState {
        AppState::with_store(config, catalog, None)
    }

    /// Builds the state with the results database (`None` keeps results in
    /// memory only, as unit tests of other parts do).
    pub fn with_store(config: Config, catalog: Catalog, store: Option<Arc<Store>>) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                config,
                catalog: RwLock::new(Arc::new(catalog)),
                store,
            }),
        }
    }

    /// The results database, if the server runs with one.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.inner.store.as_ref()
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

    /// Replaces the catalog (after a bank upload).
    pub fn set_catalog(&self, catalog: Catalog) {
        *self
            .inner
            .catalog
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
    }
}
