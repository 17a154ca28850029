//! HTTP tests of the bank API against a real server on port 0.

mod common;

use serde_json::Value;

const GIFT: &str = "$CATEGORY: Astronomy/Planets\n\n\
::p1:: Which planet is closest to the Sun? {=Mercury ~Venus ~Mars}\n\n\
::p2:: Jupiter is a gas giant. {T}\n";

async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("JSON body")
}

async fn bank_index(server: &common::Server) -> Value {
    let resp = reqwest::get(server.url("/api/banks")).await.unwrap();
    assert_eq!(resp.status(), 200);
    json(resp).await
}

fn find_topic<'a>(nodes: &'a Value, title: &str) -> Option<&'a Value> {
    for node in nodes.as_array()? {
        if node["title"].as_str() == Some(title) {
            return Some(node);
        }
        if let Some(found) = find_topic(&node["children"], title) {
            return Some(found);
        }
    }
    None
}

async fn upload(server: &common::Server, name: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let url = match name {
        Some(n) => server.url(&format!("/api/banks?name={n}")),
        None => server.url("/api/banks"),
    };
    reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn error_code(resp: reqwest::Response) -> String {
    let body = json(resp).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = common::Server::start().await;
    let body: serde_json::Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn lists_the_seed_banks_and_the_merged_topic_tree() {
    let server = common::Server::start().await;
    let index = bank_index(&server).await;
    let banks = index["banks"].as_array().unwrap();
    let seed_files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../seeds"))
        .unwrap()
        .count();
    assert_eq!(banks.len(), seed_files, "every seed loads: {banks:?}");
    let classroom = banks
        .iter()
        .find(|b| b["file"] == "classroom.gift")
        .unwrap();
    assert_eq!(classroom["questions"], 18);
    for b in banks {
        assert!(b["id"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(b["title"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(b["questions"].as_u64().unwrap() > 0);
    }
    let geography = find_topic(&index["topics"], "Geography").expect("classroom topic");
    assert_eq!(geography["questions"], 6);
    assert_eq!(geography["path"], serde_json::json!(["Geography"]));
    let cs = find_topic(&index["topics"], "Computer Science").unwrap();
    let networking = find_topic(&cs["children"], "Networking").unwrap();
    assert_eq!(
        networking["path"],
        serde_json::json!(["Computer Science", "Networking"])
    );
    assert!(cs["questions"].as_u64() >= networking["questions"].as_u64());
}

#[tokio::test]
async fn one_bank_comes_back_parsed_and_unknown_ids_are_404() {
    let server = common::Server::start().await;
    let index = bank_index(&server).await;
    let id = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["file"] == "classroom.gift")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A host (any holder of a room's host token) sees the answer key.
    let room = server.create_room().await;
    let resp = reqwest::Client::new()
        .get(server.url(&format!("/api/banks/{id}")))
        .bearer_auth(&room.host_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert!(body.get("redacted").is_none(), "{body}");
    let bank = &body["banks"][0];
    assert_eq!(bank["id"], id.as_str());
    let questions: Vec<&Value> = bank["topics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["questions"].as_array().unwrap())
        .collect();
    assert_eq!(questions.len(), 18);
    let first = questions[0];
    assert_eq!(first["kind"], "choice");
    assert!(first["line"].as_u64().unwrap() > 0);
    assert_eq!(first["options"][0]["correct"], true);

    // Anyone else (a player, say) gets the same questions without the key.
    for token in [None, Some("0123456789abcdef0123456789abcdef")] {
        let mut req = reqwest::Client::new().get(server.url(&format!("/api/banks/{id}")));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = json(resp).await;
        assert_eq!(body["redacted"], true);
        let text = body.to_string();
        assert!(
            !text.contains("\"correct\":true"),
            "answer key leaked: {text}"
        );
        assert!(!text.contains("\"answer\":"), "reference answer leaked");
        let prompts = body["banks"][0]["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["questions"].as_array().unwrap().len())
            .sum::<usize>();
        assert_eq!(prompts, 18);
    }

    let resp = reqwest::get(server.url("/api/banks/no-such-bank"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "not_found");
}

#[tokio::test]
async fn uploaded_gift_bank_joins_the_catalog() {
    let server = common::Server::start().await;
    let resp = upload(&server, Some("astro.gift"), GIFT.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 201);
    let body = json(resp).await;
    let bank = &body["banks"][0];
    assert_eq!(bank["file"], "astro.gift");
    assert_eq!(
        bank["topics"][0]["path"],
        serde_json::json!(["Astronomy", "Planets"])
    );
    assert_eq!(bank["topics"][0]["questions"][1]["kind"], "truefalse");

    let index = bank_index(&server).await;
    let listed = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == bank["id"])
        .expect("uploaded bank is listed");
    assert_eq!(listed["questions"], 2);
    let astronomy = find_topic(&index["topics"], "Astronomy").unwrap();
    assert_eq!(astronomy["questions"], 2);
    let resp = reqwest::get(server.url(&format!("/api/banks/{}", bank["id"].as_str().unwrap())))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn oversize_upload_is_413() {
    let server = common::Server::start().await;
    let body = vec![b'a'; quizroom::bank::MAX_BANK_BYTES + 1];
    let resp = upload(&server, Some("big.md"), body).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(error_code(resp).await, "bank_too_large");
}

#[tokio::test]
async fn binary_upload_is_415() {
    let server = common::Server::start().await;
    let body: Vec<u8> = (0u8..=255).cycle().take(4096).collect();
    let resp = upload(&server, Some("blob.md"), body).await;
    assert_eq!(resp.status(), 415);
    assert_eq!(error_code(resp).await, "bank_encoding");
}

#[tokio::test]
async fn broken_empty_and_unnamed_uploads_are_400() {
    let server = common::Server::start().await;
    let broken = "::q1:: Fine {=a ~b}\n\n::q2:: Broken {=a ~b\n";
    let resp = upload(&server, Some("broken.gift"), broken.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 400);
    let body = json(resp).await;
    assert_eq!(body["error"]["code"], "bank_syntax");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.gift:3"),
        "{body}"
    );

    let resp = upload(&server, Some("empty.md"), Vec::new()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "bank_empty");

    let resp = upload(&server, None, GIFT.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "missing_name");

    // Nothing refused reached the catalog.
    let index = bank_index(&server).await;
    assert!(index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["file"] != "broken.gift"));
}

#[tokio::test]
async fn uploads_need_the_admin_token_when_one_is_set() {
    let server = common::Server::start_with(|c| c.admin_token = Some("s3cret".into())).await;
    let resp = upload(&server, Some("astro.gift"), GIFT.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "unauthorized");
    let resp = reqwest::Client::new()
        .post(server.url("/api/banks?name=astro.gift"))
        .header("Authorization", "Bearer wrong")
        .body(GIFT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = reqwest::Client::new()
        .post(server.url("/api/banks?name=astro.gift"))
        .header("Authorization", "Bearer s3cret")
        .body(GIFT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn re_uploading_a_file_replaces_its_bank() {
    let server = common::Server::start().await;
    let resp = upload(&server, Some("astro.gift"), GIFT.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 201);
    let fixed = "$CATEGORY: Astronomy/Planets\n\n::p1:: Which planet is closest to the Sun? {=Mercury ~Venus ~Mars}\n";
    let resp = upload(&server, Some("astro.gift"), fixed.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 201);
    let index = bank_index(&server).await;
    let astro: Vec<&Value> = index["banks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["file"] == "astro.gift")
        .collect();
    assert_eq!(astro.len(), 1);
    assert_eq!(astro[0]["questions"], 1);
}

#[tokio::test]
async fn concurrent_uploads_all_reach_the_catalog() {
    let server = common::Server::start().await;
    let before = bank_index(&server).await["banks"].as_array().unwrap().len();
    let bodies: Vec<(String, String)> = (0..8)
        .map(|i| {
            (
                format!("class{i}.gift"),
                format!("$CATEGORY: Class {i}\n\n::q:: Question {i} is true. {{T}}\n"),
            )
        })
        .collect();
    let uploads = bodies
        .iter()
        .map(|(name, body)| upload(&server, Some(name), body.clone().into_bytes()));
    for resp in futures_util::future::join_all(uploads).await {
        assert_eq!(resp.status(), 201);
    }
    let after = bank_index(&server).await["banks"].as_array().unwrap().len();
    assert_eq!(after, before + 8);
}

/// A data folder of its own, so two servers in a row can share it.
fn own_data_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quizroom-banks-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn uploaded_banks_survive_a_restart_with_the_same_ids() {
    let dir = own_data_dir("restart");
    let data = dir.clone();
    let mut first = common::Server::start_with(move |c| c.data_dir = data).await;
    let resp = upload(&first, Some("astro.gift"), GIFT.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 201);
    let id = json(resp).await["banks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/banks/{id}");
    let before = json(reqwest::get(first.url(&path)).await.unwrap()).await;
    first
        .shutdown_within(std::time::Duration::from_secs(10))
        .await;

    let data = dir.clone();
    let second = common::Server::start_with(move |c| c.data_dir = data).await;
    let resp = reqwest::get(second.url(&path)).await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the uploaded bank is gone after a restart"
    );
    let after = json(resp).await;
    assert_eq!(after["topics"], before["topics"], "question ids changed");
    let index = bank_index(&second).await;
    let astronomy = find_topic(&index["topics"], "Astronomy").expect("topic is back");
    assert_eq!(astronomy["questions"], 2);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_upload_that_cannot_be_saved_is_refused_and_not_listed() {
    let dir = own_data_dir("unsaved");
    std::fs::create_dir_all(&dir).unwrap();
    // A plain file where the upload folder belongs: saving must fail.
    std::fs::write(dir.join("banks"), b"not a folder").unwrap();
    let data = dir.clone();
    let server = common::Server::start_with(move |c| c.data_dir = data).await;
    let before = bank_index(&server).await["banks"].as_array().unwrap().len();
    let resp = upload(&server, Some("astro.gift"), GIFT.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 507);
    assert_eq!(error_code(resp).await, "bank_not_saved");
    let after = bank_index(&server).await["banks"].as_array().unwrap().len();
    assert_eq!(after, before, "an unsaved bank must not be listed");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every string of a full question that would tell a player the answer:
/// accepted short answers, correct option texts' flags, reference answers,
/// follow-ups and notes (the flags themselves are checked by key).
fn secrets(q: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if q["kind"] == "short" {
        for o in q["options"].as_array().into_iter().flatten() {
            out.extend(o["text"].as_str().map(str::to_string));
        }
    }
    out.extend(q["answer"].as_str().map(str::to_string));
    for field in ["followups", "notes"] {
        for s in q[field].as_array().into_iter().flatten() {
            out.extend(s.as_str().map(str::to_string));
        }
    }
    out
}

/// Walks every question of every bank (the seeds and every file under
/// tests/banks/, uploaded here) through the public view and finds no key.
#[tokio::test]
async fn no_question_of_any_bank_reveals_its_answer_through_the_public_view() {
    let server = common::Server::start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/banks");
    let mut uploaded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let resp = upload(&server, Some(&name), std::fs::read(&path).unwrap()).await;
        assert_eq!(resp.status(), 201, "{name}");
        uploaded += 1;
    }
    assert!(uploaded >= 5);
    let room = server.create_room().await;
    let index = bank_index(&server).await;
    let (mut walked, mut shorts, mut keyed) = (0, 0, 0);
    for b in index["banks"].as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        let url = server.url(&format!("/api/banks/{id}"));
        let full = json(
            reqwest::Client::new()
                .get(&url)
                .bearer_auth(&room.host_token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let public = json(reqwest::get(&url).await.unwrap()).await;
        assert_eq!(public["redacted"], true, "{id}");
        let text = public.to_string();
        for key in [
            "\"correct\"",
            "\"weight\"",
            "\"answer\"",
            "\"followups\"",
            "\"notes\"",
            "\"warnings\"",
        ] {
            assert!(!text.contains(key), "{key} in the public view of {id}");
        }
        let full_qs: Vec<&Value> = full["banks"][0]["topics"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["questions"].as_array().unwrap())
            .collect();
        let public_qs: Vec<&Value> = public["banks"][0]["topics"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["questions"].as_array().unwrap())
            .collect();
        assert_eq!(full_qs.len(), public_qs.len(), "{id}");
        for (f, p) in full_qs.iter().zip(&public_qs) {
            walked += 1;
            assert_eq!(f["id"], p["id"]);
            let fields: Vec<&String> = p.as_object().unwrap().keys().collect();
            for field in &fields {
                assert!(
                    ["id", "prompt", "kind", "options", "line"].contains(&field.as_str()),
                    "{field} in public question {p}"
                );
            }
            if f["kind"] == "short" {
                shorts += 1;
                assert!(p.get("options").is_none(), "accepted answers shown: {p}");
            }
            let options: Vec<&str> = p["options"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    assert_eq!(o.as_object().unwrap().len(), 1, "{o}");
                    o["text"].as_str().unwrap()
                })
                .collect();
            // Sorted, so the file order (key first, say) says nothing.
            let mut sorted = options.clone();
            sorted.sort_by_key(|t| (t.to_lowercase(), t.to_string()));
            assert_eq!(options, sorted, "{p}");
            if f["options"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["correct"] == true))
            {
                keyed += 1;
            }
            let visible = p["prompt"].as_str().unwrap().to_lowercase();
            let shown = p.to_string().to_lowercase();
            for secret in secrets(f) {
                let secret = secret.to_lowercase();
                // A secret that is part of the prompt or an option anyway
                // (an answer repeating a word of the question) tells nothing.
                if secret.len() < 3
                    || visible.contains(&secret)
                    || options.iter().any(|o| o.to_lowercase() == secret)
                {
                    continue;
                }
                assert!(!shown.contains(&secret), "{secret:?} leaks in {p}");
            }
        }
    }
    eprintln!("walked {walked} questions ({shorts} short answers, {keyed} keyed)");
    assert!(shorts >= 3 && keyed >= 10, "the banks cover every kind");
}

/// A client that writes its whole body before it reads (as many do) must
/// still get the JSON 413, not a connection reset while it writes.
#[tokio::test]
async fn a_50_mb_upload_gets_a_json_413_not_a_closed_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = common::Server::start().await;
    let size = 50 * 1024 * 1024;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/banks?name=huge.md HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n",
        server.addr
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < size {
        tcp.write_all(&chunk)
            .await
            .unwrap_or_else(|e| panic!("the server cut the upload after {sent} bytes: {e}"));
        sent += chunk.len();
    }
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tcp.read_to_end(&mut reply),
    )
    .await
    .expect("a reply in time");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("application/json"), "{reply}");
    assert!(reply.contains("\"code\":\"bank_too_large\""), "{reply}");
    // The server is still there for the next request.
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
}
