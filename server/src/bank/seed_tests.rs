//! Tests over the five real seed banks in `seeds/`: every layout must read
//! its seed completely and cleanly.

use super::{parse, Bank, Kind};

const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../seeds");

/// Reads and parses the seed whose file name starts with `prefix`.
fn seed(prefix: &str) -> (String, Vec<u8>, Bank) {
    let mut names: Vec<String> = std::fs::read_dir(SEEDS)
        .expect("seeds folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    let name = names.into_iter().next().expect("seed file");
    let bytes = std::fs::read(format!("{SEEDS}/{name}")).expect("read seed");
    let bank = parse(&name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    (name, bytes, bank)
}

/// Prints every seed as parsed (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn dump_seeds() {
    for prefix in ["000_", "001_", "002_", "003_", "004_"] {
        let (name, _, bank) = seed(prefix);
        println!("=== {name}: format={} title={:?}", bank.format, bank.title);
        println!("description: {:?}", bank.description);
        for w in &bank.warnings {
            println!("warning {}: {}", w.line, w.message);
        }
        for t in &bank.topics {
            println!("## {}", t.path.join(" / "));
            for q in &t.questions {
                let kind = if q.kind == Kind::Open {
                    ""
                } else {
                    "[non-open]"
                };
                println!("  {:>4} {kind}{}", q.line, q.prompt);
                for f in &q.followups {
                    println!("         > {f}");
                }
                for n in &q.notes {
                    println!("         - {}", n.replace('\n', "\n           "));
                }
            }
        }
    }
}

const ALL: [(&str, &str); 5] = [
    ("000_", "headings"),
    ("001_", "plain"),
    ("002_", "numbered"),
    ("003_", "checklist"),
    ("004_", "outline"),
];

fn questions(bank: &Bank) -> impl Iterator<Item = &super::Question> {
    bank.topics.iter().flat_map(|t| t.questions.iter())
}

fn text_of(bytes: &[u8]) -> String {
    super::decode::decode("seed", bytes).expect("seed decodes")
}

#[test]
fn every_seed_picks_its_layout_by_a_clear_margin() {
    for (prefix, layout) in ALL {
        let (name, bytes, bank) = seed(prefix);
        assert_eq!(bank.format, layout, "{name}");
        let text = text_of(&bytes);
        let doc = super::doc::Doc::new(&name, &text);
        let mut scores: Vec<(u32, &str)> = super::LAYOUTS
            .iter()
            .map(|l| ((l.score)(&doc), l.name))
            .collect();
        scores.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(scores[0].1, layout, "{name}: {scores:?}");
        assert!(
            scores[0].0 > scores[1].0 * 2,
            "{name}: margin too thin {scores:?}"
        );
    }
}

#[test]
fn every_question_line_of_every_seed_is_kept() {
    for (prefix, _) in ALL {
        let (name, bytes, bank) = seed(prefix);
        let text = text_of(&bytes);
        let mut kept: Vec<&str> = Vec::new();
        for q in questions(&bank) {
            kept.push(&q.prompt);
            kept.extend(q.followups.iter().map(String::as_str));
            kept.extend(q.notes.iter().map(String::as_str));
        }
        for (i, line) in text.lines().enumerate() {
            if !line.trim().ends_with('?') {
                continue;
            }
            let clean = super::text::plain(line);
            assert!(
                kept.iter().any(|k| *k == clean || k.contains(&clean)),
                "{name}:{}: {clean:?} is in no prompt, follow-up or note",
                i + 1
            );
        }
    }
}

/// Markup that must never reach a player's screen.
fn residue(s: &str) -> Option<&'static str> {
    let bold_pair = s
        .match_indices("**")
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| {
            let inner = &s[w[0].0 + 2..w[1].0];
            !inner.is_empty() && !inner.starts_with(' ') && !inner.ends_with(' ')
        });
    let numbered = {
        let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        digits > 0 && (s[digits..].starts_with(". ") || s[digits..].starts_with(") "))
    };
    let checks: [(bool, &'static str); 14] = [
        (bold_pair, "**bold**"),
        (s.contains(r"\_") || s.contains(r"\*"), "escape"),
        (s.contains("[ ]") || s.contains("[x]"), "checkbox"),
        (s.contains("]("), "link"),
        (s.contains("[^"), "footnote"),
        (
            s.contains("<img") || s.contains("<br") || s.contains("<div"),
            "html",
        ),
        (
            s.starts_with("- ") || s.starts_with("* ") || s.starts_with("+ "),
            "list mark",
        ),
        (s.starts_with("– "), "dash mark"),
        (numbered, "numbering"),
        (s.starts_with('#'), "heading mark"),
        (s.contains('`'), "backtick"),
        (s.contains("http://") || s.contains("https://"), "url"),
        (s.contains("  ") || s.trim() != s, "spacing"),
        (s.is_empty(), "empty"),
    ];
    checks.iter().find(|(bad, _)| *bad).map(|(_, what)| *what)
}

