//! `{{ name }}` templates: parsing, rendering with shell quoting, and secret masking.
//!
//! A placeholder is `{{`, optional spaces, a name (`version`, `environment`, `env.HOME`),
//! optional spaces, `}}`. `{{` followed by anything that does not start a name is left as it
//! is, so Go templates such as `docker inspect --format '{{.State.Status}}'` work unchanged;
//! `\{{` writes a literal `{{` before a name.

use std::borrow::Cow;
use std::fmt;

/// A parsed template; keeps its source for display and hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(Placeholder),
}

/// What a placeholder names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    /// A capture, input, var or environment var.
    Var(String),
    /// `{{ env.NAME }}`: the process environment; always secret.
    Env(String),
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Var(n) => f.write_str(n),
            Name::Env(n) => write!(f, "env.{n}"),
        }
    }
}

/// One placeholder and where it sits in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: Name,
    /// Byte offset of `{{` in the template source.
    pub offset: usize,
    /// The placeholder as written, e.g. `{{ version }}`.
    pub written: String,
}

/// A template that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset in the template source.
    pub offset: usize,
    /// What is wrong, quoting the text.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

/// How substituted values are written into the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Shell code (`run`, probe `command`): every value is one shell word.
    Shell,
    /// Everything else (titles, URLs, env values): the value as it is.
    Plain,
}

/// A value a placeholder resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub secret: bool,
}

impl Value {
    pub fn plain(text: impl Into<String>) -> Self {
        Self { text: text.into(), secret: false }
    }

    pub fn secret(text: impl Into<String>) -> Self {
        Self { text: text.into(), secret: true }
    }
}

/// The mask shown in place of a secret.
pub const MASK: &str = "••••";

/// A placeholder with no value yet, such as a capture of a step that has not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub Name);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' has no value yet", self.0)
    }
}

/// A rendered template: the text to use and the text to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// What is executed or requested. Never displayed or journaled.
    pub real: String,
    /// The same with every secret replaced by [`MASK`].
    pub shown: String,
    /// The secret values that went in, for masking output.
    pub secrets: Vec<String>,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(at) = rest.find("{{") {
            let escaped = rest[..at].ends_with('\\');
            let after = &rest[at + 2..];
            let starts_name =
                after.trim_start_matches(' ').starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            if escaped {
                text.push_str(&rest[..at - 1]);
                text.push_str("{{");
            } else if !starts_name {
                text.push_str(&rest[..at + 2]);
            } else {
                text.push_str(&rest[..at]);
                let start = offset + at;
                let Some(close) = after.find("}}") else {
                    return Err(TemplateError {
                        offset: start,
                        problem: "unclosed '{{'".into(),
                        fix: "a placeholder ends with '}}', like {{ version }}".into(),
                    });
                };
                let inner = after[..close].trim_matches(' ');
                let written = format!("{{{{{}}}}}", &after[..close]);
                let name = parse_name(inner).ok_or_else(|| TemplateError {
                    offset: start,
                    problem: format!("invalid placeholder '{written}'"),
                    fix: "a name is letters, digits and '_' (or env.NAME); write '\\{{' for a literal '{{'"
                        .into(),
                })?;
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Slot(Placeholder { name, offset: start, written }));
                let consumed = at + 2 + close + 2;
                offset += consumed;
                rest = &rest[consumed..];
                continue;
            }
            offset += at + 2;
            rest = &rest[at + 2..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { source: source.to_owned(), parts })
    }

    /// A template with no placeholders.
    pub fn literal(text: &str) -> Self {
        let parts = if text.is_empty() { vec![] } else { vec![Part::Text(text.to_owned())] };
        Self { source: text.to_owned(), parts }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.parts.iter().filter_map(|p| match p {
            Part::Slot(ph) => Some(ph),
            Part::Text(_) => None,
        })
    }

    pub fn has_placeholders(&self) -> bool {
        self.placeholders().next().is_some()
    }

    /// Renders with values from `lookup`; the first placeholder without a value is an error.
    pub fn render(
        &self,
        quoting: Quoting,
        lookup: &dyn Fn(&Name) -> Option<Value>,
    ) -> Result<Rendered, Missing> {
        let mut real = String::with_capacity(self.source.len());
        let mut shown = String::with_capacity(self.source.len());
        let mut secrets = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    real.push_str(t);
                    shown.push_str(t);
                }
                Part::Slot(ph) => {
                    let value = lookup(&ph.name).ok_or_else(|| Missing(ph.name.clone()))?;
                    let quoted = match quoting {
                        Quoting::Shell => shell_quote(&value.text),
                        Quoting::Plain => Cow::Borrowed(value.text.as_str()),
                    };
                    real.push_str(&quoted);
                    if value.secret {
                        shown.push_str(MASK);
                        if !value.text.is_empty() {
                            secrets.push(value.text.clone());
                        }
                    } else {
                        shown.push_str(&quoted);
                    }
                }
            }
        }
        Ok(Rendered { real, shown, secrets })
    }

    /// Renders for display only: unknown values show as `‹name›`, secrets as [`MASK`].
    pub fn preview(&self, lookup: &dyn Fn(&Name) -> Option<Value>) -> String {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Slot(ph) => match lookup(&ph.name) {
                    Some(v) if v.secret => out.push_str(MASK),
                    Some(v) => out.push_str(&v.text),
                    None => {
                        out.push('‹');
                        out.push_str(&ph.name.to_string());
                        out.push('›');
                    }
                },
            }
        }
        out
    }

    /// Placeholders written inside shell quotes (`"{{ x }}"`), where the added quoting would
    /// become part of the value.
    pub fn quoted_placeholders(&self) -> Vec<&Placeholder> {
        let mut found = Vec::new();
        let mut quote: Option<char> = None;
        let mut escaped = false;
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    for c in t.chars() {
                        match (quote, c) {
                            _ if escaped => escaped = false,
                            (Some('"') | None, '\\') => escaped = true,
                            (None, '\'' | '"') => quote = Some(c),
                            (Some(q), c) if c == q => quote = None,
                            _ => {}
                        }
                    }
                }
                Part::Slot(ph) if quote.is_some() => found.push(ph),
                Part::Slot(_) => {}
            }
        }
        found
    }
}

