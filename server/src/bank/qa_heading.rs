//! Importer for Q&A documents with one question per heading and the answer
//! in the paragraphs below it — the usual shape of "interview questions
//! with answers" repositories:
//!
//! ```text
//! # Python interview
//! ## Basics
//! #### 3. What is a decorator?
//! A function that takes a function and returns a new one.
//! ```
//!
//! Headings that are not questions give the topic path. The module also
//! holds small markdown helpers the other answer-carrying importers
//! (`details`, `md_choice`) share.

use std::collections::HashMap;

use super::doc::{Doc, Draft, DraftTopic, Parsed};
use super::{text, BankError, Warning};

/// How strongly the text looks like this layout: headings that end with
/// `?` and have text under them, weighed against questions written as
/// paragraphs (which belong to the `headings` layout).
pub fn score(doc: &Doc) -> u32 {
    let lines = classify(doc);
    let mut with_answer = 0u32;
    let mut paragraph_questions = 0u32;
    for (i, line) in lines.iter().enumerate() {
        match line {
            Line::Heading { title, .. } if is_question_title(title) => {
                let answered = lines
                    .get(i + 1..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|l| !matches!(l, Line::Heading { .. }))
                    .any(|l| match l {
                        Line::Text(t) => !text::is_question(t),
                        Line::Code(_) => true,
                        _ => false,
                    });
                if answered {
                    with_answer += 1;
                }
            }
            Line::Text(t) if text::is_question(t) => paragraph_questions += 1,
            _ => {}
        }
    }
    if with_answer == 0 {
        return 0;
    }
    let ratio = with_answer * 100 / (with_answer + paragraph_questions);
    let base = if with_answer >= 2 { 30 } else { 10 };
    (base + ratio * 3 / 5).min(90)
}

/// Parses a Q&A document: question headings become open questions with
/// their section text as the `answer`.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let lines = classify(doc);
    let mut parsed = Parsed::default();
    warn_unclosed_fence(doc, &mut parsed.warnings);

    // The level most question headings use; numbered headings at that level
    // ("### 4. Explain the GIL") are questions even without a `?`.
    let mut per_level = [0usize; 7];
    for l in &lines {
        if let Line::Heading { level, title, .. } = l {
            if is_question_title(title) {
                if let Some(c) = per_level.get_mut(usize::from(*level)) {
                    *c += 1;
                }
            }
        }
    }
    let question_level = (1..=6u8)
        .max_by_key(|&l| (per_level.get(usize::from(l)).copied().unwrap_or(0), 7 - l))
        .filter(|&l| per_level.get(usize::from(l)).is_some_and(|&c| c > 0));
    let is_q = |level: u8, raw: &str, title: &str| {
        is_question_title(title) || (Some(level) == question_level && numbered(raw))
    };

    let title_idx = sole_title(&lines);
    if let Some(i) = title_idx {
        if let Some(Line::Heading { title, .. }) = lines.get(i) {
            parsed.title = Some(title.clone());
        }
    }
    // Intro text sits before the first heading, or right under the title.
    parsed.description = lines
        .iter()
        .skip(title_idx.map_or(0, |i| i + 1))
        .take_while(|l| !matches!(l, Line::Heading { .. }))
        .filter_map(|l| match l {
            Line::Text(t) => Some(text::plain(t)),
            _ => None,
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");

    let mut topics = Topics::default();
    let mut stack: Vec<(u8, String)> = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let Line::Heading {
            level,
            raw,
            title,
            line: n,
        } = line
        else {
            i += 1;
            continue;
        };
        let (level, n) = (*level, *n);
        if Some(i) == title_idx {
            i += 1;
            continue;
        }
        stack.retain(|(l, _)| *l < level);
        if !is_q(level, raw, title) {
            stack.push((level, title.clone()));
            i += 1;
            continue;
        }
        // The answer runs to the next heading at this level or above, or
        // to the next question heading at any depth.
        let end = lines
            .iter()
            .enumerate()
            .skip(i + 1)
            .find(|(_, l)| match l {
                Line::Heading {
                    level: l2,
                    raw: r2,
                    title: t2,
                    ..
                } => *l2 <= level || is_q(*l2, r2, t2),
                _ => false,
            })
            .map_or(lines.len(), |(j, _)| j);
        let answer = answer_text(lines.get(i + 1..end).unwrap_or(&[]));
        if answer.is_empty() {
            parsed.warnings.push(Warning {
                line: n,
                message: "question heading without an answer below it".into(),
            });
        }
        let path: Vec<String> = stack.iter().map(|(_, t)| t.clone()).collect();
        let draft = Draft {
            prompt: strip_question_label(title).to_string(),
            answer,
            line: n,
            ..Draft::default()
        };
        topics.push(path, draft);
        i = end;
    }
    parsed.topics = topics.into_vec();
    Ok(parsed)
}

