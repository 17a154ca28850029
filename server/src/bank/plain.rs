//! Layout 2, `plain`: plain text with no markup to speak of.
//!
//! ```text
//! Interview questions, sorted by topic:
//!
//! Python
//!
//! What is MRO
//! What is the \_\_dict__ attribute?
//!
//! OOP
//!
//! What is SOLID
//! ```
//!
//! A short line standing alone between blank lines is a section title; the
//! lines of the blocks after it are questions, one per line. Intro lines at
//! the top (before the first section, not questions) are the description.

use super::doc::{self, Doc, Draft, Line, Parsed, TopicBuilder};
use super::text;
use super::BankError;

/// Longest line (in characters) still read as a section title.
const MAX_TITLE_CHARS: usize = 60;

/// How strongly the text looks like this layout (0 = not at all): lines in
/// blocks of two or more plain lines count; headings and lists damp it.
pub fn score(doc: &Doc) -> u32 {
    let mut score = 0u32;
    let mut block = 0u32;
    let mut block_plain = true;
    let mut headings = 0u32;
    let mut in_code = false;
    let close = |block: u32, plain: bool, score: &mut u32| {
        if block >= 2 && plain {
            *score = score.saturating_add(block);
        }
    };
    for line in &doc.lines {
        if text::code_fence(line).is_some() {
            in_code = !in_code;
            block_plain = false;
            continue;
        }
        if in_code {
            continue;
        }
        if line.trim().is_empty() {
            close(block, block_plain, &mut score);
            block = 0;
            block_plain = true;
            continue;
        }
        block += 1;
        if text::atx_heading(line).is_some() {
            headings += 1;
            block_plain = false;
        } else if text::list_item(line).is_some() || text::is_rule(line) {
            block_plain = false;
        }
    }
    close(block, block_plain, &mut score);
    if headings > 0 {
        score /= 4;
    }
    doc::modest(score, doc.foreign_markers())
}

/// Parses a document in this layout.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let pieces = pieces(doc);
    let mut parsed = Parsed::default();
    let mut topics = TopicBuilder::default();
    let mut path: Vec<String> = Vec::new();
    let mut seen_section = false;
    let mut title_line: Option<String> = None;
    for (pi, piece) in pieces.iter().enumerate() {
        let block = match piece {
            Piece::Code(code) => {
                // Code kept verbatim as a note on the question above it.
                match topics.last_mut() {
                    Some(q) => q.notes.push(code.clone()),
                    None => push_description(&mut parsed.description, code),
                }
                continue;
            }
            Piece::Block(block) => block,
        };
        let has_next = pieces
            .iter()
            .skip(pi + 1)
            .any(|p| matches!(p, Piece::Block(_)));
        if let [(line_no, line)] = block.as_slice() {
            if let Some(title) = section_title(line, has_next) {
                if topics.is_empty() {
                    // Two titles in a row at the top: the first was the intro.
                    if let Some(intro) = title_line.take() {
                        push_description(&mut parsed.description, &intro);
                    }
                }
                title_line = Some(text::plain(line));
                path = vec![title];
                seen_section = true;
                continue;
            }
            let clean = text::plain(line);
            if is_noise(line, &clean) {
                continue;
            }
            if !seen_section && topics.is_empty() && !clean.ends_with('?') {
                push_description(&mut parsed.description, &clean);
                continue;
            }
            topics.push(&path, Draft::open(clean, *line_no));
            continue;
        }
        for (line_no, line) in block {
            let clean = text::plain(line);
            if is_noise(line, &clean) {
                continue;
            }
            if !seen_section && topics.is_empty() && is_intro(&clean) {
                push_description(&mut parsed.description, &clean);
                continue;
            }
            topics.push(&path, Draft::open(clean, *line_no));
        }
    }
    parsed.topics = topics.finish();
    Ok(parsed)
}

