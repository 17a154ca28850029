//! `/api/banks`: the merged catalog, one parsed bank, and bank upload.
//!
//! An upload is parsed off the async workers and swapped into the shared
//! catalog as a whole new snapshot, so rooms drawing questions never see a
//! half-merged catalog.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::bank::catalog::{Catalog, TopicNode};
use crate::bank::{self, BankError, BankList};
use crate::state::AppState;

/// Longest accepted upload file name.
const MAX_NAME_LEN: usize = 128;
/// Longest upload file name in bytes (the saved copy needs room for a
/// temporary prefix and suffix within 255 bytes).
const MAX_NAME_BYTES: usize = 200;

/// Serializes catalog rebuilds: two uploads at once must both end up in the
/// catalog, not the last one overwriting the first one's rebuild.
static UPLOAD_LOCK: Mutex<()> = Mutex::new(());

/// Routes under `/api/banks`. The body limit is the bank size limit, so an
/// oversize upload is refused while it streams in, not after buffering it.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/banks", get(list).post(upload))
        .route("/api/banks/{id}", get(one))
        .layer(DefaultBodyLimit::max(bank::MAX_BANK_BYTES))
}

/// One bank in the `GET /api/banks` index.
#[derive(Debug, Serialize)]
struct BankSummary {
    id: String,
    title: String,
    file: String,
    questions: usize,
    /// A quiz of the caller's library (host token only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    library: bool,
}

/// `GET /api/banks`: every bank and the merged topic tree a host picks from.
#[derive(Debug, Serialize)]
struct BankIndex {
    banks: Vec<BankSummary>,
    topics: Vec<TopicNode>,
    /// Catalog ids of questions the caller replaced with its own version.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    edited: Vec<String>,
}

/// The caller's host token, if it is one this server knows (`503
/// store_unavailable` while a database that might know it is down, rather
/// than the public view a stranger gets).
fn known_host<'a>(state: &AppState, headers: &'a HeaderMap) -> Result<Option<&'a str>, ApiError> {
    match super::history::bearer(headers).filter(|t| crate::live::rooms::is_valid_host_token(t)) {
        Some(token) => match crate::live::rooms::host_token_exists(state, token) {
            Ok(known) => Ok(known.then_some(token)),
            Err(e) => Err(e.api_error()),
        },
        None => Ok(None),
    }
}

/// The catalog the caller sees: with a host token, that host's library
/// merged in (its quizzes as banks, its edits in place of the originals).
fn catalog_seen_by(state: &AppState, headers: &HeaderMap) -> Result<Arc<Catalog>, ApiError> {
    let base = state.catalog();
    Ok(match known_host(state, headers)? {
        Some(token) => state.catalog_for(&base, token),
        None => base,
    })
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<BankIndex>, ApiError> {
    let catalog = catalog_seen_by(&state, &headers)?;
    let banks = catalog
        .banks()
        .iter()
        .map(|b| BankSummary {
            id: b.id.clone(),
            title: b.title.clone(),
            file: b.file.clone(),
            questions: b.topics.iter().map(|t| t.questions.len()).sum(),
            library: b.format == "library",
        })
        .collect();
    let edited = catalog
        .questions()
        .iter()
        .filter(|q| q.edited)
        .map(|q| q.question.id.clone())
        .collect();
    Ok(Json(BankIndex {
        banks,
        topics: catalog.topics().to_vec(),
        edited,
    }))
}

/// `GET /api/banks/{id}`: the bank as `quizroom check --json` prints it.
///
/// The answer key (correct flags, weights, accepted short answers,
/// reference answers, follow-ups, notes) is host material: players can
/// reach this URL too, so without a host token (of a live or stored room)
/// or the admin token the public view comes back, with `"redacted": true`.
async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let catalog = catalog_seen_by(&state, &headers)?;
    let bank = catalog
        .bank(&id)
        .ok_or_else(|| ApiError::not_found("bank"))?;
    let body = if may_see_answer_keys(&state, &headers)? {
        // The host's own versions replace the imported questions they
        // edited; the catalog id tells the editor which question to open.
        let mut shown = bank.clone();
        let mut edited = Vec::new();
        for q in shown.topics.iter_mut().flat_map(|t| t.questions.iter_mut()) {
            if let Some(cq) = catalog.question(&q.id).filter(|cq| cq.edited) {
                let line = q.line;
                let bank_id = std::mem::take(&mut q.id);
                *q = cq.question.clone();
                q.line = line;
                q.id = bank_id.clone();
                edited.push(serde_json::json!({"id": bank_id, "catalog_id": cq.question.id}));
            }
        }
        let mut body = serde_json::json!({ "banks": [shown] });
        if !edited.is_empty() {
            body["edited"] = serde_json::Value::Array(edited);
        }
        body
    } else {
        serde_json::json!({ "banks": [bank::public::PublicBank::of(bank)], "redacted": true })
    };
    Ok(Json(body))
}

