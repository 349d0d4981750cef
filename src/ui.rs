//! Rendering: pure views over `&Model`. Nothing here changes state.

mod dialog;
mod health;
pub mod hyperlink;
pub mod layout;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, Paragraph, Wrap};

use crate::app::keymap::Mode;
use crate::app::model::{Entry, Model, RunScreen, Screen};
use crate::exec::command::Stream;
use crate::run::Status;
use crate::runbook::Action;
use crate::theme::{Role, Theme};
pub use dialog::first_row;
use health::{health, health_strip, monitor_symbol};
pub use layout::{MIN_HEIGHT, MIN_WIDTH, RunLayout};

pub fn render(model: &Model, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    if layout::too_small(area) {
        return too_small(theme, frame, area);
    }
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    match model.screen {
        Screen::Picker => picker(model, theme, frame, main),
        Screen::Run => run(model, theme, frame, main),
    }
    status_bar(model, theme, frame, status);
    if let Some(d) = &model.dialog {
        dialog::dialog(d, model, theme, frame, area);
    }
}

/// Below the minimum size: say so, and what is needed, in as much of it as fits.
fn too_small(theme: &Theme, frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from(Span::styled("terminal too small", theme.style(Role::Warning))),
        Line::from(format!("{}x{}: needs {MIN_WIDTH}x{MIN_HEIGHT}", area.width, area.height)),
        Line::from(Span::styled("ctrl-c quits", theme.style(Role::Dim))),
    ];
    let top = area.height.saturating_sub(text.len() as u16) / 2;
    let rect = Rect { y: area.y + top, height: area.height - top, ..area };
    frame.render_widget(Paragraph::new(text).centered().wrap(Wrap { trim: true }), rect);
}

fn block<'a>(title: &'a str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Span::styled(format!(" {title} "), theme.style(Role::Title)))
}

/// The status bar: a message or the key hints, and `? help` always at its right end, so help
/// is one key away whatever is cut.
fn status_bar(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mode = if model.screen == Screen::Picker { Mode::Picker } else { Mode::Run };
    let line = match &model.status {
        Some(s) => Line::from(Span::styled(s.clone(), theme.style(Role::Warning))),
        None => {
            let mut spans = Vec::new();
            for (key, what) in model.keymap.hints(mode) {
                spans.push(Span::styled(format!(" {key} "), theme.style(Role::Selected)));
                spans.push(Span::styled(format!(" {what}  "), theme.style(Role::Dim)));
            }
            Line::from(spans)
        }
    };
    let help = match mode {
        Mode::Run => model.keymap.help_key(),
        Mode::Picker => String::new(),
    };
    if help.is_empty() {
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let help = Line::from(vec![
        Span::styled(format!(" {help} "), theme.style(Role::Selected)),
        Span::styled(" help ", theme.style(Role::Dim)),
    ]);
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(help.width() as u16)]).areas(area);
    frame.render_widget(Paragraph::new(line), left);
    frame.render_widget(Paragraph::new(help), right);
}

