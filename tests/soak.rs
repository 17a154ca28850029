//! Soak: 10,000 rooms created and ended through the real HTTP and WebSocket
//! path; afterwards the room map is back to zero and the process memory
//! (RSS) is back within 10 % of where it was after warm-up.
//!
//! Bounded for the test command; `QUIZROOM_SOAK_SECS=600` keeps creating
//! rooms for ten minutes by hand (at least 10,000 either way).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Rooms to create and end at the least.
const ROOMS: usize = 10_000;
/// Rooms created before memory is measured: allocator pools, lazy statics,
/// HTTP connection pools and the results database's page cache (2 MiB per
/// connection, full once the file outgrows it, at ~2,000 stored rooms)
/// settle in this phase, so what is measured after it is growth per room.
const WARM_UP: usize = 3_000;
/// Rooms in flight at once.
const CONCURRENCY: usize = 16;
/// Longest a single step may take.
const WAIT: Duration = Duration::from_secs(10);

/// Resident memory of this process (the server runs in it), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// One room's whole life: create over HTTP, the host connects, ends it,
/// and sees `ended`.
async fn room_lifecycle(client: &reqwest::Client, server: &common::Server) {
    let resp = client
        .post(server.url("/api/rooms"))
        .json(&json!({"title": "soak"}))
        .send()
        .await
        .expect("create room");
    assert_eq!(resp.status(), 201, "create room");
    let room: Value = resp.json().await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .expect("host socket");
    let hello = json!({"type":"host","room":room["code"],"token":room["host_token"]});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let mut ended = false;
    let mut welcomed = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !ended {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("room answers in time")
            .expect("socket open")
            .expect("frame");
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        match v["type"].as_str() {
            Some("welcome") if !welcomed => {
                welcomed = true;
                ws.send(Message::text(json!({"type":"end"}).to_string()))
                    .await
                    .unwrap();
            }
            Some("ended") => ended = true,
            Some("error") => panic!("room error: {v}"),
            _ => {}
        }
    }
    let _ = ws.close(None).await;
}

async fn live_rooms(client: &reqwest::Client, server: &common::Server) -> u64 {
    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("quizroom_rooms "))
        .and_then(|v| v.trim().parse().ok())
        .expect("quizroom_rooms in /metrics")
}

/// Runs `count` lifecycles (or, with a time budget, until it runs out and
/// at least `count` are done) on `CONCURRENCY` workers.
async fn run_rooms(
    server: &Arc<common::Server>,
    client: &reqwest::Client,
    count: usize,
    until: Option<Instant>,
) -> usize {
    let done = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (server, client) = (server.clone(), client.clone());
        let (done, started) = (done.clone(), started.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = started.fetch_add(1, Ordering::Relaxed);
                let more_time = until.is_some_and(|u| Instant::now() < u);
                if n >= count && !more_time {
                    break;
                }
                room_lifecycle(&client, &server).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    done.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rooms_come_and_go() {
    let soak_secs: u64 = std::env::var("QUIZROOM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let server = Arc::new(
        common::Server::start_with(|c| {
            c.max_rooms = 10_000;
        })
        .await,
    );
    let client = reqwest::Client::new();
    let started = Instant::now();

    let warmed = run_rooms(&server, &client, WARM_UP, None).await;
    let baseline = rss_kib();
    let until = (soak_secs > 0).then(|| started + Duration::from_secs(soak_secs));
    let rest = run_rooms(&server, &client, ROOMS - WARM_UP, until).await;
    let total = warmed + rest;
    assert!(total >= ROOMS, "only {total} rooms");

    // Every room ended, so the room map drains to zero.
    let drain_deadline = Instant::now() + WAIT;
    let mut live = live_rooms(&client, &server).await;
    while live != 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        live = live_rooms(&client, &server).await;
    }
    assert_eq!(live, 0, "rooms still live after every room ended");

    let after = rss_kib();
    let elapsed = started.elapsed();
    eprintln!(
        "soak: {total} rooms in {elapsed:?} ({:.0}/s); RSS after warm-up {baseline} KiB, after {after} KiB ({:+.1} %)",
        total as f64 / elapsed.as_secs_f64(),
        (after as f64 / baseline as f64 - 1.0) * 100.0
    );
    assert!(
        after as f64 <= baseline as f64 * 1.10,
        "RSS grew from {baseline} KiB to {after} KiB"
    );
}
