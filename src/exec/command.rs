//! Running one command: its own process group, streamed output, timeout and cancel that
//! kill the whole tree, a full log file, and a bounded stdout for `expect` and `capture`.
//!
//! This is blocking code on plain threads: two readers (stdout, stderr), one waiter, and the
//! calling thread collecting. Threads keep throughput high for huge outputs and make the
//! kill path simple; async drivers call it through `spawn_blocking`.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use super::mask::Masker;
use super::tree;
use crate::run::{CommandResult, PreparedCommand};

/// Which pipe a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How long a process group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How much stdout is kept for `expect` and `capture`.
pub const STDOUT_KEEP: usize = 1024 * 1024;
const READ_SIZE: usize = 64 * 1024;

/// Stops a running command from another thread. Never blocks: the flag is seen on the
/// collector's next turn, and the message only wakes it early when there is room for it
/// (a command flooding its output keeps the channel full, and a blocking send there would
/// wait on the very loop that must read the flag).
#[derive(Debug, Clone)]
pub struct Canceller {
    tx: SyncSender<Msg>,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Canceller {
    pub fn cancel(&self) {
        self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.tx.try_send(Msg::Cancel);
    }
}

enum Msg {
    Chunk(Stream, Vec<u8>),
    Eof(Stream),
    Exited(std::io::Result<std::process::ExitStatus>),
    Cancel,
}

/// Who a started command is: enough to find it again after the runner died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    pub pid: u32,
    /// Its process group (the pid: every step leads its own group).
    pub pgid: u32,
    /// Start time in clock ticks since boot; with the pid, survives pid reuse.
    pub start_time: Option<u64>,
}

/// A command about to run; `canceller()` may be taken before `run`.
pub struct Execution {
    tx: SyncSender<Msg>,
    rx: Receiver<Msg>,
    cancel_flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    on_spawn: Option<Box<dyn FnOnce(Spawned) + Send>>,
}

impl Default for Execution {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution").finish_non_exhaustive()
    }
}

impl Execution {
    pub fn new() -> Self {
        // Bounded: when the collector falls behind, the readers wait, so memory stays flat
        // however fast the command writes.
        let (tx, rx) = mpsc::sync_channel(64);
        Self { tx, rx, cancel_flag: Default::default(), on_spawn: None }
    }

    /// Called once the process has started, with its identity.
    pub fn on_spawn(mut self, f: impl FnOnce(Spawned) + Send + 'static) -> Self {
        self.on_spawn = Some(Box::new(f));
        self
    }

    pub fn canceller(&self) -> Canceller {
        Canceller { tx: self.tx.clone(), flag: std::sync::Arc::clone(&self.cancel_flag) }
    }

