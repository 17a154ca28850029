//! One simulated browser: a WebSocket from a chosen loopback source address,
//! the messages a browser would send, and a cheap look at what comes back.

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::Context;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::os::fd::AsRawFd;

use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::ClientRequestBuilder;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use crate::stamped::{self, Stamp, StampedTcp};

/// A client WebSocket over plain TCP whose reads keep the kernel's
/// receive stamp.
pub type Ws = WebSocketStream<StampedTcp>;

/// Opens a socket bound to `source` (so many clients do not exhaust one
/// address's ports), upgrades it to a WebSocket on `/ws` with the same
/// Origin a browser served by this server would send. The returned
/// [`Stamp`] holds the kernel receive stamp of the socket's latest read
/// (timestamping is asked for before connecting; if the kernel refuses,
/// frames simply have no stamp).
pub async fn connect(
    server: SocketAddr,
    source: Ipv4Addr,
    limit: Duration,
) -> anyhow::Result<(Ws, Stamp)> {
    tokio::time::timeout(limit, async {
        let socket = TcpSocket::new_v4()?;
        socket
            .bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))
            .with_context(|| format!("bind {source}"))?;
        let _ = stamped::enable(socket.as_raw_fd());
        let stream = socket
            .connect(server)
            .await
            .with_context(|| format!("connect {server} from {source}"))?;
        stream.set_nodelay(true)?;
        let stream = StampedTcp::new(stream);
        let stamp = stream.stamp();
        let uri = format!("ws://{server}/ws")
            .parse()
            .context("websocket uri")?;
        let request =
            ClientRequestBuilder::new(uri).with_header("Origin", format!("http://{server}"));
        // Small buffers: the generator holds tens of thousands of sockets
        // and its own memory must not be what limits a run.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
        Ok((ws, stamp))
    })
    .await
    .context("websocket connect timed out")?
}

/// The fields of a server message the generator acts on. Everything else
/// is skipped without being built, so a large roster costs a scan, not
/// allocations.
#[derive(Debug, Deserialize, Default)]
pub struct Peek<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub qid: Option<u32>,
    #[serde(default, borrow)]
    pub mode: Option<Cow<'a, str>>,
    #[serde(default)]
    pub options: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    pub answered: Option<u32>,
    #[serde(default)]
    pub player_id: Option<u32>,
    #[serde(default)]
    pub floor: Option<u32>,
    #[serde(default, rename = "ref", borrow)]
    pub reference: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
}

/// Whether a server message's `type` is one of `kinds`, judged from its
/// opening bytes (the server writes `type` first); a message in any other
/// shape is passed on to [`peek`] rather than skipped.
pub fn kind_is(text: &str, kinds: &[&str]) -> bool {
    let Some(rest) = text.strip_prefix(r#"{"type":""#) else {
        return true;
    };
    match rest.split_once('"') {
        Some((kind, _)) => kinds.contains(&kind),
        None => true,
    }
}

/// Reads the interesting fields of one server text frame.
pub fn peek(text: &str) -> Option<Peek<'_>> {
    serde_json::from_str(text).ok()
}

/// Messages a browser sends, as JSON text.
pub mod msg {
    use serde_json::json;

    /// First message of the host console.
    pub fn host(room: &str, token: &str) -> String {
        json!({"type": "host", "room": room, "token": token}).to_string()
    }

    /// First message of a player page.
    pub fn join(room: &str, name: &str) -> String {
        json!({"type": "join", "room": room, "name": name}).to_string()
    }

    /// Host: draw the next question from `topics` in `mode`.
    pub fn ask(mode: &str, topics: &[String], time_limit_ms: Option<u64>) -> String {
        let mut v = json!({"type": "ask", "mode": mode, "topics": topics});
        if let Some(ms) = time_limit_ms {
            v["time_limit_ms"] = json!(ms);
        }
        if mode != "buzz" {
            // Votes and polls need options: only draw questions that have them.
            v["kinds"] = json!(["choice", "truefalse"]);
        }
        v.to_string()
    }

    /// Host: stop accepting answers.
    pub fn close() -> String {
        json!({"type": "close"}).to_string()
    }

