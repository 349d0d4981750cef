//! The run journal: one directory per run, an append-only `journal.jsonl` written and
//! fsync'd before anything is shown as done, and a log file per step attempt.
//!
//! A crash, a kill or a lost terminal can cut the last line short; reading tolerates a torn
//! last line, so every completed record survives.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::run::{Entry, Outcome, Record};

/// An open journal of one run.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    file: File,
}

/// Where runs live under the data dir.
pub fn runs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("runs")
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
        std::fs::create_dir_all(dir.join("steps"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let journal = Self::open(&dir)?;
        Ok((journal, id))
    }

    /// Opens an existing run's journal for appending (resume).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("journal.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
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
        Ok(Self { dir: dir.to_path_buf(), file })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a record and waits until it is on disk.
    pub fn append(&mut self, record: Record) -> anyhow::Result<Entry> {
        let entry = Entry { at: jiff::Timestamp::now(), record };
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.file.write_all(&line).context("cannot write the journal")?;
        self.file.sync_data().context("cannot sync the journal to disk")?;
        Ok(entry)
    }

    /// The log file of one attempt of a step.
    pub fn step_log(&self, step: &str, attempt: u32) -> PathBuf {
        self.dir.join("steps").join(format!("{step}.{attempt}.log"))
    }
}

/// Reads a run's entries. A line that does not parse is tolerated only at the end (a torn
/// write); anywhere else it is an error, because records would be lost silently.
pub fn read(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let path = dir.join("journal.jsonl");
    let file = File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let lines: Vec<String> = BufReader::new(file).lines().collect::<Result<_, _>>()?;
    let mut entries = Vec::new();
    let last_nonempty = lines.iter().rposition(|l| !l.trim().is_empty());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => entries.push(e),
            Err(_) if Some(i) == last_nonempty => break,
            Err(e) => bail!("{}:{}: unreadable journal record: {e}", path.display(), i + 1),
        }
    }
    Ok(entries)
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
    /// `succeeded`, `failed`, `aborted`, or `unfinished` (resumable).
    pub state: String,
    #[serde(skip)]
    pub dir: PathBuf,
}

impl RunInfo {
    pub fn is_unfinished(&self) -> bool {
        self.state == "unfinished"
    }
}

/// Every run under the data dir, newest first. Unreadable directories are skipped.
pub fn list(data_dir: &Path) -> Vec<RunInfo> {
    let Ok(entries) = std::fs::read_dir(runs_dir(data_dir)) else { return vec![] };
    let mut runs: Vec<RunInfo> = entries.flatten().filter_map(|e| info(&e.path())).collect();
    runs.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    runs
}

/// What a run's journal says about it.
pub fn info(dir: &Path) -> Option<RunInfo> {
    let entries = read(dir).ok()?;
    let first = entries.first()?;
    let Record::RunStarted { runbook, title, environment, .. } = &first.record else { return None };
    let finished = entries.iter().rev().find_map(|e| match e.record {
        Record::RunFinished { outcome } => Some((e.at, outcome)),
        _ => None,
    });
    let resumed_after = finished.and_then(|(at, _)| {
        entries.iter().any(|e| matches!(e.record, Record::Resumed { .. }) && e.at > at).then_some(())
    });
    let (ended, state) = match (finished, resumed_after) {
        (Some((at, outcome)), None) => (Some(at), outcome.to_string()),
        _ => (None, "unfinished".to_owned()),
    };
    Some(RunInfo {
        id: dir.file_name()?.to_string_lossy().into_owned(),
        runbook: runbook.clone(),
        title: title.clone(),
        environment: environment.clone(),
        started: first.at,
        ended,
        state,
        dir: dir.to_path_buf(),
    })
}

/// Finds a run by id, or the newest with `latest`.
pub fn resolve(data_dir: &Path, which: &str) -> anyhow::Result<RunInfo> {
    let runs = list(data_dir);
    if which == "latest" {
        return runs.into_iter().next().context("there are no runs yet");
    }
    let matching: Vec<RunInfo> =
        runs.into_iter().filter(|r| r.id == which || r.id.starts_with(which)).collect();
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
    fn a_bad_line_in_the_middle_is_an_error_not_a_silent_loss() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::create(tmp.path(), "x").unwrap();
        j.append(Record::Note { text: "one".into(), step: None }).unwrap();
        let path = j.dir().join("journal.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("garbage\n");
        text.push_str(&std::fs::read_to_string(&path).unwrap());
        std::fs::write(&path, text).unwrap();
        let err = read(j.dir()).unwrap_err().to_string();
        assert!(err.contains("journal.jsonl:2: unreadable journal record"), "{err}");
    }
}
