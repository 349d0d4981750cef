//! Finding runbook files, reading them, and building the library.
//!
//! One broken file never hides the others: each file is loaded on its own and carries its own
//! diagnostics. Files are parsed in parallel because YAML parsing is the cost of start-up.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::raw::{RawEnvironments, RawRunbook};
use super::yaml::{self, Document};
use super::{Environments, Runbook, bundled, validate};

mod library;
pub use library::{Library, Location, NotFound};

/// The name of the file that defines environments, at the root of a runbooks directory.
pub const ENVIRONMENTS_FILE: &str = "environments.yaml";

/// One directory of the search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    Dir(PathBuf),
    /// The runbooks compiled into the binary.
    Bundled,
}

impl Root {
    pub fn display(&self) -> String {
        match self {
            Root::Dir(p) => p.display().to_string(),
            Root::Bundled => bundled::PREFIX.to_owned(),
        }
    }
}

/// The runbooks directories, in order: `--dir` flags, `RUNBOOK_PATH`, `./runbooks`, the
/// user's config dir, then the bundled runbooks.
pub fn search_path(dirs: &[PathBuf], runbook_path: Option<&str>, config_dir: Option<&Path>) -> Vec<Root> {
    let mut roots: Vec<Root> = dirs.iter().cloned().map(Root::Dir).collect();
    for part in runbook_path.unwrap_or_default().split(':').filter(|p| !p.is_empty()) {
        roots.push(Root::Dir(PathBuf::from(part)));
    }
    let local = PathBuf::from("runbooks");
    if local.is_dir() {
        roots.push(Root::Dir(local));
    }
    if let Some(dir) = config_dir.map(|c| c.join("runbooks"))
        && dir.is_dir()
    {
        roots.push(Root::Dir(dir));
    }
    roots.push(Root::Bundled);
    let mut seen = Vec::new();
    roots.retain(|r| {
        let key = match r {
            Root::Dir(p) => p.canonicalize().unwrap_or_else(|_| p.clone()).into(),
            Root::Bundled => None,
        };
        if seen.contains(&key) {
            return false;
        }
        seen.push(key);
        true
    });
    roots
}

/// A file read from a root.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to its root, with `/`.
    pub rel: String,
    /// How the path is shown in messages.
    pub display: String,
    pub bytes: Cow<'static, [u8]>,
}

impl SourceFile {
    /// The id derived from the path: relative, without the extension.
    pub fn path_id(&self) -> &str {
        self.rel.strip_suffix(".yaml").or_else(|| self.rel.strip_suffix(".yml")).unwrap_or(&self.rel)
    }
}

/// The files of one root: its runbooks and its environments file, if any.
#[derive(Debug, Default)]
pub struct RootFiles {
    pub runbooks: Vec<SourceFile>,
    pub environments: Option<SourceFile>,
    /// The environments file exists but could not be read.
    pub environments_error: Option<String>,
    /// Files that could not be read, with why.
    pub unreadable: Vec<(String, String)>,
}

/// Reads every runbook file under `root`.
pub fn read_root(root: &Root) -> RootFiles {
    let mut files = RootFiles::default();
    match root {
        Root::Bundled => {
            for (rel, text) in bundled::FILES {
                let file = SourceFile {
                    rel: (*rel).to_owned(),
                    display: format!("{}/{rel}", bundled::PREFIX),
                    bytes: Cow::Borrowed(text.as_bytes()),
                };
                if *rel == ENVIRONMENTS_FILE {
                    files.environments = Some(file);
                } else {
                    files.runbooks.push(file);
                }
            }
        }
        Root::Dir(dir) => {
            let mut paths = Vec::new();
            walk(dir, dir, &mut paths);
            paths.sort();
            let read: Vec<_> = paths
                .into_par_iter()
                .map(|(rel, path)| {
                    let bytes = read_limited(&path);
                    (rel, path, bytes)
                })
                .collect();
            for (rel, path, bytes) in read {
                match bytes {
                    Ok(bytes) => {
                        let file =
                            SourceFile { display: path.display().to_string(), rel, bytes: Cow::Owned(bytes) };
                        if file.rel == ENVIRONMENTS_FILE {
                            files.environments = Some(file);
                        } else {
                            files.runbooks.push(file);
                        }
                    }
                    Err(e) => {
                        if rel == ENVIRONMENTS_FILE {
                            files.environments_error = Some(format!("{}: {e}", path.display()));
                        }
                        files.unreadable.push((path.display().to_string(), e.to_string()))
                    }
                }
            }
        }
    }
    files
}

