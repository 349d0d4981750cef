//! The run journal: one directory per run, an append-only `journal.jsonl` written and
//! fsync'd before anything is shown as done, and a log file per step attempt.
//!
//! A crash, a kill or a lost terminal can cut the last line short; reading tolerates a torn
//! last line, so every completed record survives.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::run::{Entry, Outcome, Record};

/// An open journal of one run, with the run's lease: only one process drives a run.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    file: File,
    _lease: Lease,
    /// With a team store: records go there first (see [`crate::store`]).
    shared: Option<Shared>,
}

/// A run's place in the team store, held by its driver.
#[derive(Debug)]
struct Shared {
    conn: std::sync::Arc<crate::store::Connection>,
    /// Publishes the running try's output for watchers on other machines.
    live: crate::store::live::Publisher,
    seq: i32,
    /// The number the next record gets.
    next: i32,
    /// The attempt of each step last started, to file its output tail when it ends.
    attempts: std::collections::HashMap<String, u32>,
    /// Set once a write failed: nothing more is written, the driver stops.
    lost: bool,
}

/// Where runs live under the data dir.
pub fn runs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("runs")
}

/// Creates a directory (and its parents) readable only by its owner: run data holds
/// command output, which on a shared host is nobody else's business.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// A warning when the data directory can be read by others (it was made before, or by hand).
pub fn permission_warning(data_dir: &Path) -> Option<String> {
    let mode = std::fs::metadata(data_dir).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "warning: {} can be read by other users (mode {:o}); run data holds command output: `chmod -R go-rwx {}`",
            data_dir.display(),
            mode & 0o777,
            data_dir.display()
        )
    })
}

/// Opens (creating) a file that only its owner can read, whatever the umask.
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

impl Journal {
    /// Creates the directory of a new run of `runbook_id`; returns the journal and run id.
    pub fn create(data_dir: &Path, runbook_id: &str) -> anyhow::Result<(Self, String)> {
        let now = jiff::Timestamp::now();
        let slug: String =
            runbook_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
        let stamp = now.strftime("%Y%m%dT%H%M%SZ");
        let nonce =
            blake3::hash(format!("{}{}", std::process::id(), now.as_nanosecond()).as_bytes()).to_hex();
        let id = format!("{stamp}-{slug}-{}", &nonce[..4]);
        let dir = runs_dir(data_dir).join(&id);
        // The store first: when it cannot be reached, nothing is started.
        let conn = match crate::store::current() {
            Some(store) => Some(store.create_run(&id, runbook_id)?),
            None => None,
        };
        create_private_dir(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        create_private_dir(&dir.join("steps")).with_context(|| format!("cannot create {}", dir.display()))?;
        let journal = Self::open_with(&dir, conn)?;
        Ok((journal, id))
    }

    /// Opens an existing run's journal for appending (resume), taking its lease first: a run
    /// that another live process drives is refused with [`LeaseHeld`].
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let conn = match crate::store::current() {
            Some(store) => Some(store.connect()?),
            None => None,
        };
        Self::open_with(dir, conn)
    }

    fn open_with(dir: &Path, conn: Option<crate::store::Connection>) -> anyhow::Result<Self> {
        let lease = Lease::take(dir)?;
        let shared = match conn {
            Some(conn) => {
                let run = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let (user, host) = user_and_host();
                let me = Holder { user, host, pid: std::process::id(), since: jiff::Timestamp::now() };
                if !conn.try_lease(&run, &me)? {
                    let holder = conn.holder(&run)?.unwrap_or_else(Holder::unknown);
                    return Err(LeaseHeld { run, holder }.into());
                }
                let (seq, next) = conn.position(&run)?;
                let conn = std::sync::Arc::new(conn);
                let live = crate::store::live::Publisher::start(std::sync::Arc::clone(&conn), seq);
                Some(Shared { conn, live, seq, next, attempts: Default::default(), lost: false })
            }
            None => None,
        };
        let path = dir.join("journal.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // A torn last line from a crash would glue onto the next record: cut it off. It was
        // never reported as done, because records are reported only after they are synced.
        let bytes = std::fs::read(&path)?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)?;
            file.sync_data()?;
        }
        Ok(Self { dir: dir.to_path_buf(), file, _lease: lease, shared })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a record and waits until it is on disk. A record that could not be written
    /// whole is cut off again, so the journal never holds half a record before the next.
    pub fn append(&mut self, record: Record) -> anyhow::Result<Entry> {
        let entry = Entry { at: jiff::Timestamp::now(), record };
        if let Some(shared) = &mut self.shared {
            shared.commit(&self.dir, &entry)?;
        }
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        let before = self.file.metadata().map(|m| m.len()).ok();
        let written = self.file.write_all(&line).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            if let Some(len) = before {
                let _ = self.file.set_len(len);
            }
            return Err(anyhow::Error::new(e)
                .context(format!("cannot write the journal {}", self.dir.join("journal.jsonl").display())));
        }
        Ok(entry)
    }

    /// The log file of one attempt of a step.
    pub fn step_log(&self, step: &str, attempt: u32) -> PathBuf {
        self.dir.join("steps").join(format!("{step}.{attempt}.log"))
    }
}

