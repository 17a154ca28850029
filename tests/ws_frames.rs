//! The WebSocket frame layer seen from the wire: a raw TCP client sends
//! hand-made frames (fragments, control frames, protocol errors) and reads
//! the server's frames byte by byte, so nothing a client library smooths
//! over goes unchecked.

mod common;

use common::client::WAIT;
use common::Server;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The accept value RFC 6455 gives for [`KEY`].
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A client frame: masked unless `mask` is `None`.
fn frame(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(masked | n as u8),
        n => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame(opcode, fin, payload, Some([0x12, 0x34, 0x56, 0x78]))
}

fn handshake(server: &Server) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n",
        server.addr
    )
}

/// A raw WebSocket client over a plain TCP stream.
struct Raw {
    tcp: TcpStream,
}

impl Raw {
    /// Connects and completes the handshake; `extra` is written in the same
    /// write as the request (bytes that arrive with the handshake).
    async fn connect(server: &Server, extra: &[u8]) -> Raw {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        let mut request = handshake(server).into_bytes();
        request.extend_from_slice(extra);
        tcp.write_all(&request).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            let n = tokio::time::timeout(WAIT, tcp.read(&mut byte))
                .await
                .expect("handshake answered in time")
                .unwrap();
            assert_eq!(n, 1, "connection closed during the handshake");
            head.push(byte[0]);
            assert!(head.len() < 4096, "handshake answer too long");
        }
        let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(
            head.contains(&format!(
                "sec-websocket-accept: {}",
                ACCEPT.to_ascii_lowercase()
            )),
            "{head}"
        );
        Raw { tcp }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// The next server frame: (fin, opcode, payload); `None` at the end of
    /// the stream.
    async fn next_frame(&mut self) -> Option<(bool, u8, Vec<u8>)> {
        tokio::time::timeout(WAIT, self.read_frame())
            .await
            .expect("a frame or the end of the stream in time")
    }

