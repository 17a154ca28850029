//! Raw bytes to text: the encodings bank authors actually save files in.
//!
//! UTF-8 (with or without BOM) and UTF-16 with a BOM are read as is;
//! Windows-1251, still common for Russian files saved on Windows, is
//! detected and decoded. Anything else — binary data, another legacy
//! encoding, broken UTF-8 — is refused with the file and the line, so the
//! author knows what to fix instead of seeing mojibake questions.

use super::BankError;
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1251};

/// Decodes a bank file to text with LF line endings and no BOM.
pub fn decode(file: &str, bytes: &[u8]) -> Result<String, BankError> {
    let text = if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        if enc == UTF_16LE || enc == UTF_16BE {
            let (text, had_errors) = enc.decode_without_bom_handling(body);
            if had_errors {
                return Err(encoding_error(
                    file,
                    1,
                    "the file starts with a UTF-16 byte order mark but is not valid UTF-16",
                ));
            }
            text.into_owned()
        } else {
            utf8_or_1251(file, body)?
        }
    } else {
        utf8_or_1251(file, bytes)?
    };
    let text = normalize_newlines(&text);
    check_controls(file, &text)?;
    Ok(text)
}

fn encoding_error(file: &str, line: usize, message: &str) -> BankError {
    BankError::Encoding {
        file: file.to_string(),
        line,
        message: message.to_string(),
    }
}

/// 1-based line of byte offset `at`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    let end = at.min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

fn utf8_or_1251(file: &str, bytes: &[u8]) -> Result<String, BankError> {
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(encoding_error(
            file,
            line_of(bytes, pos),
            "binary data (a NUL byte): this is not a text file",
        ));
    }
    let err = match std::str::from_utf8(bytes) {
        Ok(s) => return Ok(s.to_string()),
        Err(e) => e,
    };
    let bad_line = line_of(bytes, err.valid_up_to());
    if mostly_utf8(bytes) {
        return Err(BankError::Encoding {
            file: file.to_string(),
            line: bad_line,
            message: "invalid UTF-8 byte sequence; fix or re-save the file as UTF-8".to_string(),
        });
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
    if guess == WINDOWS_1251 {
        let (text, _, had_errors) = WINDOWS_1251.decode(bytes);
        if !had_errors && looks_cyrillic(&text) {
            return Ok(text.into_owned());
        }
    }
    Err(BankError::Encoding {
        file: file.to_string(),
        line: bad_line,
        message: format!(
            "not valid UTF-8 (the text looks like {}, which is not supported); save the file as UTF-8",
            guess.name()
        ),
    })
}

/// Whether the non-ASCII bytes are mostly well-formed UTF-8: a UTF-8 file
/// with a few damaged bytes, not text in a legacy encoding.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let mut valid = 0usize;
    let mut invalid = 0usize;
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        invalid += chunk.invalid().len();
    }
    valid > invalid
}

/// Whether decoded Windows-1251 text reads as Cyrillic: most non-ASCII
/// characters are Cyrillic letters, not the punctuation and symbols that
/// other encodings' bytes turn into.
fn looks_cyrillic(text: &str) -> bool {
    let mut non_ascii = 0usize;
    let mut cyrillic = 0usize;
    for c in text.chars().filter(|c| !c.is_ascii()) {
        non_ascii += 1;
        if ('\u{0400}'..='\u{04FF}').contains(&c) {
            cyrillic += 1;
        }
    }
    cyrillic >= 8 && cyrillic * 10 >= non_ascii * 8
}

/// CRLF and lone CR become LF.
fn normalize_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Refuses control characters other than tab, newline and form feed: they
/// mean binary data or a wrong encoding, never a question.
fn check_controls(file: &str, text: &str) -> Result<(), BankError> {
    let mut line = 1;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            continue;
        }
        if c == '\t' || c == '\u{0C}' {
            continue;
        }
        if c.is_control() {
            return Err(BankError::Encoding {
                file: file.to_string(),
                line,
                message: format!(
                    "control character U+{:04X}: this looks like binary data, not text",
                    u32::from(c)
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of_err(r: Result<String, BankError>) -> (usize, String) {
        match r {
            Err(BankError::Encoding {
                line,
                message,
                file,
            }) => {
                assert_eq!(file, "f.txt");
                (line, message)
            }
            other => panic!("expected an encoding error, got {other:?}"),
        }
    }

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode("f.txt", "Привет?".as_bytes()).unwrap(), "Привет?");
        let mut b = vec![0xEF, 0xBB, 0xBF];
        b.extend_from_slice("Привет?".as_bytes());
        assert_eq!(decode("f.txt", &b).unwrap(), "Привет?");
    }

    #[test]
    fn crlf_and_cr_become_lf() {
        assert_eq!(decode("f.txt", b"a\r\nb\rc\n").unwrap(), "a\nb\nc\n");
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "Что такое GIL?".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode("f.txt", &bytes).unwrap(), "Что такое GIL?");
    }

    #[test]
    fn windows_1251_is_decoded() {
        let text = "# Вопросы\n\nЧто такое замыкание в Python?\n\nКак работает сборщик мусора?\n";
        let (bytes, _, _) = WINDOWS_1251.encode(text);
        assert!(std::str::from_utf8(&bytes).is_err());
        assert_eq!(decode("f.txt", &bytes).unwrap(), text);
    }

    #[test]
    fn binary_is_refused_with_a_line() {
        let (line, msg) = line_of_err(decode("f.txt", b"one\ntwo\x00three"));
        assert_eq!(line, 2);
        assert!(msg.contains("binary"), "{msg}");
        let (line, _) = line_of_err(decode("f.txt", b"ok\nok\n\x01\x02\x03"));
        assert_eq!(line, 3);
    }

    #[test]
    fn other_legacy_encodings_are_refused() {
        // Latin-1 French text is not Windows-1251.
        let (bytes, _, _) =
            encoding_rs::WINDOWS_1252.encode("Qu'est-ce qu'une clé étrangère?\nà côté\n");
        let (line, msg) = line_of_err(decode("f.txt", &bytes));
        assert_eq!(line, 1);
        assert!(msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn damaged_utf8_is_not_taken_for_1251() {
        let mut b = "Что такое замыкание в Python?\nКак работает GIL?\n"
            .as_bytes()
            .to_vec();
        b.extend_from_slice(&[0xD0]);
        b.extend_from_slice("\nЕщё вопрос?\n".as_bytes());
        let (line, msg) = line_of_err(decode("f.txt", &b));
        assert_eq!(line, 3);
        assert!(msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn broken_utf8_names_the_line() {
        let mut b = b"line one\nline two\n".to_vec();
        b.extend_from_slice(&[0xE2, 0x28, 0xA1]);
        let (line, _) = line_of_err(decode("f.txt", &b));
        assert_eq!(line, 3);
    }
}
