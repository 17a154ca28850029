//! Game helpers over real sockets: a host, players and screens identified
//! in a room, and checks on what players were sent.

use serde_json::{json, Value};

use super::node::Endpoint;
use super::{Client, NewRoom};

/// A player socket with its seat.
pub struct Player {
    pub client: Client,
    pub id: u64,
    pub name: String,
    pub resume_token: String,
}

/// Connects and identifies as the room's host; returns the socket after
/// its `welcome`.
pub async fn host(server: &impl Endpoint, room: &NewRoom) -> Client {
    let mut client = Client::connect(&server.ws_url()).await;
    client
        .send_json(json!({"type": "host", "room": room.code, "token": room.host_token}))
        .await;
    let welcome = client.recv_until("welcome").await;
    assert_eq!(welcome["role"], "host", "{welcome}");
    client
}

/// Connects and joins as `name`.
pub async fn join(server: &impl Endpoint, room: &NewRoom, name: &str) -> Player {
    let mut client = Client::connect(&server.ws_url()).await;
    client
        .send_json(json!({"type": "join", "room": room.code, "name": name}))
        .await;
    let welcome = client.recv_until("welcome").await;
    assert_eq!(welcome["role"], "player", "{welcome}");
    Player {
        id: welcome["player_id"].as_u64().expect("player_id"),
        resume_token: welcome["resume_token"]
            .as_str()
            .expect("resume_token")
            .to_string(),
        name: name.to_string(),
        client,
    }
}

/// Joins `n` players named `{prefix}1..n`.
pub async fn join_many(
    server: &impl Endpoint,
    room: &NewRoom,
    prefix: &str,
    n: usize,
) -> Vec<Player> {
    let mut players = Vec::with_capacity(n);
    for i in 1..=n {
        players.push(join(server, room, &format!("{prefix}{i}")).await);
    }
    players
}

/// Connects as a big screen.
pub async fn screen(server: &impl Endpoint, room: &NewRoom) -> Client {
    let mut client = Client::connect(&server.ws_url()).await;
    client
        .send_json(json!({"type": "screen", "room": room.code}))
        .await;
    let welcome = client.recv_until("welcome").await;
    assert_eq!(welcome["role"], "screen", "{welcome}");
    client
}

/// The host asks a question (`extra` is merged into the `ask`) and every
/// listed client receives it; returns the host's copy.
pub async fn ask(host: &mut Client, mode: &str, extra: Value, others: &mut [&mut Client]) -> Value {
    ask_seen(host, mode, extra, others).await.0
}

/// As [`ask`], also returning each listed client's own copy (options are
/// shuffled, per player when the room says so).
pub async fn ask_seen(
    host: &mut Client,
    mode: &str,
    extra: Value,
    others: &mut [&mut Client],
) -> (Value, Vec<Value>) {
    let mut msg = json!({"type": "ask", "mode": mode, "topics": []});
    if let (Some(msg), Some(extra)) = (msg.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            msg.insert(k.clone(), v.clone());
        }
    }
    host.send_json(msg).await;
    let question = host.recv_until("question").await;
    assert_eq!(question["mode"], mode, "{question}");
    let mut seen = Vec::with_capacity(others.len());
    for client in others.iter_mut() {
        let theirs = client.recv_until("question").await;
        assert_eq!(theirs["qid"], question["qid"]);
        seen.push(theirs);
    }
    (question, seen)
}

/// Where `question` (as one client was sent it) shows the option `text`:
/// what a person taps, whatever order the room shuffled the options into.
pub fn option_index(question: &Value, text: &str) -> u64 {
    question["options"]
        .as_array()
        .and_then(|o| o.iter().position(|t| t == text))
        .map(|i| i as u64)
        .unwrap_or_else(|| panic!("no option {text:?} in {question}"))
}

/// Keys that must never reach a player or screen before the reveal.
pub const SECRET_KEYS: &[&str] = &["correct", "answer", "notes", "followups", "question_id"];

/// Fails if any message (at any depth) has one of `keys`.
pub fn assert_no_keys(messages: &[Value], keys: &[&str], who: &str) {
    fn walk(value: &Value, keys: &[&str]) -> Option<String> {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let empty = v.is_null() || v.as_array().is_some_and(Vec::is_empty);
                    if keys.contains(&k.as_str()) && !empty {
                        return Some(k.clone());
                    }
                    if let Some(found) = walk(v, keys) {
                        return Some(found);
                    }
                }
                None
            }
            Value::Array(items) => items.iter().find_map(|v| walk(v, keys)),
            _ => None,
        }
    }
    for message in messages {
        if let Some(key) = walk(message, keys) {
            panic!("{who} was sent {key:?} before the reveal: {message}");
        }
    }
}

/// The messages a client got before its first `reveal` of `qid`.
pub fn before_reveal(client: &Client, qid: &Value) -> Vec<Value> {
    client
        .log
        .iter()
        .take_while(|m| !(m["type"] == "reveal" && &m["qid"] == qid))
        .cloned()
        .collect()
}
