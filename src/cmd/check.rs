//! `runbook check`: compiler-style validation of runbooks and environments.yaml.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::Format;
use crate::runbook::load::{self, ENVIRONMENTS_FILE, FullLibrary, Loaded, Root, SourceFile};
use crate::runbook::{Environments, Severity};

#[derive(Debug, Serialize)]
struct JsonDiagnostic<'a> {
    path: &'a str,
    line: u32,
    column: u32,
    severity: Severity,
    message: &'a str,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    files: usize,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

/// Loads what `paths` name (or the whole search path) and reports every diagnostic.
/// Returns whether the check passed.
pub fn run(dirs: &[PathBuf], paths: &[PathBuf], strict: bool, format: Format) -> anyhow::Result<bool> {
    let mut reports = if paths.is_empty() { search_path_reports(dirs) } else { path_reports(dirs, paths)? };
    warn_duplicate_alerts(&mut reports);
    let errors = reports.iter().flat_map(|r| &r.diagnostics).filter(|d| d.is_error()).count();
    let warnings = reports.iter().flat_map(|r| &r.diagnostics).filter(|d| !d.is_error()).count();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Text => {
            for r in &reports {
                for d in &r.diagnostics {
                    writeln!(out, "{}", d.display(&r.display))?;
                }
            }
            // The summary (on stderr) comes after the diagnostics, in a terminal too.
            out.flush()?;
            let files = reports.len();
            eprintln!(
                "checked {files} file{}: {errors} error{}, {warnings} warning{}",
                plural(files),
                plural(errors),
                plural(warnings)
            );
        }
        Format::Json => {
            let report = JsonReport {
                files: reports.len(),
                errors,
                warnings,
                diagnostics: reports
                    .iter()
                    .flat_map(|r| {
                        r.diagnostics.iter().map(|d| JsonDiagnostic {
                            path: &r.display,
                            line: d.pos.line,
                            column: d.pos.column,
                            severity: d.severity,
                            message: &d.message,
                        })
                    })
                    .collect(),
            };
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(errors == 0 && (!strict || warnings == 0))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn search_path_reports(dirs: &[PathBuf]) -> Vec<Loaded> {
    let library = FullLibrary::load(crate::dirs::search_path(dirs));
    let broken: Vec<&str> =
        library.runbooks.iter().filter(|r| r.first_error().is_some()).map(|r| r.id.as_str()).collect();
    teach_the_list(dirs, &broken);
    let mut reports: Vec<Loaded> = library.environments_files;
    reports.extend(library.runbooks);
    reports.extend(unreadable(&library.unreadable));
    reports
}

/// Keeps what `check` found about the broken runbooks in the list index, so `list` and the
/// picker, which read only a runbook's top-level keys, mark them from now on (until the file
/// changes). Only the broken ones are opened again: a clean library costs one scan.
fn teach_the_list(dirs: &[PathBuf], broken: &[&str]) {
    if broken.is_empty() {
        return;
    }
    let mut library = crate::dirs::library(dirs);
    library.save_on_open = false;
    // One scan of the search path locates every id; opening each by itself would scan it
    // again per broken runbook.
    let _ = library.summaries();
    for id in broken {
        let _ = library.open(id);
    }
    library.save_index();
}

/// `check` keeps only what it prints, so memory stays flat however many files it reads
/// (and the runbooks that answer alerts, to warn about an alert two of them claim).
fn diagnostics_only(mut loaded: Loaded) -> Loaded {
    loaded.runbook = loaded.runbook.filter(|r| !r.alerts.is_empty());
    loaded
}

/// An alert named in the `alerts:` of two runbooks: only one opens for it (the first by id).
fn warn_duplicate_alerts(reports: &mut [Loaded]) {
    let claims: Vec<(String, Vec<String>)> = reports
        .iter()
        .filter_map(|r| r.runbook.as_ref().map(|rb| (rb.id.clone(), rb.alerts.clone())))
        .collect();
    let dups = crate::alerts::duplicates(claims.iter().map(|(id, a)| (id.as_str(), a.as_slice())));
    for (alert, ids) in dups {
        for r in reports.iter_mut() {
            let Some(rb) = r.runbook.clone() else { continue };
            let Some(i) = rb.alerts.iter().position(|a| *a == alert) else { continue };
            if !ids.contains(&rb.id) {
                continue;
            }
            let others: Vec<String> =
                ids.iter().filter(|id| **id != rb.id).map(|id| format!("'{id}'")).collect();
            r.diagnostics.push(crate::runbook::Diagnostic::warning(
                rb.alerts_at[i],
                format!(
                    "alert '{alert}' is also in the `alerts:` of {}: it opens '{}' (the first by id); list each alert in one runbook",
                    others.join(", "),
                    ids[0]
                ),
            ));
        }
    }
}

fn unreadable(list: &[(String, String)]) -> Vec<Loaded> {
    list.iter()
        .map(|(path, why)| {
            Loaded::report(
                path,
                path,
                vec![crate::runbook::Diagnostic::error(
                    crate::runbook::Pos::new(1, 1),
                    format!("cannot read the file: {why}"),
                )],
            )
        })
        .collect()
}

/// The environments a file or directory is checked against: the `environments.yaml` of the
/// nearest directory above it that has one, else the search path's.
struct EnvironmentsFor<'a> {
    dirs: &'a [PathBuf],
    fallback: Option<Option<Environments>>,
}

impl EnvironmentsFor<'_> {
    fn fallback(&mut self) -> Option<Environments> {
        self.fallback
            .get_or_insert_with(|| {
                let roots = crate::dirs::search_path(self.dirs);
                roots.iter().find_map(load::environments_file).and_then(|f| load::load_environments(&f).0)
            })
            .clone()
    }
}

