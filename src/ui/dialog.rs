//! Dialogs drawn over the screen: confirmations, reasons, help, timeline, parity, setup.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{block, monitor_symbol};
use crate::app::model::{Dialog, Model};
use crate::health::State;
use crate::run::Confirmation;
use crate::runbook::Action;
use crate::theme::{Role, Theme};

/// Lines of a command shown in a confirmation before the rest is summarised.
const CONFIRM_COMMAND_LINES: usize = 12;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// The first row of `total` to show in `height` rows, `back` rows up from the end.
pub fn first_row(total: usize, height: usize, back: usize) -> usize {
    total.saturating_sub(height).saturating_sub(back)
}

/// What a confirmation is about: the step, the command it will run as rendered now (secrets
/// masked), and the environment, so the user approves what they can see.
fn confirm_lines(model: &Model, kind: &Confirmation, typed: &str, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(rs) = &model.run
        && let Some(step) = rs.run.current()
    {
        lines.push(Line::from(vec![
            Span::styled("step  ", theme.style(Role::Dim)),
            Span::styled(rs.run.preview(&step.title), theme.style(Role::Title)),
        ]));
        let shown = match &step.action {
            Action::Command(c) => {
                rs.run.prepare_command(step).map(|p| p.shown).unwrap_or_else(|_| rs.run.preview(&c.run))
            }
            _ => String::new(),
        };
        let count = shown.lines().count();
        for l in shown.lines().take(CONFIRM_COMMAND_LINES) {
            lines.push(Line::from(vec![
                Span::styled("$ ", theme.style(Role::Dim)),
                Span::styled(l.to_owned(), theme.style(Role::Current)),
            ]));
        }
        if count > CONFIRM_COMMAND_LINES {
            lines.push(Line::from(Span::styled(
                format!("  … {} more lines (the detail pane shows them all)", count - CONFIRM_COMMAND_LINES),
                theme.style(Role::Dim),
            )));
        }
        let env = rs.run.environment();
        let protected = if env.protected { " (protected)" } else { "" };
        lines.push(Line::from(vec![
            Span::styled("in    ", theme.style(Role::Dim)),
            Span::styled(
                format!("{}{protected}", env.name),
                theme.style(if env.protected { Role::Failed } else { Role::Current }),
            ),
        ]));
        lines.push(Line::from(""));
    }
    match kind {
        Confirmation::YesNo => lines.push(Line::from("Run this step? y / n")),
        Confirmation::TypeEnvironment(env) => {
            lines.push(Line::from(Span::styled(
                format!("This runs in {env}, a protected environment."),
                theme.style(Role::Failed),
            )));
            lines.push(Line::from(format!("Type '{env}' and press Enter to confirm, Esc to cancel:")));
            lines.push(Line::from(format!("› {typed}▏")));
        }
    }
    lines
}

