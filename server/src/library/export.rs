//! A quiz written out as GIFT (Moodle) or as markdown, in the exact shapes
//! the bank importers read back (`bank::gift`, `bank::md_choice`), so an
//! exported quiz re-imports to the same questions (every kind), answer
//! keys, reference answers and topics.
//!
//! GIFT carries a reference answer as the question's general feedback
//! (`{…####answer}`); markdown as an `Answer:` line (after the options,
//! or alone for an open question), and a short answer's accepted answers
//! as `Accepted: a | b`. Prompts come back as the importers read prompts:
//! plain text, code kept line by line. Neither format carries notes,
//! follow-ups, time limits, points or default modes.

use std::fmt::Write;

use super::model::{LibQuestion, Quiz};
use crate::bank::{md_choice, Kind};

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

/// The reference answer as GIFT general feedback (`####…`), if any.
fn gift_feedback(q: &LibQuestion) -> String {
    let answer = one_line(&q.answer);
    if answer.is_empty() {
        String::new()
    } else {
        format!("####{}", gift_escape(&answer))
    }
}

fn gift_answers(q: &LibQuestion) -> String {
    let feedback = gift_feedback(q);
    let body = gift_body(q);
    format!("{{{body}{feedback}}}")
}

/// The inside of a question's answer block, without feedback.
fn gift_body(q: &LibQuestion) -> String {
    let opt = |t: &str| gift_escape(&t.replace('\n', " "));
    match q.kind {
        Kind::Open => String::new(),
        Kind::Truefalse => {
            let truth = q.options.first().is_some_and(|o| o.correct);
            if truth { "T" } else { "F" }.into()
        }
        Kind::Short => {
            let answers: Vec<String> = q
                .options
                .iter()
                .map(|o| format!("={}", opt(&o.text)))
                .collect();
            answers.join(" ")
        }
        Kind::Choice => {
            let answers: Vec<String> = q
                .options
                .iter()
                .map(|o| format!("{}{}", if o.correct { '=' } else { '~' }, opt(&o.text)))
                .collect();
            answers.join(" ")
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
            answers.join(" ")
        }
    }
}

