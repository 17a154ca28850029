//! Importer for markdown multiple choice: a question followed by task-list
//! options where `[x]` marks the right ones.
//!
//! ```text
//! ## Python
//! 1. Which type is immutable?
//!    - [ ] list
//!    - [x] tuple
//! ```
//!
//! One `[x]` makes a `choice` question, several a `multi` one, a `True` /
//! `False` pair a `truefalse` one. A checklist with no `[x]` anywhere is a
//! discussion checklist (the `checklist` layout), so this layout does not
//! claim it.
//!
//! A question with no options may be followed by a label line instead:
//! `Answer: …` makes it an open question with that reference answer (an
//! empty one after `Answer:` alone), `Accepted: a | b` a short answer
//! accepting each of `a`, `b`. A file that starts with [`MARKER`] (as the
//! library's markdown export does) is this layout even without any `[x]`.

use super::doc::{Doc, Draft, Parsed};
use super::qa_heading::{
    classify, is_question_title, sole_title, strip_question_label, Line, Topics,
};
use super::{text, AnswerOption, BankError, Kind, Warning};

/// How strongly the text looks like this layout: option groups of at least
/// two checkbox items with an `[x]`, asked by a question (a paragraph or a
/// heading ending with `?`). Zero without any `[x]`; low when the groups
/// only sit under plain headings, which is a progress checklist, not a quiz.
pub fn score(doc: &Doc) -> u32 {
    if doc.text.trim_start().starts_with(MARKER) {
        return 100;
    }
    let lines = classify(doc);
    let mut tally = GroupTally::default();
    let mut group = (0u32, false);
    // Whether the last thing before the current group asks a question.
    let mut asked = false;
    let mut group_asked = false;
    for l in &lines {
        let checked = match l {
            Line::Text(t) => text::list_item(t).and_then(|i| i.checked),
            _ => None,
        };
        if let Some(c) = checked {
            if group.0 == 0 {
                group_asked = asked;
            }
            group = (group.0 + 1, group.1 || c);
            continue;
        }
        if matches!(l, Line::Blank) {
            continue;
        }
        tally.close(group, group_asked);
        group = (0, false);
        asked = match l {
            Line::Heading { title, .. } => is_question_title(title),
            Line::Text(_) | Line::Code(_) => true,
            Line::Blank => asked,
        };
    }
    tally.close(group, group_asked);
    match (tally.marked, tally.asked) {
        (0, _) => 0,
        (_, 0) => 20,
        (_, a) => (50 + 45 * a / tally.groups.max(1)).min(95),
    }
}

/// Option groups seen by [`score`].
#[derive(Default)]
struct GroupTally {
    groups: u32,
    marked: u32,
    asked: u32,
}

impl GroupTally {
    fn close(&mut self, group: (u32, bool), asked: bool) {
        if group.0 < 2 {
            return;
        }
        self.groups += 1;
        if group.1 {
            self.marked += 1;
            if asked {
                self.asked += 1;
            }
        }
    }
}

/// A question being read: its text lines, code shown with it, start line.
#[derive(Default)]
struct Pending {
    text: Vec<String>,
    code: Vec<String>,
    /// The language its code fence names (` ```python `), if any.
    lang: String,
    line: usize,
}

/// First line of a markdown quiz written by the library's export: it names
/// the layout, so a quiz of only open questions still reads as one.
pub const MARKER: &str = "<!-- quizroom markdown quiz -->";

/// What a label line after an option-less question says.
enum Label {
    /// `Answer: …`: an open question with this reference answer.
    Answer(String),
    /// `Accepted: a | b`: a short answer with these accepted answers.
    Accepted(Vec<String>),
}

fn label(line: &str) -> Option<Label> {
    let plain = text::plain(line);
    let lower = plain.to_lowercase();
    let rest = |label: &str| plain.get(label.len()..).map(|r| r.trim().to_string());
    for l in ["answer:", "ответ:"] {
        if lower.starts_with(l) {
            return rest(l).map(Label::Answer);
        }
    }
    for l in ["accepted:", "принимается:"] {
        if lower.starts_with(l) {
            let answers: Vec<String> = rest(l)?
                .split(" | ")
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            return (!answers.is_empty()).then_some(Label::Accepted(answers));
        }
    }
    None
}