/// Reads a regular file, at most one byte more than the size limit, so a huge file costs
/// nothing. A FIFO, device or socket is refused without blocking on it (opened non-blocking,
/// then checked), and an oversized file is reported with its real size.
pub fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(std::io::Error::other(format!("{what}: runbook reads only regular files")));
    }
    if meta.len() > yaml::MAX_FILE_BYTES as u64 {
        return Err(std::io::Error::other(format!(
            "the file is {} bytes, larger than the {} byte limit for a runbook file: split it into smaller runbooks",
            meta.len(),
            yaml::MAX_FILE_BYTES
        )));
    }
    let mut bytes = Vec::new();
    file.take(yaml::MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The environments file of one root alone, without reading its runbooks.
pub fn environments_file(root: &Root) -> Option<SourceFile> {
    match root {
        Root::Bundled => {
            bundled::FILES.iter().find(|(rel, _)| *rel == ENVIRONMENTS_FILE).map(|(rel, text)| SourceFile {
                rel: (*rel).to_owned(),
                display: format!("{}/{rel}", bundled::PREFIX),
                bytes: Cow::Borrowed(text.as_bytes()),
            })
        }
        Root::Dir(dir) => {
            let path = dir.join(ENVIRONMENTS_FILE);
            let bytes = read_limited(&path).ok()?;
            Some(SourceFile {
                rel: ENVIRONMENTS_FILE.into(),
                display: path.display().to_string(),
                bytes: Cow::Owned(bytes),
            })
        }
    }
}

/// The `.yaml`/`.yml` entries under `dir` by name and directory-entry type alone, with no
/// stat per file (the index stats each file once, and skips one that turns out to be a
/// directory behind a link).
pub(crate) fn walk_names(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            walk_names(root, &entry.path(), out);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            let path = entry.path();
            if let Ok(rel) = path.strip_prefix(root) {
                out.push((rel.to_string_lossy().replace('\\', "/"), path));
            }
        }
    }
}

pub(crate) fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Directories are followed only when they are real directories, so a symlink loop
        // cannot trap the walk; symlinked files are read. Every other `.yaml` entry (a
        // FIFO, a dangling or looping link) is listed too: reading it reports what it is.
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            walk(root, &path, out);
        } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
            && !path.is_dir()
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push((rel.to_string_lossy().replace('\\', "/"), path));
        }
    }
}

/// The outcome of loading one file.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: String,
    pub display: String,
    /// Index of the search-path directory the file came from.
    pub root: usize,
    /// blake3 of the file's bytes, so a run notices when its runbook changed.
    pub content_hash: String,
    /// Shared, so opening or previewing a runbook never copies it.
    pub runbook: Option<Arc<Runbook>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// A report about a file that is not a runbook (environments.yaml, an unreadable file).
    pub fn report(id: &str, display: &str, diagnostics: Vec<Diagnostic>) -> Self {
        Self {
            id: id.to_owned(),
            display: display.to_owned(),
            root: 0,
            content_hash: String::new(),
            runbook: None,
            diagnostics,
        }
    }

    pub fn first_error(&self) -> Option<&Diagnostic> {
        self.diagnostics.iter().find(|d| d.is_error())
    }
}

/// Loads `environments.yaml`.
pub fn load_environments(file: &SourceFile) -> (Option<Environments>, Vec<Diagnostic>) {
    let mut diags = Diagnostics::default();
    let parsed = yaml::parse::<RawEnvironments>(&file.bytes, Document::Environments);
    parsed.diagnostics.into_iter().for_each(|d| diags.push(d));
    let envs = match parsed.value {
        Some(raw) if parsed.complete => {
            let text = std::str::from_utf8(&file.bytes).unwrap_or_default();
            validate::environments(raw, text, &mut diags)
        }
        _ => None,
    };
    (envs, diags.into_sorted())
}

