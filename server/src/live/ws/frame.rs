//! The WebSocket frame layer (RFC 6455), server side, without a retained
//! buffer per socket.
//!
//! Reading: [`FrameReader`] turns the bytes a client sent into whole
//! messages and control frames, and enforces the rules a server must: client
//! frames masked, no reserved bits or opcodes, control frames short and
//! unfragmented, continuation frames only inside a fragmented message, text
//! valid UTF-8, and a message size limit. It holds bytes only while a frame
//! is incomplete; an idle socket's reader owns no heap memory.
//!
//! Writing: [`write_batch`] writes queued messages straight from their
//! shared payload bytes with one vectored write (a small header and the
//! payload per frame), resuming a frame a previous partial write left
//! half-sent. Nothing is copied or kept per socket.
//!
//! Header parsing and formatting use tungstenite's [`FrameHeader`].

use std::io::{self, Cursor, IoSlice};

use axum::extract::ws::{CloseFrame, Message};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Longest payload of a control frame (ping, pong, close).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest header the server writes (no mask: 2 + 8 length bytes).
const MAX_WRITE_HEADER: usize = 10;

/// Close code for a broken framing rule.
pub const CLOSE_PROTOCOL: u16 = 1002;
/// Close code for text that is not UTF-8.
pub const CLOSE_BAD_DATA: u16 = 1007;

/// What a client sent, once complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A whole text message (fragments joined), valid UTF-8.
    Text(String),
    /// A whole binary message (the game refuses them; the conformance
    /// checks and the echo endpoint need the bytes).
    Binary(Vec<u8>),
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong: proof of life only.
    Pong,
    /// The peer's close frame, with its code if it gave one.
    Close(Option<u16>),
}

/// A broken rule; the socket must be closed with [`Violation::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A framing rule (1002). The stream cannot be parsed further.
    Protocol(&'static str),
    /// A message over the size limit (1009). Its bytes are skipped, so a
    /// later close frame from the peer is still seen.
    TooBig,
    /// Text that is not UTF-8 (1007).
    BadUtf8,
}

impl Violation {
    /// The close code RFC 6455 gives this violation.
    pub fn close_code(self) -> u16 {
        match self {
            Violation::Protocol(_) => CLOSE_PROTOCOL,
            Violation::TooBig => crate::live::ws::outbox::CLOSE_TOO_BIG,
            Violation::BadUtf8 => CLOSE_BAD_DATA,
        }
    }

    /// A short reason for the close frame and the log.
    pub fn reason(self) -> &'static str {
        match self {
            Violation::Protocol(why) => why,
            Violation::TooBig => "message too big",
            Violation::BadUtf8 => "text is not UTF-8",
        }
    }
}

/// A fragmented message whose final frame has not arrived yet.
#[derive(Debug)]
struct Partial {
    text: bool,
    data: Vec<u8>,
    /// Bytes of a text message known to be valid UTF-8 so far.
    valid_up_to: usize,
}

impl Partial {
    /// Fails a text message as soon as its bytes cannot become UTF-8 (RFC
    /// 6455 section 8.1: fail fast), not only at its last fragment; a
    /// character split across fragments is fine until the message ends.
    fn check_utf8(&mut self, last: bool) -> Result<(), Violation> {
        if !self.text {
            return Ok(());
        }
        let unchecked = self.data.get(self.valid_up_to..).unwrap_or_default();
        match std::str::from_utf8(unchecked) {
            Ok(_) => {
                self.valid_up_to = self.data.len();
                Ok(())
            }
            Err(err) if err.error_len().is_none() && !last => {
                self.valid_up_to += err.valid_up_to();
                Ok(())
            }
            Err(_) => Err(Violation::BadUtf8),
        }
    }
}

/// Parses client frames. Feed it bytes with [`push`](Self::push), then take
/// events with [`next_event`](Self::next_event) until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameReader {
    /// Received bytes not yet consumed (`pos` onwards); empty and without
    /// capacity whenever no frame is half-received.
    buf: Vec<u8>,
    pos: usize,
    /// A fragmented message in progress (boxed: rare, and kept out of every
    /// idle socket's state).
    message: Option<Box<Partial>>,
    /// Payload bytes still to drop of a frame refused as too big.
    skip: u64,
    /// After a protocol violation nothing more is parsed.
    broken: bool,
    /// Largest message, in bytes.
    limit: usize,
}

