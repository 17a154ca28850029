//! The floor measurement runs end to end with a few sockets, so it cannot
//! rot: every socket gets every fan-out message, every vote is acked, and
//! the numbers are consistent with each other.

use std::process::Command;

#[test]
fn floor_run_reaches_every_socket_and_reports_numbers() {
    let dir = std::env::temp_dir().join(format!("quizroom-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("floor.json");
    let out = Command::new(env!("CARGO_BIN_EXE_quizroom-bench"))
        .arg("--json")
        .arg(&json)
        .args([
            "floor",
            "--sockets",
            "60",
            "--rounds",
            "2",
            "--clients",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "floor run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let count = |k: &str| v[k]["count"].as_u64().unwrap();
    assert_eq!(count("fanout_arrival"), 120, "{v}");
    assert_eq!(count("fanout_read"), 120, "{v}");
    assert_eq!(count("vote_ack_arrival"), 60, "{v}");
    assert!(v["votes_per_s"].as_f64().unwrap() > 0.0, "{v}");
    let p = |k: &str, q: &str| v[k][q].as_u64().unwrap();
    assert!(
        p("fanout_arrival", "p50_us") <= p("fanout_read", "p50_us"),
        "{v}"
    );
    assert!(
        p("fanout_arrival", "max_us") <= p("fanout_read", "max_us"),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