    /// Host: broadcast the outcome.
    pub fn reveal() -> String {
        json!({"type": "reveal"}).to_string()
    }

    /// Host: rule on the player holding the floor.
    pub fn judge(player_id: u32, correct: bool) -> String {
        json!({"type": "judge", "player_id": player_id, "correct": correct}).to_string()
    }

    /// Player: pick option `choice` of question `qid`.
    pub fn vote(qid: u32, choice: u64) -> String {
        json!({"type": "vote", "qid": qid, "choice": choice}).to_string()
    }

    /// Player: press the buzzer.
    pub fn buzz(qid: u32) -> String {
        json!({"type": "buzz", "qid": qid}).to_string()
    }

    /// Anyone: application-level ping, answered with `pong` echoing `t`.
    pub fn ping(t: u64) -> String {
        json!({"type": "ping", "t": t}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_a_question_without_building_it() {
        let p = peek(r#"{"type":"question","qid":7,"seq":1,"mode":"vote","prompt":"p \"q\"","topic":["a"],"options":["x","y","z"]}"#).unwrap();
        assert_eq!(p.kind, "question");
        assert_eq!(p.qid, Some(7));
        assert_eq!(p.mode.as_deref(), Some("vote"));
        assert_eq!(p.options.map(|o| o.len()), Some(3));
    }

    #[test]
    fn peeks_ack_tally_and_error() {
        let a = peek(r#"{"type":"ack","ref":"vote","qid":3}"#).unwrap();
        assert_eq!(
            (a.kind.as_ref(), a.reference.as_deref(), a.qid),
            ("ack", Some("vote"), Some(3))
        );
        let t = peek(r#"{"type":"tally","qid":3,"counts":[1,2],"answered":3,"of":9}"#).unwrap();
        assert_eq!(t.answered, Some(3));
        let e = peek(r#"{"type":"error","code":"room_full","message":"x"}"#).unwrap();
        assert_eq!(e.code.as_deref(), Some("room_full"));
        let w = peek(r#"{"type":"welcome","role":"player","player_id":12,"state":{"players":[{"player_id":1}]}}"#).unwrap();
        assert_eq!(w.player_id, Some(12));
    }

    #[test]
    fn sniffs_the_type_without_parsing() {
        let kinds = &["question", "ack"];
        assert!(kind_is(r#"{"type":"question","qid":1}"#, kinds));
        assert!(!kind_is(r#"{"type":"tally","qid":1}"#, kinds));
        assert!(!kind_is(r#"{"type":"questions"}"#, kinds));
        // Another field order or spacing is not skipped: peek decides.
        assert!(kind_is(r#"{"qid":1,"type":"tally"}"#, kinds));
        assert!(kind_is(r#"{ "type": "tally" }"#, kinds));
    }

    #[test]
    fn peek_refuses_non_messages() {
        assert!(peek("not json").is_none());
        assert!(peek(r#"{"qid":1}"#).is_none());
    }

    #[test]
    fn messages_are_what_the_protocol_names() {
        let ask: serde_json::Value =
            serde_json::from_str(&msg::ask("vote", &["t1".into()], Some(5000))).unwrap();
        assert_eq!(ask["type"], "ask");
        assert_eq!(ask["mode"], "vote");
        assert_eq!(ask["topics"][0], "t1");
        assert_eq!(ask["time_limit_ms"], 5000);
        let buzz: serde_json::Value = serde_json::from_str(&msg::ask("buzz", &[], None)).unwrap();
        assert!(buzz.get("kinds").is_none());
        // Every message the generator sends decodes with the server's own decoder.
        for text in [
            msg::host("ABCDEF", "tok"),
            msg::join("ABCDEF", "p1"),
            msg::ask("vote", &["t".into()], None),
            msg::ask("buzz", &[], Some(1)),
            msg::close(),
            msg::reveal(),
            msg::judge(3, true),
            msg::vote(1, 2),
            msg::buzz(1),
            msg::ping(9),
        ] {
            assert!(quizroom::protocol::decode(&text).is_ok(), "{text}");
        }
    }
}
