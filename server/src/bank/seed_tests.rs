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