impl Shared {
    /// Commits an entry (and, when it ends a command's try, that try's output tail) to the
    /// store. A failure loses the store for this driver: it must stop.
    fn commit(&mut self, dir: &Path, entry: &Entry) -> anyhow::Result<()> {
        if self.lost {
            bail!("the run store was lost earlier in this run; nothing more is written");
        }
        let ended = match &entry.record {
            Record::StepStarted { step, attempt, .. } => {
                self.attempts.insert(step.clone(), *attempt);
                self.live.follow(step, *attempt, dir.join("steps").join(format!("{step}.{attempt}.log")));
                None
            }
            Record::AttemptFailed { step, attempt, .. } => Some((step, *attempt)),
            Record::StepPassed { step, .. }
            | Record::StepFailed { step, .. }
            | Record::StepCancelled { step, .. } => self.attempts.get(step).map(|a| (step, *a)),
            _ => None,
        };
        if ended.is_some() {
            self.live.stop();
        }
        let tail = ended.and_then(|(step, attempt)| {
            let log = dir.join("steps").join(format!("{step}.{attempt}.log"));
            crate::store::Tail::of_log(step, attempt, &log)
        });
        let written = self.conn.append(self.seq, self.next, entry, tail);
        match written {
            Ok(()) => {
                self.next += 1;
                Ok(())
            }
            Err(e) => {
                self.lost = true;
                let run = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Err(e.context(format!(
                    "the run store failed: the run stops here, before anything more runs. Every record up to now is in the store and in {}; when the store is back, `runbook run --resume {run}` carries on",
                    dir.display()
                )))
            }
        }
    }
}

/// Whether a process on this machine holds the run's local lease now.
pub fn held_here(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join("lease")) else { return false };
    // SAFETY: flock on a file descriptor this function owns; a shared lock taken here is
    // dropped with the file at the end of the function.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

/// Who drives a run: written into the run's `lease` file by its driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub since: jiff::Timestamp,
}

impl Holder {
    fn unknown() -> Self {
        Holder { user: "unknown".into(), host: "unknown".into(), pid: 0, since: jiff::Timestamp::UNIX_EPOCH }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{} (pid {}) since {} UTC",
            self.user,
            self.host,
            self.pid,
            self.since.strftime("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// Another process drives the run.
#[derive(Debug, thiserror::Error)]
#[error(
    "run {run} is being driven by {holder}; only one driver at a time. Resume it once that runner has ended (quit with q, or its process is gone: the lease is released with it)"
)]
pub struct LeaseHeld {
    pub run: String,
    pub holder: Holder,
}

/// The exclusive right to drive a run: an advisory lock (`flock`) on the run's `lease`
/// file. The kernel releases it when the process ends, however it ends (kill -9 included),
/// so a dead driver never blocks the run.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

impl Lease {
    pub fn take(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("lease");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // SAFETY: flock on a file descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let holder = holder_of(dir).unwrap_or_else(Holder::unknown);
                let run = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                return Err(LeaseHeld { run, holder }.into());
            }
            return Err(anyhow::Error::new(err).context(format!("cannot lock {}", path.display())));
        }
        let (user, host) = user_and_host();
        let holder = Holder { user, host, pid: std::process::id(), since: jiff::Timestamp::now() };
        file.set_len(0)?;
        file.write_all(&serde_json::to_vec(&holder)?)?;
        Ok(Self { _file: file })
    }
}

