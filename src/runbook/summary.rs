//! The list's fast path: the few top-level keys a summary shows (`id`, `title`, `kind`,
//! `tags`, `alerts`), read without parsing the steps.
//!
//! A runbook's top level is a block mapping whose keys start at column 0; everything else in
//! the file (step lists, block scalars, nested mappings) is indented, or is a `- ` item of a
//! sequence written at column 0 under its key. So one pass over the lines finds where each
//! top-level entry starts, and only the entries a summary needs go through the YAML parser
//! (a few hundred bytes instead of the whole file).
//!
//! The scan is deliberately conservative: anything it does not fully understand (a document
//! marker after the start, a quoted or complex key, a merge key, a flow value that continues
//! on the next line, a duplicate or unknown key, a missing `title:` or `steps:`, a value the
//! parser refuses) makes [`head`] return `None`, and the caller loads the file with the full
//! parser and validator instead. So the fast path never produces an error message of its own:
//! every error still comes from the one validator, with its file:line:col.

use std::sync::OnceLock;

use serde::Deserialize;

use super::Kind;
use super::raw::RawRunbook;

/// What a summary shows of a runbook, as written at its top level.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Head {
    /// The `id:` the file declares, if any (else the id comes from the path).
    pub id: Option<String>,
    pub title: String,
    pub kind: Kind,
    pub tags: Vec<String>,
    /// Alert names the runbook answers (`alerts:`), empty when the key is absent.
    pub alerts: Vec<String>,
}

/// The keys a summary needs; only their entries are parsed.
const WANTED: [&str; 5] = ["id", "title", "kind", "tags", "alerts"];

#[derive(Deserialize)]
struct RawHead {
    id: Option<String>,
    title: String,
    kind: Option<Kind>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    alerts: Vec<String>,
}

/// The top-level keys a runbook may have: the fields of the serde mirror, read from its
/// `Deserialize` implementation so the two never drift apart.
pub fn runbook_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<&'static [&'static str]> = OnceLock::new();
    KEYS.get_or_init(fields_of::<RawRunbook>)
}

/// The summary fields of a runbook file, or `None` when it takes the full parser to say.
pub fn head(bytes: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(bytes).ok()?;
    if bytes.len() > super::yaml::MAX_FILE_BYTES || text.starts_with('\u{feff}') {
        return None;
    }
    let known = runbook_keys();
    // (key, byte range of the entry: its key line up to the next top-level key)
    let mut entries: Vec<(&str, usize, usize)> = Vec::with_capacity(12);
    // The current entry's value is written on its key line (so a `- ` line at column 0
    // cannot belong to it).
    let mut inline_value = false;
    let mut seen_content = false;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let Some(&first) = body.as_bytes().first() else { continue };
        match first {
            b' ' => {
                // Indented: part of the current entry (or a blank line of spaces).
                if entries.is_empty() && !body.trim_start().is_empty() && !body.trim_start().starts_with('#')
                {
                    return None;
                }
            }
            b'#' => continue,
            b'-' => {
                if body == "---" || body.starts_with("--- #") {
                    if seen_content {
                        return None;
                    }
                } else if (body == "-" || body.starts_with("- ")) && !entries.is_empty() && !inline_value {
                    // An item of a block sequence written at column 0 under its key.
                } else {
                    return None;
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let key_len = body
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                    .count();
                let (key, rest) = body.split_at(key_len);
                let value = rest.strip_prefix(':')?;
                if !(value.is_empty() || value.starts_with(' ')) {
                    return None;
                }
                if !known.contains(&key) || entries.iter().any(|(k, _, _)| *k == key) {
                    return None;
                }
                if let Some(last) = entries.last_mut() {
                    last.2 = start;
                }
                let value = value.trim();
                inline_value = !value.is_empty() && !value.starts_with('#');
                if inline_value && !is_complete_on_its_line(value) {
                    return None;
                }
                entries.push((key, start, text.len()));
            }
            _ => return None,
        }
        seen_content = true;
    }
    if !entries.iter().any(|(k, _, _)| *k == "title") || !entries.iter().any(|(k, _, _)| *k == "steps") {
        return None;
    }
    let raw = match simple_head(text, &entries) {
        Some(raw) => raw,
        None => parse_snippet(text, &entries)?,
    };
    if let Some(id) = &raw.id
        && !super::validate::valid_id(id)
    {
        return None;
    }
    Some(Head {
        id: raw.id,
        title: raw.title,
        kind: raw.kind.unwrap_or(Kind::Other),
        tags: raw.tags,
        alerts: raw.alerts,
    })
}

