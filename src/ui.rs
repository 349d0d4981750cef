//! Rendering: pure views over `&Model`. Nothing here changes state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, Paragraph, Sparkline, Wrap};

use crate::app::keymap::{Keymap, Mode};
use crate::app::model::{Dialog, Entry, Model, Screen};
use crate::exec::command::Stream;
use crate::health::State;
use crate::run::{Confirmation, Status};
use crate::runbook::Action;
use crate::theme::{Role, Theme};

pub fn render(model: &Model, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    match model.screen {
        Screen::Picker => picker(model, theme, frame, main),
        Screen::Run => run(model, theme, frame, main),
    }
    status_bar(model, theme, frame, status);
    if let Some(d) = &model.dialog {
        dialog(d, &model.keymap, theme, frame, area);
    }
}

fn block<'a>(title: &'a str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Span::styled(format!(" {title} "), theme.style(Role::Title)))
}

fn status_bar(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let line = match &model.status {
        Some(s) => Line::from(Span::styled(s.clone(), theme.style(Role::Warning))),
        None => {
            let mode = if model.screen == Screen::Picker { Mode::Picker } else { Mode::Run };
            let mut spans = Vec::new();
            for (key, what) in model.keymap.hints(mode) {
                spans.push(Span::styled(format!(" {key} "), theme.style(Role::Selected)));
                spans.push(Span::styled(format!(" {what}  "), theme.style(Role::Dim)));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
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
                    spans.push(Span::styled(format!("{kind:<11} "), theme.style(role)));
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
            lines.extend(crate::markdown::lines(&rb.description, theme));
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
                    crate::runbook::Action::Check(_) => "✓",
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

/// Where the run view's panes go; shared with `update`, which maps mouse clicks to steps.
#[derive(Debug, Clone, Copy)]
pub struct RunLayout {
    pub banner: Rect,
    /// The one-line health strip of narrow terminals.
    pub strip: Option<Rect>,
    /// The checklist, borders included.
    pub list: Rect,
    /// Detail and output.
    pub right: Rect,
    pub health: Option<Rect>,
}

pub fn run_layout(model: &Model, area: Rect) -> RunLayout {
    let [banner, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let show_health = model.health.visible && !model.health.monitors.is_empty();
    // Wide terminals get the side pane; narrow ones a one-line strip of monitor states.
    let (work, strip, health) = if show_health && body.width >= 100 {
        let [w, h] = Layout::horizontal([Constraint::Min(60), Constraint::Length(34)]).areas(body);
        (w, None, Some(h))
    } else if show_health {
        let [strip, w] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(body);
        (w, Some(strip), None)
    } else {
        (body, None, None)
    };
    let [list, right] = if work.width < 90 {
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(work)
    } else {
        Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(work)
    };
    RunLayout { banner, strip, list, right, health }
}

/// The screen area without the status bar.
pub fn main_area(area: Rect) -> Rect {
    let [main, _] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    main
}

fn run(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(rs) = &model.run else { return };
    let run = &rs.run;
    let env = run.environment();
    let RunLayout { banner, strip, list: list_area, right, health: health_area } = run_layout(model, area);
    let done = run.steps().iter().filter(|s| s.status.is_done()).count();
    let total = run.steps().len();
    let role = if env.protected { Role::BannerProtected } else { Role::Banner };
    let protected = if env.protected { " PROTECTED" } else { "" };
    let banner_text = format!(
        " {}{protected} │ {} │ {done}/{total} │ run {}",
        env.name.to_uppercase(),
        run.runbook().title,
        rs.run_id
    );
    frame.render_widget(Paragraph::new(banner_text).style(theme.style(role)), banner);

    if let Some(strip) = strip {
        health_strip(model, theme, frame, strip);
    }
    // The checklist.
    let cursor = run.cursor();
    let items: Vec<ListItem> = run
        .runbook()
        .steps
        .iter()
        .zip(run.steps())
        .enumerate()
        .map(|(i, (step, state))| {
            let (sym, role) = symbol(&state.status, cursor == Some(i));
            let branch = i > 0 && run.runbook().steps[..i].iter().any(|s| s.end);
            let indent = if branch { "  ↳ " } else { "" };
            let duration =
                state.duration_ms.filter(|d| *d > 0).map(|d| format!(" {}", ms(d))).unwrap_or_default();
            let line = Line::from(vec![
                Span::styled(format!("{sym} "), theme.style(role)),
                Span::styled(indent.to_string(), theme.style(Role::Dim)),
                Span::styled(
                    // A title may hold a capture, which is command output: never a control character.
                    crate::ansi::printable(&run.preview(&step.title)).into_owned(),
                    theme.style(if cursor == Some(i) { Role::Current } else { Role::Text }),
                ),
                Span::styled(duration, theme.style(Role::Dim)),
            ]);
            let style = if i == rs.selected { theme.style(Role::Selected) } else { Style::default() };
            ListItem::new(line).style(style)
        })
        .collect();
    frame.render_widget(List::new(items).block(block(&format!("steps {done}/{total}"), theme)), list_area);

    // Detail and output.
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
        detail.extend(crate::markdown::lines(&run.preview(body), theme));
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
    if let Some(reason) = state.last_reason.as_ref().filter(|_| state.status == Status::Running) {
        detail.push(Line::from(Span::styled(format!("last probe: {reason}"), theme.style(Role::Dim))));
    }
    // Captures (command output) reach commands, bodies and reasons through placeholders.
    crate::ansi::scrub(&mut detail);
    let output = rs.outputs.get(&step.id);
    // Rows the detail takes once wrapped, so the instructions are not cut short.
    let inner = right.width.saturating_sub(2).max(1) as usize;
    let wrapped: usize = detail.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let detail_height = (wrapped as u16 + 2).clamp(3, right.height * 3 / 5);
    let [detail_area, output_area] =
        Layout::vertical([Constraint::Length(detail_height), Constraint::Min(3)]).areas(right);
    let title = crate::ansi::printable(&run.preview(&step.title)).into_owned();
    frame.render_widget(
        Paragraph::new(detail).wrap(Wrap { trim: false }).block(block(&title, theme)),
        detail_area,
    );
    let height = output_area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = output
        .map(|o| {
            let end = o.lines.len().saturating_sub(rs.scroll);
            let start = end.saturating_sub(height);
            o.lines
                .range(start..end)
                .map(|(stream, text, runs)| {
                    let hit =
                        rs.search.as_ref().is_some_and(|q| text.to_lowercase().contains(&q.to_lowercase()));
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
    let follow = if rs.scroll == 0 { "" } else { " (scrolled: f follows)" };
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(&format!("output{follow}"), theme).title_bottom(Line::from(exit).right_aligned())),
        output_area,
    );
    if let Some(h) = health_area {
        health(model, theme, frame, h);
    }
}

fn health(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let title = format!("health · {}", model.health.env);
    let outer = block(&title, theme);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let rows = Layout::vertical(model.health.monitors.iter().map(|_| Constraint::Length(3))).split(inner);
    for (m, row) in model.health.monitors.iter().zip(rows.iter()) {
        let (sym, role) = monitor_symbol(m.state);
        let since = model.now_ms.saturating_sub(m.since_ms) / 1000;
        let latency = m.last.as_ref().map(|s| format!("{}ms", s.latency_ms)).unwrap_or_default();
        let [head, detail] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(*row);
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!("{sym} "), theme.style(role)),
                Span::styled(format!("{:<12.12}", m.title), theme.style(Role::Text)),
                Span::styled(format!("{:<9}", m.state.to_string()), theme.style(role)),
                Span::styled(format!("{latency:>6} {since}s"), theme.style(Role::Dim)),
            ])),
            head,
        );
        if m.state == State::Down || m.state == State::Degraded {
            let why = m
                .last_error
                .clone()
                .or_else(|| m.last.as_ref().map(|s| s.reason.clone()))
                .unwrap_or_default();
            frame.render_widget(Paragraph::new(Span::styled(format!("  {why}"), theme.style(role))), detail);
        } else {
            let data: Vec<u64> = m.latencies.iter().copied().collect();
            let [_, spark] = Layout::horizontal([Constraint::Length(2), Constraint::Min(1)]).areas(detail);
            frame.render_widget(Sparkline::default().data(&data).style(theme.style(Role::Dim)), spark);
        }
    }
}

fn monitor_symbol(state: State) -> (&'static str, Role) {
    match state {
        State::Up => ("●", Role::Up),
        State::Degraded => ("◐", Role::Degraded),
        State::Down => ("●", Role::Down),
        State::Unknown => ("○", Role::Unknown),
    }
}

fn health_strip(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(format!("{} ", model.health.env), theme.style(Role::Dim))];
    for m in &model.health.monitors {
        let (sym, role) = monitor_symbol(m.state);
        spans.push(Span::styled(format!("{sym} "), theme.style(role)));
        spans.push(Span::styled(format!("{} {}  ", m.title, m.state), theme.style(role)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn ms(ms: u64) -> String {
    if ms < 1000 { format!("{ms}ms") } else { format!("{:.1}s", ms as f64 / 1000.0) }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn dialog(d: &Dialog, help_keys: &Keymap, theme: &Theme, frame: &mut Frame, area: Rect) {
    if let Dialog::Setup(setup) = d {
        return setup_form(setup, theme, frame, area);
    }
    let (title, lines): (&str, Vec<Line>) = match d {
        Dialog::Confirm { kind: Confirmation::YesNo, .. } => {
            ("confirm", vec![Line::from("Run this step? y / n")])
        }
        Dialog::Confirm { kind: Confirmation::TypeEnvironment(env), typed, .. } => (
            "protected environment",
            vec![
                Line::from(Span::styled(format!("This runs in {env}."), theme.style(Role::Failed))),
                Line::from(format!("Type '{env}' and press Enter to confirm, Esc to cancel:")),
                Line::from(format!("› {typed}▏")),
            ],
        ),
        Dialog::Skip { reason } => {
            ("skip step", vec![Line::from("Why skip it? (journaled)"), Line::from(format!("› {reason}▏"))])
        }
        Dialog::Note { text } => {
            ("note", vec![Line::from("Add a note to the journal:"), Line::from(format!("› {text}▏"))])
        }
        Dialog::Search { query } => ("search the output", vec![Line::from(format!("/ {query}▏"))]),
        Dialog::Quit => (
            "quit",
            vec![
                Line::from("A step is running. Quit and kill it? y / n"),
                Line::from("The run stays resumable."),
            ],
        ),
        Dialog::Help => {
            ("keys", help_keys.help().iter().map(|(k, w)| Line::from(format!("{k:<14} {w}"))).collect())
        }
        Dialog::Setup(_) => return,
        Dialog::Parity(None) => ("parity", vec![Line::from("probing every monitor in every environment…")]),
        Dialog::Parity(Some(table)) => {
            let cw = 28;
            let mut lines = Vec::new();
            let mut head = vec![Span::styled(format!("  {:<12}", "MONITOR"), theme.style(Role::Title))];
            head.extend(
                table
                    .envs
                    .iter()
                    .map(|e| Span::styled(format!("{:<cw$}", e.to_uppercase()), theme.style(Role::Title))),
            );
            lines.push(Line::from(head));
            for m in &table.monitors {
                let cells: Vec<Option<&crate::health::Reading>> = table
                    .envs
                    .iter()
                    .map(|e| table.readings.iter().find(|r| &r.monitor == m && &r.environment == e))
                    .collect();
                let states: Vec<Option<State>> = cells.iter().map(|c| c.map(|r| r.state)).collect();
                let differs = states.windows(2).any(|w| w[0] != w[1]);
                let mut spans = vec![Span::styled(
                    format!("{} {m:<12.12}", if differs { "≠" } else { " " }),
                    theme.style(if differs { Role::Warning } else { Role::Text }),
                )];
                for c in cells {
                    let (text, role) = match c {
                        Some(r) => (r.cell(), monitor_symbol(r.state).1),
                        None => ("—".to_owned(), Role::Dim),
                    };
                    spans.push(Span::styled(format!("{:<cw$.cw$}", text), theme.style(role)));
                }
                lines.push(Line::from(spans));
            }
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                "≠ differs between environments · — not defined there · any key closes",
                theme.style(Role::Dim),
            )));
            let width = (14 + cw * table.envs.len() + 2) as u16;
            let rect = centered(area, width.max(76), lines.len() as u16 + 2);
            frame.render_widget(Clear, rect);
            frame.render_widget(Paragraph::new(lines).block(block("parity", theme)), rect);
            return;
        }
        Dialog::Timeline(rows) => {
            let height = area.height.saturating_sub(4) as usize;
            let skip = rows.len().saturating_sub(height.saturating_sub(2));
            let lines: Vec<Line> = rows
                .iter()
                .skip(skip)
                .map(|[t, step, event, details]| {
                    let role = if event.contains('✗') {
                        Role::Failed
                    } else if event.contains('✓') {
                        Role::Passed
                    } else {
                        Role::Text
                    };
                    Line::from(vec![
                        Span::styled(format!("{t} "), theme.style(Role::Dim)),
                        Span::styled(format!("{step:<16.16} "), theme.style(Role::Current)),
                        Span::styled(format!("{event:<13} "), theme.style(role)),
                        Span::raw(details.clone()),
                    ])
                })
                .collect();
            let rect = centered(area, area.width.saturating_sub(4), lines.len() as u16 + 2);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines).block(block("timeline (UTC) · any key closes", theme)),
                rect,
            );
            return;
        }
    };
    let height = lines.len() as u16 + 2;
    let rect = centered(area, 76, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(title, theme)), rect);
}

