//! Where a placeholder sits in shell code, so its value can be referenced safely there.
//!
//! Values never become script text: each placeholder is rendered as a reference to an
//! environment variable that carries the value (see
//! [`super::template::Template::render_script`]). An expanded variable is data in every
//! context the shell has, but how the reference must be written differs: unquoted it needs
//! double quotes (no word splitting or globbing), inside double quotes or an expanding
//! here-document it must not have them (they would be literal), and inside single quotes it
//! does not expand at all. Arithmetic is the one place where bash evaluates an expanded value
//! again (array subscripts can run commands), so values there must be numbers.
//!
//! This is a small lexer, not a shell parser: it follows what decides the context — quotes,
//! `$'…'`, `$( )`, backticks, `$(( ))`, `(( ))`, `[[ ]]`, comments and here-documents.

/// The shell context of one placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A word of code: written `"${V}"`.
    Unquoted,
    /// Inside `"…"`: written `${V}`.
    DoubleQuoted,
    /// In the body of an expanding here-document (`<<EOF`): written `${V}`.
    HereDoc,
    /// Where the shell expands nothing (`'…'`, `$'…'`, a `<<'EOF'` body): the value would
    /// not arrive, and `check` reports it.
    Literal,
    /// After `#`: never runs.
    Comment,
    /// Inside `$(( ))`, `(( ))`, or `[[ ]]` with a numeric operator: bash evaluates the
    /// value as an arithmetic expression, so it must be a number.
    Arithmetic,
}

/// One piece of a template for the lexer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Slot,
}

/// A command that parses its arguments as code again (`eval`, `sh -c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reparse {
    /// The slot's index among the template's placeholders.
    pub slot: usize,
    /// What re-parses it, e.g. `eval`, `bash -c`.
    pub what: String,
}

/// What the lexer found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// The context of each slot, in order.
    pub contexts: Vec<Context>,
    pub reparse: Vec<Reparse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    C(char),
    Slot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    End,
    /// The `)` of `$(`.
    Paren,
    Backtick,
}

#[derive(Debug)]
struct HereDoc {
    delimiter: String,
    expands: bool,
    strip_tabs: bool,
}

/// Finds the context of every slot.
pub fn analyse(pieces: &[Piece<'_>]) -> Analysis {
    let mut toks = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(t) => toks.extend(t.chars().map(Tok::C)),
            Piece::Slot => toks.push(Tok::Slot),
        }
    }
    let mut lx = Lexer { toks, i: 0, out: Analysis::default(), pending: Vec::new(), words: Vec::new() };
    lx.code(Until::End);
    lx.out
}

struct Lexer {
    toks: Vec<Tok>,
    i: usize,
    out: Analysis,
    pending: Vec<HereDoc>,
    /// Words of the current simple command (a slot is `\0`), for spotting `eval`/`sh -c`.
    words: Vec<String>,
}

const OPERATORS: &str = ";&|()<>";

impl Lexer {
    fn peek(&self, k: usize) -> Option<Tok> {
        self.toks.get(self.i + k).copied()
    }

    fn is(&self, k: usize, c: char) -> bool {
        self.peek(k) == Some(Tok::C(c))
    }

    fn push_slot(&mut self, context: Context) {
        let slot = self.out.contexts.len();
        if matches!(context, Context::Unquoted | Context::DoubleQuoted | Context::Arithmetic)
            && let Some(what) = self.reparser()
        {
            self.out.reparse.push(Reparse { slot, what });
        }
        self.out.contexts.push(context);
    }

    fn word_char(&mut self, c: char) {
        match self.words.last_mut() {
            Some(w) if !w.is_empty() && !w.ends_with(' ') => w.push(c),
            _ => self.words.push(c.to_string()),
        }
    }

    fn end_word(&mut self) {
        if self.words.last().is_some_and(|w| !w.is_empty()) {
            self.words.push(String::new());
        }
    }

