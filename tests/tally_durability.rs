//! What waits for the results database and what does not: an `ack` is a
//! promise that the answer survives a crash, so it waits for the answer's
//! commit; the host's `tally` only shows what the room counted, so it does
//! not wait behind those acks. Run against a real PostgreSQL that is
//! stopped mid-question, so the commit cannot happen until it is back.

mod common;

use serde_json::json;

use common::services::Postgres;
use common::{Client, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tally_shows_a_vote_whose_ack_waits_for_the_database() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let db = pg.new_database();
    let server = Server::start_with(move |c| c.database_url = Some(db)).await;
    let room = server
        .create_room_with(json!({"title": "Tally before commit"}))
        .await;
    let mut host = common::game::host(&server, &room).await;
    let mut player = common::game::join(&server, &room, "p0").await;
    let question = common::game::ask(&mut host, "vote", json!({}), &mut [&mut player.client]).await;
    let qid = question["qid"].clone();

    // The database goes away: the vote is counted, not stored.
    tokio::task::block_in_place(|| pg.stop());
    player
        .client
        .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
        .await;
    let tally = host
        .recv_matching("a tally counting the vote", |m| {
            m["type"] == "tally" && m["answered"] == 1
        })
        .await;
    assert_eq!(tally["qid"], qid, "{tally}");
    player.client.ping().await;
    assert!(
        !player.client.log.iter().any(|m| m["type"] == "ack"),
        "acknowledged before it was stored: {:?}",
        player.client.log
    );

    // The database comes back: the held ack goes out.
    tokio::task::block_in_place(|| pg.restart());
    let ack = player.client.recv_until("ack").await;
    assert_eq!(ack["qid"], qid);
}

/// A storm on the default SQLite store: players who join at once and vote
/// at once each get their `welcome` and their `ack`, both held for their
/// records' commit and released as the commits land, whichever pass of the
/// room queued them and whether or not the room was busy when its commit
/// returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_joins_and_votes_gets_every_welcome_and_every_ack() {
    const PLAYERS: usize = 60;
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = common::game::host(&server, &room).await;
    let mut players = Vec::with_capacity(PLAYERS);
    for _ in 0..PLAYERS {
        players.push(Client::connect(&server.ws_url()).await);
    }
    for (i, player) in players.iter_mut().enumerate() {
        player
            .send_json(json!({"type": "join", "room": room.code, "name": format!("s{i}")}))
            .await;
    }
    for player in players.iter_mut() {
        let welcome = player.recv_until("welcome").await;
        assert_eq!(welcome["role"], "player", "{welcome}");
    }
    let mut others: Vec<&mut Client> = players.iter_mut().collect();
    let question = common::game::ask(&mut host, "vote", json!({}), &mut others).await;
    let qid = question["qid"].clone();
    for player in players.iter_mut() {
        player
            .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
            .await;
    }
    for player in players.iter_mut() {
        let ack = player.recv_until("ack").await;
        assert_eq!(ack["qid"], qid, "{ack}");
    }
    host.recv_matching("a tally counting every vote", |m| {
        m["type"] == "tally" && m["answered"] == PLAYERS
    })
    .await;
}
