//! Live health against real loopback servers: monitor states over time, hung listeners,
//! `runbook health` in a script, the demo's faults, and the tour end to end.

mod support;

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use runbook::health::{self, Probed, Scheduler, State};
use runbook::runbook::load::{self, SourceFile};
use runbook::runbook::{Environment, Environments};
use support::{Sandbox, wait_for};

fn environments(yaml: &str) -> Environments {
    let file = SourceFile {
        rel: "environments.yaml".into(),
        display: "environments.yaml".into(),
        bytes: yaml.as_bytes().to_vec().into(),
    };
    let (envs, diags) = load::load_environments(&file);
    assert!(diags.is_empty(), "{diags:?}");
    envs.unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Collects scheduler reports until `done` says stop or the deadline passes.
fn collect(
    rt: &tokio::runtime::Runtime,
    rx: &mut tokio::sync::mpsc::Receiver<Probed>,
    timeout: Duration,
    mut done: impl FnMut(&Probed) -> bool,
) -> Vec<Probed> {
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(p)) => {
                    let stop = done(&p);
                    seen.push(p);
                    if stop {
                        return seen;
                    }
                }
                _ => panic!("timed out after {timeout:?}; saw {} reports", seen.len()),
            }
        }
    })
}

#[test]
fn a_monitor_goes_down_within_interval_times_fail_after_and_back_up() {
    let _machine = support::beside_others();
    let server = support::HealthServer::start();
    let envs = environments(&format!(
        "environments:\n  local: {{ vars: {{ url: '{}' }} }}\nmonitors:\n  - {{ id: api, check: {{ http: '{{{{ url }}}}' }}, interval: 200ms, fail_after: 2 }}\n",
        server.url("/health")
    ));
    let env = envs.get("local").unwrap().clone();
    let rt = runtime();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let monitors = health::monitors_for(&envs.monitors, "local", None);
    let _scheduler = rt.block_on(async { Scheduler::start(&monitors, &env, Instant::now(), tx) });
    collect(&rt, &mut rx, Duration::from_secs(5), |p| p.state == State::Up);
    server.set_status(503);
    let broke = Instant::now();
    let seen = collect(&rt, &mut rx, Duration::from_secs(5), |p| p.state == State::Down);
    // interval × fail_after (400 ms) plus jitter and a probe's own time; the margin is for a
    // busy machine, and still far below one default interval (15 s) between the failures.
    assert!(broke.elapsed() < Duration::from_secs(3), "took {:?}", broke.elapsed());
    let down = seen.last().unwrap();
    assert_eq!(down.last_error.as_deref(), Some("HTTP 503"));
    let failures: Vec<_> = seen.iter().filter(|p| !p.sample.passed).collect();
    assert_eq!(
        failures.len(),
        2,
        "down on the fail_after-th failure in a row, not before or after: {seen:?}"
    );
    assert_ne!(failures[0].state, State::Down, "one failure is not down");
    server.set_status(200);
    let up = collect(&rt, &mut rx, Duration::from_secs(5), |p| p.state == State::Up);
    assert!(up.last().unwrap().since_ms > down.since_ms, "time in state restarts on a change");
}