/// Whether the caller holds the admin token or a host token (`503
/// store_unavailable` while a host token cannot be checked).
fn may_see_answer_keys(state: &AppState, headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(token) = super::history::bearer(headers) else {
        return Ok(false);
    };
    let admin = state
        .config()
        .admin_token
        .as_deref()
        .is_some_and(|expected| constant_time_eq(token.as_bytes(), expected.as_bytes()));
    if admin || !crate::live::rooms::is_valid_host_token(token) {
        return Ok(admin);
    }
    crate::live::rooms::host_token_exists(state, token).map_err(|e| e.api_error())
}

/// Most bytes of an oversize upload read and dropped so its client, still
/// writing, gets the 413 instead of a reset connection.
const MAX_DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// Longest time spent draining an oversize upload.
const MAX_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Why an upload body could not be read.
enum UploadBody {
    TooLarge,
    Broken(String),
}

/// Reads an upload of at most [`bank::MAX_BANK_BYTES`]. An oversize one is
/// refused without buffering it, but its bytes are read and dropped (up to
/// [`MAX_DRAIN_BYTES`] / [`MAX_DRAIN_TIME`]) before the answer: a server
/// that closes on a client still writing resets the connection, and many
/// clients (those that write the whole body before reading) then see a
/// closed connection instead of the JSON 413. A client that announced more
/// than the drain allowance, or asked for `100-continue`, is answered at
/// once (it sent nothing yet, or will not be waited for).
async fn read_upload(body: Body, headers: &HeaderMap) -> Result<Bytes, UploadBody> {
    let limit = bank::MAX_BANK_BYTES as u64;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let expects_continue = headers
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if declared.is_some_and(|n| n > limit) && (expects_continue || declared > Some(MAX_DRAIN_BYTES))
    {
        return Err(UploadBody::TooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    let deadline = tokio::time::Instant::now() + MAX_DRAIN_TIME;
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        let chunk = chunk.map_err(|e| UploadBody::Broken(e.to_string()))?;
        total = total.saturating_add(chunk.len() as u64);
        if total > MAX_DRAIN_BYTES {
            break;
        }
        if total <= limit {
            kept.extend_from_slice(&chunk);
        }
    }
    if total > limit || declared.is_some_and(|n| n > limit) {
        return Err(UploadBody::TooLarge);
    }
    if tokio::time::Instant::now() >= deadline {
        return Err(UploadBody::Broken("the upload took too long".into()));
    }
    Ok(Bytes::from(kept))
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    name: Option<String>,
}

/// `POST /api/banks?name=FILE`: parses the raw body as a bank file and adds
/// it to the catalog (replacing a bank uploaded under the same name).
async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<BankList>), ApiError> {
    authorize(&state, &headers)?;
    let name = match query {
        Ok(Query(q)) => file_name(q.name.as_deref())?,
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                e.body_text(),
            ))
        }
    };
    let body = read_upload(body, &headers).await.map_err(|e| match e {
        UploadBody::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bank_too_large",
            format!(
                "{name}: file is over the {}-byte limit",
                bank::MAX_BANK_BYTES
            ),
        ),
        UploadBody::Broken(why) => ApiError::new(StatusCode::BAD_REQUEST, "bad_body", why),
    })?;
    let size = body.len();
    let worker_state = state.clone();
    let saved_in = crate::storage::uploads::dir(state.config());
    let parsed = tokio::task::spawn_blocking(move || {
        let bank = bank::parse(&name, &body).map_err(UploadFailure::Bank)?;
        let _guard = UPLOAD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // Saved before it is shown: an acknowledged upload survives a
        // restart (and, in the shared database, any node's death).
        if let Some(shared) = worker_state.shared_banks() {
            shared
                .save(&name, &body, |catalog| worker_state.set_catalog(catalog))
                .map_err(UploadFailure::Shared)?;
            return Ok(bank);
        }
        crate::storage::uploads::save(&saved_in, &name, &body).map_err(UploadFailure::Save)?;
        let next = worker_state.catalog().with_bank(bank.clone());
        worker_state.set_catalog(next);
        Ok::<_, UploadFailure>(bank)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "bank upload task failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the upload could not be processed",
        )
    })?;
    match parsed {
        Ok(bank) => {
            tracing::info!(file = %bank.file, bank = %bank.id, format = %bank.format, size, "bank uploaded");
            Ok((StatusCode::CREATED, Json(BankList { banks: vec![bank] })))
        }
        Err(UploadFailure::Bank(e)) => {
            tracing::info!(code = e.code(), error = %e, "bank upload refused");
            crate::metrics::bank_import_error();
            Err(bank_error(e))
        }
        Err(UploadFailure::Shared(e)) => {
            crate::metrics::store_error();
            tracing::error!(error = %e, "uploaded bank could not be stored");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the bank was not saved, so it was not added; try again: {e}"),
            ))
        }
        Err(UploadFailure::Save(e)) => {
            tracing::error!(error = %e, "uploaded bank could not be saved");
            Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "bank_not_saved",
                format!("the bank was not saved, so it was not added: {e}"),
            ))
        }
    }
}