    /// Runs `cmd` to the end. Output goes, masked, to `log` (if any) and to `sink` in
    /// batches of at most ~50 ms; the result carries the exit code and the kept stdout.
    pub fn run(
        mut self,
        cmd: &PreparedCommand,
        log: Option<&Path>,
        mut sink: impl FnMut(Stream, &[u8]),
    ) -> CommandResult {
        let started = Instant::now();
        // A log that cannot be written is said, never silently short (see `log_error`).
        let mut log_error: Option<String> = None;
        let log_path_for_ranges = log.map(stderr_ranges_path).unwrap_or_default();
        let mut log = log.and_then(|p| {
            p.parent().map(crate::journal::create_private_dir);
            match crate::journal::create_private_file(p) {
                Ok(f) => Some(std::io::BufWriter::with_capacity(256 * 1024, f)),
                Err(e) => {
                    log_error = Some(format!("{}: {e}", p.display()));
                    None
                }
            }
        });
        let mut command = shell_command(cmd);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        if let Some(cwd) = &cmd.cwd {
            command.current_dir(cwd);
        }
        command.envs(cmd.env.iter().map(|(k, v)| (k, v)));
        let token = step_token(cmd);
        command.env(tree::TOKEN_VAR, &token);
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                drop(self.on_spawn.take());
                return CommandResult {
                    spawn_error: Some(spawn_problem(cmd, &e)),
                    duration_ms: started.elapsed().as_millis() as u64,
                    ..Default::default()
                };
            }
        };
        let pgid = child.id() as libc::pid_t;
        let _registered = tree::register(&token, pgid);
        if let Some(f) = self.on_spawn.take() {
            f(Spawned { pid: child.id(), pgid: child.id(), start_time: tree::start_time(pgid) });
        }
        spawn_reader(child.stdout.take(), Stream::Stdout, self.tx.clone());
        spawn_reader(child.stderr.take(), Stream::Stderr, self.tx.clone());
        let exit_tx = self.tx.clone();
        std::thread::spawn(move || {
            let _ = exit_tx.send(Msg::Exited(child.wait()));
        });
        drop(self.tx);

        let mut masks = [Masker::new(&cmd.secrets), Masker::new(&cmd.secrets)];
        // The log keeps the bytes of both pipes in the order they came; which stretches came
        // from stderr is written beside it (see [`stderr_ranges_path`]).
        let mut log_written: u64 = 0;
        let mut stderr_ranges = StderrRanges::new(log.as_ref().map(|_| log_path_for_ranges.clone()));
        let mut stdout_kept: Vec<u8> = Vec::new();
        let mut stdout_truncated = false;
        let mut batch: Vec<(Stream, Vec<u8>)> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut last_flush = Instant::now();
        let mut open = 2;
        let mut exit: Option<std::process::ExitStatus> = None;
        let mut exited_at: Option<Instant> = None;
        let mut timed_out = false;
        let mut cancelled = false;
        let mut term_sent_at: Option<Instant> = None;
        let mut killed = false;
        let deadline = started + cmd.timeout;

        let mut handle =
            |stream: Stream, bytes: Vec<u8>, batch: &mut Vec<(Stream, Vec<u8>)>, batch_bytes: &mut usize| {
                if bytes.is_empty() {
                    // No bytes: the log is flushed, so whoever reads it as it grows (a watcher,
                    // the run store's live tail) is as current as the screen.
                    if let Some(l) = log.as_mut()
                        && let Err(e) = l.flush()
                    {
                        log_error.get_or_insert_with(|| e.to_string());
                        log = None;
                    }
                    return;
                }
                if let Some(l) = log.as_mut() {
                    match l.write_all(&bytes) {
                        Ok(()) => {
                            if stream == Stream::Stderr {
                                stderr_ranges.add(log_written, bytes.len() as u64);
                            }
                            log_written += bytes.len() as u64;
                        }
                        Err(e) => {
                            log_error.get_or_insert_with(|| e.to_string());
                            log = None;
                        }
                    }
                }
                if stream == Stream::Stdout {
                    let room = STDOUT_KEEP.saturating_sub(stdout_kept.len());
                    stdout_kept.extend_from_slice(&bytes[..room.min(bytes.len())]);
                    stdout_truncated |= bytes.len() > room;
                }
                *batch_bytes += bytes.len();
                match batch.last_mut() {
                    Some((s, b)) if *s == stream => b.extend_from_slice(&bytes),
                    _ => batch.push((stream, bytes)),
                }
            };

        loop {
            if open == 0 && exit.is_some() {
                break;
            }
            let now = Instant::now();
            if self.cancel_flag.load(std::sync::atomic::Ordering::SeqCst) && exit.is_none() && !cancelled {
                cancelled = true;
                tree::signal_step(pgid, &token, libc::SIGTERM);
                term_sent_at = Some(now);
            }
            // After the leader exits, leftovers in its group get a moment, then are killed:
            // a step's processes end with the step.
            if let Some(at) = exited_at
                && open > 0
            {
                if !killed && now >= at + Duration::from_millis(500) {
                    tree::signal_step(pgid, &token, libc::SIGKILL);
                    killed = true;
                }
                if now >= at + Duration::from_millis(1500) {
                    break;
                }
            }
            if exit.is_none() && !timed_out && !cancelled && now >= deadline {
                timed_out = true;
                tree::signal_step(pgid, &token, libc::SIGTERM);
                term_sent_at = Some(now);
            }
            if let Some(at) = term_sent_at
                && !killed
                && now >= at + KILL_GRACE
            {
                tree::signal_step(pgid, &token, libc::SIGKILL);
                killed = true;
            }
            let flush_due = !batch.is_empty()
                && (batch_bytes >= READ_SIZE || now >= last_flush + Duration::from_millis(50));
            if flush_due {
                for (s, b) in batch.drain(..) {
                    sink(s, &b);
                }
                handle(Stream::Stdout, Vec::new(), &mut batch, &mut batch_bytes);
                batch_bytes = 0;
                last_flush = now;
            }
            let wait = Duration::from_millis(50);
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Chunk(stream, bytes)) => {
                    let masked = masks[stream as usize].push(bytes);
                    handle(stream, masked, &mut batch, &mut batch_bytes);
                }
                Ok(Msg::Eof(stream)) => {
                    let rest = masks[stream as usize].finish();
                    handle(stream, rest, &mut batch, &mut batch_bytes);
                    open -= 1;
                }
                Ok(Msg::Exited(status)) => {
                    exit = status.ok();
                    exited_at = Some(Instant::now());
                    if exit.is_none() {
                        break;
                    }
                }
                // Only a wake-up: the cancel flag, read at the top of the loop, does the work.
                Ok(Msg::Cancel) => {}
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = masks[stream as usize].finish();
            handle(stream, rest, &mut batch, &mut batch_bytes);
        }
        for (s, b) in batch.drain(..) {
            sink(s, &b);
        }
        if let Some(mut l) = log
            && let Err(e) = l.flush()
        {
            log_error.get_or_insert_with(|| e.to_string());
        }
        if let Err(e) = stderr_ranges.finish() {
            log_error.get_or_insert(e);
        }
        // Nothing of the step outlives it: not its group, nor what left the group.
        tree::signal_step(pgid, &token, libc::SIGKILL);
        drop(_registered);
        tree::reap_orphans();
        CommandResult {
            exit: exit.and_then(|s| s.code()),
            timed_out,
            cancelled,
            stdout: String::from_utf8_lossy(&stdout_kept).into_owned(),
            stdout_truncated,
            duration_ms: started.elapsed().as_millis() as u64,
            spawn_error: None,
            log_error,
        }
    }
}

