//! The view of a bank anyone may read (`GET /api/banks/{id}` without a host
//! or admin token): the questions a host can pick from, with nothing that
//! tells a player which answer is right.
//!
//! Built as its own types, field by field, rather than by blanking fields
//! of a clone: a field added to [`Question`] later stays out of the public
//! view until someone decides it belongs there.
//!
//! Left out: `correct` flags and `weight`s of options, the accepted answers
//! of short-answer questions (they are stored as all-correct options),
//! reference answers, follow-ups, host notes, and importer warnings (they
//! may quote the key). Options come sorted by text, not in file order,
//! since many banks list the right option first.

use serde::Serialize;

use super::model::{Bank, Kind, Question, Topic};

/// A bank as players may see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicBank {
    /// Same id as the full bank.
    pub id: String,
    /// Human title.
    pub title: String,
    /// Source file name.
    pub file: String,
    /// Intro text of the bank.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Importer that read the file.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format: String,
    /// Topics in file order.
    pub topics: Vec<PublicTopic>,
}

/// A topic of the public view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicTopic {
    /// Same id as the full topic.
    pub id: String,
    /// Heading path.
    pub path: Vec<String>,
    /// Questions in file order.
    pub questions: Vec<PublicQuestion>,
}

/// A question of the public view: what a player sees when it is asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicQuestion {
    /// Same id as the full question.
    pub id: String,
    /// The prompt.
    pub prompt: String,
    /// What answer it expects.
    pub kind: Kind,
    /// Option texts, sorted; none for short-answer questions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PublicOption>,
    /// Line in the source file.
    pub line: usize,
}

/// An option's text only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicOption {
    /// Text on the option button.
    pub text: String,
}

impl PublicBank {
    /// The public view of `bank`.
    pub fn of(bank: &Bank) -> PublicBank {
        PublicBank {
            id: bank.id.clone(),
            title: bank.title.clone(),
            file: bank.file.clone(),
            description: bank.description.clone(),
            format: bank.format.clone(),
            topics: bank.topics.iter().map(PublicTopic::of).collect(),
        }
    }
}

impl PublicTopic {
    fn of(topic: &Topic) -> PublicTopic {
        PublicTopic {
            id: topic.id.clone(),
            path: topic.path.clone(),
            questions: topic.questions.iter().map(PublicQuestion::of).collect(),
        }
    }
}

impl PublicQuestion {
    fn of(q: &Question) -> PublicQuestion {
        // A short answer's options are its accepted answers: the key itself.
        let mut options: Vec<PublicOption> = if q.kind == Kind::Short {
            Vec::new()
        } else {
            q.options
                .iter()
                .map(|o| PublicOption {
                    text: o.text.clone(),
                })
                .collect()
        };
        options.sort_by(|a, b| {
            a.text
                .to_lowercase()
                .cmp(&b.text.to_lowercase())
                .then_with(|| a.text.cmp(&b.text))
        });
        PublicQuestion {
            id: q.id.clone(),
            prompt: q.prompt.clone(),
            kind: q.kind,
            options,
            line: q.line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::AnswerOption;

    fn option(text: &str, correct: bool) -> AnswerOption {
        AnswerOption {
            text: text.into(),
            correct,
            weight: correct.then_some(100.0),
        }
    }

    #[test]
    fn short_answers_lose_their_accepted_answers_and_options_their_order() {
        let q = |kind, options| Question {
            id: "q".into(),
            prompt: "p".into(),
            kind,
            options,
            answer: "ref".into(),
            followups: vec!["f".into()],
            notes: vec!["n".into()],
            line: 3,
            points: Default::default(),
            time_limit_ms: None,
            mode: None,
        };
        let short = PublicQuestion::of(&q(Kind::Short, vec![option("def", true)]));
        assert!(short.options.is_empty());
        let choice = PublicQuestion::of(&q(
            Kind::Choice,
            vec![option("b", true), option("C", false), option("a", false)],
        ));
        let texts: Vec<&str> = choice.options.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "C"]);
        let json = serde_json::to_string(&choice).unwrap();
        for leaked in ["correct", "weight", "answer", "ref", "followups", "notes"] {
            assert!(!json.contains(leaked), "{leaked} in {json}");
        }
    }
}
