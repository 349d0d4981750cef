//! Markdown bodies and descriptions as styled terminal lines.
//!
//! CommonMark (with tables, strikethrough and task lists) is parsed by pulldown-cmark and drawn
//! as ratatui lines: headings, nested lists, code blocks without their fences in the code
//! style, block quotes with a bar, tables with aligned columns, and links as their text with a
//! number that points into the list of URLs under the body (a terminal cannot be trusted with
//! escape sequences inside the drawn text, and a URL list is readable and copyable everywhere).

use pulldown_cmark::{Alignment, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::theme::{Role, Theme};

/// Markdown drawn as lines, and the URLs of its links (link `[n]` is `links[n - 1]`).
#[derive(Debug, Default, Clone)]
pub struct Rendered {
    pub lines: Vec<Line<'static>>,
    pub links: Vec<String>,
}

/// Renders `text` and appends its links as a numbered list: what the step detail and the
/// picker preview show.
pub fn lines(text: &str, theme: &Theme) -> Vec<Line<'static>> {
    lines_and_links(text, theme).0
}

/// [`lines`], and the URLs of the links (link `[n]` is `links[n - 1]`).
///
/// The cells of link `n` (its text, and its URL in the list) carry a mark in their style
/// ([`link_mark`]), so that once laid out they can be made OSC 8 hyperlinks
/// (`ui::hyperlink`), which removes every mark before the frame is drawn.
pub fn lines_and_links(text: &str, theme: &Theme) -> (Vec<Line<'static>>, Vec<String>) {
    let Rendered { mut lines, links } = render(text, theme);
    if !links.is_empty() {
        lines.push(Line::default());
        for (i, url) in links.iter().enumerate() {
            lines.push(Line::from(vec![
                Span::styled(format!("[{}] ", i + 1), theme.style(Role::Dim)),
                Span::styled(url.clone(), theme.style(Role::Link).underline_color(link_mark(i + 1))),
            ]));
        }
    }
    (lines, links)
}

/// The red channel that tells a link mark from a colour a theme could use.
const LINK_MARK: u8 = 0x0b;

/// The style mark of the cells of link `n` (1-based): an underline colour no theme uses,
/// never sent to the terminal.
pub fn link_mark(n: usize) -> Color {
    let n = n.min(0xffff);
    Color::Rgb(LINK_MARK, (n >> 8) as u8, n as u8)
}

/// The link a cell's underline colour marks, if any.
pub fn marked_link(color: Color) -> Option<usize> {
    match color {
        Color::Rgb(LINK_MARK, hi, lo) => Some(((hi as usize) << 8) | lo as usize).filter(|n| *n > 0),
        _ => None,
    }
}

/// The text of every fenced or indented code block, in order: what `y` copies from a step
/// whose instructions hold commands to paste.
pub fn code_blocks(text: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new(text) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => current = Some(String::new()),
            Event::Text(t) if current.is_some() => {
                if let Some(c) = current.as_mut() {
                    c.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(c) = current.take() {
                    blocks.push(c.trim_end_matches('\n').to_owned());
                }
            }
            _ => {}
        }
    }
    blocks
}

/// Renders Markdown into lines and a link list.
pub fn render(text: &str, theme: &Theme) -> Rendered {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut w = Writer::new(theme);
    for event in Parser::new_ext(text, options) {
        w.event(event);
    }
    w.flush();
    while w.out.lines.last().is_some_and(|l| l.width() == 0) {
        w.out.lines.pop();
    }
    w.out
}

/// A list being drawn: the next number (ordered) or none (bullets).
struct List {
    next: Option<u64>,
}

/// A table being collected: rows of cells of spans; drawn once complete, to align columns.
#[derive(Default)]
struct Table {
    align: Vec<Alignment>,
    rows: Vec<Vec<Vec<Span<'static>>>>,
    header_rows: usize,
}

