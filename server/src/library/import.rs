//! Quizzes from files: Kahoot's spreadsheet template (.xlsx, read with
//! `calamine`), CSV with the same columns and a header row, and any bank
//! file the bank importers read (GIFT, markdown, ...).
//!
//! Spreadsheet rows are checked one by one against Kahoot's limits; every
//! bad row is reported with its row number, field and a stable code, and
//! the caller decides whether to import nothing (the default) or only the
//! good rows.
//!
//! An optional `Topic` column places a row in the quiz's topic tree: a
//! path from the quiz root down, its levels separated by `/` (`Python /
//! Types`), the way the library's spreadsheet export writes it.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde::Serialize;

use super::model::{LibOption, LibQuestion, Quiz, TopicDef};
use crate::bank::Kind;

/// Longest question Kahoot's template allows, in characters.
pub const MAX_QUESTION_CHARS: usize = 120;
/// Longest answer Kahoot's template allows, in characters.
pub const MAX_ANSWER_CHARS: usize = 75;
/// Time limits Kahoot's template allows, in seconds.
pub const TIME_SECS: std::ops::RangeInclusive<u64> = 5..=240;
/// Most rows read from one sheet.
pub const MAX_ROWS: usize = 500;
/// Largest spreadsheet or CSV file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A file that cannot be read at all (as opposed to bad rows).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a readable .xlsx workbook.
    #[error("not a readable .xlsx file: {0}")]
    BadXlsx(String),
    /// CSV that is not UTF-8 or not CSV.
    #[error("not readable CSV: {0}")]
    BadCsv(String),
    /// No header row with the needed columns.
    #[error("{0}")]
    MissingHeader(String),
    /// Too large or too many rows.
    #[error("{0}")]
    TooLarge(String),
    /// A bank file the importers refused.
    #[error(transparent)]
    Bank(#[from] crate::bank::BankError),
}

impl ImportError {
    /// Stable code for the HTTP error body.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::BadXlsx(_) => "bad_xlsx",
            ImportError::BadCsv(_) => "bad_csv",
            ImportError::MissingHeader(_) => "missing_header",
            ImportError::TooLarge(_) => "too_large",
            ImportError::Bank(e) => e.code(),
        }
    }
}

/// One problem of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based row number as the spreadsheet shows it.
    pub row: usize,
    /// The column: `question`, `answer 2`, `time`, `correct`.
    pub field: String,
    /// Stable code.
    pub code: &'static str,
    /// For people (English).
    pub message: String,
}

/// What a file turned into: the quiz of its good rows and every bad row.
#[derive(Debug, Clone)]
pub struct Imported {
    pub quiz: Quiz,
    pub errors: Vec<RowError>,
}

/// What a header cell names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Question,
    Answer(usize),
    Time,
    Correct,
    Topic,
}

fn column_of(header: &str) -> Option<Column> {
    let h = header.trim().to_lowercase();
    if h.starts_with("question") || h.starts_with("вопрос") {
        return Some(Column::Question);
    }
    if h.starts_with("correct") || h.starts_with("правильн") {
        return Some(Column::Correct);
    }
    if h.starts_with("time") || h.starts_with("врем") {
        return Some(Column::Time);
    }
    if h.starts_with("topic") || h.starts_with("тема") {
        return Some(Column::Topic);
    }
    if h.starts_with("answer") || h.starts_with("ответ") {
        let n: String = h
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit())
            .collect();
        return n
            .parse()
            .ok()
            .filter(|n| (1..=10).contains(n))
            .map(Column::Answer);
    }
    None
}

/// Columns found in a header row: index → meaning.
struct Header {
    row: usize,
    columns: Vec<(usize, Column)>,
}

impl Header {
    /// The header if `cells` has a question, two answers and a correct column.
    fn parse(row: usize, cells: &[String]) -> Option<Header> {
        let columns: Vec<(usize, Column)> = cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| column_of(c).map(|col| (i, col)))
            .collect();
        let has = |want: Column| columns.iter().any(|(_, c)| *c == want);
        let answers = columns
            .iter()
            .filter(|(_, c)| matches!(c, Column::Answer(_)))
            .count();
        (has(Column::Question) && has(Column::Correct) && answers >= 2)
            .then_some(Header { row, columns })
    }
}

/// Finds the header among the first rows (Kahoot's template has a few
/// lines of instructions above it).
fn find_header(rows: &[Vec<String>]) -> Result<Header, ImportError> {
    rows.iter()
        .take(20)
        .enumerate()
        .find_map(|(i, cells)| Header::parse(i + 1, cells))
        .ok_or_else(|| {
            ImportError::MissingHeader(
                "no header row: expected columns Question, Answer 1 .. Answer 4, \
                 Time limit (sec) and Correct answer(s)"
                    .into(),
            )
        })
}

