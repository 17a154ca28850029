//! `GET /api/rooms/{code}/report`: a report per candidate of a screening,
//! built from the room's results (live, or stored for the retention period
//! after the room ended): each question with the candidate's answer, time
//! taken, ruling, and every interviewer's score and note side by side with
//! their average, plus a knowledge map per topic drawn as SVG on the
//! server. As a printable HTML page (one A4 page per candidate where it
//! fits), JSON, CSV or an Excel workbook.
//!
//! The owner's token opens it, and so does the token of any interviewer
//! of that room who was not revoked (never a token of another room).
//! Past the retention period it answers `410 expired`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;
use crate::live::rooms;
use crate::state::AppState;

/// The report route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/rooms/{code}/report", get(report))
}

/// Query of the report: which candidate (all when absent), which format,
/// and the owner's token for links opened in a browser tab.
#[derive(Debug, Deserialize)]
struct ReportQuery {
    #[serde(default)]
    player_id: Option<u32>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// One grader's mark on one answer.
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    pub by: u64,
    pub by_name: String,
    pub score: Option<u64>,
    pub note: Option<String>,
}

/// One question of a candidate's report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportQuestion {
    pub qid: u64,
    pub seq: u64,
    pub topic: Vec<String>,
    pub prompt: String,
    pub mode: String,
    /// The candidate's answer as text ("" when it gave none).
    pub answer: String,
    pub response_ms: Option<u64>,
    pub correct: Option<bool>,
    pub judged_by: Option<String>,
    pub marks: Vec<Mark>,
    /// Mean of the graders' scores, if any scored.
    pub average: Option<f64>,
}

/// One topic of the knowledge map: 0–1, from scores (as a share of the
/// scale) where graders scored, else from rulings.
#[derive(Debug, Clone, Serialize)]
pub struct ReportTopic {
    pub topic: Vec<String>,
    pub questions: u32,
    pub level: Option<f64>,
}

/// Everything about one candidate.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    pub code: String,
    pub title: String,
    pub player_id: u64,
    pub name: String,
    pub score: i64,
    pub score_scale: u64,
    pub graders: Vec<String>,
    pub average: Option<f64>,
    pub topics: Vec<ReportTopic>,
    pub questions: Vec<ReportQuestion>,
}

async fn report(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(query): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = query.format.as_deref().unwrap_or("html");
    if !matches!(format, "html" | "json" | "csv" | "xlsx") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_format",
            "format must be html, json, csv or xlsx",
        ));
    }
    let token = super::history::bearer(&headers)
        .map(str::to_string)
        .or(query.token.clone())
        .ok_or_else(unauthorized)?;
    let code = rooms::normalize_code(&code).ok_or_else(|| ApiError::not_found("room"))?;
    let results = results_of(&state, &code, &token).await?;
    let reports = candidate_reports(&results);
    let reports: Vec<CandidateReport> = match query.player_id {
        Some(id) => reports
            .into_iter()
            .filter(|r| r.player_id == u64::from(id))
            .collect(),
        None => reports,
    };
    if reports.is_empty() {
        return Err(ApiError::not_found("candidate"));
    }
    let no_referrer = (header::REFERRER_POLICY, "no-referrer".to_string());
    let file = |ext: &str| match query.player_id {
        Some(id) => format!("attachment; filename=\"quizroom-{code}-report-{id}.{ext}\""),
        None => format!("attachment; filename=\"quizroom-{code}-report.{ext}\""),
    };
    Ok(match format {
        "json" => (
            [no_referrer],
            Json(serde_json::json!({"code": code, "candidates": reports})),
        )
            .into_response(),
        "csv" => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, file("csv")),
                no_referrer,
            ],
            to_csv(&reports),
        )
            .into_response(),
        "xlsx" => {
            let bytes = to_xlsx(&reports).map_err(|e| {
                tracing::error!(error = %e, "writing the report workbook failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "export_failed",
                    "the workbook could not be written",
                )
            })?;
            (
                [
                    (header::CONTENT_TYPE, XLSX_TYPE.to_string()),
                    (header::CONTENT_DISPOSITION, file("xlsx")),
                    no_referrer,
                ],
                bytes,
            )
                .into_response()
        }
        _ => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                no_referrer,
            ],
            to_html(&reports),
        )
            .into_response(),
    })
}

