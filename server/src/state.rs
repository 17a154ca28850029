//! Shared server state handed to every HTTP handler and socket task.

use std::sync::{Arc, RwLock};

use crate::catalog::Catalog;
use crate::config::Config;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    catalog: RwLock<Arc<Catalog>>,
}

impl AppState {
    /// Builds the state from a config and the catalog loaded at start.
    pub fn new(config: Config, catalog: Catalog) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                config,
                catalog: RwLock::new(Arc::new(catalog)),
            }),
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

    /// Replaces the catalog (after a bank upload).
    pub fn set_catalog(&self, catalog: Catalog) {
        *self
            .inner
            .catalog
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
    }
}
