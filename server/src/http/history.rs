//! `GET /api/rooms`: the rooms a host ran with its token, live and ended,
//! with links to their results and per-candidate reports for the retention
//! period — so an interviewer can find last week's screening again without
//! having written the room codes down.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::error::ApiError;
use crate::state::AppState;

/// The `/api/rooms` listing route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/rooms", get(list_rooms))
}

/// One room in a host's history.
#[derive(Debug, Serialize)]
struct HistoryEntry {
    code: String,
    title: String,
    created_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_ms: Option<u64>,
    /// `running` until the room ends, then `ended`; `expired` once the
    /// retention period after its end is over (results and reports gone).
    status: &'static str,
    /// When an ended room's results and reports will be deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_ms: Option<u64>,
    /// Finished questions stored so far.
    questions: u32,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    links: Option<Links>,
}

/// Where a room's results and per-candidate reports are, while kept. Each
/// wants the owner's token (`Authorization: Bearer`, or `&token=` on the
/// report for a browser tab).
#[derive(Debug, Serialize)]
struct Links {
    results_url: String,
    results_csv_url: String,
    results_xlsx_url: String,
    /// The printable page of every candidate (`&player_id=` for one).
    report_url: String,
    report_json_url: String,
    report_csv_url: String,
    report_xlsx_url: String,
}

impl Links {
    fn of(code: &str) -> Links {
        Links {
            results_url: format!("/api/rooms/{code}/results?format=json"),
            results_csv_url: format!("/api/rooms/{code}/results?format=csv"),
            results_xlsx_url: format!("/api/rooms/{code}/results?format=xlsx"),
            report_url: format!("/api/rooms/{code}/report"),
            report_json_url: format!("/api/rooms/{code}/report?format=json"),
            report_csv_url: format!("/api/rooms/{code}/report?format=csv"),
            report_xlsx_url: format!("/api/rooms/{code}/report?format=xlsx"),
        }
    }
}

/// The token after `Bearer ` in `Authorization`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn list_rooms(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let token = bearer(&headers)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the host token as Authorization: Bearer TOKEN",
            )
        })?
        .to_string();
    let Some(store) = state.store().cloned() else {
        return Ok(Json(serde_json::json!({ "rooms": [] })));
    };
    let rooms = tokio::task::spawn_blocking(move || store.rooms_of_host(&token))
        .await
        .map_err(|e| internal(&e))?
        .map_err(|e| crate::http::error::store_unavailable("room history lookup", &e))?;
    let retention = super::report::retention_ms(&state);
    let now = crate::storage::store::now_ms();
    let rooms: Vec<HistoryEntry> = rooms
        .into_iter()
        .map(|r| {
            let expires_ms = r.ended_ms.map(|ended| ended.saturating_add(retention));
            let expired = expires_ms.is_some_and(|at| at <= now);
            HistoryEntry {
                links: (!expired).then(|| Links::of(&r.code)),
                status: match (r.ended_ms, expired) {
                    (None, _) => "running",
                    (Some(_), false) => "ended",
                    (Some(_), true) => "expired",
                },
                expires_ms,
                code: r.code,
                title: r.title,
                created_ms: r.created_ms,
                ended_ms: r.ended_ms,
                questions: r.questions,
            }
        })
        .collect();
    Ok(Json(serde_json::json!({ "rooms": rooms })))
}

fn internal(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "room history lookup failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "room history is unavailable right now",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_takes_only_a_bearer_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  xyz "),
        );
        assert_eq!(bearer(&h), Some("xyz"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
