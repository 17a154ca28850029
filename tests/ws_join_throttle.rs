//! The failed-join throttle over real sockets, behind a trusted proxy so
//! each test picks the client addresses (`X-Forwarded-For`): typos by some
//! pupils behind one address never lock the others out of a live room,
//! while guessing codes stays bounded per address and per network — and
//! the bounds are measured.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Server};
use quizroom::live::ws::limits::{
    FAILED_JOINS_NET_PER_SEC, FAILED_JOINS_PER_SEC, FAILED_JOIN_BURST, FAILED_JOIN_NET_BURST,
};
use serde_json::{json, Value};

async fn behind_proxy() -> Server {
    Server::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await
}

async fn from(server: &Server, ip: &str) -> Client {
    Client::connect_with_headers(&server.ws_url(), &[("x-forwarded-for", ip)]).await
}

/// A code that names no room (the alphabet, never `real`).
fn wrong_code(i: usize, real: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut n = i + 7;
    let code: String = (0..6)
        .map(|_| {
            let c = ALPHABET[n % ALPHABET.len()] as char;
            n /= ALPHABET.len();
            c
        })
        .collect();
    if code == real {
        "ZZZZZ2".into()
    } else {
        code
    }
}

/// Sends one join and returns the error code, or `welcome`.
async fn try_join(client: &mut Client, code: &str, name: &str) -> String {
    client
        .send_json(json!({"type": "join", "room": code, "name": name}))
        .await;
    let reply: Value = client
        .recv_matching("a join reply", |m| {
            m["type"] == "welcome" || m["type"] == "error"
        })
        .await;
    if reply["type"] == "welcome" {
        "welcome".into()
    } else {
        reply["code"].as_str().unwrap_or_default().to_string()
    }
}

#[tokio::test]
async fn typos_from_one_address_do_not_lock_the_class_out_of_a_live_room() {
    let server = behind_proxy().await;
    let room = server.create_room().await;
    let classroom = "198.51.100.7";
    let mut first = from(&server, classroom).await;
    assert_eq!(try_join(&mut first, &room.code, "first").await, "welcome");
    // Many pupils mistype the code, far past the burst.
    let mut typos = from(&server, classroom).await;
    let mut limited = 0;
    for i in 0..(FAILED_JOIN_BURST as usize + 10) {
        let reply = try_join(&mut typos, &wrong_code(i, &room.code), "x").await;
        assert!(reply == "no_room" || reply == "rate_limited", "{reply}");
        limited += usize::from(reply == "rate_limited");
        if i % 15 == 14 {
            // Stay under the per-connection message rate.
            typos = from(&server, classroom).await;
        }
    }
    assert!(limited >= 9, "the address is throttled for unknown codes");
    // Still unknown codes are refused unseen ...
    let mut guess = from(&server, classroom).await;
    assert_eq!(
        try_join(&mut guess, &wrong_code(999, &room.code), "g").await,
        "rate_limited"
    );
    // ... but everyone else with the right code gets in.
    for i in 0..5 {
        let mut pupil = from(&server, classroom).await;
        let reply = try_join(&mut pupil, &room.code.to_lowercase(), &format!("pupil{i}")).await;
        assert_eq!(reply, "welcome", "pupil {i}");
    }
}

#[tokio::test]
async fn the_address_that_created_a_room_may_join_it_after_typos() {
    let server = behind_proxy().await;
    let teacher = "192.0.2.44";
    let created: Value = reqwest::Client::new()
        .post(server.url("/api/rooms"))
        .header("x-forwarded-for", teacher)
        .json(&json!({"title": "class"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["code"].as_str().unwrap().to_string();
    let mut typos = from(&server, teacher).await;
    for i in 0..FAILED_JOIN_BURST as usize {
        if i % 15 == 14 {
            typos = from(&server, teacher).await;
        }
        try_join(&mut typos, &wrong_code(i, &code), "x").await;
    }
    let mut guess = from(&server, teacher).await;
    assert_eq!(
        try_join(&mut guess, &wrong_code(555, &code), "g").await,
        "rate_limited"
    );
    let mut pupil = from(&server, teacher).await;
    assert_eq!(try_join(&mut pupil, &code, "pupil").await, "welcome");
}

/// Guesses as fast as the server answers for `window` after the burst,
/// from `addresses` (one socket each, reopened before the per-connection
/// rate bites); returns how many guesses were looked up (`no_room`).
async fn guesses_looked_up(server: &Server, addresses: &[String], window: Duration) -> usize {
    let mut sockets = Vec::new();
    for ip in addresses {
        sockets.push((from(server, ip).await, 0usize));
    }
    let started = Instant::now();
    let (mut looked_up, mut i) = (0, 0);
    loop {
        let mut any = false;
        for (n, (socket, sent)) in sockets.iter_mut().enumerate() {
            if *sent >= 15 {
                *socket = from(server, &addresses[n]).await;
                *sent = 0;
            }
            *sent += 1;
            i += 1;
            let reply = try_join(socket, &wrong_code(i, ""), "guess").await;
            if reply == "no_room" {
                looked_up += 1;
                any = true;
            }
        }
        if started.elapsed() >= window {
            return looked_up;
        }
        if !any {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn guessing_codes_is_bounded_per_address_and_per_network() {
    let window = Duration::from_secs(5);
    let server = behind_proxy().await;
    let one = vec!["203.0.113.9".to_string()];
    let started = Instant::now();
    let per_address = guesses_looked_up(&server, &one, window).await;
    let secs = started.elapsed().as_secs_f64();
    let allowed = FAILED_JOIN_BURST as f64 + FAILED_JOINS_PER_SEC * secs;
    eprintln!(
        "one address: {per_address} guesses looked up in {secs:.1} s (bound {allowed:.1}); \
         {:.0} per hour sustained",
        FAILED_JOINS_PER_SEC * 3600.0
    );
    assert!(per_address >= FAILED_JOIN_BURST as usize);
    assert!(
        per_address as f64 <= allowed + 1.0,
        "{per_address} > {allowed}"
    );

    // A whole /24: 256 addresses share the network's budget.
    let network: Vec<String> = (0..=255).map(|h| format!("198.18.7.{h}")).collect();
    let started = Instant::now();
    let per_network = guesses_looked_up(&server, &network, window).await;
    let secs = started.elapsed().as_secs_f64();
    let allowed = FAILED_JOIN_NET_BURST as f64 + FAILED_JOINS_NET_PER_SEC * secs;
    eprintln!(
        "one /24 (256 addresses): {per_network} guesses looked up in {secs:.1} s \
         (bound {allowed:.1}); {:.0} per hour sustained",
        FAILED_JOINS_NET_PER_SEC * 3600.0
    );
    assert!(per_network >= FAILED_JOIN_NET_BURST as usize);
    assert!(
        per_network as f64 <= allowed + 1.0,
        "{per_network} > {allowed}"
    );
}
