//! A quiz written out as GIFT (Moodle) or as markdown, in the exact shapes
//! the bank importers read back (`bank::gift`, `bank::md_choice`), so an
//! exported quiz re-imports to the same questions (every kind), answer
//! keys, reference answers and topics.
//!
//! GIFT carries a reference answer as the question's general feedback
//! (`{…####answer}`); markdown as an `Answer:` line (after the options,
//! or alone for an open question), and a short answer's accepted answers
//! as `Accepted: a | b`. Prompts come back as written but for blank
//! lines: inline code and fenced code blocks are kept by both importers. Neither format carries notes,
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

/// The quiz as spreadsheet rows in Kahoot's template columns plus a
/// `Topic` column (the topic path below the quiz, levels joined by ` / `),
/// the header first: what [`xlsx`] and [`csv`] write and the spreadsheet
/// importer reads back. A spreadsheet holds questions with options
/// (choice, multiple correct, true/false); open and short-answer questions
/// are left out, and a row past Kahoot's limits (120-character questions,
/// 75-character answers, 5–240 s) is written as it is and reported by the
/// importer.
pub fn sheet_rows(quiz: &Quiz) -> Vec<Vec<SheetCell>> {
    let kept: Vec<&LibQuestion> = quiz
        .questions
        .iter()
        .filter(|q| matches!(q.kind, Kind::Choice | Kind::Multi | Kind::Truefalse))
        .filter(|q| !q.options.is_empty())
        .collect();
    let answers = kept
        .iter()
        .map(|q| q.options.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut header = vec![SheetCell::Text("Question - max 120 characters".into())];
    header
        .extend((1..=answers).map(|n| SheetCell::Text(format!("Answer {n} - max 75 characters"))));
    header.push(SheetCell::Text("Time limit (sec) – 5 to 240 secs".into()));
    header.push(SheetCell::Text(
        "Correct answer(s) - choose at least one".into(),
    ));
    header.push(SheetCell::Text("Topic".into()));
    let mut rows = vec![header];
    for q in kept {
        let mut row = vec![SheetCell::Text(q.prompt.clone())];
        row.extend((0..answers).map(|i| {
            q.options
                .get(i)
                .map_or(SheetCell::Empty, |o| SheetCell::Text(one_line(&o.text)))
        }));
        row.push(
            q.time_limit_ms
                .map_or(SheetCell::Empty, |ms| SheetCell::Number((ms / 1000) as f64)),
        );
        let keys: Vec<String> = q
            .options
            .iter()
            .enumerate()
            .filter(|(_, o)| o.correct)
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        row.push(SheetCell::Text(keys.join(",")));
        let path = quiz.topic_path(q.topic.as_deref());
        let below: Vec<String> = path
            .iter()
            .skip(1)
            .map(|t| t.replace(crate::library::import::TOPIC_SEPARATOR, "-"))
            .collect();
        row.push(SheetCell::Text(below.join(" / ")));
        rows.push(row);
    }
    rows
}

/// One cell of [`sheet_rows`].
#[derive(Debug, Clone, PartialEq)]
pub enum SheetCell {
    Text(String),
    Number(f64),
    Empty,
}

/// The quiz as an .xlsx workbook (one sheet, [`sheet_rows`]).
pub fn xlsx(quiz: &Quiz) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Quiz")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (r, row) in sheet_rows(quiz).iter().enumerate() {
        let r = u32::try_from(r).unwrap_or(u32::MAX);
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            match cell {
                // Text stays text: a prompt starting with `=` is no formula.
                SheetCell::Text(t) if r == 0 => sheet.write_string_with_format(r, c, t, &bold)?,
                SheetCell::Text(t) => sheet.write_string(r, c, t)?,
                SheetCell::Number(n) => sheet.write_number(r, c, *n)?,
                SheetCell::Empty => sheet,
            };
        }
    }
    book.save_to_buffer()
}

/// The quiz as CSV with a header row ([`sheet_rows`]).
pub fn csv(quiz: &Quiz) -> String {
    let mut out = ::csv::Writer::from_writer(Vec::new());
    for row in sheet_rows(quiz) {
        let cells: Vec<String> = row
            .into_iter()
            .map(|c| match c {
                SheetCell::Text(t) => t,
                SheetCell::Number(n) => format!("{n}"),
                SheetCell::Empty => String::new(),
            })
            .collect();
        // Writing to memory cannot fail.
        let _ = out.write_record(&cells);
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
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

    /// A prompt without its blank lines: the one thing a round trip may
    /// change (inline code, fenced code and its language come back as
    /// written).
    fn prompt_text(prompt: &str) -> String {
        prompt
            .lines()
            .filter(|l| !l.trim().is_empty())
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
    fn spreadsheets_round_trip_questions_with_options_keys_and_nested_topics() {
        let mut quiz = sample();
        quiz.questions[0].time_limit_ms = Some(20_000);
        let want: Flat = flatten(&quiz.to_bank())
            .into_iter()
            .filter(|q| matches!(q.2, Kind::Choice | Kind::Multi | Kind::Truefalse))
            .map(|(path, prompt, kind, options, _)| (path, prompt, kind, options, String::new()))
            .collect();
        let xlsx_bytes = xlsx(&quiz).unwrap();
        for (format, imported) in [
            (
                "xlsx",
                crate::library::import::xlsx(&xlsx_bytes, "Python quiz"),
            ),
            (
                "csv",
                crate::library::import::csv(csv(&quiz).as_bytes(), "Python quiz"),
            ),
        ] {
            let imported = imported.unwrap();
            assert!(
                imported.errors.is_empty(),
                "{format}: {:?}",
                imported.errors
            );
            let mut back = imported.quiz;
            back.id = quiz.id.clone();
            // Prompts come back exactly (code blocks included), options
            // one line each.
            let got: Flat = flatten(&back.to_bank())
                .into_iter()
                .map(|(path, prompt, kind, options, _)| {
                    (path, prompt, kind, options, String::new())
                })
                .collect();
            assert_eq!(got, want, "{format}");
            let types = back.topics.iter().find(|t| t.title == "Types").unwrap();
            let basics = back.topics.iter().find(|t| t.title == "Basics").unwrap();
            assert_eq!(
                types.parent.as_deref(),
                Some(basics.id.as_str()),
                "{format}"
            );
            assert_eq!(back.questions[0].time_limit_ms, Some(20_000));
            let code = back
                .questions
                .iter()
                .find(|q| q.prompt.contains("print"))
                .unwrap();
            assert_eq!(code.prompt, quiz.questions[8].prompt, "{format}");
        }
    }

    #[test]
    fn code_in_a_prompt_survives_both_exports_as_a_fenced_block() {
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
                [
                    "What does this print?",
                    "```python",
                    "print(1 + 1)",
                    "x = {'a': 1}",
                    "```"
                ],
                "{file}: {text}"
            );
        }
    }
}
