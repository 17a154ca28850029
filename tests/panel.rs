//! The interview panel over real sockets: co-host rights, attribution of
//! every ruling and score, revocation, tokens that stay in their room, and
//! the per-candidate report after the room ended.

mod common;

use calamine::{Data, Reader, Xlsx};
use serde_json::{json, Value};

use common::{game, Client, NewRoom, Server};

/// Owner adds an interviewer; returns its id and token.
async fn invite(owner: &mut Client, name: &str) -> (u64, String) {
    owner
        .send_json(json!({"type": "add_interviewer", "name": name}))
        .await;
    let list = owner
        .recv_matching("interviewers with the new one", |m| {
            m["type"] == "interviewers"
                && m["interviewers"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|i| i["name"] == name))
        })
        .await;
    let me = list["interviewers"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .cloned()
        .expect("listed");
    (
        me["id"].as_u64().expect("id"),
        me["token"].as_str().expect("token").to_string(),
    )
}

async fn interviewer(server: &Server, room: &NewRoom, token: &str) -> Client {
    let mut c = Client::connect(&server.ws_url()).await;
    c.send_json(json!({"type": "interviewer", "room": room.code, "token": token}))
        .await;
    let welcome = c.recv_until("welcome").await;
    assert_eq!(welcome["role"], "interviewer", "{welcome}");
    assert_eq!(welcome["state"]["score_scale"], 3);
    assert!(
        welcome["state"].get("interviewers").is_none(),
        "an interviewer never sees the panel's tokens"
    );
    c
}

fn screening(server: &Server) -> impl std::future::Future<Output = NewRoom> + '_ {
    server.create_room_with(json!({"title": "Screening", "private": true, "score_scale": 3}))
}

#[tokio::test]
async fn interviewers_see_host_material_judge_mark_and_score_but_do_not_run_the_game() {
    let server = Server::start().await;
    let room = screening(&server).await;
    let mut owner = game::host(&server, &room).await;
    let (ann_id, ann_token) = invite(&mut owner, "Ann").await;
    let mut ann = interviewer(&server, &room, &ann_token).await;
    let mut cand = game::join(&server, &room, "cand").await;

    // Only the owner asks; the interviewer gets the host copy.
    ann.send_json(json!({"type": "ask", "mode": "text"})).await;
    ann.expect_error("forbidden").await;
    owner
        .send_json(json!({"type": "ask", "mode": "text"}))
        .await;
    let q = ann.recv_until("question").await;
    assert!(q.get("question_id").is_some(), "host copy: {q}");
    let qid = q["qid"].clone();
    cand.client
        .send_json(json!({"type": "answer", "qid": qid, "text": "a typed answer"}))
        .await;
    let typed = ann.recv_until("text_answer").await;
    assert_eq!(typed["text"], "a typed answer");

    // The interviewer marks: acknowledged, and attributed to it for everyone on the panel.
    ann.send_json(json!({"type": "mark", "player_id": cand.id, "correct": true}))
        .await;
    assert_eq!(ann.recv_until("ack").await["ref"], "mark");
    let action = owner.recv_until("action").await;
    assert_eq!(action["action"], "mark");
    assert_eq!(action["by"], ann_id);
    assert_eq!(action["by_name"], "Ann");

    // Scores on the room's scale, with a note; both graders side by side.
    ann.send_json(json!({"type": "assess", "qid": qid, "player_id": cand.id, "score": 2, "note": "good start"}))
        .await;
    assert_eq!(ann.recv_until("ack").await["ref"], "assess");
    let seen = owner.recv_until("assessment").await;
    assert_eq!(
        (seen["by_name"].clone(), seen["score"].clone()),
        (json!("Ann"), json!(2))
    );
    owner
        .send_json(json!({"type": "assess", "qid": qid, "player_id": cand.id, "score": 3}))
        .await;
    let own = ann
        .recv_matching("the owner's score", |m| {
            m["type"] == "assessment" && m["by"] == 0
        })
        .await;
    assert_eq!(own["score"], 3);
    for bad in [
        json!({"type": "assess", "qid": qid, "player_id": cand.id, "score": 4}),
        json!({"type": "assess", "qid": 99, "player_id": cand.id, "score": 1}),
        json!({"type": "assess", "qid": qid, "player_id": 77, "score": 1}),
        json!({"type": "assess", "qid": qid, "player_id": cand.id, "note": "x".repeat(2001)}),
    ] {
        ann.send_json(bad.clone()).await;
        let err = ann.recv_until("error").await;
        assert!(
            ["bad_message", "wrong_question", "unknown_player"]
                .contains(&err["code"].as_str().unwrap_or("")),
            "{bad}: {err}"
        );
    }

    // Owner-only commands.
    for cmd in [
        json!({"type": "reveal"}),
        json!({"type": "close"}),
        json!({"type": "end"}),
        json!({"type": "kick", "player_id": cand.id}),
        json!({"type": "lock", "locked": true}),
        json!({"type": "add_interviewer", "name": "Mallory"}),
        json!({"type": "revoke_interviewer", "interviewer_id": ann_id}),
    ] {
        ann.send_json(cmd.clone()).await;
        let err = ann.recv_until("error").await;
        assert_eq!(err["code"], "forbidden", "{cmd}");
    }
    // Nothing of the panel reaches the candidate.
    for m in &cand.client.log {
        assert!(
            !["assessment", "action", "interviewers"].contains(&m["type"].as_str().unwrap_or("")),
            "candidate saw {m}"
        );
    }

    // After the end, the results carry who marked, and the report both graders.
    owner.send_json(json!({"type": "end"})).await;
    owner.recv_until("ended").await;
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
    assert_eq!(results["questions"][0]["answers"][0]["judged_by"], "Ann");
    let report: Value = http
        .get(server.url(&format!(
            "/api/rooms/{}/report?format=json&player_id={}",
            room.code, cand.id
        )))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = &report["candidates"][0];
    assert_eq!(c["name"], "cand");
    let marks = c["questions"][0]["marks"].as_array().expect("marks");
    assert_eq!(marks.len(), 2);
    assert_eq!(c["questions"][0]["average"], 2.5);
    assert_eq!(c["questions"][0]["answer"], "a typed answer");
}

