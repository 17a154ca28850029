//! `quizroom check` run as a real process, the way bank authors use it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds")
}

fn check(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quizroom"))
        .arg("check")
        .args(args)
        .env("QUIZROOM_LOG", "warn")
        .output()
        .expect("run quizroom check")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn summarizes_a_seed_bank() {
    let seed = seeds().join("000_bc5a62ff16f5f1b6.txt");
    let out = check(&[seed.as_os_str()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("000_bc5a62ff16f5f1b6.txt"), "{stdout}");
    assert!(stdout.contains("layout:"), "{stdout}");
    assert!(stdout.contains(" questions in "), "{stdout}");
    assert!(stdout.contains("by kind: open"), "{stdout}");
}

#[test]
fn prints_the_parsed_gift_bank_as_json() {
    let file = seeds().join("classroom.gift");
    let out = check(&[file.as_os_str(), "--json".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let banks = body["banks"].as_array().unwrap();
    assert_eq!(banks.len(), 1);
    let bank = &banks[0];
    assert_eq!(bank["format"], "gift");
    let paths: Vec<&serde_json::Value> = bank["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["path"])
        .collect();
    assert_eq!(
        paths,
        vec![
            &serde_json::json!(["Python", "Basics"]),
            &serde_json::json!(["Computer Science", "Networking"]),
            &serde_json::json!(["Geography"])
        ]
    );
    let kinds: Vec<&str> = bank["topics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["questions"].as_array().unwrap())
        .map(|q| q["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 18);
    for kind in ["choice", "multi", "truefalse", "short"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}

#[test]
fn a_bad_file_fails_with_file_and_line_and_good_files_are_still_reported() {
    let dir = std::env::temp_dir().join(format!("quizroom-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.gift");
    std::fs::write(
        &bad,
        "// quiz\n::q1:: Fine {=a ~b}\n\n::q2:: Broken {=a ~b\n",
    )
    .unwrap();
    let good = seeds().join("classroom.gift");
    let out = check(&[bad.as_os_str(), good.as_os_str()]);
    std::fs::remove_dir_all(&dir).unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}:4: ", bad.display())),
        "{stderr}"
    );
    assert!(stdout.contains("classroom.gift"), "{stdout}");
    assert!(stdout.contains("1 of 2 files"), "{stdout}");
}

#[test]
fn a_missing_file_is_an_error() {
    let out = check(&["/nonexistent/quizroom-bank.md".as_ref()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/quizroom-bank.md: cannot read"));
}

#[test]
fn a_folder_is_checked_file_by_file() {
    let out = check(&[seeds().as_os_str()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let files = std::fs::read_dir(seeds()).unwrap().count();
    assert!(
        stdout.contains(&format!("{files} of {files} files read without errors")),
        "{stdout}"
    );
    assert!(stdout.contains("classroom.gift"), "{stdout}");
}