#[test]
fn a_listener_that_never_answers_blocks_no_other_monitor() {
    let _machine = support::beside_others();
    let server = support::HealthServer::start();
    let (_l, silent, _) = support::silent_listener();
    // The hung probe's timeout is ten times what the api monitor's ten probes take, so a busy
    // machine does not let it end first; ten seconds is what the test pays to see it end.
    let envs = environments(&format!(
        "environments:\n  local: {{}}\nmonitors:\n  - {{ id: hung, check: {{ tcp: '{silent}', timeout: 10s, expect: {{ banner_contains: '220' }} }}, interval: 100ms }}\n  - {{ id: api, check: {{ http: '{}' }}, interval: 100ms }}\n",
        server.url("/health")
    ));
    let env: Environment = envs.get("local").unwrap().clone();
    let rt = runtime();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let monitors = health::monitors_for(&envs.monitors, "local", None);
    let _scheduler = rt.block_on(async { Scheduler::start(&monitors, &env, Instant::now(), tx) });
    let started = Instant::now();
    let mut api_probes = 0;
    let seen = collect(&rt, &mut rx, Duration::from_secs(8), |p| {
        if p.index == 1 {
            api_probes += 1;
        }
        api_probes >= 10
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the api monitor kept its schedule while the other hung"
    );
    assert!(seen.iter().all(|p| p.index == 1), "the hung probe has not finished yet: it has a 10 s timeout");
    let hung = collect(&rt, &mut rx, Duration::from_secs(15), |p| p.index == 0);
    assert_eq!(hung.last().unwrap().sample.reason, "timed out after 10s");
}

#[test]
fn a_thousand_monitors_are_all_probed_on_schedule() {
    let _machine = support::alone_on_the_machine();
    let server = support::HealthServer::start();
    let mut yaml =
        format!("environments:\n  local: {{ vars: {{ url: '{}' }} }}\nmonitors:\n", server.url("/health"));
    for i in 0..1000 {
        yaml.push_str(&format!("  - {{ id: m{i}, check: {{ http: '{{{{ url }}}}' }}, interval: 1s }}\n"));
    }
    let envs = environments(&yaml);
    let env = envs.get("local").unwrap().clone();
    let rt = runtime();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let monitors = health::monitors_for(&envs.monitors, "local", None);
    let _scheduler = rt.block_on(async { Scheduler::start(&monitors, &env, Instant::now(), tx) });
    let mut counts = vec![0u32; 1000];
    let mut late = Vec::new();
    collect(&rt, &mut rx, Duration::from_secs(10), |p| {
        counts[p.index] += 1;
        late.push(p.late_ms);
        counts.iter().all(|&c| c >= 3)
    });
    late.sort_unstable();
    let p99 = late[late.len() * 99 / 100];
    assert!(p99 < 200, "99th percentile lateness {p99} ms");
    assert!(server.hits.load(Ordering::SeqCst) >= 3000);
}

#[test]
fn runbook_health_answers_scripts_with_exit_codes_and_json() {
    let _machine = support::beside_others();
    let server = support::HealthServer::start();
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path().join("books")).unwrap();
    let closed = support::closed_port();
    std::fs::write(
        sb.path().join("books/environments.yaml"),
        format!(
            "default: a\nenvironments:\n  a: {{ vars: {{ url: '{}' }} }}\n  b: {{ vars: {{ url: 'http://{closed}/health' }} }}\nmonitors:\n  - {{ id: api, check: {{ http: '{{{{ url }}}}' }}, interval: 100ms, fail_after: 3 }}\n",
            server.url("/health")
        ),
    )
    .unwrap();
    let health = |args: &[&str]| {
        let mut all = vec!["health", "--dir", "books"];
        all.extend_from_slice(args);
        sb.cmd(&all).output().unwrap()
    };
    let ok = health(&["--format", "json"]);
    assert_eq!(ok.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!((rows[0]["monitor"].as_str(), rows[0]["state"].as_str()), (Some("api"), Some("up")));
    let before = server.hits.load(Ordering::SeqCst);
    server.set_status(500);
    let down = health(&["--env", "a"]);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stdout).contains("down"));
    assert_eq!(server.hits.load(Ordering::SeqCst) - before, 3, "a failure is retried up to fail_after");
    server.set_status(200);
    let parity = health(&["--all"]);
    assert_eq!(parity.status.code(), Some(1), "b is down");
    let text = String::from_utf8_lossy(&parity.stdout);
    assert!(text.contains("≠ api") && text.contains("connection refused"), "{text}");
    assert_eq!(health(&["--env", "nope"]).status.code(), Some(2));
}

