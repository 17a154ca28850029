//! Layout 4, `checklist`: study checklists under headings.
//!
//! ```text
//! # PYTHON CORE
//! ## GIL and memory
//! - [ ] How the GIL works
//! - [ ] Transactions:
//!   - [ ] ACID
//! ___
//! ### A longer list:
//! ### 1. Async and threads
//! - Async, threads, processes: what, how, why.
//! ```
//!
//! Every item, boxed or not, is a discussion question (kind `open`) of the
//! topic its headings name; an item ending with `:` loses the colon. A
//! heading ending with `:` followed by headings of its level groups them,
//! and a `___` rule closes the headings above it. Unlike layout 8, there
//! are no `[x]` answers here.

use super::doc::{self, Doc, Draft, HeadingPath, Line, Parsed, TopicBuilder};
use super::text;
use super::BankError;

/// How strongly the text looks like this layout (0 = not at all): unticked
/// checkbox items count; ticked `[x]` options elsewhere mean layout 8.
pub fn score(doc: &Doc) -> u32 {
    let lines = doc.classify();
    let mut boxes = 0u32;
    let mut question_bullets = 0u32;
    for l in lines {
        match l {
            // With no `[x]` anywhere (see `modest`), unticked boxes are study
            // items even right under a question line.
            Line::Item(item) if item.checked == Some(false) => boxes += 1,
            // A bare list of questions reads best as one question per item.
            Line::Item(item)
                if item.checked.is_none()
                    && item.number.is_none()
                    && text::is_question(item.text) =>
            {
                question_bullets += 1
            }
            _ => {}
        }
    }
    doc::modest(boxes * 3 + question_bullets, doc.foreign_markers())
}

/// Parses a document in this layout.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let lines = doc.classify();
    let mut path = HeadingPath::new(lines);
    let mut topics = TopicBuilder::default();
    let mut parsed = Parsed {
        title: path.title.clone(),
        ..Parsed::default()
    };
    let mut current: Vec<String> = Vec::new();
    // Indent of the last boxed item: unboxed bullets under it are its notes.
    let mut boxed_indent: Option<usize> = None;
    let mut code: Vec<&str> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let line_no = i + 1;
        match l {
            Line::Heading { level, title, .. } => {
                let grouping = doc::is_grouping_heading(lines, i);
                path.heading(*level, title, grouping);
                current = path.path();
                boxed_indent = None;
            }
            Line::Rule => {
                path.reset();
                current = path.path();
                boxed_indent = None;
            }
            Line::Blank | Line::Underline | Line::Footnote => {}
            Line::Fence => {
                if !code.is_empty() {
                    let note = code.join("\n");
                    code.clear();
                    if let Some(q) = topics.last_mut() {
                        q.notes.push(note);
                    }
                }
            }
            Line::Code(c) => code.push(c),
            Line::Item(item) => {
                let clean = text::plain(item.text);
                let clean = clean.trim_end_matches(':').trim_end().to_string();
                if clean.is_empty() {
                    continue;
                }
                let note_of_box = item.checked.is_none()
                    && boxed_indent.is_some_and(|indent| item.indent > indent);
                if note_of_box {
                    if let Some(q) = topics.last_mut() {
                        q.notes.push(clean);
                    }
                    continue;
                }
                if item.checked.is_some() {
                    boxed_indent = Some(item.indent);
                }
                topics.push(&current, Draft::open(clean, line_no));
            }
            Line::Text(t) => {
                let clean = text::plain(t);
                if clean.is_empty() || !clean.chars().any(char::is_alphanumeric) {
                    continue;
                }
                if text::is_question(t) {
                    topics.push(&current, Draft::open(clean, line_no));
                } else if topics.is_empty() {
                    if !parsed.description.is_empty() {
                        parsed.description.push(' ');
                    }
                    parsed.description.push_str(&clean);
                } else if let Some(q) = topics.last_mut() {
                    q.notes.push(clean);
                }
            }
        }
    }
    parsed.topics = topics.finish();
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# CORE\n\n## GIL и память\n\n- [ ] Как работает GIL\n- [ ] slots\n\n## PostgreSQL\n\n- [ ] Транзакции:\n  - [ ] ACID свойства\n  - [ ] Уровни изоляции\n\n# ТЕСТИРОВАНИЕ\n\n- [ ] Fixtures\n\n___\n### Более развернутый список вопросов:\n\n### 1. Асинхронность\n- Асинхронность: что это такое, зачем нужно.\n- Как работает `__new__`?\n\n### 2. Базы данных\n- Проблема N + 1.\n";

    #[test]
    fn items_under_headings_are_questions() {
        let p = parse(&Doc::new("t.md", SAMPLE)).unwrap();
        let paths: Vec<String> = p.topics.iter().map(|t| t.path.join("/")).collect();
        assert_eq!(
            paths,
            [
                "CORE/GIL и память",
                "CORE/PostgreSQL",
                "ТЕСТИРОВАНИЕ",
                "Более развернутый список вопросов/Асинхронность",
                "Более развернутый список вопросов/Базы данных",
            ]
        );
        let prompts: Vec<&str> = p.topics[1]
            .questions
            .iter()
            .map(|q| q.prompt.as_str())
            .collect();
        assert_eq!(prompts, ["Транзакции", "ACID свойства", "Уровни изоляции"]);
        assert_eq!(p.topics[0].questions[0].line, 5);
        assert_eq!(p.topics[3].questions[1].prompt, "Как работает __new__?");
        assert!(p
            .topics
            .iter()
            .flat_map(|t| &t.questions)
            .all(|q| q.kind == super::super::Kind::Open));
    }

    #[test]
    fn unboxed_bullets_under_a_box_are_notes() {
        let p = parse(&Doc::new(
            "t.md",
            "## A\n- [ ] Item\n  - detail one\n  - detail two\n",
        ))
        .unwrap();
        assert_eq!(p.topics[0].questions.len(), 1);
        assert_eq!(p.topics[0].questions[0].notes, ["detail one", "detail two"]);
    }

    #[test]
    fn a_bare_list_of_questions() {
        let doc = Doc::new("t.md", "- What is a list?\n- What is a tuple?\n");
        assert_eq!(score(&doc), 2);
        let p = parse(&doc).unwrap();
        assert_eq!(p.topics[0].questions.len(), 2);
        assert_eq!(p.topics[0].questions[1].prompt, "What is a tuple?");
    }

    #[test]
    fn scores() {
        assert!(score(&Doc::new("t", SAMPLE)) >= 18);
        // Options under a question with a ticked answer are layout 8.
        let choice = Doc::new("t", "## Q\nWhich is mutable?\n- [x] list\n- [ ] tuple\n");
        assert!(score(&choice) <= 1);
        // Without any `[x]`, boxes under a question line stay a checklist.
        let options = Doc::new(
            "t",
            "## Types\nWhich is mutable?\n- [ ] list\n- [ ] tuple\n",
        );
        assert_eq!(score(&options), 6);
    }
}
