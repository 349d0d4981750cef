//! Themes name roles, not colours: the views ask for `Role::Failed`, the theme says red.
//!
//! Themes are YAML files (`themes/*.yaml` are built in: dark, light, high-contrast; more in
//! the config dir's `themes/`). `NO_COLOR` (any non-empty value) drops every colour and keeps
//! bold, dim, underline and reverse, so states stay readable.

use std::collections::HashMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// What a piece of the screen means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// Headings in step bodies and descriptions.
    Heading,
    /// Code in bodies: inline code and code blocks.
    Code,
    /// Link text in bodies (the URLs are listed under the body).
    Link,
}

/// The themes built into the binary.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../themes/dark.yaml")),
    ("light", include_str!("../themes/light.yaml")),
    ("high-contrast", include_str!("../themes/high-contrast.yaml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[allow(dead_code)]
    name: Option<String>,
    roles: HashMap<Role, StyleSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

#[derive(Debug, Clone)]
pub struct Theme {
    styles: HashMap<Role, Style>,
    color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Self::parse(BUILT_IN[0].1).unwrap_or_else(|_| Self { styles: HashMap::new(), color: true })
    }
}

fn color(name: &str) -> Result<Color, String> {
    if let Some(hex) = name.strip_prefix('#')
        && hex.len() == 6
        && let Ok(rgb) = u32::from_str_radix(hex, 16)
    {
        return Ok(Color::Rgb((rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8));
    }
    name.parse::<Color>()
        .map_err(|_| format!("unknown colour '{name}' (a name such as red or lightcyan, or #rrggbb)"))
}

impl Theme {
    /// Parses a theme file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: ThemeFile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let mut styles = HashMap::new();
        for (role, spec) in file.roles {
            let mut s = Style::default();
            if let Some(fg) = &spec.fg {
                s = s.fg(color(fg)?);
            }
            if let Some(bg) = &spec.bg {
                s = s.bg(color(bg)?);
            }
            for (on, m) in [
                (spec.bold, Modifier::BOLD),
                (spec.dim, Modifier::DIM),
                (spec.underlined, Modifier::UNDERLINED),
                (spec.reversed, Modifier::REVERSED),
            ] {
                if on {
                    s = s.add_modifier(m);
                }
            }
            styles.insert(role, s);
        }
        Ok(Self { styles, color: true })
    }

    /// The theme called `name`: the config dir's `themes/NAME.yaml`, else a built-in one.
    pub fn load(name: &str, config_dir: Option<&Path>) -> Result<Self, String> {
        let user = config_dir.map(|d| d.join("themes").join(format!("{name}.yaml")));
        let theme = match user.filter(|p| p.is_file()) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => match BUILT_IN.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => Self::parse(text)?,
                None => {
                    let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "no theme '{name}' (built in: {}; or add {name}.yaml to the config dir's themes/)",
                        names.join(", ")
                    ));
                }
            },
        };
        Ok(theme.with_env())
    }

    /// Applies `NO_COLOR`.
    pub fn with_env(mut self) -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            self.color = false;
        }
        self
    }

    /// The same theme without colours (what `NO_COLOR` gives).
    pub fn no_color() -> Self {
        Self { color: false, ..Self::default() }
    }

    /// Whether colours are shown (false under `NO_COLOR`); command output follows it too.
    pub fn color(&self) -> bool {
        self.color
    }

    pub fn style(&self, role: Role) -> Style {
        let s = self.styles.get(&role).copied().unwrap_or_default();
        if self.color {
            return s;
        }
        // Without colour, keep the modifiers, and make sure selection and states still show.
        let mut plain = Style::default().add_modifier(s.add_modifier);
        match role {
            Role::Selected | Role::Banner | Role::BannerProtected => {
                plain = plain.add_modifier(Modifier::REVERSED)
            }
            Role::Failed | Role::Down | Role::Current => plain = plain.add_modifier(Modifier::BOLD),
            Role::Dim | Role::Skipped | Role::Unknown => plain = plain.add_modifier(Modifier::DIM),
            _ => {}
        }
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_parses_and_styles_every_role() {
        for (name, text) in BUILT_IN {
            let theme = Theme::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(theme.styles.len() >= 22, "{name} misses roles");
        }
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let theme = Theme::no_color();
        let s = theme.style(Role::Failed);
        assert_eq!((s.fg, s.bg), (None, None));
        assert!(s.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn bad_colours_are_reported() {
        let err = Theme::parse("roles:\n  text: { fg: purpleish }\n").unwrap_err();
        assert!(err.contains("unknown colour 'purpleish'"), "{err}");
    }
}