    /// Whether the command being read re-parses its arguments as code.
    fn reparser(&self) -> Option<String> {
        let words: Vec<&str> = self.words.iter().map(String::as_str).filter(|w| !w.is_empty()).collect();
        // Skip `VAR=value` prefixes and wrappers that run their arguments as a command.
        let mut rest = words.iter().skip_while(|w| {
            w.contains('=') && !w.starts_with('=')
                || matches!(**w, "sudo" | "env" | "exec" | "command" | "nohup" | "xargs")
        });
        let cmd = rest.next()?.rsplit('/').next().unwrap_or("");
        match cmd {
            "eval" => Some("eval".into()),
            "sh" | "bash" | "zsh" | "dash" | "ksh" | "ash" => rest
                .any(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('c'))
                .then(|| format!("{cmd} -c")),
            // ssh joins the words after the host into one remote command line.
            "ssh" => {
                let mut host_seen = false;
                let mut takes_arg = false;
                for w in rest {
                    if takes_arg {
                        takes_arg = false;
                    } else if let Some(flag) = w.strip_prefix('-') {
                        takes_arg = flag.len() == 1 && "bcDEeFIiJLlmOopQRSWw".contains(flag);
                    } else {
                        host_seen = true;
                        break;
                    }
                }
                host_seen.then(|| "ssh".into())
            }
            _ => None,
        }
    }

    fn at_word_start(&self) -> bool {
        match self.i.checked_sub(1).map(|j| self.toks[j]) {
            None => true,
            Some(Tok::C(c)) => c.is_whitespace() || OPERATORS.contains(c),
            Some(Tok::Slot) => false,
        }
    }

    /// Shell code until `until`; consumes the closing token.
    fn code(&mut self, until: Until) {
        let mut parens = 0u32;
        while let Some(tok) = self.peek(0) {
            let c = match tok {
                Tok::Slot => {
                    self.i += 1;
                    self.push_slot(Context::Unquoted);
                    self.word_char('\0');
                    continue;
                }
                Tok::C(c) => c,
            };
            match c {
                '\\' => {
                    self.skip_escaped(Context::Unquoted);
                    self.word_char('x');
                }
                '\'' => {
                    self.i += 1;
                    self.single();
                    self.word_char('\'');
                }
                '$' if self.is(1, '\'') => {
                    self.i += 2;
                    self.ansi_c();
                    self.word_char('\'');
                }
                '"' => {
                    self.i += 1;
                    self.double();
                    self.word_char('"');
                }
                '`' if until == Until::Backtick => {
                    self.i += 1;
                    return;
                }
                '`' => {
                    self.i += 1;
                    self.code(Until::Backtick);
                    self.word_char('`');
                }
                '$' if self.is(1, '(') && self.is(2, '(') => {
                    self.i += 3;
                    self.arithmetic();
                    self.word_char('$');
                }
                '$' if self.is(1, '(') => {
                    self.i += 2;
                    let outer = std::mem::take(&mut self.words);
                    self.code(Until::Paren);
                    self.words = outer;
                    self.word_char('$');
                }
                '(' if self.is(1, '(') && self.at_word_start() => {
                    self.i += 2;
                    self.arithmetic();
                }
                '[' if self.is(1, '[') && self.at_word_start() => {
                    self.i += 2;
                    self.test();
                }
                '#' if self.at_word_start() => self.comment(),
                '<' if self.is(1, '<') && !self.is(2, '<') => {
                    self.i += 2;
                    self.heredoc_operator();
                }
                '<' if self.is(1, '<') => {
                    // A here-string: its word is ordinary code.
                    self.i += 3;
                    self.end_word();
                }
                '(' => {
                    parens += 1;
                    self.i += 1;
                    self.words.clear();
                }
                ')' if until == Until::Paren && parens == 0 => {
                    self.i += 1;
                    return;
                }
                ')' => {
                    parens = parens.saturating_sub(1);
                    self.i += 1;
                    self.words.clear();
                }
                '\n' => {
                    self.i += 1;
                    self.words.clear();
                    self.heredoc_bodies();
                }
                ';' | '&' | '|' => {
                    self.i += 1;
                    self.words.clear();
                }
                c if c.is_whitespace() => {
                    self.i += 1;
                    self.end_word();
                }
                c => {
                    self.i += 1;
                    self.word_char(c);
                }
            }
        }
    }

    /// Skips a backslash and what it escapes (a placeholder still counts as one).
    fn skip_escaped(&mut self, context: Context) {
        if self.peek(1) == Some(Tok::Slot) {
            self.push_slot(context);
        }
        self.i += 2;
    }

