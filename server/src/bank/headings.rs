//! Layout 1, `headings`: `#`/`##`/`###` headings are nested topics and every
//! paragraph under them is one question:
//!
//! ```text
//! # Bank title
//! ## Python
//! ### Basics
//! What is a variable?
//!
//! Which asyncio functions do you know?
//! – asyncio.run()
//! – asyncio.gather()
//! ```
//!
//! A line that continues a paragraph (`– asyncio.run()`) is a note on the
//! question above it; a heading with no paragraphs gives no topic.

use super::doc::{self, Doc, Draft, HeadingPath, Line, Parsed, TopicBuilder};
use super::text;
use super::BankError;

/// How strongly the text looks like this layout (0 = not at all): question
/// paragraphs under headings count, answer-key markers damp it.
pub fn score(doc: &Doc) -> u32 {
    let lines = doc.classify();
    let mut seen_heading = false;
    let mut questions = 0u32;
    let mut others = 0u32;
    let mut prev_blank = true;
    for l in lines {
        match l {
            Line::Heading { .. } => {
                seen_heading = true;
                prev_blank = true;
            }
            Line::Blank | Line::Rule | Line::Underline => prev_blank = true,
            Line::Text(t) => {
                if seen_heading && prev_blank {
                    if text::is_question(t) {
                        questions += 1;
                    } else {
                        others += 1;
                    }
                }
                prev_blank = false;
            }
            _ => prev_blank = false,
        }
    }
    // Mostly statements: imperative prompts ("Explain X."), or answers
    // under question headings (layout 6) or prose; stay low.
    if others > questions * 2 {
        return doc::modest((questions + others / 2).min(10), doc.foreign_markers());
    }
    doc::modest(questions * 2 + others / 2, doc.foreign_markers())
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
    let mut in_paragraph = false;
    // Whether a question was read since the last heading.
    let mut same_topic = false;
    let mut code: Vec<&str> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let line_no = i + 1;
        match l {
            Line::Heading { level, title, .. } => {
                let grouping = doc::is_grouping_heading(lines, i);
                path.heading(*level, title, grouping);
                current = path.path();
                in_paragraph = false;
                same_topic = false;
            }
            Line::Rule => {
                path.reset();
                current = path.path();
                in_paragraph = false;
                same_topic = false;
            }
            Line::Blank | Line::Underline | Line::Footnote => in_paragraph = false,
            Line::Fence => {
                if !code.is_empty() {
                    let note = code.join("\n");
                    code.clear();
                    if let Some(q) = topics.last_mut() {
                        q.notes.push(note);
                    }
                }
                in_paragraph = false;
            }
            Line::Code(c) => code.push(c),
            Line::Text(t) | Line::Item(text::ListItem { text: t, .. }) => {
                let is_item = matches!(l, Line::Item(_));
                let clean = text::plain(t);
                if clean.is_empty() || !clean.chars().any(char::is_alphanumeric) {
                    continue;
                }
                if in_paragraph && continues_prompt(&topics, &clean, is_item) {
                    if let Some(q) = topics.last_mut() {
                        q.prompt.push(' ');
                        q.prompt.push_str(&clean);
                    }
                } else if in_paragraph && !clean.ends_with('?') {
                    // `– asyncio.run()` under a question: a note on it.
                    if let Some(q) = topics.last_mut() {
                        q.notes.push(clean);
                    }
                } else if is_item && !clean.ends_with('?') && same_topic {
                    // A loose list of points under the question above.
                    if let Some(q) = topics.last_mut() {
                        q.notes.push(clean);
                    }
                } else if current.is_empty() && topics.is_empty() && !clean.ends_with('?') {
                    // Text between the title and the first topic: the intro.
                    push_description(&mut parsed.description, &clean);
                } else {
                    topics.push(&current, Draft::open(clean, line_no));
                    same_topic = true;
                }
                in_paragraph = true;
            }
        }
    }
    if !code.is_empty() {
        parsed.warnings.push(super::Warning {
            line: doc.lines.len(),
            message: "code block is not closed with ```".to_string(),
        });
        if let Some(q) = topics.last_mut() {
            q.notes.push(code.join("\n"));
        }
    }
    parsed.topics = topics.finish();
    Ok(parsed)
}

fn push_description(description: &mut String, line: &str) {
    if !description.is_empty() {
        description.push(' ');
    }
    description.push_str(line);
}

