//! Inline cleanup shared by every importer: markdown markers, escapes,
//! numbering, list and checkbox marks, HTML tags and link URLs removed.
//!
//! Bank files are written by hand for people, not for parsers, so the rules
//! here lean towards keeping text: a `*` or `_` is only dropped when it
//! clearly marks emphasis (CommonMark flanking rules), and identifiers such
//! as `__slots__`, `snake_case` or `*args` survive untouched.

/// Turns one line (or paragraph) of markdown into plain text: what a player
/// reads on screen, with no markup left over.
pub fn plain(s: &str) -> String {
    plain_with(s, false)
}

/// Like [`plain`], but a code span keeps its backticks (`` `len(x)` ``):
/// for prompts of layouts that carry code (GIFT, markdown multiple
/// choice), which the web app shows as markdown, code in monospace.
pub fn plain_keeping_code(s: &str) -> String {
    plain_with(s, true)
}

fn plain_with(s: &str, keep_code: bool) -> String {
    let body = strip_block_marks(s);
    let inline = inline_plain(body, keep_code);
    let collapsed = collapse_whitespace(&inline);
    // A line that was only a list mark or numbering still reads as one.
    let again = strip_block_marks(&collapsed);
    if again.len() != collapsed.len() {
        return collapse_whitespace(again);
    }
    collapsed
}

/// Whether option texts are exactly a true/false pair, in English or
/// Russian (`True`/`False`, `Верно`/`Неверно`, any case): such a choice is
/// a true/false question.
pub fn is_true_false(options: &[&str]) -> bool {
    let lower: Vec<String> = options.iter().map(|o| o.trim().to_lowercase()).collect();
    lower == ["true", "false"] || lower == ["верно", "неверно"]
}

/// Joins the words of `s` with single spaces, so trailing "hard break"
/// double spaces, tabs and runs of blanks never reach a prompt or an id.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether a line reads as a question: its plain text ends with `?`. Used
/// by layouts to tell questions from talking points and titles.
pub fn is_question(line: &str) -> bool {
    // Cleanup never adds a `?`, so most lines are answered without it.
    line.contains('?') && plain(line).ends_with('?')
}

/// Text used to compare prompts and titles: lower case, letters and digits
/// only, single spaces. Two lines that differ only in case, punctuation or
/// spacing normalize to the same string (used for stable ids and merging).
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in plain(s).chars() {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// An ATX heading (`## Title`): its level (1–6) and plain title. Setext
/// headings need the next line and are recognized by the layouts.
pub fn heading(line: &str) -> Option<(u8, String)> {
    let (level, rest) = atx_heading(line)?;
    Some((level, plain(rest)))
}

/// Like [`heading`] but returns the raw title text (closing `#`s removed),
/// for callers that need to look at the markup (links, code) themselves.
pub fn atx_heading(line: &str) -> Option<(u8, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let t = &line[indent..];
    let hashes = t.len() - t.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &t[hashes..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut title = rest.trim();
    // Optional closing sequence: `## Title ##`.
    let without_closing = title.trim_end_matches('#');
    if without_closing.is_empty() || without_closing.ends_with([' ', '\t']) {
        title = without_closing.trim_end();
    }
    // hashes <= 6 was checked above, so the cast is lossless.
    Some((hashes as u8, title))
}

/// One list item line: `- x`, `* x`, `+ x`, `1. x`, `1) x`, optionally with
/// a checkbox `[ ]` / `[x]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListItem<'a> {
    /// Leading spaces (a tab counts as four): nesting depth indicator.
    pub indent: usize,
    /// The number of an ordered item (`12.` → 12).
    pub number: Option<u32>,
    /// `Some(true)` for `[x]`, `Some(false)` for `[ ]`, `None` without a box.
    pub checked: Option<bool>,
    /// The item text after the marks, untrimmed markup included.
    pub text: &'a str,
}

/// Recognizes a list item line (see [`ListItem`]); `None` for other lines.
/// En and em dashes and bullets (`–`, `—`, `•`) count as list marks too,
/// because hand-written banks use them that way.
pub fn list_item(line: &str) -> Option<ListItem<'_>> {
    let mut indent = 0;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match c {
            ' ' => indent += 1,
            '\t' => indent += 4,
            _ => {
                start = i;
                break;
            }
        }
        start = i + c.len_utf8();
    }
    let t = &line[start..];
    let (number, after) = if let Some(rest) = strip_bullet(t) {
        (None, rest)
    } else {
        let (n, rest) = strip_number(t)?;
        (Some(n), rest)
    };
    let (checked, text) = match strip_checkbox(after) {
        Some((c, rest)) => (Some(c), rest),
        None => (None, after),
    };
    Some(ListItem {
        indent,
        number,
        checked,
        text: text.trim(),
    })
}

