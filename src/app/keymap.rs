//! Keys to actions. One documented action set; the status bar's hints and the help overlay
//! come from the same table, so they cannot disagree with what the keys do. Users rebind keys
//! in the config file (`keys: { tick: x, skip: ctrl-s }`).

use std::collections::BTreeMap;

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
    /// Write the run's timeline (Markdown) to the data directory's exports folder.
    Export,
    Parity,
    ToggleHealth,
    ToggleFollow,
    Search,
    Copy,
    /// Copy the full run id (the banner may show only its short form).
    CopyRunId,
    /// Scroll the selected step's detail.
    DetailUp,
    DetailDown,
    Help,
    Quit,
    /// Hand the run over to someone else: release it and leave.
    Handoff,
    /// Pick option N (1-based) of a choice step.
    Choose(u8),
    Back,
    /// The firing alerts of the environment.
    Alerts,
}

/// Which keys apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Typing goes to the search box; only non-character keys are actions.
    Picker,
    Run,
}

/// The run view's rebindable actions: config name, action, default key, what it does.
const RUN_ACTIONS: [(&str, Action, &str, &str); 21] = [
    ("run", Action::Enter, "enter", "run or perform the current step (▸)"),
    ("tick", Action::Tick, "space", "tick off the current manual step"),
    ("skip", Action::Skip, "s", "skip the current step (asks for a reason)"),
    ("retry", Action::Retry, "r", "retry a failed or cancelled step"),
    ("cancel", Action::Cancel, "c", "cancel the running command (its whole process tree)"),
    ("note", Action::Note, "n", "add a timestamped note to the journal"),
    ("timeline", Action::Timeline, "t", "the run's timeline (↑↓ pgup/pgdn home/end scroll it)"),
    ("export", Action::Export, "E", "export the run's timeline to a Markdown file"),
    ("parity", Action::Parity, "p", "parity: every monitor in every environment"),
    ("alerts", Action::Alerts, "a", "firing alerts (picker: ctrl-a); enter opens the runbook"),
    ("health", Action::ToggleHealth, "h", "show or hide the health pane"),
    ("follow", Action::ToggleFollow, "f", "follow the output (jump to its end)"),
    ("search", Action::Search, "/", "search the output (enter again: the previous match)"),
    ("copy", Action::Copy, "y", "copy the resolved command (OSC 52; secrets stay masked)"),
    ("copy-run-id", Action::CopyRunId, "Y", "copy the full run id (for --resume and export)"),
    ("detail-up", Action::DetailUp, "[", "scroll the step's detail up"),
    ("detail-down", Action::DetailDown, "]", "scroll the step's detail down"),
    ("help", Action::Help, "?", "this help (always at the end of the status bar)"),
    ("quit", Action::Quit, "q", "quit, from anywhere (the run stays resumable)"),
    ("handoff", Action::Handoff, "H", "hand the run over (release it for --resume) and leave"),
    ("back", Action::Back, "esc", "close a dialog"),
];

/// The key table.
#[derive(Debug, Clone)]
pub struct Keymap {
    run: Vec<(KeyCode, KeyModifiers, Action)>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self::new(&BTreeMap::new()).unwrap_or_else(|_| unreachable!("the defaults parse"))
    }
}

