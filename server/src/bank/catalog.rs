//! The topic catalog: every loaded bank merged into one tree of topics, with
//! duplicate questions folded together, and reproducible random draws.
//!
//! Banks written by different people name the same topic differently
//! ("Python / Basics", "python: basics"), and the same question often
//! appears in several files. A host picks topics, not files, so the catalog
//! merges topics by normalized title path and questions by normalized prompt,
//! keeping every place a question was found in its `sources`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::bank::{Bank, BankError, Kind, Question, MAX_BANK_BYTES};

/// Token-set (Jaccard) similarity from which two different prompts are
/// reported as near-duplicates: high enough that "list vs tuple" and
/// "list vs set" questions are not flagged.
pub const NEAR_DUPLICATE_THRESHOLD: f64 = 0.8;

/// Prompts with fewer distinct words than this are too short to call
/// near-duplicates with any confidence.
const NEAR_DUPLICATE_MIN_TOKENS: usize = 3;

/// Where one catalog question came from (a question may have several).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub bank_id: String,
    pub file: String,
    pub line: usize,
    /// The id the bank itself gave the question; [`Catalog::question`]
    /// accepts it too, so ids shown by `check` keep working.
    pub question_id: String,
}

/// A question as the catalog holds it: the question, the merged topic it
/// sits in, and every source it was found in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogQuestion {
    /// The question; its `id` is the catalog id (stable: derived from the
    /// normalized prompt and kind, so it survives reloads and reordering).
    pub question: Question,
    /// Titles of the merged topic path, outermost first.
    pub topic_path: Vec<String>,
    /// Id of the merged topic the question sits in.
    pub topic_id: String,
    /// Every merged topic the question was found in (first is `topic_id`);
    /// selecting any of them can draw it.
    pub topic_ids: Vec<String>,
    pub sources: Vec<Source>,
    /// The host's own version replaced the imported one (host views only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

/// One merged topic and its subtopics, as `GET /api/banks` lists them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicNode {
    /// Stable id derived from the normalized title path.
    pub id: String,
    /// Title of this level, as first seen.
    pub title: String,
    /// Titles from the outermost topic to this one, as first seen.
    pub path: Vec<String>,
    /// Distinct questions in this topic and all its descendants, i.e. what
    /// selecting it can draw.
    pub questions: usize,
    /// How many of those questions each scored or option mode can draw, so
    /// the host console can say when a topic has none for the chosen mode.
    pub modes: ModeCounts,
    pub children: Vec<TopicNode>,
}

/// Questions of a topic (with its descendants) that fit a mode's draw.
/// Buzz and self-assessment take any question, so they are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ModeCounts {
    /// Options with an answer key.
    pub vote: usize,
    /// Options, keyed or not.
    pub poll: usize,
    /// Open and short-answer questions (typed answers).
    pub text: usize,
}

/// Kinds with options: what `vote` and `poll` draw.
pub const OPTION_KINDS: [Kind; 3] = [Kind::Choice, Kind::Multi, Kind::Truefalse];

/// Kinds asked for a typed answer: what `text` draws, so a true/false
/// statement or a choice question never turns into an open question.
pub const TYPED_KINDS: [Kind; 2] = [Kind::Open, Kind::Short];

/// Whether `q` has a key a vote can score: a correct option, or a
/// true/false statement whose answer says which.
pub fn has_key(q: &Question) -> bool {
    q.options.iter().any(|o| o.correct)
        || (q.kind == Kind::Truefalse && q.options.is_empty() && !q.answer.trim().is_empty())
}

impl ModeCounts {
    fn of<'a>(questions: impl Iterator<Item = &'a Question>) -> ModeCounts {
        let mut c = ModeCounts::default();
        for q in questions {
            if OPTION_KINDS.contains(&q.kind) {
                c.poll += 1;
                if has_key(q) {
                    c.vote += 1;
                }
            }
            if TYPED_KINDS.contains(&q.kind) {
                c.text += 1;
            }
        }
        c
    }
}

/// Fills every node's [`ModeCounts`] from the questions it can draw.
fn fill_modes(
    nodes: &mut [TopicNode],
    members: &HashMap<String, Vec<usize>>,
    questions: &[CatalogQuestion],
) {
    for node in nodes {
        let idxs = members.get(&node.id).map(Vec::as_slice).unwrap_or_default();
        node.modes = ModeCounts::of(
            idxs.iter()
                .filter_map(|&i| questions.get(i))
                .map(|q| &q.question),
        );
        fill_modes(&mut node.children, members, questions);
    }
}

