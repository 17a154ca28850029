//! Importer for collapsible Q&A: `<details><summary>Question</summary>
//! answer</details>` blocks, the way GitHub READMEs hide answers until the
//! reader clicks. Tags may sit on one line or spread over many; headings
//! outside the blocks give the topic path.

use super::doc::{Doc, Draft, Parsed};
use super::qa_heading::{answer_text, classify, sole_title, strip_question_label, Line, Topics};
use super::{text, BankError, Warning};

/// How strongly the text looks like this layout: `<details>` blocks that
/// carry a `<summary>`. One block alone could be a collapsed table of
/// contents in some other layout, so it scores low; several score high.
pub fn score(doc: &Doc) -> u32 {
    let mut n = 0u32;
    let mut rest = doc.text;
    while let Some(at) = find_ci(rest, "<details", 0) {
        let after = rest.get(at + 8..).unwrap_or("");
        let next = find_ci(after, "<details", 0).unwrap_or(after.len());
        if find_ci(after.get(..next).unwrap_or(""), "<summary", 0).is_some() {
            n += 1;
        }
        rest = after;
    }
    match n {
        0 => 0,
        1 => 40,
        n => (60 + 5 * n).min(95),
    }
}

/// Parses every `<details>` block into an open question (summary → prompt,
/// the rest → answer). An unclosed block or summary is a syntax error at
/// the line where it opens.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let lines = classify(doc);
    let mut parsed = Parsed::default();
    let title_idx = sole_title(&lines);
    let offsets = line_offsets(doc);
    let masked = mask_code(doc, &lines, &offsets);
    let mut stack: Vec<(u8, String)> = Vec::new();
    let mut topics = Topics::default();
    let mut seen_block = false;
    let mut intro: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        match line {
            Line::Heading { level, title, .. } => {
                if Some(i) == title_idx {
                    parsed.title = Some(title.clone());
                } else {
                    stack.retain(|(l, _)| l < level);
                    stack.push((*level, title.clone()));
                }
                seen_block |= Some(i) != title_idx;
                i += 1;
            }
            Line::Text(t) => {
                let start = offsets.get(i).copied().unwrap_or(0);
                let visible = masked.get(start..start + t.len()).unwrap_or("");
                let Some(col) = find_ci(visible, "<details", 0) else {
                    if !seen_block {
                        intro.push(text::plain(t));
                    }
                    i += 1;
                    continue;
                };
                seen_block = true;
                let block = read_block(doc, &masked, start + col, i + 1)?;
                let end_line = offset_line(&offsets, block.end);
                match block.summary {
                    Some((summary, answer_start)) => {
                        let prompt =
                            strip_question_label(&text::plain(&strip_tags(summary))).to_string();
                        let body = doc.text.get(answer_start..block.inner_end).unwrap_or("");
                        let answer = answer_of(body);
                        if prompt.is_empty() {
                            parsed.warnings.push(Warning {
                                line: i + 1,
                                message: "`<summary>` is empty; block skipped".into(),
                            });
                        } else {
                            let path: Vec<String> = stack.iter().map(|(_, t)| t.clone()).collect();
                            let draft = Draft {
                                prompt,
                                answer,
                                line: i + 1,
                                ..Draft::default()
                            };
                            topics.push(path, draft);
                        }
                    }
                    None => parsed.warnings.push(Warning {
                        line: i + 1,
                        message: "`<details>` without a `<summary>` question; block skipped".into(),
                    }),
                }
                i = end_line + 1;
            }
            _ => i += 1,
        }
    }
    parsed.topics = topics.into_vec();
    parsed.description = intro
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(parsed)
}

/// One `<details>` block located in the document text (byte offsets).
struct Block<'a> {
    /// The summary's inner HTML and where the answer starts, if it has one.
    summary: Option<(&'a str, usize)>,
    /// Where the block's content ends (start of its `</details>`).
    inner_end: usize,
    /// Offset just past `</details>`.
    end: usize,
}