/// The media type of a workbook.
const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What a live room answers a report request.
enum Live {
    Results(Value),
    /// The token is neither the owner's nor a current interviewer's.
    Refused,
    Unreadable,
}

/// The room's results, live or stored for the retention period, if `token`
/// is the owner's or that of one of the room's interviewers who was not
/// revoked. A token of another room opens nothing here.
async fn results_of(state: &AppState, code: &str, token: &str) -> Result<Value, ApiError> {
    if let Some(room) = state.rooms().get(code) {
        let owner = room.is_host_token(token);
        let reader = state.clone();
        let token = token.to_string();
        let value = room
            .inspect(move |room| {
                if !owner && !room.is_interviewer_token(&token) {
                    return Live::Refused;
                }
                let store = reader.store().map(|store| store.as_ref());
                match crate::storage::persist::room_results(store, room) {
                    Some(results) => {
                        Live::Results(serde_json::to_value(results).unwrap_or_default())
                    }
                    None => Live::Unreadable,
                }
            })
            .await;
        match value {
            Ok(Live::Results(value)) => return Ok(value),
            Ok(Live::Refused) => return Err(unauthorized()),
            Ok(Live::Unreadable) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_error",
                    "the room's earlier questions could not be read back; try again",
                ))
            }
            // The room ended meanwhile (or runs on another node): its
            // results are stored.
            Err(_) => {}
        }
    }
    let stored = crate::storage::persist::stored_results_for_panel(state, code, token)
        .map_err(|e| crate::http::error::store_unavailable("reading stored results", &e))?;
    match stored {
        Some((results, ended_ms)) => {
            let retention = retention_ms(state);
            match ended_ms {
                Some(ended) if ended.saturating_add(retention) <= now_ms() => {
                    Err(expired(state, code))
                }
                _ => Ok(results),
            }
        }
        None => Err(gone_or_not_found(state, code)),
    }
}

/// How long results of an ended room are kept, in ms.
pub fn retention_ms(state: &AppState) -> u64 {
    state.config().retention_hours.saturating_mul(3_600_000)
}

fn now_ms() -> u64 {
    crate::storage::store::now_ms()
}

/// `410 expired`: the room's results were kept for the retention period
/// after it ended and are gone (or about to go).
pub fn expired(state: &AppState, code: &str) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "expired",
        format!(
            "room {code} ended more than {} hours ago: its results and reports are kept for {} hours after a room ends and have been deleted",
            state.config().retention_hours,
            state.config().retention_hours
        ),
    )
}

