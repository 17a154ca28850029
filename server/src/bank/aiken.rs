//! Importer for Aiken, the simplest multiple-choice exchange format (Moodle
//! and many quiz tools export it):
//!
//! ```text
//! What is the capital of France?
//! A. Lyon
//! B) Paris
//! ANSWER: B
//! ```
//!
//! A question without its `ANSWER:` line, or an answer letter with no such
//! option, is a [`BankError::Syntax`] error at that line: guessing would
//! score players against the wrong key.

use super::doc::{Doc, Draft, DraftTopic, Parsed};
use super::{text, AnswerOption, BankError, Kind};

/// How strongly the text looks like Aiken: `ANSWER: X` lines right after
/// lettered options. Lettered option groups without any `ANSWER:` line
/// score low, so a file that is clearly meant as Aiken but lacks its key
/// gets a precise error when no other layout fits better.
pub fn score(doc: &Doc) -> u32 {
    let mut answers = 0u32;
    let mut groups = 0u32;
    let mut prev_option = false;
    for l in &doc.lines {
        if answer_line(l).is_some() {
            if prev_option {
                answers += 1;
            }
            prev_option = false;
        } else if let Some((letter, _)) = option_line(l) {
            if letter == 'A' {
                groups += 1;
            }
            prev_option = true;
        } else if !l.trim().is_empty() {
            prev_option = false;
        }
    }
    match (answers, groups) {
        (0, 0) => 0,
        (0, _) => 20,
        (a, g) => (60 + 35 * a.min(g) / g.max(1)).min(95),
    }
}

/// Parses an Aiken document into one untitled topic of choice questions.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let syntax = |line: usize, message: String| BankError::Syntax {
        file: doc.file.to_string(),
        line,
        message,
    };
    let mut questions = Vec::new();
    // The question being read: its first line, text lines and options.
    let mut prompt: Vec<&str> = Vec::new();
    let mut start = 0usize;
    let mut options: Vec<(usize, String)> = Vec::new();
    for (i, l) in doc.lines.iter().enumerate() {
        let n = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        if let Some(letters) = answer_line(l) {
            if prompt.is_empty() {
                return Err(syntax(n, "`ANSWER:` without a question above it".into()));
            }
            if options.len() < 2 {
                return Err(syntax(n, format!("the question at line {start} needs at least two options (A., B., …) before `ANSWER:`")));
            }
            let mut correct = vec![false; options.len()];
            for letter in letters.chars() {
                let idx = (letter as usize).wrapping_sub('A' as usize);
                match correct.get_mut(idx) {
                    Some(c) => *c = true,
                    None => {
                        let last = char::from(b'A' + (options.len() - 1).min(25) as u8);
                        return Err(syntax(
                            n,
                            format!("answer {letter} is not one of the options A–{last}"),
                        ));
                    }
                }
            }
            let picked = correct.iter().filter(|c| **c).count();
            questions.push(Draft {
                prompt: text::plain(&prompt.join(" ")),
                kind: if picked > 1 {
                    Kind::Multi
                } else {
                    Kind::Choice
                },
                options: options
                    .drain(..)
                    .zip(correct)
                    .map(|((_, text), correct)| AnswerOption {
                        text,
                        correct,
                        weight: None,
                    })
                    .collect(),
                line: start,
                ..Draft::default()
            });
            prompt.clear();
            continue;
        }
        let expected = char::from(b'A' + options.len().min(25) as u8);
        match option_line(l) {
            Some((letter, text)) if letter == expected && !prompt.is_empty() => {
                options.push((n, text));
            }
            _ if !options.is_empty() => {
                return Err(syntax(
                    start,
                    format!("the question at line {start} has no `ANSWER:` line after its options"),
                ));
            }
            _ => {
                if prompt.is_empty() {
                    start = n;
                }
                prompt.push(l.trim());
            }
        }
    }
    if !prompt.is_empty() {
        let message = if options.is_empty() {
            format!("the question at line {start} has no options and no `ANSWER:` line")
        } else {
            format!("the question at line {start} has no `ANSWER:` line after its options")
        };
        return Err(syntax(start, message));
    }
    let mut parsed = Parsed::default();
    if !questions.is_empty() {
        parsed.topics.push(DraftTopic {
            path: Vec::new(),
            questions,
        });
    }
    Ok(parsed)
}