fn parse_name(inner: &str) -> Option<Name> {
    let is_ident = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match inner.split_once('.') {
        Some(("env", var)) if is_ident(var) => Some(Name::Env(var.to_owned())),
        None if is_ident(inner) => Some(Name::Var(inner.to_owned())),
        _ => None,
    }
}

/// Whether `name` can be used as an input, var or capture name.
pub fn is_valid_name(name: &str) -> bool {
    matches!(parse_name(name), Some(Name::Var(_)))
}

/// Quotes a value as one shell word. NUL cannot appear in a shell word, so it is dropped.
pub fn shell_quote(value: &str) -> Cow<'_, str> {
    if value.is_empty() {
        return Cow::Borrowed("''");
    }
    let safe = value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if safe {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// Replaces every occurrence of each secret in `text` with [`MASK`].
pub fn mask<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &Name) -> Option<Value> {
        match name {
            Name::Var(n) if n == "version" => Some(Value::plain("v1.2.3")),
            Name::Var(n) if n == "evil" => Some(Value::plain("$(touch x); rm -rf / `id` 'q' {{ version }}")),
            Name::Env(n) if n == "TOKEN" => Some(Value::secret("s3cret")),
            _ => None,
        }
    }

    #[test]
    fn finds_placeholders_with_offsets() {
        let t = Template::parse("deploy {{ version }} to {{environment}}").unwrap();
        let names: Vec<_> = t.placeholders().map(|p| (p.name.to_string(), p.offset)).collect();
        assert_eq!(names, [("version".to_string(), 7), ("environment".to_string(), 24)]);
    }

    #[test]
    fn leaves_go_templates_and_escapes_alone() {
        let t = Template::parse("docker inspect --format '{{.State.Status}}' \\{{ x }}").unwrap();
        assert!(!t.has_placeholders());
        assert_eq!(
            t.render(Quoting::Shell, &values).unwrap().real,
            "docker inspect --format '{{.State.Status}}' {{ x }}"
        );
    }

    #[test]
    fn reports_bad_placeholders() {
        assert_eq!(Template::parse("a {{ version").unwrap_err().offset, 2);
        assert!(Template::parse("{{ foo-bar }}").unwrap_err().problem.contains("'{{ foo-bar }}'"));
        assert!(Template::parse("{{ env.A.B }}").is_err());
    }

    #[test]
    fn shell_quotes_every_value() {
        let t = Template::parse("echo {{ evil }}").unwrap();
        let r = t.render(Quoting::Shell, &values).unwrap();
        assert_eq!(r.real, r#"echo '$(touch x); rm -rf / `id` '\''q'\'' {{ version }}'"#);
    }

    #[test]
    fn masks_secrets_in_the_shown_text() {
        let t = Template::parse("curl -H {{ env.TOKEN }} {{ version }}").unwrap();
        let r = t.render(Quoting::Shell, &values).unwrap();
        assert_eq!(r.real, "curl -H s3cret v1.2.3");
        assert_eq!(r.shown, "curl -H •••• v1.2.3");
        assert_eq!(mask("got s3cret twice: s3cret", &r.secrets), "got •••• twice: ••••");
    }

    #[test]
    fn missing_values_fail_render_and_show_in_preview() {
        let t = Template::parse("roll back to {{ previous }}").unwrap();
        assert_eq!(t.render(Quoting::Plain, &values), Err(Missing(Name::Var("previous".into()))));
        assert_eq!(t.preview(&values), "roll back to ‹previous›");
    }

    #[test]
    fn spots_placeholders_inside_quotes() {
        let t =
            Template::parse(r#"echo "{{ version }}" {{ version }} 'a {{ version }}' "it\"s {{ version }}""#)
                .unwrap();
        let offsets: Vec<_> = t.quoted_placeholders().iter().map(|p| p.offset).collect();
        assert_eq!(offsets.len(), 3);
    }
}
