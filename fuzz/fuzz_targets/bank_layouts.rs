//! Every layout importer on its own, not only the one the dispatcher would
//! pick: a layout must cope with text that merely looks a bit like it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quizroom::bank::doc::Doc;
use quizroom::bank::{
    aiken, checklist, details, gift, headings, md_choice, numbered, outline, plain, qa_heading,
};

type Layout = (
    fn(&Doc) -> u32,
    fn(&Doc) -> Result<quizroom::bank::doc::Parsed, quizroom::bank::BankError>,
);

const LAYOUTS: &[Layout] = &[
    (aiken::score, aiken::parse),
    (checklist::score, checklist::parse),
    (details::score, details::parse),
    (gift::score, gift::parse),
    (headings::score, headings::parse),
    (md_choice::score, md_choice::parse),
    (numbered::score, numbered::parse),
    (outline::score, outline::parse),
    (plain::score, plain::parse),
    (qa_heading::score, qa_heading::parse),
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).replace("\r\n", "\n");
    let doc = Doc::new("fuzz.md", &text);
    for (score, parse) in LAYOUTS {
        let _ = score(&doc);
        let _ = parse(&doc);
    }
});