/// Who holds a run's lease now, if anyone does.
pub fn current_holder(dir: &Path) -> Option<Holder> {
    held_here(dir).then(|| holder_of(dir)).flatten()
}

fn holder_of(dir: &Path) -> Option<Holder> {
    serde_json::from_slice(&std::fs::read(dir.join("lease")).ok()?).ok()
}

/// A run's entries and what could not be read.
#[derive(Debug, Default)]
pub struct Read {
    pub entries: Vec<Entry>,
    /// One sentence per damaged record, with its line number.
    pub problems: Vec<String>,
}

/// Reads a run's entries. Reading is by bytes, not lines of UTF-8, so one bad byte costs at
/// most its record: a torn last record (a crash mid-write) is left out with a warning, and
/// a damaged record anywhere else is reported with its line number while the rest still reads.
pub fn read_all(dir: &Path) -> anyhow::Result<Read> {
    let path = dir.join("journal.jsonl");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Read::default();
    let torn = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Entry>(line) {
            Ok(e) => out.entries.push(e),
            Err(_) if torn && i == last => out.problems.push(format!(
                "{}:{}: the last record was cut short (the runner stopped while writing it); it is left out",
                path.display(),
                i + 1
            )),
            Err(e) => out.problems.push(format!(
                "{}:{}: a damaged record is left out ({e}); the records around it are kept",
                path.display(),
                i + 1
            )),
        }
    }
    Ok(out)
}

/// Reads a run's entries, leaving damaged records out (see [`read_all`]).
pub fn read(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    Ok(read_all(dir)?.entries)
}

/// One line of `runbook runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub runbook: String,
    pub title: String,
    pub environment: String,
    pub started: jiff::Timestamp,
    pub ended: Option<jiff::Timestamp>,
    pub state: RunState,
    /// Steps done so far and the runbook's step count, when the journal knows it.
    pub done: usize,
    pub steps: Option<usize>,
    /// Who drives the run now, if anyone.
    pub driver: Option<Holder>,
    /// Damaged records, with their line numbers.
    pub problems: Vec<String>,
    /// Where the runbook file was when the run started (resume finds it there).
    pub source: Option<PathBuf>,
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Where a run stands, as its journal says: written `succeeded`, `failed`, `aborted`,
/// `abandoned`, `unfinished` or `damaged` (in `runs --format json` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum RunState {
    /// It reached its end (or was abandoned); a resume after the end makes it unfinished again.
    Ended(crate::run::Outcome),
    /// It can be resumed.
    Unfinished,
    /// Its start record could not be read.
    Damaged,
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunState::Ended(outcome) => outcome.fmt(f),
            RunState::Unfinished => f.write_str("unfinished"),
            RunState::Damaged => f.write_str("damaged"),
        }
    }
}

impl From<RunState> for String {
    fn from(state: RunState) -> Self {
        state.to_string()
    }
}

impl RunInfo {
    pub fn is_unfinished(&self) -> bool {
        self.state == RunState::Unfinished
    }

    /// Whether the run has ended (succeeded, failed, aborted, abandoned).
    pub fn outcome_known(&self) -> bool {
        matches!(self.state, RunState::Ended(_))
    }

    /// The id's last part, enough to tell runs apart day to day; `--resume`, `export` and
    /// `attach` accept it.
    pub fn short_id(&self) -> &str {
        self.id.rsplit('-').next().unwrap_or(&self.id)
    }
}

/// Every run, newest first: from the team store when there is one, else the data dir. A run
/// whose journal is damaged or unreadable is listed with what is wrong, never left out; a
/// store that cannot be reached is an error, never an empty list.
pub fn list_runs(data_dir: &Path) -> anyhow::Result<Vec<RunInfo>> {
    if let Some(store) = crate::store::current() {
        let runs_dir = runs_dir(data_dir);
        return Ok(store
            .runs()?
            .into_iter()
            .map(|r| {
                let dir = runs_dir.join(&r.id);
                summarize(r.id, dir, r.created, r.outline, r.holder)
            })
            .collect());
    }
    let Ok(entries) = std::fs::read_dir(runs_dir(data_dir)) else { return Ok(vec![]) };
    let mut runs: Vec<RunInfo> =
        entries.flatten().filter(|e| e.path().is_dir()).map(|e| info(&e.path())).collect();
    runs.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    Ok(runs)
}