/// Removes a leading list mark, numbering and checkbox from a line, keeping
/// the rest untouched (markup included).
pub fn strip_list_marker(line: &str) -> &str {
    match list_item(line) {
        Some(item) => item.text,
        None => line.trim(),
    }
}

/// A fenced code delimiter (```` ``` ```` or `~~~`), returning the fence
/// character and its length so the closing fence can be matched.
pub fn code_fence(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let c = t.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = t.len() - t.trim_start_matches(c).len();
    if n < 3 {
        return None;
    }
    if c == '`' && t[n..].contains('`') {
        return None;
    }
    Some((c, n))
}

/// A thematic break (`---`, `***`, `___`): separates parts of a document.
pub fn is_rule(line: &str) -> bool {
    let t = line.trim();
    let Some(c) = t.chars().next() else {
        return false;
    };
    if !matches!(c, '-' | '*' | '_') {
        return false;
    }
    let n = t.chars().filter(|&x| x == c).count();
    n >= 3 && t.chars().all(|x| x == c || x == ' ' || x == '\t')
}

/// A line that is only a web address: a source, never a question.
pub fn is_bare_url(clean: &str) -> bool {
    let t = clean.trim();
    (t.starts_with("http://") || t.starts_with("https://") || t.starts_with("www."))
        && !t.contains(char::is_whitespace)
}

/// A footnote definition (`[^12]: https://…`): never a question.
pub fn is_footnote_definition(line: &str) -> bool {
    let t = line.trim_start();
    let Some(rest) = t.strip_prefix("[^") else {
        return false;
    };
    match rest.find(']') {
        Some(end) => rest[end + 1..].starts_with(':'),
        None => false,
    }
}

/// Strips block-level marks from the start of a line: heading hashes,
/// blockquote `>`, list marks, checkboxes and numbering, repeatedly.
fn strip_block_marks(s: &str) -> &str {
    let mut t = s.trim();
    // Each round removes at least one character, and a line has few marks.
    for _ in 0..8 {
        let before = t.len();
        if let Some((_, rest)) = atx_heading(t) {
            t = rest.trim();
        }
        if let Some(rest) = t.strip_prefix('>') {
            t = rest.trim_start();
        }
        if let Some(rest) = strip_bullet(t) {
            t = rest.trim_start();
        }
        if let Some((_, rest)) = strip_checkbox(t) {
            t = rest.trim_start();
        }
        if let Some((_, rest)) = strip_number(t) {
            t = rest.trim_start();
        }
        if t.len() == before {
            break;
        }
    }
    t
}

/// `- `, `* `, `+ `, `– `, `— `, `• ` at the start (a mark then a blank).
fn strip_bullet(t: &str) -> Option<&str> {
    let c = t.chars().next()?;
    if !matches!(c, '-' | '*' | '+' | '–' | '—' | '•') {
        return None;
    }
    let rest = &t[c.len_utf8()..];
    if rest.is_empty() {
        return Some(rest);
    }
    if rest.starts_with([' ', '\t']) {
        Some(rest.trim_start())
    } else {
        None
    }
}

/// `12. ` or `12) ` at the start (up to four digits then a blank).
fn strip_number(t: &str) -> Option<(u32, &str)> {
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 4 {
        return None;
    }
    let rest = &t[digits..];
    let rest = rest.strip_prefix('.').or_else(|| rest.strip_prefix(')'))?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let n = t[..digits].parse().ok()?;
    Some((n, rest.trim_start()))
}