/// The wanted entries through the YAML parser, as one small document.
fn parse_snippet(text: &str, entries: &[(&str, usize, usize)]) -> Option<RawHead> {
    let mut snippet = String::with_capacity(256);
    for (key, from, to) in entries {
        if WANTED.contains(key) {
            snippet.push_str(&text[*from..*to]);
            if !snippet.ends_with('\n') {
                snippet.push('\n');
            }
        }
    }
    serde_saphyr::from_str_with_options(&snippet, super::yaml::options()).ok()
}

/// The wanted entries when each is written in the simplest form (a plain scalar on its key
/// line; a list of plain scalars in `[a, b]` or one `- a` per line), read without the parser.
/// `None` as soon as one is not: the parser reads them then.
fn simple_head(text: &str, entries: &[(&str, usize, usize)]) -> Option<RawHead> {
    let mut raw =
        RawHead { id: None, title: String::new(), kind: None, tags: Vec::new(), alerts: Vec::new() };
    for (key, from, to) in entries {
        if !WANTED.contains(key) {
            continue;
        }
        let entry = &text[*from..*to];
        let (line, rest) = entry.split_once('\n').unwrap_or((entry, ""));
        let value = line.trim_end_matches('\r')[key.len() + 1..].trim_start_matches(' ');
        let value = cut_comment(value);
        match *key {
            "tags" | "alerts" => {
                let list = simple_list(value, rest)?;
                if *key == "tags" { raw.tags = list } else { raw.alerts = list }
            }
            _ => {
                if !blank(rest) {
                    return None;
                }
                let v = plain(value, false)?.to_owned();
                match *key {
                    "id" => raw.id = Some(v),
                    "title" => raw.title = v,
                    _ => {
                        raw.kind = Some(match v.as_str() {
                            "incident" => Kind::Incident,
                            "recovery" => Kind::Recovery,
                            "deploy" => Kind::Deploy,
                            "maintenance" => Kind::Maintenance,
                            "onboarding" => Kind::Onboarding,
                            "other" => Kind::Other,
                            _ => return None,
                        })
                    }
                }
            }
        }
    }
    Some(raw)
}

/// The lines after a key line hold nothing (blank lines only).
fn blank(rest: &str) -> bool {
    rest.bytes().all(|b| b == b' ' || b == b'\n' || b == b'\r')
}

/// A value without its trailing ` # comment`.
fn cut_comment(value: &str) -> &str {
    match value.find(" #") {
        Some(i) => &value[..i],
        None => value,
    }
    .trim_end_matches(' ')
}

/// `[a, b]` on the key line, or `- a` lines below it, of plain scalars.
fn simple_list(value: &str, rest: &str) -> Option<Vec<String>> {
    if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        if !blank(rest) {
            return None;
        }
        if inner.trim_matches(' ').is_empty() {
            return Some(Vec::new());
        }
        return inner.split(',').map(|item| plain(item.trim_matches(' '), true).map(str::to_owned)).collect();
    }
    if !value.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for line in rest.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim_matches(' ').is_empty() {
            continue;
        }
        let item = line.trim_start_matches(' ').strip_prefix("- ")?;
        out.push(plain(cut_comment(item.trim_start_matches(' ')), false)?.to_owned());
    }
    (!out.is_empty()).then_some(out)
}

