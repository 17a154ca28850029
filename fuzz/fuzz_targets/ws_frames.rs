//! The WebSocket frame reader sees every byte a client sends: whatever
//! arrives, in whatever pieces, it must return events or a typed violation,
//! never panic, never hold more than one frame's worth of bytes, and give
//! the same answer however the bytes are split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quizroom::live::ws::frame::{FrameReader, Incoming, Violation};

/// Small, so the fuzzer reaches the size limit often.
const LIMIT: usize = 512;

fn run(data: &[u8], split: usize) -> Vec<Result<Incoming, Violation>> {
    let mut reader = FrameReader::new(LIMIT);
    let mut out = Vec::new();
    for chunk in data.chunks(split.max(1)) {
        reader.push(chunk);
        // Each event consumes at least one byte, so this ends.
        for _ in 0..=data.len() {
            match reader.next_event() {
                Ok(Some(event)) => out.push(Ok(event)),
                Ok(None) => break,
                Err(violation) => out.push(Err(violation)),
            }
        }
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&split, data)) = input.split_first() else {
        return;
    };
    let whole = run(data, data.len());
    let pieces = run(data, usize::from(split));
    assert_eq!(whole, pieces, "the answer depends on how bytes arrive");
    for event in whole.iter().flatten() {
        match event {
            Incoming::Text(text) => assert!(text.len() <= LIMIT),
            Incoming::Binary(bytes) => assert!(bytes.len() <= LIMIT),
            Incoming::Ping(payload) => assert!(payload.len() <= 125),
            Incoming::Pong | Incoming::Close(_) => {}
        }
    }
});