/// Whether a line inside a paragraph continues the question's prompt (a
/// wrapped line): the prompt has not ended yet and the line is no bullet.
fn continues_prompt(topics: &TopicBuilder, clean: &str, is_item: bool) -> bool {
    let Some(q) = topics.last() else {
        return false;
    };
    let prompt_finished = q.prompt.ends_with(['?', '.', '!', ':', ')']);
    !is_item && !prompt_finished && q.notes.is_empty() && !clean.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Parsed {
        parse(&Doc::new("t.md", s)).unwrap()
    }

    #[test]
    fn nested_topics_and_one_question_per_paragraph() {
        let p = parse_str(
            "# Bank\n## Python\n### Basics\nWhat is a *variable*?\n\nIs Python typed?\n\n### Empty\n\n## ООП\n### Basics\nWhat is a class?\n",
        );
        assert_eq!(p.title.as_deref(), Some("Bank"));
        let paths: Vec<_> = p.topics.iter().map(|t| t.path.join("/")).collect();
        assert_eq!(paths, ["Python/Basics", "ООП/Basics"]);
        assert_eq!(p.topics[0].questions[0].prompt, "What is a variable?");
        assert_eq!(p.topics[0].questions[0].line, 4);
        assert_eq!(p.topics[0].questions[1].prompt, "Is Python typed?");
    }

    #[test]
    fn continuation_lines_are_notes() {
        let p = parse_str(
            "# B\n## A\nWhich asyncio functions do you know?\n– asyncio.run()\n– asyncio.gather()\n\nNext?\n",
        );
        let q = &p.topics[0].questions[0];
        assert_eq!(q.notes, ["asyncio.run()", "asyncio.gather()"]);
        assert_eq!(p.topics[0].questions[1].prompt, "Next?");
    }

    #[test]
    fn intro_is_description_and_questions_without_topic_still_count() {
        let p = parse_str(
            "# Quiz
A few warm-up questions.

What?

Why?
",
        );
        assert_eq!(p.description, "A few warm-up questions.");
        assert_eq!(p.topics[0].path, Vec::<String>::new());
        assert_eq!(p.topics[0].questions.len(), 2);
    }

    #[test]
    fn question_bullets_in_a_paragraph_are_questions() {
        let p = parse_str("# B\n## A\nWhat is a list?\n- What is a tuple?\n- mutable\n");
        let prompts: Vec<&str> = p.topics[0]
            .questions
            .iter()
            .map(|q| q.prompt.as_str())
            .collect();
        assert_eq!(prompts, ["What is a list?", "What is a tuple?"]);
        assert_eq!(p.topics[0].questions[1].notes, ["mutable"]);
    }

    #[test]
    fn one_question_per_line_under_headings() {
        let p = parse_str("# B\n\nWhat is a list?\nWhat is a tuple?\nExplain sets.\n");
        let prompts: Vec<&str> = p.topics[0]
            .questions
            .iter()
            .map(|q| q.prompt.as_str())
            .collect();
        assert_eq!(prompts, ["What is a list?", "What is a tuple?"]);
        assert_eq!(p.topics[0].questions[1].notes, ["Explain sets."]);
    }

    #[test]
    fn a_loose_list_after_a_question_is_its_notes() {
        let p = parse_str("# B\n## A\nWhat is a list?\n\n- ordered\n- mutable\n\n## C\n- Is this a question?\n- point\n");
        assert_eq!(p.topics[0].questions.len(), 1);
        assert_eq!(p.topics[0].questions[0].notes, ["ordered", "mutable"]);
        assert_eq!(p.topics[1].questions[0].prompt, "Is this a question?");
    }

    #[test]
    fn wrapped_prompt_is_joined() {
        let p = parse_str("# B\n## A\nWhat is the difference between\nlists and tuples?\n");
        assert_eq!(
            p.topics[0].questions[0].prompt,
            "What is the difference between lists and tuples?"
        );
    }

    #[test]
    fn code_blocks_are_notes_not_headings() {
        let p = parse_str("# B\n## A\nWhat prints?\n```python\n# not a heading\nprint(1)\n```\n");
        assert_eq!(p.topics.len(), 1);
        assert_eq!(
            p.topics[0].questions[0].notes,
            ["# not a heading\nprint(1)"]
        );
    }

    #[test]
    fn scores_question_paragraphs_under_headings() {
        let good = Doc::new("t", "# A\n## B\nWhat?\n\nWhy?\n\nHow?\n");
        assert!(score(&good) >= 6);
        assert_eq!(score(&Doc::new("t", "What?\nWhy?\n")), 0);
        // One question per heading with answers below is layout 6.
        let qa = Doc::new(
            "t",
            "#### 1. What is GIL?\nA lock.\n\nIt serializes bytecode.\n\n#### 2. What is MRO?\nAn order.\n",
        );
        assert!(score(&qa) <= 1);
    }
}
