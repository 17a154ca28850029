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

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}
