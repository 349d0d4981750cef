//! Live health at scale (docs/performance.md):
//!
//!     cargo bench --bench health
//!
//! 1,000 monitors at a 1 s interval against the demo service (a separate `runbook demo
//! --serve` process on loopback) for 20 s: CPU of the monitoring process as a share of one
//! core, lateness of every probe against its schedule, and peak RSS.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runbook::health::{self, Scheduler};
use runbook::runbook::load::{self, SourceFile};

fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid for getrusage to fill in.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: u is a live local.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Peak RSS of this process: VmHWM, because getrusage's ru_maxrss survives execve and would
/// report the parent's (cargo's) peak.
fn max_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (monitors, seconds) = if bench { (1000, 20) } else { (50, 3) };
    let mut server = Command::new(support::runbook_bin())
        .args(["demo", "--serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base_url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.trim().strip_prefix("base_url").map(|u| u.trim().to_owned()))
        .expect("the demo prints its base_url");
    let mut yaml = format!("environments:\n  demo: {{ vars: {{ base_url: '{base_url}' }} }}\nmonitors:\n");
    for i in 0..monitors {
        yaml.push_str(&format!(
            "  - {{ id: m{i}, check: {{ http: '{{{{ base_url }}}}/health' }}, interval: 1s }}\n"
        ));
    }
    let file = SourceFile {
        rel: "environments.yaml".into(),
        display: "bench".into(),
        bytes: yaml.into_bytes().into(),
    };
    let envs = load::load_environments(&file).0.unwrap();
    let env = envs.get("demo").unwrap().clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let list = health::monitors_for(&envs.monitors, "demo", None);
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let (late, cpu, wall) = runtime.block_on(async {
        let _scheduler = Scheduler::start(&list, &env, Instant::now(), tx);
        // Let the first spread-out round start before measuring.
        tokio::time::sleep(Duration::from_secs(1)).await;
        while rx.try_recv().is_ok() {}
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let mut late = Vec::new();
        let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while let Ok(Some(p)) = tokio::time::timeout_at(end, rx.recv()).await {
            assert!(p.sample.passed, "{}", p.sample.reason);
            late.push(p.late_ms);
        }
        (late, cpu_seconds() - cpu0, start.elapsed().as_secs_f64())
    });
    let _ = server.kill();
    let _ = server.wait();
    let mut late = late;
    late.sort_unstable();
    let pct = |q: usize| late[(late.len() * q / 100).min(late.len() - 1)];
    println!("{monitors} monitors, 1 s interval, {seconds} s against `runbook demo --serve`:");
    println!("  probes done      {} ({:.0}/s, expected ~{monitors}/s)", late.len(), late.len() as f64 / wall);
    println!(
        "  CPU              {:.1}% of one core (user+sys of the monitoring process)",
        100.0 * cpu / wall
    );
    println!("  lateness         p50 {} ms, p99 {} ms, max {} ms", pct(50), pct(99), late.last().unwrap());
    println!("  peak RSS         {:.1} MB", max_rss_mb());
}
