//! `/api/hosts` and `/api/library/...`: a host's quizzes, imports and
//! exports, and the host's own versions of imported questions. Every call
//! but `POST /api/hosts` needs `Authorization: Bearer HOST_TOKEN`; a quiz
//! of another token is `404`, never shown.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::library::model::{LibQuestion, Quiz};
use crate::library::validate::FieldError;
use crate::library::{export, import, LibError, Library};
use crate::state::AppState;
use crate::storage::library::LibraryError;

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

/// The server's library, or `503 no_library`.
fn library_of(state: &AppState) -> Result<Arc<Library>, ApiError> {
    state.library().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_library",
            "this server runs without a library database",
        )
    })
}

/// The caller of a library endpoint: the library and a host token this
/// server issued or saw on a room (`401 unauthorized` otherwise).
struct Host {
    library: Arc<Library>,
    token: String,
}

impl FromRequestParts<AppState> for Host {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Host, ApiError> {
        let library = library_of(state)?;
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a host token as Authorization: Bearer TOKEN (POST /api/hosts issues one)",
            )
        };
        let token = super::history::bearer(&parts.headers)
            .filter(|t| crate::live::rooms::is_valid_host_token(t))
            .ok_or_else(unauthorized)?;
        match crate::live::rooms::host_token_exists(state, token) {
            Ok(true) => {}
            Ok(false) => return Err(unauthorized()),
            // A library that cannot be read is a failure to say so, not a
            // reason to call the host a stranger.
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "library_failed",
                    "the library could not be read; try again",
                ))
            }
        }
        Ok(Host {
            library,
            token: token.to_string(),
        })
    }
}

impl Host {
    /// The caller's live quiz `id`, or `404`.
    fn quiz(&self, id: &str) -> Result<Quiz, Refused> {
        self.library
            .store()
            .quiz(&self.token, id)?
            .ok_or(Refused::Lib(LibError::NotFound))
    }
}

/// Why a library call was refused; each becomes one HTTP answer.
enum Refused {
    /// A plain error answer.
    Api(ApiError),
    /// The library refused or failed.
    Lib(LibError),
    /// `400 invalid` with every field error (`message` says what was not saved).
    Invalid {
        message: &'static str,
        fields: Vec<FieldError>,
    },
    /// `400` listing an import's bad rows, each with its row number.
    Rows {
        code: &'static str,
        message: String,
        rows: Vec<import::RowError>,
    },
}

/// What a library handler answers.
type Answer = Result<Response, Refused>;

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused::Api(e)
    }
}

impl From<LibError> for Refused {
    fn from(e: LibError) -> Refused {
        Refused::Lib(e)
    }
}

impl From<LibraryError> for Refused {
    fn from(e: LibraryError) -> Refused {
        Refused::Lib(e.into())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (code, message, extra) = match self {
            Refused::Api(e) => return e.into_response(),
            Refused::Lib(LibError::Invalid(fields)) => (
                "invalid",
                "the quiz was not saved: fix the fields listed".to_string(),
                ("fields", serde_json::json!(fields)),
            ),
            Refused::Lib(LibError::NotFound) => return ApiError::not_found("quiz").into_response(),
            Refused::Lib(LibError::Store(e)) if e.is_unavailable() => {
                tracing::warn!(error = %e, "library database unavailable");
                crate::metrics::store_error();
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the library database cannot be reached right now; nothing was changed; try again",
                )
                .into_response();
            }
            Refused::Lib(LibError::Store(e)) => {
                tracing::error!(error = %e, "library database failed");
                crate::metrics::store_error();
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "library_failed",
                    "the library could not be read or written; nothing was changed",
                )
                .into_response();
            }
            Refused::Invalid { message, fields } => (
                "invalid",
                message.to_string(),
                ("fields", serde_json::json!(fields)),
            ),
            Refused::Rows {
                code,
                message,
                rows,
            } => (code, message, ("rows", serde_json::json!(rows))),
        };
        let body =
            serde_json::json!({"error": {"code": code, "message": message, extra.0: extra.1}});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
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

const QUIZ_SHAPE: &str = "a quiz {\"title\", \"topics\", \"questions\"}";

