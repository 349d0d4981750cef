//! Command output is untrusted: a command may print escape sequences that set the window
//! title (OSC 0), write the clipboard (OSC 52), move the cursor or clear the screen. Output goes
//! through [`clean`] before anything shows it: SGR colours and styles are kept as data, every
//! other sequence and control character is dropped, and `\r` overwrites the line the way a
//! terminal would, so a progress bar shows its last state.
//!
//! Parsing is vte's (the state machine of alacritty), which recognises every sequence shape
//! (CSI, OSC with BEL or ST, DCS, SOS/PM/APC) even when it is malformed; the SGR mapping is ours.
//! The step log file keeps the raw bytes: only what is shown is cleaned.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Styled runs of a cleaned line: (byte offset where the run ends, style), in order.
pub type Runs = Vec<(usize, Style)>;

/// One line of command output, cleaned: its text and the styles of its runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clean {
    /// The visible text, without any escape sequence or control character.
    pub text: String,
    /// Styled runs as (byte offset where the run ends, style), in order; empty when the line
    /// has no style at all, which is most output, so plain lines cost no allocation.
    pub runs: Runs,
}

impl Clean {
    /// The line as spans: see [`styled_line`].
    pub fn line(&self, base: Style, color: bool) -> Line<'static> {
        styled_line(&self.text, &self.runs, base, color)
    }

    /// The line with its colours as SGR sequences (for a terminal), ending in a reset.
    pub fn to_sgr(&self) -> String {
        if self.runs.is_empty() {
            return self.text.clone();
        }
        let mut out = String::with_capacity(self.text.len() + 16 * self.runs.len());
        let mut start = 0;
        for &(end, style) in &self.runs {
            out.push_str("\x1b[0");
            push_sgr(&mut out, style);
            out.push('m');
            out.push_str(&self.text[start..end]);
            start = end;
        }
        out.push_str("\x1b[0m");
        out
    }
}

/// A cleaned line as spans, each run's style patched over `base` (the role of its stream).
/// With `color` false (NO_COLOR), colours from the command are dropped and modifiers kept.
pub fn styled_line(text: &str, runs: &[(usize, Style)], base: Style, color: bool) -> Line<'static> {
    if runs.is_empty() {
        return Line::from(Span::styled(text.to_owned(), base));
    }
    let mut start = 0;
    let spans = runs
        .iter()
        .map(|&(end, style)| {
            let style = if color { style } else { Style { fg: None, bg: None, ..style } };
            // `get` rather than indexing: runs and text always agree, but a render never panics.
            let span = Span::styled(text.get(start..end).unwrap_or_default().to_owned(), base.patch(style));
            start = end;
            span
        })
        .collect::<Vec<_>>();
    Line::from(spans)
}

/// Text with every escape sequence and control character removed (newlines kept), each line
/// as [`clean`] leaves it: for values that came
/// from command output by another way than the output pane, such as captures shown in titles,
/// commands and bodies. Borrowed when there is nothing to remove, which is almost always.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    // Whole sequences go, not just their ESC: `]0;title` left behind would be noise.
    std::borrow::Cow::Owned(text.split('\n').map(|l| clean(l.as_bytes()).text).collect::<Vec<_>>().join("\n"))
}

/// [`printable`] over every span of `lines`.
pub fn scrub(lines: &mut [Line<'_>]) {
    for span in lines.iter_mut().flat_map(|l| l.spans.iter_mut()) {
        if let std::borrow::Cow::Owned(clean) = printable(&span.content) {
            span.content = clean.into();
        }
    }
}

/// Cleans one line of command output (without its `\n`).
pub fn clean(line: &[u8]) -> Clean {
    // The common case, output with no escape or control byte, skips the state machine.
    // C1 controls (U+0080–U+009F, UTF-8 `C2 80`–`C2 9F`) are 8-bit escapes to some terminals.
    let c1 = line.windows(2).any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]));
    if !c1 && line.iter().all(|&b| b >= 0x20 && b != 0x7f) {
        return Clean { text: String::from_utf8_lossy(line).into_owned(), runs: Vec::new() };
    }
    let mut screen = LineScreen::default();
    let mut parser = vte::Parser::new();
    parser.advance(&mut screen, line);
    screen.finish()
}