/// Parses question paragraphs (or a heading directly above the options)
/// followed by `- [x]` / `- [ ]` options.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let lines = classify(doc);
    let mut parsed = Parsed::default();
    let title_idx = sole_title(&lines);
    let mut stack: Vec<(u8, String)> = Vec::new();
    // The last heading, while nothing but blank lines followed it: it is the
    // question when options come right under it.
    let mut bare_heading: Option<(String, usize)> = None;
    let mut pending: Option<Pending> = None;
    let mut in_para = false;
    let mut options: Vec<(usize, usize, bool, String)> = Vec::new(); // line, indent, correct, text
    let mut notes: Vec<String> = Vec::new();
    // Index of the last question in the last topic, for notes after options.
    let mut last_question: Option<(usize, usize)> = None;
    let mut topics = Topics::default();

    let mut i = 0;
    loop {
        let line = lines.get(i);
        let option = match line {
            Some(Line::Text(t)) => text::list_item(t).and_then(|it| it.checked.map(|c| (it, c))),
            _ => None,
        };
        if let Some((item, checked)) = option {
            options.push((i + 1, item.indent, checked, text::plain(item.text)));
            i += 1;
            continue;
        }
        let ends_group = !matches!(line, Some(Line::Blank));
        if !options.is_empty() && ends_group {
            // An indented plain bullet under the options explains one of them.
            if let Some(Line::Text(t)) = line {
                let base = options.first().map_or(0, |o| o.1);
                if text::list_item(t).is_some_and(|it| it.indent > base)
                    || t.trim_start().starts_with('>')
                {
                    notes.push(text::plain(t));
                    i += 1;
                    continue;
                }
            }
            let question = match (pending.take(), bare_heading.take()) {
                (Some(p), _) => Some((p, false)),
                (None, Some((title, n))) => Some((
                    Pending {
                        text: vec![title],
                        code: Vec::new(),
                        lang: String::new(),
                        line: n,
                    },
                    true,
                )),
                (None, None) => None,
            };
            match question {
                Some((q, from_heading)) => {
                    if from_heading {
                        stack.pop();
                    }
                    let path: Vec<String> = stack.iter().map(|(_, t)| t.clone()).collect();
                    let draft = build(
                        q,
                        std::mem::take(&mut options),
                        std::mem::take(&mut notes),
                        &mut parsed.warnings,
                    );
                    last_question = Some(topics.push(path, draft));
                }
                None => {
                    let at = options.first().map_or(i + 1, |o| o.0);
                    parsed.warnings.push(Warning {
                        line: at,
                        message: "options without a question above them; skipped".into(),
                    });
                    options.clear();
                    notes.clear();
                }
            }
            in_para = false;
            // Explanations right after the options belong to that question.
            if let Some(Line::Text(t)) = line {
                if let Some(note) = explanation(t) {
                    if let Some(q) = last_question.and_then(|at| topics.get_mut(at)) {
                        if q.answer.is_empty() {
                            q.answer = note;
                        } else {
                            q.notes.push(note);
                        }
                    }
                    i += 1;
                    continue;
                }
            }
        }
        let Some(line) = line else { break };
        match line {
            Line::Heading {
                level,
                title,
                line: n,
                ..
            } => {
                pending = None;
                in_para = false;
                last_question = None;
                if Some(i) == title_idx {
                    parsed.title = Some(title.clone());
                } else {
                    stack.retain(|(l, _)| l < level);
                    stack.push((*level, title.clone()));
                    bare_heading = Some((title.clone(), *n));
                }
            }
            Line::Blank => {
                in_para = false;
                // A fence opening the question's code names its language.
                let raw = doc.lines.get(i).copied().unwrap_or("");
                if let (Some((c, _)), Some(p)) = (text::code_fence(raw), pending.as_mut()) {
                    let lang = raw.trim().trim_start_matches(c).trim();
                    if p.code.is_empty() && p.lang.is_empty() {
                        p.lang = lang.to_string();
                    }
                }
            }
            Line::Code(c) => {
                if let Some(p) = pending.as_mut() {
                    p.code.push(c.to_string());
                }
                bare_heading = None;
            }
            Line::Text(t) => {
                bare_heading = None;
                last_question = None;
                if let Some(found) = pending.as_ref().and_then(|_| label(t)) {
                    if let Some(q) = pending.take() {
                        let path: Vec<String> = stack.iter().map(|(_, t)| t.clone()).collect();
                        topics.push(path, labelled(q, found));
                    }
                    in_para = false;
                    i += 1;
                    continue;
                }
                let cleaned = text::plain_keeping_code(t);
                if cleaned.is_empty() {
                    i += 1;
                    continue;
                }
                match pending.as_mut() {
                    Some(p) if in_para => p.text.push(cleaned),
                    _ => {
                        pending = Some(Pending {
                            text: vec![cleaned],
                            code: Vec::new(),
                            lang: String::new(),
                            line: i + 1,
                        })
                    }
                }
                in_para = true;
            }
        }
        i += 1;
    }
    parsed.topics = topics.into_vec();
    Ok(parsed)
}

/// An option-less question with its label line as a draft.
fn labelled(q: Pending, label: Label) -> Draft {
    let mut draft = build(q, Vec::new(), Vec::new(), &mut Vec::new());
    match label {
        Label::Answer(answer) => {
            draft.kind = Kind::Open;
            draft.answer = answer;
        }
        Label::Accepted(answers) => {
            draft.kind = Kind::Short;
            draft.answer = answers.join(" / ");
            draft.options = answers
                .into_iter()
                .map(|text| AnswerOption {
                    text,
                    correct: true,
                    weight: None,
                })
                .collect();
        }
    }
    draft
}

/// Whether options are a keyed true/false pair (in English or Russian).
fn true_false(options: &[(usize, usize, bool, String)]) -> bool {
    let texts: Vec<&str> = options.iter().map(|o| o.3.as_str()).collect();
    options.iter().filter(|o| o.2).count() == 1 && text::is_true_false(&texts)
}

