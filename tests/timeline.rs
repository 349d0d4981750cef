//! The exported timeline as a postmortem record: a real headless incident run against a
//! loopback service that fails, then recovers, exported as Markdown (parsed as CommonMark
//! with GFM tables) and JSON (checked against `runbook schema export`).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};
use support::{HealthServer, Sandbox, wait_for};

fn journal(dir: &Path) -> Option<String> {
    let runs = std::fs::read_dir(dir.join("data/runs")).ok()?;
    let run = runs.flatten().next()?.path();
    std::fs::read_to_string(run.join("journal.jsonl")).ok()
}

/// The Markdown as the structure a reader sees: headings, code blocks, tables, list items.
#[derive(Debug, Default)]
struct Doc {
    headings: Vec<(u8, String)>,
    /// (info string, text)
    code: Vec<(String, String)>,
    /// Each table as rows of cell texts (the header row first).
    tables: Vec<Vec<Vec<String>>>,
    items: Vec<String>,
    /// Text outside every block above (paragraphs).
    paragraphs: Vec<String>,
}

fn parse(md: &str) -> Doc {
    let mut opts = pulldown_cmark::Options::empty();
    opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
    let mut doc = Doc::default();
    let mut text = String::new();
    let mut in_code: Option<String> = None;
    let mut table: Option<Vec<Vec<String>>> = None;
    let mut in_item = 0;
    for event in Parser::new_ext(md, opts) {
        match event {
            Event::Start(Tag::Heading { .. })
            | Event::Start(Tag::Paragraph)
            | Event::Start(Tag::TableCell)
                if in_item == 0 =>
            {
                text.clear();
            }
            Event::End(TagEnd::Heading(level)) => {
                let n = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    _ => 4,
                };
                doc.headings.push((n, std::mem::take(&mut text)));
            }
            Event::End(TagEnd::Paragraph) if in_item == 0 => doc.paragraphs.push(std::mem::take(&mut text)),
            Event::Start(Tag::Item) => {
                in_item += 1;
                text.clear();
            }
            Event::End(TagEnd::Item) => {
                in_item -= 1;
                doc.items.push(std::mem::take(&mut text));
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                in_code = Some(match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => "indented".into(),
                });
                text.clear();
            }
            Event::End(TagEnd::CodeBlock) => {
                let info = in_code.take().unwrap_or_default();
                doc.code.push((info, std::mem::take(&mut text)));
            }
            Event::Start(Tag::Table(_)) => table = Some(Vec::new()),
            Event::End(TagEnd::Table) => doc.tables.extend(table.take()),
            Event::Start(Tag::TableHead) | Event::Start(Tag::TableRow) => {
                if let Some(t) = table.as_mut() {
                    t.push(Vec::new());
                }
            }
            Event::End(TagEnd::TableCell) => {
                if let Some(row) = table.as_mut().and_then(|t| t.last_mut()) {
                    row.push(std::mem::take(&mut text));
                }
            }
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::Html(h) | Event::InlineHtml(h) => panic!("the export must not hold HTML: {h:?}"),
            _ => {}
        }
    }
    doc
}

/// Ten lines of stdout and one of stderr. (Two pipes: where the stderr line lands among the
/// stdout lines depends on which the runner read first, so all of it fits the default tail.)
const COMMAND: &str = "echo \"checking the api\"\nfor i in $(seq 1 8); do echo \"log line $i\"; done\necho \"awk: read error (disk full)\" >&2\necho \"last line of the output\"\n";