/// A plain scalar that every YAML reader takes as exactly this string: it starts with an ASCII
/// letter, holds no `: `, ` #`, tab or control character and does not end with `:`, holds no
/// flow indicator inside `[…]`, and is not a word YAML reads as null or a boolean.
fn plain(v: &str, in_flow: bool) -> Option<&str> {
    if !v.as_bytes().first()?.is_ascii_alphabetic()
        || v.contains(": ")
        || v.contains(" #")
        || v.ends_with(':')
        || v.chars().any(char::is_control)
        || (in_flow && v.contains([',', '[', ']', '{', '}']))
    {
        return None;
    }
    const WORDS: [&str; 9] = ["null", "true", "false", "yes", "no", "on", "off", "y", "n"];
    if WORDS.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        return None;
    }
    Some(v)
}

/// Whether a value written on its key line ends there. A quoted or flow value (`"…"`, `'…'`,
/// `[…]`, `{…}`) that goes on over several lines is left to the full parser, so a line inside
/// it can never be taken for a key.
fn is_complete_on_its_line(value: &str) -> bool {
    let bytes = value.as_bytes();
    match bytes[0] {
        b'"' => {
            let mut escaped = false;
            for &b in &bytes[1..] {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => return true,
                    _ => {}
                }
            }
            false
        }
        b'\'' => {
            // '' is an escaped quote; a lone ' closes.
            let rest = &value[1..];
            let mut i = 0;
            let rb = rest.as_bytes();
            while i < rb.len() {
                if rb[i] == b'\'' {
                    if rb.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return true;
                }
                i += 1;
            }
            false
        }
        b'[' | b'{' => {
            let mut depth = 0i32;
            let mut quote: Option<u8> = None;
            let mut escaped = false;
            for &b in bytes {
                match quote {
                    Some(_) if escaped => escaped = false,
                    Some(b'"') if b == b'\\' => escaped = true,
                    Some(q) if b == q => quote = None,
                    Some(_) => {}
                    None => match b {
                        b'"' | b'\'' => quote = Some(b),
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                return true;
                            }
                        }
                        _ => {}
                    },
                }
            }
            false
        }
        _ => true,
    }
}

