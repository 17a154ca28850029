//! Starting and stopping the server: load banks, build state, bring back
//! persisted rooms, serve until the shutdown future resolves, then drain.
//!
//! Shutdown: stop accepting, let every room persist (its owner task saves a
//! checkpoint), close every socket with 1012 so clients know to reconnect,
//! and return within [`SHUTDOWN_BUDGET`].

use anyhow::Context;
use std::future::Future;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use crate::config::Config;
use crate::state::AppState;

/// Longest a shutdown may take before remaining work is dropped.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(9);
/// Part of the budget given to HTTP requests still running.
const HTTP_DRAIN: Duration = Duration::from_secs(3);
/// Kernel send buffer of each accepted socket. Left alone, Linux grows it to
/// megabytes per socket on fast links; a bounded buffer keeps memory per
/// client small and lets a client that stops reading show up quickly as a
/// full outbound queue (and be dropped as slow) instead of hiding in the kernel.
pub const SOCKET_SEND_BUFFER: usize = 64 * 1024;

/// The seed banks: the `--seeds` folder when it exists; the banks built
/// into the binary when the default `seeds` folder is not where the server
/// runs (started from another folder, or installed as a lone binary). A
/// folder named explicitly that does not exist is an operator's typo: it is
/// reported and the server starts with no seed banks.
fn load_seeds(
    dir: &std::path::Path,
) -> (crate::bank::catalog::Catalog, Vec<crate::bank::BankError>) {
    if !dir.is_dir() && dir == std::path::Path::new(crate::config::DEFAULT_SEEDS) {
        tracing::info!(dir = %dir.display(), "no seeds folder here; using the banks built into the binary");
        return crate::bank::catalog::load_embedded();
    }
    crate::bank::catalog::load_dir(dir)
}

