//! Safe YAML parsing with errors that read like a compiler's.
//!
//! serde-saphyr parses with a budget (depth, aliases, nodes), so hostile input such as alias
//! bombs or deep nesting fails fast with an error instead of eating memory or the stack.
//!
//! A valid file is parsed once, straight into the typed mirror. A file that fails is parsed
//! again into a positioned tree (`tree.rs`), and the mirror is read from the tree one problem
//! at a time: each unknown key, duplicate key or wrong value is reported in the runbook's
//! terms (the key, the step it belongs to, where a misplaced key belongs, "did you mean")
//! and taken out, until the rest reads. So one `check` shows every such problem of a file,
//! and validation still runs on what is left. Syntax errors are described for people: what
//! is wrong with the indentation, a tab where it is.

use serde::de::DeserializeOwned;
use serde_saphyr::options::Options;

use super::diagnostic::{Diagnostic, did_you_mean, quote};
use super::keys::{self, Ctx};
use super::span::Pos;
use super::tree::{self, Node, Seg, Tree};

/// Files larger than this are refused before parsing: no runbook is anywhere near it.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// What kind of document is expected, for messages about the top level.
#[derive(Debug, Clone, Copy)]
pub enum Document {
    Runbook,
    Environments,
}

impl Document {
    fn needs(self) -> &'static str {
        match self {
            Document::Runbook => "a runbook is a mapping with at least `title:` and `steps:`",
            Document::Environments => {
                "environments.yaml is a mapping with `environments:` (and optionally `default:` and `monitors:`)"
            }
        }
    }
}

/// The parser's limits for runbook files (depth, aliases, nodes): one budget for every
/// reader, the full parser and the list's fast summaries alike.
pub(crate) fn options() -> Options {
    let mut options = Options::default();
    options.with_snippet = false;
    if let Some(budget) = options.budget.as_mut() {
        budget.max_depth = 48;
        budget.max_aliases = 1_000;
        budget.max_nodes = 100_000;
    }
    options
}

/// A parsed file: the typed value when there is one, and every problem found on the way.
#[derive(Debug)]
pub struct Parsed<T> {
    /// The value, with any unknown or wrong keys taken out (each one is in `diagnostics`).
    pub value: Option<T>,
    pub diagnostics: Vec<Diagnostic>,
    /// False when something later checks depend on had to be taken out (a step, its id, its
    /// kind, a capture, an input): then those checks would report problems that are not there.
    pub complete: bool,
}

impl<T> Parsed<T> {
    fn failed(d: Diagnostic) -> Self {
        Self { value: None, diagnostics: vec![d], complete: false }
    }
}

/// Checks size and encoding, then parses one YAML document into `T`, reporting every unknown
/// key and wrong value of the file.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], doc: Document) -> Parsed<T> {
    let text = match check_bytes(bytes, doc) {
        Ok(text) => text,
        Err(d) => return Parsed::failed(d),
    };
    match serde_saphyr::from_str_with_options::<T>(text, options()) {
        Ok(value) => Parsed { value: Some(value), diagnostics: Vec::new(), complete: true },
        Err(e) => recover(&e, text, doc),
    }
}

/// Keys whose loss changes what later checks see: a step's kind, id or capture, the inputs
/// and vars in scope, the environments, the jumps.
const LATER_CHECKS_NEED: &[&str] = &[
    "id",
    "run",
    "check",
    "choose",
    "capture",
    "inputs",
    "vars",
    "environments",
    "when_env",
    "next",
    "goto",
    "on_failure",
    "monitors",
    "steps",
];

