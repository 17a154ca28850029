//! Checks a quiz before it is saved. Every problem is reported with the
//! field it is in and a stable code, so the editor can show each one next
//! to its input; a quiz with any problem is not saved at all.

use std::collections::HashSet;

use serde::Serialize;

use super::model::{LibQuestion, Quiz};
use crate::bank::Kind;
use crate::protocol::Mode;

/// Longest prompt, in bytes of UTF-8.
pub const MAX_PROMPT_BYTES: usize = 4 * 1024;
/// Most options a question may have.
pub const MAX_OPTIONS: usize = 10;
/// Longest option text, in characters.
pub const MAX_OPTION_CHARS: usize = 500;
/// Longest quiz or topic title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Most questions in one quiz.
pub const MAX_QUESTIONS: usize = 500;
/// Most topics in one quiz.
pub const MAX_TOPICS: usize = 200;
/// Longest reference answer, note or follow-up, in bytes.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;
/// Most notes or follow-ups per question.
pub const MAX_LINES: usize = 50;
/// Time limits a question may carry, in milliseconds.
pub const TIME_LIMIT_MS: std::ops::RangeInclusive<u64> = 1_000..=3_600_000;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where: `title`, `topics[1].parent`, `questions[3].options[0].text`.
    pub field: String,
    /// Stable code, listed in docs/protocol.md.
    pub code: &'static str,
    /// For people (English); the web app shows its own text per code.
    pub message: String,
}

fn err(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        code,
        message: message.into(),
    }
}

/// Every problem of `quiz`; empty when it may be saved.
pub fn check_quiz(quiz: &Quiz) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_title(&quiz.title, "title", &mut errors);
    if quiz.topics.len() > MAX_TOPICS {
        errors.push(err(
            "topics",
            "too_many_topics",
            format!("at most {MAX_TOPICS} topics"),
        ));
    }
    let mut ids = HashSet::new();
    for (i, t) in quiz.topics.iter().enumerate() {
        let at = format!("topics[{i}]");
        if t.id.trim().is_empty() || t.id.len() > 64 {
            errors.push(err(
                format!("{at}.id"),
                "bad_topic_id",
                "a topic needs an id of 1-64 bytes",
            ));
        } else if !ids.insert(t.id.as_str()) {
            errors.push(err(
                format!("{at}.id"),
                "duplicate_topic",
                "two topics have the same id",
            ));
        }
        check_title(&t.title, &format!("{at}.title"), &mut errors);
    }
    for (i, t) in quiz.topics.iter().enumerate() {
        let Some(parent) = t.parent.as_deref() else {
            continue;
        };
        if !ids.contains(parent) {
            errors.push(err(
                format!("topics[{i}].parent"),
                "unknown_topic",
                "the parent topic does not exist",
            ));
            continue;
        }
        // Walk up: a chain longer than the tree is a cycle.
        let mut at = Some(parent);
        let mut steps = 0;
        while let Some(id) = at {
            if id == t.id || steps > quiz.topics.len() {
                errors.push(err(
                    format!("topics[{i}].parent"),
                    "topic_cycle",
                    "a topic cannot sit inside itself",
                ));
                break;
            }
            steps += 1;
            at = quiz
                .topics
                .iter()
                .find(|x| x.id == id)
                .and_then(|x| x.parent.as_deref());
        }
    }
    if quiz.questions.len() > MAX_QUESTIONS {
        errors.push(err(
            "questions",
            "too_many_questions",
            format!("at most {MAX_QUESTIONS} questions"),
        ));
    }
    for (i, q) in quiz.questions.iter().enumerate() {
        let at = format!("questions[{i}]");
        if let Some(topic) = q.topic.as_deref() {
            if !ids.contains(topic) {
                errors.push(err(
                    format!("{at}.topic"),
                    "unknown_topic",
                    "the question's topic does not exist",
                ));
            }
        }
        check_question(q, &at, &mut errors);
    }
    errors
}

fn check_title(title: &str, field: &str, errors: &mut Vec<FieldError>) {
    if title.trim().is_empty() {
        errors.push(err(field, "empty_title", "the title is empty"));
    } else if title.chars().count() > MAX_TITLE_CHARS {
        errors.push(err(
            field,
            "title_too_long",
            format!("a title has at most {MAX_TITLE_CHARS} characters"),
        ));
    }
}