fn picker(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let p = &model.picker;
    let [search, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);
    let count = format!("{}/{} runbooks", p.filtered.len(), p.items.len());
    let count = if p.runs.is_empty() { count } else { format!("{} unfinished · {count}", p.runs.len()) };
    let query = Paragraph::new(Line::from(vec![
        Span::styled("› ", theme.style(Role::Current)),
        Span::raw(p.query.clone()),
        Span::styled("▏", theme.style(Role::Dim)),
    ]))
    .block({
        let kind = p.kind.map_or_else(|| "all kinds".to_owned(), |k| format!("kind: {k}"));
        block("runbook", theme)
            .title_bottom(Line::from(format!(" {kind} (tab) ")).left_aligned())
            .title_bottom(Line::from(count).right_aligned())
    });
    frame.render_widget(query, search);
    let wide = body.width >= 100;
    let [list_area, preview_area] = if wide {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body)
    } else {
        Layout::vertical([Constraint::Min(3), Constraint::Length(7)]).areas(body)
    };
    let height = list_area.height.saturating_sub(2) as usize;
    let first = p.selected.saturating_sub(height.saturating_sub(1));
    let mut highlighter = p.highlighter();
    let items: Vec<ListItem> = (first..p.len().min(first + height))
        .filter_map(|row| p.row(row).map(|e| (row, e)))
        .map(|(row, entry)| {
            let selected = row == p.selected;
            let mut spans = Vec::new();
            let text = match entry {
                Entry::Run(r) => {
                    spans.push(Span::styled(format!("{:<11} ", "resume"), theme.style(Role::Running)));
                    format!(
                        "{}  {} · {} · {}",
                        r.title,
                        r.runbook,
                        r.environment,
                        r.started.strftime("%Y-%m-%d %H:%M")
                    )
                }
                Entry::Runbook(s) => {
                    let kind = s.kind.map(|k| k.to_string()).unwrap_or_else(|| "broken".into());
                    let role = if s.is_broken() { Role::Failed } else { Role::Dim };
                    if p.firing.contains(&s.id) {
                        // It answers an alert firing now: marked where the eye starts.
                        spans.push(Span::styled(format!("{kind:<10.10}"), theme.style(role)));
                        spans.push(Span::styled("▲ ", theme.style(Role::Down)));
                    } else {
                        spans.push(Span::styled(format!("{kind:<11} "), theme.style(role)));
                    }
                    if s.is_broken() { s.id.clone() } else { format!("{}  {}", s.title, s.id) }
                }
            };
            let marks = highlighter.indices(&text);
            for (ci, ch) in text.chars().enumerate() {
                let role = if marks.contains(&ci) { Role::Match } else { Role::Text };
                spans.push(Span::styled(ch.to_string(), theme.style(role)));
            }
            let style = if selected { theme.style(Role::Selected) } else { Style::default() };
            ListItem::new(Line::from(spans)).style(style)
        })
        .collect();
    frame.render_widget(List::new(items).block(block("runbooks", theme)), list_area);
    let mut targets = Vec::new();
    let preview: Vec<Line> = match p.current() {
        Some(Entry::Run(r)) => vec![
            Line::from(Span::styled(format!("Resume: {}", r.title), theme.style(Role::Title))),
            Line::from(format!(
                "run {} · {} · started {} UTC",
                r.id,
                r.environment,
                r.started.strftime("%Y-%m-%d %H:%M:%S")
            )),
            Line::from(Span::styled("enter picks it up where it stopped", theme.style(Role::Dim))),
        ],
        Some(Entry::Runbook(s))
            if s.error.is_none() && p.preview.as_ref().is_some_and(|(id, _)| id == &s.id) =>
        {
            let rb =
                &p.preview.as_ref().map(|(_, r)| r.clone()).unwrap_or_else(|| unreachable!("checked above"));
            let mut lines = vec![Line::from(Span::styled(rb.title.clone(), theme.style(Role::Title)))];
            let owner = rb.owner.as_ref().map(|o| format!(" · {o}")).unwrap_or_default();
            lines.push(Line::from(Span::styled(
                format!("{} · {}{owner}", rb.id, rb.kind),
                theme.style(Role::Dim),
            )));
            if let Some(envs) = &rb.environments {
                lines.push(Line::from(Span::styled(
                    format!("environments: {}", envs.join(", ")),
                    theme.style(Role::Dim),
                )));
            }
            lines.push(Line::from(""));
            let (description, links) = crate::markdown::lines_and_links(&rb.description, theme);
            lines.extend(description);
            targets = hyperlink::targets(&links, &links);
            if !rb.inputs.is_empty() {
                lines.push(Line::from(Span::styled("inputs", theme.style(Role::Title))));
                for i in &rb.inputs {
                    let req = if i.default.is_none() { " (required)" } else { "" };
                    lines.push(Line::from(format!("  {}{req}  {}", i.name, i.description)));
                }
            }
            lines.push(Line::from(Span::styled(
                format!("{} steps", rb.steps.len()),
                theme.style(Role::Title),
            )));
            for (i, step) in rb.steps.iter().enumerate() {
                let branch = rb.steps[..i].iter().any(|s| s.end);
                let sym = match step.action {
                    crate::runbook::Action::Manual => "○",
                    crate::runbook::Action::Command(_) => "$",
                    // Not ✓: that is what a passed step looks like in the run view.
                    crate::runbook::Action::Check(_) => "◇",
                    crate::runbook::Action::Choice(_) => "?",
                };
                let indent = if branch { "  ↳ " } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("{sym} "), theme.style(Role::Dim)),
                    Span::raw(format!("{indent}{}", step.title.source())),
                ]));
            }
            lines
        }
        Some(Entry::Runbook(s)) => {
            let mut lines = vec![Line::from(Span::styled(s.title.clone(), theme.style(Role::Title)))];
            lines.push(Line::from(Span::styled(s.id.clone(), theme.style(Role::Dim))));
            if let Some(err) = &s.error {
                lines.push(Line::from(Span::styled(err.clone(), theme.style(Role::Failed))));
            } else {
                if !s.tags.is_empty() {
                    lines.push(Line::from(format!("tags: {}", s.tags.join(", "))));
                }
                lines.push(Line::from(Span::styled(s.path.clone(), theme.style(Role::Dim))));
            }
            lines
        }
        None => vec![Line::from(Span::styled("no runbook matches", theme.style(Role::Dim)))],
    };
    frame.render_widget(
        Paragraph::new(preview).wrap(Wrap { trim: false }).block(block("preview", theme)),
        preview_area,
    );
    hyperlink::apply(frame.buffer_mut(), preview_area, &targets, model.hyperlinks);
}

