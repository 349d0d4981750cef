//! The health pane (wide terminals) and strip (narrow ones): each monitor's state, latency,
//! time in state and recent latencies.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

use super::block;
use crate::app::model::Model;
use crate::health::State;
use crate::theme::{Role, Theme};

pub(super) fn health(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let title = format!("health · {}", model.health.env);
    let outer = block(&title, theme);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let n = model.health.monitors.len();
    let alerts_rows = alert_lines(model, theme, inner.width as usize);
    let constraints = model
        .health
        .monitors
        .iter()
        .map(|_| Constraint::Length(3))
        .chain(std::iter::once(Constraint::Length(alerts_rows.len() as u16)))
        .chain(std::iter::once(Constraint::Min(0)));
    let rows = Layout::vertical(constraints).split(inner);
    if !alerts_rows.is_empty() {
        frame.render_widget(Paragraph::new(alerts_rows), rows[n]);
    }
    for (m, row) in model.health.monitors.iter().zip(rows.iter()) {
        let (sym, role) = monitor_symbol(m.state);
        let since = in_state(model.now_ms.saturating_sub(m.since_ms) / 1000);
        let latency = m.last.as_ref().map(|s| format!("{}ms", s.latency_ms)).unwrap_or_default();
        let [head, detail] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(*row);
        // The numbers are right-aligned and never cut; the title gives way.
        let right = format!(" {latency:>6} {since:>3}");
        // A title as wide as its room still keeps a space before the state ("API healthup").
        let title_width = (head.width as usize).saturating_sub(2 + 1 + 9 + right.chars().count());
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!("{sym} "), theme.style(role)),
                Span::styled(
                    format!("{} ", crate::text::fit(&crate::text::escape_controls(&m.title), title_width)),
                    theme.style(Role::Text),
                ),
                Span::styled(format!("{:<9}", m.state.to_string()), theme.style(role)),
                Span::styled(right, theme.style(Role::Dim)),
            ])),
            head,
        );
        if let Some(observed) = m.last.as_ref().and_then(|s| s.observed.as_ref()) {
            // A prometheus monitor shows what it measured.
            let role = if m.state == State::Up { Role::Dim } else { role };
            let text = crate::text::escape_controls(observed);
            frame.render_widget(Paragraph::new(Span::styled(format!("  {text}"), theme.style(role))), detail);
        } else if m.state == State::Down || m.state == State::Degraded {
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

/// The environment's firing alerts under the monitors: a heading, then name, severity
/// (coloured) and age per alert; a line saying why they could not be read.
fn alert_lines(model: &Model, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let a = &model.alerts;
    if !a.configured || a.env != model.health.env {
        return vec![];
    }
    let mut lines = vec![Line::from(Span::styled(
        format!("alerts · {} firing", a.list.len()),
        theme.style(if a.list.is_empty() { Role::Dim } else { Role::Title }),
    ))];
    if let Some(why) = &a.error {
        let text: String = crate::text::escape_controls(why).chars().take(width.saturating_sub(2)).collect();
        lines.push(Line::from(Span::styled(format!("  {text}"), theme.style(Role::Warning))));
    }
    for al in &a.list {
        let role = super::dialog::severity_role(al.severity());
        let age = crate::alerts::short_age(a.age_secs(al, model.now_ms));
        let sev: String = al.severity().chars().take(8).collect();
        let name_w = width.saturating_sub(2 + 9 + 5);
        lines.push(Line::from(vec![
            Span::styled("▲ ", theme.style(role)),
            Span::styled(
                format!("{:<name_w$.name_w$}", crate::text::escape_controls(&al.alertname)),
                theme.style(Role::Text),
            ),
            Span::styled(format!(" {:<8}", crate::text::escape_controls(&sev)), theme.style(role)),
            Span::styled(format!("{age:>4}"), theme.style(Role::Dim)),
        ]));
    }
    lines.push(Line::from(Span::styled("a: the list (enter: its runbook)", theme.style(Role::Dim))));
    lines
}

/// Time in state in at most four columns: 59s, 12m, 3h, 2d.
fn in_state(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

pub(super) fn monitor_symbol(state: State) -> (&'static str, Role) {
    match state {
        State::Up => ("●", Role::Up),
        State::Degraded => ("◐", Role::Degraded),
        State::Down => ("●", Role::Down),
        State::Unknown => ("○", Role::Unknown),
    }
}

pub(super) fn health_strip(model: &Model, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(format!("{} ", model.health.env), theme.style(Role::Dim))];
    for m in &model.health.monitors {
        let (sym, role) = monitor_symbol(m.state);
        spans.push(Span::styled(format!("{sym} "), theme.style(role)));
        spans.push(Span::styled(format!("{} {}  ", m.title, m.state), theme.style(role)));
    }
    let a = &model.alerts;
    if a.configured && a.env == model.health.env && !a.list.is_empty() {
        let worst = a
            .list
            .iter()
            .map(|al| super::dialog::severity_role(al.severity()))
            .find(|r| *r == Role::Down)
            .unwrap_or(Role::Degraded);
        spans.push(Span::styled(format!("▲ {} firing (a)", a.list.len()), theme.style(worst)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
