//! Layout 3, `numbered`: numbered bold questions under level and topic
//! headings, each followed by related questions as sub-bullets:
//!
//! ```text
//! ## **Level 1: Basics (1-25)**
//! ### Core concepts
//! 1. **What is the GIL and how does it affect threads?**
//! **Related questions:**
//!     - How do you get around the GIL?
//!     - When are threads still useful?
//! ```
//!
//! The sub-bullets become the question's `followups`; a bold label line
//! (`**Related questions:**`) is dropped. Footnote definitions, HTML and
//! image tags never become questions or topics; free paragraphs are the
//! bank's description.

use super::doc::{self, Doc, Draft, HeadingPath, Line, Parsed, TopicBuilder};
use super::text::{self, ListItem};
use super::BankError;

/// How strongly the text looks like this layout (0 = not at all): numbered
/// items in bold or followed by unboxed sub-bullets count.
pub fn score(doc: &Doc) -> u32 {
    let lines = doc.classify();
    let mut score = 0u32;
    for (i, l) in lines.iter().enumerate() {
        let Line::Item(item) = l else { continue };
        if item.number.is_none() || item.indent > 3 || item.checked.is_some() {
            continue;
        }
        let bold = is_bold(item.text);
        let with_subs = has_sub_bullets(lines, i, item.indent);
        if bold {
            score += 4;
        } else if text::is_question(item.text) {
            // A plain numbered list of questions.
            score += 2;
        }
        if with_subs {
            score += 4;
        }
    }
    doc::modest(score, doc.foreign_markers())
}

/// `**…**` or `__…__` around the whole item text.
fn is_bold(t: &str) -> bool {
    let t = t.trim();
    (t.starts_with("**") && t.ends_with("**") && t.len() > 4)
        || (t.starts_with("__") && t.ends_with("__") && t.len() > 4)
}

/// Whether unboxed bullets nested deeper than `indent` follow item `i`
/// (label lines in between are allowed).
fn has_sub_bullets(lines: &[Line<'_>], i: usize, indent: usize) -> bool {
    for l in lines.iter().skip(i + 1).take(4) {
        match l {
            Line::Item(sub) if sub.checked.is_none() && sub.number.is_none() => {
                return sub.indent > indent;
            }
            Line::Text(_) => continue,
            _ => return false,
        }
    }
    false
}

/// A line that only labels what follows (`**Related questions:**`).
fn is_label(clean: &str) -> bool {
    clean.ends_with(':') && clean.split_whitespace().count() <= 8
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
    // Indent of the open question's number, while its body may follow.
    let mut open: Option<usize> = None;
    // Whether paragraph lines still belong to the open question (no blank
    // line since it started).
    let mut in_body = false;
    let mut code: Vec<&str> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let line_no = i + 1;
        match l {
            Line::Heading { level, title, .. } => {
                let grouping = doc::is_grouping_heading(lines, i);
                path.heading(*level, title, grouping);
                current = path.path();
                open = None;
                in_body = false;
            }
            Line::Rule => {
                path.reset();
                current = path.path();
                open = None;
                in_body = false;
            }
            Line::Blank => in_body = false,
            Line::Underline | Line::Footnote => {}
            Line::Fence => {
                if !code.is_empty() {
                    let note = code.join("\n");
                    code.clear();
                    if let (Some(_), Some(q)) = (open, topics.last_mut()) {
                        q.notes.push(note);
                    }
                }
            }
            Line::Code(c) => code.push(c),
            Line::Item(item) => {
                let clean = text::plain(item.text);
                if clean.is_empty() {
                    continue;
                }
                match open {
                    Some(indent) if is_followup(item, indent) => {
                        if let Some(q) = topics.last_mut() {
                            q.followups.push(clean);
                        }
                    }
                    _ if item.number.is_some() || text::is_question(item.text) => {
                        topics.push(&current, Draft::open(clean, line_no));
                        open = Some(item.indent);
                        in_body = true;
                    }
                    _ => parsed.warnings.push(super::Warning {
                        line: line_no,
                        message: "list item outside a numbered question was skipped".to_string(),
                    }),
                }
            }
            Line::Text(t) => {
                let clean = text::plain(t);
                if clean.is_empty() || !clean.chars().any(char::is_alphanumeric) {
                    continue;
                }
                if in_body && is_label(&clean) {
                    continue;
                }
                if text::is_question(t) {
                    // A question written as a plain paragraph.
                    topics.push(&current, Draft::open(clean, line_no));
                    open = Some(0);
                    in_body = true;
                } else if let (true, Some(q)) = (in_body, topics.last_mut()) {
                    q.notes.push(clean);
                } else {
                    if !parsed.description.is_empty() {
                        parsed.description.push(' ');
                    }
                    parsed.description.push_str(&clean);
                }
            }
        }
    }
    parsed.topics = topics.finish();
    Ok(parsed)
}

/// Whether an item belongs to the open question (numbered at `indent`):
/// any deeper item, or an unnumbered bullet right under it.
fn is_followup(item: &ListItem<'_>, indent: usize) -> bool {
    item.indent > indent || item.number.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "<img src=\"https://x/logo.png\" class=\"logo\" width=\"120\"/>\n\n# Вопросы\n\n## **Уровень 1: Основы (1-25)**\n\n### Базовые концепции\n\n1. **Что такое GIL?**\n**Связанные вопросы для собеседования:**\n    - Как обойти GIL?\n    - Когда потоки `эффективны`?\n2. **Объясните `is` и `==`**\n**Связанные вопросы для собеседования:**\n    - Почему `a is b`?\n\nЭтот список содержит **более 130 вопросов**[^1][^2].\n\n<div style=\"text-align: center\">⁂</div>\n\n[^1]: https://example.com/a\n\n[^2]: https://example.com/b\n";

    #[test]
    fn numbered_bold_questions_with_followups() {
        let p = parse(&Doc::new("t.md", SAMPLE)).unwrap();
        assert_eq!(p.title.as_deref(), Some("Вопросы"));
        assert_eq!(p.topics.len(), 1);
        assert_eq!(
            p.topics[0].path,
            ["Уровень 1: Основы (1-25)", "Базовые концепции"]
        );
        let qs = &p.topics[0].questions;
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].prompt, "Что такое GIL?");
        assert_eq!(qs[0].line, 9);
        assert_eq!(
            qs[0].followups,
            ["Как обойти GIL?", "Когда потоки эффективны?"]
        );
        assert!(qs[0].notes.is_empty());
        assert_eq!(qs[1].prompt, "Объясните is и ==");
        assert_eq!(qs[1].followups, ["Почему a is b?"]);
        assert_eq!(p.description, "Этот список содержит более 130 вопросов.");
    }

    #[test]
    fn plain_numbered_questions_with_bullets_as_followups() {
        let src = "## Python\n1. What is a list?\n2. What is a tuple?\n- Why is it hashable?\n";
        let doc = Doc::new("t.md", src);
        assert!(score(&doc) >= 4);
        let p = parse(&doc).unwrap();
        let qs = &p.topics[0].questions;
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[1].followups, ["Why is it hashable?"]);
    }

    #[test]
    fn scores_numbered_bold_items() {
        assert!(score(&Doc::new("t", SAMPLE)) >= 16);
        assert_eq!(score(&Doc::new("t", "# A\n\nWhat?\n\nWhy?\n")), 0);
        // Numbered questions with checkbox options are layout 8.
        let choice = Doc::new("t", "1. **Pick one?**\n   - [x] a\n   - [ ] b\n");
        assert!(score(&choice) <= 1);
    }
}
