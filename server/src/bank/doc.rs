//! The decoded text of one bank file and what a layout importer returns.

use super::{Kind, Question, Warning};

/// A bank file decoded to text: BOM removed, line endings normalized to LF.
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    /// File name as given (used in errors).
    pub file: &'a str,
    /// The whole text.
    pub text: &'a str,
    /// The text split into lines (without `\n`); index 0 is line 1.
    pub lines: Vec<&'a str>,
}

impl<'a> Doc<'a> {
    /// Splits `text` (already LF-normalized) into lines.
    pub fn new(file: &'a str, text: &'a str) -> Doc<'a> {
        Doc {
            file,
            text,
            lines: text.lines().collect(),
        }
    }
}

/// One question as an importer found it; ids are assigned by the dispatcher.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Draft {
    pub prompt: String,
    pub kind: Kind,
    pub options: Vec<super::AnswerOption>,
    pub answer: String,
    pub followups: Vec<String>,
    pub notes: Vec<String>,
    /// 1-based source line.
    pub line: usize,
}

/// One topic as an importer found it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DraftTopic {
    pub path: Vec<String>,
    pub questions: Vec<Draft>,
}

/// What a layout importer returns; [`super::parse`] turns it into a [`super::Bank`]
/// (stable ids, empty topics dropped).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// Title found in the file (first heading), if any.
    pub title: Option<String>,
    /// Intro text that is not a question.
    pub description: String,
    pub topics: Vec<DraftTopic>,
    pub warnings: Vec<Warning>,
}

impl Draft {
    /// Turns a draft into a [`Question`] with the given stable id.
    pub fn into_question(self, id: String) -> Question {
        Question {
            id,
            prompt: self.prompt,
            kind: self.kind,
            options: self.options,
            answer: self.answer,
            followups: self.followups,
            notes: self.notes,
            line: self.line,
        }
    }
}