#[test]
fn no_prompt_topic_or_followup_carries_markup() {
    for (prefix, _) in ALL {
        let (name, _, bank) = seed(prefix);
        for t in &bank.topics {
            for title in &t.path {
                assert_eq!(residue(title), None, "{name}: topic {title:?}");
            }
            for q in &t.questions {
                assert_eq!(
                    residue(&q.prompt),
                    None,
                    "{name}:{}: {:?}",
                    q.line,
                    q.prompt
                );
                for f in &q.followups {
                    assert_eq!(residue(f), None, "{name}:{}: follow-up {f:?}", q.line);
                }
            }
        }
        assert_eq!(residue(&bank.title), None, "{name}: title {:?}", bank.title);
    }
}

#[test]
fn ids_are_stable_across_parses_and_unique() {
    for (prefix, _) in ALL {
        let (name, bytes, bank) = seed(prefix);
        let again = parse(&name, &bytes).expect("second parse");
        assert_eq!(bank, again, "{name}");
        let mut ids: Vec<&str> = questions(&bank).map(|q| q.id.as_str()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "{name}: duplicate question ids");
        let mut tids: Vec<&str> = bank.topics.iter().map(|t| t.id.as_str()).collect();
        let n = tids.len();
        tids.sort_unstable();
        tids.dedup();
        assert_eq!(tids.len(), n, "{name}: duplicate topic ids");
    }
}

#[test]
fn headings_seed_nests_topics_and_keeps_continuations_as_notes() {
    let (name, bytes, bank) = seed("000_");
    let text = text_of(&bytes);
    assert_eq!(bank.title, "Backend interview python");
    let paths: Vec<String> = bank.topics.iter().map(|t| t.path.join(" / ")).collect();
    assert!(paths.contains(&"Python / Basics".to_string()), "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("Typing") && !p.starts_with("ООП")),
        "{paths:?}"
    );
    // One question per paragraph: every non-blank line that is not a
    // heading or a dash continuation is a question.
    let expected = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with('–'))
        .count();
    assert_eq!(questions(&bank).count(), expected, "{name}");
    let asyncio = questions(&bank)
        .find(|q| q.prompt == "Какие основные функции и методы есть в модуле asyncio?")
        .expect("asyncio question");
    assert_eq!(asyncio.notes.len(), 5);
    assert_eq!(asyncio.notes[0], "asyncio.run()");
    assert!(questions(&bank).any(|q| q.prompt == "Зачем используют *args и **kwargs?"));
}

#[test]
fn plain_seed_yields_its_fourteen_sections() {
    let (name, bytes, bank) = seed("001_");
    let text = text_of(&bytes);
    assert_eq!(bank.topics.len(), 14, "{name}");
    assert_eq!(bank.topics[0].path, ["Python"]);
    assert_eq!(bank.topics[13].path, ["HRский"]);
    assert!(bank
        .description
        .starts_with("Вопросы для собеседования Python"));
    // Every other non-blank line is one question.
    let non_blank = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(questions(&bank).count(), non_blank - 14 - 1);
    assert!(questions(&bank).any(|q| q.prompt == "Что такое __slots__"));
    assert!(questions(&bank)
        .any(|q| q.prompt == "What is the __dict__ attribute of an object in Python?"));
}

#[test]
fn numbered_seed_yields_130_questions_with_followups() {
    let (name, _, bank) = seed("002_");
    let qs: Vec<_> = questions(&bank).collect();
    assert_eq!(qs.len(), 130, "{name}");
    for q in &qs {
        assert!(
            !q.followups.is_empty(),
            "{name}:{}: {:?} has no follow-ups",
            q.line,
            q.prompt
        );
        assert!(q.followups.iter().all(|f| !f.contains("Связанные вопросы")));
    }
    assert_eq!(
        qs[0].prompt,
        "Что такое GIL в Python и как он влияет на многопоточность?"
    );
    assert_eq!(qs[0].line, 9);
    assert_eq!(bank.topics.len(), 26);
    assert_eq!(
        bank.topics[0].path,
        ["Уровень 1: Основы Python (1-25)", "Базовые концепции"]
    );
    for t in &bank.topics {
        assert!(t
            .path
            .iter()
            .all(|p| !p.contains("http") && !p.contains('⁂')));
    }
}