impl FrameReader {
    /// A reader refusing messages over `limit` bytes.
    pub fn new(limit: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            pos: 0,
            message: None,
            skip: 0,
            broken: false,
            limit,
        }
    }

    /// Adds bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Whether bytes are waiting to be parsed.
    pub fn has_pending(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// The next complete event, `Ok(None)` if more bytes are needed. After
    /// any violation but [`Violation::TooBig`] nothing more is parsed.
    pub fn next_event(&mut self) -> Result<Option<Incoming>, Violation> {
        match self.parse_next() {
            Err(violation) if violation != Violation::TooBig => {
                self.fail("");
                Err(violation)
            }
            other => other,
        }
    }

    fn parse_next(&mut self) -> Result<Option<Incoming>, Violation> {
        loop {
            if self.broken {
                self.buf = Vec::new();
                self.pos = 0;
                return Ok(None);
            }
            if self.skip > 0 {
                let available = (self.buf.len() - self.pos) as u64;
                let dropped = available.min(self.skip);
                self.pos += dropped as usize;
                self.skip -= dropped;
                if self.skip > 0 {
                    self.compact();
                    return Ok(None);
                }
            }
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            let mut cursor = Cursor::new(rest);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => {
                    self.compact();
                    return Ok(None);
                }
                Err(_) => return Err(self.fail("unknown opcode")),
            };
            let header_len = cursor.position() as usize;
            if let Some(why) = rest.get(1).and_then(|b| non_minimal_length(b & 0x7f, len)) {
                return Err(self.fail(why));
            }
            // The checks run in the order tungstenite's reader applies them,
            // so both refuse a frame breaking several rules with the same
            // close code (`conformance` holds the two to each other): the
            // length's form (tungstenite accepts any; see `conformance`),
            // the frame's size, the header's bits, whether the frame fits
            // the message in progress, then the message's size.
            if len > self.limit as u64 {
                return Err(self.too_big(header_len, len));
            }
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(self.fail("reserved bits set"));
            }
            let Some(mask) = header.mask else {
                return Err(self.fail("client frames must be masked"));
            };
            match header.opcode {
                OpCode::Control(_) => {
                    if !header.is_final {
                        return Err(self.fail("fragmented control frame"));
                    }
                    if len > MAX_CONTROL_PAYLOAD as u64 {
                        return Err(self.fail("control frame too long"));
                    }
                }
                OpCode::Data(Data::Continue) => {
                    let Some(message) = self.message.as_ref() else {
                        return Err(self.fail("continuation without a message"));
                    };
                    if (message.data.len() as u64).saturating_add(len) > self.limit as u64 {
                        return Err(self.too_big(header_len, len));
                    }
                }
                OpCode::Data(_) => {
                    if self.message.is_some() {
                        return Err(self.fail("new message before the last one ended"));
                    }
                }
            }
            // `len` is at most the limit or 125 here, so it fits a usize.
            let len = len as usize;
            let start = self.pos + header_len;
            let Some(payload) = self.buf.get_mut(start..start + len) else {
                self.compact();
                return Ok(None);
            };
            unmask(payload, mask);
            let payload = &self.buf[start..start + len];
            let event = match header.opcode {
                OpCode::Control(Control::Ping) => Some(Incoming::Ping(payload.to_vec())),
                OpCode::Control(Control::Pong) => Some(Incoming::Pong),
                OpCode::Control(Control::Close) => Some(parse_close(payload)?),
                OpCode::Data(Data::Continue) => {
                    let Some(message) = self.message.as_mut() else {
                        return Err(self.fail("continuation without a message"));
                    };
                    message.data.extend_from_slice(payload);
                    message.check_utf8(header.is_final)?;
                    if header.is_final {
                        self.message
                            .take()
                            .map(|m| finish_message(m.text, m.data))
                            .transpose()?
                    } else {
                        None
                    }
                }
                OpCode::Data(kind @ (Data::Text | Data::Binary)) => {
                    let text = kind == Data::Text;
                    if header.is_final {
                        Some(finish_message(text, payload.to_vec())?)
                    } else {
                        let mut message = Box::new(Partial {
                            text,
                            data: payload.to_vec(),
                            valid_up_to: 0,
                        });
                        message.check_utf8(false)?;
                        self.message = Some(message);
                        None
                    }
                }
                OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                    return Err(self.fail("unknown opcode"));
                }
            };
            self.pos = start + len;
            if let Some(event) = event {
                if self.pos == self.buf.len() {
                    self.compact();
                }
                return Ok(Some(event));
            }
        }
    }

    /// Refuses a frame over the size limit: its payload (`len` bytes after
    /// the `header_len` bytes of its header) is skipped as it arrives.
    fn too_big(&mut self, header_len: usize, len: u64) -> Violation {
        self.pos += header_len;
        self.skip = len;
        self.message = None;
        Violation::TooBig
    }

    /// Stops parsing for good: the stream is no longer trusted.
    fn fail(&mut self, why: &'static str) -> Violation {
        self.broken = true;
        self.buf = Vec::new();
        self.pos = 0;
        self.message = None;
        Violation::Protocol(why)
    }

    /// Drops consumed bytes; gives the memory back once nothing is left.
    fn compact(&mut self) {
        if self.pos >= self.buf.len() {
            self.buf = Vec::new();
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
        }
        self.pos = 0;
    }
}