/// Columns a tab advances to (output used to show tabs as four spaces; keep that).
const TAB: usize = 4;

/// A one-row terminal: the cells written so far and the cursor.
#[derive(Default)]
struct LineScreen {
    cells: Vec<(char, Style)>,
    cursor: usize,
    style: Style,
}

impl LineScreen {
    fn put(&mut self, c: char) {
        if self.cursor > self.cells.len() {
            self.cells.resize(self.cursor, (' ', Style::default()));
        }
        if self.cursor == self.cells.len() {
            self.cells.push((c, self.style));
        } else {
            self.cells[self.cursor] = (c, self.style);
        }
        self.cursor += 1;
    }

    fn finish(self) -> Clean {
        let mut text = String::with_capacity(self.cells.len());
        let mut runs: Vec<(usize, Style)> = Vec::new();
        for (c, style) in self.cells {
            text.push(c);
            match runs.last_mut() {
                Some((end, s)) if *s == style => *end = text.len(),
                _ => runs.push((text.len(), style)),
            }
        }
        if runs.iter().all(|(_, s)| *s == Style::default()) {
            runs.clear();
        }
        Clean { text, runs }
    }

    fn sgr(&mut self, params: &vte::Params) {
        let mut it = params.iter();
        if params.is_empty() {
            self.style = Style::default();
        }
        while let Some(p) = it.next() {
            let code = p[0];
            let s = &mut self.style;
            match code {
                0 => *s = Style::default(),
                1 => *s = s.add_modifier(Modifier::BOLD),
                2 => *s = s.add_modifier(Modifier::DIM),
                3 => *s = s.add_modifier(Modifier::ITALIC),
                4 => *s = s.add_modifier(Modifier::UNDERLINED),
                5 | 6 => *s = s.add_modifier(Modifier::SLOW_BLINK),
                7 => *s = s.add_modifier(Modifier::REVERSED),
                8 => *s = s.add_modifier(Modifier::HIDDEN),
                9 => *s = s.add_modifier(Modifier::CROSSED_OUT),
                22 => *s = s.remove_modifier(Modifier::BOLD | Modifier::DIM),
                23 => *s = s.remove_modifier(Modifier::ITALIC),
                24 => *s = s.remove_modifier(Modifier::UNDERLINED),
                25 => *s = s.remove_modifier(Modifier::SLOW_BLINK | Modifier::RAPID_BLINK),
                27 => *s = s.remove_modifier(Modifier::REVERSED),
                28 => *s = s.remove_modifier(Modifier::HIDDEN),
                29 => *s = s.remove_modifier(Modifier::CROSSED_OUT),
                30..=37 => s.fg = Some(Color::Indexed((code - 30) as u8)),
                90..=97 => s.fg = Some(Color::Indexed((code - 90 + 8) as u8)),
                40..=47 => s.bg = Some(Color::Indexed((code - 40) as u8)),
                100..=107 => s.bg = Some(Color::Indexed((code - 100 + 8) as u8)),
                39 => s.fg = None,
                49 => s.bg = None,
                38 | 48 => {
                    // Either `38;5;N` / `38;2;R;G;B` (separate parameters) or `38:5:N` (one
                    // parameter with sub-parameters).
                    let rest: Vec<u16> = if p.len() > 1 {
                        p[1..].to_vec()
                    } else {
                        let kind = it.next().map(|k| k[0]);
                        let n = match kind {
                            Some(5) => 1,
                            Some(2) => 3,
                            _ => 0,
                        };
                        kind.into_iter().chain((0..n).filter_map(|_| it.next().map(|v| v[0]))).collect()
                    };
                    let color = match rest[..] {
                        [5, n] => Some(Color::Indexed(n.min(255) as u8)),
                        [2, r, g, b] | [2, _, r, g, b] => {
                            Some(Color::Rgb(r.min(255) as u8, g.min(255) as u8, b.min(255) as u8))
                        }
                        _ => None,
                    };
                    if let Some(color) = color {
                        if code == 38 {
                            s.fg = Some(color);
                        } else {
                            s.bg = Some(color);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

impl vte::Perform for LineScreen {
    fn print(&mut self, c: char) {
        if !c.is_control() {
            self.put(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\r' => self.cursor = 0,
            b'\t' => {
                for _ in 0..TAB - self.cursor % TAB {
                    self.put(' ');
                }
            }
            0x08 => self.cursor = self.cursor.saturating_sub(1),
            // BEL, and every other control character: dropped.
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &vte::Params, intermediates: &[u8], ignore: bool, action: char) {
        if ignore || !intermediates.is_empty() {
            return;
        }
        match action {
            'm' => self.sgr(params),
            // Erase in line: progress bars write `\r\e[K` before the new state.
            'K' => match params.iter().next().map(|p| p[0]).unwrap_or(0) {
                0 => self.cells.truncate(self.cursor),
                1 => self.cells.iter_mut().take(self.cursor + 1).for_each(|c| *c = (' ', Style::default())),
                _ => self.cells.clear(),
            },
            // Every other CSI (cursor movement, screen clearing, modes, queries): dropped.
            _ => {}
        }
    }
    // OSC (title, clipboard, hyperlinks), DCS, ESC dispatches: the default no-ops drop them.
}

/// Appends `;`-prefixed SGR parameters for `style`.
fn push_sgr(out: &mut String, style: Style) {
    use std::fmt::Write;
    let m = style.add_modifier;
    for (flag, code) in [
        (Modifier::BOLD, 1),
        (Modifier::DIM, 2),
        (Modifier::ITALIC, 3),
        (Modifier::UNDERLINED, 4),
        (Modifier::SLOW_BLINK, 5),
        (Modifier::REVERSED, 7),
        (Modifier::HIDDEN, 8),
        (Modifier::CROSSED_OUT, 9),
    ] {
        if m.contains(flag) {
            let _ = write!(out, ";{code}");
        }
    }
    for (color, base) in [(style.fg, 38), (style.bg, 48)] {
        match color {
            Some(Color::Indexed(n)) => {
                let _ = write!(out, ";{base};5;{n}");
            }
            Some(Color::Rgb(r, g, b)) => {
                let _ = write!(out, ";{base};2;{r};{g};{b}");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red() -> Style {
        Style::default().fg(Color::Indexed(1))
    }

    #[test]
    fn plain_text_passes_unchanged_and_unstyled() {
        assert_eq!(clean(b"hello world"), Clean { text: "hello world".into(), runs: vec![] });
    }

    #[test]
    fn sgr_colours_become_runs() {
        let c = clean(b"ok \x1b[31mRED\x1b[0m done");
        assert_eq!(c.text, "ok RED done");
        assert_eq!(c.runs, vec![(3, Style::default()), (6, red()), (11, Style::default())]);
        let c = clean(b"\x1b[1;38;5;208mo\x1b[38:2::1:2:3mr\x1b[48;2;4;5;6mg\x1b[mx");
        assert_eq!(c.text, "orgx");
        assert_eq!(c.runs[0].1, Style::default().fg(Color::Indexed(208)).add_modifier(Modifier::BOLD));
        assert_eq!(c.runs[1].1.fg, Some(Color::Rgb(1, 2, 3)));
        assert_eq!(c.runs[2].1.bg, Some(Color::Rgb(4, 5, 6)));
        assert_eq!(c.runs[3].1, Style::default());
    }

    #[test]
    fn every_other_sequence_and_control_character_is_dropped() {
        let nasty: &[&[u8]] = &[
            b"a\x1b]0;pwned title\x07b",       // OSC 0, BEL-terminated
            b"a\x1b]52;c;cm0gLXJmIC8=\x1b\\b", // OSC 52 clipboard, ST-terminated
            b"a\x1b]8;;https://evil\x1b\\b",   // OSC 8 hyperlink
            b"a\x1b[2J\x1b[H\x1b[10;10Hb",     // clear screen, cursor moves
            b"a\x1bP1$qm\x1b\\b",              // DCS request
            b"a\x1b[?1049h\x1b[?25lb",         // alternate screen, hide cursor
            b"a\x07\x0e\x0f\x1b7\x1b8\x1bcb",  // BEL, shift out/in, save/restore, reset
            b"a\x1b_apc\x1b\\\x1b^pm\x1b\\b",  // APC, PM
        ];
        for bytes in nasty {
            let c = clean(bytes);
            assert_eq!(c.text, "ab", "{bytes:?}");
            assert!(c.runs.is_empty(), "{bytes:?}");
        }
    }

    #[test]
    fn printable_text_keeps_newlines_and_tabs_only() {
        assert!(matches!(printable("plain\ttext\n"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("a\x1b]0;t\x07b\u{9b}c\nd\x1b[2Je"), "abc\nde");
        let mut lines = vec![Line::from(vec![Span::raw("ok"), Span::raw("x\x1b[2Jy")])];
        scrub(&mut lines);
        assert_eq!(lines[0].spans[1].content, "xy");
    }

    #[test]
    fn c1_controls_never_reach_the_terminal() {
        // A UTF-8 terminal reads U+009B as text, but a few treat it as CSI: it is dropped, and
        // what follows is harmless text.
        assert_eq!(clean("a\u{9b}2Jb".as_bytes()).text, "a2Jb");
        assert_eq!(clean("a\u{9d}0;t\u{9c}b".as_bytes()).text, "a0;tb");
    }

    #[test]
    fn carriage_returns_leave_the_last_state_of_a_progress_line() {
        assert_eq!(clean(b" 10%\r 55%\r100% done").text, "100% done");
        assert_eq!(clean(b"downloading 99%\r\x1b[Kdone").text, "done");
        assert_eq!(clean(b"abcdef\rXY").text, "XYcdef", "overwrites like a terminal");
        assert_eq!(clean(b"windows line\r").text, "windows line");
        assert_eq!(clean(b"ab\x08c").text, "ac");
        assert_eq!(clean(b"a\tb").text, "a   b");
    }

    #[test]
    fn invalid_utf8_and_truncated_sequences_never_panic() {
        assert_eq!(clean(b"a\xffb").text, "a\u{fffd}b");
        for bytes in
            [&b"\x1b"[..], b"\x1b[", b"\x1b[38;5", b"\x1b[38;2;1m", b"\x1b]0;t", b"\x1b[99999999999m"]
        {
            let _ = clean(bytes);
        }
    }

    #[test]
    fn sgr_output_for_terminals_keeps_colours_only() {
        let c = clean(b"\x1b]0;t\x07\x1b[31mRED\x1b[0m ok");
        assert_eq!(c.to_sgr(), "\x1b[0;38;5;1mRED\x1b[0m ok\x1b[0m");
        assert_eq!(clean(b"plain").to_sgr(), "plain");
    }

    #[test]
    fn lines_patch_the_stream_style_and_honour_no_color() {
        let c = clean(b"\x1b[1;31mE\x1b[0mx");
        let base = Style::default().fg(Color::Yellow);
        let line = c.line(base, true);
        assert_eq!(line.spans[0].style.fg, Some(Color::Indexed(1)));
        assert_eq!(line.spans[1].style, base);
        let mono = c.line(Style::default(), false);
        assert_eq!(mono.spans[0].style.fg, None);
        assert!(mono.spans[0].style.add_modifier.contains(Modifier::BOLD));
    }
}