/// `[ ] `, `[x] `, `[X] ` at the start.
fn strip_checkbox(t: &str) -> Option<(bool, &str)> {
    let checked = if t.starts_with("[ ]") {
        false
    } else if t.starts_with("[x]") || t.starts_with("[X]") {
        true
    } else {
        return None;
    };
    let rest = &t[3..];
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        Some((checked, rest.trim_start()))
    } else {
        None
    }
}

/// A piece of inline text: literal text, or a run of `*`/`_`/`~~` that may
/// turn out to be an emphasis or strikethrough marker.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Delim {
        ch: char,
        count: usize,
        can_open: bool,
        can_close: bool,
    },
}

/// HTML elements that are removed as tags (their text content stays).
/// Anything else in angle brackets (`List<int>`, `a < b`) is kept.
const HTML_TAGS: &[&str] = &[
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "center",
    "code",
    "del",
    "details",
    "div",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "iframe",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "picture",
    "pre",
    "s",
    "small",
    "source",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "video",
];

/// Inline markdown to plain text (no block marks handled here).
fn inline_plain(s: &str, keep_code: bool) -> String {
    let pieces = tokenize(s, keep_code);
    render(resolve_emphasis(pieces))
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace())
}

fn push_text(pieces: &mut Vec<Piece>, s: &str) {
    if let Some(Piece::Text(last)) = pieces.last_mut() {
        last.push_str(s);
    } else {
        pieces.push(Piece::Text(s.to_string()));
    }
}