/// Two different catalog questions whose prompts share most of their words;
/// `check` reports them so a bank author can merge or reword them.
#[derive(Debug, Clone)]
pub struct NearDuplicate {
    pub a: Arc<CatalogQuestion>,
    pub b: Arc<CatalogQuestion>,
    /// Jaccard similarity of the prompts' word sets, in `0.0..=1.0`.
    pub similarity: f64,
}

/// All banks merged. Immutable: an upload builds a new catalog and swaps it in.
#[derive(Debug, Default)]
pub struct Catalog {
    banks: Vec<Bank>,
    questions: Vec<Arc<CatalogQuestion>>,
    /// Catalog ids and every source question id → index in `questions`.
    ids: HashMap<String, usize>,
    /// Root topics, children nested.
    topics: Vec<TopicNode>,
    /// Topic id → question indices of that topic and its descendants, sorted.
    /// A bank's own topic ids and the bank id are keys too.
    members: HashMap<String, Vec<usize>>,
}

/// Loads every bank file of `dir` (sorted by name, hidden files skipped)
/// into one catalog. A bad file is logged and returned as an error; the
/// other files still load, so one broken bank never keeps the server down.
pub fn load_dir(dir: &Path) -> (Catalog, Vec<BankError>) {
    let mut errors = Vec::new();
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read the bank folder; starting with no banks");
            return (Catalog::default(), errors);
        }
    };
    paths.sort();
    let mut banks = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read_bank(&path, &name) {
            Ok(bank) => {
                tracing::info!(file = %name, bank = %bank.id, format = %bank.format,
                    questions = bank.topics.iter().map(|t| t.questions.len()).sum::<usize>(),
                    "bank loaded");
                banks.push(bank);
            }
            Err(e) => {
                tracing::warn!(file = %name, code = e.code(), error = %e, "bank skipped");
                errors.push(e);
            }
        }
    }
    (Catalog::from_banks(banks), errors)
}

/// The banks built into the binary (see [`crate::assets::SeedBanks`]), in
/// file-name order, as [`load_dir`] would read the repository's `seeds/`.
pub fn load_embedded() -> (Catalog, Vec<BankError>) {
    let mut names: Vec<String> = crate::assets::SeedBanks::iter()
        .map(|n| n.into_owned())
        .filter(|n| !n.starts_with('.') && !n.contains('/'))
        .collect();
    names.sort();
    let mut banks = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let Some(file) = crate::assets::SeedBanks::get(&name) else {
            continue;
        };
        match crate::bank::parse(&name, &file.data) {
            Ok(bank) => banks.push(bank),
            Err(e) => {
                tracing::warn!(file = %name, code = e.code(), error = %e, "built-in bank skipped");
                errors.push(e);
            }
        }
    }
    tracing::info!(banks = banks.len(), "built-in banks loaded");
    (Catalog::from_banks(banks), errors)
}

/// Reads and parses one bank file, refusing oversize files before reading
/// them into memory.
pub fn read_bank(path: &Path, name: &str) -> Result<Bank, BankError> {
    let io_error = |e: std::io::Error| BankError::Encoding {
        file: name.to_string(),
        line: 0,
        message: format!("cannot read the file: {e}"),
    };
    let size = std::fs::metadata(path).map_err(io_error)?.len();
    if size > MAX_BANK_BYTES as u64 {
        return Err(BankError::TooLarge {
            file: name.to_string(),
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: MAX_BANK_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io_error)?;
    crate::bank::parse(name, &bytes)
}

/// Lower-case words only: case, punctuation and spacing never make two
/// titles or prompts different.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        // A title made only of punctuation still needs a distinct key.
        return s.trim().to_lowercase();
    }
    out
}

fn hash_id(prefix: &str, key: &str) -> String {
    format!(
        "{prefix}{:016x}",
        xxhash_rust::xxh3::xxh3_64(key.as_bytes())
    )
}

/// Mutable topic tree used while merging banks.
#[derive(Default)]
struct TreeBuilder {
    nodes: Vec<NodeData>,
    by_key: HashMap<String, usize>,
    roots: Vec<usize>,
}

struct NodeData {
    id: String,
    title: String,
    path: Vec<String>,
    children: Vec<usize>,
    direct: Vec<usize>,
}