struct Writer<'t> {
    theme: &'t Theme,
    out: Rendered,
    /// The line being built.
    spans: Vec<Span<'static>>,
    /// Inline styles in force (emphasis, strong, link, …), innermost last.
    styles: Vec<Style>,
    lists: Vec<List>,
    /// The prefix of the current list item's first line (`• `, `2. `), used once.
    marker: Option<String>,
    quote: usize,
    code: Option<String>,
    table: Option<Table>,
    /// The number of the link being drawn.
    link: Option<usize>,
    /// A blank line is owed before the next block.
    gap: bool,
}

impl<'t> Writer<'t> {
    fn new(theme: &'t Theme) -> Self {
        Self {
            theme,
            out: Rendered::default(),
            spans: Vec::new(),
            styles: Vec::new(),
            lists: Vec::new(),
            marker: None,
            quote: 0,
            code: None,
            table: None,
            link: None,
            gap: false,
        }
    }

    /// The number of a link's URL (`[n]`), the same for every link to it.
    fn link_number(&mut self, url: &str) -> usize {
        match self.out.links.iter().position(|u| u == url) {
            Some(i) => i + 1,
            None => {
                self.out.links.push(url.to_owned());
                self.out.links.len()
            }
        }
    }

    fn style(&self) -> Style {
        self.styles.iter().fold(self.theme.style(Role::Text), |acc, s| acc.patch(*s))
    }

    fn push_text(&mut self, text: &str, style: Style) {
        if let Some(table) = self.table.as_mut() {
            if let Some(cell) = table.rows.last_mut().and_then(|r| r.last_mut()) {
                cell.push(Span::styled(text.to_owned(), style));
            }
            return;
        }
        self.spans.push(Span::styled(text.to_owned(), style));
    }

