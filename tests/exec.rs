//! Commands and probes against real processes and real loopback servers.

mod support;

use std::time::{Duration, Instant};

use runbook::exec::command::{Execution, Stream};
use runbook::exec::probe::Prober;
use runbook::run::{PreparedCommand, PreparedProbe, PreparedTarget};
use runbook::runbook::ProbeExpect;
use support::{alive, wait_for};

fn command(script: &str, timeout: Duration) -> PreparedCommand {
    PreparedCommand {
        script: script.into(),
        shown: script.into(),
        shell: Some("sh".into()),
        cwd: None,
        env: vec![],
        timeout,
        interactive: false,
        secrets: vec![],
        token: String::new(),
    }
}

fn pids(path: &std::path::Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A shell that starts two grandchildren and writes their pids before waiting on them.
fn tree_script(pidfile: &std::path::Path) -> String {
    format!(
        "sleep 300 & a=$!; sh -c 'sleep 300' & b=$!; echo $a $b > {}; echo started; wait",
        pidfile.display()
    )
}

#[test]
fn a_timeout_kills_the_whole_process_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pids");
    // Long enough for the shell to start both and write their pids on a busy machine.
    let timeout = Duration::from_secs(3);
    let started = Instant::now();
    let result = Execution::new().run(&command(&tree_script(&pidfile), timeout), None, |_, _| {});
    assert!(result.timed_out);
    assert!(
        started.elapsed() < timeout + Duration::from_millis(4500),
        "SIGTERM reached the group: no wait for the grace period"
    );
    let children = pids(&pidfile);
    assert_eq!(children.len(), 2, "both grandchildren started before the timeout");
    wait_for("the grandchildren to be gone", Duration::from_secs(5), || {
        children.iter().all(|p| !alive(*p)).then_some(())
    });
}

#[test]
fn cancel_kills_the_whole_process_tree_and_reports_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pids");
    let execution = Execution::new();
    let canceller = execution.canceller();
    let script = tree_script(&pidfile);
    let runner = std::thread::spawn(move || {
        execution.run(&command(&script, Duration::from_secs(600)), None, |_, _| {})
    });
    wait_for("the tree to start", Duration::from_secs(5), || (pids(&pidfile).len() == 2).then_some(()));
    canceller.cancel();
    let result = runner.join().unwrap();
    assert!(result.cancelled && !result.timed_out);
    let children = pids(&pidfile);
    wait_for("the grandchildren to be gone", Duration::from_secs(5), || {
        children.iter().all(|p| !alive(*p)).then_some(())
    });
}

#[test]
fn a_process_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pid");
    let script = format!("trap '' TERM; echo $$ > {}; while :; do sleep 0.1; done", pidfile.display());
    // Long enough for the shell to set its trap and write its pid on a busy machine.
    let result = Execution::new().run(&command(&script, Duration::from_secs(2)), None, |_, _| {});
    assert!(result.timed_out);
    let pid = pids(&pidfile);
    assert_eq!(pid.len(), 1, "the shell wrote its pid before the timeout");
    assert!(!alive(pid[0]));
}

#[test]
fn output_streams_with_stderr_marked_and_goes_to_the_log_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("steps/x.1.log");
    let mut cmd = command("echo out1; echo err1 >&2; echo token=hunter22; exit 4", Duration::from_secs(10));
    cmd.secrets = vec!["hunter22".into()];
    let mut seen: Vec<(Stream, String)> = Vec::new();
    let result = Execution::new()
        .run(&cmd, Some(&log), |s, b| seen.push((s, String::from_utf8_lossy(b).into_owned())));
    assert_eq!(result.exit, Some(4));
    assert_eq!(result.stdout, "out1\ntoken=••••\n");
    let stdout: String = seen.iter().filter(|(s, _)| *s == Stream::Stdout).map(|(_, t)| t.as_str()).collect();
    let stderr: String = seen.iter().filter(|(s, _)| *s == Stream::Stderr).map(|(_, t)| t.as_str()).collect();
    assert_eq!(stdout, "out1\ntoken=••••\n");
    assert_eq!(stderr, "err1\n");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("token=••••") && !logged.contains("hunter22"));
}