/// `50`, `33.33333`: GIFT weights without trailing zeros.
fn trim_float(x: f64) -> String {
    let s = format!("{x:.5}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The quiz as markdown: [`md_choice::MARKER`], `#` the quiz title, then
/// the topic path from the quiz title down as `##`, `###`, ... headings;
/// each question a paragraph followed by `- [x]`/`- [ ]` options, an
/// `Accepted:` line (short answers) or an `Answer:` line (open questions),
/// and its reference answer as an `Answer:` line after the options.
pub fn markdown(quiz: &Quiz) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", md_choice::MARKER);
    let _ = writeln!(out, "# {}", one_line(&quiz.title));
    let mut current: Vec<String> = Vec::new();
    for q in &quiz.questions {
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
        let answer = one_line(&q.answer);
        match q.kind {
            Kind::Open => {
                let _ = writeln!(out, "Answer: {answer}");
                continue;
            }
            Kind::Short => {
                let accepted: Vec<String> = q.options.iter().map(|o| one_line(&o.text)).collect();
                let _ = writeln!(out, "Accepted: {}", accepted.join(" | "));
                continue;
            }
            Kind::Choice | Kind::Multi | Kind::Truefalse => {}
        }
        for o in &q.options {
            let _ = writeln!(
                out,
                "- [{}] {}",
                if o.correct { 'x' } else { ' ' },
                one_line(&o.text)
            );
        }
        if !answer.is_empty() {
            let _ = writeln!(out, "\nAnswer: {answer}");
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

    /// A quiz with every kind, reference answers, code in prompts, nested
    /// topics and characters GIFT escapes.
    fn sample() -> Quiz {
        let q = |topic: Option<&str>,
                 prompt: &str,
                 kind: Kind,
                 options: &[(&str, bool)],
                 answer: &str| LibQuestion {
            id: String::new(),
            topic: topic.map(str::to_string),
            prompt: prompt.to_string(),
            kind,
            options: opts(options),
            answer: answer.to_string(),
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
                    "def, then the name",
                ),
                q(
                    Some("b"),
                    "Pick the immutable types",
                    Kind::Multi,
                    &[("tuple", true), ("list", false), ("frozenset", true)],
                    "",
                ),
                q(
                    Some("t"),
                    "What is 3 // 2 in Python 3 = {1}?",
                    Kind::Choice,
                    &[("1", true), ("1.5", false)],
                    "",
                ),
                q(
                    Some("t"),
                    "Python is dynamically typed.",
                    Kind::Truefalse,
                    &[("True", true), ("False", false)],
                    "",
                ),
                q(
                    Some("t"),
                    "Python checks types at compile time.",
                    Kind::Truefalse,
                    &[("True", false), ("False", true)],
                    "",
                ),
                q(
                    Some("o"),
                    "Что такое инкапсуляция?",
                    Kind::Open,
                    &[],
                    "Сокрытие состояния за методами; # и {скобки} тоже",
                ),
                q(Some("o"), "Explain the GIL.", Kind::Open, &[], ""),
                q(
                    Some("o"),
                    "Name a falsy value",
                    Kind::Short,
                    &[("None", true), ("0", true)],
                    "",
                ),
                q(
                    None,
                    "What does this print?\n\n```python\nprint(1 + 1)\nx = {'a': 1}\n```",
                    Kind::Choice,
                    &[("2", true), ("11", false)],
                    "",
                ),
                q(
                    None,
                    "Back at the root: is `x` a name?",
                    Kind::Choice,
                    &[("yes", true), ("no", false)],
                    "",
                ),
            ],
            updated_ms: 0,
        }
    }

    /// (topic path, prompt, kind, options, reference answer) of every
    /// question of a bank. The answer is left out for true/false and short
    /// answers, where the importers write the key itself as the answer.
    type Flat = Vec<(Vec<String>, String, Kind, Vec<(String, bool)>, String)>;

    fn flatten(bank: &Bank) -> Flat {
        bank.topics
            .iter()
            .flat_map(|t| {
                t.questions.iter().map(move |q| {
                    (
                        t.path.clone(),
                        prompt_text(&q.prompt),
                        q.kind,
                        q.options
                            .iter()
                            .map(|o| (o.text.clone(), o.correct))
                            .collect(),
                        match q.kind {
                            Kind::Truefalse | Kind::Short => String::new(),
                            _ => q.answer.clone(),
                        },
                    )
                })
            })
            .collect()
    }

    /// A prompt as the importers give prompts back: each line as plain
    /// text (markdown marks off), code lines kept, fences and blank lines
    /// dropped.
    fn prompt_text(prompt: &str) -> String {
        prompt
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("```"))
            .map(crate::bank::text::plain)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn round_trip(file: &str, text: &str) {
        let quiz = sample();
        let back = bank::parse(file, text.as_bytes()).expect("the export parses");
        assert_eq!(flatten(&back), flatten(&quiz.to_bank()), "{text}");
        // And through the library's own import: the same quiz.
        let imported = crate::library::import::bank(text.as_bytes(), "").unwrap();
        assert!(imported.errors.is_empty());
        let again = imported.quiz;
        assert_eq!(again.title, quiz.title);
        let titles = |q: &Quiz| {
            q.topics
                .iter()
                .map(|t| (t.title.clone(), q.topic_path(Some(&t.id))))
                .collect::<Vec<_>>()
        };
        assert_eq!(titles(&again), titles(&quiz));
        assert_eq!(flatten(&again.to_bank()), flatten(&quiz.to_bank()));
    }

    #[test]
    fn gift_round_trips_every_kind_with_keys_answers_and_topics() {
        let text = gift(&sample());
        assert_eq!(
            bank::parse("quiz.gift", text.as_bytes()).unwrap().format,
            "gift"
        );
        round_trip("quiz.gift", &text);
    }

    #[test]
    fn markdown_round_trips_every_kind_with_keys_answers_and_topics() {
        let text = markdown(&sample());
        assert_eq!(
            bank::parse("quiz.md", text.as_bytes()).unwrap().format,
            "md_choice",
            "{text}"
        );
        round_trip("quiz.md", &text);
    }

    #[test]
    fn a_quiz_of_only_open_questions_exports_as_markdown_that_reads_back() {
        let mut quiz = sample();
        quiz.questions.retain(|q| q.kind == Kind::Open);
        let back = bank::parse("quiz.md", markdown(&quiz).as_bytes()).unwrap();
        let got: Vec<(String, String)> = back
            .topics
            .iter()
            .flat_map(|t| &t.questions)
            .map(|q| (q.prompt.clone(), q.answer.clone()))
            .collect();
        let want: Vec<(String, String)> = quiz
            .questions
            .iter()
            .map(|q| (q.prompt.clone(), q.answer.clone()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn code_in_a_prompt_survives_both_exports_line_by_line() {
        let quiz = sample();
        for (file, text) in [("q.md", markdown(&quiz)), ("q.gift", gift(&quiz))] {
            let back = bank::parse(file, text.as_bytes()).unwrap();
            let prompt = back
                .topics
                .iter()
                .flat_map(|t| &t.questions)
                .map(|q| q.prompt.clone())
                .find(|p| p.contains("print"))
                .unwrap();
            assert_eq!(
                prompt.lines().collect::<Vec<_>>(),
                ["What does this print?", "print(1 + 1)", "x = {'a': 1}"],
                "{file}: {text}"
            );
        }
    }
}