    fn single(&mut self) {
        while let Some(tok) = self.peek(0) {
            self.i += 1;
            match tok {
                Tok::Slot => self.push_slot(Context::Literal),
                Tok::C('\'') => return,
                Tok::C(_) => {}
            }
        }
    }

    fn ansi_c(&mut self) {
        while let Some(tok) = self.peek(0) {
            self.i += 1;
            match tok {
                Tok::Slot => self.push_slot(Context::Literal),
                Tok::C('\\') => self.i += 1,
                Tok::C('\'') => return,
                Tok::C(_) => {}
            }
        }
    }

    fn double(&mut self) {
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Slot => {
                    self.i += 1;
                    self.push_slot(Context::DoubleQuoted);
                }
                Tok::C('\\') => self.skip_escaped(Context::DoubleQuoted),
                Tok::C('"') => {
                    self.i += 1;
                    return;
                }
                Tok::C('`') => {
                    self.i += 1;
                    let outer = std::mem::take(&mut self.words);
                    self.code(Until::Backtick);
                    self.words = outer;
                }
                Tok::C('$') if self.is(1, '(') && self.is(2, '(') => {
                    self.i += 3;
                    self.arithmetic();
                }
                Tok::C('$') if self.is(1, '(') => {
                    self.i += 2;
                    let outer = std::mem::take(&mut self.words);
                    self.code(Until::Paren);
                    self.words = outer;
                }
                Tok::C(_) => self.i += 1,
            }
        }
    }

    /// After `$((` or `((`: until the matching `))`.
    fn arithmetic(&mut self) {
        let mut parens = 0u32;
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Slot => {
                    self.i += 1;
                    self.push_slot(Context::Arithmetic);
                }
                Tok::C('(') => {
                    parens += 1;
                    self.i += 1;
                }
                Tok::C(')') if parens == 0 => {
                    self.i += if self.is(1, ')') { 2 } else { 1 };
                    return;
                }
                Tok::C(')') => {
                    parens -= 1;
                    self.i += 1;
                }
                Tok::C('"') => {
                    // Quotes do not stop arithmetic evaluation.
                    self.i += 1;
                    let first = self.out.contexts.len();
                    self.double();
                    self.as_arithmetic(first);
                }
                Tok::C(_) => self.i += 1,
            }
        }
    }

    fn as_arithmetic(&mut self, first: usize) {
        for c in &mut self.out.contexts[first..] {
            if matches!(c, Context::Unquoted | Context::DoubleQuoted) {
                *c = Context::Arithmetic;
            }
        }
    }

    /// After `[[`: until `]]`; slots are arithmetic when a numeric operator is used.
    fn test(&mut self) {
        let first = self.out.contexts.len();
        let mut text = String::new();
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Slot => {
                    self.i += 1;
                    self.push_slot(Context::Unquoted);
                    text.push('\0');
                }
                Tok::C(']') if self.is(1, ']') => {
                    self.i += 2;
                    break;
                }
                Tok::C('"') => {
                    self.i += 1;
                    self.double();
                    text.push('"');
                }
                Tok::C('\'') => {
                    self.i += 1;
                    self.single();
                }
                Tok::C(c) => {
                    self.i += 1;
                    text.push(c);
                }
            }
        }
        let numeric =
            text.split_whitespace().any(|w| matches!(w, "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge"));
        if numeric {
            self.as_arithmetic(first);
        }
    }

    fn comment(&mut self) {
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::C('\n') => return,
                Tok::Slot => self.push_slot(Context::Comment),
                Tok::C(_) => {}
            }
            self.i += 1;
        }
    }

    /// After `<<`: `-`, blanks, then the delimiter word (quoted anywhere: no expansion).
    fn heredoc_operator(&mut self) {
        let strip_tabs = self.is(0, '-');
        if strip_tabs {
            self.i += 1;
        }
        while self.is(0, ' ') || self.is(0, '\t') {
            self.i += 1;
        }
        let mut delimiter = String::new();
        let mut expands = true;
        let mut quote: Option<char> = None;
        while let Some(tok) = self.peek(0) {
            let Tok::C(c) = tok else {
                // A placeholder in a delimiter: the body can never be found; stop here.
                return;
            };
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => delimiter.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    expands = false;
                }
                (None, '\\') => {
                    expands = false;
                    if let Some(Tok::C(n)) = self.peek(1) {
                        delimiter.push(n);
                        self.i += 1;
                    }
                }
                (None, c) if c.is_whitespace() || OPERATORS.contains(c) => break,
                (None, c) => delimiter.push(c),
            }
            self.i += 1;
        }
        if !delimiter.is_empty() {
            self.pending.push(HereDoc { delimiter, expands, strip_tabs });
        }
    }

    /// After a newline: the bodies of the here-documents announced on the line before.
    fn heredoc_bodies(&mut self) {
        for doc in std::mem::take(&mut self.pending) {
            loop {
                // One line of the body.
                let mut line = String::new();
                let mut has_slot = false;
                let mut ended = true;
                while let Some(tok) = self.peek(0) {
                    self.i += 1;
                    match tok {
                        Tok::C('\n') => {
                            ended = false;
                            break;
                        }
                        Tok::C(c) => line.push(c),
                        Tok::Slot => {
                            has_slot = true;
                            self.push_slot(if doc.expands { Context::HereDoc } else { Context::Literal });
                        }
                    }
                }
                let candidate = if doc.strip_tabs { line.trim_start_matches('\t') } else { line.as_str() };
                if (!has_slot && candidate == doc.delimiter) || (ended && self.peek(0).is_none()) {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Context::*;
    use super::*;

    /// `@` marks a slot.
    fn contexts(script: &str) -> Vec<Context> {
        let parts: Vec<&str> = script.split('@').collect();
        let mut pieces = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                pieces.push(Piece::Slot);
            }
            pieces.push(Piece::Text(p));
        }
        analyse(&pieces).contexts
    }

    #[test]
    fn quotes() {
        assert_eq!(contexts("echo @ \"a @ b\" 'c @' $'d @'"), [Unquoted, DoubleQuoted, Literal, Literal]);
        assert_eq!(contexts(r#"echo "it\"s @" 'x'@"#), [DoubleQuoted, Unquoted]);
    }

    #[test]
    fn comments_with_apostrophes_do_not_open_quotes() {
        assert_eq!(contexts("echo hi # it's @\necho @"), [Comment, Unquoted]);
        assert_eq!(contexts("echo a#b @ ${#x} @"), [Unquoted, Unquoted]);
    }

    #[test]
    fn here_documents() {
        assert_eq!(contexts("cat <<EOF\nhi @\nEOF\necho @"), [HereDoc, Unquoted]);
        assert_eq!(contexts("cat <<'EOF' >f\nhi @\nEOF\necho @"), [Literal, Unquoted]);
        assert_eq!(contexts("cat <<-\"E\"\n\thi @\n\tE\necho @"), [Literal, Unquoted]);
        assert_eq!(contexts("cat <<<@"), [Unquoted]);
        assert_eq!(contexts("cat <<A; cat <<'B'\n@\nA\n@\nB\n@"), [HereDoc, Literal, Unquoted]);
    }

    #[test]
    fn substitutions_nest() {
        assert_eq!(contexts("echo \"$(echo @ \"@\")\" `echo @`"), [Unquoted, DoubleQuoted, Unquoted]);
    }

    #[test]
    fn arithmetic_and_tests() {
        assert_eq!(contexts("echo $(( @ + 1 )) $((\"@\"))"), [Arithmetic, Arithmetic]);
        assert_eq!(contexts("(( @ > 2 )) && echo @"), [Arithmetic, Unquoted]);
        assert_eq!(contexts("[[ @ -gt 5 ]]; [[ \"@\" == x ]]"), [Arithmetic, DoubleQuoted]);
        assert_eq!(contexts("case @ in a) echo @;; esac"), [Unquoted, Unquoted]);
    }

    #[test]
    fn reparsing_commands_are_spotted() {
        let pieces = [
            Piece::Text("eval "),
            Piece::Slot,
            Piece::Text("; bash -c "),
            Piece::Slot,
            Piece::Text("; echo "),
            Piece::Slot,
            Piece::Text("; ssh -p 22 "),
            Piece::Slot,
            Piece::Text(" mailq "),
            Piece::Slot,
        ];
        let a = analyse(&pieces);
        let what: Vec<(usize, &str)> = a.reparse.iter().map(|r| (r.slot, r.what.as_str())).collect();
        assert_eq!(what, [(0, "eval"), (1, "bash -c"), (4, "ssh")], "the ssh host is not re-parsed");
    }
}