/// RFC 6455 section 5.2: a payload length must be written in the fewest
/// bytes, and a 64-bit length must have its top bit clear. `code` is the
/// 7-bit length field of the header, `len` the decoded length.
fn non_minimal_length(code: u8, len: u64) -> Option<&'static str> {
    match code {
        126 if len < 126 => Some("payload length not in its minimal form"),
        127 if len <= u64::from(u16::MAX) => Some("payload length not in its minimal form"),
        127 if len >> 63 != 0 => Some("payload length has its top bit set"),
        _ => None,
    }
}

fn finish_message(text: bool, data: Vec<u8>) -> Result<Incoming, Violation> {
    if text {
        String::from_utf8(data)
            .map(Incoming::Text)
            .map_err(|_| Violation::BadUtf8)
    } else {
        Ok(Incoming::Binary(data))
    }
}

/// A close frame's payload: nothing, or a code and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Incoming, Violation> {
    match payload {
        [] => Ok(Incoming::Close(None)),
        [_] => Err(Violation::Protocol("close frame with a one-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // The reason's encoding first, as tungstenite checks it.
            std::str::from_utf8(reason).map_err(|_| Violation::BadUtf8)?;
            if !close_code_allowed(code) {
                return Err(Violation::Protocol("close code not allowed"));
            }
            Ok(Incoming::Close(Some(code)))
        }
    }
}

/// Codes a peer may send (RFC 6455 section 7.4).
fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// How far a [`write_batch`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Frames of the batch written completely (remove them from the queue).
    pub frames: usize,
    /// Bytes of the next frame already written (resume there).
    pub offset: usize,
    /// Whether a close frame was written completely: nothing may follow.
    pub closed: bool,
}

/// One server frame ready to write: its header and its payload.
struct OutFrame<'a> {
    header: [u8; MAX_WRITE_HEADER],
    header_len: usize,
    payload: &'a [u8],
    close: bool,
}