/// The slow path: the typed parse failed, so read the file from a tree, one problem at a time.
fn recover<T: DeserializeOwned>(error: &serde_saphyr::Error, text: &str, doc: Document) -> Parsed<T> {
    let budget =
        matches!(error, serde_saphyr::Error::Budget { .. }) || error.to_string().contains("budget breached");
    if budget || matches!(error, serde_saphyr::Error::MultipleDocuments { .. }) {
        return Parsed::failed(translate(error, text, doc));
    }
    let Some(mut tree) = parse_tree(text) else {
        return Parsed::failed(syntax(error, text));
    };
    if !matches!(tree.node, Node::Map(_)) {
        let found = if matches!(tree.node, Node::Seq(_)) { "a list" } else { "a single value" };
        return Parsed::failed(Diagnostic::error(
            tree.pos,
            format!("expected a mapping at the top of the file, found {found}: {}", doc.needs()),
        ));
    }
    let mut diagnostics = Vec::new();
    let mut complete = true;
    let mut duplicates = Vec::new();
    tree.remove_duplicates(text, &mut |path, key, pos| duplicates.push((path.to_vec(), key.to_owned(), pos)));
    for (path, key, pos) in duplicates {
        diagnostics.push(Diagnostic::error(
            pos,
            format!(
                "duplicate key '{key}'{}: each key may appear once; remove one of them",
                describe(Some(&tree), &path)
            ),
        ));
    }
    // Each round takes out one problem and reads the tree again; past this many, the author
    // has enough to fix (and a hostile file cannot make the rounds cost seconds).
    for _ in 0..MAX_PROBLEMS {
        match tree::read::<T>(&tree, text) {
            // The typed parse refused what the tree reads: report its words rather than pass.
            Ok(_) if diagnostics.is_empty() => return Parsed::failed(translate(error, text, doc)),
            Ok(value) => return Parsed { value: Some(value), diagnostics, complete },
            Err(e) => {
                let (diagnostic, meant) = translate_tree(&e, &tree, text, doc);
                diagnostics.push(diagnostic);
                // A typo of a key the mapping lacks is read as the key the author meant, so
                // its value is still checked (and a required key is not reported missing).
                if let Some(meant) = meant
                    && tree.rename(&e.path, meant)
                {
                    continue;
                }
                match take_out(&e, doc) {
                    Some((path, needed)) if tree.remove(&path) => {
                        complete &= !needed;
                        take_out_emptied(&mut tree, &path, doc, &mut complete);
                    }
                    _ => return Parsed { value: None, diagnostics, complete: false },
                }
            }
        }
    }
    let last = diagnostics.last().map_or(Pos::new(1, 1), Diagnostic::pos);
    diagnostics.push(Diagnostic::error(
        last,
        format!("more than {MAX_PROBLEMS} problems in this file: fix these and check again"),
    ));
    Parsed { value: None, diagnostics, complete: false }
}

const MAX_PROBLEMS: usize = 200;

/// A mapping left without keys by taking one out (`expect: { status: 200 }` at a command step)
/// goes too, unless it is required: an empty `expect:` would only earn a second message.
fn take_out_emptied(tree: &mut Tree, removed: &[Seg], doc: Document, complete: &mut bool) {
    let Some((_, parent)) = removed.split_last() else { return };
    let Some((Seg::Key(k), holder)) = parent.split_last() else { return };
    if !tree.at(parent).is_some_and(Tree::is_empty_map)
        || keys::ctx_at(doc, holder).required().contains(&k.as_str())
    {
        return;
    }
    if tree.remove(parent) {
        *complete &= !LATER_CHECKS_NEED.contains(&k.as_str());
    }
}

/// What to take out of the tree so the read gets past `e`: the unknown key itself, else the
/// innermost optional key holding the problem, else the list item holding it. Also whether
/// later checks depend on what is taken out.
fn take_out(e: &tree::Error, doc: Document) -> Option<(Vec<Seg>, bool)> {
    if e.at_key {
        return Some((e.path.clone(), false));
    }
    // A missing key is a problem of the mapping itself: what holds the mapping goes.
    let mut inner_required = matches!(e.kind, tree::Kind::MissingField(_));
    for j in (0..e.path.len()).rev() {
        let container = keys::ctx_at(doc, &e.path[..j]);
        match &e.path[j] {
            Seg::Key(k) => {
                if container.required().contains(&k.as_str()) {
                    inner_required = true;
                    continue;
                }
                let needed = match container {
                    // An input, var or environment is in scope for placeholders; a command's
                    // env var or a request header is not.
                    Ctx::Names => !matches!(
                        j.checked_sub(1).map(|i| &e.path[i]),
                        Some(Seg::Key(p)) if p == "env" || p == "headers"
                    ),
                    _ => LATER_CHECKS_NEED.contains(&k.as_str()),
                };
                return Some((e.path[..=j].to_vec(), needed));
            }
            Seg::Index(_) if inner_required || j + 1 == e.path.len() => {
                let list = match j.checked_sub(1).map(|i| &e.path[i]) {
                    Some(Seg::Key(k)) => k.as_str(),
                    _ => "",
                };
                return Some((e.path[..=j].to_vec(), list != "tags"));
            }
            Seg::Index(_) => {}
        }
    }
    None
}

