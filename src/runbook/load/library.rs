//! The lazy library: the search path, and what it takes to find and open one runbook.
//!
//! Building it reads nothing. [`Library::summaries`] lists every runbook from the index;
//! [`Library::find_one`] finds where an id lives (the index says which file declares which id,
//! so only changed files are read); [`Library::open`] reads and validates that one file against
//! its directory's environments file. Shadowing by id (earlier directories win), two files with
//! one id in one directory, and the bundled fallback follow the same rules as `FullLibrary`
//! (which `runbook check` uses to validate everything).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use super::super::diagnostic::Diagnostic;
use super::super::index::{FullContext, Index, Indexed, Stats, Summary};
use super::super::{Environments, Pos, bundled};
use super::{ENVIRONMENTS_FILE, Loaded, Root, SourceFile, load_environments, load_runbook, read_limited};

/// Where a runbook file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: String,
    /// Index of its directory on the search path.
    pub root: usize,
    /// Path relative to that directory.
    pub rel: String,
    /// How the path is shown.
    pub display: String,
    /// Another file of the same directory has this id already (the second is an error).
    pub duplicate_of: Option<String>,
}

/// No runbook has the id asked for.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no runbook '{id}'{}: `runbook list` shows them", .suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
pub struct NotFound {
    pub id: String,
    pub suggestion: Option<String>,
}

/// One directory's own environments file, read on first use.
#[derive(Debug, Default)]
struct RootEnvs {
    /// The directory has an `environments.yaml` (readable or not).
    exists: bool,
    bytes: Vec<u8>,
    parsed: Option<Environments>,
    /// Why it cannot be used: unreadable, or its errors.
    error: Option<String>,
    report: Option<Loaded>,
}

/// The search path, opened lazily. See the module documentation.
#[derive(Debug)]
pub struct Library {
    pub roots: Vec<Root>,
    /// Write the index after opening a runbook taught it something (a command that opens one
    /// runbook); the terminal UI sets this off and calls [`Library::save_index`] when it quits,
    /// so a preview never waits on a write.
    pub save_on_open: bool,
    cache_dir: Option<PathBuf>,
    envs: Vec<OnceLock<RootEnvs>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    index: Option<Index>,
    /// Ids found so far, so opening one again costs one file.
    located: HashMap<String, Location>,
    /// Index keys of the files looked at (what a full index keeps when it is trimmed).
    seen: HashSet<String>,
}

impl Library {
    /// A library over `roots` that keeps no index (every file is read when needed).
    pub fn new(roots: Vec<Root>) -> Self {
        Self::with_index(roots, None)
    }

    /// A library whose index lives in `cache_dir`.
    pub fn with_index(roots: Vec<Root>, cache_dir: Option<PathBuf>) -> Self {
        let envs = roots.iter().map(|_| OnceLock::new()).collect();
        Self { roots, save_on_open: true, cache_dir, envs, state: Mutex::new(State::default()) }
    }

    /// The same library with `dir` searched first (a resumed run's own directory).
    pub fn with_first_root(&self, dir: PathBuf) -> Self {
        let mut roots = vec![Root::Dir(dir)];
        roots.extend(self.roots.iter().cloned());
        Self::with_index(roots, self.cache_dir.clone())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn root_envs(&self, root: usize) -> &RootEnvs {
        self.envs[root].get_or_init(|| read_root_envs(&self.roots[root]))
    }

    /// The first directory on the path with an environments file (readable or not).
    fn first_with_envs(&self) -> Option<usize> {
        (0..self.roots.len()).find(|&i| self.root_envs(i).exists)
    }

    /// What a directory's runbooks are validated against: its own environments, else the first
    /// on the path (as `FullLibrary` does).
    fn context(&self, root: usize) -> FullContext<'_> {
        let own = self.root_envs(root);
        let first = self.first_with_envs().map(|i| self.root_envs(i));
        let envs = own.parsed.as_ref().or(first.and_then(|f| f.parsed.as_ref()));
        let bytes: &[u8] = if own.exists { &own.bytes } else { first.map_or(&[], |f| &f.bytes) };
        FullContext { envs, envs_bytes: bytes }
    }