impl TreeBuilder {
    /// The node for `path`, creating it and its missing ancestors.
    fn ensure(&mut self, path: &[String]) -> usize {
        let mut parent: Option<usize> = None;
        let mut key = String::new();
        for (depth, title) in path.iter().enumerate() {
            if depth > 0 {
                key.push('/');
            }
            key.push_str(&normalize(title));
            let idx = match self.by_key.get(&key) {
                Some(&idx) => idx,
                None => {
                    let idx = self.nodes.len();
                    self.nodes.push(NodeData {
                        id: hash_id("t", &key),
                        title: title.clone(),
                        path: path[..=depth].to_vec(),
                        children: Vec::new(),
                        direct: Vec::new(),
                    });
                    self.by_key.insert(key.clone(), idx);
                    match parent.and_then(|p| self.nodes.get_mut(p)) {
                        Some(p) => p.children.push(idx),
                        None => self.roots.push(idx),
                    }
                    idx
                }
            };
            parent = Some(idx);
        }
        parent.unwrap_or_default()
    }

    /// Builds the public tree below `idx` and records each topic's members.
    fn finish(&self, idx: usize, members: &mut HashMap<String, Vec<usize>>) -> Option<TopicNode> {
        let node = self.nodes.get(idx)?;
        let children: Vec<TopicNode> = node
            .children
            .iter()
            .filter_map(|&c| self.finish(c, members))
            .collect();
        let mut all: Vec<usize> = node.direct.clone();
        for child in &children {
            if let Some(m) = members.get(&child.id) {
                all.extend_from_slice(m);
            }
        }
        all.sort_unstable();
        all.dedup();
        let count = all.len();
        members.insert(node.id.clone(), all);
        Some(TopicNode {
            id: node.id.clone(),
            title: node.title.clone(),
            path: node.path.clone(),
            questions: count,
            modes: ModeCounts::default(),
            children,
        })
    }
}

impl Catalog {
    /// Merges `banks` into one catalog.
    pub fn from_banks(banks: Vec<Bank>) -> Catalog {
        Catalog::merge(banks, &HashSet::new())
    }

    /// One host's view of the catalog: every shared bank, plus the host's
    /// library quizzes as banks of their own (their questions are never
    /// folded into a bank question with the same prompt, and keep their
    /// library ids), with `edits` (catalog id → the host's version)
    /// replacing imported questions and marked `edited`.
    pub fn for_host(&self, library: Vec<Bank>, edits: &HashMap<String, Question>) -> Catalog {
        let distinct: HashSet<String> = library.iter().map(|b| b.id.clone()).collect();
        let mut banks = self.banks.clone();
        banks.extend(library);
        let mut catalog = Catalog::merge(banks, &distinct);
        for (id, edit) in edits {
            let Some(&idx) = catalog.ids.get(id) else {
                continue;
            };
            let Some(slot) = catalog.questions.get_mut(idx) else {
                continue;
            };
            let mut cq = CatalogQuestion::clone(slot);
            let catalog_id = cq.question.id.clone();
            let line = cq.question.line;
            cq.question = edit.clone();
            cq.question.id = catalog_id;
            cq.question.line = line;
            cq.edited = true;
            *slot = Arc::new(cq);
        }
        catalog
    }

