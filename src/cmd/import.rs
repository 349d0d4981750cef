//! `runbook import SRC... --out DIR`: Markdown pages → runbook files, mirroring the tree.
//!
//! Every target is known before anything is written, so a refusal to overwrite leaves the
//! output directory as it was. A page that cannot be read or parsed is reported and the
//! others still convert.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;

use crate::cli::ImportArgs;
use crate::import::{self, Page};

/// Pages larger than this are refused: a runbook file has the same limit.
const MAX_PAGE_BYTES: u64 = 1024 * 1024;

/// Index pages of a runbook set list the other pages; they are not runbooks themselves.
const INDEX_PAGES: &[&str] = &["readme.md", "index.md", "_index.md", "summary.md"];

/// One page to convert: where it is, how to show it, and the runbook file it becomes.
#[derive(Debug, Clone)]
pub struct Job {
    pub source: PathBuf,
    pub shown: String,
    pub target: PathBuf,
}

/// Runs the import; the exit code: 0 done, 1 refused to overwrite, 2 usage.
pub fn run(args: &ImportArgs) -> anyhow::Result<u8> {
    let (jobs, skipped) = match plan(&args.sources, &args.out) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("runbook: {message}");
            return Ok(2);
        }
    };
    let mut seen = std::collections::HashSet::new();
    for job in &jobs {
        if !seen.insert(&job.target) {
            eprintln!(
                "runbook: two pages become {}: rename one of them (the second is {})",
                job.target.display(),
                job.shown
            );
            return Ok(2);
        }
    }
    if !args.force {
        let existing: Vec<&Job> = jobs.iter().filter(|j| j.target.exists()).collect();
        if !existing.is_empty() {
            for j in &existing {
                eprintln!("runbook: {} exists (from {}): not overwritten", j.target.display(), j.shown);
            }
            eprintln!(
                "runbook: nothing was written; pass --force to overwrite, or import into another --out"
            );
            return Ok(1);
        }
    }
    let results: Vec<(Job, Result<Page, String>)> = jobs
        .into_par_iter()
        .map(|job| {
            let page = convert_file(&job, args.kind.as_deref());
            (job, page)
        })
        .collect();
    let mut summary = Summary { skipped, ..Summary::default() };
    for (job, page) in results {
        match page.and_then(|p| write(&job, &p).map(|()| p)) {
            Ok(page) => summary.add(&job, page),
            Err(e) => summary.failed.push(format!("{}: {e}", job.shown)),
        }
    }
    print!("{}", summary.render(&args.out));
    Ok(0)
}

/// The pages under the sources and their targets under `out`.
pub fn plan(sources: &[PathBuf], out: &Path) -> Result<(Vec<Job>, usize), String> {
    let mut jobs = Vec::new();
    let mut skipped = 0;
    for src in sources {
        let meta = std::fs::metadata(src).map_err(|e| format!("cannot read '{}': {e}", src.display()))?;
        if meta.is_file() {
            let name = src.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("page.md"));
            jobs.push(Job {
                source: src.clone(),
                shown: src.display().to_string(),
                target: out.join(target(&name)),
            });
            continue;
        }
        let mut pages = Vec::new();
        walk(src, &mut pages, &mut skipped);
        pages.sort();
        for page in pages {
            let rel = page.strip_prefix(src).unwrap_or(&page).to_path_buf();
            jobs.push(Job {
                shown: page.display().to_string(),
                target: out.join(target(&rel)),
                source: page,
            });
        }
    }
    Ok((jobs, skipped))
}

fn walk(dir: &Path, pages: &mut Vec<PathBuf>, skipped: &mut usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            walk(&path, pages, skipped);
        } else if name.ends_with(".md") || name.ends_with(".markdown") {
            if INDEX_PAGES.contains(&name.as_str()) {
                *skipped += 1;
            } else {
                pages.push(path);
            }
        }
    }
}

