//! Starting and stopping the server: load banks, build state, serve until
//! the shutdown future resolves.

use std::future::Future;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::AppState;

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
    let app = crate::http::router(state);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}