/// Finds the block opening at `start`, matching nested `<details>`.
fn read_block<'a>(
    doc: &Doc<'a>,
    masked: &str,
    start: usize,
    line: usize,
) -> Result<Block<'a>, BankError> {
    let syntax = |line: usize, message: &str| BankError::Syntax {
        file: doc.file.to_string(),
        line,
        message: message.to_string(),
    };
    let text = masked;
    let open_end = text
        .get(start..)
        .and_then(|r| r.find('>'))
        .map(|p| start + p + 1)
        .ok_or_else(|| syntax(line, "`<details` tag is not closed with `>`"))?;
    let mut depth = 1usize;
    let mut pos = open_end;
    // Found tag positions are reused while still ahead of `pos`, so deeply
    // nested or unclosed blocks cost one pass over the text, not one per tag.
    let mut open_at: Option<Option<usize>> = None;
    let mut close_at: Option<usize> = None;
    let (inner_end, end) = loop {
        let next_open = match open_at {
            Some(Some(o)) if o >= pos => Some(o),
            Some(None) => None,
            _ => find_ci(text, "<details", pos),
        };
        open_at = Some(next_open);
        let next_close = match close_at {
            Some(c) if c >= pos => c,
            _ => find_ci(text, "</details", pos)
                .ok_or_else(|| syntax(line, "`<details>` is not closed with `</details>`"))?,
        };
        close_at = Some(next_close);
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                pos = o + 8;
            }
            _ => {
                depth -= 1;
                let after = text
                    .get(next_close..)
                    .and_then(|r| r.find('>'))
                    .map_or(text.len(), |p| next_close + p + 1);
                if depth == 0 {
                    break (next_close, after);
                }
                pos = after;
            }
        }
    };
    let inner = text.get(open_end..inner_end).unwrap_or("");
    let original = doc.text.get(open_end..inner_end).unwrap_or("");
    let summary = match find_ci(inner, "<summary", 0) {
        // A summary must come before any nested block to be this block's.
        Some(s) if find_ci(inner, "<details", 0).is_none_or(|d| s < d) => {
            let tag_end = inner
                .get(s..)
                .and_then(|r| r.find('>'))
                .map(|p| s + p + 1)
                .ok_or_else(|| syntax(line, "`<summary` tag is not closed with `>`"))?;
            let close = find_ci(inner, "</summary", tag_end)
                .ok_or_else(|| syntax(line, "`<summary>` is not closed with `</summary>`"))?;
            let after = inner
                .get(close..)
                .and_then(|r| r.find('>'))
                .map_or(inner.len(), |p| close + p + 1);
            Some((original.get(tag_end..close).unwrap_or(""), open_end + after))
        }
        _ => None,
    };
    Ok(Block {
        summary,
        inner_end,
        end,
    })
}

/// The answer text of a block body: tags removed, markdown read like any
/// other answer section.
fn answer_of(body: &str) -> String {
    let cleaned: Vec<String> = body.lines().map(strip_tags).collect();
    let joined = cleaned.join("\n");
    let doc = Doc::new("", &joined);
    answer_text(&classify(&doc))
}

/// Removes HTML tags (`<b>`, `<br/>`, `<p class=…>`), keeping their text.
/// Only `<` followed by a letter, `/` or `!` starts a tag, so `a < b` stays.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(lt) = rest.find('<') {
        out.push_str(rest.get(..lt).unwrap_or(""));
        let after = rest.get(lt + 1..).unwrap_or("");
        let is_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match (is_tag, after.find('>')) {
            (true, Some(gt)) => rest = after.get(gt + 1..).unwrap_or(""),
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// ASCII case-insensitive search for `needle` in `hay` from byte `from`.
/// Needles are ASCII, so every match sits on a character boundary.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (from..=h.len() - n.len()).find(|&i| {
        h.get(i..i + n.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(n))
    })
}

