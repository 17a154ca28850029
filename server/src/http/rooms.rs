//! `/api/rooms`: creating a room, and the host's results export.

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::live::room::{
    Shuffle, DEFAULT_BUZZ_WINDOW_MS, DEFAULT_SCORE_SCALE, MAX_BUZZ_WINDOW_MS, MAX_SCORE_SCALE,
};
use crate::live::rooms::{self, CreateError, NewRoom};
use crate::state::AppState;

/// Longest room title in characters.
const MAX_TITLE_CHARS: usize = 80;
/// Largest accepted body of `POST /api/rooms`.
const MAX_CREATE_BODY: usize = 4 * 1024;

/// Routes under `/api/rooms`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", post(create_room))
        .route("/api/rooms/{code}/results", get(results))
}

/// Body of `POST /api/rooms`; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRoom {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    private: Option<bool>,
    /// A token from an earlier room, so one host keeps one token.
    #[serde(default)]
    host_token: Option<String>,
    /// Buzz collection window, 0 to `MAX_BUZZ_WINDOW_MS` (0 turns latency
    /// compensation off).
    #[serde(default)]
    buzz_window_ms: Option<u64>,
    /// Interview panel: answers are scored 0 to this (1 to `MAX_SCORE_SCALE`).
    #[serde(default)]
    score_scale: Option<u32>,
    /// How vote and poll options are ordered: `"room"` (the default,
    /// shuffled per question, the same for everyone; also `true`),
    /// `"player"` (each player its own order) or `"off"` (the bank's
    /// order; also `false`).
    #[serde(default)]
    shuffle_options: Option<serde_json::Value>,
}

/// Picks a fresh code nobody in the cluster holds and takes its lease, so
/// codes are unique cluster-wide and this node owns the new room.
async fn claim_code(
    state: &AppState,
    cluster: &crate::live::cluster::Cluster,
) -> Result<String, ApiError> {
    for _ in 0..100 {
        let code = rooms::new_code();
        if !code_free(state, &code).await {
            continue;
        }
        match cluster.claim(&code).await {
            Ok(true) => return Ok(code),
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a room code: Redis unavailable");
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cluster_unavailable",
                    "the cluster cannot be reached; try again",
                ));
            }
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_free_code",
        "no free room code; try again",
    ))
}

