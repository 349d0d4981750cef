//! Reading a run that someone else drives, where it lives: the team store when there is
//! one, else the run's directory on this machine. Shared by `runbook attach --follow` and the
//! TUI's watch view. A feed never takes the run's lease and never writes its journal.

use std::path::PathBuf;
use std::sync::Arc;

use crate::journal::{self, Holder, RunInfo};
use crate::run::Entry;
use crate::store::{Connection, Store};

#[derive(Debug)]
pub struct Feed {
    id: String,
    dir: PathBuf,
    store: Option<Arc<Store>>,
    /// The store's connection; dropped when a call fails and made again on the next read.
    conn: Option<Connection>,
    /// When a running try's tail was last asked of the store: it changes at most once per
    /// `store::live::EVERY`, so asking more often (followers poll every 250 ms) is wasted.
    live_asked: Option<std::time::Instant>,
}

impl Feed {
    pub fn new(info: &RunInfo) -> Self {
        Self {
            id: info.id.clone(),
            dir: info.dir.clone(),
            store: crate::store::current(),
            conn: None,
            live_asked: None,
        }
    }

    fn conn(&mut self) -> Option<&Connection> {
        if self.conn.is_none() {
            self.conn = self.store.as_ref().and_then(|s| s.connect().ok());
        }
        self.conn.as_ref()
    }

    /// Entries after the first `have`. Empty while the store cannot be reached (a later read
    /// connects again); a record being written here may be torn for a moment and is read
    /// whole next time.
    pub fn entries_since(&mut self, have: usize) -> Vec<Entry> {
        if self.store.is_none() {
            return journal::read_all(&self.dir)
                .map(|r| r.entries.into_iter().skip(have).collect())
                .unwrap_or_default();
        }
        let id = self.id.clone();
        let read = self.conn().map(|c| c.entries_since(&id, have as i32));
        match read {
            Some(Ok(entries)) => entries,
            _ => {
                self.conn = None;
                Vec::new()
            }
        }
    }

    /// Who drives the run now, if anyone (or nobody known while the store is away).
    pub fn driver(&mut self) -> Option<Holder> {
        if self.store.is_none() {
            return journal::current_holder(&self.dir);
        }
        let id = self.id.clone();
        self.conn().and_then(|c| c.holder(&id).ok().flatten())
    }

    /// Output of a step try from `offset` on (moved past what is returned). On this machine
    /// `offset` counts bytes of the try's log, read live. From the store it counts lines: the
    /// store keeps a tail of the output (published while the try runs, final when it ends),
    /// so lines that scrolled out of it between two reads are said as a count, and a last
    /// line without its newline is held back until the try ends or the line does.
    pub fn output(&mut self, step: &str, attempt: u32, offset: &mut u64, ended: bool) -> Option<Vec<u8>> {
        if self.store.is_none() {
            return read_from(&self.dir.join("steps").join(format!("{step}.{attempt}.log")), offset);
        }
        if !ended {
            if self.live_asked.is_some_and(|at| at.elapsed() < crate::store::live::EVERY) {
                return None;
            }
            self.live_asked = Some(std::time::Instant::now());
        }
        let id = self.id.clone();
        let (tail, left_out) = self.conn().and_then(|c| c.tail(&id, step, attempt).ok().flatten())?;
        new_lines(&tail, left_out, offset, ended)
    }
}

/// The lines of a stored tail (the first being line number `left_out`) after the first
/// `*seen` lines of the output, with `*seen` moved past them.
fn new_lines(tail: &str, left_out: i64, seen: &mut u64, ended: bool) -> Option<Vec<u8>> {
    let first = left_out.max(0) as u64;
    let mut lines: Vec<&str> = tail.split_inclusive('\n').collect();
    if !ended && lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop(); // still being written
    }
    let end = first + lines.len() as u64;
    if end <= *seen {
        return None;
    }
    let mut out = String::new();
    if *seen < first {
        let missed = first - *seen;
        out.push_str(&format!(
            "… {missed} line{} not shown (the store keeps the last lines) …\n",
            if missed == 1 { "" } else { "s" }
        ));
    }
    let from = (*seen).max(first) - first;
    for line in &lines[from as usize..] {
        out.push_str(line);
    }
    *seen = end;
    Some(out.into_bytes())
}
/// The bytes of `path` after `offset` (moved on past them), if there are any.
fn read_from(path: &std::path::Path, offset: &mut u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(std::io::SeekFrom::Start(*offset)).ok()?;
    let mut buf = Vec::new();
    f.take(1 << 20).read_to_end(&mut buf).ok()?;
    if buf.is_empty() {
        return None;
    }
    *offset += buf.len() as u64;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::new_lines;

    #[test]
    fn a_stored_tail_gives_each_line_once_and_says_what_scrolled_out() {
        let mut seen = 0;
        // Live: the last line is still being written and waits.
        assert_eq!(new_lines("a\nb\npart", 0, &mut seen, false).unwrap(), b"a\nb\n");
        assert_eq!(seen, 2);
        assert_eq!(new_lines("a\nb\npart", 0, &mut seen, false), None, "nothing new");
        // The tail moved on: two lines scrolled out unseen, then the rest arrives.
        let text = String::from_utf8(new_lines("partial\nd\ne\n", 4, &mut seen, false).unwrap()).unwrap();
        assert_eq!(text, "… 2 lines not shown (the store keeps the last lines) …\npartial\nd\ne\n");
        assert_eq!(seen, 7);
        // The try ended: its final tail gives the lines not seen yet, a last partial one too.
        assert_eq!(new_lines("d\ne\nf\nend", 5, &mut seen, true).unwrap(), b"f\nend");
        assert_eq!(seen, 9);
    }
}
