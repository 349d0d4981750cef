//! The list index: what `runbook list`, the picker and `runbook run ID` know about every runbook
//! file without parsing it again.
//!
//! One entry per file (keyed by its absolute path) holds the file's stamp (device, inode, size,
//! modification and change times), the blake3 hash of its bytes, its [`Head`] (the top-level
//! keys a summary shows, read by the fast path in [`super::summary`]) and, once the file has
//! been fully validated (opened, previewed, or read by the full parser because the fast path
//! could not), its first error and warning count.
//!
//! Never stale, and incremental:
//! - a file whose stamp equals the entry's, and which had not changed for [`SETTLE`] before it
//!   was stamped, is the file that was hashed: the kernel sets the change time (ctime) on every
//!   write and nobody can set it back, so equal stamps mean equal bytes;
//! - any other file is read and hashed; an equal hash keeps the entry (only the stamp is
//!   updated), a different hash re-parses that one file;
//! - a validation result is kept with a key over the program version, the bytes of the
//!   environments file it was checked against and the file's path in its directory; under any
//!   other key it is not used.
//!
//! So editing one file of 10,000 re-reads and re-parses that one file, and a changed byte is
//! never served from the index. The index only ever saves work: if it cannot be read or
//! written, everything is read again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Kind;
use super::load::{self, Loaded, Root};
use super::summary::{self, Head};

/// What `runbook list` and the picker's list show of a runbook. Kept small on purpose: the
/// picker's preview loads the one selected file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub path: String,
    pub title: String,
    pub kind: Option<Kind>,
    pub tags: Vec<String>,
    /// Alert names the runbook answers (its top-level `alerts:`), empty when it has none.
    pub alerts: Vec<String>,
    /// The first error as `path:line:col: message`, for a runbook known to be broken.
    pub error: Option<String>,
    pub warnings: usize,
    /// Where the file is: the index of its search-path directory and its path there.
    #[serde(skip)]
    pub root: usize,
    #[serde(skip)]
    pub rel: String,
}

impl Summary {
    pub fn from_loaded(l: &Loaded) -> Self {
        let error =
            l.first_error().map(|d| format!("{}:{}:{}: {}", l.display, d.pos.line, d.pos.column, d.message));
        let warnings = l.diagnostics.iter().filter(|d| !d.is_error()).count();
        let mut s = Summary {
            id: l.id.clone(),
            path: l.display.clone(),
            error,
            warnings,
            root: l.root,
            ..Summary::default()
        };
        if let Some(r) = &l.runbook {
            s.title = r.title.clone();
            s.kind = Some(r.kind);
            s.tags = r.tags.clone();
            s.alerts = r.alerts.clone();
        }
        s
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

/// How long a file must have been left alone before its stamp is trusted on its own: a write
/// in the same clock tick as the stamp would not change the times, so a file changed less
/// than this before it was stamped is hashed again next time.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

const FORMAT: &str = concat!("2/", env!("CARGO_PKG_VERSION"));
const FILE_NAME: &str = "index-v2.json";
const MAX_ENTRIES: usize = 50_000;

/// What identifies a file's bytes without reading them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i128,
    ctime: i128,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: ns(meta.mtime(), meta.mtime_nsec()),
            ctime: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file had been left alone for [`SETTLE`] at `now` (ns since the epoch).
    fn settled_at(&self, now: i128) -> bool {
        now - self.mtime.max(self.ctime) >= SETTLE.as_nanos() as i128
    }
}

/// A file's validation result, under the key it was computed for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    key: String,
    /// The id the full loader gave the file.
    id: String,
    /// The head the full parser read (when the fast path could not).
    head: Option<Head>,
    /// The first error: line, column, message.
    error: Option<(u32, u32, String)>,
    warnings: usize,
}