/// What a run's journal says about it.
pub fn info(dir: &Path) -> RunInfo {
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let created = std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let read = read_all(dir).unwrap_or_else(|e| Read { entries: vec![], problems: vec![format!("{e:#}")] });
    summarize(id, dir.to_path_buf(), created, Outline::of(read), current_holder(dir))
}

/// A run's summary from its entries (all of them, or at least its start, its ends of steps,
/// its resumes and its finish).
/// What a run's list row is made of: its start record, how it last finished, and how many
/// steps are done. Read from the whole journal here, or asked of the store in one query
/// (`Store::runs`), which never sends every record of every run.
#[derive(Debug, Default)]
pub struct Outline {
    pub start: Option<Entry>,
    /// The last `run_finished`: when, and how.
    pub finished: Option<(jiff::Timestamp, crate::run::Outcome)>,
    /// A resume came after that finish: the run is open again.
    pub resumed_after: bool,
    /// Steps passed, failed, skipped, marked done or decided.
    pub done: usize,
    pub problems: Vec<String>,
}

impl Outline {
    pub fn of(read: Read) -> Self {
        let entries = read.entries;
        let finished_at = entries.iter().rposition(|e| matches!(e.record, Record::RunFinished { .. }));
        let finished = finished_at.and_then(|i| match entries[i].record {
            Record::RunFinished { outcome } => Some((entries[i].at, outcome)),
            _ => None,
        });
        let resumed_after = finished_at
            .is_some_and(|i| entries[i..].iter().any(|e| matches!(e.record, Record::Resumed { .. })));
        let mut done = std::collections::HashSet::new();
        for e in &entries {
            match &e.record {
                Record::StepPassed { step, .. }
                | Record::StepFailed { step, .. }
                | Record::StepSkipped { step, .. }
                | Record::StepMarkedDone { step, .. }
                | Record::Chose { step, .. } => {
                    done.insert(step.as_str());
                }
                _ => {}
            }
        }
        let done = done.len();
        Self { start: entries.into_iter().next(), finished, resumed_after, done, problems: read.problems }
    }
}

fn summarize(
    id: String,
    dir: PathBuf,
    created: jiff::Timestamp,
    outline: Outline,
    driver: Option<Holder>,
) -> RunInfo {
    let mut info = RunInfo {
        id,
        runbook: String::new(),
        title: String::new(),
        environment: String::new(),
        started: created,
        ended: None,
        state: RunState::Damaged,
        done: 0,
        steps: None,
        driver,
        problems: outline.problems,
        source: None,
        dir,
    };
    let Some(first) = &outline.start else { return info };
    let Record::RunStarted { runbook, title, environment, source, steps, .. } = &first.record else {
        info.problems.push("the journal does not begin with the run's start record".into());
        return info;
    };
    info.runbook = runbook.clone();
    info.title = title.clone();
    info.environment = environment.clone();
    info.started = first.at;
    info.source = source.as_ref().map(PathBuf::from);
    info.steps = *steps;
    (info.ended, info.state) = match (outline.finished, outline.resumed_after) {
        (Some((at, outcome)), false) => (Some(at), RunState::Ended(outcome)),
        _ => (None, RunState::Unfinished),
    };
    info.done = outline.done;
    info
}

/// Finds a run by id, a unique prefix or short id (its last part), or the newest with
/// `latest`.
/// With a team store, the run's records are first written into this machine's mirror of it.
pub fn resolve(data_dir: &Path, which: &str) -> anyhow::Result<RunInfo> {
    let mut info = find(data_dir, which)?;
    if let Some(store) = crate::store::current() {
        info.dir = store.materialize(&info.id, &runs_dir(data_dir))?;
    }
    Ok(info)
}

fn find(data_dir: &Path, which: &str) -> anyhow::Result<RunInfo> {
    let runs = list_runs(data_dir)?;
    if which == "latest" {
        return runs.into_iter().next().context("there are no runs yet");
    }
    if let Some(exact) = runs.iter().find(|r| r.id == which) {
        return Ok(exact.clone());
    }
    let matching: Vec<RunInfo> = runs
        .into_iter()
        .filter(|r| r.id.starts_with(which) || (which.len() >= 4 && r.id.ends_with(which)))
        .collect();
    match matching.len() {
        0 => bail!("no run '{which}': `runbook runs` lists them"),
        1 => Ok(matching.into_iter().next().unwrap_or_else(|| unreachable!())),
        n => bail!("'{which}' matches {n} runs: give more of the id"),
    }
}

