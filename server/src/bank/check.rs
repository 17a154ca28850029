//! `quizroom check FILE… [--json]`: lets a bank author see how quizroom reads
//! a file before a room depends on it — which layout was detected, which
//! topics and kinds came out, what was skipped and where, and which
//! questions look duplicated.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::bank::catalog::Catalog;
use crate::bank::{self, Bank, BankError, BankList, Kind};

/// Checks every file and writes the report to `out`, and one
/// `file:line: message` line per bad file to `err`. Returns whether every
/// file was good (the binary turns `false` into a non-zero exit code). A bad
/// file never hides the report of the good ones.
pub fn run(
    files: &[PathBuf],
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<bool> {
    let files = expand(files);
    let mut banks = Vec::new();
    let mut ok = true;
    for path in &files {
        let name = path.display().to_string();
        match read(path, &name) {
            Ok(bank) => banks.push(bank),
            Err(e) => {
                ok = false;
                writeln!(err, "{e}")?;
            }
        }
    }
    if json {
        serde_json::to_writer_pretty(&mut *out, &BankList { banks })?;
        writeln!(out)?;
    } else {
        for bank in &banks {
            summary(bank, out)?;
        }
        if files.len() > 1 {
            writeln!(
                out,
                "{} of {} files read without errors",
                banks.len(),
                files.len()
            )?;
        }
    }
    Ok(ok)
}

/// Replaces each folder argument by the files in it (sorted, hidden files
/// skipped), so `quizroom check seeds` checks what the server would load.
fn expand(args: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for arg in args {
        match std::fs::read_dir(arg) {
            Ok(entries) if arg.is_dir() => {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| !n.starts_with('.'))
                    })
                    .collect();
                files.sort();
                out.extend(files);
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// Reads and parses one file; read failures are reported in the same
/// `file: message` shape as parse errors.
fn read(path: &std::path::Path, name: &str) -> Result<Bank, CheckError> {
    let meta = std::fs::metadata(path).map_err(|e| CheckError::Read(name.to_string(), e))?;
    if meta.len() > bank::MAX_BANK_BYTES as u64 {
        return Err(CheckError::Bank(BankError::TooLarge {
            file: name.to_string(),
            size: usize::try_from(meta.len()).unwrap_or(usize::MAX),
            limit: bank::MAX_BANK_BYTES,
        }));
    }
    let bytes = std::fs::read(path).map_err(|e| CheckError::Read(name.to_string(), e))?;
    bank::parse(name, &bytes).map_err(CheckError::Bank)
}

/// Why `check` could not report on a file.
#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error("{0}: cannot read the file: {1}")]
    Read(String, std::io::Error),
    #[error("{0}")]
    Bank(BankError),
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Open => "open",
        Kind::Choice => "choice",
        Kind::Multi => "multi",
        Kind::Truefalse => "truefalse",
        Kind::Short => "short",
    }
}

/// Shortens a prompt for one summary line.
fn excerpt(s: &str) -> String {
    const MAX: usize = 70;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let cut: String = s.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

/// The human summary of one parsed bank.
fn summary(bank: &Bank, out: &mut dyn Write) -> std::io::Result<()> {
    let total: usize = bank.topics.iter().map(|t| t.questions.len()).sum();
    let layout = if bank.format.is_empty() {
        "unknown"
    } else {
        &bank.format
    };
    writeln!(out, "{}: \"{}\" (layout: {layout})", bank.file, bank.title)?;
    writeln!(out, "  id: {}", bank.id)?;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    writeln!(
        out,
        "  {} in {}",
        plural(total, "question"),
        plural(bank.topics.len(), "topic")
    )?;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for q in bank.topics.iter().flat_map(|t| &t.questions) {
        *kinds.entry(kind_name(q.kind)).or_default() += 1;
    }
    let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    writeln!(out, "  by kind: {}", by_kind.join(", "))?;
    writeln!(out, "  topics:")?;
    for t in &bank.topics {
        let path = if t.path.is_empty() {
            "(no topic)".to_string()
        } else {
            t.path.join(" / ")
        };
        writeln!(out, "    {path}: {}", t.questions.len())?;
    }
    if !bank.warnings.is_empty() {
        writeln!(out, "  warnings:")?;
        for w in &bank.warnings {
            writeln!(out, "    {}:{}: {}", bank.file, w.line, w.message)?;
        }
    }
    let catalog = Catalog::from_banks(vec![bank.clone()]);
    let repeated: Vec<_> = catalog
        .questions()
        .iter()
        .filter(|q| q.sources.len() > 1)
        .collect();
    if !repeated.is_empty() {
        writeln!(out, "  duplicates (counted once):")?;
        for q in repeated {
            let lines: Vec<String> = q.sources.iter().map(|s| s.line.to_string()).collect();
            writeln!(
                out,
                "    lines {}: \"{}\"",
                lines.join(", "),
                excerpt(&q.question.prompt)
            )?;
        }
    }
    let scan = catalog.near_duplicate_scan();
    if !scan.pairs.is_empty() {
        writeln!(out, "  near-duplicates:")?;
        for pair in scan.pairs {
            writeln!(
                out,
                "    lines {} and {} ({:.0}% alike): \"{}\" / \"{}\"",
                pair.a.question.line,
                pair.b.question.line,
                pair.similarity * 100.0,
                excerpt(&pair.a.question.prompt),
                excerpt(&pair.b.question.prompt)
            )?;
        }
    }
    if !scan.complete {
        writeln!(
            out,
            "  near-duplicate search stopped after {} comparisons; more may exist",
            crate::bank::catalog::NEAR_DUPLICATE_BUDGET
        )?;
    }
    Ok(())
}