impl Checked {
    fn of(key: String, loaded: &Loaded) -> Self {
        let head = loaded.runbook.as_ref().map(|r| Head {
            id: Some(r.id.clone()),
            title: r.title.clone(),
            kind: r.kind,
            tags: r.tags.clone(),
            alerts: Vec::new(),
        });
        Self {
            key,
            id: loaded.id.clone(),
            head,
            error: loaded.first_error().map(|d| (d.pos.line, d.pos.column, d.message.clone())),
            warnings: loaded.diagnostics.iter().filter(|d| !d.is_error()).count(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The file's absolute path (or `<bundled>/…`); the entries are sorted by it.
    path: String,
    stamp: Stamp,
    /// The stamp alone vouches for the bytes (see [`SETTLE`]).
    settled: bool,
    hash: String,
    /// `None`: the fast path could not read the file; the full parser decides.
    head: Option<Head>,
    checked: Option<Checked>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexFile {
    format: String,
    /// Sorted by path: read in one pass, looked up by binary search.
    entries: Vec<Entry>,
}

impl IndexFile {
    fn find(&self, path: &str) -> Option<usize> {
        self.entries.binary_search_by(|e| e.path.as_str().cmp(path)).ok()
    }
}

/// Counts of one use of the index, for tests, benchmarks and `RUNBOOK_INDEX_STATS=1`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Runbook files looked at.
    pub files: usize,
    /// Files read and hashed (their stamp alone did not vouch for them).
    pub hashed: usize,
    /// Files whose head was parsed (new or changed bytes).
    pub parsed: usize,
    /// Files loaded with the full parser and validator.
    pub validated: usize,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Self) {
        self.files += o.files;
        self.hashed += o.hashed;
        self.parsed += o.parsed;
        self.validated += o.validated;
    }
}

/// What the full validator needs for the files of one directory.
pub struct FullContext<'a> {
    pub envs: Option<&'a super::Environments>,
    /// The bytes of the environments file the directory's runbooks are checked against.
    pub envs_bytes: &'a [u8],
}

impl FullContext<'_> {
    /// The key a validation result is kept under.
    pub fn key(&self, rel: &str) -> String {
        let mut h = blake3::Hasher::new();
        h.update(FORMAT.as_bytes());
        h.update(&[0]);
        h.update(self.envs_bytes);
        h.update(&[0]);
        h.update(rel.as_bytes());
        h.finalize().to_hex().to_string()
    }
}

/// One runbook file of a directory, as the index knows it.
#[derive(Debug, Clone)]
pub struct Indexed {
    /// Path relative to the directory, with `/`.
    pub rel: String,
    /// How the path is shown.
    pub display: String,
    /// The file, for a directory on disk.
    pub path: Option<PathBuf>,
    /// The id: declared, else from the path.
    pub id: String,
    pub head: Option<Head>,
    /// The validation result under the directory's current key, if known.
    pub checked: Option<Checked>,
    /// Why the file could not be read.
    pub unreadable: Option<String>,
}

impl Indexed {
    pub fn summary(&self, root: usize) -> Summary {
        let head = self.head.as_ref().or(self.checked.as_ref().and_then(|c| c.head.as_ref()));
        let error = match (&self.unreadable, &self.checked) {
            (Some(why), _) => Some(format!("{}: cannot be read: {why}", self.display)),
            (None, Some(Checked { error: Some((line, col, msg)), .. })) => {
                Some(format!("{}:{line}:{col}: {msg}", self.display))
            }
            _ => None,
        };
        Summary {
            id: self.id.clone(),
            path: self.display.clone(),
            title: head.map(|h| h.title.clone()).unwrap_or_default(),
            kind: head.map(|h| h.kind),
            tags: head.map(|h| h.tags.clone()).unwrap_or_default(),
            alerts: head.map(|h| h.alerts.clone()).unwrap_or_default(),
            error,
            warnings: self.checked.as_ref().map_or(0, |c| c.warnings),
            root,
            rel: self.rel.clone(),
        }
    }
}

/// The index, read from the cache directory (or empty), updated in memory as files are
/// looked at, and written back by [`Index::save`] when something changed.
#[derive(Debug, Default)]
pub struct Index {
    path: Option<PathBuf>,
    file: IndexFile,
    dirty: bool,
    pub stats: Stats,
}

/// What looking at one file found.
enum Outcome {
    /// The entry stands as it is.
    Same,
    /// Same bytes: only the stamp changes.
    Restamped(Stamp, bool),
    /// New or changed bytes, or a validation result under a new key.
    New(Box<Entry>, bool, bool),
    Unreadable(String),
    /// Not a runbook file after all (a directory behind a link named `.yaml`).
    Skip,
}

