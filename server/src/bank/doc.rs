//! The decoded text of one bank file and what a layout importer returns,
//! plus the line-level markdown reading the layouts share (code fences,
//! headings, list items), so no layout ever mistakes a `#` comment inside a
//! code block for a heading.

use super::text::{self, ListItem};
use super::{Kind, Question, Warning};

/// A bank file decoded to text: BOM removed, line endings normalized to LF.
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    /// File name as given (used in errors).
    pub file: &'a str,
    /// The whole text.
    pub text: &'a str,
    /// The text split into lines (without `\n`); index 0 is line 1.
    pub lines: Vec<&'a str>,
    /// [`Doc::classify`] computed once: ten layouts score the same text.
    classified: std::sync::OnceLock<Vec<Line<'a>>>,
    /// [`Doc::foreign_markers`] computed once.
    foreign: std::sync::OnceLock<u32>,
}

impl<'a> Doc<'a> {
    /// Splits `text` (already LF-normalized) into lines.
    pub fn new(file: &'a str, text: &'a str) -> Doc<'a> {
        Doc {
            file,
            text,
            lines: text.lines().collect(),
            classified: std::sync::OnceLock::new(),
            foreign: std::sync::OnceLock::new(),
        }
    }

    /// Classifies every line once (see [`Line`]); index 0 is line 1.
    pub fn classify(&self) -> &[Line<'a>] {
        self.classified.get_or_init(|| classify(&self.lines))
    }

    /// How many lines carry markers of the answer-key formats (GIFT, Aiken,
    /// `<details>`, `- [x]` options, question headings). Layouts without
    /// answer keys keep their score modest when these are present, so such
    /// files go to the importer that understands their answers.
    pub fn foreign_markers(&self) -> u32 {
        *self.foreign.get_or_init(|| self.count_foreign_markers())
    }

    fn count_foreign_markers(&self) -> u32 {
        let mut n = 0u32;
        let mut in_code = false;
        for line in &self.lines {
            let t = line.trim();
            if text::code_fence(line).is_some() {
                in_code = !in_code;
                continue;
            }
            if in_code {
                continue;
            }
            let marker = t
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("ANSWER:"))
                || t.starts_with("::")
                || t.starts_with("$CATEGORY:")
                || (t.contains('{') && (t.contains("{=") || t.contains("~") || t.ends_with('{')))
                || t.contains("{T}")
                || t.contains("{F}")
                || t.contains("<details")
                || t.contains("<summary")
                || text::list_item(line).is_some_and(|i| i.checked == Some(true))
                || (t.contains('?') && text::heading(line).is_some_and(|(_, h)| h.ends_with('?')));
            if marker {
                n = n.saturating_add(1);
            }
        }
        n
    }
}

/// What one line is, as the markdown-ish layouts see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    /// Empty or whitespace only.
    Blank,
    /// An ATX heading, or the text line of a setext heading (its underline
    /// is [`Line::Underline`]). `title` is raw markup; `setext` tells the
    /// two apart, because hand-written files use underlined titles as
    /// part dividers above their `##` headings.
    Heading {
        /// 1–6 for `#`…`######`; 1 for `===` and 2 for `---` underlines.
        level: u8,
        /// Raw title markup.
        title: &'a str,
        /// Whether the heading is an underlined (setext) one.
        setext: bool,
    },
    /// The `---` / `===` under a setext heading.
    Underline,
    /// A thematic break (`---`, `___`, `***`).
    Rule,
    /// A code fence line (opening or closing).
    Fence,
    /// A line inside a fenced code block, verbatim.
    Code(&'a str),
    /// A list item (bullet, number, checkbox).
    Item(ListItem<'a>),
    /// A footnote definition `[^1]: url`.
    Footnote,
    /// Any other line (paragraph text), untrimmed.
    Text(&'a str),
}

fn is_underline(line: &str) -> Option<u8> {
    let t = line.trim();
    if t.len() >= 2 && t.chars().all(|c| c == '=') {
        return Some(1);
    }
    if t.len() >= 2 && t.chars().all(|c| c == '-') {
        return Some(2);
    }
    None
}

/// See [`Doc::classify`].
pub fn classify<'a>(lines: &[&'a str]) -> Vec<Line<'a>> {
    let mut out: Vec<Line<'a>> = Vec::with_capacity(lines.len());
    let mut fence: Option<(char, usize)> = None;
    for (i, &line) in lines.iter().enumerate() {
        if let Some((c, n)) = fence {
            match text::code_fence(line) {
                Some((c2, n2)) if c2 == c && n2 >= n && line.trim().trim_matches(c).is_empty() => {
                    fence = None;
                    out.push(Line::Fence);
                }
                _ => out.push(Line::Code(line)),
            }
            continue;
        }
        if let Some(f) = text::code_fence(line) {
            fence = Some(f);
            out.push(Line::Fence);
            continue;
        }
        if line.trim().is_empty() {
            out.push(Line::Blank);
            continue;
        }
        // A setext underline turns the previous text line into a heading.
        if let Some(level) = is_underline(line) {
            let prev_text = matches!(out.last(), Some(Line::Text(_)));
            let before_prev = if i >= 2 { out.get(i - 2) } else { None };
            let starts_paragraph = i < 2
                || matches!(
                    before_prev,
                    Some(Line::Blank | Line::Heading { .. } | Line::Rule | Line::Underline)
                );
            if prev_text && starts_paragraph {
                if let Some(Line::Text(t)) = out.last().cloned() {
                    if let Some(last) = out.last_mut() {
                        *last = Line::Heading {
                            level,
                            title: t.trim(),
                            setext: true,
                        };
                    }
                    out.push(Line::Underline);
                    continue;
                }
            }
        }
        if text::is_rule(line) {
            out.push(Line::Rule);
            continue;
        }
        if let Some((level, title)) = text::atx_heading(line) {
            out.push(Line::Heading {
                level,
                title,
                setext: false,
            });
            continue;
        }
        if text::is_footnote_definition(line) {
            out.push(Line::Footnote);
            continue;
        }
        if let Some(item) = text::list_item(line) {
            if !item.text.is_empty() || item.checked.is_some() {
                out.push(Line::Item(item));
                continue;
            }
        }
        out.push(Line::Text(line));
    }
    out
}

