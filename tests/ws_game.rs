//! A full game in each mode, over real sockets against a server on port 0:
//! host, screen and several players, from `ask` to `reveal`, scores, results
//! and `end`. Every game also checks that no player or screen was sent
//! correctness or host-only fields before the reveal.

mod common;

use common::game::{self, assert_no_keys, before_reveal, Player, SECRET_KEYS};
use common::{Client, Server};
use serde_json::{json, Value};

fn clients<'a>(players: &'a mut [Player], screen: &'a mut Client) -> Vec<&'a mut Client> {
    players
        .iter_mut()
        .map(|p| &mut p.client)
        .chain(std::iter::once(screen))
        .collect()
}

fn indices(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

async fn vote(player: &mut Player, qid: &Value, choices: &[u64]) {
    let msg = if choices.len() == 1 {
        json!({"type": "vote", "qid": qid, "choice": choices[0]})
    } else {
        json!({"type": "vote", "qid": qid, "choices": choices})
    };
    player.client.send_json(msg).await;
    let ack = player.client.recv_until("ack").await;
    assert_eq!(ack["ref"], "vote");
    assert_eq!(&ack["qid"], qid);
}

fn points_of(reveal: &Value, player: &Player) -> i64 {
    reveal["points"][player.id.to_string()]
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test]
async fn vote_game_scores_by_the_key_and_exports_results() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "voter", 4).await;

    let question = game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut clients(&mut players, &mut screen),
    )
    .await;
    let qid = question["qid"].clone();
    let right = indices(&question["correct"]);
    assert!(!right.is_empty(), "host copy carries the key: {question}");
    let options = question["options"].as_array().unwrap().len() as u64;
    let wrong = (0..options)
        .find(|i| !right.contains(i))
        .expect("a wrong option");

    vote(&mut players[0], &qid, &right).await;
    vote(&mut players[1], &qid, &right).await;
    vote(&mut players[2], &qid, &[wrong]).await;
    // players[3] does not answer.
    let tally = host
        .recv_matching("tally of 3 answers", |m| {
            m["type"] == "tally" && m["answered"] == 3
        })
        .await;
    assert_eq!(tally["of"], 4);
    let counted: u64 = indices(&tally["counts"]).iter().sum();
    assert!(counted >= 3, "{tally}");

    host.send_json(json!({"type": "reveal"})).await;
    let reveal = host.recv_until("reveal").await;
    assert_eq!(indices(&reveal["correct"]), right);
    for client in clients(&mut players, &mut screen) {
        let theirs = client.recv_until("reveal").await;
        assert_eq!(indices(&theirs["correct"]), right);
    }
    assert_eq!(points_of(&reveal, &players[0]), 1000);
    assert_eq!(points_of(&reveal, &players[1]), 1000);
    assert_eq!(points_of(&reveal, &players[2]), 0);
    assert_eq!(points_of(&reveal, &players[3]), 0);
    for player in &players {
        assert_no_keys(
            &before_reveal(&player.client, &qid),
            SECRET_KEYS,
            &player.name,
        );
    }
    assert_no_keys(&before_reveal(&screen, &qid), SECRET_KEYS, "screen");

    host.send_json(json!({"type": "show_scores"})).await;
    let scores = host.recv_until("scores").await;
    let board = scores["leaderboard"].as_array().unwrap();
    assert_eq!(board.len(), 4);
    assert_eq!(board[0]["score"], 1000);
    assert_eq!(board[0]["place"], 1);
    assert_eq!(board[1]["place"], 1);
    assert_eq!(board[2]["score"], 0);

    // Results of the live room, JSON and CSV.
    let http = reqwest::Client::new();
    let url = server.url(&format!("/api/rooms/{}/results", room.code));
    let json: Value = http
        .get(&url)
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["code"], room.code);
    assert_eq!(json["questions"].as_array().unwrap().len(), 1, "{json}");
    let scores: Vec<i64> = json["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["score"].as_i64().unwrap())
        .collect();
    assert_eq!(scores.iter().sum::<i64>(), 2000);
    let csv = http
        .get(format!("{url}?format=csv"))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("{}.csv", room.code)));
    let bytes = csv.bytes().await.unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "CSV starts with a UTF-8 BOM"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("qid,seq,question_id"));
    assert_eq!(lines.filter(|l| !l.is_empty()).count(), 4, "{text}");

    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;
    for client in clients(&mut players, &mut screen) {
        client.recv_until("ended").await;
    }
}

