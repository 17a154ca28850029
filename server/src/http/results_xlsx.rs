//! The results export as an Excel workbook (`rust_xlsxwriter`): one sheet
//! per view of the results JSON, so a teacher opens one file instead of
//! pivoting the CSV: `players`, `questions` and `topics`. The sheet
//! writer here is shared with the per-candidate report's workbook.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde_json::Value;

/// A cell value taken from JSON.
pub(crate) enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

/// The cell for a JSON value: numbers stay numbers, arrays are joined.
pub(crate) fn cell(v: Option<&Value>) -> Cell {
    match v {
        None | Some(Value::Null) => Cell::Empty,
        Some(Value::Number(n)) => n.as_f64().map_or(Cell::Empty, Cell::Number),
        Some(Value::Bool(b)) => Cell::Text(if *b { "yes" } else { "no" }.into()),
        Some(Value::String(s)) => Cell::Text(s.clone()),
        Some(Value::Array(items)) => Cell::Text(
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" / "),
        ),
        Some(other) => Cell::Text(other.to_string()),
    }
}

/// A column: its header and how a row's cell is taken from the item.
pub(crate) type Column<'a> = (&'a str, &'a dyn Fn(&Value) -> Cell);

/// Writes one sheet: a bold header row, then one row per item with the
/// given fields (a field may be computed by a closure).
pub(crate) fn sheet(
    book: &mut Workbook,
    name: &str,
    items: &[Value],
    columns: &[Column<'_>],
) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let ws: &mut Worksheet = book.add_worksheet();
    ws.set_name(name)?;
    for (c, (title, _)) in columns.iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        ws.write_string_with_format(0, c, *title, &bold)?;
    }
    for (r, item) in items.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, (_, get)) in columns.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            match get(item) {
                // Strings are written as strings: a name like "=1+1" is
                // never run as a formula.
                Cell::Text(s) => ws.write_string(r, c, s)?,
                Cell::Number(n) => ws.write_number(r, c, n)?,
                Cell::Empty => ws,
            };
        }
    }
    ws.autofit();
    Ok(())
}

/// A column that takes the item's field `name`.
pub(crate) fn field(name: &'static str) -> impl Fn(&Value) -> Cell {
    move |v: &Value| cell(v.get(name))
}

/// The workbook bytes for a results JSON value (as `format=json` returns).
pub fn workbook(results: &Value) -> Result<Vec<u8>, XlsxError> {
    let empty = Vec::new();
    let list = |key: &str| results.get(key).and_then(Value::as_array).unwrap_or(&empty);
    let mut book = Workbook::new();
    let players = list("players");
    sheet(
        &mut book,
        "players",
        players,
        &[
            ("place", &field("place")),
            ("name", &field("name")),
            ("score", &field("score")),
            ("answered", &field("answered")),
            ("correct", &field("correct")),
            ("judged", &field("judged")),
            ("avg_response_ms", &field("avg_response_ms")),
            ("kicked", &field("kicked")),
            ("player_id", &field("player_id")),
        ],
    )?;
    // The options of a question, the correct ones marked, in one cell.
    let options = |q: &Value| {
        let correct: Vec<u64> = q
            .get("correct")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let texts: Vec<String> = q
            .get("options")
            .and_then(Value::as_array)
            .map(|o| {
                o.iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let t = t.as_str().unwrap_or_default();
                        if correct.contains(&(i as u64)) {
                            format!("[x] {t}")
                        } else {
                            format!("[ ] {t}")
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        if texts.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(texts.join("\n"))
        }
    };
    let right = |q: &Value| {
        let n = q.get("answers").and_then(Value::as_array).map_or(0, |a| {
            a.iter()
                .filter(|x| x.get("correct") == Some(&Value::Bool(true)))
                .count()
        });
        Cell::Number(n as f64)
    };
    sheet(
        &mut book,
        "questions",
        list("questions"),
        &[
            ("seq", &field("seq")),
            ("topic", &field("topic")),
            ("mode", &field("mode")),
            ("prompt", &field("prompt")),
            ("options", &options),
            ("option_ids", &field("option_ids")),
            ("answered", &field("answered")),
            ("of", &field("of")),
            ("correct_answers", &right),
            ("avg_response_ms", &field("avg_response_ms")),
            ("time_limit_ms", &field("time_limit_ms")),
            ("question_id", &field("question_id")),
        ],
    )?;
    sheet(
        &mut book,
        "topics",
        list("topics"),
        &[
            ("topic", &field("topic")),
            ("questions", &field("questions")),
            ("answered", &field("answered")),
            ("correct", &field("correct")),
            ("judged", &field("judged")),
            ("points", &field("points")),
            ("know", &field("know")),
            ("partly", &field("partly")),
            ("dont_know", &field("dont_know")),
            ("knowledge", &field("knowledge")),
            ("avg_response_ms", &field("avg_response_ms")),
        ],
    )?;
    book.save_to_buffer()
}