    async fn read_frame(&mut self) -> Option<(bool, u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.tcp.read_exact(&mut head).await.ok()?;
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
        let len = match head[1] & 0x7f {
            126 => u64::from(self.tcp.read_u16().await.ok()?),
            127 => self.tcp.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        self.tcp.read_exact(&mut payload).await.ok()?;
        Some((head[0] & 0x80 != 0, head[0] & 0x0f, payload))
    }

    /// Skips server pings; returns the next other frame.
    async fn next_non_ping(&mut self) -> Option<(bool, u8, Vec<u8>)> {
        loop {
            match self.next_frame().await {
                Some((_, PING, _)) => continue,
                other => return other,
            }
        }
    }

    /// Reads until the server ends the stream; fails if it does not.
    async fn expect_end(&mut self) {
        for _ in 0..100 {
            if self.next_frame().await.is_none() {
                return;
            }
        }
        panic!("the server kept sending");
    }
}

fn close_code(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

#[tokio::test]
async fn pings_get_pongs_and_fragments_are_joined() {
    let server = Server::start().await;
    let mut ws = Raw::connect(&server, &[]).await;
    ws.send(&masked(PING, true, b"are you there")).await;
    assert_eq!(
        ws.next_non_ping().await,
        Some((true, PONG, b"are you there".to_vec()))
    );
    // An application ping in three fragments, a control frame between them.
    let mut bytes = masked(TEXT, false, br#"{"type":"#);
    bytes.extend(masked(PING, true, b"mid"));
    bytes.extend(masked(CONTINUATION, false, br#""ping","#));
    bytes.extend(masked(CONTINUATION, true, br#""t":42}"#));
    ws.send(&bytes).await;
    assert_eq!(
        ws.next_non_ping().await,
        Some((true, PONG, b"mid".to_vec()))
    );
    let (fin, opcode, payload) = ws.next_non_ping().await.unwrap();
    assert!(fin);
    assert_eq!(opcode, TEXT);
    let reply: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(reply["type"], "pong");
    assert_eq!(reply["t"], 42);
}

#[tokio::test]
async fn bytes_sent_with_the_handshake_are_not_lost() {
    let server = Server::start().await;
    let mut ws = Raw::connect(&server, &masked(PING, true, b"early")).await;
    assert_eq!(
        ws.next_non_ping().await,
        Some((true, PONG, b"early".to_vec()))
    );
}

#[tokio::test]
async fn an_unmasked_frame_fails_the_socket_with_1002() {
    let server = Server::start().await;
    let mut ws = Raw::connect(&server, &[]).await;
    ws.send(&frame(TEXT, true, br#"{"type":"ping","t":1}"#, None))
        .await;
    let (_, opcode, payload) = ws.next_non_ping().await.unwrap();
    assert_eq!(opcode, CLOSE);
    assert_eq!(close_code(&payload), Some(1002));
    // A failed socket is not waited on: the server ends the stream.
    ws.expect_end().await;
}

#[tokio::test]
async fn a_reserved_opcode_and_a_long_control_frame_fail_with_1002() {
    let server = Server::start().await;
    for bad in [masked(0x3, true, b"x"), masked(PING, true, &[b'a'; 126])] {
        let mut ws = Raw::connect(&server, &[]).await;
        ws.send(&bad).await;
        let (_, opcode, payload) = ws.next_non_ping().await.unwrap();
        assert_eq!(opcode, CLOSE);
        assert_eq!(close_code(&payload), Some(1002));
        ws.expect_end().await;
    }
}

#[tokio::test]
async fn a_client_close_is_echoed_and_the_server_ends_the_stream() {
    let server = Server::start().await;
    let mut ws = Raw::connect(&server, &[]).await;
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"leaving");
    ws.send(&masked(CLOSE, true, &payload)).await;
    let (_, opcode, payload) = ws.next_non_ping().await.unwrap();
    assert_eq!(opcode, CLOSE);
    assert_eq!(close_code(&payload), Some(4000));
    ws.expect_end().await;
}

#[tokio::test]
async fn an_oversized_frame_gets_1009_and_the_close_reply_is_still_read() {
    let server = Server::start().await;
    let mut ws = Raw::connect(&server, &[]).await;
    let big = vec![b'x'; quizroom::protocol::MAX_CLIENT_MESSAGE + 1];
    ws.send(&masked(TEXT, true, &big)).await;
    let (_, opcode, payload) = ws.next_non_ping().await.unwrap();
    assert_eq!(opcode, CLOSE);
    assert_eq!(close_code(&payload), Some(1009));
    // The server skipped the big payload, so it sees this reply and ends
    // the stream at once instead of waiting out its close grace.
    ws.send(&masked(CLOSE, true, &1009u16.to_be_bytes())).await;
    let started = std::time::Instant::now();
    ws.expect_end().await;
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[tokio::test]
async fn a_plain_request_to_the_socket_endpoint_gets_a_typed_error() {
    let server = Server::start().await;
    let response = reqwest::get(server.url("/ws")).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_websocket", "{body}");
}

#[tokio::test]
async fn a_length_not_in_its_minimal_form_fails_with_1002() {
    let server = Server::start().await;
    let mask = [0x12, 0x34, 0x56, 0x78];
    let payload = br#"{"type":"ping","t":1}"#;
    let masked_payload: Vec<u8> = payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    // The same 21-byte text frame with a 16-bit and with a 64-bit length.
    let mut in_16 = vec![0x80 | TEXT, 0x80 | 126];
    in_16.extend((payload.len() as u16).to_be_bytes());
    let mut in_64 = vec![0x80 | TEXT, 0x80 | 127];
    in_64.extend((payload.len() as u64).to_be_bytes());
    for mut bad in [in_16, in_64] {
        bad.extend(mask);
        bad.extend(&masked_payload);
        let mut ws = Raw::connect(&server, &[]).await;
        ws.send(&bad).await;
        let (_, opcode, reply) = ws.next_non_ping().await.unwrap();
        assert_eq!(opcode, CLOSE, "no pong for a badly framed ping: {reply:?}");
        assert_eq!(close_code(&reply), Some(1002));
        ws.expect_end().await;
    }
}

#[tokio::test]
async fn a_burst_of_pings_counts_against_the_message_rate() {
    let server = Server::start().await;
    let mut ws = Raw::connect(&server, &[]).await;
    let mut burst = Vec::new();
    for _ in 0..500 {
        burst.extend(masked(PING, true, b"p"));
    }
    ws.send(&burst).await;
    let (mut pongs, mut limited, mut close) = (0, 0, None);
    while let Some((_, opcode, payload)) = ws.next_non_ping().await {
        match opcode {
            PONG => pongs += 1,
            TEXT => {
                let msg: Value = serde_json::from_slice(&payload).unwrap();
                assert_eq!(msg["code"], "rate_limited", "{msg}");
                limited += 1;
            }
            CLOSE => {
                close = close_code(&payload);
                break;
            }
            other => panic!("unexpected opcode {other}"),
        }
    }
    // The burst allowance (20 messages) and whatever refilled meanwhile.
    assert!(pongs < 60, "{pongs} pongs for a burst of 500 pings");
    assert!(
        pongs >= 20,
        "the burst allowance is still answered: {pongs}"
    );
    assert!(limited > 0, "the sender is told it is over the rate");
    assert_eq!(close, Some(1008), "a sender that keeps on is closed");
}
