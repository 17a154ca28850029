//! A quiz written out as GIFT (Moodle) or as markdown multiple choice, in
//! the exact shapes the bank importers read back (`bank::gift`,
//! `bank::md_choice`), so an exported quiz re-imports to the same
//! questions, answer keys and topics.
//!
//! What each format cannot carry: GIFT drops reference answers, notes,
//! follow-ups, time limits and points; markdown multiple choice holds only
//! questions with options (open questions are left out, true/false comes
//! back as a choice between the same two options).

use std::fmt::Write;

use super::model::{LibQuestion, Quiz};
use crate::bank::Kind;

/// Escapes GIFT's structural characters, and joins lines so no blank line
/// splits the question.
fn gift_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // A line starting with `//` would be read as a comment.
        let line = if line.trim_start().starts_with("//") {
            line.replacen("//", "/\\/", 1)
        } else {
            line.to_string()
        };
        for c in line.chars() {
            if matches!(c, '~' | '=' | '#' | '{' | '}' | ':' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The quiz as GIFT: one `$CATEGORY:` per topic path, one question per
/// block.
pub fn gift(quiz: &Quiz) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "// {}", quiz.title.replace('\n', " "));
    let mut category: Option<Vec<String>> = None;
    for q in &quiz.questions {
        let path = quiz.topic_path(q.topic.as_deref());
        if category.as_ref() != Some(&path) {
            let names: Vec<String> = path.iter().map(|t| t.replace('/', "-")).collect();
            let _ = write!(out, "\n$CATEGORY: {}\n", names.join("/"));
            category = Some(path);
        }
        let _ = write!(out, "\n{} {}\n", gift_escape(&q.prompt), gift_answers(q));
    }
    out
}

fn gift_answers(q: &LibQuestion) -> String {
    let opt = |t: &str| gift_escape(&t.replace('\n', " "));
    match q.kind {
        Kind::Open => "{}".into(),
        Kind::Truefalse => {
            let truth = q.options.first().is_some_and(|o| o.correct);
            if truth { "{T}" } else { "{F}" }.into()
        }
        Kind::Short => {
            let answers: Vec<String> = q
                .options
                .iter()
                .map(|o| format!("={}", opt(&o.text)))
                .collect();
            format!("{{{}}}", answers.join(" "))
        }
        Kind::Choice => {
            let answers: Vec<String> = q
                .options
                .iter()
                .map(|o| format!("{}{}", if o.correct { '=' } else { '~' }, opt(&o.text)))
                .collect();
            format!("{{{}}}", answers.join(" "))
        }
        Kind::Multi => {
            let right = q.options.iter().filter(|o| o.correct).count().max(1);
            let share = 100.0 / right as f64;
            let answers: Vec<String> = q
                .options
                .iter()
                .map(|o| {
                    if o.correct {
                        format!("~%{}%{}", trim_float(share), opt(&o.text))
                    } else {
                        format!("~%-100%{}", opt(&o.text))
                    }
                })
                .collect();
            format!("{{{}}}", answers.join(" "))
        }
    }
}

