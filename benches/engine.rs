//! The run engine's figures (docs/performance.md):
//!
//!     cargo bench --bench engine
//!
//! 1. A step printing 1 GiB (`yes | head -c 1G`) through the headless runner, against the
//!    same command redirected to a file: wall time ratio and the runner's peak RSS.
//! 2. 1,000 HTTP probes against a loopback server with bounded concurrency.
//! 3. What passing values through the environment costs a step: preparing and running a
//!    command with 20 placeholders (values in `RUNBOOK_V_*`, references in the script)
//!    against the same command with the values written into the script.
//! 4. Ending a step whose 200 descendants are spread over 100 process groups and sessions.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook::exec::probe::Prober;
use runbook::run::{PreparedProbe, PreparedTarget};
use runbook::runbook::ProbeExpect;
use support::{measure, median, report, runbook};

const GIB: u64 = 1 << 30;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    // Under `cargo test --benches` a small size keeps the smoke run quick.
    let (bytes, runs, probes) = if bench { (GIB, 5, 1000) } else { (1 << 20, 1, 50) };
    streaming(bytes, runs);
    http_probes(probes, if bench { 5 } else { 1 });
    values_through_the_environment(if bench { 200 } else { 5 });
    kill_tree(if bench { 5 } else { 1 }, if bench { 200 } else { 20 });
}

fn values_through_the_environment(runs: usize) {
    use runbook::exec::command::Execution;
    use runbook::runbook::template::{Name, Template, Value};
    let names: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    let with_refs: String = names.iter().map(|n| format!("{{{{ {n} }}}}")).collect::<Vec<_>>().join(" ");
    let template = Template::parse(&format!("printf '%s\\n' {with_refs} > /dev/null")).unwrap();
    let lookup = |n: &Name| Some(Value::plain(format!("value of {n} with 'quotes' and $(dollars)")));
    let literal = template.render(runbook::runbook::template::Quoting::Shell, &lookup).unwrap().real;
    let command = |script: String, env: Vec<(String, String)>| runbook::run::PreparedCommand {
        shown: String::new(),
        script,
        shell: None,
        cwd: None,
        env,
        timeout: Duration::from_secs(10),
        interactive: false,
        secrets: vec![],
        token: String::new(),
    };
    let mut env_ms = Vec::new();
    let mut literal_ms = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let script = template.render_script(&lookup).unwrap();
        let r = Execution::new().run(&command(script.code, script.env), None, |_, _| {});
        env_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.exit, Some(0));
        let started = Instant::now();
        let r = Execution::new().run(&command(literal.clone(), vec![]), None, |_, _| {});
        literal_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.exit, Some(0));
    }
    let (e, l) = (median(env_ms), median(literal_ms));
    println!(
        "a step with 20 values, through the environment: median {e:.2} ms; written into the script: {l:.2} ms; difference {:+.3} ms",
        e - l
    );
}

fn kill_tree(runs: usize, descendants: usize) {
    use runbook::exec::command::Execution;
    let mut times = Vec::new();
    for _ in 0..runs {
        let tmp = tempfile::tempdir().unwrap();
        let ready = tmp.path().join("ready");
        // Half the children in their own session (setsid), half in their own group (set -m).
        let script = format!(
            "for i in $(seq {half}); do setsid sleep 300 & (set -m; sleep 300 &); done; echo ok > {r}; sleep 300",
            half = descendants / 2,
            r = ready.display()
        );
        let cmd = runbook::run::PreparedCommand {
            shown: String::new(),
            script,
            shell: None,
            cwd: None,
            env: vec![],
            timeout: Duration::from_secs(120),
            interactive: false,
            secrets: vec![],
            token: String::new(),
        };
        let execution = Execution::new();
        let cancel = execution.canceller();
        let handle = std::thread::spawn(move || execution.run(&cmd, None, |_, _| {}));
        while !ready.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        cancel.cancel();
        let result = handle.join().unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(result.cancelled);
    }
    let runs_text: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
    println!(
        "cancel a step with {descendants} descendants across groups and sessions: median {:.0} ms   runs: {}",
        median(times),
        runs_text.join(" ")
    );
}

fn streaming(bytes: u64, runs: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    std::fs::create_dir_all(work.join("books")).unwrap();
    std::fs::write(work.join("books/environments.yaml"), "environments:\n  local: {}\n").unwrap();
    std::fs::write(
        work.join("books/stream.yaml"),
        format!("title: Stream\nsteps:\n  - {{ id: big, title: Big, run: 'yes | head -c {bytes}', timeout: 10m }}\n"),
    )
    .unwrap();
    let reference: Vec<_> = (0..runs)
        .map(|_| {
            let out = work.join("ref.out");
            let s = measure(
                std::process::Command::new("sh")
                    .arg("-c")
                    .arg(format!("yes | head -c {bytes} > {}", out.display())),
            );
            let _ = std::fs::remove_file(out);
            s
        })
        .collect();
    let runner: Vec<_> = (0..runs)
        .map(|_| {
            let s = measure(&mut runbook(&["run", "stream", "--dir", "books"], work));
            let _ = std::fs::remove_dir_all(work.join(".data"));
            s
        })
        .collect();
    let mb = bytes as f64 / (1 << 20) as f64;
    println!("streaming {mb:.0} MiB of output (`yes | head -c {bytes}`)");
    report("  the command redirected to a file", &reference);
    report("  through `runbook run` (headless)", &runner);
    let r = median(reference.iter().map(|s| s.wall.as_secs_f64()).collect());
    let h = median(runner.iter().map(|s| s.wall.as_secs_f64()).collect());
    println!(
        "  runner speed / redirect speed: {:.0}%  ({:.0} MiB/s vs {:.0} MiB/s)",
        100.0 * r / h,
        mb / h,
        mb / r
    );
}

fn http_probes(count: usize, runs: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = runtime.block_on(serve());
    let prober = Arc::new(Prober::new());
    let probe = Arc::new(PreparedProbe {
        target: PreparedTarget::Http {
            url: format!("http://{addr}/health"),
            method: "GET".into(),
            headers: vec![],
            insecure: false,
        },
        timeout: Duration::from_secs(5),
        expect: ProbeExpect { status: vec![200], ..Default::default() },
        shown: String::new(),
        secrets: vec![],
    });
    const CONCURRENCY: usize = 32;
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let passed = runtime.block_on(async {
            let gate = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
            let mut tasks = Vec::with_capacity(count);
            for _ in 0..count {
                let (gate, prober, probe) = (gate.clone(), prober.clone(), probe.clone());
                tasks.push(tokio::spawn(async move {
                    let _permit = gate.acquire().await.unwrap();
                    prober.probe(&probe).await.passed
                }));
            }
            let mut passed = 0;
            for t in tasks {
                passed += usize::from(t.await.unwrap());
            }
            passed
        });
        assert_eq!(passed, count, "every probe passes");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let runs_text: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    println!(
        "{count} HTTP probes, {CONCURRENCY} at a time, loopback        median {:>7.1} ms   runs: {}",
        median(times),
        runs_text.join(" ")
    );
}

/// A minimal loopback HTTP server answering 200 to everything.
async fn serve() -> std::net::SocketAddr {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"{\"status\":\"healthy\"}",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}
