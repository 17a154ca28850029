//! Question banks: turning real, messy bank files into [`Bank`]s.
//!
//! Each layout has its own module; [`parse`] picks one by content, never by
//! file name.

pub mod catalog;
pub mod check;
pub mod decode;
pub mod doc;
pub mod model;
pub mod public;
pub mod text;

// One module per layout, chosen per file by content.
pub mod aiken; // 10. Aiken: question, A./A) options, ANSWER: X
pub mod checklist; // 4. `- [ ] item` checklists under headings
pub mod details; // 7. <details><summary>Q</summary>answer</details>
pub mod gift; // 9. GIFT (Moodle)
pub mod headings; // 1. nested headings, one question per paragraph
pub mod md_choice; // 8. question + `- [x]` / `- [ ]` options
pub mod numbered; // 3. `1. **Question**` with related-question sub-bullets
pub mod outline; // 5. `## Topic` outlines with talking-point bullets
pub mod plain; // 2. plain text: section title lines, one question per line
pub mod qa_heading; // 6. one question per heading, answer below

#[cfg(test)]
mod seed_tests;

pub use model::{AnswerOption, Bank, BankList, Kind, Points, Question, Topic, Warning};

/// Largest bank file accepted, in bytes; bigger files are refused with
/// [`BankError::TooLarge`].
pub const MAX_BANK_BYTES: usize = 2 * 1024 * 1024;

/// Why a bank file could not be read. Every variant names the file and,
/// where it applies, the line, so `check` can print `file:line: message`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum BankError {
    /// The file is larger than [`MAX_BANK_BYTES`].
    #[error("{file}: file is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        file: String,
        size: usize,
        limit: usize,
    },
    /// The bytes are not text in a supported encoding.
    #[error("{file}:{line}: {message}")]
    Encoding {
        file: String,
        line: usize,
        message: String,
    },
    /// The text could not be understood as any supported layout.
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// The file has no questions at all.
    #[error("{file}: no questions found")]
    Empty { file: String },
}

impl BankError {
    /// Stable machine-readable code used in HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            BankError::TooLarge { .. } => "bank_too_large",
            BankError::Encoding { .. } => "bank_encoding",
            BankError::Syntax { .. } => "bank_syntax",
            BankError::Empty { .. } => "bank_empty",
        }
    }
}

/// One importer: its name (the bank's `format`) and its two entry points.
#[derive(Clone, Copy)]
pub struct Layout {
    /// Stable name shown as the bank's `format`.
    pub name: &'static str,
    /// How strongly a document looks like this layout (0 = not at all).
    pub score: fn(&doc::Doc) -> u32,
    /// Reads a document in this layout.
    pub parse: fn(&doc::Doc) -> Result<doc::Parsed, BankError>,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every layout, most specific first: on equal scores the earlier one wins,
/// so a file with answer keys goes to the importer that reads them.
pub const LAYOUTS: [Layout; 10] = [
    Layout {
        name: "gift",
        score: gift::score,
        parse: gift::parse,
    },
    Layout {
        name: "aiken",
        score: aiken::score,
        parse: aiken::parse,
    },
    Layout {
        name: "details",
        score: details::score,
        parse: details::parse,
    },
    Layout {
        name: "md_choice",
        score: md_choice::score,
        parse: md_choice::parse,
    },
    Layout {
        name: "qa_heading",
        score: qa_heading::score,
        parse: qa_heading::parse,
    },
    Layout {
        name: "numbered",
        score: numbered::score,
        parse: numbered::parse,
    },
    Layout {
        name: "checklist",
        score: checklist::score,
        parse: checklist::parse,
    },
    Layout {
        name: "outline",
        score: outline::score,
        parse: outline::parse,
    },
    Layout {
        name: "headings",
        score: headings::score,
        parse: headings::parse,
    },
    Layout {
        name: "plain",
        score: plain::score,
        parse: plain::parse,
    },
];

/// The layout that fits `doc` best (highest score; the earlier layout in
/// [`LAYOUTS`] on a tie), or `None` when no layout recognizes anything.
pub fn detect(doc: &doc::Doc) -> Option<&'static Layout> {
    let mut best: Option<(&'static Layout, u32)> = None;
    for layout in &LAYOUTS {
        let score = (layout.score)(doc);
        if score > 0 && best.is_none_or(|(_, s)| score > s) {
            best = Some((layout, score));
        }
    }
    best.map(|(l, _)| l)
}

/// Parses one bank file from raw bytes; `file` is the name used in ids,
/// errors and the `file` field. Never panics, whatever the bytes.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Bank, BankError> {
    if bytes.len() > MAX_BANK_BYTES {
        return Err(BankError::TooLarge {
            file: file.to_string(),
            size: bytes.len(),
            limit: MAX_BANK_BYTES,
        });
    }
    let text = decode::decode(file, bytes)?;
    parse_text(file, &text)
}

