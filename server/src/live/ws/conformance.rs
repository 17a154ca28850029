//! The frame reader held to a well-kept library: the same client bytes go
//! to [`FrameReader`] and to tungstenite's server-side reader, and the two
//! must reach the same decision — accept with identical messages, or refuse
//! with the same close code (1002 framing, 1007 encoding, 1009 size).
//!
//! The hand-written reader exists to keep idle sockets small; this module
//! is how the tests (a property test in `cargo test`) and the fuzzer (the
//! `ws_differential` target) show it is as correct as tungstenite. It lives
//! in the library, not under `cfg(test)`, so the fuzz crate can call it.
//!
//! Where the two differ on purpose, [`compare`] says so and adjusts what it
//! expects; every such rule is listed there.

use std::io::{self, Read, Write};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::{Error, Message};

use crate::live::ws::frame::{FrameReader, Incoming, CLOSE_BAD_DATA, CLOSE_PROTOCOL};
use crate::live::ws::outbox::CLOSE_TOO_BIG;

/// A message or control frame a reader handed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A whole text message.
    Text(String),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// A ping and its payload (the pong echoes it).
    Ping(Vec<u8>),
    /// A pong (its payload is not used).
    Pong,
}

/// How a reader's view of the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every byte was used and more are needed: no decision yet.
    NeedMore,
    /// The peer's close frame, with its code if it gave one.
    Closed(Option<u16>),
    /// The stream was refused with this close code.
    Refused(u16),
}

/// Everything a reader made of one client byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Messages and control frames before the end, in order.
    pub seen: Vec<Seen>,
    /// The decision the stream ended in.
    pub end: End,
}

/// The two readers disagreed on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// What the project's reader did.
    pub got: Outcome,
    /// What tungstenite did (after the adjustments [`compare`] lists);
    /// the second is the decision it reaches if the last frame completes.
    pub expected: Vec<Outcome>,
}

/// The project's reader on `bytes`, fed `chunk` bytes at a time.
pub fn project(bytes: &[u8], limit: usize, chunk: usize) -> Outcome {
    let mut reader = FrameReader::new(limit);
    let mut seen = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        reader.push(piece);
        // Every event consumes at least a header's two bytes.
        for _ in 0..=bytes.len() {
            let event = match reader.next_event() {
                Ok(None) => break,
                Ok(Some(event)) => event,
                Err(violation) => {
                    return Outcome {
                        seen,
                        end: End::Refused(violation.close_code()),
                    }
                }
            };
            seen.push(match event {
                Incoming::Text(text) => Seen::Text(text),
                Incoming::Binary(bytes) => Seen::Binary(bytes),
                Incoming::Ping(payload) => Seen::Ping(payload),
                Incoming::Pong => Seen::Pong,
                Incoming::Close(code) => {
                    return Outcome {
                        seen,
                        end: End::Closed(code),
                    }
                }
            });
        }
    }
    Outcome {
        seen,
        end: End::NeedMore,
    }
}

/// A byte stream a client sent, then silence; the server's replies vanish.
struct Feed<'a> {
    bytes: &'a [u8],
}

impl Read for Feed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.bytes.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.bytes.len());
        let (now, later) = self.bytes.split_at(n);
        buf[..n].copy_from_slice(now);
        self.bytes = later;
        Ok(n)
    }
}

impl Write for Feed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite's server-side reader on `bytes`, with the same size limit
/// for a frame and for a message.
pub fn tungstenite(bytes: &[u8], limit: usize) -> Outcome {
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .accept_unmasked_frames(false);
    let mut socket = WebSocket::from_raw_socket(Feed { bytes }, Role::Server, Some(config));
    let mut seen = Vec::new();
    for _ in 0..=bytes.len() {
        let end = match socket.read() {
            Ok(Message::Text(text)) => {
                seen.push(Seen::Text(text.as_str().to_owned()));
                continue;
            }
            Ok(Message::Binary(bytes)) => {
                seen.push(Seen::Binary(bytes.to_vec()));
                continue;
            }
            Ok(Message::Ping(payload)) => {
                seen.push(Seen::Ping(payload.to_vec()));
                continue;
            }
            Ok(Message::Pong(_)) => {
                seen.push(Seen::Pong);
                continue;
            }
            Ok(Message::Frame(_)) => continue,
            // tungstenite answers a close code a peer may not send with
            // its own close 1002 and hands that on in place of the peer's.
            Ok(Message::Close(Some(frame)))
                if frame.code == CloseCode::Protocol && frame.reason == "Protocol violation" =>
            {
                End::Refused(CLOSE_PROTOCOL)
            }
            Ok(Message::Close(frame)) => End::Closed(frame.map(|f| u16::from(f.code))),
            Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => End::NeedMore,
            Err(Error::Utf8(_)) => End::Refused(CLOSE_BAD_DATA),
            Err(Error::Capacity(_)) => End::Refused(CLOSE_TOO_BIG),
            Err(_) => End::Refused(CLOSE_PROTOCOL),
        };
        return Outcome { seen, end };
    }
    Outcome {
        seen,
        end: End::NeedMore,
    }
}

/// One frame's header as written on the wire.
struct RawHeader {
    opcode: u8,
    header_len: usize,
    len: u64,
    mask: Option<[u8; 4]>,
    /// Length in its minimal form, top bit clear (RFC 6455 section 5.2).
    minimal: bool,
}

