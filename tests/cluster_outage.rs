//! Creating and ending rooms while the shared PostgreSQL database is away:
//! an end answers at once (the podium shows, the results are written once
//! the database is back, exactly once), a room without a token to reuse is
//! created at once, and a host token that cannot be checked fails fast with
//! `store_unavailable`; a database that stops answering without refusing
//! (packets dropped, through a proxy that stops passing bytes) degrades
//! health and reads within seconds and recovers by itself. Real
//! redis-server, real PostgreSQL stopped and started by the test.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::node::in_process_nodes;
use common::services::{Postgres, Redis};
use common::Server;

/// How long an end or a create may take while the database is away.
const PROMPT: Duration = Duration::from_secs(2);

async fn results(node: &Server, code: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(node.url(&format!("/api/rooms/{code}/results?format=json")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The stored final results of `code`, once there (at most 20 s).
async fn ended_results(node: &Server, code: &str, token: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = results(node, code, token).await;
        if status == 200 && body["ended"] == json!(true) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ended in the store: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn history(node: &Server, token: &str) -> Value {
    reqwest::Client::new()
        .get(node.url("/api/rooms"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn post_room(node: &Server, body: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(node.url("/api/rooms"))
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap(), started.elapsed())
}

/// The host ends its room; returns the time until its `ended` arrived.
async fn end(host: &mut common::Client) -> Duration {
    let started = Instant::now();
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rooms_are_created_and_ended_promptly_while_postgres_is_away() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let nodes = in_process_nodes(&db, &redis.url(), &["a", "b"]).await;
    let [a, b] = [&nodes[0], &nodes[1]];

    // A room plays one question to its reveal with the database up.
    let played = a.create_room_with(json!({"title": "Played"})).await;
    let mut host = common::game::host(a, &played).await;
    let mut player = common::game::join(a, &played, "p").await;
    let q = common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;
    player
        .client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": 1}))
        .await;
    player.client.recv_until("ack").await;
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    // A second question is open when the database goes.
    let q2 = common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;

    // PostgreSQL goes away. The player's answer is counted, not acked.
    tokio::task::block_in_place(|| pg.stop());
    player
        .client
        .send_json(json!({"type": "vote", "qid": q2["qid"], "choice": 0}))
        .await;
    // Its pong means the vote is in the room's queue, ahead of the end.
    player.client.ping().await;

    // Ending answers at once: the host and the player get the end; the
    // ack still waits for the database (it promises the answer is stored).
    let took = end(&mut host).await;
    assert!(
        took <= PROMPT,
        "ending took {took:?} with the database away"
    );
    player.client.recv_until("ended").await;
    assert!(
        !player
            .client
            .log
            .iter()
            .any(|m| m["type"] == "ack" && m["qid"] == q2["qid"]),
        "acknowledged before it was stored: {:?}",
        player.client.log
    );

    // A new room (no token to reuse) opens at once and runs; it ends at once.
    let (status, body, took) = post_room(a, json!({"title": "During the outage"})).await;
    assert_eq!(status, 201, "{body}");
    assert!(took <= PROMPT, "creating took {took:?}");
    let fresh = common::NewRoom {
        code: body["code"].as_str().unwrap().to_string(),
        host_token: body["host_token"].as_str().unwrap().to_string(),
        join_url: String::new(),
    };
    let mut fresh_host = common::game::host(a, &fresh).await;
    let mut screen = common::game::screen(b, &fresh).await;
    let took = end(&mut fresh_host).await;
    screen.recv_until("ended").await;
    assert!(took <= PROMPT, "ending the new room took {took:?}");

    // A token to reuse that no room on that node holds cannot be checked:
    // refused fast with the typed error, no room made.
    let (status, body, took) = post_room(
        b,
        json!({"title": "Reuse", "host_token": played.host_token}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert!(took <= PROMPT, "refusing took {took:?}");

    // PostgreSQL comes back: the held ack goes out, both ends are written,
    // once each.
    tokio::task::block_in_place(|| pg.restart());
    let ack = player.client.recv_until("ack").await;
    assert_eq!(ack["qid"], q2["qid"]);
    for (room, token) in [
        (&played.code, &played.host_token),
        (&fresh.code, &fresh.host_token),
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let rooms = history(b, token).await;
            let listed: Vec<&Value> = rooms["rooms"]
                .as_array()
                .map(|r| r.iter().filter(|r| r["code"] == json!(room)).collect())
                .unwrap_or_default();
            assert!(listed.len() <= 1, "{rooms}");
            if listed.first().is_some_and(|r| r["status"] == "ended") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never stored as ended: {rooms}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let stored = ended_results(b, &played.code, &played.host_token).await;
    let questions = stored["questions"].as_array().expect("questions");
    let qids: Vec<&Value> = questions.iter().map(|q| &q["qid"]).collect();
    assert_eq!(qids, vec![&q["qid"], &q2["qid"]], "{stored}");
    for question in questions {
        let counted: u64 = question["counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(counted, 1, "one vote each, stored once: {stored}");
    }
    let stored = ended_results(b, &fresh.code, &fresh.host_token).await;
    assert_eq!(stored["questions"], json!([]), "{stored}");
    // The refused request made no room for that token.
    let rooms = history(b, &played.host_token).await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1, "{rooms}");
}

/// A TCP proxy to `target` that can stop passing bytes, as a network that
/// drops packets does: connections through it neither fail nor answer.
async fn freezing_proxy(target: u16) -> (u16, std::sync::Arc<tokio::sync::watch::Sender<bool>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let frozen = std::sync::Arc::new(tokio::sync::watch::Sender::new(false));
    let switch = frozen.clone();
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut frozen: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    }
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let frozen = switch.subscribe();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pump(cr, sw, frozen.clone()), pump(sr, cw, frozen));
            });
        }
    });
    (port, frozen)
}

/// A database that stops answering without refusing (packets dropped):
/// a host token to reuse still gets `503 store_unavailable` within the
/// bound, and a room without one opens within the create wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_stops_answering_does_not_hold_up_creating_rooms() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let db = pg.new_database();
    let (port, frozen) = freezing_proxy(pg.port).await;
    let url = db.replace(&format!(":{}/", pg.port), &format!(":{port}/"));
    let server = Server::start_with(move |c| c.database_url = Some(url)).await;
    // A room that ended, so its token is known only to the database.
    let first = server.create_room().await;
    let mut host = common::game::host(&server, &first).await;
    end(&mut host).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while history(&server, &first.host_token).await["rooms"][0]["status"] != "ended" {
        assert!(tokio::time::Instant::now() < deadline, "never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    frozen.send_replace(true);
    let (status, body, took) = post_room(
        &server,
        json!({"title": "Reuse", "host_token": first.host_token}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert!(took <= Duration::from_secs(3), "refusing took {took:?}");
    let (status, body, took) = post_room(&server, json!({"title": "Fresh"})).await;
    assert_eq!(status, 201, "{body}");
    assert!(took <= PROMPT, "creating took {took:?}");

    // The database answers again: the token is reused.
    frozen.send_replace(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body, _) = post_room(
            &server,
            json!({"title": "Reuse", "host_token": first.host_token}),
        )
        .await;
        if status == 201 {
            assert_eq!(body["host_token"], json!(first.host_token), "{body}");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reused: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A room its host leaves while the database is away: once the grace
/// period runs out its sockets close at once and the node goes on (another
/// room keeps playing, `/healthz` answers); its final results are written
/// once the database is back, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_room_abandoned_while_postgres_is_away_ends_once_it_is_back() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let db = pg.new_database();
    let server = Server::start_with(move |c| {
        c.database_url = Some(db);
        c.host_grace_secs = 2;
    })
    .await;

    // The room to be left plays one question to its reveal, a second one
    // is open when the database goes.
    let left = server.create_room_with(json!({"title": "Left"})).await;
    let mut host = common::game::host(&server, &left).await;
    let mut player = common::game::join(&server, &left, "p").await;
    let q = common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;
    player
        .client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": 1}))
        .await;
    player.client.recv_until("ack").await;
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    let q2 = common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;
    // Another room whose host stays.
    let kept = server.create_room_with(json!({"title": "Kept"})).await;
    let mut kept_host = common::game::host(&server, &kept).await;
    let mut kept_player = common::game::join(&server, &kept, "k").await;

    tokio::task::block_in_place(|| pg.stop());
    player
        .client
        .send_json(json!({"type": "vote", "qid": q2["qid"], "choice": 0}))
        .await;
    player.client.ping().await;
    // The host leaves; the grace period (2 s) runs out with the database
    // still away. The player's socket is closed promptly.
    let left_at = Instant::now();
    host.drop_connection().await;
    assert_eq!(player.client.expect_close().await, Some(4004));
    let took = left_at.elapsed();
    assert!(
        took <= Duration::from_secs(2) + PROMPT,
        "closing the abandoned room took {took:?}"
    );

    // The node goes on: the other room's task answers (its host gets the
    // outage banner, its sockets are served), /healthz answers at once.
    let banner = kept_host
        .recv_matching("store_unavailable", |m| {
            m["type"] == "warning" && m["code"] == "store_unavailable"
        })
        .await;
    assert_eq!(banner["active"], json!(true), "{banner}");
    kept_player.client.ping().await;
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(server.url("/healthz"))
        .timeout(PROMPT)
        .send()
        .await
        .expect("healthz answers during the outage");
    assert!(started.elapsed() <= PROMPT);
    drop(health);
    // A late join to the abandoned room gets no seat: `room_ended`, as once
    // the room is stored, on a socket left open to try another code.
    let mut late = common::Client::connect(&server.ws_url()).await;
    late.send_json(json!({"type": "join", "room": left.code, "name": "late"}))
        .await;
    late.expect_error("room_ended").await;
    assert!(
        !late.log.iter().any(|m| m["type"] == "welcome"),
        "{:?}",
        late.log
    );
    // ... and joins the other room, welcomed at once though its seat cannot
    // be stored yet.
    let started = Instant::now();
    late.send_json(json!({"type": "join", "room": kept.code, "name": "late"}))
        .await;
    let welcome = late.recv_until("welcome").await;
    assert_eq!(welcome["role"], "player", "{welcome}");
    assert!(started.elapsed() <= PROMPT, "{:?}", started.elapsed());

    // The database comes back: the abandoned room is written as ended,
    // once, with both questions and one vote each.
    tokio::task::block_in_place(|| pg.restart());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rooms = history(&server, &left.host_token).await;
        let listed: Vec<&Value> = rooms["rooms"]
            .as_array()
            .map(|r| r.iter().filter(|r| r["code"] == json!(left.code)).collect())
            .unwrap_or_default();
        assert!(listed.len() <= 1, "{rooms}");
        if listed.first().is_some_and(|r| r["status"] == "ended") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never stored as ended: {rooms}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its stored results read as an ended room's, as the history does.
    let stored = ended_results(&server, &left.code, &left.host_token).await;
    let questions = stored["questions"].as_array().expect("questions");
    let qids: Vec<&Value> = questions.iter().map(|q| &q["qid"]).collect();
    assert_eq!(qids, vec![&q["qid"], &q2["qid"]], "{stored}");
    for question in questions {
        let counted: u64 = question["counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(counted, 1, "one vote each, stored once: {stored}");
    }
    // The kept room plays on.
    let q3 = common::game::ask(
        &mut kept_host,
        "vote",
        json!({}),
        &mut [&mut kept_player.client],
    )
    .await;
    kept_player
        .client
        .send_json(json!({"type": "vote", "qid": q3["qid"], "choice": 0}))
        .await;
    kept_player.client.recv_until("ack").await;
}

/// Whether `client` was sent an `ack` for `qid`.
fn acked(client: &common::Client, qid: &Value) -> bool {
    client
        .log
        .iter()
        .any(|m| m["type"] == "ack" && m["qid"] == *qid)
}

/// A game goes on for its sockets while PostgreSQL is away, on both nodes:
/// a new player is welcomed and the host's next question reaches every
/// player promptly (they are not held behind a checkpoint that cannot be
/// written), the host's tally counts the votes, and only the acks wait for
/// the database; once it is back they arrive, and the final results hold
/// every acknowledged vote exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_game_plays_on_for_its_sockets_while_postgres_is_away() {
    let (pg, redis) = tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
        .await
        .unwrap();
    let db = pg.new_database();
    let nodes = in_process_nodes(&db, &redis.url(), &["a", "b"]).await;
    let [a, b] = [&nodes[0], &nodes[1]];

    let room = a.create_room_with(json!({"title": "Outage"})).await;
    let mut host = common::game::host(a, &room).await;
    let mut p1 = common::game::join(a, &room, "p1").await;
    let mut p2 = common::game::join(b, &room, "p2").await;
    let mut screen = common::game::screen(b, &room).await;
    // A first question played to its reveal with the database up.
    let q1 = common::game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut [&mut p1.client, &mut p2.client, &mut screen],
    )
    .await;
    for (player, choice) in [(&mut p1, 0), (&mut p2, 1)] {
        player
            .client
            .send_json(json!({"type": "vote", "qid": q1["qid"], "choice": choice}))
            .await;
        player.client.recv_until("ack").await;
    }
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;

    // PostgreSQL goes away between questions.
    tokio::task::block_in_place(|| pg.stop());

    // A new player joining through the other node is welcomed promptly,
    // though its seat cannot be stored yet.
    let started = Instant::now();
    let mut p3 = common::game::join(b, &room, "p3").await;
    let took = started.elapsed();
    assert!(
        took <= PROMPT,
        "welcome took {took:?} with the database away"
    );

    // The host's next question reaches every player and the screen promptly.
    let started = Instant::now();
    let q2 = common::game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut [&mut p1.client, &mut p2.client, &mut p3.client, &mut screen],
    )
    .await;
    let took = started.elapsed();
    assert!(
        took <= PROMPT,
        "the question took {took:?} to reach everyone"
    );

    // Votes are counted and shown to the host; none is acknowledged.
    for (player, choice) in [(&mut p1, 0), (&mut p2, 0), (&mut p3, 1)] {
        player
            .client
            .send_json(json!({"type": "vote", "qid": q2["qid"], "choice": choice}))
            .await;
    }
    let tally = host
        .recv_matching("a tally counting three votes", |m| {
            m["type"] == "tally" && m["qid"] == q2["qid"] && m["answered"] == 3
        })
        .await;
    assert_eq!(tally["answered"], 3, "{tally}");
    // The host's close and reveal are not held either.
    let started = Instant::now();
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    for player in [&mut p1, &mut p2, &mut p3] {
        player.client.recv_until("reveal").await;
    }
    let took = started.elapsed();
    assert!(took <= PROMPT + PROMPT, "close and reveal took {took:?}");
    for player in [&mut p1, &mut p2, &mut p3] {
        player.client.ping().await;
        assert!(
            !acked(&player.client, &q2["qid"]),
            "{} acknowledged before it was stored: {:?}",
            player.name,
            player.client.log
        );
    }
    let banner = host
        .log
        .iter()
        .find(|m| m["type"] == "warning" && m["code"] == "store_unavailable")
        .cloned();
    let banner = match banner {
        Some(banner) => banner,
        None => {
            host.recv_matching("the outage banner", |m| {
                m["type"] == "warning" && m["code"] == "store_unavailable"
            })
            .await
        }
    };
    assert_eq!(banner["active"], json!(true), "{banner}");

    // The database comes back: the acks arrive, then the game ends.
    tokio::task::block_in_place(|| pg.restart());
    for player in [&mut p1, &mut p2, &mut p3] {
        let ack = player
            .client
            .recv_matching("the held ack", |m| {
                m["type"] == "ack" && m["qid"] == q2["qid"]
            })
            .await;
        assert_eq!(ack["qid"], q2["qid"]);
    }
    end(&mut host).await;
    let stored = ended_results(b, &room.code, &room.host_token).await;
    let questions = stored["questions"].as_array().expect("questions");
    let qids: Vec<&Value> = questions.iter().map(|q| &q["qid"]).collect();
    assert_eq!(qids, vec![&q1["qid"], &q2["qid"]], "{stored}");
    for (question, voters) in questions
        .iter()
        .zip([vec![p1.id, p2.id], vec![p1.id, p2.id, p3.id]])
    {
        let counted: u64 = question["counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(counted, voters.len() as u64, "each vote once: {stored}");
        let mut ids: Vec<u64> = question["answers"]
            .as_array()
            .expect("answers")
            .iter()
            .filter(|a| a["answered"] == json!(true))
            .filter_map(|a| a["player_id"].as_u64())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, voters, "{stored}");
    }
}

/// A database that stops answering without refusing (packets dropped):
/// before the store notices it is away, what is held behind a commit that
/// does not come goes out after its second all the same: a new player is
/// welcomed and the next question reaches everyone; the acks arrive once
/// the database answers again, and the results hold each vote once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_stops_answering_does_not_hold_up_the_game() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let db = pg.new_database();
    let (port, frozen) = freezing_proxy(pg.port).await;
    let url = db.replace(&format!(":{}/", pg.port), &format!(":{port}/"));
    let server = Server::start_with(move |c| c.database_url = Some(url)).await;
    let room = server.create_room_with(json!({"title": "Frozen"})).await;
    let mut host = common::game::host(&server, &room).await;
    let mut p1 = common::game::join(&server, &room, "p1").await;
    let q1 = common::game::ask(&mut host, "vote", json!({}), &mut [&mut p1.client]).await;

    frozen.send_replace(true);
    p1.client
        .send_json(json!({"type": "vote", "qid": q1["qid"], "choice": 0}))
        .await;
    host.recv_matching("a tally counting the vote", |m| {
        m["type"] == "tally" && m["qid"] == q1["qid"] && m["answered"] == 1
    })
    .await;
    let started = Instant::now();
    let mut p2 = common::game::join(&server, &room, "p2").await;
    let took = started.elapsed();
    assert!(
        took <= PROMPT,
        "welcome took {took:?} with the database hung"
    );
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    let started = Instant::now();
    let q2 = common::game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut [&mut p1.client, &mut p2.client],
    )
    .await;
    let took = started.elapsed();
    assert!(
        took <= PROMPT,
        "the question took {took:?} to reach everyone"
    );
    for player in [&mut p1, &mut p2] {
        player
            .client
            .send_json(json!({"type": "vote", "qid": q2["qid"], "choice": 1}))
            .await;
    }
    host.recv_matching("a tally counting both votes", |m| {
        m["type"] == "tally" && m["qid"] == q2["qid"] && m["answered"] == 2
    })
    .await;
    for player in [&mut p1, &mut p2] {
        player.client.ping().await;
        assert!(
            !player.client.log.iter().any(|m| m["type"] == "ack"),
            "{} acknowledged before it was stored: {:?}",
            player.name,
            player.client.log
        );
    }

    // The database answers again: every ack arrives, the results hold
    // each vote once.
    frozen.send_replace(false);
    p1.client
        .recv_matching("q1's ack", |m| m["type"] == "ack" && m["qid"] == q1["qid"])
        .await;
    for player in [&mut p1, &mut p2] {
        player
            .client
            .recv_matching("q2's ack", |m| m["type"] == "ack" && m["qid"] == q2["qid"])
            .await;
    }
    end(&mut host).await;
    let stored = ended_results(&server, &room.code, &room.host_token).await;
    let counts: Vec<u64> = stored["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| {
            q["counts"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_u64)
                .sum()
        })
        .collect();
    assert_eq!(counts, vec![1, 2], "{stored}");
}

/// `GET /healthz` until `pred` holds of it; returns it and how long that
/// took (fails after `within`).
async fn health_within(
    server: &Server,
    within: Duration,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let health: Value = reqwest::Client::new()
            .get(server.url("/healthz"))
            .timeout(PROMPT)
            .send()
            .await
            .expect("healthz answers")
            .json()
            .await
            .unwrap();
        if pred(&health) {
            return (health, started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "not within {within:?}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long after the database stops answering `/healthz` may still say
/// ok: an idle writer asks every 2 s and gives up on an answer after 2 s.
const DEGRADED_WITHIN: Duration = Duration::from_secs(6);

/// How long a results or history read may take to answer `503` while the
/// database does not answer (the store's read wait is 2.5 s).
const READ_WITHIN: Duration = Duration::from_millis(3_500);

/// A database that stops answering mid-game (packets dropped, so queries
/// on open connections hang): within seconds `/healthz` says degraded and
/// the host gets the banner, stored results and history answer `503
/// store_unavailable` within the read bound instead of hanging, a vote made
/// meanwhile is counted but not acknowledged; once bytes pass again
/// everything comes back by itself (health, the held ack, reads), and the
/// results hold the vote acknowledged before the hang and the one made
/// during it, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_stops_answering_mid_game_degrades_and_recovers() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let db = pg.new_database();
    let (port, frozen) = freezing_proxy(pg.port).await;
    let url = db.replace(&format!(":{}/", pg.port), &format!(":{port}/"));
    let server = Server::start_with(move |c| c.database_url = Some(url)).await;

    // A room that ended: its results are read from the database.
    let done = server.create_room_with(json!({"title": "Done"})).await;
    let mut done_host = common::game::host(&server, &done).await;
    end(&mut done_host).await;
    ended_results(&server, &done.code, &done.host_token).await;

    // The room that plays on: one vote acknowledged before the hang.
    let room = server.create_room_with(json!({"title": "Live"})).await;
    let mut host = common::game::host(&server, &room).await;
    let mut early = common::game::join(&server, &room, "early").await;
    let mut late = common::game::join(&server, &room, "late").await;
    let q = common::game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut [&mut early.client, &mut late.client],
    )
    .await;
    early
        .client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": 1}))
        .await;
    early.client.recv_until("ack").await;
    health_within(&server, PROMPT, |h| h["status"] == "ok").await;

    // The database stops answering.
    frozen.send_replace(true);
    let (health, took) =
        health_within(&server, DEGRADED_WITHIN, |h| h["status"] == "degraded").await;
    assert_eq!(health["store"], "unavailable", "{health}");
    eprintln!("degraded {took:?} after the database stopped answering");
    let banner = host
        .recv_matching("store_unavailable", |m| {
            m["type"] == "warning" && m["code"] == "store_unavailable"
        })
        .await;
    assert_eq!(banner["active"], json!(true), "{banner}");

    // Reads answer the typed 503 within the bound.
    let started = Instant::now();
    let (status, body) = results(&server, &done.code, &done.host_token).await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert!(took <= READ_WITHIN, "results answered after {took:?}");
    eprintln!("results answered 503 after {took:?}");
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .get(server.url("/api/rooms"))
        .bearer_auth(&done.host_token)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(took <= READ_WITHIN, "history answered after {took:?}");

    // A vote during the hang is counted, its ack waits for the database.
    late.client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": 0}))
        .await;
    late.client.ping().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    late.client.ping().await;
    assert!(
        !late.client.log.iter().any(|m| m["type"] == "ack"),
        "acknowledged before it was stored: {:?}",
        late.client.log
    );

    // Bytes pass again: the ack arrives, health and reads come back.
    frozen.send_replace(false);
    let ack = late.client.recv_until("ack").await;
    assert_eq!(ack["qid"], q["qid"]);
    health_within(&server, Duration::from_secs(10), |h| h["status"] == "ok").await;
    let banner = host
        .recv_matching("the banner's end", |m| {
            m["type"] == "warning" && m["code"] == "store_unavailable" && m["active"] == false
        })
        .await;
    assert_eq!(banner["active"], json!(false));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = results(&server, &done.code, &done.host_token).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "reads never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The game ends; its results hold both votes, once each.
    host.send_json(json!({"type": "close"})).await;
    host.recv_until("closed").await;
    end(&mut host).await;
    let stored = ended_results(&server, &room.code, &room.host_token).await;
    let questions = stored["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 1, "{stored}");
    assert_eq!(questions[0]["counts"][0], 1, "{stored}");
    assert_eq!(questions[0]["counts"][1], 1, "{stored}");
    let counted: u64 = questions[0]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(counted, 2, "each vote once: {stored}");
}