/// `kubernetes/Node Not Ready.md` → `kubernetes/Node-Not-Ready.yaml`: every component made of
/// characters a runbook id allows.
pub fn target(rel: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let stem = if last { part.rsplit_once('.').map_or(part.as_str(), |(s, _)| s) } else { part.as_str() };
        let mut clean = String::new();
        for c in stem.chars() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                clean.push(c);
            } else if !clean.ends_with('-') {
                clean.push('-');
            }
        }
        let clean = clean.trim_matches(|c| c == '-' || c == '.').to_owned();
        let clean = if clean.is_empty() { "page".to_owned() } else { clean };
        out.push(if last { format!("{clean}.yaml") } else { clean });
    }
    out
}

fn convert_file(job: &Job, kind: Option<&str>) -> Result<Page, String> {
    let len = std::fs::metadata(&job.source).map_err(|e| format!("cannot read it: {e}"))?.len();
    if len > MAX_PAGE_BYTES {
        return Err(format!(
            "it is {len} bytes, larger than the {MAX_PAGE_BYTES} byte limit: split the page"
        ));
    }
    let bytes = std::fs::read(&job.source).map_err(|e| format!("cannot read it: {e}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("not valid UTF-8 (byte {}): save it as UTF-8", e.utf8_error().valid_up_to()))?;
    let name = job.source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    import::convert(&text, &name, kind).map_err(|e| e.to_string())
}

fn write(job: &Job, page: &Page) -> Result<(), String> {
    let yaml = import::emit::yaml(page, &job.shown);
    let write = || -> anyhow::Result<()> {
        if let Some(dir) = job.target.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&job.target, yaml).with_context(|| format!("cannot write {}", job.target.display()))
    };
    write().map_err(|e| format!("{e:#}"))
}

#[derive(Debug, Default)]
struct Summary {
    lines: Vec<String>,
    files: usize,
    steps: usize,
    commands: usize,
    inputs: usize,
    notes: usize,
    skipped: usize,
    failed: Vec<String>,
}

impl Summary {
    fn add(&mut self, job: &Job, page: Page) {
        let commands = page.steps.iter().filter(|s| s.run.is_some()).count();
        self.files += 1;
        self.steps += page.steps.len();
        self.commands += commands;
        self.inputs += page.inputs.len();
        self.notes += page.notes.len();
        self.lines.push(format!(
            "  {} → {}: {} steps ({commands} commands), {} inputs",
            job.shown,
            job.target.display(),
            page.steps.len(),
            page.inputs.len()
        ));
        self.lines.extend(page.notes.iter().map(|n| format!("      check: {n}")));
    }

    fn render(&self, out: &Path) -> String {
        let mut s = self.lines.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        for f in &self.failed {
            s.push_str(&format!("  ✗ {f}\n"));
        }
        s.push_str(&format!(
            "imported {} of {} files into {}: {} steps ({} commands), {} inputs; {} to check by hand",
            self.files,
            self.files + self.failed.len(),
            out.display(),
            self.steps,
            self.commands,
            self.inputs,
            self.notes,
        ));
        if !self.failed.is_empty() {
            s.push_str(&format!("; {} failed", self.failed.len()));
        }
        if self.skipped > 0 {
            let pages = if self.skipped == 1 { "page" } else { "pages" };
            s.push_str(&format!("; {} index {pages} skipped", self.skipped));
        }
        s.push_str(&format!("\nnext: runbook check {}\n", out.display()));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_mirror_the_tree_with_valid_ids() {
        assert_eq!(
            target(Path::new("kubernetes/KubePodCrashLooping.md")),
            PathBuf::from("kubernetes/KubePodCrashLooping.yaml")
        );
        assert_eq!(
            target(Path::new("On call/Node Not Ready!.md")),
            PathBuf::from("On-call/Node-Not-Ready.yaml")
        );
        assert_eq!(target(Path::new(".hidden.md")), PathBuf::from("hidden.yaml"));
        assert_eq!(target(Path::new("ü.markdown")), PathBuf::from("page.yaml"));
    }
}
