//! A converted page as runbook YAML, written by hand so that bodies and scripts read as block
//! literals (`|-`) a person can review, not as escaped one-line strings.

use std::fmt::Write;

use super::Page;

/// The runbook file for `page`; `source` is the page's path, said in the header comment.
pub fn yaml(page: &Page, source: &str) -> String {
    let mut out = String::with_capacity(1024);
    let _ = writeln!(
        out,
        "# Imported from {} by `runbook import`: review before relying on it.",
        one_line(source)
    );
    for note in &page.notes {
        let _ = writeln!(out, "# check: {}", one_line(note));
    }
    let _ = writeln!(out, "title: {}", quoted(&page.title));
    if let Some(d) = &page.description {
        let _ = writeln!(out, "description: {}", scalar(d, 2));
    }
    let _ = writeln!(out, "kind: {}", quoted(&page.kind));
    if !page.tags.is_empty() {
        let tags: Vec<String> = page.tags.iter().map(|t| quoted(t)).collect();
        let _ = writeln!(out, "tags: [{}]", tags.join(", "));
    }
    if let Some(owner) = &page.owner {
        let _ = writeln!(out, "owner: {}", quoted(owner));
    }
    if !page.inputs.is_empty() {
        out.push_str("inputs:\n");
        for (name, description) in &page.inputs {
            let _ = writeln!(out, "  {name}:\n    description: {}", quoted(description));
        }
    }
    out.push_str("steps:\n");
    for step in &page.steps {
        let _ = writeln!(out, "  - id: {}", quoted(&step.id));
        let _ = writeln!(out, "    title: {}", quoted(&step.title));
        if let Some(run) = &step.run {
            let _ = writeln!(out, "    run: {}", scalar(run, 6));
        }
        if let Some(shell) = step.shell {
            let _ = writeln!(out, "    shell: {shell}");
        }
        if step.interactive {
            out.push_str("    interactive: true\n");
        }
        if step.confirm {
            out.push_str("    confirm: true\n");
        }
        if let Some(body) = &step.body {
            let _ = writeln!(out, "    body: {}", scalar(body, 6));
        }
    }
    out
}

/// A string as YAML: a block literal for several lines, else a double-quoted string.
fn scalar(text: &str, indent: usize) -> String {
    let text = printable(text);
    let text = text.trim_end();
    // A block literal takes its indentation from its first line, so that line must not start
    // with a space; such text is double-quoted instead, as is anything on one line.
    if !text.contains('\n') || text.starts_with([' ', '\t', '\n']) {
        return quoted(text);
    }
    let pad = " ".repeat(indent);
    let mut out = String::from("|-\n");
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str(&pad);
            out.push_str(line);
            out.push('\n');
        }
    }
    out.pop();
    out
}

/// A double-quoted YAML string (JSON's quoting is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::to_string(&printable(text)).unwrap_or_else(|_| "\"\"".into())
}

/// YAML refuses most control characters even in quoted strings: keep tabs and newlines only.
fn printable(text: &str) -> String {
    text.replace("\r\n", "\n").chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

fn one_line(text: &str) -> String {
    printable(text).replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_text_is_a_block_literal_and_the_rest_is_quoted() {
        assert_eq!(scalar("one line: with colon", 4), "\"one line: with colon\"");
        assert_eq!(scalar("a\n\n  b\n", 4), "|-\n    a\n\n      b");
        assert_eq!(scalar("  indented\nnext", 4), "\"  indented\\nnext\"");
        assert_eq!(quoted("bell\u{7} tab\t"), "\"bell tab\\t\"");
    }
}