    /// Merges `banks`; questions of the banks in `distinct` are kept apart
    /// under their own ids instead of folded by prompt.
    fn merge(banks: Vec<Bank>, distinct: &HashSet<String>) -> Catalog {
        let mut tree = TreeBuilder::default();
        let mut questions: Vec<CatalogQuestion> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        // (topic node, question) pairs already linked, so a topic lists a
        // folded duplicate once without scanning its whole list.
        let mut linked: HashSet<(usize, usize)> = HashSet::new();
        // A bank's own topic and bank ids select exactly its questions.
        let mut own: HashMap<String, Vec<usize>> = HashMap::new();
        for bank in &banks {
            for topic in &bank.topics {
                let path = if topic.path.is_empty() {
                    vec![bank.title.clone()]
                } else {
                    topic.path.clone()
                };
                let node = tree.ensure(&path);
                let (topic_id, topic_path) = match tree.nodes.get(node) {
                    Some(n) => (n.id.clone(), n.path.clone()),
                    None => continue,
                };
                for q in &topic.questions {
                    let source = Source {
                        bank_id: bank.id.clone(),
                        file: bank.file.clone(),
                        line: q.line,
                        question_id: q.id.clone(),
                    };
                    let own_id = distinct.contains(&bank.id);
                    let key = if own_id {
                        format!("library|{}|{}", bank.id, q.id)
                    } else {
                        format!("{:?}|{}", q.kind, normalize(&q.prompt))
                    };
                    let idx = match by_key.get(&key) {
                        Some(&idx) => {
                            if let Some(existing) = questions.get_mut(idx) {
                                existing.sources.push(source);
                                if !existing.topic_ids.contains(&topic_id) {
                                    existing.topic_ids.push(topic_id.clone());
                                }
                                absorb(&mut existing.question, q);
                            }
                            idx
                        }
                        None => {
                            let idx = questions.len();
                            let mut question = q.clone();
                            if !own_id {
                                question.id = hash_id("q", &key);
                            }
                            questions.push(CatalogQuestion {
                                question,
                                topic_path: topic_path.clone(),
                                topic_id: topic_id.clone(),
                                topic_ids: vec![topic_id.clone()],
                                sources: vec![source],
                                edited: false,
                            });
                            by_key.insert(key, idx);
                            idx
                        }
                    };
                    if linked.insert((node, idx)) {
                        if let Some(n) = tree.nodes.get_mut(node) {
                            n.direct.push(idx);
                        }
                    }
                    own.entry(topic.id.clone()).or_default().push(idx);
                    own.entry(bank.id.clone()).or_default().push(idx);
                }
            }
        }
        let mut members = HashMap::new();
        let mut topics: Vec<TopicNode> = tree
            .roots
            .iter()
            .filter_map(|&r| tree.finish(r, &mut members))
            .collect();
        fill_modes(&mut topics, &members, &questions);
        for (id, mut idxs) in own {
            idxs.sort_unstable();
            idxs.dedup();
            members.entry(id).or_insert(idxs);
        }
        let mut ids = HashMap::new();
        for (idx, q) in questions.iter().enumerate() {
            ids.insert(q.question.id.clone(), idx);
            for s in &q.sources {
                ids.entry(s.question_id.clone()).or_insert(idx);
            }
        }
        Catalog {
            banks,
            questions: questions.into_iter().map(Arc::new).collect(),
            ids,
            topics,
            members,
        }
    }

    /// A new catalog with `bank` added; a bank with the same file name is
    /// replaced, so re-uploading a corrected file does not duplicate it.
    pub fn with_bank(&self, bank: Bank) -> Catalog {
        let mut banks: Vec<Bank> = self
            .banks
            .iter()
            .filter(|b| b.file != bank.file && b.id != bank.id)
            .cloned()
            .collect();
        banks.push(bank);
        Catalog::from_banks(banks)
    }

    /// The banks the catalog was built from, in load order.
    pub fn banks(&self) -> &[Bank] {
        &self.banks
    }

    /// One bank by its id.
    pub fn bank(&self, id: &str) -> Option<&Bank> {
        self.banks.iter().find(|b| b.id == id)
    }

    /// The merged topic tree (roots; children nested).
    pub fn topics(&self) -> &[TopicNode] {
        &self.topics
    }

    /// Every distinct question, in load order.
    pub fn questions(&self) -> &[Arc<CatalogQuestion>] {
        &self.questions
    }

    /// Looks a question up by its catalog id or by any id a bank gave it.
    pub fn question(&self, id: &str) -> Option<Arc<CatalogQuestion>> {
        self.ids
            .get(id)
            .and_then(|&idx| self.questions.get(idx))
            .cloned()
    }

    /// Draws up to `n` distinct questions from `topics` (a parent topic
    /// selects its children; empty means every topic; unknown ids select
    /// nothing; a bank's own topic id or a bank id selects just its
    /// questions, for hosts picking from one bank's view), skipping `exclude` (catalog or source ids) and, when given,
    /// questions not of one of `kinds`. The same seed and catalog always give
    /// the same draw.
    pub fn draw(
        &self,
        topics: &[String],
        n: usize,
        exclude: &HashSet<String>,
        kinds: Option<&[Kind]>,
        seed: u64,
    ) -> Vec<Arc<CatalogQuestion>> {
        self.draw_where(topics, n, |id| exclude.contains(id), kinds, seed)
    }

