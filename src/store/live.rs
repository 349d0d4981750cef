//! The output of the step running now, published to the store while it runs, so a teammate
//! watching from another machine (`runbook attach`) sees it live rather than when the step
//! ends.
//!
//! A thread of the driver's journal follows the running try's log file (already masked, as
//! step logs are) and, at most once a second and only when it grew, writes its tail to the
//! store as a *live* row of `runbook_output`. The record that ends the try writes the final
//! tail in the same statement as the record, as before; a live write never replaces a final
//! one, whatever order they reach the server in. Publishing is best effort: a failed write is
//! tried again at the next tick, and never stops the run (the record path decides that).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Connection, TAIL_BYTES, tail_of};

/// How often a growing log is published.
pub const EVERY: Duration = Duration::from_secs(1);

enum Order {
    Follow { step: String, attempt: u32, log: PathBuf },
    Stop,
}

/// Publishes the running try's output; stops its thread when dropped.
#[derive(Debug)]
pub struct Publisher {
    orders: mpsc::Sender<Order>,
}

impl Publisher {
    pub fn start(conn: Arc<Connection>, seq: i32) -> Self {
        let (orders, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("runbook-live".into())
            .spawn(move || publish(&conn, seq, &rx))
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("runbook: live output for watchers is off: {e}"));
        Self { orders }
    }

    /// Follows the log of a try that has just started.
    pub fn follow(&self, step: &str, attempt: u32, log: PathBuf) {
        let _ = self.orders.send(Order::Follow { step: step.to_owned(), attempt, log });
    }

    /// The try ended: its final tail goes with the record that ends it.
    pub fn stop(&self) {
        let _ = self.orders.send(Order::Stop);
    }
}

fn publish(conn: &Connection, seq: i32, orders: &mpsc::Receiver<Order>) {
    let mut following: Option<Follower> = None;
    let mut next = Instant::now() + EVERY;
    loop {
        match orders.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(Order::Follow { step, attempt, log }) => following = Some(Follower::new(step, attempt, log)),
            Ok(Order::Stop) => following = None,
            Err(RecvTimeoutError::Timeout) => {
                next = Instant::now() + EVERY;
                if let Some(f) = following.as_mut()
                    && let Some((tail, left_out)) = f.advance()
                    && conn.publish(seq, &f.step, f.attempt, &tail, left_out).is_err()
                {
                    f.published = None; // try again at the next tick
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Follows the running try's log and remembers what it last published.
struct Follower {
    step: String,
    attempt: u32,
    log: LogTail,
    /// The offset last published.
    published: Option<u64>,
}

impl Follower {
    fn new(step: String, attempt: u32, log: PathBuf) -> Self {
        Self { step, attempt, log: LogTail::new(log), published: None }
    }

    /// Reads what the log gained; the tail and the lines left out before it, when there is
    /// something not published yet.
    fn advance(&mut self) -> Option<(String, i64)> {
        self.log.read_on();
        if self.published == Some(self.log.offset) || self.log.offset == 0 {
            return None;
        }
        self.published = Some(self.log.offset);
        Some(self.log.tail())
    }
}

/// A log read as it grows, in bounded memory: its last bytes and the count of the lines
/// before them, which give the same tail as [`tail_of`] over the whole file. The live
/// publisher reads on each second; the final tail of a try reads a log once through it.
pub(super) struct LogTail {
    path: PathBuf,
    offset: u64,
    /// The last bytes read: at least [`TAIL_BYTES`], from a line's start, at most three.
    window: Vec<u8>,
    /// Lines that ended in bytes no longer in the window.
    lines_before: i64,
}

impl LogTail {
    pub(super) fn new(path: PathBuf) -> Self {
        Self { path, offset: 0, window: Vec::new(), lines_before: 0 }
    }

    /// Reads what the log gained since the last read; false when it cannot be opened.
    pub(super) fn read_on(&mut self) -> bool {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return false };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut chunk = vec![0u8; 1 << 20];
        while let Ok(n) = file.read(&mut chunk) {
            if n == 0 {
                break;
            }
            self.offset += n as u64;
            self.window.extend_from_slice(&chunk[..n]);
            if self.window.len() > 2 * TAIL_BYTES {
                // Keep at least the last TAIL_BYTES, from the start of a line (as the tail
                // of the whole log would begin), unless that line alone is longer than
                // another TAIL_BYTES: the window stays under three.
                let at_least = self.window.len() - TAIL_BYTES;
                let floor = at_least.saturating_sub(TAIL_BYTES);
                let drop = memchr::memrchr(b'\n', &self.window[floor..at_least])
                    .map_or(at_least, |nl| floor + nl + 1);
                self.lines_before += memchr::memchr_iter(b'\n', &self.window[..drop]).count() as i64;
                self.window.drain(..drop);
            }
        }
        true
    }

    /// The tail read so far and the lines left out before it.
    pub(super) fn tail(&self) -> (String, i64) {
        let (tail, left_in_window) = tail_of(&self.window);
        (tail, self.lines_before + left_in_window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A new step log (its directory, path, and file to write) and a follower of it.
    fn following() -> (tempfile::TempDir, std::path::PathBuf, std::fs::File, Follower) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("step.1.log");
        let file = std::fs::File::create(&log).unwrap();
        let follower = Follower::new("step".into(), 1, log.clone());
        (dir, log, file, follower)
    }

    #[test]
    fn a_growing_log_is_read_as_it_grows_with_the_lines_before_its_tail_counted() {
        let (_dir, _, mut file, mut f) = following();
        assert_eq!(f.advance(), None, "nothing written yet");
        writeln!(file, "one\ntwo").unwrap();
        assert_eq!(f.advance(), Some(("one\ntwo\n".into(), 0)));
        assert_eq!(f.advance(), None, "unchanged: not published again");
        write!(file, "thr").unwrap();
        assert_eq!(f.advance(), Some(("one\ntwo\nthr".into(), 0)));
        // Far more than a tail: the same tail and count as the whole log would give.
        let mut all = b"one\ntwo\nthr".to_vec();
        for i in 0..50_000 {
            let line = format!("line {i} of a long output\n");
            file.write_all(line.as_bytes()).unwrap();
            all.extend_from_slice(line.as_bytes());
        }
        assert_eq!(f.advance(), Some(tail_of(&all)));
        assert!(f.log.window.len() <= 3 * TAIL_BYTES);
    }

    #[test]
    fn the_tail_of_a_followed_log_is_the_tail_of_the_whole_log_whatever_the_line_lengths() {
        let (_dir, log, mut file, mut f) = following();
        let mut all = Vec::new();
        for round in 0..40 {
            for i in 0..(round * 37 % 500 + 100) {
                let line = format!("{}\n", "x".repeat((i * 31 + round) % 700));
                file.write_all(line.as_bytes()).unwrap();
                all.extend_from_slice(line.as_bytes());
            }
            assert_eq!(f.advance(), Some(tail_of(&all)), "after round {round}");
        }
        // Read in one go, as a try's final tail is: the same as the whole log's.
        let mut once = LogTail::new(log.clone());
        assert!(once.read_on());
        assert_eq!(once.tail(), tail_of(&all));
        // One line of 5 MB with no newline: the window stays small.
        file.write_all(&vec![b'y'; 5 << 20]).unwrap();
        assert!(f.advance().is_some());
        assert!(f.log.window.len() <= 3 * TAIL_BYTES, "{} bytes kept", f.log.window.len());
    }
}
