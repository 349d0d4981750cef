//! Where the run view's panes go, sized to what they hold; shared by `render` and by
//! `update` (mouse hit-testing), so both agree on every rectangle.
//!
//! Nothing here panics at any size: rectangles are computed with saturating arithmetic and
//! every pane may end up empty when the terminal is tiny (below [`MIN_WIDTH`] x
//! [`MIN_HEIGHT`] the screen shows a notice instead).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::model::Model;
use crate::runbook::Action;

/// Below this size the screen only says it is too small: nothing useful fits.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Where the run view's panes go.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLayout {
    pub banner: Rect,
    /// The one-line health strip of narrow terminals.
    pub strip: Option<Rect>,
    /// The checklist, borders included.
    pub list: Rect,
    /// The first step shown in the list: it scrolls to keep the work in view.
    pub list_first: usize,
    /// The selected step's command, instructions and state.
    pub detail: Rect,
    /// Rows the detail's text takes once wrapped, for scrolling.
    pub detail_rows: usize,
    /// The selected step's output; none for a step that has none to show.
    pub output: Option<Rect>,
    pub health: Option<Rect>,
}

impl RunLayout {
    /// The furthest the detail can scroll: the rows that do not fit.
    pub fn detail_max_scroll(&self) -> usize {
        self.detail_rows.saturating_sub(self.detail.height.saturating_sub(2) as usize)
    }
}

/// Splits `total` rows between panes given as (minimum, wanted) heights, in priority order:
/// minimums first, then equal shares of what is left until each has what it wants; rows no
/// pane wants go to the last one, so the panes always fill the area.
pub fn share(total: u16, panes: &[(u16, u16)]) -> Vec<u16> {
    let mut got = vec![0u16; panes.len()];
    let mut left = total;
    for (g, (min, want)) in got.iter_mut().zip(panes) {
        *g = (*min).min(*want).min(left);
        left -= *g;
    }
    loop {
        let hungry: Vec<usize> = (0..panes.len()).filter(|&i| got[i] < panes[i].1).collect();
        if hungry.is_empty() || left == 0 {
            break;
        }
        let each = (left / hungry.len() as u16).max(1);
        for i in hungry {
            let g = each.min(panes[i].1 - got[i]).min(left);
            got[i] += g;
            left -= g;
        }
    }
    if let Some(last) = got.last_mut() {
        *last += left;
    }
    got
}

/// The first of `len` rows to show in `rows` rows so that `must` is in view, and the
/// `anchors` too when they fit with it; what is in view is centred in the spare rows, so
/// there is context above and below.
pub fn list_window(len: usize, rows: usize, must: usize, anchors: &[usize]) -> usize {
    if rows == 0 || len <= rows {
        return 0;
    }
    let all = || anchors.iter().copied().chain([must]);
    let (lo, hi) = (all().min().unwrap_or(must), all().max().unwrap_or(must));
    let start = if hi - lo < rows {
        lo.saturating_sub((rows - (hi - lo + 1)) / 2)
    } else {
        must.saturating_sub(rows / 2)
    };
    start.min(len - rows)
}

/// Stacks rectangles of the given heights from the top of `area`.
fn stack(area: Rect, heights: &[u16]) -> Vec<Rect> {
    let mut y = area.y;
    heights
        .iter()
        .map(|h| {
            let h = (*h).min(area.bottom().saturating_sub(y));
            let r = Rect { x: area.x, y, width: area.width, height: h };
            y += h;
            r
        })
        .collect()
}

/// The run view's layout for the current model. `detail` is the selected step's detail text
/// (how many rows it takes decides the detail pane's height).
pub fn run_layout(model: &Model, area: Rect, detail: &[Line]) -> RunLayout {
    let Some(rs) = &model.run else { return RunLayout::default() };
    let [banner, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let alerts_shown = model.alerts.configured && model.alerts.env == model.health.env;
    let show_health = model.health.visible && (!model.health.monitors.is_empty() || alerts_shown);
    // Wide terminals get the side pane; narrow ones a one-line strip of monitor states.
    let (work, strip, health) = if show_health && body.width >= 100 {
        // Room for a monitor's title beside its state and figures; wider on wide terminals.
        let pane = (body.width / 4 + 6).clamp(36, 48);
        let [w, h] = Layout::horizontal([Constraint::Min(60), Constraint::Length(pane)]).areas(body);
        (w, None, Some(h))
    } else if show_health {
        let [strip, w] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(body);
        (w, Some(strip), None)
    } else {
        (body, None, None)
    };

    let steps = rs.run.runbook().steps.len();
    let step = &rs.run.runbook().steps[rs.selected];
    let output_lines = rs.outputs.get(&step.id).map_or(0, |o| o.lines.len());
    // A command always has an output pane (it fills while it runs); other steps only when
    // they have output, so a manual step gives those rows to the list and the detail.
    let has_output = output_lines > 0 || matches!(step.action, Action::Command(_));
    let clamp = |n: usize| n.min(u16::MAX as usize) as u16;
    let list_want = clamp(steps + 2);
    let output_want = clamp(output_lines.max(1) + 2);
    let wide = work.width >= 90;
    let list_width = if wide { work.width * 38 / 100 } else { work.width };
    let right_width = if wide { work.width - list_width } else { work.width };
    let detail_rows = Paragraph::new(detail.to_vec())
        .wrap(Wrap { trim: false })
        .line_count(right_width.saturating_sub(2).max(1));
    let detail_want = clamp(detail_rows + 2);

    let (list, detail, output) = if wide {
        let list = Rect { width: list_width, ..work };
        let right = Rect { x: work.x + list_width, width: right_width, ..work };
        let mut panes = vec![(3, detail_want)];
        if has_output {
            panes.push((3, output_want));
        }
        let rects = stack(right, &share(right.height, &panes));
        (list, rects[0], rects.get(1).copied())
    } else {
        let mut panes = vec![(5, list_want), (3, detail_want)];
        if has_output {
            panes.push((3, output_want));
        }
        let rects = stack(work, &share(work.height, &panes));
        (rects[0], rects[1], rects.get(2).copied())
    };
    let rows = list.height.saturating_sub(2) as usize;
    let mut anchors: Vec<usize> = rs.run.cursor().into_iter().collect();
    anchors.extend(rs.running());
    let list_first = list_window(steps, rows, rs.selected, &anchors);
    RunLayout { banner, strip, list, list_first, detail, detail_rows, output, health }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_give_minimums_first_then_what_each_wants() {
        assert_eq!(share(20, &[(5, 32), (3, 6), (3, 100)]), vec![8, 6, 6]);
        assert_eq!(share(20, &[(5, 7), (3, 6)]), vec![7, 13], "spare rows go to the last pane");
        assert_eq!(share(4, &[(5, 32), (3, 6), (3, 100)]), vec![4, 0, 0]);
        assert_eq!(share(0, &[(5, 32)]), vec![0]);
    }

    #[test]
    fn the_window_keeps_the_selection_and_the_cursor_in_view() {
        assert_eq!(list_window(30, 40, 3, &[]), 0, "everything fits");
        let first = list_window(30, 5, 20, &[20]);
        assert!((first..first + 5).contains(&20), "{first}");
        assert!(first > 15, "the current step has context below it too: {first}");
        // The selection (at the top) and the running step far apart: the selection wins.
        let first = list_window(30, 5, 2, &[25]);
        assert!((first..first + 5).contains(&2));
        assert_eq!(list_window(30, 5, 29, &[29]), 25, "never past the end");
        assert_eq!(list_window(30, 0, 29, &[]), 0);
    }
}