/// Splits inline text into literal pieces and emphasis delimiter runs,
/// resolving escapes, code spans, links, images, footnote references,
/// HTML tags and entities on the way. With `keep_code`, a code span stays
/// as written, backticks included.
fn tokenize(s: &str, keep_code: bool) -> Vec<Piece> {
    let chars: Vec<char> = s.chars().collect();
    let pairs = Pairs::of(&chars);
    let mut pieces: Vec<Piece> = Vec::new();
    let mut i = 0;
    // The previous character as the emphasis rules see it.
    let mut prev: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let next = chars.get(i + 1).copied();
                match next {
                    Some(n) if n.is_ascii_punctuation() => {
                        push_text(&mut pieces, n.encode_utf8(&mut [0; 4]));
                        prev = Some(n);
                        i += 2;
                    }
                    None => {
                        // A trailing backslash is a hard line break.
                        i += 1;
                    }
                    Some(_) => {
                        push_text(&mut pieces, "\\");
                        prev = Some('\\');
                        i += 1;
                    }
                }
            }
            '`' => {
                let run = count_run(&chars, i, '`');
                match find_closing_backticks(&chars, i + run, run) {
                    Some(end) => {
                        let code: String = chars[i + run..end].iter().collect();
                        let code = if keep_code {
                            chars[i..end + run].iter().collect()
                        } else if code.len() > 2
                            && code.starts_with(' ')
                            && code.ends_with(' ')
                            && !code.trim().is_empty()
                        {
                            code[1..code.len() - 1].to_string()
                        } else {
                            code
                        };
                        push_text(&mut pieces, &code);
                        prev = code.chars().last().or(prev);
                        i = end + run;
                    }
                    None => {
                        let lit: String = chars[i..i + run].iter().collect();
                        push_text(&mut pieces, &lit);
                        prev = Some('`');
                        i += run;
                    }
                }
            }
            // Images cannot be shown as text: dropped with their alt text.
            '!' if chars.get(i + 1) == Some(&'[') => match parse_link(&chars, i + 1, &pairs) {
                Some((_, end)) => {
                    i = end;
                }
                None => {
                    push_text(&mut pieces, "!");
                    prev = Some('!');
                    i += 1;
                }
            },
            '[' => {
                if chars.get(i + 1) == Some(&'^') {
                    if let Some(end) = footnote_ref_end(&chars, i) {
                        i = end;
                        continue;
                    }
                }
                match parse_link(&chars, i, &pairs) {
                    Some((text, end)) => {
                        let inner = inline_plain(&text, keep_code);
                        prev = inner.chars().last().or(prev);
                        push_text(&mut pieces, &inner);
                        i = end;
                    }
                    None => {
                        push_text(&mut pieces, "[");
                        prev = Some('[');
                        i += 1;
                    }
                }
            }
            '<' => match html_tag_end(&chars, i) {
                Some((end, spacing)) => {
                    if spacing {
                        push_text(&mut pieces, " ");
                        prev = Some(' ');
                    }
                    i = end;
                }
                None => match autolink_end(&chars, i) {
                    Some(end) => {
                        let url: String = chars[i + 1..end - 1].iter().collect();
                        push_text(&mut pieces, &url);
                        prev = url.chars().last().or(prev);
                        i = end;
                    }
                    None => {
                        push_text(&mut pieces, "<");
                        prev = Some('<');
                        i += 1;
                    }
                },
            },
            '&' => match entity(&chars, i) {
                Some((text, end)) => {
                    push_text(&mut pieces, text);
                    prev = text.chars().last().or(prev);
                    i = end;
                }
                None => {
                    push_text(&mut pieces, "&");
                    prev = Some('&');
                    i += 1;
                }
            },
            '~' if count_run(&chars, i, '~') != 2 => {
                let run = count_run(&chars, i, '~');
                push_text(&mut pieces, &"~".repeat(run));
                prev = Some('~');
                i += run;
            }
            // `*`/`_` emphasis and `~~strikethrough~~`.
            '*' | '_' | '~' => {
                let run = count_run(&chars, i, c);
                let next = chars.get(i + run).copied();
                let before_ws = prev.is_none_or(char::is_whitespace);
                let after_ws = next.is_none_or(char::is_whitespace);
                let before_p = prev.is_some_and(is_punct);
                let after_p = next.is_some_and(is_punct);
                let left = !after_ws && (!after_p || before_ws || before_p);
                let right = !before_ws && (!before_p || after_ws || after_p);
                let (can_open, can_close) = if c != '_' {
                    (left, right)
                } else {
                    (left && (!right || before_p), right && (!left || after_p))
                };
                pieces.push(Piece::Delim {
                    ch: c,
                    count: run,
                    can_open,
                    can_close,
                });
                prev = Some(c);
                i += run;
            }
            // Invisible characters pasted from web pages and word
            // processors: they would make equal prompts differ.
            '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => i += 1,
            _ => {
                push_text(&mut pieces, c.encode_utf8(&mut [0; 4]));
                prev = Some(c);
                i += 1;
            }
        }
    }
    pieces
}

fn count_run(chars: &[char], start: usize, c: char) -> usize {
    chars[start..].iter().take_while(|&&x| x == c).count()
}

/// How far (in characters) inline constructs (code spans, tags)
/// are searched for their end, so a long line full of stray `[`, `` ` ``
/// or `<` is read in linear time.
const MAX_INLINE_SPAN: usize = 2000;

/// How many earlier delimiter runs a closing `*`/`_` looks back through.
const MAX_EMPHASIS_LOOKBACK: usize = 64;

/// Index of a backtick run of exactly `run` characters at or after `from`.
fn find_closing_backticks(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut j = from;
    let end = chars.len().min(from.saturating_add(MAX_INLINE_SPAN));
    while j < end {
        if chars[j] == '`' {
            let n = count_run(chars, j, '`');
            if n == run {
                return Some(j);
            }
            j += n;
        } else {
            j += 1;
        }
    }
    None
}

/// `[^label]` at `start`: returns the index after `]`.
fn footnote_ref_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 2;
    while j < chars.len() && j - start < 64 {
        match chars[j] {
            ']' if j > start + 2 => return Some(j + 1),
            c if c.is_whitespace() || c == '[' || c == ']' => return None,
            _ => j += 1,
        }
    }
    None
}

/// For every opening bracket, the index of its matching closing bracket
/// (backslash-escaped characters skipped). One pass, so a line full of
/// stray brackets is still read in linear time.
#[derive(Debug, Default)]
struct Pairs {
    square: std::collections::HashMap<usize, usize>,
    round: std::collections::HashMap<usize, usize>,
}