impl<'a> OutFrame<'a> {
    fn new(opcode: OpCode, payload: &'a [u8]) -> OutFrame<'a> {
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        let mut bytes = [0u8; MAX_WRITE_HEADER];
        let mut out = &mut bytes[..];
        // Cannot fail: an unmasked header is at most 10 bytes.
        let _ = header.format(payload.len() as u64, &mut out);
        let header_len = MAX_WRITE_HEADER - out.len();
        OutFrame {
            header: bytes,
            header_len,
            payload,
            close: opcode == OpCode::Control(Control::Close),
        }
    }

    fn len(&self) -> usize {
        self.header_len + self.payload.len()
    }
}

/// Writes a close frame's payload (code, then reason cut to fit) into
/// `out`; returns its length.
fn close_payload_into(frame: Option<&CloseFrame>, out: &mut [u8; MAX_CONTROL_PAYLOAD]) -> usize {
    let Some(frame) = frame else {
        return 0;
    };
    out[..2].copy_from_slice(&frame.code.to_be_bytes());
    let reason = truncate(frame.reason.as_str(), MAX_CONTROL_PAYLOAD - 2);
    out[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    2 + reason.len()
}

/// A control payload cut to what a control frame may carry.
fn control(bytes: &[u8]) -> &[u8] {
    bytes.get(..MAX_CONTROL_PAYLOAD).unwrap_or(bytes)
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The frame and payload of one message, as [`write_batch`] writes them.
fn out_frame<'a>(
    msg: &'a Message,
    close_payload: &'a mut [u8; MAX_CONTROL_PAYLOAD],
) -> OutFrame<'a> {
    match msg {
        Message::Close(frame) => {
            let len = close_payload_into(frame.as_ref(), close_payload);
            OutFrame::new(OpCode::Control(Control::Close), &close_payload[..len])
        }
        other => {
            open_frame(other).unwrap_or_else(|| unreachable!("only a close has no frame here"))
        }
    }
}

/// The frame of any message but a close (whose payload needs a buffer).
fn open_frame(msg: &Message) -> Option<OutFrame<'_>> {
    let (opcode, payload): (OpCode, &[u8]) = match msg {
        Message::Text(text) => (OpCode::Data(Data::Text), text.as_str().as_bytes()),
        Message::Binary(bytes) => (OpCode::Data(Data::Binary), bytes),
        Message::Ping(bytes) => (OpCode::Control(Control::Ping), control(bytes)),
        Message::Pong(bytes) => (OpCode::Control(Control::Pong), control(bytes)),
        Message::Close(_) => return None,
    };
    Some(OutFrame::new(opcode, payload))
}

/// Writes one whole message as a frame with one vectored `write` (header
/// and payload, nothing copied or allocated): the direct write of a message
/// pushed to an empty outbox. Returns the bytes written and the frame's
/// length; the rest, if any, is for [`write_batch`] with that offset.
pub fn write_one(
    msg: &Message,
    write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
) -> io::Result<(usize, usize)> {
    let mut close_payload = [0u8; MAX_CONTROL_PAYLOAD];
    let frame = out_frame(msg, &mut close_payload);
    let slices = [
        IoSlice::new(&frame.header[..frame.header_len]),
        IoSlice::new(frame.payload),
    ];
    let written = write(&slices)?;
    Ok((written, frame.len()))
}

/// Most frames gathered into one vectored write.
pub const WRITE_BATCH: usize = 16;