#[test]
fn env_cwd_and_stdin_are_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = command("pwd; echo $GREETING; cat; echo done", Duration::from_secs(10));
    cmd.cwd = Some(tmp.path().display().to_string());
    cmd.env = vec![("GREETING".into(), "hi $(whoami)".into())];
    let result = Execution::new().run(&cmd, None, |_, _| {});
    let expected = format!("{}\nhi $(whoami)\ndone\n", tmp.path().canonicalize().unwrap().display());
    assert_eq!(result.stdout, expected, "stdin is empty, env values are not evaluated");
}

#[test]
fn a_missing_shell_is_a_clear_error() {
    let mut cmd = command("true", Duration::from_secs(5));
    cmd.shell = Some("no-such-shell-here".into());
    let result = Execution::new().run(&cmd, None, |_, _| {});
    assert_eq!(result.spawn_error.unwrap(), "the shell 'no-such-shell-here' was not found (shell:)");
}

#[test]
fn a_missing_working_directory_is_named() {
    let mut cmd = command("true", Duration::from_secs(5));
    cmd.cwd = Some("/no/such/dir".into());
    let result = Execution::new().run(&cmd, None, |_, _| {});
    assert_eq!(result.spawn_error.unwrap(), "the working directory '/no/such/dir' does not exist (cwd)");
}

fn strict(script: &str) -> runbook::run::CommandResult {
    let mut cmd = command(script, Duration::from_secs(10));
    cmd.shell = None;
    Execution::new().run(&cmd, None, |_, _| {})
}

#[test]
fn scripts_fail_fast_by_default() {
    assert_eq!(strict("false\necho went on").exit, Some(1), "a failing line fails the script");
    assert_eq!(strict("ls /no/such/dir | tail -1").exit, Some(2), "a failing pipe stage fails the script");
    assert_ne!(strict("echo $NO_SUCH_VARIABLE_HERE").exit, Some(0), "an unset variable is an error");
    assert_eq!(strict("false || echo handled").exit, Some(0), "a handled failure is fine");
    // `shell:` as written opts out.
    let mut cmd = command("false\necho went on", Duration::from_secs(10));
    cmd.shell = Some("bash".into());
    assert_eq!(Execution::new().run(&cmd, None, |_, _| {}).exit, Some(0));
}

fn probe(target: PreparedTarget, timeout: Duration, expect: ProbeExpect) -> PreparedProbe {
    PreparedProbe { target, timeout, expect, shown: String::new(), secrets: vec![] }
}

