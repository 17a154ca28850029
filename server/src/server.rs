//! Starting and stopping the server: load banks, build state, bring back
//! persisted rooms, serve until the shutdown future resolves, then drain.
//!
//! Shutdown: stop accepting, let every room persist (its owner task saves a
//! checkpoint), close every socket with 1012 so clients know to reconnect,
//! and return within [`SHUTDOWN_BUDGET`].

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

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

/// Runs the server on `listener` until `shutdown` resolves, then drains.
/// Tests call this with a listener on port 0.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (catalog, bad_banks) = crate::catalog::load_dir(&config.seeds);
    bad_banks
        .iter()
        .for_each(|_| crate::metrics::bank_import_error());
    let store = crate::persist::open_store(&config)?;
    let state = AppState::with_store(config, catalog, Some(store));
    for room in crate::persist::restore_rooms(&state) {
        crate::rooms::adopt_room(&state, room);
    }
    let app = crate::http::router(state.clone());
    tracing::info!(addr = %listener.local_addr()?, "listening");

    let trigger = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        trigger.begin_shutdown();
    });
    let http_state = state.clone();
    let listener = listener.tap_io(|tcp| {
        // Quiz traffic is many small messages: send them at once.
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&*tcp).set_send_buffer_size(SOCKET_SEND_BUFFER);
    });
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { http_state.stopping().await });
    let serve = serve.into_future();
    tokio::pin!(serve);
    let served = tokio::select! {
        served = &mut serve => Some(served),
        _ = state.stopping() => None,
    };
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BUDGET;
    match served {
        Some(served) => served?,
        None => match tokio::time::timeout(HTTP_DRAIN, serve).await {
            Ok(served) => served?,
            Err(_) => tracing::warn!("HTTP requests still running at shutdown; dropped"),
        },
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
    crate::persist::flush_all(&state);
    tracing::info!("stopped");
    Ok(())
}