impl Index {
    /// Reads the index in `cache_dir`; none (or an unreadable one) is an empty index.
    pub fn open(cache_dir: Option<&Path>) -> Self {
        let path = cache_dir.map(|d| d.join(FILE_NAME));
        let file = path
            .as_deref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<IndexFile>(&b).ok())
            .filter(|f| f.format == FORMAT)
            .unwrap_or_default();
        Self { path, file, dirty: false, stats: Stats::default() }
    }

    /// The runbook files of `root` in order, each with its id and head, reading only the files
    /// whose stamp does not vouch for them and parsing only those whose bytes changed. Files
    /// the fast path cannot read are validated with `full` (their summary needs the full
    /// parser).
    /// With `heads` false, only the ids are filled in (finding one runbook needs no more).
    pub fn scan(&mut self, root: &Root, full: &FullContext<'_>, heads: bool) -> Vec<Indexed> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        self.scan_at(root, full, now, heads)
    }

    /// [`Index::scan`] as if the clock said `now` (ns since the epoch).
    pub(crate) fn scan_at(
        &mut self,
        root: &Root,
        full: &FullContext<'_>,
        now: i128,
        heads: bool,
    ) -> Vec<Indexed> {
        let listed: Vec<Listed> = match root {
            Root::Dir(dir) => {
                let base = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                let mut paths = Vec::new();
                load::walk_names(dir, dir, &mut paths);
                paths.sort_by(|a, b| a.0.cmp(&b.0));
                paths
                    .into_iter()
                    .filter(|(rel, _)| rel != load::ENVIRONMENTS_FILE)
                    .map(|(rel, path)| Listed {
                        key: base.join(&rel).to_string_lossy().into_owned(),
                        display: path.display().to_string(),
                        rel,
                        path: Some(path),
                        bundled: None,
                    })
                    .collect()
            }
            Root::Bundled => super::bundled::FILES
                .iter()
                .filter(|(rel, _)| *rel != load::ENVIRONMENTS_FILE)
                .map(|(rel, text)| Listed {
                    key: format!("{}/{rel}", super::bundled::PREFIX),
                    display: format!("{}/{rel}", super::bundled::PREFIX),
                    rel: (*rel).to_owned(),
                    path: None,
                    bundled: Some(text.as_bytes()),
                })
                .collect(),
        };
        let file = &self.file;
        let outcomes: Vec<(Option<usize>, Outcome)> = listed
            .par_iter()
            .map(|l| {
                let at = file.find(&l.key);
                (at, look(l, at.map(|i| &file.entries[i]), full, now))
            })
            .collect();
        let mut added = false;
        let mut out = Vec::with_capacity(listed.len());
        let mut unreadable = Vec::new();
        for (l, (at, outcome)) in listed.into_iter().zip(outcomes) {
            self.stats.files += 1;
            let at = match outcome {
                Outcome::Skip => continue,
                Outcome::Same => at,
                Outcome::Restamped(stamp, settled) => {
                    self.stats.hashed += 1;
                    self.dirty = true;
                    at.inspect(|&i| {
                        self.file.entries[i].stamp = stamp;
                        self.file.entries[i].settled = settled;
                    })
                }
                Outcome::New(mut entry, parsed, validated) => {
                    self.stats.hashed += 1;
                    self.stats.parsed += usize::from(parsed);
                    self.stats.validated += usize::from(validated);
                    self.dirty = true;
                    entry.path = l.key.clone();
                    match at {
                        Some(i) => {
                            self.file.entries[i] = *entry;
                            Some(i)
                        }
                        None => {
                            added = true;
                            self.file.entries.push(*entry);
                            Some(self.file.entries.len() - 1)
                        }
                    }
                }
                Outcome::Unreadable(why) => {
                    unreadable.push(Indexed {
                        id: path_id(&l.rel).to_owned(),
                        rel: l.rel,
                        display: l.display,
                        path: l.path,
                        head: None,
                        checked: None,
                        unreadable: Some(why),
                    });
                    continue;
                }
            };
            let Some(entry) = at.map(|i| &self.file.entries[i]) else { continue };
            let checked = entry.checked.as_ref().filter(|c| c.key == full.key(&l.rel)).cloned();
            let head = if heads || entry.head.is_none() {
                entry.head.clone()
            } else {
                entry.head.as_ref().map(|h| Head {
                    id: h.id.clone(),
                    title: String::new(),
                    kind: Kind::Other,
                    tags: Vec::new(),
                    alerts: Vec::new(),
                })
            };
            let id = match (&head, &checked) {
                (Some(h), _) => h.id.clone().unwrap_or_else(|| path_id(&l.rel).to_owned()),
                (None, Some(c)) => c.id.clone(),
                (None, None) => path_id(&l.rel).to_owned(),
            };
            out.push(Indexed {
                id,
                rel: l.rel,
                display: l.display,
                path: l.path,
                head,
                checked,
                unreadable: None,
            });
        }
        if added {
            self.file.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        }
        // Files that could not be read are listed after the others, as broken: a runbook
        // never just disappears.
        out.extend(unreadable);
        out
    }

    /// Keeps the validation result of a file just loaded in full (opened or previewed), so
    /// the list marks it broken from then on. Returns whether the index changed.
    pub fn record(&mut self, root: &Root, rel: &str, loaded: &Loaded, full: &FullContext<'_>) -> bool {
        let key = match root {
            Root::Dir(dir) => {
                let base = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                base.join(rel).to_string_lossy().into_owned()
            }
            Root::Bundled => format!("{}/{rel}", super::bundled::PREFIX),
        };
        let Some(entry) = self.file.find(&key).map(|i| &mut self.file.entries[i]) else { return false };
        if entry.hash != loaded.content_hash {
            return false;
        }
        let checked = Checked::of(full.key(rel), loaded);
        if entry.checked.as_ref() == Some(&checked) {
            return false;
        }
        entry.checked = Some(checked);
        self.dirty = true;
        true
    }

    /// Writes the index back if anything changed, atomically; a cache that cannot be written
    /// only costs speed. With more than the entries kept, only the files seen are kept.
    pub fn save(&mut self, seen: Option<&std::collections::HashSet<String>>) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let Some(path) = &self.path else { return };
        if self.file.entries.len() > MAX_ENTRIES
            && let Some(seen) = seen
        {
            self.file.entries.retain(|e| seen.contains(&e.path));
        }
        self.file.format = FORMAT.to_owned();
        let Some(dir) = path.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let tmp = dir.join(format!(".index-{}.tmp", std::process::id()));
        let written = std::fs::File::create(&tmp).ok().and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            serde_json::to_writer(&mut w, &self.file).ok()?;
            std::io::Write::flush(&mut w).ok()
        });
        if written.is_some() {
            let _ = std::fs::rename(&tmp, path);
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

struct Listed {
    key: String,
    rel: String,
    display: String,
    path: Option<PathBuf>,
    bundled: Option<&'static [u8]>,
}

fn path_id(rel: &str) -> &str {
    rel.strip_suffix(".yaml").or_else(|| rel.strip_suffix(".yml")).unwrap_or(rel)
}

/// Decides what to do about one file; runs in parallel, reading the index only.
fn look(l: &Listed, entry: Option<&Entry>, full: &FullContext<'_>, now: i128) -> Outcome {
    let (bytes, stamp, settled) = match (&l.path, l.bundled) {
        (_, Some(bytes)) => (std::borrow::Cow::Borrowed(bytes), Stamp::default(), false),
        (Some(path), None) => {
            let stamp = match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => Stamp::of(&meta),
                Ok(meta) if meta.is_dir() => return Outcome::Skip,
                // A FIFO, a device, a dangling or looping link: reading says what it is.
                _ => {
                    return Outcome::Unreadable(
                        load::read_limited(path)
                            .err()
                            .map_or_else(|| "not a regular file".into(), |e| e.to_string()),
                    );
                }
            };
            let needs_check =
                |e: &Entry| e.head.is_none() && e.checked.as_ref().is_none_or(|c| c.key != full.key(&l.rel));
            if let Some(e) = entry
                && e.settled
                && e.stamp == stamp
                && !needs_check(e)
            {
                return Outcome::Same;
            }
            match load::read_limited(path) {
                Ok(bytes) => (std::borrow::Cow::Owned(bytes), stamp, stamp.settled_at(now)),
                Err(e) => return Outcome::Unreadable(e.to_string()),
            }
        }
        (None, None) => return Outcome::Unreadable("no file".into()),
    };
    let hash = blake3::hash(&bytes).to_hex().to_string();
    if let Some(e) = entry
        && e.hash == hash
    {
        let needs_check = e.head.is_none() && e.checked.as_ref().is_none_or(|c| c.key != full.key(&l.rel));
        if !needs_check {
            if e.stamp == stamp && e.settled == settled {
                return Outcome::Same;
            }
            return Outcome::Restamped(stamp, settled);
        }
        let checked = validate(l, &bytes, full);
        return Outcome::New(
            Box::new(Entry { path: String::new(), stamp, settled, hash, head: None, checked: Some(checked) }),
            false,
            true,
        );
    }
    let head = summary::head(&bytes);
    let checked = if head.is_none() { Some(validate(l, &bytes, full)) } else { None };
    let validated = checked.is_some();
    Outcome::New(
        Box::new(Entry { path: String::new(), stamp, settled, hash, head, checked }),
        true,
        validated,
    )
}