/// Runs the server on `listener` until `shutdown` resolves, then drains.
/// Tests call this with a listener on port 0.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (catalog, mut bad_banks) = load_seeds(&config.seeds);
    // Uploads live in the shared database when there is one (every node
    // serves them), else in the data folder.
    let shared_banks = match &config.database_url {
        Some(url) => Some(
            crate::storage::uploads_pg::SharedBanks::open(url, &catalog)
                .context("opening the uploaded banks on the PostgreSQL database")?,
        ),
        None => None,
    };
    let catalog = if shared_banks.is_some() {
        catalog
    } else {
        let (catalog, bad_uploads) =
            crate::storage::uploads::load_into(catalog, &crate::storage::uploads::dir(&config));
        bad_banks.extend(bad_uploads);
        catalog
    };
    bad_banks
        .iter()
        .for_each(|_| crate::metrics::bank_import_error());
    let store = crate::storage::persist::open_store(&config)?;
    let library =
        std::sync::Arc::new(crate::library::Library::open(&config).with_context(|| {
            match &config.database_url {
                Some(_) => "opening the library on the PostgreSQL database".to_string(),
                None => format!(
                    "opening the library database in {}",
                    config.data_dir.display()
                ),
            }
        })?);
    tracing::info!(store = %library.store().describe(), "library database open");
    if config.database_url.is_some() {
        // Other nodes write the same library: look for their changes.
        let weak = std::sync::Arc::downgrade(&library);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::library::SHARED_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(library) = weak.upgrade() else { break };
                library.poll_shared();
            }
        });
    }
    let redis_url = config.redis_url.clone();
    let node_id = config.node_id.clone().unwrap_or_else(|| {
        let bits: u32 = rand::random();
        format!("node-{bits:08x}")
    });
    if redis_url.is_some() && config.database_url.is_none() {
        anyhow::bail!(
            "--redis-url needs --database-url: the nodes of a cluster share one results database"
        );
    }
    let state = AppState::with_store(config, catalog, Some(store));
    if let Some(banks) = shared_banks {
        state.set_shared_banks(banks.clone());
        let refreshing = state.clone();
        tokio::task::spawn_blocking(move || {
            // Banks uploaded to this node before it used the database.
            let dir = crate::storage::uploads::dir(refreshing.config());
            banks.import_dir(&dir)?;
            refreshing.refresh_shared_banks();
            Ok::<_, crate::storage::store::StoreError>(())
        })
        .await
        .context("loading the uploaded banks")?
        .context("moving uploaded banks into the PostgreSQL database")?;
        // Other nodes take uploads too: look for them until shutdown.
        let polling = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::storage::uploads_pg::POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = polling.stopping() => break,
                }
                let state = polling.clone();
                let _ = tokio::task::spawn_blocking(move || state.refresh_shared_banks()).await;
            }
        });
    }
    crate::heap_trim::start();
    state.set_library(library);
    match redis_url {
        Some(url) => {
            let cluster = match crate::live::cluster::Cluster::join(&url, &node_id).await {
                Ok(cluster) => cluster,
                Err(e) => {
                    tracing::error!(node = %node_id, error = %e, "refusing to join the cluster");
                    return Err(anyhow::anyhow!("joining the cluster at {url}: {e}"));
                }
            };
            state.set_cluster(cluster.clone());
            cluster.start(&state, &url).await?;
            // Rooms nobody runs (this node's before a restart, or a dead
            // node's) are taken over by whoever claims them first.
            tokio::spawn(crate::live::cluster::take_over_loop(state.clone()));
            tracing::info!(node = %node_id, "joined the cluster");
        }
        None => {
            for room in crate::storage::persist::restore_rooms(&state) {
                crate::live::rooms::adopt_room(&state, room);
            }
        }
    }
    let app = crate::http::router(state.clone());
    tracing::info!(addr = %listener.local_addr()?, "listening");

    let trigger = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        if let Some(store) = crate::storage::Persistence::store(&trigger) {
            store.closing();
        }
        trigger.begin_shutdown();
    });
    let serve = serve_http(listener, app, state.clone());
    tokio::pin!(serve);
    let served = tokio::select! {
        served = &mut serve => Some(served),
        _ = state.stopping() => None,
    };
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BUDGET;
    if served.is_none() && tokio::time::timeout(HTTP_DRAIN, serve).await.is_err() {
        tracing::warn!("HTTP requests still running at shutdown; dropped");
    }
    if tokio::time::timeout_at(deadline, state.room_tasks().wait_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            rooms = state.room_tasks().running(),
            "rooms still saving at shutdown"
        );
    }
    if tokio::time::timeout_at(deadline, state.connections().wait_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            sockets = state.connections().running(),
            "sockets still open at shutdown"
        );
    }
    crate::storage::persist::flush_all(&state);
    tracing::info!("stopped");
    Ok(())
}

/// Accepts connections and serves HTTP/1.1 on each until shutdown begins,
/// then lets running requests finish. Each connection hands hyper the plain
/// `TcpStream` (no wrapper), so a WebSocket upgrade gets the stream back and
/// the socket task drives it directly (see `ws::upgrade`).
async fn serve_http(listener: TcpListener, app: Router, state: AppState) {
    // Every connection task holds a receiver; all are gone once they end.
    let (all_closed, close_rx) = tokio::sync::watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = state.stopping() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                if !is_connection_error(&err) {
                    // Out of file descriptors or similar: retrying at once
                    // would spin; a pause lets connections close.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        tune(&tcp);
        let app = app.clone();
        let state = state.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().call(request)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(err) = served {
                        tracing::trace!(%err, "connection ended with an error");
                    }
                }
                _ = state.stopping() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(close_rx);
        });
    }
    drop(listener);
    drop(close_rx);
    all_closed.closed().await;
}

/// Socket options for every accepted connection.
fn tune(tcp: &TcpStream) {
    // Quiz traffic is many small messages: send them at once.
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(tcp).set_send_buffer_size(SOCKET_SEND_BUFFER);
}

/// Errors that concern one connection only (the next accept may succeed).
fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