/// Topics in first-seen order with an index by path, so adding a question
/// costs the same however many topics a file has.
#[derive(Default)]
pub(super) struct Topics {
    list: Vec<DraftTopic>,
    index: HashMap<Vec<String>, usize>,
}

impl Topics {
    /// Adds a question to the topic at `path`; returns where it landed.
    pub(super) fn push(&mut self, path: Vec<String>, draft: Draft) -> (usize, usize) {
        let t = match self.index.get(&path) {
            Some(&t) => t,
            None => {
                self.list.push(DraftTopic {
                    path: path.clone(),
                    questions: Vec::new(),
                });
                self.index.insert(path, self.list.len() - 1);
                self.list.len() - 1
            }
        };
        match self.list.get_mut(t) {
            Some(topic) => {
                topic.questions.push(draft);
                (t, topic.questions.len() - 1)
            }
            None => (t, 0),
        }
    }

    /// A question added earlier, by the position [`Topics::push`] returned.
    pub(super) fn get_mut(&mut self, at: (usize, usize)) -> Option<&mut Draft> {
        self.list.get_mut(at.0)?.questions.get_mut(at.1)
    }

    /// The topics in first-seen order.
    pub(super) fn into_vec(self) -> Vec<DraftTopic> {
        self.list
    }
}

/// One line of a markdown document, as the answer-carrying importers see it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Line<'a> {
    /// An ATX heading outside code: level, raw text, plain title, line number.
    Heading {
        level: u8,
        raw: &'a str,
        title: String,
        line: usize,
    },
    /// A line inside a fenced code block (fences themselves are dropped).
    Code(&'a str),
    /// An empty line outside code.
    Blank,
    /// Any other line outside code, untouched.
    Text(&'a str),
}

/// Classifies every line; `#` lines inside fenced code are never headings.
pub(super) fn classify<'a>(doc: &Doc<'a>) -> Vec<Line<'a>> {
    let mut out = Vec::with_capacity(doc.lines.len());
    let mut fence: Option<(char, usize)> = None;
    for (i, l) in doc.lines.iter().enumerate() {
        if let Some((c, n)) = fence {
            let closes = text::code_fence(l).is_some_and(|(c2, n2)| {
                c2 == c && n2 >= n && l.trim().trim_start_matches(c).is_empty()
            });
            if closes {
                fence = None;
                out.push(Line::Blank);
            } else {
                out.push(Line::Code(l));
            }
            continue;
        }
        if let Some(f) = text::code_fence(l) {
            fence = Some(f);
            out.push(Line::Blank);
            continue;
        }
        if l.trim().is_empty() {
            out.push(Line::Blank);
        } else if let Some((level, raw)) = text::atx_heading(l) {
            out.push(Line::Heading {
                level,
                raw,
                title: text::plain(raw),
                line: i + 1,
            });
        } else {
            out.push(Line::Text(l));
        }
    }
    out
}

/// Adds a warning when a code fence is opened and never closed (the rest
/// of the file was read as code).
pub(super) fn warn_unclosed_fence(doc: &Doc, warnings: &mut Vec<Warning>) {
    let mut open: Option<(char, usize, usize)> = None;
    for (i, l) in doc.lines.iter().enumerate() {
        match (open, text::code_fence(l)) {
            (Some((c, n, _)), Some((c2, n2)))
                if c2 == c && n2 >= n && l.trim().trim_start_matches(c).is_empty() =>
            {
                open = None
            }
            (None, Some((c, n))) => open = Some((c, n, i + 1)),
            _ => {}
        }
    }
    if let Some((_, _, line)) = open {
        warnings.push(Warning {
            line,
            message: "code block is not closed; the rest of the file was read as code".into(),
        });
    }
}

