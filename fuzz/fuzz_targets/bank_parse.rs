//! A bank file is untrusted input (uploads): the importer must answer with a
//! bank or a typed error, never panic, for any bytes of any encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["fuzz.md", "fuzz.txt", "fuzz.gift"] {
        if let Ok(bank) = quizroom::bank::parse(name, data) {
            // A parsed bank always serializes (it is served as JSON).
            let _ = serde_json::to_string(&bank).expect("a parsed bank encodes");
        }
    }
});