#[test]
fn an_incident_run_exports_a_timeline_a_postmortem_can_be_written_from() {
    let sb = Sandbox::new();
    let dir = sb.path();
    let server = HealthServer::start();
    server.set_status(503);
    std::fs::create_dir_all(dir.join("books")).unwrap();
    std::fs::write(
        dir.join("books/environments.yaml"),
        format!(
            r#"default: prod
environments:
  prod:
    protected: true
    vars: {{ url: "{}" }}
monitors:
  - id: api
    title: API health
    check: {{ http: "{{{{ url }}}}" }}
    interval: 100ms
    fail_after: 2
"#,
            server.url("/health")
        ),
    )
    .unwrap();
    let command_yaml: String = COMMAND.lines().map(|l| format!("      {l}\n")).collect();
    std::fs::write(
        dir.join("books/incident.yaml"),
        format!(
            r#"id: api-down
title: API is down
steps:
  - id: page
    title: Page the database team
  - id: damage
    title: Look at the damage
    confirm: true
    run: |
{command_yaml}  - id: recover
    title: Wait for the API to recover
    check: {{ http: "{{{{ url }}}}", expect: {{ status: 200 }} }}
    wait: {{ timeout: 12s, interval: 100ms }}
  - id: stable
    title: Confirm it stays up
    check: {{ http: "{{{{ url }}}}", expect: {{ status: 200 }} }}
    wait: {{ timeout: 10s, interval: 300ms, passes: 3 }}
"#
        ),
    )
    .unwrap();

    let mut child = sb
        .cmd(&["run", "api-down", "--dir", "books", "--yes", "--confirm-env", "prod"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The service recovers once the run has seen it fail a few times.
    wait_for("five failed probes of the recover step", Duration::from_secs(10), || {
        let j = journal(dir)?;
        (j.matches(r#""type":"check_attempt","step":"recover""#).count() >= 5).then_some(())
    });
    server.set_status(200);
    let out = wait_for("the run to end", Duration::from_secs(15), || child.try_wait().unwrap());
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(out.success(), "the run succeeds: {stdout}");
    assert!(stdout.contains("monitor API health: down"), "headless prints health changes: {stdout}");

    // Markdown.
    let md = sb.cmd(&["export", "latest"]).output().unwrap();
    assert!(md.status.success(), "{}", String::from_utf8_lossy(&md.stderr));
    let md = String::from_utf8(md.stdout).unwrap();
    let doc = parse(&md);
    let h2: Vec<&str> = doc.headings.iter().filter(|(l, _)| *l == 2).map(|(_, t)| t.as_str()).collect();
    assert_eq!(h2, ["Summary", "Health", "Steps", "Events (UTC)"], "{md}");
    assert_eq!(doc.headings[0], (1, "Timeline: API is down".to_owned()));
    let h3: Vec<&str> = doc.headings.iter().filter(|(l, _)| *l == 3).map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        h3,
        [
            "1. Page the database team",
            "2. Look at the damage",
            "3. Wait for the API to recover",
            "4. Confirm it stays up"
        ],
        "steps by title, in run order"
    );
    // The header table: who, outcome.
    let header = &doc.tables[0];
    let row = |name: &str| header.iter().find(|r| r[0] == name).map(|r| r[1].clone()).unwrap_or_default();
    assert_eq!(row("Environment"), "prod");
    assert_eq!(row("Outcome"), "succeeded");
    assert!(row("Driven by").contains("(started)"), "{header:?}");
    assert!(!row("Duration").is_empty());
    // The multi-line command is a fenced block, line for line.
    let sh: Vec<&String> = doc.code.iter().filter(|(i, _)| i == "sh").map(|(_, t)| t).collect();
    assert_eq!(sh, [COMMAND], "{md}");
    // The output's end, stderr marked.
    let out_block =
        doc.code.iter().find(|(i, _)| i == "text").map(|(_, t)| t.clone()).expect("an output block");
    let out_lines: Vec<&str> = out_block.lines().collect();
    assert_eq!(out_lines.len(), 11, "every line fits the default tail of 20: {out_block}");
    assert!(out_lines.contains(&"[stderr] awk: read error (disk full)"), "{out_block}");
    assert!(out_lines.contains(&"last line of the output"), "{out_block}");
    assert!(out_lines.contains(&"log line 1"), "{out_block}");
    assert!(
        doc.paragraphs.iter().any(|p| p.contains("all 11 lines") && p.contains("damage.1.log")),
        "how much is shown and where the full log is: {:?}",
        doc.paragraphs
    );
    // Who confirmed, and how; who ticked.
    assert!(
        doc.items.iter().any(|i| i.starts_with("Confirmed by ") && i.ends_with(": --yes --confirm-env prod")),
        "{:?}",
        doc.items
    );
    assert!(
        doc.items.iter().any(|i| i.starts_with("Ticked by ") && i.ends_with(": --yes")),
        "{:?}",
        doc.items
    );
    // The health section: down, then up.
    let health =
        doc.tables.iter().find(|t| t[0] == ["Time (UTC)", "Monitor", "State", "Detail"]).expect("health");
    let states: Vec<&str> = health[1..].iter().map(|r| r[2].as_str()).collect();
    let down = states.iter().position(|s| *s == "✗ down").unwrap_or_else(|| panic!("{health:?}"));
    assert!(states[down..].contains(&"✓ up"), "came back: {health:?}");
    assert!(health.iter().all(|r| r[1] == "Monitor" || r[1] == "API health (api)"), "{health:?}");
    // The repeated 503s are one row with a count and a span; the passes are listed.
    let probes: Vec<&Vec<Vec<String>>> =
        doc.tables.iter().filter(|t| t[0] == ["Time (UTC)", "Probe", "Result"]).collect();
    assert_eq!(probes.len(), 2, "one probe table per check step");
    let failed: Vec<&Vec<String>> = probes[0][1..].iter().filter(|r| r[1] == "✗ failed").collect();
    assert_eq!(failed.len(), 1, "one collapsed row: {:?}", probes[0]);
    let count: u32 = failed[0][2].rsplit('×').next().unwrap().parse().unwrap();
    assert!(count >= 5 && failed[0][2].starts_with("HTTP 503 ×"), "{:?}", failed[0]);
    assert_eq!(probes[1][1..].iter().filter(|r| r[1] == "✓ passed").count(), 3, "{:?}", probes[1]);
    // The event table collapses them too.
    let events = doc.tables.last().unwrap();
    assert_eq!(events[0], ["Time", "Step", "Event", "Details"]);
    assert_eq!(
        events.iter().filter(|r| r[2] == "probe failed").count(),
        1,
        "one row for the repeated 503s in the event table too"
    );

    // JSON: the same facts, in the documented shape.
    let json = sb.cmd(&["export", "latest", "--format", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let schema = sb.cmd(&["schema", "export"]).output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "the export fits its schema: {errors:?}");
    assert_eq!(json["version"], 1);
    assert_eq!(json["outcome"], "succeeded");
    let steps = json["steps"].as_array().unwrap();
    let titles: Vec<&str> = steps.iter().map(|s| s["title"].as_str().unwrap()).collect();
    assert_eq!(titles[1], "Look at the damage");
    assert_eq!(steps[1]["id"], "damage");
    assert_eq!(steps[1]["command"], COMMAND);
    assert_eq!(steps[1]["people"][0]["what"], "confirmed");
    assert_eq!(steps[1]["people"][0]["how"], "--yes --confirm-env prod");
    assert_eq!(steps[0]["people"][0]["what"], "ticked");
    let tail = steps[1]["output"]["tail"].as_array().unwrap();
    assert!(tail.iter().any(|l| l["stream"] == "stderr" && l["text"] == "awk: read error (disk full)"));
    assert!(tail.iter().any(|l| l["stream"] == "stdout" && l["text"] == "last line of the output"));
    assert_eq!(steps[1]["output"]["left_out"], 0);
    assert_eq!(steps[1]["output"]["lines"], 11);
    let probes = steps[2]["probes"].as_array().unwrap();
    assert_eq!(probes.iter().filter(|p| p["passed"] == false).count(), 1);
    assert!(probes[0]["count"].as_u64().unwrap() >= 5 && probes[0]["result"] == "HTTP 503");
    assert!(probes[0]["from"].as_str() < probes[0]["to"].as_str(), "a time span: {:?}", probes[0]);
    let health: Vec<&str> =
        json["health"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    let down = health.iter().position(|s| *s == "down").expect("went down");
    assert!(health[down..].contains(&"up"), "came back: {health:?}");
}

/// `--tail N` and an output file readable only by its owner, whatever the umask; the data
/// directory, the journal and the step log (and its stderr ranges) too.
#[test]
fn run_data_and_an_export_are_private_under_a_permissive_umask() {
    let sb = Sandbox::new();
    let dir = sb.path();
    std::fs::create_dir_all(dir.join("books")).unwrap();
    std::fs::write(
        dir.join("books/noisy.yaml"),
        "id: noisy\ntitle: Noisy\nsteps:\n  - id: talk\n    title: Talk\n    run: |\n      echo out\n      echo err >&2\n      echo end\n",
    )
    .unwrap();
    let permissive = |c: &mut Command| {
        // SAFETY: umask only sets the child's file creation mask before exec.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    };
    let mut run = sb.cmd(&["run", "noisy", "--dir", "books", "--headless"]);
    permissive(&mut run);
    assert!(run.output().unwrap().status.success());
    let out = dir.join("timeline.md");
    let mut export = sb.cmd(&["export", "latest", "--tail", "2", "--output", out.to_str().unwrap()]);
    permissive(&mut export);
    let o = export.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("timeline.md"), "it says where");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let run_dir: PathBuf = std::fs::read_dir(dir.join("data/runs")).unwrap().flatten().next().unwrap().path();
    assert_eq!(mode(&dir.join("data")), 0o700);
    assert_eq!(mode(&run_dir), 0o700);
    assert_eq!(mode(&run_dir.join("journal.jsonl")), 0o600);
    assert_eq!(mode(&run_dir.join("steps/talk.1.log")), 0o600);
    assert_eq!(mode(&run_dir.join("steps/talk.1.log.stderr-ranges")), 0o600);
    assert_eq!(mode(&out), 0o600);
    let md = std::fs::read_to_string(&out).unwrap();
    let doc = parse(&md);
    let block = doc.code.iter().find(|(i, _)| i == "text").map(|(_, t)| t.clone()).unwrap();
    assert_eq!(block.lines().count(), 2, "--tail 2: {block}");
    assert!(
        doc.paragraphs.iter().any(|p| p.contains("the last 2 of 3 lines, 1 left out")),
        "{:?}",
        doc.paragraphs
    );
    // The raw log keeps the bytes of both streams; the ranges say which were stderr.
    let log = std::fs::read(run_dir.join("steps/talk.1.log")).unwrap();
    let ranges = std::fs::read_to_string(run_dir.join("steps/talk.1.log.stderr-ranges")).unwrap();
    let (start, len) = ranges.trim().split_once(' ').unwrap();
    let (start, len): (usize, usize) = (start.parse().unwrap(), len.parse().unwrap());
    assert_eq!(&log[start..start + len], b"err\n");
    // An existing file others could read becomes private too.
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut again = sb.cmd(&["export", "latest", "--format", "json", "-o", out.to_str().unwrap()]);
    permissive(&mut again);
    assert!(again.output().unwrap().status.success());
    assert_eq!(mode(&out), 0o600);
}
