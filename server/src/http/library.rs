//! `/api/hosts` and `/api/library/...`: a host's quizzes, imports and
//! exports, and the host's own versions of imported questions. Every call
//! but `POST /api/hosts` needs `Authorization: Bearer HOST_TOKEN`; a quiz
//! of another token is `404`, never shown.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::library::model::{LibQuestion, Quiz};
use crate::library::validate::FieldError;
use crate::library::{LibError, Library};
use crate::state::AppState;

/// Largest JSON body (a quiz of 500 questions with long prompts fits).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Routes of the library API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/hosts", post(new_host))
        .route("/api/library", get(overview))
        .route("/api/library/quizzes", post(create_quiz))
        .route(
            "/api/library/quizzes/{id}",
            get(get_quiz).put(replace_quiz).delete(delete_quiz),
        )
        .route("/api/library/quizzes/{id}/restore", post(restore_quiz))
        .route("/api/library/quizzes/{id}/export", get(export_quiz))
        .route("/api/library/import", post(import_quiz))
        .route(
            "/api/library/edits/{question_id}",
            put(save_edit).get(get_edit).delete(delete_edit),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// The library and the caller's host token, or the reason there is none.
fn host(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<Library>, String), ApiError> {
    let library = state.library().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_library",
            "this server runs without a library database",
        )
    })?;
    let token = super::history::bearer(headers)
        .filter(|t| crate::live::rooms::is_valid_host_token(t))
        .filter(|t| crate::live::rooms::host_token_exists(state, t))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a host token as Authorization: Bearer TOKEN (POST /api/hosts issues one)",
            )
        })?;
    Ok((library, token.to_string()))
}

/// A library failure as an HTTP answer; field errors are listed.
pub fn lib_error(e: LibError) -> Response {
    match e {
        LibError::Invalid(fields) => invalid(
            "invalid",
            "the quiz was not saved: fix the fields listed",
            fields,
        ),
        LibError::NotFound => ApiError::not_found("quiz").into_response(),
        LibError::Store(e) => {
            tracing::error!(error = %e, "library database failed");
            crate::metrics::store_error();
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "library_failed",
                "the library could not be read or written; nothing was changed",
            )
            .into_response()
        }
    }
}

/// `400 {"error":{"code","message","fields":[{"field","code","message"}]}}`.
fn invalid(code: &str, message: &str, fields: Vec<FieldError>) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message, "fields": fields}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("expected {expected}: {e}"),
        )
    })
}

async fn new_host(State(state): State<AppState>) -> Result<Response, ApiError> {
    let library = state.library().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_library",
            "this server runs without a library database",
        )
    })?;
    let token = crate::live::rooms::new_host_token();
    library.store().add_host(&token).map_err(|e| {
        tracing::error!(error = %e, "recording a host token failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "library_failed",
            "the host token could not be recorded",
        )
    })?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "host_token": token })),
    )
        .into_response())
}

/// One quiz in the overview.
#[derive(Serialize)]
struct QuizSummary {
    id: String,
    title: String,
    questions: usize,
    topics: usize,
    updated_ms: i64,
}

async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let loaded = library
        .store()
        .quizzes(&token)
        .and_then(|q| Ok((q, library.store().edits(&token)?)));
    match loaded {
        Ok((quizzes, edits)) => {
            let quizzes: Vec<QuizSummary> = quizzes
                .into_iter()
                .map(|q| QuizSummary {
                    questions: q.questions.len(),
                    topics: q.topics.len(),
                    id: q.id,
                    title: q.title,
                    updated_ms: q.updated_ms,
                })
                .collect();
            let edits: Vec<serde_json::Value> = edits
                .into_iter()
                .map(|(id, q)| serde_json::json!({"question_id": id, "question": q}))
                .collect();
            Json(serde_json::json!({"quizzes": quizzes, "edits": edits})).into_response()
        }
        Err(e) => lib_error(e.into()),
    }
}

async fn create_quiz(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let quiz: Quiz = match json_body(&body, "a quiz {\"title\", \"topics\", \"questions\"}") {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match library.save_quiz(&token, None, quiz) {
        Ok(quiz) => (StatusCode::CREATED, Json(quiz)).into_response(),
        Err(e) => lib_error(e),
    }
}

async fn get_quiz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    match library.store().quiz(&token, &id) {
        Ok(Some(quiz)) => Json(quiz).into_response(),
        Ok(None) => lib_error(LibError::NotFound),
        Err(e) => lib_error(e.into()),
    }
}

async fn replace_quiz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let quiz: Quiz = match json_body(&body, "a quiz {\"title\", \"topics\", \"questions\"}") {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match library.save_quiz(&token, Some(&id), quiz) {
        Ok(quiz) => Json(quiz).into_response(),
        Err(e) => lib_error(e),
    }
}

async fn delete_quiz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    match library.delete_quiz(&token, &id, false) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => lib_error(e),
    }
}

