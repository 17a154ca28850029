//! `GET /api/rooms`: the rooms a host ran with its token, live and ended,
//! with links to their results — so an interviewer can find last week's
//! screening again without having written the room codes down.

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
    /// `running` until the room ends, then `ended`.
    status: &'static str,
    /// Finished questions stored so far.
    questions: u32,
    results_url: String,
    results_csv_url: String,
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
        .map_err(|e| internal(&e))?;
    let rooms: Vec<HistoryEntry> = rooms
        .into_iter()
        .map(|r| HistoryEntry {
            results_url: format!("/api/rooms/{}/results?format=json", r.code),
            results_csv_url: format!("/api/rooms/{}/results?format=csv", r.code),
            status: if r.ended_ms.is_some() {
                "ended"
            } else {
                "running"
            },
            code: r.code,
            title: r.title,
            created_ms: r.created_ms,
            ended_ms: r.ended_ms,
            questions: r.questions,
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
