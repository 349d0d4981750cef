//! The terminal UI driven for real: the binary in a pseudo-terminal, the screen read through
//! a terminal emulator (vt100), waiting on screen text until a deadline.

mod support;

use std::path::Path;

use support::Sandbox;
use support::pty::Screen;

fn books(dir: &Path, environments: &str) {
    std::fs::create_dir_all(dir.join("books")).unwrap();
    std::fs::write(dir.join("books/environments.yaml"), environments).unwrap();
    std::fs::write(
        dir.join("books/restart.yaml"),
        "title: Restart the API\nkind: incident\ntags: [api]\nsteps:\n  - { id: look, title: Look at the logs, run: 'echo log line one; echo oops >&2' }\n  - { id: tell, title: Tell the team }\n  - { id: risky, title: Restart it, run: 'echo restarted' }\n  - { id: last, title: Close the ticket }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("books/unrelated.yaml"),
        "title: Rotate the secrets\nkind: maintenance\nsteps:\n  - { title: Rotate }\n",
    )
    .unwrap();
}

#[test]
fn pick_a_runbook_run_a_step_tick_skip_and_quit() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    let mut s = Screen::spawn(&["--dir", "books"], tmp.path(), 120, 40);
    s.wait_for("Rotate the secrets");
    s.keys("restart api");
    s.wait_gone("Rotate the secrets");
    assert!(s.text().contains("Restart the API"), "{}", s.text());
    s.keys("\r");
    s.wait_for("DEV │ Restart the API");
    s.keys("\r");
    s.wait_for("✓ Look at the logs");
    // The selection followed the cursor to the next step; ↑ shows the output of the first.
    s.wait_for("┌ Tell the team ");
    s.keys("k");
    s.wait_for("log line one");
    s.wait_for("oops");
    s.keys(" ");
    s.wait_for("✓ Tell the team");
    s.keys("s");
    s.wait_for("Why skip it?");
    s.keys("not needed tonight\r");
    s.wait_for("↷ Restart it");
    s.keys("n");
    s.keys("paged the DBA\r");
    s.keys("t");
    s.wait_for("timeline (UTC)");
    s.wait_for("not needed tonight");
    s.wait_for("paged the DBA");
    s.keys("x");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
    let runs = std::fs::read_dir(tmp.path().join("data/runs")).unwrap().next().unwrap().unwrap().path();
    let journal = std::fs::read_to_string(runs.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"type\":\"step_skipped\",\"step\":\"risky\",\"reason\":\"not needed tonight\""),
        "{journal}"
    );
}

#[test]
fn a_monitor_goes_from_up_to_down_in_the_health_pane() {
    let server = support::HealthServer::start();
    let tmp = tempfile::tempdir().unwrap();
    books(
        tmp.path(),
        &format!(
            "default: dev\nenvironments:\n  dev: {{ vars: {{ url: '{}' }} }}\n  prod: {{ vars: {{ url: 'http://{}/health' }} }}\nmonitors:\n  - {{ id: api, title: Test API, check: {{ http: '{{{{ url }}}}' }}, interval: 200ms, fail_after: 2 }}\n",
            server.url("/health"),
            support::closed_port()
        ),
    );
    let mut s = Screen::spawn(&["--dir", "books", "restart"], tmp.path(), 120, 40);
    s.wait_for("◂ dev ▸");
    s.keys("\r");
    s.wait_for("Test API");
    s.wait_for("up");
    server.set_status(503);
    s.wait_for("HTTP 503");
    assert!(s.text().contains("down"), "{}", s.text());
    server.set_status(200);
    s.wait_gone("HTTP 503");
    // Each change of state went into the run's journal, for the timeline.
    let journal = || {
        let runs = std::fs::read_dir(tmp.path().join("data/runs")).ok()?;
        let run = runs.flatten().next()?.path();
        std::fs::read_to_string(run.join("journal.jsonl")).ok()
    };
    support::wait_for("down and up in the journal", std::time::Duration::from_secs(5), || {
        let j = journal()?;
        let states: Vec<&str> = j
            .lines()
            .filter(|l| l.contains(r#""type":"health_changed""#))
            .filter_map(|l| l.split(r#""state":""#).nth(1)?.split('"').next())
            .collect();
        let down = states.iter().position(|s| *s == "down")?;
        states[down..].contains(&"up").then_some(())
    });
    // The parity view: dev is up, prod refuses connections.
    s.keys("p");
    s.wait_for("≠ api");
    s.wait_for("down: connection refused");
}

#[test]
fn a_protected_environment_needs_its_name_typed() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: prod\nenvironments:\n  prod: { protected: true }\n");
    std::fs::write(
        tmp.path().join("books/drop.yaml"),
        "title: Drop the cache\nsteps:\n  - { id: drop, title: Drop, run: 'echo dropped', confirm: true }\n",
    )
    .unwrap();
    let mut s = Screen::spawn(&["--dir", "books", "drop"], tmp.path(), 100, 30);
    s.wait_for("PROD PROTECTED");
    s.keys("\r");
    s.wait_for("Type 'prod'");
    s.keys("prd\r");
    s.wait_for("type 'prod' exactly");
    assert!(!s.text().contains("│dropped"));
    for _ in 0..3 {
        s.keys("\x7f");
    }
    s.keys("prod\r");
    s.wait_for("dropped");
    s.wait_for("run succeeded");
    // E writes the timeline, with who confirmed and how, into the data directory's exports.
    s.keys("E");
    s.wait_for("timeline written to");
    let exports: Vec<_> = std::fs::read_dir(tmp.path().join("data/exports")).unwrap().flatten().collect();
    assert_eq!(exports.len(), 1);
    let path = exports[0].path();
    // The file's name follows on the same line, perhaps in a later write of the frame.
    s.wait_for(&path.file_name().unwrap().to_string_lossy()[..20]);
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
    };
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&tmp.path().join("data/exports")), 0o700);
    let md = std::fs::read_to_string(&path).unwrap();
    assert!(md.contains("typed the environment's name 'prod' in the terminal UI"), "{md}");
    assert!(md.contains("### 1. Drop"), "{md}");
}

