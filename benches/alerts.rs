//! Prometheus checks and Alertmanager alerts at scale (docs/performance.md):
//!
//!     cargo bench --bench alerts
//!
//! 1. 1,000 `prometheus:` monitors at a 1 s interval against one real Prometheus (the
//!    Debian package's binary, started here on 127.0.0.1 with its storage in a temporary
//!    folder), five runs of 20 s: CPU of the monitoring process as a share of one core,
//!    lateness of every probe against its schedule, and the requests Prometheus answered
//!    (its own counter). Each monitor has its own query; the scheduler batches them.
//! 2. `runbook alerts` with 5,000 active alerts: wall time and peak RSS of the real binary,
//!    median of 5 runs. The Alertmanager answer is generated here and served from a loopback
//!    server of this process (pushing 5,000 alerts into a real Alertmanager measures
//!    Alertmanager, not us); text and JSON output.

#[path = "../tests/support/prom.rs"]
#[allow(dead_code)]
mod prom;
mod support;

use std::io::{Read, Write};
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn monitors(monitors: usize, seconds: u64, runs: usize) {
    let prom = prom::Lone::start();
    let mut yaml = format!("environments:\n  live: {{ prometheus: '{}' }}\nmonitors:\n", prom.url);
    for i in 0..monitors {
        // A query of its own per monitor, as a real fleet of gates would have.
        yaml.push_str(&format!(
            "  - {{ id: m{i}, check: {{ prometheus: 'vector({i}) / 100000', expect: {{ value: '< 1' }} }}, interval: 1s }}\n"
        ));
    }
    let file = SourceFile {
        rel: "environments.yaml".into(),
        display: "bench".into(),
        bytes: yaml.into_bytes().into(),
    };
    let envs = load::load_environments(&file).0.unwrap();
    let env = envs.get("live").unwrap().clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let list = health::monitors_for(&envs.monitors, "live", None);
    println!(
        "{monitors} prometheus: monitors, 1 s interval, {seconds} s against one Prometheus, {runs} runs:"
    );
    let (mut cpus, mut p99s, mut rates, mut verdicts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let (late, mut answered, cpu, wall, asked) = runtime.block_on(async {
            let _scheduler = Scheduler::start(&list, &env, Instant::now(), tx);
            tokio::time::sleep(Duration::from_secs(2)).await;
            while rx.try_recv().is_ok() {}
            let asked0 = prom.queries_answered();
            let cpu0 = cpu_seconds();
            let start = Instant::now();
            let (mut late, mut answered) = (Vec::new(), Vec::new());
            let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
            while let Ok(Some(p)) = tokio::time::timeout_at(end, rx.recv()).await {
                assert!(p.sample.passed, "{}", p.sample.reason);
                late.push(p.late_ms);
                answered.push(p.late_ms + p.sample.latency_ms);
            }
            let (cpu, wall) = (cpu_seconds() - cpu0, start.elapsed().as_secs_f64());
            (late, answered, cpu, wall, (prom.queries_answered() - asked0) as f64)
        });
        let mut late = late;
        late.sort_unstable();
        let pct = |q: usize| late[(late.len() * q / 100).min(late.len() - 1)];
        answered.sort_unstable();
        // When the verdict arrives: lateness plus the probe's own time, batching's wait included.
        let answer_p99 = answered[(answered.len() * 99 / 100).min(answered.len() - 1)];
        let share = 100.0 * cpu / wall;
        println!(
            "  run {run}: CPU {share:.1}% of one core, probes {} ({:.0}/s), requests to Prometheus {:.0}/s, lateness p50 {} ms p99 {} ms max {} ms, verdict p99 {answer_p99} ms after its time",
            late.len(),
            late.len() as f64 / wall,
            asked / wall,
            pct(50),
            pct(99),
            late.last().unwrap()
        );
        cpus.push(share);
        p99s.push(pct(99) as f64);
        verdicts.push(answer_p99 as f64);
        rates.push(asked / wall);
    }
    println!(
        "  median: CPU {:.1}% of one core (user+sys of the monitoring process), lateness p99 {} ms, verdict p99 {} ms after its time, {:.0} requests/s",
        median(cpus),
        median(p99s),
        median(verdicts),
        median(rates)
    );
}

/// 5,000 alerts as Alertmanager's /api/v2/alerts writes them; a tenth of them name a runbook
/// by `runbook_url`, some by `alerts:`.
fn alerts_json(n: usize) -> String {
    let list: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "labels": { "alertname": format!("Alert{}", i % 400), "severity": if i % 3 == 0 { "critical" } else { "warning" },
                    "instance": format!("10.0.{}.{}:9100", i / 250, i % 250), "job": "node", "namespace": format!("team-{}", i % 40) },
                "annotations": { "summary": format!("Something is wrong with instance {i}"),
                    "description": "A longer description of the alert, as rules usually carry one.",
                    "runbook_url": format!("https://github.com/acme/ops/blob/main/runbooks/team-{}/alert-{}.md", i % 40, i % 100) },
                "startsAt": "2026-11-30T01:00:00.000Z", "endsAt": "2026-11-30T05:00:00.000Z",
                "updatedAt": "2026-11-30T02:00:00.000Z", "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": format!("{:016x}", i * 7919), "receivers": [{ "name": "pager" }],
                "status": { "state": "active", "silencedBy": [], "inhibitedBy": [] },
            })
        })
        .collect();
    serde_json::to_string(&list).unwrap()
}

fn alerts_command(count: usize, runs: usize) {
    let body = alerts_json(count);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = body.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                served.len()
            );
            let _ = s.write_all(served.as_bytes());
        }
    });
    let work = tempfile::tempdir().unwrap();
    let books = work.path().join("books");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(
        books.join("environments.yaml"),
        format!("environments:\n  live: {{ alertmanager: 'http://{addr}' }}\n"),
    )
    .unwrap();
    for team in 0..40 {
        std::fs::create_dir_all(books.join(format!("team-{team}"))).unwrap();
        for a in 0..3 {
            std::fs::write(
                books.join(format!("team-{team}/alert-{}.yaml", team * 3 + a)),
                format!(
                    "title: Alert {a} of team {team}\nalerts: [Alert{}]\nsteps:\n  - {{ title: Look }}\n",
                    team * 7
                ),
            )
            .unwrap();
        }
    }
    println!(
        "runbook alerts, {count} active alerts ({:.1} MB of JSON), 120 runbooks:",
        body.len() as f64 / 1e6
    );
    for format in ["text", "json"] {
        // The first run fills the index cache, as any earlier `runbook` command would have.
        support::measure(&mut support::runbook(
            &["alerts", "--dir", "books", "--format", format],
            work.path(),
        ));
        let samples: Vec<support::Sample> = (0..runs)
            .map(|_| {
                support::measure(&mut support::runbook(
                    &["alerts", "--dir", "books", "--format", format],
                    work.path(),
                ))
            })
            .collect();
        support::report(&format!("  runbook alerts --format {format}"), &samples);
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if bench {
        alerts_command(5000, 5);
        monitors(1000, 20, 5);
    } else {
        alerts_command(200, 1);
        monitors(20, 2, 1);
    }
}