/// `A. text` or `A) text` (capital letter, then `.` or `)`, then a blank).
fn option_line(line: &str) -> Option<(char, String)> {
    let t = line.trim();
    let mut chars = t.chars();
    let letter = chars.next().filter(|c| c.is_ascii_uppercase())?;
    let mark = chars.next()?;
    if mark != '.' && mark != ')' {
        return None;
    }
    let rest = chars.as_str();
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = text::plain(rest);
    (!text.is_empty()).then_some((letter, text))
}

/// `ANSWER: B` (also `Answer: b`, `ANSWER: A, C`): the correct letters.
fn answer_line(line: &str) -> Option<String> {
    let t = line.trim();
    let head = t.get(..7)?;
    if !head.eq_ignore_ascii_case("answer:") {
        return None;
    }
    let letters: String = t
        .get(7..)?
        .split([',', ' ', ';'])
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_uppercase())
        .collect();
    let valid = !letters.is_empty() && letters.chars().all(|c| c.is_ascii_uppercase());
    valid.then_some(letters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Result<Parsed, BankError> {
        parse(&Doc::new("t.txt", src))
    }

    fn error_line(r: Result<Parsed, BankError>) -> (usize, String) {
        match r {
            Err(BankError::Syntax { line, message, .. }) => (line, message),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    const SAMPLE: &str = "What is the capital of France?\nA. Lyon\nB. Paris\nC. Nice\nANSWER: B\n\nWhich are **even**?\nA) 2\nB) 3\nC) 4\nANSWER: A, C\n";

    #[test]
    fn reads_questions_options_and_keys() {
        let p = run(SAMPLE).unwrap();
        let qs: Vec<&Draft> = p.topics.iter().flat_map(|t| &t.questions).collect();
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].prompt, "What is the capital of France?");
        assert_eq!(qs[0].kind, Kind::Choice);
        assert_eq!(qs[0].line, 1);
        let opts: Vec<(&str, bool)> = qs[0]
            .options
            .iter()
            .map(|o| (o.text.as_str(), o.correct))
            .collect();
        assert_eq!(
            opts,
            vec![("Lyon", false), ("Paris", true), ("Nice", false)]
        );
        assert_eq!(qs[1].prompt, "Which are even?");
        assert_eq!(qs[1].kind, Kind::Multi);
        assert_eq!(qs[1].line, 7);
        let correct: Vec<bool> = qs[1].options.iter().map(|o| o.correct).collect();
        assert_eq!(correct, vec![true, false, true]);
    }

    #[test]
    fn missing_answer_is_an_error_at_the_question() {
        let (line, message) = error_line(run(
            "Q1?\nA. x\nB. y\nANSWER: A\n\nQ2?\nA. x\nB. y\n\nQ3?\nA. x\nB. y\nANSWER: B\n",
        ));
        assert_eq!(line, 6);
        assert!(message.contains("ANSWER"), "{message}");
        assert_eq!(error_line(run("Q1?\nA. x\nB. y\n")).0, 1);
    }

    #[test]
    fn answer_letter_out_of_range_is_an_error_at_the_answer() {
        let (line, message) = error_line(run("Q1?\nA. x\nB. y\nANSWER: D\n"));
        assert_eq!(line, 4);
        assert!(message.contains("A–B"), "{message}");
    }

    #[test]
    fn answer_without_question_or_options_is_an_error() {
        assert_eq!(error_line(run("ANSWER: A\n")).0, 1);
        assert_eq!(error_line(run("Q?\nA. only\nANSWER: A\n")).0, 3);
    }

    #[test]
    fn scores_aiken_high_and_other_text_zero() {
        assert!(score(&Doc::new("a", SAMPLE)) >= 90);
        assert_eq!(score(&Doc::new("b", "# Title\n\nA question?\n- item\n")), 0);
        assert!(score(&Doc::new("c", "Q?\nA. x\nB. y\n")) < 50);
    }
}
