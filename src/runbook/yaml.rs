//! Safe YAML parsing with errors that read like a compiler's.
//!
//! serde-saphyr parses with a budget (depth, aliases, nodes), so hostile input such as alias
//! bombs or deep nesting fails fast with an error instead of eating memory or the stack. Its
//! messages name serde's view of the problem ("unknown field `x`, expected one of ..."); this
//! module rewrites them in the runbook's terms, with the key, the step it belongs to and a
//! suggestion.

use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::options::Options;

use super::diagnostic::{Diagnostic, did_you_mean, quote};
use super::span::{Pos, Sp};

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

fn options() -> Options {
    let mut options = Options::default();
    options.with_snippet = false;
    if let Some(budget) = options.budget.as_mut() {
        budget.max_depth = 48;
        budget.max_aliases = 1_000;
        budget.max_nodes = 100_000;
    }
    options
}

/// Checks size and encoding, then parses one YAML document into `T`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], doc: Document) -> Result<T, Diagnostic> {
    let text = check_bytes(bytes, doc)?;
    serde_saphyr::from_str_with_options::<T>(text, options()).map_err(|e| translate(&e, text, doc))
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
    let tree = parse_tree(text);
    let place = |path: &[Seg]| describe(tree.as_ref(), path);

    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, expected) = split_expected(rest);
        let path = tree.as_ref().and_then(|t| path_to(t, pos, Want::Key)).unwrap_or_default();
        let container = &path[..path.len().saturating_sub(1)];
        let hint = match did_you_mean(field, expected.iter().copied()) {
            Some(s) => format!(" (did you mean '{s}'?)"),
            None if expected.is_empty() => String::new(),
            None => format!(" (expected one of: {})", expected.join(", ")),
        };
        return Diagnostic::error(pos, format!("unknown key '{field}'{}{hint}", place(container)));
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (value, expected) = split_expected(rest);
        let path = tree.as_ref().and_then(|t| path_to(t, pos, Want::Value)).unwrap_or_default();
        let hint = match did_you_mean(value, expected.iter().copied()) {
            Some(s) => format!("; did you mean '{s}'?"),
            None => String::new(),
        };
        return Diagnostic::error(
            pos,
            format!(
                "{}: expected one of {}{hint}",
                key_phrase(&path, tree.as_ref(), value),
                expected.join(", ")
            ),
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let path = tree.as_ref().and_then(|t| path_to(t, pos, Want::Container)).unwrap_or_default();
        let at_top = path.is_empty();
        let mut text = format!("missing required key '{field}'{}", place(&path));
        if at_top {
            text.push_str(&format!(": {}", doc.needs()));
        }
        return Diagnostic::error(pos, text);
    }
    if msg.starts_with("duplicate mapping key") {
        let key =
            msg.strip_prefix("duplicate mapping key: ").and_then(|r| r.split(',').next()).unwrap_or("?");
        let path = tree.as_ref().and_then(|t| path_to(t, pos, Want::Key)).unwrap_or_default();
        let container = &path[..path.len().saturating_sub(1)];
        return Diagnostic::error(
            pos,
            format!(
                "duplicate key '{key}'{}: each key may appear once; remove one of them",
                place(container)
            ),
        );
    }
    if pos == Pos::new(1, 1) && msg.contains("expected mapping") {
        let found = match tree.as_ref().map(|t| &t.value) {
            Some(Node::Seq(_)) => "a list",
            _ => "a single value",
        };
        return Diagnostic::error(
            pos,
            format!("expected a mapping at the top of the file, found {found}: {}", doc.needs()),
        );
    }
    // A value of the wrong type: name the key and quote what was written.
    let path =
        tree.as_ref().and_then(|t| path_to(t, pos, Want::Value).or_else(|| path_to(t, pos, Want::Container)));
    match path {
        Some(path) if !path.is_empty() => {
            let written = scalar_at(text, pos);
            let expected = expected_type(msg);
            Diagnostic::error(
                pos,
                format!("{}: expected {expected}", key_phrase(&path, tree.as_ref(), written.trim())),
            )
        }
        _ => Diagnostic::error(pos, format!("invalid YAML: {msg}; check the indentation and quoting here")),
    }
}

/// The phrase naming a value, its key and place: "invalid value 'x' for 'retries' in step 'deploy'".
fn key_phrase(path: &[Seg], tree: Option<&Sp<Node>>, value: &str) -> String {
    let key = path.iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Index(_) => None,
    });
    let key_at = path.iter().rposition(|s| matches!(s, Seg::Key(_))).unwrap_or(0);
    match key {
        Some(k) => format!("invalid value {} for '{k}'{}", quote(value), describe(tree, &path[..key_at])),
        None => format!("invalid value {}", quote(value)),
    }
}