/// Tracks the headings above the current line and turns them into a topic
/// path, with the rules hand-written banks need:
/// - a lone level-1 heading at the top is the bank title, not a topic;
/// - a heading ending with `:` and directly followed by headings of its own
///   level groups those headings under it;
/// - a thematic break (`---`) closes every open heading.
#[derive(Debug, Default, Clone)]
pub struct HeadingPath {
    /// (effective level, plain title); effective levels are doubled so a
    /// grouping heading can sit between two real levels.
    stack: Vec<(u16, String)>,
    /// Level of the heading used as the bank title, skipped in paths.
    title_level: Option<u8>,
    /// Title heading text, when there is one.
    pub title: Option<String>,
}

impl HeadingPath {
    /// Prepares the path tracker for `lines` (decides the title heading).
    pub fn new(lines: &[Line<'_>]) -> HeadingPath {
        let mut first: Option<(u8, &str)> = None;
        let mut level1 = 0;
        for l in lines {
            if let Line::Heading { level, title, .. } = l {
                if first.is_none() {
                    first = Some((*level, title));
                }
                if *level == 1 {
                    level1 += 1;
                }
            }
        }
        let mut path = HeadingPath::default();
        if let Some((1, title)) = first {
            if level1 == 1 {
                path.title_level = Some(1);
                path.title = Some(text::plain(title));
            }
        }
        if path.title.is_none() {
            path.title = first.map(|(_, t)| text::plain(t)).filter(|t| !t.is_empty());
        }
        path
    }

    /// Records a heading; returns whether it is part of topic paths (false
    /// for the title heading).
    pub fn heading(&mut self, level: u8, raw_title: &str, grouping: bool) -> bool {
        if self.title_level == Some(level) && level == 1 {
            self.stack.clear();
            return false;
        }
        let title = text::plain(raw_title);
        let title = title.trim_end_matches(':').trim_end().to_string();
        let eff = u16::from(level) * 2 + if grouping { 0 } else { 1 };
        while self.stack.last().is_some_and(|(l, _)| *l >= eff) {
            self.stack.pop();
        }
        // A grouping heading stays open only for its own level's headings.
        self.stack.push((eff, title));
        true
    }

    /// Closes every open heading (after a thematic break).
    pub fn reset(&mut self) {
        self.stack.clear();
    }

    /// The current topic path, outermost first, empty titles left out.
    pub fn path(&self) -> Vec<String> {
        self.stack
            .iter()
            .map(|(_, t)| t.clone())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// Whether the heading at `idx` is a grouping heading: it ends with `:`, has
/// no content of its own and the next heading has the same level.
pub fn is_grouping_heading(lines: &[Line<'_>], idx: usize) -> bool {
    let Some(Line::Heading { level, title, .. }) = lines.get(idx) else {
        return false;
    };
    if !text::plain(title).ends_with(':') {
        return false;
    }
    for l in lines.iter().skip(idx + 1) {
        match l {
            Line::Blank | Line::Underline => continue,
            Line::Heading { level: l2, .. } => return l2 == level,
            _ => return false,
        }
    }
    false
}

/// Keeps a layout's score modest when the file carries markers of the
/// answer-key formats (see [`Doc::foreign_markers`]), so those files go to
/// the importer that reads their answers: at most 1 when the markers are
/// dense, half the score when a few stray ones sit in a large bank.
pub fn modest(score: u32, foreign: u32) -> u32 {
    if foreign == 0 {
        score
    } else if foreign.saturating_mul(8) >= score {
        score.min(1)
    } else {
        score / 2
    }
}

/// Collects drafts into topics by path, keeping file order.
#[derive(Debug, Default)]
pub struct TopicBuilder {
    topics: Vec<DraftTopic>,
}

impl TopicBuilder {
    /// Adds a question under `path` (a new topic when the path changes).
    pub fn push(&mut self, path: &[String], draft: Draft) {
        match self.topics.last_mut() {
            Some(t) if t.path == path => t.questions.push(draft),
            _ => self.topics.push(DraftTopic {
                path: path.to_vec(),
                questions: vec![draft],
            }),
        }
    }

    /// The last question added.
    pub fn last(&self) -> Option<&Draft> {
        self.topics.last().and_then(|t| t.questions.last())
    }

    /// The last question added, to attach notes or follow-ups to it.
    pub fn last_mut(&mut self) -> Option<&mut Draft> {
        self.topics.last_mut().and_then(|t| t.questions.last_mut())
    }

    /// Question `index` of the last topic with exactly this path.
    pub fn question_mut(&mut self, path: &[String], index: usize) -> Option<&mut Draft> {
        self.topics
            .iter_mut()
            .rev()
            .find(|t| t.path == path)
            .and_then(|t| t.questions.get_mut(index))
    }

    /// Whether no question was added yet.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The topics in file order.
    pub fn finish(self) -> Vec<DraftTopic> {
        self.topics
    }
}

/// One question as an importer found it; ids are assigned by the dispatcher.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Draft {
    /// Plain text (already cleaned with [`text::plain`]).
    pub prompt: String,
    /// What answer the question expects.
    pub kind: Kind,
    /// Answer options with their correctness (answer-key formats only).
    pub options: Vec<super::AnswerOption>,
    /// Reference answer for the host.
    pub answer: String,
    /// Related questions the host can ask next.
    pub followups: Vec<String>,
    /// Talking points, continuation lines and verbatim code.
    pub notes: Vec<String>,
    /// 1-based source line.
    pub line: usize,
}

impl Draft {
    /// An open discussion question (the kind of every seed bank).
    pub fn open(prompt: String, line: usize) -> Draft {
        Draft {
            prompt,
            line,
            ..Draft::default()
        }
    }
}

/// One topic as an importer found it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DraftTopic {
    /// Heading titles, outermost first (empty: the bank's own topic).
    pub path: Vec<String>,
    /// Questions in file order.
    pub questions: Vec<Draft>,
}

/// What a layout importer returns; [`super::parse`] turns it into a [`super::Bank`]
/// (stable ids, empty topics dropped).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// Title found in the file (first heading), if any.
    pub title: Option<String>,
    /// Intro text that is not a question.
    pub description: String,
    /// Topics in file order; the same path may repeat (merged later).
    pub topics: Vec<DraftTopic>,
    /// Non-fatal findings for `quizroom check`.
    pub warnings: Vec<Warning>,
}

impl Draft {
    /// Turns a draft into a [`Question`] with the given stable id.
    pub fn into_question(self, id: String) -> Question {
        Question {
            id,
            prompt: self.prompt,
            kind: self.kind,
            options: self.options,
            answer: self.answer,
            followups: self.followups,
            notes: self.notes,
            line: self.line,
            points: Default::default(),
            time_limit_ms: None,
            mode: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_hide_headings() {
        let lines = ["## Topic", "```python", "# comment", "```", "- item"];
        let c = classify(&lines);
        assert!(matches!(c[0], Line::Heading { level: 2, .. }));
        assert_eq!(c[2], Line::Code("# comment"));
        assert_eq!(c[3], Line::Fence);
        assert!(matches!(c[4], Line::Item(_)));
    }

    #[test]
    fn setext_headings_and_rules() {
        let lines = ["Title", "---", "- a", "", "___", "text", "===="];
        let c = classify(&lines);
        assert_eq!(
            c[0],
            Line::Heading {
                level: 2,
                title: "Title",
                setext: true
            }
        );
        assert_eq!(c[1], Line::Underline);
        assert_eq!(c[4], Line::Rule);
        assert!(matches!(c[5], Line::Heading { level: 1, .. }));
    }

    #[test]
    fn lone_h1_is_the_title_and_grouping_headings_nest() {
        let lines = ["# Bank", "## A", "### B", "---", "### More:", "### 1. C"];
        let c = classify(&lines);
        let mut p = HeadingPath::new(&c);
        assert_eq!(p.title.as_deref(), Some("Bank"));
        assert!(!p.heading(1, "Bank", false));
        p.heading(2, "A", false);
        p.heading(3, "B", false);
        assert_eq!(p.path(), ["A", "B"]);
        p.reset();
        assert!(is_grouping_heading(&c, 4));
        p.heading(3, "More:", true);
        p.heading(3, "1. C", false);
        assert_eq!(p.path(), ["More", "C"]);
    }
}
