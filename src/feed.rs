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
}

impl Feed {
    pub fn new(info: &RunInfo) -> Self {
        Self { id: info.id.clone(), dir: info.dir.clone(), store: crate::store::current(), conn: None }
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

    /// Output of a step try from byte `offset` on (moved past what is returned): live from its
    /// log on this machine; from the store only once the try has `ended` (its tail).
    pub fn output(&mut self, step: &str, attempt: u32, offset: &mut u64, ended: bool) -> Option<Vec<u8>> {
        if self.store.is_none() {
            return read_from(&self.dir.join("steps").join(format!("{step}.{attempt}.log")), offset);
        }
        if !ended {
            return None;
        }
        let id = self.id.clone();
        self.conn().and_then(|c| c.tail(&id, step, attempt).ok().flatten()).map(String::into_bytes)
    }
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