#[test]
fn the_setup_form_picks_the_environment_and_checks_inputs_as_typed() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: staging\nenvironments:\n  staging: {}\n  production: { protected: true }\n");
    std::fs::write(
        tmp.path().join("books/deploy.yaml"),
        "title: Deploy\ninputs:\n  version: { description: Image tag, pattern: '^v\\d+$' }\n  region: { default: eu, choices: [eu, us] }\n  token: { secret: true, default: '' }\n  zone: { choices_from: 'printf \"zone-a\\nzone-b\\n\"' }\nsteps:\n  - { id: go, title: Go, run: 'echo deploying {{ version }} to {{ region }} in {{ environment }} {{ zone }}' }\n",
    )
    .unwrap();
    let mut s = Screen::spawn(&["--dir", "books"], tmp.path(), 120, 40);
    s.wait_for("Deploy");
    s.keys("deploy\r");
    s.wait_for("start: Deploy");
    s.wait_for("◂ staging ▸");
    s.keys("\x1b[C"); // → : the next environment
    s.wait_for("◂ production ▸");
    s.wait_for("protected: confirmations need its name typed");
    s.keys("\x1b[D"); // ← : back to staging
    s.wait_for("◂ staging ▸");
    s.wait_for("✗ required");
    s.keys("\t1.2");
    s.wait_for("✗ '1.2' does not match the pattern ^v\\d+$");
    for _ in 0..3 {
        s.keys("\x7f");
    }
    s.keys("v42");
    s.keys("\t\x1b[C"); // region: eu → us
    s.keys("\t\t"); // token, then zone: its choices_from runs on focus
    s.wait_for("zone-a");
    s.wait_for("◂▸ 2 options");
    s.keys("\x1b[C"); // zone-a → zone-b
    s.wait_for("zone-b");
    s.keys("\r");
    s.wait_for("STAGING │ Deploy");
    s.keys("\r");
    s.wait_for("deploying v42 to us in staging zone-b");
}

#[test]
fn the_config_file_rebinds_keys_and_picks_the_theme() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    std::fs::create_dir_all(tmp.path().join("config")).unwrap();
    std::fs::write(tmp.path().join("config/config.yaml"), "theme: high-contrast\nkeys: { tick: x }\n")
        .unwrap();
    let mut s = Screen::spawn(&["--dir", "books", "restart"], tmp.path(), 120, 40);
    s.wait_for(" x  tick");
    s.keys("\r");
    s.wait_for("✓ Look at the logs");
    s.keys(" ");
    s.keys("x");
    s.wait_for("✓ Tell the team");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
}

