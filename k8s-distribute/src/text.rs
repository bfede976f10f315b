//! Text that came from a node, made safe to show.

use std::borrow::Cow;

/// `text` with every control character shown as an escape (`\x1b`, `\r`, `\n`, `\u{9b}`; the
/// bidirectional overrides as `\u{202e}`), so that what a node answers (its stderr, an scp
/// message) cannot move a terminal's cursor, clear its screen, retitle its window or make one
/// line look like several. Every message of this crate that quotes a node does this; use it
/// for [`CommandOutput`](crate::CommandOutput)'s bytes before printing them too.
///
/// # Example
/// ```
/// assert_eq!(
///     k8s_distribute::printable("ok\x1b]0;pwned\x07\nnext"),
///     "ok\\x1b]0;pwned\\x07\\nnext"
/// );
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    let escaped =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !escaped(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x80 => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

/// A node's bytes as one line of message text: decoded (invalid UTF-8 replaced), trimmed,
/// [`printable`].
pub(crate) fn remote_text(bytes: &[u8]) -> String {
    printable(String::from_utf8_lossy(bytes).trim()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(
            printable("a\x1b[2J\x07\r\n\t\u{7f}\u{9b}\u{202e}b"),
            "a\\x1b[2J\\x07\\r\\n\\t\\x7f\\u{9b}\\u{202e}b"
        );
        assert!(matches!(printable("plain – text"), Cow::Borrowed(_)));
        assert_eq!(
            remote_text(b"  scp: \xff\x1b[31mno\n"),
            "scp: \u{fffd}\\x1b[31mno"
        );
    }
}
