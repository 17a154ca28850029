//! The frame reader against tungstenite's on any byte stream: both must
//! accept with identical messages or refuse with the same close code
//! (`quizroom::live::ws::conformance` lists the deliberate differences).
#![no_main]

use libfuzzer_sys::fuzz_target;
use quizroom::live::ws::conformance::compare;

/// Small, so the fuzzer reaches the size limit often.
const LIMIT: usize = 300;

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, bytes)) = input.split_first() else {
        return;
    };
    if let Err(divergence) = compare(bytes, LIMIT, usize::from(chunk)) {
        panic!("{divergence:#?}\nstream: {bytes:02x?}");
    }
});
