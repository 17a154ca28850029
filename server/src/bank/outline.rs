//! Layout 5, `outline`: topic outlines with talking points.
//!
//! ~~~text
//! Backend topics
//! ---
//!
//! ## [Mixins](https://realpython.com/…)
//! - Multiple inheritance
//! - Why is a mixin not a base class?
//!
//! ## `__hash__`
//! ```python
//! # a comment, not a heading
//! ```
//! ~~~
//!
//! Each topic heading (the level that carries the bullets, `##` here) is a
//! topic and a discussion question (kind `open`) whose notes are its
//! bullets, sub-headings and code blocks (kept verbatim). A bullet that is
//! itself a question becomes its own question, with the code block right
//! above it as a note. Underlined (setext) headings above the topics are
//! parts: the part holding the topics is the bank title, and the bullets of
//! parts without topics (skills lists, how-to-use notes) are the bank's
//! description.

use super::doc::{self, Doc, Draft, Line, Parsed, TopicBuilder};
use super::text;
use super::BankError;

/// How strongly the text looks like this layout (0 = not at all): topic
/// headings with plain bullets of talking points count.
pub fn score(doc: &Doc) -> u32 {
    let lines = doc.classify();
    let Some(level) = topic_level(lines) else {
        return 0;
    };
    let mut topics = 0u32;
    let mut points = 0u32;
    let mut code = 0u32;
    let mut in_topic = false;
    let mut has_points = false;
    for l in lines {
        match l {
            Line::Heading {
                level: lv,
                setext: false,
                ..
            } if *lv == level => {
                if has_points {
                    topics += 1;
                }
                in_topic = true;
                has_points = false;
            }
            Line::Heading { level: lv, .. } if *lv < level => {
                if has_points {
                    topics += 1;
                }
                in_topic = false;
                has_points = false;
            }
            Line::Item(item) if in_topic && is_point(item) => {
                has_points = true;
                if !text::is_question(item.text) {
                    points += 1;
                }
            }
            Line::Fence if in_topic => code += 1,
            _ => {}
        }
    }
    if has_points {
        topics += 1;
    }
    // Talking points, not a list of questions.
    if points < topics {
        return topics;
    }
    doc::modest(topics * 4 + code, doc.foreign_markers())
}

/// A plain bullet (no number, no checkbox).
fn is_point(item: &text::ListItem<'_>) -> bool {
    item.number.is_none() && item.checked.is_none()
}