/// Why an upload did not reach the catalog.
enum UploadFailure {
    /// The file is not a bank we can read.
    Bank(BankError),
    /// The server could not keep the file.
    Save(std::io::Error),
    /// The shared database did not take the file (it is away).
    Shared(crate::storage::uploads_pg::NotSaved),
}

/// Maps a bank error to its HTTP status: size → 413, undecodable → 415,
/// anything about the content → 400.
fn bank_error(e: BankError) -> ApiError {
    let status = match e {
        BankError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BankError::Encoding { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        BankError::Syntax { .. } | BankError::Empty { .. } => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Checks `Authorization: Bearer TOKEN` when an admin token is configured.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.config().admin_token.as_deref() else {
        return Ok(());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "uploading banks needs Authorization: Bearer ADMIN_TOKEN",
        ))
    }
}

/// Compares secrets without leaking the matching prefix length through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The upload's file name: required, only its last path component, no
/// control characters, bounded length.
fn file_name(raw: Option<&str>) -> Result<String, ApiError> {
    let bad = |message: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad_name", message);
    let raw = raw.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_name",
            "give the file name as ?name=FILE.md",
        ));
    }
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name.starts_with('.') {
        return Err(bad("the file name must not be empty or start with a dot"));
    }
    // The byte bound keeps the saved file's name (plus its temporary
    // prefix and suffix) within the file system's 255 bytes.
    if name.chars().count() > MAX_NAME_LEN
        || name.len() > MAX_NAME_BYTES
        || name.chars().any(char::is_control)
    {
        return Err(bad(
            "the file name must be at most 128 characters (200 bytes) without control characters",
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_reduced_to_a_safe_last_component() {
        assert_eq!(file_name(Some("a/b/../quiz.gift")).unwrap(), "quiz.gift");
        assert_eq!(file_name(Some("C:\\x\\bank.md")).unwrap(), "bank.md");
        assert_eq!(file_name(None).unwrap_err().code, "missing_name");
        let long_cyrillic = "б".repeat(120) + ".md";
        assert_eq!(
            file_name(Some(&long_cyrillic)).unwrap_err().code,
            "bad_name"
        );
        assert!(file_name(Some(&("б".repeat(90) + ".md"))).is_ok());
        assert_eq!(file_name(Some("  ")).unwrap_err().code, "missing_name");
        assert_eq!(file_name(Some("dir/")).unwrap_err().code, "bad_name");
        assert_eq!(file_name(Some(".env")).unwrap_err().code, "bad_name");
        assert_eq!(file_name(Some("a\u{7}b")).unwrap_err().code, "bad_name");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secre"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
    }
}