#[tokio::test]
async fn results_need_the_host_token() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let other = server.create_room().await;
    let http = reqwest::Client::new();
    let url = server.url(&format!("/api/rooms/{}/results", room.code));
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http.get(&url).send().await.unwrap()), 401);
    assert_eq!(
        status(
            http.get(&url)
                .bearer_auth(&other.host_token)
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(http.get(&url).bearer_auth("Bearer").send().await.unwrap()),
        401
    );
    let unknown = server.url("/api/rooms/ZZZZZZ/results");
    assert_eq!(
        status(
            http.get(&unknown)
                .bearer_auth(&room.host_token)
                .send()
                .await
                .unwrap()
        ),
        404
    );
    let ok = http
        .get(&url)
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["questions"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn buzz_game_passes_the_floor_and_scores_the_judged_answer() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "buzzer", 3).await;
    let question = game::ask(
        &mut host,
        "buzz",
        json!({}),
        &mut clients(&mut players, &mut screen),
    )
    .await;
    let qid = question["qid"].clone();

    for player in players.iter_mut() {
        player
            .client
            .send_json(json!({"type": "buzz", "qid": qid}))
            .await;
        let ack = player.client.recv_until("ack").await;
        assert_eq!(ack["ref"], "buzz");
    }
    // A second press is acknowledged again and changes nothing.
    players[0]
        .client
        .send_json(json!({"type": "buzz", "qid": qid}))
        .await;
    players[0].client.recv_until("ack").await;

    let queue = host
        .recv_matching("queue of 3", |m| {
            m["type"] == "buzz_queue" && m["queue"].as_array().map(Vec::len) == Some(3)
        })
        .await;
    assert_eq!(queue["floor"], players[0].id);
    let order: Vec<u64> = queue["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["player_id"].as_u64().unwrap())
        .collect();
    assert_eq!(order, vec![players[0].id, players[1].id, players[2].id]);

    host.send_json(json!({"type": "judge", "player_id": players[0].id, "correct": false}))
        .await;
    host.recv_matching("floor passed", |m| {
        m["type"] == "buzz_queue" && m["floor"] == players[1].id
    })
    .await;
    // Ruled wrong: out for this question.
    players[0]
        .client
        .send_json(json!({"type": "buzz", "qid": qid}))
        .await;
    players[0].client.expect_error("not_your_turn").await;

    host.send_json(json!({"type": "judge", "player_id": players[1].id, "correct": true}))
        .await;
    host.send_json(json!({"type": "reveal"})).await;
    let reveal = host.recv_until("reveal").await;
    assert_eq!(points_of(&reveal, &players[1]), 1000);
    assert_eq!(points_of(&reveal, &players[0]), 0);
    for client in clients(&mut players, &mut screen) {
        client.recv_until("reveal").await;
    }
    for player in &players {
        assert_no_keys(
            &before_reveal(&player.client, &qid),
            &["answer", "notes", "followups", "question_id"],
            &player.name,
        );
    }
}

#[tokio::test]
async fn poll_game_counts_the_latest_vote_of_each_player() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "pollster", 3).await;
    let question = game::ask(
        &mut host,
        "poll",
        json!({}),
        &mut clients(&mut players, &mut screen),
    )
    .await;
    let qid = question["qid"].clone();
    assert!(question["options"].as_array().unwrap().len() >= 2);

    vote(&mut players[0], &qid, &[0]).await;
    vote(&mut players[0], &qid, &[1]).await; // changed its mind
    vote(&mut players[1], &qid, &[1]).await;
    vote(&mut players[2], &qid, &[0]).await;
    let tally = host
        .recv_matching("final tally", |m| {
            m["type"] == "tally" && m["answered"] == 3 && indices(&m["counts"]).get(1) == Some(&2)
        })
        .await;
    assert_eq!(indices(&tally["counts"])[0], 1);
    // Players see the live tally in a poll.
    players[2]
        .client
        .recv_matching("tally", |m| m["type"] == "tally" && m["answered"] == 3)
        .await;

    host.send_json(json!({"type": "close"})).await;
    players[1].client.recv_until("closed").await;
    players[1]
        .client
        .send_json(json!({"type": "vote", "qid": qid, "choice": 0}))
        .await;
    players[1].client.expect_error("question_closed").await;

    host.send_json(json!({"type": "reveal"})).await;
    let reveal = players[0].client.recv_until("reveal").await;
    assert_eq!(indices(&reveal["counts"])[..2], [1, 2]);
    assert!(indices(&reveal["correct"]).is_empty());
}