fn symbol(status: &Status, current: bool) -> (&'static str, Role) {
    match status {
        Status::Passed => ("✓", Role::Passed),
        Status::Failed { tolerated: true, .. } => ("✗", Role::Warning),
        Status::Failed { .. } => ("✗", Role::Failed),
        Status::Running => ("◐", Role::Running),
        Status::Skipped(_) => ("↷", Role::Skipped),
        Status::Cancelled(_) => ("⊘", Role::Failed),
        Status::Interrupted => ("?", Role::Warning),
        Status::Pending if current => ("▸", Role::Current),
        Status::Pending => ("○", Role::Dim),
    }
}

/// The run view's layout for the model as it is now; `update` uses it to map mouse clicks.
pub fn run_layout(model: &Model, area: Rect) -> RunLayout {
    let detail =
        model.run.as_ref().map(|rs| detail_lines(rs, model.now_ms, &Theme::no_color())).unwrap_or_default();
    layout::run_layout(model, area, &detail)
}

/// The screen area without the status bar.
pub fn main_area(area: Rect) -> Rect {
    let [main, _] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    main
}

/// A short form of a run id for narrow places: its start time (`20261123T100000Z`), a
/// prefix that `--resume` and `export` accept; the full id is one key away (copy).
pub fn short_run_id(id: &str) -> &str {
    id.split_once('-').map_or(id, |(stamp, _)| stamp)
}

/// How a waiting check is doing: probes so far, passes in a row of those needed, time left.
fn check_progress(rs: &RunScreen, i: usize, now_ms: u64) -> Option<(String, String)> {
    let step = &rs.run.runbook().steps[i];
    let state = &rs.run.steps()[i];
    let (Action::Check(check), Status::Running) = (&step.action, &state.status) else { return None };
    let wait = check.wait?;
    let passes = format!("{}/{} passes", state.passes, wait.passes);
    let left = rs.checks_started.get(&step.id).map(|started| {
        let spent = now_ms.saturating_sub(*started);
        let left = (wait.timeout.as_millis() as u64).saturating_sub(spent);
        format!("{} left", crate::runbook::duration::format(std::time::Duration::from_secs(left / 1000)))
    });
    let short = [Some(passes.clone()), left.clone()].into_iter().flatten().collect::<Vec<_>>().join(" · ");
    let long = [Some(format!("attempt {}", state.attempts.max(1))), Some(passes), left]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    Some((short, long))
}

