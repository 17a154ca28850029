//! `/api/banks`: the merged catalog, one parsed bank, and bank upload.

use axum::Router;

use crate::state::AppState;

/// Routes under `/api/banks`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
