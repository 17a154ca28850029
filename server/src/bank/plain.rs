//! Importer for the `plain` layout (see the module list in `bank/mod.rs`).

use super::doc::{Doc, Parsed};
use super::BankError;

/// How strongly the text looks like this layout (0 = not at all). The
/// dispatcher picks the layout with the highest score.
pub fn score(doc: &Doc) -> u32 {
    let _ = doc;
    0
}

/// Parses a document in this layout.
pub fn parse(doc: &Doc) -> Result<Parsed, BankError> {
    let _ = doc;
    Ok(Parsed::default())
}