fn setup_form(setup: &crate::app::setup::Setup, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    let focus = |row: usize| if setup.focus == row { theme.style(Role::Selected) } else { Style::default() };
    let (env, protected) = &setup.envs[setup.env];
    let env_role = if *protected { Role::Failed } else { Role::Current };
    let mark = if *protected { "  protected: confirmations need its name typed" } else { "" };
    lines.push(Line::from(vec![
        Span::styled(format!("{:<14}", "environment"), focus(0)),
        Span::styled(format!("◂ {env} ▸"), theme.style(env_role)),
        Span::styled(mark.to_owned(), theme.style(Role::Failed)),
    ]));
    for (i, f) in setup.fields.iter().enumerate() {
        let shown = if f.secret { "•".repeat(f.value.chars().count()) } else { f.value.clone() };
        let cursor = if setup.focus == i + 1 { "▏" } else { "" };
        let choices = if f.choices.is_empty() {
            String::new()
        } else {
            format!("  ◂▸ {} options", f.choices.len())
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<14}", f.name), focus(i + 1)),
            Span::raw(format!("{shown}{cursor}")),
            Span::styled(choices, theme.style(Role::Dim)),
        ]));
        if !f.description.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("{:14}{}", "", f.description),
                theme.style(Role::Dim),
            )));
        }
        if let Some(err) = &f.error {
            lines.push(Line::from(Span::styled(format!("{:14}✗ {err}", ""), theme.style(Role::Failed))));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "tab/↑↓ move · ←→ change · enter next, then start · esc cancel",
        theme.style(Role::Dim),
    )));
    let title = format!("start: {}", setup.runbook.title);
    let rect = centered(area, 80, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    // No wrapping: every row is one line, so the form's height is exact; long descriptions are cut.
    frame.render_widget(Paragraph::new(lines).block(block(&title, theme)), rect);
}