async fn restore_quiz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    match library.delete_quiz(&token, &id, true) {
        Ok(()) => match library.store().quiz(&token, &id) {
            Ok(Some(quiz)) => Json(quiz).into_response(),
            Ok(None) => lib_error(LibError::NotFound),
            Err(e) => lib_error(e.into()),
        },
        Err(e) => lib_error(e),
    }
}

/// Query of the quiz export.
#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

async fn export_quiz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ExportQuery>,
    headers: HeaderMap,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let quiz = match library.store().quiz(&token, &id) {
        Ok(Some(quiz)) => quiz,
        Ok(None) => return lib_error(LibError::NotFound),
        Err(e) => return lib_error(e.into()),
    };
    let (text, ext, mime) = match query.format.as_deref() {
        Some("gift") => (crate::library::export::gift(&quiz), "gift", "text/plain"),
        Some("md") | Some("markdown") => (
            crate::library::export::markdown(&quiz),
            "md",
            "text/markdown",
        ),
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_format",
                "format must be gift or md",
            )
            .into_response()
        }
    };
    (
        [
            (header::CONTENT_TYPE, format!("{mime}; charset=utf-8")),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.{ext}\"", quiz.id),
            ),
        ],
        text,
    )
        .into_response()
}

/// Query of `POST /api/library/import`.
#[derive(Deserialize)]
struct ImportQuery {
    /// `xlsx`, `csv`, `gift` or `md` (any bank format).
    format: Option<String>,
    /// Title of the new quiz (default: from the file).
    title: Option<String>,
    /// `true`: import the good rows and skip the bad ones.
    partial: Option<bool>,
}

async fn import_quiz(
    State(state): State<AppState>,
    Query(query): Query<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let title = query.title.unwrap_or_default();
    let imported = match query.format.as_deref() {
        Some("xlsx") => crate::library::import::xlsx(&body, &title),
        Some("csv") => crate::library::import::csv(&body, &title),
        Some("gift") | Some("md") | Some("bank") => crate::library::import::bank(&body, &title),
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_format",
                "format must be xlsx, csv, gift or md",
            )
            .into_response()
        }
    };
    let imported = match imported {
        Ok(imported) => imported,
        Err(e) => {
            return ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()).into_response()
        }
    };
    let partial = query.partial.unwrap_or(false);
    if !imported.errors.is_empty() && !partial {
        let body = serde_json::json!({"error": {
            "code": "bad_rows",
            "message": format!("{} row(s) have problems; nothing was imported (fix them, or import the good rows with partial=true)", imported.errors.len()),
            "rows": imported.errors,
        }});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    if imported.quiz.questions.is_empty() {
        let body = serde_json::json!({"error": {
            "code": "no_rows",
            "message": "the file has no question to import",
            "rows": imported.errors,
        }});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    match library.save_quiz(&token, None, imported.quiz) {
        Ok(quiz) => (
            StatusCode::CREATED,
            Json(serde_json::json!({"quiz": quiz, "skipped": imported.errors})),
        )
            .into_response(),
        Err(e) => lib_error(e),
    }
}

async fn get_edit(
    State(state): State<AppState>,
    Path(question_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let Some(cq) = state.catalog().question(&question_id) else {
        return ApiError::not_found("question").into_response();
    };
    let id = cq.question.id.clone();
    match library.store().edits(&token) {
        Ok(edits) => {
            let (question, edited) = match edits.into_iter().find(|(q, _)| *q == id) {
                Some((_, q)) => (q, true),
                None => (LibQuestion::from_question(&cq.question), false),
            };
            Json(serde_json::json!({
                "question_id": id, "edited": edited, "topic": cq.topic_path,
                "question": question,
                "original": LibQuestion::from_question(&cq.question),
            }))
            .into_response()
        }
        Err(e) => lib_error(e.into()),
    }
}

async fn save_edit(
    State(state): State<AppState>,
    Path(question_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    // Only questions of the shared catalog (bank files) are edited this
    // way; library questions are edited in their quiz.
    let Some(cq) = state.catalog().question(&question_id) else {
        return ApiError::not_found("question").into_response();
    };
    let question: LibQuestion =
        match json_body(&body, "a question {\"prompt\", \"kind\", \"options\", ...}") {
            Ok(q) => q,
            Err(e) => return e.into_response(),
        };
    match library.save_edit(&token, &cq.question.id, question) {
        Ok(question) => Json(serde_json::json!({
            "question_id": cq.question.id, "edited": true, "question": question,
        }))
        .into_response(),
        Err(LibError::Invalid(fields)) => invalid(
            "invalid",
            "the question was not saved: fix the fields listed",
            fields,
        ),
        Err(e) => lib_error(e),
    }
}

async fn delete_edit(
    State(state): State<AppState>,
    Path(question_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (library, token) = match host(&state, &headers) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let id = state
        .catalog()
        .question(&question_id)
        .map_or(question_id, |cq| cq.question.id.clone());
    match library.delete_edit(&token, &id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => lib_error(e),
    }
}
