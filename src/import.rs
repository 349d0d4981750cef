//! Markdown runbook pages → runbooks.
//!
//! Teams keep runbooks as Markdown: a page per alert with Meaning, Impact, Diagnosis and
//! Mitigation sections, commands in fenced blocks with `$ ` prompts and sample output, and
//! `<placeholders>` to fill in. [`convert`] reads one page with pulldown-cmark and keeps the
//! prose as it was written (byte ranges of the source, so links, lists and tables survive);
//! shell blocks become command steps ([`shell`]); [`emit`] writes the YAML.

pub mod emit;
pub mod shell;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, MetadataBlockKind, Options, Parser, Tag, TagEnd};

/// Kinds a runbook may have, as `--kind` and front matter `kind:` accept them.
pub const KINDS: &[&str] = &["incident", "recovery", "deploy", "maintenance", "onboarding", "other"];

/// Sections whose prose explains the page rather than asking for work.
const SUMMARY: &[&str] = &["meaning", "impact", "summary", "description", "overview", "about", "background"];

/// A converted page, ready to be written as YAML.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Page {
    pub title: String,
    pub description: Option<String>,
    pub kind: String,
    pub tags: Vec<String>,
    pub owner: Option<String>,
    /// `(name, description)` in order of first use.
    pub inputs: Vec<(String, String)>,
    pub steps: Vec<Step>,
    /// What a human should look at (said in the summary and in a comment of the file).
    pub notes: Vec<String>,
}

/// A step of a converted page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub body: Option<String>,
    pub run: Option<String>,
    pub shell: Option<&'static str>,
    pub interactive: bool,
    pub confirm: bool,
}

/// A page that cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// One heading's worth of the page.
#[derive(Debug, Default)]
struct Section {
    heading: Option<String>,
    summary: bool,
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    /// Markdown as written in the page.
    Prose(String),
    /// A fenced shell block: language and code.
    Shell(String, String),
}