/// The header at the start of `bytes`, if all of it has arrived.
fn raw_header(bytes: &[u8]) -> Option<RawHeader> {
    let (&first, rest) = bytes.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let code = second & 0x7f;
    let (len, extra, minimal) = match code {
        126 => {
            let ext: [u8; 2] = rest.get(..2)?.try_into().ok()?;
            let len = u64::from(u16::from_be_bytes(ext));
            (len, 2, len >= 126)
        }
        127 => {
            let ext: [u8; 8] = rest.get(..8)?.try_into().ok()?;
            let len = u64::from_be_bytes(ext);
            (len, 8, len > u64::from(u16::MAX) && len >> 63 == 0)
        }
        n => (u64::from(n), 0, true),
    };
    let mask = if second & 0x80 != 0 {
        Some(rest.get(extra..extra + 4)?.try_into().ok()?)
    } else {
        None
    };
    Some(RawHeader {
        opcode: first & 0x0f,
        header_len: 2 + extra + if mask.is_some() { 4 } else { 0 },
        len,
        mask,
        minimal,
    })
}

/// Close code 1014 (Bad Gateway, in IANA's registry since RFC 6455)
/// is one a peer may send for the project's reader, not for tungstenite.
const CLOSE_BAD_GATEWAY: u16 = 1014;
/// A code both accept, standing in for 1014 on tungstenite's side.
const CLOSE_TRY_AGAIN: u16 = 1013;

/// What tungstenite's decision means for the project's reader, given the
/// deliberate differences:
///
/// 1. A payload length not in its minimal form, or with the top bit of a
///    64-bit length set, is refused with 1002 (RFC 6455 section 5.2 says
///    it MUST be minimal); tungstenite accepts it. tungstenite sees the
///    stream up to that frame, and a refusal 1002 in place of the frame.
/// 2. Close code 1014 is accepted (IANA's registry); tungstenite refuses
///    it. tungstenite sees 1013 in its place.
/// 3. The project refuses a frame as soon as its header breaks a rule;
///    tungstenite reads the payload first. When the stream ends inside the
///    last frame's payload, the decision tungstenite reaches once that
///    payload completes (zero bytes appended) is accepted too.
///
/// Also, a close frame with code 1002 and the peer's refusal 1002 count as
/// the same end: the server answers both with a close 1002.
pub fn expected(bytes: &[u8], limit: usize) -> Vec<Outcome> {
    let mut input = bytes.to_vec();
    let mut at = 0usize;
    let mut cut = false;
    let mut incomplete: Option<u64> = None;
    while at < input.len() {
        let Some(header) = raw_header(&input[at..]) else {
            break;
        };
        if !header.minimal {
            input.truncate(at);
            cut = true;
            break;
        }
        let start = at + header.header_len;
        let available = (input.len().saturating_sub(start)) as u64;
        if header.opcode == 0x8 && header.len >= 2 && available >= 2 {
            let mask = header.mask.unwrap_or_default();
            let code = u16::from_be_bytes([input[start] ^ mask[0], input[start + 1] ^ mask[1]]);
            if code == CLOSE_BAD_GATEWAY {
                let [hi, lo] = CLOSE_TRY_AGAIN.to_be_bytes();
                input[start] = hi ^ mask[0];
                input[start + 1] = lo ^ mask[1];
            }
        }
        if available < header.len {
            incomplete = Some(header.len - available);
            break;
        }
        at = start + header.len as usize;
    }
    let mut outcome = tungstenite(&input, limit);
    if cut && outcome.end == End::NeedMore {
        outcome.end = End::Refused(CLOSE_PROTOCOL);
    }
    let mut outcomes = vec![outcome.clone()];
    if let (End::NeedMore, Some(missing)) = (outcome.end, incomplete) {
        // Only frames within the limit get here (tungstenite refuses a
        // longer one from its header), so the padding is small.
        if missing <= limit as u64 {
            input.resize(input.len() + missing as usize, 0);
            let completed = tungstenite(&input, limit);
            if completed.seen == outcome.seen && matches!(completed.end, End::Refused(_)) {
                outcomes.push(completed);
            }
        }
    }
    outcomes
}

/// The project's reader, fed `chunk` bytes at a time, against what
/// [`expected`] derives from tungstenite; `limit` is the largest message.
pub fn compare(bytes: &[u8], limit: usize, chunk: usize) -> Result<(), Box<Divergence>> {
    let got = project(bytes, limit, chunk);
    let expected = expected(bytes, limit);
    let normal = normalize(&got);
    if expected.iter().any(|e| normalize(e) == normal) {
        Ok(())
    } else {
        Err(Box::new(Divergence { got, expected }))
    }
}

/// An outcome with the equivalences [`expected`] lists applied.
fn normalize(outcome: &Outcome) -> Outcome {
    let end = match outcome.end {
        End::Closed(Some(CLOSE_PROTOCOL)) => End::Refused(CLOSE_PROTOCOL),
        End::Closed(Some(CLOSE_BAD_GATEWAY)) => End::Closed(Some(CLOSE_TRY_AGAIN)),
        end => end,
    };
    Outcome {
        seen: outcome.seen.clone(),
        end,
    }
}

#[cfg(test)]
mod tests;