/// Reads rows (already as text) under a header into questions.
fn rows_to_quiz(rows: &[Vec<String>], title: &str) -> Result<Imported, ImportError> {
    let header = find_header(rows)?;
    let data = rows.get(header.row..).unwrap_or(&[]);
    if data.len() > MAX_ROWS {
        return Err(ImportError::TooLarge(format!(
            "at most {MAX_ROWS} rows; this sheet has {}",
            data.len()
        )));
    }
    let mut quiz = Quiz {
        title: if title.trim().is_empty() {
            "Imported quiz".into()
        } else {
            title.trim().to_string()
        },
        ..Default::default()
    };
    let mut errors = Vec::new();
    for (offset, cells) in data.iter().enumerate() {
        let row = header.row + offset + 1;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        match read_row(row, cells, &header) {
            Ok((question, topic)) => {
                let topic_id = topic.and_then(|t| topic_for(&mut quiz, &t));
                quiz.questions.push(LibQuestion {
                    topic: topic_id,
                    ..question
                });
            }
            Err(mut row_errors) => errors.append(&mut row_errors),
        }
    }
    Ok(Imported { quiz, errors })
}

/// Separates the levels of a topic path in a spreadsheet's topic column.
pub const TOPIC_SEPARATOR: char = '/';

/// The id of the topic at `path` (`Parent / Child`), each level created
/// under its parent when new; `None` for an empty path (the quiz root).
fn topic_for(quiz: &mut Quiz, path: &str) -> Option<String> {
    let levels = path
        .split(TOPIC_SEPARATOR)
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let mut parent: Option<String> = None;
    for title in levels {
        parent = Some(child_topic(quiz, parent, title));
    }
    parent
}

/// The id of topic `title` under `parent`, created when new.
fn child_topic(quiz: &mut Quiz, parent: Option<String>, title: &str) -> String {
    if let Some(t) = quiz
        .topics
        .iter()
        .find(|t| t.title == title && t.parent == parent)
    {
        return t.id.clone();
    }
    let id = format!("t{}", quiz.topics.len() + 1);
    quiz.topics.push(TopicDef {
        id: id.clone(),
        title: title.to_string(),
        parent,
    });
    id
}