/// Refuses what is not worth parsing: too large, not UTF-8, or empty.
pub fn check_bytes(bytes: &[u8], doc: Document) -> Result<&str, Diagnostic> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            Pos::new(1, 1),
            format!(
                "file is {} bytes, larger than the {} byte limit for a runbook file: split it into smaller runbooks",
                bytes.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
        Diagnostic::error(
            Pos::new(line as u32, col as u32),
            format!("file is not valid UTF-8 (byte 0x{:02x}): save it as UTF-8", bytes[e.valid_up_to()]),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let meaningful = text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#') && l != "---" && l != "..."
    });
    let mut seen_content = false;
    for (i, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ");
        if is_marker && seen_content {
            return Err(Diagnostic::error(
                Pos::new(i as u32 + 1, 1),
                "file holds several YAML documents (separated by `---`): put each runbook in its own file",
            ));
        }
        let trimmed = line.trim();
        seen_content |= !is_marker && !trimmed.is_empty() && !trimmed.starts_with('#') && trimmed != "...";
    }
    if !meaningful {
        return Err(Diagnostic::error(Pos::new(1, 1), format!("file is empty: {}", doc.needs())));
    }
    Ok(text)
}

/// The typed parse's own error, for what the tree cannot say (budgets, several documents), and
/// as a last resort when the tree reads a file the typed parse refused.
fn translate(error: &serde_saphyr::Error, text: &str, doc: Document) -> Diagnostic {
    let pos = error.location().map(Pos::from).unwrap_or(Pos::new(1, 1));
    let raw = error.to_string();
    let msg = strip_location(&raw);
    if matches!(error, serde_saphyr::Error::MultipleDocuments { .. }) {
        return Diagnostic::error(
            pos,
            "file holds several YAML documents (separated by `---`): put each runbook in its own file",
        );
    }
    if matches!(error, serde_saphyr::Error::Budget { .. }) || msg.contains("budget breached") {
        let why = if msg.contains("Depth") {
            "file nests values more than 48 levels deep, more than any runbook needs: write it out flatter"
                .to_owned()
        } else if msg.contains("Alias")
            || msg.contains("Anchor")
            || msg.contains("Nodes")
            || msg.contains("Scalar")
        {
            "file expands to too many values (YAML aliases like `*name` multiply them, as in a 'billion laughs' bomb): write the values out without anchors".to_owned()
        } else {
            // The parser's own words here are debug text (`budget breached: …`): not for people.
            "file is too large or complex to load safely: split it into smaller runbooks, and write repeated values out instead of through YAML anchors".to_owned()
        };
        return Diagnostic::error(pos, why);
    }
    let _ = (text, doc);
    Diagnostic::error(pos, format!("invalid value here ({msg}): check the indentation and quoting"))
}

/// One problem found while reading the typed mirror from the tree, in the runbook's terms;
/// for a typo of a key the mapping lacks, also the key meant.
fn translate_tree(
    e: &tree::Error,
    tree: &Tree,
    text: &str,
    doc: Document,
) -> (Diagnostic, Option<&'static str>) {
    let pos = e.pos.unwrap_or(Pos::new(1, 1));
    let path = &e.path;
    if let tree::Kind::UnknownField { field, expected } = &e.kind {
        let container = &path[..path.len().saturating_sub(1)];
        let place = describe(Some(tree), container);
        let ctx = keys::ctx_at(doc, container);
        let kind = keys::step_kind(keys::step_of(tree, container));
        if let Some(hint) = keys::misplaced(ctx, field, kind) {
            return (Diagnostic::error(pos, format!("misplaced key '{field}'{place}: {hint}")), None);
        }
        let meant = did_you_mean(field, expected.iter().copied());
        let hint = match meant {
            Some(s) => format!(" (did you mean '{s}'?)"),
            None if expected.is_empty() => String::new(),
            None => format!(" (expected one of: {})", expected.join(", ")),
        };
        let absent = meant.filter(|m| tree.at(container).is_some_and(|c| c.get(m).is_none()));
        return (Diagnostic::error(pos, format!("unknown key '{field}'{place}{hint}")), absent);
    }
    (translate_value(e, tree, text, doc), None)
}

