//! Importer for GIFT, Moodle's plain-text quiz format: the usual way
//! teachers move scored questions between tools.
//!
//! ```text
//! // comment
//! $CATEGORY: Python/Basics
//!
//! ::Q1:: Which type is immutable? {=tuple ~list ~dict}
//! Pick the primes {~%50%2 ~%50%3 ~%-100%4}
//! Python is interpreted. {T}
//! Name a falsy value {=None =0 =False}
//! Explain the GIL. {}
//! ```
//!
//! Questions are separated by blank lines; `\~ \= \# \{ \} \:` are escapes;
//! `#feedback` parts are ignored. Structural mistakes (an unclosed or stray
//! brace, two answer blocks) are [`BankError::Syntax`] errors with the line.

use super::doc::{Doc, Draft, Parsed};
use super::qa_heading::Topics;
use super::{text, AnswerOption, BankError, Kind, Warning};

/// How strongly the text looks like GIFT: most blank-line separated blocks
/// carry a GIFT answer block (`{=…}`, `{~…}`, `{T}`, `{#…}`) or start with a
/// `::title::`. Zero when no block does, so markdown with a stray brace is
/// never taken for GIFT.
pub fn score(doc: &Doc) -> u32 {
    let mut marked = 0u32;
    let mut total = 0u32;
    let mut category = false;
    for chunk in chunks(doc) {
        let body: Vec<&str> = chunk
            .iter()
            .map(|(_, l)| *l)
            .filter(|l| !is_category(l))
            .collect();
        if body.len() < chunk.len() {
            category = true;
        }
        if body.is_empty() {
            continue;
        }
        total += 1;
        let joined = body.join("\n");
        let titled = joined
            .trim_start()
            .strip_prefix("::")
            .is_some_and(|r| r.contains("::"));
        if titled || has_gift_block(&joined) {
            marked += 1;
        }
    }
    if marked == 0 {
        return 0;
    }
    let ratio = marked * 100 / total.max(1);
    let bonus = if category { 5 } else { 0 };
    (50 + ratio * 2 / 5 + bonus).min(95)
}

/// Parses a GIFT document: one question per blank-line separated block,
/// `$CATEGORY:` lines setting the topic path of what follows.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let mut parsed = Parsed::default();
    let mut path: Vec<String> = Vec::new();
    let mut topics = Topics::default();
    for chunk in chunks(doc) {
        let mut body = Vec::new();
        for (line, l) in chunk {
            if is_category(l) {
                path = category_path(l);
            } else {
                body.push((line, l));
            }
        }
        if body.is_empty() {
            continue;
        }
        match parse_question(doc.file, &body)? {
            Item::Question(draft, warnings) => {
                parsed.warnings.extend(warnings);
                topics.push(path.clone(), draft);
            }
            Item::Description(line) => parsed.warnings.push(Warning {
                line,
                message: "text without an answer block {…} is not a question; skipped".into(),
            }),
        }
    }
    parsed.topics = topics.into_vec();
    Ok(parsed)
}

/// Blank-line separated blocks of `(line number, text)`, comment lines
/// (`//…`) left out.
fn chunks<'a>(doc: &Doc<'a>) -> Vec<Vec<(usize, &'a str)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for (i, l) in doc.lines.iter().enumerate() {
        if l.trim_start().starts_with("//") {
            continue;
        }
        if l.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push((i + 1, *l));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn is_category(line: &str) -> bool {
    line.trim_start()
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("$category:"))
}

/// `$CATEGORY: $course$/top/Python/Basics` → `["Python", "Basics"]`: Moodle's
/// context markers and its root `top` are not topics.
fn category_path(line: &str) -> Vec<String> {
    let rest = line.trim_start().get(10..).unwrap_or("");
    let mut parts: Vec<String> = rest
        .split('/')
        .map(text::plain)
        .filter(|p| !p.is_empty())
        .filter(|p| !(p.len() > 1 && p.starts_with('$') && p.ends_with('$')))
        .collect();
    if parts.first().is_some_and(|p| p.eq_ignore_ascii_case("top")) {
        parts.remove(0);
    }
    parts
}

/// Whether `s` holds `{…}` whose inside reads as a GIFT answer block.
fn has_gift_block(s: &str) -> bool {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return false;
        };
        let inside = after[..close].trim();
        let head = inside.split('#').next().unwrap_or("").trim();
        if inside.starts_with(['=', '~', '#'])
            || ["T", "F", "TRUE", "FALSE"]
                .iter()
                .any(|w| head.eq_ignore_ascii_case(w))
        {
            return true;
        }
        rest = &after[close + 1..];
    }
    false
}