#[test]
fn a_bad_theme_is_reported_before_the_screen_is_taken() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    let mut s = Screen::spawn(&["--dir", "books", "--theme", "neon"], tmp.path(), 100, 30);
    s.wait_for("no theme 'neon' (built in: dark, light, high-contrast");
    assert_eq!(s.wait_exit(), 2);
}

#[test]
fn no_color_means_no_colour_anywhere_on_screen() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: prod\nenvironments:\n  prod: { protected: true }\n");
    let s = Screen::spawn_env(&["--dir", "books", "restart"], tmp.path(), 100, 30, &[("NO_COLOR", "1")]);
    s.wait_for("PROD PROTECTED");
    let parser = s.parser.lock().unwrap();
    let screen = parser.screen();
    for row in 0..30 {
        for col in 0..100 {
            let cell = screen.cell(row, col).unwrap();
            assert_eq!(cell.fgcolor(), vt100::Color::Default, "colour at {row},{col}");
            assert_eq!(cell.bgcolor(), vt100::Color::Default, "colour at {row},{col}");
        }
    }
    drop(parser);
    let with_color = Screen::spawn(&["--dir", "books", "restart"], tmp.path(), 100, 30);
    with_color.wait_for("PROD PROTECTED");
    let parser = with_color.parser.lock().unwrap();
    assert_ne!(
        parser.screen().cell(0, 1).unwrap().bgcolor(),
        vt100::Color::Default,
        "the protected banner is red"
    );
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let tmp = tempfile::tempdir().unwrap();
        books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
        let mut s = Screen::spawn(&["--dir", "books", "restart"], tmp.path(), 100, 30);
        s.wait_for("DEV │ Restart the API");
        assert!(s.parser.lock().unwrap().screen().alternate_screen());
        let pid = s.child.process_id().unwrap() as i32;
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(pid, signal) };
        assert_eq!(s.wait_exit(), code, "signal {signal}");
        // The last bytes may still be on their way through the pty: wait for them.
        s.wait_until(&format!("the terminal is restored on signal {signal}"), Screen::restored);
    }
}

#[test]
fn an_interactive_step_gets_the_terminal_and_gives_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    std::fs::write(
        tmp.path().join("books/shell.yaml"),
        "title: Shell\nsteps:\n  - { id: ask, title: Ask, run: 'printf \"%s%s\" na \"me? \"; read -r line && test \"$line\" = hello', interactive: true }\n  - { id: after, title: After }\n",
    )
    .unwrap();
    let mut s = Screen::spawn(&["--dir", "books", "shell"], tmp.path(), 100, 30);
    s.wait_for("DEV │ Shell");
    s.keys("\r");
    s.wait_for("name?");
    assert!(!s.parser.lock().unwrap().screen().alternate_screen(), "the command has the normal screen");
    s.keys("hello\r");
    s.wait_for("✓ Ask");
    s.wait_for("▸ After");
}

#[test]
fn clicking_a_step_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    let mut s = Screen::spawn(&["--dir", "books", "restart"], tmp.path(), 120, 40);
    s.wait_for("DEV │ Restart the API");
    // SGR mouse report: left button pressed at column 6, row 5 (1-based): the third step.
    s.keys("\x1b[<0;6;5M\x1b[<0;6;5m");
    s.wait_for("┌ Restart it ");
}

#[test]
fn resizing_rearranges_the_panes_and_a_query_opens_the_picker() {
    let tmp = tempfile::tempdir().unwrap();
    books(
        tmp.path(),
        "default: dev\nenvironments:\n  dev: {}\nmonitors:\n  - { id: api, title: Local, check: { tcp: '127.0.0.1:9' }, interval: 1s }\n",
    );
    // Not an id: the picker opens with it as the query.
    let mut s = Screen::spawn(&["--dir", "books", "restart api"], tmp.path(), 120, 40);
    s.wait_for("› restart api");
    s.keys("\r");
    s.wait_for("health · dev");
    s.resize(80, 24);
    s.wait_for("dev ● Local down");
    assert!(!s.text().contains("health · dev"), "the side pane collapsed into a strip:\n{}", s.text());
    s.keys("h");
    // A whole frame without the strip (the step list is drawn below where it was), not a
    // frame caught half drawn.
    s.wait_until("h hides the health strip", |s| {
        let t = s.text();
        !t.contains("dev ○ Local") && !t.contains("dev ● Local") && t.contains("Close the ticket")
    });
    s.resize(200, 60);
    // The wide layout is on screen before the next key, so the key is not read first.
    s.wait_until("the wide layout", |s| {
        s.text().lines().any(|l| l.trim_end().chars().count() > 150 && l.contains("steps 0/4"))
    });
    s.keys("h");
    s.wait_for("health · dev");
}

