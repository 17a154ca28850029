//! The shape of a host's quiz as the editor writes it and the library
//! stores it: a title, a tree of topics and the questions, each with its
//! own mode, time limit and points (docs/protocol.md, "Library").

use serde::{Deserialize, Serialize};

use crate::bank::{AnswerOption, Bank, Kind, Points, Question, Topic};
use crate::protocol::Mode;

/// One quiz of a host's library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Quiz {
    /// Library id (`lz` + 16 hex digits); assigned by the server.
    #[serde(default)]
    pub id: String,
    /// What the host calls the quiz; also the root topic of its questions.
    pub title: String,
    /// Topics as a tree: each names its parent (none for a root).
    #[serde(default)]
    pub topics: Vec<TopicDef>,
    /// Questions in the host's order.
    #[serde(default)]
    pub questions: Vec<LibQuestion>,
    /// When the quiz was last saved (Unix milliseconds), set by the server.
    #[serde(default)]
    pub updated_ms: i64,
}

/// One topic of a quiz.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TopicDef {
    /// Id unique within the quiz, chosen by the editor (any short string).
    pub id: String,
    /// Title shown in the topic tree.
    pub title: String,
    /// The parent topic's id; `None` for a root topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// One option of a library question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LibOption {
    /// The text on the option button (plain text).
    pub text: String,
    /// Whether choosing it scores.
    #[serde(default)]
    pub correct: bool,
}

/// One question as the host wrote it (or as the host's version of an
/// imported one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LibQuestion {
    /// Library id (`lq` + 16 hex digits); assigned by the server when empty.
    #[serde(default)]
    pub id: String,
    /// The topic it sits in (a [`TopicDef::id`]); `None` for the quiz root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Markdown: inline code and fenced code blocks are shown monospace.
    pub prompt: String,
    /// `open`, `choice` (one correct option), `multi`, `truefalse`, `short`.
    #[serde(default)]
    pub kind: Kind,
    /// The mode the host console offers first for this question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Options with their correct flags.
    #[serde(default)]
    pub options: Vec<LibOption>,
    /// The reference answer (host-only until the reveal).
    #[serde(default)]
    pub answer: String,
    /// Host notes (never sent to players).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Follow-up questions for the host (never sent to players).
    #[serde(default)]
    pub followups: Vec<String>,
    /// The question's own time limit; `None` for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
    /// Standard, double or no points.
    #[serde(default)]
    pub points: Points,
}

impl LibQuestion {
    /// The question as the catalog and the room hold it.
    pub fn to_question(&self, line: usize) -> Question {
        Question {
            id: self.id.clone(),
            prompt: self.prompt.clone(),
            kind: self.kind,
            options: self
                .options
                .iter()
                .map(|o| AnswerOption {
                    text: o.text.clone(),
                    correct: o.correct,
                    weight: None,
                })
                .collect(),
            answer: self.answer.clone(),
            followups: self.followups.clone(),
            notes: self.notes.clone(),
            line,
            points: self.points,
            time_limit_ms: self.time_limit_ms,
            mode: self.mode,
        }
    }

    /// A library question holding an imported one, for the editor to start
    /// from when a host edits a bank question.
    pub fn from_question(q: &Question) -> LibQuestion {
        LibQuestion {
            id: q.id.clone(),
            topic: None,
            prompt: q.prompt.clone(),
            kind: q.kind,
            mode: q.mode,
            options: q
                .options
                .iter()
                .map(|o| LibOption {
                    text: o.text.clone(),
                    correct: o.correct,
                })
                .collect(),
            answer: q.answer.clone(),
            notes: q.notes.clone(),
            followups: q.followups.clone(),
            time_limit_ms: q.time_limit_ms,
            points: q.points,
        }
    }
}

impl Quiz {
    /// Titles from the quiz root down to `topic` (the quiz title first);
    /// a broken parent chain stops where it breaks.
    pub fn topic_path(&self, topic: Option<&str>) -> Vec<String> {
        let mut chain = Vec::new();
        let mut at = topic;
        while let Some(id) = at {
            let Some(t) = self.topics.iter().find(|t| t.id == id) else {
                break;
            };
            if chain.len() > self.topics.len() {
                break;
            }
            chain.push(t.title.clone());
            at = t.parent.as_deref();
        }
        chain.push(self.title.clone());
        chain.reverse();
        chain
    }

    /// The quiz as a bank, so the catalog, the draw and the room treat it
    /// like any bank file: one topic per topic path, questions in order.
    pub fn to_bank(&self) -> Bank {
        let mut topics: Vec<Topic> = Vec::new();
        for (i, q) in self.questions.iter().enumerate() {
            let path = self.topic_path(q.topic.as_deref());
            let question = q.to_question(i + 1);
            match topics.iter_mut().find(|t| t.path == path) {
                Some(t) => t.questions.push(question),
                None => topics.push(Topic {
                    id: format!("{}:{}", self.id, q.topic.as_deref().unwrap_or("")),
                    path,
                    questions: vec![question],
                }),
            }
        }
        Bank {
            id: format!("lib{}", self.id),
            title: self.title.clone(),
            file: format!("library/{}", self.id),
            description: String::new(),
            format: "library".into(),
            topics,
            warnings: Vec::new(),
        }
    }
}
