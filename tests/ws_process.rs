//! The `quizroom` binary as operators run it: `--addr 127.0.0.1:0` logs the
//! bound address on stderr, and SIGTERM or SIGINT closes sockets with 1012
//! and exits 0 within 10 s.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Client;

/// The server process; killed if a test fails before it exits.
struct Running {
    child: Option<Child>,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start() -> Running {
    let data_dir = tempfile::tempdir().unwrap().keep();
    let mut child = Command::new(env!("CARGO_BIN_EXE_quizroom"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .arg("--seeds")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../seeds"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the quizroom binary");
    // Read stderr on a thread (and keep draining it, so the server never
    // blocks on a full pipe); the address comes back over a channel.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = strip_ansi(&line);
            if let Some((_, rest)) = line.split_once("listening addr=") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => addr,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not log `listening addr=...`");
        }
    };
    Running {
        child: Some(child),
        addr,
    }
}

/// Drops terminal colour sequences, should the binary emit them.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn stops_on(signal: i32) {
    let mut running = start();
    let mut client = Client::connect(&format!("ws://{}/ws", running.addr)).await;
    client.ping().await;
    let mut child = running.child.take().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let sent = Instant::now();
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    assert_eq!(client.expect_close().await, Some(1012));
    let waited = tokio::time::timeout(
        Duration::from_secs(10).saturating_sub(sent.elapsed()),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await;
    let Ok(status) = waited else {
        // SAFETY: killing our own child process that failed to stop.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("still running 10 s after the signal");
    };
    let status = status.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1012_and_exits_0() {
    stops_on(libc::SIGTERM).await;
}

#[tokio::test]
async fn sigint_closes_sockets_with_1012_and_exits_0() {
    stops_on(libc::SIGINT).await;
}

/// Started from a folder with no `seeds/` (an installed binary), the server
/// serves the banks built into it.
#[tokio::test]
async fn started_elsewhere_the_binary_serves_its_built_in_banks() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_quizroom"))
        .args(["--addr", "127.0.0.1:0"])
        .current_dir(cwd.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the quizroom binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = strip_ansi(&line);
            if let Some((_, rest)) = line.split_once("listening addr=") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60));
    let running = Running {
        child: Some(child),
        addr: addr.clone().unwrap_or_default(),
    };
    let addr = addr.expect("the server logs its address");
    let index: serde_json::Value = reqwest::get(format!("http://{addr}/api/banks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let files: Vec<&str> = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["file"].as_str())
        .collect();
    assert!(files.contains(&"classroom.gift"), "{files:?}");
    assert!(files.contains(&"classroom-ru.gift"), "{files:?}");
    assert!(files.len() >= 7, "{files:?}");
    // The data folder is made where it runs, as documented.
    assert!(cwd.path().join("data").is_dir());
    drop(running);
}

/// A port that is taken: one clear line on stderr, a failing exit, no panic.
#[test]
fn a_taken_port_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quizroom"))
        .args(["--addr", &addr, "--data-dir"])
        .arg(data_dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run the quizroom binary");
    assert!(!out.status.success());
    let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(lines[0].contains("already in use"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Backtrace"),
        "{stderr}"
    );
}