async fn new_host(State(state): State<AppState>) -> Result<Response, ApiError> {
    let library = library_of(&state)?;
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

async fn overview(host: Host) -> Answer {
    let store = host.library.store();
    let quizzes = store.quizzes(&host.token)?;
    let edits = store.edits(&host.token)?;
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
    Ok(Json(serde_json::json!({"quizzes": quizzes, "edits": edits})).into_response())
}

async fn create_quiz(host: Host, body: Bytes) -> Answer {
    let quiz: Quiz = json_body(&body, QUIZ_SHAPE)?;
    let quiz = host.library.save_quiz(&host.token, None, quiz)?;
    Ok((StatusCode::CREATED, Json(quiz)).into_response())
}

async fn get_quiz(host: Host, Path(id): Path<String>) -> Answer {
    Ok(Json(host.quiz(&id)?).into_response())
}

async fn replace_quiz(host: Host, Path(id): Path<String>, body: Bytes) -> Answer {
    let quiz: Quiz = json_body(&body, QUIZ_SHAPE)?;
    let quiz = host.library.save_quiz(&host.token, Some(&id), quiz)?;
    Ok(Json(quiz).into_response())
}

async fn delete_quiz(host: Host, Path(id): Path<String>) -> Answer {
    host.library.delete_quiz(&host.token, &id, false)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Undoes the delete of a quiz; the quiz as it was.
async fn restore_quiz(host: Host, Path(id): Path<String>) -> Answer {
    host.library.delete_quiz(&host.token, &id, true)?;
    Ok(Json(host.quiz(&id)?).into_response())
}

/// Query of the quiz export.
#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

async fn export_quiz(
    host: Host,
    Path(id): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Answer {
    let quiz = host.quiz(&id)?;
    let (body, ext, mime): (Vec<u8>, &str, &str) = match query.format.as_deref() {
        Some("gift") => (
            export::gift(&quiz).into(),
            "gift",
            "text/plain; charset=utf-8",
        ),
        Some("md") | Some("markdown") => (
            export::markdown(&quiz).into(),
            "md",
            "text/markdown; charset=utf-8",
        ),
        Some("csv") => (export::csv(&quiz).into(), "csv", "text/csv; charset=utf-8"),
        Some("xlsx") => {
            let bytes = export::xlsx(&quiz).map_err(|e| {
                tracing::error!(error = %e, "writing a quiz workbook failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "export_failed",
                    "the workbook could not be written",
                )
            })?;
            (
                bytes,
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_format",
                "format must be gift, md, xlsx or csv",
            )
            .into())
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.{ext}\"", quiz.id),
            ),
        ],
        body,
    )
        .into_response())
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

async fn import_quiz(host: Host, Query(query): Query<ImportQuery>, body: Bytes) -> Answer {
    let title = query.title.unwrap_or_default();
    let imported = match query.format.as_deref() {
        Some("xlsx") => import::xlsx(&body, &title),
        Some("csv") => import::csv(&body, &title),
        Some("gift") | Some("md") | Some("bank") => import::bank(&body, &title),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_format",
                "format must be xlsx, csv, gift or md",
            )
            .into())
        }
    }
    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    if !imported.errors.is_empty() && !query.partial.unwrap_or(false) {
        return Err(Refused::Rows {
            code: "bad_rows",
            message: format!(
                "{} row(s) have problems; nothing was imported (fix them, or import the good rows with partial=true)",
                imported.errors.len()
            ),
            rows: imported.errors,
        });
    }
    if imported.quiz.questions.is_empty() {
        return Err(Refused::Rows {
            code: "no_rows",
            message: "the file has no question to import".into(),
            rows: imported.errors,
        });
    }
    let quiz = host.library.save_quiz(&host.token, None, imported.quiz)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"quiz": quiz, "skipped": imported.errors})),
    )
        .into_response())
}

/// The bank question `question_id` of the shared catalog (bank files), or
/// `404`: only those are edited this way; library questions are edited in
/// their quiz.
fn bank_question(
    state: &AppState,
    question_id: &str,
) -> Result<Arc<crate::bank::catalog::CatalogQuestion>, ApiError> {
    state
        .catalog()
        .question(question_id)
        .ok_or_else(|| ApiError::not_found("question"))
}

async fn get_edit(
    State(state): State<AppState>,
    host: Host,
    Path(question_id): Path<String>,
) -> Answer {
    let cq = bank_question(&state, &question_id)?;
    let id = cq.question.id.clone();
    let edits = host.library.store().edits(&host.token)?;
    let original = LibQuestion::from_question(&cq.question);
    let (question, edited) = match edits.into_iter().find(|(q, _)| *q == id) {
        Some((_, q)) => (q, true),
        None => (original.clone(), false),
    };
    Ok(Json(serde_json::json!({
        "question_id": id, "edited": edited, "topic": cq.topic_path,
        "question": question, "original": original,
    }))
    .into_response())
}

async fn save_edit(
    State(state): State<AppState>,
    host: Host,
    Path(question_id): Path<String>,
    body: Bytes,
) -> Answer {
    let cq = bank_question(&state, &question_id)?;
    let question: LibQuestion =
        json_body(&body, "a question {\"prompt\", \"kind\", \"options\", ...}")?;
    let question = host
        .library
        .save_edit(&host.token, &cq.question.id, question)
        .map_err(|e| match e {
            LibError::Invalid(fields) => Refused::Invalid {
                message: "the question was not saved: fix the fields listed",
                fields,
            },
            e => Refused::Lib(e),
        })?;
    Ok(Json(serde_json::json!({
        "question_id": cq.question.id, "edited": true, "question": question,
    }))
    .into_response())
}

async fn delete_edit(
    State(state): State<AppState>,
    host: Host,
    Path(question_id): Path<String>,
) -> Answer {
    let id = state
        .catalog()
        .question(&question_id)
        .map_or(question_id, |cq| cq.question.id.clone());
    host.library.delete_edit(&host.token, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