/// What the plain reader sees: blocks of text lines (with 1-based line
/// numbers) separated by blank lines, and fenced code blocks.
enum Piece<'a> {
    Block(Vec<(usize, &'a str)>),
    Code(String),
}

fn pieces<'a>(doc: &Doc<'a>) -> Vec<Piece<'a>> {
    let mut out: Vec<Piece<'a>> = Vec::new();
    let mut cur: Vec<(usize, &'a str)> = Vec::new();
    let mut code: Vec<&'a str> = Vec::new();
    let mut in_code = false;
    for (i, (kind, line)) in doc.classify().iter().zip(&doc.lines).enumerate() {
        match kind {
            Line::Fence => {
                if !cur.is_empty() {
                    out.push(Piece::Block(std::mem::take(&mut cur)));
                }
                if in_code {
                    out.push(Piece::Code(code.join("\n")));
                    code.clear();
                }
                in_code = !in_code;
            }
            Line::Code(c) => code.push(c),
            Line::Blank => {
                if !cur.is_empty() {
                    out.push(Piece::Block(std::mem::take(&mut cur)));
                }
            }
            _ => cur.push((i + 1, line)),
        }
    }
    if !cur.is_empty() {
        out.push(Piece::Block(cur));
    }
    if !code.is_empty() {
        out.push(Piece::Code(code.join("\n")));
    }
    out
}

/// A standalone line that names a section: short, not a question, not a
/// sentence, and something follows it.
fn section_title(line: &str, has_next: bool) -> Option<String> {
    if let Some((_, title)) = text::heading(line) {
        return Some(title.trim_end_matches(':').trim().to_string()).filter(|t| !t.is_empty());
    }
    let clean = text::plain(line);
    let short = clean.chars().count() <= MAX_TITLE_CHARS;
    let sentence = clean.ends_with(['?', '.', '!']);
    if has_next && short && !sentence && !is_noise(line, &clean) {
        Some(clean.trim_end_matches(':').trim().to_string())
    } else {
        None
    }
}

/// Lines that are never questions: footnote definitions, bare links, tags
/// or symbols with no words.
fn is_noise(line: &str, clean: &str) -> bool {
    text::is_footnote_definition(line)
        || !clean.chars().any(char::is_alphanumeric)
        || text::is_bare_url(clean)
}

/// An intro line: a statement that announces what follows.
fn is_intro(clean: &str) -> bool {
    clean.ends_with(':') || (clean.ends_with('.') && clean.split_whitespace().count() > 8)
}

fn push_description(description: &mut String, line: &str) {
    if !description.is_empty() {
        description.push(' ');
    }
    description.push_str(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Parsed {
        parse(&Doc::new("t.txt", s)).unwrap()
    }

    #[test]
    fn sections_and_one_question_per_line() {
        let p = parse_str(
            "Interview questions, sorted by topic:  \n\nPython\n   \nWhat is MRO  \nWhat is the \\_\\_dict__ attribute?\n\nOOP\n\nWhat is SOLID\nWhat is a mixin\n",
        );
        assert_eq!(p.description, "Interview questions, sorted by topic:");
        assert_eq!(p.topics.len(), 2);
        assert_eq!(p.topics[0].path, ["Python"]);
        assert_eq!(p.topics[0].questions[0].prompt, "What is MRO");
        assert_eq!(p.topics[0].questions[0].line, 5);
        assert_eq!(
            p.topics[0].questions[1].prompt,
            "What is the __dict__ attribute?"
        );
        assert_eq!(p.topics[1].path, ["OOP"]);
        assert_eq!(p.topics[1].questions.len(), 2);
    }

    #[test]
    fn lone_question_lines_stay_questions() {
        let p = parse_str("Basics\n\nWhat is a list?\n\nWhat is a tuple?\n");
        assert_eq!(p.topics[0].path, ["Basics"]);
        assert_eq!(p.topics[0].questions.len(), 2);
    }

    #[test]
    fn code_blocks_are_notes_and_sources_are_skipped() {
        let p = parse_str("Basics\n\nWhat does this print?\n```\n# not a title\nprint(1)\n```\nhttps://example.com/src\n[^1]: https://example.com\n");
        let qs = &p.topics[0].questions;
        assert_eq!(qs.len(), 1);
        assert_eq!(qs[0].notes, ["# not a title\nprint(1)"]);
    }

    #[test]
    fn file_without_sections() {
        let p = parse_str("What is a list?\nWhat is a tuple?\n");
        assert_eq!(p.topics[0].path, Vec::<String>::new());
        assert_eq!(p.topics[0].questions.len(), 2);
    }

    #[test]
    fn scores() {
        assert!(score(&Doc::new("t", "Title\n\nq one\nq two\nq three\n")) >= 3);
        assert_eq!(score(&Doc::new("t", "- a\n- b\n")), 0);
        // Aiken: plain lines, but with answer keys.
        let aiken = Doc::new("t", "What is 2+2?\nA. 3\nB. 4\nANSWER: B\n");
        assert!(score(&aiken) <= 1);
    }
}