fn http(url: String) -> PreparedTarget {
    PreparedTarget::Http { url, method: "GET".into(), headers: vec![], insecure: false }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn http_probes_check_status_json_and_latency() {
    let server = support::HealthServer::start();
    let prober = Prober::new();
    let expect = ProbeExpect { json: Some(serde_json::json!({"status": "healthy"})), ..Default::default() };
    let ok =
        block_on(prober.probe(&probe(http(server.url("/health")), Duration::from_secs(5), expect.clone())));
    assert!(ok.passed, "{ok:?}");
    server.set_status(503);
    let down =
        block_on(prober.probe(&probe(http(server.url("/health")), Duration::from_secs(5), expect.clone())));
    assert_eq!((down.passed, down.reason.as_str()), (false, "HTTP 503"));
    let want_503 = ProbeExpect {
        status: vec![503],
        json: Some(serde_json::json!({"status": "healthy"})),
        ..Default::default()
    };
    let wrong_json =
        block_on(prober.probe(&probe(http(server.url("/health")), Duration::from_secs(5), want_503)));
    assert_eq!(wrong_json.reason, "HTTP 503, JSON status is \"unhealthy\", expected \"healthy\"");
    server.set_status(200);
    server.set_delay(Duration::from_millis(300));
    let slow_expect = ProbeExpect { max_latency: Some(Duration::from_millis(100)), ..Default::default() };
    let slow =
        block_on(prober.probe(&probe(http(server.url("/health")), Duration::from_secs(5), slow_expect)));
    assert!(!slow.passed && slow.slow && slow.reason.starts_with("slow: "), "{slow:?}");
    // A server fifty times slower than the timeout: ending well before it answers is the
    // timeout's doing, with room for a busy machine.
    server.set_delay(Duration::from_secs(5));
    let started = Instant::now();
    let timed = block_on(prober.probe(&probe(
        http(server.url("/health")),
        Duration::from_millis(100),
        ProbeExpect::default(),
    )));
    assert_eq!(timed.reason, "timed out after 100ms");
    assert!(started.elapsed() < Duration::from_secs(2), "a probe never outlives its timeout");
}

#[test]
fn tcp_probes_connect_read_banners_and_time_out() {
    let prober = Prober::new();
    let closed = support::closed_port();
    let refused = block_on(prober.probe(&probe(
        PreparedTarget::Tcp { address: closed.to_string() },
        Duration::from_secs(2),
        ProbeExpect::default(),
    )));
    assert_eq!((refused.passed, refused.reason.as_str()), (false, "connection refused"));

    let smtp = support::banner_listener("220 mail.test ESMTP\r\n");
    let want = ProbeExpect { banner_contains: Some("220".into()), ..Default::default() };
    let ok = block_on(prober.probe(&probe(
        PreparedTarget::Tcp { address: smtp.to_string() },
        Duration::from_secs(2),
        want,
    )));
    assert!(ok.passed, "{ok:?}");

    let (_listener, silent, _) = support::silent_listener();
    let connect_only = block_on(prober.probe(&probe(
        PreparedTarget::Tcp { address: silent.to_string() },
        Duration::from_secs(2),
        ProbeExpect::default(),
    )));
    assert!(connect_only.passed, "a listener that accepts passes a plain TCP check");
    let want = ProbeExpect { banner_contains: Some("220".into()), ..Default::default() };
    let started = Instant::now();
    let hung = block_on(prober.probe(&probe(
        PreparedTarget::Tcp { address: silent.to_string() },
        Duration::from_millis(200),
        want,
    )));
    assert_eq!(hung.reason, "timed out after 200ms");
    // The listener never answers: ending at all is the timeout's doing; the bound leaves room
    // for a busy machine.
    assert!(started.elapsed() < Duration::from_secs(2), "a probe never outlives its timeout");
}

#[test]
fn command_probes_check_exit_and_stdout() {
    let prober = Prober::new();
    let expect = ProbeExpect { stdout_contains: Some("accepting".into()), ..Default::default() };
    let ok = block_on(prober.probe(&probe(
        PreparedTarget::Command { script: "echo accepting connections".into(), env: vec![] },
        Duration::from_secs(5),
        expect.clone(),
    )));
    assert!(ok.passed);
    let bad = block_on(prober.probe(&probe(
        PreparedTarget::Command { script: "echo no; exit 2".into(), env: vec![] },
        Duration::from_secs(5),
        expect,
    )));
    assert_eq!(bad.reason, "exit 2");
}

/// Children that leave the step's process group (`set -m`) or session (`setsid`), one of
/// them double-forked so that its parent is gone.
fn escapees_script(pidfile: &std::path::Path) -> String {
    format!(
        "setsid sleep 300 & echo $! >> {p}\n(set -m; sleep 301 & echo $! >> {p})\n(setsid sh -c 'sleep 302 & echo $! >> {p}' &)\nsleep 0.2; echo started; sleep 300",
        p = pidfile.display()
    )
}

#[test]
fn timeout_and_cancel_end_children_in_other_groups_and_sessions() {
    for cancel in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let pidfile = tmp.path().join("pids");
        // The timeout leaves the double fork time to write its pid on a busy machine.
        let mut cmd = command(&escapees_script(&pidfile), Duration::from_secs(if cancel { 60 } else { 4 }));
        cmd.shell = Some("bash".into());
        let execution = Execution::new();
        let canceller = execution.canceller();
        let p = pidfile.clone();
        let result = std::thread::scope(|s| {
            let handle = s.spawn(|| execution.run(&cmd, None, |_, _| {}));
            if cancel {
                wait_for("the escapees to start", Duration::from_secs(10), || {
                    (pids(&p).len() == 3).then_some(())
                });
                canceller.cancel();
            }
            handle.join().unwrap()
        });
        assert!(if cancel { result.cancelled } else { result.timed_out }, "{result:?}");
        let escapees = pids(&pidfile);
        assert_eq!(escapees.len(), 3, "{escapees:?}");
        wait_for("every escapee to be gone", Duration::from_secs(5), || {
            escapees.iter().all(|p| !alive(*p)).then_some(())
        });
    }
}