    fn scan(&self, state: &mut State, root: usize, heads: bool) -> Vec<Indexed> {
        let cache_dir = self.cache_dir.as_deref();
        let index = state.index.get_or_insert_with(|| Index::open(cache_dir));
        let files = index.scan(&self.roots[root], &self.context(root), heads);
        if let Root::Dir(dir) = &self.roots[root] {
            let base = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            state.seen.extend(files.iter().map(|f| base.join(&f.rel).to_string_lossy().into_owned()));
        }
        files
    }

    fn save(&self, state: &mut State) {
        let State { index, seen, .. } = state;
        if let Some(index) = index {
            index.save(Some(seen));
        }
    }

    /// Every runbook on the search path, from the index; broken ones that are known carry
    /// their first error. Sorted by id; an id in an earlier directory shadows later ones.
    pub fn summaries(&self) -> (Vec<Summary>, Stats) {
        let mut state = self.state();
        if let Some(index) = state.index.as_mut() {
            index.stats = Stats::default();
        }
        let mut per_root = Vec::with_capacity(self.roots.len());
        for root in 0..self.roots.len() {
            let files = self.scan(&mut state, root, true);
            per_root.push(files.iter().map(|f| f.summary(root)).collect::<Vec<_>>());
        }
        let mut list = super::merge_roots(
            per_root,
            |s| &s.id,
            |s, first| {
                s.error = Some(format!(
                    "{}:1:1: runbook id '{}' is already used by {first}: set a different `id:` or rename the file",
                    s.path, s.id
                ));
            },
        );
        list.sort_by(|a, b| a.id.cmp(&b.id));
        // Opening a listed runbook (the picker) then costs one file. A second file with a
        // taken id (`id#path`) is found again by `find_one`, which says whose id it took.
        for s in list.iter().filter(|s| s.error.is_none() || !s.id.contains('#')) {
            state.located.insert(
                s.id.clone(),
                Location {
                    id: s.id.clone(),
                    root: s.root,
                    rel: s.rel.clone(),
                    display: s.path.clone(),
                    duplicate_of: None,
                },
            );
        }
        self.save(&mut state);
        let stats = state.index.as_ref().map(|i| i.stats).unwrap_or_default();
        drop(state);
        // A runbook whose environments.yaml has errors cannot run: it is listed broken with
        // that file's first error (as `run` reports it), never as fine.
        for s in list.iter_mut().filter(|s| s.error.is_none()) {
            let root = if self.root_envs(s.root).exists { Some(s.root) } else { self.first_with_envs() };
            if let Some(err) = root.and_then(|r| self.root_envs(r).error.as_ref()) {
                let first = err.lines().next().unwrap_or_default().replacen(": error: ", ": ", 1);
                s.error = Some(format!("environments.yaml cannot be used: {first}"));
            }
        }
        (list, stats)
    }