/// Parses already decoded text (LF line endings, no BOM).
pub fn parse_text(file: &str, text: &str) -> Result<Bank, BankError> {
    if text.trim().is_empty() {
        return Err(BankError::Empty {
            file: file.to_string(),
        });
    }
    let doc = doc::Doc::new(file, text);
    let Some(layout) = detect(&doc) else {
        let line = doc
            .lines
            .iter()
            .position(|l| !l.trim().is_empty())
            .map_or(1, |i| i + 1);
        return Err(BankError::Syntax {
            file: file.to_string(),
            line,
            message: "no questions recognized: expected headings with question paragraphs, \
                      one question per line, numbered or checklist items, topic outlines, \
                      GIFT, Aiken or markdown multiple choice"
                .to_string(),
        });
    };
    let first = build(file, layout.name, &doc, (layout.parse)(&doc)?);
    if !matches!(first, Err(BankError::Empty { .. })) {
        return first;
    }
    // The best-looking layout found no questions: let the next ones try,
    // best first, before calling the file empty.
    let mut others: Vec<(&Layout, u32)> = LAYOUTS
        .iter()
        .filter(|l| l.name != layout.name)
        .map(|l| (l, (l.score)(&doc)))
        .filter(|(_, s)| *s > 0)
        .collect();
    others.sort_by_key(|(_, s)| std::cmp::Reverse(*s));
    for (other, _) in others {
        match (other.parse)(&doc) {
            Ok(parsed) => match build(file, other.name, &doc, parsed) {
                Err(BankError::Empty { .. }) => continue,
                result => return result,
            },
            Err(_) => continue,
        }
    }
    first
}

/// 16 hex digits of xxh3 over the parts, separated so that `["ab","c"]`
/// and `["a","bc"]` differ.
fn hash_id(parts: &[&str]) -> String {
    let mut buf = String::new();
    for p in parts {
        buf.push_str(p);
        buf.push('\u{1f}');
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(buf.as_bytes()))
}