impl Pairs {
    fn of(chars: &[char]) -> Pairs {
        let mut pairs = Pairs::default();
        let mut square: Vec<usize> = Vec::new();
        let mut round: Vec<usize> = Vec::new();
        let mut j = 0;
        while j < chars.len() {
            match chars[j] {
                '\\' => j += 1,
                '[' => square.push(j),
                '(' => round.push(j),
                ']' => {
                    if let Some(open) = square.pop() {
                        pairs.square.insert(open, j);
                    }
                }
                ')' => {
                    if let Some(open) = round.pop() {
                        pairs.round.insert(open, j);
                    }
                }
                _ => {}
            }
            j += 1;
        }
        pairs
    }
}

/// `[text](url)`, `[text][ref]` or `[text][]` at `start` (which holds `[`):
/// returns the link text and the index after the link.
fn parse_link(chars: &[char], start: usize, pairs: &Pairs) -> Option<(String, usize)> {
    let close = *pairs.square.get(&start)?;
    let text: String = chars.get(start + 1..close)?.iter().collect();
    match chars.get(close + 1) {
        Some('(') => {
            let end = *pairs.round.get(&(close + 1))?;
            Some((text, end + 1))
        }
        Some('[') => {
            let end = *pairs.square.get(&(close + 1))?;
            Some((text, end + 1))
        }
        _ => None,
    }
}

/// A known HTML tag (`<br>`, `<img …/>`, `</div>`) at `start`: the index
/// after `>`, and whether the tag separates words (block tags and `<br>`).
fn html_tag_end(chars: &[char], start: usize) -> Option<(usize, bool)> {
    let mut j = start + 1;
    if chars.get(j) == Some(&'/') {
        j += 1;
    }
    let name_start = j;
    while j < chars.len() && chars[j].is_ascii_alphanumeric() {
        j += 1;
    }
    let name: String = chars[name_start..j].iter().collect::<String>();
    let name = name.to_ascii_lowercase();
    if name.is_empty() || !HTML_TAGS.contains(&name.as_str()) {
        return None;
    }
    match chars.get(j) {
        Some('>') | Some('/') | Some(' ') | Some('\t') => {}
        _ => return None,
    }
    let mut quote: Option<char> = None;
    let limit = chars.len().min(start.saturating_add(MAX_INLINE_SPAN));
    while j < limit {
        let c = chars[j];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '>' => {
                let inline = matches!(
                    name.as_str(),
                    "a" | "abbr"
                        | "b"
                        | "code"
                        | "del"
                        | "em"
                        | "font"
                        | "i"
                        | "ins"
                        | "kbd"
                        | "mark"
                        | "s"
                        | "small"
                        | "span"
                        | "strong"
                        | "sub"
                        | "sup"
                        | "u"
                );
                return Some((j + 1, !inline));
            }
            None if c == '<' => return None,
            None => {}
        }
        j += 1;
    }
    None
}

/// `<https://…>` or `<mailto:…>`: the index after `>`.
fn autolink_end(chars: &[char], start: usize) -> Option<usize> {
    let rest: String = chars[start + 1..].iter().take(12).collect();
    let lower = rest.to_ascii_lowercase();
    if !(lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("mailto:"))
    {
        return None;
    }
    let mut j = start + 1;
    while j < chars.len() {
        match chars[j] {
            '>' => return Some(j + 1),
            c if c.is_whitespace() || c == '<' => return None,
            _ => j += 1,
        }
    }
    None
}

/// A common HTML entity at `start` (`&amp;`, `&nbsp;`, `&#39;`).
fn entity(chars: &[char], start: usize) -> Option<(&'static str, usize)> {
    const ENTITIES: &[(&str, &str)] = &[
        ("&amp;", "&"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&apos;", "'"),
        ("&#39;", "'"),
        ("&nbsp;", " "),
        ("&mdash;", "—"),
        ("&ndash;", "–"),
        ("&laquo;", "«"),
        ("&raquo;", "»"),
    ];
    let ahead: String = chars[start..].iter().take(8).collect();
    ENTITIES
        .iter()
        .find(|(name, _)| ahead.starts_with(name))
        .map(|(name, text)| (*text, start + name.chars().count()))
}

/// The text between two pieces, when it is all literal text.
fn literal_between(pieces: &[Piece]) -> Option<String> {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => s.push_str(t),
            Piece::Delim { .. } => return None,
        }
    }
    Some(s)
}

