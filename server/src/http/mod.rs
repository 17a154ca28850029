//! HTTP routes: the JSON API, health, and the embedded web app.

pub mod banks;
pub mod error;
pub mod history;
pub mod library;
pub mod metrics;
pub mod qr;
pub mod report;
pub mod results_xlsx;
pub mod rooms;
pub mod web;

use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

/// Builds the whole HTTP router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/ws", get(crate::live::ws::upgrade))
        .merge(banks::routes())
        .merge(metrics::routes())
        .merge(history::routes())
        .merge(qr::routes())
        .merge(web::routes())
        .merge(rooms::routes())
        .merge(report::routes())
        .merge(library::routes())
        .with_state(state)
}

/// `ok`, or `degraded` (still 200: the node serves its rooms, so an
/// orchestrator must not restart it) while the results database cannot be
/// written or, in a cluster, Redis cannot be reached; says which.
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    let store_up = state.store().is_none_or(|s| *s.health().borrow());
    let cluster_up = state.cluster().is_none_or(|c| c.is_up());
    let mut body = serde_json::json!({
        "status": if store_up && cluster_up { "ok" } else { "degraded" },
    });
    if state.store().is_some() {
        body["store"] = (if store_up { "ok" } else { "unavailable" }).into();
    }
    if state.cluster().is_some() {
        body["cluster"] = (if cluster_up { "ok" } else { "unavailable" }).into();
    }
    Json(body)
}