/// The file name without folders and extension: what a bank is called
/// when it has no heading, and what its id is made from.
fn file_stem(file: &str) -> &str {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    match name.rfind('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// Turns an importer's drafts into a [`Bank`]: stable ids, topics with the
/// same path merged, empty topics and questions dropped.
fn build(file: &str, format: &str, doc: &doc::Doc, parsed: doc::Parsed) -> Result<Bank, BankError> {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    // Named after the file only, so editing a bank keeps its id.
    let bank_id = hash_id(&["bank", name]);
    let importer_title = parsed
        .title
        .map(|t| text::plain(&t))
        .filter(|t| !t.is_empty());
    // Topics of questions above the first heading keep the name they always
    // had (their ids are made from it); only the shown title reads better.
    let title = importer_title
        .clone()
        .or_else(|| first_heading(doc))
        .unwrap_or_else(|| file_stem(file).to_string());
    let shown_title = readable_slug(
        &importer_title
            .or_else(|| first_line_title(doc))
            .unwrap_or_else(|| title.clone()),
    );
    let mut topics: Vec<Topic> = Vec::new();
    let mut by_path: std::collections::HashMap<String, usize> = Default::default();
    let mut seen: std::collections::HashMap<(String, String), usize> = Default::default();
    for draft_topic in parsed.topics {
        let path: Vec<String> = draft_topic
            .path
            .iter()
            .map(|t| text::collapse_whitespace(t))
            .filter(|t| !t.is_empty())
            .collect();
        // Questions above the first heading sit in a topic named after the bank.
        let path = if path.is_empty() {
            vec![title.clone()]
        } else {
            path
        };
        let norm_path: Vec<String> = path.iter().map(|t| text::normalize(t)).collect();
        let path_key = norm_path.join("\u{1e}");
        let questions: Vec<Question> = draft_topic
            .questions
            .into_iter()
            .filter(|q| !q.prompt.trim().is_empty())
            .map(|q| {
                let norm = text::normalize(&q.prompt);
                let n = seen.entry((path_key.clone(), norm.clone())).or_insert(0);
                let occurrence = n.to_string();
                *n += 1;
                let id = hash_id(&["question", &bank_id, &path_key, &norm, &occurrence]);
                q.into_question(id)
            })
            .collect();
        if questions.is_empty() {
            continue;
        }
        // Paths that differ only in case or punctuation are one topic.
        match by_path.get(&path_key).and_then(|&i| topics.get_mut(i)) {
            Some(t) => t.questions.extend(questions),
            None => {
                by_path.insert(path_key.clone(), topics.len());
                topics.push(Topic {
                    id: hash_id(&["topic", &bank_id, &path_key]),
                    path,
                    questions,
                });
            }
        }
    }
    if topics.is_empty() {
        return Err(BankError::Empty {
            file: file.to_string(),
        });
    }
    Ok(Bank {
        id: bank_id,
        title: shown_title,
        file: file.to_string(),
        description: parsed.description.trim().to_string(),
        format: format.to_string(),
        topics,
        warnings: parsed.warnings,
    })
}

/// A line that is only an HTML tag (`<img …>`), no text.
fn is_markup_only(line: &str) -> bool {
    line.starts_with('<') && line.ends_with('>')
}

/// Longest first line (in characters) still taken as a bank's title.
const MAX_TITLE_LINE: usize = 160;

/// A readable title from the top of a file that names itself in its first
/// line: a plain sentence (`Вопросы для собеседования…:`) or a `//` comment
/// (GIFT banks start with one), so a bank is not shown as its file name.
/// Markup-only lines (`<img …>`) are skipped; a heading, a list, a question
/// or a GIFT block first means there is no such line.
fn first_line_title(doc: &doc::Doc) -> Option<String> {
    let line = doc
        .lines
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !is_markup_only(l))?;
    let candidate = if let Some(comment) = line.strip_prefix("//") {
        // `// quizroom classroom bank (GIFT format): what it holds` -> the name.
        let comment = comment.trim();
        comment.split_once(": ").map_or(comment, |(name, _)| name)
    } else {
        let heading_or_item = matches!(
            doc::classify(&[line]).first(),
            Some(doc::Line::Heading { .. } | doc::Line::Item(_))
        );
        let question_like = line.ends_with('?')
            || line.contains('{')
            || line.starts_with("::")
            || line.starts_with('$');
        if heading_or_item || question_like {
            return None;
        }
        line
    };
    let title = text::plain(candidate);
    let title = title
        .trim_end_matches([':', ',', ';', ' '])
        .trim()
        .to_string();
    (!title.is_empty() && title.chars().count() <= MAX_TITLE_LINE).then_some(title)
}

/// `backend_interview_python` -> `Backend interview python`: a heading or
/// file name written as an identifier, shown as words. Anything with a space
/// (or no `_`) is left as it is.
fn readable_slug(title: &str) -> String {
    if title.contains(char::is_whitespace) || !title.contains('_') {
        return title.to_string();
    }
    let words = title.replace('_', " ");
    let words = words.trim();
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => title.to_string(),
    }
}

