//! Text from runbooks, inputs and captures shown in a terminal: control characters (which
//! could move the cursor, retitle the window or forge a line) and bidirectional overrides
//! (which could make text read differently from what it is) are shown escaped.

use std::borrow::Cow;

/// Whether a character must not reach a terminal as it is.
fn is_hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with whole escape sequences dropped (they may have come from command output, through
/// a capture: [`crate::ansi::printable`]) and every other control character and bidi override
/// written as an escape (`\n`, `\u{7}`, `\u{202e}`), so it stays on one line and does what
/// it says.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let text = crate::ansi::printable(text);
    if !text.chars().any(is_hostile) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hostile(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` in exactly `width` characters: padded, or cut with `…` so a cut shows.
pub fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return format!("{text:<width$}");
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pads_or_cuts_with_an_ellipsis() {
        assert_eq!(fit("API", 6), "API   ");
        assert_eq!(fit("API health", 10), "API health");
        assert_eq!(fit("API health", 9), "API heal…");
        assert_eq!(fit("Übersicht", 3), "Üb…");
        assert_eq!(fit("x", 0), "");
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(escape_controls("plain ✓ text"), "plain ✓ text");
        assert_eq!(
            escape_controls("a\nb\u{1b}]0;x\u{7}c"),
            "a\\nbc",
            "a whole sequence goes, not only its ESC"
        );
        assert_eq!(escape_controls("a\u{7}b"), "ab");
        assert_eq!(escape_controls("x\u{202e}gnp.exe"), "x\\u{202e}gnp.exe");
    }
}