/// The selected step's detail: what it does (the resolved command or check), its
/// instructions, and how it stands.
fn detail_lines(rs: &RunScreen, now_ms: u64, theme: &Theme) -> Vec<Line<'static>> {
    detail_and_links(rs, now_ms, theme).0
}

/// The step detail, and the hyperlink targets of its body's links.
fn detail_and_links(rs: &RunScreen, now_ms: u64, theme: &Theme) -> (Vec<Line<'static>>, Vec<Option<String>>) {
    let mut targets = Vec::new();
    let run = &rs.run;
    let step = &run.runbook().steps[rs.selected];
    let state = &run.steps()[rs.selected];
    let mut detail: Vec<Line> = Vec::new();
    // What the step does comes first: the resolved command or check, then the instructions.
    match &step.action {
        Action::Command(c) => {
            let shown = state.shown.clone().unwrap_or_else(|| run.preview(&c.run));
            for l in shown.lines() {
                detail.push(Line::from(vec![
                    Span::styled("$ ", theme.style(Role::Dim)),
                    Span::styled(l.to_owned(), theme.style(Role::Current)),
                ]));
            }
        }
        Action::Check(c) => {
            let shown = state.shown.clone().unwrap_or_else(|| run.preview(c.probe.target.template()));
            detail.push(Line::from(Span::styled(format!("check {shown}"), theme.style(Role::Current))));
        }
        Action::Choice(options) => {
            for (i, o) in options.iter().enumerate() {
                detail.push(Line::from(vec![
                    Span::styled(format!("[{}] ", i + 1), theme.style(Role::Current)),
                    Span::raw(o.label.clone()),
                ]));
            }
        }
        Action::Manual => {}
    }
    if let Some(body) = &step.body {
        let (lines, shown) = crate::markdown::lines_and_links(&run.preview(body), theme);
        detail.extend(lines);
        // Only links the runbook wrote out: a placeholder's value (a capture is command
        // output) never becomes one.
        let written = crate::markdown::render(body.source(), &Theme::no_color()).links;
        targets = hyperlink::targets(&shown, &written);
    }
    match &state.status {
        Status::Failed { reason, .. } => {
            detail.push(Line::from(Span::styled(format!("✗ {reason}"), theme.style(Role::Failed))))
        }
        Status::Skipped(reason) => {
            detail.push(Line::from(Span::styled(format!("skipped: {reason}"), theme.style(Role::Skipped))))
        }
        Status::Cancelled(reason) => {
            detail.push(Line::from(Span::styled(format!("⊘ {reason}"), theme.style(Role::Failed))))
        }
        Status::Interrupted => detail.push(Line::from(Span::styled(
            "? interrupted: it was running when the runner stopped, and its outcome is unknown",
            theme.style(Role::Warning),
        ))),
        _ => {}
    }
    if let Some((_, progress)) = check_progress(rs, rs.selected, now_ms) {
        detail.push(Line::from(Span::styled(progress, theme.style(Role::Running))));
    }
    if let Some(reason) = state.last_reason.as_ref().filter(|_| state.status == Status::Running) {
        detail.push(Line::from(Span::styled(format!("last probe: {reason}"), theme.style(Role::Dim))));
    }
    if let Some(observed) = &state.observed {
        detail.push(Line::from(Span::styled(
            format!("observed: {}", crate::text::escape_controls(observed)),
            theme.style(if observed.contains('✓') { Role::Passed } else { Role::Failed }),
        )));
    }
    if let Some(a) = run.alert() {
        detail.push(Line::from(Span::styled(
            format!(
                "for alert {} ({})",
                crate::text::escape_controls(&a.alertname),
                crate::text::escape_controls(&a.fingerprint)
            ),
            theme.style(Role::Dim),
        )));
    }
    // Captures (command output) reach commands, bodies and reasons through placeholders.
    crate::ansi::scrub(&mut detail);
    (detail, targets)
}