/// Converts one Markdown page. `name` (the file name without extension) is the title when the
/// page has neither front matter `title:` nor a `# heading`; `kind` is `--kind`.
pub fn convert(markdown: &str, name: &str, kind: Option<&str>) -> Result<Page, ImportError> {
    let markdown = markdown.strip_prefix('\u{feff}').unwrap_or(markdown);
    // Pages saved on Windows: a `\r` left in a command would reach the shell.
    let unix;
    let markdown = if markdown.contains('\r') {
        unix = markdown.replace("\r\n", "\n").replace('\r', "\n");
        unix.as_str()
    } else {
        markdown
    };
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut parser = Parser::new_ext(markdown, options).into_offset_iter();
    let refs: Vec<(String, String)> = parser
        .reference_definitions()
        .iter()
        .map(|(label, def)| (label.to_lowercase(), markdown[def.span.clone()].trim().to_owned()))
        .collect();

    let mut page = Page::default();
    let mut front = FrontMatter::default();
    let mut title: Option<String> = None;
    let mut sections = vec![Section::default()];
    let mut summary_level: Option<HeadingLevel> = None;
    let mut depth = 0usize;
    let mut heading: Option<(HeadingLevel, String)> = None;
    let mut code: Option<(String, String)> = None;
    let mut nested: Vec<Item> = Vec::new();
    let mut metadata = String::new();
    let mut in_metadata = false;
    for (event, range) in parser.by_ref() {
        match event {
            Event::Start(tag) => {
                depth += 1;
                match tag {
                    Tag::Heading { level, .. } if depth == 1 => heading = Some((level, String::new())),
                    Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                        let lang = info.split([' ', ',', '{']).next().unwrap_or("").to_owned();
                        code = Some((lang, String::new()));
                    }
                    Tag::MetadataBlock(MetadataBlockKind::YamlStyle) => in_metadata = true,
                    _ => {}
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text)) = heading.as_mut() {
                    text.push_str(&t);
                } else if let Some((_, text)) = code.as_mut() {
                    text.push_str(&t);
                } else if in_metadata {
                    metadata.push_str(&t);
                }
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                match end {
                    TagEnd::Heading(_) if depth == 0 => {
                        let (level, text) = heading.take().unwrap_or((HeadingLevel::H2, String::new()));
                        let text = text.trim().to_owned();
                        if level == HeadingLevel::H1 && title.is_none() {
                            title = Some(text);
                            continue;
                        }
                        let in_summary = summary_level.is_some_and(|l| level > l);
                        let named = SUMMARY.contains(&text.to_lowercase().trim_end_matches(':'));
                        summary_level = if named {
                            Some(level)
                        } else if in_summary {
                            summary_level
                        } else {
                            None
                        };
                        sections.push(Section {
                            heading: Some(text),
                            summary: named || in_summary,
                            items: vec![],
                        });
                    }
                    TagEnd::MetadataBlock(_) => {
                        in_metadata = false;
                        front = FrontMatter::parse(&metadata)?;
                        metadata.clear();
                    }
                    TagEnd::CodeBlock => {
                        let (lang, text) = code.take().unwrap_or_default();
                        let section = sections.last_mut().expect("one section at least");
                        if shell::is_shell(&lang) && depth == 0 {
                            section.items.push(Item::Shell(lang, text));
                        } else if depth == 0 {
                            section.items.push(Item::Prose(markdown[range].trim_end().to_owned()));
                        } else if shell::is_shell(&lang) {
                            // A block inside a list item stays in the list's text, and also
                            // becomes a command step after it.
                            nested.push(Item::Shell(lang, text));
                        }
                    }
                    _ if depth == 0 => {
                        let section = sections.last_mut().expect("one section at least");
                        section.items.push(Item::Prose(markdown[range].trim_end().to_owned()));
                        section.items.append(&mut nested);
                    }
                    _ => {}
                }
            }
            Event::Html(_) | Event::Rule if depth == 0 => {
                let section = sections.last_mut().expect("one section at least");
                section.items.push(Item::Prose(markdown[range].trim_end().to_owned()));
            }
            _ => {}
        }
    }

    page.title = front.title.clone().or(title).filter(|t| !t.is_empty()).unwrap_or_else(|| {
        page.notes.push("no title in the page: the file name is the title".into());
        name.to_owned()
    });
    page.tags = front.tags.clone();
    page.owner = front.owner.clone();
    page.kind = match (kind, front.kind.as_deref()) {
        (Some(k), _) => k.to_owned(),
        (None, Some(k)) if KINDS.contains(&k) => k.to_owned(),
        (None, other) => {
            if let Some(k) = other {
                page.notes.push(format!("front matter kind '{k}' is not a runbook kind: guessed instead"));
            }
            guess_kind(&page.title, &sections).to_owned()
        }
    };
    if !front.unmapped.is_empty() {
        page.notes.push(format!("front matter keys not carried over: {}", front.unmapped.join(", ")));
    }
    Builder { page: &mut page, refs: &refs, ids: Vec::new() }.steps(sections, front.description);
    Ok(page)
}

/// Alert pages (Meaning / Impact / Diagnosis sections, or an alert-style name) are incidents.
fn guess_kind(title: &str, sections: &[Section]) -> &'static str {
    let alertish = sections.iter().filter_map(|s| s.heading.as_deref()).any(|h| {
        let h = h.to_lowercase();
        h == "meaning" || h == "impact" || h == "diagnosis" || h == "mitigation"
    });
    let camel = !title.contains(' ') && title.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2;
    if alertish || camel || title.to_lowercase().contains("alert") { "incident" } else { "other" }
}

struct Builder<'a> {
    page: &'a mut Page,
    refs: &'a [(String, String)],
    ids: Vec<String>,
}