/// Every problem of one question; `at` prefixes the field names (empty for
/// a question saved on its own, as an edit of an imported one).
pub fn check_question(q: &LibQuestion, at: &str, errors: &mut Vec<FieldError>) {
    let field = |name: &str| {
        if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        }
    };
    if q.prompt.trim().is_empty() {
        errors.push(err(
            field("prompt"),
            "empty_prompt",
            "the question is empty",
        ));
    } else if q.prompt.len() > MAX_PROMPT_BYTES {
        errors.push(err(
            field("prompt"),
            "prompt_too_long",
            format!("the question is over {MAX_PROMPT_BYTES} bytes"),
        ));
    }
    if q.options.len() > MAX_OPTIONS {
        errors.push(err(
            field("options"),
            "too_many_options",
            format!("at most {MAX_OPTIONS} options"),
        ));
    }
    for (j, o) in q.options.iter().enumerate() {
        let name = field(&format!("options[{j}].text"));
        if o.text.trim().is_empty() {
            errors.push(err(name, "empty_option", "the option is empty"));
        } else if o.text.chars().count() > MAX_OPTION_CHARS {
            errors.push(err(
                name,
                "option_too_long",
                format!("an option has at most {MAX_OPTION_CHARS} characters"),
            ));
        }
    }
    let correct = q.options.iter().filter(|o| o.correct).count();
    match q.kind {
        Kind::Choice | Kind::Multi | Kind::Truefalse => {
            if q.options.len() < 2 {
                errors.push(err(
                    field("options"),
                    "too_few_options",
                    "a scored question needs at least two options",
                ));
            }
            if correct == 0 {
                errors.push(err(
                    field("options"),
                    "no_correct_option",
                    "mark at least one option correct",
                ));
            }
            if q.kind != Kind::Multi && correct > 1 {
                errors.push(err(
                    field("options"),
                    "several_correct",
                    "a single-answer question has exactly one correct option",
                ));
            }
            if q.kind == Kind::Truefalse && q.options.len() != 2 {
                errors.push(err(
                    field("options"),
                    "bad_truefalse",
                    "a true/false question has exactly two options",
                ));
            }
        }
        Kind::Open | Kind::Short => {}
    }
    if q.answer.len() > MAX_TEXT_BYTES {
        errors.push(err(
            field("answer"),
            "text_too_long",
            format!("over {MAX_TEXT_BYTES} bytes"),
        ));
    }
    for (name, list) in [("notes", &q.notes), ("followups", &q.followups)] {
        if list.len() > MAX_LINES || list.iter().any(|l| l.len() > MAX_TEXT_BYTES) {
            errors.push(err(
                field(name),
                "text_too_long",
                format!("at most {MAX_LINES} entries of {MAX_TEXT_BYTES} bytes"),
            ));
        }
    }
    if let Some(t) = q.time_limit_ms {
        if !TIME_LIMIT_MS.contains(&t) {
            errors.push(err(
                field("time_limit_ms"),
                "bad_time_limit",
                "the time limit is 1 s to 60 min, or none",
            ));
        }
    }
    match q.mode {
        Some(Mode::Vote) if correct == 0 => errors.push(err(
            field("mode"),
            "mode_unsuitable",
            "vote needs options with a correct one",
        )),
        Some(Mode::Poll) if q.options.is_empty() => errors.push(err(
            field("mode"),
            "mode_unsuitable",
            "a poll needs options",
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::model::{LibOption, TopicDef};

    fn opt(text: &str, correct: bool) -> LibOption {
        LibOption {
            text: text.into(),
            correct,
        }
    }

    fn codes(quiz: &Quiz) -> Vec<(String, &'static str)> {
        check_quiz(quiz)
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn a_good_quiz_has_no_errors() {
        let quiz = Quiz {
            title: "Q".into(),
            topics: vec![TopicDef {
                id: "a".into(),
                title: "A".into(),
                parent: None,
            }],
            questions: vec![LibQuestion {
                topic: Some("a".into()),
                prompt: "Which?".into(),
                kind: Kind::Choice,
                options: vec![opt("x", true), opt("y", false)],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(codes(&quiz), []);
    }

    #[test]
    fn every_field_error_names_its_field() {
        let quiz = Quiz {
            title: " ".into(),
            topics: vec![
                TopicDef {
                    id: "a".into(),
                    title: "A".into(),
                    parent: Some("b".into()),
                },
                TopicDef {
                    id: "b".into(),
                    title: "B".into(),
                    parent: Some("a".into()),
                },
            ],
            questions: vec![
                LibQuestion {
                    prompt: "".into(),
                    ..Default::default()
                },
                LibQuestion {
                    prompt: "x".repeat(MAX_PROMPT_BYTES + 1),
                    kind: Kind::Choice,
                    options: (0..11).map(|i| opt(&i.to_string(), false)).collect(),
                    time_limit_ms: Some(10),
                    topic: Some("zzz".into()),
                    ..Default::default()
                },
                LibQuestion {
                    prompt: "two right".into(),
                    kind: Kind::Choice,
                    options: vec![opt("a", true), opt("b", true), opt(" ", false)],
                    mode: Some(Mode::Vote),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let got = codes(&quiz);
        let want = [
            ("title", "empty_title"),
            ("topics[0].parent", "topic_cycle"),
            ("topics[1].parent", "topic_cycle"),
            ("questions[0].prompt", "empty_prompt"),
            ("questions[1].topic", "unknown_topic"),
            ("questions[1].prompt", "prompt_too_long"),
            ("questions[1].options", "too_many_options"),
            ("questions[1].options", "no_correct_option"),
            ("questions[1].time_limit_ms", "bad_time_limit"),
            ("questions[2].options[2].text", "empty_option"),
            ("questions[2].options", "several_correct"),
        ];
        for (field, code) in want {
            assert!(
                got.iter().any(|(f, c)| f == field && *c == code),
                "missing {field} {code} in {got:?}"
            );
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
    }
}