#[tokio::test]
async fn a_revoked_interviewer_is_disconnected_at_once_and_its_token_dies() {
    let server = Server::start().await;
    let room = screening(&server).await;
    let mut owner = game::host(&server, &room).await;
    let (ann_id, ann_token) = invite(&mut owner, "Ann").await;
    let mut ann = interviewer(&server, &room, &ann_token).await;
    let mut ann_tab = interviewer(&server, &room, &ann_token).await;
    owner
        .send_json(json!({"type": "revoke_interviewer", "interviewer_id": ann_id}))
        .await;
    assert_eq!(ann.expect_close().await, Some(4005));
    assert_eq!(ann_tab.expect_close().await, Some(4005));
    let list = owner
        .recv_matching("panel without Ann", |m| {
            m["type"] == "interviewers" && m["interviewers"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
    assert!(list["interviewers"].as_array().is_some_and(Vec::is_empty));
    let mut again = Client::connect(&server.ws_url()).await;
    again
        .send_json(json!({"type": "interviewer", "room": room.code, "token": ann_token}))
        .await;
    again.expect_error("bad_token").await;
}

#[tokio::test]
async fn an_interviewer_token_stays_in_its_room_and_opens_no_results() {
    let server = Server::start().await;
    let room = screening(&server).await;
    let other = screening(&server).await;
    let mut owner = game::host(&server, &room).await;
    let mut other_owner = game::host(&server, &other).await;
    let _stranger = game::join(&server, &other, "other candidate").await;
    let (_, token) = invite(&mut owner, "Ann").await;

    let mut c = Client::connect(&server.ws_url()).await;
    c.send_json(json!({"type": "interviewer", "room": other.code, "token": token}))
        .await;
    c.expect_error("bad_token").await;
    // As a host token it opens nothing either.
    c.send_json(json!({"type": "host", "room": room.code, "token": token}))
        .await;
    c.expect_error("bad_token").await;
    // Over HTTP it opens its own room's report only, never the results
    // export, nor anything of the other room.
    let http = reqwest::Client::new();
    for (code, path, status) in [
        (&room.code, "results", 401),
        (&room.code, "report?format=json", 404),
        (&other.code, "results", 401),
        (&other.code, "report?format=json", 401),
    ] {
        let reply = http
            .get(server.url(&format!("/api/rooms/{code}/{path}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        // 404 in its own room: the token is let in, there is no candidate yet.
        assert_eq!(reply.status(), status, "{code} {path}");
    }
    // The other room's owner never hears of this panel.
    other_owner.send_json(json!({"type": "ping"})).await;
    other_owner.recv_until("pong").await;
    assert!(other_owner
        .log
        .iter()
        .all(|m| m["type"] != "interviewers"
            || m["interviewers"].as_array().is_some_and(Vec::is_empty)));
}

#[tokio::test]
async fn buzz_rulings_are_attributed_and_the_report_prints_per_candidate() {
    let server = Server::start().await;
    let room = screening(&server).await;
    let mut owner = game::host(&server, &room).await;
    let (bob_id, bob_token) = invite(&mut owner, "Bob").await;
    let mut bob = interviewer(&server, &room, &bob_token).await;
    let mut a = game::join(&server, &room, "alpha").await;
    let b = game::join(&server, &room, "beta").await;
    owner
        .send_json(json!({"type": "ask", "mode": "buzz"}))
        .await;
    let qid = bob.recv_until("question").await["qid"].clone();
    a.client
        .send_json(json!({"type": "buzz", "qid": qid}))
        .await;
    bob.recv_matching("floor", |m| m["type"] == "buzz_queue" && m["floor"] == a.id)
        .await;
    bob.send_json(json!({"type": "judge", "player_id": a.id, "correct": true}))
        .await;
    let action = owner.recv_until("action").await;
    assert_eq!(
        (action["action"].clone(), action["by"].clone()),
        (json!("judge"), json!(bob_id))
    );
    bob.send_json(json!({"type": "assess", "qid": qid, "player_id": b.id, "note": "did not buzz"}))
        .await;
    bob.recv_until("ack").await;
    owner.send_json(json!({"type": "end"})).await;
    owner.recv_until("ended").await;

    let http = reqwest::Client::new();
    let html = http
        .get(server.url(&format!(
            "/api/rooms/{}/report?token={}",
            room.code, room.host_token
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = html.text().await.unwrap();
    assert_eq!(html.matches("<section class=\"candidate\"").count(), 2);
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("did not buzz"));
    assert!(html.contains("right</span> (Bob)"));
    let csv = http
        .get(server.url(&format!(
            "/api/rooms/{}/report?format=csv&player_id={}",
            room.code, b.id
        )))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\"did not buzz\""), "{csv}");
    assert!(!csv.contains("alpha"));
    let missing = http
        .get(server.url(&format!("/api/rooms/{}/report?player_id=99", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = http
        .get(server.url(&format!("/api/rooms/{}/report?format=xml", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

/// `GET /api/rooms/CODE/report?…` with `token` as bearer: status and body.
async fn get_report(server: &Server, code: &str, query: &str, token: &str) -> (u16, Vec<u8>) {
    let reply = reqwest::Client::new()
        .get(server.url(&format!("/api/rooms/{code}/report?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.bytes().await.unwrap().to_vec())
}

/// Every row of a workbook's sheet, as text ("" for empty cells).
fn sheet_rows(xlsx: &[u8], name: &str) -> Vec<Vec<String>> {
    let mut book = Xlsx::new(std::io::Cursor::new(xlsx.to_vec())).expect("a workbook");
    let range = book.worksheet_range(name).expect("the sheet");
    range
        .rows()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::Float(f) => format!("{f}"),
                    Data::Int(i) => format!("{i}"),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn interviewers_open_their_rooms_reports_as_a_workbook_and_nobody_else_does() {
    let server = Server::start().await;
    let room = screening(&server).await;
    let other = screening(&server).await;
    let mut owner = game::host(&server, &room).await;
    let mut other_owner = game::host(&server, &other).await;
    let (_, ann_token) = invite(&mut owner, "Ann").await;
    let (bob_id, bob_token) = invite(&mut owner, "Bob").await;
    let (_, eve_token) = invite(&mut other_owner, "Eve").await;
    let mut ann = interviewer(&server, &room, &ann_token).await;
    let mut cand = game::join(&server, &room, "Dana").await;
    let _stranger = game::join(&server, &other, "Other candidate").await;

    owner
        .send_json(json!({"type": "ask", "mode": "text"}))
        .await;
    let qid = ann.recv_until("question").await["qid"].clone();
    cand.client
        .send_json(json!({"type": "answer", "qid": qid, "text": "=SUM(A1) is not a formula"}))
        .await;
    ann.recv_until("text_answer").await;
    ann.send_json(
        json!({"type": "assess", "qid": qid, "player_id": cand.id, "score": 3, "note": "sharp"}),
    )
    .await;
    assert_eq!(ann.recv_until("ack").await["ref"], "assess");
    owner
        .send_json(json!({"type": "assess", "qid": qid, "player_id": cand.id, "score": 1, "note": "terse"}))
        .await;
    owner.recv_until("ack").await;

    // While the room runs: Ann (and Bob) open it, Eve of the other room does
    // not, and Ann's token opens nothing of the other room.
    let q = format!("format=json&player_id={}", cand.id);
    assert_eq!(get_report(&server, &room.code, &q, &ann_token).await.0, 200);
    assert_eq!(get_report(&server, &room.code, &q, &bob_token).await.0, 200);
    assert_eq!(get_report(&server, &room.code, &q, &eve_token).await.0, 401);
    assert_eq!(
        get_report(&server, &other.code, "format=json", &ann_token)
            .await
            .0,
        401
    );

    // Bob is revoked: his token dies for the report too, at once.
    owner
        .send_json(json!({"type": "revoke_interviewer", "interviewer_id": bob_id}))
        .await;
    owner
        .recv_matching("panel without Bob", |m| {
            m["type"] == "interviewers"
                && m["interviewers"]
                    .as_array()
                    .is_some_and(|a| a.iter().all(|i| i["name"] != "Bob"))
        })
        .await;
    assert_eq!(get_report(&server, &room.code, &q, &bob_token).await.0, 401);

    owner.send_json(json!({"type": "end"})).await;
    owner.recv_until("ended").await;
    // After the end (the report is read back from storage): the same rights.
    let (status, xlsx) = get_report(
        &server,
        &room.code,
        &format!("format=xlsx&player_id={}", cand.id),
        &ann_token,
    )
    .await;
    assert_eq!(status, 200);
    let answers = sheet_rows(&xlsx, "answers");
    assert_eq!(answers[0][..4], ["player_id", "name", "seq", "topic"]);
    let header = &answers[0];
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let marks: Vec<(String, String, String)> = answers[1..]
        .iter()
        .map(|r| {
            (
                r[col("grader")].clone(),
                r[col("score")].clone(),
                r[col("note")].clone(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [
            ("Host".to_string(), "1".to_string(), "terse".to_string()),
            ("Ann".to_string(), "3".to_string(), "sharp".to_string())
        ],
        "one row per grader, side by side"
    );
    for row in &answers[1..] {
        assert_eq!(row[col("name")], "Dana");
        assert_eq!(row[col("answer")], "=SUM(A1) is not a formula");
        assert_eq!(row[col("average")], "2");
        assert!(row[col("response_ms")].parse::<f64>().is_ok(), "{row:?}");
    }
    let candidates = sheet_rows(&xlsx, "candidates");
    assert_eq!(candidates.len(), 2, "only the candidate asked for");
    assert_eq!(candidates[1][1], "Dana");
    assert_eq!(sheet_rows(&xlsx, "topics").len(), 2);
    // The owner gets every candidate; Bob and Eve still nothing.
    let (status, all) = get_report(&server, &room.code, "format=xlsx", &room.host_token).await;
    assert_eq!(status, 200);
    assert_eq!(sheet_rows(&all, "candidates").len(), 2);
    for token in [&bob_token, &eve_token] {
        let (status, body) = get_report(&server, &room.code, "format=xlsx", token).await;
        assert!(
            [401, 404].contains(&status),
            "{status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert_eq!(
        get_report(&server, &other.code, "format=json", &ann_token)
            .await
            .0,
        401
    );
}