fn first_heading(doc: &doc::Doc) -> Option<String> {
    doc.classify().iter().find_map(|l| match l {
        doc::Line::Heading { title, .. } => Some(text::plain(title)).filter(|t| !t.is_empty()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_is_refused_before_decoding() {
        let bytes = vec![b'a'; MAX_BANK_BYTES + 1];
        match parse("big.txt", &bytes) {
            Err(BankError::TooLarge { file, size, limit }) => {
                assert_eq!(file, "big.txt");
                assert_eq!(size, MAX_BANK_BYTES + 1);
                assert_eq!(limit, MAX_BANK_BYTES);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn empty_and_blank_files_are_empty() {
        for bytes in [&b""[..], b"\n\n  \n", b"\xEF\xBB\xBF", b"\r\n"] {
            match parse("e.txt", bytes) {
                Err(BankError::Empty { file }) => assert_eq!(file, "e.txt"),
                other => panic!("expected Empty, got {other:?}"),
            }
        }
    }

    #[test]
    fn binary_is_an_encoding_error_with_file_and_line() {
        let err = parse("bin.dat", b"# T\n\nQ?\n\x00\x01\x02").unwrap_err();
        assert_eq!(err.code(), "bank_encoding");
        assert_eq!(
            err.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["bin.dat", "4"]
        );
    }

    #[test]
    fn bom_and_crlf_give_the_same_bank() {
        let lf = "# Bank\n## Topic\nWhat is a?\n\nWhat is b?\n";
        let mut crlf = vec![0xEF, 0xBB, 0xBF];
        crlf.extend_from_slice(lf.replace('\n', "\r\n").as_bytes());
        let a = parse("x.md", lf.as_bytes()).unwrap();
        let b = parse("x.md", &crlf).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.topics[0].questions[1].prompt, "What is b?");
    }

    #[test]
    fn windows_1251_bank_is_decoded() {
        let text = "Вопросы для подготовки к собеседованию:\n\nОсновы\n\nЧто такое замыкание?\nЧто делает yield?\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(text);
        let bank = parse("ru.txt", &bytes).unwrap();
        assert_eq!(bank.topics[0].path, ["Основы"]);
        assert_eq!(bank.topics[0].questions[0].prompt, "Что такое замыкание?");
    }

    #[test]
    fn windows_1251_with_crlf_is_decoded() {
        let text = "# Вопросы\r\n## Основы\r\nЧто такое замыкание?\r\n\r\nЧто делает yield?\r\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(text);
        let bank = parse("ru.md", &bytes).unwrap();
        assert_eq!(bank.title, "Вопросы");
        let prompts: Vec<&str> = bank.topics[0]
            .questions
            .iter()
            .map(|q| q.prompt.as_str())
            .collect();
        assert_eq!(prompts, ["Что такое замыкание?", "Что делает yield?"]);
    }

    #[test]
    fn other_cyrillic_encodings_are_refused_naming_the_file() {
        let text = "Вопросы для подготовки к собеседованию по языку Python\n\nЧто такое замыкание и как оно работает?\n";
        let (bytes, _, _) = encoding_rs::KOI8_R.encode(text);
        let err = parse("koi.txt", &bytes).unwrap_err();
        assert_eq!(err.code(), "bank_encoding");
        let msg = err.to_string();
        assert!(msg.starts_with("koi.txt:1:"), "{msg}");
        assert!(msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let src = b"# B\n## T\nSame?\n\nSame?\n\nOther?\n## U\nSame?\n";
        let a = parse("dir/b.md", src).unwrap();
        let b = parse("other/b.md", src).unwrap();
        assert_eq!(a.id, b.id, "bank id depends on the file name only");
        let ids: Vec<&str> = a
            .topics
            .iter()
            .flat_map(|t| t.questions.iter().map(|q| q.id.as_str()))
            .collect();
        let mut uniq = ids.clone();
        uniq.sort_unstable();
        uniq.dedup();
        assert_eq!(ids.len(), 4);
        assert_eq!(uniq.len(), 4, "repeated prompts get distinct ids");
        let c = parse("c.md", src).unwrap();
        assert_ne!(a.id, c.id);
        assert_ne!(a.topics[0].id, c.topics[0].id);
    }

    #[test]
    fn topics_differing_in_case_are_one_topic() {
        let bank = parse(
            "t.md",
            b"## Basics\nWhat?\n\n## OOP\nWhy?\n\n## basics:\nHow?\n",
        )
        .unwrap();
        let paths: Vec<String> = bank.topics.iter().map(|t| t.path.join("/")).collect();
        assert_eq!(paths, ["Basics", "OOP"]);
        assert_eq!(bank.topics[0].questions.len(), 2);
    }

    #[test]
    fn next_layout_tries_when_the_best_finds_nothing() {
        // Scores highest as plain text (four lines in a block), but those
        // lines are only tags; the checklist item below is the question.
        let src = "<br>\n<br>\n<br>\n<br>\n\n- [ ] item one\n";
        let doc = doc::Doc::new("t.md", src);
        assert_eq!(detect(&doc).map(|l| l.name), Some("plain"));
        let bank = parse("t.md", src.as_bytes()).unwrap();
        assert_eq!(bank.format, "checklist");
        assert_eq!(bank.topics[0].questions[0].prompt, "item one");
    }

    #[test]
    fn unrecognized_text_is_a_syntax_error_with_a_line() {
        let err = parse("x.txt", b"\n\n   \n---\n").unwrap_err();
        assert!(
            matches!(
                err,
                BankError::Syntax { line: 4, .. } | BankError::Empty { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_bank_is_titled_by_its_first_line_heading_or_readable_name() {
        let title = |file: &str, text: &str| parse(file, text.as_bytes()).unwrap().title;
        // A plain sentence on the first line, its trailing colon dropped.
        assert_eq!(
            title(
                "001_e22965f9a1.txt",
                "Вопросы для собеседования:\n\nPython\n\nЧто такое GIL?\nЧто такое list?\n"
            ),
            "Вопросы для собеседования"
        );
        // A GIFT bank's leading comment, up to its colon.
        assert_eq!(
            title(
                "x.gift",
                "// Friday quiz (GIFT): scored\n\n::a:: Sky is blue {T}\n"
            ),
            "Friday quiz (GIFT)"
        );
        // A heading still wins over markup; a slug heading reads as words.
        assert_eq!(
            title(
                "a.md",
                "<img src=\"x.png\"/>\n\n# Real title\n\n## T\n\n- What is X?\n"
            ),
            "Real title"
        );
        assert_eq!(
            title(
                "a.md",
                "# backend_interview_python\n## Basics\n- What is X?\n"
            ),
            "Backend interview python"
        );
        // A question on the first line is no title: the file stem is kept.
        assert_eq!(title("q_list.txt", "What is X?\nWhat is Y?\n"), "Q list");
    }

    #[test]
    fn pathological_large_inputs_parse_in_linear_time() {
        // Stray brackets, backticks, tags and emphasis marks on one long
        // line, and many tiny topics: each would take minutes with a
        // quadratic scan.
        let n = 200_000;
        let inputs = [
            "[".repeat(n),
            "```".to_string() + &" `".repeat(n / 2),
            "<div ".repeat(n / 5),
            " *a".repeat(n / 3),
            " _a".repeat(n / 3),
            "T\n\nq?\nq?\n\n".repeat(n / 10),
        ];
        for input in inputs {
            let _ = parse("big.txt", input.as_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse("p.bin", &bytes);
        }

        #[test]
        fn parse_never_panics_on_markdownish_text(s in r"([-*#>`~_\[\]()!:?=0-9 a-zа-я.\t]{0,30}\n){0,30}") {
            if let Ok(bank) = parse("p.md", s.as_bytes()) {
                proptest::prop_assert!(!bank.topics.is_empty());
                for t in &bank.topics {
                    proptest::prop_assert!(!t.questions.is_empty());
                }
            }
        }
    }
}
