//! `runbook list`: every runbook on the search path, broken ones with their first error.

use std::io::Write;

use crate::text::escape_controls;
use std::path::PathBuf;

use crate::cli::Format;
use crate::fuzzy::Fuzzy;
use crate::runbook::index::Summary;

#[derive(Debug, serde::Serialize)]
struct JsonEntry<'a> {
    id: &'a str,
    kind: Option<String>,
    title: &'a str,
    tags: &'a [String],
    path: &'a str,
    error: Option<&'a str>,
}

/// With `RUNBOOK_INDEX_STATS=1`, says on stderr what the index had to do: how many runbook
/// files it looked at, read and hashed, parsed (top-level keys) and validated in full.
pub fn print_index_stats(stats: crate::runbook::index::Stats) {
    if std::env::var_os("RUNBOOK_INDEX_STATS").is_some_and(|v| v == "1") {
        eprintln!(
            "runbook: index: {} files, {} read and hashed, {} parsed, {} validated",
            stats.files, stats.hashed, stats.parsed, stats.validated
        );
    }
}

pub fn run(dirs: &[PathBuf], filter: Option<&str>, format: Format) -> anyhow::Result<()> {
    let (summaries, stats) = crate::dirs::library(dirs).summaries();
    print_index_stats(stats);
    let shown: Vec<&Summary> = match filter {
        Some(q) => {
            let mut fuzzy = Fuzzy::new(q);
            let haystacks: Vec<String> = summaries.iter().map(Summary::haystack).collect();
            fuzzy.rank(haystacks.iter().map(String::as_str)).into_iter().map(|i| &summaries[i]).collect()
        }
        None => summaries.iter().collect(),
    };
    // Buffered: ten thousand runbooks would otherwise be a write per line.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Json => {
            let entries: Vec<JsonEntry> = shown
                .iter()
                .map(|s| JsonEntry {
                    id: &s.id,
                    kind: s.kind.map(|k| k.to_string()),
                    title: &s.title,
                    tags: &s.tags,
                    path: &s.path,
                    error: s.error.as_deref(),
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &entries)?;
            writeln!(out)?;
        }
        Format::Text => {
            let id_w = shown.iter().map(|s| s.id.chars().count()).max().unwrap_or(2).max(2);
            writeln!(out, "{:id_w$}  {:11}  TITLE", "ID", "KIND")?;
            for s in &shown {
                match &s.error {
                    Some(err) => {
                        writeln!(out, "{:id_w$}  {:11}  error: {}", s.id, "broken", escape_controls(err))?
                    }
                    None => {
                        let kind = s.kind.map(|k| k.to_string()).unwrap_or_default();
                        let tags = if s.tags.is_empty() {
                            String::new()
                        } else {
                            format!("  [{}]", escape_controls(&s.tags.join(", ")))
                        };
                        let title = escape_controls(&s.title);
                        writeln!(out, "{:id_w$}  {kind:11}  {title}{tags}  ({})", s.id, s.path)?;
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}