fn translate_value(e: &tree::Error, tree: &Tree, text: &str, doc: Document) -> Diagnostic {
    let pos = e.pos.unwrap_or(Pos::new(1, 1));
    let path = &e.path;
    match &e.kind {
        tree::Kind::UnknownField { field, .. } => Diagnostic::error(pos, format!("unknown key '{field}'")),
        tree::Kind::UnknownVariant { variant, expected } => {
            let hint = match did_you_mean(variant, expected.iter().copied()) {
                Some(s) => format!("; did you mean '{s}'?"),
                None => String::new(),
            };
            Diagnostic::error(
                pos,
                format!("{}: expected one of {}{hint}", key_phrase(path, tree, variant), expected.join(", ")),
            )
        }
        tree::Kind::MissingField(field) => {
            // Point at the mapping's first key: the mapping itself may start at a comment.
            let pos = match tree.at(path).map(|m| &m.node) {
                Some(Node::Map(entries)) => entries.first().map_or(pos, |(k, _)| k.pos),
                _ => pos,
            };
            let mut text = format!("missing required key '{field}'{}", describe(Some(tree), path));
            if path.is_empty() {
                text.push_str(&format!(": {}", doc.needs()));
            }
            Diagnostic::error(pos, text)
        }
        tree::Kind::Invalid { .. } | tree::Kind::Custom(_) if path.is_empty() => {
            let found = match tree.node {
                Node::Seq(_) => "a list",
                _ => "a single value",
            };
            Diagnostic::error(
                pos,
                format!("expected a mapping at the top of the file, found {found}: {}", doc.needs()),
            )
        }
        tree::Kind::Invalid { expected } | tree::Kind::Custom(expected) => {
            let written = match tree.at(path) {
                Some(node) => match node.text(text) {
                    Some(t) => t.into_owned(),
                    None => scalar_at(text, pos).to_owned(),
                },
                None => scalar_at(text, pos).to_owned(),
            };
            Diagnostic::error(
                pos,
                format!("{}: expected {}", key_phrase(path, tree, written.trim()), expected_type(expected)),
            )
        }
    }
}

/// The phrase naming a value, its key and place: "invalid value 'x' for 'retries' in step 'deploy'".
fn key_phrase(path: &[Seg], tree: &Tree, value: &str) -> String {
    let key = path.iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Index(_) => None,
    });
    let key_at = path.iter().rposition(|s| matches!(s, Seg::Key(_))).unwrap_or(0);
    match key {
        Some(k) => {
            format!("invalid value {} for '{k}'{}", quote(value), describe(Some(tree), &path[..key_at]))
        }
        None => format!("invalid value {}", quote(value)),
    }
}

/// What a reader expected, in the format's words.
fn expected_type(msg: &str) -> String {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("untagged enum statusspec") {
        return "an HTTP status code or a list of them, like 200 or [200, 204]".into();
    }
    if lower.contains("sequence") {
        return "a list (`- item` lines, or [a, b])".into();
    }
    if lower.contains("struct") || lower.contains("map") {
        return "a mapping (`key: value` lines, or { key: value })".into();
    }
    if ["u32", "u16", "u64", "i32", "i64", "integer"].iter().any(|t| lower.contains(t)) {
        return "a whole number".into();
    }
    if lower.contains("bool") {
        return "true or false".into();
    }
    if lower.contains("string") || lower.contains("span-aware") {
        return "text".into();
    }
    msg.to_string()
}

fn strip_location(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => match msg.find(": ") {
            // "error: line 4 column 9: mapping values are not allowed in this context"
            Some(i) if msg.starts_with("error: line ") => {
                let rest = &msg[i + 2..];
                let rest = rest.split_once(": ").map_or(rest, |(_, r)| r);
                rest.lines().next().unwrap_or(rest)
            }
            _ => msg.lines().next().unwrap_or(msg),
        },
    }
}

