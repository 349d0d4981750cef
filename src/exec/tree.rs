//! Finding and ending every process of a step, wherever it went.
//!
//! A step's processes start in their own process group, but a child can leave it
//! (`set -m`, `setsid`, a daemonising double fork), so signalling the group is not enough.
//! Every step process carries a token in its environment (`RUNBOOK_STEP=<run>/<step>/<try>`),
//! which its descendants inherit whatever group or session they move to; the runner is
//! also a child subreaper, so orphans of a step stay below it instead of going to init.
//! Ending a step signals its group, every process that carries its token, and every
//! descendant of those. A process that clears its environment *and* leaves the tree
//! (`setsid env -i …` after its parent died) is out of reach; docs/running.md says so.
//!
//! The same token finds a step's processes after the runner itself was killed, so a resume
//! can tell "still running" from "interrupted".

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable that marks a step's processes.
pub const TOKEN_VAR: &str = "RUNBOOK_STEP";

/// Steps running now in this process, for the last-resort cleanup of a signal or a panic.
static RUNNING: Mutex<Vec<(String, libc::pid_t)>> = Mutex::new(Vec::new());

/// Marks this process as a child subreaper (Linux), so a step's orphans are re-parented to
/// it and stay findable. Harmless to call twice; a no-op elsewhere.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Reaps this process's zombie children that no step waits for: orphans of steps that a
/// subreaper inherits and that were then killed. A step's own leader is left to its waiter.
pub fn reap_orphans() {
    let me = std::process::id() as libc::pid_t;
    let registered: Vec<libc::pid_t> =
        RUNNING.lock().map(|r| r.iter().map(|(_, p)| *p).collect()).unwrap_or_default();
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        if registered.contains(&pid) {
            continue;
        }
        if let Some(('Z', ppid)) = stat(pid)
            && ppid == me
        {
            let mut status = 0;
            // SAFETY: waitpid on a zombie child of ours that no one else waits for.
            unsafe {
                libc::waitpid(pid, &mut status, libc::WNOHANG);
            }
        }
    }
}

/// Registers a running step (its token and process group) until the guard drops.
pub fn register(token: &str, pgid: libc::pid_t) -> Registration {
    if let Ok(mut r) = RUNNING.lock() {
        r.push((token.to_owned(), pgid));
    }
    Registration(token.to_owned())
}

/// Keeps a step in the registry while it runs.
#[derive(Debug)]
pub struct Registration(String);

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut r) = RUNNING.lock() {
            r.retain(|(t, _)| *t != self.0);
        }
    }
}

/// Ends every step of this process at once (SIGKILL): for a panic or a fatal signal,
/// where there is no time for a grace period. Safe to call from any thread.
pub fn kill_all_running() {
    let running: Vec<(String, libc::pid_t)> = match RUNNING.try_lock() {
        Ok(r) => r.clone(),
        Err(_) => return,
    };
    for (token, pgid) in running {
        signal_step(pgid, &token, libc::SIGKILL);
    }
}

/// Ends every step of this process: SIGTERM, then SIGKILL after `grace` for what is left.
/// Returns once nothing of them is alive, or after `grace` plus a second.
pub fn stop_all_running(grace: Duration) {
    let running: Vec<(String, libc::pid_t)> = RUNNING.lock().map(|r| r.clone()).unwrap_or_default();
    for (token, pgid) in &running {
        stop(*pgid, token, grace);
    }
}

/// SIGTERM to the step, then SIGKILL after `grace` if anything is left; waits until
/// nothing carrying the token is alive (or a second after the SIGKILL).
pub fn stop(pgid: libc::pid_t, token: &str, grace: Duration) {
    signal_step(pgid, token, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if processes(token).is_empty() && !group_alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_step(pgid, token, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && !processes(token).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Signals the group and every process of the step (token holders and their descendants).
pub fn signal_step(pgid: libc::pid_t, token: &str, signal: libc::c_int) {
    if pgid > 0 {
        // SAFETY: killpg only sends a signal; a group that is gone already is fine.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
    for pid in processes(token) {
        // SAFETY: kill only sends a signal to a process found by its step token.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    pgid > 0 && unsafe { libc::killpg(pgid, 0) } == 0
}

/// Live processes of a step: those whose environment carries `token`, and their descendants.
/// Zombies are left out (they are dead; their parent reaps them).
pub fn processes(token: &str) -> Vec<libc::pid_t> {
    if token.is_empty() {
        return Vec::new();
    }
    let needle = format!("{TOKEN_VAR}={token}\0");
    let me = std::process::id() as libc::pid_t;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut parents: HashMap<libc::pid_t, libc::pid_t> = HashMap::new();
    let mut marked: HashSet<libc::pid_t> = HashSet::new();
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Some((state, ppid)) = stat(pid) else { continue };
        if state == 'Z' || state == 'X' {
            continue;
        }
        parents.insert(pid, ppid);
        if std::fs::read(entry.path().join("environ"))
            .is_ok_and(|env| memchr::memmem::find(&env, needle.as_bytes()).is_some())
        {
            marked.insert(pid);
        }
    }
    // Descendants of marked processes (a child that cleared its environment, e.g. sudo's).
    let mut found = marked.clone();
    loop {
        let before = found.len();
        for (pid, ppid) in &parents {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    found.into_iter().collect()
}

/// State and parent of a process, from /proc/PID/stat.
fn stat(pid: libc::pid_t) -> Option<(char, libc::pid_t)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces or ')': parse after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// When a process started, in clock ticks since boot (field 22 of /proc/PID/stat): with
/// the pid, the identity of a process that survives pid reuse.
pub fn start_time(pid: libc::pid_t) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}
