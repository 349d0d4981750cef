//! Themes name roles, not colours: the views ask for `Role::Failed`, the theme says red.
//! `NO_COLOR` (any value) turns colours off and keeps bold/reverse so states stay readable.

use ratatui::style::{Color, Modifier, Style};

/// What a piece of the screen means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Text,
    Dim,
    Title,
    Border,
    Selected,
    Current,
    Passed,
    Failed,
    Running,
    Skipped,
    Warning,
    Stderr,
    Match,
    Banner,
    BannerProtected,
    Up,
    Degraded,
    Down,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Theme {
    color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Self::from_env()
    }
}

impl Theme {
    pub fn from_env() -> Self {
        Self { color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    pub fn no_color() -> Self {
        Self { color: false }
    }

    pub fn style(&self, role: Role) -> Style {
        let s = Style::default();
        if !self.color {
            return match role {
                Role::Title | Role::Current | Role::Failed | Role::Down | Role::BannerProtected => {
                    s.add_modifier(Modifier::BOLD)
                }
                Role::Selected | Role::Banner => s.add_modifier(Modifier::REVERSED),
                Role::Dim | Role::Skipped | Role::Unknown => s.add_modifier(Modifier::DIM),
                Role::Match => s.add_modifier(Modifier::UNDERLINED),
                _ => s,
            };
        }
        match role {
            Role::Text => s,
            Role::Dim => s.fg(Color::DarkGray),
            Role::Title => s.add_modifier(Modifier::BOLD),
            Role::Border => s.fg(Color::DarkGray),
            Role::Selected => s.bg(Color::Rgb(40, 44, 52)).add_modifier(Modifier::BOLD),
            Role::Current => s.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Role::Passed | Role::Up => s.fg(Color::Green),
            Role::Failed | Role::Down => s.fg(Color::Red).add_modifier(Modifier::BOLD),
            Role::Running => s.fg(Color::Yellow),
            Role::Skipped | Role::Unknown => s.fg(Color::DarkGray),
            Role::Warning | Role::Degraded => s.fg(Color::Yellow),
            Role::Stderr => s.fg(Color::LightRed),
            Role::Match => s.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Role::Banner => s.fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD),
            Role::BannerProtected => s.fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }
}