/// One character of a question block with its escape state and line, so
/// structure (`{ } = ~ # :`) is only read from unescaped characters.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    esc: bool,
    line: usize,
}

fn is(ch: &Ch, c: char) -> bool {
    !ch.esc && ch.c == c
}

fn to_chars(body: &[(usize, &str)]) -> Vec<Ch> {
    let mut out = Vec::new();
    for (n, (line, l)) in body.iter().enumerate() {
        if n > 0 {
            out.push(Ch {
                c: '\n',
                esc: false,
                line: *line,
            });
        }
        let mut it = l.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.peek().copied() {
                    Some(e @ ('~' | '=' | '#' | '{' | '}' | ':' | '\\')) => {
                        it.next();
                        out.push(Ch {
                            c: e,
                            esc: true,
                            line: *line,
                        });
                        continue;
                    }
                    Some('n') => {
                        it.next();
                        out.push(Ch {
                            c: '\n',
                            esc: true,
                            line: *line,
                        });
                        continue;
                    }
                    _ => {}
                }
            }
            out.push(Ch {
                c,
                esc: false,
                line: *line,
            });
        }
    }
    out
}

fn string(chars: &[Ch]) -> String {
    chars.iter().map(|c| c.c).collect()
}

/// Cleans question text: each line through [`text::plain`], lines joined
/// with spaces; a fenced code block is kept as it is, fences included,
/// each line on a line of its own, as the markdown importers keep code.
fn clean(chars: &[Ch], markup: bool) -> String {
    let s = string(chars);
    let mut parts: Vec<String> = Vec::new();
    let mut in_code = false;
    // Whether the last part is text that the next text line continues.
    let mut open_text = false;
    for l in s.split('\n') {
        if text::code_fence(l).is_some() {
            in_code = !in_code;
            open_text = false;
            parts.push(l.trim().to_string());
            continue;
        }
        if in_code {
            if !l.trim().is_empty() {
                parts.push(l.trim_end().to_string());
            }
            continue;
        }
        let line = if markup {
            text::plain_keeping_code(l)
        } else {
            text::collapse_whitespace(l)
        };
        if line.is_empty() {
            continue;
        }
        match parts.last_mut() {
            Some(last) if open_text => {
                last.push(' ');
                last.push_str(&line);
            }
            _ => parts.push(line),
        }
        open_text = true;
    }
    parts.join("\n")
}

enum Item {
    Question(Draft, Vec<Warning>),
    /// A block without answers (Moodle's "description"), at this line.
    Description(usize),
}