fn read_row(
    row: usize,
    cells: &[String],
    header: &Header,
) -> Result<(LibQuestion, Option<String>), Vec<RowError>> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, code: &'static str, message: String| {
        errors.push(RowError {
            row,
            field: field.to_string(),
            code,
            message,
        })
    };
    let cell = |i: usize| cells.get(i).map(|c| c.trim()).unwrap_or("");
    let mut prompt = "";
    let mut answers: Vec<(usize, &str)> = Vec::new();
    let mut time = "";
    let mut correct = "";
    let mut topic = "";
    for &(i, col) in &header.columns {
        match col {
            Column::Question => prompt = cell(i),
            Column::Answer(n) => answers.push((n, cell(i))),
            Column::Time => time = cell(i),
            Column::Correct => correct = cell(i),
            Column::Topic => topic = cell(i),
        }
    }
    answers.sort_by_key(|(n, _)| *n);
    if prompt.is_empty() {
        bad("question", "empty_prompt", "the question is empty".into());
    } else if prompt.chars().count() > MAX_QUESTION_CHARS {
        bad(
            "question",
            "question_too_long",
            format!("a question has at most {MAX_QUESTION_CHARS} characters"),
        );
    }
    for (n, a) in &answers {
        if a.chars().count() > MAX_ANSWER_CHARS {
            bad(
                &format!("answer {n}"),
                "answer_too_long",
                format!("an answer has at most {MAX_ANSWER_CHARS} characters"),
            );
        }
    }
    let filled: Vec<(usize, &str)> = answers
        .iter()
        .copied()
        .filter(|(_, a)| !a.is_empty())
        .collect();
    if filled.len() < 2 {
        bad(
            "answer 1",
            "too_few_options",
            "a question needs at least two answers".into(),
        );
    }
    let time_limit_ms = if time.is_empty() {
        None
    } else {
        match time.parse::<f64>() {
            Ok(secs)
                if secs.fract() == 0.0 && TIME_SECS.contains(&(secs as u64)) && secs >= 0.0 =>
            {
                Some(secs as u64 * 1000)
            }
            _ => {
                bad(
                    "time",
                    "bad_time",
                    format!("the time limit is a whole number of seconds, 5 to 240; got {time:?}"),
                );
                None
            }
        }
    };
    let mut keys: Vec<usize> = Vec::new();
    if correct.is_empty() {
        bad(
            "correct",
            "no_correct_option",
            "name the correct answer(s), like 1 or 1,3".into(),
        );
    }
    for part in correct
        .split([',', ';', ' '])
        .filter(|p| !p.trim().is_empty())
    {
        let n = part
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.fract() == 0.0 && *n >= 1.0);
        match n.map(|n| n as usize) {
            Some(n) if filled.iter().any(|(k, _)| *k == n) => {
                if !keys.contains(&n) {
                    keys.push(n);
                }
            }
            _ => {
                bad(
                    "correct",
                    "bad_correct",
                    format!("{part:?} is not the number of a filled answer"),
                );
                break;
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let options: Vec<LibOption> = filled
        .iter()
        .map(|(n, text)| LibOption {
            text: text.to_string(),
            correct: keys.contains(n),
        })
        .collect();
    let texts: Vec<&str> = options.iter().map(|o| o.text.as_str()).collect();
    let question = LibQuestion {
        prompt: prompt.to_string(),
        kind: if keys.len() > 1 {
            Kind::Multi
        } else if crate::bank::text::is_true_false(&texts) {
            Kind::Truefalse
        } else {
            Kind::Choice
        },
        options,
        time_limit_ms,
        ..Default::default()
    };
    Ok((question, Some(topic.to_string()).filter(|t| !t.is_empty())))
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A Kahoot spreadsheet (the first sheet of an .xlsx workbook).
pub fn xlsx(bytes: &[u8], title: &str) -> Result<Imported, ImportError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge(format!(
            "the file is over {MAX_FILE_BYTES} bytes"
        )));
    }
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| ImportError::BadXlsx(e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| ImportError::BadXlsx("the workbook has no sheet".into()))?
        .map_err(|e| ImportError::BadXlsx(e.to_string()))?;
    // Rows as the sheet numbers them: the range may start below row 1.
    let (top, left) = range.start().unwrap_or((0, 0));
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); top as usize];
    for r in range.rows().take(MAX_ROWS + 30) {
        let mut cells = vec![String::new(); left as usize];
        cells.extend(r.iter().map(cell_text));
        rows.push(cells);
    }
    let title = if title.trim().is_empty() {
        book.sheet_names().first().cloned().unwrap_or_default()
    } else {
        title.to_string()
    };
    rows_to_quiz(&rows, &title)
}

/// CSV with a header row (comma or semicolon separated, UTF-8).
pub fn csv(bytes: &[u8], title: &str) -> Result<Imported, ImportError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge(format!(
            "the file is over {MAX_FILE_BYTES} bytes"
        )));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text =
        std::str::from_utf8(bytes).map_err(|e| ImportError::BadCsv(format!("not UTF-8: {e}")))?;
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records().take(MAX_ROWS + 30) {
        let record = record.map_err(|e| ImportError::BadCsv(e.to_string()))?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    rows_to_quiz(&rows, title)
}

/// Any bank file (GIFT, markdown, Aiken, ...) as a quiz: its topic paths
/// become the topic tree (a first level equal to the quiz title is the
/// quiz itself, so a quiz exported from the library comes back as it was).
pub fn bank(bytes: &[u8], title: &str) -> Result<Imported, ImportError> {
    let bank = crate::bank::parse("import", bytes)?;
    // A file without a title of its own (GIFT) whose topics all sit under
    // one root is named after that root, as a library export is.
    let root = bank.topics.first().and_then(|t| t.path.first()).cloned();
    let shared_root = root.filter(|r| bank.topics.iter().all(|t| t.path.first() == Some(r)));
    let title = if !title.trim().is_empty() {
        title.trim().to_string()
    } else if bank.title == "import" {
        shared_root.unwrap_or_else(|| "Imported quiz".into())
    } else {
        bank.title.clone()
    };
    let mut quiz = Quiz {
        title: title.clone(),
        ..Default::default()
    };
    for topic in &bank.topics {
        let mut path: &[String] = &topic.path;
        if path.first().is_some_and(|t| *t == title) {
            path = path.get(1..).unwrap_or(&[]);
        }
        let mut parent: Option<String> = None;
        for name in path {
            parent = Some(child_topic(&mut quiz, parent, name));
        }
        for q in &topic.questions {
            let mut lq = LibQuestion::from_question(q);
            lq.id = String::new();
            lq.topic = parent.clone();
            quiz.questions.push(lq);
        }
    }
    Ok(Imported {
        quiz,
        errors: Vec::new(),
    })
}