/// `50`, `33.33333`: GIFT weights without trailing zeros.
fn trim_float(x: f64) -> String {
    let s = format!("{x:.5}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The quiz as markdown multiple choice: `#` the quiz title, then the
/// topic path from the quiz title down as `##`, `###`, ... headings, each
/// question a paragraph followed by `- [x]`/`- [ ]` options.
pub fn markdown(quiz: &Quiz) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}", one_line(&quiz.title));
    let mut current: Vec<String> = Vec::new();
    for q in &quiz.questions {
        if q.options.is_empty() {
            continue;
        }
        let path = quiz.topic_path(q.topic.as_deref());
        if path != current {
            // From the first level that differs, every heading again: the
            // importer's topic stack then is exactly this path.
            let same = path
                .iter()
                .zip(&current)
                .take_while(|(a, b)| a == b)
                .count()
                .min(path.len().saturating_sub(1));
            for (depth, title) in path.iter().enumerate().skip(same) {
                let _ = write!(out, "\n{} {}\n", "#".repeat(depth + 2), one_line(title));
            }
            current = path;
        }
        out.push('\n');
        for line in q.prompt.lines().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
        for o in &q.options {
            let _ = writeln!(
                out,
                "- [{}] {}",
                if o.correct { 'x' } else { ' ' },
                one_line(&o.text)
            );
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::{self, Bank};
    use crate::library::model::{LibOption, TopicDef};

    fn opts(list: &[(&str, bool)]) -> Vec<LibOption> {
        list.iter()
            .map(|(t, c)| LibOption {
                text: t.to_string(),
                correct: *c,
            })
            .collect()
    }

    /// A quiz with every kind, nested topics and characters GIFT escapes.
    fn sample() -> Quiz {
        let q =
            |topic: Option<&str>, prompt: &str, kind: Kind, options: &[(&str, bool)]| LibQuestion {
                id: String::new(),
                topic: topic.map(str::to_string),
                prompt: prompt.to_string(),
                kind,
                options: opts(options),
                ..Default::default()
            };
        Quiz {
            id: "lzx".into(),
            title: "Python quiz".into(),
            topics: vec![
                TopicDef {
                    id: "b".into(),
                    title: "Basics".into(),
                    parent: None,
                },
                TopicDef {
                    id: "t".into(),
                    title: "Types".into(),
                    parent: Some("b".into()),
                },
                TopicDef {
                    id: "o".into(),
                    title: "ООП".into(),
                    parent: None,
                },
            ],
            questions: vec![
                q(
                    None,
                    "Which keyword defines a function?",
                    Kind::Choice,
                    &[("def", true), ("fun", false), ("lambda", false)],
                ),
                q(
                    Some("b"),
                    "Pick the immutable types",
                    Kind::Multi,
                    &[("tuple", true), ("list", false), ("frozenset", true)],
                ),
                q(
                    Some("t"),
                    "What is 3 // 2 in Python 3 = {1}?",
                    Kind::Choice,
                    &[("1", true), ("1.5", false)],
                ),
                q(
                    Some("t"),
                    "Python is dynamically typed.",
                    Kind::Truefalse,
                    &[("True", true), ("False", false)],
                ),
                q(Some("o"), "Что такое инкапсуляция?", Kind::Open, &[]),
                q(
                    Some("o"),
                    "Name a falsy value",
                    Kind::Short,
                    &[("None", true), ("0", true)],
                ),
                q(
                    None,
                    "Back at the root: is `x` a name?",
                    Kind::Choice,
                    &[("yes", true), ("no", false)],
                ),
            ],
            updated_ms: 0,
        }
    }

    /// (topic path, prompt, kind, options) of every question of a bank.
    type Flat = Vec<(Vec<String>, String, Kind, Vec<(String, bool)>)>;

    fn flatten(bank: &Bank) -> Flat {
        bank.topics
            .iter()
            .flat_map(|t| {
                t.questions.iter().map(move |q| {
                    (
                        t.path.clone(),
                        q.prompt.clone(),
                        q.kind,
                        q.options
                            .iter()
                            .map(|o| (o.text.clone(), o.correct))
                            .collect(),
                    )
                })
            })
            .collect()
    }

    /// What the importers give back for markdown prompts: plain text.
    fn plain_prompts(mut flat: Flat) -> Flat {
        for q in &mut flat {
            q.1 = crate::bank::text::plain(&q.1);
        }
        flat
    }

    #[test]
    fn gift_round_trips_questions_keys_and_topics() {
        let quiz = sample();
        let text = gift(&quiz);
        let back = bank::parse("quiz.gift", text.as_bytes()).expect("the export parses");
        assert_eq!(back.format, "gift");
        assert_eq!(
            flatten(&back),
            plain_prompts(flatten(&quiz.to_bank())),
            "{text}"
        );
    }

    #[test]
    fn markdown_round_trips_choice_questions_keys_and_topics() {
        let quiz = sample();
        let text = markdown(&quiz);
        let back = bank::parse("quiz.md", text.as_bytes()).expect("the export parses");
        assert_eq!(back.format, "md_choice", "{text}");
        // Markdown multiple choice holds questions with options; true/false
        // and short answers come back as choices between the same options.
        let want: Flat = plain_prompts(flatten(&quiz.to_bank()))
            .into_iter()
            .filter(|q| !q.3.is_empty())
            .map(|(path, prompt, kind, options)| {
                let kind = match kind {
                    Kind::Truefalse => Kind::Choice,
                    Kind::Short if options.len() > 1 => Kind::Multi,
                    Kind::Short => Kind::Choice,
                    k => k,
                };
                (path, prompt, kind, options)
            })
            .collect();
        assert_eq!(flatten(&back), want, "{text}");
    }

    #[test]
    fn a_library_import_of_an_export_is_the_same_quiz() {
        let quiz = sample();
        let imported = crate::library::import::bank(gift(&quiz).as_bytes(), "").unwrap();
        assert!(imported.errors.is_empty());
        let mut again = imported.quiz;
        again.id = quiz.id.clone();
        assert_eq!(again.title, quiz.title);
        let titles = |q: &Quiz| {
            q.topics
                .iter()
                .map(|t| (t.title.clone(), q.topic_path(Some(&t.id))))
                .collect::<Vec<_>>()
        };
        assert_eq!(titles(&again), titles(&quiz));
        assert_eq!(
            flatten(&again.to_bank()),
            plain_prompts(flatten(&quiz.to_bank()))
        );
    }

    #[test]
    fn code_in_a_prompt_survives_the_markdown_export() {
        let mut quiz = sample();
        quiz.questions = vec![LibQuestion {
            prompt: "What does this print?\n\n```python\nprint(1 + 1)\n```".into(),
            kind: Kind::Choice,
            options: opts(&[("2", true), ("11", false)]),
            ..Default::default()
        }];
        let back = bank::parse("quiz.md", markdown(&quiz).as_bytes()).unwrap();
        let prompt = &back.topics[0].questions[0].prompt;
        assert!(prompt.contains("print(1 + 1)"), "{prompt}");
    }
}