/// Where the stderr stretches of a step log are listed: `NAME.log` → `NAME.log.stderr-ranges`.
/// One line per stretch, `OFFSET LENGTH` in bytes of the log, in order; adjacent stretches
/// are merged. The file exists only when the command wrote to stderr. The log itself keeps
/// the bytes as they came (masked), so `less` shows what a terminal would have.
pub fn stderr_ranges_path(log: &Path) -> std::path::PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".stderr-ranges");
    std::path::PathBuf::from(name)
}

/// Reads the stderr stretches of a step log (see [`stderr_ranges_path`]): sorted
/// `(offset, length)` pairs; empty when the file is missing or a line is not two numbers.
pub fn read_stderr_ranges(log: &Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(stderr_ranges_path(log)) else { return Vec::new() };
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .collect()
}

/// Collects stderr stretches of a log and writes them, merged, to the ranges file, which is
/// created (0600) at the first stretch.
struct StderrRanges {
    path: Option<std::path::PathBuf>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    open: Option<(u64, u64)>,
    error: Option<String>,
}

impl StderrRanges {
    fn new(path: Option<std::path::PathBuf>) -> Self {
        Self { path, file: None, open: None, error: None }
    }

    fn add(&mut self, offset: u64, len: u64) {
        if self.path.is_none() || len == 0 {
            return;
        }
        match &mut self.open {
            Some((start, l)) if *start + *l == offset => *l += len,
            _ => {
                self.flush_open();
                self.open = Some((offset, len));
            }
        }
    }