pub fn dialog(d: &Dialog, model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    if let Dialog::Setup(setup) = d {
        return setup_form(setup, theme, frame, area);
    }
    let (title, lines): (&str, Vec<Line>) = match d {
        Dialog::Confirm { kind: Confirmation::YesNo, typed, .. } => {
            ("confirm", confirm_lines(model, &Confirmation::YesNo, typed, theme))
        }
        Dialog::Confirm { kind: kind @ Confirmation::TypeEnvironment(_), typed, .. } => {
            ("protected environment", confirm_lines(model, kind, typed, theme))
        }
        Dialog::Skip { reason } => {
            ("skip step", vec![Line::from("Why skip it? (journaled)"), Line::from(format!("› {reason}▏"))])
        }
        Dialog::Note { text } => {
            ("note", vec![Line::from("Add a note to the journal:"), Line::from(format!("› {text}▏"))])
        }
        Dialog::StillRunning { run_id, step, pids, waiting } => (
            "still running",
            vec![
                Line::from(format!("Step '{step}' of run {run_id} is still running")),
                Line::from(format!("from the runner that stopped (pids {pids:?}).")),
                Line::from("It is never started a second time beside itself."),
                Line::from(""),
                Line::from(if *waiting {
                    "waiting for it to end… (s stop · l leave · esc close)"
                } else {
                    "w wait for it · s stop it · l leave it running · esc close"
                }),
                Line::from("(after stop or leave its outcome is unknown: r re-runs, space marks done)"),
            ],
        ),
        Dialog::MarkDone { note } => (
            "mark done",
            vec![
                Line::from("Mark it done without running it. Why? (journaled)"),
                Line::from(format!("› {note}▏")),
            ],
        ),
        Dialog::Search { query } => ("search the output", vec![Line::from(format!("/ {query}▏"))]),
        Dialog::Quit => {
            // The step may end while the question is open: then there is nothing to kill.
            let running = model.run.as_ref().is_some_and(|rs| rs.running().is_some());
            let question = if running {
                "A step is running. Quit and kill it? y / n"
            } else {
                "The step has ended. Quit? y / n"
            };
            ("quit", vec![Line::from(question), Line::from("The run stays resumable.")])
        }
        Dialog::Help => {
            ("keys", model.keymap.help().iter().map(|(k, w)| Line::from(format!("{k:<14} {w}"))).collect())
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
        Dialog::Timeline { rows, back } => return timeline(rows, *back, theme, frame, area),
        Dialog::Alerts { selected } => return alerts(model, *selected, theme, frame, area),
    };
    // Sized to the wrapped text; when it cannot all fit, the end shows (a confirmation's
    // prompt and what was typed matter more than its first lines).
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let width = 76.min(area.width);
    let rows = paragraph.line_count(width.saturating_sub(2).max(1));
    let rect = centered(area, width, (rows + 2).min(u16::MAX as usize) as u16);
    let overflow = (rows + 2).saturating_sub(rect.height as usize).min(u16::MAX as usize) as u16;
    frame.render_widget(Clear, rect);
    frame.render_widget(paragraph.scroll((overflow, 0)).block(block(title, theme)), rect);
}

/// The colour of an alert's severity: critical and page red, warning amber, others dim.
pub(super) fn severity_role(severity: &str) -> Role {
    match severity.to_ascii_lowercase().as_str() {
        "critical" | "page" | "error" | "high" => Role::Down,
        "warning" | "warn" | "medium" => Role::Degraded,
        _ => Role::Unknown,
    }
}

/// The alert list: name, severity, age, the runbook that answers it; the selected alert's
/// summary and labels below. Enter opens its runbook.
fn alerts(model: &Model, selected: usize, theme: &Theme, frame: &mut Frame, area: Rect) {
    use crate::text::escape_controls as esc;
    let a = &model.alerts;
    let width = area.width.saturating_sub(4).min(110);
    let inner = width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    if let Some(why) = &a.error {
        lines.push(Line::from(Span::styled(esc(why).into_owned(), theme.style(Role::Warning))));
    }
    if a.list.is_empty() {
        let text = if a.read_at.is_none() { "reading the alerts…" } else { "nothing is firing" };
        lines.push(Line::from(Span::styled(text, theme.style(Role::Dim))));
    }
    let visible = area.height.saturating_sub(12).max(3) as usize;
    let first = selected.saturating_sub(visible.saturating_sub(1));
    for (i, al) in a.list.iter().enumerate().skip(first).take(visible) {
        let sel = i == selected;
        let role = severity_role(al.severity());
        let age = crate::alerts::short_age(a.age_secs(al, model.now_ms));
        let book = al.runbook.as_deref().map_or_else(|| "— no runbook".to_owned(), |r| format!("→ {r}"));
        let name_w = inner.saturating_sub(2 + 10 + 5 + 2).min(36);
        let style = |r: Role| if sel { theme.style(Role::Selected) } else { theme.style(r) };
        lines.push(Line::from(vec![
            Span::styled(if sel { "▸ " } else { "  " }, style(Role::Current)),
            Span::styled(format!("{:<name_w$.name_w$} ", esc(&al.alertname)), style(Role::Text)),
            Span::styled(format!("{:<9.9} ", esc(al.severity())), style(role)),
            Span::styled(format!("{age:>4} "), style(Role::Dim)),
            Span::styled(book, style(if al.runbook.is_some() { Role::Current } else { Role::Dim })),
        ]));
    }
    if let Some(al) = a.list.get(selected) {
        lines.push(Line::from(""));
        if !al.summary().is_empty() {
            lines.push(Line::from(Span::styled(esc(al.summary()).into_owned(), theme.style(Role::Text))));
        }
        let labels: Vec<String> = al
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={}", esc(v)))
            .collect();
        lines.push(Line::from(Span::styled(labels.join(" "), theme.style(Role::Dim))));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "↑↓ select · enter open its runbook (inputs from the labels) · r read again · esc close",
        theme.style(Role::Dim),
    )));
    let title = format!("alerts · {} · {} firing", a.env, a.list.len());
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = paragraph.line_count(width.saturating_sub(2).max(1));
    let rect = centered(area, width, (rows + 2).min(u16::MAX as usize) as u16);
    frame.render_widget(Clear, rect);
    frame.render_widget(paragraph.block(block(&title, theme)), rect);
}

/// The timeline overlay: the newest rows by default, scrolled with ↑↓/pgup/pgdn/wheel.
fn timeline(rows: &[[String; 4]], back: usize, theme: &Theme, frame: &mut Frame, area: Rect) {
    let height = area.height.saturating_sub(4) as usize;
    let visible = height.saturating_sub(2);
    let first = first_row(rows.len(), visible, back);
    let lines: Vec<Line> = rows
        .iter()
        .skip(first)
        .take(visible)
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
    let above = first;
    let below = rows.len().saturating_sub(first + lines.len());
    let mut more = Vec::new();
    if above > 0 {
        more.push(format!("↑ {above} more"));
    }
    if below > 0 {
        more.push(format!("↓ {below} more"));
    }
    let rect = centered(area, area.width.saturating_sub(4), lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    let mut outer = block("timeline (UTC) · ↑↓ pgup/pgdn scroll · esc closes", theme);
    if !more.is_empty() {
        outer = outer.title_bottom(Line::from(format!(" {} ", more.join(" · "))).right_aligned());
    }
    frame.render_widget(Paragraph::new(lines).block(outer), rect);
}

/// How a secret's value shows in the form: a fixed-width mask, so not even its length shows.
const SECRET_MASK: &str = "••••••••";

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
        let shown = match (f.secret, f.value.is_empty()) {
            (true, false) => SECRET_MASK.to_owned(),
            (true, true) => String::new(),
            (false, _) => f.value.clone(),
        };
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
    let title = match &setup.resume {
        // Secrets are never in the journal: a resume asks for them again.
        Some(run) => format!("resume run {run}: type the secrets again"),
        None => format!("start: {}", setup.runbook.title),
    };
    let rect = centered(area, 80, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    // No wrapping: every row is one line, so the form's height is exact; long descriptions are cut.
    frame.render_widget(Paragraph::new(lines).block(block(&title, theme)), rect);
}