#[test]
fn the_demo_injects_faults_and_recovers() {
    let _machine = support::beside_others();
    let rt = runtime();
    let demo = rt.block_on(runbook::demo::Demo::start()).unwrap();
    let get = |path: &str| -> (u16, String) {
        rt.block_on(async {
            let r = reqwest::get(format!("{}{path}", demo.base_url())).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let post = |path: &str| -> u16 {
        rt.block_on(async {
            reqwest::Client::new()
                .post(format!("{}{path}", demo.base_url()))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let tcp = |addr: std::net::SocketAddr| std::net::TcpStream::connect(addr).is_ok();
    assert_eq!(get("/health").0, 200);
    assert!(get("/version").1.contains("v1.4.2"));
    assert!(tcp(demo.db) && tcp(demo.smtp));
    assert_eq!(post("/admin/fault/errors"), 200);
    let (code, body) = get("/health");
    assert_eq!(code, 503);
    assert!(body.contains("\"status\":\"unhealthy\""));
    let failures = (0..10).filter(|_| get("/api/orders").0 == 500).count();
    assert!(failures >= 7, "{failures} of 10 orders failed");
    assert!(get("/admin/faults").1.contains("errors"));
    assert_eq!(post("/admin/fault/db-down"), 200);
    wait_for("the database port to close", Duration::from_secs(5), || (!tcp(demo.db)).then_some(()));
    assert_eq!(post("/admin/fault/slow"), 200);
    let started = Instant::now();
    get("/version");
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(post("/admin/fault/queue-backlog"), 200);
    assert!(get("/queue").1.contains("\"depth\":4"));
    assert_eq!(post("/admin/fault/bogus"), 404);
    assert_eq!(post("/admin/recover"), 200);
    assert_eq!(get("/health").0, 200);
    wait_for("the database port to open again", Duration::from_secs(5), || tcp(demo.db).then_some(()));
}

#[test]
fn the_tour_runs_end_to_end_against_the_demo_service() {
    let _machine = support::beside_others();
    let rt = runtime();
    let demo = rt.block_on(runbook::demo::Demo::start()).unwrap();
    let sb = Sandbox::new();
    let mut args: Vec<String> =
        ["run", "onboarding/tour", "--env", "demo", "--yes"].map(String::from).to_vec();
    for (k, v) in demo.vars() {
        args.push("--var".into());
        args.push(format!("{k}={v}"));
    }
    for choice in ["Recover the service", "Escalate"] {
        let mut all = args.clone();
        all.push("--choice".into());
        all.push(format!("decide={choice}"));
        let o = sb.run(&all);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{choice}:\n{text}");
        assert!(text.contains("│ {\"faults\":[\"errors\"]}"), "{text}");
        assert!(text.contains("✓ run succeeded"), "{text}");
    }
}

#[test]
fn health_watch_reports_state_changes_as_they_happen() {
    use std::io::{BufRead, BufReader};
    let _machine = support::beside_others();
    let server = support::HealthServer::start();
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path().join("books")).unwrap();
    std::fs::write(
        sb.path().join("books/environments.yaml"),
        format!(
            "environments:\n  a: {{}}\nmonitors:\n  - {{ id: api, check: {{ http: '{}' }}, interval: 100ms, fail_after: 2 }}\n",
            server.url("/health")
        ),
    )
    .unwrap();
    // Not a terminal: one line per state change.
    let mut child = sb.cmd(&["health", "--dir", "books", "--watch"]).stdout(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(10)).expect("a state change within 10 s");
    let first = next();
    assert!(first.starts_with("api up "), "{first}");
    server.set_status(503);
    let down = next();
    assert!(down.starts_with("api down ") && down.ends_with("HTTP 503"), "{down}");
    server.set_status(200);
    let up = next();
    assert!(up.starts_with("api up "), "{up}");
    // SAFETY: SIGINT to our own child, as Ctrl-C would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(0), "the last state was up");
}