/// The error for a room with no stored results under this token: `410
/// expired` when the room was purged past retention, else `404`.
pub fn gone_or_not_found(state: &AppState, code: &str) -> ApiError {
    match crate::storage::persist::expired_room(state, code) {
        Some(_) => expired(state, code),
        None => ApiError::not_found("room"),
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send the room owner's or an interviewer's token as Authorization: Bearer TOKEN (or ?token=)",
    )
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The candidate's answer as people read it.
fn answer_text(q: &Value, a: &Value) -> String {
    if let Some(text) = a.get("text").and_then(Value::as_str) {
        return text.to_string();
    }
    if let Some(s) = a.get("self").and_then(Value::as_str) {
        return match s {
            "know" => "Know it",
            "partly" => "Partly",
            _ => "Don't know",
        }
        .to_string();
    }
    if let Some(choices) = a.get("choices").and_then(Value::as_array) {
        let options = strings(q, "options");
        return choices
            .iter()
            .filter_map(Value::as_u64)
            .filter_map(|i| options.get(usize::try_from(i).ok()?).cloned())
            .collect::<Vec<_>>()
            .join("; ");
    }
    if a.get("buzzed").and_then(Value::as_bool) == Some(true) {
        return "(buzzed, answered aloud)".to_string();
    }
    String::new()
}

/// Builds every candidate's report from a results JSON.
pub fn candidate_reports(results: &Value) -> Vec<CandidateReport> {
    let panel = results.get("panel").cloned().unwrap_or(Value::Null);
    let scale = panel
        .get("score_scale")
        .and_then(Value::as_u64)
        .unwrap_or(3)
        .max(1);
    let graders: Vec<String> = panel
        .get("graders")
        .and_then(Value::as_array)
        .map(|g| g.iter().map(|g| str_of(g, "name")).collect())
        .unwrap_or_default();
    // (qid, player) → marks
    let mut marks: BTreeMap<(u64, u64), Vec<Mark>> = BTreeMap::new();
    for a in panel
        .get("assessments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(qid), Some(pid)) = (
            a.get("qid").and_then(Value::as_u64),
            a.get("player_id").and_then(Value::as_u64),
        ) else {
            continue;
        };
        marks.entry((qid, pid)).or_default().push(Mark {
            by: a.get("by").and_then(Value::as_u64).unwrap_or(0),
            by_name: str_of(a, "by_name"),
            score: a.get("score").and_then(Value::as_u64),
            note: a.get("note").and_then(Value::as_str).map(str::to_string),
        });
    }
    let questions: &[Value] = results
        .get("questions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let players: &[Value] = results
        .get("players")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    players
        .iter()
        .filter(|p| p.get("kicked").and_then(Value::as_bool) != Some(true))
        .filter_map(|p| {
            let pid = p.get("player_id").and_then(Value::as_u64)?;
            let mut rows = Vec::new();
            let mut by_topic: BTreeMap<Vec<String>, (u32, Vec<f64>, u32, u32)> = BTreeMap::new();
            for q in questions {
                let Some(a) = q.get("answers").and_then(Value::as_array).and_then(|a| {
                    a.iter()
                        .find(|a| a.get("player_id").and_then(Value::as_u64) == Some(pid))
                }) else {
                    continue;
                };
                let qid = q.get("qid").and_then(Value::as_u64).unwrap_or(0);
                let mut m = marks.get(&(qid, pid)).cloned().unwrap_or_default();
                m.sort_by_key(|m| m.by);
                let scores: Vec<f64> = m.iter().filter_map(|m| m.score).map(|s| s as f64).collect();
                let average = mean(&scores);
                let correct = a.get("correct").and_then(Value::as_bool);
                let topic = strings(q, "topic");
                let t = by_topic.entry(topic.clone()).or_default();
                t.0 += 1;
                if let Some(avg) = average {
                    t.1.push(avg / scale as f64);
                }
                if let Some(c) = correct {
                    t.3 += 1;
                    if c {
                        t.2 += 1;
                    }
                }
                rows.push(ReportQuestion {
                    qid,
                    seq: q.get("seq").and_then(Value::as_u64).unwrap_or(qid),
                    topic,
                    prompt: str_of(q, "prompt"),
                    mode: str_of(q, "mode"),
                    answer: answer_text(q, a),
                    response_ms: a.get("response_ms").and_then(Value::as_u64),
                    correct,
                    judged_by: a
                        .get("judged_by")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    marks: m,
                    average,
                });
            }
            let topics = by_topic
                .into_iter()
                .map(|(topic, (n, scored, right, judged))| ReportTopic {
                    topic,
                    questions: n,
                    level: mean(&scored)
                        .or_else(|| (judged > 0).then(|| f64::from(right) / f64::from(judged))),
                })
                .collect();
            let averages: Vec<f64> = rows.iter().filter_map(|r| r.average).collect();
            Some(CandidateReport {
                code: str_of(results, "code"),
                title: str_of(results, "title"),
                player_id: pid,
                name: str_of(p, "name"),
                score: p.get("score").and_then(Value::as_i64).unwrap_or(0),
                score_scale: scale,
                graders: graders.clone(),
                average: mean(&averages),
                topics,
                questions: rows,
            })
        })
        .collect()
}

/// Escapes text for HTML and SVG.
fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The knowledge map: one horizontal bar per topic, 0–100 %.
pub fn knowledge_svg(topics: &[ReportTopic]) -> String {
    const ROW: usize = 22;
    const LABEL: usize = 230;
    const BAR: f64 = 330.0;
    let height = ROW * topics.len().max(1) + 8;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"kmap\" role=\"img\" aria-label=\"Knowledge map\" width=\"680\" height=\"{height}\" viewBox=\"0 0 680 {height}\">"
    );
    for (i, t) in topics.iter().enumerate() {
        let y = 4 + i * ROW;
        let label: String = t.topic.join(" / ").chars().take(40).collect();
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            LABEL - 6,
            y + 14,
            esc(&label)
        );
        let _ = write!(
            svg,
            "<rect x=\"{LABEL}\" y=\"{}\" width=\"{BAR}\" height=\"14\" fill=\"#eceff3\"/>",
            y + 3
        );
        match t.level {
            Some(level) => {
                let level = level.clamp(0.0, 1.0);
                let hue = (level * 120.0).round();
                let _ = write!(
                    svg,
                    "<rect class=\"kbar\" x=\"{LABEL}\" y=\"{}\" width=\"{:.1}\" height=\"14\" fill=\"hsl({hue},60%,45%)\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{:.0} %</text>",
                    y + 3,
                    BAR * level,
                    LABEL as f64 + BAR + 6.0,
                    y + 14,
                    level * 100.0
                );
            }
            None => {
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#777\">not assessed</text>",
                    LABEL as f64 + BAR + 6.0,
                    y + 14
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

fn fmt_score(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

fn fmt_secs(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "–".to_string(),
        |ms| format!("{:.1} s", ms as f64 / 1000.0),
    )
}

const PRINT_CSS: &str = "
@page { size: A4; margin: 12mm; }
body { font: 11px/1.35 system-ui, sans-serif; color: #111; margin: 0; }
.candidate { page-break-after: always; break-after: page; padding: 4mm 0; }
.candidate:last-child { page-break-after: auto; break-after: auto; }
h1 { font-size: 17px; margin: 0 0 2px; }
.meta { color: #555; margin: 0 0 8px; }
h2 { font-size: 13px; margin: 10px 0 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 2px 4px; vertical-align: top; text-align: left; }
th { background: #f3f4f6; }
td.num { text-align: right; white-space: nowrap; }
.note { color: #333; font-style: italic; }
.ok { color: #166534; } .bad { color: #991b1b; }
tr { page-break-inside: avoid; break-inside: avoid; }
@media screen { body { max-width: 210mm; margin: 0 auto; padding: 8px; } .candidate { border-bottom: 2px dashed #bbb; } }
";

/// The printable page: one section (an A4 page where it fits) per candidate.
pub fn to_html(reports: &[CandidateReport]) -> String {
    let title = reports.first().map_or("", |r| r.title.as_str());
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Report — {}</title><style>{PRINT_CSS}</style></head><body>",
        esc(title)
    );
    for r in reports {
        let _ = write!(
            html,
            "<section class=\"candidate\" data-player=\"{}\"><h1>{}</h1><p class=\"meta\">{} · room {} · score {} · average mark {} of {} · graders: {}</p>",
            r.player_id,
            esc(&r.name),
            esc(&r.title),
            esc(&r.code),
            r.score,
            fmt_score(r.average),
            r.score_scale,
            esc(&r.graders.join(", "))
        );
        html.push_str("<h2>Knowledge map</h2>");
        html.push_str(&knowledge_svg(&r.topics));
        html.push_str("<h2>Questions</h2><table><thead><tr><th>#</th><th>Question</th><th>Answer</th><th>Time</th><th>Ruling</th><th>Marks and notes</th><th>Avg</th></tr></thead><tbody>");
        for q in &r.questions {
            let ruling = match q.correct {
                Some(true) => "<span class=\"ok\">right</span>".to_string(),
                Some(false) => "<span class=\"bad\">wrong</span>".to_string(),
                None => "–".to_string(),
            };
            let ruling = match &q.judged_by {
                Some(by) => format!("{ruling} ({})", esc(by)),
                None => ruling,
            };
            let mut marks = String::new();
            for m in &q.marks {
                let _ = write!(
                    marks,
                    "<div><b>{}</b>: {}{}</div>",
                    esc(&m.by_name),
                    m.score
                        .map_or_else(|| "–".to_string(), |s| format!("{s}/{}", r.score_scale)),
                    m.note
                        .as_deref()
                        .map(|n| format!(" <span class=\"note\">{}</span>", esc(n)))
                        .unwrap_or_default()
                );
            }
            let _ = write!(
                html,
                "<tr><td class=\"num\">{}</td><td>{}<br><small>{}</small></td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                q.seq,
                esc(&q.prompt),
                esc(&q.topic.join(" / ")),
                esc(&q.answer),
                fmt_secs(q.response_ms),
                ruling,
                marks,
                fmt_score(q.average)
            );
        }
        html.push_str("</tbody></table></section>");
    }
    html.push_str("</body></html>");
    html
}

/// A CSV text cell: quoted, inner quotes doubled, formulas neutralized.
fn cell(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// The CSV header of the report.
pub const REPORT_CSV_HEADER: &str = "player_id,name,qid,seq,topic,prompt,mode,answer,response_ms,correct,judged_by,grader,score,note,average";

/// One row per question and grader (one row with empty grader fields for
/// a question nobody scored), UTF-8 with BOM, CRLF.
pub fn to_csv(reports: &[CandidateReport]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(REPORT_CSV_HEADER);
    out.push_str("\r\n");
    for r in reports {
        for q in &r.questions {
            let lead = format!(
                "{},{},{},{},{},{},{},{},{},{},{}",
                r.player_id,
                cell(&r.name),
                q.qid,
                q.seq,
                cell(&q.topic.join(" / ")),
                cell(&q.prompt),
                cell(&q.mode),
                cell(&q.answer),
                q.response_ms.map(|v| v.to_string()).unwrap_or_default(),
                q.correct.map(|v| v.to_string()).unwrap_or_default(),
                cell(q.judged_by.as_deref().unwrap_or("")),
            );
            let avg = q.average.map(|v| format!("{v:.2}")).unwrap_or_default();
            if q.marks.is_empty() {
                let _ = write!(out, "{lead},\"\",,\"\",{avg}\r\n");
            }
            for m in &q.marks {
                let _ = write!(
                    out,
                    "{lead},{},{},{},{avg}\r\n",
                    cell(&m.by_name),
                    m.score.map(|v| v.to_string()).unwrap_or_default(),
                    cell(m.note.as_deref().unwrap_or(""))
                );
            }
        }
    }
    out
}

/// The report as a workbook, written with the results export's sheet
/// writer: `candidates` (one row each), `answers` (one row per question
/// and grader, as the CSV) and `topics` (the knowledge map as numbers).
pub fn to_xlsx(reports: &[CandidateReport]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use super::results_xlsx::{field, sheet};
    use serde_json::json;
    let candidates: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({"player_id": r.player_id, "name": r.name, "score": r.score,
                   "average": r.average, "score_scale": r.score_scale,
                   "graders": r.graders.join(", "), "code": r.code, "title": r.title})
        })
        .collect();
    let mut answers = Vec::new();
    for r in reports {
        for q in &r.questions {
            let lead = json!({"player_id": r.player_id, "name": r.name, "seq": q.seq,
                "topic": q.topic.join(" / "), "prompt": q.prompt, "mode": q.mode,
                "answer": q.answer, "response_ms": q.response_ms, "correct": q.correct,
                "judged_by": q.judged_by, "average": q.average, "qid": q.qid});
            if q.marks.is_empty() {
                answers.push(lead.clone());
            }
            for m in &q.marks {
                let mut row = lead.clone();
                if let Some(obj) = row.as_object_mut() {
                    obj.insert("grader".into(), json!(m.by_name));
                    obj.insert("score".into(), json!(m.score));
                    obj.insert("note".into(), json!(m.note));
                }
                answers.push(row);
            }
        }
    }
    let topics: Vec<Value> = reports
        .iter()
        .flat_map(|r| {
            r.topics.iter().map(|t| {
                json!({"player_id": r.player_id, "name": r.name, "topic": t.topic.join(" / "),
                       "questions": t.questions, "level": t.level})
            })
        })
        .collect();
    let mut book = rust_xlsxwriter::Workbook::new();
    sheet(
        &mut book,
        "candidates",
        &candidates,
        &[
            ("player_id", &field("player_id")),
            ("name", &field("name")),
            ("score", &field("score")),
            ("average_mark", &field("average")),
            ("of", &field("score_scale")),
            ("graders", &field("graders")),
            ("room", &field("code")),
            ("title", &field("title")),
        ],
    )?;
    sheet(
        &mut book,
        "answers",
        &answers,
        &[
            ("player_id", &field("player_id")),
            ("name", &field("name")),
            ("seq", &field("seq")),
            ("topic", &field("topic")),
            ("prompt", &field("prompt")),
            ("mode", &field("mode")),
            ("answer", &field("answer")),
            ("response_ms", &field("response_ms")),
            ("correct", &field("correct")),
            ("judged_by", &field("judged_by")),
            ("grader", &field("grader")),
            ("score", &field("score")),
            ("note", &field("note")),
            ("average", &field("average")),
            ("qid", &field("qid")),
        ],
    )?;
    sheet(
        &mut book,
        "topics",
        &topics,
        &[
            ("player_id", &field("player_id")),
            ("name", &field("name")),
            ("topic", &field("topic")),
            ("questions", &field("questions")),
            ("level", &field("level")),
        ],
    )?;
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::json!({
            "code": "K7XQ2M", "title": "Screening <1>",
            "questions": [
                {"qid": 1, "seq": 1, "prompt": "What is a <b>?", "topic": ["Rust", "Traits"], "mode": "text",
                 "options": [], "answers": [
                    {"player_id": 1, "text": "=cmd|x", "correct": true, "response_ms": 4200, "judged_by": "Ann"},
                    {"player_id": 2, "text": null, "correct": null}]},
                {"qid": 2, "seq": 2, "prompt": "Pick", "topic": ["SQL"], "mode": "vote",
                 "options": ["a", "b"], "answers": [
                    {"player_id": 1, "choices": [1], "correct": false, "response_ms": 900}]}
            ],
            "players": [{"player_id": 1, "name": "Cand & Co", "score": 1000},
                        {"player_id": 2, "name": "Kicked", "score": 0, "kicked": true}],
            "panel": {"score_scale": 3, "graders": [{"id": 0, "name": "Host"}, {"id": 1, "name": "Ann"}],
                "assessments": [
                    {"qid": 1, "player_id": 1, "by": 1, "by_name": "Ann", "score": 3, "note": "clear"},
                    {"qid": 1, "player_id": 1, "by": 0, "by_name": "Host", "score": 2}]}
        })
    }

    #[test]
    fn scores_are_side_by_side_averaged_and_mapped_per_topic() {
        let reports = candidate_reports(&sample());
        assert_eq!(reports.len(), 1, "kicked seats get no report");
        let r = &reports[0];
        assert_eq!(r.questions[0].marks.len(), 2);
        assert_eq!(r.questions[0].marks[0].by_name, "Host");
        assert_eq!(r.questions[0].average, Some(2.5));
        assert_eq!(r.questions[1].answer, "b");
        let rust = r.topics.iter().find(|t| t.topic[0] == "Rust").unwrap();
        assert!((rust.level.unwrap() - 2.5 / 3.0).abs() < 1e-9);
        let sql = r.topics.iter().find(|t| t.topic[0] == "SQL").unwrap();
        assert_eq!(sql.level, Some(0.0), "no scores: the rulings decide");
    }

    #[test]
    fn html_escapes_everything_and_has_one_svg_per_candidate() {
        let html = to_html(&candidate_reports(&sample()));
        assert!(html.contains("Cand &amp; Co"));
        assert!(html.contains("What is a &lt;b&gt;?"));
        assert!(!html.contains("<b>?"));
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.contains("@page { size: A4"));
    }

    #[test]
    fn csv_has_a_row_per_grader_and_is_formula_safe() {
        let csv = to_csv(&candidate_reports(&sample()));
        let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
        assert!(lines[0].ends_with(REPORT_CSV_HEADER));
        assert_eq!(lines.len(), 1 + 2 + 1);
        assert!(lines[1].contains("\"'=cmd|x\""));
    }

    #[test]
    fn the_workbook_has_a_row_per_grader_with_marks_and_notes() {
        use calamine::{Data, Reader, Xlsx};
        let bytes = to_xlsx(&candidate_reports(&sample())).unwrap();
        let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), ["candidates", "answers", "topics"]);
        let answers = book.worksheet_range("answers").unwrap();
        let rows: Vec<_> = answers.rows().collect();
        assert_eq!(
            rows.len(),
            1 + 2 + 1,
            "header, two graders on q1, one row for q2"
        );
        assert_eq!(rows[1][10], Data::String("Host".into()));
        assert_eq!(rows[2][11], Data::Float(3.0));
        assert_eq!(rows[2][12], Data::String("clear".into()));
        // Text stays text: a formula-looking answer is never a formula.
        assert_eq!(rows[1][6], Data::String("=cmd|x".into()));
    }

    #[test]
    fn junk_results_give_no_reports_and_no_panic() {
        for v in [
            Value::Null,
            serde_json::json!({"players": 3}),
            serde_json::json!({"players": [{"player_id": "x"}]}),
        ] {
            assert!(candidate_reports(&v).is_empty());
        }
    }
}