/// `doc.text` with fenced code and inline code spans blanked out (same byte
/// length), so a `<details>` shown as code is never read as a tag.
fn mask_code(doc: &Doc, lines: &[Line], offsets: &[usize]) -> String {
    let mut bytes = doc.text.as_bytes().to_vec();
    let mut blank = |from: usize, len: usize| {
        for b in bytes.iter_mut().skip(from).take(len) {
            *b = b' ';
        }
    };
    for (i, l) in lines.iter().enumerate() {
        let start = offsets.get(i).copied().unwrap_or(0);
        match l {
            Line::Code(c) => blank(start, c.len()),
            Line::Text(t) => {
                let mut open: Option<usize> = None;
                for (k, ch) in t.char_indices() {
                    if ch == '`' {
                        match open.take() {
                            Some(o) => blank(start + o, k + 1 - o),
                            None => open = Some(k),
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Only ASCII bytes inside whole characters were replaced by spaces.
    String::from_utf8(bytes).unwrap_or_else(|_| doc.text.to_string())
}

/// Byte offset of each line start in `doc.text`.
fn line_offsets(doc: &Doc) -> Vec<usize> {
    let base = doc.text.as_ptr() as usize;
    doc.lines
        .iter()
        .map(|l| (l.as_ptr() as usize).saturating_sub(base))
        .collect()
}

/// 0-based index of the line holding byte `offset`.
fn offset_line(offsets: &[usize], offset: usize) -> usize {
    match offsets.binary_search(&offset) {
        Ok(i) => i,
        Err(i) => i.saturating_sub(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::Kind;

    fn run(src: &str) -> Result<Parsed, BankError> {
        parse(&Doc::new("d.md", src))
    }

    const SAMPLE: &str = "# JS questions\n\
Click a question to see the answer.\n\
\n\
## Basics\n\
\n\
<details><summary><b>1. What is hoisting?</b></summary>Declarations move to the top.</details>\n\
\n\
<details>\n\
<summary>\n\
What does <code>typeof null</code> return?\n\
</summary>\n\
\n\
`\"object\"`, a historic bug:\n\
\n\
```js\n\
typeof null // <details>\n\
```\n\
\n\
<details><summary>Hint</summary>old tag bits</details>\n\
</details>\n\
\n\
## Async\n\
<details><summary>Q3: What is a promise?</summary>\n\
A value that arrives later.\n\
</details>\n";

    #[test]
    fn blocks_become_questions_under_their_headings() {
        let p = run(SAMPLE).unwrap();
        assert_eq!(p.title.as_deref(), Some("JS questions"));
        assert_eq!(p.description, "Click a question to see the answer.");
        let paths: Vec<Vec<String>> = p.topics.iter().map(|t| t.path.clone()).collect();
        assert_eq!(paths, vec![vec!["Basics"], vec!["Async"]]);
        let qs: Vec<&Draft> = p.topics.iter().flat_map(|t| &t.questions).collect();
        assert_eq!(qs.len(), 3);
        assert_eq!(qs[0].prompt, "What is hoisting?");
        assert_eq!(qs[0].answer, "Declarations move to the top.");
        assert_eq!(qs[0].line, 6);
        assert_eq!(qs[1].prompt, "What does typeof null return?");
        assert_eq!(qs[1].line, 8);
        assert!(
            qs[1].answer.starts_with("\"object\", a historic bug:"),
            "{}",
            qs[1].answer
        );
        assert!(qs[1].answer.contains("typeof null // "), "{}", qs[1].answer);
        assert!(qs[1].answer.contains("Hint"), "{}", qs[1].answer);
        assert_eq!(qs[2].prompt, "What is a promise?");
        assert_eq!(qs[2].answer, "A value that arrives later.");
        assert_eq!(qs[2].line, 23);
        assert!(qs.iter().all(|q| q.kind == Kind::Open));
    }

    #[test]
    fn unclosed_blocks_are_errors_at_their_line() {
        let e = run("## T\n<details><summary>Q?</summary>\nanswer\n").unwrap_err();
        assert!(matches!(e, BankError::Syntax { line: 2, .. }), "{e:?}");
        let e = run("<details>\n<summary>Q?\n</details>\n").unwrap_err();
        assert!(matches!(e, BankError::Syntax { line: 1, .. }), "{e:?}");
    }

    #[test]
    fn a_block_without_summary_is_a_warning() {
        let p = run("<details>just text</details>\n\n<details><summary>Q?</summary>A</details>\n")
            .unwrap();
        assert_eq!(p.topics.iter().map(|t| t.questions.len()).sum::<usize>(), 1);
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].line, 1);
    }

    #[test]
    fn scores_several_blocks_high_and_plain_markdown_zero() {
        assert!(score(&Doc::new("a", SAMPLE)) >= 70);
        assert_eq!(score(&Doc::new("b", "# T\n\nWhat is a list?\n")), 0);
    }

    #[test]
    fn deeply_nested_unclosed_blocks_fail_in_one_pass() {
        let src = "<details><summary>Q?</summary>".repeat(50_000);
        let started = std::time::Instant::now();
        let e = run(&src).unwrap_err();
        assert!(matches!(e, BankError::Syntax { line: 1, .. }), "{e:?}");
        // Linear work: far below a second even unoptimized; quadratic
        // rescanning would take minutes.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn tags_are_stripped_but_comparisons_survive() {
        assert_eq!(strip_tags("<b>a</b> < b <br/>"), "a < b ");
    }
}