async fn create_room(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.len() > MAX_CREATE_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large",
        ));
    }
    let request: CreateRoom = if body.iter().all(u8::is_ascii_whitespace) {
        CreateRoom::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("expected {{\"title\"?, \"private\"?, \"host_token\"?, \"buzz_window_ms\"?}}: {e}"),
            )
        })?
    };
    let buzz_window_ms = request.buzz_window_ms.unwrap_or(DEFAULT_BUZZ_WINDOW_MS);
    if buzz_window_ms > MAX_BUZZ_WINDOW_MS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_window",
            format!("buzz_window_ms must be between 0 and {MAX_BUZZ_WINDOW_MS}"),
        ));
    }
    let score_scale = request.score_scale.unwrap_or(DEFAULT_SCORE_SCALE);
    if !(1..=MAX_SCORE_SCALE).contains(&score_scale) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_scale",
            format!("score_scale must be between 1 and {MAX_SCORE_SCALE}"),
        ));
    }
    let shuffle_options = match &request.shuffle_options {
        None => Shuffle::default(),
        Some(v) => Shuffle::from_option(v).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_shuffle",
                "shuffle_options must be \"room\", \"player\", \"off\", true or false",
            )
        })?,
    };
    let title = clean_title(request.title.as_deref().unwrap_or(""));
    // Checked before a code is claimed: a token that cannot be checked
    // fails the request without holding a lease.
    let (host_token, host_token_checked) = match request
        .host_token
        .filter(|token| rooms::is_valid_host_token(token))
    {
        Some(token) => (known_host_token(&state, token).await?, true),
        None => (None, false),
    };
    let code = match state.cluster() {
        Some(cluster) => Some(claim_code(&state, cluster).await?),
        None => Some(free_code(&state).await?),
    };
    let new = NewRoom {
        title,
        private: request.private.unwrap_or(false),
        host_token,
        host_token_checked,
        buzz_window_ms,
        score_scale,
        shuffle_options,
        code,
    };
    let room = rooms::create_room(&state, new).map_err(|e| match e {
        CreateError::TooManyRooms => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_rooms",
            "the server is running as many rooms as it may; try again later",
        ),
        CreateError::NoFreeCode => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_free_code",
            "no free room code; try again",
        ),
        CreateError::StoreUnavailable(e) => e.api_error(),
    })?;
    // With the database up the room's first checkpoint is in before the
    // host hears of the room (it survives a crash right after); with it
    // away the room runs at once and is written once it is back.
    if let Some(store) = state.store().filter(|s| *s.health().borrow()) {
        if let Ok(committed) = store.committed() {
            let _ = tokio::time::timeout(rooms::CREATE_COMMIT_WAIT, committed).await;
        }
    }
    // The creator's address knows this code: its joins with it pass the
    // failed-join throttle (a classroom behind the teacher's NAT).
    let client =
        crate::client_addr::client_addr(peer.ip(), &headers, &state.config().trusted_proxies);
    state
        .failed_joins()
        .remember(client, room.code(), std::time::Instant::now());
    let join_url = format!("{}/join/{}", base_url(&state, &headers), room.code());
    let body = serde_json::json!({
        "code": room.code(),
        "host_token": room.host_token(),
        "join_url": join_url,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Longest the look whether a fresh code belongs to a stored room may take;
/// past it the code is taken as free, as when the database refuses the
/// look (6 characters of 31 make a clash with a stored room rare), so a
/// database that does not answer does not hold up creating a room.
const CODE_CHECK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether `code` is neither live here nor a stored room's (as far as the
/// database tells within [`CODE_CHECK_WAIT`]).
async fn code_free(state: &AppState, code: &str) -> bool {
    if state.rooms().get(code).is_some() {
        return false;
    }
    let (looking, code) = (state.clone(), code.to_string());
    let lookup =
        tokio::task::spawn_blocking(move || !crate::storage::persist::code_taken(&looking, &code));
    match tokio::time::timeout(CODE_CHECK_WAIT, lookup).await {
        Ok(free) => free.unwrap_or(true),
        Err(_) => {
            crate::metrics::store_error();
            tracing::warn!("looking up a room code did not finish in time; taken as free");
            true
        }
    }
}

/// A fresh code for a room on this node alone (no cluster).
async fn free_code(state: &AppState) -> Result<String, ApiError> {
    for _ in 0..100 {
        let code = rooms::new_code();
        if code_free(state, &code).await {
            return Ok(code);
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_free_code",
        "no free room code; try again",
    ))
}

/// Longest a host token lookup may take before `POST /api/rooms` answers
/// `503 store_unavailable`: a database that does not answer (unreachable,
/// not refusing) would otherwise hold the host up for connection timeouts.
const TOKEN_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `token` if a live or stored room has it, `None` if no store knows it (a
/// fresh token is minted), `503 store_unavailable` if it cannot be checked
/// within [`TOKEN_CHECK_WAIT`].
async fn known_host_token(state: &AppState, token: String) -> Result<Option<String>, ApiError> {
    let (looking, asked) = (state.clone(), token.clone());
    let lookup = tokio::task::spawn_blocking(move || rooms::host_token_exists(&looking, &asked));
    match tokio::time::timeout(TOKEN_CHECK_WAIT, lookup).await {
        Ok(Ok(Ok(true))) => Ok(Some(token)),
        Ok(Ok(Ok(false))) => Ok(None),
        Ok(Ok(Err(e))) => Err(e.api_error()),
        Ok(Err(_)) | Err(_) => {
            crate::metrics::store_error();
            tracing::warn!("a host token lookup did not finish in time");
            Err(rooms::StoreUnavailable.api_error())
        }
    }
}

/// Trims the title, drops control characters and bounds its length.
fn clean_title(title: &str) -> String {
    title
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect()
}

/// Where players reach this server: `public_url` if configured, else the
/// scheme and Host of this request.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = state.config().public_url.as_deref() {
        return url.trim().trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| state.config().addr.to_string());
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// Query of the results export.
#[derive(Debug, Deserialize)]
struct ResultsQuery {
    #[serde(default)]
    format: Option<String>,
}

async fn results(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(query): Query<ResultsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (csv, xlsx) = match query.format.as_deref() {
        None | Some("json") => (false, false),
        Some("csv") => (true, false),
        Some("xlsx") => (false, true),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_format",
                "format must be json, csv or xlsx",
            ))
        }
    };
    let token = super::history::bearer(&headers).ok_or_else(unauthorized)?;
    let code = rooms::normalize_code(&code).ok_or_else(|| ApiError::not_found("room"))?;
    if let Some(room) = state.rooms().get(&code) {
        if !room.is_host_token(token) {
            return Err(unauthorized());
        }
        let reader = state.clone();
        let export = room
            .inspect(move |room| {
                let store = reader.store().map(|store| store.as_ref());
                let results = crate::storage::persist::room_results(store, room)?;
                Some(if csv {
                    Export::Csv(results.to_csv())
                } else {
                    Export::Json(serde_json::to_value(&results).unwrap_or_default())
                })
            })
            .await;
        match export {
            Ok(Some(export)) => return export.for_format(xlsx).map(|e| e.into_response_for(&code)),
            Ok(None) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_error",
                    "the room's earlier questions could not be read back; try again",
                ))
            }
            // The room ended meanwhile: its results are stored.
            Err(_) => {}
        }
    }
    // Running on another node of the cluster: its owner answers.
    if let Some(export) = remote_results(&state, &code, token, csv).await? {
        return export.for_format(xlsx).map(|e| e.into_response_for(&code));
    }
    // Not live (ended, cleaned up, or never existed): ask storage. Past
    // retention the results are as gone as after the purge. A database
    // that cannot be read answers `503 store_unavailable`, not `404`.
    let stored = crate::storage::persist::stored_room_results(&state, &code, token)
        .map_err(|e| crate::http::error::store_unavailable("reading stored results", &e))?;
    let Some(stored) = stored else {
        return Err(super::report::gone_or_not_found(&state, &code));
    };
    if stored.ended_ms.is_some_and(|ended| {
        ended.saturating_add(super::report::retention_ms(&state)) <= crate::storage::store::now_ms()
    }) {
        return Err(super::report::expired(&state, &code));
    }
    let export = if csv {
        Export::Csv(stored.csv)
    } else {
        Export::Json(stored.json)
    };
    export
        .for_format(xlsx)
        .map(|export| export.into_response_for(&code))
}

