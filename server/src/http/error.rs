//! One error type for every HTTP handler: a status and a typed body
//! `{"error":{"code","message"}}`; internal details are logged, not sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer with a stable `code`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// Builds an error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 with code `not_found`.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// `503 store_unavailable` for a results or history read the database did
/// not answer (it is away, or stopped answering within the store's read
/// wait): the client tries again once it is back. The details are logged.
pub fn store_unavailable(what: &str, e: &crate::storage::store::StoreError) -> ApiError {
    crate::metrics::store_error();
    tracing::warn!(error = %e, "{what} failed: the results database is unavailable");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the results database cannot be reached right now; try again",
    )
}
