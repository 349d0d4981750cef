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
    let rows = Layout::vertical(model.health.monitors.iter().map(|_| Constraint::Length(3))).split(inner);
    for (m, row) in model.health.monitors.iter().zip(rows.iter()) {
        let (sym, role) = monitor_symbol(m.state);
        let since = in_state(model.now_ms.saturating_sub(m.since_ms) / 1000);
        let latency = m.last.as_ref().map(|s| format!("{}ms", s.latency_ms)).unwrap_or_default();
        let [head, detail] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(*row);
        // The numbers are right-aligned and never cut; the title gives way.
        let right = format!(" {latency:>6} {since:>3}");
        let title_width = (head.width as usize).saturating_sub(2 + 9 + right.chars().count());
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!("{sym} "), theme.style(role)),
                Span::styled(format!("{:<title_width$.title_width$}", m.title), theme.style(Role::Text)),
                Span::styled(format!("{:<9}", m.state.to_string()), theme.style(role)),
                Span::styled(right, theme.style(Role::Dim)),
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
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