/// Matches emphasis openers with closers (CommonMark's "process emphasis",
/// without the rule of three) and drops the matched markers. Underscore
/// pairs around a bare identifier (`__init__`, `_x_`) are kept as text.
fn resolve_emphasis(mut pieces: Vec<Piece>) -> Vec<Piece> {
    let mut ci = 0;
    while ci < pieces.len() {
        let (ch, can_close) = match &pieces[ci] {
            Piece::Delim {
                ch,
                count,
                can_close,
                ..
            } if *count > 0 => (*ch, *can_close),
            _ => {
                ci += 1;
                continue;
            }
        };
        if !can_close {
            ci += 1;
            continue;
        }
        let mut matched = false;
        let mut identifier = None;
        let mut oi = ci;
        let mut looked = 0;
        while oi > 0 && looked < MAX_EMPHASIS_LOOKBACK {
            oi -= 1;
            let Piece::Delim {
                ch: och,
                count: ocount,
                can_open,
                ..
            } = &pieces[oi]
            else {
                continue;
            };
            looked += 1;
            if *och != ch || *ocount == 0 || !*can_open {
                continue;
            }
            let ccount = match &pieces[ci] {
                Piece::Delim { count, .. } => *count,
                Piece::Text(_) => 0,
            };
            if ch == '_' && (*ocount >= 2 || ccount >= 2) {
                if let Some(inner) = literal_between(&pieces[oi + 1..ci]) {
                    if !inner.is_empty()
                        && inner
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                    {
                        // `__slots__`: an identifier, not emphasis.
                        identifier = Some(oi);
                        break;
                    }
                }
            }
            matched = true;
            break;
        }
        if let Some(oi) = identifier {
            for k in [oi, ci] {
                if let Piece::Delim { ch, count, .. } = &pieces[k] {
                    pieces[k] = Piece::Text(ch.to_string().repeat(*count));
                }
            }
            ci += 1;
            continue;
        }
        if !matched {
            ci += 1;
            continue;
        }
        let ocount = match &pieces[oi] {
            Piece::Delim { count, .. } => *count,
            Piece::Text(_) => 0,
        };
        let ccount = match &pieces[ci] {
            Piece::Delim { count, .. } => *count,
            Piece::Text(_) => 0,
        };
        let used = if ocount >= 2 && ccount >= 2 { 2 } else { 1 };
        // Delimiters between the pair can no longer match: make them text.
        for p in pieces.iter_mut().take(ci).skip(oi + 1) {
            if let Piece::Delim { ch, count, .. } = p {
                *p = Piece::Text(ch.to_string().repeat(*count));
            }
        }
        if let Piece::Delim { count, .. } = &mut pieces[oi] {
            *count -= used;
        }
        if let Piece::Delim { count, .. } = &mut pieces[ci] {
            *count -= used;
        }
        // Stay on the same closer: it may close another opener too.
    }
    pieces
}

