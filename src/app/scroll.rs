//! Scrolling the run view's panes and the timeline, and the mouse: pure, like `update`. The
//! limits come from the same layout `render` draws, so a scroll never goes past the text.

use super::model::{Dialog, Model, Screen};
use super::update::Cmd;

/// Where a scroll goes in the run view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Detail,
    Output,
}

/// Scrolls a pane of the run view by `rows` (negative: up, towards the start). Both stay
/// within their text, so scrolling back never has dead keystrokes to undo.
pub fn scroll(model: &mut Model, pane: Pane, rows: isize) {
    let (w, h) = model.size;
    let layout = crate::ui::run_layout(model, crate::ui::main_area(ratatui::layout::Rect::new(0, 0, w, h)));
    let Some(rs) = model.run.as_mut() else { return };
    match pane {
        Pane::Detail => {
            let at = rs.detail_scroll.min(layout.detail_max_scroll());
            rs.detail_scroll = at.saturating_add_signed(rows).min(layout.detail_max_scroll());
        }
        Pane::Output => {
            let id = rs.selected_id().to_owned();
            let len = rs.outputs.get(&id).map_or(0, |o| o.lines.len());
            let visible = layout.output.map_or(0, |r| r.height.saturating_sub(2) as usize);
            // `scroll` counts lines up from the end, so up is more.
            rs.scroll = rs.scroll.saturating_add_signed(-rows).min(len.saturating_sub(visible));
        }
    }
}

/// A page of the pane: its height less a line of overlap, so the reader keeps their place.
pub fn page(model: &Model, pane: Pane) -> isize {
    let (w, h) = model.size;
    let layout = crate::ui::run_layout(model, crate::ui::main_area(ratatui::layout::Rect::new(0, 0, w, h)));
    let rect = match pane {
        Pane::Detail => Some(layout.detail),
        Pane::Output => layout.output,
    };
    rect.map_or(1, |r| r.height.saturating_sub(3).max(1) as isize)
}

/// PgUp/PgDn scroll the output; a step without output has no output pane, so its detail.
pub fn paged_pane(model: &Model) -> Pane {
    let has_output = model
        .run
        .as_ref()
        .is_some_and(|rs| rs.outputs.get(rs.selected_id()).is_some_and(|o| !o.lines.is_empty()));
    if has_output { Pane::Output } else { Pane::Detail }
}

/// The wheel scrolls the pane under the pointer (the detail or the output in the run view,
/// the list in the picker, the timeline over everything); a click on a step selects it.
pub fn on_mouse(model: &mut Model, m: crossterm::event::MouseEvent) -> Vec<Cmd> {
    use crossterm::event::{MouseButton, MouseEventKind};
    let wheel = match m.kind {
        MouseEventKind::ScrollUp => -3,
        MouseEventKind::ScrollDown => 3,
        _ => 0,
    };
    if let Some(Dialog::Timeline { rows, back }) = model.dialog.as_mut() {
        let max = rows.len().saturating_sub((model.size.1 as usize).saturating_sub(6));
        *back = back.saturating_add_signed(-wheel).min(max);
        return vec![];
    }
    if model.dialog.is_some() {
        return vec![];
    }
    let (w, h) = model.size;
    let inside = |r: ratatui::layout::Rect| {
        m.column > r.x
            && m.column < r.right().saturating_sub(1)
            && m.row > r.y
            && m.row < r.bottom().saturating_sub(1)
    };
    match (model.screen, m.kind) {
        (Screen::Run, MouseEventKind::ScrollUp | MouseEventKind::ScrollDown) => {
            let layout =
                crate::ui::run_layout(model, crate::ui::main_area(ratatui::layout::Rect::new(0, 0, w, h)));
            let over_detail = layout.detail.contains(ratatui::layout::Position::new(m.column, m.row));
            let pane = if over_detail || layout.output.is_none() { Pane::Detail } else { Pane::Output };
            scroll(model, pane, wheel);
        }
        (Screen::Picker, MouseEventKind::ScrollUp) => {
            model.picker.selected = model.picker.selected.saturating_sub(1)
        }
        (Screen::Picker, MouseEventKind::ScrollDown) => {
            model.picker.selected = (model.picker.selected + 1).min(model.picker.len().saturating_sub(1));
        }
        (Screen::Run, MouseEventKind::Down(MouseButton::Left)) => {
            let layout =
                crate::ui::run_layout(model, crate::ui::main_area(ratatui::layout::Rect::new(0, 0, w, h)));
            if let Some(rs) = model.run.as_mut()
                && inside(layout.list)
            {
                let index = layout.list_first + (m.row - layout.list.y - 1) as usize;
                if index < rs.run.runbook().steps.len() {
                    rs.select(index);
                }
            }
        }
        _ => {}
    }
    vec![]
}