/// The field names a derived `Deserialize` asks for, captured from its `deserialize_struct` call.
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Grab<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Grab<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Grab(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(text: &str) -> Option<Head> {
        head(text.as_bytes())
    }

    #[test]
    fn the_keys_come_from_the_serde_mirror() {
        let keys = runbook_keys();
        for k in ["id", "title", "kind", "tags", "steps", "inputs", "vars", "description"] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
    }

    #[test]
    fn reads_the_top_level_keys_without_the_steps() {
        let h = head_of(
            "# a comment\n---\ntitle: API 5xx # spike\nkind: incident\ntags: [api, 'edge']\nsteps:\n- title: x\n  body: |\n    title: not a key\n- title: y\nid: incidents/api\n",
        )
        .unwrap();
        assert_eq!(h.id.as_deref(), Some("incidents/api"));
        assert_eq!(h.title, "API 5xx");
        assert_eq!(h.kind, Kind::Incident);
        assert_eq!(h.tags, ["api", "edge"]);
        assert!(h.alerts.is_empty());
    }

    #[test]
    fn anything_unusual_goes_to_the_full_parser() {
        for text in [
            "title: x\n",                              // no steps
            "steps: []\n",                             // no title
            "title: x\nsteps: []\ntitle: y\n",         // duplicate
            "title: x\nsteps: []\ntiemout: 1\n",       // unknown key
            "\"title\": x\nsteps: []\n",               // quoted key
            "title: \"a\nb\"\nsteps: []\n",            // quoted over lines
            "title: [a,\nb]\nsteps: []\n",             // flow over lines
            "title: x\nsteps: []\n---\ntitle: y\n",    // several documents
            "<<: *a\ntitle: x\nsteps: []\n",           // merge key
            "  title: x\n  steps: []\n",               // indented mapping
            "title: *a\nsteps: []\n",                  // alias to elsewhere
            "title: x\nkind: incidnet\nsteps: []\n",   // bad kind
            "title: x\nid: 'bad id'\nsteps: []\n",     // invalid id
            "title: x\ntags: a\nsteps: []\n",          // wrong type
            "title:x\nsteps: []\n",                    // not a key
            "\u{feff}title: x\nsteps: []\n",           // BOM
            "title: x\nsteps: - a\n- b\n",             // item after an inline value
            "title: x\nsteps: []\n\tdescription: y\n", // tab
        ] {
            assert_eq!(head_of(text), None, "{text:?}");
        }
    }

    /// The hand reading of simple values says what the YAML parser says, or leaves it to it.
    #[test]
    fn simple_values_read_as_the_parser_reads_them() {
        let values = [
            "API 5xx",
            "API 5xx # spike",
            "a: b",
            "C# rollout",
            "yes",
            "No",
            "null",
            "Null",
            "y",
            "true",
            "on-call",
            "http://x.example/y",
            "x:",
            "Deploy v1.2",
            "tab\there",
            "Ünïcode title",
            "a  b",
            "[a, b]",
            "[]",
            "[a,b , c]",
            "[a, 'b']",
            "[a, [b]]",
            "[yes, x]",
            "[a: b]",
            "[a #c]",
            "incident",
            "deploy",
            "Incident",
            "a,b",
            "trailing ",
            "x  # c",
        ];
        for v in values {
            for key in ["title", "kind", "tags", "id"] {
                let text =
                    format!("{key}: {v}\nsteps: []\n{}", if key == "title" { "" } else { "title: t\n" });
                let entries = top_entries(&text);
                let simple = simple_head(&text, &entries);
                let parsed = parse_snippet(&text, &entries);
                if let Some(s) = simple {
                    let p = parsed.unwrap_or_else(|| panic!("{text:?}: read by hand, refused by the parser"));
                    assert_eq!(
                        (&s.id, &s.title, s.kind, &s.tags),
                        (&p.id, &p.title, p.kind, &p.tags),
                        "{text:?}"
                    );
                }
            }
        }
        // The generated corpus's form is read by hand.
        let text = "title: Generated runbook 1 for service-1\ndescription: |\n  x\nkind: deploy\ntags: [generated, team-1, tier-1]\nsteps:\n  - title: x\n";
        let entries = top_entries(text);
        assert_eq!(simple_head(text, &entries).unwrap().tags, ["generated", "team-1", "tier-1"]);
        let text = "title: T\ntags:\n  - a\n  - b # c\nsteps:\n- x\n";
        let entries = top_entries(text);
        assert_eq!(simple_head(text, &entries).unwrap().tags, ["a", "b"]);
        assert_eq!(parse_snippet(text, &entries).unwrap().tags, ["a", "b"]);
    }

    fn top_entries(text: &str) -> Vec<(&str, usize, usize)> {
        let mut out: Vec<(&str, usize, usize)> = Vec::new();
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            if let Some((key, _)) = line.split_once(':').filter(|_| !line.starts_with([' ', '-'])) {
                if let Some(last) = out.last_mut() {
                    last.2 = at;
                }
                out.push((key, at, text.len()));
            }
            at += line.len();
        }
        out
    }

    #[test]
    fn windows_line_endings_and_alerts() {
        let h = head_of("title: T\r\nalerts:\r\n  - HighErrorRate\r\nsteps:\r\n  - title: x\r\n");
        // `alerts` is read when the runbook format has the key; without it the file goes to
        // the full parser (which reports the unknown key).
        if runbook_keys().contains(&"alerts") {
            assert_eq!(h.unwrap().alerts, ["HighErrorRate"]);
        } else {
            assert_eq!(h, None);
        }
        assert_eq!(head_of("title: T\r\nsteps:\r\n  - title: x\r\n").unwrap().title, "T");
    }
}