fn render(pieces: Vec<Piece>) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(&t),
            Piece::Delim { ch, count, .. } => {
                for _ in 0..count {
                    out.push(ch);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_bold_and_italic() {
        assert_eq!(plain("**Что такое GIL?**"), "Что такое GIL?");
        assert_eq!(plain("__Важно__ знать"), "Важно знать");
        assert_eq!(plain("an *italic* word"), "an italic word");
        assert_eq!(plain("an _italic_ phrase here"), "an italic phrase here");
        assert_eq!(plain("***both***"), "both");
        assert_eq!(plain("~~old~~ new"), "old new");
        assert_eq!(
            plain("(~3.8+) and ~x~ and a ~~~ b"),
            "(~3.8+) and ~x~ and a ~~~ b"
        );
        assert_eq!(
            plain("## **Уровень 1: Основы Python (1-25)**"),
            "Уровень 1: Основы Python (1-25)"
        );
    }

    #[test]
    fn keeps_identifiers_and_stars_that_are_not_emphasis() {
        assert_eq!(
            plain("Зачем используют *args и **kwargs?"),
            "Зачем используют *args и **kwargs?"
        );
        assert_eq!(
            plain("Порядок параметров: позиционные, *args, именованные, **kwargs"),
            "Порядок параметров: позиционные, *args, именованные, **kwargs"
        );
        assert_eq!(plain("Что такое __slots__"), "Что такое __slots__");
        assert_eq!(
            plain("Протокол __enter__ / __exit__"),
            "Протокол __enter__ / __exit__"
        );
        assert_eq!(
            plain("Как (__aenter__/__aexit__)?"),
            "Как (__aenter__/__aexit__)?"
        );
        assert_eq!(plain("`__new__` vs `__init__`"), "__new__ vs __init__");
        assert_eq!(
            plain("Когда выполняется __init__.py?"),
            "Когда выполняется __init__.py?"
        );
        assert_eq!(
            plain("snake_case and my_var_name"),
            "snake_case and my_var_name"
        );
        assert_eq!(plain("a * b * c"), "a * b * c");
        assert_eq!(
            plain("Расскажи про оператор **"),
            "Расскажи про оператор **"
        );
        assert_eq!(plain("2 ** 10"), "2 ** 10");
    }

    #[test]
    fn resolves_escapes() {
        assert_eq!(plain(r"Что такое \_\_slots__  "), "Что такое __slots__");
        assert_eq!(
            plain(r"В чем смысл параметров \_value, \_\_value"),
            "В чем смысл параметров _value, __value"
        );
        assert_eq!(plain(r"\*not emphasis\*"), "*not emphasis*");
        assert_eq!(plain(r"C:\path"), r"C:\path");
    }

    #[test]
    fn code_spans_keep_their_text() {
        assert_eq!(
            plain("Объясните `__slots__` и когда"),
            "Объясните __slots__ и когда"
        );
        assert_eq!(plain("Разница `is` и `==`"), "Разница is и ==");
        assert_eq!(plain("`` a`b ``"), "a`b");
        assert_eq!(plain("`*args` and `**kw`"), "*args and **kw");
        assert_eq!(plain("unclosed ` tick"), "unclosed ` tick");
    }

    #[test]
    fn links_images_and_html() {
        assert_eq!(plain("[Mixins](https://realpython.com/x#y)"), "Mixins");
        assert_eq!(
            plain("see [the docs](http://a.b/(c)) now"),
            "see the docs now"
        );
        assert_eq!(plain("![logo](x.png) Title"), "Title");
        assert_eq!(plain("ref [text][1] here"), "ref text here");
        assert_eq!(
            plain(r#"<img src="https://x/a%402x.png" class="logo" width="120"/>"#),
            ""
        );
        assert_eq!(plain("one<br>two"), "one two");
        assert_eq!(plain("<div style=\"a\">⁂</div>"), "⁂");
        assert_eq!(plain("List<int> and a < b > c"), "List<int> and a < b > c");
        assert_eq!(plain("<https://example.com>"), "https://example.com");
        assert_eq!(plain("Tom &amp; Jerry&nbsp;go"), "Tom & Jerry go");
        assert_eq!(plain("[... ] и ( ... )"), "[... ] и ( ... )");
        assert_eq!(plain("Списки [list]"), "Списки [list]");
    }

    #[test]
    fn footnote_references_removed() {
        assert_eq!(
            plain("опыт в разработке[^1][^2][^3]."),
            "опыт в разработке."
        );
        assert_eq!(plain("a [^x y] b"), "a [^x y] b");
    }

    #[test]
    fn block_marks_removed() {
        assert_eq!(plain("1. **Что такое GIL?**"), "Что такое GIL?");
        assert_eq!(plain("12) item"), "item");
        assert_eq!(plain("- [ ] Как работает GIL"), "Как работает GIL");
        assert_eq!(plain("  - [x] done"), "done");
        assert_eq!(plain("* bullet"), "bullet");
        assert_eq!(plain("+ bullet"), "bullet");
        assert_eq!(plain("– asyncio.run()"), "asyncio.run()");
        assert_eq!(plain("### 1. Асинхронность"), "Асинхронность");
        assert_eq!(plain("> quoted"), "quoted");
        assert_eq!(plain("3.7 is a version"), "3.7 is a version");
        assert_eq!(plain("-12 // 10"), "-12 // 10");
        assert_eq!(plain("*args"), "*args");
    }

    #[test]
    fn whitespace_collapsed() {
        assert_eq!(plain("  many   spaces\there  "), "many spaces here");
        assert_eq!(plain("Что такое MRO  "), "Что такое MRO");
        assert_eq!(
            plain("Что\u{00A0}такое\u{200B} GIL\u{FEFF}?"),
            "Что такое GIL?"
        );
        assert_eq!(plain("**1. Question?**"), "Question?");
        assert_eq!(plain("hard break\\"), "hard break");
        assert_eq!(plain(""), "");
        assert_eq!(plain("   "), "");
    }

    #[test]
    fn helpers() {
        assert_eq!(heading("## Python"), Some((2, "Python".to_string())));
        assert_eq!(heading("### Title ###"), Some((3, "Title".to_string())));
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("####### seven"), None);
        assert_eq!(heading("## `__hash__`"), Some((2, "__hash__".to_string())));
        assert!(is_question("1. **Что такое GIL?**"));
        assert!(!is_question("- Экономия памяти"));
        assert_eq!(strip_list_marker("  - [ ] ACID свойства"), "ACID свойства");
        let item = list_item("    - Как обойти GIL?").unwrap();
        assert_eq!(item.indent, 4);
        assert_eq!(item.checked, None);
        assert_eq!(list_item("12. **Q**").unwrap().number, Some(12));
        assert_eq!(list_item("- [x] yes").unwrap().checked, Some(true));
        assert!(list_item("plain line").is_none());
        assert!(list_item("*args").is_none());
        assert_eq!(code_fence("```python"), Some(('`', 3)));
        assert_eq!(code_fence("~~~~"), Some(('~', 4)));
        assert_eq!(code_fence("``"), None);
        assert!(is_rule("___"));
        assert!(is_rule("- - -"));
        assert!(!is_rule("--"));
        assert!(is_footnote_definition("[^12]: https://example.com"));
        assert!(!is_footnote_definition("[^12] text"));
        assert_eq!(normalize("  Что такое GIL?  "), normalize("что  такое gil"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "[",
            "]",
            "[^",
            "[^]",
            "![",
            "](",
            "<",
            "</",
            "<br",
            "&",
            "&#",
            "`",
            "``",
            "\\",
            "*",
            "_",
            "**_",
            "_**",
            "[a](",
            "[a][",
            "<img src=\"",
            "- [",
            "1.",
            "#",
            "🙂*🙂*🙂",
            "__a b__ _",
            "*a **b* c**",
        ] {
            let _ = plain(s);
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_never_panics_and_is_trimmed(s in r"[-*_`\\\[\]()<>!^#&;a-zа-я0-9 .:?/\t]{0,80}") {
            let out = plain(&s);
            proptest::prop_assert_eq!(out.trim(), out.as_str());
            proptest::prop_assert!(!out.contains("  "));
        }

        #[test]
        fn plain_never_panics_on_any_string(s in r"\PC{0,120}") {
            let _ = plain(&s);
            let _ = heading(&s);
            let _ = list_item(&s);
            let _ = normalize(&s);
        }
    }

    #[test]
    fn keeping_code_leaves_code_spans_as_written_and_the_rest_plain() {
        let line = "1. Is `len([])` **zero** or ``a`b``? [see](http://x)";
        assert_eq!(plain(line), "Is len([]) zero or a`b? see");
        assert_eq!(
            plain_keeping_code(line),
            "Is `len([])` zero or ``a`b``? see"
        );
        assert_eq!(plain_keeping_code("an `unclosed span"), "an `unclosed span");
    }
}