/// The results of a room another cluster node runs, asked of that node
/// (so results answer on every node while the room runs); `None` when no
/// other node runs it.
async fn remote_results(
    state: &AppState,
    code: &str,
    token: &str,
    csv: bool,
) -> Result<Option<Export>, ApiError> {
    use crate::live::cluster::ResultsAnswer;
    let Some(cluster) = state.cluster() else {
        return Ok(None);
    };
    let owner = match cluster.owner_of(code).await {
        Ok(Some(owner)) if owner != cluster.node_id() => owner,
        _ => return Ok(None),
    };
    match cluster.query_results(&owner, code, token, csv).await {
        Some(ResultsAnswer::Results { text }) if csv => Ok(Some(Export::Csv(text))),
        Some(ResultsAnswer::Results { text }) => serde_json::from_str(&text)
            .map(|v| Some(Export::Json(v)))
            .map_err(|_| store_unreadable()),
        Some(ResultsAnswer::Unauthorized) => Err(unauthorized()),
        Some(ResultsAnswer::Unavailable) => Err(store_unreadable()),
        Some(ResultsAnswer::Gone) => Ok(None),
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unavailable",
            "the node running this room did not answer; try again",
        )),
    }
}

fn store_unreadable() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store_error",
        "the room's earlier questions could not be read back; try again",
    )
}

enum Export {
    Json(serde_json::Value),
    Csv(String),
    Xlsx(Vec<u8>),
}

impl Export {
    /// The JSON turned into a workbook when `xlsx` was asked for.
    fn for_format(self, xlsx: bool) -> Result<Export, ApiError> {
        match self {
            Export::Json(value) if xlsx => super::results_xlsx::workbook(&value)
                .map(Export::Xlsx)
                .map_err(|e| {
                    tracing::error!(error = %e, "writing the results workbook failed");
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "export_failed",
                        "the workbook could not be written",
                    )
                }),
            other => Ok(other),
        }
    }

    fn into_response_for(self, code: &str) -> Response {
        match self {
            Export::Json(value) => Json(value).into_response(),
            Export::Csv(text) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"quizroom-{code}.csv\""),
                    ),
                ],
                text,
            )
                .into_response(),
            Export::Xlsx(bytes) => (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_string(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"quizroom-{code}.xlsx\""),
                    ),
                ],
                bytes,
            )
                .into_response(),
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send the room's host token as Authorization: Bearer TOKEN",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cleaned_and_bounded() {
        assert_eq!(clean_title("  Week 3\u{7} quiz \n"), "Week 3 quiz");
        assert_eq!(
            clean_title(&"x".repeat(200)).chars().count(),
            MAX_TITLE_CHARS
        );
    }
}
