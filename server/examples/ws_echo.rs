//! A WebSocket echo server on the project's own frame layer
//! (`live::ws::frame`: [`FrameReader`] and [`write_batch`]), for the
//! Autobahn testsuite's fuzzing client and nothing else: the game server
//! never echoes. Every text and binary message comes back as it was
//! received, pings are answered, a close is echoed with its code, and a
//! broken rule is answered with the close code the real server sends.
//!
//!     cargo run --release -p quizroom --example ws_echo -- 127.0.0.1:9001
//!
//! One blocking thread per connection; the size limit is 64 MiB so the
//! suite's large-message cases (section 9) fit.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use quizroom::live::ws::frame::{write_batch, FrameReader, Incoming, Violation};

/// Largest message echoed.
const LIMIT: usize = 64 << 20;
/// Longest handshake request read.
const MAX_REQUEST: usize = 16 << 10;
/// How long a closing connection waits for the peer's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("ws_echo listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            if let Err(err) = serve(stream) {
                eprintln!("connection ended: {err}");
            }
        });
    }
    Ok(())
}

fn serve(mut tcp: TcpStream) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut request = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let end = loop {
        let n = tcp.read(&mut chunk)?;
        if n == 0 || request.len() > MAX_REQUEST {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..end]).into_owned();
    let Some(key) = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    }) else {
        tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    write!(
        tcp,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )?;
    let mut reader = FrameReader::new(LIMIT);
    reader.push(&request[end..]);
    loop {
        loop {
            let reply = match reader.next_event() {
                Ok(None) => break,
                Ok(Some(Incoming::Text(text))) => Message::Text(text.into()),
                Ok(Some(Incoming::Binary(bytes))) => Message::Binary(bytes.into()),
                Ok(Some(Incoming::Ping(payload))) => Message::Pong(payload.into()),
                Ok(Some(Incoming::Pong)) => continue,
                Ok(Some(Incoming::Close(code))) => {
                    // The peer closed: echo its code, then end the TCP
                    // connection (the server closes first, RFC 6455 7.1.1).
                    let frame = code.map(|code| CloseFrame {
                        code,
                        reason: "".into(),
                    });
                    return send(&mut tcp, Message::Close(frame));
                }
                Err(violation) => {
                    send(
                        &mut tcp,
                        Message::Close(Some(CloseFrame {
                            code: violation.close_code(),
                            reason: violation.reason().into(),
                        })),
                    )?;
                    // As the server does: a stream that broke the framing is
                    // dropped at once; after a message too big the reader
                    // still parses, so the peer's close reply is awaited.
                    if violation != Violation::TooBig {
                        return Ok(());
                    }
                    return await_close_reply(&mut tcp, &mut reader, &mut chunk);
                }
            };
            send(&mut tcp, reply)?;
        }
        let n = tcp.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        reader.push(&chunk[..n]);
    }
}

/// After refusing a message as too big: waits a moment for the peer's
/// close frame, then ends.
fn await_close_reply(
    tcp: &mut TcpStream,
    reader: &mut FrameReader,
    chunk: &mut [u8],
) -> io::Result<()> {
    tcp.set_read_timeout(Some(CLOSE_WAIT))?;
    loop {
        match tcp.read(chunk) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => reader.push(&chunk[..n]),
        }
        while let Ok(Some(event)) = reader.next_event() {
            if matches!(event, Incoming::Close(_)) {
                return Ok(());
            }
        }
    }
}

/// Writes one message completely (the writer may take it in pieces).
fn send(tcp: &mut TcpStream, message: Message) -> io::Result<()> {
    let queue = [message];
    let mut offset = 0;
    loop {
        let progress = write_batch(&queue, offset, |slices| tcp.write_vectored(slices))?;
        if progress.frames == 1 {
            return Ok(());
        }
        offset = progress.offset;
    }
}