/// The outcome of an entry list, if the run finished.
pub fn outcome(entries: &[Entry]) -> Option<Outcome> {
    entries.iter().rev().find_map(|e| match e.record {
        Record::RunFinished { outcome } => Some(outcome),
        _ => None,
    })
}

/// `user@host` of this process, for the journal.
pub fn user_and_host() -> (String, String) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(login_name)
        .unwrap_or_else(|| "unknown".into());
    let mut buf = [0u8; 256];
    // SAFETY: buf is a valid writable buffer of the given length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let host = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    };
    (user, host)
}

/// The login name of this process's user, from the password database.
fn login_name() -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the right size; getpwuid_r is reentrant.
    let rc = unsafe { libc::getpwuid_r(libc::getuid(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name points into buf, NUL-terminated by getpwuid_r.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_tolerated_and_mended_on_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::create(tmp.path(), "a/b").unwrap();
        j.append(Record::Note { text: "one".into(), step: None }).unwrap();
        j.append(Record::Note { text: "two".into(), step: None }).unwrap();
        let dir = j.dir().to_path_buf();
        drop(j);
        let path = dir.join("journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"at":"2026-11-23T10:00:00Z","type":"no"#).unwrap();
        assert_eq!(read(&dir).unwrap().len(), 2);
        let mut j = Journal::open(&dir).unwrap();
        j.append(Record::Note { text: "three".into(), step: None }).unwrap();
        let texts: Vec<Record> = read(&dir).unwrap().into_iter().map(|e| e.record).collect();
        assert_eq!(texts.len(), 3);
        assert_eq!(texts[2], Record::Note { text: "three".into(), step: None });
    }

    #[test]
    fn a_bad_record_in_the_middle_costs_only_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::create(tmp.path(), "x").unwrap();
        j.append(Record::Note { text: "one".into(), step: None }).unwrap();
        let path = j.dir().join("journal.jsonl");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"garbage \xff\xfe\n");
        bytes.extend_from_slice(&std::fs::read(&path).unwrap());
        // A record torn inside a multi-byte character ("é" is two bytes).
        let torn = serde_json::to_vec(&Entry {
            at: jiff::Timestamp::UNIX_EPOCH,
            record: Record::Note { text: "café".into(), step: None },
        })
        .unwrap();
        let cut = torn.iter().position(|&b| b == 0xc3).unwrap() + 1;
        bytes.extend_from_slice(&torn[..cut]);
        std::fs::write(&path, bytes).unwrap();
        let read = read_all(j.dir()).unwrap();
        assert_eq!(read.entries.len(), 2, "the records around the damage are kept");
        assert_eq!(read.problems.len(), 2, "{:?}", read.problems);
        assert!(
            read.problems[0].contains("journal.jsonl:2: a damaged record is left out"),
            "{:?}",
            read.problems
        );
        assert!(
            read.problems[1].contains("journal.jsonl:4: the last record was cut short"),
            "{:?}",
            read.problems
        );
    }

    #[test]
    fn one_driver_at_a_time_and_the_lease_names_its_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let (j, _) = Journal::create(tmp.path(), "x").unwrap();
        let dir = j.dir().to_path_buf();
        let err = Journal::open(&dir).unwrap_err();
        let held = err.downcast_ref::<LeaseHeld>().expect("a lease error");
        assert_eq!(held.holder.pid, std::process::id());
        assert_eq!(current_holder(&dir).map(|h| h.pid), Some(std::process::id()));
        drop(j);
        assert_eq!(current_holder(&dir), None, "released when the journal is dropped");
        Journal::open(&dir).expect("free again");
    }

    #[test]
    fn run_data_is_private_whatever_the_umask() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        // SAFETY: umask only changes this process's file creation mask.
        let old = unsafe { libc::umask(0o000) };
        let (j, _) = Journal::create(&data, "x").unwrap();
        unsafe { libc::umask(old) };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(j.dir()), 0o700);
        assert_eq!(mode(&j.dir().join("journal.jsonl")), 0o600);
        assert_eq!(mode(&j.dir().join("lease")), 0o600);
    }
}