fn path_reports(dirs: &[PathBuf], paths: &[PathBuf]) -> anyhow::Result<Vec<Loaded>> {
    let mut envs_for = EnvironmentsFor { dirs, fallback: None };
    let mut reports = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot check {}", path.display()))?;
        if meta.is_dir() {
            let files = load::read_root(&Root::Dir(path.clone()));
            let envs = match &files.environments {
                Some(f) => {
                    let (envs, diagnostics) = load::load_environments(f);
                    reports.push(Loaded::report(ENVIRONMENTS_FILE, &f.display, diagnostics));
                    envs
                }
                None => envs_for.fallback(),
            };
            let loaded: Vec<Loaded> = files
                .runbooks
                .par_iter()
                .map(|f| diagnostics_only(load::load_runbook(f, envs.as_ref())))
                .collect();
            reports.extend(loaded);
            reports.extend(unreadable(&files.unreadable));
        } else {
            let (root, envs_file) = root_of(path);
            let rel = path.strip_prefix(&root).unwrap_or(path).to_string_lossy().replace('\\', "/");
            let bytes = match load::read_limited(path) {
                Ok(b) => b,
                Err(e) => {
                    reports.extend(unreadable(&[(path.display().to_string(), e.to_string())]));
                    continue;
                }
            };
            let file = SourceFile { rel, display: path.display().to_string(), bytes: Cow::Owned(bytes) };
            if path.file_name().is_some_and(|n| n == ENVIRONMENTS_FILE) {
                let (_, diagnostics) = load::load_environments(&file);
                reports.push(Loaded::report(ENVIRONMENTS_FILE, &file.display, diagnostics));
                continue;
            }
            let envs = match envs_file {
                Some(p) => load::read_limited(&p).ok().and_then(|bytes| {
                    let f = SourceFile {
                        rel: ENVIRONMENTS_FILE.into(),
                        display: p.display().to_string(),
                        bytes: Cow::Owned(bytes),
                    };
                    load::load_environments(&f).0
                }),
                None => envs_for.fallback(),
            };
            reports.push(load::load_runbook(&file, envs.as_ref()));
        }
    }
    Ok(reports)
}

/// The runbooks directory a file belongs to: the nearest ancestor with `environments.yaml`,
/// else the file's own directory.
fn root_of(file: &Path) -> (PathBuf, Option<PathBuf>) {
    let parent = file.parent().map(Path::to_path_buf).unwrap_or_default();
    for dir in parent.ancestors() {
        let candidate = dir.join(ENVIRONMENTS_FILE);
        if candidate.is_file() {
            return (dir.to_path_buf(), Some(candidate));
        }
    }
    (parent, None)
}
