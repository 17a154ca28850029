//! The host library over HTTP against a real server on port 0, on both
//! stores (the SQLite file and PostgreSQL): tokens, all-or-nothing saves
//! with field errors, other tokens get 404, edits of seed questions as the
//! host's own version, library questions asked in a room in their default
//! mode, spreadsheet and CSV imports with row errors, GIFT/markdown
//! exports that re-import, the results workbook, two nodes sharing one
//! library, and a quiz surviving kill -9.

mod common;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use reqwest::{Client, Method};
use serde_json::{json, Value};

/// What a request carries.
enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>),
}

/// Sends one request; the answer's status and body (JSON, or the text as
/// a JSON string when it is not JSON).
async fn send(url: String, method: Method, token: Option<&str>, body: Body) -> (u16, Value) {
    let mut req = Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Bytes(b) => req.body(b),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A request without a host token.
async fn anonymous(server: &common::Server, path: &str) -> (u16, Value) {
    send(server.url(path), Method::GET, None, Body::None).await
}

/// One host of the library API: a token issued by `POST /api/hosts` and
/// the server it talks to.
struct Host<'a> {
    server: &'a common::Server,
    token: String,
}

impl<'a> Host<'a> {
    /// A fresh host token from `server`.
    async fn new(server: &'a common::Server) -> Host<'a> {
        let (status, body) = send(server.url("/api/hosts"), Method::POST, None, Body::None).await;
        assert_eq!(status, 201, "{body}");
        let token = body["host_token"].as_str().unwrap().to_string();
        Host { server, token }
    }

    /// The same token, talking to another server (a second node).
    fn on(&self, server: &'a common::Server) -> Host<'a> {
        Host {
            server,
            token: self.token.clone(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Body) -> (u16, Value) {
        send(self.server.url(path), method, Some(&self.token), body).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, Body::None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Body::Json(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::PUT, path, Body::Json(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(Method::DELETE, path, Body::None).await
    }

    /// Posts a file (an import).
    async fn upload(&self, path: &str, bytes: impl Into<Vec<u8>>) -> (u16, Value) {
        self.send(Method::POST, path, Body::Bytes(bytes.into()))
            .await
    }

    /// Saves a new quiz, which must succeed; the stored quiz.
    async fn create(&self, quiz: Value) -> Value {
        let (status, saved) = self.post("/api/library/quizzes", quiz).await;
        assert_eq!(status, 201, "{saved}");
        saved
    }

    /// The quizzes in the host's overview.
    async fn quizzes(&self) -> Value {
        let (status, list) = self.get("/api/library").await;
        assert_eq!(status, 200, "{list}");
        list["quizzes"].clone()
    }

    /// An export of quiz `id` as text.
    async fn export(&self, id: &str, format: &str) -> String {
        let (status, text) = self
            .get(&format!("/api/library/quizzes/{id}/export?format={format}"))
            .await;
        assert_eq!(status, 200, "{text}");
        text.as_str().unwrap().to_string()
    }

    /// The host's catalog as `GET /api/banks/{id}` shows it, for the
    /// library bank titled `title`.
    async fn library_bank(&self, title: &str) -> Value {
        let (_, index) = self.get("/api/banks").await;
        let bank = index["banks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["library"] == true && b["title"] == title)
            .unwrap_or_else(|| panic!("no library bank {title} in {index}"))
            .clone();
        let (status, parsed) = self
            .get(&format!("/api/banks/{}", bank["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 200, "{parsed}");
        parsed["banks"][0].clone()
    }

    /// A room of this host with one player, `ann`.
    async fn room_with_ann(&self) -> (common::Client, common::game::Player) {
        let room = self
            .server
            .create_room_with(json!({"host_token": self.token}))
            .await;
        let host = common::game::host(self.server, &room).await;
        let ann = common::game::join(self.server, &room, "ann").await;
        (host, ann)
    }
}

/// (field, code) of every field error in an error body.
fn field_codes(body: &Value) -> Vec<(String, String)> {
    pairs(&body["error"]["fields"], "field", "code")
}

/// (row, code) of every bad row in an import's error body.
fn row_codes(body: &Value) -> Vec<(u64, String)> {
    body["error"]["rows"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &Value, a: &str, b: &str) -> Vec<(String, String)> {
    list.as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|f| {
            (
                f[a].as_str().unwrap().to_string(),
                f[b].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
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

/// A PostgreSQL server of the test's own (started off the runtime: it
/// takes a few seconds).
async fn postgres() -> common::services::Postgres {
    tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap()
}

/// A quizroom server whose results and library are in database `url`.
async fn on_postgres(url: String) -> common::Server {
    common::Server::start_with(|c| c.database_url = Some(url)).await
}

/// Each scenario is a test on the embedded store, and
/// `every_scenario_on_postgres` runs them all on one PostgreSQL server,
/// each on a database of its own.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let server = super::common::Server::start().await;
                    super::$name(&server).await;
                }
            )*
        }

        #[tokio::test]
        async fn every_scenario_on_postgres() {
            let pg = postgres().await;
            $(
                let server = on_postgres(pg.new_database()).await;
                $name(&server).await;
                drop(server);
            )*
        }
    };
}

on_both_stores!(
    the_library_needs_a_known_host_token,
    saves_are_all_or_nothing_with_field_errors_and_other_tokens_get_404,
    library_questions_run_in_a_room_with_their_points_and_time_limit,
    a_question_picked_without_a_mode_is_asked_in_its_default_mode,
    an_edited_seed_question_is_the_hosts_own_version,
    kahoot_spreadsheets_and_csv_import_with_every_bad_row_reported,
    exports_re_import_to_the_same_quiz,
    a_topic_column_with_paths_imports_a_topic_tree,
);

async fn the_library_needs_a_known_host_token(server: &common::Server) {
    let (status, body) = anonymous(server, "/api/library").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let made_up = Host {
        server,
        token: "0123456789abcdef0123456789abcdef".into(),
    };
    let (status, _) = made_up.get("/api/library").await;
    assert_eq!(status, 401, "a token this server never issued is refused");
    let host = Host::new(server).await;
    let (status, body) = host.get("/api/library").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"quizzes": [], "edits": []}));
    // The issued token is the one POST /api/rooms reuses.
    let room = server
        .create_room_with(json!({"host_token": host.token}))
        .await;
    assert_eq!(room.host_token, host.token);
}

async fn saves_are_all_or_nothing_with_field_errors_and_other_tokens_get_404(
    server: &common::Server,
) {
    let host = Host::new(server).await;
    let other = Host::new(server).await;
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
    let (status, body) = host.post("/api/library/quizzes", bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    let codes = field_codes(&body);
    for want in owned(&[
        ("questions[0].prompt", "empty_prompt"),
        ("questions[1].options", "no_correct_option"),
        ("questions[2].options", "too_many_options"),
        ("questions[3].prompt", "prompt_too_long"),
        ("questions[3].time_limit_ms", "bad_time_limit"),
    ]) {
        assert!(codes.contains(&want), "missing {want:?} in {codes:?}");
    }
    assert_eq!(host.quizzes().await, json!([]), "nothing was saved");

    let quiz = host.create(good_quiz()).await;
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
    let (status, body) = host.put(&path, broken).await;
    assert_eq!(status, 400);
    assert_eq!(
        field_codes(&body),
        owned(&[("questions[1].prompt", "empty_prompt")])
    );
    let (_, stored) = host.get(&path).await;
    assert_eq!(stored["title"], "Friday quiz");
    assert_eq!(stored["questions"], quiz["questions"]);

    // Reorder, move between topics and duplicate: one save of the edited
    // quiz each, kept exactly as sent.
    let mut edited = quiz.clone();
    let questions = edited["questions"].as_array_mut().unwrap();
    questions.swap(0, 1);
    questions[0]["topic"] = json!("ty");
    let mut copy = questions[1].clone();
    copy["id"] = json!("");
    copy["prompt"] = json!("Which type is `immutable`? (copy)");
    questions.push(copy);
    let (status, saved) = host.put(&path, edited.clone()).await;
    assert_eq!(status, 200, "{saved}");
    let (_, stored) = host.get(&path).await;
    let shape: Vec<(Value, Value, Value)> = stored["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["id"].clone(), q["topic"].clone(), q["prompt"].clone()))
        .collect();
    let q = |i: usize| quiz["questions"][i]["id"].clone();
    assert_eq!(shape[0], (q(1), json!("ty"), json!("Explain the GIL.")));
    assert_eq!(
        shape[1],
        (q(0), json!("ty"), json!("Which type is `immutable`?"))
    );
    assert!(
        shape[2].0.as_str().unwrap().starts_with("lq") && shape[2].0 != q(0),
        "the duplicate gets an id of its own: {shape:?}"
    );
    assert_eq!(
        stored["questions"][2]["options"],
        quiz["questions"][0]["options"]
    );

    // Another host's token never sees or touches it.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = match method {
            Method::PUT => Body::Json(good_quiz()),
            _ => Body::None,
        };
        let (status, body) = other.send(method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    for tail in [
        "/export?format=gift",
        "/export?format=md",
        "/export?format=xlsx",
    ] {
        let (status, _) = other.get(&format!("{path}{tail}")).await;
        assert_eq!(status, 404, "{tail}");
    }
    let (status, _) = other
        .send(Method::POST, &format!("{path}/restore"), Body::None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(other.quizzes().await, json!([]));

    // Delete, and undo the delete.
    let (status, _) = host.delete(&path).await;
    assert_eq!(status, 204);
    let (status, _) = host.get(&path).await;
    assert_eq!(status, 404);
    let (status, _) = other
        .send(Method::POST, &format!("{path}/restore"), Body::None)
        .await;
    assert_eq!(status, 404, "another host cannot undo it");
    let (status, back) = host
        .send(Method::POST, &format!("{path}/restore"), Body::None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(back["questions"], stored["questions"]);
    let (status, body) = host.post("/api/library/quizzes", json!({"title": 3})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_json"))
    );
}

async fn library_questions_run_in_a_room_with_their_points_and_time_limit(server: &common::Server) {
    let host = Host::new(server).await;
    let quiz = host.create(good_quiz()).await;
    let qid = quiz["questions"][0]["id"].as_str().unwrap().to_string();
    let open_id = quiz["questions"][1]["id"].as_str().unwrap().to_string();

    // The host's catalog lists the quiz beside the banks; others do not.
    host.library_bank("Friday quiz").await;
    let (_, public) = anonymous(server, "/api/banks").await;
    assert!(public["banks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["title"] != "Friday quiz"));

    let (mut console, mut ann) = host.room_with_ann().await;
    let (q, seen) = common::game::ask_seen(
        &mut console,
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
    console.send_json(json!({"type": "reveal"})).await;
    let reveal = console.recv_until("reveal").await;
    common::game::assert_no_keys(
        &common::game::before_reveal(&ann.client, &q["qid"]),
        &["notes", "correct", "answer"],
        "ann",
    );
    let points = reveal["points"][ann.id.to_string()].as_i64().unwrap();
    assert!(points > 1000 && points % 2 == 0, "double points: {points}");
    // Every mode takes a library question.
    for (mode, id) in [
        ("buzz", &open_id),
        ("text", &open_id),
        ("self", &open_id),
        ("poll", &qid),
    ] {
        let q = common::game::ask(
            &mut console,
            mode,
            json!({"question_id": id}),
            &mut [&mut ann.client],
        )
        .await;
        assert_eq!(q["mode"], mode);
    }

    // A room of another host does not know the question.
    let other = server.create_room().await;
    let mut other_host = common::game::host(server, &other).await;
    other_host
        .send_json(json!({"type": "ask", "mode": "vote", "topics": [], "question_id": qid}))
        .await;
    other_host.expect_error("unknown_question").await;
}

async fn a_question_picked_without_a_mode_is_asked_in_its_default_mode(server: &common::Server) {
    let host = Host::new(server).await;
    let quiz = host
        .create(json!({
            "title": "Modes",
            "questions": [
                {"prompt": "Favourite editor?", "kind": "choice", "mode": "poll",
                 "options": [{"text": "vim", "correct": true}, {"text": "emacs"}]},
                {"prompt": "Explain ownership.", "kind": "open", "mode": "text", "answer": "One owner"},
                {"prompt": "No default here", "kind": "open"}
            ]
        }))
        .await;
    let id = |i: usize| quiz["questions"][i]["id"].as_str().unwrap().to_string();
    // The host's catalog carries the default mode, for the console to preselect.
    let bank = host.library_bank("Modes").await;
    let modes: Vec<Value> = bank["topics"][0]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["mode"].clone())
        .collect();
    assert_eq!(modes, [json!("poll"), json!("text"), Value::Null]);

    let (mut console, mut ann) = host.room_with_ann().await;
    for (i, want) in [(0, "poll"), (1, "text")] {
        console
            .send_json(json!({"type": "ask", "question_id": id(i)}))
            .await;
        let q = console.recv_until("question").await;
        assert_eq!(q["mode"], want, "{q}");
        assert_eq!(ann.client.recv_until("question").await["mode"], want);
    }
    // A mode the host names wins over the default.
    let q = common::game::ask(
        &mut console,
        "vote",
        json!({"question_id": id(0)}),
        &mut [&mut ann.client],
    )
    .await;
    assert_eq!(q["mode"], "vote");
    // No default and no mode: refused, nothing asked.
    console
        .send_json(json!({"type": "ask", "question_id": id(2)}))
        .await;
    console.expect_error("bad_message").await;
    console
        .send_json(json!({"type": "ask", "topics": []}))
        .await;
    console.expect_error("bad_message").await;
}

/// The first question of the first seed bank (`000_...`): its bank's path
/// and the question as the public catalog has it.
async fn first_seed_question(server: &common::Server) -> (String, String, Value) {
    let (_, index) = anonymous(server, "/api/banks").await;
    let bank = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["file"].as_str().unwrap().starts_with("000_"))
        .unwrap()
        .clone();
    let bank_path = format!("/api/banks/{}", bank["id"].as_str().unwrap());
    let (_, parsed) = anonymous(server, &bank_path).await;
    let first = parsed["banks"][0]["topics"][0]["questions"][0].clone();
    (bank_path, bank["file"].as_str().unwrap().to_string(), first)
}

async fn an_edited_seed_question_is_the_hosts_own_version(server: &common::Server) {
    let host = Host::new(server).await;
    let (bank_path, file, first) = first_seed_question(server).await;
    assert_eq!(first["kind"], "open");
    assert!(first.get("options").is_none(), "a keyless seed question");
    let seed_file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../seeds")
        .join(file);
    let before = std::fs::read(&seed_file).unwrap();

    let edit_path = format!("/api/library/edits/{}", first["id"].as_str().unwrap());
    let bad = json!({"prompt": first["prompt"], "kind": "choice", "options": [{"text": "a"}, {"text": "b"}]});
    let (status, body) = host.put(&edit_path, bad).await;
    assert_eq!(status, 400);
    assert_eq!(
        field_codes(&body),
        owned(&[("options", "no_correct_option")])
    );
    let edit = json!({
        "prompt": "Какие парадигмы поддерживает Python? (fixed)", "kind": "choice",
        "options": [{"text": "ООП", "correct": true}, {"text": "только логическое"}, {"text": "только стековое"}, {"text": "никакие"}]
    });
    let (status, saved) = host.put(&edit_path, edit).await;
    assert_eq!(status, 200, "{saved}");
    let catalog_id = saved["question_id"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read(&seed_file).unwrap(),
        before,
        "the seed file is untouched"
    );

    // The host sees its version, marked edited; anyone else the original.
    let (_, mine) = host.get(&bank_path).await;
    let q = &mine["banks"][0]["topics"][0]["questions"][0];
    assert_eq!(q["prompt"], "Какие парадигмы поддерживает Python? (fixed)");
    assert_eq!(q["options"].as_array().unwrap().len(), 4);
    assert_eq!(mine["edited"][0]["catalog_id"], catalog_id.as_str());
    let (_, index) = host.get("/api/banks").await;
    assert_eq!(index["edited"], json!([catalog_id]));
    let (_, theirs) = anonymous(server, &bank_path).await;
    assert_eq!(
        theirs["banks"][0]["topics"][0]["questions"][0]["prompt"],
        first["prompt"]
    );
    let (_, got) = host.get(&edit_path).await;
    assert_eq!(
        (got["edited"].clone(), got["original"]["prompt"].clone()),
        (json!(true), first["prompt"].clone())
    );
    let stranger = Host::new(server).await;
    let (status, _) = stranger.delete(&edit_path).await;
    assert_eq!(status, 404, "another host has no version to drop");
    let (_, theirs) = stranger.get(&edit_path).await;
    assert_eq!(
        (
            theirs["edited"].clone(),
            theirs["question"]["prompt"].clone()
        ),
        (json!(false), first["prompt"].clone()),
        "another host sees the bank's version"
    );

    // Its rooms ask the host's version, scored; another host's cannot.
    let (mut console, mut ann) = host.room_with_ann().await;
    let q = common::game::ask(
        &mut console,
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
    let mut other_host = common::game::host(server, &other).await;
    other_host
        .send_json(json!({"type": "ask", "mode": "vote", "topics": [], "question_id": first["id"]}))
        .await;
    other_host.expect_error("unsuitable_question").await;

    // Reverting brings the original back.
    let (status, _) = host.delete(&edit_path).await;
    assert_eq!(status, 204);
    let (_, index) = host.get("/api/banks").await;
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

async fn kahoot_spreadsheets_and_csv_import_with_every_bad_row_reported(server: &common::Server) {
    let host = Host::new(server).await;
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
        ["Too fast", "x", "y", "", "", "4", "1"],
        [&"q".repeat(120), &"a".repeat(75), "y", "", "", "240", "1"],
    ]);
    let (status, body) = host
        .upload("/api/library/import?format=xlsx", file.clone())
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_rows");
    assert_eq!(
        row_codes(&body),
        [
            (11, "question_too_long".to_string()),
            (12, "bad_time".to_string()),
            (13, "bad_correct".to_string()),
            (14, "answer_too_long".to_string()),
            (15, "bad_time".to_string()),
        ]
    );
    assert_eq!(
        host.quizzes().await,
        json!([]),
        "nothing imported until asked"
    );

    let (status, body) = host
        .upload(
            "/api/library/import?format=xlsx&partial=true&title=Kahoot",
            file,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["skipped"].as_array().unwrap().len(), 5);
    let quiz = &body["quiz"];
    assert_eq!(quiz["title"], "Kahoot");
    assert_eq!(
        quiz["questions"].as_array().unwrap().len(),
        3,
        "limits are inclusive"
    );
    assert_eq!(quiz["questions"][0]["time_limit_ms"], 20000);
    assert_eq!(quiz["questions"][1]["kind"], "multi");
    assert_eq!(quiz["questions"][2]["time_limit_ms"], 240000);
    let keys: Vec<bool> = quiz["questions"][1]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["correct"].as_bool().unwrap())
        .collect();
    assert_eq!(keys, [true, false, true, false]);

    // A sheet without the header row, and a file that is no workbook.
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet()
        .write_string(0, 0, "just text")
        .unwrap();
    for (bytes, code) in [
        (book.save_to_buffer().unwrap(), "missing_header"),
        (b"not a zip".to_vec(), "bad_xlsx"),
    ] {
        let (status, body) = host.upload("/api/library/import?format=xlsx", bytes).await;
        assert_eq!((status, body["error"]["code"].clone()), (400, json!(code)));
    }

    // CSV with a header row, semicolons as a Russian Excel writes them.
    let csv = "Вопрос;Ответ 1;Ответ 2;Ответ 3;Ответ 4;Время;Правильные;Тема\n\
               2+2?;3;4;;;10;2;Математика\n\
               ;a;b;;;10;1;\n\
               Столица?;Москва;Казань;;;abc;1;География\n";
    let (status, body) = host.upload("/api/library/import?format=csv", csv).await;
    assert_eq!(status, 400);
    assert_eq!(
        row_codes(&body),
        [(3, "empty_prompt".to_string()), (4, "bad_time".to_string())]
    );
    assert_eq!(
        host.quizzes().await.as_array().unwrap().len(),
        1,
        "nothing more imported until asked"
    );
    let (status, body) = host
        .upload("/api/library/import?format=csv&partial=true&title=CSV", csv)
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["quiz"]["topics"][0]["title"], "Математика");
    // Files that cannot be read at all: one clear code each, nothing saved.
    let header_only = "Question,Answer 1,Answer 2,Correct\n".to_string();
    for (query, bytes, code) in [
        ("format=csv", b"a,b,c\n1,2,3\n".to_vec(), "missing_header"),
        ("format=csv", header_only.into_bytes(), "no_rows"),
        (
            "format=csv",
            b"Question,Answer 1\n\xff\xfe\n".to_vec(),
            "bad_csv",
        ),
        ("format=pdf", b"%PDF".to_vec(), "bad_format"),
        ("format=gift", b"   ".to_vec(), "bank_empty"),
    ] {
        let (status, body) = host
            .upload(&format!("/api/library/import?{query}&partial=true"), bytes)
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!(code)),
            "{query}"
        );
    }
    let (status, _) = host
        .upload(
            "/api/library/import?format=csv",
            vec![b'a'; 5 * 1024 * 1024],
        )
        .await;
    assert_eq!(
        status, 413,
        "a body over the limit is refused before reading"
    );
    assert_eq!(host.quizzes().await.as_array().unwrap().len(), 2);
    // Edits of questions no bank has, or that are not JSON.
    let (status, body) = host
        .put(
            "/api/library/edits/no-such-question",
            json!({"prompt": "x", "kind": "open"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, body) = host.get("/api/library/edits/no-such-question").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
}

/// A quiz with every kind of question, nested topics, reference answers
/// and code in a prompt.
fn every_kind_quiz() -> Value {
    json!({
        "title": "Every kind",
        "topics": [
            {"id": "py", "title": "Python"},
            {"id": "ty", "title": "Types", "parent": "py"},
            {"id": "gc", "title": "Memory", "parent": "py"},
            {"id": "go", "title": "Go"}
        ],
        "questions": [
            {"topic": "ty", "prompt": "Which type is `immutable`?", "kind": "choice",
             "options": [{"text": "list"}, {"text": "tuple", "correct": true}], "answer": "tuple, as it has no setters"},
            {"topic": "ty", "prompt": "Pick the sequences", "kind": "multi",
             "options": [{"text": "list", "correct": true}, {"text": "set"}, {"text": "str", "correct": true}]},
            {"topic": "py", "prompt": "Python is dynamically typed.", "kind": "truefalse",
             "options": [{"text": "True", "correct": true}, {"text": "False"}]},
            {"topic": "gc", "prompt": "Name a falsy value", "kind": "short",
             "options": [{"text": "None", "correct": true}, {"text": "0", "correct": true}]},
            {"topic": "gc", "prompt": "Explain reference counting.", "kind": "open",
             "answer": "Each object counts its references; at zero it is freed"},
            {"topic": "go", "prompt": "Explain goroutines.", "kind": "open"},
            {"prompt": "What does this print?\n\n```python\nprint(2 ** 3)\n```", "kind": "choice",
             "options": [{"text": "8", "correct": true}, {"text": "6"}]}
        ]
    })
}

/// (topic path, prompt, kind, options with keys, reference answer) of each
/// question of a stored quiz, prompts without blank lines (inline and
/// fenced code come back as written); answers only where the author
/// writes them.
fn shape(quiz: &Value) -> Vec<(Vec<String>, String, String, Value, String)> {
    let topics = quiz["topics"].as_array().unwrap();
    let path = |start: Option<&str>| {
        let mut chain = Vec::new();
        let mut at = start.map(str::to_string);
        while let Some(id) = at {
            let t = topics.iter().find(|t| t["id"] == id.as_str()).unwrap();
            chain.push(t["title"].as_str().unwrap().to_string());
            at = t["parent"].as_str().map(str::to_string);
        }
        chain.reverse();
        chain
    };
    quiz["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let kind = q["kind"].as_str().unwrap().to_string();
            let options: Vec<Value> = q["options"]
                .as_array()
                .map(|o| {
                    o.iter()
                        .map(|o| json!([o["text"], o["correct"].as_bool().unwrap_or(false)]))
                        .collect()
                })
                .unwrap_or_default();
            let prompt: Vec<&str> = q["prompt"]
                .as_str()
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            let answer = match kind.as_str() {
                "truefalse" | "short" => String::new(),
                _ => q["answer"].as_str().unwrap_or("").to_string(),
            };
            (
                path(q["topic"].as_str()),
                prompt.join("\n"),
                kind,
                json!(options),
                answer,
            )
        })
        .collect()
}

async fn exports_re_import_to_the_same_quiz(server: &common::Server) {
    let host = Host::new(server).await;
    let quiz = host.create(every_kind_quiz()).await;
    let id = quiz["id"].as_str().unwrap();
    let want = shape(&quiz);
    for format in ["gift", "md"] {
        let text = host.export(id, format).await;
        let (status, back) = host
            .upload(
                &format!("/api/library/import?format={format}"),
                text.clone(),
            )
            .await;
        assert_eq!(status, 201, "{format}: {back}");
        assert_eq!(back["quiz"]["title"], "Every kind", "{format}");
        assert_eq!(shape(&back["quiz"]), want, "{format}:\n{text}");
    }
    // Spreadsheets hold the questions with options, topics as paths.
    let with_options: Vec<_> = want
        .iter()
        .filter(|q| ["choice", "multi", "truefalse"].contains(&q.2.as_str()))
        .map(|(path, prompt, kind, options, _)| {
            (path.clone(), prompt.clone(), kind.clone(), options.clone())
        })
        .collect();
    let resp = Client::new()
        .get(server.url(&format!("/api/library/quizzes/{id}/export?format=xlsx")))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let xlsx = resp.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx.clone())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let topic_col = (0..sheet.width())
        .find(|&c| sheet.get((0, c)) == Some(&Data::String("Topic".into())))
        .expect("a Topic column");
    assert_eq!(
        sheet.get((1, topic_col)),
        Some(&Data::String("Python / Types".into()))
    );
    let csv = host.export(id, "csv").await;
    for (format, bytes) in [("xlsx", xlsx), ("csv", csv.into_bytes())] {
        let (status, back) = host
            .upload(
                &format!("/api/library/import?format={format}&title=Every kind"),
                bytes,
            )
            .await;
        assert_eq!(status, 201, "{format}: {back}");
        let got: Vec<_> = shape(&back["quiz"])
            .into_iter()
            .map(|(path, prompt, kind, options, _)| (path, prompt, kind, options))
            .collect();
        assert_eq!(got, with_options, "{format}");
    }
    let (status, body) = host
        .get(&format!("/api/library/quizzes/{id}/export?format=pdf"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_format"))
    );
}

async fn a_topic_column_with_paths_imports_a_topic_tree(server: &common::Server) {
    let host = Host::new(server).await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    let rows: [[&str; 6]; 5] = [
        [
            "Question",
            "Answer 1",
            "Answer 2",
            "Time limit (sec)",
            "Correct answer(s)",
            "Topic",
        ],
        ["2+2?", "4", "5", "10", "1", "Maths / Arithmetic"],
        ["3*3?", "6", "9", "10", "2", " Maths /Arithmetic "],
        ["Is 7 prime?", "True", "False", "", "1", "Maths / Primes"],
        ["Capital of Peru?", "Lima", "Quito", "", "1", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    let (status, body) = host
        .upload(
            "/api/library/import?format=xlsx&title=Tree",
            book.save_to_buffer().unwrap(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let quiz = &body["quiz"];
    let shown: Vec<(Vec<String>, String)> = shape(quiz)
        .into_iter()
        .map(|(path, prompt, kind, _, _)| (path, format!("{prompt} ({kind})")))
        .collect();
    let p = |path: &[&str], q: &str| {
        (
            path.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            q.to_string(),
        )
    };
    assert_eq!(
        shown,
        [
            p(&["Maths", "Arithmetic"], "2+2? (choice)"),
            p(&["Maths", "Arithmetic"], "3*3? (choice)"),
            p(&["Maths", "Primes"], "Is 7 prime? (truefalse)"),
            p(&[], "Capital of Peru? (choice)"),
        ]
    );
    assert_eq!(
        quiz["topics"].as_array().unwrap().len(),
        3,
        "one Maths, two children"
    );
    // The host's catalog has the tree below the quiz.
    let bank = host.library_bank("Tree").await;
    let paths: Vec<Value> = bank["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].clone())
        .collect();
    assert_eq!(
        paths,
        [
            json!(["Tree", "Maths", "Arithmetic"]),
            json!(["Tree", "Maths", "Primes"]),
            json!(["Tree"])
        ]
    );
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
    let results = |format: &str| {
        Client::new()
            .get(server.url(&format!("/api/rooms/{}/results?format={format}", room.code)))
            .bearer_auth(&room.host_token)
            .send()
    };
    let resp = results("xlsx").await.unwrap();
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
    assert_eq!(results("pdf").await.unwrap().status(), 400);
}

#[tokio::test]
async fn two_nodes_on_one_postgres_database_share_the_library() {
    let pg = postgres().await;
    let url = pg.new_database();
    let a = on_postgres(url.clone()).await;
    let b = on_postgres(url).await;
    let on_a = Host::new(&a).await;
    let on_b = on_a.on(&b);
    // The token issued by one node is known to the other.
    let (status, _) = on_b.get("/api/library").await;
    assert_eq!(status, 200);
    let (mut console, mut ann) = on_b.room_with_ann().await;
    // A quiz saved through A, while B's room runs: B lists it, exports it
    // and its room asks it once B has looked for changes.
    let quiz = on_a.create(good_quiz()).await;
    let qid = quiz["questions"][0]["id"].as_str().unwrap().to_string();
    let (status, listed) = on_b.get("/api/library").await;
    assert_eq!(status, 200);
    assert_eq!(listed["quizzes"][0]["id"], quiz["id"]);
    assert!(on_b
        .export(quiz["id"].as_str().unwrap(), "gift")
        .await
        .contains("immutable"));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let q = loop {
        console
            .send_json(json!({"type": "ask", "question_id": qid}))
            .await;
        let reply = console
            .recv_matching("a question or an error", |m| {
                m["type"] == "question" || m["type"] == "error"
            })
            .await;
        if reply["type"] == "question" {
            break reply;
        }
        assert_eq!(reply["code"], "unknown_question", "{reply}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never saw the quiz"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(q["mode"], "vote", "its default mode");
    ann.client.recv_until("question").await;
    // Deleted through B: gone on A too; restored through A: back on B.
    let path = format!("/api/library/quizzes/{}", quiz["id"].as_str().unwrap());
    assert_eq!(on_b.delete(&path).await.0, 204);
    assert_eq!(on_a.get(&path).await.0, 404);
    let (status, _) = on_a
        .send(Method::POST, &format!("{path}/restore"), Body::None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(on_b.get(&path).await.1["id"], quiz["id"]);
}

#[tokio::test]
async fn the_library_says_it_failed_while_postgres_is_down_and_comes_back_with_it() {
    let pg = postgres().await;
    let server = on_postgres(pg.new_database()).await;
    let host = Host::new(&server).await;
    let quiz = host.create(good_quiz()).await;
    let path = format!("/api/library/quizzes/{}", quiz["id"].as_str().unwrap());
    pg.stop();
    for (status, body) in [host.get("/api/library").await, host.get(&path).await] {
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (500, json!("library_failed")),
            "a failure, never someone else's library or a 401: {body}"
        );
    }
    pg.restart();
    // The first call after the restart reconnects by itself.
    let (status, back) = host.get(&path).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back, quiz);
    assert_eq!(host.quizzes().await.as_array().unwrap().len(), 1);
    // A restart nobody noticed: the stale connection is replaced on the
    // first call, which still succeeds.
    pg.stop();
    pg.restart();
    let (status, back) = host.get(&path).await;
    assert_eq!((status, back), (200, quiz));
}

/// While PostgreSQL is down a host's own token cannot be checked: a room
/// asked for with it and the bank views that depend on it answer `503
/// store_unavailable` (never a fresh token that cuts the host off its
/// library and rooms, nor the public view a stranger gets), and work again
/// once it is back.
#[tokio::test]
async fn a_host_token_that_cannot_be_checked_while_postgres_is_down_is_store_unavailable() {
    let pg = postgres().await;
    let server = on_postgres(pg.new_database()).await;
    let host = Host::new(&server).await;
    host.create(good_quiz()).await;
    let (_, index) = host.get("/api/banks").await;
    let bank = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["library"] == true)
        .expect("the host's quiz is a bank")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bank_path = format!("/api/banks/{bank}");
    let room = json!({"title": "Outage", "host_token": host.token});
    pg.stop();
    let unavailable = |what: &str, (status, body): (u16, Value)| {
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (503, json!("store_unavailable")),
            "{what}: {body}"
        );
    };
    unavailable("the bank index", host.get("/api/banks").await);
    unavailable("the host's bank", host.get(&bank_path).await);
    unavailable("a room", host.post("/api/rooms", room.clone()).await);
    // Without a token nothing needs the database: the public view answers.
    let (status, public) = anonymous(&server, "/api/banks").await;
    assert_eq!(status, 200, "{public}");
    pg.restart();
    let (status, back) = host.post("/api/rooms", room).await;
    assert_eq!(status, 201, "{back}");
    assert_eq!(
        back["host_token"],
        json!(host.token),
        "the host keeps its token"
    );
    let (status, bank) = host.get(&bank_path).await;
    assert_eq!(status, 200, "{bank}");
    assert_ne!(
        bank["redacted"],
        json!(true),
        "the host sees its own key again"
    );
}

/// Saves a quiz and an edit of a seed question on a server process, kills
/// it with SIGKILL right after the answers, starts it again on the same
/// store and finds both.
async fn a_saved_quiz_survives_kill_9_on(database_url: Option<String>) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quizroom"));
        cmd.args(["--addr", "127.0.0.1:0", "--log-format", "json"])
            .arg("--seeds")
            .arg(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds"))
            .arg("--data-dir")
            .arg(dir.path());
        if let Some(url) = &database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd
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
        (child, format!("http://{addr}"))
    };
    let (mut child, base) = start();
    let (status, token) = send(format!("{base}/api/hosts"), Method::POST, None, Body::None).await;
    assert_eq!(status, 201);
    let token = token["host_token"].as_str().unwrap().to_string();
    let (status, saved) = send(
        format!("{base}/api/library/quizzes"),
        Method::POST,
        Some(&token),
        Body::Json(good_quiz()),
    )
    .await;
    assert_eq!(status, 201);
    let (_, index) = send(format!("{base}/api/banks"), Method::GET, None, Body::None).await;
    let bank = index["banks"][0]["id"].as_str().unwrap().to_string();
    let (_, parsed) = send(
        format!("{base}/api/banks/{bank}"),
        Method::GET,
        None,
        Body::None,
    )
    .await;
    let seed_id = parsed["banks"][0]["topics"][0]["questions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let edit_url = format!("{base}/api/library/edits/{seed_id}");
    let edit = json!({"prompt": "Fixed prompt", "kind": "open", "answer": "ref"});
    let (status, _) = send(edit_url, Method::PUT, Some(&token), Body::Json(edit)).await;
    assert_eq!(status, 200);
    child.kill().unwrap(); // SIGKILL, right after the answers
    child.wait().unwrap();

    let (mut child, base) = start();
    let quiz_url = format!(
        "{base}/api/library/quizzes/{}",
        saved["id"].as_str().unwrap()
    );
    let (status, back) = send(quiz_url, Method::GET, Some(&token), Body::None).await;
    assert_eq!(status, 200, "the token and the quiz came back: {back}");
    assert_eq!(back, saved);
    let (_, edit) = send(
        format!("{base}/api/library/edits/{seed_id}"),
        Method::GET,
        Some(&token),
        Body::None,
    )
    .await;
    assert_eq!(
        (edit["edited"].clone(), edit["question"]["prompt"].clone()),
        (json!(true), json!("Fixed prompt"))
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_saved_quiz_survives_kill_9() {
    a_saved_quiz_survives_kill_9_on(None).await;
}

#[tokio::test]
async fn a_saved_quiz_survives_kill_9_on_postgres() {
    let pg = postgres().await;
    a_saved_quiz_survives_kill_9_on(Some(pg.new_database())).await;
}
