//! The TUI without a terminal: the pure model drawn into a ratatui TestBackend, keys as the
//! messages `update` takes.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runbook::app::model::Model;
use runbook::app::update::Msg;
use runbook::theme::Theme;

/// The model drawn on a `w`x`h` terminal without colour, as text.
pub fn draw(model: &Model, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| runbook::ui::render(model, &Theme::no_color(), f)).unwrap();
    terminal.backend().to_string()
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}
