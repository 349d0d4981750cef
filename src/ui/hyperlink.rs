//! OSC 8 hyperlinks for the links of a runbook's Markdown.
//!
//! crossterm writes no OSC 8 of its own, so the link cells are rewritten once the paragraph
//! is laid out (wrapped and scrolled): each cell of a link's text becomes
//! `ESC ] 8 ; ; URL ESC \ char ESC ] 8 ; ; ESC \`, drawn with the width of its one character.
//! Terminals join neighbouring cells with the same URL into one link; terminals without OSC 8
//! ignore the sequence and show the text.
//!
//! Only URLs the runbook wrote out literally become links, never a value from a placeholder
//! (a capture is command output), and only `http`, `https` and `mailto` URLs of printable
//! ASCII: no control character, no ESC, nothing that could end the sequence early.

use std::num::NonZeroU16;

use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;
use ratatui::style::Color;

/// The longest URL made a link; longer ones stay text (and in the numbered list).
const MAX_URL: usize = 2048;

/// `url` if it may become a hyperlink.
pub fn safe_url(url: &str) -> Option<&str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = ["http://", "https://", "mailto:"].iter().any(|s| lower.starts_with(s));
    let bytes_ok = url.bytes().all(|b| (0x21..0x7f).contains(&b));
    (scheme_ok && bytes_ok && url.len() <= MAX_URL).then_some(url)
}

/// The link targets of rendered Markdown: `shown[i]` becomes a hyperlink only when it is a
/// safe URL the runbook wrote itself (it is among `written`, the links of the text before
/// any placeholder was filled in).
pub fn targets(shown: &[String], written: &[String]) -> Vec<Option<String>> {
    shown.iter().map(|u| safe_url(u).filter(|u| written.iter().any(|w| w == u)).map(str::to_owned)).collect()
}

/// Rewrites the marked link cells inside `area`: into hyperlinks to `targets[n - 1]` when
/// `enabled`, else (or without a target) back to plain cells. Every mark is removed, so none
/// reaches the terminal.
pub fn apply(buf: &mut Buffer, area: Rect, targets: &[Option<String>], enabled: bool) {
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let Some(cell) = buf.cell_mut((x, y)) else { continue };
            let Some(n) = crate::markdown::marked_link(cell.underline_color) else { continue };
            cell.underline_color = Color::Reset;
            let Some(url) = targets.get(n - 1).and_then(Option::as_deref).filter(|_| enabled) else {
                continue;
            };
            let symbol = cell.symbol().to_owned();
            let width = ratatui::text::Span::raw(symbol.as_str()).width();
            let Some(width) = NonZeroU16::new(width.min(2) as u16) else { continue };
            cell.set_symbol(&format!("\x1b]8;;{url}\x1b\\{symbol}\x1b]8;;\x1b\\"));
            cell.set_diff_option(CellDiffOption::ForcedWidth(width));
        }
    }
}

/// Whether hyperlinks are wanted: not turned off in the config, by `NO_HYPERLINKS` (any
/// value), or on a terminal that is `dumb` or unnamed.
pub fn wanted(config: Option<bool>, no_hyperlinks: Option<&str>, term: Option<&str>) -> bool {
    config != Some(false) && no_hyperlinks.is_none() && term.is_some_and(|t| !t.is_empty() && t != "dumb")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Style;
    use ratatui::text::{Line, Span};
    use ratatui::widgets::{Paragraph, Widget, Wrap};

    #[test]
    fn only_plain_web_and_mail_urls_become_links() {
        assert_eq!(safe_url("https://example.com/a?b=c#d"), Some("https://example.com/a?b=c#d"));
        assert!(safe_url("mailto:oncall@example.com").is_some());
        assert!(safe_url("HTTP://EXAMPLE.COM").is_some());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://example.com/\x1b]8;;x",
            "https://example.com/a b",
            "https://example.com/\x07",
            "https://exämple.com",
            "ftp://example.com",
        ] {
            assert_eq!(safe_url(bad), None, "{bad:?}");
        }
        assert_eq!(safe_url(&format!("https://e.com/{}", "a".repeat(3000))), None);
    }

    #[test]
    fn links_filled_in_from_a_placeholder_stay_text() {
        let shown = ["https://docs.example.com".to_owned(), "https://evil.example.com".to_owned()];
        let written = ["https://docs.example.com".to_owned(), "{{ url }}".to_owned()];
        assert_eq!(targets(&shown, &written), [Some("https://docs.example.com".to_owned()), None]);
    }

    #[test]
    fn marked_cells_become_osc8_cells_and_every_mark_goes() {
        let mark = |n| Style::default().underline_color(crate::markdown::link_mark(n));
        let line =
            Line::from(vec![Span::raw("see "), Span::styled("docs", mark(1)), Span::styled("x", mark(2))]);
        let area = Rect::new(0, 0, 6, 2);
        let mut buf = Buffer::empty(area);
        Paragraph::new(line).wrap(Wrap { trim: false }).render(area, &mut buf);
        apply(&mut buf, area, &[Some("https://d.example".into()), None], true);
        let linked: String = buf
            .content()
            .iter()
            .filter_map(|c| c.symbol().strip_prefix("\x1b]8;;https://d.example\x1b\\"))
            .map(|rest| rest.strip_suffix("\x1b]8;;\x1b\\").unwrap())
            .collect();
        assert_eq!(linked, "docs", "the link's text, wrapped to the next line, is linked cell by cell");
        assert!(buf.content().iter().any(|c| c.symbol() == "x"), "a link without a target stays text");
        for cell in buf.content() {
            assert_eq!(crate::markdown::marked_link(cell.underline_color), None);
        }
        let mut off = Buffer::empty(area);
        Paragraph::new(Line::from(Span::styled("docs", mark(1)))).render(area, &mut off);
        apply(&mut off, area, &[Some("https://d.example".into())], false);
        assert_eq!(off[(0, 0)].symbol(), "d");
        assert_eq!(off[(0, 0)].underline_color, Color::Reset);
    }

    #[test]
    fn hyperlinks_can_be_turned_off() {
        assert!(wanted(None, None, Some("xterm-256color")));
        assert!(!wanted(Some(false), None, Some("xterm-256color")));
        assert!(!wanted(None, Some("1"), Some("xterm-256color")));
        assert!(!wanted(None, None, Some("dumb")));
        assert!(!wanted(None, None, None));
    }
}