impl Builder<'_> {
    fn steps(mut self, sections: Vec<Section>, front_description: Option<String>) {
        let mut intro: Vec<String> = Vec::new();
        let mut summary: Vec<String> = Vec::new();
        let mut commands: Vec<Item> = Vec::new();
        let mut rest = Vec::new();
        for (i, section) in sections.into_iter().enumerate() {
            if i == 0 || section.summary {
                let mut prose = Vec::new();
                for item in section.items {
                    match item {
                        Item::Prose(p) => prose.push(p),
                        shell @ Item::Shell(..) => commands.push(shell),
                    }
                }
                if i == 0 {
                    intro = prose;
                } else if !prose.is_empty() || section.heading.is_some() {
                    summary.push(format!("**{}**", section.heading.unwrap_or_default()));
                    summary.extend(prose);
                }
            } else {
                rest.push(section);
            }
        }
        // The description is shown as it is (it is not a template): no `{{` escapes.
        let description = front_description.or_else(|| (!intro.is_empty()).then(|| self.prose(&intro)));
        self.page.description = description.clone();
        if !summary.is_empty() {
            let mut body = Vec::new();
            if self.page.description.is_none() {
                self.page.description = summary.get(1).cloned();
            } else if !intro.is_empty() {
                body.extend(intro.iter().cloned());
            }
            body.extend(summary);
            let body = self.body(&body);
            self.push(Step { title: "Understand the alert".into(), body: Some(body), ..Step::default() });
        }
        self.commands(commands, None);
        for section in rest {
            let heading = section.heading.unwrap_or_default();
            let mut items = section.items.into_iter().peekable();
            let mut prose = Vec::new();
            while let Some(Item::Prose(_)) = items.peek() {
                if let Some(Item::Prose(p)) = items.next() {
                    prose.push(p);
                }
            }
            let titled = if prose.is_empty() {
                Some(heading.clone())
            } else {
                let body = self.body(&prose);
                self.push(Step {
                    title: shell::escape_braces(&heading),
                    body: Some(body),
                    ..Step::default()
                });
                None
            };
            if items.peek().is_none() && prose.is_empty() {
                continue; // a heading that only groups sub-sections
            }
            self.commands(items.collect(), titled);
        }
        if self.page.steps.is_empty() {
            self.page.notes.push("no sections or commands: one manual step holds the page".into());
            let body = self.page.description.clone();
            self.push(Step { title: "Follow the page".into(), body, ..Step::default() });
        }
    }

    /// Command steps for shell blocks. Prose between two blocks introduces the next one
    /// ("If it keeps restarting, look at the logs:"), so it leads that step's body; prose after
    /// the last block ends the last step's body.
    fn commands(&mut self, items: Vec<Item>, mut title: Option<String>) {
        let mut pending: Option<Step> = None;
        let mut lead: Vec<String> = Vec::new();
        for item in items {
            match item {
                Item::Prose(p) => lead.push(p),
                Item::Shell(lang, code) => {
                    if let Some(step) = self.command(&lang, &code, title.clone(), &lead) {
                        title = None;
                        lead.clear();
                        if let Some(done) = pending.replace(step) {
                            self.push(done);
                        }
                    }
                }
            }
        }
        if !lead.is_empty() {
            let text = self.body(&lead);
            match pending.as_mut() {
                Some(step) => {
                    step.body = Some(step.body.take().map_or(text.clone(), |b| format!("{b}\n\n{text}")))
                }
                None => pending = Some(Step { title: "Then".into(), body: Some(text), ..Step::default() }),
            }
        }
        if let Some(step) = pending {
            self.push(step);
        }
    }

    fn command(&mut self, lang: &str, code: &str, title: Option<String>, lead: &[String]) -> Option<Step> {
        let block = shell::split(lang, code);
        if block.commands.is_empty() {
            if !block.samples.is_empty() || !code.trim().is_empty() {
                self.page.notes.push("a shell block with no command line was dropped".into());
            }
            return None;
        }
        let script = block.commands.join("\n");
        let (run, found, quoted) = shell::templatize(&script);
        for f in found {
            if !self.page.inputs.iter().any(|(n, _)| *n == f.name) {
                let description = shell::describe(&f);
                self.page.inputs.push((f.name, description));
            }
        }
        let first =
            run.lines().find(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()).unwrap_or("");
        let title =
            title.filter(|t| !t.is_empty()).map(|t| shell::escape_braces(&t)).unwrap_or_else(|| short(first));
        let interactive = shell::needs_terminal(&script);
        let confirm = shell::destructive(&script);
        if quoted {
            self.page
                .notes
                .push(format!("step '{}': a placeholder inside quotes was left as written", plain(&title)));
        }
        if interactive {
            self.page.notes.push(format!("step '{}': needs a terminal (interactive)", plain(&title)));
        }
        let mut body = lead.to_vec();
        for (cmd, output) in &block.samples {
            let fence = "`".repeat(longest_backticks(output).max(2) + 1);
            let cmd = cmd.lines().next().unwrap_or("").trim_end_matches('\\').trim_end();
            body.push(format!(
                "Example output of `{}`:\n\n{fence}text\n{}\n{fence}",
                cmd.replace('`', "'"),
                output
            ));
        }
        let body = (!body.is_empty()).then(|| self.body(&body));
        let shell = matches!(lang, "bash" | "zsh").then_some("bash");
        Some(Step { title, body, run: Some(run), shell, interactive, confirm, ..Step::default() })
    }

    /// Prose as a step body (a template): [`Self::prose`] with `{{` escaped.
    fn body(&self, parts: &[String]) -> String {
        shell::escape_braces(&self.prose(parts))
    }

    /// The parts joined, and the definitions of the reference links they use.
    fn prose(&self, parts: &[String]) -> String {
        let mut text = parts.join("\n\n");
        let lower = text.to_lowercase();
        let used: Vec<&String> = self
            .refs
            .iter()
            .filter(|(label, _)| lower.contains(&format!("[{label}]")))
            .map(|(_, def)| def)
            .collect();
        if !used.is_empty() {
            text.push_str("\n\n");
            text.push_str(&used.iter().map(|d| d.as_str()).collect::<Vec<_>>().join("\n"));
        }
        text
    }

    fn push(&mut self, mut step: Step) {
        let base = slug(&step.title);
        let mut id = base.clone();
        let mut n = 2;
        while self.ids.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.ids.push(id.clone());
        step.id = id;
        if step.title.trim().is_empty() {
            step.title = "Untitled section".into();
        }
        self.page.steps.push(step);
    }
}