#[test]
fn checklist_seed_makes_every_item_a_question() {
    let (name, bytes, bank) = seed("003_");
    let text = text_of(&bytes);
    let items = text
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .count();
    assert_eq!(questions(&bank).count(), items, "{name}");
    assert!(questions(&bank).all(|q| q.kind == Kind::Open));
    let paths: Vec<String> = bank.topics.iter().map(|t| t.path.join(" / ")).collect();
    assert!(
        paths.contains(&"PYTHON CORE / GIL и память".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(
            &"Более развернутый список вопросов / Асинхронность и многопоточность".to_string()
        ),
        "{paths:?}"
    );
    assert!(questions(&bank).any(|q| q.prompt == "Транзакции"));
}

#[test]
fn outline_seed_turns_topics_into_questions_with_notes() {
    let (name, bytes, bank) = seed("004_");
    let text = text_of(&bytes);
    let topic_headings = text.lines().filter(|l| l.starts_with("## ")).count();
    assert_eq!(bank.topics.len(), topic_headings, "{name}");
    for t in &bank.topics {
        let first = &t.questions[0];
        assert_eq!(&first.prompt, t.path.last().expect("path"), "{name}");
        assert!(
            !first.notes.is_empty(),
            "{name}: {:?} has no talking points",
            first.prompt
        );
    }
    let titles: Vec<&str> = bank.topics.iter().map(|t| t.path[0].as_str()).collect();
    for expected in ["__hash__", "Mixins", "__new__ vs __init__", "Asyncio"] {
        assert!(titles.contains(&expected), "{titles:?}");
    }
    let code = "funcs = []\nfor i in range(3):\n    funcs.append(lambda: i)";
    let closures = questions(&bank)
        .find(|q| q.prompt == "Почему все функции вернут одно и то же?")
        .expect("question after the code block");
    assert_eq!(closures.notes, [code]);
    assert!(bank.description.contains("Python: asyncio, FastApi"));
    assert!(questions(&bank).all(|q| !q.prompt.contains("Харды")));
}

#[test]
fn residue_check_catches_markup() {
    for bad in [
        "**Что такое GIL?**",
        r"Что такое \_\_slots__",
        "[ ] item",
        "see [x](http://a)",
        "text[^1]",
        "<img src=x>",
        "- item",
        "1. item",
        "## Title",
        "two  spaces",
    ] {
        assert!(residue(bad).is_some(), "{bad:?} passed the residue check");
    }
    for good in [
        "Что такое **kwargs",
        "a * b * c",
        "Что такое __slots__",
        "Python 3.7",
    ] {
        assert_eq!(residue(good), None, "{good:?}");
    }
}

/// Small files in the answer-key formats (layouts 6–10), each repeated so
/// that count-based scores would grow if they were not damped.
fn answer_key_fixtures() -> Vec<(&'static str, String)> {
    let qa = "#### 1. What is a list?\nA mutable sequence.\n\nIt can hold any objects.\n- ordered\n- growable\n\n";
    let details = "<details><summary>What is the GIL?</summary>\nA lock around the interpreter.\n</details>\n\n";
    let choice = "What is mutable?\n- [x] list\n- [ ] tuple\n- [ ] str\n\n";
    let numbered_choice =
        "1. **Which are sequences?**\n   - [x] list\n   - [x] tuple\n   - [ ] set\n";
    let gift = "::q1:: What is 2+2? {=4 ~3 ~5}\n\n::q2:: Python is typed. {T}\n\n";
    let aiken = "What is 2+2?\nA. 3\nB. 4\nC. 5\nANSWER: B\n\n";
    let rep = |s: &str| format!("# Bank\n## Topic\n\n{}", s.repeat(20));
    vec![
        ("qa_heading", rep(qa)),
        ("details", rep(details)),
        ("md_choice", rep(choice)),
        ("md_choice", rep(numbered_choice)),
        ("gift", format!("$CATEGORY: a/b\n\n{}", gift.repeat(20))),
        ("aiken", aiken.repeat(20)),
    ]
}

#[test]
fn seed_layouts_stay_modest_on_answer_key_formats() {
    const MINE: [&str; 5] = ["headings", "plain", "numbered", "checklist", "outline"];
    for (format, text) in answer_key_fixtures() {
        let doc = super::doc::Doc::new("f.md", &text);
        for layout in super::LAYOUTS.iter().filter(|l| MINE.contains(&l.name)) {
            let score = (layout.score)(&doc);
            assert!(
                score <= 1,
                "{} scores {score} on a {format} file",
                layout.name
            );
        }
    }
}

/// Lines real bank files are made of, mixed at random by the property test.
const VOCABULARY: &[&str] = &[
    "# Title",
    "## Topic **bold**",
    "### 1. Sub list:",
    "Underlined part",
    "---",
    "___",
    "====",
    "",
    "   ",
    "What is `x`?",
    "Explain \\_\\_slots__ please.",
    "Что такое *args и **kwargs?",
    "- [ ] item to study",
    "- [x] ticked item",
    "  - [ ] nested box",
    "  - sub point?",
    "- talking point",
    "- Why does it fail?",
    "1. **Numbered bold question?**",
    "2. Plain numbered?",
    "**Related questions:**",
    "    - follow-up one?",
    "```python",
    "# a comment in code",
    "```",
    "[^1]: https://example.com/a",
    "<img src=\"https://x/logo.png\" width=\"120\"/>",
    "- [Link title](https://example.com/page)",
    "Paragraph with a footnote[^2].",
    "– dash continuation",
    "A. option",
    "ANSWER: A",
    "::t:: Question {=a ~b}",
    "<details><summary>Q?</summary>",
    "</details>",
];

proptest::proptest! {
    #[test]
    fn random_mixes_of_real_lines_parse_cleanly(
        picks in proptest::collection::vec(0..VOCABULARY.len(), 0..60),
        crlf in proptest::bool::ANY,
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let text = picks.iter().map(|&i| VOCABULARY[i]).collect::<Vec<_>>().join(nl);
        let line_count = text.split(nl).count();
        let Ok(bank) = parse("mix.md", text.as_bytes()) else {
            return Ok(());
        };
        let mut ids: Vec<&str> = questions(&bank).map(|q| q.id.as_str()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        proptest::prop_assert_eq!(ids.len(), n, "duplicate ids");
        let mut tids: Vec<&str> = bank.topics.iter().map(|t| t.id.as_str()).collect();
        let n = tids.len();
        tids.sort_unstable();
        tids.dedup();
        proptest::prop_assert_eq!(tids.len(), n, "duplicate topic ids");
        for q in questions(&bank) {
            proptest::prop_assert!(q.line >= 1 && q.line <= line_count, "line {} of {}", q.line, line_count);
        }
        const MINE: [&str; 5] = ["headings", "plain", "numbered", "checklist", "outline"];
        if MINE.contains(&bank.format.as_str()) {
            for t in &bank.topics {
                for title in &t.path {
                    proptest::prop_assert_eq!(residue(title), None, "topic {:?} in\n{}", title, text);
                }
                for q in &t.questions {
                    proptest::prop_assert_eq!(residue(&q.prompt), None, "prompt {:?} in\n{}", q.prompt, text);
                    for f in &q.followups {
                        proptest::prop_assert_eq!(residue(f), None, "follow-up {:?}", f);
                    }
                }
            }
        }
    }
}

#[test]
fn answer_key_files_go_to_their_own_layouts() {
    for (format, text) in answer_key_fixtures() {
        let doc = super::doc::Doc::new("f.md", &text);
        let picked = super::detect(&doc).map(|l| l.name);
        assert_eq!(picked, Some(format), "{text}");
    }
}

#[test]
fn every_seed_has_a_readable_title_not_its_file_name() {
    for (prefix, _) in ALL {
        let (name, _, bank) = seed(prefix);
        let stem = name.split('.').next().unwrap_or(&name);
        assert_ne!(bank.title, stem, "{name}");
        assert!(!bank.title.contains('_'), "{name}: {}", bank.title);
    }
    let (_, _, plain) = seed("001_");
    assert!(plain
        .title
        .starts_with("Вопросы для собеседования Python программиста"));
}

/// The Russian keyed bank: enough scored questions for a round, every one
/// with an answer key, over topics the other seeds also have.
#[test]
fn the_russian_keyed_bank_covers_the_seed_topics_with_keys() {
    let bytes = std::fs::read(format!("{SEEDS}/classroom-ru.gift")).expect("read seed");
    let bank = parse("classroom-ru.gift", &bytes).expect("parses");
    assert_eq!(bank.format, "gift");
    assert!(bank.warnings.is_empty(), "{:?}", bank.warnings);
    let all: Vec<_> = questions(&bank).collect();
    assert!(all.len() >= 15, "{} questions", all.len());
    for q in &all {
        assert!(q.options.iter().any(|o| o.correct), "no key: {}", q.prompt);
        assert!(
            q.prompt
                .chars()
                .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c))),
            "not Russian: {}",
            q.prompt
        );
    }
    let mut others: Vec<String> = Vec::new();
    for (prefix, _) in ALL {
        let (_, _, b) = seed(prefix);
        others.extend(
            b.topics
                .iter()
                .flat_map(|t| t.path.iter().map(|p| p.to_lowercase())),
        );
    }
    for t in &bank.topics {
        let top = t.path[0].to_lowercase();
        assert!(
            others.contains(&top),
            "topic {:?} is in no other seed",
            t.path
        );
    }
}