/// The text of the scalar written at `pos`, for quoting.
fn scalar_at(text: &str, pos: Pos) -> &str {
    let Some(line) = text.lines().nth(pos.line.saturating_sub(1) as usize) else {
        return "";
    };
    let start = line.char_indices().nth(pos.col.saturating_sub(1) as usize).map_or(line.len(), |(i, _)| i);
    let rest = &line[start..];
    if rest.starts_with(['{', '[']) {
        // A flow collection: quote it whole, up to its closing bracket on this line.
        let mut depth = 0usize;
        for (i, c) in rest.char_indices() {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return &rest[..=i];
                    }
                }
                _ => {}
            }
        }
        return rest;
    }
    // Cut at a comment or the end of a flow item.
    let end = rest.find(" #").into_iter().chain(rest.find([',', '}', ']'])).min().unwrap_or(rest.len());
    &rest[..end]
}

fn parse_tree(text: &str) -> Option<Tree> {
    let mut options = options();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    serde_saphyr::from_str_with_options::<Tree>(text, options).ok()
}

/// " in step 'deploy'", " in the check of step 'verify'", " in input 'version'", or "".
fn describe(tree: Option<&Tree>, path: &[Seg]) -> String {
    let Some(tree) = tree else { return String::new() };
    let field = |node: &Tree, key: &str| -> Option<String> {
        match &node.get(key)?.node {
            Node::Str(s) => Some(s.clone()),
            _ => None,
        }
    };
    match path {
        [] => String::new(),
        [Seg::Key(list), Seg::Index(i), rest @ ..] if list == "steps" || list == "monitors" => {
            let item = tree.at(&path[..2]);
            let name = item.and_then(|it| {
                field(it, "id").or_else(|| field(it, "title").map(|t| super::validate::default_step_id(&t)))
            });
            let what = if list == "steps" { "step" } else { "monitor" };
            let name = name.map_or_else(|| format!("{what} {}", i + 1), |n| format!("{what} '{n}'"));
            match rest {
                [] => format!(" in {name}"),
                _ => format!(" in '{}' of {name}", join_keys(rest)),
            }
        }
        [Seg::Key(map), Seg::Key(name), rest @ ..] if map == "inputs" || map == "environments" => {
            let what = if map == "inputs" { "input" } else { "environment" };
            match rest {
                [] => format!(" in {what} '{name}'"),
                _ => format!(" in '{}' of {what} '{name}'", join_keys(rest)),
            }
        }
        _ => format!(" in '{}'", join_keys(path)),
    }
}

fn join_keys(path: &[Seg]) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => format!("[{i}]"),
        })
        .collect::<Vec<_>>()
        .join(".")
        .replace(".[", "[")
}