/// Index of the document's title heading: the only level-1 heading, when it
/// comes first and is not itself a question. A title names the bank; it is
/// not a topic shared with other banks.
pub(super) fn sole_title(lines: &[Line]) -> Option<usize> {
    let mut h1 = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Line::Heading { level: 1, .. }));
    let (i, first) = h1.next()?;
    if h1.next().is_some() {
        return None;
    }
    let first_heading = lines.iter().position(|l| matches!(l, Line::Heading { .. }));
    match first {
        Line::Heading { title, .. } if first_heading == Some(i) && !is_question_title(title) => {
            Some(i)
        }
        _ => None,
    }
}

/// Whether a heading title is a question (ends with `?`, any script).
pub(super) fn is_question_title(title: &str) -> bool {
    let t = title.trim_end();
    t.ends_with('?') || t.ends_with('？')
}

/// Whether a raw heading starts with a question number: `3.`, `3)`, `Q3.`,
/// `Question 3:`.
fn numbered(raw: &str) -> bool {
    let plain = text::plain(raw);
    let unlabeled = strip_question_label(&plain);
    if unlabeled.len() != plain.len() {
        return true;
    }
    let t = raw.trim_start_matches(['*', '_', ' ']);
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && t[digits..].starts_with(['.', ')'])
}

/// Removes a leading question label — `Q3.`, `Q3:`, `Question 3:`,
/// `Вопрос 3.` — that [`text::plain`] keeps because it is not list numbering.
pub(super) fn strip_question_label(s: &str) -> &str {
    let t = s.trim_start();
    let mut rest = None;
    for label in ["question", "вопрос", "q"] {
        if t.len() >= label.len()
            && t.get(..label.len())
                .is_some_and(|p| p.to_lowercase() == label)
        {
            rest = t.get(label.len()..);
            break;
        }
    }
    let Some(rest) = rest else { return s };
    let after_space = rest.trim_start();
    let digits = after_space.len()
        - after_space
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    if digits == 0 {
        return s;
    }
    let after_num = &after_space[digits..];
    match after_num.strip_prefix(['.', ':', ')']) {
        Some(r) if r.is_empty() || r.starts_with([' ', '\t']) => r.trim_start(),
        _ => s,
    }
}

/// The text of an answer section for the host: paragraphs as plain text,
/// list items one per line, code blocks verbatim, an "Answer:" label dropped.
pub(super) fn answer_text(lines: &[Line]) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut code: Vec<&str> = Vec::new();
    let flush_para = |para: &mut Vec<String>, blocks: &mut Vec<String>| {
        if !para.is_empty() {
            blocks.push(para.join(" "));
            para.clear();
        }
    };
    let mut prev_list = false;
    for l in lines {
        match l {
            Line::Code(c) => {
                flush_para(&mut para, &mut blocks);
                code.push(c);
                continue;
            }
            _ if !code.is_empty() => {
                blocks.push(code.join("\n"));
                code.clear();
            }
            _ => {}
        }
        match l {
            Line::Blank => {
                flush_para(&mut para, &mut blocks);
                prev_list = false;
            }
            Line::Heading { title, .. } => {
                flush_para(&mut para, &mut blocks);
                blocks.push(title.clone());
                prev_list = false;
            }
            Line::Text(t) => {
                let item = text::list_item(t);
                let cleaned = text::plain(t);
                if cleaned.is_empty() {
                    continue;
                }
                if item.is_some() {
                    flush_para(&mut para, &mut blocks);
                    para.push(format!("- {cleaned}"));
                    flush_para(&mut para, &mut blocks);
                    prev_list = true;
                } else if prev_list && t.starts_with([' ', '\t']) {
                    // A wrapped list item continues the item above.
                    if let Some(last) = blocks.last_mut() {
                        last.push(' ');
                        last.push_str(&cleaned);
                    }
                } else {
                    para.push(cleaned);
                    prev_list = false;
                }
            }
            Line::Code(_) => {}
        }
    }
    flush_para(&mut para, &mut blocks);
    if !code.is_empty() {
        blocks.push(code.join("\n"));
    }
    if let Some(first) = blocks.first_mut() {
        if let Some(rest) = strip_answer_label(first) {
            *first = rest;
        }
    }
    blocks.retain(|b| !b.trim().is_empty());
    // Lists read as one block; paragraphs are separated by a blank line.
    let mut out = String::new();
    for (k, b) in blocks.iter().enumerate() {
        if k > 0 {
            let both_items =
                b.starts_with("- ") && blocks.get(k - 1).is_some_and(|p| p.starts_with("- "));
            out.push_str(if both_items { "\n" } else { "\n\n" });
        }
        out.push_str(b);
    }
    out
}

