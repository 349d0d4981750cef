//! Which placeholder names a template may use, and where in the file each one is written.

use std::collections::HashMap;

use crate::runbook::diagnostic::{Diagnostics, did_you_mean};
use crate::runbook::shell;
use crate::runbook::span::{Pos, Sp};
use crate::runbook::template::{Name, Template};
use crate::runbook::{Environment, Environments};

/// Byte offsets of line starts, to turn offsets into line and column.
#[derive(Debug)]
pub struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(source: &'a str) -> Self {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Self { source, starts }
    }

    fn offset_of(&self, pos: Pos) -> Option<usize> {
        let start = *self.starts.get(pos.line.checked_sub(1)? as usize)?;
        let line = &self.source[start..];
        let col = pos.col.saturating_sub(1) as usize;
        Some(start + line.char_indices().nth(col).map_or(line.len(), |(i, _)| i))
    }

    fn pos_of(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self.source[start..offset].chars().count() + 1;
        Pos::new(line as u32, col as u32)
    }

    /// Where `needle` is written at or after `from`; `from` itself when it cannot be found
    /// (for example when YAML escapes changed the text).
    pub fn find_after(&self, from: Pos, needle: &str) -> Pos {
        self.offset_of(from)
            .and_then(|off| self.source[off..].find(needle).map(|i| self.pos_of(off + i)))
            .unwrap_or(from)
    }
}

/// Where a name in scope comes from; used for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    Input,
    Var,
    Capture,
}

/// The names a template may use at one place in a runbook.
#[derive(Debug, Clone)]
pub struct Scope<'e> {
    pub names: HashMap<String, Origin>,
    /// The environments the template may be rendered in; their vars are in scope too.
    pub envs: Vec<&'e Environment>,
    /// Whether environment vars are known at all (an `environments.yaml` was found).
    pub envs_known: bool,
}

impl<'e> Scope<'e> {
    pub fn new(envs: Option<&'e Environments>, allowed: Option<&[String]>) -> Self {
        let mut names = HashMap::new();
        names.insert("environment".to_owned(), Origin::Builtin);
        let list = envs
            .map(|e| {
                e.environments
                    .iter()
                    .filter(|env| allowed.is_none_or(|a| a.iter().any(|n| n == &env.name)))
                    .collect()
            })
            .unwrap_or_default();
        Self { names, envs: list, envs_known: envs.is_some() }
    }

    /// The same scope limited to `when_env` environments.
    pub fn only_envs(&self, when: Option<&[String]>) -> Self {
        let mut scope = self.clone();
        if let Some(when) = when {
            scope.envs.retain(|e| when.iter().any(|n| n == &e.name));
        }
        scope
    }

    /// Checks one placeholder name; the error is the message tail after the placeholder.
    fn check(&self, name: &str) -> Result<(), String> {
        if self.names.contains_key(name) {
            return Ok(());
        }
        let missing: Vec<&str> =
            self.envs.iter().filter(|e| !e.vars.contains_key(name)).map(|e| e.name.as_str()).collect();
        let defined_somewhere = self.envs.len() > missing.len();
        if defined_somewhere && missing.is_empty() {
            return Ok(());
        }
        if !self.envs_known && self.envs.is_empty() {
            // Without environments.yaml, environment vars cannot be checked.
            return Ok(());
        }
        if defined_somewhere {
            return Err(format!(
                "is not defined in environment{} {}: add it to their `vars` in environments.yaml, or limit where this runs with `environments:` or `when_env:`",
                if missing.len() == 1 { "" } else { "s" },
                missing.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ")
            ));
        }
        let known = self
            .names
            .keys()
            .map(String::as_str)
            .chain(self.envs.iter().flat_map(|e| e.vars.keys().map(String::as_str)));
        let hint = did_you_mean(name, known).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
        Err(format!(
            "is not defined: no input, var, capture of an earlier step or environment var is named '{name}'{hint}"
        ))
    }
}

/// Parses a templated value and checks every placeholder against `scope`; positions point at
/// the placeholder itself. Returns `None` (after reporting) when the template cannot parse.
pub fn template(
    value: &Sp<String>,
    scope: &Scope,
    lines: &LineIndex,
    diags: &mut Diagnostics,
    place: &str,
) -> Option<Template> {
    let t = match Template::parse(&value.value) {
        Ok(t) => t,
        Err(e) => {
            let near = &value.value[e.offset..];
            let needle: String = near.chars().take(8).collect();
            diags.error(lines.find_after(value.pos, &needle), format!("{}{place}: {}", e.problem, e.fix));
            return None;
        }
    };
    let mut cursor = value.pos;
    for ph in t.placeholders() {
        cursor = lines.find_after(cursor, &ph.written);
        if let Name::Var(name) = &ph.name
            && let Err(why) = scope.check(name)
        {
            diags.error(cursor, format!("placeholder '{}'{place} {why}", ph.written));
        }
    }
    Some(t)
}

/// Like [`template`] for shell code: a placeholder where the shell does not expand (single
/// quotes, `$'…'`, a quoted here-document) is an error, and one handed to a command that
/// parses its arguments as code again (`eval`, `sh -c`, `ssh`) is a warning.
pub fn shell_template(
    value: &Sp<String>,
    scope: &Scope,
    lines: &LineIndex,
    diags: &mut Diagnostics,
    place: &str,
) -> Option<Template> {
    let t = template(value, scope, lines, diags, place)?;
    let analysis = t.shell_analysis();
    let mut cursor = value.pos;
    for (i, ph) in t.placeholders().enumerate() {
        cursor = lines.find_after(cursor, &ph.written);
        if analysis.contexts.get(i) == Some(&shell::Context::Literal) {
            diags.error(
                cursor,
                format!(
                    "placeholder '{}'{place} is inside single quotes (or $'…', or a here-document with a quoted delimiter), where the shell expands nothing: the value would never arrive; put it outside the quotes, e.g. 'text '{} or \"text {}\"",
                    ph.written, ph.written, ph.written
                ),
            );
        }
        if let Some(r) = analysis.reparse.iter().find(|r| r.slot == i) {
            diags.warning(
                cursor,
                format!(
                    "placeholder '{}'{place} is passed to `{}`, which parses it as shell code again, so shell syntax in the value would run: quote it for that shell with \"$(printf %q {})\", or pass it as an argument of a script",
                    ph.written, r.what, ph.written
                ),
            );
        }
    }
    Some(t)
}