fn run(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(rs) = &model.run else { return };
    let run = &rs.run;
    let env = run.environment();
    let (detail, targets) = detail_and_links(rs, model.now_ms, theme);
    let layout = layout::run_layout(model, area, &detail);
    let RunLayout { banner, strip, list: list_area, list_first, health: health_area, .. } = layout;
    let done = run.steps().iter().filter(|s| s.status.is_done()).count();
    let total = run.steps().len();
    let role = if env.protected { Role::BannerProtected } else { Role::Banner };
    let protected = match (env.protected, rs.watching.is_some()) {
        (true, true) => " PROTECTED │ WATCHING",
        (true, false) => " PROTECTED",
        (false, true) => " │ WATCHING",
        (false, false) => "",
    };
    // The run id is never cut: the title gives way, and when even that leaves too little,
    // the id's short form (its start time) is shown; `Y` copies the full one.
    let left =
        format!(" {}{protected} │ {} │ {done}/{total} │ ", env.name.to_uppercase(), run.runbook().title);
    let full = format!("run {} ", rs.run_id);
    let width = banner.width as usize;
    // The full id when the environment and some of the title still fit beside it.
    let id =
        if full.chars().count() + 24 <= width { full } else { format!("run {} ", short_run_id(&rs.run_id)) };
    let room = width.saturating_sub(id.chars().count());
    let left: String = if left.chars().count() > room {
        left.chars().take(room.saturating_sub(3)).chain(" … ".chars()).take(room).collect()
    } else {
        left
    };
    frame.render_widget(Paragraph::new(format!("{left}{id}")).style(theme.style(role)), banner);

    if let Some(strip) = strip {
        health_strip(model, theme, frame, strip);
    }
    // The checklist: only the rows in view, around the selection, the cursor and the running step.
    let cursor = run.cursor();
    let rows = list_area.height.saturating_sub(2) as usize;
    let items: Vec<ListItem> = run
        .runbook()
        .steps
        .iter()
        .zip(run.steps())
        .enumerate()
        .skip(list_first)
        .take(rows)
        .map(|(i, (step, state))| {
            let (sym, role) = symbol(&state.status, cursor == Some(i));
            let branch = i > 0 && run.runbook().steps[..i].iter().any(|s| s.end);
            let indent = if branch { "  ↳ " } else { "" };
            let duration =
                state.duration_ms.filter(|d| *d > 0).map(|d| format!(" {}", ms(d))).unwrap_or_default();
            let progress =
                check_progress(rs, i, model.now_ms).map(|(p, _)| format!(" · {p}")).unwrap_or_default();
            // What a prometheus check measured, beside the step: "0.012 < 0.05 ✓".
            let observed = state
                .observed
                .as_ref()
                .map(|o| format!(" {}", crate::text::escape_controls(o)))
                .unwrap_or_default();
            let observed_role = if observed.contains('✓') { Role::Passed } else { Role::Failed };
            let line = Line::from(vec![
                Span::styled(format!("{sym} "), theme.style(role)),
                Span::styled(indent.to_string(), theme.style(Role::Dim)),
                Span::styled(
                    // A title may hold a capture, which is command output: never a control character.
                    crate::ansi::printable(&run.preview(&step.title)).into_owned(),
                    theme.style(if cursor == Some(i) { Role::Current } else { Role::Text }),
                ),
                Span::styled(observed, theme.style(observed_role)),
                Span::styled(duration, theme.style(Role::Dim)),
                Span::styled(progress, theme.style(Role::Running)),
            ]);
            let style = if i == rs.selected { theme.style(Role::Selected) } else { Style::default() };
            ListItem::new(line).style(style)
        })
        .collect();
    let above = list_first;
    let below = total.saturating_sub(list_first + items.len());
    let mut list_block = block_owned(format!("steps {done}/{total}"), theme);
    if above > 0 {
        list_block = list_block.title(Line::from(format!(" ↑ {above} more ")).right_aligned());
    }
    if below > 0 {
        list_block = list_block.title_bottom(Line::from(format!(" ↓ {below} more ")).right_aligned());
    }
    frame.render_widget(List::new(items).block(list_block), list_area);

    // Detail and output.
    let step = &run.runbook().steps[rs.selected];
    let state = &run.steps()[rs.selected];
    let max_scroll = layout.detail_max_scroll();
    let scroll = rs.detail_scroll.min(max_scroll);
    let title = crate::ansi::printable(&run.preview(&step.title)).into_owned();
    let mut detail_block = block(&title, theme);
    if max_scroll > 0 {
        let more = match (scroll > 0, scroll < max_scroll) {
            (true, true) => " ↑↓ more: [ ] ",
            (true, false) => " ↑ more: [ ",
            _ => " ↓ more: ] ",
        };
        detail_block = detail_block.title_bottom(Line::from(more).right_aligned());
    }
    frame.render_widget(
        Paragraph::new(detail)
            .wrap(Wrap { trim: false })
            .scroll((scroll.min(u16::MAX as usize) as u16, 0))
            .block(detail_block),
        layout.detail,
    );
    hyperlink::apply(frame.buffer_mut(), layout.detail, &targets, model.hyperlinks);
    let output = rs.outputs.get(&step.id);
    if let Some(output_area) = layout.output {
        let height = output_area.height.saturating_sub(2) as usize;
        let lines: Vec<Line> = output
            .map(|o| {
                let end = o.lines.len().saturating_sub(rs.scroll);
                let start = end.saturating_sub(height);
                o.lines
                    .range(start..end)
                    .map(|(stream, text, runs)| {
                        let hit = rs
                            .search
                            .as_ref()
                            .is_some_and(|q| text.to_lowercase().contains(&q.to_lowercase()));
                        let role = if hit {
                            Role::Match
                        } else if *stream == Stream::Stderr {
                            Role::Stderr
                        } else {
                            Role::Text
                        };
                        // A search hit shows in the match style whatever colours the command chose.
                        if hit || runs.is_empty() {
                            return Line::from(Span::styled(text.clone(), theme.style(role)));
                        }
                        crate::ansi::styled_line(text, runs, theme.style(role), theme.color())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let exit = state.exit.map(|e| format!(" exit {e} ")).unwrap_or_default();
        // A line still being written is not shown until it ends; say how much of it came.
        // Long lines keep only their start and end: say so, since the cut is off to the right.
        let pending = output
            .map(|o| match (o.pending_bytes(), o.cut_bytes) {
                (b, _) if b >= 1024 => format!(" receiving a line: {} KiB ", b / 1024),
                (_, cut) if cut > 0 => {
                    format!(" long lines cut: {cut} bytes not shown (the step log has all) ")
                }
                _ => String::new(),
            })
            .unwrap_or_default();
        let follow = if rs.scroll == 0 { "" } else { " (scrolled: f follows)" };
        frame.render_widget(
            Paragraph::new(lines).block(
                block(&format!("output{follow}"), theme)
                    .title_bottom(Line::from(pending).left_aligned())
                    .title_bottom(Line::from(exit).right_aligned()),
            ),
            output_area,
        );
    }
    if let Some(h) = health_area {
        health(model, theme, frame, h);
    }
}

fn block_owned(title: String, theme: &Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Span::styled(format!(" {title} "), theme.style(Role::Title)))
}

fn ms(ms: u64) -> String {
    if ms < 1000 { format!("{ms}ms") } else { format!("{:.1}s", ms as f64 / 1000.0) }
}