    fn flush_open(&mut self) {
        let Some((start, len)) = self.open.take() else { return };
        if self.file.is_none() {
            let Some(path) = &self.path else { return };
            match crate::journal::create_private_file(path) {
                Ok(f) => self.file = Some(std::io::BufWriter::new(f)),
                Err(e) => {
                    self.error.get_or_insert_with(|| format!("{}: {e}", path.display()));
                    self.path = None;
                    return;
                }
            }
        }
        if let Some(f) = &mut self.file
            && let Err(e) = writeln!(f, "{start} {len}")
        {
            self.error.get_or_insert_with(|| e.to_string());
            self.file = None;
            self.path = None;
        }
    }

    fn finish(mut self) -> Result<(), String> {
        self.flush_open();
        if let Some(mut f) = self.file.take()
            && let Err(e) = f.flush()
        {
            self.error.get_or_insert_with(|| e.to_string());
        }
        self.error.map_or(Ok(()), Err)
    }
}

fn spawn_reader(pipe: Option<impl Read + Send + 'static>, stream: Stream, tx: SyncSender<Msg>) {
    let Some(mut pipe) = pipe else {
        let _ = tx.send(Msg::Eof(stream));
        return;
    };
    std::thread::spawn(move || {
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Msg::Chunk(stream, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Msg::Eof(stream));
    });
}

/// Runs an `interactive: true` command with the terminal handed to it (stdin, stdout and
/// stderr inherited). Its output is not captured or masked: it belongs to the user.
pub fn run_interactive(cmd: &PreparedCommand) -> CommandResult {
    let started = Instant::now();
    let mut command = shell_command(cmd);
    if let Some(cwd) = &cmd.cwd {
        command.current_dir(cwd);
    }
    command.envs(cmd.env.iter().map(|(k, v)| (k, v)));
    let token = step_token(cmd);
    command.env(tree::TOKEN_VAR, &token);
    let status = command.status();
    // What it left running in the background ends with it, as for any step.
    tree::signal_step(0, &token, libc::SIGKILL);
    match status {
        Ok(status) => CommandResult {
            exit: status.code(),
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
        Err(e) => CommandResult {
            spawn_error: Some(spawn_problem(cmd, &e)),
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
    }
}

/// The program and flags that run a script: the step's `shell:` words as written, or by
/// default bash with errexit, nounset and pipefail, so a failing line or pipe stage fails
/// the step (`sh -eu` where bash is missing: POSIX sh before 2024 has no pipefail).
pub fn shell_argv(shell: Option<&str>) -> Vec<String> {
    if let Some(words) = shell {
        return shlex::split(words).filter(|w| !w.is_empty()).unwrap_or_else(|| vec![words.to_owned()]);
    }
    static BASH: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let has_bash = *BASH.get_or_init(|| {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                let p = dir.join("bash");
                std::fs::metadata(&p).is_ok_and(|m| m.is_file())
            })
        })
    });
    let words: &[&str] = if has_bash { &["bash", "-euo", "pipefail"] } else { &["sh", "-eu"] };
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// `PROGRAM [FLAGS] -c SCRIPT`: the script is the runbook's text with references, never values.
fn shell_command(cmd: &PreparedCommand) -> Command {
    let argv = shell_argv(cmd.shell.as_deref());
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).arg("-c").arg(&cmd.script);
    command
}

/// Why a command could not start, in words: the shell or the working directory.
fn spawn_problem(cmd: &PreparedCommand, e: &std::io::Error) -> String {
    if let Some(cwd) = &cmd.cwd {
        match std::fs::metadata(cwd) {
            Err(_) => return format!("the working directory '{cwd}' does not exist (cwd)"),
            Ok(m) if !m.is_dir() => return format!("the working directory '{cwd}' is not a directory (cwd)"),
            Ok(_) => {}
        }
    }
    let program = shell_argv(cmd.shell.as_deref()).into_iter().next().unwrap_or_default();
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("the shell '{program}' was not found (shell:)")
    } else {
        format!("{program}: {e}")
    }
}

/// The token that marks this command's processes: the step's (`run/step/try`), or a fresh
/// one for probes and `choices_from`.
fn step_token(cmd: &PreparedCommand) -> String {
    if !cmd.token.is_empty() {
        return cmd.token.clone();
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}