#[test]
fn a_panic_restores_the_terminal_and_says_what_happened() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    let mut s = Screen::spawn_env(
        &["--dir", "books"],
        tmp.path(),
        100,
        30,
        &[("RUNBOOK_TEST_PANIC", "x"), ("RUST_BACKTRACE", "0")],
    );
    s.wait_for("Restart the API");
    s.keys("x");
    assert_ne!(s.wait_exit(), 0);
    s.wait_until("the terminal is restored and the panic reported", |s| {
        s.restored() && s.text().contains("panicking on the key 'x'")
    });
}

#[test]
fn runbook_run_on_a_terminal_opens_the_tui_and_headless_forces_lines() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n  prod: {}\n");
    std::fs::write(
        tmp.path().join("books/greet.yaml"),
        "title: Greet\ninputs:\n  who: { pattern: '^[a-z]+$' }\nsteps:\n  - { id: hi, title: Hi, run: 'echo hello {{ who }}' }\n",
    )
    .unwrap();
    let mut s = Screen::spawn_env(
        &["run", "greet", "--input", "who=ops", "--dir", "books"],
        tmp.path(),
        100,
        30,
        &[("CI", "")],
    );
    s.wait_for("start: Greet");
    s.wait_for("ops");
    s.keys("\r\r");
    s.wait_for("DEV │ Greet");
    s.keys("\r");
    s.wait_for("│hello ops");
    s.wait_for("run succeeded");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
    let mut lines = Screen::spawn_env(
        &["run", "greet", "--input", "who=ops", "--headless", "--dir", "books"],
        tmp.path(),
        100,
        30,
        &[("CI", "")],
    );
    lines.wait_for("│ hello ops");
    assert_eq!(lines.wait_exit(), 0);
}

#[test]
fn sigterm_to_the_tui_ends_the_running_step_tree_and_journals_it() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    std::fs::write(
        tmp.path().join("books/tree.yaml"),
        format!(
            "title: Tree\nsteps:\n  - {{ id: grow, title: Grow, run: 'setsid sleep 300 & echo $! >> {p}/pids; echo $$ >> {p}/pids; sleep 300' }}\n",
            p = tmp.path().display()
        ),
    )
    .unwrap();
    let mut s = Screen::spawn(&["--dir", "books", "tree"], tmp.path(), 100, 30);
    s.wait_for("DEV │ Tree");
    s.keys("\r");
    let pids_file = tmp.path().join("pids");
    let pids: Vec<i32> =
        support::wait_for("the step tree to start", std::time::Duration::from_secs(10), || {
            let p: Vec<i32> = std::fs::read_to_string(&pids_file)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            (p.len() == 2).then_some(p)
        });
    let pid = s.child.process_id().unwrap() as i32;
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(s.wait_exit(), 143);
    for p in &pids {
        assert!(!support::alive(*p), "pid {p} outlived the TUI");
    }
    let runs = tmp.path().join("data/runs");
    let run = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap().path();
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"reason\":\"stopped by SIGTERM\""), "{journal}");
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_tui_run_before_the_next_step() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    let mut yaml = String::from("title: Many\nsteps:\n");
    for i in 0..30 {
        yaml.push_str(&format!(
            "  - {{ id: s{i}, title: Step {i}, run: 'echo {i} >> {}/ran' }}\n",
            tmp.path().display()
        ));
    }
    std::fs::write(tmp.path().join("books/many.yaml"), yaml).unwrap();
    // A file-size limit makes the journal's writes fail past 6 KiB, as a full disk does.
    let script = "trap '' XFSZ; ulimit -f 6; exec \"$0\" \"$@\"";
    let mut s = Screen::spawn_program(
        "bash",
        &["-c", script, env!("CARGO_BIN_EXE_runbook"), "--dir", "books", "many"],
        tmp.path(),
        120,
        40,
        &[],
    );
    s.wait_for("DEV │ Many");
    let ran = || std::fs::read_to_string(tmp.path().join("ran")).unwrap_or_default().lines().count();
    for i in 0..30 {
        if s.text().contains("journal write failed") {
            break;
        }
        s.keys("\r");
        // Done on screen, not just run: a key pressed while it still runs would be lost.
        s.wait_until(&format!("step {i} to end or the journal to fail"), |s| {
            s.text().contains("journal write failed") || s.text().contains(&format!("✓ Step {i} "))
        });
    }
    s.wait_for("journal write failed");
    let before = ran();
    assert!(before > 2 && before < 30, "{before}");
    // Nothing more runs, whatever the user presses.
    s.keys("\r");
    s.keys("\r");
    s.wait_for("runbook run --resume");
    // Keys are handled in order: once help is up, both enters were handled.
    s.keys("?");
    s.wait_for("keys");
    assert_eq!(ran(), before, "no step ran after the journal failed");
    let runs = tmp.path().join("data/runs");
    let run = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap().path();
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    let started = journal.lines().filter(|l| l.contains("\"type\":\"step_started\"")).count();
    assert_eq!(started, before, "every step that ran is in the journal");
}