/// The ATX heading level that carries talking points directly: the most
/// common level among headings followed by plain bullets.
fn topic_level(lines: &[Line<'_>]) -> Option<u8> {
    let mut counts = [0u32; 7];
    let mut heading: Option<u8> = None;
    let mut counted = false;
    for l in lines {
        match l {
            Line::Heading {
                level,
                setext: false,
                ..
            } => {
                heading = Some(*level);
                counted = false;
            }
            Line::Heading { setext: true, .. } => heading = None,
            Line::Item(item) if is_point(item) && item.indent < 2 && !counted => {
                if let Some(h) = heading {
                    if let Some(c) = counts.get_mut(usize::from(h)) {
                        *c += 1;
                        counted = true;
                    }
                }
            }
            _ => {}
        }
    }
    let (best, n) = counts
        .iter()
        .enumerate()
        .max_by_key(|(lv, n)| (**n, std::cmp::Reverse(*lv)))?;
    if *n == 0 {
        return None;
    }
    u8::try_from(best).ok()
}

/// Where the text being read belongs.
enum Place {
    /// Above any topic: a part heading's bullets (description material).
    Part,
    /// Inside a topic heading's section.
    Topic,
}

/// Parses a document in this layout.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let lines = doc.classify();
    let level = topic_level(lines).unwrap_or(2);
    let mut parsed = Parsed::default();
    let mut topics = TopicBuilder::default();
    // Parts (headings above the topic level) and which of them hold topics.
    let mut part: Option<String> = None;
    let mut parts_with_topics: Vec<String> = Vec::new();
    let mut description: Vec<String> = Vec::new();
    let mut topic: Option<(Vec<String>, usize)> = None; // (path, index of the topic question)
    let mut place = Place::Part;
    let mut code: Vec<&str> = Vec::new();
    let mut last_code: Option<(String, usize)> = None; // (code, line after its closing fence)
    let mut part_intro: Option<String> = None;
    // Lines of the topic headings, whose questions are the topic itself.
    let mut topic_lines: std::collections::HashSet<usize> = Default::default();

    // First pass: which parts hold topics, so paths and title can be chosen.
    {
        let mut p: Option<String> = None;
        for l in lines {
            match l {
                Line::Heading {
                    level: lv,
                    title,
                    setext,
                } if *setext || *lv < level => p = Some(text::plain(title)),
                Line::Heading { level: lv, .. } if *lv == level => {
                    let name = p.clone().unwrap_or_default();
                    if !parts_with_topics.contains(&name) {
                        parts_with_topics.push(name);
                    }
                }
                _ => {}
            }
        }
    }
    let single_part = parts_with_topics.len() <= 1;
    if single_part {
        parsed.title = parts_with_topics.first().filter(|p| !p.is_empty()).cloned();
    }

    for (i, l) in lines.iter().enumerate() {
        let line_no = i + 1;
        match l {
            Line::Heading {
                level: lv,
                title,
                setext,
            } if *setext || *lv < level => {
                part = Some(text::plain(title));
                part_intro = part.clone();
                topic = None;
                place = Place::Part;
            }
            Line::Heading {
                level: lv, title, ..
            } if *lv == level => {
                let name = text::plain(title);
                let mut path = Vec::new();
                if !single_part {
                    if let Some(p) = &part {
                        path.push(p.clone());
                    }
                }
                path.push(name.clone());
                topics.push(&path, Draft::open(name, line_no));
                topic_lines.insert(line_no);
                topic = Some((path, 0));
                place = Place::Topic;
            }
            Line::Heading { title, .. } => {
                // A sub-heading inside a topic is a label among its notes.
                let clean = text::plain(title);
                match place {
                    Place::Topic => {
                        if let Some(q) = topic_question(&mut topics, &topic) {
                            q.notes.push(clean);
                        }
                    }
                    Place::Part => description.push(clean),
                }
            }
            Line::Rule | Line::Blank | Line::Underline | Line::Footnote => {}
            Line::Fence => {
                if !code.is_empty() {
                    let block = code.join("\n");
                    code.clear();
                    last_code = Some((block.clone(), line_no + 1));
                    match place {
                        Place::Topic => {
                            if let Some(q) = topic_question(&mut topics, &topic) {
                                q.notes.push(block);
                            }
                        }
                        Place::Part => description.push(block),
                    }
                }
            }
            Line::Code(c) => code.push(c),
            Line::Item(item) => {
                let clean = text::plain(item.text);
                if clean.is_empty() {
                    continue;
                }
                if text::is_question(item.text) {
                    let path = match &topic {
                        Some((path, _)) => path.clone(),
                        None => part.iter().cloned().collect(),
                    };
                    let mut q = Draft::open(clean, line_no);
                    if let Some((block, after)) = &last_code {
                        if *after == line_no {
                            q.notes.push(block.clone());
                        }
                    }
                    topics.push(&path, q);
                    continue;
                }
                match place {
                    Place::Topic => {
                        if let Some(q) = topic_question(&mut topics, &topic) {
                            q.notes.push(clean);
                        }
                    }
                    Place::Part => {
                        if let Some(intro) = part_intro.take() {
                            description.push(format!("{intro}:"));
                        }
                        description.push(clean);
                    }
                }
            }
            Line::Text(t) => {
                let clean = text::plain(t);
                if clean.is_empty() || !clean.chars().any(char::is_alphanumeric) {
                    continue;
                }
                match place {
                    Place::Topic => {
                        if let Some(q) = topic_question(&mut topics, &topic) {
                            q.notes.push(clean);
                        }
                    }
                    Place::Part => description.push(clean),
                }
            }
        }
    }
    parsed.description = description.join("\n");
    let mut topics = topics.finish();
    for t in &mut topics {
        // A topic whose bullets are all questions needs no question of its own.
        let bare = t.questions.first().is_some_and(|q| {
            q.notes.is_empty() && q.followups.is_empty() && topic_lines.contains(&q.line)
        });
        if bare && t.questions.len() > 1 {
            t.questions.remove(0);
        }
    }
    parsed.topics = topics;
    Ok(parsed)
}