/// `Answer: text` / `Ответ: text` → `text`.
fn strip_answer_label(s: &str) -> Option<String> {
    for label in ["answer:", "ответ:", "a:"] {
        if s.len() >= label.len()
            && s.get(..label.len())
                .is_some_and(|p| p.to_lowercase() == label)
        {
            return s.get(label.len()..).map(|r| r.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::Kind;

    fn run(src: &str) -> Parsed {
        parse(&Doc::new("qa.md", src)).unwrap()
    }

    const SAMPLE: &str = "# Python interview\n\
Answers for the usual questions.\n\
\n\
## Basics\n\
\n\
#### 1. What is a **decorator**?\n\
\n\
**Answer:** A function that wraps another function.\n\
\n\
- takes a function\n\
- returns a new one\n\
\n\
```python\n\
# not a heading\n\
@cache\n\
```\n\
\n\
#### 2. Explain the GIL\n\
One thread runs Python bytecode at a time.\n\
\n\
## Async\n\
### Event loop\n\
#### Q3. What does asyncio.run() do?\n\
Starts a loop.\n\
#### What is a coroutine?\n";

    #[test]
    fn question_headings_become_questions_with_answers() {
        let p = run(SAMPLE);
        assert_eq!(p.title.as_deref(), Some("Python interview"));
        assert_eq!(p.description, "Answers for the usual questions.");
        let paths: Vec<Vec<String>> = p.topics.iter().map(|t| t.path.clone()).collect();
        assert_eq!(paths, vec![vec!["Basics"], vec!["Async", "Event loop"]]);
        let qs: Vec<&Draft> = p.topics.iter().flat_map(|t| &t.questions).collect();
        let prompts: Vec<&str> = qs.iter().map(|q| q.prompt.as_str()).collect();
        assert_eq!(
            prompts,
            vec![
                "What is a decorator?",
                "Explain the GIL",
                "What does asyncio.run() do?",
                "What is a coroutine?"
            ]
        );
        assert!(qs.iter().all(|q| q.kind == Kind::Open));
        assert_eq!(
            qs[0].answer,
            "A function that wraps another function.\n\n- takes a function\n- returns a new one\n\n# not a heading\n@cache"
        );
        assert_eq!(qs[0].line, 6);
        assert_eq!(qs[1].answer, "One thread runs Python bytecode at a time.");
        assert_eq!(qs[2].answer, "Starts a loop.");
        // The last question has no answer: kept, with a warning at its line.
        assert_eq!(qs[3].answer, "");
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].line, 25);
    }

    #[test]
    fn scores_qa_documents_above_question_paragraph_documents() {
        assert!(score(&Doc::new("a", SAMPLE)) >= 60);
        let paragraphs =
            "# Bank\n## Python\nWhat is a list?\n\nWhat is a tuple?\n\nWhat is a dict?\n";
        assert_eq!(score(&Doc::new("b", paragraphs)), 0);
        let outline = "## GIL\n- talking point\n- another\n## Memory\n- refcounts\n";
        assert_eq!(score(&Doc::new("c", outline)), 0);
    }

    #[test]
    fn unclosed_code_block_is_a_warning() {
        let p = run("## Why is the sky blue?\nScattering.\n```\ncode\n");
        assert_eq!(p.topics.len(), 1);
        assert!(p.warnings.iter().any(|w| w.line == 3));
    }

    #[test]
    fn question_labels_are_removed() {
        assert_eq!(strip_question_label("Q12: Why?"), "Why?");
        assert_eq!(strip_question_label("Question 3. Why?"), "Why?");
        assert_eq!(strip_question_label("Вопрос 3. Почему?"), "Почему?");
        assert_eq!(strip_question_label("Queue vs stack?"), "Queue vs stack?");
        assert_eq!(strip_question_label("Q: why"), "Q: why");
    }
}

#[cfg(test)]
mod seed_tests {
    use super::super::{aiken, details, gift, md_choice};
    use super::*;

    /// The five seeds have no answer keys, collapsible blocks or question
    /// headings: none of the answer-carrying layouts may claim them.
    #[test]
    fn answer_layouts_leave_the_seeds_alone() {
        let seeds = [
            include_str!("../../../seeds/000_bc5a62ff16f5f1b6.txt"),
            include_str!("../../../seeds/001_e22965f9a153005a.txt"),
            include_str!("../../../seeds/002_450188c2e945dc76.txt"),
            include_str!("../../../seeds/003_f4b408239a039ee1.txt"),
            include_str!("../../../seeds/004_e13936ef732393d8.txt"),
        ];
        for (i, src) in seeds.iter().enumerate() {
            let text = src.replace("\r\n", "\n");
            let doc = Doc::new("seed", &text);
            let scores = [
                score(&doc),
                details::score(&doc),
                md_choice::score(&doc),
                gift::score(&doc),
                aiken::score(&doc),
            ];
            assert_eq!(scores, [0; 5], "seed {i}");
        }
    }

    /// The dispatcher picks each answer layout for a file written in it.
    #[test]
    fn each_answer_layout_is_chosen_for_its_own_files() {
        let cases = [
            ("qa_heading", "# FAQ\n## Python\n### What is a list?\nA mutable sequence.\n### What is a tuple?\nAn immutable one.\n"),
            ("details", "## JS\n<details><summary>What is NaN?</summary>Not a number.</details>\n\n<details>\n<summary>What is null?</summary>\nNothing.\n</details>\n"),
            ("md_choice", "## Types\nWhich is immutable?\n- [ ] list\n- [x] tuple\n\nWhich are numbers?\n- [x] int\n- [x] float\n- [ ] str\n"),
            ("gift", "::a:: Two plus two? {=4 ~5}\n\n::b:: The sky is blue. {T}\n"),
            ("aiken", "Which planet is largest?\nA. Mars\nB. Jupiter\nANSWER: B\n\nWhich is a gas?\nA) Iron\nB) Helium\nANSWER: B\n"),
        ];
        for (format, src) in cases {
            let bank = crate::bank::parse("sample.txt", src.as_bytes()).unwrap();
            assert_eq!(bank.format, format, "{src}");
            let questions: usize = bank.topics.iter().map(|t| t.questions.len()).sum();
            assert_eq!(questions, 2, "{format}");
        }
    }

    const PIECES: &[&str] = &[
        "",
        "{",
        "}",
        "{=a ~b}",
        "=a",
        "~%50%b",
        "~%x%c",
        "#fb",
        "\\{",
        "\\",
        "::t::",
        "::",
        "$CATEGORY: a/b",
        "{T}",
        "{#1..2}",
        "{}",
        "<details>",
        "<summary>",
        "</summary>",
        "</details>",
        "<details><summary>Q?</summary>A</details>",
        "- [x] a",
        "- [ ] b",
        "  - note",
        "# H?",
        "### 1. Q?",
        "## Topic",
        "A. x",
        "B) y",
        "ANSWER: Z",
        "ANSWER: A",
        "```",
        "~~~",
        "Ω текст?",
        "`<details>`",
        "> why",
        "Answer: a",
        "1. Q?",
        "%",
        "->",
    ];

    proptest::proptest! {
        /// Whatever mix of format markers a file holds, the answer layouts
        /// return a bank or an error; they never panic.
        #[test]
        fn answer_layouts_never_panic(picks in proptest::collection::vec((0..PIECES.len(), 0..3usize), 0..40)) {
            let mut src = String::new();
            for (i, sep) in picks {
                src.push_str(PIECES.get(i).copied().unwrap_or(""));
                src.push_str(["\n", " ", "\n\n"].get(sep).copied().unwrap_or("\n"));
            }
            let doc = Doc::new("fuzz", &src);
            let _ = (score(&doc), parse(&doc));
            let _ = (details::score(&doc), details::parse(&doc));
            let _ = (md_choice::score(&doc), md_choice::parse(&doc));
            let _ = (gift::score(&doc), gift::parse(&doc));
            let _ = (aiken::score(&doc), aiken::parse(&doc));
        }
    }
}