#[test]
fn resuming_a_run_with_a_secret_asks_for_it_again_in_the_form() {
    let sb = Sandbox::new();
    books(sb.path(), "default: dev\nenvironments:\n  dev: {}\n");
    std::fs::write(
        sb.path().join("books/secret.yaml"),
        format!(
            "title: Secret\ninputs:\n  token: {{ secret: true }}\nsteps:\n  - {{ id: wait, title: Wait here }}\n  - {{ id: use, title: Use it, run: 'printf %s {{{{ token }}}} > {}/got' }}\n",
            sb.path().display()
        ),
    )
    .unwrap();
    // Started headless, stopped at the manual step: the run is unfinished.
    let o = sb
        .cmd(&["run", "secret", "--dir", "books", "--headless"])
        .env("RUNBOOK_INPUT_TOKEN", "t0p-secret")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stdout));
    let mut s = Screen::spawn(&["run", "--resume", "latest", "--dir", "books"], sb.path(), 100, 30);
    s.wait_for("type the secrets again");
    s.keys("t0p-secret\r");
    s.wait_for("DEV │ Secret");
    s.keys(" ");
    s.wait_for("▸ Use it");
    s.keys("\r");
    let got = sb.path().join("got");
    support::wait_for("the step to use the secret", std::time::Duration::from_secs(10), || {
        std::fs::read_to_string(&got).ok().filter(|g| g == "t0p-secret")
    });
}