fn validate(l: &Listed, bytes: &[u8], full: &FullContext<'_>) -> Checked {
    let file = load::SourceFile {
        rel: l.rel.clone(),
        display: l.display.clone(),
        bytes: std::borrow::Cow::Owned(bytes.to_vec()),
    };
    let loaded = load::load_runbook(&file, full.envs);
    Checked::of(full.key(&l.rel), &loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(n: usize, title: &str) -> String {
        format!("title: {title} {n}\nkind: incident\nsteps:\n  - title: Look\n    run: echo {n}\n")
    }

    impl Index {
        fn scan_at_all(&mut self, root: &Root, full: &FullContext<'_>, now: i128) -> Vec<Indexed> {
            self.scan_at(root, full, now, true)
        }
    }

    #[test]
    fn editing_one_file_reads_and_parses_that_file_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("books");
        std::fs::create_dir_all(dir.join("a")).unwrap();
        for n in 0..50 {
            std::fs::write(dir.join(format!("a/r{n:02}.yaml")), book(n, "Runbook")).unwrap();
        }
        let cache = tmp.path().join("cache");
        let root = Root::Dir(dir.clone());
        let full = FullContext { envs: None, envs_bytes: b"" };
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128;
        let s = |secs: i128| now + secs * 1_000_000_000;
        let mut index = Index::open(Some(&cache));
        let first = index.scan_at_all(&root, &full, s(0));
        assert_eq!(first.len(), 50);
        assert_eq!(first[7].head.as_ref().unwrap().title, "Runbook 7");
        assert_eq!(index.stats, Stats { files: 50, hashed: 50, parsed: 50, validated: 0 });
        index.save(None);

        // Just written files are not trusted on their stamp alone (a write in the same clock
        // tick would not change it): hashed again, never parsed again.
        let mut index = Index::open(Some(&cache));
        index.scan_at_all(&root, &full, s(10));
        assert_eq!(index.stats, Stats { files: 50, hashed: 50, parsed: 0, validated: 0 });
        index.save(None);

        // Settled: the stamp alone vouches for every file.
        let mut index = Index::open(Some(&cache));
        index.scan_at_all(&root, &full, s(20));
        assert_eq!(index.stats, Stats { files: 50, hashed: 0, parsed: 0, validated: 0 });

        // One edit: that file is read and parsed, nothing else.
        std::fs::write(dir.join("a/r07.yaml"), book(7, "Edited")).unwrap();
        let files = index.scan_at_all(&root, &full, s(30));
        assert_eq!(index.stats, Stats { files: 100, hashed: 1, parsed: 1, validated: 0 });
        assert_eq!(files[7].head.as_ref().unwrap().title, "Edited 7");

        // Same size, modification time put back: the change time still tells.
        let f = dir.join("a/r08.yaml");
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::fs::write(&f, book(8, "Changed")).unwrap();
        std::fs::File::options().write(true).open(&f).unwrap().set_modified(mtime).unwrap();
        let files = index.scan_at_all(&root, &full, s(40));
        assert_eq!(files[8].head.as_ref().unwrap().title, "Changed 8");
        assert_eq!(index.stats.parsed, 2);

        // A file the fast path cannot read is validated in full, once per environments file.
        std::fs::write(dir.join("a/r09.yaml"), "title: T\nsteps:\n  - title: Go\ntgas: [a]\n").unwrap();
        let files = index.scan_at_all(&root, &full, s(50));
        let broken = files[9].summary(0);
        let error = broken.error.unwrap();
        assert!(error.contains("r09.yaml:4:1: ") && error.contains("'tgas'"), "{error}");
        assert_eq!((index.stats.parsed, index.stats.validated), (3, 1));
        index.scan_at_all(&root, &full, s(60));
        assert_eq!((index.stats.parsed, index.stats.validated), (3, 1), "kept with its result");
        let other = FullContext { envs: None, envs_bytes: b"environments: {}" };
        index.scan_at_all(&root, &other, s(70));
        assert_eq!(
            (index.stats.parsed, index.stats.validated),
            (3, 2),
            "validated again for other environments"
        );
    }
}