/// A YAML syntax error, described for people: what is wrong with the indentation, where a tab
/// is, which quote or bracket is never closed.
fn syntax(error: &serde_saphyr::Error, text: &str) -> Diagnostic {
    let pos = error.location().map(Pos::from).unwrap_or(Pos::new(1, 1));
    let raw = error.to_string();
    let msg = strip_location(&raw);
    let lines: Vec<&str> = text.lines().collect();
    let line_at = |n: u32| lines.get(n.saturating_sub(1) as usize).copied().unwrap_or("");
    if let Some(d) = tab(msg, pos, &lines) {
        return d;
    }
    let here = line_at(pos.line);
    let indent = |l: &str| l.chars().take_while(|c| *c == ' ').count() as u32;
    // The column where a line's first key starts, after any `- ` list markers.
    let key_col = |l: &str| {
        let mut col = indent(l);
        let mut rest = &l[col as usize..];
        while let Some(r) = rest.strip_prefix("- ") {
            let spaces = r.chars().take_while(|c| *c == ' ').count();
            col += 2 + spaces as u32;
            rest = &r[spaces..];
        }
        col + 1
    };
    let key_name = |l: &str| {
        let col = key_col(l) as usize - 1;
        let rest = l.get(col..).unwrap_or("");
        rest.split(':').next().unwrap_or(rest).trim().to_owned()
    };
    // The nearest line above `n` with content.
    let above = |n: u32| {
        (1..n).rev().find(|&i| {
            let t = line_at(i).trim();
            !t.is_empty() && !t.starts_with('#')
        })
    };
    let at_key = |n: u32| Pos::new(n, key_col(line_at(n)));
    if msg.contains("mapping values are not allowed") {
        // Either a second `: ` in a plain value, or a key indented under a key that has a value.
        let before: String = here.chars().take(pos.col.saturating_sub(1) as usize).collect();
        if before.contains(": ") && !before.trim_start().starts_with("- ") || before.matches(": ").count() > 1
        {
            return Diagnostic::error(
                pos,
                "a second ': ' in a plain value: quote the value (like run: 'echo \"a: b\"'), or use a block (`run: |` and the text on the lines below)",
            );
        }
        if let Some(prev) = above(pos.line) {
            let (mine, theirs) = (key_col(here), key_col(line_at(prev)));
            if mine > theirs {
                return Diagnostic::error(
                    at_key(pos.line),
                    format!(
                        "`{}:` is indented to column {mine}, deeper than `{}:` on line {prev} (column {theirs}), which already has a value: keys of one mapping line up; move it to column {theirs}",
                        key_name(here),
                        key_name(line_at(prev)),
                    ),
                );
            }
        }
        return Diagnostic::error(
            at_key(pos.line),
            "this key is not lined up with the keys around it: keys of one mapping start at the same column",
        );
    }
    if msg.contains("did not find expected '-' indicator") {
        let item = |l: &str| l.trim_start().starts_with("- ") || l.trim() == "-";
        let list_line =
            (1..pos.line).rev().find(|&i| item(line_at(i)) && indent(line_at(i)) <= indent(here) + 2);
        let list_col = list_line.map(|i| indent(line_at(i)) + 1);
        return match (list_line, list_col) {
            (Some(l), Some(col)) if item(here) => Diagnostic::error(
                Pos::new(pos.line, indent(here) + 1),
                format!(
                    "this list item's `-` is at column {}, but the items above it (line {l}) are at column {col}: line the `-` up with them",
                    indent(here) + 1
                ),
            ),
            (Some(l), Some(_)) => Diagnostic::error(
                at_key(pos.line),
                format!(
                    "`{}:` is at column {}, where the list's `-` items are (line {l}): indent it to column {} to belong to the item above, or start a new item with `- `",
                    key_name(here),
                    key_col(here),
                    key_col(line_at(l)),
                ),
            ),
            _ => Diagnostic::error(
                at_key(pos.line),
                "this line is not lined up with the list above it: items start with `- ` at the same column",
            ),
        };
    }
    if msg.contains("did not find expected key") {
        if here.trim_start().starts_with("- ") {
            return Diagnostic::error(
                Pos::new(pos.line, indent(here) + 1),
                "a list item where a key was expected: line its `-` up with the other items of its list, or put the list under a key that ends in `:`",
            );
        }
        // Inside a block (`|` or `>`), a line indented less than the text ends the block.
        let block = (1..pos.line)
            .rev()
            .take_while(|&i| line_at(i).trim().is_empty() || indent(line_at(i)) > indent(here))
            .last();
        if let Some(first) = block
            && let Some(opener) = above(first)
            && line_at(opener).trim_end().ends_with(['|', '>', '-', '+'])
            && line_at(opener).contains(':')
        {
            let col = indent(line_at(first)) + 1;
            return Diagnostic::error(
                Pos::new(pos.line, indent(here) + 1),
                format!(
                    "this line is indented less than the text of the block started on line {opener} (column {col}): indent it to column {col}, or the block ends above it"
                ),
            );
        }
        if let Some(prev) = above(pos.line) {
            return Diagnostic::error(
                at_key(pos.line),
                format!(
                    "this line is not lined up with the keys around it (line {prev} starts at column {}): keys of one mapping start at the same column",
                    key_col(line_at(prev))
                ),
            );
        }
    }
    if msg.contains("unclosed quote")
        || msg.contains("found unexpected end of stream") && msg.contains("quoted")
    {
        return Diagnostic::error(pos, "this quote is never closed: end the value with the same quote mark");
    }
    if let Some(b) = msg.strip_prefix("unclosed bracket '").and_then(|r| r.chars().next()) {
        let close = if b == '{' { '}' } else { ']' };
        return Diagnostic::error(
            pos,
            format!(
                "this `{b}` is never closed: add `{close}` at the end of the value, or write it as indented lines"
            ),
        );
    }
    if let Some(c) = msg.strip_prefix("unexpected character: `").and_then(|r| r.chars().next()) {
        return Diagnostic::error(
            pos,
            format!("a value cannot start with '{c}' unquoted: put the value in quotes"),
        );
    }
    if msg.contains("cannot start any token") {
        let c = here.chars().nth(pos.col.saturating_sub(1) as usize).unwrap_or('?');
        return Diagnostic::error(
            pos,
            format!("a value cannot start with '{c}' unquoted: put the value in quotes"),
        );
    }
    Diagnostic::error(pos, format!("this is not valid YAML ({msg}): check the indentation and quoting here"))
}