    /// The indentation of continuation lines inside lists and quotes.
    fn prefix(&self, first: bool) -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        if self.quote > 0 {
            spans.push(Span::styled("▌ ".repeat(self.quote), self.theme.style(Role::Dim)));
        }
        let depth = self.lists.len();
        if depth > 0 {
            let indent = "  ".repeat(depth - 1);
            match (&self.marker, first) {
                (Some(m), true) => {
                    spans.push(Span::raw(indent));
                    spans.push(Span::styled(m.clone(), self.theme.style(Role::Dim)));
                }
                _ => spans.push(Span::raw(format!("{indent}  "))),
            }
        }
        spans
    }

    /// Ends the line being built (if any).
    fn flush(&mut self) {
        if self.spans.is_empty() {
            return;
        }
        self.open_block();
        let first = self.marker.is_some();
        let mut spans = self.prefix(first);
        if first {
            self.marker = None;
        }
        spans.append(&mut self.spans);
        self.out.lines.push(Line::from(spans));
    }

    /// Writes the owed blank line before a new block.
    fn open_block(&mut self) {
        if self.gap && !self.out.lines.is_empty() {
            let prefix = if self.quote > 0 {
                vec![Span::styled("▌ ".repeat(self.quote), self.theme.style(Role::Dim))]
            } else {
                vec![]
            };
            self.out.lines.push(Line::from(prefix));
        }
        self.gap = false;
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => {
                if let Some(code) = self.code.as_mut() {
                    code.push_str(&t);
                } else {
                    let style = self.style();
                    self.push_text(&t, style);
                }
            }
            Event::Code(t) => {
                let style = self.style().patch(self.theme.style(Role::Code));
                self.push_text(&t, style);
            }
            // Inline HTML is shown as written: in runbooks `<namespace>` is a placeholder to
            // fill in, not a tag.
            Event::InlineHtml(t) | Event::Html(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                let style = self.style();
                for (i, part) in t.split('\n').enumerate() {
                    if i > 0 {
                        self.flush();
                    }
                    if !part.is_empty() {
                        self.push_text(part, style);
                    }
                }
            }
            Event::SoftBreak => {
                let style = self.style();
                self.push_text(" ", style);
            }
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.open_block();
                self.out.lines.push(Line::from(Span::styled("─".repeat(24), self.theme.style(Role::Dim))));
                self.gap = true;
            }
            Event::TaskListMarker(done) => {
                let style = self.theme.style(Role::Dim);
                self.push_text(if done { "[x] " } else { "[ ] " }, style);
            }
            Event::FootnoteReference(name) => {
                let style = self.theme.style(Role::Dim);
                self.push_text(&format!("[^{name}]"), style);
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.flush(),
            Tag::Heading { level, .. } => {
                self.flush();
                let mut style = self.theme.style(Role::Heading);
                if level <= HeadingLevel::H2 {
                    style = style.add_modifier(Modifier::UNDERLINED);
                }
                self.styles.push(style);
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.open_block();
                self.quote += 1;
                self.styles.push(self.theme.style(Role::Dim).add_modifier(Modifier::ITALIC));
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.code = Some(String::new());
            }
            Tag::List(start) => {
                self.flush();
                if self.lists.is_empty() {
                    self.open_block();
                }
                self.lists.push(List { next: start });
            }
            Tag::Item => {
                self.flush();
                let depth = self.lists.len();
                let marker = match self.lists.last_mut() {
                    Some(List { next: Some(n) }) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => format!("{} ", ["•", "◦", "▪"][(depth.max(1) - 1) % 3]),
                };
                self.marker = Some(marker);
                self.gap = false;
            }
            Tag::Emphasis => self.styles.push(Style::default().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.styles.push(Style::default().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.styles.push(Style::default().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                let n = self.link_number(&dest_url);
                self.link = Some(n);
                self.styles.push(self.theme.style(Role::Link).underline_color(link_mark(n)));
            }
            Tag::Image { dest_url, .. } => {
                let n = self.link_number(&dest_url);
                self.link = Some(n);
                self.styles.push(self.theme.style(Role::Link).underline_color(link_mark(n)));
                let style = self.style();
                self.push_text("image: ", style);
            }
            Tag::Table(align) => {
                self.flush();
                self.open_block();
                self.table = Some(Table { align, ..Table::default() });
            }
            Tag::TableHead => {
                if let Some(t) = self.table.as_mut() {
                    t.rows.push(Vec::new());
                    t.header_rows = 1;
                }
                self.styles.push(Style::default().add_modifier(Modifier::BOLD));
            }
            Tag::TableRow => {
                if let Some(t) = self.table.as_mut() {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(Vec::new());
                }
            }
            Tag::FootnoteDefinition(name) => {
                self.flush();
                let style = self.theme.style(Role::Dim);
                self.push_text(&format!("[^{name}]: "), style);
            }
            Tag::HtmlBlock
            | Tag::MetadataBlock(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock | TagEnd::FootnoteDefinition => {
                self.flush();
                self.gap = true;
            }
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.flush();
                self.gap = true;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.styles.pop();
                self.quote = self.quote.saturating_sub(1);
                self.gap = true;
            }
            TagEnd::CodeBlock => {
                let code = self.code.take().unwrap_or_default();
                self.open_block();
                let style = self.theme.style(Role::Code);
                let bar = self.theme.style(Role::Dim);
                for line in code.trim_end_matches('\n').split('\n') {
                    let mut spans = self.prefix(self.marker.is_some());
                    self.marker = None;
                    // Indented with a gutter, so code stands apart even without colours.
                    spans.push(Span::styled("  │ ", bar));
                    spans.push(Span::styled(line.replace('\t', "    "), style));
                    self.out.lines.push(Line::from(spans));
                }
                self.gap = true;
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.gap = true;
                }
            }
            TagEnd::Item => {
                self.flush();
                self.marker = None;
                self.gap = false;
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link | TagEnd::Image => {
                self.styles.pop();
                if let Some(n) = self.link.take() {
                    let style = self.theme.style(Role::Dim);
                    self.push_text(&format!("[{n}]"), style);
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.draw_table(table);
                }
                self.gap = true;
            }
            TagEnd::TableHead => {
                self.styles.pop();
            }
            TagEnd::TableRow | TagEnd::TableCell => {}
            TagEnd::MetadataBlock(_)
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Superscript
            | TagEnd::Subscript => {}
        }
    }

    /// Columns padded to their widest cell, ` │ ` between them, a rule under the header.
    fn draw_table(&mut self, table: Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width = |cell: &Vec<Span>| cell.iter().map(|s| s.width()).sum::<usize>();
        let widths: Vec<usize> = (0..columns)
            .map(|c| table.rows.iter().filter_map(|r| r.get(c)).map(width).max().unwrap_or(0))
            .collect();
        let bar = self.theme.style(Role::Dim);
        for (i, row) in table.rows.into_iter().enumerate() {
            let mut spans = self.prefix(false);
            for (c, cell) in row.into_iter().enumerate() {
                if c > 0 {
                    spans.push(Span::styled(" │ ", bar));
                }
                let pad = widths[c].saturating_sub(width(&cell));
                let (before, after) = match table.align.get(c) {
                    Some(Alignment::Right) => (pad, 0),
                    Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                    _ => (0, pad),
                };
                spans.push(Span::raw(" ".repeat(before)));
                spans.extend(cell);
                spans.push(Span::raw(" ".repeat(after)));
            }
            self.out.lines.push(Line::from(spans));
            if i + 1 == table.header_rows {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                let mut spans = self.prefix(false);
                spans.push(Span::styled(rule.join("─┼─"), bar));
                self.out.lines.push(Line::from(spans));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(md: &str) -> Vec<String> {
        lines(md, &Theme::no_color())
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>())
            .collect()
    }

    #[test]
    fn blocks_render_without_markdown_syntax() {
        let md = "# Title\n\nSome *emphasis* and **bold** and `code`.\n\n- one\n- two\n  1. nested\n  2. more\n\n```sh\nkubectl get pods\n```\n\n> quoted\n\n---\n";
        assert_eq!(
            plain(md),
            [
                "Title",
                "",
                "Some emphasis and bold and code.",
                "",
                "• one",
                "• two",
                "  1. nested",
                "  2. more",
                "",
                "  │ kubectl get pods",
                "",
                "▌ quoted",
                "",
                "────────────────────────",
            ]
        );
    }

    #[test]
    fn links_show_their_text_and_a_numbered_url_list() {
        let md = "See [the dashboard](https://grafana.example/d/x), [docs][d] and <https://x.example>; [again](https://grafana.example/d/x).\n\n[d]: https://docs.example\n";
        assert_eq!(
            plain(md),
            [
                "See the dashboard[1], docs[2] and https://x.example[3]; again[1].",
                "",
                "[1] https://grafana.example/d/x",
                "[2] https://docs.example",
                "[3] https://x.example",
            ]
        );
    }

    #[test]
    fn tables_align_their_columns() {
        let md = "| Reason | Cause |\n|---|--:|\n| OOMKilled | memory |\n| Error | bug |\n";
        assert_eq!(
            plain(md),
            ["Reason    │  Cause", "──────────┼───────", "OOMKilled │ memory", "Error     │    bug"]
        );
    }

    #[test]
    fn placeholders_written_like_html_stay_visible() {
        assert_eq!(plain("Replace <namespace> and <pod-name>."), ["Replace <namespace> and <pod-name>."]);
    }

    #[test]
    fn styles_come_from_theme_roles() {
        let theme = Theme::default();
        let r = render("## Head\n\n`code` **bold** [l](u)\n", &theme);
        let spans = &r.lines[2].spans;
        assert_eq!(r.lines[0].spans[0].style.fg, theme.style(Role::Heading).fg);
        assert_eq!(spans[0].style.fg, theme.style(Role::Code).fg);
        assert!(spans[2].style.add_modifier.contains(Modifier::BOLD));
        assert!(spans[4].style.add_modifier.contains(Modifier::UNDERLINED), "{spans:?}");
    }

    #[test]
    fn hostile_or_odd_input_never_panics() {
        for md in [
            "",
            "|",
            "| a |\n|---|\n| b | c | d |",
            "[x]",
            "```",
            "> > > deep",
            "1. \n2.",
            "<!-- -->",
            "\t\tx",
        ] {
            let _ = lines(md, &Theme::default());
        }
    }

    #[test]
    fn code_blocks_are_found_for_copying() {
        let body = "Run this:\n\n```sh\nkubectl get pods\nkubectl logs x\n```\n\nthen `inline` and\n\n    indented one\n";
        assert_eq!(code_blocks(body), ["kubectl get pods\nkubectl logs x", "indented one"]);
    }
}