#[tokio::test]
async fn self_assessment_feeds_the_knowledge_map() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "learner", 3).await;
    let question = game::ask(
        &mut host,
        "self",
        json!({}),
        &mut clients(&mut players, &mut screen),
    )
    .await;
    let qid = question["qid"].clone();
    assert_eq!(
        question["options"],
        json!(["Know it", "Partly", "Don't know"])
    );
    for (i, player) in players.iter_mut().enumerate() {
        vote(player, &qid, &[i as u64]).await;
    }
    host.send_json(json!({"type": "reveal"})).await;
    let reveal = screen.recv_until("reveal").await;
    assert_eq!(indices(&reveal["counts"]), vec![1, 1, 1]);

    let results: Value = reqwest::Client::new()
        .get(server.url(&format!("/api/rooms/{}/results", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let topics = results["topics"].as_array().unwrap();
    let sum = |key: &str| {
        topics
            .iter()
            .map(|t| t[key].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(
        (sum("know"), sum("partly"), sum("dont_know")),
        (1, 1, 1),
        "{results}"
    );
}

#[tokio::test]
async fn text_game_with_marking_and_a_peer_vote() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "writer", 3).await;
    let question = game::ask(
        &mut host,
        "text",
        json!({}),
        &mut clients(&mut players, &mut screen),
    )
    .await;
    let qid = question["qid"].clone();
    let texts = ["Ownership moves", "Borrowing rules", "Lifetimes"];
    for (player, text) in players.iter_mut().zip(texts) {
        player
            .client
            .send_json(json!({"type": "answer", "qid": qid, "text": text}))
            .await;
        let ack = player.client.recv_until("ack").await;
        assert_eq!(ack["ref"], "answer");
    }
    for text in texts {
        host.recv_matching("text_answer", |m| {
            m["type"] == "text_answer" && m["text"] == text
        })
        .await;
    }
    // Nobody but the host sees another player's typed answer.
    for (i, player) in players.iter().enumerate() {
        for other in texts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, t)| t)
        {
            assert!(
                !player.client.raw.iter().any(|raw| raw.contains(other)),
                "{} saw {other:?} before the peer vote",
                player.name
            );
        }
    }
    host.send_json(json!({"type": "mark", "player_id": players[0].id, "correct": true}))
        .await;
    host.send_json(json!({"type": "peer_vote"})).await;
    let mut options = Vec::new();
    for player in players.iter_mut() {
        let peer = player
            .client
            .recv_matching("peer vote question", |m| {
                m["type"] == "question" && m["phase"] == "peer_vote"
            })
            .await;
        options = peer["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
    }
    let index_of = |text: &str| options.iter().position(|o| o == text).unwrap() as u64;
    // Voting for one's own answer is refused.
    players[1]
        .client
        .send_json(json!({"type": "vote", "qid": qid, "choice": index_of(texts[1])}))
        .await;
    players[1].client.expect_error("own_answer").await;
    vote(&mut players[0], &qid, &[index_of(texts[1])]).await;
    vote(&mut players[2], &qid, &[index_of(texts[1])]).await;
    vote(&mut players[1], &qid, &[index_of(texts[0])]).await;

    host.send_json(json!({"type": "reveal"})).await;
    let reveal = host.recv_until("reveal").await;
    assert_eq!(indices(&reveal["correct"]), vec![index_of(texts[1])]);
    assert_eq!(points_of(&reveal, &players[0]), 1000);
    assert_eq!(points_of(&reveal, &players[1]), 500);
    assert_eq!(points_of(&reveal, &players[2]), 0);
}

#[tokio::test]
async fn an_ended_room_leaves_memory_and_its_final_state_and_results_stay_available() {
    let server = Server::start().await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "finisher", 2).await;
    let question = game::ask(
        &mut host,
        "vote",
        json!({}),
        &mut clients(&mut players, &mut screen),
    )
    .await;
    let right = indices(&question["correct"]);
    vote(&mut players[0], &question["qid"], &right).await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    host.send_json(json!({"type": "end"})).await;
    host.recv_until("ended").await;
    // The room is gone from memory: its sockets are closed and it takes no
    // one, but the stored final state still answers, never `no_room`.
    assert_eq!(screen.expect_close().await, Some(1000));
    let mut late = Client::connect(&server.ws_url()).await;
    late.send_json(json!({"type": "screen", "room": room.code}))
        .await;
    let welcome = late.recv_until("welcome").await;
    assert_eq!(welcome["state"]["ended"], true, "{welcome}");
    assert_eq!(
        welcome["state"]["leaderboard"][0]["score"], 1000,
        "{welcome}"
    );
    assert_eq!(late.expect_close().await, Some(1000));
    let mut host_again = Client::connect(&server.ws_url()).await;
    host_again
        .send_json(json!({"type": "host", "room": room.code, "token": room.host_token}))
        .await;
    let welcome = host_again.recv_until("welcome").await;
    assert_eq!(welcome["role"], "host");
    assert_eq!(welcome["state"]["ended"], true);
    let mut reload = Client::connect(&server.ws_url()).await;
    reload
        .send_json(
            json!({"type": "resume", "room": room.code, "resume_token": players[0].resume_token}),
        )
        .await;
    let welcome = reload.recv_until("welcome").await;
    assert_eq!(welcome["state"]["you"]["place"], 1, "{welcome}");
    let mut again = Client::connect(&server.ws_url()).await;
    again
        .send_json(json!({"type": "join", "room": room.code, "name": "late",
            "resume_token": players[1].resume_token}))
        .await;
    let refused = again.expect_error("room_ended").await;
    assert_eq!(refused["you"]["place"], 2, "{refused}");
    assert_eq!(refused["you"]["score"], 0, "{refused}");
    let mut newcomer = Client::connect(&server.ws_url()).await;
    newcomer
        .send_json(json!({"type": "join", "room": room.code, "name": "newcomer"}))
        .await;
    let refused = newcomer.expect_error("room_ended").await;
    assert!(refused.get("you").is_none(), "{refused}");
    let mut stranger = Client::connect(&server.ws_url()).await;
    stranger
        .send_json(json!({"type": "screen", "room": "ZZZZZZ"}))
        .await;
    stranger.expect_error("no_room").await;
    // Results come from storage now.
    let http = reqwest::Client::new();
    let url = server.url(&format!("/api/rooms/{}/results", room.code));
    let stored = http
        .get(&url)
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    let json: Value = stored.json().await.unwrap();
    assert_eq!(
        json["questions"].as_array().map(Vec::len),
        Some(1),
        "{json}"
    );
    let csv = http
        .get(format!("{url}?format=csv"))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("\u{feff}qid,seq,question_id"), "{text}");
    let other = server.create_room().await;
    let refused = http
        .get(&url)
        .bearer_auth(&other.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
}