/// Turns a question and its options into a draft.
fn build(
    q: Pending,
    options: Vec<(usize, usize, bool, String)>,
    notes: Vec<String>,
    warnings: &mut Vec<Warning>,
) -> Draft {
    let correct = options.iter().filter(|o| o.2).count();
    if correct == 0 {
        warnings.push(Warning {
            line: q.line,
            message: "no option is marked [x]; nothing scores".into(),
        });
    }
    if options.len() < 2 {
        warnings.push(Warning {
            line: q.line,
            message: "a choice question with a single option".into(),
        });
    }
    let mut prompt = strip_question_label(&q.text.join(" ")).to_string();
    if !q.code.is_empty() {
        // Code the question asks about is part of what players must see,
        // as a fenced block so it shows in monospace.
        prompt.push_str(&format!("\n```{}\n{}\n```", q.lang, q.code.join("\n")));
    }
    Draft {
        prompt,
        kind: if correct > 1 {
            Kind::Multi
        } else if true_false(&options) {
            Kind::Truefalse
        } else {
            Kind::Choice
        },
        options: options
            .into_iter()
            .map(|(_, _, correct, text)| AnswerOption {
                text,
                correct,
                weight: None,
            })
            .collect(),
        notes,
        line: q.line,
        ..Draft::default()
    }
}

/// `Answer: …`, `Explanation: …` or `> …` right after a question's options.
fn explanation(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with('>') {
        return Some(text::plain(t)).filter(|s| !s.is_empty());
    }
    let plain = text::plain(t);
    let lower = plain.to_lowercase();
    for label in ["answer:", "explanation:", "ответ:", "пояснение:"] {
        if lower.starts_with(label) {
            return plain
                .get(label.len()..)
                .map(|r| r.trim().to_string())
                .filter(|s| !s.is_empty());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Parsed {
        parse(&Doc::new("mc.md", src)).unwrap()
    }

    fn questions(p: &Parsed) -> Vec<&Draft> {
        p.topics.iter().flat_map(|t| &t.questions).collect()
    }

    const SAMPLE: &str = "# Python quiz\n\
\n\
## Types\n\
\n\
1. Which type is **immutable**?\n\
   - [ ] list\n\
   - [x] tuple\n\
   - [ ] dict\n\
\n\
2. Which are sequences?\n\
\n\
- [x] list\n\
- [X] str\n\
- [ ] set\n\
\n\
Explanation: sets have no order.\n\
\n\
## Output\n\
What does this print?\n\
```python\n\
print(1 + 1)\n\
```\n\
- [x] `2`\n\
- [ ] `11`\n\
\n\
### Is None falsy?\n\
- [x] yes\n\
- [ ] no\n";

    #[test]
    fn questions_with_checkbox_options_are_read() {
        let p = run(SAMPLE);
        assert_eq!(p.title.as_deref(), Some("Python quiz"));
        let paths: Vec<Vec<String>> = p.topics.iter().map(|t| t.path.clone()).collect();
        assert_eq!(paths, vec![vec!["Types"], vec!["Output"]]);
        let qs = questions(&p);
        assert_eq!(qs.len(), 4);
        assert_eq!(qs[0].prompt, "Which type is immutable?");
        assert_eq!(qs[0].kind, Kind::Choice);
        assert_eq!(qs[0].line, 5);
        let opts: Vec<(&str, bool)> = qs[0]
            .options
            .iter()
            .map(|o| (o.text.as_str(), o.correct))
            .collect();
        assert_eq!(
            opts,
            vec![("list", false), ("tuple", true), ("dict", false)]
        );
        assert_eq!(qs[1].prompt, "Which are sequences?");
        assert_eq!(qs[1].kind, Kind::Multi);
        assert_eq!(qs[1].answer, "sets have no order.");
        assert_eq!(
            qs[2].prompt,
            "What does this print?\n```python\nprint(1 + 1)\n```"
        );
        assert_eq!(qs[2].options[0].text, "2");
        // A heading directly above options is the question itself.
        assert_eq!(qs[3].prompt, "Is None falsy?");
        assert_eq!(qs[3].line, 26);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn options_without_any_correct_mark_warn() {
        let p = run("Pick one?\n- [ ] a\n- [ ] b\n\nOther?\n- [x] c\n- [ ] d\n");
        assert_eq!(questions(&p).len(), 2);
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].line, 1);
    }

    #[test]
    fn scores_zero_for_a_checklist_without_any_x() {
        let checklist = "# Core\n## GIL\n- [ ] How the GIL works\n- [ ] Garbage collector\n## Async\n- [ ] Event loop\n- [ ] Race condition\n";
        assert_eq!(score(&Doc::new("c", checklist)), 0);
        // Ticked items under plain headings are progress, not answers.
        let progress = checklist.replace("- [ ] How", "- [x] How");
        assert!(score(&Doc::new("p", &progress)) <= 20);
        assert!(score(&Doc::new("m", SAMPLE)) >= 90);
    }
}