/// Starts `book` headless and kills the runner with -9 once its `hold` step runs.
fn crash_during_hold(sb: &Sandbox, book: &str) {
    let mut child = sb
        .cmd(&["run", book, "--dir", "books", "--headless"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    support::wait_for("the hold step to run", std::time::Duration::from_secs(10), || {
        let runs = std::fs::read_dir(sb.data().join("runs")).ok()?;
        let mut found = false;
        // This book's run: its id holds the runbook's id.
        for run in runs.flatten().filter(|r| r.file_name().to_string_lossy().contains(&format!("-{book}-"))) {
            let journal = std::fs::read_to_string(run.path().join("journal.jsonl")).unwrap_or_default();
            found |= journal.contains("\"type\":\"step_process\",\"step\":\"hold\"");
        }
        found.then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_step_still_running_from_a_dead_runner_is_waited_for_or_stopped_never_doubled() {
    let sb = Sandbox::new();
    books(sb.path(), "default: dev\nenvironments:\n  dev: {}\n");
    let p = sb.path().display().to_string();
    for (id, hold) in
        [("waits", format!("while [ ! -f {p}/release ]; do sleep 0.05; done")), ("stops", "sleep 300".into())]
    {
        std::fs::write(
            sb.path().join(format!("books/{id}.yaml")),
            format!("title: {id}\nsteps:\n  - {{ id: hold, title: Hold, run: 'echo x >> {p}/{id}-tries; {hold}' }}\n  - {{ id: next, title: Next }}\n"),
        )
        .unwrap();
    }
    let tries = |id: &str| {
        std::fs::read_to_string(sb.path().join(format!("{id}-tries"))).unwrap_or_default().lines().count()
    };

    // Wait: the dialog stays until the old step ends by itself; then its outcome is unknown.
    crash_during_hold(&sb, "waits");
    let mut s = Screen::spawn(&["run", "--resume", "latest", "--dir", "books"], sb.path(), 100, 30);
    s.wait_for("is still running");
    s.keys("w");
    s.wait_for("waiting for it to end");
    std::fs::write(sb.path().join("release"), "").unwrap();
    s.wait_for("interrupted, outcome unknown");
    assert_eq!(tries("waits"), 1, "never a second copy");
    s.keys("q");
    s.wait_exit();

    // Stop: its processes end at once.
    crash_during_hold(&sb, "stops");
    let mut s = Screen::spawn(&["run", "--resume", "latest", "--dir", "books"], sb.path(), 100, 30);
    s.wait_for("is still running");
    s.keys("s");
    s.wait_for("interrupted, outcome unknown");
    let leftover = std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x00300\x00")
            && std::fs::read(p.path().join("environ"))
                .is_ok_and(|e| String::from_utf8_lossy(&e).contains("/hold/1"))
    });
    assert!(!leftover, "the old step's sleep was stopped");
    assert_eq!(tries("stops"), 1);
    s.keys("q");
    s.wait_exit();
}

#[test]
fn the_picker_lists_from_the_index_and_reports_a_broken_runbook_when_it_is_previewed() {
    let sb = Sandbox::new();
    books(sb.path(), "default: dev\nenvironments:\n  dev: {}\n");
    // Broken below its top level: the list cannot know until the file is validated.
    std::fs::write(
        sb.path().join("books/drill.yaml"),
        "title: Failover drill\nsteps:\n  - title: Go\n    tiemout: 5s\n",
    )
    .unwrap();
    let list = || {
        let o = sb.run(&["list", "--dir", "books", "--format", "json"]);
        let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        all.as_array().unwrap().iter().find(|e| e["id"] == "drill").unwrap().clone()
    };
    assert!(list()["error"].is_null());
    let mut s = Screen::spawn(&["--dir", "books"], sb.path(), 120, 40);
    s.wait_for("Rotate the secrets");
    s.wait_for("Failover drill");
    s.keys("drill");
    s.wait_gone("Rotate the secrets");
    // Selected, so previewed: read and validated now, and marked broken with its position.
    s.wait_for("books/drill.yaml:4:5:");
    s.keys("\r");
    s.wait_for("drill is broken");
    s.keys("\x03");
    assert_eq!(s.wait_exit(), 0);
    // What the preview found is in the index: `list` marks it too.
    let drill = list();
    let error = drill["error"].as_str().unwrap_or_default();
    assert!(
        error.ends_with("books/drill.yaml:4:5: unknown key 'tiemout' in step 'go' (did you mean 'timeout'?)"),
        "{drill}"
    );
}

#[test]
fn a_broken_environments_file_is_named_in_the_picker_never_missing() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "environments:\n  dev: { protectd: true }\n");
    let mut s = Screen::spawn(&["--dir", "books"], tmp.path(), 140, 40);
    s.wait_for("runbooks");
    s.keys("restart");
    s.wait_for("protectd");
    let text = s.text();
    assert!(text.contains("environments.yaml:2:10"), "{text}");
    assert!(!text.contains("no environments.yaml"), "{text}");
    s.keys("\r");
    s.wait_for("protectd");
    assert!(!s.text().contains("no environments.yaml"), "{}", s.text());
    s.keys("\x1b");
    s.keys("q");
    s.keys("\x03");
    let _ = s.wait_exit();
}

#[test]
fn an_unreachable_run_store_is_said_in_the_picker_which_opens_all_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    books(tmp.path(), "default: dev\nenvironments:\n  dev: {}\n");
    let closed = support::closed_port();
    let store = format!("postgres://oncall:hunter2@{closed}/runbook");
    let mut s = Screen::spawn(&["--dir", "books", "--store", &store], tmp.path(), 120, 40);
    s.wait_for("Rotate the secrets");
    // Never an empty list that reads as "nothing to resume": the status line says why.
    s.wait_for("runs not listed: cannot reach the run store");
    // The store's address follows on the same line, perhaps in a later write of the frame;
    // once it shows, so does the part of the URL before it, where the password was.
    s.wait_for(&closed.to_string());
    let screen = s.text();
    assert!(!screen.contains("hunter2"), "{screen}");
    // The runbooks are there to read all the same.
    s.keys("restart");
    s.wait_for("Look at the logs");
    s.keys("\x03");
    assert_eq!(s.wait_exit(), 0);
}