/// The discussion question of the open topic (the first question pushed
/// under its path).
fn topic_question<'t>(
    topics: &'t mut TopicBuilder,
    topic: &Option<(Vec<String>, usize)>,
) -> Option<&'t mut doc::Draft> {
    let (path, index) = topic.as_ref()?;
    topics.question_mut(path, *index)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Skills\n---\n- Python: asyncio\n- Infra: Docker\n\nGeneral topics\n---\n\n## [Mixins](https://realpython.com/x#y)\n\n- Multiple inheritance\n- Rule: small, no `__init__`\n- Why is a mixin not a base class?\n\n## `__hash__`\n\n- Contracts of `__hash__` and `__eq__`\n\n## Closures\n- LEGB rule\n\n```python\n# not a heading\nfuncs = []\n```\n- Why do all functions return the same?\n\n## Docker\n- Image != VM\n\n### Practices:\n- non-root user\n";

    #[test]
    fn topics_become_questions_with_notes() {
        let p = parse(&Doc::new("t.md", SAMPLE)).unwrap();
        assert_eq!(p.title.as_deref(), Some("General topics"));
        assert_eq!(p.description, "Skills:\nPython: asyncio\nInfra: Docker");
        let paths: Vec<String> = p.topics.iter().map(|t| t.path.join("/")).collect();
        assert_eq!(paths, ["Mixins", "__hash__", "Closures", "Docker"]);
        let mixins = &p.topics[0].questions;
        assert_eq!(mixins[0].prompt, "Mixins");
        assert_eq!(
            mixins[0].notes,
            ["Multiple inheritance", "Rule: small, no __init__"]
        );
        assert_eq!(mixins[1].prompt, "Why is a mixin not a base class?");
        assert_eq!(mixins[1].line, 13);
        let closures = &p.topics[2].questions;
        assert_eq!(
            closures[0].notes,
            ["LEGB rule", "# not a heading\nfuncs = []"]
        );
        assert_eq!(closures[1].prompt, "Why do all functions return the same?");
        assert_eq!(closures[1].notes, ["# not a heading\nfuncs = []"]);
        assert_eq!(
            p.topics[3].questions[0].notes,
            ["Image != VM", "Practices:", "non-root user"]
        );
    }

    #[test]
    fn topics_with_only_question_bullets_have_no_topic_question() {
        let p = parse(&Doc::new(
            "t.md",
            "## GIL\n- Why?\n- How?\n\n## MRO\n- order\n",
        ))
        .unwrap();
        let prompts: Vec<&str> = p.topics[0]
            .questions
            .iter()
            .map(|q| q.prompt.as_str())
            .collect();
        assert_eq!(prompts, ["Why?", "How?"]);
        assert_eq!(p.topics[1].questions[0].prompt, "MRO");
    }

    #[test]
    fn scores_topic_outlines() {
        assert!(score(&Doc::new("t", SAMPLE)) >= 12);
        assert_eq!(score(&Doc::new("t", "# A\n\nWhat?\n\nWhy?\n")), 0);
        assert_eq!(score(&Doc::new("t", "## A\n- [ ] a\n- [ ] b\n")), 0);
    }
}
