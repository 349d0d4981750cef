//! Runs that stop and go on: signals, crashes, two drivers, a full disk, damaged journals,
//! and every way a person settles a step on resume. The real binary, real processes.

mod support;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use support::{Sandbox, alive, text, wait_for};

const ENVS: &str = "default: dev\nenvironments:\n  dev: { vars: { host: localhost } }\n  prod: { protected: true, vars: { host: example.com } }\n";

/// The sandbox's run (the first one found).
fn run_dir(env: &Sandbox) -> PathBuf {
    std::fs::read_dir(env.data().join("runs")).unwrap().flatten().next().unwrap().path()
}

/// `type:step` of each record of the run's journal.
fn types(env: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(run_dir(env).join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| format!("{}:{}", e["type"].as_str().unwrap_or(""), e["step"].as_str().unwrap_or("")))
        .collect()
}

/// How many lines the sandbox's `file` has (none when it is missing).
fn lines(env: &Sandbox, file: &str) -> usize {
    std::fs::read_to_string(env.path().join(file)).unwrap_or_default().lines().count()
}

/// A step whose shell starts children in another group and another session.
fn tree_book(env: &Sandbox) {
    env.book(
        "tree",
        &format!(
            "title: Tree\nsteps:\n  - {{ id: grow, title: Grow, run: 'setsid sleep 300 & echo $! >> {p}/pids; (set -m; sleep 301 & echo $! >> {p}/pids); echo $$ >> {p}/pids; sleep 300' }}\n",
            p = env.path().display()
        ),
    );
}