fn syntax(file: &str, line: usize, message: impl Into<String>) -> BankError {
    BankError::Syntax {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

fn skip_ws(chars: &[Ch], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| !c.esc && c.c.is_whitespace()) {
        i += 1;
    }
    i
}

fn parse_question(file: &str, body: &[(usize, &str)]) -> Result<Item, BankError> {
    let first_line = body.first().map(|(l, _)| *l).unwrap_or(1);
    let chars = to_chars(body);
    let mut i = skip_ws(&chars, 0);
    let mut warnings = Vec::new();

    // ::title::
    let mut title = String::new();
    if chars.get(i).is_some_and(|c| is(c, ':')) && chars.get(i + 1).is_some_and(|c| is(c, ':')) {
        let start = i + 2;
        let end = (start..chars.len().saturating_sub(1))
            .find(|&j| {
                chars.get(j).is_some_and(|c| is(c, ':'))
                    && chars.get(j + 1).is_some_and(|c| is(c, ':'))
            })
            .ok_or_else(|| {
                syntax(
                    file,
                    first_line,
                    "question title `::` is not closed with `::`",
                )
            })?;
        title = clean(chars.get(start..end).unwrap_or(&[]), false);
        i = skip_ws(&chars, end + 2);
    }

    // [markdown] / [html] / [plain] / [moodle]
    let mut markup = true;
    // Options are cleaned as markup only when the file says so: plain option
    // text such as `*args` or `1. x` must stay exactly as written.
    let mut rich = false;
    if chars.get(i).is_some_and(|c| is(c, '[')) {
        let rest = string(chars.get(i..).unwrap_or(&[]));
        for (tag, is_markup) in [
            ("[markdown]", true),
            ("[html]", true),
            ("[moodle]", true),
            ("[plain]", false),
        ] {
            if rest.len() >= tag.len()
                && rest
                    .get(..tag.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(tag))
            {
                i += tag.chars().count();
                markup = is_markup;
                rich = tag == "[markdown]" || tag == "[html]";
                break;
            }
        }
    }
    let rest = chars.get(i..).unwrap_or(&[]);

    // Exactly one balanced answer block.
    let mut open: Option<usize> = None;
    let mut block: Option<(usize, usize)> = None;
    for (j, c) in rest.iter().enumerate() {
        if is(c, '{') {
            if let Some(o) = open {
                let at = rest.get(o).map(|c| c.line).unwrap_or(first_line);
                return Err(syntax(
                    file,
                    c.line,
                    format!("`{{` inside the answer block opened at line {at}; escape it as \\{{"),
                ));
            }
            if block.is_some() {
                return Err(syntax(file, c.line, "a second answer block `{…}` in one question; separate questions with a blank line"));
            }
            open = Some(j);
        } else if is(c, '}') {
            match open.take() {
                Some(o) => block = Some((o, j)),
                None => {
                    return Err(syntax(
                        file,
                        c.line,
                        "`}` without an opening `{`; escape it as \\}",
                    ))
                }
            }
        }
    }
    if let Some(o) = open {
        let at = rest.get(o).map(|c| c.line).unwrap_or(first_line);
        return Err(syntax(
            file,
            at,
            "answer block `{` is not closed with `}` before the next blank line",
        ));
    }
    let Some((o, c)) = block else {
        return Ok(Item::Description(first_line));
    };
    let before = clean(rest.get(..o).unwrap_or(&[]), markup);
    let after = clean(rest.get(c + 1..).unwrap_or(&[]), markup);
    let inside = rest.get(o + 1..c).unwrap_or(&[]);
    let block_line = rest.get(o).map(|c| c.line).unwrap_or(first_line);

    let mut prompt = match (before.is_empty(), after.is_empty()) {
        (_, true) => before,
        (true, false) => after,
        (false, false) => format!("{before} _____ {after}"),
    };
    if prompt.is_empty() {
        if title.is_empty() {
            return Err(syntax(file, first_line, "question has no text"));
        }
        warnings.push(Warning {
            line: first_line,
            message: "question has no text; its title is used as the prompt".into(),
        });
        prompt = title;
    }

    let mut draft = Draft {
        prompt,
        line: first_line,
        ..Draft::default()
    };
    answers(file, block_line, inside, rich, &mut draft, &mut warnings)?;
    Ok(Item::Question(draft, warnings))
}

/// One `=`/`~` entry of an answer block.
struct Entry {
    correct_mark: bool,
    weight: Option<f64>,
    text: String,
    line: usize,
}

/// Reads an answer block into kind, options and answer.
fn answers(
    file: &str,
    line: usize,
    inside: &[Ch],
    rich: bool,
    draft: &mut Draft,
    warnings: &mut Vec<Warning>,
) -> Result<(), BankError> {
    // General feedback (`####text`, last in the block) is the question's
    // reference answer.
    let feedback_at = (0..inside.len()).find(|&i| {
        inside
            .get(i..i + 4)
            .is_some_and(|w| w.iter().all(|c| is(c, '#')))
    });
    let (inside, feedback) = match feedback_at {
        Some(at) => (
            inside.get(..at).unwrap_or(&[]),
            text::collapse_whitespace(&string(inside.get(at + 4..).unwrap_or(&[]))),
        ),
        None => (inside, String::new()),
    };
    let start = skip_ws(inside, 0);
    let body = inside.get(start..).unwrap_or(&[]);
    answers_of(file, line, body, rich, draft, warnings)?;
    if !feedback.is_empty() {
        draft.answer = feedback;
    }
    Ok(())
}

/// Reads the answers of a block (general feedback already taken off).
fn answers_of(
    file: &str,
    line: usize,
    body: &[Ch],
    rich: bool,
    draft: &mut Draft,
    warnings: &mut Vec<Warning>,
) -> Result<(), BankError> {
    if body.is_empty() {
        draft.kind = Kind::Open;
        return Ok(());
    }
    // Feedback after the first unescaped `#` is ignored (T/F and numeric).
    let head_end = body.iter().position(|c| is(c, '#')).unwrap_or(body.len());
    let head = string(body.get(..head_end).unwrap_or(&[]))
        .trim()
        .to_ascii_uppercase();
    if let Some(truth) = match head.as_str() {
        "T" | "TRUE" => Some(true),
        "F" | "FALSE" => Some(false),
        _ => None,
    } {
        draft.kind = Kind::Truefalse;
        draft.options = vec![
            AnswerOption {
                text: "True".into(),
                correct: truth,
                weight: None,
            },
            AnswerOption {
                text: "False".into(),
                correct: !truth,
                weight: None,
            },
        ];
        draft.answer = if truth { "True" } else { "False" }.into();
        return Ok(());
    }
    if body.first().is_some_and(|c| is(c, '#')) {
        let value = text::collapse_whitespace(&string(body.get(1..).unwrap_or(&[])));
        if value.is_empty() {
            return Err(syntax(file, line, "numeric answer `{#…}` has no number"));
        }
        draft.kind = Kind::Short;
        draft.options = vec![AnswerOption {
            text: value.clone(),
            correct: true,
            weight: None,
        }];
        draft.answer = value;
        warnings.push(Warning {
            line,
            message: "numeric answer imported as a short answer (exact text)".into(),
        });
        return Ok(());
    }

    let entries = entries(file, line, body, rich)?;
    let any_wrong = entries.iter().any(|e| !e.correct_mark);
    let any_weight = entries.iter().any(|e| e.weight.is_some());
    if !any_wrong && entries.iter().any(|e| e.text.contains("->")) {
        draft.kind = Kind::Open;
        draft.answer = entries
            .iter()
            .map(|e| e.text.replace("->", "→"))
            .collect::<Vec<_>>()
            .join("\n");
        warnings.push(Warning {
            line,
            message: "matching question imported as an open question; the pairs are its answer"
                .into(),
        });
        return Ok(());
    }
    let options: Vec<AnswerOption> = entries
        .iter()
        .map(|e| {
            let weight = e.weight.unwrap_or(if e.correct_mark { 100.0 } else { 0.0 });
            AnswerOption {
                text: e.text.clone(),
                correct: weight > 0.0,
                weight: any_weight.then_some(weight),
            }
        })
        .collect();
    if any_wrong {
        let correct = options.iter().filter(|o| o.correct).count();
        draft.kind = if correct > 1 {
            Kind::Multi
        } else {
            Kind::Choice
        };
        if correct == 0 {
            warnings.push(Warning {
                line,
                message: "no answer is marked correct (`=` or a positive `%weight%`)".into(),
            });
        }
    } else {
        draft.kind = Kind::Short;
        draft.answer = options
            .iter()
            .map(|o| o.text.as_str())
            .collect::<Vec<_>>()
            .join(" / ");
    }
    if let Some(e) = entries
        .iter()
        .find(|e| e.weight.is_some_and(|w| !(-100.0..=100.0).contains(&w)))
    {
        warnings.push(Warning {
            line: e.line,
            message: "answer weight outside -100%..100%".into(),
        });
    }
    draft.options = options;
    Ok(())
}

/// Splits an answer block at unescaped `=` / `~`, reading `%weight%` and
/// dropping `#feedback`.
fn entries(file: &str, line: usize, body: &[Ch], rich: bool) -> Result<Vec<Entry>, BankError> {
    let mut starts: Vec<usize> = body
        .iter()
        .enumerate()
        .filter(|(_, c)| is(c, '=') || is(c, '~'))
        .map(|(j, _)| j)
        .collect();
    let first = starts.first().copied().unwrap_or(body.len());
    let lead = string(body.get(..first).unwrap_or(&[]));
    if !lead.trim().is_empty() {
        let at = body.first().map(|c| c.line).unwrap_or(line);
        return Err(syntax(
            file,
            at,
            format!(
                "answer block must start with `=` or `~`, `T`/`F`, `#` or be empty; found `{}`",
                lead.trim()
            ),
        ));
    }
    starts.push(body.len());
    let mut out = Vec::new();
    for pair in starts.windows(2) {
        let (Some(&s), Some(&e)) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let Some(mark) = body.get(s) else { continue };
        let mut item = body.get(s + 1..e).unwrap_or(&[]);
        if let Some(fb) = item.iter().position(|c| is(c, '#')) {
            item = item.get(..fb).unwrap_or(&[]);
        }
        let k = skip_ws(item, 0);
        item = item.get(k..).unwrap_or(&[]);
        let mut weight = None;
        if item.first().is_some_and(|c| is(c, '%')) {
            let close = item
                .iter()
                .skip(1)
                .position(|c| is(c, '%'))
                .map(|p| p + 1)
                .ok_or_else(|| {
                    syntax(file, mark.line, "answer weight `%…` is not closed with `%`")
                })?;
            let w = string(item.get(1..close).unwrap_or(&[]));
            weight = Some(w.trim().parse::<f64>().map_err(|_| {
                syntax(
                    file,
                    mark.line,
                    format!("answer weight `%{w}%` is not a number"),
                )
            })?);
            item = item.get(close + 1..).unwrap_or(&[]);
        }
        let text = if rich {
            text::plain(&string(item))
        } else {
            text::collapse_whitespace(&string(item))
        };
        if text.is_empty() {
            return Err(syntax(
                file,
                mark.line,
                format!("empty answer after `{}`", mark.c),
            ));
        }
        out.push(Entry {
            correct_mark: mark.c == '=',
            weight,
            text,
            line: mark.line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Result<Parsed, BankError> {
        parse(&Doc::new("t.gift", src))
    }

    fn questions(p: &Parsed) -> Vec<&Draft> {
        p.topics.iter().flat_map(|t| t.questions.iter()).collect()
    }

    fn syntax_line(r: Result<Parsed, BankError>) -> usize {
        match r {
            Err(BankError::Syntax { line, file, .. }) => {
                assert_eq!(file, "t.gift");
                line
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    const SAMPLE: &str = "// A comment line\n\
$CATEGORY: $course$/top/Python/Basics\n\
\n\
::Q1:: Which type is **immutable**? {=tuple ~list #no, mutable ~dict}\n\
\n\
::Primes::Pick the primes {\n\
  ~%50%2\n\
  ~%50%3 #yes\n\
  ~%-100%4\n\
}\n\
\n\
Python is interpreted.{T}\n\
\n\
Integer division by zero raises no error. {FALSE #it raises}\n\
\n\
$CATEGORY: Python/Advanced\n\
\n\
Name a falsy value {=None =0 =False}\n\
\n\
Explain the GIL. {}\n\
\n\
Use \\{\\} for a dict and \\= to assign; 1 \\~ 2 \\# x \\: y {=ok ~no}\n";

    #[test]
    fn every_gift_question_kind_is_read() {
        let p = run(SAMPLE).unwrap();
        let paths: Vec<Vec<String>> = p.topics.iter().map(|t| t.path.clone()).collect();
        assert_eq!(
            paths,
            vec![vec!["Python", "Basics"], vec!["Python", "Advanced"]]
        );
        let qs = questions(&p);
        assert_eq!(qs.len(), 7);

        let q1 = qs[0];
        assert_eq!(q1.prompt, "Which type is immutable?");
        assert_eq!(q1.kind, Kind::Choice);
        assert_eq!(q1.line, 4);
        let texts: Vec<(&str, bool)> = q1
            .options
            .iter()
            .map(|o| (o.text.as_str(), o.correct))
            .collect();
        assert_eq!(
            texts,
            vec![("tuple", true), ("list", false), ("dict", false)]
        );
        assert!(q1.options.iter().all(|o| o.weight.is_none()));

        let q2 = qs[1];
        assert_eq!(q2.prompt, "Pick the primes");
        assert_eq!(q2.kind, Kind::Multi);
        let w: Vec<(Option<f64>, bool)> =
            q2.options.iter().map(|o| (o.weight, o.correct)).collect();
        assert_eq!(
            w,
            vec![
                (Some(50.0), true),
                (Some(50.0), true),
                (Some(-100.0), false)
            ]
        );

        assert_eq!(qs[2].kind, Kind::Truefalse);
        assert_eq!(qs[2].prompt, "Python is interpreted.");
        let tf: Vec<(&str, bool)> = qs[2]
            .options
            .iter()
            .map(|o| (o.text.as_str(), o.correct))
            .collect();
        assert_eq!(tf, vec![("True", true), ("False", false)]);
        assert_eq!(qs[3].kind, Kind::Truefalse);
        assert!(qs[3].options[1].correct);

        let short = qs[4];
        assert_eq!(short.kind, Kind::Short);
        assert!(short.options.iter().all(|o| o.correct));
        assert_eq!(short.answer, "None / 0 / False");

        assert_eq!(qs[5].kind, Kind::Open);
        assert!(qs[5].options.is_empty());

        assert_eq!(
            qs[6].prompt,
            "Use {} for a dict and = to assign; 1 ~ 2 # x : y"
        );
        assert_eq!(qs[6].options.len(), 2);
    }

    #[test]
    fn the_title_is_not_the_prompt_and_feedback_is_dropped() {
        let p = run("::Capital::What is the capital of France? {=Paris#right! ~Lyon#no}").unwrap();
        let q = questions(&p)[0];
        assert_eq!(q.prompt, "What is the capital of France?");
        assert_eq!(q.options[0].text, "Paris");
        assert_eq!(q.options[1].text, "Lyon");
    }

    #[test]
    fn moodle_html_export_is_read_as_plain_text() {
        let src = "// question: 12  name: Q1\n::Q1::[html]<p>Which is <b>mutable</b>?</p>{\n\t=<p>list</p>\n\t~<p>tuple</p>\n}\n";
        let p = run(src).unwrap();
        let q = questions(&p)[0];
        assert_eq!(q.prompt, "Which is mutable?");
        let opts: Vec<&str> = q.options.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(opts, vec!["list", "tuple"]);
    }

    #[test]
    fn missing_word_keeps_both_halves_of_the_sentence() {
        let p = run("The {=GIL ~GC} serializes bytecode in CPython.").unwrap();
        assert_eq!(
            questions(&p)[0].prompt,
            "The _____ serializes bytecode in CPython."
        );
    }

    #[test]
    fn multi_line_questions_are_one_question() {
        let p = run("::A::\nWhat does\nthis print?\n{\n=1\n~2\n}\n\n::B:: Next {T}\n").unwrap();
        let qs = questions(&p);
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].prompt, "What does this print?");
        assert_eq!(qs[0].line, 1);
        assert_eq!(qs[1].line, 9);
    }

    #[test]
    fn unterminated_brace_is_an_error_at_its_line() {
        assert_eq!(
            syntax_line(run("Q1 {=a ~b}\n\nQ2 is\nbroken {=a ~b\n\nQ3 {T}")),
            4
        );
    }

    #[test]
    fn stray_nested_and_double_braces_are_errors() {
        assert_eq!(syntax_line(run("Q} {=a}")), 1);
        assert_eq!(syntax_line(run("Q {=a\n{ ~b}")), 2);
        assert_eq!(syntax_line(run("Q {=a ~b}\nand {=c ~d}")), 2);
        assert_eq!(syntax_line(run("::unclosed title {=a}")), 1);
        assert_eq!(syntax_line(run("Q {=a ~}")), 1);
        assert_eq!(syntax_line(run("Q {x =a ~b}")), 1);
        assert_eq!(syntax_line(run("Q {~%abc%a =b}")), 1);
    }

    #[test]
    fn text_without_answers_is_a_warning_not_a_question() {
        let p = run("Just an introduction.\n\nQ {T}").unwrap();
        assert_eq!(questions(&p).len(), 1);
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].line, 1);
    }

    #[test]
    fn scores_gift_high_and_markdown_zero() {
        assert!(score(&Doc::new("a", SAMPLE)) >= 80);
        assert_eq!(
            score(&Doc::new(
                "b",
                "# Title\n\nWhat is a dict {}?\n\n- [ ] item\n"
            )),
            0
        );
        assert_eq!(score(&Doc::new("c", "Plain question?\nAnother one?\n")), 0);
    }
}

#[cfg(test)]
mod seed_tests {
    use super::*;

    #[test]
    fn classroom_seed_has_keys_for_every_question() {
        let src = include_str!("../../../seeds/classroom.gift");
        let p = parse(&Doc::new("classroom.gift", src)).unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(p.topics.len(), 3);
        let qs: Vec<&Draft> = p.topics.iter().flat_map(|t| &t.questions).collect();
        assert_eq!(qs.len(), 18);
        for kind in [Kind::Choice, Kind::Multi, Kind::Truefalse, Kind::Short] {
            assert!(qs.iter().any(|q| q.kind == kind), "no {kind:?} question");
        }
        for q in &qs {
            assert!(q.options.iter().any(|o| o.correct), "no key: {}", q.prompt);
        }
        assert!(score(&Doc::new("classroom.gift", src)) >= 90);
    }
}
