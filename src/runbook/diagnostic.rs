//! Positioned messages about a file: `path:line:col: error: message`.

use std::fmt;

use serde::Serialize;

use super::span::Pos;

/// How bad a finding is. Warnings fail `runbook check` only with `--strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    #[serde(flatten)]
    pub pos: PosJson,
    pub message: String,
}

/// The position as it appears in `--format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PosJson {
    pub line: u32,
    pub column: u32,
}

impl Diagnostic {
    pub fn error(pos: Pos, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, pos, message)
    }

    pub fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, pos, message)
    }

    fn new(severity: Severity, pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity,
            pos: PosJson { line: pos.line.max(1), column: pos.col.max(1) },
            message: message.into(),
        }
    }

    pub fn pos(&self) -> Pos {
        Pos::new(self.pos.line, self.pos.column)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the compiler-style line for the file at `path`.
    pub fn display<'a>(&'a self, path: &'a str) -> impl fmt::Display + 'a {
        DisplayIn { diag: self, path }
    }
}

struct DisplayIn<'a> {
    diag: &'a Diagnostic,
    path: &'a str,
}

impl fmt::Display for DisplayIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diag;
        write!(f, "{}:{}:{}: {}: {}", self.path, d.pos.line, d.pos.column, d.severity, d.message)
    }
}

/// Findings collected while validating one file.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.0.push(Diagnostic::error(pos, message));
    }

    pub fn warning(&mut self, pos: Pos, message: impl Into<String>) {
        self.0.push(Diagnostic::warning(pos, message));
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The findings in file order.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.0.sort_by_key(|d| (d.pos.line, d.pos.column, d.severity));
        self.0.dedup();
        self.0
    }
}

/// Quotes a user value for a message, shortened so one huge value cannot flood the terminal.
pub fn quote(value: &str) -> String {
    const MAX: usize = 60;
    let one_line: String = value.chars().map(|c| if c == '\n' { '⏎' } else { c }).collect();
    if one_line.chars().count() > MAX {
        let cut: String = one_line.chars().take(MAX).collect();
        format!("'{cut}…'")
    } else {
        format!("'{one_line}'")
    }
}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), strsim::damerau_levenshtein(word, c), c))
        .filter(|&(similarity, distance, c)| {
            similarity >= 0.85 || distance <= (c.len().max(word.len()) / 3).max(1)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, _, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["timeout", "retries", "title"];
        assert_eq!(did_you_mean("tiemout", keys), Some("timeout"));
        assert_eq!(did_you_mean("retry", keys), Some("retries"));
        assert_eq!(did_you_mean("banana", keys), None);
    }

    #[test]
    fn quotes_long_values_shortened() {
        assert_eq!(quote("a\nb"), "'a⏎b'");
        assert!(quote(&"x".repeat(500)).ends_with("…'"));
    }
}
