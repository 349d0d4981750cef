//! Shared helpers for the bench binaries: run the real `runbook` binary, time it, read its
//! peak RSS, and report medians.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One run of a child process: wall time and peak resident set size.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub max_rss_kib: u64,
}

/// Runs `cmd` to completion with output discarded; panics if it fails.
pub fn measure(cmd: &mut Command) -> Sample {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, status and usage point at live locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    std::mem::forget(child); // already reaped
    Sample { wall, max_rss_kib: usage.ru_maxrss as u64 }
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// Prints a line: name, median wall in ms, median peak RSS in MB, and the runs.
pub fn report(name: &str, samples: &[Sample]) {
    let wall = median(samples.iter().map(|s| s.wall.as_secs_f64() * 1000.0).collect());
    let rss = median(samples.iter().map(|s| s.max_rss_kib as f64 / 1024.0).collect());
    let runs: Vec<String> = samples.iter().map(|s| format!("{:.1}", s.wall.as_secs_f64() * 1000.0)).collect();
    println!("{name:<44} median {wall:>9.1} ms   peak RSS {rss:>6.1} MB   runs: {}", runs.join(" "));
}

pub fn runbook_bin() -> &'static str {
    env!("CARGO_BIN_EXE_runbook")
}

/// A command running the real binary with an isolated config and cache.
pub fn runbook(args: &[&str], work: &Path) -> Command {
    let mut cmd = Command::new(runbook_bin());
    cmd.args(args)
        .current_dir(work)
        .env_remove("RUNBOOK_PATH")
        .env("RUNBOOK_CONFIG_DIR", work.join(".config"))
        .env("RUNBOOK_CACHE_DIR", work.join(".cache"))
        .env("RUNBOOK_DATA_DIR", work.join(".data"));
    cmd
}