/// Writes `queue` (the socket's waiting messages, oldest first; the first
/// already `offset` bytes written) with one call to `write`, a vectored
/// write that may write less than offered. A close frame ends the batch.
/// `WouldBlock` and other errors come back unchanged.
pub fn write_batch(
    queue: &[Message],
    offset: usize,
    write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
) -> io::Result<Progress> {
    let mut close_payload = [0u8; MAX_CONTROL_PAYLOAD];
    // On the stack: a write allocates nothing.
    let mut frames: [Option<OutFrame<'_>>; WRITE_BATCH] = [const { None }; WRITE_BATCH];
    let mut count = 0;
    for msg in queue.iter().take(WRITE_BATCH) {
        if let Message::Close(frame) = msg {
            let len = close_payload_into(frame.as_ref(), &mut close_payload);
            let payload = &close_payload[..len];
            frames[count] = Some(OutFrame::new(OpCode::Control(Control::Close), payload));
            count += 1;
            break;
        }
        frames[count] = open_frame(msg);
        count += 1;
    }
    let frames = frames[..count].iter().flatten();
    let mut slices = [IoSlice::new(&[]); 2 * WRITE_BATCH];
    let mut used = 0;
    let mut skip = offset;
    for frame in frames.clone() {
        let header = &frame.header[..frame.header_len];
        for part in [header, frame.payload] {
            if skip >= part.len() {
                skip -= part.len();
            } else {
                slices[used] = IoSlice::new(&part[skip..]);
                used += 1;
                skip = 0;
            }
        }
    }
    let slices = &slices[..used];
    if slices.is_empty() {
        return Ok(Progress {
            frames: 0,
            offset,
            closed: false,
        });
    }
    let mut written = write(slices)? + offset;
    let mut progress = Progress {
        frames: 0,
        offset: 0,
        closed: false,
    };
    for frame in frames {
        if written < frame.len() {
            progress.offset = written;
            break;
        }
        written -= frame.len();
        progress.frames += 1;
        progress.closed |= frame.close;
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use tungstenite::protocol::frame::Frame;

    use super::*;

    /// A client frame as a browser sends it (masked).
    fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn events(reader: &mut FrameReader) -> Vec<Result<Incoming, Violation>> {
        let mut out = Vec::new();
        for _ in 0..100 {
            match reader.next_event() {
                Ok(Some(event)) => out.push(Ok(event)),
                Ok(None) => break,
                Err(err) => out.push(Err(err)),
            }
        }
        out
    }

    #[test]
    fn a_masked_text_frame_is_read_even_byte_by_byte() {
        let bytes = client_frame(0x1, true, "héllo".as_bytes());
        let mut reader = FrameReader::new(4096);
        let mut got = Vec::new();
        for byte in &bytes {
            reader.push(std::slice::from_ref(byte));
            got.extend(events(&mut reader));
        }
        assert_eq!(got, vec![Ok(Incoming::Text("héllo".into()))]);
        assert_eq!(reader.buf.capacity(), 0, "an idle reader holds no buffer");
    }

    #[test]
    fn several_frames_in_one_read_come_out_in_order() {
        let mut bytes = client_frame(0x1, true, b"one");
        bytes.extend(client_frame(0x9, true, b"p"));
        bytes.extend(client_frame(0x1, true, b"two"));
        bytes.extend(client_frame(0xA, true, b""));
        let mut reader = FrameReader::new(4096);
        reader.push(&bytes);
        assert_eq!(
            events(&mut reader),
            vec![
                Ok(Incoming::Text("one".into())),
                Ok(Incoming::Ping(b"p".to_vec())),
                Ok(Incoming::Text("two".into())),
                Ok(Incoming::Pong),
            ]
        );
    }

    #[test]
    fn fragments_are_joined_and_control_frames_may_interleave() {
        let mut bytes = client_frame(0x1, false, b"{\"type\":");
        bytes.extend(client_frame(0x9, true, b"hi"));
        bytes.extend(client_frame(0x0, false, b"\"pi"));
        bytes.extend(client_frame(0x0, true, b"ng\"}"));
        let mut reader = FrameReader::new(4096);
        reader.push(&bytes);
        assert_eq!(
            events(&mut reader),
            vec![
                Ok(Incoming::Ping(b"hi".to_vec())),
                Ok(Incoming::Text("{\"type\":\"ping\"}".into())),
            ]
        );
        assert!(reader.message.is_none());
    }

    #[test]
    fn unmasked_frames_are_a_protocol_error() {
        let mut reader = FrameReader::new(4096);
        reader.push(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(
            reader.next_event(),
            Err(Violation::Protocol("client frames must be masked"))
        );
        assert_eq!(Violation::Protocol("").close_code(), 1002);
        // Nothing after a protocol error is trusted.
        reader.push(&client_frame(0x1, true, b"later"));
        assert_eq!(reader.next_event(), Ok(None));
    }

    #[test]
    fn reserved_bits_and_opcodes_are_protocol_errors() {
        for first in [0x3u8, 0xB] {
            let mut reader = FrameReader::new(4096);
            reader.push(&client_frame(first, true, b"x"));
            assert!(
                matches!(reader.next_event(), Err(Violation::Protocol(_))),
                "{first:#x}"
            );
        }
        let mut bytes = client_frame(0x1, true, b"x");
        bytes[0] |= 0x40;
        let mut reader = FrameReader::new(4096);
        reader.push(&bytes);
        assert_eq!(
            reader.next_event(),
            Err(Violation::Protocol("reserved bits set"))
        );
    }

    #[test]
    fn control_frame_rules() {
        let long = [b'a'; 126];
        let cases = [
            client_frame(0x9, true, &long),
            client_frame(0x9, false, b"x"),
            client_frame(0x8, true, &[0x03]),
            client_frame(0x8, true, &1005u16.to_be_bytes()),
            client_frame(0x0, true, b"orphan"),
        ];
        for bytes in cases {
            let mut reader = FrameReader::new(4096);
            reader.push(&bytes);
            assert!(
                matches!(reader.next_event(), Err(Violation::Protocol(_))),
                "{bytes:?}"
            );
        }
        let mut bytes = client_frame(0x1, false, b"a");
        bytes.extend(client_frame(0x1, true, b"b"));
        let mut reader = FrameReader::new(4096);
        reader.push(&bytes);
        assert!(matches!(reader.next_event(), Err(Violation::Protocol(_))));
    }

    #[test]
    fn non_minimal_lengths_are_protocol_errors() {
        let mask = [1u8, 2, 3, 4];
        let masked = |payload: &[u8]| -> Vec<u8> {
            let mut out = mask.to_vec();
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            out
        };
        // 5 bytes written with a 16-bit length.
        let mut short_in_16 = vec![0x81, 0x80 | 126, 0, 5];
        short_in_16.extend(masked(b"hello"));
        // 5 bytes written with a 64-bit length.
        let mut short_in_64 = vec![0x81, 0x80 | 127];
        short_in_64.extend(5u64.to_be_bytes());
        short_in_64.extend(masked(b"hello"));
        // 200 bytes (fits 16 bits) written with a 64-bit length.
        let mut mid_in_64 = vec![0x81, 0x80 | 127];
        mid_in_64.extend(200u64.to_be_bytes());
        mid_in_64.extend(masked(&[b'a'; 200]));
        // A 64-bit length with its top bit set.
        let mut top_bit = vec![0x82, 0x80 | 127];
        top_bit.extend((1u64 << 63 | 70_000).to_be_bytes());
        top_bit.extend(mask);
        for bytes in [short_in_16, short_in_64, mid_in_64, top_bit] {
            let mut reader = FrameReader::new(4096);
            reader.push(&bytes);
            assert!(
                matches!(reader.next_event(), Err(Violation::Protocol(_))),
                "{:?}",
                &bytes[..10]
            );
        }
        // The minimal forms of the same lengths are fine.
        let mut reader = FrameReader::new(4096);
        let mut ok_16 = vec![0x81, 0x80 | 126, 0, 200];
        ok_16.extend(masked(&[b'a'; 200]));
        reader.push(&ok_16);
        assert_eq!(
            reader.next_event(),
            Ok(Some(Incoming::Text("a".repeat(200))))
        );
    }

    #[test]
    fn close_frames_carry_their_code() {
        let mut payload = 4001u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let mut reader = FrameReader::new(4096);
        reader.push(&client_frame(0x8, true, &payload));
        reader.push(&client_frame(0x8, true, b""));
        assert_eq!(
            events(&mut reader),
            vec![Ok(Incoming::Close(Some(4001))), Ok(Incoming::Close(None))]
        );
        let mut bad = 1000u16.to_be_bytes().to_vec();
        bad.push(0xff);
        let mut reader = FrameReader::new(4096);
        reader.push(&client_frame(0x8, true, &bad));
        assert_eq!(reader.next_event(), Err(Violation::BadUtf8));
        assert_eq!(reader.next_event(), Ok(None), "reported once, then nothing");
        // Found by the fuzzer: a refused close code was reported again and
        // again, because the frame stayed unconsumed.
        let mut reader = FrameReader::new(4096);
        reader.push(&client_frame(0x8, true, &1005u16.to_be_bytes()));
        reader.push(&client_frame(0x1, true, b"after"));
        assert!(matches!(reader.next_event(), Err(Violation::Protocol(_))));
        assert_eq!(reader.next_event(), Ok(None));
    }

    #[test]
    fn oversized_messages_are_refused_and_skipped() {
        let mut reader = FrameReader::new(8);
        let mut bytes = client_frame(0x1, true, &[b'a'; 300]);
        bytes.extend(client_frame(0x8, true, &1000u16.to_be_bytes()));
        // The refusal comes from the header, before the payload arrives.
        reader.push(&bytes[..8]);
        assert_eq!(reader.next_event(), Err(Violation::TooBig));
        assert_eq!(Violation::TooBig.close_code(), 1009);
        // The rest of it is dropped as it comes; the close after it is seen.
        for chunk in bytes[8..].chunks(50) {
            reader.push(chunk);
            let got = events(&mut reader);
            if !got.is_empty() {
                assert_eq!(got, vec![Ok(Incoming::Close(Some(1000)))]);
            }
        }
        assert!(reader.buf.len() < 60, "skipped bytes are not kept");
        // A fragmented message over the limit in total is refused too.
        let mut reader = FrameReader::new(8);
        reader.push(&client_frame(0x1, false, b"12345"));
        reader.push(&client_frame(0x0, true, b"6789"));
        assert_eq!(events(&mut reader), vec![Err(Violation::TooBig)]);
        // Exactly at the limit is fine.
        let mut reader = FrameReader::new(8);
        reader.push(&client_frame(0x1, true, b"12345678"));
        assert_eq!(
            reader.next_event(),
            Ok(Some(Incoming::Text("12345678".into())))
        );
    }

    #[test]
    fn text_must_be_utf8_and_binary_is_reported_by_size() {
        let mut reader = FrameReader::new(4096);
        reader.push(&client_frame(0x1, true, &[0xc3, 0x28]));
        assert_eq!(reader.next_event(), Err(Violation::BadUtf8));
        assert_eq!(Violation::BadUtf8.close_code(), 1007);
        assert_eq!(reader.next_event(), Ok(None), "reported once, then nothing");
        let mut reader = FrameReader::new(4096);
        reader.push(&client_frame(0x2, true, &[0xff; 7]));
        assert_eq!(
            reader.next_event(),
            Ok(Some(Incoming::Binary(vec![0xff; 7])))
        );
    }

    /// What tungstenite itself would put on the wire for `msg`.
    fn reference(msg: &Message) -> Vec<u8> {
        let frame = match msg.clone() {
            Message::Text(t) => Frame::message(
                t.as_str().as_bytes().to_vec(),
                OpCode::Data(Data::Text),
                true,
            ),
            Message::Binary(b) => Frame::message(b, OpCode::Data(Data::Binary), true),
            Message::Ping(b) => Frame::ping(b),
            Message::Pong(b) => Frame::pong(b),
            Message::Close(c) => Frame::close(c.map(|c| tungstenite::protocol::CloseFrame {
                code: c.code.into(),
                reason: c.reason.as_str().into(),
            })),
        };
        let mut out = Vec::new();
        frame.format(&mut out).unwrap();
        out
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let queue = [
            Message::text("x".repeat(300)),
            Message::Ping(Default::default()),
            Message::text("short"),
            Message::text("y".repeat(70_000)),
            Message::Close(Some(CloseFrame {
                code: 4008,
                reason: "slow".into(),
            })),
            Message::text("never written"),
        ];
        let expected: Vec<u8> = queue[..5].iter().flat_map(reference).collect();
        for step in [1usize, 7, 64, 1000, usize::MAX] {
            let mut wire = Vec::new();
            let (mut at, mut offset, mut closed, mut calls) = (0, 0, false, 0);
            while !closed {
                calls += 1;
                assert!(calls < 100_000, "no progress");
                let progress = write_batch(&queue[at..], offset, |slices| {
                    let mut budget = step;
                    for slice in slices {
                        let n = slice.len().min(budget);
                        wire.extend_from_slice(&slice[..n]);
                        budget -= n;
                    }
                    Ok(step.min(slices.iter().map(|s| s.len()).sum()))
                })
                .unwrap();
                at += progress.frames;
                offset = progress.offset;
                closed = progress.closed;
            }
            assert_eq!(at, 5, "the frame after the close stays queued");
            assert_eq!(wire, expected, "step {step}");
        }
    }

    #[test]
    fn would_block_changes_nothing() {
        let queue = vec![Message::text("a")];
        let err = write_batch(&queue, 0, |_| Err(io::ErrorKind::WouldBlock.into())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let progress = write_batch(&[], 0, |_| unreachable!()).unwrap();
        assert_eq!(progress.frames, 0);
    }
}
