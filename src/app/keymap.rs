//! Keys to actions. One documented action set; the status bar's hints come from here, so
//! they cannot disagree with what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    /// Picker: open the runbook. Run view: run or perform the current step.
    Enter,
    /// Tick the current manual step.
    Tick,
    Skip,
    Retry,
    Cancel,
    Note,
    Timeline,
    Parity,
    ToggleHealth,
    ToggleFollow,
    Help,
    Quit,
    /// Pick option N (1-based) of a choice step.
    Choose(u8),
    Back,
}

/// Which keys apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Typing goes to the search box; only non-character keys are actions.
    Picker,
    Run,
}

/// The action of a key in a mode.
pub fn action(mode: Mode, key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match (mode, key.code) {
        (_, KeyCode::Char('c')) if ctrl => Some(Action::Quit),
        (_, KeyCode::Up) => Some(Action::Up),
        (_, KeyCode::Down) => Some(Action::Down),
        (_, KeyCode::PageUp) => Some(Action::PageUp),
        (_, KeyCode::PageDown) => Some(Action::PageDown),
        (_, KeyCode::Enter) => Some(Action::Enter),
        (Mode::Picker, KeyCode::Char('p')) if ctrl => Some(Action::Up),
        (Mode::Picker, KeyCode::Char('n')) if ctrl => Some(Action::Down),
        (Mode::Picker, KeyCode::Esc) => Some(Action::Back),
        (Mode::Picker, _) => None,
        (Mode::Run, KeyCode::Char('k')) => Some(Action::Up),
        (Mode::Run, KeyCode::Char('j')) => Some(Action::Down),
        (Mode::Run, KeyCode::Char(' ')) => Some(Action::Tick),
        (Mode::Run, KeyCode::Char('s')) => Some(Action::Skip),
        (Mode::Run, KeyCode::Char('r')) => Some(Action::Retry),
        (Mode::Run, KeyCode::Char('c')) => Some(Action::Cancel),
        (Mode::Run, KeyCode::Char('n')) => Some(Action::Note),
        (Mode::Run, KeyCode::Char('t')) => Some(Action::Timeline),
        (Mode::Run, KeyCode::Char('p')) => Some(Action::Parity),
        (Mode::Run, KeyCode::Char('h')) => Some(Action::ToggleHealth),
        (Mode::Run, KeyCode::Char('f')) => Some(Action::ToggleFollow),
        (Mode::Run, KeyCode::Char('?')) => Some(Action::Help),
        (Mode::Run, KeyCode::Char('q')) => Some(Action::Quit),
        (Mode::Run, KeyCode::Esc) => Some(Action::Back),
        (Mode::Run, KeyCode::Char(d @ '1'..='9')) => Some(Action::Choose(d as u8 - b'0')),
        _ => None,
    }
}

/// Key hints for the status bar, most useful first.
pub fn hints(mode: Mode) -> &'static [(&'static str, &'static str)] {
    match mode {
        Mode::Picker => &[("type", "search"), ("↑↓", "select"), ("enter", "open"), ("esc", "clear/quit")],
        Mode::Run => &[
            ("enter", "run"),
            ("space", "tick"),
            ("s", "skip"),
            ("r", "retry"),
            ("c", "cancel"),
            ("n", "note"),
            ("t", "timeline"),
            ("h", "health"),
            ("?", "help"),
            ("q", "quit"),
        ],
    }
}

/// Every binding with its meaning, for the help overlay.
pub fn help() -> &'static [(&'static str, &'static str)] {
    &[
        ("↑/↓, k/j", "move in the list"),
        ("enter", "open a runbook; run or perform the current step"),
        ("space", "tick off the current manual step"),
        ("1-9", "pick an option of a choice step"),
        ("s", "skip the current step (asks for a reason)"),
        ("r", "retry a failed or cancelled step"),
        ("c", "cancel the running command (its whole process tree)"),
        ("n", "add a timestamped note to the journal"),
        ("t", "the run's timeline, from the journal"),
        ("p", "parity: every monitor in every environment"),
        ("h", "show or hide the health pane"),
        ("f", "follow the output (jump to its end)"),
        ("pgup/pgdn", "scroll the output"),
        ("?", "this help"),
        ("q, ctrl-c", "quit (the run stays resumable)"),
    ]
}