    /// [`Catalog::draw`] with the excluded ids named by a predicate, so a
    /// room that asked hundreds of questions need not build a set of their
    /// ids for every draw (it keeps them packed, see `room::model::Released`).
    pub fn draw_where(
        &self,
        topics: &[String],
        n: usize,
        excluded: impl Fn(&str) -> bool,
        kinds: Option<&[Kind]>,
        seed: u64,
    ) -> Vec<Arc<CatalogQuestion>> {
        let mut pool: Vec<usize> = if topics.is_empty() {
            (0..self.questions.len()).collect()
        } else {
            let mut v: Vec<usize> = topics
                .iter()
                .filter_map(|t| self.members.get(t))
                .flatten()
                .copied()
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        pool.retain(|&idx| {
            self.questions.get(idx).is_some_and(|q| {
                kinds.is_none_or(|k| k.contains(&q.question.kind))
                    && !excluded(&q.question.id)
                    && !q.sources.iter().any(|s| excluded(&s.question_id))
            })
        });
        let mut rng = StdRng::seed_from_u64(seed);
        let take = n.min(pool.len());
        let (chosen, _) = pool.partial_shuffle(&mut rng, take);
        chosen
            .iter()
            .filter_map(|&idx| self.questions.get(idx).cloned())
            .collect()
    }

    /// Pairs of different questions whose prompts share most words (word
    /// bags with Jaccard similarity at least [`NEAR_DUPLICATE_THRESHOLD`]).
    pub fn near_duplicates(&self) -> Vec<NearDuplicate> {
        self.near_duplicate_scan().pairs
    }

    /// Like [`Catalog::near_duplicates`], saying whether the search ran to
    /// the end. Prefix filtering keeps real banks far below the budget of
    /// [`NEAR_DUPLICATE_BUDGET`] comparisons; a file of near-identical lines
    /// stops there instead of running for minutes.
    pub fn near_duplicate_scan(&self) -> NearDuplicateScan {
        // Words become ids ordered by rarity (rarest first), so a sorted
        // id list starts with a prompt's rarest words.
        let bags: Vec<Vec<String>> = self
            .questions
            .iter()
            .map(|q| word_bag(&q.question.prompt))
            .collect();
        let mut df: HashMap<&str, usize> = HashMap::new();
        for bag in &bags {
            for w in bag {
                *df.entry(w.as_str()).or_default() += 1;
            }
        }
        let mut vocab: Vec<(&str, usize)> = df.into_iter().collect();
        vocab.sort_unstable_by_key(|(w, n)| (*n, *w));
        let ids: HashMap<&str, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, (w, _))| (*w, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let sets: Vec<Vec<u32>> = bags
            .iter()
            .map(|bag| {
                let mut v: Vec<u32> = bag
                    .iter()
                    .filter_map(|w| ids.get(w.as_str()).copied())
                    .collect();
                v.sort_unstable();
                v
            })
            .collect();

        let t = NEAR_DUPLICATE_THRESHOLD;
        let mut postings: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut pairs = Vec::new();
        let mut budget = NEAR_DUPLICATE_BUDGET;
        for (i, set) in sets.iter().enumerate() {
            if set.len() < NEAR_DUPLICATE_MIN_TOKENS {
                continue;
            }
            // Two bags this similar must share one of their `prefix` rarest words.
            let need = (t * set.len() as f64).ceil() as usize;
            let prefix = set
                .get(..set.len().saturating_sub(need).saturating_add(1))
                .unwrap_or(set);
            let mut candidates: Vec<usize> = prefix
                .iter()
                .filter_map(|w| postings.get(w))
                .flatten()
                .copied()
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            for j in candidates {
                let Some(other) = sets.get(j) else { continue };
                // Sizes too far apart cannot reach the threshold.
                let (small, large) = (set.len().min(other.len()), set.len().max(other.len()));
                if (small as f64) < t * large as f64 {
                    continue;
                }
                if budget == 0 {
                    return NearDuplicateScan {
                        pairs,
                        complete: false,
                    };
                }
                budget -= 1;
                let inter = sorted_overlap(set, other);
                let sim = inter as f64 / (set.len() + other.len() - inter).max(1) as f64;
                if sim >= t {
                    if let (Some(a), Some(b)) = (self.questions.get(j), self.questions.get(i)) {
                        pairs.push(NearDuplicate {
                            a: a.clone(),
                            b: b.clone(),
                            similarity: sim,
                        });
                    }
                }
            }
            for w in prefix {
                postings.entry(*w).or_default().push(i);
            }
        }
        NearDuplicateScan {
            pairs,
            complete: true,
        }
    }
}

/// Most prompt pairs [`Catalog::near_duplicate_scan`] compares before it
/// stops (and says so).
pub const NEAR_DUPLICATE_BUDGET: usize = 2_000_000;

/// What a near-duplicate search found and whether it finished.
#[derive(Debug, Clone)]
pub struct NearDuplicateScan {
    pub pairs: Vec<NearDuplicate>,
    /// False when the comparison budget ran out; more pairs may exist.
    pub complete: bool,
}

/// A prompt's words; a repeated word counts once per occurrence ("from x
/// import y" twice is not "from x import y" once), so set similarity over
/// these tokens is bag similarity over the words.
fn word_bag(prompt: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    normalize(prompt)
        .split(' ')
        .map(|w| {
            let n = seen.entry(w.to_string()).or_default();
            *n += 1;
            if *n == 1 {
                w.to_string()
            } else {
                format!("{w}#{n}")
            }
        })
        .collect()
}

/// Number of common elements of two sorted lists.
fn sorted_overlap(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Folds what a duplicate adds (an answer, follow-ups, notes) into the
/// question already in the catalog, so merging loses nothing.
fn absorb(into: &mut Question, dup: &Question) {
    if into.answer.is_empty() && !dup.answer.is_empty() {
        into.answer = dup.answer.clone();
    }
    if into.options.is_empty() && !dup.options.is_empty() {
        into.options = dup.options.clone();
    }
    for f in &dup.followups {
        if !into.followups.contains(f) {
            into.followups.push(f.clone());
        }
    }
    for n in &dup.notes {
        if !into.notes.contains(n) {
            into.notes.push(n.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::{AnswerOption, Topic};

    fn q(id: &str, prompt: &str, kind: Kind) -> Question {
        Question {
            id: id.to_string(),
            prompt: prompt.to_string(),
            kind,
            options: Vec::new(),
            answer: String::new(),
            followups: Vec::new(),
            notes: Vec::new(),
            line: 1,
            points: Default::default(),
            time_limit_ms: None,
            mode: None,
        }
    }

    fn bank(id: &str, topics: Vec<(Vec<&str>, Vec<Question>)>) -> Bank {
        Bank {
            id: id.to_string(),
            title: format!("Bank {id}"),
            file: format!("{id}.md"),
            description: String::new(),
            format: "test".to_string(),
            topics: topics
                .into_iter()
                .enumerate()
                .map(|(i, (path, questions))| Topic {
                    id: format!("{id}-t{i}"),
                    path: path.into_iter().map(str::to_string).collect(),
                    questions,
                })
                .collect(),
            warnings: Vec::new(),
        }
    }

    fn find<'a>(nodes: &'a [TopicNode], path: &[&str]) -> Option<&'a TopicNode> {
        for n in nodes {
            let p: Vec<String> = n.path.iter().map(|s| normalize(s)).collect();
            let want: Vec<String> = path.iter().map(|s| normalize(s)).collect();
            if p == want {
                return Some(n);
            }
            if let Some(found) = find(&n.children, path) {
                return Some(found);
            }
        }
        None
    }

    fn sample() -> Catalog {
        Catalog::from_banks(vec![
            bank(
                "a",
                vec![
                    (
                        vec!["Python", "Basics"],
                        vec![
                            q("a1", "What is a list?", Kind::Open),
                            q("a2", "What is a tuple?", Kind::Open),
                        ],
                    ),
                    (
                        vec!["Python", "Async"],
                        vec![q("a3", "What is an event loop?", Kind::Open)],
                    ),
                ],
            ),
            bank(
                "b",
                vec![
                    (
                        vec!["python ", "BASICS!"],
                        vec![
                            q("b1", "what is a LIST", Kind::Open),
                            q("b2", "Is 2 prime?", Kind::Truefalse),
                        ],
                    ),
                    (
                        vec!["Databases"],
                        vec![q("b3", "What is an index?", Kind::Open)],
                    ),
                ],
            ),
        ])
    }

    #[test]
    fn topics_merge_across_banks_by_normalized_path() {
        let c = sample();
        let roots: Vec<&str> = c.topics().iter().map(|t| t.title.as_str()).collect();
        assert_eq!(roots, vec!["Python", "Databases"]);
        let basics = find(c.topics(), &["Python", "Basics"]).unwrap();
        assert_eq!(basics.path, vec!["Python", "Basics"]);
        // a1 and b1 are one question; a2 and b2 are distinct.
        assert_eq!(basics.questions, 3);
        let python = find(c.topics(), &["python"]).unwrap();
        assert_eq!(python.questions, 4);
        assert_eq!(python.children.len(), 2);
    }

    #[test]
    fn same_question_in_two_banks_is_one_question_with_two_sources() {
        let c = sample();
        assert_eq!(c.questions().len(), 5);
        let by_a = c.question("a1").unwrap();
        let by_b = c.question("b1").unwrap();
        assert_eq!(by_a.question.id, by_b.question.id);
        assert_eq!(by_a.sources.len(), 2);
        assert_eq!(
            c.question(&by_a.question.id).unwrap().question.prompt,
            "What is a list?"
        );
        assert!(c.question("nope").is_none());
    }

    #[test]
    fn duplicate_within_one_bank_is_folded_and_keeps_notes() {
        let mut second = q("x2", "What is a LIST?!", Kind::Open);
        second.notes = vec!["mutable".to_string()];
        let c = Catalog::from_banks(vec![bank(
            "x",
            vec![(
                vec!["T"],
                vec![q("x1", "What is a list?", Kind::Open), second],
            )],
        )]);
        assert_eq!(c.questions().len(), 1);
        let only = c.questions().first().unwrap();
        assert_eq!(only.sources.len(), 2);
        assert_eq!(only.question.notes, vec!["mutable"]);
    }

    #[test]
    fn selecting_a_parent_topic_selects_its_children() {
        let c = sample();
        let python = find(c.topics(), &["Python"]).unwrap();
        let drawn = c.draw(
            std::slice::from_ref(&python.id),
            100,
            &HashSet::new(),
            None,
            7,
        );
        let mut prompts: Vec<String> = drawn.iter().map(|q| q.question.prompt.clone()).collect();
        prompts.sort();
        assert_eq!(
            prompts,
            vec![
                "Is 2 prime?",
                "What is a list?",
                "What is a tuple?",
                "What is an event loop?"
            ]
        );
    }

    #[test]
    fn draw_is_reproducible_from_the_seed_and_never_repeats() {
        let questions: Vec<Question> = (0..50)
            .map(|i| {
                q(
                    &format!("q{i}"),
                    &format!("Question number {i}?"),
                    Kind::Open,
                )
            })
            .collect();
        let c = Catalog::from_banks(vec![bank("big", vec![(vec!["All"], questions)])]);
        let first = c.draw(&[], 20, &HashSet::new(), None, 42);
        let again = c.draw(&[], 20, &HashSet::new(), None, 42);
        let other = c.draw(&[], 20, &HashSet::new(), None, 43);
        let ids = |v: &[Arc<CatalogQuestion>]| -> Vec<String> {
            v.iter().map(|q| q.question.id.clone()).collect()
        };
        assert_eq!(first.len(), 20);
        assert_eq!(ids(&first), ids(&again));
        assert_ne!(ids(&first), ids(&other));
        let unique: HashSet<String> = ids(&first).into_iter().collect();
        assert_eq!(unique.len(), 20);
        // Asking for more than there is returns everything once.
        assert_eq!(c.draw(&[], 500, &HashSet::new(), None, 1).len(), 50);
    }

    #[test]
    fn draw_skips_excluded_ids_of_either_kind() {
        let c = sample();
        let list = c.question("a1").unwrap();
        let exclude: HashSet<String> = ["b1".to_string(), "a2".to_string()].into();
        let drawn = c.draw(&[], 100, &exclude, None, 3);
        assert_eq!(drawn.len(), 3);
        assert!(drawn.iter().all(|q| q.question.id != list.question.id));
        assert!(drawn
            .iter()
            .all(|q| q.question.prompt != "What is a tuple?"));
    }

    #[test]
    fn draw_filters_by_kind() {
        let mut choice = q("c1", "Pick the prime", Kind::Choice);
        choice.options = vec![AnswerOption {
            text: "2".to_string(),
            correct: true,
            weight: None,
        }];
        let mut c_bank = bank("c", vec![(vec!["Math"], vec![choice])]);
        c_bank.file = "c.gift".to_string();
        let c = sample().with_bank(c_bank);
        let drawn = c.draw(
            &[],
            100,
            &HashSet::new(),
            Some(&[Kind::Choice, Kind::Truefalse]),
            9,
        );
        let mut kinds: Vec<Kind> = drawn.iter().map(|q| q.question.kind).collect();
        kinds.sort_by_key(|k| format!("{k:?}"));
        assert_eq!(kinds, vec![Kind::Choice, Kind::Truefalse]);
    }

    #[test]
    fn bank_and_bank_topic_ids_select_their_own_questions() {
        let c = sample();
        let drawn = c.draw(&["b-t0".to_string()], 10, &HashSet::new(), None, 5);
        let mut prompts: Vec<&str> = drawn.iter().map(|q| q.question.prompt.as_str()).collect();
        prompts.sort();
        assert_eq!(prompts, vec!["Is 2 prime?", "What is a list?"]);
        assert_eq!(
            c.draw(&["a".to_string()], 10, &HashSet::new(), None, 5)
                .len(),
            3
        );
    }

    #[test]
    fn loading_the_same_folder_twice_gives_the_same_ids() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds");
        let (first, _) = load_dir(&dir);
        let (second, _) = load_dir(&dir);
        let ids = |c: &Catalog| -> Vec<String> {
            c.questions()
                .iter()
                .map(|q| q.question.id.clone())
                .collect()
        };
        assert!(!first.questions().is_empty());
        assert_eq!(ids(&first), ids(&second));
        let topic_ids =
            |c: &Catalog| -> Vec<String> { c.topics().iter().map(|t| t.id.clone()).collect() };
        assert_eq!(topic_ids(&first), topic_ids(&second));
    }

    #[test]
    fn unknown_topic_selects_nothing() {
        let c = sample();
        assert!(c
            .draw(&["missing".to_string()], 5, &HashSet::new(), None, 1)
            .is_empty());
    }

    #[test]
    fn with_bank_replaces_a_bank_of_the_same_file() {
        let c = sample();
        let mut again = bank(
            "a2",
            vec![(vec!["New"], vec![q("n1", "Fresh?", Kind::Open)])],
        );
        again.file = "a.md".to_string();
        let c = c.with_bank(again);
        assert_eq!(c.banks().len(), 2);
        assert!(c.question("a3").is_none());
        assert!(c.question("n1").is_some());
    }

    #[test]
    fn near_duplicates_are_found_and_distinct_questions_are_not() {
        let c = Catalog::from_banks(vec![bank(
            "n",
            vec![(
                vec!["T"],
                vec![
                    q(
                        "1",
                        "What is the difference between a list and a tuple in Python?",
                        Kind::Open,
                    ),
                    q(
                        "2",
                        "What is the difference between a tuple and a list in Python language?",
                        Kind::Open,
                    ),
                    q("3", "Что такое поверхностная копия?", Kind::Open),
                    q("4", "Что такое глубокая копия?", Kind::Open),
                    q("7", "Какие базы данных NoSQL знаешь", Kind::Open),
                    q("8", "Какие NoSQL базы данных знаешь?", Kind::Open),
                ],
            )],
        )]);
        assert!(c.near_duplicate_scan().complete);
        let found = c.near_duplicates();
        let pairs: Vec<(&str, &str)> = found
            .iter()
            .map(|p| {
                (
                    p.a.sources[0].question_id.as_str(),
                    p.b.sources[0].question_id.as_str(),
                )
            })
            .collect();
        assert_eq!(pairs, vec![("1", "2"), ("7", "8")]);
        let first = found.first().unwrap();
        assert!(first.similarity >= NEAR_DUPLICATE_THRESHOLD && first.similarity < 1.0);
    }

    #[test]
    fn empty_path_topics_sit_under_the_bank_title() {
        let c = Catalog::from_banks(vec![bank(
            "e",
            vec![(vec![], vec![q("e1", "Why?", Kind::Open)])],
        )]);
        assert_eq!(c.topics().first().unwrap().title, "Bank e");
    }

    #[test]
    fn load_dir_reports_bad_files_and_keeps_going() {
        let dir = std::env::temp_dir().join(format!("quizroom-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bad.bin"), [0u8, 159, 146, 150, 0, 0, 1, 2]).unwrap();
        std::fs::write(dir.join(".hidden"), "ignored").unwrap();
        let (_, errors) = load_dir(&dir);
        assert_eq!(errors.len(), 1);
        let (c, errors) = load_dir(&dir.join("missing"));
        assert!(errors.is_empty());
        assert!(c.banks().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