    /// Where the runbook `id` is: the first directory on the path with a file of that id.
    /// Reads only the files the index cannot vouch for.
    pub fn find_one(&self, id: &str) -> Result<Location, NotFound> {
        let mut state = self.state();
        if let Some(found) = state.located.get(id) {
            return Ok(found.clone());
        }
        let mut taken: HashSet<String> = HashSet::new();
        let mut found = None;
        'roots: for root in 0..self.roots.len() {
            let files = self.scan(&mut state, root, false);
            let mut in_root: HashMap<&str, &str> = HashMap::new();
            for f in &files {
                let (effective, duplicate_of) = match in_root.get(f.id.as_str()) {
                    Some(first) => (format!("{}#{}", f.id, f.display), Some((*first).to_owned())),
                    None => {
                        in_root.insert(&f.id, &f.display);
                        if taken.contains(&f.id) {
                            continue;
                        }
                        (f.id.clone(), None)
                    }
                };
                if effective == id {
                    found = Some(Location {
                        id: effective,
                        root,
                        rel: f.rel.clone(),
                        display: f.display.clone(),
                        duplicate_of,
                    });
                    break 'roots;
                }
                taken.insert(effective);
            }
        }
        self.save(&mut state);
        match found {
            Some(loc) => {
                state.located.insert(id.to_owned(), loc.clone());
                Ok(loc)
            }
            None => {
                let suggestion = super::super::diagnostic::did_you_mean(id, taken.iter().map(String::as_str))
                    .map(str::to_owned);
                Err(NotFound { id: id.to_owned(), suggestion })
            }
        }
    }

    /// Finds, reads and validates the runbook `id`: one file, against its directory's
    /// environments. A broken runbook is a [`Loaded`] without a runbook, with its diagnostics.
    pub fn open(&self, id: &str) -> Result<Loaded, NotFound> {
        let loc = self.find_one(id)?;
        Ok(self.open_at(&loc))
    }

    /// Reads and validates the file at `loc`, and keeps what validation found in the index.
    pub fn open_at(&self, loc: &Location) -> Loaded {
        let root = &self.roots[loc.root];
        let bytes: Result<Cow<'static, [u8]>, String> = match root {
            Root::Dir(dir) => read_limited(&dir.join(&loc.rel)).map(Cow::Owned).map_err(|e| e.to_string()),
            Root::Bundled => bundled::FILES
                .iter()
                .find(|(rel, _)| *rel == loc.rel)
                .map(|(_, text)| Cow::Borrowed(text.as_bytes()))
                .ok_or_else(|| "not in this binary".to_owned()),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(why) => {
                let mut l = Loaded::report(
                    &loc.id,
                    &loc.display,
                    vec![Diagnostic::error(Pos::new(1, 1), format!("cannot read the file: {why}"))],
                );
                l.root = loc.root;
                return l;
            }
        };
        let file = SourceFile { rel: loc.rel.clone(), display: loc.display.clone(), bytes };
        let context = self.context(loc.root);
        let mut loaded = Loaded { root: loc.root, ..load_runbook(&file, context.envs) };
        let mut state = self.state();
        if let Some(index) = state.index.as_mut() {
            index.record(root, &loc.rel, &loaded, &context);
        }
        if self.save_on_open {
            self.save(&mut state);
        }
        drop(state);
        if let Some(first) = &loc.duplicate_of {
            loaded.diagnostics.insert(
                0,
                Diagnostic::error(
                    Pos::new(1, 1),
                    format!(
                        "runbook id '{}' is already used by {first}: set a different `id:` or rename the file",
                        loaded.id
                    ),
                ),
            );
            loaded.runbook = None;
        }
        loaded.id = loc.id.clone();
        loaded
    }

    /// Opens the runbook `id` from the directory `root`'s file `ID.yaml` (or `.yml`) when that
    /// file is it (it declares that id, or none): a resumed run's runbook in one read, without
    /// looking at the directory's other files. Otherwise, as [`Library::open`].
    pub fn open_by_path(&self, root: usize, id: &str) -> Result<Loaded, NotFound> {
        if let Some(Root::Dir(dir)) = self.roots.get(root) {
            for ext in ["yaml", "yml"] {
                let rel = format!("{id}.{ext}");
                let path = dir.join(&rel);
                let Ok(bytes) = read_limited(&path) else { continue };
                let declared = super::super::summary::head(&bytes).map(|h| h.id);
                if matches!(&declared, Some(None)) || matches!(&declared, Some(Some(own)) if own == id) {
                    let loc = Location {
                        id: id.to_owned(),
                        root,
                        rel,
                        display: path.display().to_string(),
                        duplicate_of: None,
                    };
                    self.state().located.insert(id.to_owned(), loc.clone());
                    return Ok(self.open_at(&loc));
                }
                break;
            }
        }
        self.open(id)
    }

    /// The directory the runbook `id` comes from, if it exists.
    pub fn root_of(&self, id: &str) -> Option<usize> {
        self.find_one(id).ok().map(|l| l.root)
    }

    /// The environments a runbook runs in, or why there are none: an environments file that
    /// exists but cannot be read or has errors is that file's errors, never a fallback to
    /// another directory's environments (which could be another team's production).
    /// With no runbook: the first environments file on the path (`runbook health`).
    pub fn environments_checked(&self, id: Option<&str>) -> Result<&Environments, String> {
        let own = id.and_then(|id| self.root_of(id)).unwrap_or(0);
        let root = if self.roots.is_empty() {
            None
        } else if self.root_envs(own).exists {
            Some(own)
        } else {
            self.first_with_envs()
        };
        let Some(root) = root else {
            return Err(
                "no environments.yaml was found on the runbooks path, so there is no environment to run in"
                    .into(),
            );
        };
        let envs = self.root_envs(root);
        if let Some(err) = &envs.error {
            return Err(format!("environments.yaml cannot be used:\n{err}"));
        }
        envs.parsed.as_ref().ok_or_else(|| "environments.yaml cannot be used".into())
    }

    /// The environments a runbook runs in: its directory's, else the first on the path.
    pub fn environments_for(&self, id: &str) -> Option<&Environments> {
        if self.roots.is_empty() {
            return None;
        }
        let root = self.root_of(id).unwrap_or(0);
        self.root_envs(root)
            .parsed
            .as_ref()
            .or_else(|| self.first_with_envs().and_then(|i| self.root_envs(i).parsed.as_ref()))
    }

    /// The report (diagnostics) of the first environments file on the path.
    pub fn first_environments_report(&self) -> Option<&Loaded> {
        self.first_with_envs().and_then(|i| self.root_envs(i).report.as_ref())
    }

    /// Writes the index if it learnt something.
    pub fn save_index(&self) {
        let mut state = self.state();
        self.save(&mut state);
    }

    /// The counts of the index's work so far.
    pub fn stats(&self) -> Stats {
        self.state().index.as_ref().map(|i| i.stats).unwrap_or_default()
    }
}

