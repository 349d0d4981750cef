//! `{{ name }}` templates: parsing, rendering with shell quoting, and secret masking.
//!
//! A placeholder is `{{`, optional spaces, a name (`version`, `environment`, `env.HOME`),
//! optional spaces, `}}`. `{{` followed by anything that does not start a name is left as it
//! is, so Go templates such as `docker inspect --format '{{.State.Status}}'` work unchanged;
//! `\{{` writes a literal `{{` before a name.

use std::borrow::Cow;
use std::fmt;

use super::shell;

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

    /// The shell context of each placeholder, in order, and the ones a command re-parses.
    pub fn shell_analysis(&self) -> shell::Analysis {
        let pieces: Vec<shell::Piece<'_>> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => shell::Piece::Text(t),
                Part::Slot(_) => shell::Piece::Slot,
            })
            .collect();
        shell::analyse(&pieces)
    }

    /// Renders shell code without putting any value into it: each placeholder becomes a
    /// reference to an environment variable (`"${RUNBOOK_V_name}"`, written for its quoting
    /// context), and the values travel in `env`. No quoting context, here-document or
    /// comment can then turn a value into code, and no value is ever in argv.
    pub fn render_script(&self, lookup: &dyn Fn(&Name) -> Option<Value>) -> Result<Script, ScriptError> {
        let contexts = self.shell_analysis().contexts;
        let mut code = String::with_capacity(self.source.len() + 16);
        let mut shown = String::with_capacity(self.source.len());
        let mut env: Vec<(String, String)> = Vec::new();
        let mut secrets = Vec::new();
        let mut slot = 0;
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    code.push_str(t);
                    shown.push_str(t);
                }
                Part::Slot(ph) => {
                    let context = contexts.get(slot).copied().unwrap_or(shell::Context::Unquoted);
                    slot += 1;
                    let value =
                        lookup(&ph.name).ok_or_else(|| ScriptError::Missing(Missing(ph.name.clone())))?;
                    if context == shell::Context::Arithmetic && !is_number(&value.text) {
                        return Err(ScriptError::NotANumber(ph.name.clone()));
                    }
                    let var = env_var_name(&ph.name);
                    match context {
                        shell::Context::Unquoted => {
                            code.push_str("\"${");
                            code.push_str(&var);
                            code.push_str("}\"");
                        }
                        _ => {
                            code.push_str("${");
                            code.push_str(&var);
                            code.push('}');
                        }
                    }
                    if value.secret {
                        shown.push_str(MASK);
                        if !value.text.is_empty() {
                            secrets.push(value.text.clone());
                        }
                    } else if context == shell::Context::Unquoted {
                        shown.push_str(&shell_quote(&value.text));
                    } else {
                        shown.push_str(&value.text);
                    }
                    if !env.iter().any(|(k, _)| *k == var) {
                        env.push((var, value.text.replace('\0', "")));
                    }
                }
            }
        }
        Ok(Script { code, shown, env, secrets })
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
}

/// Shell code rendered by [`Template::render_script`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The code, with references instead of values. Never displayed.
    pub code: String,
    /// The code as shown: values in place (shell-quoted where unquoted), secrets masked.
    pub shown: String,
    /// One variable per distinct placeholder: the values, to pass in the environment.
    pub env: Vec<(String, String)>,
    /// The secret values that went in, for masking output.
    pub secrets: Vec<String>,
}

/// Why shell code could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    Missing(Missing),
    /// A value used in arithmetic (`$(( ))`, `(( ))`, `[[ -eq ]]`) that is not a number:
    /// bash would evaluate it as an expression, which can run commands.
    NotANumber(Name),
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Missing(m) => write!(f, "{m}: the step that sets it has not run"),
            ScriptError::NotANumber(n) => write!(
                f,
                "the value of '{n}' is used in shell arithmetic, where bash evaluates it as code, and it is not a number; the step did not run"
            ),
        }
    }
}

/// The environment variable that carries a placeholder's value into a script.
pub fn env_var_name(name: &Name) -> String {
    match name {
        Name::Var(n) => format!("RUNBOOK_V_{n}"),
        Name::Env(n) => format!("RUNBOOK_E_{n}"),
    }
}

/// A decimal or hexadecimal integer, or a decimal fraction, with an optional sign.
fn is_number(text: &str) -> bool {
    let t = text.trim();
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())
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

/// The forms a secret takes in output: as it is, shell-quoted (what `set -x` prints),
/// JSON-escaped (what an API echoes back) and URL-encoded (what a request log shows).
pub fn secret_forms(secrets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(secrets.len() * 2);
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        // Quoted forms without their outer quotes, so they are found inside a larger
        // quoted word too (`'"it'\''s"'`: a JSON string that `set -x` quoted again).
        out.push(s.clone());
        let quoted = shell_quote(s);
        out.push(quoted.strip_prefix('\'').and_then(|q| q.strip_suffix('\'')).unwrap_or(&quoted).to_owned());
        let ansi_c = bash_ansi_c_quote(s);
        out.push(ansi_c[2..ansi_c.len() - 1].to_owned());
        if let Ok(json) = serde_json::to_string(s.as_str()) {
            out.push(json[1..json.len() - 1].to_owned());
        }
        let url = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        out.push(url.clone());
        out.push(url.replace("%20", "+"));
        // Encoders differ on which punctuation they leave alone: the RFC 3986 unreserved set.
        const COMPONENT: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
        out.push(percent_encoding::utf8_percent_encode(s, COMPONENT).to_string());
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// How bash's `set -x` writes a word with control characters: `$'a\nb'`.
fn bash_ansi_c_quote(s: &str) -> String {
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Replaces every occurrence of each secret, in each of its [`secret_forms`], with [`MASK`].
pub fn mask<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    if secrets.is_empty() {
        return out;
    }
    for secret in secret_forms(secrets).iter() {
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
    fn masks_the_quoted_json_and_url_forms_of_a_secret() {
        let secrets = vec!["it's a \"5ecret\"/&".to_string()];
        for leaked in [
            r#"+ echo 'it'\''s a "5ecret"/&'"#,
            r#"{"token":"it's a \"5ecret\"/&"}"#,
            "GET /login?token=it%27s%20a%20%225ecret%22%2F%26",
            "token=it%27s+a+%225ecret%22%2F%26",
        ] {
            let masked = mask(leaked, &secrets);
            assert!(!masked.contains("5ecret"), "{leaked} -> {masked}");
            assert!(masked.contains(MASK));
        }
    }
}