/// Loads and validates one runbook file against `envs`.
pub fn load_runbook(file: &SourceFile, envs: Option<&Environments>) -> Loaded {
    let mut diags = Diagnostics::default();
    let mut id = file.path_id().to_owned();
    // Every unknown key and wrong value is in `parsed.diagnostics`; validation runs on what is
    // left unless something it depends on had to be taken out.
    let parsed = yaml::parse::<RawRunbook>(&file.bytes, Document::Runbook);
    parsed.diagnostics.into_iter().for_each(|d| diags.push(d));
    let runbook = match parsed.value {
        Some(raw) => {
            if let Some(own) = &raw.id {
                id = own.value.clone();
            }
            let text = std::str::from_utf8(&file.bytes).unwrap_or_default();
            let built =
                parsed.complete.then(|| validate::runbook(&raw, file.path_id(), text, envs, &mut diags));
            built.flatten().filter(|_| !diags.has_errors()).map(Arc::new)
        }
        None => {
            // A file broken further down keeps the id it declares at the top, so `run ID`
            // reports what is wrong with it rather than that there is no such runbook.
            if let Some(own) = super::summary::head(&file.bytes).and_then(|h| h.id) {
                id = own;
            }
            None
        }
    };
    Loaded {
        id,
        display: file.display.clone(),
        root: 0,
        content_hash: blake3::hash(&file.bytes).to_hex().to_string(),
        runbook,
        diagnostics: diags.into_sorted(),
    }
}

/// Every runbook the search path offers, loaded and validated, and the environments they run
/// in: what `runbook check` reads. Commands that need one runbook use the lazy [`Library`].
///
/// A directory's runbooks use that directory's `environments.yaml`; a directory without one
/// uses the first one found on the search path. So the bundled runbooks keep running in the
/// bundled environments even when a team's directory has its own.
#[derive(Debug, Default)]
pub struct FullLibrary {
    pub roots: Vec<Root>,
    /// The first environments file on the search path (for `runbook health`, and for
    /// directories without their own).
    pub environments: Option<Environments>,
    /// Where the first environments came from and what is wrong with them.
    pub environments_file: Option<Loaded>,
    /// Each directory's own environments, if it has an environments file.
    pub root_environments: Vec<Option<Environments>>,
    /// Each directory's environments file report.
    pub environments_files: Vec<Loaded>,
    /// Per directory: its environments file exists but cannot be read or has errors.
    pub environments_errors: Vec<Option<String>>,
    /// Sorted by id; an id in an earlier root shadows the same id in later ones.
    pub runbooks: Vec<Loaded>,
    pub unreadable: Vec<(String, String)>,
}

impl FullLibrary {
    /// Reads and validates everything under `roots`.
    pub fn load(roots: Vec<Root>) -> Self {
        let per_root: Vec<RootFiles> = roots.iter().map(read_root).collect();
        let mut root_environments = Vec::new();
        let mut environments_files = Vec::new();
        let mut environments_errors = Vec::new();
        for files in &per_root {
            match &files.environments {
                Some(f) => {
                    let (envs, diagnostics) = load_environments(f);
                    let errors: Vec<String> = diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .map(|d| d.display(&f.display).to_string())
                        .collect();
                    environments_errors.push((!errors.is_empty()).then(|| errors.join("\n")));
                    root_environments.push(envs);
                    environments_files.push(Loaded::report(ENVIRONMENTS_FILE, &f.display, diagnostics));
                }
                None => {
                    environments_errors.push(files.environments_error.clone());
                    root_environments.push(None);
                }
            }
        }
        let first = per_root.iter().position(|r| r.environments.is_some() || r.environments_error.is_some());
        let environments = first.and_then(|i| root_environments[i].clone());
        let environments_file = environments_files.first().cloned();
        let loaded: Vec<Vec<Loaded>> = per_root
            .iter()
            .enumerate()
            .map(|(root, files)| {
                let envs = root_environments[root].as_ref().or(environments.as_ref());
                files.runbooks.par_iter().map(|f| Loaded { root, ..load_runbook(f, envs) }).collect()
            })
            .collect();
        let mut runbooks = merge_roots(
            loaded,
            |l| &l.id,
            |l, first| {
                l.diagnostics.insert(
                0,
                Diagnostic::error(
                    super::Pos::new(1, 1),
                    format!("runbook id '{}' is already used by {first}: set a different `id:` or rename the file", l.id),
                ),
            );
                l.runbook = None;
            },
        );
        runbooks.sort_by(|a, b| a.id.cmp(&b.id));
        let unreadable = per_root.iter().flat_map(|r| r.unreadable.iter().cloned()).collect();
        FullLibrary {
            roots,
            environments,
            environments_file,
            root_environments,
            environments_files,
            environments_errors,
            runbooks,
            unreadable,
        }
    }