/// A step title from a command line: at most 60 characters, never cutting a placeholder.
fn short(line: &str) -> String {
    let line = line.trim().trim_end_matches('\\').trim_end();
    if line.chars().count() <= 60 {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(59).collect();
    if let Some(open) = cut.rfind("{{")
        && !cut[open..].contains("}}")
    {
        cut.truncate(open);
    }
    format!("{}…", cut.trim_end())
}

/// A title without template escapes, for messages.
fn plain(title: &str) -> String {
    title.replace("\\{{", "{{")
}

fn longest_backticks(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A step id: lowercase letters, digits and `-`, at most 48 characters.
fn slug(title: &str) -> String {
    let mut id = String::new();
    for c in plain(title).chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
        if id.len() >= 48 {
            break;
        }
    }
    let id = id.trim_end_matches('-').to_owned();
    if id.is_empty() || id == "stop" || id == "continue" {
        format!("step-{id}").trim_end_matches('-').to_owned()
    } else {
        id
    }
}

/// Front matter keys that map onto runbook keys; the others are listed for a human.
#[derive(Debug, Default)]
struct FrontMatter {
    title: Option<String>,
    description: Option<String>,
    kind: Option<String>,
    tags: Vec<String>,
    owner: Option<String>,
    unmapped: Vec<String>,
}

impl FrontMatter {
    fn parse(yaml: &str) -> Result<Self, ImportError> {
        use serde_json::Value;
        if yaml.trim().is_empty() {
            return Ok(Self::default());
        }
        let map: indexmap::IndexMap<String, Value> = serde_saphyr::from_str(yaml)
            .map_err(|e| ImportError(format!("front matter is not a YAML mapping: {e}")))?;
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let mut front = Self::default();
        for (key, value) in &map {
            match key.as_str() {
                "title" | "name" => front.title = text(value),
                "description" | "summary" => front.description = text(value),
                "kind" | "type" => front.kind = text(value).map(|k| k.to_lowercase()),
                "owner" | "team" | "maintainer" => front.owner = text(value),
                "tags" | "labels" | "categories" => {
                    front.tags = match value {
                        Value::Array(items) => items.iter().filter_map(text).collect(),
                        other => text(other)
                            .map(|s| {
                                s.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect()
                            })
                            .unwrap_or_default(),
                    }
                }
                other => front.unmapped.push(other.to_owned()),
            }
        }
        Ok(front)
    }
}

#[cfg(test)]
mod tests;