/// A bank that lists its key first, as the shipped GIFT bank does.
const KEY_FIRST: &str = "$CATEGORY: Shuffle/Key first\n\n\
::s1:: Which option is right? {=Right ~Wrong A ~Wrong B ~Wrong C}\n";
const BANK_ORDER: [&str; 4] = ["Right", "Wrong A", "Wrong B", "Wrong C"];

/// Uploads [`KEY_FIRST`] and returns its question's catalog id.
async fn key_first_question(server: &Server) -> String {
    let resp = reqwest::Client::new()
        .post(server.url("/api/banks?name=keyfirst.gift"))
        .body(KEY_FIRST)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    body["banks"][0]["topics"][0]["questions"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn options_are_shuffled_by_default_and_everything_names_the_bank_ids() {
    let server = Server::start().await;
    let qid_bank = key_first_question(&server).await;
    let room = server.create_room().await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "s", 2).await;
    let mut key_at = Vec::new();
    let mut last = (Value::Null, Vec::new());
    for _ in 0..12 {
        let (q, seen) = game::ask_seen(
            &mut host,
            "vote",
            json!({"question_id": qid_bank}),
            &mut clients(&mut players, &mut screen),
        )
        .await;
        let ids = indices(&q["option_ids"]);
        let options = strings(&q["options"]);
        // The host's option ids name each shown option's bank position.
        let from_ids: Vec<String> = ids
            .iter()
            .map(|&i| BANK_ORDER[i as usize].to_string())
            .collect();
        assert_eq!(options, from_ids, "{q}");
        let key = indices(&q["correct"]);
        assert_eq!(key.len(), 1);
        assert_eq!(ids[key[0] as usize], 0, "the key is bank option 0");
        key_at.push(key[0]);
        // Every player and the screen see the host's order, without ids.
        for theirs in &seen {
            assert_eq!(strings(&theirs["options"]), options);
            assert!(theirs.get("option_ids").is_none(), "{theirs}");
        }
        last = (q, seen);
    }
    assert!(
        key_at.iter().any(|&k| k != 0),
        "a key listed first in the bank was shown first in every one of 12 asks"
    );
    // Each player taps the option by its text; "Right" scores.
    let (q, seen) = last;
    let qid = q["qid"].clone();
    vote(
        &mut players[0],
        &qid,
        &[game::option_index(&seen[0], "Right")],
    )
    .await;
    vote(
        &mut players[1],
        &qid,
        &[game::option_index(&seen[1], "Wrong B")],
    )
    .await;
    let tally = host
        .recv_matching("tally of two", |m| {
            m["type"] == "tally" && m["answered"] == 2
        })
        .await;
    assert_eq!(indices(&tally["option_ids"]), indices(&q["option_ids"]));
    host.send_json(json!({"type": "reveal"})).await;
    let reveal = host.recv_until("reveal").await;
    assert_eq!(indices(&reveal["option_ids"]), indices(&q["option_ids"]));
    let theirs = players[0].client.recv_until("reveal").await;
    let ids = indices(&theirs["option_ids"]);
    let correct = indices(&theirs["correct"]);
    assert_eq!(ids[correct[0] as usize], 0, "{theirs}");
    assert!(points_of(&reveal, &players[0]) > 0);
    assert_eq!(points_of(&reveal, &players[1]), 0);

    // Results and the CSV name the chosen options by bank id too.
    let http = reqwest::Client::new();
    let results: Value = http
        .get(server.url(&format!("/api/rooms/{}/results", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rq = results["questions"].as_array().unwrap().last().unwrap();
    assert_eq!(indices(&rq["option_ids"]), indices(&q["option_ids"]));
    let by_name = |name: &str| {
        rq["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(indices(&by_name("s1")["choice_ids"]), [0]);
    assert_eq!(indices(&by_name("s2")["choice_ids"]), [2]);
    let csv = http
        .get(server.url(&format!("/api/rooms/{}/results?format=csv", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "choice_ids")
        .expect("choice_ids column");
    let row = csv.lines().rfind(|l| l.contains("\"s2\"")).expect("s2 row");
    assert_eq!(row.split(',').nth(col), Some("2"), "{row}");
    // The workbook's questions sheet names them too.
    let bytes = http
        .get(server.url(&format!("/api/rooms/{}/results?format=xlsx", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let questions = book.worksheet_range("questions").unwrap();
    let header: Vec<String> = questions
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let col = header
        .iter()
        .position(|h| h == "option_ids")
        .expect("option_ids column");
    let last = questions.rows().next_back().unwrap();
    let ids: Vec<String> = indices(&q["option_ids"])
        .iter()
        .map(u64::to_string)
        .collect();
    assert_eq!(last[col].to_string(), ids.join(" / "));
}

#[tokio::test]
async fn the_host_may_keep_the_bank_order_or_shuffle_per_player() {
    let server = Server::start().await;
    let qid_bank = key_first_question(&server).await;

    // Off: the bank's own order.
    let room = server
        .create_room_with(json!({"shuffle_options": "off"}))
        .await;
    let mut host = game::host(&server, &room).await;
    let mut ann = game::join(&server, &room, "ann").await;
    let (q, seen) = game::ask_seen(
        &mut host,
        "vote",
        json!({"question_id": qid_bank}),
        &mut [&mut ann.client],
    )
    .await;
    assert_eq!(strings(&q["options"]), BANK_ORDER);
    assert_eq!(strings(&seen[0]["options"]), BANK_ORDER);
    // An unknown choice is a typed error.
    let resp = reqwest::Client::new()
        .post(server.url("/api/rooms"))
        .json(&json!({"shuffle_options": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_shuffle");

    // Per player: each player its own order; each vote maps back.
    let room = server
        .create_room_with(json!({"shuffle_options": "player"}))
        .await;
    let mut host = game::host(&server, &room).await;
    let mut screen = game::screen(&server, &room).await;
    let mut players = game::join_many(&server, &room, "p", 4).await;
    let mut differed = false;
    for round in 0..6 {
        let (q, seen) = game::ask_seen(
            &mut host,
            "vote",
            json!({"question_id": qid_bank}),
            &mut clients(&mut players, &mut screen),
        )
        .await;
        let qid = q["qid"].clone();
        let screen_copy = seen.last().unwrap();
        assert_eq!(strings(&screen_copy["options"]), strings(&q["options"]));
        let orders: Vec<Vec<String>> = seen[..4].iter().map(|s| strings(&s["options"])).collect();
        differed |= orders.iter().any(|o| o != &orders[0]);
        for (p, theirs) in players.iter_mut().zip(&seen) {
            let mut sorted = strings(&theirs["options"]);
            sorted.sort();
            assert_eq!(sorted, BANK_ORDER, "{theirs}");
            vote(p, &qid, &[game::option_index(theirs, "Right")]).await;
        }
        host.send_json(json!({"type": "reveal"})).await;
        let reveal = host.recv_until("reveal").await;
        let key = indices(&reveal["correct"])[0] as usize;
        assert_eq!(
            indices(&reveal["counts"])[key],
            4,
            "round {round}: {reveal}"
        );
        for (p, theirs) in players.iter_mut().zip(&seen) {
            assert!(
                points_of(&reveal, p) > 0,
                "round {round}: {} not scored",
                p.name
            );
            let own = p.client.recv_until("reveal").await;
            let correct = indices(&own["correct"]);
            assert_eq!(
                correct,
                [game::option_index(theirs, "Right")],
                "the reveal marks the key where this player saw it"
            );
            assert_eq!(indices(&own["counts"])[correct[0] as usize], 4);
            // A reload mid-reveal shows the same own order.
            if round == 5 {
                let mut again = Client::connect(&server.ws_url()).await;
                again
                    .send_json(
                        json!({"type": "resume", "room": room.code, "resume_token": p.resume_token}),
                    )
                    .await;
                let w = again.recv_until("welcome").await;
                let state = &w["state"];
                assert_eq!(state["question"]["options"], theirs["options"]);
                assert_eq!(indices(&state["reveal"]["correct"]), correct);
                assert_eq!(
                    indices(&state["pending"]["choices"]),
                    [game::option_index(theirs, "Right")]
                );
            }
        }
    }
    assert!(
        differed,
        "four players saw the same order in all six rounds"
    );
}

/// Names in a reveal's `right` list, fastest first.
fn right_names(reveal: &Value) -> Vec<String> {
    reveal["right"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_reload_mid_reveal_still_names_who_was_right() {
    let server = Server::start().await;
    for private in [false, true] {
        let room = server.create_room_with(json!({"private": private})).await;
        let mut host = game::host(&server, &room).await;
        let mut screen = game::screen(&server, &room).await;
        let mut players = game::join_many(&server, &room, "r", 7).await;
        let (q, seen) = game::ask_seen(
            &mut host,
            "vote",
            json!({"kinds": ["choice"]}),
            &mut clients(&mut players, &mut screen),
        )
        .await;
        let qid = q["qid"].clone();
        // The full key, by text (a question may have several right options).
        let right_texts: Vec<String> = indices(&q["correct"])
            .iter()
            .map(|&k| q["options"][k as usize].as_str().unwrap().to_string())
            .collect();
        // Six right (r1..r6, in that order), one wrong.
        for (i, p) in players.iter_mut().enumerate() {
            let picks: Vec<u64> = if i == 6 {
                let wrong = strings(&seen[i]["options"])
                    .iter()
                    .position(|o| !right_texts.contains(o))
                    .unwrap() as u64;
                vec![wrong]
            } else {
                let mut picks: Vec<u64> = right_texts
                    .iter()
                    .map(|t| game::option_index(&seen[i], t))
                    .collect();
                picks.sort_unstable();
                picks
            };
            vote(p, &qid, &picks).await;
        }
        host.send_json(json!({"type": "reveal"})).await;
        let live = host.recv_until("reveal").await;
        let everyone: Vec<String> = (1..=6).map(|i| format!("r{i}")).collect();
        assert_eq!(right_names(&live), everyone);

        // The host reloads: its welcome names everyone who was right.
        let mut fresh = Client::connect(&server.ws_url()).await;
        fresh
            .send_json(json!({"type": "host", "room": room.code, "token": room.host_token}))
            .await;
        let w = fresh.recv_until("welcome").await;
        assert_eq!(
            right_names(&w["state"]["reveal"]),
            everyone,
            "private={private}"
        );
        // A screen reloads: the fastest five, never in a private room.
        let mut scr = Client::connect(&server.ws_url()).await;
        scr.send_json(json!({"type": "screen", "room": room.code}))
            .await;
        let w = scr.recv_until("welcome").await;
        let expected: Vec<String> = if private {
            Vec::new()
        } else {
            everyone[..5].to_vec()
        };
        assert_eq!(
            right_names(&w["state"]["reveal"]),
            expected,
            "private={private}"
        );
        // A player reloads: no names.
        let mut again = Client::connect(&server.ws_url()).await;
        again
            .send_json(json!({"type": "resume", "room": room.code, "resume_token": players[0].resume_token}))
            .await;
        let w = again.recv_until("welcome").await;
        assert!(w["state"]["reveal"].get("right").is_none(), "{w}");
        assert_eq!(w["state"]["reveal"]["qid"], qid);
    }
}