fn pids(env: &Sandbox) -> Vec<i32> {
    std::fs::read_to_string(env.path().join("pids"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn sigterm_and_sighup_stop_the_step_tree_journal_it_and_exit_143_and_129() {
    for (signal, code, name) in [(libc::SIGTERM, 143, "SIGTERM"), (libc::SIGHUP, 129, "SIGHUP")] {
        let env = Sandbox::new().runbooks_in("books").environments(ENVS);
        tree_book(&env);
        let child = env.cmd(&["run", "tree"]).stdout(Stdio::piped()).spawn().unwrap();
        wait_for("the step tree to start", Duration::from_secs(10), || (pids(&env).len() == 3).then_some(()));
        // SAFETY: a signal to our own child, as a dropped SSH session or a supervisor sends.
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        let tree = pids(&env);
        wait_for("no survivor of the step", Duration::from_secs(5), || {
            tree.iter().all(|p| !alive(*p)).then_some(())
        });
        let journal = std::fs::read_to_string(run_dir(&env).join("journal.jsonl")).unwrap();
        assert!(
            journal.contains(&format!(
                "\"type\":\"step_cancelled\",\"step\":\"grow\",\"reason\":\"stopped by {name}\""
            )),
            "{journal}"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("resume with `runbook run --resume"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn two_concurrent_resumes_drive_the_run_once() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "three",
        &format!(
            "title: Three\nsteps:\n  - {{ id: gate, title: Gate }}\n  - {{ id: a, title: A, run: 'echo a >> {p}/steps; while [ ! -f {p}/go ]; do sleep 0.02; done' }}\n  - {{ id: b, title: B, run: 'echo b >> {p}/steps' }}\n  - {{ id: c, title: C, run: 'echo c >> {p}/steps' }}\n",
            p = env.path().display()
        ),
    );
    assert_eq!(env.run(&["run", "three"]).status.code(), Some(3), "stops at the manual gate");
    let racers: Vec<_> = (0..3)
        .map(|_| {
            env.cmd(&["run", "--resume", "latest", "--yes"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The driver holds step `a` until the other two have given up, so none of them can come
    // after the run has ended (and find it finished).
    let racers = std::cell::RefCell::new(racers);
    wait_for("two racers to be refused", Duration::from_secs(20), || {
        let exited = racers.borrow_mut().iter_mut().filter_map(|c| c.try_wait().unwrap()).count();
        (exited == 2).then_some(())
    });
    std::fs::write(env.path().join("go"), "").unwrap();
    let racers = racers.into_inner();
    let outs: Vec<Output> = racers.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    assert_eq!(codes.iter().filter(|c| **c == Some(0)).count(), 1, "exactly one drives: {codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == Some(2)).count(), 2, "the others are refused: {codes:?}");
    let refused = outs.iter().find(|o| o.status.code() == Some(2)).unwrap();
    assert!(
        text(refused).contains("is being driven by") && text(refused).contains("(pid "),
        "{}",
        text(refused)
    );
    assert_eq!(std::fs::read_to_string(env.path().join("steps")).unwrap(), "a\nb\nc\n", "every step once");
}

#[test]
fn a_resume_while_the_first_runner_lives_is_refused_naming_it() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("nap", "title: Nap\nsteps:\n  - { id: nap, title: Nap, run: 'sleep 300' }\n");
    let mut first = env.cmd(&["run", "nap"]).stdout(Stdio::null()).spawn().unwrap();
    wait_for("the step to start", Duration::from_secs(10), || {
        let started =
            env.path().join("data/runs").exists() && types(&env).contains(&"step_process:nap".to_string());
        started.then_some(())
    });
    let o = env.run(&["run", "--resume", "latest"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&format!("(pid {})", first.id())), "{}", text(&o));
    let runs = env.run(&["runs"]);
    assert!(text(&runs).contains("running: "), "runs names the driver:\n{}", text(&runs));
    // kill -9: the kernel releases the lease with the process.
    first.kill().unwrap();
    first.wait().unwrap();
    let o = env.run(&["run", "--resume", "latest", "--stop-running"]);
    assert_eq!(o.status.code(), Some(3), "free again; the step waits for a decision: {}", text(&o));
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_run_before_the_next_step() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    let mut yaml = String::from("title: Many\nsteps:\n");
    for i in 0..30 {
        yaml.push_str(&format!(
            "  - {{ id: s{i}, title: S{i}, run: 'echo {i} >> {}/ran' }}\n",
            env.path().display()
        ));
    }
    env.book("many", &yaml);
    let mut cmd = env.cmd(&["run", "many"]);
    // SAFETY: pre_exec runs in the child before exec: ignoring SIGXFSZ and limiting file
    // size make a write past 6000 bytes fail with EFBIG, as a full disk fails with ENOSPC.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: 6000, rlim_max: 6000 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("cannot write the journal") && text(&o).contains("runbook run --resume"),
        "{}",
        text(&o)
    );
    let started = types(&env).iter().filter(|t| t.starts_with("step_started:")).count();
    let ran = lines(&env, "ran");
    assert!(ran > 3 && ran < 30, "the limit hit mid-run: {ran}");
    assert_eq!(ran, started, "every step that ran is journaled, and none ran unjournaled");
    // The journal reads cleanly and the run resumes where it stopped, each step once. A
    // step that ran but whose end could not be journaled has an unknown outcome: a person
    // marks it (here: it did run).
    let types = types(&env);
    let last = types.iter().rev().find(|t| t.starts_with("step_started:")).unwrap();
    let step = last.trim_start_matches("step_started:").to_owned();
    let ended = types.iter().any(|t| *t == format!("step_passed:{step}"));
    let mut args = vec!["run", "--resume", "latest"];
    if !ended {
        let o = env.run(&args);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert!(text(&o).contains("outcome is unknown"), "{}", text(&o));
        args.extend(["--mark-done", step.as_str(), "--note", "it ran before the disk filled"]);
    }
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = std::fs::read_to_string(env.path().join("ran")).unwrap();
    let expected: String = (0..30).map(|i| format!("{i}\n")).collect();
    assert_eq!(all, expected);
}

#[test]
fn a_damaged_journal_hides_no_run() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "two",
        "title: Two café\nsteps:\n  - { id: a, title: A }\n  - { id: b, title: B, run: 'echo b' }\n",
    );
    assert_eq!(env.run(&["run", "two"]).status.code(), Some(3));
    let path = run_dir(&env).join("journal.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    let first_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    // Garbage in the middle, and a last record torn inside a multi-byte character.
    let mut damaged = bytes[..first_line].to_vec();
    damaged.extend_from_slice(b"{\"at\": garbage \xff\n");
    damaged.extend_from_slice(&bytes[first_line..]);
    damaged.extend_from_slice("{\"at\":\"2026-11-29T00:00:00Z\",\"type\":\"note\",\"text\":\"caf".as_bytes());
    damaged.push(0xc3);
    bytes = damaged;
    std::fs::write(&path, bytes).unwrap();
    let runs = env.run(&["runs"]);
    assert!(text(&runs).contains("Two café") && text(&runs).contains("unfinished"), "{}", text(&runs));
    assert!(text(&runs).contains("journal.jsonl:2: a damaged record is left out"), "{}", text(&runs));
    let export = env.run(&["export", "latest"]);
    assert_eq!(export.status.code(), Some(0), "{}", text(&export));
    assert!(text(&export).contains("cut short"), "{}", text(&export));
    let o = env.run(&["run", "--resume", "latest", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("│ b"), "{}", text(&o));
}

#[test]
fn a_printed_resume_hint_works_pasted_without_dir_and_asks_for_secrets_again() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "secret",
        &format!("title: Secret\ninputs:\n  token: {{ secret: true }}\nsteps:\n  - {{ id: wait, title: Wait }}\n  - {{ id: use, title: Use, run: 'printf %s {{{{ token }}}} > {}/got' }}\n", env.path().display()),
    );
    let o = env.cmd(&["run", "secret"]).env("RUNBOOK_INPUT_TOKEN", "t0ken-value").output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    let hint = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| {
            l.split('`').nth(1).filter(|h| h.starts_with("runbook run --resume")).map(str::to_owned)
        })
        .expect("a resume hint");
    let args: Vec<&str> = hint.split_whitespace().skip(1).collect();
    let o = env.bare(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("secret input 'token' is not kept in the journal")
            && text(&o).contains("RUNBOOK_INPUT_TOKEN"),
        "{}",
        text(&o)
    );
    let mut with_yes = args.clone();
    with_yes.push("--yes");
    let o = env.bare(&with_yes).env("RUNBOOK_INPUT_TOKEN", "t0ken-value").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "resumed from the hint, no --dir: {}", text(&o));
    assert_eq!(std::fs::read_to_string(env.path().join("got")).unwrap(), "t0ken-value");
}

#[test]
fn a_failed_step_can_be_retried_or_skipped_on_resume() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    let flag = env.path().join("flag");
    env.book(
        "flaky",
        &format!("title: Flaky\nsteps:\n  - {{ id: try, title: Try, run: 'echo x >> {p}/tries; test -f {f}' }}\n  - {{ id: next, title: Next, run: 'echo next >> {p}/after' }}\n", p = env.path().display(), f = flag.display()),
    );
    assert_eq!(env.run(&["run", "flaky"]).status.code(), Some(1));
    let o = env.run(&["run", "--resume", "latest"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--retry runs it again"), "{}", text(&o));
    assert_eq!(lines(&env, "tries"), 1, "a plain resume does not run it again");
    let o = env.run(&["run", "--resume", "latest", "--retry"]);
    assert_eq!(o.status.code(), Some(1), "retried once, failed again, no loop: {}", text(&o));
    assert_eq!(lines(&env, "tries"), 2);
    let o = env.run(&["run", "--resume", "latest", "--skip", "try", "--note", "the flag is set by hand"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(lines(&env, "after"), 1);
    let export = env.run(&["export", "latest"]);
    assert!(text(&export).contains("the flag is set by hand"), "{}", text(&export));
    let o = env.run(&["run", "--resume", "latest", "--note", "postmortem: flag script fixed"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&env.run(&["export", "latest"])).contains("postmortem: flag script fixed"),
        "a note after the end is kept"
    );
}

#[test]
fn abandoned_runs_leave_the_list_of_unfinished_and_prune_removes_old_runs() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("gate", "title: Gate\nsteps:\n  - { id: a, title: A }\n");
    env.book("ok", "title: Ok\nsteps:\n  - { id: a, title: A, run: 'true' }\n");
    assert_eq!(env.run(&["run", "gate"]).status.code(), Some(3));
    let gate = run_dir(&env);
    let id = gate.file_name().unwrap().to_string_lossy().into_owned();
    let short = id.rsplit('-').next().unwrap().to_owned();
    let o = env.run(&["runs", "--abandon", &short]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let listed: serde_json::Value =
        serde_json::from_slice(&env.run(&["runs", "--format", "json"]).stdout).unwrap();
    assert_eq!(listed[0]["state"], "abandoned");
    assert_eq!(env.run(&["run", "--resume", &short]).status.code(), Some(1), "an abandoned run is over");
    assert_eq!(env.run(&["run", "ok"]).status.code(), Some(0));
    let o = env.run(&["runs", "--prune", "--older-than", "30d"]);
    assert!(text(&o).contains("no finished run is older than 30d"), "{}", text(&o));
    let o = env.run(&["runs", "--prune", "--older-than", "0d"]);
    assert_eq!(o.status.code(), Some(3), "asks first: {}", text(&o));
    let o = env.run(&["runs", "--prune", "--older-than", "0d", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("removed 2 runs"), "{}", text(&o));
    assert!(!gate.exists());
}

#[test]
fn runs_fit_80_columns_with_distinct_rows() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("a-very-long-runbook-id-for-the-database-restore-drill", "title: Restore the primary database from last night's backup, verified\nsteps:\n  - { id: a, title: A, run: 'true' }\n  - { id: b, title: B }\n");
    for _ in 0..2 {
        env.run(&["run", "a-very-long-runbook-id-for-the-database-restore-drill"]);
    }
    let o = env.cmd(&["runs"]).env("COLUMNS", "80").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for l in &lines {
        assert!(l.chars().count() <= 80, "too wide: {l:?}");
    }
    assert!(lines[1].contains("1/2") && lines[1].contains("unfinished") && lines[1].contains("dev"), "{out}");
    assert_ne!(lines[1], lines[2], "distinct rows: {out}");
}

#[test]
fn manual_step_bodies_are_printed_headless_and_in_dry_runs() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("read", "title: Read\nsteps:\n  - title: Call the on-call DBA\n    body: |\n      Phone +1 555 0100.\n      Say the words \"restore drill\".\n");
    for args in [vec!["run", "read", "--yes"], vec!["run", "read", "--dry-run"]] {
        let o = env.run(&args);
        assert!(
            text(&o).contains("│ Phone +1 555 0100.") && text(&o).contains("│ Say the words"),
            "{args:?}: {}",
            text(&o)
        );
    }
}

#[test]
fn timelines_name_steps_by_title_with_the_id_in_json() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "restore",
        "title: Restore\nsteps:\n  - { id: fetch, title: Fetch the backup, run: 'echo v42', capture: version }\n  - { id: load, title: 'Load backup {{ version }}', run: 'true' }\n  - { id: never, title: Not reached, run: 'true', when_env: [prod] }\n",
    );
    assert_eq!(env.run(&["run", "restore"]).status.code(), Some(0));
    let md = text(&env.run(&["export", "latest"]));
    assert!(md.contains("| Fetch the backup | ✓ passed |"), "{md}");
    assert!(md.contains("| Load backup v42 | ✓ passed |"), "the title as shown then: {md}");
    assert!(md.contains("| Not reached | skipped |"), "{md}");
    assert!(!md.contains("| fetch |"), "{md}");
    let json: serde_json::Value =
        serde_json::from_slice(&env.run(&["export", "latest", "--format", "json"]).stdout).unwrap();
    let row = json["timeline"].as_array().unwrap().iter().find(|r| r["event"] == "✓ passed").unwrap();
    assert_eq!(row["step"], "Fetch the backup");
    assert_eq!(row["step_id"], "fetch");
}

#[test]
fn a_step_log_that_could_not_be_written_whole_says_so() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "big",
        "title: Big\nsteps:\n  - { id: out, title: Out, run: \"head -c 20000 /dev/zero | tr '\\\\0' x\" }\n",
    );
    let mut cmd = env.cmd(&["run", "big"]);
    // SAFETY: in the child before exec: a file-size limit the 20 KB log cannot fit in.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: 8000, rlim_max: 8000 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("the step log is incomplete"), "{}", text(&o));
    assert!(types(&env).contains(&"note:out".to_string()), "{:?}", types(&env));
}

#[test]
fn a_failing_line_or_pipe_stage_fails_its_step_and_output_is_matched_trimmed() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    let p = env.path().display().to_string();
    env.book("first", &format!("title: F\nsteps:\n  - {{ id: cp, title: Copy, run: \"cp /no/such/backup {p}/restored\\necho restore passed\" }}\n"));
    env.book("pipe", "title: P\nsteps:\n  - { id: ls, title: List, run: 'ls /no/such/dir | tail -1' }\n");
    env.book("count", "title: C\nsteps:\n  - { id: n, title: Count, run: 'echo 5400', expect: { stdout_matches: '^\\d+$' } }\n");
    let o = env.run(&["run", "first"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("│ restore passed"), "the next line did not run: {}", text(&o));
    assert_eq!(env.run(&["run", "pipe"]).status.code(), Some(1));
    let o = env.run(&["run", "count"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_resume_reads_its_runbook_from_the_recorded_directory_alone() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("fix", "title: Fix\nsteps:\n  - { id: wait, title: Wait }\n  - { id: go, title: Go, run: 'echo from-books' }\n");
    // A sibling that only the full parser can read: any scan of the directory would parse it.
    env.book("sibling", "title: [never closed\nsteps:\n  - { title: x }\n");
    let o = env.run(&["run", "fix"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // Here, `./runbooks` (on the search path of a bare command) has another `fix`.
    std::fs::create_dir_all(env.path().join("runbooks")).unwrap();
    std::fs::write(
        env.path().join("runbooks/fix.yaml"),
        "title: Other fix\nsteps:\n  - { id: wait, title: Wait }\n  - { id: go, title: Go, run: 'echo from-local' }\n",
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(env.path().join("cache"));
    let o = env.bare(&["run", "--resume", "latest", "--yes"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("from-books") && !text(&o).contains("from-local"), "{}", text(&o));
    // Its file was read alone: no directory was listed, so no index was written.
    assert!(!env.path().join("cache").exists(), "a directory was scanned to resume");
}