    /// The environments a runbook runs in, or why there are none: an environments file that
    /// exists but cannot be read or has errors is that file's errors, never a fallback to
    /// another directory's environments (which could be another team's production).
    /// With no runbook: the first environments file on the path (`runbook health`).
    pub fn environments_checked(&self, id: Option<&str>) -> Result<&Environments, String> {
        let own = id.and_then(|id| self.get(id)).map_or(0, |l| l.root);
        let has_file = |i: usize| {
            self.root_environments.get(i).is_some_and(Option::is_some)
                || self.environments_errors.get(i).is_some_and(Option::is_some)
        };
        let root = if has_file(own) { Some(own) } else { (0..self.roots.len()).find(|&i| has_file(i)) };
        let Some(root) = root else {
            return Err(
                "no environments.yaml was found on the runbooks path, so there is no environment to run in"
                    .into(),
            );
        };
        if let Some(Some(err)) = self.environments_errors.get(root) {
            return Err(format!("environments.yaml cannot be used:\n{err}"));
        }
        self.root_environments[root].as_ref().ok_or_else(|| "environments.yaml cannot be used".into())
    }

    /// The environments a runbook runs in: its directory's, else the first on the path.
    pub fn environments_for(&self, id: &str) -> Option<&Environments> {
        let root = self.get(id).map_or(0, |l| l.root);
        self.root_environments.get(root).and_then(Option::as_ref).or(self.environments.as_ref())
    }

    pub fn get(&self, id: &str) -> Option<&Loaded> {
        self.runbooks.iter().find(|l| l.id == id)
    }
}

/// Merges the runbooks of several roots: an id in an earlier root shadows the same id in later
/// ones, and two files of one root with the same id are an error on the second (`mark`
/// records it; the second keeps a distinct id so both stay visible).
pub fn merge_roots<T>(per_root: Vec<Vec<T>>, id: fn(&T) -> &String, mark: fn(&mut T, &str)) -> Vec<T>
where
    T: HasDisplay,
{
    let mut out: Vec<T> = Vec::new();
    let mut taken: HashMap<String, ()> = HashMap::new();
    for items in per_root {
        let mut in_root: HashMap<String, String> = HashMap::new();
        for mut item in items {
            let key = id(&item).clone();
            if let Some(first) = in_root.get(&key) {
                mark(&mut item, first);
                item.set_id(format!("{key}#{}", item.display()));
            } else {
                in_root.insert(key.clone(), item.display().to_owned());
                if taken.contains_key(&key) {
                    continue;
                }
            }
            taken.insert(id(&item).clone(), ());
            out.push(item);
        }
    }
    out
}

/// What [`merge_roots`] needs of an item.
pub trait HasDisplay {
    fn display(&self) -> &str;
    fn set_id(&mut self, id: String);
}

impl HasDisplay for Loaded {
    fn display(&self) -> &str {
        &self.display
    }
    fn set_id(&mut self, id: String) {
        self.id = id;
    }
}

impl HasDisplay for super::index::Summary {
    fn display(&self) -> &str {
        &self.path
    }
    fn set_id(&mut self, id: String) {
        self.id = id;
    }
}
