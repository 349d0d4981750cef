//! The list index: one summary per runbook file, cached by content hash.
//!
//! Parsing YAML is what start-up costs, so `runbook list` and the picker read summaries from
//! a cache file keyed by a hash of everything a summary depends on: the program version, the
//! file's path and bytes, and the environments file. A changed byte is a different key, so
//! the cache is never served stale; it only saves work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Kind;
use super::load::{self, Loaded, Root, RootFiles, SourceFile};

/// What `runbook list` and the picker's list show of a runbook. Kept small on purpose: the
/// picker's preview loads the one selected file, which takes well under a millisecond.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub path: String,
    pub title: String,
    pub kind: Option<Kind>,
    pub tags: Vec<String>,
    /// The first error as `path:line:col: message`, for a broken runbook.
    pub error: Option<String>,
    pub warnings: usize,
}

impl Summary {
    pub fn from_loaded(l: &Loaded) -> Self {
        let error =
            l.first_error().map(|d| format!("{}:{}:{}: {}", l.display, d.pos.line, d.pos.column, d.message));
        let warnings = l.diagnostics.iter().filter(|d| !d.is_error()).count();
        match &l.runbook {
            Some(r) => Summary {
                id: l.id.clone(),
                path: l.display.clone(),
                title: r.title.clone(),
                kind: Some(r.kind),
                tags: r.tags.clone(),
                error,
                warnings,
            },
            None => Summary {
                id: l.id.clone(),
                path: l.display.clone(),
                title: String::new(),
                kind: None,
                tags: vec![],
                error,
                warnings,
            },
        }
    }

    pub fn is_broken(&self) -> bool {
        self.error.is_some()
    }

    /// The text the fuzzy filter matches against.
    pub fn haystack(&self) -> String {
        let kind = self.kind.map(|k| k.to_string()).unwrap_or_default();
        format!("{} {} {} {}", self.id, self.title, kind, self.tags.join(" "))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: String,
    entries: HashMap<String, Summary>,
}

const MAX_ENTRIES: usize = 50_000;

fn key(env_key: &blake3::Hash, file: &SourceFile) -> String {
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(env_key.as_bytes());
    h.update(file.display.as_bytes());
    h.update(&[0]);
    h.update(file.rel.as_bytes());
    h.update(&[0]);
    h.update(&file.bytes);
    h.finalize().to_hex().to_string()
}

/// Statistics of one index build, for benchmarks and `--verbose` output.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub files: usize,
    pub parsed: usize,
}

/// Summaries of every runbook on `roots`, using and refreshing the cache in `cache_dir`.
pub fn summaries(roots: &[Root], cache_dir: Option<&Path>) -> (Vec<Summary>, Stats) {
    let per_root: Vec<RootFiles> = roots.par_iter().map(load::read_root).collect();
    // A directory's runbooks are checked against its own environments file, else the first.
    let first = per_root.iter().find_map(|r| r.environments.as_ref());
    let env_files: Vec<Option<&SourceFile>> =
        per_root.iter().map(|r| r.environments.as_ref().or(first)).collect();
    let env_keys: Vec<blake3::Hash> =
        env_files.iter().map(|f| blake3::hash(f.map_or(&b""[..], |f| &f.bytes))).collect();
    let cache_path: Option<PathBuf> = cache_dir.map(|d| d.join("index-v1.json"));
    let mut cache: CacheFile = cache_path
        .as_deref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|c: &CacheFile| c.version == env!("CARGO_PKG_VERSION"))
        .unwrap_or_default();

    let keys: Vec<Vec<String>> = per_root
        .iter()
        .enumerate()
        .map(|(r, files)| files.runbooks.par_iter().map(|f| key(&env_keys[r], f)).collect())
        .collect();
    let missing: Vec<(usize, usize)> = keys
        .iter()
        .enumerate()
        .flat_map(|(r, ks)| ks.iter().enumerate().map(move |(i, k)| (r, i, k)))
        .filter(|(_, _, k)| !cache.entries.contains_key(*k))
        .map(|(r, i, _)| (r, i))
        .collect();
    let mut stats = Stats { files: keys.iter().map(Vec::len).sum(), parsed: missing.len() };
    if !missing.is_empty() {
        // An environments file with errors makes its runbooks unrunnable: they are listed
        // with its first error (as `run` reports it), never as fine.
        let envs: Vec<(Option<super::Environments>, Option<String>)> = env_files
            .iter()
            .enumerate()
            .map(|(r, f)| match f {
                Some(f) if missing.iter().any(|m| m.0 == r) => {
                    let (envs, diags) = load::load_environments(f);
                    let error = diags
                        .iter()
                        .find(|d| d.is_error())
                        .map(|d| format!("{}:{}:{}: {}", f.display, d.pos.line, d.pos.column, d.message));
                    (envs, error)
                }
                _ => (None, None),
            })
            .collect();
        let fresh: Vec<(String, Summary)> = missing
            .par_iter()
            .map(|&(r, i)| {
                let file = &per_root[r].runbooks[i];
                let mut summary = Summary::from_loaded(&load::load_runbook(file, envs[r].0.as_ref()));
                if let (None, Some(error)) = (&summary.error, &envs[r].1) {
                    summary.error = Some(format!("environments.yaml cannot be used: {error}"));
                }
                (keys[r][i].clone(), summary)
            })
            .collect();
        cache.entries.extend(fresh);
    }
    let mut per_root_summaries: Vec<Vec<Summary>> =
        keys.iter().map(|ks| ks.iter().map(|k| cache.entries[k].clone()).collect()).collect();
    // Files that could not be read (a FIFO, a looping link, no permission) are listed as
    // broken, as `check` reports them: a runbook never just disappears.
    for (r, files) in per_root.iter().enumerate() {
        let Root::Dir(dir) = &roots[r] else { continue };
        for (display, why) in &files.unreadable {
            let rel = Path::new(display).strip_prefix(dir).map(|p| p.to_string_lossy().into_owned());
            let Ok(rel) = rel else { continue };
            if rel == load::ENVIRONMENTS_FILE {
                continue;
            }
            let id = rel.trim_end_matches(".yaml").trim_end_matches(".yml").to_owned();
            per_root_summaries[r].push(Summary {
                id,
                path: display.clone(),
                title: String::new(),
                kind: None,
                tags: Vec::new(),
                error: Some(format!("{display}: cannot be read: {why}")),
                warnings: 0,
            });
        }
    }
    if stats.parsed > 0
        && let Some(path) = &cache_path
    {
        if cache.entries.len() > MAX_ENTRIES {
            let live: std::collections::HashSet<&String> = keys.iter().flatten().collect();
            cache.entries.retain(|k, _| live.contains(k));
        }
        cache.version = env!("CARGO_PKG_VERSION").to_owned();
        save(path, &cache);
    }
    let mut list = load::merge_roots(
        per_root_summaries,
        |s| &s.id,
        |s, first| {
            s.error = Some(format!(
                "{}:1:1: runbook id '{}' is already used by {first}: set a different `id:` or rename the file",
                s.path, s.id
            ));
        },
    );
    stats.files = list.len();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    (list, stats)
}

/// Writes the cache atomically; a cache that cannot be written only costs speed.
fn save(path: &Path, cache: &CacheFile) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".index-{}.tmp", std::process::id()));
    let written = serde_json::to_vec(cache).ok().and_then(|bytes| std::fs::write(&tmp, bytes).ok());
    if written.is_some() {
        let _ = std::fs::rename(&tmp, path);
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}
