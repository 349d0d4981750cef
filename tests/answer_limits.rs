//! Answers too big to hold: a Prometheus query or an Alertmanager that answers hundreds of
//! megabytes is refused with a reason, and never held whole in memory.
//!
//! In a test binary of their own: the peak memory of a child (wait4's `ru_maxrss`) counts
//! what the test process held when it forked, and other tests (monitors run in-process) make
//! that a few hundred megabytes.

mod support;

use support::Sandbox;

/// A loopback server that answers every request with `size` bytes of an endless JSON string,
/// written as it goes (no length given, as a streaming server does).
fn enormous_answers(size: usize) -> String {
    let addr = support::serve_each(move |mut stream| {
        use std::io::{BufRead, Write};
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"pad\":\"");
        let block = vec![b'x'; 1 << 20];
        for _ in 0..size >> 20 {
            if stream.write_all(&block).is_err() {
                return;
            }
        }
    });
    format!("http://{addr}")
}

/// Runs `runbook ARGS` in a sandbox whose environments are `environments`, and gives its
/// stdout, its stderr and its own peak memory in MiB (wait4: the test's other children do not
/// count).
fn run_measured(environments: &str, args: &[&str]) -> (String, String, i64) {
    use std::io::Read;
    let sb = Sandbox::new().env("CI", "1").runbooks_in("books").environments(environments);
    // Reaped by wait4 below.
    #[allow(clippy::zombie_processes)]
    let mut child = sb
        .cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: wait4 on our own child, with valid pointers to the two out-values.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (out, err, usage.ru_maxrss / 1024)
}

#[test]
fn an_alertmanager_answer_of_hundreds_of_megabytes_is_refused_without_being_held() {
    let server = enormous_answers(400 << 20);
    let (_, err, peak_mib) = run_measured(
        &format!("environments:\n  live: {{ alertmanager: '{server}' }}\n"),
        &["alerts", "--env", "live"],
    );
    assert!(err.contains("the answer is over 64 MiB of alerts"), "{err}");
    assert!(err.contains("environment 'live'"), "{err}");
    assert!(peak_mib < 160, "peak {peak_mib} MiB reading a 400 MiB answer");
}

#[test]
fn an_answer_of_hundreds_of_megabytes_is_refused_without_being_held() {
    let server = enormous_answers(400 << 20);
    let (out, _, peak_mib) = run_measured(
        &format!(
            "environments:\n  live: {{ prometheus: '{server}' }}\nmonitors:\n  - {{ id: everything, check: {{ prometheus: 'up', timeout: 30s, expect: {{ value: '> 0' }} }} }}\n"
        ),
        &["health", "--format", "json"],
    );
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reason = rows[0]["reason"].as_str().unwrap();
    assert!(reason.contains("over 16 MiB: aggregate the query"), "{rows}");
    assert!(peak_mib < 120, "peak {peak_mib} MiB reading a 400 MiB answer");
}