/// A tab where YAML wants spaces, reported where the tab is (the parser often notices it at
/// the end of the line before).
fn tab(msg: &str, pos: Pos, lines: &[&str]) -> Option<Diagnostic> {
    if !msg.contains("tab") {
        return None;
    }
    let from = pos.line.saturating_sub(1) as usize;
    let indented = lines.iter().enumerate().skip(from).take(3).find_map(|(i, l)| {
        let lead: String = l.chars().take_while(|c| c.is_whitespace()).collect();
        lead.find('\t').map(|b| (i, lead[..b].chars().count()))
    });
    let (line, col) = match indented {
        Some(found) => found,
        None => {
            let l = lines.get(from)?;
            let col = l.chars().position(|c| c == '\t')?;
            (from, col)
        }
    };
    Some(Diagnostic::error(
        Pos::new(line as u32 + 1, col as u32 + 1),
        "a tab in the indentation: YAML indents with spaces only; replace the tab with spaces",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diags(text: &str) -> Vec<String> {
        let parsed = parse::<super::super::raw::RawRunbook>(text.as_bytes(), Document::Runbook);
        parsed.diagnostics.iter().map(|d| format!("{}: {}", d.pos(), d.message)).collect()
    }

    #[test]
    fn a_file_full_of_mistakes_stops_at_a_bound() {
        let mut text = String::from("title: A\nsteps:\n  - title: A\n");
        for i in 0..300 {
            text.push_str(&format!("    zz{i}: 1\n"));
        }
        let d = diags(&text);
        assert_eq!(d.len(), 201);
        assert!(d[200].contains("more than 200 problems"), "{}", d[200]);
    }

    #[test]
    fn a_tab_is_reported_where_it_is() {
        let d = diags("title: A\nsteps:\n  - title: A\n\trun: x\n");
        assert_eq!(d.len(), 1);
        assert!(d[0].starts_with("4:1: a tab in the indentation"), "{d:?}");
        let d = diags("title: A\nsteps:\n  - title: A\n    run: x\n  \t- title: B\n");
        assert!(d[0].starts_with("5:3: a tab"), "{d:?}");
    }

    #[test]
    fn indentation_errors_say_what_to_line_up() {
        let d = diags("title: A\nsteps:\n  - title: A\n     run: x\n");
        assert_eq!(
            d,
            [
                "4:6: `run:` is indented to column 6, deeper than `title:` on line 3 (column 5), which already has a value: keys of one mapping line up; move it to column 5"
            ]
        );
        let d = diags("title: A\nsteps:\n  - title: A\n  run: x\n");
        assert_eq!(
            d,
            [
                "4:3: `run:` is at column 3, where the list's `-` items are (line 3): indent it to column 5 to belong to the item above, or start a new item with `- `"
            ]
        );
        let d = diags("title: A\nsteps:\n  - title: A\n    run: x\n   - title: B\n");
        assert_eq!(
            d,
            [
                "5:4: this list item's `-` is at column 4, but the items above it (line 3) are at column 3: line the `-` up with them"
            ]
        );
        let d = diags("title: A\nsteps:\n- title: A\n  run: |\n    echo\n   echo2\n");
        assert_eq!(
            d,
            [
                "6:4: this line is indented less than the text of the block started on line 4 (column 5): indent it to column 5, or the block ends above it"
            ]
        );
        let d = diags("title: A\nsteps:\n  - title: A\n    run: x: y\n");
        assert!(d[0].starts_with("4:11: a second ': '"), "{d:?}");
        for d in [diags("title: 'A\n"), diags("title: A\nsteps:\n  - title: A\n    check: {http: x\n")] {
            assert!(!d[0].contains("did not find") && !d[0].contains("while "), "{d:?}");
        }
    }
}