fn expected_type(msg: &str) -> String {
    let lower = msg.to_ascii_lowercase();
    if let Some(i) = lower.find("expected ").filter(|_| !lower.contains(" start")) {
        let what = &msg[i + "expected ".len()..];
        return match what.trim() {
            "a boolean" | "bool" => "true or false".into(),
            other => other.to_string(),
        };
    }
    if lower.contains("sequence start") {
        return "a list (`- item` lines, or [a, b])".into();
    }
    if lower.contains("mapping start") {
        return "a mapping (`key: value` lines, or { key: value })".into();
    }
    if lower.contains("u32") || lower.contains("u16") || lower.contains("i32") || lower.contains("integer") {
        return "a whole number".into();
    }
    if lower.contains("bool") {
        return "true or false".into();
    }
    if lower.contains("sequence") {
        return "a list".into();
    }
    if lower.contains("mapping") {
        return "a mapping of keys".into();
    }
    msg.to_string()
}

fn strip_location(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// Splits "x`, expected one of a, b" into ("x", ["a", "b"]).
fn split_expected(rest: &str) -> (&str, Vec<&str>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = tail
        .split_once("expected one of ")
        .or_else(|| tail.split_once("expected "))
        .map(|(_, list)| list.split(", ").map(|s| s.trim_matches('`')).collect())
        .unwrap_or_default();
    (name, expected)
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

/// A YAML node with positions; only built to describe where an error is.
#[derive(Debug)]
enum Node {
    Scalar(String),
    Seq(Vec<Sp<Node>>),
    Map(Vec<(Sp<Node>, Sp<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Sp<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Sp<Node>>()? {
            let value = map.next_value::<Sp<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

fn parse_tree(text: &str) -> Option<Sp<Node>> {
    let mut options = options();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    serde_saphyr::from_str_with_options::<Sp<Node>>(text, options).ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// The key written at the position (unknown or duplicate keys).
    Key,
    /// The value written at the position (wrong types and values).
    Value,
    /// The outermost mapping starting at the position (missing keys).
    Container,
}

/// The path from the root to what is written at `pos`.
fn path_to(root: &Sp<Node>, pos: Pos, want: Want) -> Option<Vec<Seg>> {
    fn walk(node: &Sp<Node>, pos: Pos, want: Want, path: &mut Vec<Seg>) -> bool {
        if want == Want::Container && node.pos == pos && matches!(node.value, Node::Map(_)) {
            return true;
        }
        match &node.value {
            Node::Scalar(_) => want == Want::Value && node.pos == pos,
            Node::Seq(items) => items.iter().enumerate().any(|(i, item)| {
                path.push(Seg::Index(i));
                let found = walk(item, pos, want, path);
                if !found {
                    path.pop();
                }
                found
            }),
            Node::Map(entries) => entries.iter().any(|(k, v)| {
                let name = match &k.value {
                    Node::Scalar(s) => s.clone(),
                    _ => "?".into(),
                };
                path.push(Seg::Key(name));
                if want == Want::Key && k.pos == pos {
                    return true;
                }
                let found = walk(v, pos, want, path);
                if !found {
                    path.pop();
                }
                found
            }),
        }
    }
    let mut path = Vec::new();
    walk(root, pos, want, &mut path).then_some(path)
}

/// " in step 'deploy'", " in the check of step 'verify'", " in input 'version'", or "".
fn describe(tree: Option<&Sp<Node>>, path: &[Seg]) -> String {
    let Some(tree) = tree else { return String::new() };
    fn get<'n>(node: &'n Sp<Node>, seg: &Seg) -> Option<&'n Sp<Node>> {
        match (&node.value, seg) {
            (Node::Seq(items), Seg::Index(i)) => items.get(*i),
            (Node::Map(entries), Seg::Key(k)) => entries
                .iter()
                .find(|(key, _)| matches!(&key.value, Node::Scalar(s) if s == k))
                .map(|(_, v)| v),
            _ => None,
        }
    }
    let field = |node: &Sp<Node>, key: &str| -> Option<String> {
        match &get(node, &Seg::Key(key.into()))?.value {
            Node::Scalar(s) => Some(s.clone()),
            _ => None,
        }
    };
    match path {
        [] => String::new(),
        [Seg::Key(list), Seg::Index(i), rest @ ..] if list == "steps" || list == "monitors" => {
            let item = get(tree, &Seg::Key(list.clone())).and_then(|l| get(l, &Seg::Index(*i)));
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