fn read_root_envs(root: &Root) -> RootEnvs {
    let file = match root {
        Root::Bundled => {
            bundled::FILES.iter().find(|(rel, _)| *rel == ENVIRONMENTS_FILE).map(|(rel, text)| {
                Ok(SourceFile {
                    rel: (*rel).to_owned(),
                    display: format!("{}/{rel}", bundled::PREFIX),
                    bytes: Cow::Borrowed(text.as_bytes()),
                })
            })
        }
        Root::Dir(dir) => {
            let path = dir.join(ENVIRONMENTS_FILE);
            if std::fs::symlink_metadata(&path).is_err() {
                None
            } else {
                Some(match read_limited(&path) {
                    Ok(bytes) => Ok(SourceFile {
                        rel: ENVIRONMENTS_FILE.into(),
                        display: path.display().to_string(),
                        bytes: Cow::Owned(bytes),
                    }),
                    Err(e) => Err(format!("{}: {e}", path.display())),
                })
            }
        }
    };
    match file {
        None => RootEnvs::default(),
        Some(Err(error)) => RootEnvs { exists: true, error: Some(error), ..RootEnvs::default() },
        Some(Ok(f)) => {
            let (parsed, diagnostics) = load_environments(&f);
            let errors: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.display(&f.display).to_string())
                .collect();
            RootEnvs {
                exists: true,
                parsed,
                error: (!errors.is_empty()).then(|| errors.join("\n")),
                report: Some(Loaded::report(ENVIRONMENTS_FILE, &f.display, diagnostics)),
                bytes: f.bytes.into_owned(),
            }
        }
    }
}
