//! The host library over HTTP against a real server on port 0: tokens,
//! all-or-nothing saves with field errors, other tokens get 404, edits of
//! seed questions as the host's own version, library questions asked in a
//! room, spreadsheet and CSV imports with row errors, GIFT/markdown exports
//! that re-import, the results workbook, and a quiz surviving kill -9.

mod common;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use reqwest::Client;
use serde_json::{json, Value};

async fn new_host(server: &common::Server) -> String {
    let resp = Client::new()
        .post(server.url("/api/hosts"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    body["host_token"].as_str().unwrap().to_string()
}

async fn call(
    server: &common::Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = Client::new().request(method, server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn raw(server: &common::Server, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = Client::new()
        .post(server.url(path))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn field_codes(body: &Value) -> Vec<(String, String)> {
    body["error"]["fields"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn good_quiz() -> Value {
    json!({
        "title": "Friday quiz",
        "topics": [{"id": "py", "title": "Python"}, {"id": "ty", "title": "Types", "parent": "py"}],
        "questions": [
            {"topic": "ty", "prompt": "Which type is `immutable`?", "kind": "choice", "mode": "vote",
             "options": [{"text": "list", "correct": false}, {"text": "tuple", "correct": true}],
             "points": "double", "time_limit_ms": 20000, "notes": ["NOTE-SECRET"]},
            {"topic": "py", "prompt": "Explain the GIL.", "kind": "open", "answer": "A lock"}
        ]
    })
}

#[tokio::test]
async fn the_library_needs_a_known_host_token() {
    let server = common::Server::start().await;
    let (status, body) = call(&server, reqwest::Method::GET, "/api/library", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let made_up = "0123456789abcdef0123456789abcdef";
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        "/api/library",
        Some(made_up),
        None,
    )
    .await;
    assert_eq!(status, 401, "a token this server never issued is refused");
    let token = new_host(&server).await;
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        "/api/library",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"quizzes": [], "edits": []}));
    // The issued token is the one POST /api/rooms reuses.
    let room = server.create_room_with(json!({"host_token": token})).await;
    assert_eq!(room.host_token, token);
}

#[tokio::test]
async fn saves_are_all_or_nothing_with_field_errors_and_other_tokens_get_404() {
    let server = common::Server::start().await;
    let token = new_host(&server).await;
    let other = new_host(&server).await;
    let bad = json!({
        "title": "Bad",
        "questions": [
            {"prompt": "   ", "kind": "open"},
            {"prompt": "No key", "kind": "choice", "options": [{"text": "a"}, {"text": "b"}]},
            {"prompt": "Eleven", "kind": "multi", "options": (0..11).map(|i| json!({"text": i.to_string(), "correct": i == 0})).collect::<Vec<_>>()},
            {"prompt": "x".repeat(4097), "kind": "open", "time_limit_ms": 5},
            {"prompt": "Fine", "kind": "open"}
        ]
    });
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        "/api/library/quizzes",
        Some(&token),
        Some(bad),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    let codes = field_codes(&body);
    for want in [
        ("questions[0].prompt", "empty_prompt"),
        ("questions[1].options", "no_correct_option"),
        ("questions[2].options", "too_many_options"),
        ("questions[3].prompt", "prompt_too_long"),
        ("questions[3].time_limit_ms", "bad_time_limit"),
    ] {
        assert!(
            codes.iter().any(|(f, c)| f == want.0 && c == want.1),
            "missing {want:?} in {codes:?}"
        );
    }
    let (_, list) = call(
        &server,
        reqwest::Method::GET,
        "/api/library",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(list["quizzes"], json!([]), "nothing was saved");

    let (status, quiz) = call(
        &server,
        reqwest::Method::POST,
        "/api/library/quizzes",
        Some(&token),
        Some(good_quiz()),
    )
    .await;
    assert_eq!(status, 201, "{quiz}");
    let id = quiz["id"].as_str().unwrap().to_string();
    assert!(quiz["questions"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("lq"));

    // A replacement with one bad question changes nothing.
    let mut broken = quiz.clone();
    broken["title"] = json!("Renamed");
    broken["questions"][1]["prompt"] = json!("");
    let path = format!("/api/library/quizzes/{id}");
    let (status, body) = call(
        &server,
        reqwest::Method::PUT,
        &path,
        Some(&token),
        Some(broken),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        field_codes(&body),
        [(
            "questions[1].prompt".to_string(),
            "empty_prompt".to_string()
        )]
    );
    let (_, stored) = call(&server, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(stored["title"], "Friday quiz");
    assert_eq!(stored["questions"], quiz["questions"]);

    // Another host's token never sees or touches it.
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let body = (method == reqwest::Method::PUT).then(good_quiz);
        let (status, body) = call(&server, method.clone(), &path, Some(&other), body).await;
        assert_eq!(status, 404, "{method} {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        &format!("{path}/export?format=gift"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = call(
        &server,
        reqwest::Method::GET,
        "/api/library",
        Some(&other),
        None,
    )
    .await;
    assert_eq!(list["quizzes"], json!([]));

    // Delete, and undo the delete.
    let (status, _) = call(&server, reqwest::Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&server, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, 404);
    let (status, back) = call(
        &server,
        reqwest::Method::POST,
        &format!("{path}/restore"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(back["questions"], quiz["questions"]);
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        "/api/library/quizzes",
        Some(&token),
        Some(json!({"title": 3})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_json"))
    );
}

#[tokio::test]
async fn library_questions_run_in_a_room_with_their_points_and_time_limit() {
    let server = common::Server::start().await;
    let token = new_host(&server).await;
    let (_, quiz) = call(
        &server,
        reqwest::Method::POST,
        "/api/library/quizzes",
        Some(&token),
        Some(good_quiz()),
    )
    .await;
    let qid = quiz["questions"][0]["id"].as_str().unwrap().to_string();
    let open_id = quiz["questions"][1]["id"].as_str().unwrap().to_string();

    // The host's catalog lists the quiz beside the banks; others do not.
    let (_, index) = call(
        &server,
        reqwest::Method::GET,
        "/api/banks",
        Some(&token),
        None,
    )
    .await;
    let lib = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["library"] == true)
        .expect("library bank");
    assert_eq!(lib["title"], "Friday quiz");
    let (_, public) = call(&server, reqwest::Method::GET, "/api/banks", None, None).await;
    assert!(public["banks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["title"] != "Friday quiz"));

    let room = server.create_room_with(json!({"host_token": token})).await;
    let mut host = common::game::host(&server, &room).await;
    let mut ann = common::game::join(&server, &room, "ann").await;
    let (q, seen) = common::game::ask_seen(
        &mut host,
        "vote",
        json!({"question_id": qid}),
        &mut [&mut ann.client],
    )
    .await;
    assert_eq!(
        q["time_limit_ms"], 20000,
        "the question's own limit applies"
    );
    assert_eq!(q["topic"], json!(["Friday quiz", "Python", "Types"]));
    assert_eq!(q["prompt"], "Which type is `immutable`?");
    let tuple = common::game::option_index(&seen[0], "tuple");
    ann.client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": tuple}))
        .await;
    ann.client.recv_until("ack").await;
    host.send_json(json!({"type": "reveal"})).await;
    let reveal = host.recv_until("reveal").await;
    common::game::assert_no_keys(
        &common::game::before_reveal(&ann.client, &q["qid"]),
        &["notes", "correct", "answer"],
        "ann",
    );
    let points = reveal["points"][ann.id.to_string()].as_i64().unwrap();
    assert!(points > 1000 && points % 2 == 0, "double points: {points}");
    // Every mode takes a library question.
    for mode in ["buzz", "text", "self"] {
        let q = common::game::ask(
            &mut host,
            mode,
            json!({"question_id": open_id}),
            &mut [&mut ann.client],
        )
        .await;
        assert_eq!(q["mode"], mode);
    }
    let q = common::game::ask(
        &mut host,
        "poll",
        json!({"question_id": qid}),
        &mut [&mut ann.client],
    )
    .await;
    assert_eq!(q["mode"], "poll");

    // A room of another host does not know the question.
    let other = server.create_room().await;
    let mut other_host = common::game::host(&server, &other).await;
    other_host
        .send_json(json!({"type": "ask", "mode": "vote", "topics": [], "question_id": qid}))
        .await;
    other_host.expect_error("unknown_question").await;
}

#[tokio::test]
async fn a_question_picked_without_a_mode_is_asked_in_its_default_mode() {
    let server = common::Server::start().await;
    let token = new_host(&server).await;
    let quiz = json!({
        "title": "Modes",
        "questions": [
            {"prompt": "Favourite editor?", "kind": "choice", "mode": "poll",
             "options": [{"text": "vim", "correct": true}, {"text": "emacs"}]},
            {"prompt": "Explain ownership.", "kind": "open", "mode": "text", "answer": "One owner"},
            {"prompt": "No default here", "kind": "open"}
        ]
    });
    let (status, quiz) = call(
        &server,
        reqwest::Method::POST,
        "/api/library/quizzes",
        Some(&token),
        Some(quiz),
    )
    .await;
    assert_eq!(status, 201, "{quiz}");
    let id = |i: usize| quiz["questions"][i]["id"].as_str().unwrap().to_string();
    // The host's catalog carries the default mode, for the console to preselect.
    let (_, index) = call(
        &server,
        reqwest::Method::GET,
        "/api/banks",
        Some(&token),
        None,
    )
    .await;
    let bank = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["library"] == true)
        .unwrap();
    let (_, parsed) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/banks/{}", bank["id"].as_str().unwrap()),
        Some(&token),
        None,
    )
    .await;
    let modes: Vec<Value> = parsed["banks"][0]["topics"][0]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["mode"].clone())
        .collect();
    assert_eq!(modes, [json!("poll"), json!("text"), Value::Null]);

    let room = server.create_room_with(json!({"host_token": token})).await;
    let mut host = common::game::host(&server, &room).await;
    let mut ann = common::game::join(&server, &room, "ann").await;
    for (i, want) in [(0, "poll"), (1, "text")] {
        host.send_json(json!({"type": "ask", "question_id": id(i)}))
            .await;
        let q = host.recv_until("question").await;
        assert_eq!(q["mode"], want, "{q}");
        assert_eq!(ann.client.recv_until("question").await["mode"], want);
    }
    // A mode the host names wins over the default.
    let q = common::game::ask(
        &mut host,
        "vote",
        json!({"question_id": id(0)}),
        &mut [&mut ann.client],
    )
    .await;
    assert_eq!(q["mode"], "vote");
    // No default and no mode: refused, nothing asked.
    host.send_json(json!({"type": "ask", "question_id": id(2)}))
        .await;
    host.expect_error("bad_message").await;
    host.send_json(json!({"type": "ask", "topics": []})).await;
    host.expect_error("bad_message").await;
}

#[tokio::test]
async fn an_edited_seed_question_is_the_hosts_own_version() {
    let server = common::Server::start().await;
    let token = new_host(&server).await;
    let (_, index) = call(&server, reqwest::Method::GET, "/api/banks", None, None).await;
    let bank = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["file"].as_str().unwrap().starts_with("000_"))
        .unwrap();
    let bank_path = format!("/api/banks/{}", bank["id"].as_str().unwrap());
    let (_, parsed) = call(
        &server,
        reqwest::Method::GET,
        &bank_path,
        Some(&token),
        None,
    )
    .await;
    let first = parsed["banks"][0]["topics"][0]["questions"][0].clone();
    assert_eq!(first["kind"], "open");
    assert!(first.get("options").is_none(), "a keyless seed question");
    let seed_file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../seeds")
        .join(bank["file"].as_str().unwrap());
    let before = std::fs::read(&seed_file).unwrap();

    let edit_path = format!("/api/library/edits/{}", first["id"].as_str().unwrap());
    let bad = json!({"prompt": first["prompt"], "kind": "choice", "options": [{"text": "a"}, {"text": "b"}]});
    let (status, body) = call(
        &server,
        reqwest::Method::PUT,
        &edit_path,
        Some(&token),
        Some(bad),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        field_codes(&body),
        [("options".to_string(), "no_correct_option".to_string())]
    );
    let edit = json!({
        "prompt": "Какие парадигмы поддерживает Python? (fixed)", "kind": "choice",
        "options": [{"text": "ООП", "correct": true}, {"text": "только логическое"}, {"text": "только стековое"}, {"text": "никакие"}]
    });
    let (status, saved) = call(
        &server,
        reqwest::Method::PUT,
        &edit_path,
        Some(&token),
        Some(edit),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let catalog_id = saved["question_id"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read(&seed_file).unwrap(),
        before,
        "the seed file is untouched"
    );

    // The host sees its version, marked edited; anyone else the original.
    let (_, mine) = call(
        &server,
        reqwest::Method::GET,
        &bank_path,
        Some(&token),
        None,
    )
    .await;
    let q = &mine["banks"][0]["topics"][0]["questions"][0];
    assert_eq!(q["prompt"], "Какие парадигмы поддерживает Python? (fixed)");
    assert_eq!(q["options"].as_array().unwrap().len(), 4);
    assert_eq!(mine["edited"][0]["catalog_id"], catalog_id.as_str());
    let (_, index) = call(
        &server,
        reqwest::Method::GET,
        "/api/banks",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(index["edited"], json!([catalog_id]));
    let (_, theirs) = call(&server, reqwest::Method::GET, &bank_path, None, None).await;
    assert_eq!(
        theirs["banks"][0]["topics"][0]["questions"][0]["prompt"],
        first["prompt"]
    );
    let (_, got) = call(
        &server,
        reqwest::Method::GET,
        &edit_path,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (got["edited"].clone(), got["original"]["prompt"].clone()),
        (json!(true), first["prompt"].clone())
    );

    // Its rooms ask the host's version, scored; another host's cannot.
    let room = server.create_room_with(json!({"host_token": token})).await;
    let mut host = common::game::host(&server, &room).await;
    let mut ann = common::game::join(&server, &room, "ann").await;
    let q = common::game::ask(
        &mut host,
        "vote",
        json!({"question_id": first["id"]}),
        &mut [&mut ann.client],
    )
    .await;
    // Shown shuffled; the option ids name the bank's own order.
    let bank = ["ООП", "только логическое", "только стековое", "никакие"];
    let ids: Vec<usize> = q["option_ids"]
        .as_array()
        .expect("option_ids")
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect();
    let shown: Vec<&str> = ids.iter().map(|&i| bank[i]).collect();
    assert_eq!(q["options"], json!(shown));
    let key = q["correct"][0].as_u64().unwrap() as usize;
    assert_eq!(q["options"][key], "ООП");
    let other = server.create_room().await;
    let mut other_host = common::game::host(&server, &other).await;
    other_host
        .send_json(json!({"type": "ask", "mode": "vote", "topics": [], "question_id": first["id"]}))
        .await;
    other_host.expect_error("unsuitable_question").await;

    // Reverting brings the original back.
    let (status, _) = call(
        &server,
        reqwest::Method::DELETE,
        &edit_path,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, index) = call(
        &server,
        reqwest::Method::GET,
        "/api/banks",
        Some(&token),
        None,
    )
    .await;
    assert!(index.get("edited").is_none());
}

/// A Kahoot-style workbook: instruction rows, then the header, then rows.
fn kahoot_xlsx(rows: &[[&str; 7]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("Kahoot quiz").unwrap();
    ws.write_string(0, 1, "Quiz template").unwrap();
    ws.write_string(2, 1, "Add questions, at least two answer alternatives, time limit and choose correct answers (at least one).").unwrap();
    let header = [
        "Question - max 120 characters",
        "Answer 1 - max 75 characters",
        "Answer 2 - max 75 characters",
        "Answer 3 - max 75 characters",
        "Answer 4 - max 75 characters",
        "Time limit (sec) – 5, 10, 20, 30, 60, 90, 120, or 240 secs",
        "Correct answer(s) - choose at least one",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(7, 1 + c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        ws.write_number(8 + r as u32, 0, (r + 1) as f64).unwrap();
        for (c, v) in row.iter().enumerate() {
            // Numbers as numbers, as Excel stores them.
            match v.parse::<f64>() {
                Ok(n) if c >= 5 => ws.write_number(8 + r as u32, 1 + c as u16, n).unwrap(),
                _ if v.is_empty() => ws,
                _ => ws.write_string(8 + r as u32, 1 + c as u16, *v).unwrap(),
            };
        }
    }
    book.save_to_buffer().unwrap()
}

#[tokio::test]
async fn kahoot_spreadsheets_and_csv_import_with_every_bad_row_reported() {
    let server = common::Server::start().await;
    let token = new_host(&server).await;
    let long_q = "q".repeat(121);
    let long_a = "a".repeat(76);
    let file = kahoot_xlsx(&[
        [
            "Capital of France?",
            "Paris",
            "Rome",
            "Berlin",
            "Madrid",
            "20",
            "1",
        ],
        ["Primes?", "2", "4", "3", "9", "30", "1,3"],
        [&long_q, "x", "y", "", "", "20", "1"],
        ["Bad time", "x", "y", "", "", "300", "1"],
        ["Bad key", "x", "y", "", "", "20", "3"],
        ["Long answer", &long_a, "y", "", "", "20", "1"],
    ]);
    let (status, body) = raw(
        &server,
        "/api/library/import?format=xlsx",
        &token,
        file.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_rows");
    let rows: Vec<(u64, String)> = body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (11, "question_too_long".to_string()),
            (12, "bad_time".to_string()),
            (13, "bad_correct".to_string()),
            (14, "answer_too_long".to_string())
        ]
    );
    let (_, list) = call(
        &server,
        reqwest::Method::GET,
        "/api/library",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(list["quizzes"], json!([]), "nothing imported until asked");

    let (status, body) = raw(
        &server,
        "/api/library/import?format=xlsx&partial=true&title=Kahoot",
        &token,
        file,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["skipped"].as_array().unwrap().len(), 4);
    let quiz = &body["quiz"];
    assert_eq!(quiz["title"], "Kahoot");
    assert_eq!(quiz["questions"].as_array().unwrap().len(), 2);
    assert_eq!(quiz["questions"][0]["time_limit_ms"], 20000);
    assert_eq!(quiz["questions"][1]["kind"], "multi");
    let keys: Vec<bool> = quiz["questions"][1]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["correct"].as_bool().unwrap())
        .collect();
    assert_eq!(keys, [true, false, true, false]);

    // A sheet without the header row.
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet()
        .write_string(0, 0, "just text")
        .unwrap();
    let (status, body) = raw(
        &server,
        "/api/library/import?format=xlsx",
        &token,
        book.save_to_buffer().unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("missing_header"))
    );
    let (status, body) = raw(
        &server,
        "/api/library/import?format=xlsx",
        &token,
        b"not a zip".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_xlsx"))
    );

    // CSV with a header row, semicolons as a Russian Excel writes them.
    let csv = "Вопрос;Ответ 1;Ответ 2;Ответ 3;Ответ 4;Время;Правильные;Тема\n\
               2+2?;3;4;;;10;2;Математика\n\
               ;a;b;;;10;1;\n\
               Столица?;Москва;Казань;;;abc;1;География\n";
    let (status, body) = raw(
        &server,
        "/api/library/import?format=csv",
        &token,
        csv.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let rows: Vec<(u64, String)> = body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(3, "empty_prompt".to_string()), (4, "bad_time".to_string())]
    );
    let (status, body) = raw(
        &server,
        "/api/library/import?format=csv&partial=true&title=CSV",
        &token,
        csv.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["quiz"]["topics"][0]["title"], "Математика");
    let (status, body) = raw(
        &server,
        "/api/library/import?format=csv",
        &token,
        b"a,b,c\n1,2,3\n".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("missing_header"))
    );
}

#[tokio::test]
async fn exports_re_import_to_the_same_quiz() {
    let server = common::Server::start().await;
    let token = new_host(&server).await;
    let (_, quiz) = call(
        &server,
        reqwest::Method::POST,
        "/api/library/quizzes",
        Some(&token),
        Some(good_quiz()),
    )
    .await;
    let id = quiz["id"].as_str().unwrap();
    for (format, kinds) in [("gift", vec!["choice", "open"]), ("md", vec!["choice"])] {
        let resp = Client::new()
            .get(server.url(&format!("/api/library/quizzes/{id}/export?format={format}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.bytes().await.unwrap().to_vec();
        let (status, back) = raw(
            &server,
            &format!("/api/library/import?format={format}"),
            &token,
            text,
        )
        .await;
        assert_eq!(status, 201, "{format}: {back}");
        let back = &back["quiz"];
        assert_eq!(back["title"], "Friday quiz");
        let got: Vec<&str> = back["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["kind"].as_str().unwrap())
            .collect();
        assert_eq!(got, kinds, "{format}");
        let first = &back["questions"][0];
        assert_eq!(
            first["options"], quiz["questions"][0]["options"],
            "{format}"
        );
        let topic = back["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| Some(t["id"].as_str().unwrap()) == first["topic"].as_str())
            .unwrap();
        assert_eq!(topic["title"], "Types", "{format}");
    }
}

#[tokio::test]
async fn results_export_as_a_workbook_with_three_sheets() {
    let server = common::Server::start().await;
    let room = server.create_room_with(json!({"title": "Sheets"})).await;
    let mut host = common::game::host(&server, &room).await;
    let mut ann = common::game::join(&server, &room, "=ann").await;
    let q = common::game::ask(&mut host, "self", json!({}), &mut [&mut ann.client]).await;
    ann.client
        .send_json(json!({"type": "vote", "qid": q["qid"], "choice": 0}))
        .await;
    ann.client.recv_until("ack").await;
    host.send_json(json!({"type": "reveal"})).await;
    host.recv_until("reveal").await;
    let resp = Client::new()
        .get(server.url(&format!("/api/rooms/{}/results?format=xlsx", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".xlsx\""));
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), ["players", "questions", "topics"]);
    let players = book.worksheet_range("players").unwrap();
    assert_eq!(players.get((0, 1)), Some(&Data::String("name".into())));
    assert_eq!(
        players.get((1, 1)),
        Some(&Data::String("=ann".into())),
        "a name is text, never a formula"
    );
    let questions = book.worksheet_range("questions").unwrap();
    assert_eq!(questions.get((1, 2)), Some(&Data::String("self".into())));
    let topics = book.worksheet_range("topics").unwrap();
    assert!(topics.height() >= 2);
    let resp = Client::new()
        .get(server.url(&format!("/api/rooms/{}/results?format=pdf", room.code)))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn a_saved_quiz_survives_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_quizroom"))
            .args(["--addr", "127.0.0.1:0", "--log-format", "json"])
            .arg("--seeds")
            .arg(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds"))
            .arg("--data-dir")
            .arg(dir.path())
            .env("QUIZROOM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or_default();
                if v["fields"]["message"] == "listening" {
                    let _ = tx.send(v["fields"]["addr"].as_str().unwrap().to_string());
                }
            }
        });
        let addr = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        (child, addr)
    };
    let (mut child, addr) = start();
    let http = Client::new();
    let token: Value = http
        .post(format!("http://{addr}/api/hosts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["host_token"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("http://{addr}/api/library/quizzes"))
        .bearer_auth(&token)
        .json(&good_quiz())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let saved: Value = resp.json().await.unwrap();
    child.kill().unwrap(); // SIGKILL, right after the answer
    child.wait().unwrap();
    let (mut child, addr) = start();
    let resp = http
        .get(format!(
            "http://{addr}/api/library/quizzes/{}",
            saved["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the token and the quiz came back");
    let back: Value = resp.json().await.unwrap();
    assert_eq!(back, saved);
    child.kill().unwrap();
    child.wait().unwrap();
}