/// Parses `x`, `ctrl-x`, `alt-x`, `enter`, `space`, `esc`, `tab`, `f5`, `up`, `pgdn`...
pub fn parse_key(text: &str) -> Result<(KeyCode, KeyModifiers), String> {
    let mut mods = KeyModifiers::NONE;
    let mut rest = text.trim();
    loop {
        if let Some(r) = rest.strip_prefix("ctrl-") {
            mods |= KeyModifiers::CONTROL;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("alt-") {
            mods |= KeyModifiers::ALT;
            rest = r;
        } else {
            break;
        }
    }
    let code = match rest {
        "enter" => KeyCode::Enter,
        "space" => KeyCode::Char(' '),
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backspace" => KeyCode::Backspace,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pgup" => KeyCode::PageUp,
        "pgdn" => KeyCode::PageDown,
        f if f.starts_with('f') && f.len() > 1 && f[1..].parse::<u8>().is_ok() => {
            KeyCode::F(f[1..].parse().unwrap_or(1))
        }
        c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
        other => {
            return Err(format!(
                "unknown key '{other}' (use a character, ctrl-x, alt-x, enter, space, esc, tab, f1-f12, up, down, pgup, pgdn)"
            ));
        }
    };
    Ok((code, mods))
}

fn key_name(code: KeyCode, mods: KeyModifiers) -> String {
    let base = match code {
        KeyCode::Enter => "enter".to_owned(),
        KeyCode::Char(' ') => "space".to_owned(),
        KeyCode::Esc => "esc".to_owned(),
        KeyCode::Tab => "tab".to_owned(),
        KeyCode::F(n) => format!("f{n}"),
        KeyCode::Char(c) => c.to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    let mut name = String::new();
    if mods.contains(KeyModifiers::CONTROL) {
        name.push_str("ctrl-");
    }
    if mods.contains(KeyModifiers::ALT) {
        name.push_str("alt-");
    }
    name + &base
}

impl Keymap {
    /// The default keys with the user's rebindings (`action name -> key`).
    pub fn new(overrides: &BTreeMap<String, String>) -> Result<Self, String> {
        for name in overrides.keys() {
            if !RUN_ACTIONS.iter().any(|(n, ..)| n == name) {
                let names: Vec<&str> = RUN_ACTIONS.iter().map(|(n, ..)| *n).collect();
                return Err(format!("unknown action '{name}' in keys (actions: {})", names.join(", ")));
            }
        }
        let mut run: Vec<(KeyCode, KeyModifiers, Action)> = Vec::new();
        let mut names: Vec<(&str, &str)> = Vec::new();
        for (name, action, default, _) in RUN_ACTIONS {
            let key = overrides.get(name).map_or(default, String::as_str);
            let (code, mods) = parse_key(key).map_err(|e| format!("keys.{name}: {e}"))?;
            if let Some(i) = run.iter().position(|(c, m, _)| *c == code && *m == mods) {
                return Err(format!(
                    "keys: '{key}' is bound to both {} and {name}: give one of them another key",
                    names[i].0
                ));
            }
            run.push((code, mods, action));
            names.push((name, key));
        }
        Ok(Self { run })
    }

    /// The action of a key in a mode.
    pub fn action(&self, mode: Mode, key: KeyEvent) -> Option<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match (mode, key.code) {
            (_, KeyCode::Char('c')) if ctrl => return Some(Action::Quit),
            (_, KeyCode::Up) => return Some(Action::Up),
            (_, KeyCode::Down) => return Some(Action::Down),
            (_, KeyCode::PageUp) => return Some(Action::PageUp),
            (_, KeyCode::PageDown) => return Some(Action::PageDown),
            (Mode::Picker, KeyCode::Enter) => return Some(Action::Enter),
            (Mode::Picker, KeyCode::Char('p')) if ctrl => return Some(Action::Up),
            (Mode::Picker, KeyCode::Char('n')) if ctrl => return Some(Action::Down),
            (Mode::Picker, KeyCode::Esc) => return Some(Action::Back),
            (Mode::Picker, KeyCode::Char('a')) if ctrl => return Some(Action::Alerts),
            (Mode::Picker, _) => return None,
            _ => {}
        }
        let mods = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        if let Some((_, _, a)) = self.run.iter().find(|(c, m, _)| *c == key.code && *m == mods) {
            return Some(*a);
        }
        match key.code {
            KeyCode::Char('k') => Some(Action::Up),
            KeyCode::Char('j') => Some(Action::Down),
            KeyCode::Char(d @ '1'..='9') => Some(Action::Choose(d as u8 - b'0')),
            _ => None,
        }
    }

    fn key_of(&self, action: Action) -> String {
        self.run.iter().find(|(_, _, a)| *a == action).map(|(c, m, _)| key_name(*c, *m)).unwrap_or_default()
    }

    /// Key hints for the status bar, most useful first.
    pub fn hints(&self, mode: Mode) -> Vec<(String, &'static str)> {
        match mode {
            Mode::Picker => vec![
                ("type".into(), "search"),
                ("↑↓".into(), "select"),
                ("enter".into(), "open"),
                ("^a".into(), "alerts"),
                ("esc".into(), "clear/quit"),
            ],
            Mode::Run => [
                (Action::Enter, "run"),
                (Action::Tick, "tick"),
                (Action::Skip, "skip"),
                (Action::Retry, "retry"),
                (Action::Cancel, "cancel"),
                (Action::Note, "note"),
                (Action::Timeline, "timeline"),
                (Action::ToggleHealth, "health"),
                (Action::Quit, "quit"),
            ]
            .into_iter()
            .map(|(a, what)| (self.key_of(a), what))
            .collect(),
        }
    }

    /// The help key, shown at the end of the status bar whatever else is cut.
    pub fn help_key(&self) -> String {
        self.key_of(Action::Help)
    }

    /// Every binding with its meaning, for the help overlay.
    pub fn help(&self) -> Vec<(String, &'static str)> {
        let mut out = vec![
            ("↑/↓, k/j".to_owned(), "move in the list"),
            ("1-9".to_owned(), "pick an option of a choice step"),
        ];
        // Pairs share a row, so the whole list fits an 80x24 terminal.
        out.extend(
            RUN_ACTIONS.iter().filter(|(_, a, ..)| !matches!(a, Action::DetailDown | Action::Export)).map(
                |(_, a, _, what)| match a {
                    Action::Timeline => (
                        format!("{} / {}", self.key_of(*a), self.key_of(Action::Export)),
                        "timeline (↑↓ pgup/pgdn home/end) / export to Markdown",
                    ),
                    // ctrl-c quits from anywhere: it shares the quit row.
                    Action::Quit => (format!("{}, ctrl-c", self.key_of(*a)), *what),
                    Action::DetailUp => (
                        format!("{} / {}", self.key_of(*a), self.key_of(Action::DetailDown)),
                        "scroll the step's detail",
                    ),
                    _ => (self.key_of(*a), *what),
                },
            ),
        );
        out.push(("pgup/pgdn".into(), "scroll output (no output: detail); wheel: the pane under it"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn rebinding_moves_the_action_and_its_hint() {
        let keys = BTreeMap::from([("tick".to_owned(), "x".to_owned())]);
        let map = Keymap::new(&keys).unwrap();
        assert_eq!(map.action(Mode::Run, key(KeyCode::Char('x'))), Some(Action::Tick));
        assert_eq!(map.action(Mode::Run, key(KeyCode::Char(' '))), None);
        assert!(map.hints(Mode::Run).contains(&("x".into(), "tick")));
    }

    #[test]
    fn bad_rebindings_are_reported() {
        let clash = BTreeMap::from([("tick".to_owned(), "s".to_owned())]);
        assert_eq!(
            Keymap::new(&clash).unwrap_err(),
            "keys: 's' is bound to both tick and skip: give one of them another key"
        );
        let unknown = BTreeMap::from([("tock".to_owned(), "x".to_owned())]);
        assert!(Keymap::new(&unknown).unwrap_err().starts_with("unknown action 'tock'"));
        assert!(parse_key("hyper-x").is_err());
        assert_eq!(parse_key("ctrl-s").unwrap(), (KeyCode::Char('s'), KeyModifiers::CONTROL));
    }
}
