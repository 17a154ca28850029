//! The parsed shape of a question bank, exactly as `quizroom check --json`,
//! `GET /api/banks/{id}` and the catalog expose it (see docs/protocol.md).

use serde::{Deserialize, Serialize};

/// What kind of answer a question expects; decides which room modes fit it
/// and whether it can be scored automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Discussion or oral question without an answer key (most seeds).
    #[default]
    Open,
    /// Multiple choice with exactly one correct option.
    Choice,
    /// Multiple choice with several correct options.
    Multi,
    /// True/false statement.
    Truefalse,
    /// Short typed answer with a list of accepted answers.
    Short,
}

/// One answer option; `correct` is host-only information and is never sent
/// to players before reveal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerOption {
    /// Plain text shown on the option button.
    pub text: String,
    /// Whether picking this option scores.
    pub correct: bool,
    /// GIFT partial credit in percent (100 for a fully correct option);
    /// absent when the format has no weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// One question as the host picks it and the room asks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Stable id: the same file gives the same ids across restarts.
    pub id: String,
    /// Plain text: no markdown markers, escapes, numbering or list marks;
    /// but GIFT and markdown multiple choice keep inline code and a fenced
    /// code block as written, so code stays monospace. Library prompts are
    /// markdown.
    pub prompt: String,
    /// What answer the question expects.
    pub kind: Kind,
    /// Options with their correctness (empty for open questions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<AnswerOption>,
    /// The reference answer the host may read out (host-only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub answer: String,
    /// Related questions the host can ask next (host-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followups: Vec<String>,
    /// Talking points, continuation lines and code kept verbatim (host-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// 1-based line in the source file where the question starts.
    pub line: usize,
    /// How a scored answer counts (library questions may double or void it).
    #[serde(default, skip_serializing_if = "Points::is_standard")]
    pub points: Points,
    /// The question's own time limit, used when the host asks it without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
    /// The mode the question is asked in when the host picks it without
    /// naming one (set in the library editor; bank files have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::protocol::Mode>,
}

/// Points a question is worth, as Kahoot and the library editor offer them:
/// a host makes a final question count double, or a warm-up count nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Points {
    /// Points as the mode scores them.
    #[default]
    Standard,
    /// Twice the points (penalties too).
    Double,
    /// No points at all; answers are still recorded and judged.
    None,
}

impl Points {
    /// Whether these are the default points (left out of JSON).
    pub fn is_standard(&self) -> bool {
        *self == Points::Standard
    }

    /// The points a mode awarded, scaled for this question.
    pub fn apply(self, points: i64) -> i64 {
        match self {
            Points::Standard => points,
            Points::Double => points.saturating_mul(2),
            Points::None => 0,
        }
    }
}

/// A topic of one bank: its heading path and the questions directly under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    /// Stable id derived from the bank id and the path.
    pub id: String,
    /// Heading titles from the outermost to this topic.
    pub path: Vec<String>,
    /// Questions in file order.
    pub questions: Vec<Question>,
}

/// One parsed bank file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bank {
    /// Stable id derived from the file name only, so editing a bank keeps
    /// its id (and the ids of unchanged questions).
    pub id: String,
    /// Human title (first heading, or the file name).
    pub title: String,
    /// Path of the source file as given.
    pub file: String,
    /// Intro text of the bank, when the file has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Which importer read the file (`headings`, `plain`, `gift`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
    /// Topics in file order; topics without questions are left out.
    pub topics: Vec<Topic>,
    /// Non-fatal findings with line numbers, for `quizroom check`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// A non-fatal finding about a bank file (skipped line, odd structure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// What is odd, in words a bank author understands.
    pub message: String,
}

/// The `check --json` envelope: `{"banks":[...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BankList {
    /// Parsed banks in argument order.
    pub banks: Vec<Bank>,
}
