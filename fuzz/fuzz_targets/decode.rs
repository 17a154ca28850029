//! The client-message decoder sees every WebSocket text frame from the
//! network: it must return a typed error, never panic, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Frames are text; anything else is refused before the decoder.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > quizroom::protocol::MAX_CLIENT_MESSAGE {
        return;
    }
    if let Ok(msg) = quizroom::protocol::decode(text) {
        // What decodes must encode again and decode to the same message.
        let again = serde_json::to_string(&msg).expect("a decoded message encodes");
        let back = quizroom::protocol::decode(&again).expect("an encoded message decodes");
        assert_eq!(back, msg);
    }
});
